//! Uploads never destroy what was there, and leave nothing behind.

use crate::common::{read, TestServer};
use tokio::io::AsyncWriteExt;

fn names(srv: &TestServer) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(srv.root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn stor_onto_a_symlink_replaces_the_link_and_spares_its_target() {
    let srv = TestServer::start().await;
    srv.write("target.txt", b"IMPORTANT");
    std::os::unix::fs::symlink("target.txt", srv.path("link")).unwrap();
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    // Aborted: both the link and its target stay as they were.
    let mut data = c.epsv().await;
    c.expect("STOR link", 125).await;
    data.write_all(b"partial").await.unwrap();
    c.send("ABOR").await;
    assert_eq!(c.reply().await.0, 426);
    assert_eq!(c.reply().await.0, 226);
    assert_eq!(read(&srv.path("target.txt")), b"IMPORTANT");
    assert!(srv.path("link").is_symlink());
    // Completed: the link is replaced by the new file.
    c.upload("STOR link", b"new").await;
    assert!(!srv.path("link").is_symlink());
    assert_eq!(read(&srv.path("link")), b"new");
    assert_eq!(read(&srv.path("target.txt")), b"IMPORTANT");
}

#[tokio::test]
async fn an_aborted_new_upload_does_not_overwrite_a_finished_one() {
    let srv = TestServer::start().await;
    let mut a = srv.user().await;
    let mut b = srv.user().await;
    a.expect("TYPE I", 200).await;
    let mut data = a.epsv().await;
    a.expect("STOR new.bin", 125).await;
    data.write_all(b"A-partial").await.unwrap();
    data.flush().await.unwrap();
    b.upload("STOR new.bin", b"B-COMPLETE").await;
    a.send("ABOR").await;
    assert_eq!(a.reply().await.0, 426);
    assert_eq!(a.reply().await.0, 226);
    assert_eq!(read(&srv.path("new.bin")), b"B-COMPLETE");
    assert_eq!(names(&srv), ["new.bin"]);
}

#[tokio::test]
async fn an_upload_that_received_nothing_leaves_no_file() {
    let srv =
        TestServer::start_with(|b| b.passive_accept_timeout(std::time::Duration::from_millis(200)))
            .await;
    let mut c = srv.user().await;
    c.expect("EPSV", 229).await; // never connected
    c.expect("STOR never.bin", 150).await;
    assert_eq!(c.reply().await.0, 425);
    assert!(names(&srv).is_empty(), "{:?}", names(&srv));
}

#[tokio::test]
async fn an_interrupted_new_upload_is_kept_for_resuming() {
    let srv = TestServer::start().await;
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let mut data = c.epsv().await;
    c.expect("STOR part.bin", 125).await;
    data.write_all(b"first half").await.unwrap();
    data.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    c.send("ABOR").await;
    assert_eq!(c.reply().await.0, 426);
    assert_eq!(c.reply().await.0, 226);
    assert_eq!(read(&srv.path("part.bin")), b"first half");
    c.expect("REST 10", 350).await;
    c.upload("STOR part.bin", b", second half").await;
    assert_eq!(read(&srv.path("part.bin")), b"first half, second half");
    assert_eq!(names(&srv), ["part.bin"]);
}

#[tokio::test]
async fn names_up_to_the_filesystem_limit_can_be_stored() {
    let srv = TestServer::start().await;
    let name = "L".repeat(250);
    let mut c = srv.user().await;
    let ((code, text), _) = c.upload(&format!("STOR {name}"), b"x").await;
    assert_eq!(code, 226, "{text}");
    assert_eq!(read(&srv.path(&name)), b"x");
}

#[tokio::test]
async fn stou_obeys_per_directory_permissions() {
    let srv = TestServer::start().await;
    std::fs::create_dir_all(srv.path("upload/sub")).unwrap();
    srv.users
        .add_user("up", "pw", srv.root.path(), "elr".parse().unwrap())
        .unwrap();
    srv.users
        .override_perm("up", "/upload", "elrw".parse().unwrap(), false)
        .unwrap();
    let mut c = srv.client().await;
    c.login("up", "pw").await;
    c.epsv().await;
    assert_eq!(c.cmd("STOU /upload/sub/hint").await.0, 550);
    c.expect("CWD /upload/sub", 250).await;
    c.epsv().await;
    assert_eq!(c.cmd("STOU").await.0, 550);
    assert_eq!(
        std::fs::read_dir(srv.path("upload/sub")).unwrap().count(),
        0
    );
    let ((code, _), _) = c.upload("STOU /upload/hint", b"ok").await;
    assert_eq!(code, 226);
}

#[tokio::test]
async fn special_files_are_refused_without_hanging() {
    let srv = TestServer::start().await;
    let fifo = srv.path("pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let mut c = srv.user().await;
    for cmd in ["APPE pipe", "RETR pipe"] {
        c.epsv().await;
        assert_eq!(c.cmd(cmd).await.0, 550, "{cmd}");
    }
    c.expect("REST 0", 350).await;
    c.expect("NOOP", 200).await;
}

#[tokio::test]
async fn chmod_limits() {
    use std::os::unix::fs::PermissionsExt;
    let srv = TestServer::start().await;
    srv.write("f.txt", b"x");
    let mut c = srv.user().await;
    c.expect("SITE CHMOD 000 f.txt", 200).await;
    c.expect("SITE CHMOD 644 f.txt", 200).await;
    assert_eq!(
        std::fs::metadata(srv.path("f.txt"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o644
    );
    assert_eq!(c.cmd("SITE CHMOD 4755 f.txt").await.0, 501);
    assert_eq!(c.cmd("SITE CHMOD 700 /").await.0, 550);
}

/// Sets a file's modification time an hour back.
fn age(path: &std::path::Path) {
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
}

/// Uploads' temporary files are the server's own: never listed, refused as
/// client names, and removed once no upload holds them (a server killed
/// mid-upload leaves one), while a live upload's stays.
#[tokio::test]
async fn temporary_upload_files_are_hidden_and_stale_ones_removed() {
    let srv = TestServer::start().await;
    srv.write("old.txt", b"OLD");
    srv.write(".ferroftpd-part.deadbeef", b"left by a crash");
    age(&srv.path(".ferroftpd-part.deadbeef"));
    let mut up = srv.user().await;
    up.expect("TYPE I", 200).await;
    let mut data = up.epsv().await;
    up.expect("STOR old.txt", 125).await;
    data.write_all(b"NEW-").await.unwrap();
    data.flush().await.unwrap();
    // The live upload's temporary file, aged like the stale one.
    let live = loop {
        let found = names(&srv)
            .into_iter()
            .find(|n| n.starts_with(".ferroftpd-part.") && n != ".ferroftpd-part.deadbeef");
        if let Some(name) = found {
            break srv.path(&name);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    age(&live);
    let mut other = srv.user().await;
    let (listing, reply) = other.download("MLSD").await;
    assert_eq!(reply.0, 226);
    let listing = String::from_utf8(listing).unwrap();
    assert!(!listing.contains(".ferroftpd-part."), "{listing}");
    assert!(listing.contains("old.txt"), "{listing}");
    assert!(!srv.path(".ferroftpd-part.deadbeef").exists());
    assert!(live.exists(), "a live upload's file was removed");
    // Client names in the server's own namespace are refused.
    other.epsv().await;
    other.expect("STOR .ferroftpd-part.mine", 553).await;
    other.expect("RNFR old.txt", 350).await;
    other.expect("RNTO .ferroftpd-part.mine", 553).await;
    // The live upload completes, whole.
    data.write_all(b"CONTENT").await.unwrap();
    data.shutdown().await.unwrap();
    drop(data);
    assert_eq!(up.reply().await.0, 226);
    assert_eq!(read(&srv.path("old.txt")), b"NEW-CONTENT");
    assert_eq!(names(&srv), ["old.txt"]);
}

/// Waits until the server has no session left.
async fn wait_for_no_session(srv: &TestServer) {
    let started = std::time::Instant::now();
    while srv.server.session_count() != 0 {
        assert!(
            started.elapsed() < crate::common::TIMEOUT,
            "a session stays"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A client killed mid-upload closes its control connection, then its data
/// connection (the kernel closes them in the order they were opened): the
/// end of the data is not the end of the file, and the file it would have
/// replaced stays whole.
#[tokio::test]
async fn a_client_that_dies_mid_upload_does_not_replace_the_file() {
    let srv = TestServer::start().await;
    srv.write("keep.txt", b"precious, and longer than what comes");
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let mut data = c.epsv().await;
    c.expect("STOR keep.txt", 125).await;
    data.write_all(b"cut").await.unwrap();
    drop(c);
    drop(data);
    wait_for_no_session(&srv).await;
    assert_eq!(
        read(&srv.path("keep.txt")),
        b"precious, and longer than what comes"
    );
    assert_eq!(names(&srv), ["keep.txt"]);
}

/// A client that sends QUIT right after its data, before the 226, and
/// closes: the QUIT waits unread on the control connection, so the client
/// finished its upload, which is committed.
#[tokio::test]
async fn an_upload_followed_by_quit_and_close_is_committed() {
    let srv = TestServer::start().await;
    srv.write("new.txt", b"old");
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let mut data = c.epsv().await;
    c.expect("STOR new.txt", 125).await;
    data.write_all(b"all of it").await.unwrap();
    c.send("QUIT").await;
    drop(c);
    drop(data);
    wait_for_no_session(&srv).await;
    assert_eq!(read(&srv.path("new.txt")), b"all of it");
}
