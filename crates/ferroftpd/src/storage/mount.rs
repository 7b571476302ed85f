//! Virtual folders: one user's tree made of several storages, each mounted
//! at a path (SFTPGo's virtual folders).
//!
//! A path is served by the storage mounted at its longest mounted prefix,
//! with the prefix taken off; anything else by the root storage. Listings
//! of a directory show the mount points directly in it, as directories.
//! Confinement holds per mount: each storage keeps its own root.
//!
//! A rename between two storages is refused with 550 ("Cannot move across
//! folders."), as `rename(2)` refuses one across filesystems: a copy and a
//! delete would not be atomic, and a client that wants one can download and
//! upload. Mount points themselves cannot be renamed or removed.

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    DirEntries, DirEntry, ErrorKind, FileInfo, FileReader, FileWriter, Storage, StorageError,
    StorageResult, VirtualPath, WriteMode,
};

/// A user's tree: a root storage with others mounted in it.
#[derive(Debug)]
pub struct MountStorage {
    root: Arc<dyn Storage>,
    /// Mount points, deepest first, so the first prefix that matches is
    /// the longest.
    mounts: Vec<(VirtualPath, Arc<dyn Storage>)>,
}

impl MountStorage {
    /// `root`, with each `(path, storage)` of `mounts` mounted at `path`.
    /// A mount at `/` replaces the root.
    pub fn new(root: Arc<dyn Storage>, mounts: Vec<(VirtualPath, Arc<dyn Storage>)>) -> Self {
        let mut mounts = mounts;
        mounts.sort_by_key(|(path, _)| std::cmp::Reverse(path.as_bytes().len()));
        MountStorage { root, mounts }
    }

    /// The storage that serves `path`, the path inside it, and where that
    /// storage is mounted (`None` for the root).
    fn route(&self, path: &VirtualPath) -> (&Arc<dyn Storage>, VirtualPath, Option<usize>) {
        for (i, (point, storage)) in self.mounts.iter().enumerate() {
            if path.starts_with(point) {
                let rest = &path.as_bytes()[point.as_bytes().len()..];
                let inner = VirtualPath::root()
                    .resolve(if rest.is_empty() { b"/" } else { rest })
                    .unwrap_or_else(|_| VirtualPath::root());
                return (storage, inner, Some(i));
            }
        }
        (&self.root, path.clone(), None)
    }

    fn is_mount_point(&self, path: &VirtualPath) -> bool {
        self.mounts.iter().any(|(point, _)| point == path)
    }

    fn refuse_mount_point(&self, path: &VirtualPath) -> StorageResult<()> {
        if self.is_mount_point(path) {
            return Err(StorageError::new(
                ErrorKind::PermissionDenied,
                "A mounted folder cannot be changed this way.".to_owned(),
            ));
        }
        Ok(())
    }
}

