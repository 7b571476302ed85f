//! A storage backend that keeps everything in memory: the counterpart of
//! aioftp's `MemoryPathIO`.
//!
//! One tree (directories, files, sizes, modification times, permission
//! bits) lives behind one `RwLock`, shared by every session through an
//! `Arc`. Each operation takes the lock for a short, in-memory critical
//! section and never across an `.await`, so the async methods do their work
//! inline. A file's content is an `Arc<Vec<u8>>`: a download holds the
//! version it opened, and an upload never changes bytes a download is
//! reading; a commit swaps in a new version.
//!
//! Uploads are buffered in their writer and applied when they commit, so
//! every [`WriteMode`] is atomic here, `Append` and `At` included, and a
//! writer dropped without a commit leaves nothing behind (not even a
//! partial new file).
//!
//! The tree is bounded: the bytes of all files, plus the bytes that uploads
//! in flight hold in their buffers, never pass the capacity. A write that
//! would pass it fails with [`ErrorKind::StorageFull`] (452) and the upload
//! commits nothing. While a STOR replaces a file, the old and the new
//! content both count, since both are held until the commit. Names and
//! directories are not counted; give write access to people you trust, or
//! put a quota layer in front.
//!
//! Permission bits are kept and listed (SITE CHMOD changes them) but not
//! enforced: the account's permission letters decide what a user may do.
//! There are no symbolic links.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io::{self, Read, Write};
use std::ops::Bound;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{
    async_trait, DirEntries, DirEntry, ErrorKind, FileInfo, FileReader, FileWriter, Storage,
    StorageError, StorageFactory, StorageResult, VirtualPath, WriteMode,
};
use crate::auth::Account;

/// Permission bits of a new file.
const FILE_MODE: u32 = 0o644;

/// Permission bits of a new directory.
const DIR_MODE: u32 = 0o755;

/// Entries a listing copies out per turn of the lock: few enough that a
/// huge directory never holds the lock long, or is copied whole.
const LIST_BATCH: usize = 128;

/// Attempts at finding a free name for STOU.
const UNIQUE_NAME_ATTEMPTS: usize = 50;

/// The in-memory tree shared by every session, and the [`StorageFactory`]
/// that gives each account a view of it.
///
/// An account's home is a path inside the tree, taken from
/// [`Account::home`] as bytes (`/` for the whole tree, `/alice` for a
/// directory of its own; a relative home is taken from `/`). The home
/// directory, and its parents, are created at the account's first login if
/// missing; a home where a file stands refuses the login (530). Homes may
/// nest: a user whose home is `/` sees every other user's files.
///
/// Clones share the tree. Keep one to fill the tree before serving, or to
/// look at it afterwards (see [`MemoryStorageFactory::storage`]).
///
/// ```
/// use std::sync::Arc;
/// use ferroftpd::auth::{MemoryAuthorizer, Permissions};
/// use ferroftpd::storage::MemoryStorageFactory;
/// # fn main() -> Result<(), ferroftpd::Error> {
/// let users = MemoryAuthorizer::new();
/// users.add_user("alice", "secret", "/alice", Permissions::ALL)?;
/// users.add_anonymous("/pub", Permissions::READ)?;
/// let tree = MemoryStorageFactory::new(64 << 20); // 64 MiB
/// let server = ferroftpd::Server::builder()
///     .authorizer(Arc::new(users))
///     .storage(Arc::new(tree.clone()))
///     .build()?;
/// # let _ = server; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStorageFactory {
    shared: Arc<Shared>,
}

