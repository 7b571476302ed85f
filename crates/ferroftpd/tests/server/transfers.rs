use crate::common::{read, TestServer, TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[tokio::test]
async fn retr_and_stor_in_passive_mode() {
    let srv = TestServer::start().await;
    let data = pattern(3 * 1024 * 1024 + 17);
    srv.write("big.bin", &data);
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let (got, reply) = c.download("RETR big.bin").await;
    assert_eq!(reply, (226, "Transfer complete.".into()));
    assert!(got == data, "download differs");
    let ((code, _), pre) = c.upload("STOR copy.bin", &data).await;
    // The client connected before STOR: 125, not 150.
    assert_eq!(pre, "Data connection already open. Transfer starting.");
    assert_eq!(code, 226);
    assert!(read(&srv.path("copy.bin")) == data, "upload differs");
}

#[tokio::test]
async fn retr_without_sendfile() {
    let srv = TestServer::start_with(|b| b.sendfile(false)).await;
    let data = pattern(1024 * 1024 + 3);
    srv.write("f.bin", &data);
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let (got, reply) = c.download("RETR f.bin").await;
    assert_eq!(reply.0, 226);
    assert!(got == data);
}

#[tokio::test]
async fn stor_replaces_and_appe_appends() {
    let srv = TestServer::start().await;
    srv.write("f.txt", b"old content that is long");
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    c.upload("STOR f.txt", b"new").await;
    assert_eq!(read(&srv.path("f.txt")), b"new");
    assert_eq!(c.upload("APPE f.txt", b"+more").await.0 .0, 226);
    assert_eq!(read(&srv.path("f.txt")), b"new+more");
    assert_eq!(c.upload("APPE created.txt", b"x").await.0 .0, 226);
    assert_eq!(read(&srv.path("created.txt")), b"x");
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(srv.root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[tokio::test]
async fn rest_resumes_downloads_and_uploads() {
    let srv = TestServer::start().await;
    srv.write("f.bin", b"0123456789");
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    assert_eq!(
        c.cmd("REST 4").await,
        (350, "Restarting at position 4.".into())
    );
    let (got, reply) = c.download("RETR f.bin").await;
    assert_eq!((got.as_slice(), reply.0), (&b"456789"[..], 226));
    // The marker is used once.
    let (got, _) = c.download("RETR f.bin").await;
    assert_eq!(got, b"0123456789");
    c.expect("REST 11", 350).await;
    c.epsv().await;
    assert_eq!(
        c.cmd("RETR f.bin").await,
        (554, "REST position (11) > file size (10).".into())
    );
    c.expect("REST 6", 350).await;
    assert_eq!(c.upload("STOR f.bin", b"ABCDEF").await.0 .0, 226);
    assert_eq!(read(&srv.path("f.bin")), b"012345ABCDEF");
    c.expect("REST 2", 350).await;
    assert_eq!(
        c.cmd("APPE f.bin").await,
        (450, "Can't APPE while REST request is pending.".into())
    );
    c.expect("TYPE A", 200).await;
    assert_eq!(c.cmd("REST 5").await.0, 501);
    assert_eq!(c.cmd("REST -1").await.0, 501);
    assert_eq!(c.cmd("REST x").await.0, 501);
}

#[tokio::test]
async fn ascii_converts_line_endings_both_ways() {
    let srv = TestServer::start().await;
    srv.write("unix.txt", b"a\nb\r\nc\n");
    let mut c = srv.user().await;
    c.expect("TYPE A", 200).await;
    let (got, _) = c.download("RETR unix.txt").await;
    assert_eq!(got, b"a\r\nb\r\nc\r\n");
    c.upload("STOR up.txt", b"x\r\ny\r\nlone\rcr\r\n").await;
    assert_eq!(read(&srv.path("up.txt")), b"x\ny\nlone\rcr\n");
}

#[tokio::test]
async fn stou_picks_a_new_name() {
    let srv = TestServer::start().await;
    let mut c = srv.user().await;
    let ((code, _), pre) = c.upload("STOU", b"unique").await;
    assert_eq!(code, 226);
    let name = pre.strip_prefix("FILE: ").expect("150 FILE: name");
    assert!(name.starts_with("ftpd."), "{name}");
    assert_eq!(read(&srv.path(name)), b"unique");
    let (_, pre) = c.upload("STOU report", b"r").await;
    assert!(
        pre.strip_prefix("FILE: ").unwrap().starts_with("report."),
        "{pre}"
    );
}

#[tokio::test]
async fn listings() {
    let srv = TestServer::start().await;
    srv.write("dir/a.txt", b"abc");
    srv.write("dir/b c.txt", b"");
    std::fs::create_dir(srv.path("dir/sub")).unwrap();
    std::os::unix::fs::symlink("a.txt", srv.path("dir/link")).unwrap();
    let mut c = srv.user().await;
    let (list, reply) = c.download("LIST dir").await;
    assert_eq!(reply.0, 226);
    let list = String::from_utf8(list).unwrap();
    assert!(list.ends_with("\r\n"));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 4, "{list}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("-rw") && l.ends_with(" a.txt") && l.contains(" 3 ")),
        "{list}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with('d') && l.ends_with(" sub")),
        "{list}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with('l') && l.ends_with(" link -> a.txt")),
        "{list}"
    );
    assert!(lines.iter().any(|l| l.ends_with(" b c.txt")), "{list}");

    // Options are not paths.
    c.expect("CWD dir", 250).await;
    let (list_la, _) = c.download("LIST -la").await;
    assert_eq!(String::from_utf8(list_la).unwrap().lines().count(), 4);

    let (nlst, _) = c.download("NLST").await;
    let mut names: Vec<String> = String::from_utf8(nlst)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    names.sort();
    assert_eq!(names, ["a.txt", "b c.txt", "link", "sub"]);

    let (mlsd, _) = c.download("MLSD").await;
    let mlsd = String::from_utf8(mlsd).unwrap();
    assert!(
        mlsd.lines()
            .any(|l| l.contains("type=file;") && l.contains("size=3;") && l.ends_with("; a.txt")),
        "{mlsd}"
    );
    assert!(
        mlsd.lines()
            .any(|l| l.contains("type=dir;") && l.ends_with("; sub")),
        "{mlsd}"
    );
    // A link is described by its target.
    assert!(
        mlsd.lines()
            .any(|l| l.contains("type=file;") && l.ends_with("; link")),
        "{mlsd}"
    );

    let (one, _) = c.download("LIST a.txt").await;
    assert_eq!(String::from_utf8(one).unwrap().lines().count(), 1);
    c.epsv().await;
    assert_eq!(c.cmd("LIST nope").await.0, 550);
    c.epsv().await;
    assert_eq!(c.cmd("MLSD a.txt").await.0, 501);
    // An empty directory gives an empty listing.
    std::fs::create_dir(srv.path("empty")).unwrap();
    let (empty, reply) = c.download("LIST /empty").await;
    assert_eq!((empty.len(), reply.0), (0, 226));
}

#[tokio::test]
async fn preliminary_reply_is_150_until_the_client_connects() {
    let srv = TestServer::start().await;
    srv.write("f", b"late");
    let mut c = srv.user().await;
    let text = c.expect("EPSV", 229).await;
    let port: u16 = text.split('|').nth(3).unwrap().parse().unwrap();
    assert_eq!(
        c.cmd("RETR f").await,
        (
            150,
            "File status okay. About to open data connection.".into()
        )
    );
    let mut data = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut got = Vec::new();
    data.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"late");
    assert_eq!(c.reply().await.0, 226);
}

#[tokio::test]
async fn transfer_needs_port_or_pasv() {
    let srv = TestServer::start().await;
    srv.write("f", b"x");
    let mut c = srv.user().await;
    assert_eq!(
        c.cmd("RETR f").await,
        (425, "Use PORT or PASV first.".into())
    );
    assert_eq!(c.cmd("LIST").await.0, 425);
    assert_eq!(c.cmd("STOR g").await.0, 425);
    assert!(!srv.path("g").exists());
}

#[tokio::test]
async fn pasv_reply_and_masquerade() {
    let srv =
        TestServer::start_with(|b| b.masquerade_address("203.0.113.9".parse().unwrap())).await;
    let mut c = srv.user().await;
    let text = c.expect("PASV", 227).await;
    assert!(
        text.starts_with("Entering passive mode (203,0,113,9,"),
        "{text}"
    );
}

#[tokio::test]
async fn passive_port_range_is_used() {
    let range = ferroftpd::PassivePorts::new(42_100, 42_140).unwrap();
    let srv = TestServer::start_with(|b| b.passive_ports(range)).await;
    let mut c = srv.user().await;
    for _ in 0..3 {
        let text = c.expect("EPSV", 229).await;
        let port: u16 = text.split('|').nth(3).unwrap().parse().unwrap();
        assert!((42_100..=42_140).contains(&port), "{port}");
    }
}

#[tokio::test]
async fn active_mode_with_port_and_eprt() {
    let srv = TestServer::start().await;
    srv.write("f.txt", b"active data");
    let mut c = srv.user().await;
    for eprt in [false, true] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cmd = if eprt {
            format!("EPRT |1|127.0.0.1|{port}|")
        } else {
            format!("PORT 127,0,0,1,{},{}", port >> 8, port & 0xff)
        };
        c.expect(cmd, 200).await;
        c.expect("RETR f.txt", 150).await;
        let (mut data, _) = tokio::time::timeout(TIMEOUT, listener.accept())
            .await
            .unwrap()
            .unwrap();
        let mut buf = Vec::new();
        data.read_to_end(&mut buf).await.unwrap();
        assert_eq!(buf, b"active data");
        assert_eq!(c.reply().await.0, 226);
    }
}

