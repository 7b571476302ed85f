//! The supervisor of `--concurrency multi-proc`: starts the workers,
//! answers their limit requests, restarts those that die, and passes
//! signals on.
//!
//! - A worker that dies is started again after a pause that doubles with
//!   each death in a row (from [`FIRST_PAUSE`] to [`LONGEST_PAUSE`]; one
//!   that ran [`STABLE`] starts the count again), so a crash loop does not
//!   spin. Its limit slots were given back when its stream closed.
//! - SIGHUP: the supervisor reopens its log files and sends SIGHUP to
//!   every worker, which reloads as a single server does (and logs the
//!   outcome). A worker started later reads the options as they are then.
//! - SIGTERM or SIGINT: every worker gets SIGTERM, stops accepting,
//!   closes its idle sessions and lets transfers in progress finish (at
//!   most [`super::DRAIN_GRACE`]); the supervisor closes its copy of the
//!   listeners, waits for all workers, then exits. A second signal sends
//!   SIGUSR1 to the workers, which close their sessions at once.

use std::ffi::OsString;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ferroftpd::shared_limits::LimitsHost;
use rustix::process::{kill_process, Pid, Signal};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use crate::args::Args;
use crate::{logging, notify, pidfile, Listeners};

use super::fds;

/// The pause before the first restart of a worker that died.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// The longest pause between restarts.
const LONGEST_PAUSE: Duration = Duration::from_secs(10);
/// A worker that ran this long before it died is restarted at once.
const STABLE: Duration = Duration::from_secs(10);
/// How long the workers have to start serving.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// What the workers' tasks tell the supervisor.
enum Event {
    Ready { index: usize, pid: u32 },
    Died { index: usize, why: String },
}

/// What every worker's task shares.
struct Shared {
    argv: Vec<OsString>,
    /// The control and implicit-TLS listeners, passed to each worker
    /// started; dropped at shutdown so that, once the workers stop
    /// accepting, new clients are refused rather than left waiting.
    listeners: Mutex<Option<(std::net::TcpListener, Option<std::net::TcpListener>)>>,
    host: LimitsHost,
    /// Each worker's pid while it runs.
    pids: Mutex<Vec<Option<u32>>>,
    events: mpsc::UnboundedSender<Event>,
    /// Set once every worker has served: from then on a dead worker is
    /// restarted; before, it fails the start.
    started: watch::Sender<bool>,
}

impl Shared {
    /// Sends `sig` to every worker running.
    fn signal_all(&self, sig: Signal) -> usize {
        let pids = self.pids.lock().unwrap_or_else(|e| e.into_inner()).clone();
        pids.into_iter()
            .flatten()
            .filter_map(|pid| Pid::from_raw(pid as i32))
            .filter(|&pid| kill_process(pid, sig).is_ok())
            .count()
    }

    fn set_pid(&self, index: usize, pid: Option<u32>) {
        self.pids.lock().unwrap_or_else(|e| e.into_inner())[index] = pid;
    }
}

/// Runs the supervisor until SIGTERM or SIGINT and the workers' exit.
pub fn supervise(
    args: &Args,
    argv: Vec<OsString>,
    listeners: Listeners,
    pidfile: Option<&mut pidfile::PidFile>,
    log: logging::Handle,
) -> Result<()> {
    let workers = args
        .workers
        .map(usize::from)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1);
    tracing::info!("concurrency: multi-proc, {workers} worker processes of one thread each");
    // Takes $NOTIFY_SOCKET out of the environment: workers do not talk to
    // systemd, the supervisor does for them.
    notify::connect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the supervisor's runtime")?;
    runtime.block_on(run(workers, argv, listeners, pidfile, log))
}

