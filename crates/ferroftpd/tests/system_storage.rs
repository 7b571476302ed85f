//! `LocalStorage::open_as`: file access with a system user's credentials.
//!
//! Needs root (the test process changes the credentials of one thread of
//! its own), so every test here is `#[ignore]`d: `scripts/test` runs them,
//! as root, with `--run-ignored all`. Run by hand as another user, each
//! fails at once rather than passing without checking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::Path;

use ferroftpd::auth::{Account, Identity, Permissions};
use ferroftpd::proto::path::VirtualPath;
use ferroftpd::storage::{
    LocalStorage, LocalStorageFactory, Remains, Storage, StorageFactory, WriteMode,
};

/// `nobody` on Debian; any unprivileged ids do, they need no account.
const UID: u32 = 65534;
const GID: u32 = 65534;

fn vp(s: &str) -> VirtualPath {
    VirtualPath::root().resolve(s.as_bytes()).unwrap()
}

/// Fails the test unless it runs as root.
fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test acts as another user: run it as root"
    );
}

fn identity() -> Identity {
    Identity {
        uid: UID,
        gid: GID,
        groups: vec![GID],
    }
}

/// A home owned by the test user, in a directory the user may traverse.
fn home() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    chown(&home, Some(UID), Some(GID)).unwrap();
    (dir, home)
}

