//! systemd's readiness protocol (sd_notify(3)), written out rather than
//! linked: one datagram of `KEY=VALUE` lines to the Unix socket named by
//! `$NOTIFY_SOCKET` (a path, or an abstract name written with a leading
//! `@`). With `Type=notify` (packaging/systemd/ferroftpd.service) systemd
//! waits for `READY=1` before it starts the units ordered after the server,
//! shows `STATUS=` in `systemctl status`, and knows a reload or a stop is
//! under way from `RELOADING=1` and `STOPPING=1`.
//!
//! The socket is connected by [`connect`] before the sandbox applies
//! (`main.rs`), and kept: afterwards the server only sends on it, which the
//! seccomp filter allows (`sendto`), and Landlock lets a connected datagram
//! socket reach its peer even when the peer is an abstract socket outside
//! the sandbox. Without `$NOTIFY_SOCKET` every function here does nothing.

use std::ffi::OsStr;
use std::fmt::Display;
use std::os::unix::net::UnixDatagram;
use std::sync::{Mutex, OnceLock};

/// The variable systemd sets for a `Type=notify` service.
const VARIABLE: &str = "NOTIFY_SOCKET";

/// What `STATUS=` says until the server listens.
const STARTING: &str = "Starting";

static NOTIFIER: OnceLock<Notifier> = OnceLock::new();

/// Connects to `$NOTIFY_SOCKET`, if it is set, and removes it from the
/// environment so that no process started later (a PAM helper) talks to
/// systemd in the server's name. A socket that cannot be reached is
/// logged and otherwise ignored: the server runs, and systemd, which
/// hears nothing, reports the start as timed out.
pub fn connect() {
    let Some(value) = std::env::var_os(VARIABLE) else {
        return;
    };
    // Before the runtime starts: no other thread reads the environment.
    std::env::remove_var(VARIABLE);
    match Notifier::connect(&value) {
        Ok(notifier) => {
            tracing::debug!(socket = %value.to_string_lossy(), "systemd notification socket");
            let _ = NOTIFIER.set(notifier);
        }
        Err(e) => tracing::warn!(
            "{VARIABLE}={}: {e}; systemd will not hear that the server is ready",
            value.to_string_lossy()
        ),
    }
}

/// The server listens on `address`: `READY=1`, and a status that says
/// where.
pub fn listening(address: impl Display) {
    if let Some(n) = NOTIFIER.get() {
        n.listening(address);
    }
}

/// The server is ready again, after a reload: `READY=1`, and the status
/// of [`listening`] back.
pub fn ready() {
    if let Some(n) = NOTIFIER.get() {
        n.ready();
    }
}

/// A reload (SIGHUP) starts: `RELOADING=1`, with the time systemd needs to
/// tell this reload from an earlier one. [`ready`] or [`reload_failed`]
/// ends it.
pub fn reloading() {
    if let Some(n) = NOTIFIER.get() {
        n.reloading();
    }
}

/// The server is shutting down: `STOPPING=1`.
pub fn stopping() {
    if let Some(n) = NOTIFIER.get() {
        n.send(&[("STOPPING", "1"), ("STATUS", "Shutting down")]);
    }
}

/// A reload failed and the old settings stay: `READY=1` (the server
/// serves on), with a status that says why, until the next reload.
pub fn reload_failed(error: impl Display) {
    if let Some(n) = NOTIFIER.get() {
        n.reload_failed(error);
    }
}

/// CLOCK_MONOTONIC in microseconds, as systemd counts it.
fn monotonic_usec() -> u128 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    now.tv_sec as u128 * 1_000_000 + now.tv_nsec as u128 / 1_000
}

/// The connected socket, and the status to show while serving.
#[derive(Debug)]
struct Notifier {
    socket: UnixDatagram,
    serving: Mutex<String>,
}

impl Notifier {
    fn connect(value: &OsStr) -> Result<Notifier, String> {
        let socket = UnixDatagram::unbound().map_err(|e| format!("cannot make a socket: {e}"))?;
        let bytes = value.as_encoded_bytes();
        match bytes.first() {
            Some(b'/') => socket.connect(value),
            Some(b'@') => connect_abstract(&socket, &bytes[1..]),
            _ if bytes.starts_with(b"vsock:") => {
                return Err("AF_VSOCK notification sockets are not supported".into())
            }
            _ => return Err("expected an absolute path or an abstract name (@NAME)".into()),
        }
        .map_err(|e| format!("cannot connect: {e}"))?;
        // A full queue drops the message rather than stalling the thread
        // that sends it (a runtime worker).
        socket
            .set_nonblocking(true)
            .map_err(|e| format!("cannot make the socket non-blocking: {e}"))?;
        Ok(Notifier {
            socket,
            serving: Mutex::new(STARTING.to_owned()),
        })
    }

