//! APPE and REST+STOR on S3: the object grows by a multipart upload whose
//! parts are server-side copies of the existing object's bytes and the
//! uploaded bytes, completed at the commit in one step.
//!
//! For `At(n)` on an object of `size` bytes, after `w` bytes were written,
//! the new object is `[0, n)` of the old, the `w` new bytes, then
//! `[n + w, size)` of the old (nothing for APPE, where `n = size`). S3 wants
//! every part but the last to hold at least 5 MiB, so:
//!
//! - the head `[0, n)`: copied with `UploadPartCopy` (in parts of at most
//!   5 GiB) when it is at least 5 MiB; a smaller head is read (a ranged
//!   GET, at most 5 MiB) and sent as the start of the first uploaded part;
//! - the uploaded bytes go in parts of the configured part size;
//! - the tail `[n + w, size)`: enough of it is read to bring the last
//!   uploaded part to 5 MiB, and the rest is copied server-side.
//!
//! Every copy and read names the ETag seen when the upload was opened
//! (`x-amz-copy-source-if-match`, `If-Match`): if the object changed
//! meanwhile the upload fails (450) rather than mix two versions. Until the
//! commit the old object is untouched; a writer dropped or discarded
//! without a commit aborts the multipart upload.

use std::fmt;
use std::io::{self, Write};
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use tokio::runtime::Handle;

use super::super::{ErrorKind, FileWriter, StorageError, StorageResult};
use super::io::map_error;
use super::s3::{Part, S3Client, MAX_PART, MAX_PARTS, MIN_PART};

/// The existing object an upload extends.
#[derive(Debug, Clone)]
pub(super) struct Source {
    pub(super) size: u64,
    pub(super) etag: String,
}

pub(super) struct ExtendWriter {
    rt: Handle,
    op: opendal::Operator,
    s3: Arc<S3Client>,
    key: String,
    /// `None` once completed or aborted.
    upload: Option<String>,
    part_size: usize,
    buf: Vec<u8>,
    parts: Vec<Part>,
    source: Option<Source>,
    /// Where the uploaded bytes start in the new object.
    offset: u64,
    written: u64,
}

impl fmt::Debug for ExtendWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtendWriter")
            .field("key", &self.key)
            .field("offset", &self.offset)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

/// `range` cut into pieces of at most 5 GiB and nearly equal size, so
/// that each of a range of at least 5 MiB holds at least 5 MiB.
fn copy_pieces(range: Range<u64>) -> Vec<Range<u64>> {
    let len = range.end - range.start;
    let count = len.div_ceil(MAX_PART).max(1);
    let piece = len.div_ceil(count);
    (0..count)
        .map(|i| {
            let start = range.start + i * piece;
            start..(start + piece).min(range.end)
        })
        .filter(|r| !r.is_empty())
        .collect()
}

impl ExtendWriter {
    /// Starts the upload of `key`, which will hold `source[0..offset)`
    /// (or nothing, without a source) followed by what is written.
    pub(super) async fn open(
        op: opendal::Operator,
        s3: Arc<S3Client>,
        key: String,
        source: Option<Source>,
        offset: u64,
        part_size: usize,
    ) -> StorageResult<Self> {
        let upload = s3.create_upload(&key).await?;
        let mut writer = ExtendWriter {
            rt: Handle::current(),
            op,
            s3,
            key,
            upload: Some(upload),
            part_size,
            buf: Vec::new(),
            parts: Vec::new(),
            source,
            offset,
            written: 0,
        };
        // From here on, a failure drops the writer, which aborts the upload.
        if offset >= MIN_PART {
            for range in copy_pieces(0..offset) {
                writer.copy_part(range).await?;
            }
        } else if offset > 0 {
            let head = writer.read_source(0..offset).await?;
            writer.buf.extend_from_slice(&head);
        }
        Ok(writer)
    }

    fn upload_id(&self) -> StorageResult<&str> {
        self.upload
            .as_deref()
            .ok_or_else(|| StorageError::new(ErrorKind::Other, "the upload has ended".to_owned()))
    }

    fn next_number(&self) -> StorageResult<u32> {
        let n = u32::try_from(self.parts.len() + 1).unwrap_or(u32::MAX);
        if n > MAX_PARTS {
            return Err(StorageError::new(
                ErrorKind::FileTooLarge,
                format!("The file would need more than {MAX_PARTS} parts; raise the part size."),
            ));
        }
        Ok(n)
    }

    fn source(&self) -> StorageResult<&Source> {
        self.source
            .as_ref()
            .ok_or_else(|| StorageError::new(ErrorKind::Other, "nothing to copy from".to_owned()))
    }

