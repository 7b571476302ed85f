//! Object storage: files as objects in an S3 bucket (or another OpenDAL
//! service), with what each FTP verb can and cannot promise there in
//! `docs/storage.md` ("Object storage").
//!
//! A path maps to a key: `PREFIX` + the home + the path's components
//! joined by `/` (so `/a/b.txt` of a user whose home is `/alice` is
//! `PREFIX/alice/a/b.txt`). A directory is a common prefix (`a/`), plus
//! a marker object named `a/` when it was made with MKD, so that empty
//! directories show. S3 keys are UTF-8: a name that is not is refused with
//! 553.

mod config;
mod extend;
mod io;
mod rename;
mod s3;

use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use tokio::runtime::Handle;

use self::extend::{ExtendWriter, Source};
use self::io::{dir_info, file_info, map_error, ObjectList, ObjectReader, ObjectWriter};
use self::s3::S3Client;
use super::{
    async_trait, DirEntries, ErrorKind, FileInfo, FileReader, FileWriter, Storage, StorageError,
    StorageFactory, StorageResult, VirtualPath, WriteMode,
};
use crate::auth::Account;

#[cfg(feature = "users-file")]
pub(crate) use config::check_part_size;
pub use config::{ObjectStorageConfig, DEFAULT_LIST_PAGE, DEFAULT_PART_SIZE, DEFAULT_REGION};

/// What the factory takes from an [`ObjectStorageConfig`].
struct Settings {
    prefix: String,
    part_size: usize,
    list_page: usize,
    recursive_dir_rename: bool,
}

/// Permission bits shown for files (objects have none).
const FILE_MODE: u32 = 0o644;

/// Permission bits shown for directories.
const DIR_MODE: u32 = 0o755;

/// S3's longest key, in bytes.
const MAX_KEY: usize = 1024;

/// Gives each account a view of a bucket (or of any OpenDAL service),
/// rooted at the account's home below the configured prefix.
///
/// Made from an [`ObjectStorageConfig`] (S3, tested against SeaweedFS), or
/// from any [`opendal::Operator`] with [`ObjectStorageFactory::from_operator`]
/// (GCS, Azure Blob and the rest of OpenDAL's services: untested, and
/// without APPE and REST+STOR, which need S3's `UploadPartCopy`).
///
/// An account's home is a path below the prefix, from [`Account::home`]
/// (`/` for the whole prefix, `/alice` for `PREFIX/alice/`); its
/// directory marker is made at the first login if the directory does not
/// exist. Clones share the client and its connections.
#[derive(Debug, Clone)]
pub struct ObjectStorageFactory {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    op: opendal::Operator,
    /// For APPE and REST+STOR (S3 only).
    s3: Option<Arc<S3Client>>,
    /// Empty, or ending with `/`.
    prefix: String,
    part_size: usize,
    list_page: usize,
    /// Rename directories object by object, rather than refuse.
    recursive_dir_rename: bool,
}

impl ObjectStorageFactory {
    fn with_parts(op: opendal::Operator, s3: Option<Arc<S3Client>>, config: Settings) -> Self {
        ObjectStorageFactory {
            shared: Arc::new(Shared {
                op,
                s3,
                prefix: config.prefix,
                part_size: config.part_size,
                list_page: config.list_page,
                recursive_dir_rename: config.recursive_dir_rename,
            }),
        }
    }

    /// Storage over any OpenDAL service, from the operator's root, with
    /// the default part and page sizes. Untested beyond S3; APPE and
    /// REST+STOR get 502 (they need S3's server-side part copy), and a
    /// service without multipart writes buffers whole uploads. Directory
    /// renames are refused.
    pub fn from_operator(op: opendal::Operator) -> Self {
        let settings = Settings {
            prefix: String::new(),
            part_size: DEFAULT_PART_SIZE,
            list_page: DEFAULT_LIST_PAGE,
            recursive_dir_rename: false,
        };
        Self::with_parts(op, None, settings)
    }

    /// A view rooted at `home` (below the prefix), whose directory marker
    /// is made if the directory does not exist. Errors: `NotADirectory`
    /// if a file has that name; `NameNotAllowed` for a home that is not
    /// UTF-8; the store's errors.
    pub async fn storage(&self, home: &VirtualPath) -> StorageResult<ObjectStorage> {
        let top = ObjectStorage {
            shared: self.shared.clone(),
            root: self.shared.prefix.clone(),
        };
        if !home.is_root() {
            match top.metadata(home).await {
                Ok(info) if info.is_dir() => {}
                Ok(_) => return Err(ErrorKind::NotADirectory.into()),
                Err(e) if e.is_not_found() => {
                    let marker = top.dir_key(home)?;
                    self.shared
                        .op
                        .create_dir(&marker)
                        .await
                        .map_err(map_error)?;
                }
                Err(e) => return Err(e),
            }
        }
        let root = top.dir_key(home)?;
        Ok(ObjectStorage {
            shared: self.shared.clone(),
            root,
        })
    }

