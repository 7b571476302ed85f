//! One definition per option, three ways to set it.
//!
//! [`Args`] is the only list of options. From each of its options
//! (`--max-cons`) this module derives:
//!
//! - the environment variable `FERROFTPD_MAX_CONS`: [`ENV_PREFIX`] and the
//!   long flag, upper-cased, with `_` for `-`;
//! - the config-file key `max_cons`: the long flag with `_` for `-`;
//! - for an on/off flag, a counterpart that turns it off: `--no-tls` for
//!   `--tls`; a flag that already says `no` loses the word (`--ban` for
//!   `--no-ban`, `--system-shell-check` for `--system-no-shell-check`).
//!
//! Precedence: the command line, then the environment, then the config
//! file (`--config`, or `FERROFTPD_CONFIG`), then the defaults. A layer
//! only sets the options no layer above it set, a list (`--user`)
//! included: a higher layer replaces it whole. Each layer becomes clap
//! tokens (`--max-cons=512`), and one final clap parse reads them all
//! with the parsers `Args` declares: a value is parsed into its type in
//! one place whatever its source, and an error names that source in one
//! line: `--port: ...`, `FERROFTPD_PORT: ...`,
//! `/etc/ferroftpd.toml:12: port: ...`.
//!
//! Relations between options (`--users` excludes `--user`) are checked by
//! clap on the command line alone; across layers `settings.rs` checks
//! them, so that a file and a flag combine as flags do.
//!
//! The environment is a layer of this module, not clap's `env` feature:
//! clap reads a variable when the argument is declared (tests could not
//! give it an environment of their own), cannot tell which variable a bad
//! value came from, and would let `FERROFTPD_TLS=true` beat `--no-tls`
//! given on the command line, since the two are separate arguments to it.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::builder::{Resettable, ValueRange};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, CommandFactory, FromArgMatches};
use toml::de::{DeTable, DeValue};

use crate::args::Args;

/// The start of every environment variable: `FERROFTPD_PORT`.
pub const ENV_PREFIX: &str = "FERROFTPD_";

/// The only option that the config file cannot set.
pub(crate) const CONFIG: &str = "config";

/// Options whose values an error message never repeats.
const SECRET: [&str; 2] = ["password", "users"];

/// What `--help` says after the flags.
const AFTER_HELP: &str = "\
Every flag can also be set by an environment variable, FERROFTPD_ and the flag in upper case with \
_ for - (FERROFTPD_PORT=2121, FERROFTPD_MAX_CONS=100, FERROFTPD_TLS=true), or by a key of the \
--config file, the flag with _ for - (port = 2121, tls = true, user = [\"alice:pw\"]). \
The command line wins over the environment, which wins over the file. \
Each on/off flag has an opposite that turns it off: --no-FLAG (--ban, --sandbox and \
--system-shell-check for --no-ban, --no-sandbox and --system-no-shell-check). \
See docs/cli.md.";

/// Where an option's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The command line, with the flag as clap names it (`--port`).
    Flag(String),
    /// An environment variable (`FERROFTPD_PORT`).
    Env(String),
    /// A key of the config file, and the line it is on.
    File {
        path: PathBuf,
        line: usize,
        key: String,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => f.write_str(flag),
            Source::Env(name) => f.write_str(name),
            Source::File { path, line, key } => write!(f, "{}:{line}: {key}", path.display()),
        }
    }
}

/// Why the options could not be read.
#[derive(Debug)]
pub enum Error {
    /// Help, the version, or a command line clap could not make sense of
    /// (an unknown flag, a missing value): printed as clap prints it.
    Clap(clap::Error),
    /// A bad option, in one line that starts with its source.
    Invalid(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Clap(e) => write!(f, "{}", e.render()),
            Error::Invalid(text) => f.write_str(text),
        }
    }
}

/// The options, and where each that was given came from.
#[derive(Debug)]
pub struct Parsed {
    pub args: Args,
    sources: BTreeMap<String, Source>,
}

impl Parsed {
    /// Where option `id` (the field of [`Args`]) came from; `None` for its
    /// default.
    #[cfg(test)]
    pub fn source(&self, id: &str) -> Option<&Source> {
        self.sources.get(id)
    }

    /// The options given, by field of [`Args`], and where each came from.
    pub fn sources(&self) -> impl Iterator<Item = (&str, &Source)> {
        self.sources
            .iter()
            .map(|(id, source)| (id.as_str(), source))
    }
}

impl Parsed {
    /// `message`, an error about one option that starts with its flag as
    /// `settings.rs` names it (`--anonymous: ...`, or with one word,
    /// `--user bob: ...`), with the flag replaced by where the value came
    /// from: `FERROFTPD_ANONYMOUS: ...`,
    /// `/etc/ferroftpd.toml:4: anonymous: ...`. Any other message, such
    /// as a sentence about how options combine (`--users cannot be
    /// combined with --user: ...`), is returned as it is.
    pub fn locate(&self, message: &str) -> String {
        let Some(rest) = message.strip_prefix("--") else {
            return message.to_owned();
        };
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(rest.len());
        let (long, after) = rest.split_at(end);
        let about_the_value = after.starts_with(": ")
            || after
                .strip_prefix(' ')
                .and_then(|words| words.split_once(": "))
                .is_some_and(|(word, _)| !word.is_empty() && !word.contains(' '));
        if !about_the_value {
            return message.to_owned();
        }
        let source = options()
            .into_iter()
            .find(|o| o.long == long)
            .and_then(|o| self.sources.get(&o.id));
        match source {
            Some(source @ (Source::Env(_) | Source::File { .. })) => format!("{source}{after}"),
            _ => message.to_owned(),
        }
    }
}

