//! Storage seen through a session: homes checked at login, and the
//! in-memory backend serving virtual homes.

use std::io::Read;
use std::sync::Arc;

use crate::common::TestServer;
use ferroftpd::auth::Permissions;
use ferroftpd::storage::{MemoryStorageFactory, Storage, VirtualPath};

#[tokio::test]
async fn a_missing_home_refuses_the_login_with_530_until_it_exists() {
    let srv = TestServer::start().await;
    let home = srv.path("later");
    // Registration takes the home as it is: the storage checks it at login.
    srv.users
        .add_user("late", "pw", &home, Permissions::ALL)
        .unwrap();
    let mut c = srv.client().await;
    c.expect("USER late", 331).await;
    assert_eq!(
        c.cmd("PASS pw").await,
        (530, "Home directory not available.".into())
    );
    // Not logged in: the session goes on and may try again.
    c.expect("PWD", 530).await;
    std::fs::create_dir(&home).unwrap();
    c.login("late", "pw").await;
    c.expect("PWD", 257).await;
    // A file where the home should be is refused the same way.
    srv.write("plain", b"not a directory");
    srv.users
        .add_user("plain", "pw", srv.path("plain"), Permissions::ALL)
        .unwrap();
    let mut c = srv.client().await;
    c.expect("USER plain", 331).await;
    assert_eq!(c.cmd("PASS pw").await.0, 530);
    srv.stop().await;
}

async fn read(tree: &MemoryStorageFactory, path: &str) -> Vec<u8> {
    let root = tree.storage(&VirtualPath::root()).unwrap();
    let path = VirtualPath::root().resolve(path.as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut reader = root.open_read(&path, 0).await.unwrap();
    reader.read_to_end(&mut out).unwrap();
    out
}

#[tokio::test]
async fn memory_storage_serves_virtual_homes() {
    let tree = MemoryStorageFactory::new(1000);
    let storage = Arc::new(tree.clone());
    let srv = TestServer::start_with(|b| b.storage(storage)).await;
    srv.users
        .add_user("alice", "pw", "/alice", Permissions::ALL)
        .unwrap();
    srv.users
        .add_user("admin", "pw", "/", Permissions::ALL)
        .unwrap();

    let mut alice = srv.client().await;
    alice.login("alice", "pw").await;
    alice.expect("TYPE I", 200).await;
    assert_eq!(alice.upload("STOR notes.txt", b"hello").await.0 .0, 226);
    assert_eq!(alice.upload("APPE notes.txt", b", world").await.0 .0, 226);
    alice.expect("MKD sub", 257).await;
    let (listing, reply) = alice.download("NLST").await;
    assert_eq!(reply.0, 226);
    assert_eq!(listing, b"notes.txt\r\nsub\r\n");
    let (data, _) = alice.download("RETR notes.txt").await;
    assert_eq!(data, b"hello, world");
    alice.expect("REST 7", 350).await;
    let (data, _) = alice.download("RETR notes.txt").await;
    assert_eq!(data, b"world");
    alice.expect("SITE CHMOD 600 notes.txt", 200).await;
    alice.expect("MFMT 20200102030405 notes.txt", 213).await;
    let facts = alice.expect("MLST notes.txt", 250).await;
    assert!(facts.contains("modify=20200102030405;"), "{facts}");
    assert!(facts.contains("unix.mode=0600;"), "{facts}");
    assert!(facts.contains("size=12;"), "{facts}");

    // One tree: the admin, whose home is its root, sees alice's home.
    assert_eq!(read(&tree, "/alice/notes.txt").await, b"hello, world");
    let mut admin = srv.client().await;
    admin.login("admin", "pw").await;
    let (data, _) = admin.download("RETR /alice/notes.txt").await;
    assert_eq!(data, b"hello, world");
    admin.expect("RNFR /alice/notes.txt", 350).await;
    admin.expect("RNTO /alice/sub/moved.txt", 250).await;
    alice.expect("SIZE sub/moved.txt", 213).await;

    // Past the capacity: 452, and nothing of the upload stays.
    let ((code, text), _) = alice.upload("STOR big", &[b'x'; 2000]).await;
    assert_eq!(code, 452, "{text}");
    alice.expect("SIZE big", 550).await;
    assert_eq!(tree.used(), 12);
    srv.stop().await;
}
