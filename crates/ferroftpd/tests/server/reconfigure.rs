//! `Server::reconfigure`: new sessions get the new settings, old sessions
//! keep theirs, and what the server counts carries over.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{Client, TestServer};
use ferroftpd::auth::{MemoryAuthorizer, Permissions};
use ferroftpd::{BanPolicy, Server};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Waits until the server counts `n` connections.
async fn wait_for_connections(srv: &TestServer, n: usize) {
    let started = std::time::Instant::now();
    while srv.server.connection_count() != n {
        assert!(
            started.elapsed() < crate::common::TIMEOUT,
            "{} connections",
            n
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn builder(users: Arc<MemoryAuthorizer>) -> ferroftpd::Builder {
    Server::builder()
        .authorizer(users)
        .auth_failed_delay(Duration::ZERO)
}

#[tokio::test]
async fn new_sessions_get_new_settings_and_old_sessions_keep_theirs() {
    let srv = TestServer::start_with(|b| b.banner("before")).await;
    let mut old = srv.client().await;
    old.login("user", "12345").await;

    let users = Arc::new(MemoryAuthorizer::new());
    users
        .add_user("other", "pw", srv.root.path(), Permissions::READ)
        .unwrap();
    srv.server
        .reconfigure(builder(users).banner("after"))
        .expect("valid settings");

    let mut stream = TcpStream::connect(srv.addr).await.unwrap();
    let mut greeting = [0; 64];
    let n = stream.read(&mut greeting).await.unwrap();
    assert_eq!(&greeting[..n], b"220 after\r\n");
    let mut new = Client::without_greeting(stream);
    new.expect("USER user", 331).await;
    new.expect("PASS 12345", 530).await;
    new.login("other", "pw").await;
    // Read-only now, for new sessions only.
    srv.write("file.txt", b"data");
    new.expect("DELE file.txt", 550).await;
    old.expect("DELE file.txt", 250).await;
}

#[tokio::test]
async fn invalid_settings_change_nothing() {
    let srv = TestServer::start_with(|b| b.banner("kept")).await;
    let users = Arc::new(MemoryAuthorizer::new());
    assert!(srv
        .server
        .reconfigure(builder(users).banner("lost").max_login_attempts(0))
        .is_err());
    let mut stream = TcpStream::connect(srv.addr).await.unwrap();
    let mut greeting = [0; 64];
    let n = stream.read(&mut greeting).await.unwrap();
    assert_eq!(&greeting[..n], b"220 kept\r\n");
}

#[tokio::test]
async fn connections_and_bans_carry_over() {
    let ban = BanPolicy {
        failures: 2,
        window: Duration::from_secs(60),
        duration: Duration::from_secs(60),
        ..BanPolicy::default()
    };
    let srv = TestServer::start_with(|b| b.ban(Some(ban))).await;
    let _a = srv.client().await;
    let _b = srv.client().await;
    let users = Arc::new(MemoryAuthorizer::new());
    users
        .add_user("user", "12345", srv.root.path(), Permissions::ALL)
        .unwrap();
    srv.server
        .reconfigure(builder(users).ban(Some(ban)).max_connections(3))
        .unwrap();
    // Two counted before, one more fits, the fourth does not.
    let mut c = srv.client().await;
    let refused = TcpStream::connect(srv.addr).await.unwrap();
    let mut text = String::new();
    let mut refused = refused;
    refused.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("421 Too many connections"), "{text}");
    // One failure before a reconfigure and one after make a ban.
    c.expect("USER user", 331).await;
    c.expect("PASS wrong", 530).await;
    let users = Arc::new(MemoryAuthorizer::new());
    srv.server
        .reconfigure(builder(users).ban(Some(ban)).max_connections(3))
        .unwrap();
    // The second failure, on a connection under the new settings.
    drop(c);
    wait_for_connections(&srv, 2).await;
    let mut c = srv.client().await;
    c.expect("USER user", 331).await;
    c.expect("PASS wrong", 530).await;
    // That banned the address.
    assert_eq!(c.cmd("USER user").await.0, 421);
    drop(c);
    drop(_a);
    let mut text = String::new();
    let mut banned = TcpStream::connect(srv.addr).await.unwrap();
    banned.read_to_string(&mut text).await.unwrap();
    assert!(text.contains("failed logins"), "{text}");
}
