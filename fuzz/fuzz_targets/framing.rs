//! The control-channel line framer (`ferroftpd_proto::framing`).
//!
//! The input is the raw byte stream a client sends, Telnet sequences and
//! all. It is framed three ways: pushed whole, pushed one byte at a time,
//! and pushed in chunks whose sizes come from the input itself. Checked:
//!
//! - no panic;
//! - all three give the same frames: the framer keeps its Telnet and
//!   line state between pushes, so where the stream is cut cannot matter;
//! - the frames equal those of a plain reference model written below
//!   (Telnet decoding over the whole stream, then split at LF), so a line
//!   is never longer than `MAX_LINE_LEN`, never holds a LF, and a line
//!   that is too long becomes `TooLong` rather than a truncated command;
//! - whatever is held between frames is bounded (`MAX_LINE_LEN` + 1, the
//!   slack for a CR), so a client cannot grow the buffer without limit.
#![no_main]

use ferroftpd_proto::framing::{Frame, LineFramer, MAX_LINE_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = frame_chunks(std::iter::once(data));
    let bytewise = frame_chunks(data.chunks(1));
    assert!(
        whole == bytewise,
        "one byte at a time: {}",
        diff(&whole, &bytewise)
    );
    let chunked = frame_chunks(chunks(data));
    assert!(whole == chunked, "in chunks: {}", diff(&whole, &chunked));
    let model = reference(data);
    assert!(whole == model, "reference model: {}", diff(&whole, &model));
    for frame in &whole {
        if let Frame::Line(line) = frame {
            assert!(line.len() <= MAX_LINE_LEN, "line of {} bytes", line.len());
            assert!(!line.contains(&b'\n'));
        }
    }
});

/// The frames as kinds and lengths: lines can be long to print whole.
fn diff(got: &[Frame], want: &[Frame]) -> String {
    let short = |frames: &[Frame]| -> Vec<String> {
        frames
            .iter()
            .map(|f| match f {
                Frame::Line(l) if l.len() > 40 => format!("Line({} bytes)", l.len()),
                Frame::Line(l) => format!("Line({:?})", String::from_utf8_lossy(l)),
                Frame::TooLong => "TooLong".to_owned(),
            })
            .collect()
    };
    format!("{:?} != {:?}", short(got), short(want))
}

/// Pushes each chunk, taking every frame after each push.
fn frame_chunks<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> Vec<Frame> {
    let mut framer = LineFramer::new();
    let mut out = Vec::new();
    for chunk in chunks {
        framer.push(chunk);
        while let Some(frame) = framer.next_frame() {
            out.push(frame);
        }
        // All pushed bytes are consumed once no frame is left, so only the
        // partial line is held, and it is bounded.
        assert!(
            framer.buffered() <= MAX_LINE_LEN + 1,
            "{} bytes held",
            framer.buffered()
        );
    }
    out
}

/// Cuts `data` into chunks of 1 to 64 bytes, the sizes taken from the data
/// itself so that the fuzzer steers them.
fn chunks(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    let mut i = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = (usize::from(data[i % data.len()]) % 64 + 1).min(rest.len());
        i += 1;
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}

/// The framing rules, written as plainly as possible: decode Telnet over
/// the whole stream (RFC 854: IAC IAC is 0xFF; IAC WILL/WONT/DO/DONT eat one
/// option byte; IAC and a command 240..=254 are dropped; IAC before any
/// other byte leaves that byte as data), split the result at LF, drop one
/// CR before the LF, and call a line longer than the maximum `TooLong`.
/// Bytes after the last LF are not a frame yet.
fn reference(data: &[u8]) -> Vec<Frame> {
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        i += 1;
        if b != 255 {
            decoded.push(b);
            continue;
        }
        match data.get(i) {
            None => break,
            Some(255) => decoded.push(255),
            Some(251..=254) => i += 1,
            Some(240..=250) => {}
            Some(&other) => decoded.push(other),
        }
        i += 1;
    }
    let mut frames = Vec::new();
    let mut lines: Vec<&[u8]> = decoded.split(|&b| b == b'\n').collect();
    lines.pop(); // the unterminated tail
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        frames.push(if line.len() > MAX_LINE_LEN {
            Frame::TooLong
        } else {
            Frame::Line(line.to_vec())
        });
    }
    frames
}
