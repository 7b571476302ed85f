//! A whole ferroftpd session, plain and FTPS, over `MemoryStorage`: the
//! control connection is an in-memory pipe (`ferroftpd::Server::serve_stream`,
//! the client at 127.0.0.1), data connections real loopback sockets.
//!
//! The input's first byte chooses the set-up (bits, low first): start with
//! `AUTH TLS` and a TLS handshake; latin1 as the clients' character set;
//! TLS required for logins and transfers (anonymous included); the default
//! login limits (3 failed logins, 10 unknown commands) instead of lax
//! ones; a TLS 1.2 client instead of 1.3; session reuse optional on data
//! connections instead of required. The rest is split at LF into command
//! lines, each sent with CRLF, at most `MAX_LINES` of them and for at most
//! `INPUT_BUDGET`; the harness waits for each command's final reply before
//! sending the next, as a client does. Users: `user`/`12345` with every permission and
//! `anonymous` read-only, both at `/` of a fresh in-memory tree per input.
//!
//! The harness plays a client that follows the server: after a 227 or 229
//! it connects to the announced port, it accepts the server's connections
//! after PORT/EPRT, and on every data connection it sends a few bytes,
//! closes its side and reads to the end (with TLS when `PROT P` is in
//! force). PORT/EPRT arguments are rewritten to a listener of the
//! harness, so the server never connects anywhere else. After a 234 it
//! completes a rustls handshake (any certificate accepted) and goes on
//! over TLS. Telnet subnegotiation (`IAC SB`) is turned into `IAC NOP`, so
//! that one line sent is one line the server reads; the harness frames
//! what it sends with the proto crate's `LineFramer` to know how many
//! replies to wait for.
//!
//! Checked:
//!
//! - no panic, in the harness or in any task of the server: a panic
//!   aborts the process (the panic hook below, as libfuzzer-sys's);
//! - every reply is well-formed: each line ends in CRLF, the first starts
//!   with a code from 100 to 599 and a space or a hyphen, a multi-line
//!   reply ends with a line of the same code and a space, no middle line
//!   starts with a digit (`Reply::encode` indents those), 0xFF is always
//!   doubled (Telnet), and the connection never ends inside a reply;
//! - the greeting is 220, and `AUTH TLS` at the start gets 234;
//! - nothing is sent in plain text after 234 and the handshake succeeds;
//! - every command gets its final reply within `REPLY_TIMEOUT` (the
//!   server's own timeouts are set to a few seconds);
//! - after the input, `QUIT` ends the session: the connection closes and
//!   `serve_stream` returns within `END_TIMEOUT`, with no session left.
#![no_main]

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ferroftpd::auth::{MemoryAuthorizer, Permissions};
use ferroftpd::proto::command::Command;
use ferroftpd::proto::framing::{Frame, LineFramer};
use ferroftpd::proto::security::ProtectionLevel;
use ferroftpd::storage::MemoryStorageFactory;
use ferroftpd::{Server, SessionReuse, TlsConfig};
use libfuzzer_sys::fuzz_target;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::timeout;

/// Command lines run per input: enough for a login, a few transfers and
/// renames, few enough to keep executions fast.
const MAX_LINES: usize = 64;
/// Longest wait for a command's final reply. The server's own timeouts
/// (below) are 2 to 5 s, so only a hang takes longer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest wait, after QUIT, for the session to end.
const END_TIMEOUT: Duration = Duration::from_secs(15);
/// Commands are sent for this long at most; then QUIT. Some inputs wait
/// on the server's timeouts (a transfer whose data connection fails), and
/// libFuzzer's own timeout (30 s in `run-briefly`) must not fire on them.
const INPUT_BUDGET: Duration = Duration::from_secs(8);
/// Longest a data connection of the harness lives.
const DATA_TIMEOUT: Duration = Duration::from_secs(3);
/// Bytes of replies per command the harness accepts (a STAT listing is
/// the longest).
const MAX_REPLY_BYTES: usize = 1 << 20;
/// Capacity of each input's in-memory tree.
const STORAGE_BYTES: u64 = 1 << 20;
/// What the harness sends on every data connection: line ends of every
/// kind for TYPE A, a Telnet IAC, a NUL.
const PAYLOAD: &[u8] = b"ferroftpd\r\nfuzz\n\rdata\xff\x00\r\n";

