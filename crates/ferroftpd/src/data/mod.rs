//! Data connections: setting them up (PASV, EPSV, PORT, EPRT), and running
//! transfers over them.
//!
//! A transfer runs as its own task, apart from the session, so the control
//! channel still answers NOOP, STAT and ABOR. The task first establishes
//! the connection (accepting on the passive listener, or connecting out),
//! then hands the socket, in blocking mode, to a worker on tokio's blocking
//! pool ([`engine`]). There the bytes move with plain system calls:
//! `sendfile` for downloads, `splice` for uploads, and a reused buffer
//! otherwise; under TLS (PROT P), rustls on the same thread. A stalled peer is caught by socket timeouts; ABOR shuts the
//! socket down, which ends any call the worker is blocked in.

pub(crate) mod engine;
pub(crate) use engine::ControlProbe;
mod stream;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ferroftpd_proto::address::canonical_ip;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Identity;
use crate::config::PassivePorts;
use crate::proxy::{Origin, ProxySettings};
use crate::storage::Remains;
use engine::{Job, TransferError};

/// Longest a blocked data-socket call waits before the worker checks the
/// stall timeout.
const STALL_POLL: Duration = Duration::from_secs(1);

/// Backlog of a passive listener: one client connects to it.
const PASSIVE_BACKLOG: u32 = 4;

/// How the next transfer gets its data connection.
#[derive(Debug, Default)]
pub(crate) enum DataSetup {
    /// Neither PASV nor PORT was given since the last transfer.
    #[default]
    None,
    /// PASV/EPSV: the client connects to this listener. Boxed: the
    /// session's size is watched, and PASV is rare next to idle time.
    Passive(Box<PassiveListener>),
    /// PORT/EPRT: the server connects to this address.
    Active(SocketAddr),
    /// The client's passive connection, already accepted.
    Connected(tokio::net::TcpStream),
}

/// A passive listener and the time it stops waiting for the client.
#[derive(Debug)]
pub(crate) struct PassiveListener {
    pub listener: TcpListener,
    /// Past this, with no transfer started, the listener is closed, so
    /// idle sessions do not hold passive ports.
    pub expires: tokio::time::Instant,
}

/// Binds a passive listener on `ip`, on a port of `range` (tried from a
/// random starting point) or one the kernel picks.
pub(crate) fn bind_passive(ip: IpAddr, range: Option<PassivePorts>) -> io::Result<TcpListener> {
    let bind = |port: u16| -> io::Result<TcpListener> {
        let socket = match ip {
            IpAddr::V4(_) => TcpSocket::new_v4()?,
            IpAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::new(ip, port))?;
        socket.listen(PASSIVE_BACKLOG)
    };
    let Some(range) = range else { return bind(0) };
    let count = u32::from(range.end() - range.start()) + 1;
    let first = fastrand::u32(..count);
    let mut last_err = io::Error::new(io::ErrorKind::AddrInUse, "no free passive port");
    for i in 0..count {
        let port = range.start() + ((first + i) % count) as u16;
        match bind(port) {
            Ok(listener) => return Ok(listener),
            Err(e) => last_err = e,
        }
    }
    Err(last_err)
}

/// What a transfer task needs to know about the session.
#[derive(Debug, Clone)]
pub(crate) struct ConnectParams {
    /// The client's address on the control connection.
    pub client_ip: IpAddr,
    /// The server's address on the control connection.
    pub local_ip: IpAddr,
    /// Accept passive data connections from other addresses.
    pub permit_foreign: bool,
    pub accept_timeout: Duration,
    pub connect_timeout: Duration,
    /// Longest a blocked read or write on the data connection may wait.
    pub stall_timeout: Duration,
    /// For a client that came through a load balancer: its passive
    /// connections come through it too, with a PROXY header.
    pub proxy: Option<Arc<ProxySettings>>,
}

/// How a protected (PROT P) data connection is secured.
#[derive(Debug, Clone)]
pub(crate) struct DataTls {
    /// The session's TLS configuration, whose resumption store holds only
    /// its control connection's sessions.
    pub config: Arc<rustls::ServerConfig>,
    /// Refuse a data connection that does not resume one of them.
    pub require_resumption: bool,
    /// Fail an upload that ends without the client's close_notify.
    pub strict_eof: bool,
}

/// Why no data connection was made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("timed out")]
    TimedOut,
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("no PORT or PASV")]
    NoSetup,
}

impl DataSetup {
    /// True once PASV/PORT has been given.
    pub fn is_set(&self) -> bool {
        !matches!(self, DataSetup::None)
    }

