//! Control-channel line framing.
//!
//! The control connection is a Telnet NVT stream (RFC 959 §4). A [`LineFramer`]
//! takes bytes as they arrive and yields whole command lines with Telnet
//! sequences removed. It never buffers more than [`MAX_LINE_LEN`] bytes: a
//! longer line is dropped whole and reported as [`Frame::TooLong`], so a
//! client cannot make the server hold an unbounded buffer.
//!
//! Lines end with CRLF; a bare LF is accepted too (many scripts and some
//! clients send it), and a CR before it is removed.

/// Longest command line accepted, in bytes, without its line ending.
///
/// RFC 959 sets no limit. Paths on Linux are at most 4096 bytes (`PATH_MAX`),
/// and a verb plus a space needs a few more, so a line of 4096 + 16 bytes can
/// carry any path the server could open. vsftpd uses 4096, Pure-FTPd
/// `PATH_MAX + 16`.
pub const MAX_LINE_LEN: usize = 4096 + 16;

/// Telnet "Interpret As Command" escape.
const IAC: u8 = 255;
/// Telnet option negotiation verbs, each followed by one option byte.
const WILL: u8 = 251;
const DONT: u8 = 254;
/// Telnet command codes are 240 (SE) to 254 (DONT).
const FIRST_TELNET_COMMAND: u8 = 240;

/// One unit taken off the control stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, without its line ending and Telnet sequences.
    Line(Vec<u8>),
    /// A line longer than [`MAX_LINE_LEN`] was received and dropped.
    TooLong,
}

/// Where the Telnet decoder is inside an escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Telnet {
    #[default]
    Data,
    /// After IAC.
    Iac,
    /// After IAC WILL/WONT/DO/DONT: the option byte follows.
    Option,
}

/// Incremental splitter of the control stream into lines.
///
/// ```
/// use ferroftpd_proto::framing::{Frame, LineFramer};
/// let mut framer = LineFramer::new();
/// framer.push(b"NOOP\r\nUSER bo");
/// assert_eq!(framer.next_frame(), Some(Frame::Line(b"NOOP".to_vec())));
/// assert_eq!(framer.next_frame(), None);
/// framer.push(b"b\r\n");
/// assert_eq!(framer.next_frame(), Some(Frame::Line(b"USER bob".to_vec())));
/// ```
#[derive(Debug, Clone, Default)]
pub struct LineFramer {
    /// Raw bytes received but not yet framed.
    pending: Vec<u8>,
    /// Decoded bytes of the line being assembled.
    line: Vec<u8>,
    telnet: Telnet,
    /// The current line overflowed; drop everything up to its end.
    discarding: bool,
}