const MODE_TLS: u8 = 1;
const MODE_LATIN1: u8 = 2;
const MODE_TLS_REQUIRED: u8 = 4;
/// The addresses the control pipe stands for: passive listeners open on
/// the server's, and data connections must come from the client's.
const CLIENT: (Ipv4Addr, u16) = (Ipv4Addr::LOCALHOST, 40000);
const SERVER: (Ipv4Addr, u16) = (Ipv4Addr::LOCALHOST, 21);
/// Bytes the control pipe buffers each way.
const CONTROL_PIPE_BYTES: usize = 64 * 1024;
const MODE_STRICT_LOGIN: u8 = 8;
const MODE_TLS12: u8 = 16;
const MODE_REUSE_OPTIONAL: u8 = 32;

struct Harness {
    runtime: tokio::runtime::Runtime,
    tls: TlsConfig,
    client_tls13: rustls::ClientConfig,
    client_tls12: rustls::ClientConfig,
    /// `FERROFTPD_FUZZ_TRACE` is set: print the dialogue (for replaying
    /// one input).
    trace: bool,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        // As a Rust program's `main` does (libFuzzer's `main` does not):
        // a write, sendfile or splice to a connection the peer has closed
        // then fails with EPIPE instead of killing the process with
        // SIGPIPE. The server relies on it, as documented on `Server`.
        // SAFETY: setting a signal's disposition to SIG_IGN, once, before
        // any thread of the harness starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
        // A panic in any task, the server's included, is a crash: tokio
        // would otherwise catch it and only end that task.
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            default_hook(info);
            std::process::abort();
        }));
        // One thread: executions are reproducible as far as the kernel's
        // sockets allow, and the fuzzer's process stays small.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let tls = TlsConfig::self_signed(&["localhost".into()]).expect("certificate");
        let client = |versions: &[&'static rustls::SupportedProtocolVersion]| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(versions)
                .expect("protocol versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth();
            config.alpn_protocols = vec![b"ftp".to_vec()];
            config
        };
        Harness {
            runtime,
            tls,
            client_tls13: client(&[&rustls::version::TLS13]),
            client_tls12: client(&[&rustls::version::TLS12]),
            trace: std::env::var_os("FERROFTPD_FUZZ_TRACE").is_some(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let h = harness();
    h.runtime.block_on(session(h, mode, input));
});

fn server(h: &Harness, mode: u8) -> Server {
    let users = MemoryAuthorizer::new();
    users
        .add_user("user", "12345", "/", Permissions::ALL)
        .expect("user");
    users
        .add_anonymous("/", Permissions::READ)
        .expect("anonymous");
    let mut builder = Server::builder()
        .authorizer(Arc::new(users))
        .storage(Arc::new(MemoryStorageFactory::new(STORAGE_BYTES)))
        .tls(h.tls.clone())
        .ban(None)
        .auth_failed_delay(Duration::ZERO)
        .passive_accept_timeout(Duration::from_secs(2))
        .active_connect_timeout(Duration::from_secs(2))
        .data_timeout(Duration::from_secs(2))
        .idle_timeout(Some(Duration::from_secs(5)))
        .login_timeout(Some(Duration::from_secs(5)));
    if mode & MODE_LATIN1 != 0 {
        builder = builder.encoding("latin1").expect("latin1");
    }
    if mode & MODE_TLS_REQUIRED != 0 {
        builder = builder
            .tls_control_required(true)
            .tls_data_required(true)
            .tls_required_for_anonymous(true);
    }
    if mode & MODE_STRICT_LOGIN == 0 {
        builder = builder
            .max_login_attempts(50)
            .max_unknown_commands_before_login(50);
    }
    if mode & MODE_REUSE_OPTIONAL != 0 {
        builder = builder.tls_session_reuse(SessionReuse::Optional);
    }
    builder.build().expect("valid configuration")
}

async fn session(h: &'static Harness, mode: u8, input: &[u8]) {
    let server = server(h, mode);
    let (stream, server_end) = tokio::io::duplex(CONTROL_PIPE_BYTES);
    let serving = tokio::spawn({
        let server = server.clone();
        async move {
            server
                .serve_stream(server_end, CLIENT.into(), SERVER.into())
                .await
        }
    });
    let active = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("active listener");
    let active_port = active.local_addr().expect("active address").port();
    let mut tls = if mode & MODE_TLS12 != 0 {
        h.client_tls12.clone()
    } else {
        h.client_tls13.clone()
    };
    // Resumption secrets of this session only, as a real client has.
    tls.resumption = rustls::client::Resumption::in_memory_sessions(8);
    let tls = Arc::new(tls);
    let prot_private = Arc::new(AtomicBool::new(false));
    let mut data = JoinSet::new();
    // The server's active-mode connections, one after another (one
    // transfer runs at a time).
    data.spawn({
        let tls = tls.clone();
        let prot_private = prot_private.clone();
        async move {
            while let Ok((stream, _)) = active.accept().await {
                let tls = prot_private.load(Ordering::Relaxed).then(|| tls.clone());
                let _ = timeout(DATA_TIMEOUT, exchange(stream, tls)).await;
            }
        }
    });
    let mut client = Client {
        conn: Conn::Plain(stream),
        buf: Vec::new(),
        framer: LineFramer::new(),
        tls,
        prot_private,
        active_port,
        data,
        trace: h.trace,
    };

    let greeting = client.reply().await.expect("a greeting");
    assert_eq!(greeting.code, 220, "greeting {greeting:?}");
    if mode & MODE_TLS != 0 {
        client.command(b"AUTH TLS").await;
        assert!(
            matches!(client.conn, Conn::Tls(_)),
            "AUTH TLS at the start did not give TLS"
        );
    }
    let started = tokio::time::Instant::now();
    for line in input.split(|&b| b == b'\n').take(MAX_LINES) {
        if matches!(client.conn, Conn::Closed) || started.elapsed() > INPUT_BUDGET {
            break;
        }
        client.command(line).await;
    }
    if !matches!(client.conn, Conn::Closed) {
        client.send(b"QUIT\r\n").await;
        // Whatever replies remain, then the end of the connection.
        let drained = timeout(END_TIMEOUT, async {
            while !matches!(client.conn, Conn::Closed) {
                if client.reply().await.is_none() {
                    client.conn = Conn::Closed;
                }
            }
        })
        .await;
        assert!(
            drained.is_ok(),
            "connection still open {END_TIMEOUT:?} after QUIT"
        );
    }
    drop(client.conn);
    let ended = timeout(END_TIMEOUT, serving).await;
    assert!(
        ended.is_ok(),
        "session still running {END_TIMEOUT:?} after its end"
    );
    ended.expect("ended").expect("session task");
    assert_eq!(
        server.session_count(),
        0,
        "a session outlived its connection"
    );
    client.data.shutdown().await;
}

enum Conn {
    Plain(DuplexStream),
    Tls(Box<tokio_rustls::client::TlsStream<DuplexStream>>),
    Closed,
}

#[derive(Debug)]
struct Reply {
    code: u16,
    lines: Vec<Vec<u8>>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.lines.concat()).into_owned()
    }
}

