//! `ferroftpd`: the command-line FTP server.

mod admin;
mod admin_client;
mod args;
mod generate;
mod isolate;
mod layers;
mod logging;
mod multiproc;
mod notify;
mod pidfile;
mod preflight;
mod privileges;
mod reload;
mod sandbox;
mod settings;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use anyhow::{Context, Result};

use args::{Args, Command};

/// The exit code of options that cannot be read, as clap's own.
const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    // Kept for SIGHUP, which reads the options again.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let parsed = match layers::parse(argv.iter().cloned(), |name| std::env::var_os(name)) {
        Ok(parsed) => parsed,
        Err(layers::Error::Clap(e)) => {
            isolate::refuse_handed_connection();
            e.exit()
        }
        Err(layers::Error::Invalid(text)) => {
            eprintln!("ferroftpd: error: {text}");
            isolate::refuse_handed_connection();
            return ExitCode::from(USAGE_ERROR);
        }
    };
    match run(parsed, argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferroftpd: error: {e:#}");
            // A session process that failed before it took its connection.
            isolate::refuse_handed_connection();
            ExitCode::FAILURE
        }
    }
}

fn run(parsed: layers::Parsed, argv: Vec<std::ffi::OsString>) -> Result<()> {
    let args: &Args = &parsed.args;
    if let Some(Command::HashPassword { scheme }) = args.command {
        return hash_password::run(scheme);
    }
    if let Some(Command::Generate { what }) = &args.command {
        return generate::run(what);
    }
    if let Some(command) = &args.command {
        return admin_client::run(command);
    }
    let log = logging::init(args)?;
    for (option, source) in parsed.sources() {
        tracing::debug!(option, %source, "option set");
    }
    raise_open_file_limit();
    // An error about one option names the flag; `locate` names the
    // variable or the line of the config file instead when the value came
    // from there.
    let located = |e: anyhow::Error| anyhow::anyhow!(parsed.locate(&format!("{e:#}")));
    multiproc::check(args).map_err(located)?;
    isolate::check(args).map_err(located)?;
    // In a worker of --concurrency multi-proc: its listeners and the
    // supervisor's limits, received first.
    let mut worker = multiproc::Worker::from_env()?;
    // A session process answers 421 if it fails before it serves.
    let unserved = worker
        .as_ref()
        .and_then(|w| w.connection.as_ref())
        .map(isolate::ReplyUnlessServed::new);
    if unserved.is_some() {
        isolate::mark_session_process();
    }
    let settings = match &worker {
        None => settings::build(args),
        Some(worker) => settings::plan(args, None).and_then(|mut plan| {
            let limits =
                worker.limits.clone() as std::sync::Arc<dyn ferroftpd::shared_limits::SharedLimits>;
            plan.builder = plan.builder.shared_limits(Some(limits.clone()));
            plan.shared_limits = Some(limits);
            plan.build()
        }),
    }
    .map_err(located)?;
    // A session process of --isolate-sessions: its one connection.
    if let (Some(mut worker), Some(unserved)) =
        (worker.take_if(|w| w.connection.is_some()), unserved)
    {
        let connection = worker.connection.take().context("checked above")?;
        return isolate::serve(args, settings, worker, connection, unserved);
    }
    if let Some(users) = &settings.users_file {
        // The homes and folders of a users file are served with the
        // server's own uid, as --directory is (settings.rs checks that).
        for dir in sandbox::users_file_dirs(users.path())? {
            preflight::served_dir(&dir).map_err(|e| {
                located(anyhow::anyhow!(
                    "--users: {}: home or folder {e}",
                    users.path().display()
                ))
            })?;
        }
    }
    let run_as = args
        .run_as
        .as_deref()
        .map(|name| privileges::RunAs::prepare(name, args.system_users))
        .transpose()
        .map_err(located)?;
    if let (Some(_), Some(range)) = (&run_as, settings.server.config().passive_ports()) {
        if range.start() < 1024 {
            return Err(located(anyhow::anyhow!(
                "--range {}-{}: ports below 1024 cannot be bound after --run-as drops root",
                range.start(),
                range.end()
            )));
        }
    }
    // Held to the end of `run`: emptied and removed when it returns. Its
    // id is written once SIGHUP is handled (`serve`).
    let mut pidfile = args
        .pidfile
        .as_deref()
        .filter(|_| worker.is_none())
        .map(pidfile::PidFile::create)
        .transpose()?;
    // Everything that opens a file or binds a port happens above and here,
    // before the sandbox; no thread runs yet, so the sandbox covers every
    // thread the runtime will start.
    let listeners = match worker.as_mut().and_then(|w| w.listeners.take()) {
        Some(given) => Listeners {
            control: given.control,
            implicit_tls: given.implicit_tls,
            metrics: None,
        },
        None => Listeners::bind(&settings).map_err(located)?,
    };
    let admin = admin::bind(args, settings.listen).map_err(located)?;
    if let (Some(range), None) = (settings.server.config().passive_ports(), &worker) {
        let ip = listeners.control.local_addr()?.ip();
        preflight::passive_ports(range, ip)
            .map_err(|e| located(anyhow::anyhow!("--range: {e}")))?;
    }
    if isolate::wanted(args) && worker.is_none() {
        let max_sessions = settings.server.config().max_connections();
        return isolate::supervise(argv, listeners, max_sessions, pidfile.as_mut(), log);
    }
    if multiproc::wanted(args) && worker.is_none() {
        return multiproc::supervise(args, argv, listeners, pidfile.as_mut(), log);
    }
    // A worker runs on one thread whatever the options read now say (a
    // worker restarted after the config file changed is still a worker).
    let mut runtime = match worker {
        Some(_) => tokio::runtime::Builder::new_current_thread(),
        None => runtime_builder(args)?,
    };
    notify::connect();
    // The sandbox's rules open their paths as root; the seccomp filter
    // allows the calls of the drop that follows.
    let sandbox = sandbox::apply(args, &settings)?;
    if let Some(run_as) = &run_as {
        run_as.drop_privileges()?;
        if let Some(worker) = &worker {
            worker.watch_supervisor_again()?;
        }
        // Checked as root above, where every directory passes.
        check_served_dirs(&settings).map_err(located)?;
    }
    let runtime = runtime
        .enable_all()
        .max_blocking_threads(settings.server.config().blocking_threads_needed())
        .build()
        .context("starting the runtime")?;
    let reloader = reload::Reloader::new(argv, args.clone(), settings.clone(), sandbox, log);
    runtime.block_on(serve(
        settings,
        listeners,
        admin,
        reloader,
        pidfile.as_mut(),
        worker.as_ref(),
    ))
}