    fn listening(&self, address: impl Display) {
        if let Ok(mut serving) = self.serving.lock() {
            *serving = format!("Listening on {address}");
        }
        self.ready();
    }

    fn ready(&self) {
        self.send(&[("READY", "1"), ("STATUS", &self.serving())]);
    }

    fn reload_failed(&self, error: impl Display) {
        let status = format!(
            "{}; reload failed, old settings kept: {error}",
            self.serving()
        );
        self.send(&[("READY", "1"), ("STATUS", &status)]);
    }

    fn reloading(&self) {
        self.send(&[
            ("RELOADING", "1"),
            // systemd 253 and later match the reload to its request by it.
            ("MONOTONIC_USEC", &monotonic_usec().to_string()),
            ("STATUS", "Reloading"),
        ]);
    }

    fn serving(&self) -> String {
        self.serving
            .lock()
            .map_or_else(|_| STARTING.to_owned(), |s| s.clone())
    }

    fn send(&self, fields: &[(&str, &str)]) {
        let message = message(fields);
        if let Err(e) = self.socket.send(message.as_bytes()) {
            tracing::debug!("{VARIABLE}: not sent ({e}): {message:?}");
        }
    }
}

#[cfg(target_os = "linux")]
fn connect_abstract(socket: &UnixDatagram, name: &[u8]) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    socket.connect_addr(&address)
}

#[cfg(not(target_os = "linux"))]
fn connect_abstract(_: &UnixDatagram, _: &[u8]) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract sockets exist on Linux only",
    ))
}

/// The datagram: one `KEY=VALUE` line per field. A line break in a value
/// would start another assignment, so it becomes a space.
fn message(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(key, value)| format!("{key}={}\n", value.replace(['\n', '\r'], " ")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A notifier sending to one end of a socket pair, and the other end.
    fn pair() -> (Notifier, UnixDatagram) {
        let (ours, systemd) = UnixDatagram::pair().unwrap();
        let notifier = Notifier {
            socket: ours,
            serving: Mutex::new(STARTING.to_owned()),
        };
        systemd
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        (notifier, systemd)
    }

    fn receive(socket: &UnixDatagram) -> String {
        let mut buf = [0; 1024];
        let n = socket.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn messages_are_lines_of_assignments_without_stray_line_breaks() {
        assert_eq!(
            message(&[("READY", "1"), ("STATUS", "two\nlines\r")]),
            "READY=1\nSTATUS=two lines \n"
        );
    }

    #[test]
    fn a_reload_is_announced_with_the_monotonic_time() {
        let (notifier, systemd) = pair();
        let before = monotonic_usec();
        notifier.reloading();
        let text = receive(&systemd);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "RELOADING=1", "{text}");
        let usec: u128 = lines[1]
            .strip_prefix("MONOTONIC_USEC=")
            .unwrap_or_else(|| panic!("{text}"))
            .parse()
            .unwrap();
        assert!(usec >= before && usec < before + 60_000_000, "{text}");
        assert_eq!(lines[2], "STATUS=Reloading");
    }

    #[test]
    fn ready_after_a_reload_repeats_the_listening_status() {
        let (notifier, systemd) = pair();
        notifier.listening("127.0.0.1:21");
        let ready = "READY=1\nSTATUS=Listening on 127.0.0.1:21\n";
        assert_eq!(receive(&systemd), ready);
        notifier.reloading();
        assert!(receive(&systemd).starts_with("RELOADING=1\n"));
        notifier.ready();
        assert_eq!(receive(&systemd), ready);
        notifier.reloading();
        assert!(receive(&systemd).starts_with("RELOADING=1\n"));
        notifier.reload_failed("x.toml:4: max_cons: bad\nvalue");
        assert_eq!(
            receive(&systemd),
            "READY=1\nSTATUS=Listening on 127.0.0.1:21; reload failed, old settings kept: \
             x.toml:4: max_cons: bad value\n"
        );
    }

    #[test]
    fn bad_socket_addresses_are_refused_with_a_reason() {
        for (value, reason) in [
            ("relative/path", "expected an absolute path"),
            ("", "expected an absolute path"),
            ("vsock:2:1234", "AF_VSOCK"),
            ("/nonexistent/ferroftpd-notify", "cannot connect"),
        ] {
            let e = Notifier::connect(OsStr::new(value)).unwrap_err();
            assert!(e.contains(reason), "{value:?}: {e}");
        }
    }
}