    /// The keys under the prefix with a multipart upload begun and neither
    /// completed nor aborted (the first 1,000). An upload the server could
    /// not abort (it was killed mid-transfer) stays pending and keeps its
    /// parts' space: a bucket lifecycle rule
    /// (`AbortIncompleteMultipartUpload`) clears them. `Unsupported` for a
    /// factory made [`from_operator`](Self::from_operator).
    pub async fn pending_uploads(&self) -> StorageResult<Vec<String>> {
        match &self.shared.s3 {
            Some(s3) => s3.pending_uploads(&self.shared.prefix).await,
            None => Err(StorageError::Unsupported),
        }
    }
}

#[async_trait]
impl StorageFactory for ObjectStorageFactory {
    async fn open(&self, account: &Account) -> StorageResult<Arc<dyn Storage>> {
        let home = VirtualPath::root()
            .resolve(account.home.as_os_str().as_bytes())
            .map_err(|_| StorageError::from(ErrorKind::NameNotAllowed))?;
        Ok(Arc::new(self.storage(&home).await?))
    }
}

/// One account's view of an object store: see [`ObjectStorageFactory`]
/// and `docs/storage.md`.
#[derive(Debug, Clone)]
pub struct ObjectStorage {
    shared: Arc<Shared>,
    /// The key prefix of the view's root: empty, or ending with `/`.
    root: String,
}

fn not_utf8() -> StorageError {
    StorageError::new(
        ErrorKind::NameNotAllowed,
        "Object names must be UTF-8.".to_owned(),
    )
}

impl ObjectStorage {
    /// The key of `path` (a file's; the root's is the root prefix).
    fn key(&self, path: &VirtualPath) -> StorageResult<String> {
        let mut key = self.root.clone();
        for (i, c) in path.components().enumerate() {
            if i > 0 {
                key.push('/');
            }
            key.push_str(std::str::from_utf8(c).map_err(|_| not_utf8())?);
        }
        if key.len() > MAX_KEY {
            return Err(StorageError::new(
                ErrorKind::NameNotAllowed,
                "The path is too long for an object name.".to_owned(),
            ));
        }
        Ok(key)
    }

    /// The key of `path` as a directory (its marker's name, and the prefix
    /// of its entries): ending with `/`, or empty for the bucket's root.
    fn dir_key(&self, path: &VirtualPath) -> StorageResult<String> {
        if path.is_root() {
            return Ok(self.root.clone());
        }
        Ok(self.key(path)? + "/")
    }

    /// The key of `path`, which must not be the root (operations on a
    /// name).
    fn name_key(&self, path: &VirtualPath) -> StorageResult<String> {
        if path.is_root() {
            return Err(ErrorKind::PermissionDenied.into());
        }
        self.key(path)
    }

    fn op(&self) -> &opendal::Operator {
        &self.shared.op
    }

    /// The object `key`, if there is one.
    async fn stat_file(&self, key: &str) -> StorageResult<Option<opendal::Metadata>> {
        match self.op().stat(key).await {
            Ok(meta) if meta.is_file() => Ok(Some(meta)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(map_error(e)),
        }
    }

    /// Whether the directory `dir_key` exists: any key below it (a
    /// listing of one key), else its marker (a HEAD).
    async fn dir_exists(&self, dir_key: &str) -> StorageResult<bool> {
        if dir_key == self.shared.prefix {
            return Ok(true);
        }
        Ok(!self.dir_entries(dir_key, 1).await?.is_empty() || self.has_marker(dir_key).await?)
    }

    async fn has_marker(&self, dir_key: &str) -> StorageResult<bool> {
        match self.op().stat(dir_key).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(map_error(e)),
        }
    }

    /// Up to `limit` paths of the first page below `dir_key`, its marker
    /// included if OpenDAL lists it.
    async fn dir_entries(&self, dir_key: &str, limit: usize) -> StorageResult<Vec<String>> {
        use futures_util::StreamExt;
        let mut lister = self
            .op()
            .lister_with(&lister_path(dir_key))
            .limit(limit)
            .await
            .map_err(map_error)?;
        let mut out = Vec::new();
        while out.len() < limit {
            match lister.next().await {
                Some(entry) => out.push(entry.map_err(map_error)?.path().to_owned()),
                None => break,
            }
        }
        Ok(out)
    }