/// The served directories, checked again with the credentials the server
/// now has (after `--run-as`): each must be readable and searchable.
fn check_served_dirs(settings: &settings::Settings) -> Result<()> {
    let mut dirs: Vec<std::path::PathBuf> =
        settings.roots.iter().map(|(dir, _)| dir.clone()).collect();
    if let Some(users) = &settings.users_file {
        dirs.extend(sandbox::users_file_dirs(users.path())?);
    }
    for dir in dirs {
        preflight::served_dir(&dir)
            .map_err(|e| anyhow::anyhow!("--run-as: served directory {e}"))?;
    }
    Ok(())
}

/// The runtime of `--concurrency` and `--threads`.
fn runtime_builder(args: &Args) -> Result<tokio::runtime::Builder> {
    use args::Concurrency;
    match (
        args.concurrency.unwrap_or(Concurrency::MultiThread),
        args.threads,
    ) {
        (Concurrency::Async, Some(_)) => {
            anyhow::bail!("--threads is for --concurrency multi-thread (async runs on one thread)")
        }
        (Concurrency::Async, None) => {
            tracing::info!("concurrency: async, every session on one thread");
            Ok(tokio::runtime::Builder::new_current_thread())
        }
        // Not reached: the supervisor runs its own runtime, and a worker
        // is given one thread in `run`.
        (Concurrency::MultiProc, _) => Ok(tokio::runtime::Builder::new_current_thread()),
        (Concurrency::MultiThread, threads) => {
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = threads.map(usize::from).or_else(worker_threads) {
                runtime.worker_threads(n);
                tracing::info!("concurrency: multi-thread, {n} threads");
            }
            Ok(runtime)
        }
    }
}