impl MemoryStorageFactory {
    /// An empty tree that holds at most `capacity` bytes of file content.
    pub fn new(capacity: u64) -> Self {
        MemoryStorageFactory {
            shared: Arc::new(Shared {
                tree: RwLock::new(Node::Dir(Dir::new(0, now()))),
                space: Mutex::new(Space::default()),
                capacity,
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// A view of the tree rooted at `home`, which is created (with its
    /// parents) if missing. Errors: `NotADirectory` if a file stands on
    /// the way.
    pub fn storage(&self, home: &VirtualPath) -> StorageResult<MemoryStorage> {
        self.shared.make_dirs(home)?;
        Ok(MemoryStorage {
            shared: self.shared.clone(),
            home: home.clone(),
        })
    }

    /// The most bytes of file content the tree holds.
    pub fn capacity(&self) -> u64 {
        self.shared.capacity
    }

    /// The bytes of file content stored now (not counting uploads in
    /// flight).
    pub fn used(&self) -> u64 {
        self.shared.space().used
    }
}

#[async_trait]
impl StorageFactory for MemoryStorageFactory {
    async fn open(&self, account: &Account) -> StorageResult<Arc<dyn Storage>> {
        let home = VirtualPath::root()
            .resolve(account.home.as_os_str().as_bytes())
            .map_err(|_| StorageError::from(ErrorKind::NameNotAllowed))?;
        Ok(Arc::new(self.storage(&home)?))
    }
}

/// A view of an in-memory tree, rooted at a directory of it: the
/// counterpart of aioftp's `MemoryPathIO`.
///
/// The tree holds directories and files with their sizes, modification
/// times and permission bits (kept and listed, settable with SITE CHMOD and
/// MFMT, not enforced); there are no symbolic links. It is bounded: the
/// bytes of all files, plus those that uploads in flight hold, never pass
/// its capacity, and a write that would fails with
/// [`ErrorKind::StorageFull`] (452), the upload committing nothing. While a
/// STOR replaces a file, both versions count. Names and directories are
/// not counted.
///
/// Every upload, APPE and REST+STOR included, is buffered in its writer and
/// applied at the commit, in one step; a writer dropped without a commit
/// leaves nothing. A download reads the version it opened. One lock guards
/// the tree, held briefly and never across an `.await`. See
/// `docs/storage.md` and [`MemoryStorageFactory`], which shares one tree
/// between accounts.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::io::{Read, Write};
/// use ferroftpd::storage::{MemoryStorage, Storage, VirtualPath, WriteMode};
/// let storage = MemoryStorage::new(1 << 20);
/// let path = VirtualPath::root().resolve(b"/hello.txt").unwrap();
/// let mut writer = storage.open_write(&path, WriteMode::Replace).await.unwrap();
/// writer.write_all(b"Hello").unwrap();
/// writer.commit().unwrap();
/// let mut text = String::new();
/// storage.open_read(&path, 0).await.unwrap().read_to_string(&mut text).unwrap();
/// assert_eq!(text, "Hello");
/// assert_eq!(storage.used(), 5);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStorage {
    shared: Arc<Shared>,
    home: VirtualPath,
}

impl MemoryStorage {
    /// A new, empty tree of at most `capacity` bytes, seen from its root.
    /// For a tree shared by several accounts, use [`MemoryStorageFactory`].
    pub fn new(capacity: u64) -> Self {
        MemoryStorage {
            shared: MemoryStorageFactory::new(capacity).shared,
            home: VirtualPath::root(),
        }
    }

    /// Where this view is rooted in the tree.
    pub fn home(&self) -> &VirtualPath {
        &self.home
    }

    /// The most bytes of file content the whole tree holds.
    pub fn capacity(&self) -> u64 {
        self.shared.capacity
    }

    /// The bytes of file content stored in the whole tree now.
    pub fn used(&self) -> u64 {
        self.shared.space().used
    }

    /// The components of `path` from the tree's root.
    fn components<'a>(&'a self, path: &'a VirtualPath) -> Vec<&'a [u8]> {
        self.home.components().chain(path.components()).collect()
    }

    /// The parent directory of `path` (from the tree's root) and its name.
    /// The view's root has no name to act on.
    fn split<'a>(&'a self, path: &'a VirtualPath) -> StorageResult<(Vec<&'a [u8]>, &'a [u8])> {
        let mut components = self.components(path);
        match (path.is_root(), components.pop()) {
            (false, Some(name)) => Ok((components, name)),
            _ => Err(ErrorKind::PermissionDenied.into()),
        }
    }
}

/// Everything the views of one tree share.
struct Shared {
    /// The root directory: always a [`Node::Dir`].
    tree: RwLock<Node>,
    /// Taken after `tree` when both are needed, never before.
    space: Mutex<Space>,
    capacity: u64,
    next_id: AtomicU64,
}

#[derive(Debug, Default)]
struct Space {
    /// Bytes of file content in the tree.
    used: u64,
    /// Bytes held by the buffers of uploads in flight.
    reserved: u64,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTree")
            .field("capacity", &self.capacity)
            .field("used", &self.space().used)
            .finish_non_exhaustive()
    }
}

enum Node {
    File(File),
    Dir(Dir),
}

struct File {
    data: Arc<Vec<u8>>,
    meta: Meta,
}

struct Dir {
    entries: BTreeMap<Vec<u8>, Node>,
    meta: Meta,
}

#[derive(Clone, Copy)]
struct Meta {
    mode: u32,
    modified: i64,
    /// For the MLSx `unique` fact.
    id: u64,
}

impl Dir {
    fn new(id: u64, modified: i64) -> Self {
        Dir {
            entries: BTreeMap::new(),
            meta: Meta {
                mode: DIR_MODE,
                modified,
                id,
            },
        }
    }
}

impl File {
    fn new(data: Vec<u8>, mode: u32, id: u64, modified: i64) -> Self {
        File {
            data: Arc::new(data),
            meta: Meta { mode, modified, id },
        }
    }
}

impl Node {
    fn info(&self) -> FileInfo {
        match self {
            Node::File(f) => FileInfo::file(len(&f.data), f.meta.modified)
                .with_mode(f.meta.mode)
                .with_unique(0, f.meta.id),
            Node::Dir(d) => FileInfo::dir(d.meta.modified)
                .with_mode(d.meta.mode)
                .with_unique(0, d.meta.id),
        }
    }

