//! Converting names for clients that use a legacy character set instead of
//! UTF-8 (the `encoding` setting). Names on disk are UTF-8.

use std::borrow::Cow;

use encoding_rs::Encoding;
use ferroftpd_proto::reply::Reply;

/// A control line from the client, as UTF-8 bytes.
pub(crate) fn from_client<'a>(enc: Option<&'static Encoding>, line: &'a [u8]) -> Cow<'a, [u8]> {
    match enc {
        None => Cow::Borrowed(line),
        Some(enc) => match enc.decode_without_bom_handling(line).0 {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        },
    }
}

/// UTF-8 text (a reply line or a listing line) in the client's character
/// set. Bytes that are not UTF-8 are sent unchanged.
pub(crate) fn to_client<'a>(enc: Option<&'static Encoding>, text: &'a [u8]) -> Cow<'a, [u8]> {
    match (enc, std::str::from_utf8(text)) {
        (Some(enc), Ok(s)) => enc.encode(s).0,
        _ => Cow::Borrowed(text),
    }
}

/// A reply with its lines in the client's character set.
pub(crate) fn reply_to_client(enc: Option<&'static Encoding>, reply: &Reply) -> Option<Reply> {
    enc?;
    let lines: Vec<Vec<u8>> = reply
        .lines()
        .iter()
        .map(|l| to_client(enc, l).into_owned())
        .collect();
    Some(Reply::multi(reply.code(), lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_round_trip() {
        let enc = Encoding::for_label(b"latin1");
        assert_eq!(
            from_client(enc, b"CWD caf\xe9").as_ref(),
            "CWD café".as_bytes()
        );
        assert_eq!(to_client(enc, "café".as_bytes()).as_ref(), b"caf\xe9");
        assert_eq!(
            to_client(None, "café".as_bytes()).as_ref(),
            "café".as_bytes()
        );
        assert_eq!(from_client(None, b"caf\xe9").as_ref(), b"caf\xe9");
        let gbk = Encoding::for_label(b"gbk");
        assert_eq!(
            from_client(gbk, &to_client(gbk, "中文".as_bytes())).as_ref(),
            "中文".as_bytes()
        );
        let r = reply_to_client(enc, &Reply::new(257, "\"/café\" created.")).unwrap();
        assert_eq!(r.to_bytes(), b"257 \"/caf\xe9\" created.\r\n");
    }
}