/// tokio's default number of workers, one per CPU the process may use,
/// counted before the sandbox: the standard library reads the cgroup's
/// CPU quota from /proc and /sys, which the sandbox closes. `None` leaves
/// it to tokio (`TOKIO_WORKER_THREADS`).
fn worker_threads() -> Option<usize> {
    if std::env::var_os("TOKIO_WORKER_THREADS").is_some() {
        return None;
    }
    std::thread::available_parallelism().ok().map(|n| n.get())
}

/// The listening sockets, bound before the runtime starts and handed to it
/// once it runs.
struct Listeners {
    control: std::net::TcpListener,
    implicit_tls: Option<std::net::TcpListener>,
    metrics: Option<std::net::TcpListener>,
}

impl Listeners {
    /// Errors name the flag of the address (`--port: cannot listen on
    /// [::]:21: ...`).
    fn bind(settings: &settings::Settings) -> Result<Listeners> {
        let listen = settings.listen;
        let control = match ferroftpd::bind_std(listen) {
            Ok(l) => l,
            // No IPv6 on this host: the default "all interfaces" falls back to IPv4.
            Err(_) if listen.ip().is_unspecified() && listen.is_ipv6() => {
                let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, listen.port()));
                ferroftpd::bind_std(v4)
                    .map_err(|e| preflight::listen_error("--port", "--interface", v4, &e))?
            }
            Err(e) => return Err(preflight::listen_error("--port", "--interface", listen, &e)),
        };
        let implicit_tls = settings
            .implicit_tls_listen
            .map(|addr| {
                ferroftpd::bind_std(addr).map_err(|e| {
                    preflight::listen_error("--tls-implicit-port", "--interface", addr, &e)
                })
            })
            .transpose()?;
        let metrics = settings
            .metrics_address
            .map(|addr| {
                ferroftpd::bind_std(addr).map_err(|e| {
                    preflight::listen_error("--metrics-address", "--metrics-address", addr, &e)
                })
            })
            .transpose()?;
        Ok(Listeners {
            control,
            implicit_tls,
            metrics,
        })
    }
}