    fn meta_mut(&mut self) -> &mut Meta {
        match self {
            Node::File(f) => &mut f.meta,
            Node::Dir(d) => &mut d.meta,
        }
    }
}

fn len(data: &[u8]) -> u64 {
    u64::try_from(data.len()).unwrap_or(u64::MAX)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The node at `path`, from `node`.
fn walk<'t, 'p>(
    mut node: &'t Node,
    path: impl IntoIterator<Item = &'p [u8]>,
) -> StorageResult<&'t Node> {
    for name in path {
        node = match node {
            Node::Dir(d) => d.entries.get(name).ok_or(ErrorKind::NotFound)?,
            Node::File(_) => return Err(ErrorKind::NotADirectory.into()),
        };
    }
    Ok(node)
}

fn walk_mut<'t, 'p>(
    mut node: &'t mut Node,
    path: impl IntoIterator<Item = &'p [u8]>,
) -> StorageResult<&'t mut Node> {
    for name in path {
        node = match node {
            Node::Dir(d) => d.entries.get_mut(name).ok_or(ErrorKind::NotFound)?,
            Node::File(_) => return Err(ErrorKind::NotADirectory.into()),
        };
    }
    Ok(node)
}

fn dir<'t, 'p>(node: &'t Node, path: impl IntoIterator<Item = &'p [u8]>) -> StorageResult<&'t Dir> {
    match walk(node, path)? {
        Node::Dir(d) => Ok(d),
        Node::File(_) => Err(ErrorKind::NotADirectory.into()),
    }
}

fn dir_mut<'t, 'p>(
    node: &'t mut Node,
    path: impl IntoIterator<Item = &'p [u8]>,
) -> StorageResult<&'t mut Dir> {
    match walk_mut(node, path)? {
        Node::Dir(d) => Ok(d),
        Node::File(_) => Err(ErrorKind::NotADirectory.into()),
    }
}

