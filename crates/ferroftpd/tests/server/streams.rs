//! Sessions over a byte stream that is not TCP (`Server::serve_stream`):
//! an in-memory pipe for the control connection, TCP for data.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use crate::common::{Client, TestServer};

const PEER: &str = "127.0.0.1:40000";
const LOCAL: &str = "127.0.0.1:21";

/// A session of `srv` over an in-memory pipe; the server's task runs
/// until the session ends.
fn pipe_session(srv: &TestServer) -> DuplexStream {
    let (client, server_end) = tokio::io::duplex(64 * 1024);
    let server = srv.server.clone();
    tokio::spawn(async move {
        let peer: SocketAddr = PEER.parse().unwrap();
        server
            .serve_stream(server_end, peer, LOCAL.parse().unwrap())
            .await
    });
    client
}

fn localhost() -> std::net::IpAddr {
    std::net::Ipv4Addr::LOCALHOST.into()
}

#[tokio::test]
async fn a_session_runs_over_an_in_memory_pipe() {
    let srv = TestServer::start().await;
    let mut c = Client::from_stream(pipe_session(&srv)).await;
    assert_eq!(c.greeting.0, 220);
    c.login("user", "12345").await;
    c.expect("MKD d", 257).await;
    c.expect("TYPE I", 200).await;
    // Data connections are TCP, on the address the stream says is local.
    let mut data = c.epsv_to(localhost()).await;
    c.expect("STOR d/f.bin", 125).await;
    data.write_all(b"over a pipe").await.unwrap();
    drop(data);
    assert_eq!(c.reply().await.0, 226);
    assert_eq!(std::fs::read(srv.path("d/f.bin")).unwrap(), b"over a pipe");
    let mut data = c.epsv_to(localhost()).await;
    c.expect("NLST d", 125).await;
    let mut listing = String::new();
    data.read_to_string(&mut listing).await.unwrap();
    assert_eq!(listing, "f.bin\r\n");
    assert_eq!(c.reply().await.0, 226);
    // The peer the stream was given is the session's client.
    let stat = c.expect("STAT", 211).await;
    assert!(stat.contains("127.0.0.1"), "{stat}");
    c.expect("QUIT", 221).await;
    assert!(c.is_closed().await);
}

#[tokio::test]
async fn streams_count_against_the_connection_limits() {
    let srv = TestServer::start_with(|b| b.max_connections(1)).await;
    let mut first = Client::from_stream(pipe_session(&srv)).await;
    first.login("user", "12345").await;
    let mut refused = pipe_session(&srv);
    let mut text = String::new();
    refused.read_to_string(&mut text).await.unwrap();
    assert_eq!(
        text,
        "421 Too many connections. Service temporarily unavailable.\r\n"
    );
    first.expect("NOOP", 200).await;
}

/// AUTH TLS and CCC over the pipe: the handshake, encrypted commands,
/// and plain text again after CCC.
#[cfg(feature = "self-signed")]
#[tokio::test]
async fn explicit_tls_and_ccc_over_an_in_memory_pipe() {
    use std::sync::Arc;

    let tls = ferroftpd::TlsConfig::self_signed(&["localhost".into()]).unwrap();
    let srv = TestServer::start_with(|b| b.tls(tls).tls_allow_ccc(true)).await;
    let mut c = Client::from_stream(pipe_session(&srv)).await;
    c.expect("AUTH TLS", 234).await;
    let pipe = c.stream.into_inner();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(accept_any_certificate()));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, pipe).await.expect("handshake");
    let mut c = Client::without_greeting(tls);
    c.login("user", "12345").await;
    c.expect("PBSZ 0", 200).await;
    c.expect("PROT C", 200).await;
    c.expect("CCC", 200).await;
    // The client's close_notify, then plain text on the same pipe.
    let (mut pipe, mut conn) = c.stream.into_inner().into_inner();
    conn.send_close_notify();
    let mut alert = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut alert).unwrap();
    }
    pipe.write_all(&alert).await.unwrap();
    // What the server sent after its own close_notify is plain text; the
    // client's rustls may have read some of it already, so ask afresh.
    let mut c = Client::without_greeting(pipe);
    c.expect("NOOP", 200).await;
    assert!(c.expect("PWD", 257).await.contains("\"/\""));
}

/// A verifier that accepts any certificate: the test's server has a
/// self-signed one, and what is tested is the stream, not the PKI.
#[cfg(feature = "self-signed")]
pub(crate) fn accept_any_certificate() -> rustls::ClientConfig {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);
    use std::sync::Arc;

    impl ServerCertVerifier for AcceptAny {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth()
}
