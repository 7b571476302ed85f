//! Operators' listing rules through a session: deny and hide patterns,
//! dot files hidden without `-a`, hidden owner names, `LIST -R`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::common::{Client, TestServer};
use ferroftpd::auth::Permissions;
use ferroftpd::commands::{CommandContext, CommandHandler, CustomCommand};
use ferroftpd::guard::{Guard, Operation, Request, Verdict};
use ferroftpd::proto::perms::Permission;
use ferroftpd::proto::reply::Reply;
use ferroftpd::storage::MemoryStorageFactory;
use ferroftpd::{HideIds, NamePattern};

fn patterns(list: &str) -> Vec<NamePattern> {
    NamePattern::parse_list(list).unwrap()
}

/// The lines of a listing, sorted (local storage lists in directory order).
fn sorted_lines(listing: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8_lossy(listing)
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// The last word of each LIST line: the names, sorted.
fn names(listing: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = sorted_lines(listing)
        .iter()
        .map(|l| {
            let l = l.split(" -> ").next().unwrap();
            l.rsplit(' ').next().unwrap().to_owned()
        })
        .collect();
    names.sort();
    names
}

async fn nlst(c: &mut Client, command: &str) -> Vec<String> {
    let (listing, reply) = c.download(command).await;
    assert_eq!(reply.0, 226, "{command}: {reply:?}");
    sorted_lines(&listing)
}

async fn list_names(c: &mut Client, command: &str) -> Vec<String> {
    let (listing, reply) = c.download(command).await;
    assert_eq!(reply.0, 226, "{command}: {reply:?}");
    names(&listing)
}

#[tokio::test]
async fn denied_names_are_refused_by_every_command_and_never_listed() {
    let srv = TestServer::start_with(|b| b.deny_names(patterns("*.mp3,secret"))).await;
    srv.write("a.mp3", b"song");
    srv.write("ok.txt", b"fine");
    srv.write("secret/inner.txt", b"hidden");
    srv.write("music/b.mp3", b"song");
    srv.write("music/c.txt", b"text");
    let mut c = srv.user().await;
    for command in [
        "RETR a.mp3",
        "RETR music/../a.mp3",
        "RETR /music/b.mp3",
        "RETR secret/inner.txt",
        "SIZE a.mp3",
        "MDTM a.mp3",
        "MLST a.mp3",
        "MLST secret",
        "CWD secret",
        "CWD /secret/",
        "LIST secret",
        "NLST secret",
        "MLSD secret",
        "STAT secret",
        "LIST secret/*.txt",
        "DELE a.mp3",
        "RMD secret",
        "MKD new.mp3",
        "MKD secret/sub",
        "STOR new.mp3",
        "APPE a.mp3",
        "STOR secret/new.txt",
        "RNFR a.mp3",
        "RNFR secret",
        "SITE CHMOD 600 a.mp3",
        "MFMT 20200102030405 a.mp3",
        "HASH a.mp3",
    ] {
        let (code, text) = c.cmd(command).await;
        assert_eq!(code, 550, "{command} -> {code} {text}");
    }
    // Renaming to a denied name, and uploading one through STOU.
    c.expect("RNFR ok.txt", 350).await;
    c.expect("RNTO ok.mp3", 550).await;
    let _data = c.epsv().await;
    c.expect("STOU secret/x", 550).await;
    // Nothing changed on disk.
    assert!(srv.path("a.mp3").is_file() && srv.path("ok.txt").is_file());
    assert!(!srv.path("new.mp3").exists() && !srv.path("ok.mp3").exists());
    assert_eq!(std::fs::read_dir(srv.path("secret")).unwrap().count(), 1);
    // Listings leave them out, whatever the command.
    assert_eq!(nlst(&mut c, "NLST").await, ["music", "ok.txt"]);
    assert_eq!(list_names(&mut c, "LIST -la").await, ["music", "ok.txt"]);
    assert_eq!(nlst(&mut c, "NLST music").await, ["c.txt"]);
    assert_eq!(nlst(&mut c, "NLST music/*").await, ["music/c.txt"]);
    let (mlsd, _) = c.download("MLSD").await;
    let mlsd = String::from_utf8(mlsd).unwrap();
    assert!(
        !mlsd.contains("a.mp3") && !mlsd.contains("secret"),
        "{mlsd}"
    );
    let stat = c.expect("STAT .", 213).await;
    assert!(!stat.contains("a.mp3") && stat.contains("ok.txt"), "{stat}");
    // Other names still work.
    let (data, _) = c.download("RETR ok.txt").await;
    assert_eq!(data, b"fine");
    srv.stop().await;
}

#[tokio::test]
async fn hidden_names_are_left_out_of_listings_but_usable_by_name() {
    let srv = TestServer::start_with(|b| b.hide_names(patterns("*.bak,private"))).await;
    srv.write("notes.txt", b"n");
    srv.write("notes.txt.bak", b"old notes");
    srv.write("private/plan.txt", b"plan");
    let mut c = srv.user().await;
    assert_eq!(nlst(&mut c, "NLST").await, ["notes.txt"]);
    assert_eq!(list_names(&mut c, "LIST -a").await, ["notes.txt"]);
    assert_eq!(nlst(&mut c, "NLST *").await, ["notes.txt"]);
    let (mlsd, _) = c.download("MLSD").await;
    let mlsd = String::from_utf8(mlsd).unwrap();
    assert!(
        !mlsd.contains(".bak") && !mlsd.contains("private"),
        "{mlsd}"
    );
    // By name, they are there.
    let (data, _) = c.download("RETR notes.txt.bak").await;
    assert_eq!(data, b"old notes");
    assert_eq!(
        list_names(&mut c, "LIST notes.txt.bak").await,
        ["notes.txt.bak"]
    );
    c.expect("MLST notes.txt.bak", 250).await;
    c.expect("CWD private", 250).await;
    assert_eq!(nlst(&mut c, "NLST").await, ["plan.txt"]);
    srv.stop().await;
}

#[tokio::test]
async fn dot_files_are_listed_only_with_a_when_hidden() {
    let hidden = TestServer::start_with(|b| b.hide_dotfiles(true)).await;
    let shown = TestServer::start().await;
    for srv in [&hidden, &shown] {
        srv.write(".profile", b"p");
        srv.write("readme", b"r");
    }
    let mut c = hidden.user().await;
    assert_eq!(nlst(&mut c, "NLST").await, ["readme"]);
    assert_eq!(list_names(&mut c, "LIST").await, ["readme"]);
    assert_eq!(list_names(&mut c, "LIST -l").await, ["readme"]);
    assert_eq!(nlst(&mut c, "NLST -a").await, [".profile", "readme"]);
    assert_eq!(list_names(&mut c, "LIST -la").await, [".profile", "readme"]);
    assert_eq!(list_names(&mut c, "LIST -al").await, [".profile", "readme"]);
    // A pattern that starts with a dot asks for them, as in a shell.
    assert_eq!(nlst(&mut c, "NLST .p*").await, [".profile"]);
    // MLSD takes no options: never listed; by name, still there.
    let (mlsd, _) = c.download("MLSD").await;
    assert!(!String::from_utf8(mlsd).unwrap().contains(".profile"));
    let (data, _) = c.download("RETR .profile").await;
    assert_eq!(data, b"p");
    // The default shows them, as pyftpdlib does.
    let mut c = shown.user().await;
    assert_eq!(nlst(&mut c, "NLST").await, [".profile", "readme"]);
    hidden.stop().await;
    shown.stop().await;
}

/// The owner and group columns of the LIST line of `name`.
async fn owner_group(c: &mut Client, name: &str) -> (String, String) {
    let (listing, _) = c.download(&format!("LIST {name}")).await;
    let line = String::from_utf8(listing).unwrap();
    let cols: Vec<&str> = line.split_whitespace().collect();
    (cols[2].to_owned(), cols[3].to_owned())
}

/// The name of `uid` in /etc/passwd, or the number, as listings show it.
fn user_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == uid.to_string())
        .map_or_else(|| uid.to_string(), |f| f[0].to_owned())
}

