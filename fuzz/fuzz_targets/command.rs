//! `Command::parse` (`ferroftpd_proto::command`) on any line a client could
//! send (the framer hands it any bytes but LF).
//!
//! Checked:
//!
//! - no panic, for any bytes;
//! - the verb is case-insensitive: the line with its verb upper-cased
//!   parses to the same command, or to an error with the same reply code;
//! - a parsed command has a non-empty, upper-case ASCII `name()`, and
//!   `allowed_before_login` answers without panicking;
//! - a password never shows in `Debug` output: `PASS x` prints as
//!   `Pass(****)` whatever `x` is;
//! - a refusal maps to a 5xx reply that is exactly one line: the reply
//!   encoder turns a LF inside the text into NUL, so echoing a client's
//!   verb or parameter cannot inject a second reply line;
//! - an unknown verb's reply stays short (the verb shown is bounded).
#![no_main]

use ferroftpd_proto::command::{Command, ParseError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    let parsed = Command::parse(line);

    let verb_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let mut upper = line.to_vec();
    upper[..verb_end].make_ascii_uppercase();
    let parsed_upper = Command::parse(&upper);

    match &parsed {
        Ok(cmd) => {
            assert_eq!(
                parsed_upper.as_ref(),
                Ok(cmd),
                "verb case changed the result"
            );
            let name = cmd.name();
            assert!(!name.is_empty());
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
            let _ = cmd.allowed_before_login();
            let debug = format!("{cmd:?}");
            if let Command::Pass(_) = cmd {
                assert_eq!(debug, "Pass(****)");
            }
        }
        Err(e) => {
            let reply = e.reply();
            let other = parsed_upper
                .as_ref()
                .expect_err("verb case changed the result");
            assert_eq!(other.reply().code(), reply.code());
            assert!((500..600).contains(&reply.code()), "{reply:?}");
            let bytes = reply.to_bytes();
            assert!(bytes.ends_with(b"\r\n"));
            assert_eq!(
                bytes.iter().filter(|&&b| b == b'\n').count(),
                1,
                "{bytes:?}"
            );
            if let ParseError::Unknown(_) = e {
                assert!(bytes.len() < 120, "{} bytes", bytes.len());
            }
        }
    }
});
