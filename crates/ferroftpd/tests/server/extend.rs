//! Commands of the embedder's own, and a guard that decides.

use std::io::Read;
use std::sync::Arc;

use async_trait::async_trait;
use ferroftpd::commands::{CommandContext, CommandHandler, CustomCommand};
use ferroftpd::guard::{Guard, Operation, Request, Verdict};
use ferroftpd::proto::perms::Permission;
use ferroftpd::proto::reply::Reply;

use crate::common::{read, TestServer};

/// Echoes what it sees of the session.
#[derive(Debug)]
struct Echo;

#[async_trait]
impl CommandHandler for Echo {
    async fn call(&self, ctx: &mut CommandContext<'_>, arg: Option<&[u8]>) -> Reply {
        let user = ctx.account().map_or("-", |a| a.username.as_str());
        let arg = String::from_utf8_lossy(arg.unwrap_or(b"-")).into_owned();
        Reply::new(200, format!("user={user} arg={arg}"))
    }
}

/// `SITE MKDIRS path`: makes a directory and its parents, with the checks
/// the built-in MKD makes.
#[derive(Debug)]
struct MakeDirs;

#[async_trait]
impl CommandHandler for MakeDirs {
    async fn call(&self, ctx: &mut CommandContext<'_>, arg: Option<&[u8]>) -> Reply {
        let path = match ctx.resolve(arg.unwrap_or_default()) {
            Ok(p) => p,
            Err(reply) => return reply,
        };
        let storage = ctx.storage().unwrap().clone();
        let mut partial = ferroftpd::proto::path::VirtualPath::root();
        for part in path.relative().split(|&b| b == b'/') {
            partial = partial.join(part).unwrap();
            if storage.metadata(&partial).await.is_ok_and(|m| m.is_dir()) {
                continue;
            }
            if let Err(reply) = ctx.check_entry(Permission::MakeDir, &partial) {
                return reply;
            }
            let _ = storage.create_dir(&partial).await;
        }
        ctx.set_cwd(path);
        Reply::new(257, "Made, and moved there.")
    }
}

async fn server_with_commands() -> TestServer {
    TestServer::start_with(|b| {
        b.command("XECHO", CustomCommand::new(Echo).help("XECHO <text>"))
            .command("XPING", CustomCommand::new(Echo).allowed_before_login(true))
            .command("MKD", CustomCommand::new(Echo))
            .site_command(
                "MKDIRS",
                CustomCommand::new(MakeDirs).help("SITE MKDIRS <path>"),
            )
            .site_command("CHMOD", CustomCommand::new(Echo))
    })
    .await
}

#[tokio::test]
async fn registered_commands_run_and_are_listed() {
    let srv = server_with_commands().await;
    let mut c = srv.client().await;
    assert_eq!(c.cmd("XECHO hi").await.0, 530);
    assert_eq!(c.cmd("xping").await, (200, "user=- arg=-".into()));
    c.login("user", "12345").await;
    assert_eq!(
        c.cmd("XECHO hi there").await,
        (200, "user=user arg=hi there".into())
    );
    // A built-in verb and a built-in SITE subcommand, replaced.
    assert_eq!(c.cmd("MKD new").await, (200, "user=user arg=new".into()));
    assert!(!srv.path("new").exists());
    assert_eq!(
        c.cmd("SITE CHMOD 755 x").await,
        (200, "user=user arg=755 x".into())
    );
    c.expect("SITE MKDIRS a/b/c", 257).await;
    assert!(srv.path("a/b/c").is_dir());
    assert_eq!(c.cmd("PWD").await.1, "\"/a/b/c\" is the current directory.");
    c.expect("SITE NOSUCH", 501).await;
    let help = c.expect("HELP", 214).await;
    assert!(help.contains("XECHO") && help.contains("XPING") && help.contains("RETR"));
    assert_eq!(
        c.cmd("HELP xecho").await,
        (214, "Syntax: XECHO <text>".into())
    );
    let site_help = c.expect("SITE HELP", 214).await;
    for name in [" CHMOD", " HELP", " MKDIRS"] {
        assert!(site_help.contains(name), "{site_help}");
    }
    assert_eq!(
        c.cmd("SITE HELP MKDIRS").await,
        (214, "Syntax: SITE MKDIRS <path>".into())
    );
    let feat = c.expect("FEAT", 211).await;
    assert!(feat.lines().any(|l| l == " XECHO"), "{feat}");
    assert!(!feat.lines().any(|l| l == " MKD"), "{feat}");
}

