//! Computing file checksums for HASH and the XCRC/XMD5/XSHA commands.

use std::io::{self, Read};

use ferroftpd_proto::checksum::HashAlgorithm;
use sha2::Digest;

use crate::storage::FileReader;

/// Bytes read at a time while hashing.
const CHUNK: usize = 256 * 1024;

enum Hasher {
    Crc32(crc32fast::Hasher),
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn new(algorithm: HashAlgorithm) -> Self {
        match algorithm {
            HashAlgorithm::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
            HashAlgorithm::Md5 => Hasher::Md5(md5::Md5::new()),
            HashAlgorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Crc32(h) => h.update(bytes),
            Hasher::Md5(h) => h.update(bytes),
            Hasher::Sha1(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest in hex: lower case, except CRC-32, which is upper case
    /// and eight digits, as XCRC clients expect.
    fn finish(self) -> String {
        fn hex(bytes: &[u8]) -> String {
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        }
        match self {
            Hasher::Crc32(h) => format!("{:08X}", h.finalize()),
            Hasher::Md5(h) => hex(&h.finalize()),
            Hasher::Sha1(h) => hex(&h.finalize()),
            Hasher::Sha256(h) => hex(&h.finalize()),
            Hasher::Sha512(h) => hex(&h.finalize()),
        }
    }
}

/// Hashes `len` bytes from `reader` (already at the start offset), or all
/// that remains. Blocking: run it on the blocking pool.
pub(crate) fn digest(
    mut reader: Box<dyn FileReader>,
    algorithm: HashAlgorithm,
    len: Option<u64>,
) -> io::Result<String> {
    let mut hasher = Hasher::new(algorithm);
    let mut buf = vec![0u8; CHUNK];
    let mut left = len.unwrap_or(u64::MAX);
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(CHUNK);
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Bytes(io::Cursor<Vec<u8>>);
    impl Read for Bytes {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0.read(buf)
        }
    }
    impl FileReader for Bytes {}

    fn of(data: &[u8], algorithm: HashAlgorithm, len: Option<u64>) -> String {
        digest(
            Box::new(Bytes(io::Cursor::new(data.to_vec()))),
            algorithm,
            len,
        )
        .unwrap()
    }

    #[test]
    fn known_digests() {
        // Test vectors for "abc".
        assert_eq!(of(b"abc", HashAlgorithm::Crc32, None), "352441C2");
        assert_eq!(
            of(b"abc", HashAlgorithm::Md5, None),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            of(b"abc", HashAlgorithm::Sha1, None),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            of(b"abc", HashAlgorithm::Sha256, None),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(of(b"abc", HashAlgorithm::Sha512, None).starts_with("ddaf35a193617aba"));
        assert_eq!(
            of(b"abcdef", HashAlgorithm::Md5, Some(3)),
            of(b"abc", HashAlgorithm::Md5, None)
        );
        assert_eq!(of(b"", HashAlgorithm::Crc32, None), "00000000");
    }
}
