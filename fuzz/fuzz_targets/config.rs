//! The command line's option layers (`crates/cli/src/layers.rs`): flags,
//! `FERROFTPD_*` environment variables and config-file keys, merged by
//! `layers::parse` exactly as the `ferroftpd` binary does.
//!
//! The CLI crate is a binary only, so this target compiles its two
//! option modules, `args.rs` and `layers.rs`, itself (`#[path]` below)
//! instead of depending on the crate: a library target would make the
//! fuzz build compile every dependency of the binary (the sandbox, system
//! users, metrics, object storage) for two modules that need clap, toml
//! and a few types of `ferroftpd`.
//!
//! The input is text in three parts separated by lines `%%`: the command
//! line, one argument per line; the environment, one `NAME=VALUE` per
//! line (`FERROFTPD_` is added to a name without it); and the config
//! file, written to a scratch file. `@config` in an argument or a value
//! stands for the scratch file's path, so `--config` and
//! `FERROFTPD_CONFIG` can name it. Checked:
//!
//! - no panic, clap's rendering of its own errors included;
//! - an option error (`layers::Error::Invalid`) is one non-empty line
//!   that starts with its source: a flag given on the command line, a
//!   variable that is set, or the config file's path with a line of the
//!   file (`path:line: key: ...`) or without one (`path: ...`);
//! - a bad value is never left as clap's own error (which would name a
//!   flag the user did not type), and when the command line holds nothing
//!   but `--config`, no error is clap's: the environment and the file
//!   only ever give one-line errors naming their source;
//! - the values of `--password` and of `--user` (its password part) are
//!   never repeated in an error;
//! - when the options parse, the source recorded for each names a flag
//!   on the command line, a variable that is set, or a line of the file.
#![no_main]

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::OnceLock;

use clap::error::ErrorKind;
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/cli/src/args.rs"]
mod args;
#[allow(dead_code)]
#[path = "../../crates/cli/src/layers.rs"]
mod layers;

use layers::{Error, Source, ENV_PREFIX};

/// Stands for the config file's path in an argument or a value.
const CONFIG_PATH: &str = "@config";

/// The scratch config file of this process.
fn config_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("ferroftpd-fuzz-config-{}.toml", std::process::id()))
    })
}

/// Long flag → short letter, of every option of the command.
fn shorts() -> &'static HashMap<String, Option<char>> {
    static SHORTS: OnceLock<HashMap<String, Option<char>>> = OnceLock::new();
    SHORTS.get_or_init(|| {
        layers::command()
            .get_arguments()
            .filter_map(|a| Some((a.get_long()?.to_owned(), a.get_short())))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let mut parts = split_parts(data);
    let file = parts.pop();
    let env_text = parts.pop();
    let argv_text = parts.pop();
    let path = config_path();
    let path_text = path.to_string_lossy().into_owned();
    let substitute = |text: &[u8]| -> OsString {
        use std::os::unix::ffi::OsStringExt;
        let mut out = Vec::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest
            .windows(CONFIG_PATH.len())
            .position(|w| w == CONFIG_PATH.as_bytes())
        {
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(path.as_os_str().as_encoded_bytes());
            rest = &rest[at + CONFIG_PATH.len()..];
        }
        out.extend_from_slice(rest);
        OsString::from_vec(out)
    };

    // An empty part is no argument at all; otherwise every line is one.
    let argv: Vec<OsString> = match argv_text {
        None | Some([]) => Vec::new(),
        Some(t) => t.split(|&b| b == b'\n').map(substitute).collect(),
    };
    let mut env: HashMap<String, OsString> = HashMap::new();
    for line in env_text.unwrap_or_default().split(|&b| b == b'\n') {
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            continue;
        };
        let name = String::from_utf8_lossy(&line[..eq]).into_owned();
        let name = if name.starts_with(ENV_PREFIX) {
            name
        } else {
            format!("{ENV_PREFIX}{name}")
        };
        env.insert(name, substitute(&line[eq + 1..]));
    }
    let file = file.unwrap_or_default();
    std::fs::write(path, file).expect("writing the scratch config file");

    let result = layers::parse(
        std::iter::once(OsString::from("ferroftpd")).chain(argv.iter().cloned()),
        |name| env.get(name).cloned(),
    );

    if std::env::var_os("FERROFTPD_FUZZ_TRACE").is_some() {
        eprintln!("argv {argv:?}\nenv {env:?}\n{result:?}");
    }
    let argv_texts: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let only_config = match &argv_texts[..] {
        [] => true,
        [flag, p] => flag == "--config" && p == &path_text,
        [one] => one.strip_prefix("--config=") == Some(&path_text),
        _ => false,
    };
    let file_lines = file.split(|&b| b == b'\n').count();

    match result {
        Err(Error::Clap(e)) => {
            let _ = e.render().to_string();
            assert!(
                !matches!(
                    e.kind(),
                    ErrorKind::ValueValidation | ErrorKind::InvalidValue
                ) || e.get(clap::error::ContextKind::InvalidArg).is_none(),
                "a bad value left as clap's error: {e}"
            );
            assert!(
                !only_config
                    || matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion),
                "the environment or the file gave a clap error: {e}"
            );
        }
        Err(Error::Invalid(text)) => {
            assert!(!text.is_empty(), "an empty error");
            assert!(!text.contains('\n'), "an error of several lines: {text:?}");
            check_names_source(&text, &argv_texts, &env, &path_text, file_lines);
            let secret_source = [
                "--password:",
                "--user:",
                "FERROFTPD_PASSWORD:",
                "FERROFTPD_USER:",
            ]
            .iter()
            .any(|p| text.starts_with(p))
                || text.strip_prefix(&path_text).is_some_and(|rest| {
                    let key = rest.splitn(4, ':').nth(2).unwrap_or("");
                    key == " password" || key == " user"
                });
            for secret in secrets(&argv_texts, &env, file)
                .into_iter()
                .filter(|_| secret_source)
            {
                assert!(
                    !text.contains(&secret) || path_text.contains(&secret),
                    "an error repeats a password {secret:?}: {text:?}"
                );
            }
        }
        Ok(parsed) => {
            for (id, source) in parsed.sources() {
                match source {
                    Source::Flag(flag) => assert!(
                        flag_given(flag, &argv_texts),
                        "{id}: source {flag} not on the command line {argv_texts:?}"
                    ),
                    Source::Env(name) => {
                        assert!(env.contains_key(name), "{id}: source {name} is not set")
                    }
                    Source::File { path: p, line, .. } => {
                        assert_eq!(p, path, "{id}: another file");
                        assert!(
                            (1..=file_lines).contains(line),
                            "{id}: line {line} of a file of {file_lines} lines"
                        );
                    }
                }
            }
        }
    }
});

