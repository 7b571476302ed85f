//! Storage: where a user's files live.
//!
//! A [`StorageFactory`] gives each logged-in account its own [`Storage`], a
//! view rooted at that account's home. Every path a session passes is an
//! absolute [`VirtualPath`] inside that view; a backend must never let one
//! reach outside it.
//!
//! Metadata comes back as plain [`FileInfo`]; FTP formatting happens in the
//! protocol crate, never in a backend.
//!
//! File contents move through [`FileReader`] and [`FileWriter`], which are
//! used on a blocking thread by the transfer engine (so a backend may block
//! in them). A backend that has a real file descriptor exposes it through
//! `as_file`, which lets the engine use `sendfile` and `splice`.
//!
//! # The contract
//!
//! The docs of each trait and method say what a backend must guarantee;
//! `docs/storage.md` gathers it in one place, with an example of an async
//! (network) backend. In short:
//!
//! - **Uploads commit atomically.** A [`WriteMode::Replace`] upload is
//!   invisible until [`FileWriter::commit`]: a reader sees the old content
//!   or the new, never a mix, and a writer dropped without a commit leaves
//!   the old content as it was.
//! - **Rename replaces a file** at the target in one step, and moves a
//!   directory with everything in it.
//! - **Listings promise no order, and stream**: an entry added or removed
//!   during a listing may or may not appear, none appears twice, and the
//!   change is no error.
//! - **Errors say what went wrong** through their [`ErrorKind`], which
//!   picks the reply code.
//! - **Async methods never block the runtime**; readers, writers and
//!   listings are used on a blocking thread and may block.
//!
//! The [`conformance`] suite checks these promises; run it on every backend
//! and every layer, with one call.
//!
//! # Backends and layers
//!
//! [`LocalStorage`] serves directories of the local filesystem, confined by
//! the kernel. [`MemoryStorage`] keeps a whole tree in memory, bounded in
//! size (the counterpart of aioftp's `MemoryPathIO`). With the `s3`
//! feature, `ObjectStorage` keeps files in an S3 bucket (or another
//! OpenDAL service), saying per verb what it can promise there. A layer is a
//! [`Storage`] that wraps another one and forwards to it:
//! [`QuotaStorage`] and [`MountStorage`] here, a hashing layer in
//! `examples/hashing_layer.rs`. Implementors get [`macro@async_trait`] from
//! here.

use std::fmt;
use std::io::{Read, Write};

/// The attribute the storage traits are implemented with, re-exported so
/// that a backend need not depend on `async-trait` itself:
/// `#[ferroftpd::storage::async_trait]`.
pub use async_trait::async_trait;
pub use ferroftpd_proto::listing::{FileInfo, FileKind};
pub use ferroftpd_proto::path::VirtualPath;

use crate::auth::Account;

pub mod conformance;
mod error;
mod local;
mod memory;
mod mount;
#[cfg(feature = "s3")]
mod object;
mod quota;
mod s3_address;
pub(crate) mod user_thread;
pub use error::{ErrorKind, StorageError};
#[cfg(feature = "system-users")]
pub use local::ProcessUserStorageFactory;
pub use local::{LocalStorage, LocalStorageFactory};
pub use memory::{MemoryStorage, MemoryStorageFactory};
pub use mount::MountStorage;
#[cfg(all(feature = "s3", feature = "users-file"))]
pub(crate) use object::check_part_size;
#[cfg(feature = "s3")]
pub use object::{
    ObjectStorage, ObjectStorageConfig, ObjectStorageFactory, DEFAULT_LIST_PAGE, DEFAULT_PART_SIZE,
    DEFAULT_REGION,
};
pub(crate) use quota::QuotaUsages;
pub use quota::{parse_size, QuotaLimits, QuotaStorage, QuotaUsage};
pub use s3_address::{check_s3_endpoint, S3Address};

/// Result of a storage operation.
pub type StorageResult<T> = Result<T, StorageError>;

/// Attempts at finding a free name in [`Storage::create_unique`]'s default.
const UNIQUE_NAME_ATTEMPTS: usize = 8;