    /// Renames the directory `from_key` to `to_key`, whose parent exists.
    async fn rename_dir(&self, from_key: &str, to_key: &str) -> StorageResult<()> {
        if !self.shared.recursive_dir_rename {
            return Err(rename::refused());
        }
        let (from_dir, to_dir) = (format!("{from_key}/"), format!("{to_key}/"));
        if to_dir.starts_with(&from_dir) {
            return Err(StorageError::new(
                ErrorKind::PermissionDenied,
                "A directory cannot move into itself.".to_owned(),
            ));
        }
        if self.stat_file(to_key).await?.is_some() {
            return Err(ErrorKind::NotADirectory.into());
        }
        if self.dir_exists(&to_dir).await? {
            return Err(ErrorKind::AlreadyExists.into());
        }
        rename::move_dir(self.op(), &from_dir, &to_dir, self.shared.list_page).await
    }

    /// `Ok` if the parent of `path` is a directory; `NotFound` if missing,
    /// `NotADirectory` for a file.
    async fn check_parent(&self, path: &VirtualPath) -> StorageResult<()> {
        match path.parent() {
            None => Ok(()),
            Some(parent) if parent.is_root() => Ok(()),
            Some(parent) => {
                if self.metadata(&parent).await?.is_dir() {
                    Ok(())
                } else {
                    Err(ErrorKind::NotADirectory.into())
                }
            }
        }
    }
}

/// OpenDAL's path for listing `dir_key` (`/` for the bucket's root).
fn lister_path(dir_key: &str) -> String {
    if dir_key.is_empty() {
        "/".to_owned()
    } else {
        dir_key.to_owned()
    }
}

#[async_trait]
impl Storage for ObjectStorage {
    /// One listing request of at most one key below the root: it needs
    /// the endpoint up, the bucket there and the credentials accepted.
    async fn check_reachable(&self) -> StorageResult<()> {
        self.dir_entries(&self.root, 1).await.map(drop)
    }

    async fn metadata(&self, path: &VirtualPath) -> StorageResult<FileInfo> {
        if path.is_root() {
            return Ok(dir_info(None));
        }
        let key = self.key(path)?;
        if let Some(meta) = self.stat_file(&key).await? {
            return Ok(file_info(&meta));
        }
        if self.dir_exists(&(key + "/")).await? {
            return Ok(dir_info(None));
        }
        Err(ErrorKind::NotFound.into())
    }

    async fn list(&self, path: &VirtualPath) -> StorageResult<DirEntries> {
        let dir = self.dir_key(path)?;
        if !path.is_root() && !self.metadata(path).await?.is_dir() {
            return Err(ErrorKind::NotADirectory.into());
        }
        let dir = lister_path(&dir);
        let lister = self
            .op()
            .lister_with(&dir)
            .limit(self.shared.list_page)
            .await
            .map_err(map_error)?;
        Ok(Box::new(ObjectList {
            rt: Handle::current(),
            lister: Some(lister),
            dir,
        }))
    }

    async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> StorageResult<Box<dyn FileReader>> {
        let key = self.name_key(path)?;
        let Some(meta) = self.stat_file(&key).await? else {
            return Err(self
                .metadata(path)
                .await
                .map_or_else(|e| e, |_| ErrorKind::IsADirectory.into()));
        };
        let size = meta.content_length();
        let mut reader = ObjectReader {
            rt: Handle::current(),
            stream: None,
            chunk: bytes::Bytes::new(),
        };
        if offset >= size {
            return Ok(Box::new(reader));
        }
        let mut open = self.op().reader_with(&key);
        if let Some(etag) = meta.etag() {
            open = open.if_match(etag);
        }
        let mut stream = open
            .await
            .map_err(map_error)?
            .into_bytes_stream(offset..size)
            .await
            .map_err(map_error)?;
        // Send the GET now: the download reads the version there at open.
        use futures_util::StreamExt;
        if let Some(first) = stream.next().await {
            reader.chunk = first.map_err(io::stream_error)?;
            reader.stream = Some(stream);
        }
        Ok(Box::new(reader))
    }

    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> StorageResult<Box<dyn FileWriter>> {
        let key = self.name_key(path)?;
        if self.dir_exists(&format!("{key}/")).await? {
            return Err(ErrorKind::IsADirectory.into());
        }
        self.check_parent(path).await?;
        let shared = &self.shared;
        let offset = match mode {
            WriteMode::Replace => {
                let writer = self
                    .op()
                    .writer_with(&key)
                    .chunk(shared.part_size)
                    .await
                    .map_err(map_error)?;
                return Ok(Box::new(ObjectWriter {
                    rt: Handle::current(),
                    writer: Some(writer),
                    key,
                }));
            }
            WriteMode::Append => None,
            WriteMode::At(n) => Some(n),
        };
        let Some(s3) = &shared.s3 else {
            return Err(StorageError::new(
                ErrorKind::Unsupported,
                "Appending and resuming uploads need S3 storage.".to_owned(),
            ));
        };
        let source = match self.stat_file(&key).await? {
            // The copies are tied to the ETag, so that a changed object
            // fails the upload instead of mixing versions: a store that
            // gives none cannot offer that.
            Some(meta) if meta.etag().is_none_or(str::is_empty) && meta.content_length() > 0 => {
                return Err(StorageError::new(
                    ErrorKind::Unsupported,
                    "This storage gives no ETag: appending and resuming uploads are off."
                        .to_owned(),
                ))
            }
            meta => meta.map(|meta| Source {
                size: meta.content_length(),
                etag: meta.etag().unwrap_or_default().to_owned(),
            }),
        };
        let start = match (offset, &source) {
            (Some(_), None) => return Err(ErrorKind::NotFound.into()),
            (Some(n), Some(s)) if n > s.size => {
                return Err(StorageError::new(
                    ErrorKind::Other,
                    "The restart offset is past the end of the file.".to_owned(),
                ))
            }
            (Some(n), Some(_)) => n,
            (None, s) => s.as_ref().map_or(0, |s| s.size),
        };
        let writer = ExtendWriter::open(
            self.op().clone(),
            s3.clone(),
            key,
            source,
            start,
            shared.part_size,
        )
        .await?;
        Ok(Box::new(writer))
    }

