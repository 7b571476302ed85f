//! One client session: the control connection and its state.
//!
//! A session is a single task that owns everything about its client: login
//! state, current directory, transfer settings and the data connection
//! being prepared. Nothing is shared behind a lock. Handlers are grouped by
//! concern in the submodules; [`Session::dispatch`] is the one `match` over
//! commands.

mod admin;
mod checksum;
mod control;
mod custom;
mod files;
mod info;
mod list_tree;
mod listing;
mod login;
mod messages;
mod security;
mod transfer;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ferroftpd_proto::address::canonical_ip;
use ferroftpd_proto::checksum::HashAlgorithm;
use ferroftpd_proto::command::{Command, ParseError, TransferType};
use ferroftpd_proto::escape::LogSafe;
use ferroftpd_proto::framing::Frame;
use ferroftpd_proto::listing::FactSet;
use ferroftpd_proto::path::VirtualPath;
use ferroftpd_proto::perms::Permission;
use ferroftpd_proto::reply::Reply;
use ferroftpd_proto::site::SiteCommand;
use tokio::net::TcpStream;
// The runtime's clock, so that tests can pause and advance it.
use tokio::time::Instant;
use tracing::Instrument;

use self::control::Control;
pub(crate) use self::control::Socket;
use crate::auth::Account;
use crate::data::{DataSetup, Transfer};
use crate::error::CommandError;
use crate::hooks::{Event as HookEvent, FileEvent, HookSender};
use crate::limits::{ConnectionSlot, UserSlot};
use crate::metrics::Metrics;
use crate::server::Shared;
use crate::storage::Storage;
use crate::throttle::Throttle;
use crate::tls::SessionTls;

/// Where the client is in logging in.
enum Login {
    AwaitingUser,
    AwaitingPass { username: String },
    LoggedIn(Box<User>),
}

/// A logged-in user.
struct User {
    account: Account,
    storage: Arc<dyn Storage>,
    cwd: VirtualPath,
    /// This session's place in its user's session count.
    _slot: UserSlot,
    /// The limits on this session's uploads and downloads.
    read_throttle: Throttle,
    write_throttle: Throttle,
    /// What was left of the login deadline when this user logged in;
    /// REIN gives back only that (`None`: no login deadline).
    login_time_left: Option<std::time::Duration>,
}

/// Something a command set up for the next one.
#[derive(Debug, Default)]
enum Pending {
    #[default]
    Nothing,
    /// RNFR was given: RNTO must follow.
    RenameFrom(VirtualPath),
    /// REST was given: the next RETR or STOR starts here.
    RestartAt(u64),
}

/// A transfer the session is waiting on, with what its log line needs.
struct Running {
    transfer: Transfer,
    kind: crate::data::TransferKind,
    path: Option<VirtualPath>,
    /// TYPE A (for the transfer log).
    ascii: bool,
    /// Who started it and where its file is: USER or REIN may change the
    /// session's user before it ends.
    owner: String,
    anonymous: bool,
    real_path: Option<std::path::PathBuf>,
    /// Counts the transfer in the active-transfers gauge until dropped.
    _active: crate::metrics::ActiveTransfer,
    /// Shows the transfer in the session registry until dropped.
    _shown: crate::registry::ShownTransfer,
}

/// What woke the session up.
enum Event {
    Control(io::Result<Option<Frame>>),
    TransferDone(crate::data::Outcome),
    ServerClosing,
    TimedOut(Timeout),
}

/// Which deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timeout {
    Login,
    Idle,
    /// Nobody connected to the passive listener in time.
    Passive,
}

/// What the session loop does after a command.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