/// How an option takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// On or off (`--tls`), with a counterpart that turns it off.
    Flag,
    /// A value that may be left out on the command line
    /// (`--anonymous[=PERMS]`): `true` in the file.
    OptionalValue,
    /// One value.
    Value,
    /// Repeatable (`--user`): a list in the file.
    List,
}

/// One option of [`Args`], as the layers see it.
#[derive(Debug, Clone)]
pub(crate) struct Opt {
    pub(crate) id: String,
    pub(crate) long: String,
    pub(crate) kind: Kind,
    /// A comma-separated list (`NAME,...`), which the file may give as an
    /// array.
    pub(crate) comma_list: bool,
}

impl Opt {
    pub(crate) fn env(&self) -> String {
        format!("{ENV_PREFIX}{}", self.long.to_uppercase().replace('-', "_"))
    }

    pub(crate) fn key(&self) -> String {
        self.long.replace('-', "_")
    }

    /// The counterpart of a flag: `no-tls` for `tls`, `ban` for `no-ban`.
    fn negation(&self) -> Option<String> {
        (self.kind == Kind::Flag).then(|| {
            let words: Vec<&str> = self.long.split('-').collect();
            if words.contains(&"no") {
                words
                    .into_iter()
                    .filter(|w| *w != "no")
                    .collect::<Vec<_>>()
                    .join("-")
            } else {
                format!("no-{}", self.long)
            }
        })
    }

    fn negation_id(&self) -> Option<String> {
        self.negation().map(|n| n.replace('-', "_"))
    }

    /// The clap tokens that give `value`.
    fn tokens(&self, value: Given) -> Result<Vec<OsString>, String> {
        let flag = |value: Option<OsString>| {
            let mut token = OsString::from(format!("--{}", self.long));
            if let Some(value) = value {
                token.push("=");
                token.push(value);
            }
            token
        };
        Ok(match (self.kind, value) {
            (Kind::Flag, Given::Bool(true)) => vec![flag(None)],
            (Kind::Flag, Given::Bool(false)) => {
                vec![format!("--{}", self.negation().unwrap_or_default()).into()]
            }
            (Kind::Flag, _) => return Err("expected true or false".into()),
            (Kind::OptionalValue, Given::Bool(true)) => vec![flag(None)],
            (Kind::OptionalValue, Given::Bool(false)) => Vec::new(),
            (Kind::Value | Kind::OptionalValue | Kind::List, Given::Text(text)) => {
                vec![flag(Some(text))]
            }
            (Kind::Value | Kind::OptionalValue, Given::List(items)) if self.comma_list => {
                vec![flag(Some(items.join(",".as_ref())))]
            }
            (Kind::Value | Kind::OptionalValue, Given::List(_)) => {
                return Err("expected one value, not a list".into())
            }
            (Kind::List, Given::List(items)) => {
                items.into_iter().map(|item| flag(Some(item))).collect()
            }
            (Kind::Value | Kind::List, Given::Bool(_)) => {
                return Err("expected a value, not true or false".into())
            }
        })
    }
}

/// A value as a layer gives it, before clap parses it.
#[derive(Debug)]
enum Given {
    Bool(bool),
    Text(OsString),
    List(Vec<OsString>),
}

/// The options of [`Args`] that the environment and the file may set:
/// all but help and the version (and the `--no-` counterparts, which are
/// part of their flag), in the order of `--help`.
pub(crate) fn options() -> Vec<Opt> {
    Args::command()
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?.to_owned();
            let kind = match arg.get_action() {
                ArgAction::SetTrue => Kind::Flag,
                ArgAction::Append => Kind::List,
                ArgAction::Set if takes_optional_value(arg) => Kind::OptionalValue,
                ArgAction::Set => Kind::Value,
                _ => return None,
            };
            let comma_list = arg
                .get_value_names()
                .is_some_and(|names| names.iter().any(|n| n.as_str().ends_with(",...")));
            Some(Opt {
                id: arg.get_id().as_str().to_owned(),
                long,
                kind,
                comma_list,
            })
        })
        .collect()
}

fn takes_optional_value(arg: &Arg) -> bool {
    arg.get_num_args()
        .is_some_and(|n: ValueRange| n.min_values() == 0)
}

/// The command: [`Args`] with the `--no-` counterparts of its flags and a
/// word on the environment and the config file.
pub fn command() -> clap::Command {
    let mut cmd = Args::command().after_help(AFTER_HELP);
    for opt in options() {
        let (Some(negation), Some(negation_id)) = (opt.negation(), opt.negation_id()) else {
            continue;
        };
        cmd = cmd
            .arg(
                Arg::new(negation_id.clone())
                    .long(negation)
                    .action(ArgAction::SetTrue)
                    .help(format!(
                        "Turn --{} off (as set in the environment or the config file)",
                        opt.long
                    ))
                    .hide_short_help(true)
                    .overrides_with(opt.id.clone()),
            )
            .mut_arg(&opt.id, |a| a.overrides_with(negation_id));
    }
    cmd
}

/// [`command`] without the relations between options, for a parse that
/// takes values from several layers: `settings.rs` checks those.
fn relaxed(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|a| {
        a.conflicts_with(Resettable::Reset)
            .requires(Resettable::Reset)
    })
}

