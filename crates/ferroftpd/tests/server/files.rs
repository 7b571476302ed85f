use crate::common::{read, TestServer};

#[tokio::test]
async fn navigation() {
    let srv = TestServer::start().await;
    std::fs::create_dir_all(srv.path("a/b c")).unwrap();
    let mut c = srv.user().await;
    assert_eq!(
        c.cmd("PWD").await,
        (257, "\"/\" is the current directory.".into())
    );
    assert_eq!(
        c.cmd("CWD a").await,
        (250, "\"/a\" is the current directory.".into())
    );
    c.expect("CWD b c", 250).await;
    assert_eq!(
        c.cmd("XPWD").await.1,
        "\"/a/b c\" is the current directory."
    );
    c.expect("CDUP", 250).await;
    assert_eq!(c.cmd("PWD").await.1, "\"/a\" is the current directory.");
    c.expect("XCUP", 250).await;
    c.expect("XCWD /a/b c/", 250).await;
    c.expect("CWD", 250).await;
    assert_eq!(c.cmd("PWD").await.1, "\"/\" is the current directory.");
    assert_eq!(
        c.cmd("CWD nope").await,
        (550, "No such file or directory.".into())
    );
    srv.write("f", b"");
    assert_eq!(c.cmd("CWD f").await, (550, "Not a directory.".into()));
}

#[tokio::test]
async fn directories_and_quotes() {
    let srv = TestServer::start().await;
    let mut c = srv.user().await;
    assert_eq!(
        c.cmd("MKD new dir").await,
        (257, "\"/new dir\" directory created.".into())
    );
    assert!(srv.path("new dir").is_dir());
    assert_eq!(
        c.cmd("XMKD q\"uote").await,
        (257, "\"/q\"\"uote\" directory created.".into())
    );
    c.expect("CWD q\"uote", 250).await;
    assert_eq!(
        c.cmd("PWD").await.1,
        "\"/q\"\"uote\" is the current directory."
    );
    c.expect("CWD /", 250).await;
    assert_eq!(c.cmd("MKD new dir").await, (550, "File exists.".into()));
    assert_eq!(
        c.cmd("RMD new dir").await,
        (250, "Directory removed.".into())
    );
    assert!(!srv.path("new dir").exists());
    assert_eq!(
        c.cmd("RMD /").await,
        (550, "Can't remove root directory.".into())
    );
    srv.write("full/x", b"1");
    assert_eq!(
        c.cmd("XRMD full").await,
        (550, "Directory not empty.".into())
    );
    assert_eq!(c.cmd("RMD nope").await.0, 550);
}

#[tokio::test]
async fn delete_rename_size_mdtm() {
    let srv = TestServer::start().await;
    srv.write("a.txt", b"12345");
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    assert_eq!(c.cmd("SIZE a.txt").await, (213, "5".into()));
    let (code, mdtm) = c.cmd("MDTM a.txt").await;
    assert_eq!(code, 213);
    assert_eq!(mdtm.len(), 14);
    assert!(mdtm.starts_with("20"));
    std::fs::create_dir(srv.path("d")).unwrap();
    assert_eq!(
        c.cmd("SIZE d").await,
        (550, "/d is not retrievable.".into())
    );
    assert_eq!(c.cmd("SIZE nope").await.0, 550);

    assert_eq!(
        c.cmd("RNTO b.txt").await,
        (503, "Bad sequence of commands: use RNFR first.".into())
    );
    assert_eq!(
        c.cmd("RNFR a.txt").await,
        (350, "Ready for destination name.".into())
    );
    assert_eq!(c.cmd("RNTO d/b.txt").await, (250, "Renaming ok.".into()));
    assert_eq!(read(&srv.path("d/b.txt")), b"12345");
    assert_eq!(c.cmd("RNFR nope").await.0, 550);
    // RNFR applies only to the very next command.
    c.expect("RNFR d/b.txt", 350).await;
    c.expect("NOOP", 200).await;
    c.expect("RNTO c.txt", 503).await;
    assert_eq!(
        c.cmd("RNFR /").await,
        (550, "Can't rename home directory.".into())
    );

    assert_eq!(c.cmd("DELE d/b.txt").await, (250, "File removed.".into()));
    assert!(!srv.path("d/b.txt").exists());
    assert_eq!(
        c.cmd("DELE d/b.txt").await,
        (550, "No such file or directory.".into())
    );
    assert_eq!(c.cmd("DELE d").await, (550, "Is a directory.".into()));
}