pub(crate) struct Session {
    shared: Arc<Shared>,
    control: Control,
    peer: SocketAddr,
    /// The server's address on this connection (where passive listeners
    /// go). Only the address: the session's size is watched.
    local_ip: IpAddr,
    login: Login,
    failed_logins: u32,
    transfer_type: TransferType,
    data: DataSetup,
    pending: Pending,
    /// EPSV ALL was given: PASV, PORT and EPRT are refused.
    epsv_all: bool,
    facts: FactSet,
    /// Boxed: idle sessions, the common case, then pay one pointer.
    running: Option<Box<Running>>,
    /// QUIT came during a transfer: close when it ends.
    quit_after_transfer: bool,
    /// Until the first line: close the connection if it is a PROXY
    /// header, from a source not trusted to send one.
    refuse_proxy_line: bool,
    /// The client came through a proxy's header: its passive data
    /// connections come through the proxy too, each with a header.
    proxied: bool,
    /// Unknown commands received before login.
    unknown_before_login: u32,
    /// The algorithm of HASH, chosen with OPTS HASH.
    hash_algorithm: HashAlgorithm,
    /// The session's number, as in its log span.
    id: u64,
    /// When a client that has not logged in is closed. Counted from the
    /// accept; a REIN gives back only what was left of it at login.
    login_deadline: Option<Instant>,
    /// When the last command arrived (for the idle timeout).
    last_command_at: Instant,
    /// Where hook events go, when the server has hooks.
    hooks: Option<HookSender>,
    /// TLS settings and state, once the control connection has been
    /// encrypted. Boxed: plain sessions pay one pointer.
    tls: Option<Box<TlsState>>,
    /// This session's entry in the server's session list (admin.rs),
    /// which holds its place in the connection counts: one pointer in
    /// the session for both.
    registration: crate::registry::Registration,
}

/// A session's FTPS state.
struct TlsState {
    /// The session's TLS configuration, for its data connections too.
    config: SessionTls,
    /// The connection came in on an implicit-TLS listener.
    implicit: bool,
    /// PBSZ was given (RFC 4217 requires it before PROT).
    pbsz: bool,
    /// PROT P: data connections are encrypted.
    protect_data: bool,
}

impl Session {
    /// A session over a TCP connection.
    /// `peer` is the client: the TCP peer, or the client a PROXY header
    /// named.
    pub(crate) fn new(
        shared: Arc<Shared>,
        stream: TcpStream,
        peer: SocketAddr,
        slot: ConnectionSlot,
        id: u64,
    ) -> io::Result<Self> {
        let tcp_peer = stream.peer_addr()?;
        let local = stream.local_addr()?;
        // A PROXY header where none was expected: a client reaching the
        // server around the balancer (a v2 header ends in QUIT, so only
        // v1's needs looking for).
        let untrusted_proxy =
            shared.config.proxy.is_on() && !shared.config.proxy.trusts(tcp_peer.ip());
        // Replies are small and interactive; do not wait to coalesce them.
        let _ = stream.set_nodelay(true);
        // Some clients (Python's ftplib) send ABOR's line as TCP urgent
        // data; read it in line, or the line never ends.
        let _ = socket2::SockRef::from(&stream).set_out_of_band_inline(true);
        let mut session = Self::over(shared, Socket::Tcp(stream), (peer, local), slot, id);
        session.refuse_proxy_line = untrusted_proxy;
        session.proxied = peer != tcp_peer;
        Ok(session)
    }