fn full_error() -> StorageError {
    ErrorKind::StorageFull.into()
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, Node> {
        self.tree.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Node> {
        self.tree.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn space(&self) -> MutexGuard<'_, Space> {
        self.space.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Holds `n` more bytes for an upload's buffer, if they fit.
    fn reserve(&self, n: u64) -> StorageResult<()> {
        let mut space = self.space();
        let total = space.used.saturating_add(space.reserved).saturating_add(n);
        if total > self.capacity {
            return Err(full_error());
        }
        space.reserved += n;
        Ok(())
    }

    fn release(&self, n: u64) {
        let mut space = self.space();
        space.reserved = space.reserved.saturating_sub(n);
    }

    /// A file of `old` bytes becomes one of `new` bytes, made from an
    /// upload that held `reserved` bytes: fails, changing nothing, if the
    /// tree would pass its capacity; otherwise the reservation ends.
    fn resize(&self, old: u64, new: u64, reserved: u64) -> StorageResult<()> {
        let mut space = self.space();
        let others = space.reserved.saturating_sub(reserved);
        let used = space.used.saturating_sub(old).saturating_add(new);
        if used.saturating_add(others) > self.capacity {
            return Err(full_error());
        }
        space.used = used;
        space.reserved = others;
        Ok(())
    }

    fn freed(&self, n: u64) {
        let mut space = self.space();
        space.used = space.used.saturating_sub(n);
    }

    /// Creates `path` and its parents as directories where missing.
    fn make_dirs(&self, path: &VirtualPath) -> StorageResult<()> {
        if dir(&self.read(), path.components()).is_ok() {
            return Ok(());
        }
        let now = now();
        let mut tree = self.write();
        let mut node = &mut *tree;
        for name in path.components() {
            let Node::Dir(d) = node else {
                return Err(ErrorKind::NotADirectory.into());
            };
            if !d.entries.contains_key(name) {
                d.meta.modified = now;
            }
            node = d
                .entries
                .entry(name.to_vec())
                .or_insert_with(|| Node::Dir(Dir::new(self.id(), now)));
        }
        match node {
            Node::Dir(_) => Ok(()),
            Node::File(_) => Err(ErrorKind::NotADirectory.into()),
        }
    }

    /// Applies an upload: `data` goes into `name` in directory `parent` as
    /// `mode` says, all of it or nothing.
    fn commit(
        &self,
        parent: &[Vec<u8>],
        name: &[u8],
        mode: WriteMode,
        data: Vec<u8>,
        reserved: u64,
    ) -> StorageResult<()> {
        let now = now();
        let size = len(&data);
        let mut tree = self.write();
        let dir = dir_mut(&mut tree, parent.iter().map(Vec::as_slice))?;
        let (old, new) = match (dir.entries.get(name), mode) {
            (Some(Node::Dir(_)), _) => return Err(ErrorKind::IsADirectory.into()),
            // Removed since the upload began.
            (None, WriteMode::At(_)) => return Err(ErrorKind::NotFound.into()),
            (None, _) => (0, size),
            (Some(Node::File(f)), WriteMode::Replace) => (len(&f.data), size),
            (Some(Node::File(f)), WriteMode::Append) => {
                (len(&f.data), len(&f.data).saturating_add(size))
            }
            (Some(Node::File(f)), WriteMode::At(offset)) => {
                (len(&f.data), len(&f.data).max(offset.saturating_add(size)))
            }
        };
        let new_len =
            usize::try_from(new).map_err(|_| StorageError::from(ErrorKind::FileTooLarge))?;
        self.resize(old, new, reserved)?;
        match (dir.entries.get_mut(name), mode) {
            (Some(Node::File(f)), WriteMode::Replace) => {
                // A new version; downloads keep the one they opened.
                f.data = Arc::new(data);
                f.meta.modified = now;
                f.meta.id = self.id();
                return Ok(());
            }
            (Some(Node::File(f)), WriteMode::Append) => {
                // Copies only if a download holds the current version.
                Arc::make_mut(&mut f.data).extend_from_slice(&data);
                f.meta.modified = now;
                return Ok(());
            }
            (Some(Node::File(f)), WriteMode::At(offset)) => {
                let content = Arc::make_mut(&mut f.data);
                // The old size is at least the offset (the session checks
                // it), unless the file was cut meanwhile: then as pwrite,
                // zeros fill the gap.
                content.resize(new_len, 0);
                let start = new_len.min(usize::try_from(offset).unwrap_or(usize::MAX));
                let end = new_len.min(start.saturating_add(data.len()));
                content[start..end].copy_from_slice(&data[..end - start]);
                f.meta.modified = now;
                return Ok(());
            }
            _ => {}
        }
        let file = File::new(data, FILE_MODE, self.id(), now);
        dir.entries.insert(name.to_vec(), Node::File(file));
        dir.meta.modified = now;
        Ok(())
    }

    /// Removes the empty file `id` that STOU created as `name`, if it is
    /// still there and still empty.
    fn remove_placeholder(&self, parent: &[Vec<u8>], name: &[u8], id: u64) {
        let mut tree = self.write();
        let Ok(dir) = dir_mut(&mut tree, parent.iter().map(Vec::as_slice)) else {
            return;
        };
        if let Some(Node::File(f)) = dir.entries.get(name) {
            if f.meta.id == id && f.data.is_empty() {
                dir.entries.remove(name);
                dir.meta.modified = now();
            }
        }
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    /// The tree is in this process: reachable as long as the home is
    /// there (a user's home can be removed by another user above it).
    async fn check_reachable(&self) -> StorageResult<()> {
        dir(
            &self.shared.read(),
            self.components(&VirtualPath::root()).iter().copied(),
        )
        .map(drop)
    }

    async fn metadata(&self, path: &VirtualPath) -> StorageResult<FileInfo> {
        Ok(walk(&self.shared.read(), self.components(path))?.info())
    }

    async fn list(&self, path: &VirtualPath) -> StorageResult<DirEntries> {
        let components = self.components(path);
        dir(&self.shared.read(), components.iter().copied())?;
        Ok(Box::new(Listing {
            shared: self.shared.clone(),
            dir: components.into_iter().map(<[u8]>::to_vec).collect(),
            after: None,
            batch: VecDeque::new(),
            done: false,
        }))
    }

    async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> StorageResult<Box<dyn FileReader>> {
        match walk(&self.shared.read(), self.components(path))? {
            Node::File(f) => {
                let pos = usize::try_from(offset).unwrap_or(usize::MAX);
                Ok(Box::new(MemoryReader {
                    pos: pos.min(f.data.len()),
                    data: f.data.clone(),
                }))
            }
            Node::Dir(_) => Err(ErrorKind::IsADirectory.into()),
        }
    }

    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> StorageResult<Box<dyn FileWriter>> {
        let (parent, name) = self.split(path)?;
        {
            let tree = self.shared.read();
            let target = dir(&tree, parent.iter().copied())?;
            match (target.entries.get(name), mode) {
                (Some(Node::Dir(_)), _) => return Err(ErrorKind::IsADirectory.into()),
                (None, WriteMode::At(_)) => return Err(ErrorKind::NotFound.into()),
                _ => {}
            }
        }
        Ok(Box::new(MemoryWriter::new(
            self.shared.clone(),
            &parent,
            name,
            mode,
            None,
        )))
    }

    async fn create_unique(
        &self,
        dir: &VirtualPath,
        prefix: &[u8],
    ) -> StorageResult<(VirtualPath, Box<dyn FileWriter>)> {
        if prefix.contains(&b'/') {
            return Err(ErrorKind::NameNotAllowed.into());
        }
        let parent = self.components(dir);
        let now = now();
        let mut tree = self.shared.write();
        let d = dir_mut(&mut tree, parent.iter().copied())?;
        for _ in 0..UNIQUE_NAME_ATTEMPTS {
            let mut name = prefix.to_vec();
            name.push(b'.');
            name.extend(random_suffix());
            if d.entries.contains_key(&name) {
                continue;
            }
            let path = dir
                .join(&name)
                .map_err(|_| StorageError::from(ErrorKind::NameNotAllowed))?;
            // An empty file holds the name until the commit; a writer
            // dropped without one removes it.
            let id = self.shared.id();
            let file = File::new(Vec::new(), FILE_MODE, id, now);
            d.entries.insert(name.clone(), Node::File(file));
            d.meta.modified = now;
            drop(tree);
            let writer = MemoryWriter::new(
                self.shared.clone(),
                &parent,
                &name,
                WriteMode::Replace,
                Some(id),
            );
            return Ok((path, Box::new(writer)));
        }
        Err(StorageError::new(
            ErrorKind::AlreadyExists,
            Some("No unique file name found.".to_owned()),
        ))
    }

    async fn create_dir(&self, path: &VirtualPath) -> StorageResult<()> {
        let (parent, name) = self.split(path)?;
        let now = now();
        let mut tree = self.shared.write();
        let dir = dir_mut(&mut tree, parent)?;
        if dir.entries.contains_key(name) {
            return Err(ErrorKind::AlreadyExists.into());
        }
        let new = Dir::new(self.shared.id(), now);
        dir.entries.insert(name.to_vec(), Node::Dir(new));
        dir.meta.modified = now;
        Ok(())
    }

    async fn remove_dir(&self, path: &VirtualPath) -> StorageResult<()> {
        let (parent, name) = self.split(path)?;
        let mut tree = self.shared.write();
        let dir = dir_mut(&mut tree, parent)?;
        match dir.entries.get(name) {
            None => return Err(ErrorKind::NotFound.into()),
            Some(Node::File(_)) => return Err(ErrorKind::NotADirectory.into()),
            Some(Node::Dir(d)) if !d.entries.is_empty() => {
                return Err(ErrorKind::DirectoryNotEmpty.into())
            }
            Some(Node::Dir(_)) => {}
        }
        dir.entries.remove(name);
        dir.meta.modified = now();
        Ok(())
    }

    async fn remove_file(&self, path: &VirtualPath) -> StorageResult<()> {
        let (parent, name) = self.split(path)?;
        let mut tree = self.shared.write();
        let dir = dir_mut(&mut tree, parent)?;
        let size = match dir.entries.get(name) {
            None => return Err(ErrorKind::NotFound.into()),
            Some(Node::Dir(_)) => return Err(ErrorKind::IsADirectory.into()),
            Some(Node::File(f)) => len(&f.data),
        };
        dir.entries.remove(name);
        dir.meta.modified = now();
        self.shared.freed(size);
        Ok(())
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> StorageResult<()> {
        let (from_parent, from_name) = self.split(from)?;
        let (to_parent, to_name) = self.split(to)?;
        let from_full = self.components(from);
        let to_full = self.components(to);
        let mut tree = self.shared.write();
        let moving_dir = match dir(&tree, from_parent.iter().copied())?
            .entries
            .get(from_name)
        {
            None => return Err(ErrorKind::NotFound.into()),
            Some(node) => matches!(node, Node::Dir(_)),
        };
        let target = dir(&tree, to_parent.iter().copied())?;
        if from_full == to_full {
            return Ok(());
        }
        if moving_dir && to_full.starts_with(&from_full) {
            return Err(StorageError::new(
                ErrorKind::Other,
                Some("Cannot move a directory into itself.".to_owned()),
            ));
        }
        let replaced = match (target.entries.get(to_name), moving_dir) {
            (None, _) => 0,
            (Some(Node::File(f)), false) => len(&f.data),
            (Some(Node::File(_)), true) => return Err(ErrorKind::NotADirectory.into()),
            (Some(Node::Dir(_)), false) => return Err(ErrorKind::IsADirectory.into()),
            (Some(Node::Dir(d)), true) if !d.entries.is_empty() => {
                return Err(ErrorKind::DirectoryNotEmpty.into())
            }
            (Some(Node::Dir(_)), true) => 0,
        };
        let now = now();
        let source = dir_mut(&mut tree, from_parent.iter().copied())?;
        let Some(node) = source.entries.remove(from_name) else {
            return Err(ErrorKind::NotFound.into());
        };
        source.meta.modified = now;
        // The target's parent cannot lie inside what moved (checked above),
        // so it is still there.
        match dir_mut(&mut tree, to_parent.iter().copied()) {
            Ok(target) => {
                target.entries.insert(to_name.to_vec(), node);
                target.meta.modified = now;
            }
            Err(e) => {
                if let Ok(source) = dir_mut(&mut tree, from_parent.iter().copied()) {
                    source.entries.insert(from_name.to_vec(), node);
                }
                return Err(e);
            }
        }
        drop(tree);
        self.shared.freed(replaced);
        Ok(())
    }

    fn can_set_modified(&self) -> bool {
        true
    }

    async fn set_modified(&self, path: &VirtualPath, secs: i64) -> StorageResult<()> {
        let mut tree = self.shared.write();
        walk_mut(&mut tree, self.components(path))?
            .meta_mut()
            .modified = secs;
        Ok(())
    }

    async fn set_mode(&self, path: &VirtualPath, mode: u32) -> StorageResult<()> {
        let mut tree = self.shared.write();
        walk_mut(&mut tree, self.components(path))?.meta_mut().mode = mode & 0o7777;
        Ok(())
    }
}

/// Eight random lowercase letters and digits.
fn random_suffix() -> impl Iterator<Item = u8> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..8).map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())])
}

