//! `ObjectStorage` against a real S3 server: the conformance suite, and
//! what object storage must get right beyond it (growing large objects,
//! aborted uploads, listings of many pages, empty files and directories).
//!
//! The server is named by `FERROFTPD_TEST_S3_ENDPOINT`,
//! `FERROFTPD_TEST_S3_BUCKET` and `FERROFTPD_TEST_S3_REGION`, with the
//! keys in `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`: `scripts/test`
//! starts SeaweedFS and sets them (`scripts/seaweedfs start DIR` does it by
//! hand). Without them each test says it is skipped, except under `CI`,
//! where they must be set. Every test works under a prefix of its own.
// Test support code panics on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferroftpd::storage::conformance::{Check, Conformance};
use ferroftpd::storage::{
    ErrorKind, LocalStorage, MountStorage, ObjectStorage, ObjectStorageConfig,
    ObjectStorageFactory, QuotaLimits, QuotaStorage, QuotaUsage, Storage, VirtualPath, WriteMode,
};

const MIB: usize = 1 << 20;

/// The config for a prefix of this test's own, or `None` (after saying
/// so) when no S3 server is given.
fn config(test: &str) -> Option<ObjectStorageConfig> {
    let Ok(endpoint) = std::env::var("FERROFTPD_TEST_S3_ENDPOINT") else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "CI must run the S3 tests: FERROFTPD_TEST_S3_ENDPOINT is unset \
                 (scripts/test starts SeaweedFS with scripts/seaweedfs)"
            );
        }
        eprintln!(
            "SKIPPED {test}: no S3 server; set FERROFTPD_TEST_S3_ENDPOINT, \
             FERROFTPD_TEST_S3_BUCKET and the AWS keys (scripts/seaweedfs start DIR; \
             set -a; . DIR/env; set +a)"
        );
        return None;
    };
    let bucket = std::env::var("FERROFTPD_TEST_S3_BUCKET").expect("FERROFTPD_TEST_S3_BUCKET");
    let region = std::env::var("FERROFTPD_TEST_S3_REGION").unwrap_or_else(|_| "us-east-1".into());
    let prefix = format!("{test}-{}-{:016x}", std::process::id(), fastrand_u64());
    let config = ObjectStorageConfig::new(&bucket)
        .unwrap()
        .prefix(&prefix)
        .unwrap()
        .endpoint(endpoint)
        .region(region);
    Some(config)
}

/// A random number without a dependency: the hash of the time and a counter.
fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    static N: AtomicUsize = AtomicUsize::new(0);
    RandomState::new().hash_one((
        std::time::SystemTime::now(),
        N.fetch_add(1, Ordering::Relaxed),
    ))
}

fn path(p: &str) -> VirtualPath {
    VirtualPath::root().resolve(p.as_bytes()).unwrap()
}

/// `len` bytes that differ from those of another `seed` almost everywhere.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31).wrapping_add(i >> 11) as u8) ^ seed.wrapping_mul(0x5b))
        .collect()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

async fn upload(s: &ObjectStorage, p: &str, mode: WriteMode, data: &[u8]) {
    let mut w = s.open_write(&path(p), mode).await.unwrap();
    let data = data.to_vec();
    blocking(move || {
        for chunk in data.chunks(64 * 1024) {
            w.write_all(chunk).unwrap();
        }
        w.flush().unwrap();
        w.commit().unwrap();
    })
    .await;
}

async fn download(s: &ObjectStorage, p: &str) -> Vec<u8> {
    let mut r = s.open_read(&path(p), 0).await.unwrap();
    blocking(move || {
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        out
    })
    .await
}

async fn names(s: &ObjectStorage, p: &str) -> Vec<String> {
    let entries = s.list(&path(p)).await.unwrap();
    let mut names: Vec<String> = blocking(move || {
        entries
            .map(|e| String::from_utf8(e.unwrap().name).unwrap())
            .collect()
    })
    .await;
    names.sort();
    names
}

/// Waits until no multipart upload is pending under the prefix (aborts
/// run in the background).
async fn no_pending_uploads(factory: &ObjectStorageFactory) {
    for _ in 0..50 {
        if factory.pending_uploads().await.unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "multipart uploads left pending: {:?}",
        factory.pending_uploads().await.unwrap()
    );
}

fn same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} bytes, want {}; first difference at {at:?}",
            got.len(),
            want.len()
        );
    }
}