#[tokio::test]
async fn port_refuses_bounces_and_privileged_ports() {
    let srv = TestServer::start().await;
    let mut c = srv.user().await;
    assert_eq!(
        c.cmd("PORT 10,0,0,1,200,10").await,
        (
            501,
            "Rejected data connection to foreign address 10.0.0.1:51210.".into()
        )
    );
    assert_eq!(c.cmd("EPRT |1|192.0.2.1|5000|").await.0, 501);
    assert_eq!(
        c.cmd("PORT 127,0,0,1,0,21").await,
        (
            501,
            "PORT against the privileged port \"21\" refused.".into()
        )
    );
    assert_eq!(c.cmd("EPRT |2|::1|5000|").await.0, 501);
    let srv = TestServer::start_with(|b| {
        b.permit_foreign_addresses(true)
            .permit_privileged_ports(true)
    })
    .await;
    let mut c = srv.user().await;
    c.expect("PORT 10,0,0,1,0,21", 200).await;
}

#[tokio::test]
async fn epsv_all_refuses_other_data_commands() {
    let srv = TestServer::start().await;
    let mut c = srv.user().await;
    c.expect("EPSV ALL", 200).await;
    assert_eq!(
        c.cmd("PASV").await,
        (501, "PASV not allowed after EPSV ALL.".into())
    );
    assert_eq!(c.cmd("PORT 127,0,0,1,200,1").await.0, 501);
    c.expect("EPSV", 229).await;
    assert_eq!(c.cmd("EPSV 2").await.0, 522);
}