async fn serve(
    settings: settings::Settings,
    listeners: Listeners,
    admin: Option<admin::Bound>,
    mut reloader: reload::Reloader,
    pidfile: Option<&mut pidfile::PidFile>,
    worker: Option<&multiproc::Worker>,
) -> Result<()> {
    // Registered before the listening line and the pid file's id, so a
    // SIGHUP sent once the server is up never hits the default action
    // (exit).
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    if let Some(pidfile) = pidfile {
        pidfile.write_pid()?;
    }
    // Likewise, so that a stop right after READY=1 (systemd) or the
    // listening line shuts down cleanly rather than killing the process.
    let mut shutdown = shutdown_signals(worker.is_some())?;
    // Reloads come from SIGHUP and from the admin API (which waits for
    // the outcome); one at a time, in the order asked.
    let (reloads, mut asked) = tokio::sync::mpsc::channel::<Option<ReloadReply>>(8);
    let on_hup = reloads.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            if on_hup.send(None).await.is_err() {
                return;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(reply) = asked.recv().await {
            notify::reloading();
            // Reads files and may resolve a name: off the runtime's
            // threads. One reload at a time; signals that come meanwhile
            // make one more.
            let result = tokio::task::spawn_blocking(move || {
                let result = reloader.reload();
                (reloader, result)
            })
            .await;
            match result {
                Ok((back, outcome)) => {
                    reloader = back;
                    let answer = match outcome {
                        Ok(()) => {
                            tracing::info!("configuration reloaded");
                            notify::ready();
                            Ok(())
                        }
                        Err(e) => {
                            tracing::error!(
                                "configuration not reloaded, keeping the old settings: {e:#}"
                            );
                            notify::reload_failed(format_args!("{e:#}"));
                            Err(format!("{e:#}"))
                        }
                    };
                    if let Some(reply) = reply {
                        let _ = reply.send(answer);
                    }
                }
                Err(e) => {
                    tracing::error!("reload failed, no more reloads until restart: {e}");
                    notify::reload_failed(&e);
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(format!("reload failed: {e}")));
                    }
                    return;
                }
            }
        }
    });
    let listener = tokio::net::TcpListener::from_std(listeners.control)?;
    // Logged before the main listener's line, which says the server is
    // ready.
    let implicit = match listeners.implicit_tls {
        Some(implicit) => {
            let implicit = tokio::net::TcpListener::from_std(implicit)?;
            if worker.is_none() {
                tracing::info!("implicit FTPS on {}", implicit.local_addr()?);
            }
            Some(implicit)
        }
        None => None,
    };
    let addr = listener.local_addr()?;
    let config = settings.server.config();
    match worker {
        // The supervisor says "listening" once every worker serves.
        Some(worker) => {
            worker.limits.start().context("the supervisor's stream")?;
            tracing::info!(
                worker = worker.index,
                pid = std::process::id(),
                "worker serving on {addr}"
            );
            // Connections wait in the listener's queue until `serve` below
            // accepts them: ready now is ready.
            let _ = worker.limits.ready();
        }
        None => {
            let passive_ports = config
                .passive_ports()
                .map_or_else(|| "any".to_owned(), |p| p.to_string());
            let masquerade = config
                .masquerade_address()
                .map_or_else(|| "none".to_owned(), |a| a.to_string());
            tracing::info!(
                pid = std::process::id(),
                passive_ports = %passive_ports,
                masquerade = %masquerade,
                "listening on {addr}"
            );
            notify::listening(addr);
        }
    }
    if let Some(metrics_listener) = listeners.metrics {
        let metrics_listener = tokio::net::TcpListener::from_std(metrics_listener)?;
        tracing::info!(
            "metrics on http://{}/metrics",
            metrics_listener.local_addr()?
        );
        tokio::spawn(ferroftpd::metrics::serve(
            settings.server.clone(),
            metrics_listener,
        ));
    }
    if let Some(admin) = admin {
        admin::spawn(admin, &settings, addr, move || {
            let reloads = reloads.clone();
            Box::pin(async move {
                let (reply, answer) = tokio::sync::oneshot::channel();
                let stopped = || "reloading has stopped; restart the server".to_owned();
                reloads.send(Some(reply)).await.map_err(|_| stopped())?;
                answer.await.map_err(|_| stopped())?
            })
        })?;
    }
    let server = settings.server.clone();
    match worker {
        None => {
            tokio::spawn(async move {
                shutdown.recv().await;
                tracing::info!(sessions = server.session_count(), "shutting down");
                notify::stopping();
                server.abort();
            });
        }
        Some(worker) => {
            // Registered now: SIGUSR1's default action is to exit.
            use tokio::signal::unix::{signal, SignalKind};
            let close_now = signal(SignalKind::user_defined1()).context("SIGUSR1 handler")?;
            tokio::spawn(drain(server, shutdown, close_now, worker.limits.closed()));
        }
    }
    match implicit {
        None => settings.server.serve(listener).await?,
        Some(implicit) => {
            tokio::try_join!(
                settings.server.serve(listener),
                settings.server.serve_implicit_tls(implicit)
            )?;
        }
    }
    Ok(())
}

