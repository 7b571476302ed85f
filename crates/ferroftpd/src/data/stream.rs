//! A data connection as the transfer worker sees it: a blocking socket,
//! or TLS over one (PROT P).

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::ops::Range;

use rustls::{HandshakeKind, ServerConnection, StreamOwned};

use super::engine::{Flow, TransferError};
use super::DataTls;

/// A blocking data connection. Its socket timeouts are a polling interval
/// (see `Flow::retry`).
pub(super) enum DataStream {
    Plain(TcpStream),
    /// Boxed: rustls' state is large.
    Tls(Box<TlsData>),
}

/// A TLS data connection, and the part of [`CIPHERTEXT`] it has read from
/// the socket but rustls has not taken in yet.
pub(super) struct TlsData {
    stream: StreamOwned<ServerConnection, TcpStream>,
    pending: Range<usize>,
    /// An end of stream without close_notify is an error, not the end.
    strict_eof: bool,
}

/// Bytes read from a TLS socket at a time. rustls alone would read 4 KiB
/// per system call.
const CIPHERTEXT_SIZE: usize = 256 * 1024;

thread_local! {
    /// Ciphertext read ahead, per worker thread (a thread runs one transfer
    /// at a time; `TlsData::pending` says what in it belongs to it).
    static CIPHERTEXT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl DataStream {
    /// Completes the server side of a TLS handshake on `sock`. Fails if
    /// the handshake fails, or if `tls` requires the client to resume its
    /// control connection's session and it did not.
    pub(super) fn handshake(
        mut sock: TcpStream,
        tls: DataTls,
        flow: &Flow<'_>,
    ) -> Result<DataStream, TransferError> {
        let mut conn = ServerConnection::new(tls.config)
            .map_err(|e| TransferError::TlsHandshake(io::Error::other(e)))?;
        while conn.is_handshaking() {
            match conn.complete_io(&mut sock) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    flow.retry(e)?;
                }
                Err(e) => return Err(TransferError::TlsHandshake(e)),
            }
        }
        let kind = conn.handshake_kind();
        tracing::debug!(?kind, version = ?conn.protocol_version(), "data connection encrypted");
        if tls.require_resumption && kind != Some(HandshakeKind::Resumed) {
            // An orderly end, so the client reads the 522 that explains it
            // rather than a reset.
            conn.send_close_notify();
            let _ = conn.write_tls(&mut sock);
            return Err(TransferError::TlsNotResumed);
        }
        Ok(DataStream::Tls(Box::new(TlsData {
            stream: StreamOwned::new(conn, sock),
            pending: 0..0,
            strict_eof: tls.strict_eof,
        })))
    }

    /// The socket, when nothing encrypts it (so `sendfile` and `splice`
    /// may write to it directly).
    pub(super) fn plain(&self) -> Option<&TcpStream> {
        match self {
            DataStream::Plain(sock) => Some(sock),
            DataStream::Tls(_) => None,
        }
    }

    /// Ends the data: TLS close_notify (so the client can tell a complete
    /// file from a truncated one), then FIN.
    pub(super) fn finish(mut self, flow: &Flow<'_>) -> Result<(), TransferError> {
        if let DataStream::Tls(data) = &mut self {
            let tls = &mut data.stream;
            // What rustls still holds is file data: failing to send it
            // fails the transfer.
            while tls.conn.wants_write() {
                if let Err(e) = tls.conn.write_tls(&mut tls.sock) {
                    flow.retry(e)?;
                }
            }
            // close_notify is a courtesy: a client that has already closed
            // (as most do after an upload) cannot receive it.
            tls.conn.send_close_notify();
            while tls.conn.wants_write() {
                if let Err(e) = tls.conn.write_tls(&mut tls.sock) {
                    if flow.retry(e).is_err() {
                        break;
                    }
                }
            }
        }
        let sock = match &self {
            DataStream::Plain(sock) => sock,
            DataStream::Tls(data) => &data.stream.sock,
        };
        let _ = sock.shutdown(std::net::Shutdown::Write);
        Ok(())
    }
}

impl Read for DataStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            DataStream::Plain(sock) => sock.read(buf),
            DataStream::Tls(tls) => read_decrypted(tls, buf),
        }
    }
}

/// Reads plaintext into `buf`. Ciphertext is read from the socket in large
/// chunks and handed to rustls as its plaintext buffer (16 KiB) has room.
fn read_decrypted(data: &mut TlsData, buf: &mut [u8]) -> io::Result<usize> {
    let TlsData {
        stream,
        pending,
        strict_eof,
    } = data;
    CIPHERTEXT.with_borrow_mut(|ciphertext| loop {
        match stream.conn.reader().read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // A client that closes without close_notify: most do, on
            // uploads (vsftpd's strict_ssl_read_eof=NO), so by default the
            // end of the stream is the end of the upload. Strictly, it
            // may be a cut connection: the upload then fails.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !*strict_eof => {
                tracing::debug!("data connection closed without close_notify");
                return Ok(0);
            }
            Err(e) => return Err(e),
        }
        if pending.start == pending.end {
            if ciphertext.len() < CIPHERTEXT_SIZE {
                ciphertext.resize(CIPHERTEXT_SIZE, 0);
            }
            let n = stream.sock.read(ciphertext)?;
            *pending = 0..n;
        }
        // Feed rustls until it has plaintext to give (or, at the end of the
        // stream, learns so from a read of 0).
        loop {
            match stream.conn.read_tls(&mut &ciphertext[pending.clone()]) {
                Ok(n) => pending.start += n,
                // Its plaintext buffer is full: read that out first.
                Err(e) if e.kind() == io::ErrorKind::Other => break,
                Err(e) => return Err(e),
            }
            let state = stream
                .conn
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if pending.start == pending.end
                || state.plaintext_bytes_to_read() > 0
                || state.peer_has_closed()
            {
                break;
            }
        }
        // Alerts or key updates to answer.
        while stream.conn.wants_write() {
            stream.conn.write_tls(&mut stream.sock)?;
        }
    })
}

impl Write for DataStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            DataStream::Plain(sock) => sock.write(buf),
            DataStream::Tls(data) => data.stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            DataStream::Plain(sock) => sock.flush(),
            DataStream::Tls(data) => data.stream.flush(),
        }
    }
}