/// A directory listing that copies a batch of entries at a time, in name
/// order, resuming after the last name it returned: entries added behind
/// it are missed, those ahead are seen, none twice. If the directory goes
/// away, the listing ends.
struct Listing {
    shared: Arc<Shared>,
    dir: Vec<Vec<u8>>,
    after: Option<Vec<u8>>,
    batch: VecDeque<DirEntry>,
    done: bool,
}

impl Listing {
    fn fill(&mut self) {
        let tree = self.shared.read();
        let Ok(listed) = dir(&tree, self.dir.iter().map(Vec::as_slice)) else {
            self.done = true;
            return;
        };
        let start = match &self.after {
            Some(name) => Bound::Excluded(name.as_slice()),
            None => Bound::Unbounded,
        };
        let entries = listed
            .entries
            .range::<[u8], _>((start, Bound::Unbounded))
            .take(LIST_BATCH);
        for (name, node) in entries {
            self.batch.push_back(DirEntry {
                name: name.clone(),
                info: node.info(),
                link_target: None,
                resolved: None,
            });
        }
        drop(tree);
        match self.batch.back() {
            Some(last) => self.after = Some(last.name.clone()),
            None => self.done = true,
        }
    }
}

impl Iterator for Listing {
    type Item = StorageResult<DirEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.batch.is_empty() && !self.done {
            self.fill();
        }
        self.batch.pop_front().map(Ok)
    }
}

