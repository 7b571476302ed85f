//! One dual-stack listener on `[::]` serves IPv4 and IPv6 clients; files
//! larger than 4 GiB work.

use crate::common::{Client, TIMEOUT};
use ferroftpd::auth::{MemoryAuthorizer, Permissions};
use ferroftpd::Server;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

async fn dual_stack() -> (Server, u16, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f.txt"), b"over six").unwrap();
    let users = MemoryAuthorizer::new();
    users
        .add_user("user", "12345", root.path(), Permissions::ALL)
        .unwrap();
    let server = Server::builder()
        .authorizer(Arc::new(users))
        .auth_failed_delay(std::time::Duration::ZERO)
        .build()
        .unwrap();
    let listener = ferroftpd::bind("[::]:0".parse().unwrap()).expect("IPv6 available");
    let port = listener.local_addr().unwrap().port();
    let s = server.clone();
    tokio::spawn(async move { s.serve(listener).await });
    (server, port, root)
}

#[tokio::test]
async fn ipv4_clients_of_a_dual_stack_listener_see_plain_ipv4() {
    let (server, port, _root) = dual_stack().await;
    let mut c = Client::connect(([127, 0, 0, 1], port).into()).await;
    c.login("user", "12345").await;
    let text = c.expect("PASV", 227).await;
    assert!(
        text.starts_with("Entering passive mode (127,0,0,1,"),
        "{text}"
    );
    let stat = c.expect("STAT", 211).await;
    assert!(
        stat.contains("Connected to: 127.0.0.1:") && !stat.contains("ffff"),
        "{stat}"
    );
    // PORT from an IPv4-mapped session compares plain addresses.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let p = l.local_addr().unwrap().port();
    c.expect(format!("PORT 127,0,0,1,{},{}", p >> 8, p & 0xff), 200)
        .await;
    server.abort();
}

#[tokio::test]
async fn ipv6_clients_use_epsv_and_eprt() {
    let (server, port, _root) = dual_stack().await;
    let mut c = Client::connect(("::1".parse::<std::net::IpAddr>().unwrap(), port).into()).await;
    c.login("user", "12345").await;
    assert_eq!(c.cmd("PASV").await.0, 425);
    assert_eq!(c.cmd("EPSV 1").await.0, 522);
    let text = c.expect("EPSV 2", 229).await;
    let data_port: u16 = text.split('|').nth(3).unwrap().parse().unwrap();
    let mut data = TcpStream::connect(("::1", data_port)).await.unwrap();
    c.expect("RETR f.txt", 125).await;
    let mut got = Vec::new();
    data.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"over six");
    assert_eq!(c.reply().await.0, 226);
    // Active mode over IPv6.
    let l = TcpListener::bind("[::1]:0").await.unwrap();
    let p = l.local_addr().unwrap().port();
    c.expect(format!("EPRT |2|::1|{p}|"), 200).await;
    c.expect("RETR f.txt", 150).await;
    let (mut conn, _) = tokio::time::timeout(TIMEOUT, l.accept())
        .await
        .unwrap()
        .unwrap();
    let mut got = Vec::new();
    conn.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"over six");
    assert_eq!(c.reply().await.0, 226);
    // An IPv4 target from an IPv6 session is another host.
    assert_eq!(c.cmd("EPRT |1|127.0.0.1|5000|").await.0, 501);
    server.abort();
}

#[tokio::test]
async fn files_larger_than_4_gib() {
    let srv = crate::common::TestServer::start().await;
    const SIZE: u64 = 5 * 1024 * 1024 * 1024;
    let file = std::fs::File::create(srv.path("big.sparse")).unwrap();
    file.set_len(SIZE).unwrap();
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    assert_eq!(c.cmd("SIZE big.sparse").await, (213, SIZE.to_string()));
    c.expect(format!("REST {}", SIZE - 10), 350).await;
    let (tail, reply) = c.download("RETR big.sparse").await;
    assert_eq!((tail, reply.0), (vec![0u8; 10], 226));
    c.expect(format!("REST {SIZE}"), 350).await;
    assert_eq!(c.upload("STOR big.sparse", b"end").await.0 .0, 226);
    assert_eq!(
        std::fs::metadata(srv.path("big.sparse")).unwrap().len(),
        SIZE + 3
    );
    c.expect(format!("REST {}", SIZE + 1), 350).await;
    let (tail, _) = c.download("RETR big.sparse").await;
    assert_eq!(tail, b"nd");
    let mlst = c.expect("MLST big.sparse", 250).await;
    assert!(mlst.contains(&format!("size={};", SIZE + 3)), "{mlst}");
}
