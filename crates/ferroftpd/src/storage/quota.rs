//! Quotas: a layer over a user's storage that counts the bytes and files
//! it holds and refuses what would pass a limit.
//!
//! Usage is one [`QuotaUsage`] per user, shared by all of that user's
//! sessions: the server keeps it from the first login on, starting from a
//! scan of the tree and then following its own operations. An upload
//! takes bytes from it as they arrive (so concurrent sessions see each
//! other's uploads) and settles at commit; a refused or failed upload gives
//! its bytes back. The upload that would cross the limit fails with 552 and
//! leaves nothing: the file it would replace is intact.
//!
//! What an upload replaces is measured when it commits, not when it
//! opens: another session may delete, rename or replace the name in
//! between. Commits, deletes, renames and scans of one user each look at a
//! name and then change it, under one lock per user
//! ([`QuotaUsage`]'s ledger), so that usage stays what a scan would find.

use std::fmt;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{
    DirEntries, ErrorKind, FileInfo, FileReader, FileWriter, Storage, StorageError, StorageResult,
    UploadBudget, VirtualPath, WriteMode,
};

/// Parses a size: bytes, or a number with `K`, `M`, `G` or `T` (binary
/// multiples: `512K`, `10M`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, multiple) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("{text:?}: expected bytes, or K, M, G or T")),
            };
            (&text[..i], 1u64 << shift)
        }
        _ => (text, 1),
    };
    digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiple))
        .ok_or_else(|| format!("{text:?}: expected a size such as 1048576, 512K or 10M"))
}

/// A user's limits. `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaLimits {
    /// Most bytes in regular files.
    pub max_bytes: Option<u64>,
    /// Most regular files.
    pub max_files: Option<u64>,
}

impl QuotaLimits {
    /// True when neither limit is set.
    pub fn is_unlimited(&self) -> bool {
        self.max_bytes.is_none() && self.max_files.is_none()
    }
}

/// What one user's files take, shared by the user's sessions.
#[derive(Debug, Default)]
pub struct QuotaUsage {
    bytes: AtomicU64,
    files: AtomicU64,
    /// Of `bytes` and `files`: what uploads not yet committed hold, which
    /// a scan cannot see (their data is in hidden temporary files).
    in_flight_bytes: AtomicU64,
    in_flight_files: AtomicU64,
    /// Set when an upload failed in a way whose leftovers the layer cannot
    /// know (a partial file kept for resuming): the next upload scans
    /// again.
    stale: AtomicBool,
    /// The user's lock, held while a scan, a commit, a delete or a rename
    /// looks at what a name holds and changes it, so that no other one
    /// changes the name in between (the count would drift). A commit takes
    /// it on its blocking thread, the others across their `.await`s.
    ledger: tokio::sync::Mutex<Ledger>,
}

/// What the per-user lock guards besides the counters.
#[derive(Debug, Default)]
struct Ledger {
    /// Whether usage has been scanned.
    scanned: bool,
}

impl QuotaUsage {
    /// Bytes in the user's regular files.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The user's regular files.
    pub fn files(&self) -> u64 {
        self.files.load(Ordering::Relaxed)
    }