/// A download: the version of the file that was current when it opened.
struct MemoryReader {
    data: Arc<Vec<u8>>,
    pos: usize,
}

impl fmt::Debug for MemoryReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReader")
            .field("len", &self.data.len())
            .field("pos", &self.pos)
            .finish()
    }
}

impl Read for MemoryReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl FileReader for MemoryReader {}

/// An upload, buffered until its commit.
struct MemoryWriter {
    shared: Arc<Shared>,
    parent: Vec<Vec<u8>>,
    name: Vec<u8>,
    mode: WriteMode,
    buf: Vec<u8>,
    /// Bytes of `buf` counted against the capacity.
    reserved: u64,
    /// The empty file that holds a STOU name, until the commit.
    placeholder: Option<u64>,
}

impl MemoryWriter {
    fn new(
        shared: Arc<Shared>,
        parent: &[&[u8]],
        name: &[u8],
        mode: WriteMode,
        placeholder: Option<u64>,
    ) -> Self {
        MemoryWriter {
            shared,
            parent: parent.iter().map(|c| c.to_vec()).collect(),
            name: name.to_vec(),
            mode,
            buf: Vec::new(),
            reserved: 0,
            placeholder,
        }
    }
}

impl fmt::Debug for MemoryWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryWriter")
            .field("name", &String::from_utf8_lossy(&self.name))
            .field("mode", &self.mode)
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl Write for MemoryWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = len(data);
        self.shared.reserve(n)?;
        self.reserved += n;
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl FileWriter for MemoryWriter {
    /// Nothing reaches the tree before the commit, whatever the mode.
    fn abandon(self: Box<Self>) -> super::Remains {
        super::Remains::Nothing
    }

    fn commit(mut self: Box<Self>) -> StorageResult<()> {
        let data = std::mem::take(&mut self.buf);
        self.shared
            .commit(&self.parent, &self.name, self.mode, data, self.reserved)?;
        // The reservation became content; the placeholder, this file.
        self.reserved = 0;
        self.placeholder = None;
        Ok(())
    }
}

