use crate::common::TestServer;
use std::time::Duration;

#[tokio::test]
async fn greeting_and_login() {
    let srv = TestServer::start().await;
    let mut c = srv.client().await;
    assert_eq!(c.greeting.0, 220);
    assert!(c.greeting.1.starts_with("ferroftpd"));
    assert_eq!(
        c.cmd("USER user").await,
        (331, "Username ok, send password.".into())
    );
    assert_eq!(c.cmd("PASS 12345").await, (230, "Login successful.".into()));
    assert_eq!(c.cmd("PASS 12345").await.0, 503);
    assert_eq!(c.cmd("QUIT").await, (221, "Goodbye.".into()));
    assert!(c.is_closed().await);
}

#[tokio::test]
async fn user_names_cannot_be_probed() {
    let srv = TestServer::start().await;
    let mut c = srv.client().await;
    let known = c.cmd("USER user").await;
    let unknown = c.cmd("USER nosuchuser").await;
    assert_eq!(known, unknown);
    assert_eq!(
        c.cmd("PASS x").await,
        (530, "Authentication failed.".into())
    );
}

#[tokio::test]
async fn commands_before_login() {
    let srv = TestServer::start().await;
    let mut c = srv.client().await;
    assert_eq!(
        c.cmd("PASS x").await,
        (503, "Login with USER first.".into())
    );
    for cmd in ["PWD", "LIST", "RETR a", "CWD /", "PASV", "MLST", "STAT /"] {
        assert_eq!(
            c.cmd(cmd).await,
            (530, "Log in with USER and PASS first.".into()),
            "{cmd}"
        );
    }
    for (cmd, code) in [
        ("NOOP", 200),
        ("SYST", 215),
        ("FEAT", 211),
        ("HELP", 214),
        ("STAT", 211),
        ("OPTS UTF8 ON", 200),
    ] {
        assert_eq!(c.cmd(cmd).await.0, code, "{cmd}");
    }
    c.login("user", "12345").await;
}

#[tokio::test]
async fn failed_logins_disconnect_after_the_limit() {
    let srv = TestServer::start_with(|b| b.max_login_attempts(3)).await;
    let mut c = srv.client().await;
    for _ in 0..2 {
        c.expect("USER user", 331).await;
        c.expect("PASS wrong", 530).await;
    }
    c.expect("USER user", 331).await;
    // The last allowed failure: 530, then the connection closes (as in
    // pyftpdlib and vsftpd).
    assert_eq!(
        c.cmd("PASS wrong").await,
        (530, "Authentication failed.".into())
    );
    assert!(c.is_closed().await);
}

/// Login comes before arguments: a malformed command that needs a login
/// gets 530 before login, as in pyftpdlib and vsftpd, not 501.
#[tokio::test]
async fn bad_arguments_before_login_get_530() {
    let srv = TestServer::start().await;
    let mut c = srv.client().await;
    for cmd in [
        "PORT 1,2,3",
        "EPRT |9|x|1|",
        "TYPE X",
        "REST abc",
        "MFMT 2023 a",
        "MODE Z",
        "RETR",
        "PWD extra",
        "XCRC",
        "SITE CHMOD 999 a",
        "SITE CHMOD 644",
    ] {
        assert_eq!(
            c.cmd(cmd).await,
            (530, "Log in with USER and PASS first.".into()),
            "{cmd}"
        );
    }
    // Commands allowed before login still check their arguments.
    for (cmd, code) in [("USER", 501), ("NOOP x", 501), ("OPTS", 501), ("HOST", 501)] {
        assert_eq!(c.cmd(cmd).await.0, code, "{cmd}");
    }
    c.login("user", "12345").await;
    assert_eq!(c.cmd("PORT 1,2,3").await.0, 501);
}

/// A login between guesses, anonymous or real, followed by REIN or USER,
/// must not lift the attempt limit.
#[tokio::test]
async fn a_success_does_not_reset_the_failure_count() {
    let srv = TestServer::start_with(|b| b.max_login_attempts(3)).await;
    let mut c = srv.client().await;
    c.expect("USER user", 331).await;
    c.expect("PASS wrong", 530).await;
    c.login("anonymous", "x").await;
    c.expect("REIN", 220).await;
    c.expect("USER user", 331).await;
    c.expect("PASS wrong", 530).await;
    c.login("user", "12345").await;
    c.expect("USER user", 331).await;
    assert_eq!(c.cmd("PASS wrong").await.0, 530);
    assert!(c.is_closed().await);
}

#[tokio::test(start_paused = true)]
async fn failed_login_waits_the_configured_delay() {
    let srv = TestServer::start_with(|b| b.auth_failed_delay(Duration::from_secs(3))).await;
    let mut c = srv.client().await;
    c.expect("USER user", 331).await;
    // Paused time: the clock moves only by the server's timer.
    let started = tokio::time::Instant::now();
    c.expect("PASS wrong", 530).await;
    assert_eq!(started.elapsed().as_secs(), 3);
}