/// Reads the options from the command line (`argv`, with the program name
/// first), the environment (`env`, given a variable's name) and the
/// config file, in that order of precedence.
pub fn parse<I, T>(argv: I, env: impl Fn(&str) -> Option<OsString>) -> Result<Parsed, Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let cmd = command();
    let opts = options();
    let mut sources = BTreeMap::new();
    let matches = cmd
        .clone()
        .try_get_matches_from(&argv)
        .map_err(|e| clap_error(e, &cmd, &sources))?;
    for opt in &opts {
        let ids = std::iter::once(opt.id.clone()).chain(opt.negation_id());
        for id in ids {
            if matches.value_source(&id) == Some(ValueSource::CommandLine) {
                let long = cmd
                    .get_arguments()
                    .find(|a| a.get_id() == id.as_str())
                    .and_then(Arg::get_long)
                    .unwrap_or(&opt.long);
                sources.insert(opt.id.clone(), Source::Flag(format!("--{long}")));
            }
        }
    }
    if matches.subcommand().is_some() {
        return from_matches(&matches, &cmd, sources);
    }

    let mut env_tokens = Vec::new();
    for opt in &opts {
        if sources.contains_key(&opt.id) {
            continue;
        }
        let name = opt.env();
        let Some(value) = env(&name) else {
            continue;
        };
        let source = Source::Env(name);
        let invalid = |text: String| Error::Invalid(format!("{source}: {text}"));
        let given = env_value(opt, value).map_err(invalid)?;
        env_tokens.extend(opt.tokens(given).map_err(invalid)?);
        sources.insert(opt.id.clone(), source);
    }

    let config: Option<PathBuf> = match sources.get(CONFIG) {
        Some(Source::Flag(_)) => matches.get_one::<PathBuf>(CONFIG).cloned(),
        Some(Source::Env(name)) => env(name).map(PathBuf::from),
        _ => None,
    };
    let mut file_tokens = Vec::new();
    if let Some(path) = &config {
        if path.as_os_str().is_empty() {
            let source = sources
                .get(CONFIG)
                .map(|s| s.to_string())
                .unwrap_or_default();
            return Err(Error::Invalid(format!("{source}: an empty path")));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        file_tokens = file_layer(path, &text, &opts, &mut sources)?;
    }

    let program = argv.first().cloned().unwrap_or_else(|| "ferroftpd".into());
    let all = std::iter::once(program)
        .chain(file_tokens)
        .chain(env_tokens)
        .chain(argv.into_iter().skip(1));
    let matches = relaxed(cmd.clone())
        .try_get_matches_from(all)
        .map_err(|e| clap_error(e, &cmd, &sources))?;
    from_matches(&matches, &cmd, sources)
}

fn from_matches(
    matches: &ArgMatches,
    cmd: &clap::Command,
    sources: BTreeMap<String, Source>,
) -> Result<Parsed, Error> {
    let args = Args::from_arg_matches(matches).map_err(|e| clap_error(e, cmd, &sources))?;
    Ok(Parsed { args, sources })
}

/// An environment variable's value: `true`/`false` (and `1`/`0`,
/// `yes`/`no`, `on`/`off`) for a flag, the text for the rest. For an
/// optional value (`FERROFTPD_ANONYMOUS`), an empty value or `true` gives
/// the flag alone, and `false` nothing.
fn env_value(opt: &Opt, value: OsString) -> Result<Given, String> {
    let boolean = |text: &str| match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    };
    match opt.kind {
        Kind::Flag => {
            let text = value.to_string_lossy();
            boolean(&text)
                .map(Given::Bool)
                .ok_or_else(|| format!("invalid value {text:?}: expected true or false"))
        }
        Kind::OptionalValue if value.is_empty() || value == "true" => Ok(Given::Bool(true)),
        Kind::OptionalValue if value == "false" => Ok(Given::Bool(false)),
        Kind::OptionalValue | Kind::Value | Kind::List => Ok(Given::Text(value)),
    }
}

/// The tokens of the config file at `path`, for the options no higher
/// layer set; their sources go to `sources`.
fn file_layer(
    path: &Path,
    text: &str,
    opts: &[Opt],
    sources: &mut BTreeMap<String, Source>,
) -> Result<Vec<OsString>, Error> {
    let table = DeTable::parse(text).map_err(|e| {
        let message = e.message().trim();
        Error::Invalid(match e.span() {
            Some(span) => format!(
                "{}:{}: {message}",
                path.display(),
                line_of(text, span.start)
            ),
            None => format!("{}: {message}", path.display()),
        })
    })?;
    let mut entries: Vec<_> = table.get_ref().iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    let by_key: HashMap<String, &Opt> = opts
        .iter()
        .filter(|o| o.id != CONFIG)
        .map(|o| (o.key(), o))
        .collect();
    let mut tokens = Vec::new();
    for (key, value) in entries {
        let name = key.get_ref().to_string();
        let source = Source::File {
            path: path.to_owned(),
            line: line_of(text, key.span().start),
            key: name.clone(),
        };
        let invalid = |text: String| Error::Invalid(format!("{source}: {text}"));
        let Some(opt) = by_key.get(&name) else {
            return Err(invalid(unknown_key(&name, opts)));
        };
        if sources.contains_key(&opt.id) {
            continue;
        }
        let given = file_value(value.get_ref()).map_err(invalid)?;
        tokens.extend(opt.tokens(given).map_err(invalid)?);
        sources.insert(opt.id.clone(), source);
    }
    Ok(tokens)
}

/// "unknown key", with a hint when the key is close to one.
fn unknown_key(key: &str, opts: &[Opt]) -> String {
    let normal = key.replace('-', "_");
    if let Some(opt) = opts.iter().find(|o| o.key() == normal && o.id != CONFIG) {
        return format!("unknown key; did you mean {}?", opt.key());
    }
    if let Some(opt) = opts
        .iter()
        .find(|o| o.negation().is_some_and(|n| n.replace('-', "_") == normal))
    {
        return format!("unknown key; write {} = false", opt.key());
    }
    if normal == CONFIG {
        return "unknown key: a config file cannot name another".into();
    }
    let keys: Vec<String> = opts
        .iter()
        .filter(|o| o.id != CONFIG)
        .map(Opt::key)
        .collect();
    match closest(&normal, &keys)[..] {
        [] => "unknown key (the keys are the long flags with _ for -, see ferroftpd --help)".into(),
        [one] => format!("unknown key; did you mean {one}?"),
        ref several => format!("unknown key; did you mean one of {}?", several.join(", ")),
    }
}