/// A download the client does not read blocks once socket buffers fill:
/// the control channel must still answer, and ABOR must end it.
#[tokio::test]
async fn abor_and_stat_during_a_transfer() {
    let srv = TestServer::start().await;
    srv.write("big.bin", &pattern(64 * 1024 * 1024));
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let data = c.epsv().await;
    c.expect("RETR big.bin", 125).await;
    c.expect("NOOP", 200).await;
    let stat = c.expect("STAT", 211).await;
    assert!(stat.contains("Transfer in progress: RETR"), "{stat}");
    c.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n").await;
    assert_eq!(c.reply().await, (426, "Transfer aborted via ABOR.".into()));
    assert_eq!(c.reply().await, (226, "ABOR command successful.".into()));
    drop(data);
    assert_eq!(c.cmd("ABOR").await, (225, "No transfer to abort.".into()));
    c.expect("EPSV", 229).await;
    assert_eq!(c.cmd("ABOR").await.0, 225);
    c.expect("NOOP", 200).await;
}

#[tokio::test]
async fn an_aborted_upload_keeps_the_previous_file() {
    let srv = TestServer::start().await;
    srv.write("keep.txt", b"precious");
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let mut data = c.epsv().await;
    c.expect("STOR keep.txt", 125).await;
    data.write_all(&pattern(100_000)).await.unwrap();
    c.send("ABOR").await;
    assert_eq!(c.reply().await.0, 426);
    assert_eq!(c.reply().await.0, 226);
    assert_eq!(read(&srv.path("keep.txt")), b"precious");
    // A reset data connection is a failure too, not an end of file.
    let data = c.epsv().await;
    c.expect("STOR keep.txt", 125).await;
    let std = data.into_std().unwrap();
    socket2::SockRef::from(&std)
        .set_linger(Some(std::time::Duration::ZERO))
        .unwrap();
    (&std).write_all_sync(b"partial");
    drop(std);
    assert_eq!(c.reply().await.0, 426);
    assert_eq!(read(&srv.path("keep.txt")), b"precious");
    let names: Vec<_> = std::fs::read_dir(srv.root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "temporary file left: {names:?}");
}

