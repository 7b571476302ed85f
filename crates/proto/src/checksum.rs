//! Names and argument syntax of the checksum commands: HASH with OPTS HASH
//! (draft-bryan-ftpext-hash) and the XCRC/XMD5/XSHA family.

use std::fmt;

/// A checksum algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HashAlgorithm {
    /// CRC-32 (IEEE), as XCRC sends it.
    Crc32,
    /// MD5.
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA-256, the default for HASH.
    #[default]
    Sha256,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// Every algorithm, in FEAT order.
    pub const ALL: [HashAlgorithm; 5] = [
        HashAlgorithm::Sha1,
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha512,
        HashAlgorithm::Md5,
        HashAlgorithm::Crc32,
    ];

    /// The name used by HASH and OPTS HASH.
    pub const fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Crc32 => "CRC32",
            HashAlgorithm::Md5 => "MD5",
            HashAlgorithm::Sha1 => "SHA-1",
            HashAlgorithm::Sha256 => "SHA-256",
            HashAlgorithm::Sha512 => "SHA-512",
        }
    }

    /// The algorithm with this name (case-insensitive).
    pub fn from_name(name: &str) -> Option<HashAlgorithm> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The FEAT line, with `*` after the selected algorithm.
    pub fn feat_line(selected: HashAlgorithm) -> String {
        let names: Vec<String> = Self::ALL
            .iter()
            .map(|a| format!("{}{}", a.name(), if *a == selected { "*" } else { "" }))
            .collect();
        format!("HASH {}", names.join(";"))
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The argument of XCRC, XMD5, XSHA1, XSHA256 and XSHA512: a path and an
/// optional byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumArgs {
    /// The file.
    pub path: Vec<u8>,
    /// First byte to include.
    pub start: u64,
    /// Byte after the last one to include; the end of the file if `None`.
    pub end: Option<u64>,
}

/// Parses `path`, `path, end`, `path, start, end` (the comma form), or
/// `"path" [start [end]]` (the quoted form). A path that contains a comma or
/// ends in numbers is given in quotes.
pub fn parse_checksum_args(arg: &[u8]) -> Option<ChecksumArgs> {
    let numbers = |rest: &[u8], sep: u8| -> Option<Vec<u64>> {
        let text = std::str::from_utf8(rest).ok()?;
        text.split(sep as char)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| t.parse::<u64>().ok())
            .collect()
    };
    let (path, nums) = if arg.first() == Some(&b'"') {
        let close = arg[1..].iter().position(|&b| b == b'"')? + 1;
        let rest = &arg[close + 1..];
        let sep = if rest.contains(&b',') { b',' } else { b' ' };
        (arg[1..close].to_vec(), numbers(rest, sep)?)
    } else {
        match arg.iter().position(|&b| b == b',') {
            Some(comma) => (arg[..comma].to_vec(), numbers(&arg[comma + 1..], b',')?),
            None => (arg.to_vec(), Vec::new()),
        }
    };
    if path.is_empty() {
        return None;
    }
    let (start, end) = match nums[..] {
        [] => (0, None),
        [end] => (0, Some(end)),
        [start, end] => (start, Some(end)),
        _ => return None,
    };
    if end.is_some_and(|e| e < start) {
        return None;
    }
    Some(ChecksumArgs { path, start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            HashAlgorithm::from_name("sha-256"),
            Some(HashAlgorithm::Sha256)
        );
        assert_eq!(
            HashAlgorithm::from_name("crc32"),
            Some(HashAlgorithm::Crc32)
        );
        assert_eq!(HashAlgorithm::from_name("SHA256"), None);
        assert_eq!(
            HashAlgorithm::feat_line(HashAlgorithm::Sha256),
            "HASH SHA-1;SHA-256*;SHA-512;MD5;CRC32"
        );
    }

    #[test]
    fn checksum_args() {
        let ok = |a: &str, path: &str, start: u64, end: Option<u64>| {
            let got = parse_checksum_args(a.as_bytes()).unwrap_or_else(|| panic!("{a:?}"));
            assert_eq!(
                (got.path.as_slice(), got.start, got.end),
                (path.as_bytes(), start, end),
                "{a:?}"
            );
        };
        ok("file.txt", "file.txt", 0, None);
        ok("my file.txt", "my file.txt", 0, None);
        ok("file.txt, 10", "file.txt", 0, Some(10));
        ok("file.txt, 5, 10", "file.txt", 5, Some(10));
        ok("\"a, b.txt\"", "a, b.txt", 0, None);
        ok("\"a b\" 5 10", "a b", 5, Some(10));
        ok("\"a b\", 5, 10", "a b", 5, Some(10));
        for bad in [
            "",
            "\"\"",
            "f, x",
            "f, 10, 5",
            "f, 1, 2, 3",
            "\"unclosed",
            "\"a\" x",
        ] {
            assert_eq!(parse_checksum_args(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