/// Most keys a suggestion names.
const MAX_SUGGESTIONS: usize = 3;

/// Shortest word whose longer forms are suggested (`tls_implicit` for
/// `tls_implicit_port`); shorter ones start too many keys.
const MIN_PREFIX: usize = 4;

/// The `candidates` nearest to `word` (fewest edits, a swap of two
/// neighbours counting as one), if near enough to be a typo of it (a third
/// of the word's letters at most, and at least one) or if they start with
/// it.
fn closest<'a>(word: &str, candidates: &'a [String]) -> Vec<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    let scored: Vec<(usize, &str)> = candidates
        .iter()
        .map(|c| (edit_distance(word, c), c.as_str()))
        .filter(|(d, c)| *d <= limit || (word.len() >= MIN_PREFIX && c.starts_with(word)))
        .collect();
    let Some(best) = scored.iter().map(|(d, _)| *d).min() else {
        return Vec::new();
    };
    scored
        .into_iter()
        .filter(|(d, _)| *d == best)
        .map(|(_, c)| c)
        .take(MAX_SUGGESTIONS)
        .collect()
}

/// Optimal string alignment distance: insertions, deletions,
/// substitutions and swaps of neighbours, one each.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: the distance from a[..i] to b[..j].
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

/// A TOML value as clap will read it: numbers in decimal, arrays as lists.
fn file_value(value: &DeValue<'_>) -> Result<Given, String> {
    let scalar = |value: &DeValue<'_>| -> Result<OsString, String> {
        match value {
            DeValue::String(s) => Ok(s.to_string().into()),
            DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix())
                .map(|n| n.to_string().into())
                .map_err(|_| format!("integer {i} is too large")),
            DeValue::Float(f) => Ok(f.as_str().into()),
            DeValue::Boolean(_) => Err("expected text or a number, not true or false".into()),
            other => Err(format!(
                "expected text or a number, not {}",
                other.type_str()
            )),
        }
    };
    match value {
        DeValue::Boolean(b) => Ok(Given::Bool(*b)),
        DeValue::Array(items) => items
            .iter()
            .map(|item| scalar(item.get_ref()))
            .collect::<Result<_, _>>()
            .map(Given::List),
        DeValue::Table(_) | DeValue::Datetime(_) => {
            Err(format!("expected a value, not {}", value.type_str()))
        }
        other => scalar(other).map(Given::Text),
    }
}

