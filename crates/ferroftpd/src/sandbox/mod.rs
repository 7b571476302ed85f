//! Confinement of the server process by the kernel (Linux, feature
//! `sandbox`): Landlock limits which files it may open and which TCP ports
//! it may bind, and a seccomp filter limits the system calls it may make.
//!
//! Both apply to the calling thread and to the threads and processes it
//! starts afterwards, never to threads that are already running (Landlock
//! cannot reach those before ABI 8, and [`Sandbox::apply`] does not try).
//! So apply the sandbox early, on the main thread, **before** the tokio
//! runtime or any other thread starts: read the configuration, open the
//! log files, bind the listeners with [`bind_std`](crate::bind_std), apply
//! the sandbox, then build the runtime and hand it the listeners.
//!
//! ```no_run
//! use ferroftpd::sandbox::Sandbox;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = ferroftpd::bind_std("0.0.0.0:2121".parse()?)?;
//! let report = Sandbox::new()
//!     .read_write("/srv/ftp")        // the users' homes
//!     .read("/etc/ferroftpd")        // a users file re-read on SIGHUP
//!     .append("/var/log/ftp.log")    // a log file
//!     .bind_ports([0])               // passive ports chosen by the kernel
//!     .apply()?;
//! println!("sandbox: {report}");
//! let runtime = tokio::runtime::Runtime::new()?;
//! runtime.block_on(async {
//!     let listener = tokio::net::TcpListener::from_std(listener)?;
//!     // ... Server::builder()...build()?.serve(listener).await
//! # Ok::<(), std::io::Error>(())
//! })?;
//! # Ok(())
//! # }
//! ```
//!
//! What the server needs besides the paths given is always allowed: the
//! time zone database (`/etc/localtime`, `/usr/share/zoneinfo`), read for
//! local times in listings and the transfer log, and `/dev/urandom`;
//! LIST's user and group names are read from `/etc/passwd` and
//! `/etc/group` before the sandbox applies. System calls are
//! listed in `syscalls.rs`; anything else fails with `EPERM` (the call
//! fails, the server goes on). Files and sockets opened before the sandbox
//! stay usable: Landlock checks paths when they are opened.
//!
//! Landlock is applied best-effort: a kernel with an older ABI enforces
//! what it knows, and one without Landlock enforces nothing; the
//! [`SandboxReport`] says which, so the caller can log it.

mod landlock_rules;
mod seccomp;
mod syscalls;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// Files every server reads while it runs: the time zone database
/// (chrono's `Local`: `TZ`, then `/etc/localtime`, a link into the
/// zoneinfo database) for local times in listings and the transfer log,
/// and `/dev/urandom`, which the users file's password hashing reads.
const RUNTIME_PATHS: [&str; 3] = ["/etc/localtime", "/usr/share/zoneinfo", "/dev/urandom"];

/// What a path rule allows beneath a path (a directory and everything in
/// it, or one file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Access {
    /// Open files for reading and list directories.
    Read,
    /// [`Access::Read`], and execute files (for libraries and PAM modules;
    /// loading a library needs only read access, running a program needs
    /// this).
    ReadExecute,
    /// Open an existing file for writing (log files). No reading, no
    /// truncating, no creating or removing.
    Append,
    /// [`Access::Append`], and creating regular files: a log file's
    /// directory, so that the file can be opened again by name after log
    /// rotation renamed it. No reading, truncating or removing.
    AppendCreate,
    /// Everything an FTP user can do: read, write, truncate, create and
    /// remove regular files and directories, and rename between
    /// directories. Never: create symbolic links, devices, pipes or
    /// sockets, or execute files.
    ReadWrite,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::ReadExecute => "read+execute",
            Access::Append => "append",
            Access::AppendCreate => "append+create",
            Access::ReadWrite => "read-write",
        })
    }
}

/// The sandbox to apply: what stays allowed. Build it with the setters,
/// then [`Sandbox::apply`] it.
#[derive(Debug, Clone)]
pub struct Sandbox {
    paths: Vec<(PathBuf, Access)>,
    bind_ports: Option<BTreeSet<u16>>,
    landlock: bool,
    seccomp: bool,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A sandbox that allows reading no file but the time zone database
    /// and `/dev/urandom`, binding any TCP port, and the system calls of
    /// `syscalls.rs`; Landlock and seccomp both on.
    pub fn new() -> Self {
        let mut sandbox = Sandbox {
            paths: Vec::new(),
            bind_ports: None,
            landlock: true,
            seccomp: true,
        };
        for path in RUNTIME_PATHS {
            if Path::new(path).exists() {
                sandbox = sandbox.read(path);
            }
        }
        sandbox
    }

    /// Allows reading `path` (a file, or a directory and all beneath it).
    /// The path must exist when the sandbox is applied.
    pub fn read(self, path: impl Into<PathBuf>) -> Self {
        self.allow(path, Access::Read)
    }