    /// Adds `n` to `counter` if that stays within `max`.
    fn try_add(counter: &AtomicU64, n: u64, max: Option<u64>) -> bool {
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                let after = used.checked_add(n)?;
                max.is_none_or(|max| after <= max).then_some(after)
            })
            .is_ok()
    }

    /// Takes up to `n` bytes within `max` for an upload in flight: how
    /// many were taken.
    fn take_bytes(&self, n: u64, max: Option<u64>) -> u64 {
        let mut taken = 0;
        let _ = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                let room = max.map_or(n, |max| max.saturating_sub(used));
                taken = n.min(room);
                Some(used + taken)
            });
        self.in_flight_bytes.fetch_add(taken, Ordering::AcqRel);
        taken
    }

    /// An upload's bytes are no longer in flight: committed (`keep`) or
    /// given back.
    fn land_bytes(&self, n: u64, keep: bool) {
        Self::sub(&self.in_flight_bytes, n);
        if !keep {
            Self::sub(&self.bytes, n);
        }
    }

    /// An upload's new file is no longer in flight.
    fn land_file(&self, keep: bool) {
        Self::sub(&self.in_flight_files, 1);
        if !keep {
            Self::sub(&self.files, 1);
        }
    }

    fn sub(counter: &AtomicU64, n: u64) {
        let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            Some(used.saturating_sub(n))
        });
    }

    /// A name that held a regular file of `before` bytes (`None`: none)
    /// now holds one of `after`. Called under the ledger.
    fn replace(&self, before: Option<u64>, after: Option<u64>) {
        let (old, new) = (before.unwrap_or(0), after.unwrap_or(0));
        if new >= old {
            self.bytes.fetch_add(new - old, Ordering::AcqRel);
        } else {
            Self::sub(&self.bytes, old - new);
        }
        match (before.is_some(), after.is_some()) {
            (false, true) => {
                self.files.fetch_add(1, Ordering::AcqRel);
            }
            (true, false) => Self::sub(&self.files, 1),
            _ => {}
        }
    }

    /// Scans `storage` if it has not been, or if usage went stale.
    async fn ensure_scanned(&self, storage: &dyn Storage) -> StorageResult<()> {
        let mut ledger = self.ledger.lock().await;
        if ledger.scanned && !self.stale.load(Ordering::Acquire) {
            return Ok(());
        }
        self.stale.store(false, Ordering::Release);
        let (bytes, files) = scan(storage).await?;
        // Uploads in flight keep what they took.
        let in_flight_bytes = self.in_flight_bytes.load(Ordering::Acquire);
        let in_flight_files = self.in_flight_files.load(Ordering::Acquire);
        self.bytes.store(bytes + in_flight_bytes, Ordering::Release);
        self.files.store(files + in_flight_files, Ordering::Release);
        ledger.scanned = true;
        tracing::debug!(bytes, files, "quota usage scanned");
        Ok(())
    }
}

/// The bytes and number of regular files under the root of `storage`.
async fn scan(storage: &dyn Storage) -> StorageResult<(u64, u64)> {
    let mut dirs = vec![VirtualPath::root()];
    let (mut bytes, mut files) = (0u64, 0u64);
    while let Some(dir) = dirs.pop() {
        let entries = storage.list(&dir).await?;
        // Listings are consumed on a blocking thread.
        let (found_bytes, found_files, subdirs) = tokio::task::spawn_blocking(move || {
            let (mut b, mut f, mut sub) = (0u64, 0u64, Vec::new());
            for entry in entries.flatten() {
                if entry.info.is_file() {
                    b = b.saturating_add(entry.info.size);
                    f += 1;
                } else if entry.info.is_dir() {
                    if let Ok(path) = dir.join(&entry.name) {
                        sub.push(path);
                    }
                }
            }
            (b, f, sub)
        })
        .await
        .map_err(|e| StorageError::Io(io::Error::other(e)))?;
        bytes = bytes.saturating_add(found_bytes);
        files += found_files;
        dirs.extend(subdirs);
    }
    Ok((bytes, files))
}

