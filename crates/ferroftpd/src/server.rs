//! The server: accepts connections and runs one session task for each.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ferroftpd_proto::reply::Reply;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Builder, ServerConfig};
use crate::limits::{ConnectionSlot, Limits, Refusal};
use crate::metrics::Metrics;
use crate::proxy::{Origin, PendingHeader, PendingHeaders};
use crate::registry::{Registry, SessionInfo, Throughput};
use crate::session::{Session, Socket};
use crate::shared_limits::{ConnectionRequest, SharedLimits, SharedLimitsError};
use crate::throttle::SharedBuckets;
use crate::Error;

/// Backlog of the control listener.
const LISTEN_BACKLOG: i32 = 1024;

/// Pause after an accept error such as running out of descriptors, so the
/// loop does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// An FTP server. Cheap to clone; clones control the same server.
///
/// Transfers and storage calls run on tokio's blocking pool. Give the
/// runtime at least [`ServerConfig::blocking_threads_needed`] blocking
/// threads (tokio's default is 512), or a server full of stalled transfers
/// can leave no thread for other sessions' file operations.
///
/// The process must ignore `SIGPIPE`, as every Rust program does from its
/// `main`: `sendfile` and `splice` to a data connection the client has
/// closed raise it, and only then fail with `EPIPE`. A host whose `main` is
/// not Rust's (a C program, a fuzzer) sets it to `SIG_IGN` first.
///
/// ```no_run
/// use std::sync::Arc;
/// use ferroftpd::{Server, auth::{MemoryAuthorizer, Permissions}};
/// # async fn run() -> Result<(), ferroftpd::Error> {
/// let users = MemoryAuthorizer::new();
/// users.add_user("user", "12345", "/srv/ftp", Permissions::ALL)?;
/// let server = Server::builder().authorizer(Arc::new(users)).build()?;
/// let listener = ferroftpd::bind("127.0.0.1:2121".parse().unwrap())?;
/// server.serve(listener).await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Server {
    /// The settings and state new sessions start with; replaced whole by
    /// [`Server::reconfigure`]. A session keeps the `Shared` it started
    /// with, so its settings never change under it.
    current: Arc<RwLock<Arc<Shared>>>,
}

/// What the sessions of a server share: its settings, and its state. The
/// state (counters, bans, buckets, metrics, task trackers) is carried from
/// one `Shared` to the next by [`Shared::succeed`], so a reconfigured
/// server counts and stops its old sessions with its new ones.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: Arc<ServerConfig>,
    /// Cancelled by `shutdown` and `abort`: stop accepting.
    stop_accepting: CancellationToken,
    /// Cancelled by `abort`: close every session.
    pub close_sessions: CancellationToken,
    sessions: TaskTracker,
    /// Transfer tasks, which may outlive their session by a moment.
    pub transfers: TaskTracker,
    next_session_id: Arc<AtomicU64>,
    pub limits: Arc<Limits>,
    pub buckets: Arc<SharedBuckets>,
    pub metrics: Arc<Metrics>,
    /// Each user's quota usage, from the first login on.
    pub quota_usages: Arc<crate::storage::QuotaUsages>,
    /// Connections whose PROXY header is being read.
    pending_headers: Arc<PendingHeaders>,
    /// The sessions running now, for operators.
    pub registry: Arc<Registry>,
}