/// The suite, on a fresh home per check. Skipped, each a promise S3
/// cannot keep: `rename_directory` (a directory is a prefix; moving it
/// means copying every object, which is refused), `non_utf8_names` (S3
/// keys are UTF-8; such names get 553).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_storage_conforms() {
    let Some(config) = config("conformance") else {
        return;
    };
    let factory = config.build().unwrap();
    let n = AtomicUsize::new(0);
    s3_suite()
        .run(|| {
            let home = path(&format!("/check{}", n.fetch_add(1, Ordering::Relaxed)));
            let factory = factory.clone();
            async move { Arc::new(factory.storage(&home).await.unwrap()) as Arc<dyn Storage> }
        })
        .await;
    no_pending_uploads(&factory).await;
}

/// With directory renames on, the suite's `rename_directory` check
/// passes too (only `non_utf8_names` is left out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_storage_with_directory_renames_conforms() {
    let Some(config) = config("dir-rename") else {
        return;
    };
    // A small page: the move lists several pages.
    let factory = config
        .recursive_dir_rename(true)
        .list_page_size(2)
        .unwrap()
        .build()
        .unwrap();
    let n = AtomicUsize::new(0);
    Conformance::new()
        .skip(Check::NonUtf8Names)
        .run(|| {
            let home = path(&format!("/check{}", n.fetch_add(1, Ordering::Relaxed)));
            let factory = factory.clone();
            async move { Arc::new(factory.storage(&home).await.unwrap()) as Arc<dyn Storage> }
        })
        .await;
}

/// APPE and REST+STOR on objects past S3's 5 MiB part minimum: the old
/// bytes are copied server-side, the result is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appe_and_rest_stor_grow_large_objects() {
    let Some(config) = config("grow") else {
        return;
    };
    let factory = config.part_size(5 * MIB).unwrap().build().unwrap();
    let s = factory.storage(&VirtualPath::root()).await.unwrap();

    // APPE to a 6 MiB object: head copied, 7 MiB appended (two parts).
    let old = pattern(1, 6 * MIB + 123);
    upload(&s, "/big", WriteMode::Replace, &old).await;
    let added = pattern(2, 7 * MIB + 5);
    upload(&s, "/big", WriteMode::Append, &added).await;
    let mut want = old.clone();
    want.extend_from_slice(&added);
    same(&download(&s, "/big").await, &want, "APPE to a 6 MiB object");
    let size = s.metadata(&path("/big")).await.unwrap().size;
    assert_eq!(size, want.len() as u64);

    // REST+STOR inside it: head copied (> 5 MiB), tail partly read to
    // fill the last part, the rest copied.
    let at = 5 * MIB + 77;
    let middle = pattern(3, 1000);
    upload(&s, "/big", WriteMode::At(at as u64), &middle).await;
    want[at..at + middle.len()].copy_from_slice(&middle);
    same(
        &download(&s, "/big").await,
        &want,
        "REST+STOR inside a 13 MiB object",
    );

    // REST+STOR near the start: a small head, read and sent inline.
    let early = pattern(4, 2 * MIB);
    upload(&s, "/big", WriteMode::At(10), &early).await;
    want[10..10 + early.len()].copy_from_slice(&early);
    same(&download(&s, "/big").await, &want, "REST+STOR at 10");

    // REST+STOR past the end of what was there (resume of a cut upload).
    let resumed = pattern(5, 3 * MIB);
    upload(&s, "/big", WriteMode::At(want.len() as u64), &resumed).await;
    want.extend_from_slice(&resumed);
    same(&download(&s, "/big").await, &want, "REST+STOR at the end");

    // REST+STOR of whole parts inside a 20 MiB object, a tail left after
    // them: 6 MiB (one full part and a short one before the tail) and
    // 12 MiB (the written bytes cross two part boundaries).
    let mut want = pattern(6, 20 * MIB + 11);
    upload(&s, "/mid", WriteMode::Replace, &want).await;
    for (i, (at, len)) in [(3 * MIB + 5, 6 * MIB), (MIB + 1, 12 * MIB)]
        .into_iter()
        .enumerate()
    {
        let written = pattern(7 + i as u8, len);
        upload(&s, "/mid", WriteMode::At(at as u64), &written).await;
        want[at..at + len].copy_from_slice(&written);
        same(
            &download(&s, "/mid").await,
            &want,
            &format!("REST+STOR of {len} bytes at {at} inside 20 MiB"),
        );
    }

    // A small object grows past 5 MiB.
    upload(&s, "/small", WriteMode::Replace, b"0123456789").await;
    upload(&s, "/small", WriteMode::Append, &added).await;
    let mut want = b"0123456789".to_vec();
    want.extend_from_slice(&added);
    same(
        &download(&s, "/small").await,
        &want,
        "APPE to a 10-byte object",
    );

    // REST+STOR needs a file.
    let e = s
        .open_write(&path("/nope"), WriteMode::At(0))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    no_pending_uploads(&factory).await;
}

