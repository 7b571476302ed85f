//! Client text made safe for log lines.
//!
//! A client chooses the bytes of its command lines and paths. Written to a
//! log as they are, a carriage return or line feed lets it forge or hide
//! lines, and terminal escape sequences act on whoever reads the log in a
//! terminal. [`LogSafe`] shows such characters as Rust escapes instead.

use std::fmt;

/// Displays bytes as text (invalid UTF-8 as U+FFFD), with control
/// characters (C0, DEL and C1) escaped: `\r`, `\n`, `\t`, `\u{1b}`. A
/// backslash is doubled, so an escape can always be told from the same
/// characters typed by the client.
#[derive(Clone, Copy)]
pub struct LogSafe<'a>(pub &'a [u8]);

impl fmt::Display for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_control() || c == '\\' {
                    write!(f, "{}", c.escape_default())?;
                } else {
                    fmt::Write::write_char(f, c)?;
                }
            }
            if !chunk.invalid().is_empty() {
                fmt::Write::write_char(f, char::REPLACEMENT_CHARACTER)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::LogSafe;

    #[test]
    fn controls_are_escaped() {
        let cases: [(&[u8], &str); 8] = [
            (b"RETR file.txt", "RETR file.txt"),
            (b"USER a\rINFO forged", "USER a\\rINFO forged"),
            (b"a\nb", "a\\nb"),
            (b"\x1b[2J", "\\u{1b}[2J"),
            (b"tab\there", "tab\\there"),
            (b"back\\slash", "back\\\\slash"),
            ("caf\u{e9} \u{9b}".as_bytes(), "caf\u{e9} \\u{9b}"),
            (b"bad \xff utf8", "bad \u{fffd} utf8"),
        ];
        for (input, want) in cases {
            assert_eq!(LogSafe(input).to_string(), want, "{input:?}");
        }
    }
}