    /// Establishes the data connection and returns it as a blocking socket.
    async fn connect(self, p: ConnectParams) -> Result<std::net::TcpStream, ConnectError> {
        let stream = match self {
            DataSetup::None => return Err(ConnectError::NoSetup),
            DataSetup::Connected(stream) => stream,
            DataSetup::Passive(passive) => {
                tokio::time::timeout(p.accept_timeout, accept_from(&passive.listener, &p))
                    .await
                    .map_err(|_| ConnectError::TimedOut)??
            }
            DataSetup::Active(addr) => {
                let socket = match addr {
                    SocketAddr::V4(_) => TcpSocket::new_v4()?,
                    SocketAddr::V6(_) => TcpSocket::new_v6()?,
                };
                // Connect from the address the client talks to, not whatever
                // the routing table picks.
                let local = match (addr, p.local_ip) {
                    (SocketAddr::V4(_), IpAddr::V4(ip)) => Some(SocketAddr::new(IpAddr::V4(ip), 0)),
                    (SocketAddr::V6(_), IpAddr::V6(ip)) => Some(SocketAddr::new(IpAddr::V6(ip), 0)),
                    _ => None,
                };
                if let Some(local) = local {
                    socket.bind(local)?;
                }
                tokio::time::timeout(p.connect_timeout, socket.connect(addr))
                    .await
                    .map_err(|_| ConnectError::TimedOut)??
            }
        };
        let stream = stream.into_std()?;
        stream.set_nonblocking(false)?;
        // Socket timeouts are a polling interval: the worker counts the
        // time without progress itself (see `engine::Flow::retry`).
        let poll = p.stall_timeout.min(STALL_POLL);
        stream.set_read_timeout(Some(poll))?;
        stream.set_write_timeout(Some(poll))?;
        Ok(stream)
    }
}

/// Accepts the first connection from the client's own address. Others are
/// closed at once and logged: they may be attempts to steal the transfer
/// (RFC 2577 "port stealing").
async fn accept_from(
    listener: &TcpListener,
    p: &ConnectParams,
) -> io::Result<tokio::net::TcpStream> {
    loop {
        let (mut stream, from) = listener.accept().await?;
        // Through a balancer, the client is the one its header names.
        let origin = match &p.proxy {
            Some(proxy) => proxy.origin(&mut stream, from).await,
            None => Origin::Direct,
        };
        let peer = match origin {
            Origin::Direct => from,
            Origin::Proxied(client) => client,
            Origin::Refused(why) => {
                tracing::warn!(%from, "data connection closed: {why}");
                continue;
            }
        };
        if p.permit_foreign || canonical_ip(peer.ip()) == p.client_ip {
            return Ok(stream);
        }
        tracing::warn!(%peer, client = %p.client_ip, "rejected data connection from foreign address");
    }
}

/// What a transfer does, named after the command that started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferKind {
    Retr,
    Stor,
    Appe,
    Stou,
    /// LIST, NLST or MLSD.
    Listing,
}

/// Which way a transfer's bytes go, and what they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// A file to the client.
    Download,
    /// A file from the client.
    Upload,
    /// A directory listing to the client.
    Listing,
}

impl TransferKind {
    /// The command, for logs and STAT.
    pub(crate) fn verb(self) -> &'static str {
        match self {
            TransferKind::Retr => "RETR",
            TransferKind::Stor => "STOR",
            TransferKind::Appe => "APPE",
            TransferKind::Stou => "STOU",
            TransferKind::Listing => "LIST",
        }
    }

    pub(crate) fn direction(self) -> Direction {
        match self {
            TransferKind::Retr => Direction::Download,
            TransferKind::Stor | TransferKind::Appe | TransferKind::Stou => Direction::Upload,
            TransferKind::Listing => Direction::Listing,
        }
    }
}

/// How a transfer ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// All bytes moved.
    Complete,
    /// ABOR stopped it.
    Aborted,
    /// No data connection could be made.
    NoConnection(ConnectError),
    /// The transfer started and failed.
    Failed(TransferError),
}

/// A transfer running in its own task.
#[derive(Debug)]
pub(crate) struct Transfer {
    handle: JoinHandle<Outcome>,
    cancel: CancellationToken,
    /// Bytes moved so far, for STAT and logs.
    pub bytes: Arc<AtomicU64>,
    pub started: Instant,
    /// An upload's: set when the client sends QUIT before its end.
    said_quit: Option<Arc<AtomicBool>>,
    /// An upload's that did not complete: what it left.
    remains: Arc<OnceLock<Remains>>,
}

impl Transfer {
    /// Starts `job` over the connection `setup` describes.
    /// `tracker` is the server's, so that shutdown waits for transfers.
    pub fn start(
        setup: DataSetup,
        params: ConnectParams,
        job: Job,
        tls: Option<DataTls>,
        identity: Option<Arc<Identity>>,
        tracker: &TaskTracker,
    ) -> Transfer {
        let cancel = CancellationToken::new();
        let bytes = Arc::new(AtomicU64::new(0));
        let said_quit = match &job {
            Job::Upload {
                control: Some(probe),
                ..
            } => Some(probe.said_quit()),
            _ => None,
        };
        let remains = Arc::new(OnceLock::new());
        let report = Report {
            bytes: bytes.clone(),
            remains: remains.clone(),
        };
        let task = run(setup, params, job, tls, identity, cancel.clone(), report);
        Transfer {
            handle: tracker.spawn(task),
            cancel,
            bytes,
            started: Instant::now(),
            said_quit,
            remains,
        }
    }