    /// Allows reading and executing beneath `path`.
    pub fn read_execute(self, path: impl Into<PathBuf>) -> Self {
        self.allow(path, Access::ReadExecute)
    }

    /// Allows reading, writing, creating, renaming and removing files and
    /// directories beneath `path`.
    pub fn read_write(self, path: impl Into<PathBuf>) -> Self {
        self.allow(path, Access::ReadWrite)
    }

    /// Allows opening the existing file `path` for writing (a log file).
    pub fn append(self, path: impl Into<PathBuf>) -> Self {
        self.allow(path, Access::Append)
    }

    /// Allows `access` beneath `path`. Rules add up: a path beneath two
    /// rules gets what both allow.
    pub fn allow(mut self, path: impl Into<PathBuf>, access: Access) -> Self {
        self.paths.push((path.into(), access));
        self
    }

    /// Restricts binding TCP sockets to these ports (Landlock ABI 4, Linux
    /// 6.7). Port 0 stands for a port the kernel picks: a passive listener
    /// without a port range, or the source of an active data connection.
    /// Without this call any port may be bound. Listeners bound before the
    /// sandbox are not affected. Connecting is never restricted (active
    /// data connections go to the client's ports).
    pub fn bind_ports(mut self, ports: impl IntoIterator<Item = u16>) -> Self {
        self.bind_ports
            .get_or_insert_with(BTreeSet::new)
            .extend(ports);
        self
    }

    /// Turns Landlock on or off. Default: on.
    pub fn landlock(mut self, enabled: bool) -> Self {
        self.landlock = enabled;
        self
    }

    /// Turns the seccomp filter on or off. Default: on.
    pub fn seccomp(mut self, enabled: bool) -> Self {
        self.seccomp = enabled;
        self
    }

    /// The path rules, in the order given.
    pub fn paths(&self) -> &[(PathBuf, Access)] {
        &self.paths
    }

    /// True if `path` is (or is beneath) a path this sandbox gives at
    /// least `access` to. Compares paths as given, without the filesystem,
    /// so give it canonical paths.
    pub fn allows(&self, path: &Path, access: Access) -> bool {
        self.paths.iter().any(|(p, given)| {
            let covers = match access {
                Access::Read => !matches!(given, Access::Append | Access::AppendCreate),
                Access::ReadExecute => matches!(given, Access::ReadExecute),
                Access::Append => matches!(
                    given,
                    Access::Append | Access::AppendCreate | Access::ReadWrite
                ),
                Access::AppendCreate => matches!(given, Access::AppendCreate | Access::ReadWrite),
                Access::ReadWrite => matches!(given, Access::ReadWrite),
            };
            covers && path.starts_with(p)
        })
    }

    /// Restricts the calling thread, and every thread and process it
    /// starts from now on, then reports what the kernel enforces. Call it
    /// before any other thread starts; threads already running stay
    /// unrestricted by Landlock (the report counts them).
    ///
    /// A kernel without Landlock, or without seccomp filters, is not an
    /// error: the report says so. Errors are paths that cannot be opened
    /// and system calls that fail unexpectedly; after an error the process
    /// may be partly restricted, so do not go on serving.
    pub fn apply(self) -> Result<SandboxReport, SandboxError> {
        let other_threads = other_threads();
        // LIST's owner and group names come from /etc/passwd and
        // /etc/group, read once: read them while they can be.
        crate::names::load();
        let landlock = if self.landlock {
            landlock_rules::apply(&self.paths, self.bind_ports.as_ref())?
        } else {
            LandlockStatus::Off
        };
        // Last: installing the filter needs prctl and seccomp, which the
        // filter itself does not allow.
        let seccomp = if self.seccomp {
            seccomp::apply()?
        } else {
            SeccompStatus::Off
        };
        Ok(SandboxReport {
            landlock,
            seccomp,
            rules: self.paths.len(),
            other_threads,
        })
    }
}

/// Threads of this process besides the caller, from `/proc/self/task`
/// (0 when it cannot be read).
fn other_threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count().saturating_sub(1))
}

/// What [`Sandbox::apply`] put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SandboxReport {
    /// Landlock's part.
    pub landlock: LandlockStatus,
    /// seccomp's part.
    pub seccomp: SeccompStatus,
    /// Path rules given.
    pub rules: usize,
    /// Threads that were already running, which Landlock does not
    /// restrict. Should be 0.
    pub other_threads: usize,
}

impl SandboxReport {
    /// True if both Landlock and seccomp are fully in force.
    pub fn is_complete(&self) -> bool {
        matches!(
            self.landlock,
            LandlockStatus::Enforced { complete: true, .. }
        ) && matches!(self.seccomp, SeccompStatus::Filter { .. })
            && self.other_threads == 0
    }
}

