//! systemd's readiness protocol, as systemd sees it: a Unix datagram
//! socket stands in for systemd's, the real binary runs with
//! `NOTIFY_SOCKET` naming it, and the messages are read from it: `READY=1`
//! once the server accepts connections, `STOPPING=1` on SIGTERM. With the
//! sandbox on (the default), for a socket path and for an abstract socket
//! (`@name`), and with the sandbox off.

// The helpers outside the #[test] functions unwrap too: a failure is the
// test's.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Longer than any start or stop of the server should take, even on a
/// loaded machine.
const WAIT: Duration = Duration::from_secs(30);

/// The stand-in for systemd's socket, and the `NOTIFY_SOCKET` value that
/// names it.
struct Systemd {
    socket: UnixDatagram,
    address: String,
    _dir: tempfile::TempDir,
}

impl Systemd {
    fn at_path() -> Systemd {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        Systemd::new(socket, path.to_str().unwrap().to_owned(), dir)
    }

    fn abstract_name() -> Systemd {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("ferroftpd-test-{}-{}", std::process::id(), unique_number());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
        let socket = UnixDatagram::bind_addr(&address).unwrap();
        Systemd::new(socket, format!("@{name}"), tempfile::tempdir().unwrap())
    }

    fn new(socket: UnixDatagram, address: String, dir: tempfile::TempDir) -> Systemd {
        socket.set_read_timeout(Some(WAIT)).unwrap();
        Systemd {
            socket,
            address,
            _dir: dir,
        }
    }

    /// The next message, as its lines.
    fn receive(&self, server: &mut Child) -> Vec<String> {
        let mut buf = [0; 4096];
        match self.socket.recv(&mut buf) {
            Ok(n) => String::from_utf8_lossy(&buf[..n])
                .lines()
                .map(str::to_owned)
                .collect(),
            Err(e) => {
                let _ = server.kill();
                panic!("no notification within {WAIT:?}: {e}");
            }
        }
    }
}

/// Tells two abstract names of the same process apart.
fn unique_number() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Starts the server with `NOTIFY_SOCKET`, checks READY=1 and that the
/// server then answers, stops it with SIGTERM and checks STOPPING=1.
fn ready_then_stopping(systemd: &Systemd, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_ferroftpd"))
        .args(["-i", "127.0.0.1", "-p", "0", "-d"])
        .arg(dir.path())
        .args(extra)
        .env("NOTIFY_SOCKET", &systemd.address)
        .env_remove("FERROFTPD_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let ready = systemd.receive(&mut server);
    assert_eq!(ready[0], "READY=1", "{ready:?}");
    let status = ready
        .iter()
        .find_map(|l| l.strip_prefix("STATUS=Listening on "))
        .unwrap_or_else(|| panic!("no listening status in {ready:?}"));
    // Ready means ready: the greeting comes at once.
    let control = TcpStream::connect(status).unwrap();
    control.set_read_timeout(Some(WAIT)).unwrap();
    let mut greeting = String::new();
    BufReader::new(&control).read_line(&mut greeting).unwrap();
    assert!(greeting.starts_with("220 "), "{greeting:?}");

    let pid = rustix::process::Pid::from_raw(server.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let stopping = systemd.receive(&mut server);
    assert_eq!(stopping[0], "STOPPING=1", "{stopping:?}");
    assert!(
        stopping.contains(&"STATUS=Shutting down".to_owned()),
        "{stopping:?}"
    );
    let output = server.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}\n{log}", output.status);
    assert!(!log.contains("NOTIFY_SOCKET"), "{log}");
    if !extra.contains(&"--no-sandbox") {
        assert!(
            log.contains("sandbox: landlock"),
            "the sandbox was not on:\n{log}"
        );
    }
}

#[test]
fn ready_and_stopping_reach_a_socket_path_through_the_sandbox() {
    ready_then_stopping(&Systemd::at_path(), &[]);
}

#[test]
fn ready_and_stopping_reach_an_abstract_socket_through_the_sandbox() {
    ready_then_stopping(&Systemd::abstract_name(), &[]);
}

#[test]
fn ready_and_stopping_without_the_sandbox() {
    ready_then_stopping(&Systemd::at_path(), &["--no-sandbox"]);
}

/// The supervisor says READY=1 once both workers serve (the greeting comes
/// at once), and it alone talks to systemd: the message after READY=1 is
/// its STOPPING=1, not a worker's READY=1.
#[test]
fn multi_proc_is_ready_when_its_workers_serve() {
    ready_then_stopping(
        &Systemd::at_path(),
        &["--concurrency", "multi-proc", "--workers", "2"],
    );
}

#[test]
fn an_unreachable_socket_is_reported_and_the_server_runs_on() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("gone");
    let mut server = Command::new(env!("CARGO_BIN_EXE_ferroftpd"))
        .args(["-i", "127.0.0.1", "-p", "0", "-d"])
        .arg(dir.path())
        .env("NOTIFY_SOCKET", &missing)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(server.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("listening on") {
        let mut line = String::new();
        if log.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(seen.contains("listening on"), "{seen}");
    let warning = seen
        .lines()
        .find(|l| l.contains("NOTIFY_SOCKET="))
        .unwrap_or_else(|| panic!("no warning:\n{seen}"));
    assert!(
        warning.contains(missing.to_str().unwrap())
            && warning.contains("cannot connect")
            && warning.contains("systemd will not hear"),
        "{warning}"
    );
}

#[test]
fn a_reload_says_reloading_then_ready_and_a_failed_one_says_why() {
    let systemd = Systemd::at_path();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferroftpd.toml");
    std::fs::write(&config, "max_cons = 10\n").unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_ferroftpd"))
        .args(["-i", "127.0.0.1", "-p", "0", "-d"])
        .arg(dir.path())
        .arg("--config")
        .arg(&config)
        .env("NOTIFY_SOCKET", &systemd.address)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = systemd.receive(&mut server);
    assert_eq!(ready[0], "READY=1", "{ready:?}");
    let pid = rustix::process::Pid::from_raw(server.id() as i32).unwrap();
    let signal = |signal| rustix::process::kill_process(pid, signal).unwrap();

    signal(rustix::process::Signal::HUP);
    let reloading = systemd.receive(&mut server);
    assert_eq!(reloading[0], "RELOADING=1", "{reloading:?}");
    assert!(reloading[1].starts_with("MONOTONIC_USEC="), "{reloading:?}");
    assert_eq!(
        systemd.receive(&mut server),
        ready,
        "ready again, same status"
    );

    std::fs::write(&config, "max_cons = \"many\"\n").unwrap();
    signal(rustix::process::Signal::HUP);
    assert_eq!(systemd.receive(&mut server)[0], "RELOADING=1");
    let failed = systemd.receive(&mut server);
    assert_eq!(failed[0], "READY=1", "{failed:?}");
    assert!(
        failed[1].contains("; reload failed, old settings kept: ")
            && failed[1].contains("max_cons"),
        "{failed:?}"
    );

    signal(rustix::process::Signal::TERM);
    assert_eq!(systemd.receive(&mut server)[0], "STOPPING=1");
    assert!(server.wait().unwrap().success());
}
