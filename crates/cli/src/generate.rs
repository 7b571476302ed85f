//! `ferroftpd generate man|completions SHELL|config`: what packages
//! install, made from the one definition of the options (`args.rs`, with
//! the `--no-` counterparts `layers.rs` adds), so that none of it can
//! disagree with `--help`. packaging/ferroftpd.toml is the output of
//! `generate config`; a test fails when it is stale.

use std::ffi::OsStr;
use std::io::Write;

use anyhow::{bail, Context, Result};
use clap::Arg;

use crate::args::Generated;
use crate::layers::{self, Kind, Opt};

/// Width of the example's comment lines.
const WIDTH: usize = 78;

/// The start of the help of an option that only applies with another
/// ("With --system-users: ..."): its key stays commented out, since
/// setting it alone is refused.
const DEPENDENT: &str = "With --";

pub fn run(what: &Generated) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match what {
        Generated::Man { subcommand } => man_page(subcommand.as_deref())?
            .render(&mut out)
            .context("writing the man page")?,
        Generated::Completions { shell } => {
            clap_complete::generate(*shell, &mut layers::command(), "ferroftpd", &mut out)
        }
        Generated::Config => out
            .write_all(example_config().as_bytes())
            .context("writing the config file")?,
    }
    out.flush().context("writing to standard output")
}

/// The page of `ferroftpd`, or of one of its subcommands
/// (`ferroftpd-hash-password`), which the first lists.
fn man_page(subcommand: Option<&str>) -> Result<clap_mangen::Man> {
    // The --no- opposites hide their help from -h only: a man page shows
    // it. `help` is no subcommand with a page.
    let cmd = layers::command()
        .disable_help_subcommand(true)
        .mut_args(|a| a.hide_short_help(false));
    let Some(name) = subcommand else {
        return Ok(clap_mangen::Man::new(cmd));
    };
    let pages = || {
        cmd.get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| s.get_name().to_owned())
            .collect::<Vec<_>>()
    };
    let Some(sub) = cmd.find_subcommand(name).filter(|s| !s.is_hide_set()) else {
        bail!(
            "generate man: no subcommand {name:?} with a page (there are: {})",
            pages().join(", ")
        );
    };
    // Its page is ferroftpd-NAME(1); it is run as `ferroftpd NAME`.
    let sub = sub
        .clone()
        .name(format!("ferroftpd-{name}"))
        .bin_name(format!("ferroftpd {name}"));
    let source = format!("ferroftpd {}", env!("CARGO_PKG_VERSION"));
    Ok(clap_mangen::Man::new(sub).source(source))
}

/// The example config file: every key, in the order of `--help`, with its
/// help and its default. A key whose default is a value is set to it
/// (`port = 2121`, `tls = false`), so the file as a whole changes nothing;
/// a key whose default is in words (`[default: unlimited]`), or that only
/// applies with another option, is commented out, with a value of the
/// right form to start from.
pub fn example_config() -> String {
    let mut text = String::from(HEADER);
    let cmd = layers::command();
    for opt in layers::options() {
        if opt.id == layers::CONFIG {
            continue;
        }
        let Some(arg) = cmd.get_arguments().find(|a| a.get_id() == opt.id.as_str()) else {
            continue;
        };
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        text.push('\n');
        for line in wrap(&help, WIDTH - 2) {
            text.push_str(&format!("# {line}\n").replace("# \n", "#\n"));
        }
        text.push_str(&format!("# --{}, {}\n", opt.long, opt.env()));
        text.push_str(&entry(arg, &opt, &help));
        text.push('\n');
    }
    text
}

const HEADER: &str = "\
# ferroftpd configuration: every key, with its default.
#
# Made by `ferroftpd generate config` from the server's options. Each key is
# a command-line flag with _ for - (--max-cons is max_cons) and has an
# environment variable (FERROFTPD_MAX_CONS); flags and environment variables
# win over this file. The keys set here are set to their defaults: as it is,
# this file changes nothing. Keys commented out have a default in words, or
# apply only with another option (\"With --system-users: ...\"). See
# docs/cli.md.
#
# Use: ferroftpd --config /etc/ferroftpd/ferroftpd.toml
";

