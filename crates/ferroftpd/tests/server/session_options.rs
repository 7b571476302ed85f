//! Options operators set daily: a banner file, directory messages, the
//! umask of uploads, and active mode turned off.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use ferroftpd::auth::Permissions;
use ferroftpd::proto::message::MAX_MESSAGE_BYTES;
use ferroftpd::storage::MemoryStorageFactory;
use ferroftpd::Server;
use tokio::io::AsyncReadExt;

use crate::common::TestServer;

/// A file outside the served tree, removed with the returned directory.
fn banner(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("banner.txt");
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

#[tokio::test]
async fn banner_file_is_the_greeting_without_control_characters_or_false_ends() {
    let (_dir, path) = banner(b"Welcome\r\n220 not the end\n\x1b[31mred\x07\n\tindented\n\n\n");
    let srv = TestServer::start_with(|b| b.banner("ignored").banner_file(&path).unwrap()).await;
    let mut stream = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let want = b"220-Welcome\r\n 220 not the end\r\n[31mred\r\n220  indented\r\n";
    let mut got = vec![0; want.len()];
    tokio::time::timeout(crate::common::TIMEOUT, stream.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
    // The session goes on as usual after it.
    let mut c = crate::common::Client::without_greeting(stream);
    c.login("user", "12345").await;
    srv.stop().await;
}

#[test]
fn a_bad_banner_file_is_an_error_naming_the_file() {
    let too_big = vec![b'x'; MAX_MESSAGE_BYTES + 1];
    let too_long = "line\n".repeat(100);
    let cases: [(&[u8], &str); 4] = [
        (b"", "empty"),
        (b"\n \n", "empty"),
        (b"ok\ncaf\xe9\n", "line 2: not UTF-8 text"),
        (&too_big, "larger than 4096 bytes"),
    ];
    for (bytes, why) in cases
        .into_iter()
        .chain([(too_long.as_bytes(), "more than 64 lines")])
    {
        let (_dir, path) = banner(bytes);
        let err = Server::builder()
            .banner_file(&path)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&*path.to_string_lossy()), "{err}");
        assert!(err.contains(why), "{err}");
    }
    let err = Server::builder()
        .banner_file("/nonexistent/banner")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/banner: No such file"), "{err}");
    // At the cap exactly is fine.
    let (_dir, path) = banner(&vec![b'y'; MAX_MESSAGE_BYTES]);
    assert!(Server::builder().banner_file(&path).is_ok());
}

#[tokio::test]
async fn dir_message_comes_before_the_replies_of_cwd_cdup_and_login() {
    let srv = TestServer::start_with(|b| b.dir_message(".message")).await;
    srv.write(".message", b"Top level.\n");
    srv.write("sub/.message", b"Welcome to sub.\r\n250 fake end\n");
    std::fs::create_dir(srv.path("quiet")).unwrap();
    let mut c = srv.client().await;
    c.expect("USER user", 331).await;
    assert_eq!(
        c.cmd("PASS 12345").await,
        (230, "Top level.\nLogin successful.".into())
    );
    assert_eq!(
        c.cmd("CWD sub").await,
        (
            250,
            "Welcome to sub.\n 250 fake end\n\"/sub\" is the current directory.".into()
        )
    );
    assert_eq!(
        c.cmd("CDUP").await,
        (250, "Top level.\n\"/\" is the current directory.".into())
    );
    // No file, no message.
    assert_eq!(
        c.cmd("CWD quiet").await,
        (250, "\"/quiet\" is the current directory.".into())
    );
    // A directory named like the message is no message.
    std::fs::create_dir(srv.path("quiet/.message")).unwrap();
    assert_eq!(
        c.cmd("CWD .").await.1,
        "\"/quiet\" is the current directory."
    );
    srv.stop().await;
}