/// The regular file at `path`; `None` if there is none.
async fn regular_file(
    storage: &dyn Storage,
    path: &VirtualPath,
) -> StorageResult<Option<FileInfo>> {
    match storage.symlink_metadata(path).await {
        Ok(info) if info.is_file() => Ok(Some(info)),
        Ok(_) => Ok(None),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The runtime a writer's commit uses to look at its name through the
/// storage (the commit runs on a blocking thread).
fn commit_runtime() -> StorageResult<tokio::runtime::Handle> {
    tokio::runtime::Handle::try_current().map_err(|e| StorageError::Io(io::Error::other(e)))
}

/// One [`QuotaUsage`] per user name, kept while the server runs.
#[derive(Debug, Default)]
pub(crate) struct QuotaUsages {
    by_user: Mutex<std::collections::HashMap<String, Arc<QuotaUsage>>>,
}

impl QuotaUsages {
    pub(crate) fn of(&self, username: &str) -> Arc<QuotaUsage> {
        let mut users = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        users.entry(username.to_owned()).or_default().clone()
    }
}

/// A storage whose uploads, deletes and renames are counted against a
/// user's [`QuotaLimits`].
#[derive(Debug)]
pub struct QuotaStorage {
    inner: Arc<dyn Storage>,
    usage: Arc<QuotaUsage>,
    limits: QuotaLimits,
}

impl QuotaStorage {
    /// Counts `inner` against `limits`, with `usage` shared by the user's
    /// sessions; scans `inner` if `usage` has not been yet.
    pub async fn new(
        inner: Arc<dyn Storage>,
        usage: Arc<QuotaUsage>,
        limits: QuotaLimits,
    ) -> StorageResult<Self> {
        usage.ensure_scanned(&*inner).await?;
        Ok(QuotaStorage {
            inner,
            usage,
            limits,
        })
    }

    /// The usage this storage counts into.
    pub fn usage(&self) -> &Arc<QuotaUsage> {
        &self.usage
    }

    /// The size of the regular file at `path`; `None` if there is none.
    async fn file_size(&self, path: &VirtualPath) -> StorageResult<Option<u64>> {
        Ok(regular_file(&*self.inner, path)
            .await?
            .map(|info| info.size))
    }

    fn exceeded(what: &str) -> StorageError {
        StorageError::new(ErrorKind::QuotaExceeded, format!("Quota exceeded: {what}."))
    }

    /// Takes one file of the quota for an upload that creates one, before
    /// anything is created.
    fn reserve_file(&self) -> StorageResult<()> {
        if !QuotaUsage::try_add(&self.usage.files, 1, self.limits.max_files) {
            return Err(Self::exceeded("too many files"));
        }
        self.usage.in_flight_files.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Wraps a writer of `path`, a file that held `old_size` bytes when
    /// it opened (`None`: a new file, whose slot [`Self::reserve_file`]
    /// took). `unique_name`: a STOU upload, whose name was free when it
    /// opened.
    fn counted(
        &self,
        writer: Box<dyn FileWriter>,
        path: &VirtualPath,
        old_size: Option<u64>,
        mode: WriteMode,
        unique_name: bool,
        runtime: tokio::runtime::Handle,
    ) -> Box<dyn FileWriter> {
        let new_file = old_size.is_none();
        let old = old_size.unwrap_or(0);
        // Bytes an upload may write before it grows the file.
        let credit = match mode {
            WriteMode::Replace => old,
            WriteMode::Append => 0,
            WriteMode::At(offset) => old.saturating_sub(offset),
        };
        let budget = Arc::new(Budget {
            usage: self.usage.clone(),
            max_bytes: self.limits.max_bytes,
            state: Mutex::new(BudgetState { credit, charged: 0 }),
        });
        Box::new(QuotaWriter {
            inner: Some(writer),
            budget,
            storage: self.inner.clone(),
            path: path.clone(),
            runtime,
            in_place: mode != WriteMode::Replace,
            unique_name,
            new_file,
        })
    }
}

#[async_trait]
impl Storage for QuotaStorage {
    async fn metadata(&self, path: &VirtualPath) -> StorageResult<FileInfo> {
        self.inner.metadata(path).await
    }

    async fn symlink_metadata(&self, path: &VirtualPath) -> StorageResult<FileInfo> {
        self.inner.symlink_metadata(path).await
    }

    fn real_path(&self, path: &VirtualPath) -> Option<std::path::PathBuf> {
        self.inner.real_path(path)
    }

    async fn read_link(&self, path: &VirtualPath) -> StorageResult<Vec<u8>> {
        self.inner.read_link(path).await
    }

    async fn list(&self, path: &VirtualPath) -> StorageResult<DirEntries> {
        self.inner.list(path).await
    }

    async fn check_reachable(&self) -> StorageResult<()> {
        self.inner.check_reachable().await
    }

    async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> StorageResult<Box<dyn FileReader>> {
        self.inner.open_read(path, offset).await
    }

    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> StorageResult<Box<dyn FileWriter>> {
        let runtime = commit_runtime()?;
        self.usage.ensure_scanned(&*self.inner).await?;
        // What the upload replaces, for its budget and the file limit: the
        // count itself settles at the commit.
        let old_size = self.file_size(path).await?;
        if old_size.is_none() {
            self.reserve_file()?;
        }
        match self.inner.open_write(path, mode).await {
            Ok(writer) => Ok(self.counted(writer, path, old_size, mode, false, runtime)),
            Err(e) => {
                if old_size.is_none() {
                    self.usage.land_file(false);
                }
                Err(e)
            }
        }
    }

    async fn create_unique(
        &self,
        dir: &VirtualPath,
        prefix: &[u8],
    ) -> StorageResult<(VirtualPath, Box<dyn FileWriter>)> {
        let runtime = commit_runtime()?;
        self.usage.ensure_scanned(&*self.inner).await?;
        self.reserve_file()?;
        match self.inner.create_unique(dir, prefix).await {
            Ok((path, writer)) => {
                let writer = self.counted(writer, &path, None, WriteMode::Replace, true, runtime);
                Ok((path, writer))
            }
            Err(e) => {
                self.usage.land_file(false);
                Err(e)
            }
        }
    }

    async fn create_dir(&self, path: &VirtualPath) -> StorageResult<()> {
        self.inner.create_dir(path).await
    }

    async fn remove_dir(&self, path: &VirtualPath) -> StorageResult<()> {
        self.inner.remove_dir(path).await
    }

    async fn remove_file(&self, path: &VirtualPath) -> StorageResult<()> {
        let _ledger = self.usage.ledger.lock().await;
        let size = self.file_size(path).await?;
        self.inner.remove_file(path).await?;
        if let Some(size) = size {
            QuotaUsage::sub(&self.usage.bytes, size);
            QuotaUsage::sub(&self.usage.files, 1);
        }
        Ok(())
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> StorageResult<()> {
        let _ledger = self.usage.ledger.lock().await;
        // A file renamed over another replaces it: that one's bytes go.
        // Not when both names are one file (the same path, or hard links
        // to one inode): then nothing goes.
        let same_file = from == to || {
            let a = self.inner.symlink_metadata(from).await.ok();
            let b = self.inner.symlink_metadata(to).await.ok();
            matches!((a, b), (Some(a), Some(b)) if a.unique.is_some() && a.unique == b.unique)
        };
        let replaced = if same_file {
            None
        } else {
            self.file_size(to).await?
        };
        self.inner.rename(from, to).await?;
        if let Some(size) = replaced {
            QuotaUsage::sub(&self.usage.bytes, size);
            QuotaUsage::sub(&self.usage.files, 1);
        }
        Ok(())
    }

    async fn set_modified(&self, path: &VirtualPath, secs: i64) -> StorageResult<()> {
        self.inner.set_modified(path, secs).await
    }

    fn can_set_modified(&self) -> bool {
        self.inner.can_set_modified()
    }

    async fn set_mode(&self, path: &VirtualPath, mode: u32) -> StorageResult<()> {
        self.inner.set_mode(path, mode).await
    }
}

/// The bytes an upload may still take.
#[derive(Debug)]
struct Budget {
    usage: Arc<QuotaUsage>,
    max_bytes: Option<u64>,
    state: Mutex<BudgetState>,
}

#[derive(Debug)]
struct BudgetState {
    /// Bytes still to write before the file grows (the old content they
    /// overwrite is already counted).
    credit: u64,
    /// Bytes this upload has taken from the usage.
    charged: u64,
}

impl UploadBudget for Budget {
    fn take(&self, n: u64) -> u64 {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let free = n.min(state.credit);
        state.credit -= free;
        let charged = self.usage.take_bytes(n - free, self.max_bytes);
        state.charged += charged;
        free + charged
    }

    fn give_back(&self, n: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // Charged bytes go back first: they were taken last.
        let uncharge = n.min(state.charged);
        state.charged -= uncharge;
        self.usage.land_bytes(uncharge, false);
        state.credit += n - uncharge;
    }
}

impl Budget {
    /// Ends the upload: what it took stays counted (`keep`, a commit) or
    /// goes back.
    fn settle(&self, keep: bool) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.usage
            .land_bytes(std::mem::take(&mut state.charged), keep);
    }
}

/// A writer that takes from the quota before it writes.
struct QuotaWriter {
    inner: Option<Box<dyn FileWriter>>,
    budget: Arc<Budget>,
    /// The storage written to and the name written, looked at when the
    /// upload commits.
    storage: Arc<dyn Storage>,
    path: VirtualPath,
    runtime: tokio::runtime::Handle,
    /// APPE or REST+STOR: written in place, so a failed or refused upload
    /// may leave some of its bytes in the file.
    in_place: bool,
    /// STOU: the name was free when the upload opened. A storage may
    /// hold it until the commit with a file of its own (empty, or the
    /// upload's bytes so far).
    unique_name: bool,
    /// The upload took a slot of the file limit when it opened.
    new_file: bool,
}

impl fmt::Debug for QuotaWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuotaWriter")
            .field("inner", &self.inner)
            .field("new_file", &self.new_file)
            .finish_non_exhaustive()
    }
}

impl QuotaWriter {
    fn inner(&mut self) -> io::Result<&mut Box<dyn FileWriter>> {
        self.inner
            .as_mut()
            .ok_or_else(|| io::ErrorKind::BrokenPipe.into())
    }

    /// Settles what this upload took: kept at a commit, given back
    /// otherwise.
    fn settle(&self, keep: bool) {
        self.budget.settle(keep);
        if self.new_file {
            self.budget.usage.land_file(keep);
        }
    }

    /// The regular file under the upload's name now.
    fn look(&self) -> StorageResult<Option<FileInfo>> {
        self.runtime
            .block_on(regular_file(&*self.storage, &self.path))
    }
}

impl Write for QuotaWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let granted = self.budget.take(buf.len() as u64);
        if granted == 0 {
            return Err(io::Error::new(
                io::ErrorKind::QuotaExceeded,
                "quota exceeded",
            ));
        }
        let granted = usize::try_from(granted).unwrap_or(buf.len());
        let result = self.inner().and_then(|w| w.write(&buf[..granted]));
        let written = *result.as_ref().unwrap_or(&0);
        self.budget.give_back((granted - written) as u64);
        result
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner()?.flush()
    }
}

