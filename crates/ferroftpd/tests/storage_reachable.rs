//! `Storage::check_reachable`, which readiness checks ask: it fails once
//! the directory a local storage serves is removed or replaced, and the
//! layers (quota, mounted folders) ask what they wrap. (Object storage:
//! `object_storage.rs`; a working storage of every kind: the conformance
//! suite.)
// Test support code panics on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use ferroftpd::storage::{
    LocalStorage, MemoryStorage, MountStorage, QuotaLimits, QuotaStorage, QuotaUsage, Storage,
    VirtualPath,
};

#[tokio::test]
async fn local_storage_is_unreachable_once_its_directory_is_removed_or_replaced() {
    let base = tempfile::tempdir().unwrap();
    let served = base.path().join("served");
    std::fs::create_dir(&served).unwrap();
    let storage = LocalStorage::open(served.clone()).await.unwrap();
    storage.check_reachable().await.unwrap();

    // Moved away, then back: the same directory again.
    let aside = base.path().join("aside");
    std::fs::rename(&served, &aside).unwrap();
    assert!(storage.check_reachable().await.is_err());
    std::fs::rename(&aside, &served).unwrap();
    storage.check_reachable().await.unwrap();

    std::fs::remove_dir(&served).unwrap();
    assert!(storage.check_reachable().await.is_err());
    // A new directory of the same name is not the one the storage holds.
    std::fs::create_dir(&served).unwrap();
    let e = storage.check_reachable().await.unwrap_err();
    assert!(e.to_string().contains("replaced"), "{e}");
}

#[tokio::test]
async fn quota_layer_asks_the_storage_it_counts() {
    let base = tempfile::tempdir().unwrap();
    let served = base.path().join("served");
    std::fs::create_dir(&served).unwrap();
    let inner = Arc::new(LocalStorage::open(served.clone()).await.unwrap());
    let limits = QuotaLimits {
        max_bytes: Some(1 << 20),
        max_files: None,
    };
    let quota = QuotaStorage::new(inner, Arc::new(QuotaUsage::default()), limits)
        .await
        .unwrap();
    quota.check_reachable().await.unwrap();
    std::fs::remove_dir(&served).unwrap();
    assert!(quota.check_reachable().await.is_err());
}

#[tokio::test]
async fn mount_layer_needs_every_mounted_folder() {
    let base = tempfile::tempdir().unwrap();
    let folder = base.path().join("shared");
    std::fs::create_dir(&folder).unwrap();
    let root = Arc::new(MemoryStorage::new(1 << 20));
    let mounted = Arc::new(LocalStorage::open(folder.clone()).await.unwrap());
    let point = VirtualPath::root().resolve(b"/shared").unwrap();
    let tree = MountStorage::new(root, vec![(point, mounted)]);
    tree.check_reachable().await.unwrap();
    std::fs::remove_dir(&folder).unwrap();
    assert!(tree.check_reachable().await.is_err());
}