#[tokio::test]
async fn owner_names_are_hidden_from_anonymous_users_by_default() {
    use std::os::unix::fs::MetadataExt;
    let srv = TestServer::start().await;
    srv.write("f.txt", b"x");
    let uid = std::fs::metadata(srv.path("f.txt")).unwrap().uid();
    let real = user_name(uid);
    assert_ne!(real, "ftp", "the test needs a file not owned by ftp");

    let mut anon = srv.client().await;
    anon.login("anonymous", "a@b.c").await;
    assert_eq!(
        owner_group(&mut anon, "f.txt").await,
        ("ftp".into(), "ftp".into())
    );
    let stat = anon.expect("STAT .", 213).await;
    assert!(stat.contains(" ftp      ftp "), "{stat}");
    let mlst = anon.expect("MLST f.txt", 250).await;
    assert!(
        !mlst.contains("unix.uid") && !mlst.contains("unix.gid"),
        "{mlst}"
    );
    assert!(mlst.contains("unix.mode="), "{mlst}");
    let (mlsd, _) = anon.download("MLSD").await;
    assert!(!String::from_utf8(mlsd).unwrap().contains("unix.uid"));

    let mut user = srv.user().await;
    assert_eq!(owner_group(&mut user, "f.txt").await.0, real);
    let mlst = user.expect("MLST f.txt", 250).await;
    assert!(mlst.contains(&format!("unix.uid={uid};")), "{mlst}");
    srv.stop().await;
}

