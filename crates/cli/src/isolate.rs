//! `--isolate-sessions`: every session in a process of its own, which
//! becomes the system user for good at login (vsftpd's model;
//! docs/system-users.md).
//!
//! The supervisor binds the listeners, accepts, and for each connection
//! starts its own executable again (`/proc/self/exe`, same arguments,
//! [`multiproc::WORKER_VARIABLE`] set), as `--concurrency multi-proc`
//! starts a worker, and passes it the connection on a Unix stream
//! (`SCM_RIGHTS`). On that stream it then answers the session's limit
//! requests ([`LimitsHost`]), so connection counts, per-user sessions,
//! failed logins and bans hold across all sessions. The session process
//! builds the ordinary server from the options, runs under its sandbox on
//! one thread, serves the one connection, and exits. At login the system
//! authorizer makes the whole process the user
//! ([`ferroftpd::auth::SystemAuthorizerBuilder::become_user_at_login`]):
//! from then on every line of the session's code runs with the user's
//! uid, gid and groups, and a fault in it reaches that user's session
//! only.
//!
//! - The supervisor starts at most `--max-cons` session processes
//!   at once; beyond that a client gets 421 from the supervisor itself,
//!   without a process being started.
//! - Each session process reads the options (and the config file) when it
//!   starts: a change applies to the sessions started after it. One that
//!   cannot start (a broken config file, say) answers its client 421.
//!   SIGHUP makes the supervisor reopen its log files.
//! - SIGTERM or SIGINT: the supervisor stops accepting and closes its end
//!   of every session's stream, and each session process then closes an
//!   idle session and lets a transfer in progress finish (at most
//!   [`multiproc::DRAIN_GRACE`]). A second signal sends SIGUSR1, which
//!   closes them at once; it reaches a logged-in session only where the
//!   supervisor may signal other users' processes (`CAP_KILL`).
//! - Session processes run in process groups of their own, so a terminal's
//!   Ctrl-C reaches the supervisor alone, which then stops them as above.
//! - A session process runs as its user after login, so the supervisor
//!   takes what it sends on the stream as untrusted
//!   ([`LimitsHost::serve_session`]).

use std::ffi::OsString;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use ferroftpd::shared_limits::LimitsHost;
use rustix::process::{kill_process, Pid, Signal};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::args::{Args, Concurrency};
use crate::multiproc::{self, HandedConnection, Worker};
use crate::{logging, notify, pidfile, sandbox, settings, Listeners};

/// Set in a session process before its settings are built.
static SESSION_PROCESS: AtomicBool = AtomicBool::new(false);

/// True in a session process: what the supervisor has logged once at its
/// start is not logged again for each session.
pub fn is_session_process() -> bool {
    SESSION_PROCESS.load(Ordering::Relaxed)
}

/// Marks this process as a session process.
pub fn mark_session_process() {
    SESSION_PROCESS.store(true, Ordering::Relaxed);
}

/// Sent by the supervisor when `--max-cons` session processes run.
const TOO_MANY: &[u8] = b"421 Too many connections, try again later.\r\n";
/// Sent when a session process could not be started, or could not start
/// serving.
const UNAVAILABLE: &[u8] = b"421 Service not available, try again later.\r\n";

/// True with `--isolate-sessions`.
pub fn wanted(args: &Args) -> bool {
    args.isolate_sessions
}

/// Refuses the options a process per session cannot honour.
pub fn check(args: &Args) -> Result<()> {
    if !wanted(args) {
        return Ok(());
    }
    if !args.system_users {
        bail!("--isolate-sessions needs --system-users: it gives each system user's session a process of its own");
    }
    if args.concurrency.is_some_and(|c| c != Concurrency::Async)
        || args.threads.is_some()
        || args.workers.is_some()
    {
        bail!(
            "--isolate-sessions runs each session in a process of its own, on one thread: \
             it does not go with --concurrency multi-thread or multi-proc, --threads or --workers"
        );
    }
    let refused = [
        (
            args.metrics_address.is_some(),
            "--metrics-address",
            "each session process counts only itself",
        ),
        (
            args.admin_address.is_some(),
            "--admin-address",
            "each session process knows only itself",
        ),
        (
            args.cluster_redis.is_some(),
            "--cluster-redis",
            "the supervisor keeps the sessions' limits",
        ),
        (
            args.run_as.is_some(),
            "--run-as",
            "each session process becomes its own user at login",
        ),
        (
            args.tls_self_signed,
            "--tls-self-signed",
            "each session process would make its own certificate; give one with --certfile",
        ),
    ];
    if let Some((_, flag, why)) = refused.into_iter().find(|(given, _, _)| *given) {
        bail!("{flag} does not go with --isolate-sessions: {why}");
    }
    if let Some(range) = args.range.filter(|r| r.start() < 1024) {
        bail!(
            "--range {}-{}: a session binds its passive ports as its user, after login, \
             which cannot bind ports below 1024",
            range.start(),
            range.end()
        );
    }
    Ok(())
}