/// A command's own checks see per-directory overrides as the built-in
/// commands do: `/open` has a writable rule of its own, but making it adds
/// an entry to the read-only top.
#[tokio::test]
async fn a_commands_checks_follow_the_overrides() {
    let srv = server_with_commands().await;
    srv.users
        .add_user("ro", "pw", srv.root.path(), "elr".parse().unwrap())
        .unwrap();
    let all = "elradfmwMT".parse().unwrap();
    srv.users.override_perm("ro", "/open", all, true).unwrap();
    let mut c = srv.client().await;
    c.login("ro", "pw").await;
    assert_eq!(
        c.cmd("SITE MKDIRS open/inner").await,
        (550, "Not enough privileges.".into())
    );
    assert!(!srv.path("open").exists());
    std::fs::create_dir(srv.path("open")).unwrap();
    c.expect("SITE MKDIRS open/inner", 257).await;
    assert!(srv.path("open/inner").is_dir());
}

#[tokio::test]
async fn login_and_tls_verbs_cannot_be_replaced() {
    for verb in ["PASS", "user", "AUTH", "PROT"] {
        let built = ferroftpd::Server::builder()
            .command(verb, CustomCommand::new(Echo))
            .build();
        assert!(built.is_err(), "{verb}");
    }
    let built = ferroftpd::Server::builder()
        .command("TWO WORDS", CustomCommand::new(Echo))
        .build();
    assert!(built.is_err());
}

/// Refuses `.exe` uploads and logins of `eve`, sends `*.log` uploads to
/// `/logs`, refuses deleting or renaming `keep*`, and scans uploads before
/// their commit.
#[derive(Debug)]
struct Policy;

#[async_trait]
impl Guard for Policy {
    async fn check(&self, request: &Request<'_>) -> Verdict {
        let refuse = |code, text: &str| Verdict::Refuse(Reply::new(code, text));
        match &request.operation {
            Operation::Login if request.account.username == "eve" => {
                refuse(530, "Not at this hour.")
            }
            Operation::Upload { path, .. } if path.as_bytes().ends_with(b".exe") => {
                refuse(553, "No executables.")
            }
            Operation::Upload { path, .. } if path.as_bytes().ends_with(b".log") => {
                let name = path.file_name().unwrap();
                let target = ferroftpd::proto::path::VirtualPath::root()
                    .join(b"logs")
                    .and_then(|p| p.join(name))
                    .unwrap();
                Verdict::Redirect(target)
            }
            Operation::Delete { path } | Operation::Rename { from: path, .. }
                if path.file_name().is_some_and(|n| n.starts_with(b"keep")) =>
            {
                refuse(550, "Kept.")
            }
            Operation::Download { path } if path.as_bytes().ends_with(b".secret") => {
                refuse(550, "Not for you.")
            }
            Operation::Commit {
                content: Some(file),
                bytes,
                ..
            } => {
                let mut data = Vec::new();
                let mut file = *file;
                file.read_to_end(&mut data).unwrap();
                assert_eq!(data.len() as u64, *bytes);
                if data.windows(5).any(|w| w == b"VIRUS") {
                    refuse(550, "Infected.")
                } else {
                    Verdict::Allow
                }
            }
            _ => Verdict::Allow,
        }
    }
}

#[tokio::test]
async fn a_guard_refuses_redirects_and_scans() {
    let srv = TestServer::start_with(|b| b.guard(Arc::new(Policy)).max_login_attempts(1)).await;
    srv.users
        .add_user("eve", "pw", srv.root.path(), "elr".parse().unwrap())
        .unwrap();
    std::fs::create_dir(srv.path("logs")).unwrap();
    srv.write("keep.txt", b"kept");
    srv.write("doc.txt", b"OLD");
    srv.write("a.secret", b"s");
    let mut c = srv.client().await;
    c.expect("USER eve", 331).await;
    assert_eq!(c.cmd("PASS pw").await, (530, "Not at this hour.".into()));
    // Not a failed login: the one attempt allowed is still there.
    c.login("user", "12345").await;
    c.epsv().await;
    c.expect("STOR setup.exe", 553).await;
    assert!(!srv.path("setup.exe").exists());
    let ((code, _), _) = c.upload("STOR today.log", b"log line").await;
    assert_eq!(code, 226);
    assert_eq!(read(&srv.path("logs/today.log")), b"log line");
    assert!(!srv.path("today.log").exists());
    // Scanned before the commit: the old file stays.
    let ((code, text), _) = c.upload("STOR doc.txt", b"a VIRUS inside").await;
    assert_eq!((code, text.as_str()), (550, "Infected."));
    assert_eq!(read(&srv.path("doc.txt")), b"OLD");
    let ((code, _), _) = c.upload("STOR doc.txt", b"clean").await;
    assert_eq!(code, 226);
    assert_eq!(read(&srv.path("doc.txt")), b"clean");
    assert_eq!(c.cmd("DELE keep.txt").await, (550, "Kept.".into()));
    c.expect("RNFR keep.txt", 350).await;
    assert_eq!(c.cmd("RNTO other.txt").await, (550, "Kept.".into()));
    assert_eq!(read(&srv.path("keep.txt")), b"kept");
    c.epsv().await;
    assert_eq!(c.cmd("RETR a.secret").await, (550, "Not for you.".into()));
    c.expect("DELE doc.txt", 250).await;
}
