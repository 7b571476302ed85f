//! Nothing escapes the user's home: not `..`, not absolute paths, not
//! symbolic links, whatever the command.

use crate::common::{read, TestServer};
use std::os::unix::fs::symlink;

/// A server whose user's home is `home/` inside a directory that also holds
/// `secret.txt` and `secretdir/`.
async fn jailed() -> (TestServer, std::path::PathBuf) {
    let srv = TestServer::start().await;
    let home = srv.path("home");
    std::fs::create_dir(&home).unwrap();
    srv.write("secret.txt", b"secret");
    srv.write("secretdir/inner.txt", b"inner");
    symlink(srv.path("secret.txt"), home.join("abs_file_link")).unwrap();
    symlink(srv.path("secretdir"), home.join("abs_dir_link")).unwrap();
    symlink("../secret.txt", home.join("rel_file_link")).unwrap();
    symlink("../secretdir", home.join("rel_dir_link")).unwrap();
    symlink("/", home.join("root_link")).unwrap();
    std::fs::create_dir(home.join("inside")).unwrap();
    std::fs::write(home.join("inside/ok.txt"), b"ok").unwrap();
    symlink("inside/ok.txt", home.join("good_link")).unwrap();
    srv.users
        .add_user("jailed", "pw", &home, ferroftpd::auth::Permissions::ALL)
        .unwrap();
    (srv, home)
}

#[tokio::test]
async fn dot_dot_stays_at_root() {
    let (srv, _home) = jailed().await;
    let mut c = srv.client().await;
    c.login("jailed", "pw").await;
    c.expect("TYPE I", 200).await;
    c.expect("CWD ../../..", 250).await;
    assert_eq!(c.cmd("PWD").await.1, "\"/\" is the current directory.");
    c.expect("CDUP", 250).await;
    assert_eq!(c.cmd("PWD").await.1, "\"/\" is the current directory.");
    // "../secret.txt" is "/secret.txt" inside the home, which does not exist.
    for cmd in [
        "SIZE ../secret.txt",
        "SIZE /../secret.txt",
        "MDTM inside/../../secret.txt",
        "RETR ../secret.txt",
    ] {
        c.epsv().await;
        assert_eq!(
            c.cmd(cmd).await,
            (550, "No such file or directory.".into()),
            "{cmd}"
        );
    }
    c.epsv().await;
    assert_eq!(c.cmd("RETR /etc/passwd").await.0, 550);
    let (list, _) = c.download("NLST ..").await;
    let mut names: Vec<String> = String::from_utf8(list)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    names.sort();
    assert!(!names.iter().any(|n| n.contains("secret")), "{names:?}");
}

#[tokio::test]
async fn symlinks_out_of_the_home_are_refused() {
    let (srv, home) = jailed().await;
    let mut c = srv.client().await;
    c.login("jailed", "pw").await;
    c.expect("TYPE I", 200).await;
    for link in ["abs_file_link", "rel_file_link"] {
        c.epsv().await;
        assert_eq!(c.cmd(format!("RETR {link}")).await.0, 550, "RETR {link}");
        assert_eq!(c.cmd(format!("SIZE {link}")).await.0, 550, "SIZE {link}");
        assert_eq!(c.cmd(format!("MLST {link}")).await.0, 550, "MLST {link}");
        c.epsv().await;
        assert_eq!(c.cmd(format!("APPE {link}")).await.0, 550, "APPE {link}");
    }
    for link in ["abs_dir_link", "rel_dir_link", "root_link"] {
        assert_eq!(c.cmd(format!("CWD {link}")).await.0, 550, "CWD {link}");
        c.epsv().await;
        assert_eq!(c.cmd(format!("LIST {link}/")).await.0, 550, "LIST {link}");
        c.epsv().await;
        assert_eq!(
            c.cmd(format!("RETR {link}/inner.txt")).await.0,
            550,
            "RETR through {link}"
        );
        assert_eq!(
            c.cmd(format!("MKD {link}/new")).await.0,
            550,
            "MKD through {link}"
        );
        assert_eq!(
            c.cmd(format!("DELE {link}/inner.txt")).await.0,
            550,
            "DELE through {link}"
        );
        c.expect("RNFR good_link", 350).await;
        assert_eq!(
            c.cmd(format!("RNTO {link}/moved")).await.0,
            550,
            "RNTO into {link}"
        );
        c.epsv().await;
        assert_eq!(
            c.cmd(format!("STOR {link}/planted.txt")).await.0,
            550,
            "STOR through {link}"
        );
    }
    // The outside is untouched.
    assert_eq!(read(&srv.path("secret.txt")), b"secret");
    assert_eq!(read(&srv.path("secretdir/inner.txt")), b"inner");
    assert!(!srv.path("secretdir/new").exists());
    assert!(!srv.path("secretdir/planted.txt").exists());
    assert!(!srv.path("secretdir/moved").exists());
    // Links are listed (LIST shows them as links), but MLSD leaks nothing
    // about their targets: they are left out.
    let (mlsd, _) = c.download("MLSD").await;
    let mlsd = String::from_utf8(mlsd).unwrap();
    assert!(
        !mlsd.contains("abs_file_link") && !mlsd.contains("rel_dir_link"),
        "{mlsd}"
    );
    // A link that stays inside works.
    let (got, _) = c.download("RETR good_link").await;
    assert_eq!(got, b"ok");
    assert!(home.join("good_link").exists());
    // STOR onto a link replaces the link itself: the file outside is
    // untouched and the new file is inside.
    assert_eq!(c.upload("STOR abs_file_link", b"mine").await.0 .0, 226);
    assert_eq!(read(&srv.path("secret.txt")), b"secret");
    assert!(!home.join("abs_file_link").is_symlink());
    assert_eq!(read(&home.join("abs_file_link")), b"mine");
}

#[tokio::test]
async fn deleting_a_link_removes_the_link_not_the_target() {
    let (srv, home) = jailed().await;
    let mut c = srv.client().await;
    c.login("jailed", "pw").await;
    c.expect("DELE abs_file_link", 250).await;
    assert!(!home.join("abs_file_link").exists());
    assert_eq!(read(&srv.path("secret.txt")), b"secret");
    // Renaming a link moves the link itself.
    c.expect("RNFR rel_dir_link", 350).await;
    c.expect("RNTO renamed_link", 250).await;
    assert!(srv.path("secretdir/inner.txt").exists());
}

#[tokio::test]
async fn nul_bytes_and_odd_names() {
    let (srv, _home) = jailed().await;
    let mut c = srv.client().await;
    c.login("jailed", "pw").await;
    assert_eq!(
        c.cmd(b"CWD a\0b").await,
        (553, "File name not allowed.".into())
    );
    assert_eq!(c.cmd(b"MKD x\0/../../y").await.0, 553);
    // Backslashes are ordinary characters in Unix names.
    c.expect("MKD a\\..\\..\\b", 257).await;
    assert!(srv.path("home/a\\..\\..\\b").is_dir());
}
