//! Hooks fire once each, in order, and a failing hook harms nothing.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{read, TestServer, TIMEOUT};
use async_trait::async_trait;
use ferroftpd::hooks::{FileEvent, Hooks, SessionInfo};
use tokio::io::AsyncWriteExt;

#[derive(Debug, Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
}

impl Recorder {
    fn push(&self, s: &SessionInfo, what: String) {
        let user = s.user.as_deref().unwrap_or("-");
        self.events.lock().unwrap().push(format!("{user} {what}"));
    }

    /// Waits until `n` events arrived (hooks run in their own task).
    async fn wait_for(&self, n: usize) -> Vec<String> {
        let started = Instant::now();
        loop {
            let events = self.events.lock().unwrap().clone();
            if events.len() >= n || started.elapsed() > TIMEOUT {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn file(f: &FileEvent) -> String {
    assert!(
        f.real_path.as_ref().is_some_and(|p| p.is_absolute()),
        "{f:?}"
    );
    format!("{} {}", f.path, f.bytes)
}

#[async_trait]
impl Hooks for Recorder {
    async fn on_connect(&self, s: &SessionInfo) {
        self.push(s, "connect".into());
    }
    async fn on_disconnect(&self, s: &SessionInfo) {
        self.push(s, "disconnect".into());
    }
    async fn on_login(&self, s: &SessionInfo) {
        self.push(s, "login".into());
    }
    async fn on_login_failed(&self, s: &SessionInfo, user: &str) {
        self.push(s, format!("login_failed {user}"));
    }
    async fn on_logout(&self, s: &SessionInfo) {
        self.push(s, "logout".into());
    }
    async fn on_file_sent(&self, s: &SessionInfo, f: &FileEvent) {
        self.push(s, format!("sent {}", file(f)));
    }
    async fn on_file_received(&self, s: &SessionInfo, f: &FileEvent) {
        self.push(s, format!("received {}", file(f)));
    }
    async fn on_incomplete_file_sent(&self, s: &SessionInfo, f: &FileEvent) {
        self.push(s, format!("incomplete_sent {}", f.path));
    }
    async fn on_incomplete_file_received(&self, s: &SessionInfo, f: &FileEvent) {
        let remains = f.remains.map_or("-".into(), |r| format!("{r:?}"));
        self.push(s, format!("incomplete_received {} {remains}", f.path));
    }
    async fn on_directory_created(&self, s: &SessionInfo, f: &FileEvent) {
        self.push(s, format!("mkdir {}", f.path));
    }
    async fn on_directory_removed(&self, s: &SessionInfo, f: &FileEvent) {
        self.push(s, format!("rmdir {}", f.path));
    }
    async fn on_file_deleted(&self, s: &SessionInfo, f: &FileEvent) {
        self.push(s, format!("delete {}", f.path));
    }
    async fn on_renamed(&self, s: &SessionInfo, from: &FileEvent, to: &FileEvent) {
        self.push(s, format!("rename {} {}", from.path, to.path));
    }
}

async fn server() -> (TestServer, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let hooks = recorder.clone();
    let srv = TestServer::start_with(move |b| b.hooks(hooks)).await;
    (srv, recorder)
}

#[tokio::test]
async fn a_complete_session_in_order() {
    let (srv, rec) = server().await;
    srv.write("f.txt", b"12345");
    let mut c = srv.client().await;
    c.expect("USER user", 331).await;
    c.expect("PASS wrong", 530).await;
    c.login("user", "12345").await;
    c.download("RETR f.txt").await;
    c.upload("STOR up.txt", b"abc").await;
    c.expect("MKD d", 257).await;
    c.expect("RNFR up.txt", 350).await;
    c.expect("RNTO d/up.txt", 250).await;
    c.expect("DELE d/up.txt", 250).await;
    c.expect("RMD d", 250).await;
    c.expect("QUIT", 221).await;
    let events = rec.wait_for(11).await;
    assert_eq!(
        events,
        [
            "- connect",
            "- login_failed user",
            "user login",
            "user sent /f.txt 5",
            "user received /up.txt 3",
            "user mkdir /d",
            "user rename /up.txt /d/up.txt",
            "user delete /d/up.txt",
            "user rmdir /d",
            "user logout",
            "user disconnect",
        ]
    );
}

#[tokio::test]
async fn aborted_transfers_and_dropped_connections() {
    let (srv, rec) = server().await;
    srv.write("big.bin", &vec![0u8; 32 * 1024 * 1024]);
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let _data = c.epsv().await;
    c.expect("RETR big.bin", 125).await;
    c.send("ABOR").await;
    assert_eq!(c.reply().await.0, 426);
    assert_eq!(c.reply().await.0, 226);
    let mut data = c.epsv().await;
    c.expect("STOR part.bin", 125).await;
    data.write_all(b"partial").await.unwrap();
    c.send("ABOR").await;
    assert_eq!(c.reply().await.0, 426);
    assert_eq!(c.reply().await.0, 226);
    drop(c); // no QUIT: no logout, only disconnect
    let events = rec.wait_for(5).await;
    assert_eq!(
        events,
        [
            "- connect",
            "user login",
            "user incomplete_sent /big.bin",
            "user incomplete_received /part.bin NewFile",
            "user disconnect",
        ]
    );
}

#[derive(Debug, Default)]
struct Faulty {
    calls: Mutex<u32>,
    disconnects: Mutex<u32>,
}

#[async_trait]
impl Hooks for Faulty {
    async fn on_login(&self, _s: &SessionInfo) {
        *self.calls.lock().unwrap() += 1;
        panic!("a broken hook");
    }
    async fn on_file_received(&self, _s: &SessionInfo, _f: &FileEvent) {
        // A slow hook: the session must not wait for it.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    async fn on_disconnect(&self, _s: &SessionInfo) {
        *self.disconnects.lock().unwrap() += 1;
    }
}

#[tokio::test]
async fn failing_and_slow_hooks_harm_nothing() {
    let faulty = Arc::new(Faulty::default());
    let hooks = faulty.clone();
    let srv = TestServer::start_with(move |b| b.hooks(hooks)).await;
    let mut c = srv.user().await;
    c.upload("STOR a", b"1").await;
    c.upload("STOR b", b"2").await;
    c.expect("NOOP", 200).await;
    let mut other = srv.user().await;
    other.expect("NOOP", 200).await;
    // Both logins reached the panicking hook, each in its own call.
    let started = Instant::now();
    while *faulty.calls.lock().unwrap() < 2 && started.elapsed() < TIMEOUT {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*faulty.calls.lock().unwrap(), 2);
    // After the panic, the same session's later events are still delivered.
    c.expect("QUIT", 221).await;
    let started = Instant::now();
    while *faulty.disconnects.lock().unwrap() < 1 && started.elapsed() < TIMEOUT {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*faulty.disconnects.lock().unwrap(), 1);
}

#[tokio::test]
async fn failed_transfers_are_incomplete() {
    let recorder = Arc::new(Recorder::default());
    let hooks = recorder.clone();
    let srv = TestServer::start_with(move |b| {
        b.hooks(hooks)
            .passive_accept_timeout(Duration::from_millis(200))
    })
    .await;
    srv.write("f.txt", b"x");
    let mut c = srv.user().await;
    c.expect("EPSV", 229).await; // never connected
    c.expect("RETR f.txt", 150).await;
    assert_eq!(c.reply().await.0, 425);
    c.expect("QUIT", 221).await;
    let events = recorder.wait_for(5).await;
    assert_eq!(
        events,
        [
            "- connect",
            "user login",
            "user incomplete_sent /f.txt",
            "user logout",
            "user disconnect"
        ]
    );
}

/// An upload that does not complete says what it left, so that a hook
/// removing partial uploads (pyftpdlib's tutorial recipe) removes only
/// those: never the file an aborted STOR was replacing, nor one APPE
/// wrote into.
#[tokio::test]
async fn incomplete_uploads_say_what_they_left() {
    let (srv, rec) = server().await;
    srv.write("kept.txt", b"the original");
    srv.write("log.txt", b"old lines\n");
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    for (command, data) in [
        ("STOR kept.txt", &b"half a new version"[..]),
        ("STOR new.bin", b"partial"),
        ("APPE log.txt", b"new li"),
    ] {
        let mut conn = c.epsv().await;
        c.expect(command, 125).await;
        conn.write_all(data).await.unwrap();
        conn.flush().await.unwrap();
        // Let the bytes reach the file before the abort.
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.send("ABOR").await;
        assert_eq!(c.reply().await.0, 426, "{command}");
        assert_eq!(c.reply().await.0, 226, "{command}");
    }
    c.expect("QUIT", 221).await;
    let events = rec.wait_for(7).await;
    assert_eq!(
        events[2..5],
        [
            "user incomplete_received /kept.txt Nothing",
            "user incomplete_received /new.bin NewFile",
            "user incomplete_received /log.txt InPlace",
        ]
    );
    // What each event says is what is on disk.
    assert_eq!(read(&srv.path("kept.txt")), b"the original");
    assert_eq!(read(&srv.path("new.bin")), b"partial");
    assert_eq!(read(&srv.path("log.txt")), b"old lines\nnew li");
}