/// A STOR, APPE or REST+STOR that never commits (dropped, as on ABOR or a
/// cut connection, or discarded) leaves the old object exactly as it was,
/// and its multipart upload aborted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_uploads_leave_the_old_object() {
    let Some(config) = config("aborted") else {
        return;
    };
    let factory = config.part_size(5 * MIB).unwrap().build().unwrap();
    let s = factory.storage(&VirtualPath::root()).await.unwrap();
    let old = pattern(6, 6 * MIB);
    upload(&s, "/f", WriteMode::Replace, &old).await;
    for (i, mode) in [WriteMode::Replace, WriteMode::Append, WriteMode::At(100)]
        .into_iter()
        .enumerate()
    {
        for discard in [false, true] {
            let mut w = s.open_write(&path("/f"), mode).await.unwrap();
            // 11 MiB: two parts are sent before the end.
            let data = pattern(7 + i as u8, 11 * MIB);
            let w = blocking(move || {
                for chunk in data.chunks(64 * 1024) {
                    w.write_all(chunk).unwrap();
                }
                w
            })
            .await;
            // The check below would see an upload that was never aborted.
            let pending = factory.pending_uploads().await.unwrap();
            assert_eq!(pending.len(), 1, "{mode:?}: {pending:?}");
            blocking(move || {
                if discard {
                    w.discard();
                } else {
                    drop(w);
                }
            })
            .await;
            if discard {
                // `discard` aborts before it returns (`Drop` in the
                // background, waited for below).
                let pending = factory.pending_uploads().await.unwrap();
                assert!(pending.is_empty(), "{mode:?} discarded: {pending:?}");
            }
            no_pending_uploads(&factory).await;
            same(
                &download(&s, "/f").await,
                &old,
                &format!("after an uncommitted {mode:?} (discarded: {discard})"),
            );
        }
    }
    no_pending_uploads(&factory).await;
}

/// A listing of many pages (page size 7 here) gives every entry once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_stream_page_by_page_without_duplicates() {
    let Some(config) = config("pages") else {
        return;
    };
    let factory = config.list_page_size(7).unwrap().build().unwrap();
    let s = factory.storage(&VirtualPath::root()).await.unwrap();
    s.create_dir(&path("/d")).await.unwrap();
    let mut want = Vec::new();
    for i in 0..40 {
        let name = format!("f{i:02}");
        upload(
            &s,
            &format!("/d/{name}"),
            WriteMode::Replace,
            name.as_bytes(),
        )
        .await;
        want.push(name);
    }
    for i in 0..5 {
        let name = format!("sub{i}");
        s.create_dir(&path(&format!("/d/{name}"))).await.unwrap();
        upload(&s, &format!("/d/{name}/inner"), WriteMode::Replace, b"x").await;
        want.push(name);
    }
    want.sort();
    assert_eq!(names(&s, "/d").await, want);
    let entries = s.list(&path("/d")).await.unwrap();
    let infos = blocking(move || entries.map(Result::unwrap).collect::<Vec<_>>()).await;
    for e in infos {
        let name = String::from_utf8(e.name).unwrap();
        assert_eq!(e.info.is_dir(), name.starts_with("sub"), "{name}");
        if !e.info.is_dir() {
            assert_eq!(e.info.size, 3, "{name}");
        }
    }
}

/// Empty files, empty directories, RMD of a non-empty directory, and the
/// operations object storage refuses, with their reply codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_files_directories_and_refusals() {
    let Some(config) = config("empty") else {
        return;
    };
    let factory = config.build().unwrap();
    let s = factory.storage(&path("/home/alice")).await.unwrap();

    upload(&s, "/empty", WriteMode::Replace, b"").await;
    let info = s.metadata(&path("/empty")).await.unwrap();
    assert!(info.is_file());
    assert_eq!(info.size, 0);
    assert!(download(&s, "/empty").await.is_empty());
    upload(&s, "/empty", WriteMode::Append, b"").await;
    assert_eq!(s.metadata(&path("/empty")).await.unwrap().size, 0);
    upload(&s, "/new-empty", WriteMode::Append, b"").await;
    assert_eq!(s.metadata(&path("/new-empty")).await.unwrap().size, 0);

    s.create_dir(&path("/dir")).await.unwrap();
    assert!(s.metadata(&path("/dir")).await.unwrap().is_dir());
    assert_eq!(names(&s, "/").await, ["dir", "empty", "new-empty"]);
    assert!(names(&s, "/dir").await.is_empty());
    let e = s.create_dir(&path("/dir")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);

    upload(&s, "/dir/f", WriteMode::Replace, b"f").await;
    let e = s.remove_dir(&path("/dir")).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.kind().code()),
        (ErrorKind::DirectoryNotEmpty, 550)
    );
    assert_eq!(names(&s, "/dir").await, ["f"]);

    let e = s.rename(&path("/dir"), &path("/moved")).await.unwrap_err();
    assert_eq!(e.kind().code(), 502);
    assert!(
        e.to_string().contains("Directories cannot be renamed"),
        "{e}"
    );
    assert_eq!(names(&s, "/dir").await, ["f"]);

    s.remove_file(&path("/dir/f")).await.unwrap();
    s.remove_dir(&path("/dir")).await.unwrap();
    assert_eq!(names(&s, "/").await, ["empty", "new-empty"]);

    assert_eq!(
        s.set_mode(&path("/empty"), 0o600)
            .await
            .unwrap_err()
            .kind()
            .code(),
        502
    );
    assert_eq!(
        s.set_modified(&path("/empty"), 0)
            .await
            .unwrap_err()
            .kind()
            .code(),
        502
    );
    let bad = VirtualPath::root().resolve(b"/caf\xe9").unwrap();
    let e = s.open_write(&bad, WriteMode::Replace).await.unwrap_err();
    assert_eq!(e.kind().code(), 553);

    // The home is a directory of the prefix, seen from above.
    let top = factory.storage(&VirtualPath::root()).await.unwrap();
    assert_eq!(names(&top, "/home").await, ["alice"]);
}