impl FileWriter for QuotaWriter {
    fn as_file(&mut self) -> Option<&mut std::fs::File> {
        self.inner.as_mut()?.as_file()
    }

    fn budget(&self) -> Option<Arc<dyn UploadBudget>> {
        Some(self.budget.clone())
    }

    fn commit(mut self: Box<Self>) -> StorageResult<()> {
        let Some(mut inner) = self.inner.take() else {
            return Ok(());
        };
        let usage = self.budget.usage.clone();
        // Nothing of this user's changes the name from here to the end of
        // the count: what it holds now is what the upload replaces.
        let _ledger = usage.ledger.blocking_lock();
        // The file the writer holds, however the bytes got there.
        let own = inner.as_file().and_then(|f| f.metadata().ok());
        let before = self.look();
        if let Err(e) = inner.commit() {
            self.settle(false);
            usage.stale.store(true, Ordering::Release);
            return Err(e);
        }
        let Ok(before) = before else {
            // What was replaced is unknown: count again.
            self.settle(false);
            usage.stale.store(true, Ordering::Release);
            return Ok(());
        };
        let own_id = own.as_ref().map(|m| (m.dev(), m.ino()));
        let before_id = before.as_ref().and_then(|info| info.unique);
        if own_id.is_some() && own_id == before_id {
            // Written into the file under its name: its bytes, as they
            // arrived, are what it grew by.
            self.settle(true);
            return Ok(());
        }
        if (self.in_place || self.unique_name) && own.is_some() {
            // Written into a file that another session has since removed,
            // renamed or replaced: what it holds now is unknown.
            self.settle(false);
            usage.stale.store(true, Ordering::Release);
            return Ok(());
        }
        // What the upload took while in flight goes: what the name holds
        // now counts instead.
        self.settle(false);
        // The new content replaced what the name held at the commit.
        let after = match own {
            Some(m) => Some(m.len()),
            None => match self.look() {
                Ok(after) => after.map(|info| info.size),
                Err(_) => {
                    usage.stale.store(true, Ordering::Release);
                    return Ok(());
                }
            },
        };
        // A STOU name held before the commit holds this upload's own
        // placeholder.
        let before = before.filter(|_| !self.unique_name);
        usage.replace(before.map(|info| info.size), after);
        Ok(())
    }

