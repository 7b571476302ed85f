//! Downloads, STOR uploads and listings over OpenDAL, used on blocking
//! threads.
//!
//! OpenDAL is async; readers, writers and listings are synchronous and run
//! on a blocking thread (tokio's blocking pool, or a system user's thread).
//! Each holds the runtime's `Handle`, taken in the async method that made
//! it, and blocks on one async step at a time with `Handle::block_on`,
//! which is allowed there (never on the runtime's own threads). Drops may
//! happen on the runtime, so they only spawn (an abort), never block.

use std::fmt;
use std::io::{self, Read, Write};

use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use opendal::{EntryMode, FuturesBytesStream, Lister, Metadata};
use tokio::runtime::Handle;

use super::super::{
    DirEntry, ErrorKind, FileInfo, FileReader, FileWriter, StorageError, StorageResult,
};

/// The storage error for an OpenDAL error.
pub(super) fn map_error(e: opendal::Error) -> StorageError {
    use opendal::ErrorKind as K;
    let kind = match e.kind() {
        K::NotFound => ErrorKind::NotFound,
        K::PermissionDenied => ErrorKind::PermissionDenied,
        K::AlreadyExists => ErrorKind::AlreadyExists,
        K::IsADirectory => ErrorKind::IsADirectory,
        K::NotADirectory => ErrorKind::NotADirectory,
        K::Unsupported => ErrorKind::Unsupported,
        K::RateLimited => ErrorKind::Busy,
        K::ConditionNotMatch => {
            return StorageError::new(
                ErrorKind::Busy,
                "The file changed during the transfer; try again.".to_owned(),
            )
        }
        // 5xx answers and cut connections: worth a retry (450).
        _ if e.is_temporary() => ErrorKind::Busy,
        _ => ErrorKind::Other,
    };
    // OpenDAL's text names the endpoint, bucket and keys: it goes to the
    // log, and the client gets the kind's reply.
    match kind {
        ErrorKind::NotFound | ErrorKind::AlreadyExists => {
            tracing::debug!(error = %e, "object storage")
        }
        _ => tracing::warn!(error = %e, "object storage"),
    }
    StorageError::new(kind, None)
}

fn io_error(e: opendal::Error) -> io::Error {
    io::Error::from(map_error(e))
}

/// An error of a download's byte stream, which OpenDAL gives as an
/// `io::Error` around its own: mapped like the others, so that a changed
/// object (412) or throttling gets 450 and not a generic failure.
pub(super) fn stream_error(e: io::Error) -> StorageError {
    if e.get_ref()
        .is_some_and(|inner| inner.is::<opendal::Error>())
    {
        if let Some(Ok(inner)) = e.into_inner().map(|b| b.downcast::<opendal::Error>()) {
            return map_error(*inner);
        }
        return StorageError::Io(io::ErrorKind::Other.into());
    }
    StorageError::Io(e)
}

/// Seconds since the epoch of an object's last modification.
pub(super) fn modified(meta: &Metadata) -> Option<i64> {
    meta.last_modified().map(|t| t.into_inner().as_second())
}

/// A file's metadata as the session shows it.
pub(super) fn file_info(meta: &Metadata) -> FileInfo {
    FileInfo::file(meta.content_length(), modified(meta)).with_mode(super::FILE_MODE)
}

pub(super) fn dir_info(modified: Option<i64>) -> FileInfo {
    FileInfo::dir(modified).with_mode(super::DIR_MODE)
}

/// A download: one GET, streamed chunk by chunk (its memory is the
/// chunk in hand). The GET is sent when the reader is opened and carries
/// `If-Match` with the ETag seen then, so it reads that version or fails.
pub(super) struct ObjectReader {
    pub(super) rt: Handle,
    /// `None` once the end is reached (or for an empty read).
    pub(super) stream: Option<FuturesBytesStream>,
    pub(super) chunk: Bytes,
}

