//! The Rust `suppaftp` client (sync API, no TLS) against the real `ferroftpd`
//! binary: a real process on loopback, started with `-p 0` and `-D`, its port
//! read from the `listening on ADDR:PORT` line of its stderr.
//!
//! Each test starts its own server on a fresh temporary directory. The
//! [`Server`] guard kills the process when it goes out of scope, panics
//! included, and prints the server's log (every command and reply) when the
//! test failed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use suppaftp::list::File as ListEntry;
use suppaftp::types::FileType;
use suppaftp::{FtpError, FtpStream, Mode};

const USER: &str = "user";
const PASSWORD: &str = "12345";
const UNICODE_NAME: &str = "été naïve.txt";
const UNICODE_DIR: &str = "dossier à accents";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The account of `--storage memory` servers.
const MEMORY_USER: &str = "alice";
const MEMORY_PASSWORD: &str = "pw";

/// A running ferroftpd process, killed (by its PID) on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    dir: tempfile::TempDir,
    /// The account [`Server::connect`] logs in with.
    login: (&'static str, &'static str),
}

impl Server {
    /// Serves `root` (a fresh directory) to the standard user.
    fn start() -> Self {
        Self::spawn((USER, PASSWORD), |command, root| {
            command
                .arg("-d")
                .arg(root)
                .args(["--user", &format!("{USER}:{PASSWORD}:elradfmwMT")]);
        })
    }

    /// `ferroftpd --storage memory -u alice -P pw -w`, run in `root` (a
    /// fresh directory), which must stay empty.
    fn start_memory() -> Self {
        Self::spawn((MEMORY_USER, MEMORY_PASSWORD), |command, root| {
            command.current_dir(root).args([
                "--storage",
                "memory",
                "-u",
                MEMORY_USER,
                "-P",
                MEMORY_PASSWORD,
                "-w",
            ]);
        })
    }

    /// Starts the binary with the options `configure` adds, on loopback.
    fn spawn(
        login: (&'static str, &'static str),
        configure: impl FnOnce(&mut Command, &Path),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_ferroftpd"));
        configure(&mut command, &root);
        let mut child = command
            .args([
                "--auth-failed-delay",
                "0",
                "-i",
                "127.0.0.1",
                "-p",
                "0",
                "-D",
            ])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ferroftpd");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        {
            let log = Arc::clone(&log);
            // Drains stderr until the server exits, so that it never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut tx = Some(tx);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(addr) = listen_addr(&line) {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(addr);
                        }
                    }
                    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        // Built before waiting, so that the guard kills the child if the wait fails.
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            dir,
            login,
        };
        server.addr = rx.recv_timeout(STARTUP_TIMEOUT).unwrap_or_else(|_| {
            panic!(
                "ferroftpd did not log 'listening on ADDR:PORT' within {STARTUP_TIMEOUT:?}:\n{}",
                server.log()
            )
        });
        server
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The commands the server received (from its `-D` log), e.g. `"PASV"`.
    fn received(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|line| line.split_once(": <- ").map(|(_, cmd)| cmd.to_string()))
            .collect()
    }

    fn received_command(&self, verb: &str) -> bool {
        self.received()
            .iter()
            .any(|cmd| cmd == verb || cmd.starts_with(&format!("{verb} ")))
    }

    /// Connects and logs in as the server's user.
    fn connect(&self, mode: Mode) -> FtpStream {
        let mut ftp = FtpStream::connect_timeout(self.addr, IO_TIMEOUT).expect("connect");
        {
            let control = ftp.get_ref();
            control.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            control.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        }
        ftp.login(self.login.0, self.login.1).expect("login");
        ftp.set_mode(mode);
        ftp
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- ferroftpd log ({}) ---\n{}",
                self.addr,
                self.log.lock().unwrap_or_else(|e| e.into_inner())
            );
        }
    }
}

