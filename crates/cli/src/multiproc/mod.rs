//! `--concurrency multi-proc`: a supervisor process and `--workers` worker
//! processes (docs/concurrency.md).
//!
//! The supervisor parses the options, binds the listeners and writes the
//! pid file as a single server does, then starts each worker by running
//! its own executable again (`/proc/self/exe`, with the same arguments and
//! [`WORKER_VARIABLE`] set) rather than by forking: a fork of a process
//! that may hold locks is unsafe, a fresh `exec` is not, and needs no
//! `unsafe` code. The worker's standard input is its end of a Unix stream
//! pair; on it the supervisor first passes the listening sockets
//! (`SCM_RIGHTS`, [`fds`]), then answers its limit requests
//! ([`ferroftpd::shared_limits::LimitsHost`]). All workers accept on the
//! same sockets, which the kernel shares out; `SO_REUSEPORT` is not used,
//! as it would let any process of the same user join the port, and would
//! have each worker bind, and so need the right to, after the supervisor.
//!
//! A worker runs the ordinary server on a one-thread runtime under its
//! own sandbox, and dies with the supervisor (`PR_SET_PDEATHSIG`, and the
//! end of its stream).

mod fds;
mod supervisor;

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use ferroftpd::shared_limits::SupervisorLimits;

use crate::args::{Args, Concurrency, StorageKind};
pub use fds::{send_connection, HandedConnection, WorkerListeners};
pub use supervisor::supervise;

/// Set in a worker's environment: its number and its supervisor's pid
/// (`2:4811`). Outside the `FERROFTPD_` options on purpose.
pub const WORKER_VARIABLE: &str = "_FERROFTPD_WORKER";

/// How long a worker lets transfers in progress finish after SIGTERM
/// before it closes the sessions left.
pub const DRAIN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// True with `--concurrency multi-proc`.
pub fn wanted(args: &Args) -> bool {
    args.concurrency == Some(Concurrency::MultiProc)
}

/// Refuses `--workers` without multi-proc, and the options a set of
/// workers cannot honour.
pub fn check(args: &Args) -> Result<()> {
    if !wanted(args) {
        if args.workers.is_some() {
            bail!("--workers is for --concurrency multi-proc");
        }
        return Ok(());
    }
    if args.threads.is_some() {
        bail!("--threads is for --concurrency multi-thread (each multi-proc worker runs on one thread)");
    }
    if args.metrics_address.is_some() {
        bail!(
            "--metrics-address does not go with --concurrency multi-proc: each worker \
             counts its own sessions, and a scrape would see one worker"
        );
    }
    if args.admin_address.is_some() {
        bail!(
            "--admin-address does not go with --concurrency multi-proc: each worker \
             knows only its own sessions, and the API would show one worker"
        );
    }
    if args.cluster_redis.is_some() {
        bail!(
            "--cluster-redis does not go with --concurrency multi-proc: the supervisor keeps \
             its workers' limits; run one process per node with --cluster-redis"
        );
    }
    if args.storage == Some(StorageKind::Memory) {
        bail!("--storage memory does not go with --concurrency multi-proc: each worker would have its own tree");
    }
    if args.tls_self_signed {
        bail!(
            "--tls-self-signed does not go with --concurrency multi-proc: each worker would \
             make its own certificate; give one with --certfile"
        );
    }
    Ok(())
}

/// A child of this process, worker or session process: its own executable
/// again with the same arguments, [`WORKER_VARIABLE`] saying its number
/// and this process's pid, `stream` (the child's end) on its standard
/// input. Killed if dropped before it is waited for.
pub fn child_command(
    argv: &[std::ffi::OsString],
    number: usize,
    stream: UnixStream,
) -> tokio::process::Command {
    use std::os::unix::process::CommandExt as _;
    let mut command = std::process::Command::new("/proc/self/exe");
    if let Some(name) = argv.first() {
        command.arg0(name);
    }
    command
        .args(argv.iter().skip(1))
        .env(WORKER_VARIABLE, format!("{number}:{}", std::process::id()))
        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(
            stream,
        )));
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    command
}

/// This process as a worker: its number, its listeners and its limits.
pub struct Worker {
    pub index: usize,
    /// The supervisor's pid.
    parent: i32,
    pub listeners: Option<WorkerListeners>,
    /// A session process's connection (`--isolate-sessions`), in place of
    /// listeners.
    pub connection: Option<HandedConnection>,
    pub limits: Arc<SupervisorLimits>,
}

impl Worker {
    /// Asks again for SIGTERM when the supervisor dies: a change of
    /// credentials (`--run-as`) clears that request.
    pub fn watch_supervisor_again(&self) -> Result<()> {
        watch_supervisor(self.index, self.parent)
    }

    /// `Some` in a worker process ([`WORKER_VARIABLE`] set): takes the
    /// stream on standard input (and puts /dev/null there instead, so that
    /// no program the worker runs inherits it) and receives the
    /// listeners.
    pub fn from_env() -> Result<Option<Worker>> {
        let Some(value) = std::env::var_os(WORKER_VARIABLE) else {
            return Ok(None);
        };
        let value = value.to_string_lossy().into_owned();
        let (index, parent) = value
            .split_once(':')
            .and_then(|(i, p)| Some((i.parse::<usize>().ok()?, p.parse::<i32>().ok()?)))
            .with_context(|| format!("{WORKER_VARIABLE}={value}: expected INDEX:PID"))?;
        watch_supervisor(index, parent)?;
        let stream = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .context("the supervisor's stream on standard input")?;
        let null = std::fs::File::open("/dev/null").context("/dev/null")?;
        rustix::stdio::dup2_stdin(&null).context("/dev/null on standard input")?;
        let stream = UnixStream::from(stream);
        let (listeners, connection) = match fds::receive(&stream)? {
            fds::Handed::Listeners(listeners) => (Some(listeners), None),
            fds::Handed::Connection(connection) => (None, Some(connection)),
        };
        Ok(Some(Worker {
            index,
            parent,
            listeners,
            connection,
            limits: Arc::new(SupervisorLimits::new(stream)),
        }))
    }
}

/// Stops this worker with the supervisor (SIGTERM when it dies); if it is
/// already gone, stops now.
fn watch_supervisor(index: usize, parent: i32) -> Result<()> {
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
        .context("PR_SET_PDEATHSIG")?;
    if rustix::process::getppid().map(|p| p.as_raw_nonzero().get()) != Some(parent) {
        bail!("worker {index}: the supervisor (pid {parent}) is gone");
    }
    Ok(())
}