impl MountStorage {
    /// A directory that holds a mount point can neither move away from it
    /// nor go.
    fn refuse_holding_mounts(&self, path: &VirtualPath) -> StorageResult<()> {
        if self
            .mounts
            .iter()
            .any(|(point, _)| point.starts_with(path) && point != path)
        {
            return Err(StorageError::new(
                ErrorKind::PermissionDenied,
                "This directory holds a mounted folder.".to_owned(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Storage for MountStorage {
    async fn metadata(&self, path: &VirtualPath) -> StorageResult<FileInfo> {
        let (storage, inner, _) = self.route(path);
        storage.metadata(&inner).await
    }

    async fn symlink_metadata(&self, path: &VirtualPath) -> StorageResult<FileInfo> {
        let (storage, inner, _) = self.route(path);
        storage.symlink_metadata(&inner).await
    }

    fn real_path(&self, path: &VirtualPath) -> Option<std::path::PathBuf> {
        let (storage, inner, _) = self.route(path);
        storage.real_path(&inner)
    }

    async fn read_link(&self, path: &VirtualPath) -> StorageResult<Vec<u8>> {
        let (storage, inner, _) = self.route(path);
        storage.read_link(&inner).await
    }

    /// The root and every mounted folder: a folder that cannot be
    /// reached fails the logins of every user it is mounted for.
    async fn check_reachable(&self) -> StorageResult<()> {
        self.root.check_reachable().await?;
        for (_, mounted) in &self.mounts {
            mounted.check_reachable().await?;
        }
        Ok(())
    }

    async fn list(&self, path: &VirtualPath) -> StorageResult<DirEntries> {
        let (storage, inner, _) = self.route(path);
        let entries = storage.list(&inner).await?;
        // Mount points directly in this directory, shown as directories
        // (in place of anything of that name beneath them).
        let mut points = Vec::new();
        for (point, mounted) in &self.mounts {
            if point.parent().as_ref() == Some(path) {
                let name = point.file_name().unwrap_or_default().to_vec();
                let info = mounted.metadata(&VirtualPath::root()).await?;
                points.push(DirEntry {
                    name,
                    info,
                    link_target: None,
                    resolved: None,
                });
            }
        }
        if points.is_empty() {
            return Ok(entries);
        }
        let hidden: Vec<Vec<u8>> = points.iter().map(|e| e.name.clone()).collect();
        let underneath = entries.filter(move |entry| match entry {
            Ok(e) => !hidden.contains(&e.name),
            Err(_) => true,
        });
        Ok(Box::new(points.into_iter().map(Ok).chain(underneath)))
    }

    async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> StorageResult<Box<dyn FileReader>> {
        let (storage, inner, _) = self.route(path);
        storage.open_read(&inner, offset).await
    }

    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> StorageResult<Box<dyn FileWriter>> {
        self.refuse_mount_point(path)?;
        let (storage, inner, _) = self.route(path);
        storage.open_write(&inner, mode).await
    }

    async fn create_unique(
        &self,
        dir: &VirtualPath,
        prefix: &[u8],
    ) -> StorageResult<(VirtualPath, Box<dyn FileWriter>)> {
        let (storage, inner, _) = self.route(dir);
        let (created, writer) = storage.create_unique(&inner, prefix).await?;
        // Back to the user's view: the directory joined with the name.
        let name = created.file_name().unwrap_or_default();
        let outer = dir
            .join(name)
            .map_err(|_| StorageError::from(ErrorKind::NameNotAllowed))?;
        Ok((outer, writer))
    }

    async fn create_dir(&self, path: &VirtualPath) -> StorageResult<()> {
        if self.is_mount_point(path) {
            return Err(ErrorKind::AlreadyExists.into());
        }
        let (storage, inner, _) = self.route(path);
        storage.create_dir(&inner).await
    }

    async fn remove_dir(&self, path: &VirtualPath) -> StorageResult<()> {
        self.refuse_mount_point(path)?;
        self.refuse_holding_mounts(path)?;
        let (storage, inner, _) = self.route(path);
        storage.remove_dir(&inner).await
    }

    async fn remove_file(&self, path: &VirtualPath) -> StorageResult<()> {
        self.refuse_mount_point(path)?;
        let (storage, inner, _) = self.route(path);
        storage.remove_file(&inner).await
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> StorageResult<()> {
        self.refuse_mount_point(from)?;
        self.refuse_mount_point(to)?;
        let (from_storage, from_inner, from_mount) = self.route(from);
        let (to_storage, to_inner, to_mount) = self.route(to);
        if from_mount != to_mount {
            return Err(StorageError::new(
                ErrorKind::PermissionDenied,
                "Cannot move across folders.".to_owned(),
            ));
        }
        self.refuse_holding_mounts(from)?;
        debug_assert!(Arc::ptr_eq(from_storage, to_storage));
        from_storage.rename(&from_inner, &to_inner).await
    }

    async fn set_modified(&self, path: &VirtualPath, secs: i64) -> StorageResult<()> {
        let (storage, inner, _) = self.route(path);
        storage.set_modified(&inner, secs).await
    }

    /// True only if every part of the tree can: FEAT speaks for the whole
    /// tree, and a client that is offered MFMT uses it everywhere (rclone
    /// fails its uploads into a folder that refuses it).
    fn can_set_modified(&self) -> bool {
        self.root.can_set_modified() && self.mounts.iter().all(|(_, s)| s.can_set_modified())
    }

    async fn set_mode(&self, path: &VirtualPath, mode: u32) -> StorageResult<()> {
        self.refuse_mount_point(path)?;
        let (storage, inner, _) = self.route(path);
        storage.set_mode(&inner, mode).await
    }
}