/// RFC 3659 §4: SIZE gives the size as transferred, which in ASCII mode
/// (the default) depends on the content; refused there, as pyftpdlib and
/// proftpd do.
#[tokio::test]
async fn size_is_refused_in_ascii_mode() {
    let srv = TestServer::start().await;
    srv.write("lines.txt", b"a\nb\n");
    let mut c = srv.user().await;
    let refused = (
        550,
        "SIZE not allowed in ASCII mode: send TYPE I first.".into(),
    );
    assert_eq!(c.cmd("SIZE lines.txt").await, refused);
    c.expect("TYPE I", 200).await;
    assert_eq!(c.cmd("SIZE lines.txt").await, (213, "4".into()));
    c.expect("TYPE A", 200).await;
    assert_eq!(c.cmd("SIZE lines.txt").await, refused);
}

#[tokio::test]
async fn permission_overrides_apply_by_directory() {
    let srv = TestServer::start().await;
    std::fs::create_dir_all(srv.path("upload/deeper")).unwrap();
    srv.users
        .add_user("ro", "pw", srv.root.path(), "elr".parse().unwrap())
        .unwrap();
    srv.users
        .override_perm("ro", "/upload", "elrwm".parse().unwrap(), false)
        .unwrap();
    let mut c = srv.client().await;
    c.login("ro", "pw").await;
    c.expect("MKD top", 550).await;
    c.expect("MKD upload/sub", 257).await;
    c.expect("MKD upload/deeper/sub", 550).await;
    let ((code, _), _) = c.upload("STOR upload/f.txt", b"ok").await;
    assert_eq!(code, 226);
    assert_eq!(read(&srv.path("upload/f.txt")), b"ok");
}

#[tokio::test]
async fn info_commands() {
    let srv = TestServer::start().await;
    let mut c = srv.user().await;
    assert_eq!(c.cmd("SYST").await, (215, "UNIX Type: L8".into()));
    let feat = c.expect("FEAT", 211).await;
    for f in [
        " EPRT",
        " EPSV",
        " MDTM",
        " REST STREAM",
        " SIZE",
        " TVFS",
        " UTF8",
        " MLST ",
    ] {
        assert!(
            feat.lines().any(|l| l.starts_with(f)),
            "FEAT lacks {f}: {feat}"
        );
    }
    let help = c.expect("HELP", 214).await;
    assert!(help.contains("RETR") && help.contains("XMKD"));
    assert_eq!(
        c.cmd("HELP retr").await,
        (214, "Syntax: RETR <SP> file-name (retrieve a file).".into())
    );
    assert_eq!(c.cmd("HELP bogus").await.0, 501);
    assert_eq!(
        c.cmd("OPTS UTF8 ON").await,
        (200, "Always in UTF8 mode.".into())
    );
    assert_eq!(
        c.cmd("OPTS MLST type;size;").await,
        (200, "MLST OPTS size;type;".into())
    );
    assert_eq!(c.cmd("OPTS BOGUS").await.0, 501);
    let stat = c.expect("STAT", 211).await;
    assert!(stat.contains("Logged in as: user"), "{stat}");
    assert_eq!(c.cmd("TYPE I").await, (200, "Type set to: Binary.".into()));
    assert_eq!(c.cmd("TYPE A N").await, (200, "Type set to: ASCII.".into()));
    assert_eq!(
        c.cmd("TYPE L 8").await,
        (200, "Type set to: Binary.".into())
    );
    assert_eq!(c.cmd("TYPE E").await.0, 504);
    assert_eq!(c.cmd("MODE S").await.0, 200);
    assert_eq!(c.cmd("MODE B").await.0, 504);
    assert_eq!(c.cmd("STRU F").await.0, 200);
    assert_eq!(c.cmd("STRU R").await.0, 504);
    assert_eq!(c.cmd("ALLO 100").await.0, 202);
    assert_eq!(c.cmd("ACCT x").await.0, 202);
    assert_eq!(c.cmd("SMNT x").await.0, 502);
    assert_eq!(c.cmd("CLNT curl 8.0").await, (200, "Noted.".into()));
    assert_eq!(c.cmd("LANG").await.0, 200);
    assert_eq!(c.cmd("LANG en-US").await.0, 200);
    assert_eq!(c.cmd("LANG fr").await.0, 504);
    assert_eq!(c.cmd("HOST example.com").await.0, 503);
    assert_eq!(c.cmd("SITE HELP").await.0, 214);
    assert_eq!(c.cmd("SITE BOGUS").await.0, 501);
    assert_eq!(c.cmd("NOOP").await.0, 200);
}