/// One entry of a directory listing.
#[derive(Debug, Clone)]
pub struct DirEntry {
    /// The entry's name (one component, bytes as stored).
    pub name: Vec<u8>,
    /// Its metadata, not following symbolic links.
    pub info: FileInfo,
    /// For a symbolic link: where it points, as stored in the link.
    pub link_target: Option<Vec<u8>>,
    /// For a symbolic link that resolves inside the root: the metadata of
    /// what it points to. `None` for broken links and links leading out.
    pub resolved: Option<FileInfo>,
}

/// A directory listing, consumed on a blocking thread.
///
/// It may be consumed long after [`Storage::list`] returned, and dropped
/// before its end. See [`Storage::list`] for what it must promise.
pub type DirEntries = Box<dyn Iterator<Item = StorageResult<DirEntry>> + Send>;

/// How [`Storage::open_write`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// STOR: the file gets exactly the uploaded bytes, atomically.
    ///
    /// Nothing of the upload is visible before [`FileWriter::commit`]:
    /// until then, readers, [`Storage::metadata`] and [`Storage::list`]
    /// show the previous content (or no file), and no staging name shows
    /// in listings. The commit replaces the content in one step. A writer
    /// dropped without a commit leaves the previous content as it was;
    /// where there was no file, it leaves either no file or one holding a
    /// prefix of the bytes written (`LocalStorage` keeps them, so that the
    /// client can resume). The replaced file's permission bits are kept.
    Replace,
    /// APPE: adds the uploaded bytes to the end of the content the file has
    /// (at commit time, or as they arrive), creating the file if it is
    /// missing.
    ///
    /// The bytes may become visible as they are written (`LocalStorage`
    /// writes in place) or only at the commit (`MemoryStorage`). A writer
    /// dropped without a commit may leave any prefix of the bytes written
    /// appended, never anything else.
    Append,
    /// STOR after REST: writes from this offset of an existing file
    /// (`NotFound` if there is none), keeping the bytes before the offset
    /// and those past the end of what is written, like `pwrite(2)`. The
    /// session has checked that the offset is at most the file's size.
    /// Visibility and a dropped writer as for [`WriteMode::Append`].
    At(u64),
}

/// The source of a download (RETR, and checksums), from
/// [`Storage::open_read`].
///
/// Used on a blocking thread (tokio's blocking pool, or a system user's
/// thread), so `read` may block: on a disk, or on the network with
/// `tokio::runtime::Handle::block_on` (capture `Handle::current()` in
/// `open_read`; see `docs/storage.md`). `read` returns 0 at the end of the
/// file; an error ends the transfer with 451, or with the code of its
/// [`ErrorKind`] for space and quota. Return a [`StorageError`] as
/// `io::Error::from(error)` to keep its kind and text.
///
/// It may be dropped anywhere, the runtime's threads included (a transfer
/// whose data connection never opens): `Drop` must not block for long.
///
/// A reader of bytes held in memory:
///
/// ```
/// use std::io::{Cursor, Read};
/// use ferroftpd::storage::FileReader;
///
/// #[derive(Debug)]
/// struct InMemory(Cursor<Vec<u8>>);
///
/// impl Read for InMemory {
///     fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
///         self.0.read(buf)
///     }
/// }
///
/// // No file descriptor: `as_file` keeps its default (no sendfile).
/// impl FileReader for InMemory {}
///
/// let mut r = InMemory(Cursor::new(b"hello".to_vec()));
/// let mut s = String::new();
/// r.read_to_string(&mut s).unwrap();
/// assert_eq!(s, "hello");
/// ```
pub trait FileReader: Read + Send + fmt::Debug {
    /// The underlying file, if there is one, positioned at the offset the
    /// reader was opened at. Enables `sendfile`.
    fn as_file(&self) -> Option<&std::fs::File> {
        None
    }
}

