//! The quota and mount layers pass the storage conformance suite: a layer
//! must keep every promise of the storage it wraps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use ferroftpd::storage::conformance;
use ferroftpd::storage::{
    LocalStorage, MemoryStorage, MountStorage, QuotaLimits, QuotaStorage, QuotaUsage, Storage,
    VirtualPath,
};

/// Fresh local storages, their directories kept until the test ends.
#[derive(Clone, Default)]
struct Dirs(Arc<Mutex<Vec<tempfile::TempDir>>>);

impl Dirs {
    async fn local(&self) -> Arc<dyn Storage> {
        let dir = tempfile::tempdir().unwrap();
        let storage = LocalStorage::open(dir.path().to_path_buf()).await.unwrap();
        self.0.lock().unwrap().push(dir);
        Arc::new(storage)
    }
}

#[tokio::test]
async fn quota_over_local_storage_conforms() {
    let dirs = Dirs::default();
    conformance::check_storage(|| {
        let dirs = dirs.clone();
        async move {
            let limits = QuotaLimits {
                max_bytes: Some(1 << 30),
                max_files: Some(100_000),
            };
            let usage = Arc::new(QuotaUsage::default());
            let quota = QuotaStorage::new(dirs.local().await, usage, limits);
            Arc::new(quota.await.unwrap()) as Arc<dyn Storage>
        }
    })
    .await;
}

/// Everything goes through a folder mounted at `/`: every path is
/// translated on its way in and out.
#[tokio::test]
async fn a_folder_mounted_at_the_root_conforms() {
    let dirs = Dirs::default();
    conformance::check_storage(|| {
        let dirs = dirs.clone();
        async move {
            let folder = Arc::new(MemoryStorage::new(64 << 20)) as Arc<dyn Storage>;
            let mounts = vec![(VirtualPath::root(), folder)];
            Arc::new(MountStorage::new(dirs.local().await, mounts)) as Arc<dyn Storage>
        }
    })
    .await;
}

/// A folder mounted deeper leaves the rest of the tree as it was.
#[tokio::test]
async fn a_tree_with_a_folder_mounted_deeper_conforms() {
    let dirs = Dirs::default();
    conformance::check_storage(|| {
        let dirs = dirs.clone();
        async move {
            let folder = Arc::new(MemoryStorage::new(1 << 20)) as Arc<dyn Storage>;
            let point = VirtualPath::root().resolve(b"/elsewhere/folder").unwrap();
            let mounts = vec![(point, folder)];
            Arc::new(MountStorage::new(dirs.local().await, mounts)) as Arc<dyn Storage>
        }
    })
    .await;
}