    /// The client sent QUIT while this runs: it is there, and its
    /// control connection may end before the upload's commit.
    pub fn client_said_quit(&self) {
        if let Some(flag) = &self.said_quit {
            flag.store(true, Ordering::SeqCst);
        }
    }

    /// Asks the transfer to stop; it then ends with [`Outcome::Aborted`]
    /// (or [`Outcome::Complete`] if it had just finished).
    pub fn abort(&self) {
        self.cancel.cancel();
    }

    /// Waits for the end. Cancel-safe: may be polled again after a
    /// `select!` drops it.
    pub async fn finished(&mut self) -> Outcome {
        match (&mut self.handle).await {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Failed(TransferError::Network(io::Error::other(e))),
        }
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// After an upload that did not complete: what it left, if its writer
    /// said.
    pub fn remains(&self) -> Option<Remains> {
        self.remains.get().copied()
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        // A session that ends stops its transfer.
        self.cancel.cancel();
    }
}

/// What a running transfer tells its session: the bytes moved so far, and
/// what an upload that did not complete left.
struct Report {
    bytes: Arc<AtomicU64>,
    remains: Arc<OnceLock<Remains>>,
}

async fn run(
    setup: DataSetup,
    params: ConnectParams,
    job: Job,
    tls: Option<DataTls>,
    identity: Option<Arc<Identity>>,
    cancel: CancellationToken,
    report: Report,
) -> Outcome {
    let Report { bytes, remains } = report;
    let stall = params.stall_timeout;
    let stream = tokio::select! {
        r = setup.connect(params) => match r {
            Ok(s) => s,
            Err(e) => return give_up(job, remains, Outcome::NoConnection(e)).await,
        },
        () = cancel.cancelled() => return give_up(job, remains, Outcome::Aborted).await,
    };
    let killer = match stream.try_clone() {
        Ok(s) => s,
        Err(e) => {
            let failed = Outcome::Failed(TransferError::Network(e));
            return give_up(job, remains, failed).await;
        }
    };
    let aborted = Arc::new(AtomicBool::new(false));
    let worker_aborted = aborted.clone();
    let work = move || engine::run(job, stream, tls, &bytes, &worker_aborted, stall, &remains);
    let mut worker = match identity {
        None => Worker::Pool(tokio::task::spawn_blocking(work)),
        Some(identity) => Worker::AsUser(crate::storage::user_thread::run_as(identity, work)),
    };
    let result = tokio::select! {
        // A transfer that has finished counts as finished, even if ABOR
        // arrived at the same moment.
        biased;
        r = worker.finished() => r,
        () = cancel.cancelled() => {
            // Mark first, then shut down: the worker sees end-of-stream only
            // after the flag is set, so it never commits an aborted upload.
            aborted.store(true, Ordering::SeqCst);
            let _ = killer.shutdown(std::net::Shutdown::Both);
            worker.finished().await
        }
    };
    match result {
        Ok(Ok(())) => Outcome::Complete,
        Ok(Err(_)) if aborted.load(Ordering::SeqCst) => Outcome::Aborted,
        Ok(Err(e)) => Outcome::Failed(e),
        Err(e) => Outcome::Failed(TransferError::Network(e)),
    }
}

/// A job that will not run: an upload's writer is abandoned on a blocking
/// thread (it may block, as on S3), so that the hooks hear what it left.
async fn give_up(job: Job, remains: Arc<OnceLock<Remains>>, outcome: Outcome) -> Outcome {
    if matches!(job, Job::Upload { .. }) {
        let _ = tokio::task::spawn_blocking(move || engine::abandon(job, &remains)).await;
    }
    outcome
}

/// Where a transfer's bytes move: tokio's blocking pool, or, for a system
/// user, a thread of its own with the user's credentials.
enum Worker<T> {
    Pool(JoinHandle<T>),
    AsUser(tokio::sync::oneshot::Receiver<io::Result<T>>),
}

impl<T> Worker<T> {
    /// Cancel-safe: may be polled again after a `select!` drops it.
    async fn finished(&mut self) -> io::Result<T> {
        match self {
            Worker::Pool(handle) => handle.await.map_err(io::Error::other),
            Worker::AsUser(result) => result
                .await
                .unwrap_or_else(|_| Err(io::Error::other("the transfer thread could not start"))),
        }
    }
}