/// Runs the supervisor until SIGTERM or SIGINT and the end of every
/// session process.
pub fn supervise(
    argv: Vec<OsString>,
    listeners: Listeners,
    max_sessions: usize,
    pidfile: Option<&mut pidfile::PidFile>,
    log: logging::Handle,
) -> Result<()> {
    tracing::info!(
        "concurrency: a process per session (--isolate-sessions), at most {max_sessions}"
    );
    // Takes $NOTIFY_SOCKET out of the environment: session processes do
    // not talk to systemd.
    notify::connect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the supervisor's runtime")?;
    runtime.block_on(run(argv, listeners, max_sessions, pidfile, log))
}

/// What the sessions' tasks share.
struct Shared {
    argv: Vec<OsString>,
    host: LimitsHost,
    /// Cancelled at shutdown: no session process starts any more, and
    /// every stream is closed, which makes the sessions drain.
    stopping: CancellationToken,
    /// The pid of each session process running, for signals.
    pids: Mutex<Vec<u32>>,
}

impl Shared {
    /// Sends `sig` to every session process; says how many it reached
    /// and how many it may not signal (a logged-in session, without
    /// `CAP_KILL`).
    fn signal_all(&self, sig: Signal) -> (usize, usize) {
        let pids = self.pids.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (mut reached, mut denied) = (0, 0);
        for pid in pids.into_iter().filter_map(|pid| Pid::from_raw(pid as i32)) {
            match kill_process(pid, sig) {
                Ok(()) => reached += 1,
                Err(rustix::io::Errno::PERM) => denied += 1,
                Err(_) => {}
            }
        }
        (reached, denied)
    }

    fn forget(&self, pid: u32) {
        self.pids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&p| p != pid);
    }
}