impl LineFramer {
    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds received bytes. Frames are then taken with [`Self::next_frame`].
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// True when no partial input is held: the framer owns no data.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.line.is_empty()
    }

    /// Bytes received after the last complete frame, raw (Telnet sequences
    /// still in place). Used when the stream changes hands, e.g. to TLS.
    pub fn buffered(&self) -> usize {
        self.pending.len() + self.line.len()
    }

    /// Drops every byte received but not yet framed.
    pub fn clear(&mut self) {
        self.pending.clear();
        self.line.clear();
        self.telnet = Telnet::Data;
        self.discarding = false;
        self.shrink();
    }

    /// Takes the next complete frame, or `None` if more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        let mut consumed = 0;
        let mut result = None;
        for &byte in &self.pending {
            consumed += 1;
            let data = match (self.telnet, byte) {
                (Telnet::Data, IAC) => {
                    self.telnet = Telnet::Iac;
                    None
                }
                (Telnet::Data, b) => Some(b),
                // IAC IAC is a literal 0xFF data byte.
                (Telnet::Iac, IAC) => {
                    self.telnet = Telnet::Data;
                    Some(IAC)
                }
                (Telnet::Iac, WILL..=DONT) => {
                    self.telnet = Telnet::Option;
                    None
                }
                // Not a Telnet command: a stray IAC, e.g. when the DM that
                // followed it was sent as TCP urgent data and taken out of
                // the stream. The byte is data.
                (Telnet::Iac, b) if b < FIRST_TELNET_COMMAND => {
                    self.telnet = Telnet::Data;
                    Some(b)
                }
                // IAC IP, IAC DM, IAC NOP, ...: two-byte commands, dropped.
                (Telnet::Iac, _) | (Telnet::Option, _) => {
                    self.telnet = Telnet::Data;
                    None
                }
            };
            let Some(b) = data else { continue };
            if b == b'\n' {
                if self.line.last() == Some(&b'\r') {
                    self.line.pop();
                }
                // The slack byte kept for a CR may have been data: a line of
                // `MAX_LINE_LEN + 1` bytes ending in a bare LF is too long.
                let overlong = self.line.len() > MAX_LINE_LEN;
                result = Some(if std::mem::take(&mut self.discarding) || overlong {
                    self.line.clear();
                    Frame::TooLong
                } else {
                    Frame::Line(std::mem::take(&mut self.line))
                });
                break;
            }
            if self.discarding {
                continue;
            }
            // One byte of slack for the CR of the line ending.
            if self.line.len() > MAX_LINE_LEN {
                self.discarding = true;
                self.line.clear();
                continue;
            }
            self.line.push(b);
        }
        self.pending.drain(..consumed);
        if result.is_some() || self.pending.is_empty() {
            self.shrink();
        }
        result
    }

    /// Releases buffer memory an idle session does not need.
    ///
    /// An empty buffer is freed whatever its size: most sessions are idle
    /// most of the time, and one small allocation per command costs less
    /// than keeping it in every idle session.
    fn shrink(&mut self) {
        if self.pending.is_empty() {
            self.pending = Vec::new();
        }
        if self.line.is_empty() {
            self.line = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[&[u8]]) -> Vec<Frame> {
        let mut framer = LineFramer::new();
        let mut out = Vec::new();
        for chunk in input {
            framer.push(chunk);
            while let Some(frame) = framer.next_frame() {
                out.push(frame);
            }
        }
        out
    }

    fn line(s: &[u8]) -> Frame {
        Frame::Line(s.to_vec())
    }

    #[test]
    fn table() {
        let long = vec![b'a'; MAX_LINE_LEN + 10];
        let max = vec![b'a'; MAX_LINE_LEN];
        let cases: Vec<(Vec<&[u8]>, Vec<Frame>)> = vec![
            (vec![b"NOOP\r\n"], vec![line(b"NOOP")]),
            (vec![b"NOOP\n"], vec![line(b"NOOP")]),
            (vec![b"NO", b"OP\r", b"\n"], vec![line(b"NOOP")]),
            (vec![b"A\r\nB\r\n"], vec![line(b"A"), line(b"B")]),
            (vec![b"\r\n"], vec![line(b"")]),
            (vec![b"NOOP"], vec![]),
            // CR alone is data, not a terminator.
            (vec![b"A\rB\r\n"], vec![line(b"A\rB")]),
            // Telnet IP and DM before ABOR (lftp, RFC 959 §4.1.3).
            (vec![b"\xff\xf4\xff\xf2ABOR\r\n"], vec![line(b"ABOR")]),
            (
                vec![b"\xff", b"\xf4\xff", b"\xf2ABOR\r\n"],
                vec![line(b"ABOR")],
            ),
            // IAC IAC is a data byte 0xFF.
            (vec![b"STOR a\xff\xffb\r\n"], vec![line(b"STOR a\xffb")]),
            // Option negotiation is dropped with its option byte.
            (vec![b"\xff\xfd\x01NOOP\r\n"], vec![line(b"NOOP")]),
            (vec![b"\xff\xfb", b"\x03NOOP\r\n"], vec![line(b"NOOP")]),
            (vec![b"A\0B\r\n"], vec![line(b"A\0B")]),
            // IAC IP IAC with the DM taken out of band (urgent data).
            (vec![b"\xff\xf4\xffABOR\r\n"], vec![line(b"ABOR")]),
            (
                vec![&long, b"\r\nNOOP\r\n"],
                vec![Frame::TooLong, line(b"NOOP")],
            ),
            (vec![&max, b"\r\n"], vec![Frame::Line(max.clone())]),
        ];
        for (input, expected) in cases {
            assert_eq!(frames(&input), expected, "input {input:?}");
        }
    }

    #[test]
    fn overlong_line_in_small_chunks_stays_bounded() {
        let mut framer = LineFramer::new();
        for _ in 0..10_000 {
            framer.push(b"xxxxxxxxxx");
            assert_eq!(framer.next_frame(), None);
            assert!(framer.buffered() <= MAX_LINE_LEN + 1);
        }
        framer.push(b"\r\nQUIT\r\n");
        assert_eq!(framer.next_frame(), Some(Frame::TooLong));
        assert_eq!(framer.next_frame(), Some(line(b"QUIT")));
        assert!(framer.is_empty());
    }

    #[test]
    fn line_one_byte_over_the_limit_with_bare_lf_is_too_long() {
        // Found with the `framing` fuzz target's reference model: the byte
        // of slack kept for the CR of a CRLF let a line of MAX_LINE_LEN + 1
        // bytes through when it ended with a bare LF.
        let over = vec![b'a'; MAX_LINE_LEN + 1];
        let max = vec![b'a'; MAX_LINE_LEN];
        let cases: Vec<(Vec<&[u8]>, Vec<Frame>)> = vec![
            (vec![&over, b"\n"], vec![Frame::TooLong]),
            (vec![&over, b"\r\n"], vec![Frame::TooLong]),
            (vec![&max, b"\n"], vec![Frame::Line(max.clone())]),
            (vec![&max, b"\r", b"\n"], vec![Frame::Line(max.clone())]),
            (
                vec![&over, b"\nNOOP\r\n"],
                vec![Frame::TooLong, line(b"NOOP")],
            ),
        ];
        for (input, expected) in cases {
            let got = frames(&input);
            assert_eq!(got.len(), expected.len());
            assert!(got == expected, "input of {} bytes", input.concat().len());
        }
    }

    #[test]
    fn buffered_counts_what_follows_a_line() {
        let mut framer = LineFramer::new();
        framer.push(b"AUTH TLS\r\nUSER x\r\n");
        assert_eq!(framer.next_frame(), Some(line(b"AUTH TLS")));
        assert_eq!(framer.buffered(), 8);
        framer.clear();
        assert!(framer.is_empty());
    }
}