impl Shared {
    /// Asks the shared limits, if the server has any; `None` without them,
    /// or when they do not answer (see [`crate::shared_limits`]).
    pub(crate) async fn ask_shared<'a, T, F, Fut>(&'a self, call: F) -> Option<T>
    where
        F: FnOnce(&'a dyn SharedLimits) -> Fut,
        Fut: std::future::Future<Output = Result<T, SharedLimitsError>>,
    {
        let status = self.config.shared_limits.as_ref()?;
        let answer = status.ask(call).await;
        self.show_shared_limits();
        answer
    }

    /// [`Self::ask_shared`] for an operator's call (listing or lifting
    /// bans): a longer time limit, and no effect on whether the sessions
    /// consult the shared limits.
    pub(crate) async fn ask_shared_for_operator<'a, T, F, Fut>(&'a self, call: F) -> Option<T>
    where
        F: FnOnce(&'a dyn SharedLimits) -> Fut,
        Fut: std::future::Future<Output = Result<T, SharedLimitsError>>,
    {
        self.config
            .shared_limits
            .as_ref()?
            .ask_for_operator(call)
            .await
    }

    /// Sets the `shared_limits_up` gauge from the settings and the last
    /// answer.
    fn show_shared_limits(&self) {
        let up = self
            .config
            .shared_limits
            .as_ref()
            .map_or(-1, |s| i64::from(s.is_up()));
        self.metrics.shared_limits_up.store(up, Ordering::Relaxed);
    }

    /// The state of `self` under the settings of `config`.
    fn succeed(&self, config: ServerConfig) -> Shared {
        Shared {
            limits: Arc::new(self.limits.reconfigured(
                config.max_connections,
                config.max_connections_per_ip,
                config.ban,
            )),
            buckets: Arc::new(
                self.buckets
                    .reconfigured(config.limits.read_total, config.limits.write_total),
            ),
            metrics: self.metrics.clone(),
            // Counted afresh at each user's next login: the new settings
            // may give a user another home, storage or folders. Sessions
            // from before keep counting in the old ones.
            quota_usages: Default::default(),
            config: Arc::new(config),
            stop_accepting: self.stop_accepting.clone(),
            close_sessions: self.close_sessions.clone(),
            sessions: self.sessions.clone(),
            transfers: self.transfers.clone(),
            next_session_id: self.next_session_id.clone(),
            pending_headers: self.pending_headers.clone(),
            registry: self.registry.clone(),
        }
    }
}

impl Server {
    /// A builder with the default settings.
    pub fn builder() -> Builder {
        Builder::default()
    }

    pub(crate) fn from_config(config: ServerConfig) -> Self {
        let shared = Shared {
            limits: Arc::new(Limits::new(
                config.max_connections,
                config.max_connections_per_ip,
                config.ban,
            )),
            buckets: Arc::new(SharedBuckets::new(
                config.limits.read_total,
                config.limits.write_total,
            )),
            metrics: Arc::new(Metrics::new(config.commands.labels())),
            quota_usages: Default::default(),
            config: Arc::new(config),
            stop_accepting: CancellationToken::new(),
            close_sessions: CancellationToken::new(),
            sessions: TaskTracker::new(),
            transfers: TaskTracker::new(),
            next_session_id: Arc::new(AtomicU64::new(1)),
            pending_headers: Default::default(),
            registry: Default::default(),
        };
        shared.show_shared_limits();
        Server {
            current: Arc::new(RwLock::new(Arc::new(shared))),
        }
    }