struct Client {
    conn: Conn,
    /// Bytes received and not yet read as a reply line.
    buf: Vec<u8>,
    /// The server's view of the command lines sent.
    framer: LineFramer,
    tls: Arc<rustls::ClientConfig>,
    /// `PROT P` in force: data connections use TLS.
    prot_private: Arc<AtomicBool>,
    /// Where PORT and EPRT point: a listener of the harness.
    active_port: u16,
    data: JoinSet<()>,
    trace: bool,
}

impl Client {
    /// Sends one command line and reads its replies up to the final one,
    /// following 227, 229, 234 and 200-to-PORT as a client does.
    async fn command(&mut self, line: &[u8]) {
        let mut line = line.strip_suffix(b"\r").unwrap_or(line).to_vec();
        no_subnegotiation(&mut line);
        line.extend_from_slice(b"\r\n");
        // The lines the server will read, and the command each is.
        let mut framer = self.framer.clone();
        framer.push(&line);
        let frames: Vec<Frame> = std::iter::from_fn(|| framer.next_frame()).collect();
        let commands: Vec<Option<Command>> = frames
            .iter()
            .map(|frame| match frame {
                Frame::Line(l) => Command::parse(l).ok(),
                Frame::TooLong => None,
            })
            .collect();
        let active = commands
            .iter()
            .any(|c| matches!(c, Some(Command::Port(_) | Command::Eprt(_))));
        if active {
            // Only a whole line can be rewritten, to the harness's own
            // listener; anything else with an address is not sent.
            let [Some(command)] = &commands[..] else {
                return;
            };
            if !self.framer.is_empty() {
                return;
            }
            let port = self.active_port;
            line = match command {
                Command::Port(_) => format!("PORT 127,0,0,1,{},{}\r\n", port >> 8, port & 255),
                Command::Eprt(SocketAddr::V4(_)) => format!("EPRT |1|127.0.0.1|{port}|\r\n"),
                _ => format!("EPRT |2|::1|{port}|\r\n"),
            }
            .into_bytes();
        } else {
            self.framer = framer;
        }
        if active {
            self.framer.push(&line);
            while self.framer.next_frame().is_some() {}
        }
        self.send(&line).await;
        for command in commands {
            if matches!(self.conn, Conn::Closed) {
                return;
            }
            self.await_final(command.as_ref()).await;
        }
    }