#[tokio::test]
async fn anonymous_logs_in_with_any_password_and_cannot_write() {
    let srv = TestServer::start().await;
    srv.write("a.txt", b"data");
    let mut c = srv.client().await;
    c.login("anonymous", "me@example.com").await;
    let (data, (code, _)) = c.download("RETR a.txt").await;
    assert_eq!((data.as_slice(), code), (&b"data"[..], 226));
    for cmd in ["MKD d", "DELE a.txt", "RNFR a.txt", "RMD x", "APPE a.txt"] {
        assert_eq!(
            c.cmd(cmd).await,
            (550, "Not enough privileges.".into()),
            "{cmd}"
        );
    }
    c.epsv().await;
    assert_eq!(c.cmd("STOR new.txt").await.0, 550);
    assert!(!srv.path("new.txt").exists());
    // "ftp" is the same anonymous user.
    let mut c2 = srv.client().await;
    c2.login("ftp", "").await;
}

#[tokio::test]
async fn anonymous_refused_when_not_configured() {
    let srv = TestServer::start().await;
    srv.users.remove_user("anonymous");
    let mut c = srv.client().await;
    c.expect("USER anonymous", 331).await;
    assert_eq!(
        c.cmd("PASS x").await,
        (530, "Anonymous access not allowed.".into())
    );
}

#[tokio::test]
async fn user_again_flushes_the_account() {
    let srv = TestServer::start().await;
    let mut c = srv.user().await;
    assert_eq!(
        c.cmd("USER anonymous").await,
        (
            331,
            "Previous account information was flushed, send password.".into()
        )
    );
    assert_eq!(c.cmd("PWD").await.0, 530);
    c.expect("PASS x", 230).await;
}

#[tokio::test]
async fn login_and_quit_messages() {
    let srv = TestServer::start().await;
    let opts = ferroftpd::auth::UserOptions {
        login_message: "Welcome!\nEnjoy.".into(),
        quit_message: "Bye now.".into(),
        ..Default::default()
    };
    srv.users
        .add_user_with(
            "msg",
            "pw",
            srv.root.path(),
            ferroftpd::auth::Permissions::READ,
            opts,
        )
        .unwrap();
    let mut c = srv.client().await;
    c.expect("USER msg", 331).await;
    assert_eq!(c.cmd("PASS pw").await, (230, "Welcome!\nEnjoy.".into()));
    assert_eq!(c.cmd("QUIT").await, (221, "Bye now.".into()));
}

/// An authorizer that lets `guest` in without a password, refuses `banned`
/// at USER, and allows nothing but listing under `/private`.
#[derive(Debug)]
struct Custom {
    home: std::path::PathBuf,
}

#[async_trait::async_trait]
impl ferroftpd::auth::Authorizer for Custom {
    async fn lookup(
        &self,
        name: &str,
        _c: &ferroftpd::auth::LoginContext,
    ) -> ferroftpd::auth::Lookup {
        use ferroftpd::auth::{Account, Lookup, Permissions};
        match name {
            "guest" => Lookup::LoggedIn(Account::new("guest", &self.home, Permissions::ALL)),
            "banned" => Lookup::Refused("Not you.".into()),
            _ => Lookup::PasswordRequired,
        }
    }

    async fn authenticate(
        &self,
        _name: &str,
        _password: &ferroftpd::proto::command::Password,
        _c: &ferroftpd::auth::LoginContext,
    ) -> Result<ferroftpd::auth::Account, ferroftpd::auth::AuthError> {
        Err(ferroftpd::auth::AuthError::BadCredentials)
    }

    fn permits(
        &self,
        account: &ferroftpd::auth::Account,
        perm: ferroftpd::auth::Permission,
        path: &ferroftpd::proto::path::VirtualPath,
    ) -> bool {
        let private = ferroftpd::proto::path::VirtualPath::root()
            .resolve(b"/private")
            .unwrap();
        if path.starts_with(&private) {
            return perm == ferroftpd::auth::Permission::List;
        }
        account.rules.allows(perm, path)
    }
}

#[tokio::test]
async fn a_custom_authorizer_decides_at_user_and_per_operation() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("private")).unwrap();
    let auth = std::sync::Arc::new(Custom {
        home: dir.path().to_path_buf(),
    });
    let srv = TestServer::start_with(move |b| b.authorizer(auth)).await;
    let mut c = srv.client().await;
    assert_eq!(c.cmd("USER banned").await, (530, "Not you.".into()));
    assert_eq!(c.cmd("USER someone").await.0, 331);
    assert_eq!(c.cmd("PASS x").await.0, 530);
    assert_eq!(c.cmd("USER guest").await, (230, "Login successful.".into()));
    c.expect("MKD open", 257).await;
    assert_eq!(
        c.cmd("MKD private/x").await,
        (550, "Not enough privileges.".into())
    );
    assert_eq!(c.cmd("MLST private").await.0, 250);
    // STOU asks the authorizer about the name it makes, too.
    c.epsv().await;
    assert_eq!(c.cmd("STOU private/x").await.0, 550);
    assert_eq!(
        std::fs::read_dir(dir.path().join("private"))
            .unwrap()
            .count(),
        0
    );
}
