//! The users file (`ferroftpd::auth::UsersFile`), the TOML file that
//! holds accounts and password hashes. An admin writes it, not a client,
//! but a typo must give an error naming the place, never a panic.
//!
//! `UsersFile::load` takes a path (it checks each home exists), so the
//! input is written to a file in a scratch directory, next to an existing
//! directory `home` that relative homes (`home = "home"`) can name.
//!
//! Checked:
//!
//! - no panic, for any bytes;
//! - an error names the file, and a line and column inside the text
//!   (line at most one past the number of lines, column from 1);
//! - a loaded file reports `ftp` and `anonymous` as the same user, and
//!   `len() == 0` exactly when `is_empty()`.
//!
//! Skipped (see `known_issue`):
//!
//! - a SHA-256-crypt hash (`$5$`) whose hash part is not canonical crypt
//!   base64. `sha-crypt` 0.5 panics on it (`decode_sha256` unwraps); the
//!   users file tries such a hash once at load inside `catch_unwind` and
//!   refuses the file with an error, but libFuzzer's panic hook aborts on
//!   any panic, caught or not (corpus:
//!   `crash-sha256-crypt-non-canonical-base64`; the unit test
//!   `auth::users_file::tests::hash_forms` checks the refusal);
//! - costly hashes, to keep runs fast: load times one check of each
//!   hash's cost, and the users file accepts costs up to argon2id
//!   `m=262144` KiB, bcrypt 15 and SHA-crypt 1,000,000 rounds (seconds
//!   each; above those it refuses the file). Skipped: argon2id with `m` >
//!   1024 KiB, `t` > 1 or `p` > 1, bcrypt cost above 8, SHA-crypt rounds
//!   above 5000. (A file with no password at all is still timed against
//!   the default argon2id: those runs are slow.)
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ferroftpd::auth::UsersFile;
use libfuzzer_sys::fuzz_target;

const SCRATCH_PREFIX: &str = "ferroftpd-fuzz-users-";

/// The scratch directory, made once per process (in /dev/shm when there is
/// one, so each run writes to memory). libFuzzer exits without running
/// destructors, so each process first removes those of processes that
/// are gone.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        for entry in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let pid = name.to_str().and_then(|n| n.strip_prefix(SCRATCH_PREFIX));
            if pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = base.join(format!("{SCRATCH_PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(dir.join("home")).expect("scratch directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    if known_issue(data) {
        return;
    }
    let path = scratch().join("users.toml");
    std::fs::write(&path, data).expect("write the users file");
    match UsersFile::load(&path) {
        Ok(users) => {
            assert_eq!(users.has_user("ftp"), users.has_user("anonymous"));
            assert_eq!(users.len() == 0, users.is_empty());
            assert_eq!(users.path(), path);
        }
        Err(e) => {
            assert_eq!(e.path, path);
            let text = e.to_string();
            assert!(text.starts_with(&*path.to_string_lossy()), "{text}");
            if let Some((line, col)) = e.location {
                let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
                assert!(
                    line >= 1 && line <= lines && col >= 1,
                    "{line}:{col} of {lines}"
                );
            }
        }
    }
});

/// True if the file holds, anywhere, a string that hits a known issue (see
/// the top of this file). Read with the same TOML parser as the users file,
/// so escapes cannot hide a `$`.
fn known_issue(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(table) = text.parse::<toml::Table>() else {
        return false;
    };
    let value = toml::Value::Table(table);
    let mut strings = Vec::new();
    collect_strings(&value, &mut strings);
    strings
        .iter()
        .any(|s| bad_sha256_crypt(s) || costly_hash(s))
}

fn collect_strings<'a>(value: &'a toml::Value, out: &mut Vec<&'a str>) {
    match value {
        toml::Value::String(s) => out.push(s),
        toml::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        toml::Value::Table(t) => t.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// A `$5$` hash whose last field `sha-crypt` cannot decode.
fn bad_sha256_crypt(s: &str) -> bool {
    use base64ct::{Base64ShaCrypt, Encoding};
    if !s.starts_with("$5$") {
        return false;
    }
    let hash = s.rsplit('$').next().unwrap_or_default();
    let mut buf = [0u8; 43];
    Base64ShaCrypt::decode(hash.as_bytes(), &mut buf).is_err()
}

/// A hash whose cost is above the limits given at the top of this file.
fn costly_hash(s: &str) -> bool {
    // A number that does not fit counts as large.
    let num = |v: &str| v.parse::<u64>().unwrap_or(u64::MAX);
    let fields: Vec<&str> = s.split('$').collect();
    match fields.get(1).copied() {
        Some(id) if id.starts_with("argon2") => fields.iter().any(|f| {
            f.split(',').any(|kv| match kv.split_once('=') {
                Some(("m", v)) => num(v) > 1024,
                Some(("t", v)) => num(v) > 1,
                Some(("p", v)) => num(v) > 1,
                _ => false,
            })
        }),
        Some("2a" | "2b" | "2y") => fields.get(2).is_some_and(|c| num(c) > 8),
        Some("5" | "6") => fields
            .iter()
            .any(|f| f.strip_prefix("rounds=").is_some_and(|r| num(r) > 5_000)),
        _ => false,
    }
}