/// The input's parts, split at lines `%%` (at most three).
fn split_parts(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while parts.len() < 2 {
        let Some(at) = rest.windows(4).position(|w| w == b"\n%%\n") else {
            break;
        };
        parts.push(&rest[..at]);
        rest = &rest[at + 4..];
    }
    parts.push(rest);
    // Missing parts are empty: argv, then env, then the file.
    while parts.len() < 3 {
        parts.insert(parts.len() - 1, &[]);
    }
    parts
}

/// An error starts with its source: a flag given, a variable set, or the
/// config file (with a line of it).
fn check_names_source(
    text: &str,
    argv: &[String],
    env: &HashMap<String, OsString>,
    path: &str,
    file_lines: usize,
) {
    if let Some(rest) = text.strip_prefix(path).and_then(|r| r.strip_prefix(':')) {
        // `path: reason` (the file cannot be read) or `path:line: ...`.
        if let Some((line, _)) = rest.split_once(':') {
            if let Ok(line) = line.parse::<usize>() {
                assert!(
                    (1..=file_lines).contains(&line),
                    "line {line} of a file of {file_lines} lines: {text:?}"
                );
            }
        }
        return;
    }
    // The config file named by another path than the scratch file's
    // (`--config /elsewhere`, `FERROFTPD_CONFIG=-x`): the error starts with
    // that path, as given, whatever it looks like.
    let named = argv
        .iter()
        .map(|a| a.strip_prefix("--config=").unwrap_or(a).to_owned())
        .chain(env.values().map(|v| v.to_string_lossy().into_owned()))
        .any(|given| !given.is_empty() && text.starts_with(&format!("{given}: ")));
    if named {
        return;
    }
    let (source, _) = text
        .split_once(": ")
        .unwrap_or_else(|| panic!("an error without `source: `: {text:?}"));
    if source.starts_with(ENV_PREFIX) {
        assert!(env.contains_key(source), "{source} is not set: {text:?}");
    } else if source.starts_with('-') {
        assert!(
            flag_given(source, argv),
            "{source} not on the command line {argv:?}: {text:?}"
        );
    } else {
        panic!("an error that names no source: {text:?}");
    }
}

/// `--port` or its short form was given on the command line.
fn flag_given(flag: &str, argv: &[String]) -> bool {
    let Some(long) = flag.strip_prefix("--") else {
        return false;
    };
    let short = shorts().get(long).copied().flatten();
    argv.iter().take_while(|a| *a != "--").any(|a| {
        a == flag
            || a.strip_prefix(flag).is_some_and(|r| r.starts_with('='))
            || short
                .is_some_and(|c| a.starts_with('-') && !a.starts_with("--") && a[1..].contains(c))
    })
}

/// Passwords given anywhere: `--password`, and the second field of each
/// `--user NAME:PASSWORD[:...]`. Only those that cannot be part of a
/// message for another reason: 8 bytes or more with a digit, and not
/// repeated in another field of the same user.
fn secrets(argv: &[String], env: &HashMap<String, OsString>, file: &[u8]) -> Vec<String> {
    let mut values: Vec<(String, String)> = Vec::new();
    let mut it = argv.iter().peekable();
    while let Some(a) = it.next() {
        for (flag, id) in [
            ("--password", "password"),
            ("-P", "password"),
            ("--user", "user"),
        ] {
            if a == flag {
                if let Some(v) = it.peek() {
                    values.push((id.into(), (*v).clone()));
                }
            } else if let Some(v) = a.strip_prefix(&format!("{flag}=")) {
                values.push((id.into(), v.into()));
            }
        }
    }
    for (name, id) in [
        ("FERROFTPD_PASSWORD", "password"),
        ("FERROFTPD_USER", "user"),
    ] {
        if let Some(v) = env.get(name) {
            values.push((id.into(), v.to_string_lossy().into_owned()));
        }
    }
    if let Ok(text) = std::str::from_utf8(file) {
        if let Ok(table) = text.parse::<toml::Table>() {
            if let Some(toml::Value::String(s)) = table.get("password") {
                values.push(("password".into(), s.clone()));
            }
            match table.get("user") {
                Some(toml::Value::String(s)) => values.push(("user".into(), s.clone())),
                Some(toml::Value::Array(items)) => {
                    for item in items {
                        if let toml::Value::String(s) = item {
                            values.push(("user".into(), s.clone()));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    values
        .into_iter()
        .filter_map(|(id, v)| {
            let secret = match id.as_str() {
                "user" => v.split(':').nth(1)?.to_owned(),
                _ => v.clone(),
            };
            (secret.len() >= 8
                && secret.bytes().any(|b| b.is_ascii_digit())
                && v.matches(&secret).count() == 1)
                .then_some(secret)
        })
        .collect()
}