#[tokio::test]
async fn mlst_and_stat_path() {
    let srv = TestServer::start().await;
    srv.write("dir/f.txt", b"abc");
    let mut c = srv.user().await;
    let mlst = c.expect("MLST dir/f.txt", 250).await;
    let lines: Vec<&str> = mlst.lines().collect();
    assert_eq!(lines[0], "Listing \"/dir/f.txt\":");
    assert!(
        lines[1].starts_with(' ')
            && lines[1].contains("type=file;")
            && lines[1].contains("size=3;")
    );
    assert!(lines[1].ends_with("; /dir/f.txt"), "{}", lines[1]);
    assert!(lines[1].contains("perm=adfrw;"));
    assert_eq!(lines[2], "End MLST.");
    let cwd = c.expect("MLST", 250).await;
    assert!(cwd.contains("type=dir;") && cwd.contains("; /\n"), "{cwd}");
    let stat = c.expect("STAT dir", 213).await;
    assert!(stat.starts_with("Status of \"/dir\":"), "{stat}");
    assert!(
        stat.lines()
            .any(|l| l.starts_with("-rw") && l.ends_with(" f.txt")),
        "{stat}"
    );
    assert!(stat.ends_with("End of status."));
    assert_eq!(c.cmd("MLST nope").await.0, 550);
}