    /// What new sessions start with now.
    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The settings new sessions start with.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.shared().config.clone()
    }

    /// Replaces the settings with those of `builder`, checked as
    /// [`Builder::build`] checks them; on error nothing changes.
    ///
    /// Sessions that connect afterwards run with the new settings: users,
    /// storage, limits, timeouts, the banner, TLS certificate and policies.
    /// Sessions already connected keep the settings they started with to
    /// their end, their TLS certificate included. What the server counts
    /// carries over: connections and each user's sessions (checked against
    /// the new limits from now on), failed logins and bans (under the new
    /// ban policy; give it the same IPv6 prefix, since records are kept
    /// per network), metrics, the server-wide bandwidth buckets
    /// (a new bucket only if its rate changed) and the sessions that
    /// [`Self::shutdown`] and [`Self::abort`] end. Quota usage is counted
    /// again at each user's next login, as the new settings may give them
    /// other storage.
    ///
    /// A new storage back-end starts as it is made: to keep an in-memory
    /// tree, give the builder the same [`crate::storage::StorageFactory`]
    /// (an `Arc` clone) as before.
    pub fn reconfigure(&self, builder: Builder) -> Result<(), Error> {
        let config = builder.into_config()?;
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let next = current.succeed(config);
        next.show_shared_limits();
        *current = Arc::new(next);
        Ok(())
    }

    /// Accepts and serves connections from `listener` until [`Self::shutdown`]
    /// or [`Self::abort`], then waits for the sessions to end.
    pub async fn serve(&self, listener: TcpListener) -> Result<(), Error> {
        self.serve_listener(listener, false).await
    }

    /// Like [`Self::serve`], for an implicit-TLS listener (FTPS on port
    /// 990 by convention): every connection starts with a TLS handshake,
    /// before the greeting, and its data connections are protected unless
    /// the client asks for `PROT C`. Both may run at once, on different
    /// listeners. Fails at once if the server has no [TLS
    /// configuration](Builder::tls).
    pub async fn serve_implicit_tls(&self, listener: TcpListener) -> Result<(), Error> {
        if self.shared().config.tls.is_none() {
            return Err(Error::Config(
                "an implicit TLS listener needs a TLS configuration".into(),
            ));
        }
        self.serve_listener(listener, true).await
    }

    async fn serve_listener(&self, listener: TcpListener, implicit_tls: bool) -> Result<(), Error> {
        let shared = self.shared();
        let (stop_accepting, sessions, transfers) = (
            shared.stop_accepting.clone(),
            shared.sessions.clone(),
            shared.transfers.clone(),
        );
        drop(shared);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let server = self.clone();
                        let shared = self.shared();
                        if shared.config.proxy.is_on() {
                            // The client's address comes in a header:
                            // read in the session's task, so a slow
                            // proxy holds up no one else; as many at
                            // once as the server takes connections.
                            let max = shared.config.max_connections;
                            let Some(pending) = shared.pending_headers.enter(max) else {
                                tracing::warn!(%peer, "connection closed: too many PROXY headers pending");
                                continue;
                            };
                            sessions.spawn(server.run_proxied_session(stream, peer, implicit_tls, Some(pending)));
                            continue;
                        }
                        // Checked before anything is spent on the
                        // connection, so a flood costs an accept and a
                        // write each.
                        let Some(slot) = self.admit_tcp(&stream, peer) else { continue };
                        // The session's future itself, not an async block
                        // around it: a block would hold the arguments a
                        // second time for the session's whole life.
                        sessions.spawn(server.run_session(stream, peer, slot, implicit_tls));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                },
                () = stop_accepting.cancelled() => break,
            }
        }
        drop(listener);
        sessions.close();
        sessions.wait().await;
        transfers.close();
        transfers.wait().await;
        Ok(())
    }

    /// Serves one connection that was accepted elsewhere, until it ends.
    /// It counts against the connection limits like any other, and its
    /// PROXY header is read as on a listener's.
    pub async fn serve_connection(&self, stream: TcpStream) {
        self.serve_accepted(stream, false).await;
    }

    /// Like [`Self::serve_connection`], for a connection accepted on an
    /// implicit-TLS listener: it starts with the TLS handshake. Fails at
    /// once if the server has no [TLS configuration](Builder::tls).
    pub async fn serve_implicit_tls_connection(&self, stream: TcpStream) -> Result<(), Error> {
        if self.shared().config.tls.is_none() {
            return Err(Error::Config(
                "an implicit TLS connection needs a TLS configuration".into(),
            ));
        }
        self.serve_accepted(stream, true).await;
        Ok(())
    }

    async fn serve_accepted(&self, stream: TcpStream, implicit_tls: bool) {
        let Ok(peer) = stream.peer_addr() else { return };
        let server = self.clone();
        // Tracked like accepted connections, so shutdown waits for it.
        let task = self
            .shared()
            .sessions
            .track_future(server.run_proxied_session(stream, peer, implicit_tls, None));
        task.await;
    }

    /// Serves one session over any byte stream, until it ends: the control
    /// connection of a client reached some other way than TCP (an
    /// in-memory pipe in tests and fuzzing, a Unix socket, a tunnel).
    /// `peer` and `local` stand for the two ends' addresses: `peer` feeds
    /// the connection limits, bans and logs, and passive data connections
    /// listen on `local`'s address and must come from `peer`'s. Data
    /// connections are TCP. Explicit TLS (AUTH TLS) and CCC work as over
    /// TCP. One thing does not: over TCP, an upload whose client has closed
    /// its control connection without QUIT by the end of the data is not
    /// committed (a killed client); here the stream cannot be looked at
    /// from the transfer's thread, so such an upload commits.
    pub async fn serve_stream<S>(&self, mut stream: S, peer: SocketAddr, local: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static,
    {
        let shared = self.shared();
        let admitted = match self.admit(peer) {
            Ok(mut slot) => Self::admit_shared(&shared, peer, &mut slot)
                .await
                .map(|()| slot),
            Err(refusal) => Err(refusal),
        };
        let slot = match admitted {
            Ok(slot) => slot,
            Err(refusal) => {
                let bytes = refusal.to_bytes();
                let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, stream.write_all(&bytes)).await;
                return;
            }
        };
        let id = self.next_session_id();
        let session = Session::over(
            shared,
            Socket::Other(Box::new(stream)),
            (peer, local),
            slot,
            id,
        );
        let task = self.shared().sessions.track_future(session.run(false));
        task.await;
    }

    /// Takes a connection slot, or gives the 421 that refuses the
    /// connection.
    fn admit(&self, peer: SocketAddr) -> Result<ConnectionSlot, Reply> {
        let ip = ferroftpd_proto::address::canonical_ip(peer.ip());
        let shared = self.shared();
        // With shared limits, they decide failed-login bans while they
        // answer (`admit_shared`): a ban lifted through another server is
        // lifted here too.
        let admitted = if shared.config.shared_limits.is_some() {
            shared.limits.admit_leaving_failures(ip)
        } else {
            shared.limits.admit(ip)
        };
        admitted.map_err(|refusal| refused(&shared, peer, refusal))
    }

    /// Asks the shared limits, if any, about a connection the server's own
    /// limits admitted: the 421 if they refuse it. They are asked in the
    /// session's task, so a slow answer holds up no other connection.
    async fn admit_shared(
        shared: &Shared,
        peer: SocketAddr,
        slot: &mut ConnectionSlot,
    ) -> Result<(), Reply> {
        if shared.config.shared_limits.is_none() {
            return Ok(());
        }
        let ip = ferroftpd_proto::address::canonical_ip(peer.ip());
        let request = ConnectionRequest {
            ip,
            ban_key: shared.config.ban.unwrap_or_default().key(ip),
            max_connections: shared.config.max_connections,
            max_per_ip: shared.config.max_connections_per_ip,
        };
        match shared.ask_shared(|l| l.admit_connection(&request)).await {
            Some(Ok(shared_slot)) => {
                slot.attach(shared_slot);
                Ok(())
            }
            Some(Err(refusal)) => Err(refused(shared, peer, refusal)),
            // No answer: this server's own record of failed logins.
            None if shared.limits.is_banned(ip) => Err(refused(shared, peer, Refusal::Banned)),
            None => Ok(()),
        }
    }

    /// [`Self::admit`] for a TCP connection, refused with a 421 sent on a
    /// best-effort basis and never waited for: a client that does not read
    /// it just sees the connection close.
    fn admit_tcp(&self, stream: &TcpStream, peer: SocketAddr) -> Option<ConnectionSlot> {
        self.admit(peer)
            .map_err(|refusal| stream.try_write(&refusal.to_bytes()))
            .ok()
    }

    /// Numbers the sessions from `first` on: for a process that serves
    /// some of a larger server's sessions (ferroftpd's session processes
    /// take their supervisor's count), so that ids stay distinct in a
    /// shared log. Default: from 1.
    pub fn number_sessions_from(&self, first: u64) {
        self.shared()
            .next_session_id
            .store(first, Ordering::Relaxed);
    }

    fn next_session_id(&self) -> u64 {
        self.shared()
            .next_session_id
            .fetch_add(1, Ordering::Relaxed)
    }

    /// A connection that may carry a PROXY header: the client is the one
    /// the header names, admitted (limits, bans) as that client.
    async fn run_proxied_session(
        self,
        mut stream: TcpStream,
        from: SocketAddr,
        tls: bool,
        pending: Option<PendingHeader>,
    ) {
        let shared = self.shared();
        let origin = tokio::select! {
            origin = shared.config.proxy.origin(&mut stream, from) => origin,
            () = shared.close_sessions.cancelled() => return,
        };
        drop((shared, pending));
        let peer = match origin {
            Origin::Direct => from,
            Origin::Proxied(client) => client,
            Origin::Refused(why) => {
                tracing::warn!(%from, "connection closed: {why}");
                return;
            }
        };
        let Some(slot) = self.admit_tcp(&stream, peer) else {
            return;
        };
        self.run_session(stream, peer, slot, tls).await
    }

    /// Serves an admitted connection until its session ends. Takes the
    /// server by value, so the spawned task is this future alone; the
    /// session is opened in a future of its own, whose space is given
    /// back before the session's long life starts (an idle session's
    /// memory is mostly its task).
    async fn run_session(
        self,
        stream: TcpStream,
        peer: SocketAddr,
        slot: ConnectionSlot,
        implicit_tls: bool,
    ) {
        let Some(session) = self.open_session(stream, peer, slot).await else {
            return;
        };
        session.run(implicit_tls).await
    }

    /// The session of an admitted connection, once the limits shared
    /// with other servers (if any) have let it in; `None` when they
    /// refused it (with a 421) or the connection is already gone.
    async fn open_session(
        &self,
        mut stream: TcpStream,
        peer: SocketAddr,
        mut slot: ConnectionSlot,
    ) -> Option<Session> {
        let shared = self.shared();
        if let Err(refusal) = Self::admit_shared(&shared, peer, &mut slot).await {
            let bytes = refusal.to_bytes();
            let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, stream.write_all(&bytes)).await;
            return None;
        }
        let id = self.next_session_id();
        Session::new(shared, stream, peer, slot, id)
            .inspect_err(|e| {
                let ip = ferroftpd_proto::address::canonical_ip(peer.ip());
                let span = crate::session::span_before_login(id, SocketAddr::new(ip, peer.port()));
                tracing::debug!(parent: &span, error = %e, "connection dropped before greeting");
            })
            .ok()
    }

    /// Stops accepting connections; sessions go on until their clients
    /// leave. [`Self::serve`] returns when the last one has ended
    /// (pyftpdlib's `close()`).
    pub fn shutdown(&self) {
        self.shared().stop_accepting.cancel();
    }

    /// Stops accepting and closes, with a 421 reply, every session with
    /// no transfer running, and every other session as soon as its
    /// transfer ends: in-flight transfers complete, nobody starts a new
    /// one. [`Self::serve`] returns when the last session has ended;
    /// [`Self::abort`] ends those left.
    pub fn drain(&self) {
        self.shared().stop_accepting.cancel();
        self.shared().registry.drain_all();
    }

    /// Stops accepting and closes every session at once, with a 421 reply
    /// (pyftpdlib's `close_all()`).
    pub fn abort(&self) {
        self.shared().stop_accepting.cancel();
        self.shared().close_sessions.cancel();
        // Sessions wait on their own entry: tell each.
        self.shared().registry.close_all();
    }

    /// Cancelled when the server stops accepting.
    #[cfg(feature = "metrics")]
    pub(crate) fn stop_token(&self) -> CancellationToken {
        self.shared().stop_accepting.clone()
    }

    /// The server's metrics in the Prometheus text format (what
    /// [`crate::metrics::serve`] answers on `/metrics`). Needs the
    /// `metrics` feature.
    #[cfg(feature = "metrics")]
    pub fn metrics_text(&self) -> String {
        self.shared().metrics.render()
    }

    /// Sessions currently running.
    pub fn session_count(&self) -> usize {
        self.shared().sessions.len()
    }

    /// Control connections holding a slot of the connection limits now.
    pub fn connection_count(&self) -> usize {
        self.shared().limits.connections()
    }

    /// The sessions running now, by id: who, from where, since when, in
    /// which directory, and the transfer in progress with its bytes.
    ///
    /// ```no_run
    /// # fn show(server: &ferroftpd::Server) {
    /// for s in server.sessions() {
    ///     let user = s.user.as_deref().unwrap_or("-");
    ///     match &s.transfer {
    ///         Some(t) => println!("{} {user} {} {:?}: {} bytes", s.id, t.command, t.path, t.bytes),
    ///         None => println!("{} {user} idle", s.id),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.shared().registry.snapshot()
    }

    /// Session `id`, if it runs.
    pub fn session(&self, id: u64) -> Option<SessionInfo> {
        self.shared().registry.get(id)
    }

    /// Ends session `id` at once, with a 421 reply, even in the middle of
    /// a transfer (which is stopped, an upload not committed). False if
    /// no session has that id.
    ///
    /// ```no_run
    /// # fn kick_all_of(server: &ferroftpd::Server, name: &str) {
    /// for s in server.sessions() {
    ///     if s.user.as_deref() == Some(name) {
    ///         server.kick(s.id);
    ///     }
    /// }
    /// # }
    /// ```
    pub fn kick(&self, id: u64) -> bool {
        self.shared().registry.kick(id)
    }

    /// Refuses new connections from `network` (one address is a `/32` or
    /// `/128`) for `duration`, or until [`Self::unban`] with `None`; a
    /// new ban of the same network replaces the old. Sessions already
    /// connected go on: [`Self::kick_from`] ends them. Holds whatever the
    /// [`crate::BanPolicy`], and across [`Self::reconfigure`]. False if
    /// the list is full (65536 bans).
    ///
    /// ```
    /// # let server = ferroftpd::Server::builder().build().unwrap();
    /// use std::time::Duration;
    /// let net = "192.0.2.0/24".parse().unwrap();
    /// assert!(server.ban(net, Some(Duration::from_secs(3600))));
    /// assert_eq!(server.bans()[0].network, net);
    /// assert!(server.unban(net));
    /// ```
    pub fn ban(&self, network: ipnet::IpNet, duration: Option<std::time::Duration>) -> bool {
        self.shared().limits.ban(network, duration)
    }

    /// Lifts the operator's ban of `network` and the failed-login bans
    /// within it; false if there was none.
    pub fn unban(&self, network: ipnet::IpNet) -> bool {
        self.shared().limits.unban(network)
    }

    /// The bans in force: the operator's and those for failed logins.
    pub fn bans(&self) -> Vec<crate::Ban> {
        self.shared().limits.bans()
    }

    /// [`Self::bans`], and the failed-login bans the server's shared
    /// limits keep ([`Builder::shared_limits`](crate::Builder::shared_limits):
    /// Redis, a multi-proc supervisor), which other nodes may have given.
    /// Without shared limits, or when they do not answer within
    /// [`crate::shared_limits::SHARED_LIMITS_TIMEOUT`], the same as
    /// [`Self::bans`].
    pub async fn bans_everywhere(&self) -> Vec<crate::Ban> {
        let shared = self.shared();
        let mut list = shared.limits.bans();
        let Some(remote) = shared.ask_shared_for_operator(|s| s.bans()).await else {
            return list;
        };
        let prefix = shared.config.ban.map_or(128, |p| p.ipv6_prefix.min(128));
        let now = std::time::SystemTime::now();
        for ban in remote {
            let bits = if ban.key.is_ipv4() { 32 } else { prefix };
            let Ok(network) = ipnet::IpNet::new(ban.key, bits) else {
                continue;
            };
            if !list.iter().any(|b| b.network == network) {
                list.push(crate::Ban {
                    network,
                    // Past what the clock holds: until lifted.
                    until: now.checked_add(ban.remaining),
                    reason: crate::BanReason::FailedLogins,
                });
            }
        }
        list
    }

    /// [`Self::unban`], and the failed-login bans within `network` that the
    /// server's shared limits keep (see [`Self::bans_everywhere`]), so that
    /// a ban given through another node is lifted on every node. True if a
    /// ban was lifted here or there.
    pub async fn unban_everywhere(&self, network: ipnet::IpNet) -> bool {
        let mut lifted = self.unban(network);
        let shared = self.shared();
        let Some(remote) = shared.ask_shared_for_operator(|s| s.bans()).await else {
            return lifted;
        };
        // The bans within the network, and the one an address of it is
        // banned under (an IPv6 address's /64 by default).
        let key = shared.config.ban.unwrap_or_default().key(network.addr());
        for ban in remote
            .iter()
            .filter(|b| network.contains(&b.key) || b.key == key)
        {
            lifted |= shared.ask_shared_for_operator(|s| s.unban(ban.key)).await == Some(true);
        }
        lifted
    }

    /// Ends every session whose client is in `network`, as
    /// [`Self::kick`] does; returns how many.
    pub fn kick_from(&self, network: ipnet::IpNet) -> usize {
        self.shared()
            .registry
            .kick_where(|ip| network.contains(&ip))
    }

    /// File bytes moved since the server started, running transfers
    /// included: sampled twice, the difference over the interval is the
    /// throughput.
    pub fn throughput(&self) -> Throughput {
        self.shared().registry.throughput()
    }
}

