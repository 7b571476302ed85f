//! The storage conformance suite, run on every backend and layer in the
//! crate: `LocalStorage`, `MemoryStorage` (from its root and from a home
//! inside a shared tree), a backend that relies on the trait's defaults,
//! and the example hashing layer.
// Test support code panics on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use ferroftpd::auth::{Account, Permissions};
use ferroftpd::storage::conformance::{self, Check, Conformance};
use ferroftpd::storage::{
    async_trait, DirEntries, FileInfo, FileReader, FileWriter, LocalStorage, MemoryStorage,
    MemoryStorageFactory, Storage, StorageFactory, StorageResult, VirtualPath, WriteMode,
};

#[path = "../examples/hashing_layer.rs"]
#[allow(dead_code)]
mod hashing_layer;

/// Sixteen MiB: room for every check.
const CAPACITY: u64 = 16 << 20;

#[tokio::test]
async fn local_storage_conforms() {
    let dirs = Arc::new(Mutex::new(Vec::new()));
    conformance::check_storage(|| {
        let dirs = dirs.clone();
        async move {
            let dir = tempfile::tempdir().unwrap();
            let storage = LocalStorage::open(dir.path().to_path_buf()).await.unwrap();
            dirs.lock().unwrap().push(dir);
            Arc::new(storage) as Arc<dyn Storage>
        }
    })
    .await;
}

#[tokio::test]
async fn memory_storage_conforms() {
    conformance::check_storage(|| async {
        Arc::new(MemoryStorage::new(CAPACITY)) as Arc<dyn Storage>
    })
    .await;
}