#[tokio::test]
async fn dir_message_needs_the_right_to_download_it_and_is_capped() {
    let srv = TestServer::start_with(|b| b.dir_message("README")).await;
    let mut big = b"first line\n".to_vec();
    big.extend(vec![b'z'; 3 * MAX_MESSAGE_BYTES]);
    srv.write("README", &big);
    srv.users
        .add_user(
            "browser",
            "pw",
            srv.root.path(),
            "el".parse::<Permissions>().unwrap(),
        )
        .unwrap();
    let mut c = srv.client().await;
    c.expect("USER browser", 331).await;
    assert_eq!(c.cmd("PASS pw").await, (230, "Login successful.".into()));
    // The cut line is left out rather than sent in part.
    let mut c = srv.user().await;
    assert_eq!(
        c.cmd("CWD /").await,
        (250, "first line\n\"/\" is the current directory.".into())
    );
    srv.stop().await;
}

#[tokio::test]
async fn dir_message_works_on_memory_storage() {
    let tree = Arc::new(MemoryStorageFactory::new(1 << 20));
    let srv = TestServer::start_with(|b| b.storage(tree).dir_message(".message")).await;
    srv.users
        .add_user("mem", "pw", "/", Permissions::ALL)
        .unwrap();
    let mut c = srv.client().await;
    c.login("mem", "pw").await;
    c.expect("MKD box", 257).await;
    c.upload("STOR box/.message", b"In the box.\n").await;
    assert_eq!(
        c.cmd("CWD box").await,
        (
            250,
            "In the box.\n\"/box\" is the current directory.".into()
        )
    );
    srv.stop().await;
}

