//! Starting and stopping: abort, shutdown, drain, serving one stream.

use crate::common::{Client, TestServer, TIMEOUT};
use ferroftpd::Server;

#[tokio::test]
async fn abort_closes_every_session_with_421() {
    let srv = TestServer::start().await;
    let mut a = srv.user().await;
    let mut b = srv.client().await;
    srv.server.abort();
    assert_eq!(a.reply().await.0, 421);
    assert_eq!(b.reply().await.0, 421);
    assert!(a.is_closed().await);
    srv.stop().await;
}

#[tokio::test]
async fn shutdown_stops_accepting_and_lets_sessions_finish() {
    let srv = TestServer::start().await;
    let mut c = srv.user().await;
    let addr = srv.addr;
    srv.server.shutdown();
    // The listener is closed once serve() notices; retry briefly.
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(refused, "listener still accepting after shutdown");
    c.expect("NOOP", 200).await;
    assert_eq!(srv.server.session_count(), 1);
    c.expect("QUIT", 221).await;
    srv.stop().await;
}

#[tokio::test]
async fn drain_closes_idle_sessions_and_lets_transfers_finish() {
    use tokio::io::AsyncWriteExt;
    let srv = TestServer::start().await;
    let mut idle = srv.user().await;
    let mut busy = srv.user().await;
    let mut data = busy.epsv().await;
    let (code, text) = busy.cmd("STOR up.bin").await;
    assert!(code == 150 || code == 125, "{code} {text}");
    data.write_all(b"first half, ").await.unwrap();
    srv.server.drain();
    // The idle session is closed at once; the upload goes on to its end,
    // then its session is closed too.
    assert_eq!(idle.reply().await.0, 421);
    assert!(idle.is_closed().await);
    data.write_all(b"second half").await.unwrap();
    drop(data);
    assert_eq!(busy.reply().await.0, 226);
    assert_eq!(busy.reply().await.0, 421);
    assert_eq!(
        std::fs::read(srv.path("up.bin")).unwrap(),
        b"first half, second half"
    );
    assert!(tokio::net::TcpStream::connect(srv.addr).await.is_err());
    srv.stop().await;
}

#[tokio::test]
async fn serve_connection_runs_one_session() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder().banner("one stream").build().unwrap();
    let s = server.clone();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        s.serve_connection(stream).await;
    });
    let mut c = Client::connect(addr).await;
    assert_eq!(c.greeting, (220, "one stream".into()));
    c.expect("QUIT", 221).await;
    tokio::time::timeout(TIMEOUT, task).await.unwrap().unwrap();
}

#[tokio::test]
async fn implicit_tls_needs_a_tls_configuration() {
    let server = Server::builder().build().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = tokio::time::timeout(TIMEOUT, server.serve_implicit_tls(listener))
        .await
        .unwrap();
    assert!(matches!(result, Err(ferroftpd::Error::Config(_))));
}

#[tokio::test]
async fn without_tls_auth_is_refused_and_feat_does_not_offer_it() {
    let srv = TestServer::start().await;
    let mut c = srv.client().await;
    let (code, text) = c.cmd("FEAT").await;
    assert_eq!(code, 211);
    assert!(!text.contains("AUTH TLS"), "{text}");
    c.expect("AUTH TLS", 502).await;
    c.expect("PBSZ 0", 503).await;
    c.expect("PROT P", 503).await;
    c.expect("CCC", 533).await;
    c.expect("ADAT x", 502).await;
    c.expect("NOOP", 200).await;
    srv.stop().await;
}