/// A view rooted at a home inside a tree that other accounts share, with
/// files of theirs around it.
#[tokio::test]
async fn memory_storage_homes_conform() {
    let tree = MemoryStorageFactory::new(CAPACITY);
    let neighbour = tree
        .open(&Account::new("bob", "/home/bob", Permissions::ALL))
        .await
        .unwrap();
    let path = VirtualPath::root().resolve(b"/bob.txt").unwrap();
    let mut w = neighbour
        .open_write(&path, WriteMode::Replace)
        .await
        .unwrap();
    w.write_all(b"bob's").unwrap();
    w.commit().unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    conformance::check_storage(|| {
        let home = format!(
            "/home/user{}",
            n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let account = Account::new("user", home, Permissions::ALL);
        let tree = tree.clone();
        async move { tree.open(&account).await.unwrap() }
    })
    .await;
    let mut content = String::new();
    neighbour
        .open_read(&path, 0)
        .await
        .unwrap()
        .read_to_string(&mut content)
        .unwrap();
    assert_eq!(content, "bob's");
}

#[tokio::test]
async fn hashing_layer_conforms() {
    conformance::check_storage(|| async {
        let inner = Arc::new(MemoryStorage::new(CAPACITY));
        Arc::new(hashing_layer::Hashing::new(inner, Default::default())) as Arc<dyn Storage>
    })
    .await;
    let dirs = Arc::new(Mutex::new(Vec::new()));
    conformance::check_storage(|| {
        let dirs = dirs.clone();
        async move {
            let dir = tempfile::tempdir().unwrap();
            let inner = LocalStorage::open(dir.path().to_path_buf()).await.unwrap();
            dirs.lock().unwrap().push(dir);
            Arc::new(hashing_layer::Hashing::new(
                Arc::new(inner),
                Default::default(),
            )) as Arc<dyn Storage>
        }
    })
    .await;
}

#[tokio::test]
async fn hashing_layer_records_digests() {
    let digests = hashing_layer::Digests::default();
    let layer =
        hashing_layer::Hashing::new(Arc::new(MemoryStorage::new(CAPACITY)), digests.clone());
    let path = |p: &str| VirtualPath::root().resolve(p.as_bytes()).unwrap();
    let mut w = layer
        .open_write(&path("/a"), WriteMode::Replace)
        .await
        .unwrap();
    w.write_all(b"abc").unwrap();
    w.commit().unwrap();
    let sha256_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_eq!(digests.get(&path("/a")).as_deref(), Some(sha256_abc));
    layer.create_dir(&path("/d")).await.unwrap();
    layer.rename(&path("/a"), &path("/d/b")).await.unwrap();
    layer.rename(&path("/d"), &path("/e")).await.unwrap();
    assert_eq!(digests.all(), vec![(path("/e/b"), sha256_abc.to_owned())]);
    let mut w = layer
        .open_write(&path("/e/b"), WriteMode::Append)
        .await
        .unwrap();
    w.write_all(b"d").unwrap();
    w.commit().unwrap();
    assert_eq!(digests.get(&path("/e/b")), None);
    // An upload that never commits records nothing.
    let w = layer
        .open_write(&path("/c"), WriteMode::Replace)
        .await
        .unwrap();
    drop(w);
    assert!(digests.all().is_empty());
}

/// A backend that writes only what the trait requires: `create_unique`
/// and the rest come from the defaults.
#[derive(Debug)]
struct Minimal(MemoryStorage);

#[async_trait]
impl Storage for Minimal {
    async fn metadata(&self, path: &VirtualPath) -> StorageResult<FileInfo> {
        self.0.metadata(path).await
    }

    async fn list(&self, path: &VirtualPath) -> StorageResult<DirEntries> {
        self.0.list(path).await
    }

    async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> StorageResult<Box<dyn FileReader>> {
        self.0.open_read(path, offset).await
    }

    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> StorageResult<Box<dyn FileWriter>> {
        self.0.open_write(path, mode).await
    }

    async fn create_dir(&self, path: &VirtualPath) -> StorageResult<()> {
        self.0.create_dir(path).await
    }

    async fn remove_dir(&self, path: &VirtualPath) -> StorageResult<()> {
        self.0.remove_dir(path).await
    }

    async fn remove_file(&self, path: &VirtualPath) -> StorageResult<()> {
        self.0.remove_file(path).await
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> StorageResult<()> {
        self.0.rename(from, to).await
    }
}

#[tokio::test]
async fn trait_defaults_conform() {
    conformance::check_storage(|| async {
        Arc::new(Minimal(MemoryStorage::new(CAPACITY))) as Arc<dyn Storage>
    })
    .await;
}

/// A backend that breaks a promise fails the check that holds it, with a
/// message naming both.
#[tokio::test]
async fn a_broken_backend_fails_with_the_check_and_the_promise() {
    #[derive(Debug)]
    struct NoRenameOverFiles(MemoryStorage);

    #[async_trait]
    impl Storage for NoRenameOverFiles {
        async fn metadata(&self, path: &VirtualPath) -> StorageResult<FileInfo> {
            self.0.metadata(path).await
        }
        async fn list(&self, path: &VirtualPath) -> StorageResult<DirEntries> {
            self.0.list(path).await
        }
        async fn open_read(
            &self,
            path: &VirtualPath,
            offset: u64,
        ) -> StorageResult<Box<dyn FileReader>> {
            self.0.open_read(path, offset).await
        }
        async fn open_write(
            &self,
            path: &VirtualPath,
            mode: WriteMode,
        ) -> StorageResult<Box<dyn FileWriter>> {
            self.0.open_write(path, mode).await
        }
        async fn create_dir(&self, path: &VirtualPath) -> StorageResult<()> {
            self.0.create_dir(path).await
        }
        async fn remove_dir(&self, path: &VirtualPath) -> StorageResult<()> {
            self.0.remove_dir(path).await
        }
        async fn remove_file(&self, path: &VirtualPath) -> StorageResult<()> {
            self.0.remove_file(path).await
        }
        async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> StorageResult<()> {
            if self.0.metadata(to).await.is_ok() {
                return Err(ferroftpd::storage::ErrorKind::AlreadyExists.into());
            }
            self.0.rename(from, to).await
        }
    }

    let run = tokio::spawn(async {
        let mut suite = Conformance::new();
        for check in Check::ALL {
            if check != Check::RenameReplacesFile {
                suite = suite.skip(check);
            }
        }
        suite
            .run(|| async {
                Arc::new(NoRenameOverFiles(MemoryStorage::new(CAPACITY))) as Arc<dyn Storage>
            })
            .await;
    });
    let panic = run.await.unwrap_err().into_panic();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("`rename_replaces_file`"), "{message}");
    assert!(message.contains("AlreadyExists"), "{message}");
    assert!(
        message.contains("promise: rename moves a file"),
        "{message}"
    );
}