async fn run(
    argv: Vec<OsString>,
    listeners: Listeners,
    max_sessions: usize,
    pidfile: Option<&mut pidfile::PidFile>,
    log: logging::Handle,
) -> Result<()> {
    let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    if let Some(pidfile) = pidfile {
        pidfile.write_pid()?;
    }
    let control = TcpListener::from_std(listeners.control)?;
    let implicit = listeners
        .implicit_tls
        .map(TcpListener::from_std)
        .transpose()?;
    let addr = control.local_addr()?;
    if let Some(implicit) = &implicit {
        tracing::info!("implicit FTPS on {}", implicit.local_addr()?);
    }
    tracing::info!(pid = std::process::id(), "listening on {addr}");
    notify::listening(addr);
    let shared = Arc::new(Shared {
        argv,
        host: LimitsHost::new(),
        stopping: CancellationToken::new(),
        pids: Mutex::new(Vec::new()),
    });
    let mut sessions = JoinSet::new();
    let mut started: usize = 0;
    loop {
        let (stream, implicit_tls) = tokio::select! {
            accepted = control.accept() => (accepted, false),
            accepted = accept(implicit.as_ref()) => (accepted, true),
            Some(ended) = sessions.join_next(), if !sessions.is_empty() => {
                log_panic(ended);
                continue;
            }
            _ = hup.recv() => {
                notify::reloading();
                if let Err(e) = log.reopen() {
                    tracing::error!("log files not reopened: {e:#}");
                }
                tracing::info!("log files reopened; each session process reads the options as it starts");
                notify::ready();
                continue;
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        };
        let stream = match stream {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        // Ended tasks still count until joined.
        while let Some(ended) = sessions.try_join_next() {
            log_panic(ended);
        }
        if sessions.len() >= max_sessions {
            let peer = stream.peer_addr().ok();
            tracing::warn!(
                ?peer,
                max_sessions,
                "connection refused: as many session processes as --max-cons"
            );
            let _ = stream.try_write(TOO_MANY);
            continue;
        }
        started += 1;
        sessions.spawn(serve_session(shared.clone(), started, stream, implicit_tls));
    }

    notify::stopping();
    drop((control, implicit));
    shared.stopping.cancel();
    tracing::info!(
        sessions = sessions.len(),
        "shutting down: idle sessions close, transfers in progress may finish (at most {:?})",
        multiproc::DRAIN_GRACE
    );
    loop {
        tokio::select! {
            next = sessions.join_next() => match next {
                None => break,
                Some(ended) => log_panic(ended),
            },
            _ = term.recv() => close_now(&shared),
            _ = int.recv() => close_now(&shared),
        }
    }
    tracing::info!("all sessions ended");
    Ok(())
}

/// The second stop signal: SIGUSR1 to every session process.
fn close_now(shared: &Shared) {
    let (reached, denied) = shared.signal_all(Signal::USR1);
    tracing::info!(reached, "closing the sessions now");
    if denied > 0 {
        tracing::warn!(
            denied,
            "logged-in sessions not signalled: no CAP_KILL; they end with their transfers"
        );
    }
}

fn log_panic(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended {
        tracing::error!("a session's task failed: {e}");
    }
}

/// Accepts on `listener`, or never without one.
async fn accept(
    listener: Option<&TcpListener>,
) -> std::io::Result<(TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Starts the process of session `number` with `connection`, answers its
/// limit requests, and waits for it; at shutdown, closes the stream, which
/// makes it drain.
async fn serve_session(
    shared: Arc<Shared>,
    number: usize,
    connection: TcpStream,
    implicit_tls: bool,
) {
    let peer = connection.peer_addr().ok();
    if shared.stopping.is_cancelled() {
        let _ = connection.try_write(UNAVAILABLE);
        return;
    }
    let (mut child, stream) = match start(&shared, number, connection, implicit_tls) {
        Ok(started) => started,
        Err((e, connection)) => {
            tracing::error!(?peer, "session process not started: {e:#}");
            if let Some(connection) = connection {
                let _ = (&connection).write_all(UNAVAILABLE);
            }
            return;
        }
    };
    let pid = child.id().unwrap_or_default();
    shared
        .pids
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(pid);
    tracing::debug!(session = number, pid, ?peer, "session process started");
    let host = shared.host.clone();
    let mut serving = tokio::spawn(async move {
        if let Err(e) = host.serve_session(stream).await {
            tracing::warn!(session = number, pid, "limits stream closed: {e}");
        }
    });
    let status = tokio::select! {
        status = child.wait() => status,
        () = shared.stopping.cancelled() => {
            // The stream's end tells the session process to drain (it may
            // not be signalled once it is its user's).
            serving.abort();
            child.wait().await
        }
    };
    // Reaped: its pid may be reused from now on.
    shared.forget(pid);
    // Its slots go with the stream, even if a program it started still
    // holds the other end.
    serving.abort();
    let _ = (&mut serving).await;
    match status {
        Ok(status) if status.success() => {
            tracing::debug!(session = number, pid, "session process ended")
        }
        Ok(status) => {
            tracing::warn!(
                session = number,
                pid,
                ?peer,
                "session process ended: {status}"
            )
        }
        Err(e) => tracing::warn!(session = number, pid, "session process not waited for: {e}"),
    }
}

type Started = (tokio::process::Child, tokio::net::UnixStream);

/// Starts the process of session `number` and hands it `connection`; on
/// failure, gives the connection back, to say so.
fn start(
    shared: &Shared,
    number: usize,
    connection: TcpStream,
    implicit_tls: bool,
) -> Result<Started, (anyhow::Error, Option<std::net::TcpStream>)> {
    let connection = match connection.into_std() {
        Ok(connection) => connection,
        Err(e) => return Err((anyhow::Error::new(e), None)),
    };
    let (ours, theirs) = match std::os::unix::net::UnixStream::pair() {
        Ok(pair) => pair,
        Err(e) => {
            return Err((
                anyhow::Error::new(e).context("socketpair"),
                Some(connection),
            ))
        }
    };
    let mut command = multiproc::child_command(&shared.argv, number, theirs);
    // Out of the terminal's process group: Ctrl-C is the supervisor's to
    // pass on.
    command.process_group(0);
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let e = anyhow::Error::new(e).context("starting /proc/self/exe");
            return Err((e, Some(connection)));
        }
    };
    let handed = multiproc::send_connection(&ours, &connection, implicit_tls).and_then(|()| {
        ours.set_nonblocking(true)?;
        Ok(tokio::net::UnixStream::from_std(ours)?)
    });
    match handed {
        Ok(stream) => Ok((child, stream)),
        // The child is killed as it is dropped.
        Err(e) => Err((e, Some(connection))),
    }
}

/// In a session process whose options no longer read (the config file
/// changed since the supervisor started): takes the connection handed to
/// it and answers 421, rather than let it close without a word.
pub fn refuse_handed_connection() {
    if let Ok(Some(worker)) = Worker::from_env() {
        if let Some(connection) = &worker.connection {
            drop(ReplyUnlessServed::new(connection));
        }
    }
}

/// Answers 421 on a session process's connection when the process ends
/// before it serves (a config file that no longer reads, a failed
/// sandbox), rather than closing it without a word.
pub struct ReplyUnlessServed(Option<std::net::TcpStream>);

impl ReplyUnlessServed {
    /// For `connection`, through a copy of its descriptor.
    pub fn new(connection: &HandedConnection) -> Self {
        ReplyUnlessServed(connection.stream.try_clone().ok())
    }

    fn serving(&mut self) {
        self.0 = None;
    }
}

impl Drop for ReplyUnlessServed {
    fn drop(&mut self) {
        if let Some(mut stream) = self.0.take() {
            let _ = stream.write_all(UNAVAILABLE);
        }
    }
}

/// A session process: serves `connection` and returns when the session
/// ends; SIGTERM (or the supervisor's end) drains it, SIGUSR1 then closes
/// it.
pub fn serve(
    args: &Args,
    settings: settings::Settings,
    worker: Worker,
    connection: HandedConnection,
    mut unserved: ReplyUnlessServed,
) -> Result<()> {
    // The options as this process read them must still be these.
    if !args.system_users || !args.isolate_sessions {
        bail!("a session process needs --system-users and --isolate-sessions, which the options no longer give");
    }
    let mut runtime = tokio::runtime::Builder::new_current_thread();
    // The sandbox's rules open their paths as root, before any thread.
    let _sandbox = sandbox::apply(args, &settings)?;
    let runtime = runtime
        .enable_all()
        .max_blocking_threads(settings.server.config().blocking_threads_needed())
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        // SIGHUP reloads the supervisor; a session process has nothing to
        // reload, and SIGHUP's default action would end it: handled, and
        // ignored.
        let _hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut close_now = signal(SignalKind::user_defined1()).context("SIGUSR1 handler")?;
        worker.limits.start().context("the supervisor's stream")?;
        let supervisor_gone = worker.limits.closed();
        let server = settings.server.clone();
        server.number_sessions_from(worker.index as u64);
        let stream = TcpStream::from_std(connection.stream)?;
        unserved.serving();
        let session = async {
            if connection.implicit_tls {
                server.serve_implicit_tls_connection(stream).await?;
            } else {
                server.serve_connection(stream).await;
            }
            Ok::<(), ferroftpd::Error>(())
        };
        tokio::pin!(session);
        tokio::select! {
            result = &mut session => return Ok(result?),
            _ = term.recv() => {}
            () = supervisor_gone.cancelled() => tracing::warn!("the supervisor is gone"),
        }
        settings.server.drain();
        tokio::select! {
            result = &mut session => return Ok(result?),
            () = tokio::time::sleep(multiproc::DRAIN_GRACE) => {}
            _ = close_now.recv() => {}
        }
        settings.server.abort();
        Ok(session.await?)
    })
}
