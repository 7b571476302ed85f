//! The control connection: a socket, plain or TLS, and a line framer.
//!
//! The socket is a TCP connection, or any byte stream an embedder hands
//! to [`crate::Server::serve_stream`] (an in-memory pipe in tests and
//! fuzzing). TCP keeps its own path. Every kind is read straight into
//! the framer, without a buffer held between commands.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use ferroftpd_proto::framing::{Frame, LineFramer};
use ferroftpd_proto::reply::Reply;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// Longest a reply may wait for the client to read it.
const SEND_TIMEOUT: Duration = Duration::from_secs(300);

/// Longest a TLS handshake on the control connection may take.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest the closing TLS alert may wait for room in the socket.
const CLOSE_NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes read from the control connection at a time.
const READ_CHUNK: usize = 1024;

/// A byte stream a session can run over besides TCP.
pub(crate) trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static> ByteStream for T {}

/// What the control connection runs over, below TLS.
pub(crate) enum Socket {
    Tcp(TcpStream),
    Other(Box<dyn ByteStream>),
}

/// The control socket.
enum Stream {
    Plain(Socket),
    /// Boxed: rustls' state is large, and plain sessions should not pay
    /// for it.
    Tls(Box<TlsStream<Socket>>),
    /// A handshake failed half-way: nothing more can be said.
    Broken,
}

/// The control connection: a socket, a line framer, and nothing else held
/// while idle.
pub(super) struct Control {
    stream: Stream,
    pub framer: LineFramer,
    /// The client's character set, when it is not UTF-8.
    pub encoding: Option<&'static encoding_rs::Encoding>,
}

impl Control {
    pub fn new(socket: Socket, encoding: Option<&'static encoding_rs::Encoding>) -> Self {
        Control {
            stream: Stream::Plain(socket),
            framer: LineFramer::new(),
            encoding,
        }
    }

    /// A look at the TCP socket from the data engine's thread (`None`
    /// for a stream of [`crate::Server::serve_stream`]).
    pub fn probe(&self) -> Option<crate::data::ControlProbe> {
        let socket = match &self.stream {
            Stream::Plain(socket) => socket,
            Stream::Tls(tls) => tls.get_ref().0,
            Stream::Broken => return None,
        };
        match socket {
            Socket::Tcp(tcp) => crate::data::ControlProbe::new(tcp),
            Socket::Other(_) => None,
        }
    }

    /// True once the control connection is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// The next frame, or `None` at end of stream. Cancel-safe: bytes read
    /// are kept in the framer.
    pub async fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        loop {
            if let Some(frame) = self.framer.next_frame() {
                return Ok(Some(frame));
            }
            let n = match &mut self.stream {
                Stream::Plain(Socket::Tcp(stream)) => read_tcp(stream, &mut self.framer).await?,
                Stream::Plain(other) => read_into(other, &mut self.framer).await?,
                Stream::Tls(stream) => Box::pin(read_into(&mut **stream, &mut self.framer)).await?,
                Stream::Broken => 0,
            };
            if n == 0 {
                return Ok(None);
            }
        }
    }

    /// Sends a reply. A client that stops reading cannot hold the session
    /// forever: the write fails after [`SEND_TIMEOUT`].
    pub async fn send(&mut self, reply: &Reply) -> io::Result<()> {
        if tracing::enabled!(tracing::Level::DEBUG) {
            // One log line per reply, whatever line breaks it holds.
            let bytes = reply.to_bytes();
            let shown = ferroftpd_proto::escape::LogSafe(bytes.trim_ascii_end());
            tracing::debug!("-> {shown}");
        }
        let bytes = match crate::charset::reply_to_client(self.encoding, reply) {
            Some(converted) => converted.to_bytes(),
            None => reply.to_bytes(),
        };
        let write = async {
            match &mut self.stream {
                Stream::Plain(Socket::Tcp(stream)) => stream.write_all(&bytes).await,
                Stream::Plain(Socket::Other(stream)) => write_flushed(stream, &bytes).await,
                // Boxed, here and in `next_frame`: the session task is
                // sized for its largest await, and plain sessions should
                // not pay for TLS ones.
                Stream::Tls(stream) => Box::pin(write_flushed(&mut **stream, &bytes)).await,
                Stream::Broken => Err(io::ErrorKind::NotConnected.into()),
            }
        };
        tokio::time::timeout(SEND_TIMEOUT, write)
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
    }

    /// Switches to TLS: throws away whatever the client sent after the
    /// command that asked for it (those bytes were sent in plain text and
    /// must never run as if they had been protected; RFC 4217 §15.2 and
    /// the STARTTLS injection class), then completes the handshake.
    /// Returns how many bytes were thrown away. On failure the connection
    /// is unusable.
    pub async fn start_tls(&mut self, config: Arc<rustls::ServerConfig>) -> io::Result<usize> {
        let discarded = self.framer.buffered();
        self.framer.clear();
        let Stream::Plain(socket) = std::mem::replace(&mut self.stream, Stream::Broken) else {
            return Err(io::ErrorKind::Unsupported.into());
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        // Boxed: the handshake holds rustls' whole state, and an unboxed
        // future would make every session's task that much larger.
        let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, Box::pin(acceptor.accept(socket)))
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))?;
        self.stream = Stream::Tls(Box::new(tls));
        Ok(discarded)
    }
}

