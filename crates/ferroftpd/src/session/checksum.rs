//! HASH, OPTS HASH and XCRC/XMD5/XSHA1/XSHA256/XSHA512.

use ferroftpd_proto::checksum::{ChecksumArgs, HashAlgorithm};
use ferroftpd_proto::path::VirtualPath;
use ferroftpd_proto::perms::Permission;
use ferroftpd_proto::reply::Reply;

use super::Session;
use crate::error::CommandError;
use crate::guard::Operation;
use crate::storage::StorageError;

type Result<T = Reply> = std::result::Result<T, CommandError>;

impl Session {
    /// HASH path: `213 <algorithm> <start>-<end> <digest> <path>`, the range
    /// being bytes `start` to `end` exclusive (the whole file).
    pub(super) async fn hash(&mut self, arg: &[u8]) -> Result {
        let path = self.resolve_checked(arg, Permission::Retrieve)?;
        self.guard(Operation::Download { path: &path }).await?;
        let algorithm = self.hash_algorithm;
        let (size, digest) = self.digest(&path, algorithm, 0, None).await?;
        let mut text = format!("{} 0-{size} {digest} ", algorithm.name()).into_bytes();
        text.extend_from_slice(path.as_bytes());
        Ok(Reply::new(213, text))
    }

    /// XCRC and friends: `250 <digest>`.
    pub(super) async fn checksum(
        &mut self,
        algorithm: HashAlgorithm,
        args: ChecksumArgs,
    ) -> Result {
        let path = self.resolve_checked(&args.path, Permission::Retrieve)?;
        self.guard(Operation::Download { path: &path }).await?;
        let (_, digest) = self.digest(&path, algorithm, args.start, args.end).await?;
        Ok(Reply::new(250, digest))
    }

    /// OPTS HASH [algorithm].
    pub(super) fn opts_hash(&mut self, name: Option<&str>) -> Reply {
        match name {
            None => Reply::new(200, self.hash_algorithm.name()),
            Some(name) => match HashAlgorithm::from_name(name) {
                Some(a) => {
                    self.hash_algorithm = a;
                    Reply::new(200, a.name())
                }
                None => Reply::new(501, "Unknown algorithm."),
            },
        }
    }

    /// Hashes bytes `start..end` of a regular file (to its end when `end`
    /// is `None`) on the blocking pool. Returns the file size and digest.
    async fn digest(
        &self,
        path: &VirtualPath,
        algorithm: HashAlgorithm,
        start: u64,
        end: Option<u64>,
    ) -> Result<(u64, String)> {
        let storage = self.storage()?;
        let info = storage.metadata(path).await?;
        if !info.is_file() {
            return Err(Reply::new(550, "Not a regular file.").into());
        }
        if start > info.size || end.is_some_and(|e| e > info.size) {
            return Err(Reply::new(
                554,
                format!("Range beyond the end of the file ({} bytes).", info.size),
            )
            .into());
        }
        let reader = storage.open_read(path, start).await?;
        let len = end.map(|e| e - start);
        let digest =
            tokio::task::spawn_blocking(move || crate::checksum::digest(reader, algorithm, len))
                .await
                .map_err(|e| StorageError::Io(std::io::Error::other(e)))?
                .map_err(StorageError::Io)?;
        Ok((info.size, digest))
    }
}