/// Where the admin API hears the outcome of the reload it asked for.
type ReloadReply = tokio::sync::oneshot::Sender<Result<(), String>>;

/// SIGINT or SIGTERM: their handlers are registered at once, each
/// signal is one item of the stream. A multi-proc worker hears SIGTERM
/// only: its supervisor sends it, while SIGINT from a terminal reaches the
/// whole process group, supervisor included, and is left to it.
fn shutdown_signals(worker: bool) -> Result<tokio::sync::mpsc::UnboundedReceiver<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let got = tokio::select! {
                got = term.recv() => got,
                got = int.recv(), if !worker => got,
            };
            if got.is_none() || tx.send(()).is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

/// A multi-proc worker's stop, on SIGTERM or when its supervisor is gone:
/// it stops accepting, closes idle sessions and lets transfers in progress
/// finish ([`ferroftpd::Server::drain`]), for at most
/// [`multiproc::DRAIN_GRACE`] or until SIGUSR1, then closes the sessions
/// left. More SIGTERMs change nothing: under systemd (`KillMode=` its
/// default, control-group) every worker gets one from systemd and one from
/// the supervisor.
async fn drain(
    server: ferroftpd::Server,
    mut signals: tokio::sync::mpsc::UnboundedReceiver<()>,
    mut close_now: tokio::signal::unix::Signal,
    supervisor_gone: tokio_util::sync::CancellationToken,
) {
    tokio::select! {
        _ = signals.recv() => {}
        () = supervisor_gone.cancelled() => tracing::warn!("the supervisor is gone"),
    }
    tracing::info!(
        sessions = server.session_count(),
        "worker stopping: no new connections; transfers in progress may finish for {:?}",
        multiproc::DRAIN_GRACE
    );
    server.drain();
    tokio::select! {
        () = tokio::time::sleep(multiproc::DRAIN_GRACE) => {}
        _ = close_now.recv() => {}
    }
    if server.session_count() > 0 {
        tracing::info!(
            sessions = server.session_count(),
            "closing the sessions left"
        );
    }
    server.abort();
}

/// Each session needs a descriptor or two: use all the process may have.
fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

mod hash_password {
    //! `ferroftpd hash-password`: a hash for the users file.

    use std::io::{BufRead, IsTerminal, Write};
    use std::os::fd::AsFd;

    use anyhow::{bail, Context, Result};
    use ferroftpd::auth::HashScheme;

    pub fn run(scheme: HashScheme) -> Result<()> {
        let stdin = std::io::stdin();
        let password = if stdin.is_terminal() {
            let first = read_hidden("Password: ")?;
            let again = read_hidden("Again: ")?;
            if first != again {
                bail!("the passwords differ");
            }
            first
        } else {
            let mut line = String::new();
            stdin
                .lock()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            line.trim_end_matches(['\n', '\r']).to_owned()
        };
        if password.is_empty() {
            bail!("empty password");
        }
        let hash = ferroftpd::auth::hash_password(scheme, &password)
            .map_err(|e| anyhow::anyhow!("hashing with {scheme}: {e}"))?;
        println!("{hash}");
        Ok(())
    }

    /// Reads a line from the terminal on standard input with echo off.
    fn read_hidden(prompt: &str) -> Result<String> {
        use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        eprint!("{prompt}");
        std::io::stderr().flush().ok();
        let saved = tcgetattr(fd).context("reading terminal settings")?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        quiet.local_modes.insert(LocalModes::ECHONL);
        tcsetattr(fd, OptionalActions::Flush, &quiet).context("turning echo off")?;
        let mut line = String::new();
        let read = stdin.lock().read_line(&mut line);
        let _ = tcsetattr(fd, OptionalActions::Flush, &saved);
        read.context("reading the password")?;
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    }
}
