//! The sandbox the server runs in (docs/security.md): Landlock opens the
//! files the settings name and nothing else, and seccomp allows the system
//! calls the server makes. Applied in `main` after the listeners are bound
//! and before the runtime starts any thread.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ferroftpd::sandbox::{Access, Sandbox};
use serde::Deserialize;

use crate::args::{Args, StorageKind};
use crate::settings::Settings;

/// Where the dynamic loader, NSS and PAM find their libraries and modules.
const LIBRARY_DIRS: [&str; 4] = ["/usr/lib", "/lib", "/usr/lib64", "/lib64"];

/// sssd's memory caches of the passwd and group databases, which NSS reads
/// directly when sssd serves the accounts.
const SSSD_CACHE: &str = "/var/lib/sss/mc";

/// Read by glibc when it reads a user's groups (`sysconf(_SC_NGROUPS_MAX)`).
const NGROUPS_MAX: &str = "/proc/sys/kernel/ngroups_max";

/// `UID_MIN` and `UID_MAX` of login.defs(5) when it does not say.
const DEFAULT_UID_RANGE: (u32, u32) = (1000, 60000);

/// Applies the sandbox (unless `--no-sandbox`) and logs what applied.
/// Returns it, for checking the homes of a reloaded users file.
pub fn apply(args: &Args, settings: &Settings) -> Result<Option<Sandbox>> {
    if args.no_sandbox {
        tracing::info!("sandbox: off (--no-sandbox)");
        return Ok(None);
    }
    let sandbox = build(args, settings)?;
    for (path, access) in sandbox.paths() {
        tracing::debug!(path = %path.display(), %access, "sandbox rule");
    }
    let report = sandbox.clone().apply()?;
    if report.other_threads > 0 {
        // main() applies it before the runtime exists: a thread now is a bug.
        bail!("sandbox: {report}");
    }
    if report.is_complete() && crate::isolate::is_session_process() {
        tracing::debug!(rules = report.rules, "sandbox: {report}");
    } else if report.is_complete() {
        tracing::info!(rules = report.rules, "sandbox: {report}");
    } else {
        tracing::warn!(rules = report.rules, "sandbox: {report}");
    }
    Ok(Some(sandbox))
}

/// What the settings need.
fn build(args: &Args, settings: &Settings) -> Result<Sandbox> {
    let mut sandbox = Sandbox::new();
    let shared = SharedDirs::new(settings);
    // None with --storage memory: the files are in the process's memory.
    for (root, write) in &settings.roots {
        sandbox = if *write {
            sandbox.read_write(root)
        } else {
            sandbox.read(root)
        };
    }
    if let Some(users) = &settings.users_file {
        for dir in users_file_dirs(users.path())? {
            sandbox = sandbox.read_write(dir);
        }
        // SIGHUP re-reads the file. Editors and configuration tools save
        // a file by writing a new one and renaming it over the old, and a
        // rule holds the file it was made for, not its name: so the
        // directory the file is in, unless it is shared.
        let file = users
            .path()
            .canonicalize()
            .with_context(|| format!("users file {}", users.path().display()))?;
        sandbox = sandbox.read(&file);
        for dir in shared.parent_dirs(&file) {
            sandbox = sandbox.read(dir);
        }
    }
    if args.tls {
        // Read at startup, and again on SIGHUP: the directories, since
        // renewal tools write new files (certbot's live/ links point to
        // new files in archive/), and editors rename new files over old.
        for file in [&args.certfile, &args.keyfile].into_iter().flatten() {
            sandbox = sandbox.read(file);
            for dir in shared.parent_dirs(file) {
                sandbox = sandbox.read(dir);
            }
        }
    }
    // Read at startup and again on SIGHUP, as the certificate is.
    if let Some(file) = &args.banner_file {
        sandbox = sandbox.read(file);
        for dir in shared.parent_dirs(file) {
            sandbox = sandbox.read(dir);
        }
    }
    // Read again on SIGHUP.
    if let Some(file) = &args.config {
        sandbox = sandbox.read(file);
        for dir in shared.parent_dirs(file) {
            sandbox = sandbox.read(dir);
        }
    }
    // Opened before the sandbox and kept open; SIGHUP opens them again by
    // name, after log rotation renamed them: the directory, to create a
    // new file there. Never read, truncated or removed.
    for file in [&args.log_file, &args.xferlog].into_iter().flatten() {
        sandbox = sandbox.append(file);
        for dir in shared.parent_dirs(file) {
            sandbox = sandbox.allow(dir, Access::AppendCreate);
        }
    }
    if args.system_users {
        sandbox = system_users(sandbox, args);
    }
    let users_in_s3 = settings
        .users_file
        .as_ref()
        .is_some_and(|u| u.uses_object_storage());
    if matches!(args.storage, Some(StorageKind::S3(_))) || users_in_s3 {
        sandbox = object_storage(sandbox);
    } else if matches!(args.nat_address, Some(crate::args::NatAddress::Host(_))) {
        // SIGHUP resolves the name again.
        sandbox = resolver(sandbox);
    }
    // Passive listeners (on the range, or a port the kernel picks) and the
    // source port of active data connections (one the kernel picks).
    let passive = settings.server.config().passive_ports();
    let range = passive.into_iter().flat_map(|p| p.start()..=p.end());
    Ok(sandbox.bind_ports(std::iter::once(0).chain(range)))
}