/// A root-owned file with `mode`.
fn root_file(path: &Path, mode: u32) {
    std::fs::write(path, b"root's\n").unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

async fn upload(storage: &LocalStorage, path: &str, mode: WriteMode, data: &'static [u8]) {
    let mut writer = storage.open_write(&vp(path), mode).await.unwrap();
    // Writers are used, and committed, on a blocking thread.
    tokio::task::spawn_blocking(move || {
        writer.write_all(data)?;
        writer.commit().map_err(std::io::Error::other)
    })
    .await
    .unwrap()
    .unwrap();
}

#[tokio::test]
#[ignore = "needs root: scripts/test runs it with --run-ignored all"]
async fn files_are_created_and_refused_as_the_user() {
    require_root();
    let (_dir, home) = home();
    root_file(&home.join("secret"), 0o600);
    let storage = LocalStorage::open_as(home.clone(), &identity())
        .await
        .unwrap();

    upload(&storage, "/new.txt", WriteMode::Replace, b"hello\n").await;
    let meta = std::fs::metadata(home.join("new.txt")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (UID, GID));
    assert_eq!(std::fs::read(home.join("new.txt")).unwrap(), b"hello\n");
    // Replacing keeps the owner too: the temporary file and the rename
    // over the target are the user's.
    upload(&storage, "/new.txt", WriteMode::Replace, b"again\n").await;
    let meta = std::fs::metadata(home.join("new.txt")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (UID, GID));
    assert_eq!(std::fs::read(home.join("new.txt")).unwrap(), b"again\n");

    storage.create_dir(&vp("/sub")).await.unwrap();
    assert_eq!(std::fs::metadata(home.join("sub")).unwrap().uid(), UID);

    // The kernel refuses what the user may not read...
    let err = storage.open_read(&vp("/secret"), 0).await.unwrap_err();
    assert!(is_permission_denied(&err), "{err:?}");
    // ...or overwrite in place.
    let err = storage
        .open_write(&vp("/secret"), WriteMode::Append)
        .await
        .unwrap_err();
    assert!(is_permission_denied(&err), "{err:?}");

    // Only the session's thread changed: the process is still root.
    assert!(rustix::process::geteuid().is_root());
    assert!(rustix::process::getuid().is_root());
}

#[tokio::test]
#[ignore = "needs root: scripts/test runs it with --run-ignored all"]
async fn a_directory_the_user_cannot_write_protects_its_files() {
    require_root();
    let (_dir, home) = home();
    let locked = home.join("locked");
    std::fs::create_dir(&locked).unwrap();
    root_file(&locked.join("file"), 0o644);
    let storage = LocalStorage::open_as(home.clone(), &identity())
        .await
        .unwrap();

    for result in [
        storage.remove_file(&vp("/locked/file")).await,
        storage.rename(&vp("/locked/file"), &vp("/stolen")).await,
        storage.create_dir(&vp("/locked/new")).await,
    ] {
        let err = result.unwrap_err();
        assert!(is_permission_denied(&err), "{err:?}");
    }
    // A STOR over it needs a temporary file in the directory: refused too.
    let err = storage
        .open_write(&vp("/locked/file"), WriteMode::Replace)
        .await
        .unwrap_err();
    assert!(is_permission_denied(&err), "{err:?}");
    assert_eq!(std::fs::read(locked.join("file")).unwrap(), b"root's\n");

    // Readable, so it can be listed; the listing runs as the user too.
    let entries = storage.list(&vp("/locked")).await.unwrap();
    let names = tokio::task::spawn_blocking(move || {
        entries
            .map(|e| e.map(|e| e.name))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(names, vec![b"file".to_vec()]);
}

#[tokio::test]
#[ignore = "needs root: scripts/test runs it with --run-ignored all"]
async fn an_aborted_upload_is_cleaned_up_as_the_user() {
    require_root();
    let (_dir, home) = home();
    let storage = LocalStorage::open_as(home.clone(), &identity())
        .await
        .unwrap();
    upload(&storage, "/keep.txt", WriteMode::Replace, b"old\n").await;
    let mut writer = storage
        .open_write(&vp("/keep.txt"), WriteMode::Replace)
        .await
        .unwrap();
    writer.write_all(b"partial").unwrap();
    drop(writer);
    // The cleanup is queued on the user's thread; any later call waits
    // for it.
    storage.metadata(&vp("/")).await.unwrap();
    let names: Vec<_> = std::fs::read_dir(&home)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["keep.txt"]);
    assert_eq!(std::fs::read(home.join("keep.txt")).unwrap(), b"old\n");
}

/// `abandon` runs on the user's thread too, and says what it left: the
/// old file after an interrupted overwrite, a partial new file (the
/// user's) otherwise.
#[tokio::test]
#[ignore = "needs root: scripts/test runs it with --run-ignored all"]
async fn an_abandoned_upload_says_what_it_left_as_the_user() {
    require_root();
    let (_dir, home) = home();
    let storage = LocalStorage::open_as(home.clone(), &identity())
        .await
        .unwrap();
    upload(&storage, "/keep.txt", WriteMode::Replace, b"old\n").await;
    for (name, want) in [
        ("/keep.txt", Remains::Nothing),
        ("/new.txt", Remains::NewFile),
    ] {
        let mut writer = storage
            .open_write(&vp(name), WriteMode::Replace)
            .await
            .unwrap();
        writer.write_all(b"partial").unwrap();
        let left = tokio::task::spawn_blocking(move || writer.abandon())
            .await
            .unwrap();
        assert_eq!(left, want, "{name}");
    }
    assert_eq!(std::fs::read(home.join("keep.txt")).unwrap(), b"old\n");
    assert_eq!(std::fs::read(home.join("new.txt")).unwrap(), b"partial");
    assert_eq!(std::fs::metadata(home.join("new.txt")).unwrap().uid(), UID);
}

#[tokio::test]
#[ignore = "needs root: scripts/test runs it with --run-ignored all"]
async fn the_factory_acts_as_the_account_identity() {
    require_root();
    let (_dir, home) = home();
    let mut account = Account::new("nobody", &home, Permissions::ALL);
    account.identity = Some(std::sync::Arc::new(identity()));
    let storage = LocalStorageFactory.open(&account).await.unwrap();
    storage.create_dir(&vp("/d")).await.unwrap();
    assert_eq!(std::fs::metadata(home.join("d")).unwrap().uid(), UID);

    // Without an identity, the same factory acts as the server.
    let account = Account::new("virtual", &home, Permissions::ALL);
    let storage = LocalStorageFactory.open(&account).await.unwrap();
    storage.create_dir(&vp("/e")).await.unwrap();
    assert_eq!(std::fs::metadata(home.join("e")).unwrap().uid(), 0);
}

#[tokio::test]
#[ignore = "needs root: scripts/test runs it with --run-ignored all"]
async fn a_home_the_user_cannot_reach_fails_to_open() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    // The temporary directory is root's, mode 0700.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let err = LocalStorage::open_as(home, &identity()).await.unwrap_err();
    assert!(is_permission_denied(&err), "{err:?}");
}

fn is_permission_denied(err: &ferroftpd::storage::StorageError) -> bool {
    matches!(err, ferroftpd::storage::StorageError::Io(e) if e.kind() == std::io::ErrorKind::PermissionDenied)
}

#[tokio::test]
#[ignore = "needs root: scripts/test runs it with --run-ignored all"]
async fn an_upload_is_committed_as_the_user() {
    require_root();
    let (_dir, home) = home();
    let storage = LocalStorage::open_as(home.clone(), &identity())
        .await
        .unwrap();
    let mut writer = storage
        .open_write(&vp("/late.txt"), WriteMode::Replace)
        .await
        .unwrap();
    // The directory stops being writable after the upload began: the
    // rename over the target, done as the user, must fail now (as root it
    // would succeed), and the target must not appear.
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o555)).unwrap();
    let result = tokio::task::spawn_blocking(move || {
        writer.write_all(b"data\n")?;
        writer.commit().map_err(std::io::Error::other)
    })
    .await
    .unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(result.is_err(), "the commit ran with root's privileges");
    assert!(!home.join("late.txt").exists());
}