impl Drop for MemoryWriter {
    fn drop(&mut self) {
        if self.reserved > 0 {
            self.shared.release(self.reserved);
        }
        if let Some(id) = self.placeholder.take() {
            self.shared.remove_placeholder(&self.parent, &self.name, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Permissions;

    fn path(p: &str) -> VirtualPath {
        VirtualPath::root().resolve(p.as_bytes()).unwrap()
    }

    async fn upload(s: &MemoryStorage, p: &str, mode: WriteMode, data: &[u8]) -> StorageResult<()> {
        let mut w = s.open_write(&path(p), mode).await?;
        w.write_all(data)?;
        w.commit()
    }

    async fn content(s: &MemoryStorage, p: &str) -> StorageResult<Vec<u8>> {
        let mut out = Vec::new();
        s.open_read(&path(p), 0).await?.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Nothing reaches the tree before a commit, so an abandoned upload
    /// of any mode leaves nothing, and says so.
    #[tokio::test]
    async fn abandoned_uploads_leave_nothing_and_say_so() {
        let s = MemoryStorage::new(1 << 20);
        upload(&s, "/a", WriteMode::Replace, b"old").await.unwrap();
        for (p, mode) in [
            ("/a", WriteMode::Replace),
            ("/a", WriteMode::Append),
            ("/a", WriteMode::At(1)),
            ("/new", WriteMode::Replace),
        ] {
            let mut w = s.open_write(&path(p), mode).await.unwrap();
            w.write_all(b"partial").unwrap();
            assert_eq!(w.abandon(), super::super::Remains::Nothing, "{p} {mode:?}");
        }
        assert_eq!(content(&s, "/a").await.unwrap(), b"old");
        assert!(s.metadata(&path("/new")).await.unwrap_err().is_not_found());
        assert_eq!(s.used(), 3);
    }

    #[tokio::test]
    async fn uploads_past_the_capacity_fail_with_452_and_commit_nothing() {
        let s = MemoryStorage::new(10);
        upload(&s, "/a", WriteMode::Replace, b"123456")
            .await
            .unwrap();
        assert_eq!(s.used(), 6);

        // A new file that does not fit: refused at the write, absent after.
        let e = upload(&s, "/b", WriteMode::Replace, b"12345")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::StorageFull);
        assert_eq!(e.kind().code(), 452);
        assert!(s.metadata(&path("/b")).await.unwrap_err().is_not_found());

        // APPE past the bound: the file keeps what it had.
        let e = upload(&s, "/a", WriteMode::Append, b"12345")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::StorageFull);
        assert_eq!(content(&s, "/a").await.unwrap(), b"123456");
        assert_eq!(s.used(), 6);

        // While a STOR replaces a file both versions count: 6 + 4 fits.
        upload(&s, "/a", WriteMode::Replace, b"abcd").await.unwrap();
        assert_eq!(s.used(), 4);

        // Uploads in flight count too, and give their room back when
        // dropped.
        let mut first = s.open_write(&path("/c"), WriteMode::Replace).await.unwrap();
        first.write_all(b"1234").unwrap();
        let mut second = s.open_write(&path("/d"), WriteMode::Replace).await.unwrap();
        let e = StorageError::Io(second.write_all(b"123").unwrap_err());
        assert_eq!(e.kind(), ErrorKind::StorageFull);
        drop(second);
        drop(first);
        upload(&s, "/d", WriteMode::Replace, b"123456")
            .await
            .unwrap();
        assert_eq!(s.used(), 10);

        // Exactly full; removing frees the room.
        assert!(upload(&s, "/e", WriteMode::Replace, b"x").await.is_err());
        s.remove_file(&path("/d")).await.unwrap();
        assert_eq!(s.used(), 4);
        upload(&s, "/e", WriteMode::Replace, b"x").await.unwrap();
        // A rename over a file frees the replaced content.
        s.rename(&path("/e"), &path("/a")).await.unwrap();
        assert_eq!(s.used(), 1);
    }

    #[tokio::test]
    async fn homes_are_created_at_login_and_share_one_tree() {
        let tree = MemoryStorageFactory::new(1 << 20);
        let account = Account::new("alice", "/home/alice", Permissions::ALL);
        let alice = tree.open(&account).await.unwrap();
        let mut w = alice
            .open_write(&path("/notes.txt"), WriteMode::Replace)
            .await
            .unwrap();
        w.write_all(b"hi").unwrap();
        w.commit().unwrap();
        // The same tree from the root, and from a relative home.
        let root = tree.storage(&VirtualPath::root()).unwrap();
        assert_eq!(
            content(&root, "/home/alice/notes.txt").await.unwrap(),
            b"hi"
        );
        let relative = Account::new("bob", "home/alice", Permissions::ALL);
        let again = tree.open(&relative).await.unwrap();
        assert!(again.metadata(&path("/notes.txt")).await.unwrap().is_file());
        // The view's root has no name to remove or rename.
        assert!(alice.remove_dir(&VirtualPath::root()).await.is_err());
        assert!(alice
            .rename(&VirtualPath::root(), &path("/x"))
            .await
            .is_err());
        // A file where the home should be refuses the login.
        let blocked = Account::new("eve", "/home/alice/notes.txt", Permissions::ALL);
        let e = tree.open(&blocked).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotADirectory);
        assert_eq!(tree.used(), 2);
    }

    #[tokio::test]
    async fn unique_names_are_held_until_commit_or_drop() {
        let s = MemoryStorage::new(1 << 20);
        let (p, w) = s.create_unique(&VirtualPath::root(), b"up").await.unwrap();
        assert_eq!(s.metadata(&p).await.unwrap().size, 0);
        drop(w);
        assert!(s.metadata(&p).await.unwrap_err().is_not_found());
        let (p, mut w) = s.create_unique(&VirtualPath::root(), b"up").await.unwrap();
        w.write_all(b"data").unwrap();
        w.commit().unwrap();
        assert_eq!(
            content(&s, std::str::from_utf8(p.as_bytes()).unwrap())
                .await
                .unwrap(),
            b"data"
        );
        assert!(s.create_unique(&VirtualPath::root(), b"a/b").await.is_err());
    }
}