    /// A session over `socket`, whose ends are `(peer, local)`.
    pub(crate) fn over(
        shared: Arc<Shared>,
        socket: Socket,
        (peer, local): (SocketAddr, SocketAddr),
        slot: ConnectionSlot,
        id: u64,
    ) -> Self {
        let canonical = |a: SocketAddr| SocketAddr::new(canonical_ip(a.ip()), a.port());
        let (peer, local) = (canonical(peer), canonical(local));
        tracing::debug!(%peer, %local, "connection accepted");
        let encoding = shared.config.encoding;
        let login_deadline = shared.config.login_timeout.map(|t| Instant::now() + t);
        let shared_hooks = shared.config.hooks.clone();
        let tracker = shared.transfers.clone();
        let registration = shared
            .registry
            .register(id, peer, &shared.close_sessions, slot);
        Session {
            shared,
            control: Control::new(socket, encoding),
            peer,
            local_ip: local.ip(),
            login: Login::AwaitingUser,
            failed_logins: 0,
            transfer_type: TransferType::default(),
            data: DataSetup::None,
            pending: Pending::Nothing,
            epsv_all: false,
            facts: FactSet::default(),
            running: None,
            quit_after_transfer: false,
            refuse_proxy_line: false,
            proxied: false,
            unknown_before_login: 0,
            hash_algorithm: HashAlgorithm::default(),
            id,
            login_deadline,
            last_command_at: Instant::now(),
            hooks: shared_hooks.map(|h| HookSender::start(h, id, peer, &tracker)),
            tls: None,
            registration,
        }
    }

    /// Runs the session until the client leaves or the server closes it.
    /// With `implicit_tls`, the TLS handshake comes first, before the
    /// greeting.
    ///
    /// Everything but the wait for the next event runs in the session's
    /// log span, and is boxed: each await that is not makes every
    /// session's task as large as its future for the session's whole life,
    /// and an idle session should pay only for waiting.
    pub(crate) async fn run(mut self, implicit_tls: bool) {
        self.span().in_scope(|| {
            tracing::info!(local = %self.local_ip, implicit_tls, "session opened");
        });
        self.shared.metrics.sessions_active.inc();
        self.hook(HookEvent::Connect);
        // The server's abort or drain, or an operator's kick.
        let close = self.registration.closer();
        let span = self.span();
        if implicit_tls && !Box::pin(self.start_implicit_tls()).instrument(span).await {
            let span = self.span();
            Box::pin(self.end()).instrument(span).await;
            return;
        }
        let banner = Reply::text(220, &self.shared.config.banner);
        let span = self.span();
        if Box::pin(self.control.send(&banner))
            .instrument(span)
            .await
            .is_err()
        {
            let span = self.span();
            Box::pin(self.end()).instrument(span).await;
            return;
        }
        loop {
            let event = self.next_event(&close).await;
            let span = self.span();
            if Box::pin(self.handle_event(event)).instrument(span).await == Flow::Close {
                break;
            }
        }
        let span = self.span();
        Box::pin(self.end()).instrument(span).await;
    }

    /// The log span of what the session does now: its id and client, and
    /// the user once logged in. Made for each event rather than kept: a
    /// live span costs some hundreds of bytes in the log subscriber, which
    /// every idle session would pay (making one is nothing when its level
    /// is off; bench/README.md has what it costs a login otherwise).
    /// A span of its own per login, not a field recorded on a kept span:
    /// text logs append a recorded field to what the span already shows.
    fn span(&self) -> tracing::Span {
        match &self.login {
            Login::LoggedIn(user) => span_after_login(self.id, self.peer, &user.account.username),
            _ => span_before_login(self.id, self.peer),
        }
    }

    /// Waits for the next thing to do. A drain ([`crate::Server::drain`])
    /// closes the session once no transfer runs.
    async fn next_event(&mut self, close: &crate::registry::Closer) -> Event {
        let timeout = self.timeout_at();
        let transferring = self.running.is_some();
        // In this order: a close or a drain is never beaten by a command
        // the client had already sent (after a 226, a drain must not let
        // it start another transfer), and a transfer's end is told before
        // the next command is read.
        tokio::select! {
            biased;
            () = close.closed(!transferring) => Event::ServerClosing,
            outcome = Self::transfer_finished(&mut self.running) => Event::TransferDone(outcome),
            frame = self.control.next_frame(), if !self.quit_after_transfer => Event::Control(frame),
            which = Self::deadline(timeout) => Event::TimedOut(which),
        }
    }

