//! Replies on the control channel (RFC 959 §4.2).

use std::fmt;

/// A reply: a three-digit code and one or more lines of text.
///
/// Text is bytes, since it may carry file names that are not UTF-8.
/// Encoding keeps a reply from breaking the stream: a line feed inside a
/// line is sent as NUL (RFC 959's convention for path names), and byte 0xFF
/// is doubled as Telnet requires.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    lines: Vec<Vec<u8>>,
}

impl Reply {
    /// A single-line reply.
    ///
    /// ```
    /// use ferroftpd_proto::reply::Reply;
    /// assert_eq!(Reply::new(200, "OK.").to_bytes(), b"200 OK.\r\n");
    /// ```
    pub fn new(code: u16, text: impl Into<Vec<u8>>) -> Self {
        debug_assert!((100..600).contains(&code));
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply. The first line follows `code-`, the last follows
    /// `code `, the ones between are sent as given.
    ///
    /// ```
    /// use ferroftpd_proto::reply::Reply;
    /// let r = Reply::multi(211, ["Features:", " UTF8", "End"]);
    /// assert_eq!(r.to_bytes(), b"211-Features:\r\n UTF8\r\n211 End\r\n");
    /// ```
    pub fn multi<I, L>(code: u16, lines: I) -> Self
    where
        I: IntoIterator<Item = L>,
        L: Into<Vec<u8>>,
    {
        let mut lines: Vec<Vec<u8>> = lines.into_iter().map(Into::into).collect();
        if lines.is_empty() {
            lines.push(Vec::new());
        }
        Reply { code, lines }
    }

    /// A reply whose text is split on `\n` into lines, multi-line if needed
    /// (login and quit messages, banners).
    pub fn text(code: u16, text: &str) -> Self {
        Reply::multi(code, text.split('\n').map(|l| l.trim_end_matches('\r')))
    }

    /// The reply code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The lines of text.
    pub fn lines(&self) -> &[Vec<u8>] {
        &self.lines
    }

    /// True for 1xx replies, which another reply follows.
    pub fn is_preliminary(&self) -> bool {
        self.code < 200
    }

    /// Appends the wire form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let last = self.lines.len() - 1;
        for (i, line) in self.lines.iter().enumerate() {
            if i == 0 || i == last {
                let sep = if i == last { b' ' } else { b'-' };
                out.extend_from_slice(format!("{}", self.code).as_bytes());
                out.push(sep);
            } else if line.first().is_some_and(u8::is_ascii_digit) {
                // A middle line must not look like the end of the reply.
                out.push(b' ');
            }
            for &b in line {
                match b {
                    b'\n' => out.push(0),
                    0xff => out.extend_from_slice(&[0xff, 0xff]),
                    b => out.push(b),
                }
            }
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Reply({})",
            String::from_utf8_lossy(&self.to_bytes()).trim_end()
        )
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        f.write_str(String::from_utf8_lossy(&bytes).trim_end())
    }
}

/// A path in double quotes, with quotes inside doubled (RFC 959 257 replies).
///
/// ```
/// use ferroftpd_proto::reply::quoted;
/// assert_eq!(quoted(b"/a \"b\""), b"\"/a \"\"b\"\"\"");
/// ```
pub fn quoted(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + 2);
    out.push(b'"');
    for &b in path {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_table() {
        let cases: Vec<(Reply, &[u8])> = vec![
            (Reply::new(220, "ready"), b"220 ready\r\n"),
            (Reply::new(226, ""), b"226 \r\n"),
            (Reply::text(230, "Welcome"), b"230 Welcome\r\n"),
            (Reply::text(230, "a\nb\r\nc"), b"230-a\r\nb\r\n230 c\r\n"),
            (
                Reply::multi(211, ["x", "123 y", "z"]),
                b"211-x\r\n 123 y\r\n211 z\r\n",
            ),
            (Reply::new(257, b"\"/a\nb\"".to_vec()), b"257 \"/a\0b\"\r\n"),
            (Reply::new(550, b"\xff".to_vec()), b"550 \xff\xff\r\n"),
            (Reply::multi(200, Vec::<Vec<u8>>::new()), b"200 \r\n"),
        ];
        for (reply, want) in cases {
            assert_eq!(reply.to_bytes(), want, "{reply:?}");
        }
    }

    #[test]
    fn preliminary() {
        assert!(Reply::new(150, "x").is_preliminary());
        assert!(!Reply::new(226, "x").is_preliminary());
    }
}