/// Directories that hold other programs' files: a rule for a file in one
/// of these stays a rule for that file, never the directory.
const SHARED_DIRS: [&str; 30] = [
    "/",
    "/boot",
    "/dev",
    "/etc",
    "/etc/pki",
    "/etc/ssl",
    "/etc/ssl/certs",
    "/etc/ssl/private",
    "/home",
    "/lib",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/usr/lib",
    "/usr/local",
    "/usr/share",
    "/var",
    "/var/cache",
    "/var/lib",
    "/var/log",
    "/var/spool",
    "/var/tmp",
    "/var/www",
];

/// Directories no rule for a file's directory may be given: the shared
/// ones, every account's home, the current directory and the served
/// directories. A rule holds everything beneath its directory, so a log
/// file in a home would open the whole home to writing.
struct SharedDirs(BTreeSet<PathBuf>);

impl SharedDirs {
    fn new(settings: &Settings) -> Self {
        let canonical = |p: PathBuf| p.canonicalize().unwrap_or(p);
        let mut dirs: BTreeSet<PathBuf> = SHARED_DIRS.iter().map(PathBuf::from).collect();
        dirs.extend(passwd_homes().into_iter().map(canonical));
        dirs.extend(std::env::current_dir().ok().map(canonical));
        dirs.extend(settings.roots.iter().map(|(root, _)| root.clone()));
        SharedDirs(dirs)
    }

    /// The directory a file is in, as named and once links are resolved
    /// (the two differ when the file is a symbolic link), for rules that
    /// must outlive the file: a file renamed over, a link pointed
    /// elsewhere, a log file renamed by rotation. None that is shared:
    /// there a reload sees a file changed in place only, and the log says
    /// so.
    fn parent_dirs(&self, file: &Path) -> Vec<PathBuf> {
        let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        let mut dirs: Vec<PathBuf> = [Some(absolute), file.canonicalize().ok()]
            .into_iter()
            .flatten()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .filter_map(|d| d.canonicalize().ok())
            .collect();
        dirs.dedup();
        let (shared, own): (Vec<_>, Vec<_>) = dirs.into_iter().partition(|d| self.0.contains(d));
        for dir in shared {
            tracing::info!(
                file = %file.display(),
                dir = %dir.display(),
                "sandbox: the file's directory is shared (a system directory, a home, \
                 a served directory or the current one) and stays closed; SIGHUP sees the \
                 file only if changed in place, and a log file renamed by rotation is not \
                 opened again: give it a directory of its own"
            );
        }
        own
    }
}

/// The home directories of /etc/passwd.
fn passwd_homes() -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split(':').nth(5))
        .filter(|home| home.starts_with('/'))
        .map(PathBuf::from)
        .collect()
}