/// `... listening on 127.0.0.1:40123 pid=...` -> the address.
fn listen_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// Deterministic, incompressible test data.
fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        // xorshift64*
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        out.extend_from_slice(&seed.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn retr(ftp: &mut FtpStream, name: &str) -> Vec<u8> {
    ftp.retr_as_buffer(name)
        .unwrap_or_else(|e| panic!("RETR {name}: {e}"))
        .into_inner()
}

fn reply_code(err: &FtpError) -> Option<u32> {
    match err {
        FtpError::UnexpectedResponse(resp) => Some(resp.status.code()),
        _ => None,
    }
}

fn assert_refused<T: std::fmt::Debug>(result: Result<T, FtpError>, code: u32, what: &str) {
    match result {
        Err(e) => assert_eq!(reply_code(&e), Some(code), "{what}: {e}"),
        Ok(v) => panic!("{what}: expected a {code} refusal, got {v:?}"),
    }
}

fn read_file(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Everything a session does, in the given data-connection mode.
fn session_roundtrip(mode: Mode, data_command: &str) {
    let server = Server::start();
    let root = server.root();
    let mut ftp = server.connect(mode);
    assert!(
        ftp.get_welcome_msg()
            .unwrap_or_default()
            .contains("ferroftpd"),
        "{:?}",
        ftp.get_welcome_msg()
    );
    assert_eq!(ftp.pwd().unwrap(), "/");
    ftp.transfer_type(FileType::Binary).unwrap();

    // mkdir + cwd into a directory with spaces and accents
    ftp.mkdir(UNICODE_DIR).unwrap();
    assert!(root.join(UNICODE_DIR).is_dir());
    ftp.cwd(UNICODE_DIR).unwrap();
    assert_eq!(ftp.pwd().unwrap(), format!("/{UNICODE_DIR}"));

    // upload (STOR) a binary file under a non-ASCII name
    let data = pseudo_random(3_000_000, 7);
    let sent = ftp.put_file(UNICODE_NAME, &mut data.as_slice()).unwrap();
    assert_eq!(sent, data.len() as u64);
    assert!(read_file(&root.join(UNICODE_DIR).join(UNICODE_NAME)) == data);
    std::fs::write(root.join(UNICODE_DIR).join("small.txt"), b"small\n").unwrap();
    std::fs::create_dir(root.join(UNICODE_DIR).join("sub dir")).unwrap();

    // listings: MLSD, LIST and NLST, parsed with suppaftp's own parsers
    let mlsd: Vec<ListEntry> = ftp
        .mlsd(None)
        .unwrap()
        .iter()
        .map(|line| ListEntry::try_from(line.as_str()).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect();
    let list: Vec<ListEntry> = ftp
        .list(None)
        .unwrap()
        .iter()
        .map(|line| ListEntry::try_from(line.as_str()).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect();
    for (form, entries) in [("MLSD", &mlsd), ("LIST", &list)] {
        let find = |name: &str| {
            entries
                .iter()
                .find(|e| e.name() == name)
                .unwrap_or_else(|| panic!("{form}: no {name:?} in {entries:?}"))
        };
        assert!(find(UNICODE_NAME).is_file(), "{form}");
        assert_eq!(find(UNICODE_NAME).size(), data.len(), "{form}");
        assert_eq!(find("small.txt").size(), 6, "{form}");
        assert!(find("sub dir").is_directory(), "{form}");
        assert_eq!(entries.len(), 3, "{form}: {entries:?}");
    }
    let mut nlst = ftp.nlst(None).unwrap();
    nlst.sort();
    assert_eq!(nlst, ["small.txt", "sub dir", UNICODE_NAME]);
    let mlst = ftp.mlst(Some(UNICODE_NAME)).unwrap();
    assert!(
        mlst.contains(&format!("size={};", data.len())),
        "MLST: {mlst}"
    );
    assert_eq!(ftp.size(UNICODE_NAME).unwrap(), data.len());
    ftp.mdtm(UNICODE_NAME).unwrap();

    // download (RETR)
    assert!(retr(&mut ftp, UNICODE_NAME) == data);

    // resumed download: REST + RETR
    for offset in [1, 1_234_567, data.len() - 1] {
        ftp.resume_transfer(offset).unwrap();
        let tail = retr(&mut ftp, UNICODE_NAME);
        assert!(
            tail == data[offset..],
            "REST {offset}: {} bytes",
            tail.len()
        );
    }

    // resumed upload: REST + STOR writes the rest after a partial file
    let path = root.join(UNICODE_DIR).join("partial.bin");
    std::fs::write(&path, &data[..777_777]).unwrap();
    ftp.resume_transfer(777_777).unwrap();
    ftp.put_file("partial.bin", &mut &data[777_777..]).unwrap();
    assert!(read_file(&path) == data, "REST 777777 + STOR");

    // APPE
    std::fs::write(&path, &data[..100]).unwrap();
    ftp.append_file("partial.bin", &mut &data[100..]).unwrap();
    assert!(read_file(&path) == data, "APPE");

    // rename (RNFR/RNTO), into another directory and to another non-ASCII name
    ftp.rename(UNICODE_NAME, "sub dir/renommé ü.bin").unwrap();
    assert!(!root.join(UNICODE_DIR).join(UNICODE_NAME).exists());
    assert!(read_file(&root.join(UNICODE_DIR).join("sub dir/renommé ü.bin")) == data);

    // delete, rmdir, cdup
    ftp.rm("sub dir/renommé ü.bin").unwrap();
    ftp.rm("partial.bin").unwrap();
    ftp.rm("small.txt").unwrap();
    ftp.rmdir("sub dir").unwrap();
    ftp.cdup().unwrap();
    assert_eq!(ftp.pwd().unwrap(), "/");
    ftp.rmdir(UNICODE_DIR).unwrap();
    assert!(!root.join(UNICODE_DIR).exists());
    assert!(ftp.nlst(None).unwrap().is_empty());
    ftp.quit().unwrap();

    // the data connections went the expected way
    assert!(
        server.received_command(data_command),
        "no {data_command} in {:?}",
        server.received()
    );
    for other in ["PASV", "EPSV", "PORT", "EPRT"] {
        if other != data_command {
            assert!(!server.received_command(other), "{other} sent");
        }
    }
    assert!(server.received_command("REST"));
    assert!(server.received_command("APPE"));
}

#[test]
fn passive_session() {
    session_roundtrip(Mode::Passive, "PASV");
}

#[test]
fn extended_passive_session() {
    session_roundtrip(Mode::ExtendedPassive, "EPSV");
}

#[test]
fn active_session() {
    session_roundtrip(Mode::Active, "PORT");
}

#[test]
fn ascii_upload_and_download() {
    let server = Server::start();
    let mut ftp = server.connect(Mode::Passive);
    // suppaftp sends LF as CRLF in ASCII mode; the server stores LF.
    ftp.transfer_type(FileType::Ascii(suppaftp::types::FormatControl::Default))
        .unwrap();
    ftp.put_file(UNICODE_NAME, &mut "ligne un\nligne été\n".as_bytes())
        .unwrap();
    assert_eq!(
        read_file(&server.root().join(UNICODE_NAME)),
        "ligne un\nligne été\n".as_bytes()
    );
    // ... and sends CRLF back (suppaftp leaves the received bytes alone).
    let mut wire = Vec::new();
    ftp.retr(UNICODE_NAME, |r| {
        r.read_to_end(&mut wire).map_err(FtpError::ConnectionError)
    })
    .unwrap();
    assert_eq!(wire, "ligne un\r\nligne été\r\n".as_bytes());
    ftp.quit().unwrap();
}

#[test]
fn refusals_keep_the_session_usable() {
    let server = Server::start();
    std::fs::create_dir(server.root().join("full")).unwrap();
    std::fs::write(server.root().join("full/f"), b"f").unwrap();

    let mut bad = FtpStream::connect_timeout(server.addr, IO_TIMEOUT).unwrap();
    assert_refused(bad.login(USER, "wrong"), 530, "wrong password");
    drop(bad);

    let mut ftp = server.connect(Mode::Passive);
    ftp.transfer_type(FileType::Binary).unwrap();
    assert_refused(ftp.retr_as_buffer("missing.txt"), 550, "RETR missing");
    assert_refused(ftp.rm("missing.txt"), 550, "DELE missing");
    assert_refused(ftp.rmdir("full"), 550, "RMD non-empty");
    assert_refused(ftp.cwd("missing"), 550, "CWD missing");
    assert_refused(ftp.mkdir("full"), 550, "MKD existing");
    let rnfr = ftp.rename("missing.txt", "x.txt");
    assert!(
        rnfr.as_ref().err().and_then(reply_code) == Some(550),
        "RNFR missing: {rnfr:?}"
    );
    // still usable
    assert_eq!(retr(&mut ftp, "full/f"), b"f");
    assert_eq!(ftp.pwd().unwrap(), "/");
    ftp.quit().unwrap();
}

/// `--storage memory -u alice -P pw -w`: an empty tree in memory where
/// every command of a session works, and nothing reaches the disk.
#[test]
fn memory_storage_session() {
    let server = Server::start_memory();
    let mut ftp = server.connect(Mode::ExtendedPassive);
    ftp.transfer_type(FileType::Binary).unwrap();
    assert_eq!(ftp.pwd().unwrap(), "/");
    assert!(ftp.nlst(None).unwrap().is_empty());

    ftp.mkdir(UNICODE_DIR).unwrap();
    ftp.cwd(UNICODE_DIR).unwrap();
    ftp.mkdir("sub dir").unwrap();
    let data = pseudo_random(1_500_000, 11);
    let sent = ftp.put_file(UNICODE_NAME, &mut data.as_slice()).unwrap();
    assert_eq!(sent, data.len() as u64);

    let mlsd: Vec<ListEntry> = ftp
        .mlsd(None)
        .unwrap()
        .iter()
        .map(|line| ListEntry::try_from(line.as_str()).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect();
    let file = mlsd.iter().find(|e| e.name() == UNICODE_NAME).unwrap();
    assert!(file.is_file() && file.size() == data.len(), "{mlsd:?}");
    let dir = mlsd.iter().find(|e| e.name() == "sub dir").unwrap();
    assert!(dir.is_directory(), "{mlsd:?}");
    assert_eq!(mlsd.len(), 2, "{mlsd:?}");
    let list = ftp.list(None).unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(ftp.size(UNICODE_NAME).unwrap(), data.len());

    assert!(retr(&mut ftp, UNICODE_NAME) == data, "RETR");
    ftp.resume_transfer(1_234_567).unwrap();
    assert!(
        retr(&mut ftp, UNICODE_NAME) == data[1_234_567..],
        "REST + RETR"
    );

    // REST + STOR, then APPE, build the same file again.
    ftp.put_file("partial.bin", &mut &data[..777_777]).unwrap();
    ftp.resume_transfer(777_777).unwrap();
    ftp.put_file("partial.bin", &mut &data[777_777..1_000_000])
        .unwrap();
    ftp.append_file("partial.bin", &mut &data[1_000_000..])
        .unwrap();
    assert!(retr(&mut ftp, "partial.bin") == data, "REST + STOR, APPE");

    ftp.rename(UNICODE_NAME, "sub dir/renommé ü.bin").unwrap();
    assert_refused(ftp.size(UNICODE_NAME), 550, "SIZE of the old name");
    assert!(retr(&mut ftp, "sub dir/renommé ü.bin") == data, "renamed");

    ftp.rm("sub dir/renommé ü.bin").unwrap();
    ftp.rm("partial.bin").unwrap();
    ftp.rmdir("sub dir").unwrap();
    ftp.cdup().unwrap();
    ftp.rmdir(UNICODE_DIR).unwrap();
    assert!(ftp.nlst(None).unwrap().is_empty());
    ftp.quit().unwrap();

    let on_disk: Vec<_> = std::fs::read_dir(server.root()).unwrap().collect();
    assert!(on_disk.is_empty(), "the server wrote to disk: {on_disk:?}");
}