impl fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectReader")
            .field("buffered", &self.chunk.len())
            .finish_non_exhaustive()
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            let Some(stream) = self.stream.as_mut() else {
                return Ok(0);
            };
            match self.rt.block_on(stream.next()) {
                Some(chunk) => self.chunk = chunk.map_err(|e| io::Error::from(stream_error(e)))?,
                None => self.stream = None,
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}

impl FileReader for ObjectReader {}

/// A STOR upload through OpenDAL's writer: parts of `part_size` bytes
/// (a multipart upload once there is more than one; a single PUT for a
/// smaller file), sent one at a time, so memory stays at about one part.
/// Nothing shows before `commit` completes the upload; a writer dropped
/// without it aborts the upload in a spawned task, and the object it was
/// to replace stays as it was.
pub(super) struct ObjectWriter {
    pub(super) rt: Handle,
    pub(super) writer: Option<opendal::Writer>,
    pub(super) key: String,
}

impl fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectWriter")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Write for ObjectWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| io::Error::other("the upload has ended"))?;
        // OpenDAL's writer gathers the bytes into parts itself.
        self.rt
            .block_on(writer.write(buf.to_vec()))
            .map_err(io_error)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl FileWriter for ObjectWriter {
    fn commit(mut self: Box<Self>) -> StorageResult<()> {
        let Some(mut writer) = self.writer.take() else {
            return Err(StorageError::new(
                ErrorKind::Other,
                "the upload has ended".to_owned(),
            ));
        };
        match self.rt.block_on(writer.close()) {
            Ok(_) => Ok(()),
            Err(e) => {
                // A failed completion leaves the multipart upload open.
                let _ = self.rt.block_on(writer.abort());
                Err(map_error(e))
            }
        }
    }

    /// An object appears only when its upload completes: nothing is left.
    fn abandon(self: Box<Self>) -> crate::storage::Remains {
        self.discard();
        crate::storage::Remains::Nothing
    }

    /// Aborts the upload before returning (on the blocking thread, as
    /// `discard` is called), rather than in the background as `Drop` must.
    fn discard(mut self: Box<Self>) {
        if let Some(mut writer) = self.writer.take() {
            if let Err(e) = self.rt.block_on(writer.abort()) {
                tracing::warn!(key = self.key, error = %e, "could not abort an object upload");
            }
        }
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        if let Some(mut writer) = self.writer.take() {
            let key = std::mem::take(&mut self.key);
            // Drop may run on the runtime: abort in the background.
            self.rt.spawn(async move {
                if let Err(e) = writer.abort().await {
                    tracing::warn!(key, error = %e, "could not abort an object upload");
                }
            });
        }
    }
}

/// A listing: OpenDAL's lister, which fetches one page (`ListObjectsV2`,
/// `max-keys` = the page size) when the previous one is used up, and
/// follows S3's continuation token, so no entry is given twice or missed.
pub(super) struct ObjectList {
    pub(super) rt: Handle,
    pub(super) lister: Option<Lister>,
    /// The listed directory's OpenDAL path (`dir/`, or `/` for the root).
    pub(super) dir: String,
}

impl Iterator for ObjectList {
    type Item = StorageResult<DirEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let lister = self.lister.as_mut()?;
            let entry = match self.rt.block_on(lister.next()) {
                None => {
                    self.lister = None;
                    return None;
                }
                Some(Err(e)) => {
                    // OpenDAL cannot resume a failed page: end here.
                    self.lister = None;
                    return Some(Err(map_error(e)));
                }
                Some(Ok(entry)) => entry,
            };
            let path = entry.path();
            // The directory's own marker object.
            if path == self.dir || path.trim_start_matches('/') == self.dir {
                continue;
            }
            let name = entry.name().trim_end_matches('/');
            if name.is_empty() {
                // A key with an empty component (`a//b`): nothing FTP can name.
                continue;
            }
            let meta = entry.metadata();
            let info = match meta.mode() {
                EntryMode::DIR => dir_info(modified(meta)),
                _ => file_info(meta),
            };
            return Some(Ok(DirEntry {
                name: name.as_bytes().to_vec(),
                info,
                link_target: None,
                resolved: None,
            }));
        }
    }
}