    async fn handle_event(&mut self, event: Event) -> Flow {
        match event {
            Event::Control(Ok(Some(Frame::Line(line)))) => self.handle_line(&line).await,
            Event::Control(Ok(Some(Frame::TooLong))) => {
                self.reply(Reply::new(500, "Command line too long.")).await
            }
            Event::Control(Ok(None)) => Flow::Close,
            Event::Control(Err(e)) => {
                tracing::debug!(error = %e, "control connection failed");
                Flow::Close
            }
            Event::TransferDone(outcome) => self.finish_transfer(outcome).await,
            Event::TimedOut(Timeout::Passive) => {
                self.expire_passive();
                Flow::Continue
            }
            Event::TimedOut(Timeout::Login) => {
                self.close_timed_out(Timeout::Login, "Login timed out; closing connection.")
                    .await
            }
            Event::TimedOut(Timeout::Idle) => {
                self.close_timed_out(Timeout::Idle, "Control connection timed out.")
                    .await
            }
            Event::ServerClosing => self.close_by_server().await,
        }
    }

    /// Ends the session at its login or idle deadline, with a 421 saying
    /// which.
    async fn close_timed_out(&mut self, which: Timeout, text: &'static str) -> Flow {
        tracing::info!(?which, "session timed out");
        let _ = self.control.send(&Reply::new(421, text)).await;
        Flow::Close
    }

    /// The next deadline that applies: the login deadline until the client
    /// logs in, and the idle timeout whenever no transfer runs.
    fn timeout_at(&self) -> Option<(tokio::time::Instant, Timeout)> {
        let config = &self.shared.config;
        let login = match (&self.login, self.login_deadline) {
            (Login::LoggedIn(_), _) | (_, None) => None,
            (_, Some(at)) => Some((at, Timeout::Login)),
        };
        let idle = match (&self.running, config.idle_timeout) {
            (None, Some(t)) => Some((self.last_command_at + t, Timeout::Idle)),
            _ => None,
        };
        let passive = match &self.data {
            DataSetup::Passive(p) => Some((p.expires, Timeout::Passive)),
            _ => None,
        };
        [login, idle, passive]
            .into_iter()
            .flatten()
            .min_by_key(|(at, _)| *at)
    }

    /// Completes at the deadline; never if there is none.
    async fn deadline(at: Option<(tokio::time::Instant, Timeout)>) -> Timeout {
        match at {
            Some((at, which)) => {
                tokio::time::sleep_until(at).await;
                which
            }
            None => std::future::pending().await,
        }
    }

    /// Completes when the running transfer ends; never if none runs.
    async fn transfer_finished(running: &mut Option<Box<Running>>) -> crate::data::Outcome {
        match running {
            Some(r) => r.transfer.finished().await,
            None => std::future::pending().await,
        }
    }

    async fn end(&mut self) {
        if let Some(running) = self.running.take() {
            running.transfer.abort();
        }
        if let Login::LoggedIn(user) = &self.login {
            self.shared.config.authorizer.logout(&user.account).await;
        }
        self.control.close().await;
        self.hook(HookEvent::Disconnect);
        self.shared.metrics.sessions_active.dec();
        tracing::info!("session closed");
    }