    async fn copy_part(&mut self, range: Range<u64>) -> StorageResult<()> {
        let number = self.next_number()?;
        let etag = self.source()?.etag.clone();
        let id = self.upload_id()?.to_owned();
        let part_etag = self
            .s3
            .upload_part_copy(&self.key, &id, number, &self.key, &etag, range)
            .await?;
        self.parts.push((number, part_etag));
        Ok(())
    }

    /// Bytes `range` of the source version (at most 5 MiB).
    async fn read_source(&self, range: Range<u64>) -> StorageResult<Vec<u8>> {
        let etag = self.source()?.etag.clone();
        let data = self
            .op
            .read_with(&self.key)
            .range(range)
            .if_match(&etag)
            .await
            .map_err(map_error)?;
        Ok(data.to_vec())
    }

    async fn upload_buf(&mut self, len: usize) -> StorageResult<()> {
        let number = self.next_number()?;
        let id = self.upload_id()?.to_owned();
        let data = Bytes::from(self.buf.drain(..len).collect::<Vec<u8>>());
        let etag = self.s3.upload_part(&self.key, &id, number, data).await?;
        self.parts.push((number, etag));
        Ok(())
    }

    async fn finish(&mut self) -> StorageResult<()> {
        let size = self.source.as_ref().map_or(0, |s| s.size);
        let tail_start = self.offset + self.written;
        if tail_start < size {
            // Bring the last uploaded part to 5 MiB (S3's minimum for a
            // part that is not the last) with the tail's first bytes.
            let want = (MIN_PART as usize).saturating_sub(self.buf.len()) as u64;
            let inline_end = size.min(tail_start + want);
            let bytes = self.read_source(tail_start..inline_end).await?;
            self.buf.extend_from_slice(&bytes);
            if inline_end < size {
                self.upload_buf(self.buf.len()).await?;
                for range in copy_pieces(inline_end..size) {
                    self.copy_part(range).await?;
                }
            }
        }
        if !self.buf.is_empty() {
            self.upload_buf(self.buf.len()).await?;
        }
        let id = self.upload_id()?.to_owned();
        if self.parts.is_empty() {
            // Nothing at all (an empty APPE to a missing or empty file): an
            // empty object, which a multipart upload cannot make.
            self.s3.abort(&self.key, &id).await?;
            self.upload = None;
            return self
                .op
                .write(&self.key, Vec::<u8>::new())
                .await
                .map(drop)
                .map_err(map_error);
        }
        self.s3.complete(&self.key, &id, &self.parts).await?;
        self.upload = None;
        Ok(())
    }
}

impl Write for ExtendWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        self.written += data.len() as u64;
        while self.buf.len() >= self.part_size {
            let rt = self.rt.clone();
            rt.block_on(self.upload_buf(self.part_size))?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl FileWriter for ExtendWriter {
    fn commit(mut self: Box<Self>) -> StorageResult<()> {
        let rt = self.rt.clone();
        // On error, Drop aborts the upload: the old object stays.
        rt.block_on(self.finish())
    }

    /// The old object stays until the new one completes: nothing is left.
    fn abandon(self: Box<Self>) -> crate::storage::Remains {
        self.discard();
        crate::storage::Remains::Nothing
    }

    /// Aborts the upload before returning (on the blocking thread, as
    /// `discard` is called), rather than in the background as `Drop` must.
    fn discard(mut self: Box<Self>) {
        if let Some(upload) = self.upload.take() {
            if let Err(e) = self.rt.block_on(self.s3.abort(&self.key, &upload)) {
                tracing::warn!(key = self.key, error = %e, "could not abort a multipart upload");
            }
        }
    }
}

impl Drop for ExtendWriter {
    fn drop(&mut self) {
        if let Some(upload) = self.upload.take() {
            let (s3, key) = (self.s3.clone(), std::mem::take(&mut self.key));
            // Drop may run on the runtime: abort in the background.
            self.rt.spawn(async move {
                if let Err(e) = s3.abort(&key, &upload).await {
                    tracing::warn!(key, error = %e, "could not abort a multipart upload");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_cut_into_valid_parts() {
        assert_eq!(copy_pieces(0..MIN_PART), vec![0..MIN_PART]);
        assert_eq!(copy_pieces(7..100), vec![7..100]);
        let big = 2 * MAX_PART + 1;
        let pieces = copy_pieces(0..big);
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces.first().map(|r| r.start), Some(0));
        assert_eq!(pieces.last().map(|r| r.end), Some(big));
        for w in pieces.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        assert!(pieces
            .iter()
            .all(|r| r.end - r.start <= MAX_PART && r.end - r.start >= MIN_PART));
    }
}