/// `--storage s3://...`, or S3 storage in the users file: the S3 client
/// resolves the endpoint's name (NSS
/// and the resolver's files), checks an https endpoint's certificate
/// against the system's roots, and may read the AWS credential files.
/// Only paths that exist now are added.
fn object_storage(mut sandbox: Sandbox) -> Sandbox {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    // The AWS files, and an https endpoint's roots where the environment
    // puts them (rustls' platform verifier reads these too).
    let aws_files = [
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ]
    .into_iter()
    .filter_map(std::env::var_os)
    .map(PathBuf::from);
    let paths = RESOLVER_FILES
        .iter()
        .chain(&CERTIFICATE_DIRS)
        .map(PathBuf::from)
        .chain(home.map(|h| h.join(".aws")))
        .chain(aws_files);
    for path in paths {
        if path.exists() {
            sandbox = sandbox.read(path);
        }
    }
    sandbox
}

/// What resolving a host name reads (`--nat-address NAME`).
fn resolver(mut sandbox: Sandbox) -> Sandbox {
    for path in RESOLVER_FILES.iter().map(Path::new) {
        if path.exists() {
            sandbox = sandbox.read(path);
        }
    }
    sandbox
}

/// What glibc reads to resolve a host name.
const RESOLVER_FILES: [&str; 5] = [
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
];

/// Where the system's TLS root certificates are, on the common
/// distributions.
const CERTIFICATE_DIRS: [&str; 4] = [
    "/etc/ssl",
    "/etc/pki",
    "/etc/ca-certificates",
    "/usr/share/ca-certificates",
];

/// `--system-users`: PAM and NSS read /etc and load modules from the
/// library directories; confined, the users' homes; unconfined, the whole
/// filesystem.
fn system_users(mut sandbox: Sandbox, args: &Args) -> Sandbox {
    sandbox = sandbox.read("/etc");
    for dir in LIBRARY_DIRS {
        if is_dir(dir) {
            sandbox = sandbox.read_execute(dir);
        }
    }
    if is_dir(SSSD_CACHE) {
        sandbox = sandbox.read(SSSD_CACHE);
    }
    if Path::new(NGROUPS_MAX).is_file() {
        sandbox = sandbox.read(NGROUPS_MAX);
    }
    if args.system_unconfined {
        // Every path a user may reach: all of them. The kernel's checks
        // of each user's uid and groups still apply, and the sandbox still
        // refuses devices, pipes, sockets, links and executing files.
        return sandbox.read_write("/");
    }
    for home in system_homes(args) {
        sandbox = sandbox.read_write(home);
    }
    sandbox
}

/// The homes of the accounts that may log in, as the system lists them
/// now: those of `--system-allowed-users` (looked up through NSS), or else
/// every regular account of /etc/passwd (uid from `UID_MIN` to `UID_MAX`
/// of /etc/login.defs, with a shell of /etc/shells unless
/// `--system-no-shell-check`), less `--system-rejected-users`; and the
/// anonymous account's. Accounts made later, or only known to a directory
/// service and not named in `--system-allowed-users`, are not included.
fn system_homes(args: &Args) -> BTreeSet<PathBuf> {
    let rejected = args
        .system_rejected_users
        .as_ref()
        .map_or_else(|| vec!["root".to_owned()], |l| l.0.clone());
    let mut names = match &args.system_allowed_users {
        Some(allowed) => allowed.0.clone(),
        None => regular_accounts(!args.system_no_shell_check),
    };
    names.retain(|n| !rejected.contains(n));
    if args.anonymous.is_some() {
        names.push(
            args.system_anonymous_account
                .clone()
                .unwrap_or_else(|| "ftp".to_owned()),
        );
    }
    let mut homes = BTreeSet::new();
    for name in names {
        let Ok(Some(user)) = nix::unistd::User::from_name(&name) else {
            continue;
        };
        // uid 0 never logs in; a home of / confines nothing and is refused.
        if user.uid.is_root() || user.dir == Path::new("/") {
            continue;
        }
        if let Ok(home) = user.dir.canonicalize() {
            if home.is_dir() && home != Path::new("/") {
                homes.insert(home);
            }
        }
    }
    homes
}