trait WriteAllSync {
    fn write_all_sync(self, bytes: &[u8]);
}

impl WriteAllSync for &std::net::TcpStream {
    fn write_all_sync(mut self, bytes: &[u8]) {
        use std::io::Write;
        self.set_nonblocking(false).unwrap();
        self.write_all(bytes).unwrap();
    }
}

#[tokio::test]
async fn quit_during_a_transfer_lets_it_finish() {
    let srv = TestServer::start().await;
    let data = pattern(8 * 1024 * 1024);
    srv.write("f.bin", &data);
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let mut conn = c.epsv().await;
    c.expect("RETR f.bin", 125).await;
    c.send("QUIT").await;
    let mut got = Vec::new();
    conn.read_to_end(&mut got).await.unwrap();
    assert!(got == data);
    assert_eq!(c.reply().await.0, 226);
    assert_eq!(c.reply().await.0, 221);
    assert!(c.is_closed().await);
}

#[tokio::test]
async fn passive_connection_from_the_client_only() {
    // The check itself: a foreign peer is dropped and the real client
    // still gets the transfer. On loopback every peer is 127.0.0.1, so
    // the foreign peer comes from 127.0.0.2.
    let srv = TestServer::start().await;
    srv.write("f", b"mine");
    let mut c = srv.user().await;
    let text = c.expect("EPSV", 229).await;
    let port: u16 = text.split('|').nth(3).unwrap().parse().unwrap();
    let thief = tokio::net::TcpSocket::new_v4().unwrap();
    thief.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut thief = thief.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let mut real = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    c.expect("RETR f", 150).await;
    let mut got = Vec::new();
    real.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"mine");
    let mut stolen = Vec::new();
    let _ = thief.read_to_end(&mut stolen).await;
    assert!(stolen.is_empty());
    assert_eq!(c.reply().await.0, 226);
}

#[tokio::test]
async fn wildcards_in_list_and_nlst() {
    let srv = TestServer::start().await;
    for name in ["a.txt", "b.txt", "c.log", "sub/d.txt", "sub/e.bin"] {
        srv.write(name, b"x");
    }
    let mut c = srv.user().await;
    let nlst = |bytes: Vec<u8>| {
        let mut names: Vec<String> = String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    };
    assert_eq!(nlst(c.download("NLST *.txt").await.0), ["a.txt", "b.txt"]);
    assert_eq!(nlst(c.download("NLST sub/*.txt").await.0), ["sub/d.txt"]);
    assert_eq!(nlst(c.download("NLST /sub/?.bin").await.0), ["/sub/e.bin"]);
    assert!(c.download("NLST *.none").await.0.is_empty());
    let (list, reply) = c.download("LIST -l *.log").await;
    assert_eq!(reply.0, 226);
    let list = String::from_utf8(list).unwrap();
    assert_eq!(list.lines().count(), 1);
    assert!(list.ends_with(" c.log\r\n"), "{list}");
    // Wildcards only in the last component, and MLSD takes none.
    c.epsv().await;
    assert_eq!(c.cmd("NLST s*/d.txt").await.0, 550);
    c.epsv().await;
    assert_eq!(c.cmd("MLSD *.txt").await.0, 550);
}
