//! The users file authorizer: a real server on 127.0.0.1:0 serving the
//! users of a TOML file, driven with raw commands.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ferroftpd::auth::{hash_password, Authorizer, HashScheme, LoginContext, UsersFile};
use ferroftpd::proto::command::Password;
use ferroftpd::{Rate, Server};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(20);

struct Fixture {
    dir: tempfile::TempDir,
    users: Arc<UsersFile>,
    server: Server,
    addr: SocketAddr,
}

impl Fixture {
    /// A server for the users in `toml`; `{home}` in it is replaced by a
    /// fresh directory.
    async fn start(toml: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(&path, expand(toml, dir.path())).unwrap();
        let users = Arc::new(UsersFile::load(&path).expect("users file loads"));
        let server = Server::builder()
            .authorizer(users.clone())
            .auth_failed_delay(Duration::ZERO)
            .max_login_attempts(100)
            .ban(None)
            .build()
            .unwrap();
        let listener = ferroftpd::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let s = server.clone();
        tokio::spawn(async move { s.serve(listener).await.unwrap() });
        Fixture {
            dir,
            users,
            server,
            addr,
        }
    }

    fn home(&self) -> std::path::PathBuf {
        self.dir.path().join("home")
    }

    fn rewrite(&self, toml: &str) {
        std::fs::write(
            self.dir.path().join("users.toml"),
            expand(toml, self.dir.path()),
        )
        .unwrap();
    }

    async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }

    async fn login(&self, user: &str, pass: &str) -> (Client, u16, String) {
        let mut c = self.client().await;
        c.expect(&format!("USER {user}"), 331).await;
        let (code, text) = c.cmd(&format!("PASS {pass}")).await;
        (c, code, text)
    }

    async fn login_ok(&self, user: &str, pass: &str) -> Client {
        let (c, code, text) = self.login(user, pass).await;
        assert_eq!(code, 230, "{user}: {text}");
        c
    }

    async fn login_refused(&self, user: &str, pass: &str) -> String {
        let (_, code, text) = self.login(user, pass).await;
        assert_eq!(code, 530, "{user}: {text}");
        text
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn expand(toml: &str, dir: &Path) -> String {
    toml.replace("{home}", &dir.join("home").display().to_string())
}

struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut c = Client {
            stream: BufReader::new(stream),
        };
        let (code, _) = c.reply().await;
        assert_eq!(code, 220);
        c
    }

    async fn reply(&mut self) -> (u16, String) {
        tokio::time::timeout(TIMEOUT, async {
            let mut text = String::new();
            loop {
                let mut line = String::new();
                let n = self.stream.read_line(&mut line).await.unwrap();
                assert!(n > 0, "connection closed");
                let done = line.len() >= 4
                    && line.as_bytes()[3] == b' '
                    && line[..3].bytes().all(|b| b.is_ascii_digit());
                text.push_str(&line);
                if done {
                    let code = line[..3].parse().unwrap();
                    return (code, text.trim_end().to_owned());
                }
            }
        })
        .await
        .expect("reply in time")
    }

    async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.stream
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    async fn expect(&mut self, line: &str, code: u16) -> String {
        let (got, text) = self.cmd(line).await;
        assert_eq!(got, code, "{line} -> {text}");
        text
    }
}

fn hash(scheme: HashScheme, pw: &str) -> String {
    hash_password(scheme, pw).unwrap()
}

/// bcrypt hashes of cost 8 of `pw-bcrypt` and `pw-2y`, made with the bcrypt
/// crate. `hash_password` uses cost 12; every failed login is padded to the
/// file's slowest check, and cost 12 would make each take a second here.
const BCRYPT_8: &str = "$2b$08$M/FhMlFbirl3Fw.0uKySQecC0/Z0VMQRpZ0HA8EETyGkmZ8ddu2ka";
const BCRYPT_8_2Y: &str = "$2y$08$jFbSXryFhgSryHctqjXrv.dAKbmk1rAB14u6zC5IbOXCqoXFcNXni";