/// Binds a control listener. An unspecified IPv6 address (`[::]`) accepts
/// IPv4 clients too (dual stack). Must be called within a tokio runtime.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::from_std(bind_std(addr)?)
}

/// [`bind`] without a runtime: a non-blocking standard listener, for
/// `tokio::net::TcpListener::from_std` once the runtime runs. For
/// programs that bind before they start threads, such as before
/// applying the sandbox (`ferroftpd::sandbox`, feature `sandbox`).
pub fn bind_std(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if let SocketAddr::V6(v6) = addr {
        socket.set_only_v6(!v6.ip().is_unspecified())?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Counts and logs a refused connection; the 421 that tells the client.
fn refused(shared: &Shared, peer: SocketAddr, refusal: Refusal) -> Reply {
    tracing::debug!(%peer, ?refusal, "connection refused");
    Metrics::count(
        &shared.metrics.connections_refused,
        vec![("reason", refusal.label())],
        1,
    );
    Reply::new(421, refusal.reply_text())
}

/// How long the 421 of a refused connection may take to send, once the
/// session's task has it (a refusal at accept is never waited for).
const REFUSAL_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use super::*;

    /// The size of the future `f` returns, without calling it.
    fn future_size<F, Fut>(_: F) -> usize
    where
        F: FnOnce(Server, TcpStream, SocketAddr, ConnectionSlot, bool) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// An idle session's memory is mostly its task, which holds this
    /// future (tokio rounds the task up to 128 bytes). It was 1,944 bytes
    /// in a release build while an async block wrapped it and the session
    /// was opened in the same future, 1,256 since. Grow it only knowingly,
    /// and measure with `bench/run --only idle_sessions`.
    ///
    /// Only the debug limits are checked by the test suite, which runs
    /// debug builds; the release ones hold for `cargo test --release`.
    #[test]
    fn a_session_task_stays_small() {
        let size = future_size(Server::run_session);
        // Debug builds lay futures out larger.
        let limit = if cfg!(debug_assertions) { 1320 } else { 1280 };
        assert!(size <= limit, "a session's task holds a {size}-byte future");
    }

    /// The same for the task of a connection that may carry a PROXY
    /// header, and of one handed over with `Server::serve_connection`
    /// (each session process of `--isolate-sessions`).
    #[test]
    fn a_proxied_session_task_stays_small() {
        fn proxied_future_size<F, Fut>(_: F) -> usize
        where
            F: FnOnce(Server, TcpStream, SocketAddr, bool, Option<PendingHeader>) -> Fut,
        {
            std::mem::size_of::<Fut>()
        }
        let size = proxied_future_size(Server::run_proxied_session);
        let limit = if cfg!(debug_assertions) { 1500 } else { 1440 };
        assert!(
            size <= limit,
            "a proxied session's task holds a {size}-byte future"
        );
    }
}