/// The suite with the checks S3 cannot pass left out (see
/// `object_storage_conforms`).
fn s3_suite() -> Conformance {
    Conformance::new()
        .skip(Check::RenameDirectory)
        .skip(Check::NonUtf8Names)
}

/// A quota layer over S3 storage keeps its promises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_over_object_storage_conforms() {
    let Some(config) = config("quota") else {
        return;
    };
    let factory = config.build().unwrap();
    let n = AtomicUsize::new(0);
    s3_suite()
        .run(|| {
            let home = path(&format!("/check{}", n.fetch_add(1, Ordering::Relaxed)));
            let factory = factory.clone();
            async move {
                let inner = Arc::new(factory.storage(&home).await.unwrap());
                let limits = QuotaLimits {
                    max_bytes: Some(1 << 30),
                    max_files: Some(100_000),
                };
                let usage = Arc::new(QuotaUsage::default());
                let quota = QuotaStorage::new(inner, usage, limits).await.unwrap();
                Arc::new(quota) as Arc<dyn Storage>
            }
        })
        .await;
}

/// An S3 folder mounted in a local user's tree: here at its root, so
/// that every check goes through the mount to S3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_storage_mounted_in_a_local_tree_conforms() {
    let Some(config) = config("mount") else {
        return;
    };
    let factory = config.build().unwrap();
    let dirs = Arc::new(std::sync::Mutex::new(Vec::new()));
    let n = AtomicUsize::new(0);
    s3_suite()
        .run(|| {
            let home = path(&format!("/check{}", n.fetch_add(1, Ordering::Relaxed)));
            let (factory, dirs) = (factory.clone(), dirs.clone());
            async move {
                let dir = tempfile::tempdir().unwrap();
                let local = LocalStorage::open(dir.path().to_path_buf()).await.unwrap();
                dirs.lock().unwrap().push(dir);
                let folder = Arc::new(factory.storage(&home).await.unwrap()) as Arc<dyn Storage>;
                let mounts = vec![(VirtualPath::root(), folder)];
                Arc::new(MountStorage::new(Arc::new(local), mounts)) as Arc<dyn Storage>
            }
        })
        .await;
}

/// Readiness: a bucket that answers is reachable; a missing bucket is
/// not, and an endpoint that never answers fails the server's readiness
/// check within its timeout rather than holding it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reachable_needs_the_bucket_and_an_answer() {
    let Some(config) = config("check_reachable") else {
        return;
    };
    let root = VirtualPath::root();
    let factory = config.build().unwrap();
    let storage = factory.storage(&root).await.unwrap();
    storage.check_reachable().await.unwrap();

    let endpoint = std::env::var("FERROFTPD_TEST_S3_ENDPOINT").unwrap();
    let bucket = std::env::var("FERROFTPD_TEST_S3_BUCKET").unwrap();
    let missing = ObjectStorageConfig::new(&format!("{bucket}-missing"))
        .unwrap()
        .endpoint(endpoint)
        .build()
        .unwrap();
    let e = missing
        .storage(&root)
        .await
        .unwrap()
        .check_reachable()
        .await
        .unwrap_err();
    assert!(!e.to_string().is_empty());

    // Accepted by the kernel, never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_factory = ObjectStorageConfig::new(&bucket)
        .unwrap()
        .endpoint(format!("http://{}", silent.local_addr().unwrap()))
        .build()
        .unwrap();
    let server = ferroftpd::Server::builder()
        .storage(Arc::new(silent_factory))
        .readiness_home("/")
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let e = server.check_ready().await.unwrap_err();
    assert!(e.reason.contains("no answer within"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10), "{e}");
}