/// The destination of an upload (STOR, APPE, STOU), from
/// [`Storage::open_write`] or [`Storage::create_unique`].
///
/// Used on a blocking thread, like [`FileReader`]: `write` and `commit`
/// may block. A `write` that fails ends the upload without a commit; its
/// [`ErrorKind`] picks the reply (452 for `StorageFull`, 552 for
/// `QuotaExceeded` and `FileTooLarge`, 451 otherwise): return
/// `io::Error::from(StorageError::from(ErrorKind::StorageFull))`, or an
/// `io::Error` of the matching `io::ErrorKind` or errno.
///
/// Dropping a writer without [`FileWriter::commit`] means the upload failed
/// or was aborted (ABOR); the backend must then leave the previous content
/// as [`WriteMode`] says. A refused upload (a quota, a guard) gets
/// [`FileWriter::discard`] instead, which leaves nothing of it. `Drop` may
/// run on the runtime's threads: it must not block for long (remove a
/// staging file, or spawn a task to clean up over the network). A writer
/// that wraps another forwards `discard`, `abandon` and `budget` to it.
///
/// A layer's writer that counts the bytes of each upload:
///
/// ```
/// use std::io::{self, Write};
/// use ferroftpd::storage::{FileWriter, Remains, StorageResult};
///
/// #[derive(Debug)]
/// struct Counting {
///     inner: Box<dyn FileWriter>,
///     bytes: u64,
/// }
///
/// impl Write for Counting {
///     fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
///         let n = self.inner.write(buf)?;
///         self.bytes += n as u64;
///         Ok(n)
///     }
///     fn flush(&mut self) -> io::Result<()> {
///         self.inner.flush()
///     }
/// }
///
/// impl FileWriter for Counting {
///     // No `as_file`: the engine would splice past `write` and the count.
///     fn commit(self: Box<Self>) -> StorageResult<()> {
///         self.inner.commit()
///     }
///     fn discard(self: Box<Self>) {
///         self.inner.discard()
///     }
///     fn abandon(self: Box<Self>) -> Remains {
///         self.inner.abandon()
///     }
///     fn budget(&self) -> Option<std::sync::Arc<dyn ferroftpd::storage::UploadBudget>> {
///         self.inner.budget()
///     }
/// }
/// ```
pub trait FileWriter: Write + Send + fmt::Debug {
    /// The underlying file, if there is one, positioned where data goes.
    /// Enables `splice`.
    fn as_file(&mut self) -> Option<&mut std::fs::File> {
        None
    }

    /// The upload finished: make it visible under its name, in one step
    /// for [`WriteMode::Replace`]. Called on the blocking thread after the
    /// last `write` and a successful `flush`. On error nothing of the
    /// upload may be visible (for `Replace`: the previous content stays),
    /// and the client gets the error's reply.
    fn commit(self: Box<Self>) -> StorageResult<()>;

    /// The upload was refused (a quota, a guard): leave nothing of it, not
    /// even the partial file a dropped writer may keep for resuming.
    /// Default: drop, which must leave the previous content as it was.
    fn discard(self: Box<Self>) {}

    /// The upload failed or was aborted: end it as a writer dropped
    /// without a commit would (see [`WriteMode`]), and say what is left of
    /// it, for [`crate::hooks::FileEvent::remains`]. Called instead of
    /// dropping the writer, on the blocking thread. Default: drops the
    /// writer and says [`Remains::Unknown`].
    fn abandon(self: Box<Self>) -> Remains {
        Remains::Unknown
    }

    /// The limit on how many bytes this upload may still take, when a
    /// layer (a quota) sets one. Writes through [`Write`] obey it
    /// themselves; the transfer engine asks it before moving data into
    /// [`FileWriter::as_file`] directly. Default: none.
    fn budget(&self) -> Option<std::sync::Arc<dyn UploadBudget>> {
        None
    }
}

/// What an upload that did not complete left under its name, as
/// [`FileWriter::abandon`] reports it to the event hooks
/// ([`crate::hooks::Hooks::on_incomplete_file_received`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Remains {
    /// Nothing: the name holds what it held before the upload (or no
    /// file). An interrupted STOR over an existing file ends so.
    Nothing,
    /// A file that did not exist before the upload and holds only the
    /// bytes that arrived, kept so that the client can resume (REST then
    /// STOR). Removing it removes nothing but this upload.
    NewFile,
    /// The bytes that arrived were written into the file in place (APPE,
    /// STOR after REST): it may also hold content from before the upload,
    /// which removing it would destroy.
    InPlace,
    /// The storage does not say.
    Unknown,
}

