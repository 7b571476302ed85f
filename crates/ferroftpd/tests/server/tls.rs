//! Explicit FTPS on the control connection over TCP: what FEAT offers,
//! AUTH SSL, and how an encrypted session ends.
#![cfg(feature = "self-signed")]

use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::common::{Client, TestServer};
use crate::streams::accept_any_certificate;

async fn tls_server() -> TestServer {
    let tls = ferroftpd::TlsConfig::self_signed(&["localhost".into()]).unwrap();
    TestServer::start_with(|b| b.tls(tls)).await
}

/// `AUTH <mechanism>`, then the handshake.
async fn secure(srv: &TestServer, mechanism: &str) -> Client<TlsStream<TcpStream>> {
    let mut c = srv.client().await;
    c.expect(format!("AUTH {mechanism}"), 234).await;
    let tcp = c.stream.into_inner();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(accept_any_certificate()));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    Client::without_greeting(connector.connect(name, tcp).await.expect("handshake"))
}

/// pyftpdlib lists both names; clients that ask for SSL get TLS.
#[tokio::test]
async fn feat_offers_auth_ssl_and_auth_ssl_works() {
    let srv = tls_server().await;
    let mut plain = srv.client().await;
    let feat = plain.expect("FEAT", 211).await;
    let lines: Vec<&str> = feat.lines().collect();
    let ssl = lines.iter().position(|l| *l == " AUTH SSL");
    let tls = lines.iter().position(|l| *l == " AUTH TLS");
    assert!(ssl.is_some() && ssl < tls, "{feat}");
    let mut c = secure(&srv, "SSL").await;
    c.login("user", "12345").await;
    c.expect("PBSZ 0", 200).await;
    c.expect("PROT P", 200).await;
    // Once encrypted, AUTH is refused.
    c.expect("AUTH SSL", 503).await;
}

/// A client that leaves with close_notify and no CCC gets the server's
/// close_notify before the TCP connection closes: to the client, a clean
/// end (read returns 0), not a truncation (an UnexpectedEof error).
#[tokio::test]
async fn a_client_close_notify_gets_ours_before_the_close() {
    let srv = tls_server().await;
    let mut c = secure(&srv, "TLS").await;
    c.login("user", "12345").await;
    let mut tls = c.stream.into_inner();
    tls.get_mut().1.send_close_notify();
    // Flush the alert out without closing the socket's write side.
    tokio::io::AsyncWriteExt::flush(&mut tls).await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tls.read_to_end(&mut rest),
    )
    .await
    .expect("the server closes the connection");
    assert_eq!(read.expect("a clean TLS end"), 0, "{rest:?}");
}

/// QUIT over TLS ends the same way: 221, then close_notify.
#[tokio::test]
async fn quit_over_tls_ends_with_close_notify() {
    let srv = tls_server().await;
    let mut c = secure(&srv, "TLS").await;
    c.login("user", "12345").await;
    c.expect("QUIT", 221).await;
    let mut rest = Vec::new();
    let read = c.stream.read_to_end(&mut rest).await;
    assert_eq!(read.expect("a clean TLS end"), 0, "{rest:?}");
}