#[tokio::test]
async fn hide_ids_everyone_or_never() {
    let everyone = TestServer::start_with(|b| {
        b.hide_ids(HideIds::Everyone)
            .fake_owner("nobody")
            .fake_group("nogroup")
    })
    .await;
    everyone.write("f.txt", b"x");
    let mut c = everyone.user().await;
    assert_eq!(
        owner_group(&mut c, "f.txt").await,
        ("nobody".into(), "nogroup".into())
    );
    everyone.stop().await;

    let never = TestServer::start_with(|b| b.hide_ids(HideIds::Never)).await;
    never.write("f.txt", b"x");
    let mut c = never.client().await;
    c.login("anonymous", "a@b.c").await;
    assert_ne!(owner_group(&mut c, "f.txt").await.0, "ftp");
    never.stop().await;
}

#[tokio::test]
async fn bad_fake_names_are_refused_by_build() {
    for bad in ["", "two words", "tab\there"] {
        let err = ferroftpd::Server::builder()
            .fake_owner(bad)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("fake owner"), "{err}");
    }
}

/// A `LIST -R` listing: each heading and the names under it.
fn sections(listing: &[u8]) -> BTreeMap<String, Vec<String>> {
    let text = String::from_utf8(listing.to_vec()).unwrap();
    text.split("\r\n\r\n")
        .map(|section| {
            let (heading, body) = section.split_once(":\r\n").unwrap();
            (heading.to_owned(), names(body.as_bytes()))
        })
        .collect()
}

fn tree(srv: &TestServer) {
    srv.write("top.txt", b"t");
    srv.write("a/one.txt", b"1");
    srv.write("a/b/two.txt", b"2");
    srv.write("a/b/c/three.txt", b"3");
    srv.write("a/.dot/x", b"x");
    srv.write("z/last.txt", b"z");
}