/// The line (from 1) of byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// A clap error as an [`Error`]: a bad value becomes one line naming its
/// source (the command line unless `sources` says otherwise).
fn clap_error(err: clap::Error, cmd: &clap::Command, sources: &BTreeMap<String, Source>) -> Error {
    if !matches!(
        err.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return Error::Clap(err);
    }
    let context = |kind| match err.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let (Some(arg), Some(value)) = (
        context(ContextKind::InvalidArg),
        context(ContextKind::InvalidValue),
    ) else {
        return Error::Clap(err);
    };
    // "--port <PORT>", "--anonymous[=<PERMS>]": the flag, and the option
    // it belongs to.
    let flag = arg
        .split(|c: char| c.is_whitespace() || c == '[' || c == '=')
        .next()
        .unwrap_or(&arg)
        .to_owned();
    let mut cmd = cmd.clone();
    cmd.build();
    let id = cmd
        .get_arguments()
        .find(|a| a.to_string() == arg)
        .map(|a| a.get_id().as_str().to_owned());
    let source = id
        .as_deref()
        .and_then(|id| sources.get(id))
        .cloned()
        .unwrap_or(Source::Flag(flag));
    let reason = match err.kind() {
        ErrorKind::InvalidValue => match err.get(ContextKind::ValidValue) {
            Some(ContextValue::Strings(valid)) => format!("expected {}", valid.join(" or ")),
            _ => "not allowed".to_owned(),
        },
        _ => std::error::Error::source(&err)
            .map(|e| e.to_string())
            .unwrap_or_else(|| "not allowed".to_owned()),
    };
    let secret = id.as_deref().is_some_and(|id| SECRET.contains(&id));
    let text = if secret || (!value.is_empty() && reason.contains(&value)) {
        reason
    } else {
        format!("invalid value {value:?}: {reason}")
    };
    Error::Invalid(format!("{source}: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    use crate::args::StorageKind;

    /// Parses `argv` with the environment `env` (and nothing else).
    fn parse_with(argv: &[&str], env: &[(&str, &str)]) -> Result<Parsed, Error> {
        let env: HashMap<String, OsString> = env
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        parse(
            std::iter::once("ferroftpd").chain(argv.iter().copied()),
            |name| env.get(name).cloned(),
        )
    }

    fn config(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    fn invalid(result: Result<Parsed, Error>) -> String {
        match result {
            Err(Error::Invalid(text)) => text,
            Err(Error::Clap(e)) => panic!("clap error: {e}"),
            Ok(p) => panic!("parsed: {:?}", p.args),
        }
    }

    #[test]
    fn env_names_and_keys_follow_the_long_flags() {
        let opts = options();
        let find = |id: &str| opts.iter().find(|o| o.id == id).unwrap().clone();
        assert_eq!(find("port").env(), "FERROFTPD_PORT");
        assert_eq!(find("max_cons").env(), "FERROFTPD_MAX_CONS");
        assert_eq!(find("users").env(), "FERROFTPD_USER");
        assert_eq!(find("users").key(), "user");
        assert_eq!(find("users_file").key(), "users");
        assert_eq!(find("system_user_perms").key(), "system_user_perm");
        assert_eq!(find("tls").negation().unwrap(), "no-tls");
        assert_eq!(find("no_ban").negation().unwrap(), "ban");
        assert_eq!(find("no_sandbox").negation().unwrap(), "sandbox");
        assert_eq!(
            find("system_no_shell_check").negation().unwrap(),
            "system-shell-check"
        );
        assert!(find("system_allowed_users").comma_list);
        assert_eq!(find("anonymous").kind, Kind::OptionalValue);
        assert_eq!(find("users").kind, Kind::List);
        // Every flag has a counterpart, and no two options share a name.
        let cmd = command();
        let mut longs: Vec<&str> = cmd.get_arguments().filter_map(Arg::get_long).collect();
        let count = longs.len();
        longs.sort();
        longs.dedup();
        assert_eq!(longs.len(), count);
        for opt in opts.iter().filter(|o| o.kind == Kind::Flag) {
            let id = opt.negation_id().unwrap();
            assert!(
                cmd.get_arguments().any(|a| a.get_id() == id.as_str()),
                "{}",
                opt.long
            );
        }
        command().debug_assert();
    }

    /// The resulting value and its source, for a table of command lines,
    /// environments and files.
    #[test]
    fn layers_in_order_of_precedence() {
        let file = config("port = 2000\ntls_control_required = true\nmax_cons = 7\n");
        let path = file.path().to_str().unwrap();
        let at = |line: usize, key: &str| Source::File {
            path: file.path().to_owned(),
            line,
            key: key.into(),
        };
        let flag = |f: &str| Source::Flag(f.into());
        let env = |n: &str| Source::Env(n.into());
        let cfg = |more: &[&'static str]| -> Vec<String> {
            ["--config", path]
                .iter()
                .chain(more)
                .map(|s| s.to_string())
                .collect()
        };
        let v = |items: &[&str]| -> Vec<String> { items.iter().map(|s| s.to_string()).collect() };
        let no_env: Vec<(&str, &str)> = Vec::new();
        let port_env = vec![("FERROFTPD_PORT", "2")];
        let port_cases = [
            (v(&[]), no_env.clone(), None, None),
            (
                v(&["-p", "1"]),
                no_env.clone(),
                Some(1),
                Some(flag("--port")),
            ),
            (
                v(&[]),
                port_env.clone(),
                Some(2),
                Some(env("FERROFTPD_PORT")),
            ),
            (
                v(&["--port", "1"]),
                port_env.clone(),
                Some(1),
                Some(flag("--port")),
            ),
            (cfg(&[]), no_env.clone(), Some(2000), Some(at(1, "port"))),
            (
                cfg(&[]),
                port_env.clone(),
                Some(2),
                Some(env("FERROFTPD_PORT")),
            ),
            (
                cfg(&["-p", "1"]),
                port_env.clone(),
                Some(1),
                Some(flag("--port")),
            ),
            (
                v(&[]),
                vec![("FERROFTPD_CONFIG", path)],
                Some(2000),
                Some(at(1, "port")),
            ),
        ];
        for (argv, env, port, source) in port_cases {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let parsed = parse_with(&argv, &env).unwrap();
            assert_eq!(parsed.args.port, port, "{argv:?} {env:?}");
            assert_eq!(parsed.source("port"), source.as_ref(), "{argv:?} {env:?}");
        }

        let required = "FERROFTPD_TLS_CONTROL_REQUIRED";
        let flag_cases = [
            (v(&[]), no_env.clone(), false, None),
            (
                v(&["--tls-control-required"]),
                no_env.clone(),
                true,
                Some(flag("--tls-control-required")),
            ),
            (
                cfg(&[]),
                no_env.clone(),
                true,
                Some(at(2, "tls_control_required")),
            ),
            (
                cfg(&["--no-tls-control-required"]),
                no_env.clone(),
                false,
                Some(flag("--no-tls-control-required")),
            ),
            (
                cfg(&[]),
                vec![(required, "false")],
                false,
                Some(env(required)),
            ),
            (
                v(&["--no-tls-control-required"]),
                vec![(required, "yes")],
                false,
                Some(flag("--no-tls-control-required")),
            ),
            (
                v(&["--no-tls-control-required", "--tls-control-required"]),
                no_env.clone(),
                true,
                Some(flag("--tls-control-required")),
            ),
            (v(&[]), vec![(required, "1")], true, Some(env(required))),
        ];
        for (argv, env, value, source) in flag_cases {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let parsed = parse_with(&argv, &env).unwrap();
            assert_eq!(parsed.args.tls_control_required, value, "{argv:?} {env:?}");
            assert_eq!(
                parsed.source("tls_control_required"),
                source.as_ref(),
                "{argv:?} {env:?}"
            );
        }

        // Layers mix: each option from the highest layer that sets it.
        let parsed = parse_with(
            &["--config", path, "--write"],
            &[("FERROFTPD_MAX_CONS", "9"), ("FERROFTPD_BIN", "ignored")],
        )
        .unwrap();
        assert_eq!(parsed.args.port, Some(2000));
        assert_eq!(parsed.args.max_cons, Some(9));
        assert!(parsed.args.write);
        assert_eq!(parsed.source("write"), Some(&flag("--write")));
    }

    #[test]
    fn negative_flags_keep_their_names_and_get_opposites() {
        let file = config("no_ban = true\nno_sandbox = true\nsystem_no_shell_check = true\n");
        let path = file.path().to_str().unwrap();
        let args = parse_with(&["--config", path], &[]).unwrap().args;
        assert!(args.no_ban && args.no_sandbox && args.system_no_shell_check);
        let args = parse_with(
            &[
                "--config",
                path,
                "--ban",
                "--sandbox",
                "--system-shell-check",
            ],
            &[],
        )
        .unwrap()
        .args;
        assert!(!args.no_ban && !args.no_sandbox && !args.system_no_shell_check);
        let args = parse_with(&["--no-sandbox"], &[("FERROFTPD_NO_SANDBOX", "false")])
            .unwrap()
            .args;
        assert!(args.no_sandbox);
        let args = parse_with(&[], &[("FERROFTPD_NO_BAN", "true")])
            .unwrap()
            .args;
        assert!(args.no_ban);
    }

    #[test]
    fn every_file_key_of_before_still_works() {
        let file = config(
            r#"
interface = "127.0.0.1"
port = 2121
directory = "/srv"
write = true
nat_address = "203.0.113.7"
range = "60000-60100"
debug = true
username = "bob"
password = "pw"
banner = "Welcome."
permit_foreign_addresses = true
permit_privileged_ports = true
use_localtime = true
disable_sendfile = true
max_login_attempts = 3
user = ["alice:secret", "carol:pw:elr:/srv/carol"]
anonymous = "elr"
auth_failed_delay = 1.5
max_cons = 512
max_cons_per_ip = 10
max_sessions_per_user = 2
timeout = 300
login_timeout = 60
data_timeout = 30
passive_timeout = 30
active_timeout = 30
ban_failures = 10
ban_window = 600
ban_time = 900
ban_ipv6_prefix = 64
max_unknown_commands = 10
read_limit = "512K"
write_limit = "1M"
user_read_limit = "1M"
user_write_limit = "1M"
total_read_limit = "100M"
total_write_limit = "100M"
no_ban = true
no_sandbox = true
encoding = "latin1"
log_format = "json"
log_file = "/tmp/log"
log_prefix = "{ip}"
xferlog = "/tmp/xferlog"
metrics_address = "127.0.0.1:9100"
tls = true
certfile = "/c.pem"
keyfile = "/k.pem"
tls_self_signed = false
tls_implicit_port = 990
tls_control_required = true
tls_data_required = true
tls_required_for_anonymous = true
tls_session_reuse = "optional"
tls_allow_ccc = true
tls_strict_upload_eof = true
storage = "memory"
memory_size = "64M"
quota_bytes = "1G"
quota_files = 1000
"#,
        );
        let parsed = parse_with(&["--config", file.path().to_str().unwrap()], &[]).unwrap();
        let a = &parsed.args;
        assert_eq!(a.port, Some(2121));
        assert_eq!(a.range.map(|r| (r.start(), r.end())), Some((60000, 60100)));
        assert_eq!(a.users.len(), 2);
        assert_eq!(a.users[1].home.as_deref(), Some(Path::new("/srv/carol")));
        assert_eq!(
            a.auth_failed_delay,
            Some(std::time::Duration::from_millis(1500))
        );
        assert_eq!(a.anonymous.as_deref(), Some("elr"));
        assert_eq!(a.read_limit.map(|r| r.bytes_per_second()), Some(512 << 10));
        assert_eq!(a.storage, Some(StorageKind::Memory));
        assert_eq!(a.memory_size, Some(64 << 20));
        assert_eq!(a.quota_bytes, Some(1 << 30));
        assert_eq!(a.quota_files, Some(1000));
        assert!(a.write && a.debug && a.tls && !a.tls_self_signed && a.tls_strict_upload_eof);
        assert_eq!(
            parsed.source("quota_files"),
            Some(&Source::File {
                path: file.path().to_owned(),
                line: 61,
                key: "quota_files".into()
            })
        );
    }

    #[test]
    fn lists_and_optional_values() {
        let file = config(
            "user = [\"a:1\", \"b:2\"]\nsystem_allowed_users = [\"alice\", \"bob\"]\n\
             system_rejected_users = []\nsystem_user_perm = \"alice:elr\"\nanonymous = true\n",
        );
        let path = file.path().to_str().unwrap();
        let args = parse_with(&["--config", path], &[]).unwrap().args;
        let names: Vec<&str> = args.users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(args.system_allowed_users.unwrap().0, ["alice", "bob"]);
        // An empty list rejects nobody; it is not the same as no setting.
        assert_eq!(args.system_rejected_users.unwrap().0, Vec::<String>::new());
        assert_eq!(args.system_user_perms[0].name, "alice");
        assert_eq!(args.anonymous.as_deref(), Some(""));
        // A higher layer replaces a list whole.
        let args = parse_with(&["--config", path, "--user", "c:3"], &[])
            .unwrap()
            .args;
        let names: Vec<&str> = args.users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["c"]);
        let args = parse_with(&["--config", path], &[("FERROFTPD_USER", "d:4")])
            .unwrap()
            .args;
        assert_eq!(args.users[0].name, "d");
        // anonymous: false in the file is no setting; the environment
        // takes permissions, or true.
        let off = config("anonymous = false\n");
        let args = parse_with(&["--config", off.path().to_str().unwrap()], &[])
            .unwrap()
            .args;
        assert_eq!(args.anonymous, None);
        for (value, expected) in [("elr", Some("elr")), ("true", Some("")), ("", Some(""))] {
            let args = parse_with(&[], &[("FERROFTPD_ANONYMOUS", value)])
                .unwrap()
                .args;
            assert_eq!(args.anonymous.as_deref(), expected, "{value:?}");
        }
    }

    #[test]
    fn errors_name_their_source() {
        let file = config("# settings\nport = 2121\n\nmax_cons = \"many\"\n");
        let path = file.path().to_str().unwrap();
        let shown = file.path().display();
        type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, String);
        let cases: Vec<Case<'_>> = vec![
            (
                vec!["--port", "x"],
                vec![],
                "--port: invalid value \"x\": invalid digit found in string".into(),
            ),
            (
                vec!["-p", "70000"],
                vec![],
                "--port: 70000 is not in 0..=65535".into(),
            ),
            (
                vec![],
                vec![("FERROFTPD_PORT", "x")],
                "FERROFTPD_PORT: invalid value \"x\": invalid digit found in string".into(),
            ),
            (
                vec![],
                vec![("FERROFTPD_TLS", "maybe")],
                "FERROFTPD_TLS: invalid value \"maybe\": expected true or false".into(),
            ),
            (
                vec!["--config", path],
                vec![],
                format!("{shown}:4: max_cons: \"many\": expected a whole number, 1 or more"),
            ),
            (
                vec![],
                vec![("FERROFTPD_STORAGE", "disk")],
                "FERROFTPD_STORAGE: \"disk\": expected local, memory or s3://BUCKET[/PREFIX]"
                    .into(),
            ),
            (
                vec!["--range", "5-1"],
                vec![],
                "--range: passive port range 5-1: need 1 <= FROM <= TO <= 65535".into(),
            ),
            (
                vec!["--quota-bytes", "lots"],
                vec![],
                "--quota-bytes: \"lots\": expected bytes, or K, M, G or T".into(),
            ),
            (
                vec!["--max-cons", "0"],
                vec![],
                "--max-cons: \"0\": expected a whole number, 1 or more".into(),
            ),
            (
                vec![],
                vec![("FERROFTPD_DATA_TIMEOUT", "0")],
                "FERROFTPD_DATA_TIMEOUT: \"0\": expected 1 to 316224000 seconds".into(),
            ),
            (
                vec!["--anonymous=5"],
                vec![],
                "--anonymous: unknown permission letter '5' (expected letters from \
                 \"elradfmwMT\")"
                    .into(),
            ),
            (
                vec!["--log-prefix", "{ipp}"],
                vec![],
                "--log-prefix: \"{ipp}\": unknown placeholder {ipp}; expected {ip}, {port}, \
                 {user} or {id}"
                    .into(),
            ),
            (
                vec![],
                vec![("FERROFTPD_LOG_PREFIX", "[{user]")],
                "FERROFTPD_LOG_PREFIX: \"[{user]\": '{' at character 2 is never closed \
                 (write {{ for a brace)"
                    .into(),
            ),
            (
                vec!["--log-prefix", "a}b"],
                vec![],
                "--log-prefix: \"a}b\": '}' at character 2 closes nothing (write }} for a brace)"
                    .into(),
            ),
            // Passwords are never repeated.
            (
                vec!["--user", "bob:s3cret:xyz"],
                vec![],
                "--user: user bob: unknown permission letter 'x' (expected letters from \
                 \"elradfmwMT\")"
                    .into(),
            ),
        ];
        for (argv, env, expected) in cases {
            assert_eq!(
                invalid(parse_with(&argv, &env)),
                expected,
                "{argv:?} {env:?}"
            );
        }
        // A flag on the command line hides a bad value below it.
        assert!(parse_with(&["--config", path, "--max-cons", "3"], &[]).is_ok());
        assert!(parse_with(&["-p", "1"], &[("FERROFTPD_PORT", "x")]).is_ok());
    }

    #[test]
    fn config_file_errors() {
        let cases = [
            ("portt = 1\n", "1: portt: unknown key; did you mean port?"),
            ("prot = 1\n", "1: prot: unknown key; did you mean port?"),
            (
                "directroy = \"/srv\"\n",
                "1: directroy: unknown key; did you mean directory?",
            ),
            (
                "tls_implicit = 990\n",
                "1: tls_implicit: unknown key; did you mean tls_implicit_port?",
            ),
            (
                "max_con = 3\n",
                "1: max_con: unknown key; did you mean max_cons?",
            ),
            (
                "listen_port = 21\n",
                "1: listen_port: unknown key (the keys are the long flags with _ for -, \
                 see ferroftpd --help)",
            ),
            (
                "port = 1\nmax-cons = 3\n",
                "2: max-cons: unknown key; did you mean max_cons?",
            ),
            (
                "no_tls = true\n",
                "1: no_tls: unknown key; write tls = false",
            ),
            (
                "config = \"x.toml\"\n",
                "1: config: unknown key: a config file",
            ),
            ("tls = \"yes\"\n", "1: tls: expected true or false"),
            ("port = [1, 2]\n", "1: port: expected one value, not a list"),
            (
                "port = true\n",
                "1: port: expected a value, not true or false",
            ),
            ("[server]\nport = 1\n", "1: server: unknown key"),
            (
                "user = [[\"a:b\"]]\n",
                "1: user: expected text or a number, not array",
            ),
            ("port = 1\nport = 2\n", "2: duplicate key"),
            (
                "anonymous = 5\n",
                "1: anonymous: unknown permission letter '5'",
            ),
            (
                "port = 21\nmax_cons = 0\n",
                "2: max_cons: \"0\": expected a whole number, 1 or more",
            ),
            (
                "log_prefix = \"{ip}:{prot}\"\n",
                "1: log_prefix: \"{ip}:{prot}\": unknown placeholder {prot}",
            ),
            (
                "ban_time = 0\n",
                "1: ban_time: \"0\": expected 1 to 316224000 seconds",
            ),
            ("port = \n", "1: "),
        ];
        for (text, expected) in cases {
            let file = config(text);
            let message = invalid(parse_with(
                &["--config", file.path().to_str().unwrap()],
                &[],
            ));
            let prefix = format!("{}:", file.path().display());
            assert!(
                message.starts_with(&prefix) && message[prefix.len()..].starts_with(expected),
                "{text:?}: {message}"
            );
            assert!(!message.contains('\n'), "{message}");
            assert_no_rust_names(&message);
        }
        let missing = invalid(parse_with(
            &["--config", "/nonexistent/ferroftpd.toml"],
            &[],
        ));
        assert!(
            missing.starts_with("/nonexistent/ferroftpd.toml: "),
            "{missing}"
        );
    }

    /// Fails if `message` shows a Rust type or a value as `Debug` prints it.
    fn assert_no_rust_names(message: &str) {
        for word in [
            "::", "Error", "Some(", "None", "Mismatch", "Integer", "String", "usize",
        ] {
            assert!(!message.contains(word), "{word}: {message}");
        }
    }

    #[test]
    fn suggestions_are_the_nearest_keys() {
        assert_eq!(edit_distance("port", "port"), 0);
        assert_eq!(edit_distance("prot", "port"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        let keys: Vec<String> = ["port", "sort", "directory", "max_cons", "max_cons_per_ip"]
            .map(String::from)
            .into();
        let cases: [(&str, &[&str]); 6] = [
            ("ort", &["port", "sort"]),
            ("directroy", &["directory"]),
            ("max_con", &["max_cons"]),
            ("max_cons_per", &["max_cons_per_ip"]),
            ("xyz", &[]),
            ("interface", &[]),
        ];
        for (word, expected) in cases {
            assert_eq!(closest(word, &keys), expected, "{word}");
        }
    }

    /// Errors found after the parse, by `settings.rs`, name the flag;
    /// `locate` names the variable or the line of the file instead.
    #[test]
    fn later_errors_are_located() {
        let file = config("# settings\n\nencoding = \"klingon\"\nuser = [\"bob:pw:elr:/x\"]\n");
        let path = file.path().to_str().unwrap();
        let parsed = parse_with(
            &["--config", path, "--range", "60000-60001"],
            &[("FERROFTPD_DIRECTORY", "/nonexistent")],
        )
        .unwrap();
        let cases = [
            (
                "--encoding: unknown encoding",
                format!("{path}:3: encoding: unknown encoding"),
            ),
            (
                "--user bob: home /x: no such directory",
                format!("{path}:4: user bob: home /x: no such directory"),
            ),
            (
                "--directory: /nonexistent: no such directory",
                "FERROFTPD_DIRECTORY: /nonexistent: no such directory".into(),
            ),
            // Given on the command line: the flag stays.
            ("--range: in use", "--range: in use".into()),
            // Not set: the flag stays (the message is about the default).
            ("--port: in use", "--port: in use".into()),
            // Not about one option.
            (
                "--encoding and --user go together",
                "--encoding and --user go together".into(),
            ),
            (
                "--encoding cannot be combined with --user: put it elsewhere",
                "--encoding cannot be combined with --user: put it elsewhere".into(),
            ),
            (
                "listening on [::]:21: in use",
                "listening on [::]:21: in use".into(),
            ),
        ];
        for (message, expected) in cases {
            assert_eq!(parsed.locate(message), expected);
        }
    }

    #[test]
    fn relations_are_checked_on_the_command_line_and_left_to_settings_across_layers() {
        let conflict = parse_with(&["--users", "u.toml", "--user", "a:b"], &[]);
        match conflict {
            Err(Error::Clap(e)) => assert_eq!(e.kind(), ErrorKind::ArgumentConflict),
            other => panic!("{other:?}"),
        }
        // A username in one layer and its password in another.
        let file = config("username = \"alice\"\n");
        let args = parse_with(
            &["--config", file.path().to_str().unwrap()],
            &[("FERROFTPD_PASSWORD", "pw")],
        )
        .unwrap()
        .args;
        assert_eq!(args.username.as_deref(), Some("alice"));
        assert_eq!(args.password.as_deref(), Some("pw"));
        // The subcommand ignores the environment.
        let parsed = parse_with(&["hash-password"], &[("FERROFTPD_PORT", "x")]).unwrap();
        assert!(parsed.args.command.is_some());
    }

    #[test]
    fn session_options_from_every_layer() {
        let file = config(
            "banner_file = \"/etc/ftp.banner\"\ndir_message = \".message\"\numask = \"027\"\nno_active = true\n",
        );
        let path = file.path().to_str().unwrap();
        let args = parse_with(&["--config", path], &[]).unwrap().args;
        assert_eq!(
            args.banner_file.as_deref(),
            Some(Path::new("/etc/ftp.banner"))
        );
        assert_eq!(args.dir_message.as_deref(), Some(".message"));
        assert_eq!(args.umask, Some(0o027));
        assert!(args.no_active);
        // --active turns a file's no_active off; the environment sets a umask.
        let args = parse_with(
            &["--config", path, "--active"],
            &[("FERROFTPD_UMASK", "0o002")],
        )
        .unwrap()
        .args;
        assert!(!args.no_active);
        assert_eq!(args.umask, Some(0o002));
        // A bad value names its source, in one line.
        let bad = invalid(parse_with(&[], &[("FERROFTPD_UMASK", "999")]));
        assert!(bad.starts_with("FERROFTPD_UMASK: "), "{bad}");
        assert!(bad.contains("octal umask"), "{bad}");
        // TOML has no leading zeros: an octal integer arrives in decimal
        // and is refused, with a hint, rather than misread.
        let octal = config("umask = 0o22\n");
        let bad = invalid(parse_with(
            &["--config", octal.path().to_str().unwrap()],
            &[],
        ));
        assert!(
            bad.contains(":1: umask: ") && bad.contains("umask = \"022\""),
            "{bad}"
        );
        for bad in ["", "1000", "+22", "8", "abc"] {
            assert!(parse_with(&["--umask", bad], &[]).is_err(), "{bad}");
        }
        let bad = invalid(parse_with(&["--dir-message", "a/b"], &[]));
        assert!(bad.starts_with("--dir-message: "), "{bad}");
    }
}