/// How many more bytes an upload may take (see [`FileWriter::budget`]).
///
/// A budget of a fixed number of bytes:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use ferroftpd::storage::UploadBudget;
///
/// #[derive(Debug)]
/// struct Left(AtomicU64);
///
/// impl UploadBudget for Left {
///     fn take(&self, n: u64) -> u64 {
///         let mut granted = 0;
///         let _ = self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
///             granted = n.min(left);
///             Some(left - granted)
///         });
///         granted
///     }
///     fn give_back(&self, n: u64) {
///         self.0.fetch_add(n, Ordering::AcqRel);
///     }
/// }
///
/// let budget = Left(AtomicU64::new(10));
/// assert_eq!(budget.take(8), 8);
/// assert_eq!(budget.take(8), 2);
/// budget.give_back(1);
/// assert_eq!(budget.take(8), 1);
/// ```
pub trait UploadBudget: Send + Sync + fmt::Debug {
    /// Takes up to `n` more bytes: returns how many may be written now,
    /// 0 when the limit is reached.
    fn take(&self, n: u64) -> u64;

    /// Gives back bytes taken but not written.
    fn give_back(&self, n: u64);
}

/// A user's view of a storage backend, rooted at the user's home.
///
/// # Paths
///
/// Every path is an absolute [`VirtualPath`] that the session has
/// normalised (no `.`, `..` or empty components); `/` is the root of the
/// view. An implementation must confine every operation to the root, even
/// through symbolic links ([`StorageError::OutsideRoot`]). Names are bytes,
/// not text: a name that is not UTF-8 is stored, listed and found again
/// unchanged. Operations on a name (create, remove, rename, `open_write`)
/// fail on the root itself.
///
/// # Errors
///
/// Each failure has an [`ErrorKind`], which picks the reply
/// ([`ErrorKind::code`]). The kinds the session and clients rely on:
/// `NotFound` for a missing path or parent (550); `NotADirectory` and
/// `IsADirectory` for the wrong kind of entry (550); `AlreadyExists` (550);
/// `DirectoryNotEmpty` (550); `PermissionDenied` and `ReadOnly` (550);
/// `StorageFull` (452); `QuotaExceeded` and `FileTooLarge` (552);
/// `NameNotAllowed` (553); `Busy` for a failure worth retrying (450);
/// `Unsupported` for an operation the backend does not offer (502). Give
/// the client text of your own with [`StorageError::new`].
///
/// # Threads and blocking
///
/// The async methods run on the server's runtime and must not block it: do
/// blocking work with `tokio::task::spawn_blocking`, or await an async
/// client. A short, in-memory critical section under a `std::sync` lock is
/// fine; a lock held across an `.await` is not. The readers, writers and
/// listings they return are used on a blocking thread, where they may
/// block.
///
/// # Concurrency
///
/// One backend serves many sessions at once, one account may have several,
/// and every method may run at the same time as any other, on the same
/// paths. Each must leave a consistent tree: two uploads to one name end
/// with one whole upload, never a mix; a download opened before a commit
/// reads the old content to its end ([`Storage::open_read`]).
///
/// # What must be written
///
/// `metadata`, `list`, `open_read`, `open_write`, `create_dir`,
/// `remove_dir`, `remove_file` and `rename`. The rest have defaults:
/// `symlink_metadata` is `metadata`; `create_unique` picks a random name
/// and opens it with `open_write`; `read_link`, `set_modified` and
/// `set_mode` are `Unsupported` (502); `real_path` is `None`.
///
/// Check an implementation with [`conformance::check_storage`].
///
/// A read-only layer: it forwards reads to the storage it wraps and
/// refuses every change. Methods with defaults (`symlink_metadata`,
/// `real_path`, `read_link`, `set_mode`, ...) are forwarded too in a real
/// layer; `examples/hashing_layer.rs` is a complete one.
///
/// ```
/// use std::sync::Arc;
/// use ferroftpd::storage::{
///     async_trait, DirEntries, ErrorKind, FileInfo, FileReader, FileWriter, Storage,
///     StorageError, StorageResult, VirtualPath, WriteMode,
/// };
///
/// #[derive(Debug)]
/// struct ReadOnly(Arc<dyn Storage>);
///
/// fn refused() -> StorageError {
///     StorageError::new(ErrorKind::ReadOnly, "This server is read-only.".to_owned())
/// }
///
/// #[async_trait]
/// impl Storage for ReadOnly {
///     async fn metadata(&self, path: &VirtualPath) -> StorageResult<FileInfo> {
///         self.0.metadata(path).await
///     }
///     async fn list(&self, path: &VirtualPath) -> StorageResult<DirEntries> {
///         self.0.list(path).await
///     }
///     async fn open_read(&self, path: &VirtualPath, offset: u64)
///         -> StorageResult<Box<dyn FileReader>> {
///         self.0.open_read(path, offset).await
///     }
///     async fn open_write(&self, _: &VirtualPath, _: WriteMode)
///         -> StorageResult<Box<dyn FileWriter>> {
///         Err(refused())
///     }
///     async fn create_dir(&self, _: &VirtualPath) -> StorageResult<()> {
///         Err(refused())
///     }
///     async fn remove_dir(&self, _: &VirtualPath) -> StorageResult<()> {
///         Err(refused())
///     }
///     async fn remove_file(&self, _: &VirtualPath) -> StorageResult<()> {
///         Err(refused())
///     }
///     async fn rename(&self, _: &VirtualPath, _: &VirtualPath) -> StorageResult<()> {
///         Err(refused())
///     }
/// }
/// ```
#[async_trait]
pub trait Storage: Send + Sync + fmt::Debug {
    /// Metadata of `path`, following symbolic links that stay inside the root.
    ///
    /// Errors: `NotFound` if nothing is there; `NotADirectory` (or
    /// `NotFound`) when a component on the way is a file.
    async fn metadata(&self, path: &VirtualPath) -> StorageResult<FileInfo>;

