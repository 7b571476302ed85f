//! Text files shown to clients in replies: a banner file (the 220
//! greeting) and directory messages (after CWD and at login).
//!
//! Whoever wrote the file, its text must not break the reply it travels
//! in: control characters are dropped (a tab becomes a space), and the
//! caller caps its size. A line that starts with digits is made safe by
//! [`Reply`](crate::reply::Reply)'s encoding, which indents middle lines
//! that could pass for the end of the reply.

/// Most bytes of a message file that are sent. A greeting is read by
/// every client at every connection and a directory message at every
/// CWD: a screenful is plenty, and a large file must not cost each
/// command a large read.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// Most lines of a message that are sent, for the same reason.
pub const MAX_MESSAGE_LINES: usize = 64;

/// The lines of `text` as reply lines: split on `\n` (a `\r` before it
/// is dropped), control characters removed and tabs turned into spaces,
/// blank lines at the end left out, at most [`MAX_MESSAGE_LINES`].
///
/// ```
/// use ferroftpd_proto::message::message_lines;
/// assert_eq!(message_lines("Hi\r\n\tthere\x07\n\n"), ["Hi", " there"]);
/// ```
pub fn message_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .split('\n')
        .take(MAX_MESSAGE_LINES)
        .map(|line| {
            line.chars()
                .filter_map(|c| match c {
                    '\t' => Some(' '),
                    c if c.is_control() => None,
                    c => Some(c),
                })
                .collect()
        })
        .collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines
}

/// The lines of the first [`MAX_MESSAGE_BYTES`] of a file read at run
/// time (a directory message), which may not be UTF-8: invalid sequences
/// become U+FFFD. `bytes` may hold one byte more than the cap, which says
/// the file was longer: the line cut by the cap is then left out rather
/// than sent in part.
///
/// ```
/// use ferroftpd_proto::message::{file_message_lines, MAX_MESSAGE_BYTES};
/// assert_eq!(file_message_lines(b"caf\xe9\n"), ["caf\u{fffd}"]);
/// let long = [b"a\n".repeat(MAX_MESSAGE_BYTES / 2), b"b".to_vec()].concat();
/// assert_eq!(file_message_lines(&long).last().map(String::as_str), Some("a"));
/// ```
pub fn file_message_lines(bytes: &[u8]) -> Vec<String> {
    let mut bytes = bytes;
    if bytes.len() > MAX_MESSAGE_BYTES {
        bytes = &bytes[..MAX_MESSAGE_BYTES];
        let cut = bytes.iter().rposition(|&b| b == b'\n').unwrap_or(0);
        bytes = &bytes[..cut];
    }
    message_lines(&String::from_utf8_lossy(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::Reply;

    #[test]
    fn lines_table() {
        let cases: [(&str, &[&str]); 8] = [
            ("", &[]),
            ("\n\n  \n", &[]),
            ("one", &["one"]),
            ("one\r\ntwo\r\n", &["one", "two"]),
            ("a\x1b[31mred\x1b[0m", &["a[31mred[0m"]),
            ("nul\0 del\x7f c1\u{85}", &["nul del c1"]),
            ("\ttab", &[" tab"]),
            ("\n\nafter blanks", &["", "", "after blanks"]),
        ];
        for (text, want) in cases {
            assert_eq!(message_lines(text), want, "{text:?}");
        }
    }

    #[test]
    fn at_most_max_lines() {
        let text = "x\n".repeat(MAX_MESSAGE_LINES * 2);
        assert_eq!(message_lines(&text).len(), MAX_MESSAGE_LINES);
    }

    #[test]
    fn file_lines_are_capped_at_a_line_end() {
        let mut bytes = b"first\n".to_vec();
        bytes.resize(MAX_MESSAGE_BYTES + 1, b'z');
        assert_eq!(file_message_lines(&bytes), ["first"]);
        // Exactly at the cap: nothing was cut.
        let exact = vec![b'y'; MAX_MESSAGE_BYTES];
        assert_eq!(file_message_lines(&exact)[0].len(), MAX_MESSAGE_BYTES);
    }

    /// A message cannot end its reply early or inject another one: lines
    /// that look like reply ends are indented, line breaks are line
    /// breaks of the reply, and nothing but CRLF ends a line on the wire.
    #[test]
    fn hostile_message_keeps_reply_framing() {
        let text = "250 fake end\r\n421 bye\rX\n\x00\x1b";
        let mut lines = message_lines(text);
        lines.push("\"/\" is the current directory.".to_owned());
        let wire = Reply::multi(250, lines).to_bytes();
        assert_eq!(
            wire,
            b"250-250 fake end\r\n 421 byeX\r\n250 \"/\" is the current directory.\r\n"
        );
        let ends = wire
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"250 "))
            .count();
        assert_eq!(ends, 1);
    }
}