#[tokio::test]
async fn list_r_walks_the_tree_depth_first_with_headings() {
    let srv = TestServer::start_with(|b| b.hide_dotfiles(true)).await;
    tree(&srv);
    std::os::unix::fs::symlink(".", srv.path("a/loop")).unwrap();
    let mut c = srv.user().await;
    let (listing, reply) = c.download("LIST -R").await;
    assert_eq!(reply.0, 226);
    let got = sections(&listing);
    let want: BTreeMap<String, Vec<String>> = [
        (".", vec!["a", "top.txt", "z"]),
        ("./a", vec!["b", "loop", "one.txt"]),
        ("./a/b", vec!["c", "two.txt"]),
        ("./a/b/c", vec!["three.txt"]),
        ("./z", vec!["last.txt"]),
    ]
    .into_iter()
    .map(|(h, n)| (h.to_owned(), n.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(got, want, "{}", String::from_utf8_lossy(&listing));
    // Depth first: a's subtree comes in one run, before or after z
    // (local storage lists in directory order).
    let text = String::from_utf8(listing).unwrap();
    let headings: Vec<&str> = text
        .split("\r\n")
        .filter_map(|l| l.strip_suffix(':'))
        .collect();
    let a = headings.iter().position(|h| *h == "./a").unwrap();
    assert_eq!(
        headings[a..a + 3],
        ["./a", "./a/b", "./a/b/c"],
        "{headings:?}"
    );
    // The symbolic link is listed, not followed.
    assert!(text.contains("loop -> ."), "{text}");

    // -a shows dot directories and walks into them; a path is named as given.
    let (listing, _) = c.download("LIST -laR a").await;
    let got = sections(&listing);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        ["a", "a/.dot", "a/b", "a/b/c"]
    );
    assert_eq!(got["a/.dot"], ["x"]);

    // NLST -R: paths relative to the listed directory, usable in RETR.
    assert_eq!(
        nlst(&mut c, "NLST -R a").await,
        ["b", "b/c", "b/c/three.txt", "b/two.txt", "loop", "one.txt"]
    );
    let (data, _) = c.download("RETR a/b/c/three.txt").await;
    assert_eq!(data, b"3");
    srv.stop().await;
}

#[tokio::test]
async fn list_r_is_bounded_in_depth_and_entries() {
    let shallow = TestServer::start_with(|b| b.max_list_depth(1)).await;
    tree(&shallow);
    let mut c = shallow.user().await;
    assert_eq!(
        nlst(&mut c, "NLST -R").await,
        [
            "a",
            "a/.dot",
            "a/b",
            "a/one.txt",
            "top.txt",
            "z",
            "z/last.txt"
        ]
    );
    shallow.stop().await;

    let off = TestServer::start_with(|b| b.max_list_depth(0)).await;
    tree(&off);
    let mut c = off.user().await;
    assert_eq!(list_names(&mut c, "LIST -R").await, ["a", "top.txt", "z"]);
    off.stop().await;

    let few = TestServer::start_with(|b| b.max_list_entries(4)).await;
    tree(&few);
    let mut c = few.user().await;
    // Four entries read in all (the top's three, one of the next
    // directory's), whatever order the directory gives them in.
    let listed = nlst(&mut c, "NLST -R").await;
    assert_eq!(listed.len(), 4, "{listed:?}");
    few.stop().await;
}

#[tokio::test]
async fn list_r_skips_what_a_list_of_it_would_refuse() {
    let srv = TestServer::start_with(|b| b.deny_names(patterns("secret"))).await;
    tree(&srv);
    srv.write("a/secret/key", b"k");
    srv.users
        .override_perm("user", "/z", Permissions::NONE, false)
        .unwrap();
    let mut c = srv.user().await;
    let listed = nlst(&mut c, "NLST -R").await;
    assert!(!listed.iter().any(|n| n.contains("secret")), "{listed:?}");
    // z is listed in the top directory, but the user may not list it.
    assert!(listed.contains(&"z".to_owned()), "{listed:?}");
    assert!(!listed.contains(&"z/last.txt".to_owned()), "{listed:?}");
    assert!(listed.contains(&"a/b/c/three.txt".to_owned()), "{listed:?}");
    srv.stop().await;
}

/// Refuses to list `/a/b`, whatever asks.
#[derive(Debug)]
struct NoListingOfAB;

#[async_trait::async_trait]
impl Guard for NoListingOfAB {
    async fn check(&self, request: &Request<'_>) -> Verdict {
        match &request.operation {
            Operation::List { path } if path.as_bytes() == b"/a/b" => {
                Verdict::Refuse(Reply::new(550, "Not this one."))
            }
            _ => Verdict::Allow,
        }
    }
}

#[tokio::test]
async fn list_r_asks_the_guard_about_each_subdirectory() {
    let srv = TestServer::start_with(|b| b.guard(Arc::new(NoListingOfAB))).await;
    tree(&srv);
    let mut c = srv.user().await;
    let data = c.epsv().await;
    c.expect("LIST a/b", 550).await;
    drop(data);
    let listed = nlst(&mut c, "NLST -R a").await;
    assert!(listed.contains(&"b".to_owned()), "{listed:?}");
    assert!(!listed.iter().any(|n| n.starts_with("b/")), "{listed:?}");
    assert!(listed.contains(&"one.txt".to_owned()), "{listed:?}");
    srv.stop().await;
}

/// `SITE PEEK path`: 200 if the user may download `path`, by the checks
/// `CommandContext` offers commands of an embedder's own.
#[derive(Debug)]
struct Peek;

#[async_trait::async_trait]
impl CommandHandler for Peek {
    async fn call(&self, ctx: &mut CommandContext<'_>, arg: Option<&[u8]>) -> Reply {
        let checked = ctx
            .resolve(arg.unwrap_or_default())
            .and_then(|path| ctx.check(Permission::Retrieve, &path));
        match checked {
            Ok(()) => Reply::new(200, "Allowed."),
            Err(reply) => reply,
        }
    }
}

#[tokio::test]
async fn commands_of_ones_own_are_denied_the_same_names() {
    let srv = TestServer::start_with(|b| {
        b.deny_names(patterns("secret"))
            .site_command("PEEK", CustomCommand::new(Peek))
    })
    .await;
    let mut c = srv.user().await;
    c.expect("SITE PEEK ok.txt", 200).await;
    c.expect("SITE PEEK secret", 550).await;
    c.expect("SITE PEEK pub/secret/key", 550).await;
    srv.stop().await;
}

#[tokio::test]
async fn the_rules_hold_on_memory_storage_too() {
    let tree = MemoryStorageFactory::new(10_000);
    let srv = TestServer::start_with(|b| {
        b.storage(Arc::new(tree.clone()))
            .deny_names(patterns("*.mp3"))
            .hide_names(patterns("*.bak"))
            .hide_dotfiles(true)
    })
    .await;
    srv.users
        .add_user("mem", "pw", "/", Permissions::ALL)
        .unwrap();
    let mut c = srv.client().await;
    c.login("mem", "pw").await;
    c.expect("MKD d", 257).await;
    for name in ["d/keep.txt", "d/old.bak", "d/.rc"] {
        assert_eq!(c.upload(&format!("STOR {name}"), b"x").await.0 .0, 226);
    }
    c.expect("STOR d/song.mp3", 550).await;
    assert_eq!(nlst(&mut c, "NLST -R").await, ["d", "d/keep.txt"]);
    assert_eq!(nlst(&mut c, "NLST -aR").await, ["d", "d/.rc", "d/keep.txt"]);
    let (data, _) = c.download("RETR d/old.bak").await;
    assert_eq!(data, b"x");
    srv.stop().await;
}