    async fn await_final(&mut self, command: Option<&Command>) {
        let mut bytes = 0;
        loop {
            let reply = match timeout(REPLY_TIMEOUT, self.reply()).await {
                Ok(Some(reply)) => reply,
                Ok(None) => {
                    self.conn = Conn::Closed;
                    return;
                }
                Err(_) => panic!("no final reply to {command:?} within {REPLY_TIMEOUT:?}"),
            };
            bytes += reply.lines.iter().map(Vec::len).sum::<usize>();
            assert!(
                bytes <= MAX_REPLY_BYTES,
                "{bytes} bytes of replies to {command:?}"
            );
            match reply.code {
                227 => self.passive(pasv_address(&reply.text())),
                229 => {
                    let ip = self.peer_ip();
                    self.passive(epsv_port(&reply.text()).map(|port| SocketAddr::new(ip, port)));
                }
                234 => {
                    self.start_tls().await;
                    return;
                }
                200 => {
                    if let Some(Command::Prot(level)) = command {
                        let private = *level == ProtectionLevel::Private;
                        self.prot_private.store(private, Ordering::Relaxed);
                    }
                }
                220 if matches!(command, Some(Command::Rein)) => {
                    self.prot_private.store(false, Ordering::Relaxed)
                }
                _ => {}
            }
            if reply.code >= 200 {
                return;
            }
        }
    }

    /// The server's address as the control connection gives it.
    fn peer_ip(&self) -> IpAddr {
        SERVER.0.into()
    }

    /// Connects to a passive port, never off this host.
    fn passive(&mut self, addr: Option<SocketAddr>) {
        let Some(addr) = addr.filter(|a| a.ip().is_loopback()) else {
            return;
        };
        let tls = self
            .prot_private
            .load(Ordering::Relaxed)
            .then(|| self.tls.clone());
        self.data.spawn(async move {
            let _ = timeout(DATA_TIMEOUT, async move {
                if let Ok(stream) = TcpStream::connect(addr).await {
                    let _ = exchange(stream, tls).await;
                }
            })
            .await;
        });
    }

