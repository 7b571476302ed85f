//! Starting and stopping: abort, shutdown, serving one stream.

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