/// Sets `fs.suid_dumpable` for the life of the guard.
struct SuidDumpable(String);

impl SuidDumpable {
    const PATH: &'static str = "/proc/sys/fs/suid_dumpable";

    fn set(value: &str) -> SuidDumpable {
        let old = std::fs::read_to_string(Self::PATH).unwrap();
        std::fs::write(Self::PATH, value).unwrap();
        SuidDumpable(old.trim().to_owned())
    }
}

impl Drop for SuidDumpable {
    fn drop(&mut self) {
        let _ = std::fs::write(Self::PATH, &self.0);
    }
}

/// The owner of `mem` in the /proc entry of each of this process's threads
/// that acts as `uid`. (The entry's directory itself always shows the
/// thread's effective uid; private files like `mem` belong to root unless
/// the process is dumpable.)
fn proc_owners_of_threads_acting_as(uid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| {
            let dir = e.ok()?.path();
            let status = std::fs::read_to_string(dir.join("status")).ok()?;
            let uids = status.lines().find(|l| l.starts_with("Uid:"))?.to_owned();
            let effective: u32 = uids.split_whitespace().nth(2)?.parse().ok()?;
            (effective == uid).then(|| std::fs::metadata(dir.join("mem")).ok().map(|m| m.uid()))?
        })
        .collect()
}

/// A system user's file access cannot reach the server's own /proc (which
/// the kernel would show its threads: the paths of files other sessions
/// have open), nor sysfs, whatever the mode; and the server stays
/// undumpable after a thread switches to the user, even with
/// `fs.suid_dumpable=1`, so its threads' /proc entries (`mem` among them)
/// stay root's.
#[tokio::test]
#[ignore = "needs root: scripts/test runs it with --run-ignored all"]
async fn kernel_filesystems_are_refused_and_threads_stay_roots() {
    require_root();
    let _dumpable = SuidDumpable::set("1");
    let storage = LocalStorage::open_as("/".into(), &identity())
        .await
        .unwrap();
    for path in [
        "/proc",
        "/proc/self/fd",
        "/proc/self/task",
        "/proc/self/maps",
        "/proc/self/status",
        "/sys",
        "/sys/kernel",
    ] {
        let listed = storage.list(&vp(path)).await.map(|_| ());
        assert!(listed.is_err(), "LIST {path}");
        assert!(storage.metadata(&vp(path)).await.is_err(), "stat {path}");
        assert!(
            storage.open_read(&vp(path), 0).await.is_err(),
            "read {path}"
        );
    }
    for dir in ["/proc/self/fd", "/sys/kernel"] {
        let listed = storage.list(&vp(dir)).await.map(|_| ());
        assert!(is_permission_denied(&listed.unwrap_err()), "LIST {dir}");
    }
    assert!(storage.metadata(&vp("/tmp")).await.unwrap().is_dir());
    assert!(storage.list(&vp("/")).await.is_ok());
    let owners = proc_owners_of_threads_acting_as(UID);
    assert!(!owners.is_empty(), "no thread acts as the user");
    assert!(
        owners.iter().all(|&o| o == 0),
        "thread /proc owners: {owners:?}"
    );
    assert_eq!(
        rustix::process::dumpable_behavior().unwrap(),
        rustix::process::DumpableBehavior::NotDumpable
    );
    // A home on procfs is refused from the start.
    assert!(LocalStorage::open_as("/proc".into(), &identity())
        .await
        .is_err());
}