/// The `key = value` line of an option: set to its default when that is a
/// value the option accepts, else commented out.
fn entry(arg: &Arg, opt: &Opt, help: &str) -> String {
    let key = opt.key();
    if opt.kind == Kind::Flag {
        return format!("{key} = false");
    }
    let default = literal_default(arg, help);
    let dependent = help.starts_with(DEPENDENT);
    let placeholder = || {
        arg.get_value_names()
            .and_then(|names| names.first())
            .map_or_else(|| "VALUE".to_owned(), |n| n.to_string())
            .trim_end_matches(",...")
            .to_owned()
    };
    let value = default.clone().unwrap_or_else(placeholder);
    let value = match opt.kind {
        Kind::List => format!("[{}]", toml_value(&value)),
        _ if opt.comma_list => format!("[{}]", toml_value(&value)),
        _ => toml_value(&value),
    };
    let line = format!("{key} = {value}");
    if default.is_some() && !dependent {
        line
    } else {
        format!("#{line}")
    }
}

/// The default `help` states (`[default: 2121]`) when it is one word that
/// the option's own parser accepts: not "unlimited" for a number, nor "the
/// current directory".
fn literal_default(arg: &Arg, help: &str) -> Option<String> {
    let start = help.rfind("[default: ")? + "[default: ".len();
    let text = help[start..].strip_suffix(']')?;
    if text.is_empty() || text.contains(char::is_whitespace) {
        return None;
    }
    // The option's parser alone, without its relations to other options.
    let probe = Arg::new("value")
        .long("value")
        .value_parser(arg.get_value_parser().clone());
    clap::Command::new("probe")
        .arg(probe)
        .try_get_matches_from([OsStr::new("probe"), OsStr::new("--value"), OsStr::new(text)])
        .ok()
        .map(|_| text.to_owned())
}

/// A number as it is, anything else as a TOML string.
fn toml_value(text: &str) -> String {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.to_owned();
    }
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// `text` in lines of at most `width` characters, broken between words.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in example, relative to this crate.
    const EXAMPLE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../packaging/ferroftpd.toml"
    );

    #[test]
    fn the_checked_in_example_config_is_up_to_date() {
        let checked_in = std::fs::read_to_string(EXAMPLE).expect("packaging/ferroftpd.toml");
        assert!(
            checked_in == example_config(),
            "packaging/ferroftpd.toml is stale: the options changed. Regenerate it with\n    \
             cargo run -p ferroftpd-cli -- generate config > packaging/ferroftpd.toml"
        );
    }

    #[test]
    fn every_key_is_in_the_example_once() {
        let text = example_config();
        for opt in layers::options().iter().filter(|o| o.id != layers::CONFIG) {
            let key = opt.key();
            let count = text
                .lines()
                .filter(|l| {
                    l.trim_start_matches('#')
                        .strip_prefix(&key)
                        .is_some_and(|rest| rest.starts_with(" = "))
                })
                .count();
            assert_eq!(count, 1, "{key}");
        }
    }

    #[test]
    fn defaults_in_words_and_dependent_options_stay_commented_out() {
        let text = example_config();
        let has = |line: &str| text.lines().any(|l| l == line);
        for line in [
            "port = 2121",
            "max_cons = 512",
            "auth_failed_delay = 3",
            "log_format = \"text\"",
            "storage = \"local\"",
            "tls = false",
            "no_sandbox = false",
            "#interface = \"ADDRESS\"",
            "#directory = \"PATH\"",
            "#max_cons_per_ip = \"N\"",
            "#user = [\"NAME:PASSWORD[:PERMS[:HOME]]\"]",
            "#system_rejected_users = [\"root\"]",
            "#pam_service = \"ferroftpd\"",
            "#memory_size = \"256M\"",
            "#s3_region = \"us-east-1\"",
            "#banner = \"BANNER\"",
        ] {
            assert!(has(line), "no line {line:?} in\n{text}");
        }
        assert!(
            !text.contains("config ="),
            "a config file cannot name another"
        );
    }

    #[test]
    fn the_example_config_sets_only_defaults() {
        let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        std::fs::write(file.path(), example_config()).unwrap();
        let no_env = |_: &str| None;
        let path = file.path().to_str().unwrap();
        let with = layers::parse(["ferroftpd", "--config", path], no_env).unwrap();
        let without = layers::parse(["ferroftpd"], no_env).unwrap();
        let with = crate::settings::build(&with.args).unwrap();
        let without = crate::settings::build(&without.args).unwrap();
        assert_eq!(with.listen, without.listen);
        assert_eq!(with.roots, without.roots);
        assert_eq!(
            format!("{:?}", with.server.config()),
            format!("{:?}", without.server.config())
        );
    }

    #[test]
    fn wrap_breaks_between_words() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert!(wrap("", 5).is_empty());
    }
}
