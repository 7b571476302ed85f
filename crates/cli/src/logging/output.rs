//! Where log lines go: standard error, a file that SIGHUP reopens (after
//! logrotate has renamed it), or the local syslog socket.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// syslog(3)'s `LOG_DAEMON`.
const FACILITY_DAEMON: u8 = 3;

/// A log destination shared by the layers that write to it. Cheap to clone.
#[derive(Clone)]
pub enum Output {
    Stderr,
    File(Reopenable),
    Syslog(Arc<Syslog>),
}

impl Output {
    /// A file opened for appending (created if missing).
    pub fn file(path: &Path) -> Result<Output> {
        Ok(Output::File(Reopenable {
            path: path.to_path_buf(),
            file: Arc::new(RwLock::new(Arc::new(open_append(path)?))),
        }))
    }

    /// The syslog socket at `path` (`/dev/log`; journald listens there
    /// too under systemd), connected now: the sandbox comes later.
    pub fn syslog(path: &Path) -> Result<Output> {
        let socket = UnixDatagram::unbound().context("syslog socket")?;
        socket
            .connect(path)
            .with_context(|| format!("--syslog-socket {}: cannot connect", path.display()))?;
        Ok(Output::Syslog(Arc::new(Syslog {
            path: path.to_path_buf(),
            socket: RwLock::new(socket),
            tag: format!("ferroftpd[{}]", std::process::id()),
        })))
    }

    /// Opens a file output's path again, for logrotate: the old file was
    /// renamed or removed and lines must go to a new one by that name.
    pub fn reopen(&self) -> Result<()> {
        match self {
            Output::File(file) => file.reopen(),
            Output::Stderr | Output::Syslog(_) => Ok(()),
        }
    }
}

/// A log file and its path.
#[derive(Clone)]
pub struct Reopenable {
    path: PathBuf,
    file: Arc<RwLock<Arc<File>>>,
}

impl Reopenable {
    fn reopen(&self) -> Result<()> {
        let file = open_append(&self.path)?;
        *self.file.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(file);
        Ok(())
    }

    fn current(&self) -> Arc<File> {
        self.file.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn open_append(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("log file {}", path.display()))
}

/// The local syslog daemon's datagram socket.
pub struct Syslog {
    path: PathBuf,
    socket: RwLock<UnixDatagram>,
    tag: String,
}

impl Syslog {
    /// Sends one line as an RFC 3164 message, `<PRI>TAG[PID]: text`,
    /// without a timestamp (the daemon stamps the time it receives it, as
    /// for Python's SysLogHandler). If the daemon was restarted the socket
    /// is connected again once; a line that still cannot be sent is lost,
    /// as syslog(3) loses it.
    fn send(&self, level: Level, text: &[u8]) {
        let text = String::from_utf8_lossy(text);
        let text = text.trim_end_matches(['\n', '\r']);
        let message = format!("<{}>{}: {text}", priority(level), self.tag);
        let sent = self
            .socket
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .send(message.as_bytes());
        if sent.is_err() {
            if let Ok(socket) = UnixDatagram::unbound() {
                if socket.connect(&self.path).is_ok() {
                    let _ = socket.send(message.as_bytes());
                    *self.socket.write().unwrap_or_else(|e| e.into_inner()) = socket;
                }
            }
        }
    }
}

/// `LOG_DAEMON` with the severity of `level`.
fn priority(level: Level) -> u8 {
    let severity = match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    };
    FACILITY_DAEMON * 8 + severity
}

/// One event's writer: the layer formats the whole line, then writes it
/// once, so that lines from different threads never interleave.
pub enum LineWriter {
    Stderr(io::Stderr),
    File(Arc<File>),
    Syslog {
        syslog: Arc<Syslog>,
        level: Level,
        line: Vec<u8>,
    },
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            LineWriter::Stderr(e) => e.write(buf),
            LineWriter::File(f) => (&**f).write(buf),
            LineWriter::Syslog { line, .. } => {
                line.extend_from_slice(buf);
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            LineWriter::Stderr(e) => e.flush(),
            LineWriter::File(_) | LineWriter::Syslog { .. } => Ok(()),
        }
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if let LineWriter::Syslog {
            syslog,
            level,
            line,
        } = self
        {
            if !line.is_empty() {
                syslog.send(*level, line);
            }
        }
    }
}

impl Output {
    fn writer(&self, level: Level) -> LineWriter {
        match self {
            Output::Stderr => LineWriter::Stderr(io::stderr()),
            Output::File(file) => LineWriter::File(file.current()),
            Output::Syslog(syslog) => LineWriter::Syslog {
                syslog: syslog.clone(),
                level,
                line: Vec::new(),
            },
        }
    }
}

impl<'a> MakeWriter<'a> for Output {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        self.writer(Level::INFO)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LineWriter {
        self.writer(*meta.level())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_are_the_daemon_facilitys() {
        assert_eq!(priority(Level::ERROR), 27);
        assert_eq!(priority(Level::WARN), 28);
        assert_eq!(priority(Level::INFO), 30);
        assert_eq!(priority(Level::DEBUG), 31);
    }

    #[test]
    fn a_syslog_line_is_one_datagram_per_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let daemon = UnixDatagram::bind(&path).unwrap();
        let output = Output::syslog(&path).unwrap();
        let mut writer = output.make_writer();
        writer.write_all(b"hello ").unwrap();
        writer.write_all(b"world\n").unwrap();
        drop(writer);
        let mut buf = [0; 256];
        let n = daemon.recv(&mut buf).unwrap();
        let got = std::str::from_utf8(&buf[..n]).unwrap();
        let want = format!("<30>ferroftpd[{}]: hello world", std::process::id());
        assert_eq!(got, want);
    }

    #[test]
    fn a_reopened_file_is_a_new_file_by_the_old_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferroftpd.log");
        let output = Output::file(&path).unwrap();
        output.make_writer().write_all(b"one\n").unwrap();
        std::fs::rename(&path, dir.path().join("ferroftpd.log.1")).unwrap();
        output.make_writer().write_all(b"two\n").unwrap();
        output.reopen().unwrap();
        output.make_writer().write_all(b"three\n").unwrap();
        let old = std::fs::read_to_string(dir.path().join("ferroftpd.log.1")).unwrap();
        assert_eq!(old, "one\ntwo\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
    }
}