    /// Metadata of `path` itself, not following a final symbolic link.
    async fn symlink_metadata(&self, path: &VirtualPath) -> StorageResult<FileInfo> {
        self.metadata(path).await
    }

    /// Where `path` is on the server's filesystem, for event hooks.
    /// Default: `None` (not a filesystem).
    fn real_path(&self, _path: &VirtualPath) -> Option<std::path::PathBuf> {
        None
    }

    /// Where the symbolic link `path` points, as stored in the link; an
    /// error for anything that is not a symbolic link.
    /// Default: unsupported (listings then show no target).
    async fn read_link(&self, _path: &VirtualPath) -> StorageResult<Vec<u8>> {
        Err(StorageError::Unsupported)
    }

    /// The entries of the directory `path` (without `.` and `..`), in no
    /// promised order.
    ///
    /// The iterator is consumed on a blocking thread, maybe long after this
    /// call, and may be dropped before its end. It should stream rather
    /// than hold a large directory in memory. Entries added or removed while
    /// it is consumed may or may not appear; an entry there throughout
    /// appears exactly once; no entry appears twice; such changes are no
    /// error (skip a name that vanished between reading it and its
    /// metadata). An `Err` item is logged and skipped by the session, which
    /// reads on: after an error it cannot get past, the iterator must end.
    /// Names the backend keeps for itself (staging files) never appear.
    ///
    /// Errors: `NotFound`; `NotADirectory` for a file.
    async fn list(&self, path: &VirtualPath) -> StorageResult<DirEntries>;

    /// Opens the regular file `path` for reading from byte `offset` (REST);
    /// at or past the end, it reads nothing.
    ///
    /// The reader reads one version of the file to its end: what was
    /// committed when it was opened, never part of a later upload, rename
    /// or removal (`LocalStorage` holds the open file; a commit renames a
    /// new file over the name). A backend that cannot promise that must
    /// fail the read rather than mix versions.
    ///
    /// Errors: `NotFound`; `IsADirectory`; `PermissionDenied` for what is
    /// not a regular file (a device, a pipe).
    async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> StorageResult<Box<dyn FileReader>>;

    /// Opens `path` for an upload; [`WriteMode`] says how the content
    /// changes and when it becomes visible.
    ///
    /// Errors: `IsADirectory` for a directory; `NotFound` when the parent
    /// is missing (or, for [`WriteMode::At`], the file); space and quota
    /// errors may come here or from the writer.
    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> StorageResult<Box<dyn FileWriter>>;

