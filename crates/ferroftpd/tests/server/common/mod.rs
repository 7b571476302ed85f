//! A real server on 127.0.0.1:0 and a raw-bytes client for integration
//! tests. Every read has a timeout, so a test fails instead of hanging.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferroftpd::auth::{MemoryAuthorizer, Permissions};
use ferroftpd::{Builder, Server};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: SocketAddr,
    pub root: tempfile::TempDir,
    pub server: Server,
    pub users: Arc<MemoryAuthorizer>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// A server with user `user`/`12345` (all rights) and anonymous
    /// (read-only) on a fresh directory, no login delay.
    pub async fn start() -> TestServer {
        Self::start_with(|b| b).await
    }

    pub async fn start_with(configure: impl FnOnce(Builder) -> Builder) -> TestServer {
        let root = tempfile::tempdir().expect("tempdir");
        let users = Arc::new(MemoryAuthorizer::new());
        users
            .add_user("user", "12345", root.path(), Permissions::ALL)
            .unwrap();
        users.add_anonymous(root.path(), Permissions::READ).unwrap();
        let builder = Server::builder()
            .authorizer(users.clone())
            .auth_failed_delay(Duration::ZERO);
        let server = configure(builder).build().expect("valid config");
        let listener = ferroftpd::bind("127.0.0.1:0".parse().unwrap()).expect("bind");
        let addr = listener.local_addr().unwrap();
        let s = server.clone();
        let task = tokio::spawn(async move {
            s.serve(listener).await.expect("serve");
        });
        TestServer {
            addr,
            root,
            server,
            users,
            task,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn write(&self, rel: &str, data: &[u8]) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, data).unwrap();
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// A client logged in as `user`.
    pub async fn user(&self) -> Client {
        let mut c = self.client().await;
        c.login("user", "12345").await;
        c
    }

    /// Stops the server and waits for it.
    pub async fn stop(self) {
        self.server.abort();
        tokio::time::timeout(TIMEOUT, self.task)
            .await
            .expect("server stops")
            .unwrap();
    }
}

/// A client over TCP or, for `Server::serve_stream`, any byte stream.
pub struct Client<S = TcpStream> {
    pub stream: BufReader<S>,
    pub greeting: (u16, String),
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Client::from_stream(stream).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// A client on a connection already made; reads the greeting.
    pub async fn from_stream(stream: S) -> Client<S> {
        let mut c = Client::without_greeting(stream);
        c.greeting = c.reply().await;
        c
    }

    /// A client on a connection whose greeting was read, or comes later.
    pub fn without_greeting(stream: S) -> Client<S> {
        Client {
            stream: BufReader::new(stream),
            greeting: (0, String::new()),
        }
    }

    pub async fn send(&mut self, line: impl AsRef<[u8]>) {
        let mut bytes = line.as_ref().to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.send_raw(&bytes).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.expect("send");
    }

    /// Reads one whole reply: code and text (lines joined with "\n",
    /// without the code prefixes of the first and last lines).
    pub async fn reply(&mut self) -> (u16, String) {
        tokio::time::timeout(TIMEOUT, self.read_reply())
            .await
            .expect("reply within timeout")
    }

    async fn read_reply(&mut self) -> (u16, String) {
        let first = self.line().await;
        assert!(first.len() >= 4, "short reply line {first:?}");
        let code: u16 = first[..3]
            .parse()
            .unwrap_or_else(|_| panic!("bad reply {first:?}"));
        let mut text = first[4..].to_string();
        if first.as_bytes()[3] == b'-' {
            loop {
                let line = self.line().await;
                if line.len() >= 4 && line.starts_with(&first[..3]) && line.as_bytes()[3] == b' ' {
                    text.push('\n');
                    text.push_str(&line[4..]);
                    break;
                }
                text.push('\n');
                text.push_str(&line);
            }
        }
        (code, text)
    }

    async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        let n = self.stream.read_until(b'\n', &mut buf).await.expect("read");
        assert!(n > 0, "connection closed while waiting for a reply");
        assert!(buf.ends_with(b"\r\n"), "reply line without CRLF: {buf:?}");
        buf.truncate(buf.len() - 2);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Reads one single-line reply as raw bytes, CRLF included.
    pub async fn stream_reply_bytes(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        tokio::time::timeout(TIMEOUT, self.stream.read_until(b'\n', &mut buf))
            .await
            .expect("reply within timeout")
            .expect("read");
        buf
    }

    /// Sends a command and returns its reply.
    pub async fn cmd(&mut self, line: impl AsRef<[u8]>) -> (u16, String) {
        self.send(line).await;
        self.reply().await
    }

    /// Sends a command and asserts the reply code.
    pub async fn expect(&mut self, line: impl AsRef<[u8]>, code: u16) -> String {
        let shown = String::from_utf8_lossy(line.as_ref()).into_owned();
        let (got, text) = self.cmd(line).await;
        assert_eq!(got, code, "{shown:?} -> {got} {text}");
        text
    }

    pub async fn login(&mut self, user: &str, pass: &str) {
        self.expect(format!("USER {user}"), 331).await;
        self.expect(format!("PASS {pass}"), 230).await;
    }

    /// True once the server has closed the connection.
    pub async fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(TIMEOUT, self.stream.read(&mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    /// EPSV, then connects to the announced port on `ip`.
    pub async fn epsv_to(&mut self, ip: std::net::IpAddr) -> TcpStream {
        let text = self.expect("EPSV", 229).await;
        let port: u16 = text
            .split('|')
            .nth(3)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("bad 229 text {text:?}"));
        TcpStream::connect((ip, port)).await.expect("data connect")
    }
}

impl Client {
    /// EPSV, then connects to the announced port.
    pub async fn epsv(&mut self) -> TcpStream {
        let addr = self.stream.get_ref().peer_addr().unwrap();
        self.epsv_to(addr.ip()).await
    }

    /// Downloads with `command` (RETR/LIST/...) in passive mode; returns the
    /// bytes and the final reply.
    pub async fn download(&mut self, command: &str) -> (Vec<u8>, (u16, String)) {
        let mut data = self.epsv().await;
        let (code, text) = self.cmd(command).await;
        assert!(code == 150 || code == 125, "{command} -> {code} {text}");
        let mut buf = Vec::new();
        tokio::time::timeout(TIMEOUT, data.read_to_end(&mut buf))
            .await
            .expect("data")
            .expect("read data");
        (buf, self.reply().await)
    }

    /// Uploads `bytes` with `command` (STOR/APPE/STOU); returns the final
    /// reply and the preliminary reply's text.
    pub async fn upload(&mut self, command: &str, bytes: &[u8]) -> ((u16, String), String) {
        let mut data = self.epsv().await;
        let (code, text) = self.cmd(command).await;
        assert!(code == 150 || code == 125, "{command} -> {code} {text}");
        data.write_all(bytes).await.unwrap();
        data.shutdown().await.unwrap();
        drop(data);
        (self.reply().await, text)
    }
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