impl fmt::Display for SandboxReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {}", self.landlock, self.seccomp)?;
        if self.other_threads > 0 && self.landlock != LandlockStatus::Off {
            let (n, threads) = match self.other_threads {
                1 => (1, "thread started earlier is"),
                n => (n, "threads started earlier are"),
            };
            write!(f, " ({n} {threads} not restricted by Landlock)")?;
        }
        Ok(())
    }
}

/// What Landlock enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LandlockStatus {
    /// Turned off by [`Sandbox::landlock`].
    Off,
    /// The kernel has no Landlock, or it is not enabled at boot: nothing
    /// is restricted.
    Unavailable {
        /// Why, in words.
        reason: &'static str,
    },
    /// In force.
    Enforced {
        /// The kernel's Landlock ABI version (1 for Linux 5.13, 7 for 6.15).
        abi: u8,
        /// False when the kernel lacks some of the restrictions asked for
        /// (an older ABI: e.g. before ABI 2 files can never be moved
        /// between directories, before ABI 3 truncation is not controlled,
        /// before ABI 4 ports are not).
        complete: bool,
    },
}

impl fmt::Display for LandlockStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LandlockStatus::Off => f.write_str("landlock off"),
            LandlockStatus::Unavailable { reason } => write!(f, "landlock unavailable ({reason})"),
            LandlockStatus::Enforced {
                abi,
                complete: true,
            } => write!(f, "landlock ABI {abi} (fully enforced)"),
            LandlockStatus::Enforced {
                abi,
                complete: false,
            } => write!(
                f,
                "landlock ABI {abi} (partially enforced: the kernel lacks some restrictions)"
            ),
        }
    }
}

/// What seccomp enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeccompStatus {
    /// Turned off by [`Sandbox::seccomp`].
    Off,
    /// Not possible here (another architecture, or a kernel without
    /// seccomp filters).
    Unavailable {
        /// Why, in words.
        reason: String,
    },
    /// In force.
    Filter {
        /// System calls allowed (some only with certain arguments).
        allowed: usize,
    },
}

impl fmt::Display for SeccompStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeccompStatus::Off => f.write_str("seccomp off"),
            SeccompStatus::Unavailable { reason } => write!(f, "seccomp unavailable ({reason})"),
            SeccompStatus::Filter { allowed } => {
                write!(f, "seccomp filter ({allowed} calls allowed)")
            }
        }
    }
}

/// Why the sandbox could not be applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// A path of a rule cannot be opened.
    #[error("sandbox: {}: {error}", path.display())]
    Path {
        /// The path.
        path: PathBuf,
        /// Why. Shown in the message, and not a `source()` as well, so that
        /// an error chain does not say it twice.
        error: std::io::Error,
    },
    /// Landlock failed.
    #[error("sandbox: landlock: {0}")]
    Landlock(String),
    /// Installing the seccomp filter failed.
    #[error("sandbox: seccomp: {0}")]
    Seccomp(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_follows_the_rules() {
        let s = Sandbox::new()
            .read_write("/srv/ftp")
            .read("/etc/ferroftpd")
            .append("/var/log/ftp.log");
        assert!(s.allows(Path::new("/srv/ftp/alice"), Access::ReadWrite));
        assert!(s.allows(Path::new("/srv/ftp/alice"), Access::Read));
        assert!(!s.allows(Path::new("/srv/ftpx"), Access::Read));
        assert!(s.allows(Path::new("/etc/ferroftpd/users.toml"), Access::Read));
        assert!(!s.allows(Path::new("/etc/ferroftpd/users.toml"), Access::ReadWrite));
        assert!(s.allows(Path::new("/var/log/ftp.log"), Access::Append));
        assert!(!s.allows(Path::new("/var/log/ftp.log"), Access::Read));
        assert!(!s.allows(Path::new("/srv/ftp"), Access::ReadExecute));
    }

    #[test]
    fn report_lines() {
        let report = SandboxReport {
            landlock: LandlockStatus::Enforced {
                abi: 7,
                complete: true,
            },
            seccomp: SeccompStatus::Filter { allowed: 120 },
            rules: 3,
            other_threads: 0,
        };
        assert_eq!(
            report.to_string(),
            "landlock ABI 7 (fully enforced), seccomp filter (120 calls allowed)"
        );
        assert!(report.is_complete());
        let report = SandboxReport {
            landlock: LandlockStatus::Unavailable {
                reason: "not built into this kernel",
            },
            seccomp: SeccompStatus::Off,
            rules: 0,
            other_threads: 2,
        };
        assert_eq!(
            report.to_string(),
            "landlock unavailable (not built into this kernel), seccomp off \
             (2 threads started earlier are not restricted by Landlock)"
        );
        assert!(!report.is_complete());
    }

    #[test]
    fn the_allow_list_has_no_duplicates() {
        let mut seen = std::collections::HashSet::new();
        for (name, nr, _) in syscalls::allowed() {
            assert!(seen.insert(*nr), "{name} listed twice");
        }
        // Every rule compiles into a filter for this architecture.
        assert!(seccomp::filters().is_ok());
    }
}