impl Control {
    /// Ends a TLS control connection properly: our close_notify, so the
    /// client can tell the end of the session from a cut connection (the
    /// client may have sent its own, without CCC, to leave). Bounded by
    /// [`CLOSE_NOTIFY_TIMEOUT`]; a plain connection needs nothing.
    pub async fn close(&mut self) {
        if let Stream::Tls(stream) = &mut self.stream {
            let shutdown = tokio::time::timeout(CLOSE_NOTIFY_TIMEOUT, stream.shutdown());
            if let Ok(Err(e)) | Err(e) = shutdown.await.map_err(io::Error::from) {
                tracing::debug!(error = %e, "TLS close_notify not sent");
            }
        }
    }

    /// Returns to plain text (CCC, RFC 4217 §6): sends close_notify, then
    /// reads the client's TLS records one at a time, never past its
    /// close_notify, so the plain-text commands that follow it are left in
    /// the socket for the framer. A client that sends no close_notify of its
    /// own (curl's default "passive" CCC mode) just goes on in plain text:
    /// a TLS record starts with a content type (20 to 24), a command with a
    /// letter or Telnet IAC.
    ///
    /// Waiting for the client's next byte lasts as long as an idle session
    /// may (`idle`), and ends when `close` says so (the server's shutdown,
    /// or an operator's kick).
    pub async fn stop_tls(
        &mut self,
        idle: Option<Duration>,
        close: &crate::registry::Closer,
    ) -> io::Result<()> {
        let Stream::Tls(tls) = std::mem::replace(&mut self.stream, Stream::Broken) else {
            return Err(io::ErrorKind::Unsupported.into());
        };
        let (mut socket, mut conn) = tls.into_inner();
        // The client's close_notify may already be in rustls' hands, read
        // along with the CCC command.
        let state = conn.process_new_packets().map_err(io::Error::other)?;
        let mut closed = state.peer_has_closed();
        conn.send_close_notify();
        let mut alert = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut alert)?;
        }
        tokio::time::timeout(HANDSHAKE_TIMEOUT, write_flushed(&mut socket, &alert))
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))?;
        while !closed {
            // One byte, never more: what follows the client's TLS records
            // is plain text for the framer.
            let mut first = [0u8; 1];
            let idle_over = async {
                match idle {
                    Some(t) => tokio::time::sleep(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = socket.read_exact(&mut first) => r?,
                () = close.closed(false) => return Err(io::ErrorKind::Interrupted.into()),
                () = idle_over => return Err(io::ErrorKind::TimedOut.into()),
            };
            if !(20..=24).contains(&first[0]) {
                self.framer.push(&first);
                break;
            }
            let record =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, read_record(&mut socket, first[0]))
                    .await
                    .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))?;
            conn.read_tls(&mut &record[..])?;
            let state = conn.process_new_packets().map_err(io::Error::other)?;
            closed = state.peer_has_closed();
        }
        self.stream = Stream::Plain(socket);
        Ok(())
    }
}

/// The rest of a TLS record whose first byte (the content type) was read:
/// the header, then as many bytes as it says. Reads nothing past it.
async fn read_record(socket: &mut Socket, content_type: u8) -> io::Result<Vec<u8>> {
    let mut header = [content_type, 0, 0, 0, 0];
    socket.read_exact(&mut header[1..]).await?;
    let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
    // RFC 8446 §5.2: no record is longer than 2^14 + 256 bytes.
    if len > 16384 + 256 {
        return Err(io::ErrorKind::InvalidData.into());
    }
    let mut record = vec![0u8; 5 + len];
    record[..5].copy_from_slice(&header);
    socket.read_exact(&mut record[5..]).await?;
    Ok(record)
}

/// Writes and flushes: rustls, and buffered streams, hold bytes until
/// flushed.
async fn write_flushed<S: AsyncWrite + Unpin + ?Sized>(
    stream: &mut S,
    bytes: &[u8],
) -> io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// Reads what the TCP socket has into the framer; 0 at the end of the
/// stream. Waits on the socket's readiness with `poll_read_ready`, which
/// keeps the waker in the socket's own slot: a `readable()` future would
/// keep a waiter of some 150 bytes in every idle session's task. Reads
/// with `try_read`, not tokio's `poll_read`: that takes a short read for
/// an emptied socket and waits for the next arrival, but a read stops
/// short at TCP urgent data (ftplib sends ABOR's Telnet interrupt as
/// urgent), and the command line behind it would wait unread.
async fn read_tcp(stream: &TcpStream, framer: &mut LineFramer) -> io::Result<usize> {
    std::future::poll_fn(|cx| loop {
        std::task::ready!(stream.poll_read_ready(cx))?;
        let mut buf = [0u8; READ_CHUNK];
        match stream.try_read(&mut buf) {
            Ok(n) => {
                framer.push(&buf[..n]);
                return Poll::Ready(Ok(n));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Poll::Ready(Err(e)),
        }
    })
    .await
}

/// Reads (decrypted) bytes into the framer; 0 at the end of the stream.
/// The buffer lives only inside each poll, on the stack, and not in the
/// session's memory between commands.
/// A client that closes without TLS close_notify just ends the session.
async fn read_into<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
    framer: &mut LineFramer,
) -> io::Result<usize> {
    std::future::poll_fn(|cx| {
        let mut buf = [0u8; READ_CHUNK];
        let mut read = ReadBuf::new(&mut buf);
        match Pin::new(&mut *stream).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) => {
                framer.push(read.filled());
                Poll::Ready(Ok(read.filled().len()))
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Poll::Ready(Ok(0)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Other(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Socket::Other(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_flush(cx),
            Socket::Other(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Other(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
