//! Per-directory permissions against moves and new entries: an override
//! governs a directory's contents, and adding or taking away an entry
//! changes its parent, so the parent's permission is needed too.

use crate::common::{Client, TestServer};

/// User `p` (password `pw`): read-only at the top, `/deep` writable with
/// `/deep/a/ro` read-only inside it (both recursive), `/upload` writable,
/// and overrides on `/made` and `/empty`, entries of the read-only top.
async fn server() -> TestServer {
    let srv = TestServer::start().await;
    for dir in ["deep/a/ro", "upload", "empty"] {
        std::fs::create_dir_all(srv.path(dir)).unwrap();
    }
    srv.write("deep/a/ro/keep", b"protected");
    srv.write("deep/x", b"movable");
    let users = &srv.users;
    users
        .add_user("p", "pw", srv.root.path(), "elr".parse().unwrap())
        .unwrap();
    let all = "elradfmwMT".parse().unwrap();
    for (dir, perms) in [
        ("/deep", all),
        ("/deep/a/ro", "elr".parse().unwrap()),
        ("/upload", all),
        ("/made", all),
        ("/empty", all),
    ] {
        users.override_perm("p", dir, perms, true).unwrap();
    }
    srv
}

async fn login(srv: &TestServer) -> Client {
    let mut c = srv.client().await;
    c.login("p", "pw").await;
    c
}

#[tokio::test]
async fn a_tree_holding_a_stricter_rule_cannot_be_moved_from_under_it() {
    let srv = server().await;
    let mut c = login(&srv).await;
    // /deep/a holds /deep/a/ro: moving it would leave the rule behind.
    assert_eq!(
        c.cmd("RNFR /deep/a").await,
        (
            550,
            "Can't rename: this holds a directory with permissions of its own.".into()
        )
    );
    // /deep is writable inside, but it is an entry of the read-only top.
    c.expect("RNFR /deep", 550).await;
    c.expect("RNFR /deep/a/ro", 550).await;
    // What lies inside the protected tree stays protected.
    c.epsv().await;
    c.expect("STOR /deep/a/ro/new", 550).await;
    c.expect("DELE /deep/a/ro/keep", 550).await;
    assert_eq!(
        std::fs::read(srv.path("deep/a/ro/keep")).unwrap(),
        b"protected"
    );
    // Between two writable directories a move works.
    c.expect("RNFR /deep/x", 350).await;
    c.expect("RNTO /upload/x", 250).await;
    assert_eq!(std::fs::read(srv.path("upload/x")).unwrap(), b"movable");
    // Into the read-only top it does not, whatever the name's own rule.
    c.expect("RNFR /upload/x", 350).await;
    c.expect("RNTO /made", 550).await;
    assert!(srv.path("upload/x").exists());
}

#[tokio::test]
async fn an_entrys_own_override_does_not_open_its_parent() {
    let srv = server().await;
    let mut c = login(&srv).await;
    // /made and /empty have writable rules of their own, but creating or
    // removing them changes the read-only top.
    c.expect("MKD /made", 550).await;
    assert!(!srv.path("made").exists());
    c.expect("RMD /empty", 550).await;
    assert!(srv.path("empty").is_dir());
    c.epsv().await;
    c.expect("STOR /made", 550).await;
    assert!(!srv.path("made").exists());
    // Inside them, the rules apply as before.
    c.expect("MKD /empty/sub", 257).await;
    c.expect("RMD /empty/sub", 250).await;
}

#[tokio::test]
async fn stou_needs_the_permission_of_the_directory_it_writes_in() {
    let srv = server().await;
    let mut c = login(&srv).await;
    // `STOU /upload` names a file `upload.XXXXXXXX` in the read-only top.
    c.epsv().await;
    c.expect("STOU /upload", 550).await;
    let top: Vec<_> = std::fs::read_dir(srv.root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("upload."))
        .collect();
    assert!(top.is_empty(), "{top:?}");
    // In /upload itself it works.
    let ((code, _), _) = c.upload("STOU /upload/hint", b"ok").await;
    assert_eq!(code, 226);
}