    /// STOU: opens a new file in directory `dir` under a name that did not
    /// exist, starting with `prefix` (one component). Returns its path and
    /// a writer, which behaves as for [`WriteMode::Replace`]. Two calls
    /// never return the same name, even at the same time from different
    /// sessions.
    ///
    /// Default: the name is `prefix`, `.` and 16 random lowercase letters
    /// and digits, one that [`Storage::symlink_metadata`] reports missing,
    /// opened with [`WriteMode::Replace`]. It is not reserved before the
    /// commit, but the random part (82 bits) makes a clash with another
    /// upload negligible. A backend that can create a name exclusively
    /// (`O_EXCL`, a conditional put such as `If-None-Match: *`) should do
    /// so instead.
    ///
    /// Errors: `NotFound` or `NotADirectory` for `dir`; `NameNotAllowed`
    /// for a prefix that is not one component.
    async fn create_unique(
        &self,
        dir: &VirtualPath,
        prefix: &[u8],
    ) -> StorageResult<(VirtualPath, Box<dyn FileWriter>)> {
        if !self.metadata(dir).await?.is_dir() {
            return Err(ErrorKind::NotADirectory.into());
        }
        for _ in 0..UNIQUE_NAME_ATTEMPTS {
            let mut name = prefix.to_vec();
            name.push(b'.');
            name.extend((0..16).map(|_| {
                const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
                ALPHABET[fastrand::usize(..ALPHABET.len())]
            }));
            let path = dir
                .join(&name)
                .ok()
                .filter(|p| p.parent().as_ref() == Some(dir))
                .ok_or(ErrorKind::NameNotAllowed)?;
            match self.symlink_metadata(&path).await {
                Ok(_) => continue,
                Err(e) if e.is_not_found() => {
                    let writer = self.open_write(&path, WriteMode::Replace).await?;
                    return Ok((path, writer));
                }
                Err(e) => return Err(e),
            }
        }
        Err(StorageError::new(
            ErrorKind::AlreadyExists,
            Some("No unique file name found.".to_owned()),
        ))
    }

    /// Creates the directory `path` (MKD).
    ///
    /// Errors: `AlreadyExists` if anything is there; `NotFound` or
    /// `NotADirectory` for the parent.
    async fn create_dir(&self, path: &VirtualPath) -> StorageResult<()>;

    /// Removes the empty directory `path` (RMD); never its contents.
    ///
    /// Errors: `DirectoryNotEmpty` if it has entries; `NotADirectory` for a
    /// file; `NotFound`.
    async fn remove_dir(&self, path: &VirtualPath) -> StorageResult<()>;

    /// Removes a file or symbolic link (DELE), never a directory. Readers
    /// already open read on what they opened, or fail.
    ///
    /// Errors: `IsADirectory` (or `PermissionDenied`) for a directory;
    /// `NotFound`.
    async fn remove_file(&self, path: &VirtualPath) -> StorageResult<()>;

    /// Renames `from` to `to` (RNFR, RNTO), as `rename(2)` does.
    ///
    /// - A file onto a missing name moves; onto an existing file, it
    ///   replaces that file in one step (a reader of `to` sees the old file
    ///   or the moved one).
    /// - A directory moves with everything in it. Onto an existing
    ///   directory: `DirectoryNotEmpty` (or `AlreadyExists`) unless that is
    ///   empty, which may be replaced or refused.
    /// - A file onto a directory: `IsADirectory`. A directory onto a file:
    ///   `NotADirectory`. A directory into itself or below: an error.
    /// - `from` missing, or the parent of `to` missing: `NotFound`.
    /// - `from` and `to` the same: success, nothing changes.
    ///
    /// A failed rename moves nothing. A backend that cannot move a
    /// directory in one step (most object stores) returns `Unsupported`
    /// rather than copying silently, and runs the conformance suite with
    /// that check skipped.
    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> StorageResult<()>;

    /// Sets the modification time of a file, in seconds since the Unix
    /// epoch (MFMT); `metadata` then reports exactly `secs`.
    /// Default: unsupported.
    async fn set_modified(&self, _path: &VirtualPath, _secs: i64) -> StorageResult<()> {
        Err(StorageError::Unsupported)
    }

    /// Whether [`Self::set_modified`] works here: FEAT offers MFMT to a
    /// logged-in user only then, so that clients which set times after an
    /// upload when MFMT is offered (rclone) do not fail every upload.
    /// Default: false, like `set_modified`'s default; a backend that
    /// implements one says so with the other, and a layer asks the
    /// storage below it.
    fn can_set_modified(&self) -> bool {
        false
    }