    async fn start_tls(&mut self) {
        let Conn::Plain(stream) = std::mem::replace(&mut self.conn, Conn::Closed) else {
            // 234 on a protected connection: nothing to start.
            return;
        };
        assert!(
            self.buf.is_empty(),
            "plain text after 234: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        self.framer.clear();
        let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
        let name = ServerName::try_from("localhost").expect("server name");
        match timeout(REPLY_TIMEOUT, connector.connect(name, stream)).await {
            Ok(Ok(tls)) => self.conn = Conn::Tls(Box::new(tls)),
            Ok(Err(e)) => panic!("TLS handshake after 234 failed: {e}"),
            Err(_) => panic!("TLS handshake after 234 took over {REPLY_TIMEOUT:?}"),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        if self.trace {
            eprintln!("C: {}", String::from_utf8_lossy(bytes).trim_end());
        }
        let sent = match &mut self.conn {
            Conn::Plain(s) => s.write_all(bytes).await,
            Conn::Tls(s) => match s.write_all(bytes).await {
                Ok(()) => s.flush().await,
                Err(e) => Err(e),
            },
            Conn::Closed => return,
        };
        // The server may close first (421); its replies are still read.
        let _ = sent;
    }

    /// The next reply, checked; `None` at the end of the connection.
    async fn reply(&mut self) -> Option<Reply> {
        let first = self.line().await?;
        assert!(
            first.len() >= 6
                && first[..3].iter().all(u8::is_ascii_digit)
                && (b'1'..=b'5').contains(&first[0])
                && (first[3] == b' ' || first[3] == b'-'),
            "malformed reply line {:?}",
            String::from_utf8_lossy(&first)
        );
        let code = u16::from(first[0] - b'0') * 100
            + u16::from(first[1] - b'0') * 10
            + u16::from(first[2] - b'0');
        let mut lines = vec![first[4..first.len() - 2].to_vec()];
        if first[3] == b'-' {
            loop {
                let Some(line) = self.line().await else {
                    panic!(
                        "connection closed inside a {code} reply: {:?}",
                        String::from_utf8_lossy(&lines.concat())
                    );
                };
                if line.len() >= 4 && line[..3] == first[..3] && line[3] == b' ' {
                    lines.push(line[4..line.len() - 2].to_vec());
                    break;
                }
                assert!(
                    !line[0].is_ascii_digit(),
                    "middle line of a {code} reply starts with a digit: {:?}",
                    String::from_utf8_lossy(&line)
                );
                lines.push(line[..line.len() - 2].to_vec());
            }
        }
        if self.trace {
            for line in &lines {
                eprintln!("S: {code} {}", String::from_utf8_lossy(line));
            }
        }
        Some(Reply { code, lines })
    }

    /// One line, CRLF included; `None` at the end of the connection
    /// between replies. The end of the connection in a line is a failure.
    async fn line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(at) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=at).collect();
                assert!(
                    line.ends_with(b"\r\n"),
                    "reply line without CRLF: {:?}",
                    String::from_utf8_lossy(&line)
                );
                let body = &line[..line.len() - 2];
                let mut i = 0;
                while i < body.len() {
                    if body[i] == 0xff {
                        assert!(
                            body.get(i + 1) == Some(&0xff),
                            "reply line with an undoubled 0xFF: {:?}",
                            String::from_utf8_lossy(&line)
                        );
                        i += 1;
                    }
                    i += 1;
                }
                return Some(line);
            }
            let mut chunk = [0u8; 4096];
            let n = match &mut self.conn {
                Conn::Plain(s) => s.read(&mut chunk).await,
                Conn::Tls(s) => s.read(&mut chunk).await,
                Conn::Closed => Ok(0),
            }
            // A reset is the end of the connection too.
            .unwrap_or(0);
            if n == 0 {
                assert!(
                    self.buf.is_empty(),
                    "connection closed inside a reply line: {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Sends `PAYLOAD`, closes the sending side, reads to the end.
async fn exchange(stream: TcpStream, tls: Option<Arc<rustls::ClientConfig>>) -> io::Result<()> {
    match tls {
        None => exchange_on(stream).await,
        Some(config) => {
            let name = ServerName::try_from("localhost").expect("server name");
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await?;
            exchange_on(tls).await
        }
    }
}

async fn exchange_on<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> io::Result<()> {
    stream.write_all(PAYLOAD).await?;
    stream.shutdown().await?;
    let mut sink = [0u8; 8192];
    while stream.read(&mut sink).await? > 0 {}
    Ok(())
}

/// `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).`
fn pasv_address(text: &str) -> Option<SocketAddr> {
    let inner = text.split_once('(')?.1.split_once(')')?.0;
    let n: Vec<u8> = inner
        .split(',')
        .map(|s| s.trim().parse().ok())
        .collect::<Option<_>>()?;
    let [a, b, c, d, p1, p2] = n[..] else {
        return None;
    };
    let ip = Ipv4Addr::new(a, b, c, d);
    Some(SocketAddr::new(
        ip.into(),
        u16::from(p1) << 8 | u16::from(p2),
    ))
}

/// `229 Entering Extended Passive Mode (|||port|).`
fn epsv_port(text: &str) -> Option<u16> {
    text.split('|').nth(3)?.parse().ok()
}

/// `IAC SB` becomes `IAC NOP`: a subnegotiation would swallow the line
/// ends that follow, and lines would no longer be commands.
fn no_subnegotiation(line: &mut [u8]) {
    let mut i = 0;
    while i + 1 < line.len() {
        if line[i] == 0xff {
            if line[i + 1] == 0xfa {
                line[i + 1] = 0xf1;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
}

/// Accepts any certificate (the server's is self-signed), and checks the
/// handshake's signatures as usual.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
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
