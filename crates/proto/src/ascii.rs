//! ASCII (TYPE A) line-ending conversion, streamed chunk by chunk.
//!
//! Files are stored with Unix line endings. Downloads turn each LF into
//! CRLF (an LF already preceded by CR is left alone, so CRLF files are not
//! doubled); uploads turn CRLF into LF and keep a lone CR. Both keep state
//! across chunk boundaries.

/// LF to CRLF, for sending.
#[derive(Debug, Default)]
pub struct ToNetwork {
    last_was_cr: bool,
}

impl ToNetwork {
    /// A converter at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the converted form of `input` to `out`.
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 16);
        let mut start = 0;
        for (i, &b) in input.iter().enumerate() {
            if b == b'\n' {
                let prev_cr = if i == 0 {
                    self.last_was_cr
                } else {
                    input[i - 1] == b'\r'
                };
                if !prev_cr {
                    out.extend_from_slice(&input[start..i]);
                    out.push(b'\r');
                    start = i;
                }
            }
        }
        out.extend_from_slice(&input[start..]);
        if let Some(&last) = input.last() {
            self.last_was_cr = last == b'\r';
        }
    }
}

/// CRLF to LF, for receiving.
#[derive(Debug, Default)]
pub struct FromNetwork {
    pending_cr: bool,
}

impl FromNetwork {
    /// A converter at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the converted form of `input` to `out`. A CR at the end of
    /// `input` is held back until the next byte shows what it is.
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + 1);
        let mut bytes = input;
        if self.pending_cr {
            self.pending_cr = false;
            match bytes.first() {
                Some(b'\n') => {}
                Some(_) => out.push(b'\r'),
                None => {
                    self.pending_cr = true;
                    return;
                }
            }
        }
        if bytes.last() == Some(&b'\r') {
            self.pending_cr = true;
            bytes = &bytes[..bytes.len() - 1];
        }
        let mut start = 0;
        for i in 0..bytes.len() {
            if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                out.extend_from_slice(&bytes[start..i]);
                start = i + 1;
            }
        }
        out.extend_from_slice(&bytes[start..]);
    }

    /// Flushes a CR held back at the end of the stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_net(chunks: &[&[u8]]) -> Vec<u8> {
        let mut c = ToNetwork::new();
        let mut out = Vec::new();
        for ch in chunks {
            c.convert(ch, &mut out);
        }
        out
    }

    fn from_net(chunks: &[&[u8]]) -> Vec<u8> {
        let mut c = FromNetwork::new();
        let mut out = Vec::new();
        for ch in chunks {
            c.convert(ch, &mut out);
        }
        c.finish(&mut out);
        out
    }

    #[test]
    fn to_network_table() {
        let cases: [(&[&[u8]], &[u8]); 7] = [
            (&[b"a\nb\n"], b"a\r\nb\r\n"),
            (&[b"a\r\nb"], b"a\r\nb"),
            (&[b"a\r", b"\nb"], b"a\r\nb"),
            (&[b"a", b"\n"], b"a\r\n"),
            (&[b"\n\n"], b"\r\n\r\n"),
            (&[b""], b""),
            (&[b"a\rb"], b"a\rb"),
        ];
        for (input, want) in cases {
            assert_eq!(to_net(input), want, "{input:?}");
        }
    }

    #[test]
    fn from_network_table() {
        let cases: [(&[&[u8]], &[u8]); 8] = [
            (&[b"a\r\nb\r\n"], b"a\nb\n"),
            (&[b"a\r", b"\nb"], b"a\nb"),
            (&[b"a\r", b"", b"\nb"], b"a\nb"),
            (&[b"a\rb"], b"a\rb"),
            (&[b"a\r"], b"a\r"),
            (&[b"a\n"], b"a\n"),
            (&[b"\r\r\n"], b"\r\n"),
            (&[b"\r", b"\r", b"\n"], b"\r\n"),
        ];
        for (input, want) in cases {
            assert_eq!(from_net(input), want, "{input:?}");
        }
    }

    #[test]
    fn round_trip_in_every_split() {
        let text = b"line one\nline two\r\n\nend\r";
        for split in 0..text.len() {
            let net = to_net(&[&text[..split], &text[split..]]);
            assert_eq!(to_net(&[text]), net, "split {split}");
            let back = from_net(&[&net[..split.min(net.len())], &net[split.min(net.len())..]]);
            assert_eq!(from_net(&[&net]), back, "split {split}");
        }
    }
}