    /// Sets Unix permission bits, `mode & 0o7777` (SITE CHMOD); `metadata`
    /// then reports them. Whether the backend enforces them is its own
    /// affair. Default: unsupported.
    async fn set_mode(&self, _path: &VirtualPath, _mode: u32) -> StorageResult<()> {
        Err(StorageError::Unsupported)
    }

    /// Whether the storage can serve now: its root is there and can be
    /// read (a directory, a bucket). Readiness checks (`/ready`) ask it, so
    /// keep it cheap (one or two calls to the backend), and let a backend
    /// that cannot answer fail rather than hang: the caller also bounds it
    /// with a timeout.
    ///
    /// Default: lists the root (taking no entry), which reaches the
    /// backend in most implementations. A layer asks what it wraps.
    async fn check_reachable(&self) -> StorageResult<()> {
        self.list(&VirtualPath::root()).await.map(drop)
    }
}

/// Creates the [`Storage`] of each account when it logs in.
///
/// What a home means is the factory's business: a directory for
/// [`LocalStorageFactory`], a path inside its tree for
/// [`MemoryStorageFactory`], a bucket prefix for an object store. So the
/// home is checked here, at login, not when users are registered.
///
/// A factory that gives every account an in-memory tree of its own,
/// rooted at its home:
///
/// ```
/// use std::sync::Arc;
/// use ferroftpd::auth::Account;
/// use ferroftpd::storage::{
///     async_trait, MemoryStorageFactory, Storage, StorageFactory, StorageResult,
/// };
///
/// #[derive(Debug)]
/// struct Scratch(MemoryStorageFactory);
///
/// #[async_trait]
/// impl StorageFactory for Scratch {
///     async fn open(&self, account: &Account) -> StorageResult<Arc<dyn Storage>> {
///         // A home of its own per user, whatever the account says.
///         let home = ferroftpd::storage::VirtualPath::root()
///             .resolve(format!("/{}", account.username).as_bytes())
///             .map_err(|_| ferroftpd::storage::ErrorKind::NameNotAllowed)?;
///         Ok(Arc::new(self.0.storage(&home)?))
///     }
/// }
///
/// let builder = ferroftpd::Server::builder()
///     .storage(Arc::new(Scratch(MemoryStorageFactory::new(64 << 20))));
/// # drop(builder);
/// ```
#[async_trait]
pub trait StorageFactory: Send + Sync + fmt::Debug {
    /// The storage view for `account`, rooted at its home.
    ///
    /// Called at each login, on the runtime (do not block it). An error
    /// refuses the login with `530 Home directory not available.`. The
    /// storage is held by the session while it is logged in, idle or not:
    /// keep it small, with the backend's state shared behind an `Arc`.
    async fn open(&self, account: &Account) -> StorageResult<std::sync::Arc<dyn Storage>>;
}

/// Another storage mounted in a user's tree (a virtual folder).
#[derive(Debug, Clone)]
pub struct Mount {
    /// Where the user sees it, e.g. `/shared`.
    pub path: VirtualPath,
    /// What serves it: opened for the account, with `home` as its home.
    pub factory: std::sync::Arc<dyn StorageFactory>,
    /// The home given to `factory` (a local directory for
    /// [`LocalStorageFactory`]).
    pub home: std::path::PathBuf,
}

/// How a user's tree is put together beyond the home: where the home is,
/// mounted folders and a quota. See
/// [`Account::storage_settings`](crate::auth::Account).
#[derive(Debug, Clone, Default)]
pub struct StorageSettings {
    /// What serves the user's home, opened with the account (so with
    /// [`Account::home`] as its home) instead of the server's
    /// [`StorageFactory`]: an S3 bucket for this user while the others
    /// are on disk, for example. The quota and the mounts apply on top of
    /// it as on any home. `None` uses the server's.
    pub home_storage: Option<std::sync::Arc<dyn StorageFactory>>,
    /// Folders mounted in the tree.
    pub mounts: Vec<Mount>,
    /// Limits on the home (mounted folders are not counted). `None` uses
    /// the server's default quota.
    pub quota: Option<QuotaLimits>,
}
