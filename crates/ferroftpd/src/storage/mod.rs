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

use std::fmt;
use std::io::{Read, Write};

use async_trait::async_trait;
pub use ferroftpd_proto::listing::{FileInfo, FileKind};
pub use ferroftpd_proto::path::VirtualPath;

use crate::auth::Account;

mod error;
mod local;
mod mount;
mod quota;
pub(crate) mod user_thread;
pub use error::{ErrorKind, StorageError};
pub use local::{LocalStorage, LocalStorageFactory};
pub use mount::MountStorage;
pub(crate) use quota::QuotaUsages;
pub use quota::{parse_size, QuotaLimits, QuotaStorage, QuotaUsage};

/// Result of a storage operation.
pub type StorageResult<T> = Result<T, StorageError>;

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
pub type DirEntries = Box<dyn Iterator<Item = StorageResult<DirEntry>> + Send>;

/// How [`Storage::open_write`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// STOR: the file gets the uploaded content. A backend should keep the
    /// previous content until the upload is committed.
    Replace,
    /// APPE: add to the end, creating the file if needed.
    Append,
    /// STOR after REST: write from this offset of an existing file, keeping
    /// what lies before it.
    At(u64),
}

/// The source of a download. Used on a blocking thread.
pub trait FileReader: Read + Send + fmt::Debug {
    /// The underlying file, if there is one, positioned at the offset the
    /// reader was opened at. Enables `sendfile`.
    fn as_file(&self) -> Option<&std::fs::File> {
        None
    }
}

/// The destination of an upload. Used on a blocking thread.
///
/// Dropping a writer without [`FileWriter::commit`] means the upload failed
/// or was aborted; the backend must then leave any previous content of the
/// file as it was.
pub trait FileWriter: Write + Send + fmt::Debug {
    /// The underlying file, if there is one, positioned where data goes.
    /// Enables `splice`.
    fn as_file(&mut self) -> Option<&mut std::fs::File> {
        None
    }

    /// The upload finished: make it visible under its name.
    fn commit(self: Box<Self>) -> StorageResult<()>;

    /// The upload was refused (a quota, a guard): leave nothing of it, not
    /// even the partial file a dropped writer may keep for resuming.
    /// Default: drop, which must leave the previous content as it was.
    fn discard(self: Box<Self>) {}

    /// The limit on how many bytes this upload may still take, when a
    /// layer (a quota) sets one. Writes through [`Write`] obey it
    /// themselves; the transfer engine asks it before moving data into
    /// [`FileWriter::as_file`] directly. Default: none.
    fn budget(&self) -> Option<std::sync::Arc<dyn UploadBudget>> {
        None
    }
}

/// How many more bytes an upload may take (see [`FileWriter::budget`]).
pub trait UploadBudget: Send + Sync + fmt::Debug {
    /// Takes up to `n` more bytes: returns how many may be written now,
    /// 0 when the limit is reached.
    fn take(&self, n: u64) -> u64;

    /// Gives back bytes taken but not written.
    fn give_back(&self, n: u64);
}

/// A user's view of a storage backend, rooted at the user's home.
///
/// Implementations must confine every operation to the root, resolve paths
/// as Unix paths (the session has already normalised them), and never block
/// the async runtime: do blocking work with `tokio::task::spawn_blocking`.
#[async_trait]
pub trait Storage: Send + Sync + fmt::Debug {
    /// Metadata of `path`, following symbolic links that stay inside the root.
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

    /// Where the symbolic link `path` points, as stored in the link.
    /// Default: unsupported (listings then show no target).
    async fn read_link(&self, _path: &VirtualPath) -> StorageResult<Vec<u8>> {
        Err(StorageError::Unsupported)
    }

    /// The entries of the directory `path` (without `.` and `..`).
    async fn list(&self, path: &VirtualPath) -> StorageResult<DirEntries>;

    /// Opens a regular file for reading from byte `offset`.
    async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> StorageResult<Box<dyn FileReader>>;

    /// Opens a file for writing.
    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> StorageResult<Box<dyn FileWriter>>;

    /// Creates a new file with a name that did not exist, in directory `dir`,
    /// starting with `prefix`. Returns its path and a writer.
    async fn create_unique(
        &self,
        dir: &VirtualPath,
        prefix: &[u8],
    ) -> StorageResult<(VirtualPath, Box<dyn FileWriter>)>;

    /// Creates a directory.
    async fn create_dir(&self, path: &VirtualPath) -> StorageResult<()>;

    /// Removes an empty directory.
    async fn remove_dir(&self, path: &VirtualPath) -> StorageResult<()>;

    /// Removes a file (or symbolic link; never a directory).
    async fn remove_file(&self, path: &VirtualPath) -> StorageResult<()>;

    /// Renames `from` to `to`, replacing `to` if it is a file.
    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> StorageResult<()>;

    /// Sets the modification time of a file, in seconds since the Unix
    /// epoch (MFMT). Default: unsupported.
    async fn set_modified(&self, _path: &VirtualPath, _secs: i64) -> StorageResult<()> {
        Err(StorageError::Unsupported)
    }

    /// Sets Unix permission bits (SITE CHMOD). Default: unsupported.
    async fn set_mode(&self, _path: &VirtualPath, _mode: u32) -> StorageResult<()> {
        Err(StorageError::Unsupported)
    }
}

/// Creates the [`Storage`] of each account when it logs in.
#[async_trait]
pub trait StorageFactory: Send + Sync + fmt::Debug {
    /// The storage view for `account`, rooted at its home.
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

/// How a user's tree is put together beyond the home: mounted folders and
/// a quota. See [`Account::storage_settings`](crate::auth::Account).
#[derive(Debug, Clone, Default)]
pub struct StorageSettings {
    /// Folders mounted in the tree.
    pub mounts: Vec<Mount>,
    /// Limits on the home (mounted folders are not counted). `None` uses
    /// the server's default quota.
    pub quota: Option<QuotaLimits>,
}