    async fn create_dir(&self, path: &VirtualPath) -> StorageResult<()> {
        if path.is_root() {
            return Err(ErrorKind::AlreadyExists.into());
        }
        let key = self.key(path)?;
        if self.stat_file(&key).await?.is_some() || self.dir_exists(&format!("{key}/")).await? {
            return Err(ErrorKind::AlreadyExists.into());
        }
        self.check_parent(path).await?;
        self.op()
            .create_dir(&format!("{key}/"))
            .await
            .map_err(map_error)
    }

    async fn remove_dir(&self, path: &VirtualPath) -> StorageResult<()> {
        let key = self.name_key(path)?;
        if self.stat_file(&key).await?.is_some() {
            return Err(ErrorKind::NotADirectory.into());
        }
        let dir = format!("{key}/");
        let entries = self.dir_entries(&dir, 2).await?;
        if entries.iter().any(|p| *p != dir) {
            return Err(ErrorKind::DirectoryNotEmpty.into());
        }
        if entries.is_empty() && !self.has_marker(&dir).await? {
            return Err(ErrorKind::NotFound.into());
        }
        self.op().delete(&dir).await.map_err(map_error)
    }

    async fn remove_file(&self, path: &VirtualPath) -> StorageResult<()> {
        let key = self.name_key(path)?;
        if self.stat_file(&key).await?.is_none() {
            return Err(if self.dir_exists(&format!("{key}/")).await? {
                ErrorKind::IsADirectory.into()
            } else {
                ErrorKind::NotFound.into()
            });
        }
        self.op().delete(&key).await.map_err(map_error)
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> StorageResult<()> {
        let from_key = self.name_key(from)?;
        let to_key = self.name_key(to)?;
        let is_file = self.stat_file(&from_key).await?.is_some();
        if !is_file && !self.dir_exists(&format!("{from_key}/")).await? {
            return Err(ErrorKind::NotFound.into());
        }
        if from == to {
            return Ok(());
        }
        self.check_parent(to).await?;
        if !is_file {
            return self.rename_dir(&from_key, &to_key).await;
        }
        if self.dir_exists(&format!("{to_key}/")).await? {
            return Err(ErrorKind::IsADirectory.into());
        }
        // A server-side copy (the target appears whole, in one step), then
        // the source goes.
        self.op()
            .copy(&from_key, &to_key)
            .await
            .map_err(map_error)?;
        self.op().delete(&from_key).await.map_err(|e| {
            StorageError::new(
                map_error(e).kind(),
                "The file was copied to the new name, but the old name could not be removed."
                    .to_owned(),
            )
        })
    }

    async fn set_modified(&self, _path: &VirtualPath, _secs: i64) -> StorageResult<()> {
        Err(StorageError::new(
            ErrorKind::Unsupported,
            "Object storage keeps its own modification times.".to_owned(),
        ))
    }

    async fn set_mode(&self, _path: &VirtualPath, _mode: u32) -> StorageResult<()> {
        Err(StorageError::new(
            ErrorKind::Unsupported,
            "Object storage keeps no permission bits.".to_owned(),
        ))
    }
}