#[tokio::test(flavor = "multi_thread")]
async fn every_hash_scheme_and_wrong_passwords() {
    let toml = format!(
        r#"
allow_plaintext = true

[[user]]
name = "argon"
password = "{}"
home = "{{home}}"

[[user]]
name = "bcrypt"
password = "{}"
home = "{{home}}"

[[user]]
name = "bcrypt2y"
password = "{}"
home = "{{home}}"

[[user]]
name = "sha512"
password = "{}"
home = "{{home}}"

[[user]]
name = "sha256"
password = "{}"
home = "{{home}}"

[[user]]
name = "plain"
password = "plain:pl41n"
home = "{{home}}"
login_message = "Hello plain."
"#,
        hash(HashScheme::Argon2id, "pw-argon"),
        BCRYPT_8,
        // PHP and htpasswd write $2y$: the same algorithm.
        BCRYPT_8_2Y,
        hash(HashScheme::Sha512Crypt, "pw-sha512"),
        hash(HashScheme::Sha256Crypt, "pw-sha256"),
    );
    let f = Fixture::start(&toml).await;
    for (user, pw) in [
        ("argon", "pw-argon"),
        ("bcrypt", "pw-bcrypt"),
        ("bcrypt2y", "pw-2y"),
        ("sha512", "pw-sha512"),
        ("sha256", "pw-sha256"),
        ("plain", "pl41n"),
    ] {
        let mut c = f.login_ok(user, pw).await;
        c.expect("PWD", 257).await;
        let text = f.login_refused(user, &format!("{pw}x")).await;
        assert!(text.contains("Authentication failed."), "{text}");
        f.login_refused(user, "").await;
    }
    let (_, code, text) = f.login("plain", "pl41n").await;
    assert_eq!((code, text.as_str()), (230, "230 Hello plain."));
    f.login_refused("nobody", "pw-argon").await;
    let text = f.login_refused("anonymous", "x").await;
    assert!(text.contains("Anonymous access not allowed."), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn plaintext_needs_allow_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    std::fs::write(
        &path,
        "[[user]]\nname = \"bob\"\npassword = \"plain:x\"\nhome = \".\"\n",
    )
    .unwrap();
    let e = UsersFile::load(&path).unwrap_err();
    assert_eq!(e.location.map(|l| l.0), Some(3), "{e}");
    assert!(e.message.contains("allow_plaintext"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn overrides_rules_and_anonymous() {
    let toml = r#"
allow_plaintext = true

[[user]]
name = "alice"
password = "plain:a"
home = "{home}"
perms = "elr"
overrides = [ { dir = "/pub", perms = "elradfmwMT" } ]
rules = [
    { path = "/incoming", readable = true, writable = true },
    { path = "/incoming/locked", readable = true, writable = false },
    { path = "/hidden", readable = false, writable = false },
]

[[user]]
anonymous = true
home = "{home}"
"#;
    let f = Fixture::start(toml).await;
    for d in ["pub", "incoming/locked", "hidden"] {
        std::fs::create_dir_all(f.home().join(d)).unwrap();
    }
    let mut c = f.login_ok("alice", "a").await;
    c.expect("MKD /top", 550).await;
    c.expect("MKD /pub/a", 257).await;
    // The override is not recursive: /pub/a/b is outside it.
    c.expect("MKD /pub/a/b", 550).await;
    // Rules are recursive.
    c.expect("MKD /incoming/a", 257).await;
    c.expect("MKD /incoming/a/b", 257).await;
    c.expect("MKD /incoming/locked/x", 550).await;
    c.expect("CWD /incoming/locked", 250).await;
    c.expect("CWD /hidden", 550).await;
    c.expect("CWD /pub", 250).await;

    for name in ["anonymous", "ftp"] {
        let mut anon = f.login_ok(name, "me@example.com").await;
        anon.expect("CWD /pub", 250).await;
        anon.expect("MKD /pub/anon", 550).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn per_user_session_limit() {
    let toml = r#"
allow_plaintext = true

[[user]]
name = "solo"
password = "plain:s"
home = "{home}"
max_sessions = 1
"#;
    let f = Fixture::start(toml).await;
    let mut first = f.login_ok("solo", "s").await;
    let text = f.login_refused("solo", "s").await;
    assert_eq!(text, "530 Too many sessions for this user.");
    first.expect("QUIT", 221).await;
    drop(first);
    // The slot comes back once the first session has ended.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let (_, code, _) = f.login("solo", "s").await;
        if code == 230 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn networks_and_disabled() {
    let toml = r#"
allow_plaintext = true

[[user]]
name = "local"
password = "plain:l"
home = "{home}"
networks = ["10.0.0.0/8", "127.0.0.1/32"]

[[user]]
name = "elsewhere"
password = "plain:e"
home = "{home}"
networks = ["192.0.2.10/32", "2001:db8::/32"]

[[user]]
name = "off"
password = "plain:o"
home = "{home}"
disabled = true
"#;
    let f = Fixture::start(toml).await;
    f.login_ok("local", "l").await;
    let text = f.login_refused("elsewhere", "e").await;
    assert_eq!(text, "530 Authentication failed.");
    // A wrong password says nothing about the networks.
    let text = f.login_refused("elsewhere", "x").await;
    assert_eq!(text, "530 Authentication failed.");
    let text = f.login_refused("off", "o").await;
    assert_eq!(text, "530 Authentication failed.");
    let text = f.login_refused("off", "x").await;
    assert_eq!(text, "530 Authentication failed.");
}

#[tokio::test(flavor = "multi_thread")]
async fn account_fields() {
    let toml = r#"
allow_plaintext = true

[[user]]
name = "slow"
password = "plain:s"
home = "{home}"
login_message = "Hi."
quit_message = "Bye."
max_sessions = 3
read_limit = "512K"
write_limit = "1M"
"#;
    let f = Fixture::start(toml).await;
    let ctx = LoginContext {
        client: "127.0.0.1:4000".parse().unwrap(),
    };
    let account = f
        .users
        .authenticate("slow", &Password::new("s"), &ctx)
        .await
        .unwrap();
    assert_eq!(&*account.login_message, "Hi.");
    assert_eq!(&*account.quit_message, "Bye.");
    assert_eq!(account.max_sessions, Some(3));
    assert_eq!(account.read_limit, Rate::new(512 * 1024));
    assert_eq!(account.write_limit, Rate::new(1024 * 1024));
    assert_eq!(account.home, f.home().canonicalize().unwrap());
    assert!(!account.anonymous);
    let mut c = f.login_ok("slow", "s").await;
    assert_eq!(c.expect("QUIT", 221).await, "221 Bye.");
}

/// `hide_ids` per user wins over the server's default (hidden for
/// anonymous users only).
#[tokio::test(flavor = "multi_thread")]
async fn hide_ids_per_user() {
    let toml = r#"
allow_plaintext = true

[[user]]
name = "private"
password = "plain:p"
home = "{home}"
hide_ids = true

[[user]]
name = "plain"
password = "plain:p"
home = "{home}"

[[user]]
anonymous = true
home = "{home}"
hide_ids = false
"#;
    let f = Fixture::start(toml).await;
    std::fs::write(f.home().join("f.txt"), b"x").unwrap();
    let hidden =
        |stat: &str, mlst: &str| stat.contains(" ftp      ftp ") && !mlst.contains("unix.uid=");
    for (user, pass, want_hidden) in [
        ("private", "p", true),
        ("plain", "p", false),
        ("anonymous", "a@b.c", false),
    ] {
        let mut c = f.login_ok(user, pass).await;
        let stat = c.expect("STAT f.txt", 213).await;
        let mlst = c.expect("MLST f.txt", 250).await;
        assert_eq!(hidden(&stat, &mlst), want_hidden, "{user}: {stat} {mlst}");
        assert!(mlst.contains("unix.uid=") != want_hidden, "{user}: {mlst}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_good_and_bad() {
    let one = r#"
allow_plaintext = true

[[user]]
name = "old"
password = "plain:o"
home = "{home}"
"#;
    let f = Fixture::start(one).await;
    let mut old = f.login_ok("old", "o").await;
    f.login_refused("new", "n").await;

    // A good file: "new" appears, "old" goes; old's session keeps going.
    f.rewrite(&format!(
        "{}\n[[user]]\nname = \"new\"\npassword = \"{}\"\nhome = \"{{home}}\"\n",
        "allow_plaintext = true",
        hash(HashScheme::Sha512Crypt, "n")
    ));
    assert_eq!(f.users.reload().unwrap(), 1);
    f.login_ok("new", "n").await;
    f.login_refused("old", "o").await;
    old.expect("PWD", 257).await;
    old.expect("MKD /x", 550).await;

    // A broken file: the error names file and line, the users stay.
    f.rewrite("allow_plaintext = true\n\n[[user]]\nname = \"new\"\npasword = \"x\"\n");
    let e = f.users.reload().unwrap_err();
    let shown = e.to_string();
    assert!(shown.contains("users.toml:5:"), "{shown}");
    assert!(shown.contains("pasword"), "{shown}");
    f.login_ok("new", "n").await;

    f.rewrite("[[user]\nname = \"new\"\n");
    let e = f.users.reload().unwrap_err();
    assert_eq!(e.location.map(|l| l.0), Some(1), "{e}");
    f.rewrite(
        "[[user]]\nname = \"x\"\npassword = \"$6$abc\"\nhome = \"{home}\"\nread_limit = \"fast\"\n",
    );
    let e = f.users.reload().unwrap_err();
    assert_eq!(e.location.map(|l| l.0), Some(3), "{e}");
    f.rewrite("allow_plaintext = true\n[[user]]\nname = \"x\"\npassword = \"plain:x\"\nhome = \"/no/such/dir\"\n");
    let e = f.users.reload().unwrap_err();
    assert!(e.to_string().contains("/no/such/dir"), "{e}");
    f.login_ok("new", "n").await;
    assert!(f.users.has_user("new"));
    assert!(!f.users.has_user("old"));
}

/// A wrong password takes as long whatever the account's hash scheme, or
/// whether the account exists: every failure is padded to the file's
/// slowest check. Before, a file mixing bcrypt and SHA-crypt answered a
/// wrong SHA-crypt password in a few milliseconds and a wrong bcrypt one in
/// tens or hundreds, which told names apart. Lower bounds only.
#[tokio::test(flavor = "multi_thread")]
async fn failures_take_as_long_whatever_the_scheme() {
    let bcrypt_hash = BCRYPT_8;
    let toml = format!(
        r#"
allow_plaintext = true

[[user]]
name = "bcrypt"
password = "{bcrypt_hash}"
home = "{{home}}"

[[user]]
name = "sha512"
password = "{}"
home = "{{home}}"

[[user]]
name = "plain"
password = "plain:pl41n"
home = "{{home}}"
"#,
        hash(HashScheme::Sha512Crypt, "pw-sha512"),
    );
    let f = Fixture::start(&toml).await;
    // What one bcrypt check of this hash costs here, at the least.
    let bcrypt = (0..3)
        .map(|_| {
            let started = std::time::Instant::now();
            assert!(!ferroftpd::auth::verify_password(bcrypt_hash, "wrong"));
            started.elapsed()
        })
        .min()
        .unwrap();
    let ctx = LoginContext {
        client: "127.0.0.1:1".parse().unwrap(),
    };
    for user in ["sha512", "plain", "nobody", "bcrypt"] {
        let started = std::time::Instant::now();
        let result = f
            .users
            .authenticate(user, &Password::new("wrong"), &ctx)
            .await;
        let took = started.elapsed();
        assert!(result.is_err(), "{user}");
        assert!(
            took >= bcrypt,
            "{user}: a failure took {took:?}, a bcrypt check {bcrypt:?}"
        );
    }
    // Success is not padded.
    let started = std::time::Instant::now();
    let ok = f
        .users
        .authenticate("plain", &Password::new("pl41n"), &ctx)
        .await;
    assert!(ok.is_ok());
    assert!(started.elapsed() < bcrypt, "a plain login waited");
}

/// `[[user.mount]]` and the quota keys: a local folder mounted with its own
/// permissions, and a quota on the home.
#[tokio::test(flavor = "multi_thread")]
async fn mounts_and_quotas_from_the_file() {
    let toml = r#"
allow_plaintext = true

[[user]]
name = "alice"
password = "plain:pw"
home = "{home}"
perms = "elradfmwMT"
quota_bytes = "1K"
quota_files = 5

[[user.mount]]
path = "/shared"
storage = "shared"
perms = "elr"

[[user.mount]]
path = "/scratch"
storage = "memory"
size = "1M"
"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("shared")).unwrap();
    std::fs::write(dir.path().join("shared/readme"), b"shared").unwrap();
    let shared = dir.path().join("shared").display().to_string();
    let toml = toml.replace("storage = \"shared\"", &format!("storage = {shared:?}"));
    let f = Fixture::start(&toml).await;
    let mut c = f.login_ok("alice", "pw").await;
    let quota = c.expect("SITE QUOTA", 200).await;
    assert!(quota.contains("Bytes: 0 of 1024"), "{quota}");
    assert!(quota.contains("Files: 0 of 5"), "{quota}");
    c.expect("CWD /shared", 250).await;
    // The folder's own permissions: read-only.
    c.expect("DELE readme", 550).await;
    c.expect("MKD sub", 550).await;
    // The memory folder: writable, and outside the home's quota.
    c.expect("CWD /scratch", 250).await;
    c.expect("MKD sub", 257).await;
    let mut again = f.login_ok("alice", "pw").await;
    again.expect("CWD /scratch/sub", 250).await;
    for (bad, why) in [
        (
            "[[user.mount]]\npath = \"/\"\nstorage = \"/tmp\"\n",
            "mounted at /",
        ),
        (
            "[[user.mount]]\npath = \"/x\"\nstorage = \"ftp://host/dir\"\n",
            "a local directory,",
        ),
        (
            "[[user.mount]]\npath = \"/x\"\nstorage = \"/tmp\"\nsize = \"1M\"\n",
            "size is for",
        ),
        (
            "[[user.mount]]\npath = \"/x\"\nstorage = \"/no/such/dir\"\n",
            "/no/such/dir",
        ),
        ("quota_bytes = \"lots\"\n", "quota_bytes"),
    ] {
        let text = format!(
            "allow_plaintext = true\n[[user]]\nname = \"bob\"\npassword = \"plain:pw\"\nhome = \"{}\"\n{bad}",
            f.home().display()
        );
        let path = f.dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let err = UsersFile::load(&path).unwrap_err().to_string();
        assert!(err.contains(why), "{bad:?}: {err}");
    }
}