async fn run(
    workers: usize,
    argv: Vec<OsString>,
    listeners: Listeners,
    pidfile: Option<&mut pidfile::PidFile>,
    log: logging::Handle,
) -> Result<()> {
    let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    if let Some(pidfile) = pidfile {
        pidfile.write_pid()?;
    }
    let addr = listeners.control.local_addr()?;
    let implicit_addr = listeners
        .implicit_tls
        .as_ref()
        .map(|l| l.local_addr())
        .transpose()?;
    let (events, mut incoming) = mpsc::unbounded_channel();
    let (stop, _) = watch::channel(false);
    let shared = Arc::new(Shared {
        argv,
        listeners: Mutex::new(Some((listeners.control, listeners.implicit_tls))),
        host: LimitsHost::new(),
        pids: Mutex::new(vec![None; workers]),
        events,
        started: watch::channel(false).0,
    });
    let tasks: Vec<_> = (0..workers)
        .map(|index| tokio::spawn(keep_worker(shared.clone(), index, stop.subscribe())))
        .collect();

    // Every worker serves, or the start fails.
    let deadline = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(deadline);
    let mut ready = vec![false; workers];
    while ready.contains(&false) {
        tokio::select! {
            event = incoming.recv() => match event {
                Some(Event::Ready { index, pid }) => {
                    tracing::debug!(worker = index, pid, "worker serving");
                    ready[index] = true;
                }
                Some(Event::Died { index, why }) => {
                    stop_all(&stop, tasks).await;
                    bail!("worker {index} {why} before it served");
                }
                None => unreachable!("the supervisor holds a sender"),
            },
            () = &mut deadline => {
                stop_all(&stop, tasks).await;
                bail!("the workers did not all serve within {STARTUP_TIMEOUT:?}");
            }
            _ = term.recv() => { stop_all(&stop, tasks).await; return Ok(()); }
            _ = int.recv() => { stop_all(&stop, tasks).await; return Ok(()); }
        }
    }
    shared.started.send_replace(true);
    if let Some(implicit) = implicit_addr {
        tracing::info!("implicit FTPS on {implicit}");
    }
    tracing::info!(pid = std::process::id(), workers, "listening on {addr}");
    notify::listening(addr);

    loop {
        tokio::select! {
            event = incoming.recv() => match event {
                Some(Event::Ready { index, pid }) => {
                    tracing::info!(worker = index, pid, "worker serving");
                }
                Some(Event::Died { index, why }) => {
                    tracing::warn!(worker = index, "worker {why}");
                }
                None => unreachable!("the supervisor holds a sender"),
            },
            _ = hup.recv() => {
                notify::reloading();
                if let Err(e) = log.reopen() {
                    tracing::error!("log files not reopened: {e:#}");
                }
                let n = shared.signal_all(Signal::HUP);
                tracing::info!("reload: SIGHUP sent to {n} workers; each logs its outcome");
                notify::ready();
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }

    notify::stopping();
    tracing::info!(
        "shutting down: workers stop accepting and let transfers in progress finish (at most {:?})",
        super::DRAIN_GRACE
    );
    let _ = stop.send(true);
    drop(
        shared
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(),
    );
    let all = async {
        for task in tasks {
            let _ = task.await;
        }
    };
    tokio::pin!(all);
    loop {
        tokio::select! {
            () = &mut all => break,
            _ = term.recv() => { shared.signal_all(Signal::USR1); }
            _ = int.recv() => { shared.signal_all(Signal::USR1); }
        }
    }
    tracing::info!("all workers stopped");
    Ok(())
}

/// Stops every worker and waits for their tasks (during the start).
async fn stop_all(stop: &watch::Sender<bool>, tasks: Vec<tokio::task::JoinHandle<()>>) {
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
}

/// Runs worker `index`, again each time it dies, until `stop`.
async fn keep_worker(shared: Arc<Shared>, index: usize, mut stop: watch::Receiver<bool>) {
    let mut deaths_in_a_row: u32 = 0;
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        let why = match start_worker(&shared, index) {
            Ok((mut child, stream)) => {
                let pid = child.id().unwrap_or_default();
                let serving = {
                    let host = shared.host.clone();
                    let events = shared.events.clone();
                    let signalled = shared.clone();
                    tokio::spawn(async move {
                        // Signalled (SIGHUP, SIGUSR1) only once it says it
                        // serves: it has its handlers then, and a SIGHUP
                        // before would end it (the default action).
                        let ready = || {
                            signalled.set_pid(index, Some(pid));
                            let _ = events.send(Event::Ready { index, pid });
                        };
                        if let Err(e) = host.serve(stream, ready).await {
                            tracing::error!(worker = index, pid, "limits stream closed: {e}");
                        }
                    })
                };
                let stopping = tokio::select! {
                    status = child.wait() => { Err(status) }
                    _ = stop.wait_for(|&s| s) => { Ok(()) }
                };
                let status = match stopping {
                    Err(status) => status,
                    Ok(()) => {
                        if let Some(pid) = Pid::from_raw(pid as i32) {
                            let _ = kill_process(pid, Signal::TERM);
                        }
                        child.wait().await
                    }
                };
                // The worker is gone: its slots go with the stream, even
                // if a program it started still holds the other end.
                serving.abort();
                let _ = serving.await;
                // After the stream's task: no late "ready" sets it again.
                shared.set_pid(index, None);
                let status = describe(status);
                if *stop.borrow() {
                    tracing::info!(worker = index, pid, "worker stopped: {status}");
                    return;
                }
                format!("(pid {pid}) {status}")
            }
            Err(e) => format!("could not start: {e:#}"),
        };
        let _ = shared.events.send(Event::Died {
            index,
            why: why.clone(),
        });
        if !*shared.started.borrow() {
            return;
        }
        if started.elapsed() >= STABLE {
            deaths_in_a_row = 0;
        }
        let pause = FIRST_PAUSE
            .saturating_mul(1 << deaths_in_a_row.min(16))
            .min(LONGEST_PAUSE);
        deaths_in_a_row += 1;
        tracing::warn!(worker = index, "restarting the worker in {pause:?}");
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|&s| s) => return,
        }
    }
}

/// Starts worker `index`: the same executable and arguments, its end of a
/// new stream on its standard input, the listeners passed on that stream.
fn start_worker(
    shared: &Shared,
    index: usize,
) -> Result<(tokio::process::Child, tokio::net::UnixStream)> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().context("socketpair")?;
    let child = super::child_command(&shared.argv, index, theirs)
        .spawn()
        .context("starting /proc/self/exe")?;
    {
        let listeners = shared.listeners.lock().unwrap_or_else(|e| e.into_inner());
        let (control, implicit_tls) = listeners.as_ref().context("shutting down")?;
        fds::send(&ours, control, implicit_tls.as_ref())?;
    }
    ours.set_nonblocking(true)?;
    let stream = tokio::net::UnixStream::from_std(ours)?;
    Ok((child, stream))
}

fn describe(status: std::io::Result<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            _ => format!("ended: {status}"),
        },
        Err(e) => format!("could not be waited for: {e}"),
    }
}