#[test]
fn dir_message_must_be_a_file_name_and_umask_octal_777_at_most() {
    for bad in [&b""[..], b"a/b", b".", b"..", b"/x"] {
        let err = Server::builder().dir_message(bad).build().unwrap_err();
        assert!(err.to_string().contains("dir_message"), "{err}");
    }
    assert!(Server::builder().dir_message(".msg").build().is_ok());
    assert!(Server::builder().umask(0o1000).build().is_err());
    assert!(Server::builder().umask(0o777).build().is_ok());
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[tokio::test]
async fn umask_sets_the_mode_of_uploads_and_new_directories() {
    let srv = TestServer::start_with(|b| b.umask(0o027)).await;
    srv.write("kept", b"old");
    std::fs::set_permissions(srv.path("kept"), std::fs::Permissions::from_mode(0o604)).unwrap();
    let mut c = srv.user().await;
    c.upload("STOR new", b"x").await;
    c.upload("APPE appended", b"x").await;
    let (_, preliminary) = c.upload("STOU", b"x").await;
    c.expect("MKD dir", 257).await;
    c.upload("STOR kept", b"new").await;
    assert_eq!(mode(&srv.path("new")), 0o640);
    assert_eq!(mode(&srv.path("appended")), 0o640);
    let unique = preliminary
        .trim()
        .strip_prefix("FILE: ")
        .unwrap_or_else(|| panic!("no name in {preliminary:?}"));
    assert_eq!(mode(&srv.path(unique)), 0o640);
    assert_eq!(mode(&srv.path("dir")), 0o750);
    // Replacing a file keeps its mode; appending to one leaves it alone.
    assert_eq!(mode(&srv.path("kept")), 0o604);
    c.upload("APPE kept", b"more").await;
    assert_eq!(mode(&srv.path("kept")), 0o604);
    srv.stop().await;
}

#[tokio::test]
async fn umask_can_open_what_the_process_umask_would_close() {
    // A umask looser than the process's (022 in most places) still wins.
    let srv = TestServer::start_with(|b| b.umask(0)).await;
    let mut c = srv.user().await;
    c.upload("STOR open", b"x").await;
    c.expect("MKD shared", 257).await;
    assert_eq!(mode(&srv.path("open")), 0o666);
    assert_eq!(mode(&srv.path("shared")), 0o777);
    srv.stop().await;
}

#[tokio::test]
async fn without_umask_modes_are_what_the_process_umask_makes() {
    let srv = TestServer::start().await;
    // What the process umask makes of a plain create, for comparison.
    std::fs::write(srv.path("reference"), b"").unwrap();
    std::fs::create_dir(srv.path("reference-dir")).unwrap();
    let mut c = srv.user().await;
    c.upload("STOR up", b"x").await;
    c.expect("MKD dir", 257).await;
    assert_eq!(mode(&srv.path("up")), mode(&srv.path("reference")));
    assert_eq!(mode(&srv.path("dir")), mode(&srv.path("reference-dir")));
    srv.stop().await;
}

#[tokio::test]
async fn active_mode_off_refuses_port_and_eprt_and_leaves_them_out_of_feat_and_help() {
    let srv = TestServer::start_with(|b| b.active_mode(false)).await;
    let mut c = srv.user().await;
    for command in ["PORT 127,0,0,1,200,10", "EPRT |1|127.0.0.1|51210|"] {
        let (code, text) = c.cmd(command).await;
        assert_eq!(code, 550, "{command}: {text}");
        assert!(text.contains("active mode is off"), "{text}");
    }
    let feat = c.expect("FEAT", 211).await;
    assert!(feat.contains(" EPSV") && !feat.contains("EPRT"), "{feat}");
    let help = c.expect("HELP", 214).await;
    assert!(help.contains("PASV") && !help.contains("PORT") && !help.contains("EPRT"));
    assert!(c
        .expect("HELP port", 214)
        .await
        .contains("active mode is off"));
    // Passive transfers work as ever.
    srv.write("f", b"data");
    assert_eq!(c.download("RETR f").await.0, b"data");
    srv.stop().await;
}

#[tokio::test]
async fn active_mode_is_on_by_default() {
    let srv = TestServer::start().await;
    let mut c = srv.user().await;
    assert!(c.expect("FEAT", 211).await.contains(" EPRT"));
    assert!(c.expect("HELP", 214).await.contains("PORT"));
    // Refused for its address only, not for being active.
    let (code, text) = c.cmd("PORT 127,0,0,1,0,21").await;
    assert_eq!(code, 501, "{text}");
    srv.stop().await;
}

#[tokio::test]
async fn passive_mode_off_refuses_pasv_and_epsv_and_active_transfers_still_work() {
    let srv = TestServer::start_with(|b| b.passive_mode(false)).await;
    let mut c = srv.user().await;
    for command in ["PASV", "EPSV", "EPSV 1", "EPSV ALL"] {
        let (code, text) = c.cmd(command).await;
        assert_eq!(code, 550, "{command}: {text}");
        assert!(text.contains("passive mode is off"), "{text}");
    }
    let feat = c.expect("FEAT", 211).await;
    assert!(feat.contains(" EPRT") && !feat.contains("EPSV"), "{feat}");
    let help = c.expect("HELP", 214).await;
    assert!(help.contains("PORT") && !help.contains("PASV") && !help.contains("EPSV"));
    srv.write("f", b"active data");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    c.expect(format!("EPRT |1|127.0.0.1|{port}|"), 200).await;
    c.send("RETR f").await;
    let (mut data, _) = listener.accept().await.unwrap();
    assert_eq!(c.reply().await.0, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"active data");
    assert_eq!(c.reply().await.0, 226);
    srv.stop().await;
}

#[test]
fn active_and_passive_mode_cannot_both_be_off() {
    let err = Server::builder()
        .active_mode(false)
        .passive_mode(false)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("cannot both be off"), "{err}");
}

/// A guard that refuses downloads of `.message` files.
#[derive(Debug)]
struct NoMessages;

#[async_trait::async_trait]
impl ferroftpd::guard::Guard for NoMessages {
    async fn check(&self, request: &ferroftpd::guard::Request<'_>) -> ferroftpd::guard::Verdict {
        use ferroftpd::guard::{Operation, Verdict};
        match &request.operation {
            Operation::Download { path } if path.as_bytes().ends_with(b"/.message") => {
                Verdict::Refuse(ferroftpd::proto::reply::Reply::new(550, "No."))
            }
            _ => Verdict::Allow,
        }
    }
}

#[tokio::test]
async fn dir_message_asks_the_guard() {
    let srv =
        TestServer::start_with(|b| b.dir_message(".message").guard(Arc::new(NoMessages))).await;
    srv.write(".message", b"hidden by the guard\n");
    let mut c = srv.user().await;
    assert_eq!(
        c.cmd("CWD /").await,
        (250, "\"/\" is the current directory.".into())
    );
    srv.stop().await;
}