#[tokio::test]
async fn mfmt_and_site_chmod() {
    use std::os::unix::fs::PermissionsExt;
    let srv = TestServer::start().await;
    srv.write("f.txt", b"x");
    let mut c = srv.user().await;
    assert_eq!(
        c.cmd("MFMT 20200102030405 f.txt").await,
        (213, "Modify=20200102030405; /f.txt".into())
    );
    assert_eq!(c.cmd("MDTM f.txt").await, (213, "20200102030405".into()));
    assert_eq!(c.cmd("MFMT 2020 f.txt").await.0, 501);
    assert_eq!(c.cmd("MFMT 20200102030405 nope").await.0, 550);
    assert_eq!(
        c.cmd("SITE CHMOD 640 f.txt").await,
        (200, "SITE CHMOD successful.".into())
    );
    let mode = std::fs::metadata(srv.path("f.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o640);
    assert_eq!(c.cmd("SITE CHMOD 999 f.txt").await.0, 501);
    assert_eq!(c.cmd("SITE CHMOD 644").await.0, 501);
    assert_eq!(c.cmd("SITE CHMOD 644 nope").await.0, 550);
    let help = c.expect("SITE HELP", 214).await;
    assert!(help.contains("CHMOD"));
    // Anonymous has neither M nor T.
    let mut anon = srv.client().await;
    anon.login("anonymous", "x").await;
    assert_eq!(anon.cmd("SITE CHMOD 777 f.txt").await.0, 550);
    assert_eq!(anon.cmd("MFMT 20200102030405 f.txt").await.0, 550);
}

#[tokio::test]
async fn checksums() {
    let srv = TestServer::start().await;
    srv.write("abc.txt", b"abc");
    srv.write("abcdef.txt", b"abcdef");
    let mut c = srv.user().await;
    let feat = c.expect("FEAT", 211).await;
    assert!(
        feat.contains(" HASH SHA-1;SHA-256*;SHA-512;MD5;CRC32"),
        "{feat}"
    );
    assert_eq!(
        c.cmd("HASH abc.txt").await,
        (
            213,
            "SHA-256 0-3 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad /abc.txt"
                .into()
        )
    );
    assert_eq!(c.cmd("OPTS HASH").await, (200, "SHA-256".into()));
    assert_eq!(c.cmd("OPTS HASH md5").await, (200, "MD5".into()));
    assert_eq!(c.cmd("OPTS HASH whirlpool").await.0, 501);
    assert_eq!(
        c.cmd("HASH abc.txt").await,
        (
            213,
            "MD5 0-3 900150983cd24fb0d6963f7d28e17f72 /abc.txt".into()
        )
    );
    let feat = c.expect("FEAT", 211).await;
    assert!(feat.contains("MD5*"), "{feat}");
    assert_eq!(c.cmd("XCRC abc.txt").await, (250, "352441C2".into()));
    assert_eq!(
        c.cmd("XMD5 abc.txt").await,
        (250, "900150983cd24fb0d6963f7d28e17f72".into())
    );
    assert_eq!(
        c.cmd("XSHA1 abc.txt").await,
        (250, "a9993e364706816aba3e25717850c26c9cd0d89d".into())
    );
    assert_eq!(
        c.cmd("XSHA256 abc.txt").await,
        (
            250,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into()
        )
    );
    assert!(c
        .cmd("XSHA512 abc.txt")
        .await
        .1
        .starts_with("ddaf35a193617aba"));
    // Ranges: bytes 0..3 of "abcdef" are "abc"; 3..6 "def".
    assert_eq!(
        c.cmd("XMD5 abcdef.txt, 3").await.1,
        "900150983cd24fb0d6963f7d28e17f72"
    );
    assert_eq!(
        c.cmd("XMD5 \"abcdef.txt\" 0 3").await.1,
        "900150983cd24fb0d6963f7d28e17f72"
    );
    let def = c.cmd("XMD5 abcdef.txt, 3, 6").await;
    assert_eq!(def, (250, "4ed9407630eb1000c0f6b63842defa7d".into()));
    assert_eq!(c.cmd("XMD5 abcdef.txt, 3, 7").await.0, 554);
    assert_eq!(c.cmd("XMD5 abcdef.txt, 5, 3").await.0, 501);
    assert_eq!(c.cmd("XCRC nope").await.0, 550);
    std::fs::create_dir(srv.path("d")).unwrap();
    assert_eq!(c.cmd("HASH d").await.0, 550);
    // Checksums reveal content: they need the read permission.
    srv.users
        .add_user("noread", "pw", srv.root.path(), "el".parse().unwrap())
        .unwrap();
    let mut n = srv.client().await;
    n.login("noread", "pw").await;
    assert_eq!(
        n.cmd("HASH abc.txt").await,
        (550, "Not enough privileges.".into())
    );
}

#[tokio::test]
async fn rein_and_host() {
    let srv = TestServer::start().await;
    let mut c = srv.client().await;
    assert_eq!(
        c.cmd("HOST ftp.example.com").await,
        (220, "Host accepted.".into())
    );
    assert_eq!(c.cmd("HOST [::1]").await.0, 220);
    assert_eq!(c.cmd("HOST ftp.example.com:21").await.0, 501);
    c.login("user", "12345").await;
    c.expect("TYPE I", 200).await;
    c.expect("CWD /", 250).await;
    assert_eq!(c.cmd("HOST other").await.0, 503);
    assert_eq!(c.cmd("REIN").await, (220, "Ready for new user.".into()));
    assert_eq!(c.cmd("PWD").await.0, 530);
    c.expect("HOST again.example.com", 220).await;
    c.login("anonymous", "x").await;
    let stat = c.expect("STAT", 211).await;
    assert!(
        stat.contains("Logged in as: anonymous") && stat.contains("TYPE: ASCII"),
        "{stat}"
    );
}