    async fn reply(&mut self, reply: Reply) -> Flow {
        match self.control.send(&reply).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Close,
        }
    }

    async fn handle_line(&mut self, line: &[u8]) -> Flow {
        self.last_command_at = Instant::now();
        if std::mem::take(&mut self.refuse_proxy_line) && line.starts_with(b"PROXY ") {
            tracing::warn!("PROXY header from a source not trusted to send one; connection closed");
            return Flow::Close;
        }
        let line = &*crate::charset::from_client(self.control.encoding, line);
        if !self.shared.config.commands.is_empty() {
            if let Some(flow) = self.run_custom(line).await {
                return flow;
            }
        }
        let command = match Command::parse(line) {
            Ok(c) => {
                Metrics::count(&self.shared.metrics.commands, vec![("verb", c.name())], 1);
                c
            }
            Err(e) => {
                Metrics::count(
                    &self.shared.metrics.commands,
                    vec![("verb", crate::metrics::INVALID_VERB)],
                    1,
                );
                tracing::debug!("<- {}", LogSafe(line));
                if !matches!(self.login, Login::LoggedIn(_)) {
                    if let ParseError::Unknown(_) = e {
                        return self.unknown_before_login(line).await;
                    }
                    // Login first, then arguments (pyftpdlib and vsftpd
                    // answer a malformed PORT before login with 530 too).
                    if !matches!(e, ParseError::NotImplemented(_))
                        && !Command::line_allowed_before_login(line)
                    {
                        return self.reply(not_logged_in()).await;
                    }
                }
                return self.reply(e.reply()).await;
            }
        };
        if let Command::Pass(_) = command {
            tracing::debug!("<- PASS ******");
        } else {
            tracing::debug!("<- {}", LogSafe(line));
        }
        if !command.allowed_before_login() && !matches!(self.login, Login::LoggedIn(_)) {
            return self.reply(not_logged_in()).await;
        }
        // REST applies to the next transfer command, RNFR only to the very
        // next command.
        let pending = std::mem::take(&mut self.pending);
        if let Pending::RestartAt(_) = pending {
            if !matches!(
                command,
                Command::Retr(_) | Command::Stor(_) | Command::Appe(_) | Command::Stou(_)
            ) {
                self.pending = pending;
                return self.dispatch(command, Pending::Nothing).await;
            }
        }
        self.dispatch(command, pending).await
    }

    /// Counts an unknown command before login. An HTTP request, or one
    /// unknown command too many, closes the connection: this is not an FTP
    /// client (cross-protocol attacks such as ALPACA depend on servers that
    /// keep answering).
    async fn unknown_before_login(&mut self, line: &[u8]) -> Flow {
        self.unknown_before_login += 1;
        let http = looks_like_http(line);
        if http || self.unknown_before_login > self.shared.config.max_unknown_commands_before_login
        {
            tracing::info!(http, "closing connection: not an FTP client");
            let _ = self
                .control
                .send(&Reply::new(
                    421,
                    "Too many unknown commands; closing connection.",
                ))
                .await;
            return Flow::Close;
        }
        let verb = line.split(|&b| b == b' ').next().unwrap_or_default();
        self.reply(
            ParseError::Unknown(String::from_utf8_lossy(&verb[..verb.len().min(16)]).into_owned())
                .reply(),
        )
        .await
    }

    /// The one match over commands.
    async fn dispatch(&mut self, command: Command, pending: Pending) -> Flow {
        use Command::*;
        let result = match command {
            User(name) => return self.user(name).await,
            Pass(password) => return self.pass(password).await,
            Quit => return self.quit().await,
            Noop => Ok(Reply::new(200, "NOOP ok.")),
            Syst => Ok(Reply::new(215, "UNIX Type: L8")),
            Feat => Ok(self.feat()),
            Opts(opts) => Ok(self.opts(opts)),
            Help(topic) => Ok(self.help(topic.as_deref())),
            Stat(None) => Ok(self.status()),
            Stat(Some(path)) => self.stat_path(&path).await,
            Site(SiteCommand::Help(topic)) => Ok(self.site_help(topic.as_deref())),
            Site(SiteCommand::Chmod { mode, path }) => self.site_chmod(mode, &path).await,
            Site(SiteCommand::Quota) => self.site_quota(),
            Site(SiteCommand::Other { .. }) => Ok(Reply::new(501, "Unrecognized SITE command.")),
            Mfmt(secs, path) => self.mfmt(secs, &path).await,
            Rein => return self.rein().await,
            Acct => Ok(Reply::new(
                202,
                "Command not implemented, superfluous at this site.",
            )),
            Host(name) => Ok(self.host(&name)),
            Clnt(_) => Ok(Reply::new(200, "Noted.")),
            Lang(tag) => Ok(info::lang(tag.as_deref())),
            Hash(path) => self.hash(&path).await,
            Checksum(algorithm, args) => self.checksum(algorithm, args).await,
            // Boxed: rarely used, and large; every command would otherwise
            // pay for their space.
            Auth(mechanism) => return Box::pin(self.auth(&mechanism)).await,
            Pbsz(size) => Ok(self.pbsz(size)),
            Prot(level) => Ok(self.prot(&level)),
            Ccc => return Box::pin(self.ccc()).await,
            Pwd => self.pwd(),
            Cwd(path) => self.cwd(&path).await,
            Cdup => self.cwd(b"..").await,
            Mkd(path) => self.mkd(&path).await,
            Rmd(path) => self.rmd(&path).await,
            Dele(path) => self.dele(&path).await,
            Rnfr(path) => self.rnfr(&path).await,
            Rnto(path) => self.rnto(&path, pending).await,
            Size(path) => self.size(&path).await,
            Mdtm(path) => self.mdtm(&path).await,
            Type(t) => Ok(self.set_type(t)),
            Mode => Ok(Reply::new(200, "Transfer mode set to: S")),
            Stru => Ok(Reply::new(200, "File transfer structure set to: F.")),
            Allo => Ok(Reply::new(202, "No storage allocation necessary.")),
            Rest(offset) => self.rest(offset),
            Pasv => self.pasv(),
            Epsv(arg) => self.epsv(arg),
            Port(addr) => self.port("PORT", SocketAddr::V4(addr)),
            Eprt(addr) => self.port("EPRT", addr),
            Abor => return self.abor().await,
            Retr(path) => return self.retr(&path, pending).await,
            Stor(path) => return self.stor(&path, pending).await,
            Appe(path) => return self.appe(&path, pending).await,
            Stou(hint) => return self.stou(hint.as_deref(), pending).await,
            List(args) => {
                let options = listing::Options::from(&args);
                return self
                    .list(args.path.as_deref(), listing::Kind::List, options)
                    .await;
            }
            Nlst(args) => {
                let options = listing::Options::from(&args);
                return self
                    .list(args.path.as_deref(), listing::Kind::Nlst, options)
                    .await;
            }
            Mlsd(path) => {
                let options = listing::Options::default();
                return self
                    .list(path.as_deref(), listing::Kind::Mlsd, options)
                    .await;
            }
            Mlst(path) => self.mlst(path.as_deref()).await,
        };
        let reply = result.unwrap_or_else(CommandError::reply);
        self.reply(reply).await
    }

    // Helpers shared by the handlers.

    /// The logged-in user. `dispatch` lets only pre-login commands through
    /// before login, so the error is a safety net.
    fn user_ref(&self) -> Result<&User, CommandError> {
        match &self.login {
            Login::LoggedIn(user) => Ok(user),
            _ => Err(not_logged_in().into()),
        }
    }

    /// Queues a hook event about the logged-in user, if the server has
    /// hooks.
    fn hook(&self, event: HookEvent) {
        let user = match &self.login {
            Login::LoggedIn(u) => Some(u.account.username.as_str()),
            _ => None,
        };
        self.hook_as(event, user);
    }

    /// Queues a hook event about `user`.
    fn hook_as(&self, event: HookEvent, user: Option<&str>) {
        if let Some(hooks) = &self.hooks {
            hooks.send(event, user);
        }
    }

    /// True if the server has hooks (so events are worth building).
    fn has_hooks(&self) -> bool {
        self.hooks.is_some()
    }

    /// The hook description of `path`.
    fn file_event(&self, path: &VirtualPath, bytes: u64) -> FileEvent {
        FileEvent {
            path: path.clone(),
            real_path: self.user_ref().ok().and_then(|u| u.storage.real_path(path)),
            bytes,
            remains: None,
        }
    }

    /// Resolves a client path against the current directory.
    fn resolve(&self, arg: &[u8]) -> Result<VirtualPath, CommandError> {
        self.user_ref()?
            .cwd
            .resolve(arg)
            .map_err(|_| CommandError::BadName)
    }

    /// Fails with 550 unless the user has `perm` on `path`, and no name
    /// on the way to it is denied by the server's deny patterns.
    fn check(&self, perm: Permission, path: &VirtualPath) -> Result<(), CommandError> {
        let account = &self.user_ref()?.account;
        if self.shared.config.listing.denies(path) {
            return Err(CommandError::Denied);
        }
        if self.shared.config.authorizer.permits(account, perm, path) {
            Ok(())
        } else {
            Err(CommandError::Denied)
        }
    }

    /// Fails with 550 unless the user has `perm` on the entries of `dir`,
    /// a directory the deny patterns leave alone.
    fn check_in(&self, perm: Permission, dir: &VirtualPath) -> Result<(), CommandError> {
        let account = &self.user_ref()?.account;
        if self.shared.config.listing.denies(dir) {
            return Err(CommandError::Denied);
        }
        if self.shared.config.authorizer.permits_in(account, perm, dir) {
            Ok(())
        } else {
            Err(CommandError::Denied)
        }
    }

    /// Resolves `arg` as an entry to add or take away: `perm` is checked
    /// on the entry and on the entries of its directory (an override of
    /// the entry's own does not open a read-only parent).
    fn resolve_entry(&self, arg: &[u8], perm: Permission) -> Result<VirtualPath, CommandError> {
        let path = self.resolve_checked(arg, perm)?;
        if let Some(parent) = path.parent() {
            self.check_in(perm, &parent)?;
        }
        Ok(path)
    }

    /// Resolves `arg` and checks `perm` on it.
    fn resolve_checked(&self, arg: &[u8], perm: Permission) -> Result<VirtualPath, CommandError> {
        let path = self.resolve(arg)?;
        self.check(perm, &path)?;
        Ok(path)
    }

    fn storage(&self) -> Result<Arc<dyn Storage>, CommandError> {
        Ok(self.user_ref()?.storage.clone())
    }

    fn client_ip(&self) -> IpAddr {
        self.peer.ip()
    }
}

