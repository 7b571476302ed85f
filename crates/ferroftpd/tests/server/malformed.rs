//! Bad input gets a well-formed reply and the session goes on.

use crate::common::TestServer;

#[tokio::test]
async fn garbage_gets_replies_and_the_session_goes_on() {
    let srv = TestServer::start().await;
    let mut c = srv.client().await;
    let cases: Vec<(&[u8], u16)> = vec![
        (b"", 500),
        (b"BOGUS", 500),
        (b"\xff\xfe\xfd\xfc", 500),
        (b"\x00\x01\x02", 500),
        (b"USER", 501),
        (b"NOOP extra", 501),
    ];
    for (line, code) in cases {
        assert_eq!(c.cmd(line).await.0, code, "{line:?}");
    }
    c.login("user", "12345").await;
    let cases: Vec<(&[u8], u16)> = vec![
        (b"PORT", 501),
        (b"PORT 1,2,3", 501),
        (b"PORT 127,0,0,1,300,1", 501),
        (b"PORT 127,0,0,1,-1,1", 501),
        (b"PORT a,b,c,d,e,f", 501),
        (b"EPRT |9|x|1|", 522),
        (b"EPRT ||||", 501),
        (b"EPRT |1|127.0.0.1|99999|", 501),
        (b"EPSV 7", 522),
        (b"EPSV bogus", 501),
        (b"REST 18446744073709551616", 501),
        (b"TYPE Z", 501),
        (b"MODE", 501),
        (b"RETR", 501),
        (b"CWD caf\xe9", 550),
        (b"MKD \xfe\xfd", 257),
        // 0xFF is Telnet IAC: a literal one is sent doubled.
        (b"MKD a\xff\xffb", 257),
        (b"RNTO x", 503),
        (b"PASS again", 503),
    ];
    for (line, code) in cases {
        assert_eq!(
            c.cmd(line).await.0,
            code,
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
    c.expect("NOOP", 200).await;
}

#[tokio::test]
async fn an_overlong_line_is_refused_and_the_next_one_served() {
    let srv = TestServer::start().await;
    let mut c = srv.client().await;
    let mut line = b"USER ".to_vec();
    line.extend(std::iter::repeat_n(b'a', 100_000));
    line.extend_from_slice(b"\r\n");
    c.send_raw(&line).await;
    assert_eq!(c.reply().await, (500, "Command line too long.".into()));
    c.expect("NOOP", 200).await;
}

#[tokio::test]
async fn bare_lf_and_split_lines_are_accepted() {
    let srv = TestServer::start().await;
    let mut c = srv.client().await;
    c.send_raw(b"NOOP\n").await;
    assert_eq!(c.reply().await.0, 200);
    c.send_raw(b"NO").await;
    c.send_raw(b"OP\r").await;
    c.send_raw(b"\n").await;
    assert_eq!(c.reply().await.0, 200);
    // Pipelined commands are answered in order.
    c.send_raw(b"NOOP\r\nSYST\r\nBOGUS\r\n").await;
    assert_eq!(c.reply().await.0, 200);
    assert_eq!(c.reply().await.0, 215);
    assert_eq!(c.reply().await.0, 500);
}

#[tokio::test]
async fn non_utf8_names_round_trip() {
    let srv = TestServer::start().await;
    let mut c = srv.user().await;
    c.expect(b"MKD caf\xe9".as_slice(), 257).await;
    let (list, _) = c.download("NLST").await;
    assert_eq!(list, b"caf\xe9\r\n");
    c.expect(b"CWD caf\xe9".as_slice(), 250).await;
    c.expect("CWD /", 250).await;
    c.expect(b"RMD caf\xe9".as_slice(), 250).await;
}

#[tokio::test]
async fn line_feeds_in_names_do_not_inject_replies() {
    let srv = TestServer::start().await;
    let mut c = srv.user().await;
    // A name with a line feed arrives as two lines, the second a command of
    // its own, as with any server.
    c.expect(b"CWD evil\n213 fake".as_slice(), 550).await;
    assert_eq!(c.reply().await.0, 500);
    // A line feed in a stored name is sent as NUL, so it cannot end a
    // multi-line reply early.
    std::fs::create_dir(srv.path("evil\n213 fake")).unwrap();
    let stat = c.expect("STAT /", 213).await;
    assert!(stat.contains("evil\u{0}213 fake"), "{stat:?}");
    assert!(stat.ends_with("End of status."), "{stat:?}");
    c.expect("NOOP", 200).await;
}

#[tokio::test]
async fn legacy_client_encoding() {
    let srv = TestServer::start_with(|b| b.encoding("latin1").unwrap()).await;
    let mut c = srv.user().await;
    let feat = c.expect("FEAT", 211).await;
    assert!(!feat.contains("UTF8"), "{feat}");
    assert_eq!(c.cmd("OPTS UTF8 ON").await.0, 501);
    // Latin-1 from the client, UTF-8 on disk.
    c.expect(b"MKD caf\xe9".as_slice(), 257).await;
    assert!(srv.path("café").is_dir());
    c.send(b"CWD caf\xe9").await;
    let reply = c.stream_reply_bytes().await;
    assert_eq!(reply, b"250 \"/caf\xe9\" is the current directory.\r\n");
    c.expect("CWD /", 250).await;
    let (nlst, _) = c.download("NLST").await;
    assert_eq!(nlst, b"caf\xe9\r\n");
    assert!(ferroftpd::Server::builder()
        .encoding("no-such-charset")
        .is_err());
}