/// The names of /etc/passwd with a regular uid (and a login shell).
fn regular_accounts(shell_check: bool) -> Vec<String> {
    let Ok(passwd) = std::fs::read_to_string("/etc/passwd") else {
        return Vec::new();
    };
    let (min, max) = uid_range();
    let shells: Vec<String> = std::fs::read_to_string("/etc/shells")
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    passwd
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let [name, _, uid, _, _, _, shell] = fields[..] else {
                return None;
            };
            let uid: u32 = uid.parse().ok()?;
            let shell_ok = !shell_check || shells.iter().any(|s| s == shell);
            ((min..=max).contains(&uid) && shell_ok).then(|| name.to_owned())
        })
        .collect()
}

/// `UID_MIN` and `UID_MAX` from /etc/login.defs.
fn uid_range() -> (u32, u32) {
    let defs = std::fs::read_to_string("/etc/login.defs").unwrap_or_default();
    let value = |key: &str| {
        defs.lines().find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some(key))
                .then(|| words.next()?.parse().ok())
                .flatten()
        })
    };
    (
        value("UID_MIN").unwrap_or(DEFAULT_UID_RANGE.0),
        value("UID_MAX").unwrap_or(DEFAULT_UID_RANGE.1),
    )
}

fn is_dir(path: &str) -> bool {
    Path::new(path).is_dir()
}

/// The directories a users file serves, as `UsersFile` finds them: each
/// user's `home` (unless the user's `storage` is an object store, where
/// the home is a path inside it) and the local `storage` of each
/// `[[user.mount]]`, relative to the file's directory, made canonical.
/// The file was loaded already, so it parses.
pub fn users_file_dirs(path: &Path) -> Result<BTreeSet<PathBuf>> {
    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        user: Vec<User>,
    }
    #[derive(Deserialize)]
    struct User {
        home: PathBuf,
        storage: Option<String>,
        #[serde(default)]
        mount: Vec<Mount>,
    }
    #[derive(Deserialize)]
    struct Mount {
        storage: String,
    }
    let context = || format!("users file {}", path.display());
    let text = std::fs::read_to_string(path).with_context(context)?;
    let file: File = toml::from_str(&text).with_context(context)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut dirs = BTreeSet::new();
    for user in file.user {
        let mounts = user
            .mount
            .into_iter()
            // "memory" is not on disk.
            .filter(|m| m.storage != "memory" && !m.storage.contains("://"))
            .map(|m| PathBuf::from(m.storage));
        // A home in S3 is no directory here ("/" would open everything).
        let home = user.storage.is_none().then_some(user.home);
        for dir in home.into_iter().chain(mounts) {
            if let Ok(dir) = base.join(dir).canonicalize() {
                dirs.insert(dir);
            }
        }
    }
    Ok(dirs)
}

/// Warns about homes (and mounted folders) of a reloaded users file that
/// the sandbox, made at startup, does not open fully. Their users still log in (the home is
/// opened with `O_PATH`, which Landlock does not check), but what the
/// sandbox does not allow there fails until the server restarts.
pub fn check_homes(sandbox: &Sandbox, users_file: &Path) {
    let homes = match users_file_dirs(users_file) {
        Ok(homes) => homes,
        Err(e) => {
            tracing::warn!("sandbox: cannot check the homes of the reloaded file: {e:#}");
            return;
        }
    };
    for home in homes {
        if sandbox.allows(&home, Access::ReadWrite) {
            continue;
        }
        let why = if sandbox.allows(&home, Access::Read) {
            "users file: the sandbox made at startup lets the server only read this directory; \
             uploads and changes there fail until the server restarts"
        } else {
            "users file: this directory is outside the sandbox made at startup; \
             nothing there can be read or changed until the server restarts"
        };
        tracing::warn!(dir = %home.display(), "{why}");
    }
}