/// The log span of session `id` with `peer` before (or between) logins.
pub(crate) fn span_before_login(id: u64, peer: SocketAddr) -> tracing::Span {
    tracing::info_span!(
        parent: None,
        "session",
        id,
        peer = %peer,
        user = tracing::field::Empty
    )
}

/// The log span of session `id` with `peer` once `user` has logged in.
fn span_after_login(id: u64, peer: SocketAddr, user: &str) -> tracing::Span {
    tracing::info_span!(parent: None, "session", id, peer = %peer, user)
}

/// The reply to a command that needs a login, before login.
fn not_logged_in() -> Reply {
    Reply::new(530, "Log in with USER and PASS first.")
}

/// True for an HTTP request line (`GET / HTTP/1.1`).
fn looks_like_http(line: &[u8]) -> bool {
    const METHODS: [&[u8]; 8] = [
        b"GET ",
        b"POST ",
        b"HEAD ",
        b"PUT ",
        b"DELETE ",
        b"OPTIONS ",
        b"CONNECT ",
        b"PATCH ",
    ];
    METHODS.iter().any(|m| line.starts_with(m)) && line.windows(6).any(|w| w == b" HTTP/")
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    /// An idle session costs its task: tokio aligns task cells to 128
    /// bytes, so a few bytes more here can cost 128 more per session (it
    /// did once: 3.98 KiB per idle session became 4.10). Grow it only
    /// knowingly, and measure with `bench/run --only idle_sessions`.
    #[test]
    fn session_stays_small() {
        let size = std::mem::size_of::<super::Session>();
        // Debug builds lay some dependencies out larger.
        let limit = if cfg!(debug_assertions) { 360 } else { 344 };
        assert!(size <= limit, "Session is {size} bytes");
    }
}