    fn abandon(mut self: Box<Self>) -> super::Remains {
        let Some(inner) = self.inner.take() else {
            return super::Remains::Nothing;
        };
        let remains = inner.abandon();
        self.settle_unfinished();
        remains
    }

    fn discard(mut self: Box<Self>) {
        if let Some(inner) = self.inner.take() {
            inner.discard();
            self.settle(false);
            if self.in_place {
                // A storage may keep what was written in place.
                self.budget.usage.stale.store(true, Ordering::Release);
            }
        }
    }
}

impl QuotaWriter {
    /// What `abandon` and `Drop` share: the bytes taken go back, and the
    /// next upload counts again (the storage may keep part of this one).
    fn settle_unfinished(&mut self) {
        self.settle(false);
        self.budget.usage.stale.store(true, Ordering::Release);
    }
}

impl Drop for QuotaWriter {
    fn drop(&mut self) {
        // Neither committed nor discarded: the upload failed, and the
        // storage may keep part of it for resuming. The bytes go back and
        // the next upload counts again.
        if let Some(inner) = self.inner.take() {
            drop(inner);
            self.settle_unfinished();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{LocalStorage, MemoryStorage};

    /// A quota layer over each backend: memory (uploads buffered until the
    /// commit) and local (STOR through a hidden file; APPE, REST+STOR and
    /// STOU in place). The directory lives as long as the layer.
    async fn layers() -> Vec<(&'static str, QuotaStorage, Option<tempfile::TempDir>)> {
        let limits = QuotaLimits {
            max_bytes: Some(1 << 20),
            max_files: Some(1000),
        };
        let dir = tempfile::tempdir().unwrap();
        let local = LocalStorage::open(dir.path().to_path_buf()).await.unwrap();
        let backends: [(_, Arc<dyn Storage>, _); 2] = [
            ("memory", Arc::new(MemoryStorage::new(1 << 20)), None),
            ("local", Arc::new(local), Some(dir)),
        ];
        let mut layers = Vec::new();
        for (name, inner, dir) in backends {
            let usage = Arc::new(QuotaUsage::default());
            let quota = QuotaStorage::new(inner, usage, limits).await.unwrap();
            layers.push((name, quota, dir));
        }
        layers
    }

    fn path(p: &str) -> VirtualPath {
        VirtualPath::root().resolve(p.as_bytes()).unwrap()
    }

    /// Opens an upload of `data` to `p`, not yet committed.
    async fn open(q: &QuotaStorage, p: &str, mode: WriteMode, data: &[u8]) -> Box<dyn FileWriter> {
        let mut writer = q.open_write(&path(p), mode).await.unwrap();
        writer.write_all(data).unwrap();
        writer
    }

    /// Commits on a blocking thread, as the transfer engine does.
    async fn commit(writer: Box<dyn FileWriter>) {
        tokio::task::spawn_blocking(move || writer.commit())
            .await
            .unwrap()
            .unwrap();
    }

    async fn put(q: &QuotaStorage, p: &str, data: &[u8]) {
        commit(open(q, p, WriteMode::Replace, data).await).await;
    }

    async fn content(q: &QuotaStorage, p: &str) -> Vec<u8> {
        let mut reader = q.open_read(&path(p), 0).await.unwrap();
        tokio::task::spawn_blocking(move || {
            let mut data = Vec::new();
            io::Read::read_to_end(&mut reader, &mut data).unwrap();
            data
        })
        .await
        .unwrap()
    }

    /// Usage is what a fresh scan of the tree finds, and `(bytes, files)`.
    async fn assert_usage(name: &str, q: &QuotaStorage, want: (u64, u64), what: &str) {
        let fresh = scan(&*q.inner).await.unwrap();
        assert_eq!(fresh, want, "{name}: {what}: the tree");
        let counted = (q.usage().bytes(), q.usage().files());
        assert_eq!(counted, fresh, "{name}: {what}: usage against a scan");
    }

    #[tokio::test]
    async fn uploads_of_every_kind_count_what_a_scan_finds() {
        for (name, q, _dir) in layers().await {
            put(&q, "/a", &[1; 100]).await;
            assert_usage(name, &q, (100, 1), "a new file").await;
            put(&q, "/a", &[2; 40]).await;
            assert_usage(name, &q, (40, 1), "a shorter STOR over it").await;
            commit(open(&q, "/a", WriteMode::Append, &[3; 25]).await).await;
            assert_usage(name, &q, (65, 1), "an APPE").await;
            commit(open(&q, "/a", WriteMode::At(60), &[4; 10]).await).await;
            assert_usage(name, &q, (70, 1), "a REST+STOR past the end").await;
            commit(open(&q, "/b", WriteMode::Append, &[5; 7]).await).await;
            assert_usage(name, &q, (77, 2), "an APPE that creates").await;
            let (_, mut writer) = q.create_unique(&VirtualPath::root(), b"u").await.unwrap();
            writer.write_all(&[6; 3]).unwrap();
            commit(writer).await;
            assert_usage(name, &q, (80, 3), "a STOU").await;
            q.rename(&path("/b"), &path("/a")).await.unwrap();
            assert_usage(name, &q, (10, 2), "a rename over a file").await;
            q.remove_file(&path("/a")).await.unwrap();
            assert_usage(name, &q, (3, 1), "a delete").await;
        }
    }

    /// Two sessions upload to one new name: the second commit replaces
    /// the first, and one file is left.
    #[tokio::test]
    async fn two_writers_to_one_name_leave_one_file_counted() {
        for (name, q, _dir) in layers().await {
            let first = open(&q, "/f", WriteMode::Replace, &[1; 10]).await;
            let second = open(&q, "/f", WriteMode::Replace, &[2; 25]).await;
            commit(first).await;
            commit(second).await;
            assert_eq!(content(&q, "/f").await, [2; 25], "{name}");
            assert_usage(name, &q, (25, 1), "two new uploads to one name").await;

            // Over an existing file, committed the other way round.
            let first = open(&q, "/f", WriteMode::Replace, &[3; 50]).await;
            let second = open(&q, "/f", WriteMode::Replace, &[4; 5]).await;
            commit(second).await;
            commit(first).await;
            assert_eq!(content(&q, "/f").await, [3; 50], "{name}");
            assert_usage(name, &q, (50, 1), "two uploads over one file").await;
        }
    }

    /// Another session deletes the file an upload replaces, before the
    /// upload commits: the upload makes a new file.
    #[tokio::test]
    async fn a_delete_during_an_upload_is_counted_once() {
        for (name, q, _dir) in layers().await {
            put(&q, "/f", &[1; 100]).await;
            let upload = open(&q, "/f", WriteMode::Replace, &[2; 50]).await;
            q.remove_file(&path("/f")).await.unwrap();
            assert_usage(name, &q, (0, 0), "deleted, the upload in flight").await;
            commit(upload).await;
            assert_usage(name, &q, (50, 1), "the upload committed").await;
        }
    }

    /// Another session replaces the file, bigger, while a smaller upload
    /// to it is in flight; the smaller one commits last and wins.
    #[tokio::test]
    async fn an_overwrite_during_an_upload_is_counted_once() {
        for (name, q, _dir) in layers().await {
            put(&q, "/f", &[1; 100]).await;
            let slow = open(&q, "/f", WriteMode::Replace, &[2; 30]).await;
            put(&q, "/f", &[3; 200]).await;
            assert_usage(name, &q, (200, 1), "overwritten, the upload in flight").await;
            commit(slow).await;
            assert_eq!(content(&q, "/f").await, [2; 30], "{name}");
            assert_usage(name, &q, (30, 1), "the slow upload committed").await;
        }
    }

    /// Renames during an upload: the file it would replace moves away, or
    /// another file is renamed over its name.
    #[tokio::test]
    async fn renames_during_an_upload_are_counted_once() {
        for (name, q, _dir) in layers().await {
            put(&q, "/f", &[1; 100]).await;
            let upload = open(&q, "/f", WriteMode::Replace, &[2; 60]).await;
            q.rename(&path("/f"), &path("/moved")).await.unwrap();
            commit(upload).await;
            assert_usage(name, &q, (160, 2), "the old file moved away").await;

            put(&q, "/g", &[3; 40]).await;
            let upload = open(&q, "/f", WriteMode::Replace, &[4; 10]).await;
            q.rename(&path("/g"), &path("/f")).await.unwrap();
            commit(upload).await;
            assert_eq!(content(&q, "/f").await, [4; 10], "{name}");
            assert_usage(name, &q, (110, 2), "another file renamed over it").await;
        }
    }

    /// An APPE whose file is deleted before it commits: local storage
    /// appended in place to the file now gone, memory storage makes a new
    /// one at the commit. Either way usage is right by the next upload.
    #[tokio::test]
    async fn a_delete_during_an_append_is_counted_once() {
        for (name, q, _dir) in layers().await {
            put(&q, "/f", &[1; 100]).await;
            let append = open(&q, "/f", WriteMode::Append, &[2; 20]).await;
            q.remove_file(&path("/f")).await.unwrap();
            commit(append).await;
            // The next upload opens with usage right.
            let next = q
                .open_write(&path("/next"), WriteMode::Replace)
                .await
                .unwrap();
            next.discard();
            let fresh = scan(&*q.inner).await.unwrap();
            assert_eq!((q.usage().bytes(), q.usage().files()), fresh, "{name}");
        }
    }

    fn budget(usage: &Arc<QuotaUsage>, max: u64, credit: u64) -> Budget {
        Budget {
            usage: usage.clone(),
            max_bytes: Some(max),
            state: Mutex::new(BudgetState { credit, charged: 0 }),
        }
    }

    #[test]
    fn budgets_take_exactly_what_fits() {
        let usage = Arc::new(QuotaUsage::default());
        usage.bytes.store(90, Ordering::Relaxed);
        // Overwriting 20 bytes of an old file is free; then 10 fit.
        let b = budget(&usage, 100, 20);
        assert_eq!(b.take(25), 25);
        assert_eq!(usage.bytes(), 95);
        assert_eq!(b.take(100), 5);
        assert_eq!(b.take(1), 0);
        assert_eq!(usage.bytes(), 100);
        b.give_back(3);
        assert_eq!(usage.bytes(), 97);
        // Another upload of the same user sees what this one took.
        let other = budget(&usage, 100, 0);
        assert_eq!(other.take(10), 3);
        other.settle(false);
        b.settle(false);
        assert_eq!(usage.bytes(), 90);
    }

    #[test]
    fn sizes() {
        for (text, want) in [
            ("0", Ok(0)),
            ("1048576", Ok(1 << 20)),
            ("512K", Ok(512 << 10)),
            ("10m", Ok(10 << 20)),
            (" 2G ", Ok(2 << 30)),
            ("1T", Ok(1 << 40)),
        ] {
            assert_eq!(parse_size(text), want, "{text:?}");
        }
        for bad in ["", "K", "1.5M", "-1", "10X", "99999999999999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn file_counts_stop_at_the_limit() {
        let usage = QuotaUsage::default();
        assert!(QuotaUsage::try_add(&usage.files, 1, Some(2)));
        assert!(QuotaUsage::try_add(&usage.files, 1, Some(2)));
        assert!(!QuotaUsage::try_add(&usage.files, 1, Some(2)));
        assert!(QuotaUsage::try_add(&usage.files, 1, None));
        QuotaUsage::sub(&usage.files, 10);
        assert_eq!(usage.files(), 0);
    }
}
