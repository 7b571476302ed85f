//! The options of `ferroftpd`, defined once: this `Args` is what the
//! command line, the environment (`FERROFTPD_PORT`) and the config file
//! (`port = 2121`) all set; `layers.rs` derives the environment variables,
//! the config keys and the `--no-` counterparts from it, and parses every
//! value with the parsers declared here. `settings.rs` turns the result
//! into a validated server.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{ArgAction, Parser, Subcommand, ValueEnum};
use ferroftpd::auth::{HashScheme, Permissions};
use ferroftpd::{HideIds, NamePattern, PassivePorts, Rate, SessionReuse};

/// An FTP server: `ferroftpd` serves the current directory read-only to
/// anonymous users on port 2121.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ferroftpd",
    version,
    disable_version_flag = true,
    max_term_width = 100,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on [default: all interfaces, IPv6 and IPv4]
    #[arg(short = 'i', long, value_name = "ADDRESS")]
    pub interface: Option<IpAddr>,

    /// Port to listen on; 0 picks a free one [default: 2121]
    #[arg(short = 'p', long)]
    pub port: Option<u16>,

    /// Directory to serve, the home of every user by default [default: the current directory]
    #[arg(short = 'd', long, value_name = "PATH")]
    pub directory: Option<PathBuf>,

    /// Give write permissions (elradfmwMT) to the anonymous user and the --username user, who get elr without it
    #[arg(short = 'w', long)]
    pub write: bool,

    /// Public IPv4 address or host name to announce in PASV replies (behind NAT); a name is resolved at startup and on SIGHUP
    #[arg(short = 'n', long = "nat-address", value_name = "ADDRESS", value_parser = NatAddress::from_str)]
    pub nat_address: Option<NatAddress>,

    /// Passive ports to use, inclusive, e.g. 60000-60100 [default: any free port]
    #[arg(short = 'r', long, value_name = "FROM-TO", value_parser = passive_ports)]
    pub range: Option<PassivePorts>,

    /// Log every command and reply
    #[arg(short = 'D', long)]
    pub debug: bool,

    /// One user with full rights; anonymous access is then off unless --anonymous is given
    #[arg(short = 'u', long)]
    pub username: Option<String>,

    /// Password of --username
    #[arg(short = 'P', long)]
    pub password: Option<String>,

    /// Text of the greeting [default: "ferroftpd VERSION ready."]
    #[arg(long)]
    pub banner: Option<String>,

    /// Send this text file as the greeting (control characters dropped, at most 4096 bytes and 64 lines); not with --banner
    #[arg(long, value_name = "FILE", conflicts_with = "banner")]
    pub banner_file: Option<PathBuf>,

    /// Show the text of the file of this name (e.g. .message) to clients entering its directory, with CWD or at login
    #[arg(long, value_name = "NAME", value_parser = file_name)]
    pub dir_message: Option<String>,

    /// Octal umask of uploaded files and created directories on disk, e.g. 022 [default: the process umask]
    #[arg(long, value_name = "OCTAL", value_parser = umask)]
    pub umask: Option<u32>,

    /// Refuse active mode (PORT and EPRT) with 550; clients must use PASV or EPSV
    #[arg(long)]
    pub no_active: bool,

    /// Refuse passive mode (PASV and EPSV) with 550; clients must use PORT or EPRT; not with --no-active
    #[arg(long, conflicts_with = "no_active")]
    pub no_passive: bool,

    /// DANGEROUS: allow data connections to and from other hosts than the client (FXP; enables bounce attacks)
    #[arg(long)]
    pub permit_foreign_addresses: bool,

    /// DANGEROUS: allow PORT and EPRT to ports below 1024
    #[arg(long)]
    pub permit_privileged_ports: bool,

    /// Read HAProxy's PROXY header (v1 or v2) on connections from --proxy-from: off, optional or required [default: off]
    #[arg(long, value_name = "MODE", value_parser = proxy_protocol)]
    pub proxy_protocol: Option<ferroftpd::ProxyProtocol>,

    /// With --proxy-protocol: the load balancers' addresses, comma-separated networks (10.0.0.0/24,192.0.2.7)
    #[arg(long, value_name = "CIDR,...", value_parser = Networks::from_str)]
    pub proxy_from: Option<Networks>,

    /// Share bans, failed-login counts and per-user session caps with the other nodes of a cluster through this Redis (redis://[:PASSWORD@]HOST[:PORT][/DB] or redis+unix:///PATH); if it does not answer, limits are per node meanwhile
    #[arg(long, value_name = "URL")]
    pub cluster_redis: Option<String>,

    /// Show local time in listings [default: UTC]
    #[arg(long)]
    pub use_localtime: bool,

    /// Whose listings show --fake-owner/--fake-group instead of real names (and no unix.uid/unix.gid facts): never, anonymous or everyone [default: anonymous]
    #[arg(long, value_name = "WHO", value_parser = hide_ids)]
    pub hide_ids: Option<HideIds>,

    /// Owner name listings show where ids are hidden [default: ftp]
    #[arg(long, value_name = "NAME", value_parser = fake_id)]
    pub fake_owner: Option<String>,

    /// Group name listings show where ids are hidden [default: ftp]
    #[arg(long, value_name = "NAME", value_parser = fake_id)]
    pub fake_group: Option<String>,

    /// Names no command may read, write, list, rename, delete or enter (550), and left out of listings: comma-separated patterns with * and ?, e.g. "*.mp3,.private"
    #[arg(long, value_name = "PATTERN,...", value_parser = name_patterns)]
    pub deny_file: Option<Patterns>,

    /// Names left out of listings but usable by name: comma-separated patterns with * and ?
    #[arg(long, value_name = "PATTERN,...", value_parser = name_patterns)]
    pub hide_file: Option<Patterns>,

    /// Leave names that start with "." out of listings unless the client asks with LIST -a
    #[arg(long)]
    pub hide_dotfiles: bool,

    /// Directory levels LIST -R and NLST -R descend; 0 ignores -R [default: 5]
    #[arg(long, value_name = "N")]
    pub max_list_depth: Option<u32>,

    /// Entries one LIST -R or NLST -R reads, all directories together, where it stops [default: 10000]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_list_entries: Option<u32>,

    /// Do not use sendfile(2) for downloads
    #[arg(long)]
    pub disable_sendfile: bool,

    /// How sessions share the CPUs (pyftpdlib's names): async, one thread for every session; multi-thread, a thread per CPU (or --threads); multi-proc, worker processes (--workers) of one thread each [default: multi-thread]
    #[arg(long, value_name = "MODEL")]
    pub concurrency: Option<Concurrency>,

    /// With --concurrency multi-thread: the number of threads running sessions [default: one per CPU]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,

    /// With --concurrency multi-proc: the number of worker processes [default: one per CPU]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: Option<u16>,

    /// Failed logins before the client is disconnected [default: 3]
    #[arg(long, value_name = "N", value_parser = at_least_one::<u32>)]
    pub max_login_attempts: Option<u32>,

    /// A user, repeatable. PERMS defaults to elradfmwMT, HOME to --directory
    #[arg(long = "user", value_name = "NAME:PASSWORD[:PERMS[:HOME]]", value_parser = UserSpec::from_str)]
    pub users: Vec<UserSpec>,

    /// Serve the users of this TOML file (see docs/users.md), reloaded on SIGHUP; not with --user, --username or --anonymous
    #[arg(long = "users", value_name = "FILE", conflicts_with_all = ["users", "username", "anonymous"])]
    pub users_file: Option<PathBuf>,

    /// Allow anonymous logins with these permissions [default: elr, or elradfmwMT with --write]
    #[arg(long, value_name = "PERMS", num_args = 0..=1, require_equals = true, default_missing_value = "", value_parser = anonymous_permissions)]
    pub anonymous: Option<String>,

    /// Serve the system's accounts: passwords checked with PAM, each user in their home, files accessed with the user's uid and groups (needs root; see docs/system-users.md); not with --users, --user or --username
    #[arg(long, conflicts_with_all = ["users_file", "users", "username"])]
    pub system_users: bool,

    /// With --system-users: only these users may log in, comma-separated [default: all but the rejected]
    #[arg(long, value_name = "NAME,...", value_parser = Names::from_str)]
    pub system_allowed_users: Option<Names>,

    /// With --system-users: these users may never log in, comma-separated; "" for none (uid 0 is always refused) [default: root]
    #[arg(long, value_name = "NAME,...", value_parser = Names::from_str)]
    pub system_rejected_users: Option<Names>,

    /// With --system-users: let in users whose shell is not in /etc/shells
    #[arg(long)]
    pub system_no_shell_check: bool,

    /// With --system-users: the permissions of every user [default: elradfmwMT]
    #[arg(long, value_name = "PERMS", value_parser = permissions)]
    pub system_perm: Option<Permissions>,

    /// With --system-users: other permissions for one user, repeatable
    #[arg(long = "system-user-perm", value_name = "NAME:PERMS", value_parser = UserPerms::from_str)]
    pub system_user_perms: Vec<UserPerms>,

    /// With --system-users: show the whole filesystem with real paths, starting in the home [default: confined to the home]
    #[arg(long)]
    pub system_unconfined: bool,

    /// With --system-users: each session in a process of its own, which becomes the user for good at login (vsftpd's model; see docs/system-users.md) [default: a thread per session acts as the user]
    #[arg(long)]
    pub isolate_sessions: bool,

    /// With --system-users and --anonymous: the system account anonymous users act as [default: ftp]
    #[arg(long, value_name = "NAME")]
    pub system_anonymous_account: Option<String>,

    /// With --system-users: the PAM service (/etc/pam.d/NAME) [default: ferroftpd]
    #[arg(long, value_name = "NAME")]
    pub pam_service: Option<String>,

    /// Seconds a failed login waits before its reply; 0 for none [default: 3]
    #[arg(long, value_name = "SECONDS", value_parser = auth_failed_delay)]
    pub auth_failed_delay: Option<Duration>,

    /// Most control connections at once; more get 421 [default: 512]
    #[arg(long = "max-cons", value_name = "N", value_parser = at_least_one::<usize>)]
    pub max_cons: Option<usize>,

    /// Most control connections from one address [default: unlimited]
    #[arg(long = "max-cons-per-ip", value_name = "N", value_parser = at_least_one::<u32>)]
    pub max_cons_per_ip: Option<u32>,

    /// Most logged-in sessions per user; more get 530 [default: unlimited]
    #[arg(long = "max-sessions-per-user", value_name = "N")]
    pub max_sessions_per_user: Option<u32>,

    /// Seconds a session may stay idle between commands; 0 disables [default: 300]
    #[arg(long = "timeout", value_name = "SECONDS", value_parser = seconds_or_zero)]
    pub timeout: Option<u64>,

    /// Seconds a connection has to log in; 0 disables [default: 60]
    #[arg(long = "login-timeout", value_name = "SECONDS", value_parser = seconds_or_zero)]
    pub login_timeout: Option<u64>,

    /// Seconds a transfer may make no progress before it fails with 426 [default: 300]
    #[arg(long = "data-timeout", value_name = "SECONDS", value_parser = seconds)]
    pub data_timeout: Option<u64>,

    /// Seconds to wait for the client's passive data connection [default: 30]
    #[arg(long = "passive-timeout", value_name = "SECONDS", value_parser = seconds)]
    pub passive_timeout: Option<u64>,

    /// Seconds an active (PORT) data connection may take to connect [default: 30]
    #[arg(long = "active-timeout", value_name = "SECONDS", value_parser = seconds)]
    pub active_timeout: Option<u64>,

    /// Failed logins from one address that ban it [default: 10]
    #[arg(long = "ban-failures", value_name = "N", value_parser = at_least_one::<u32>)]
    pub ban_failures: Option<u32>,

    /// Seconds over which failed logins count toward a ban [default: 600]
    #[arg(long = "ban-window", value_name = "SECONDS", value_parser = seconds)]
    pub ban_window: Option<u64>,

    /// Seconds a ban lasts [default: 900]
    #[arg(long = "ban-time", value_name = "SECONDS", value_parser = seconds)]
    pub ban_time: Option<u64>,

    /// IPv6 clients are counted and banned per network of this prefix length, 0 to 128 [default: 64]
    #[arg(long = "ban-ipv6-prefix", value_name = "BITS", value_parser = clap::value_parser!(u8).range(0..=128))]
    pub ban_ipv6_prefix: Option<u8>,

    /// Unknown commands allowed before login; the next closes the connection [default: 10]
    #[arg(long = "max-unknown-commands", value_name = "N")]
    pub max_unknown_commands: Option<u32>,

    /// Upload rate of each session, bytes/s with K/M/G suffixes [default: unlimited]
    #[arg(long = "read-limit", value_name = "RATE", value_parser = rate)]
    pub read_limit: Option<Rate>,

    /// Download rate of each session [default: unlimited]
    #[arg(long = "write-limit", value_name = "RATE", value_parser = rate)]
    pub write_limit: Option<Rate>,

    /// Upload rate of all of one user's sessions together [default: unlimited]
    #[arg(long = "user-read-limit", value_name = "RATE", value_parser = rate)]
    pub user_read_limit: Option<Rate>,

    /// Download rate of all of one user's sessions together [default: unlimited]
    #[arg(long = "user-write-limit", value_name = "RATE", value_parser = rate)]
    pub user_write_limit: Option<Rate>,

    /// Upload rate of the whole server [default: unlimited]
    #[arg(long = "total-read-limit", value_name = "RATE", value_parser = rate)]
    pub total_read_limit: Option<Rate>,

    /// Download rate of the whole server [default: unlimited]
    #[arg(long = "total-write-limit", value_name = "RATE", value_parser = rate)]
    pub total_write_limit: Option<Rate>,

    /// Character set of clients that do not speak UTF-8 (latin1, cp1251, gbk...); names on disk stay UTF-8 [default: UTF-8]
    #[arg(long, value_name = "NAME")]
    pub encoding: Option<String>,

    /// Log format: text or json (one JSON object per line) [default: text]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Text lines in pyftpdlib's style, prefixed by this template: {ip}, {port}, {user}, {id}, and {{ or }} for a brace; e.g. "{ip}:{port}-[{user}]"
    #[arg(long, value_name = "TEMPLATE", value_parser = LogPrefix::from_str)]
    pub log_prefix: Option<LogPrefix>,

    /// Append logs to this file instead of standard error; SIGHUP reopens it (after logrotate)
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Send logs to the local syslog daemon (facility daemon; journald under systemd) instead of standard error
    #[arg(long)]
    pub syslog: bool,

    /// With --syslog: the daemon's socket [default: /dev/log]
    #[arg(long, value_name = "PATH")]
    pub syslog_socket: Option<PathBuf>,

    /// Started as root (to bind ports 21 and 990), become this user once the ports are bound: every uid and gid, the user's groups, no capabilities kept. Not with --system-users
    #[arg(long, value_name = "USER")]
    pub run_as: Option<String>,

    /// Write the server's process id to this file, locked while the server runs (a second server with the same file refuses to start)
    #[arg(long, value_name = "FILE")]
    pub pidfile: Option<PathBuf>,

    /// Append one xferlog(5) line per transfer to this file
    #[arg(long, value_name = "FILE")]
    pub xferlog: Option<PathBuf>,

    /// Serve Prometheus metrics (/metrics), liveness (/health) and readiness (/ready: 503 while the storage cannot be reached) over HTTP on this address
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub metrics_address: Option<std::net::SocketAddr>,

    /// Serve the admin API and web dashboard (sessions, transfers, kick, ban, reload) on this address: HOST:PORT, or the path of a Unix socket (one with a /); needs --admin-token-file. Off by default
    #[arg(long, value_name = "ADDRESS", value_parser = AdminAddress::from_str)]
    pub admin_address: Option<AdminAddress>,

    /// File holding the admin API's bearer token: one line of at least 16 printable characters, read at startup
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,

    /// Never ban addresses for failed logins
    #[arg(long)]
    pub no_ban: bool,

    /// Do not confine the server with Landlock and seccomp (on by default; see docs/security.md)
    #[arg(long)]
    pub no_sandbox: bool,

    /// Offer FTPS (AUTH TLS, RFC 4217); needs --certfile and --keyfile, or --tls-self-signed
    #[arg(long)]
    pub tls: bool,

    /// PEM certificate chain for --tls, leaf first
    #[arg(long, value_name = "FILE")]
    pub certfile: Option<PathBuf>,

    /// PEM private key for --tls [default: the --certfile, when it holds the key too]
    #[arg(long, value_name = "FILE")]
    pub keyfile: Option<PathBuf>,

    /// Generate an ephemeral self-signed certificate (implies --tls) and log its SHA-256 fingerprint
    #[arg(long)]
    pub tls_self_signed: bool,

    /// Also listen for implicit FTPS (TLS from the first byte; 990 by convention) on this port
    #[arg(long, value_name = "PORT")]
    pub tls_implicit_port: Option<u16>,

    /// Refuse USER/PASS until AUTH TLS (anonymous users exempt unless --tls-required-for-anonymous)
    #[arg(long)]
    pub tls_control_required: bool,

    /// Refuse transfers and listings until PROT P (anonymous users exempt unless --tls-required-for-anonymous)
    #[arg(long)]
    pub tls_data_required: bool,

    /// Apply --tls-control-required and --tls-data-required to anonymous users too
    #[arg(long)]
    pub tls_required_for_anonymous: bool,

    /// With --tls: whether PROT P data connections must resume their control connection's TLS session, required or optional [default: required]
    #[arg(long, value_name = "POLICY", value_parser = session_reuse)]
    pub tls_session_reuse: Option<SessionReuse>,

    /// Fail a protected upload that ends without the client's TLS close_notify (a cut connection looks like that)
    #[arg(long)]
    pub tls_strict_upload_eof: bool,

    /// Accept CCC: after login a client may return the control connection to plain text (for NAT routers that rewrite PASV)
    #[arg(long)]
    pub tls_allow_ccc: bool,

    /// Where files live: local (the directories on disk), memory (an empty in-memory tree) or s3://BUCKET[/PREFIX] (an S3 bucket); with memory and s3, --directory and the homes of --user are paths inside it [default: local]
    #[arg(long, value_name = "KIND", value_parser = storage_kind)]
    pub storage: Option<StorageKind>,

    /// With --storage s3://...: the S3 endpoint, e.g. http://127.0.0.1:8333 [default: AWS, https://s3.REGION.amazonaws.com]
    // This text is --help's, where a URL stays bare.
    #[allow(rustdoc::bare_urls)]
    #[arg(long, value_name = "URL", value_parser = endpoint)]
    pub s3_endpoint: Option<String>,

    /// With --storage s3://...: the region requests are signed for [default: us-east-1]
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,

    /// With --storage s3://...: address the bucket as a virtual host (BUCKET.ENDPOINT) also with --s3-endpoint, which otherwise means path-style addressing (ENDPOINT/BUCKET)
    #[arg(long)]
    pub s3_virtual_host: bool,

    /// With --storage s3://...: the size of the parts uploads are sent in, 5M to 5G; each upload holds about one part in memory [default: 8M]
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub s3_part_size: Option<u64>,

    /// With --storage memory: the most bytes of file content the tree holds, with K/M/G suffixes [default: 256M]
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub memory_size: Option<u64>,

    /// Most bytes in each user's files, with K/M/G/T suffixes; an upload past it fails with 552 [default: unlimited]
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub quota_bytes: Option<u64>,

    /// Most files of each user [default: unlimited]
    #[arg(long, value_name = "N")]
    pub quota_files: Option<u64>,

    /// TOML file with settings, one key per flag (port = 2121); flags and environment variables win over it
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print the version and exit
    #[arg(short = 'v', long, action = ArgAction::Version)]
    pub version: Option<bool>,
}

/// `--storage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageKind {
    /// The directories on disk.
    Local,
    /// An in-memory tree, empty at startup and gone at exit.
    Memory,
    /// An S3 bucket: its `s3://BUCKET[/PREFIX]` address, checked.
    S3(String),
}

fn storage_kind(text: &str) -> Result<StorageKind, String> {
    match text {
        "local" => Ok(StorageKind::Local),
        "memory" => Ok(StorageKind::Memory),
        url if url.starts_with("s3://") => {
            ferroftpd::storage::S3Address::parse(url).map_err(config_message)?;
            Ok(StorageKind::S3(url.to_owned()))
        }
        other => Err(format!(
            "{other:?}: expected local, memory or s3://BUCKET[/PREFIX]"
        )),
    }
}

fn endpoint(text: &str) -> Result<String, String> {
    ferroftpd::storage::check_s3_endpoint(text).map_err(config_message)?;
    Ok(text.to_owned())
}

/// `--concurrency`. File transfers and storage calls run on a pool of
/// blocking threads in every model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Concurrency {
    /// One thread runs every session (pyftpdlib's default FTPServer).
    Async,
    /// Sessions spread over a thread per CPU (ThreadedFTPServer's use of
    /// the CPUs, without a thread per session).
    MultiThread,
    /// Pre-forked worker processes sharing the listening sockets, one
    /// thread each, under a supervisor that restarts them and keeps their
    /// limits (pyftpdlib's `serve_forever(worker_processes=N)`).
    MultiProc,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A `--user NAME:PASSWORD[:PERMS[:HOME]]` value.
#[derive(Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub name: String,
    pub password: String,
    pub perms: Permissions,
    pub home: Option<PathBuf>,
}

impl std::fmt::Debug for UserSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSpec")
            .field("name", &self.name)
            .field("password", &"****")
            .field("perms", &self.perms)
            .field("home", &self.home)
            .finish()
    }
}

impl FromStr for UserSpec {
    type Err = String;

    /// Error messages never repeat the password.
    fn from_str(spec: &str) -> Result<UserSpec, String> {
        let mut parts = spec.splitn(4, ':');
        let name = parts.next().unwrap_or_default();
        let Some(password) = parts.next() else {
            return Err("expected NAME:PASSWORD[:PERMS[:HOME]]".into());
        };
        if name.is_empty() {
            return Err("the user name is empty".into());
        }
        let perms = match parts.next() {
            None | Some("") => Permissions::ALL,
            Some(p) => p.parse().map_err(|e| format!("user {name}: {e}"))?,
        };
        let home = parts.next().filter(|h| !h.is_empty()).map(PathBuf::from);
        Ok(UserSpec {
            name: name.to_owned(),
            password: password.to_owned(),
            perms,
            home,
        })
    }
}

/// A `--log-prefix` template, checked at startup: `{ip}`, `{port}`,
/// `{user}` and `{id}` stand for the session's fields, `{{` and `}}` for
/// a brace; anything else in braces is refused rather than printed as is
/// on every line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPrefix(Vec<PrefixPart>);

/// A piece of a [`LogPrefix`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefixPart {
    Text(String),
    Field(SessionField),
}

/// A field of the session a [`LogPrefix`] can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionField {
    Ip,
    Port,
    User,
    Id,
}

impl SessionField {
    const ALL: [(&'static str, SessionField); 4] = [
        ("ip", SessionField::Ip),
        ("port", SessionField::Port),
        ("user", SessionField::User),
        ("id", SessionField::Id),
    ];
}

impl LogPrefix {
    pub fn parts(&self) -> &[PrefixPart] {
        &self.0
    }
}

impl FromStr for LogPrefix {
    type Err = String;

    fn from_str(template: &str) -> Result<LogPrefix, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        while let Some(at) = rest.find(['{', '}']) {
            text.push_str(&rest[..at]);
            let tail = &rest[at..];
            // Where the brace is, counted in characters from 1.
            let column = template[..template.len() - tail.len()].chars().count() + 1;
            if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
                text.push_str(&tail[..1]);
                rest = after;
                continue;
            }
            if tail.starts_with('}') {
                return Err(format!(
                    "{template:?}: '}}' at character {column} closes nothing (write }}}} for a brace)"
                ));
            }
            let Some(end) = tail.find('}') else {
                return Err(format!(
                    "{template:?}: '{{' at character {column} is never closed (write {{{{ for a brace)"
                ));
            };
            let name = &tail[1..end];
            let Some((_, field)) = SessionField::ALL.iter().find(|(n, _)| *n == name) else {
                return Err(format!(
                    "{template:?}: unknown placeholder {{{name}}}; expected {{ip}}, {{port}}, \
                     {{user}} or {{id}}"
                ));
            };
            if !text.is_empty() {
                parts.push(PrefixPart::Text(std::mem::take(&mut text)));
            }
            parts.push(PrefixPart::Field(*field));
            rest = &tail[end + 1..];
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(PrefixPart::Text(text));
        }
        Ok(LogPrefix(parts))
    }
}

/// A `--system-user-perm NAME:PERMS` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPerms {
    pub name: String,
    pub perms: Permissions,
}

impl FromStr for UserPerms {
    type Err = String;

    fn from_str(spec: &str) -> Result<UserPerms, String> {
        let Some((name, perms)) = spec.split_once(':') else {
            return Err(format!("{spec:?}: expected NAME:PERMS"));
        };
        Ok(UserPerms {
            name: name.to_owned(),
            perms: permissions(perms)?,
        })
    }
}

/// A comma-separated list of names (`alice,bob`); `""` is an empty list,
/// which is not the same as no list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names(pub Vec<String>);

impl FromStr for Names {
    type Err = std::convert::Infallible;

    fn from_str(list: &str) -> Result<Names, Self::Err> {
        Ok(Names(
            list.split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect(),
        ))
    }
}

/// `--deny-file` and `--hide-file`: name patterns, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patterns(pub Vec<NamePattern>);

fn name_patterns(text: &str) -> Result<Patterns, String> {
    NamePattern::parse_list(text)
        .map(Patterns)
        .map_err(|e| format!("{text:?}: {e}"))
}

fn fake_id(text: &str) -> Result<String, String> {
    ferroftpd::config::check_fake_id(text).map_err(config_message)?;
    Ok(text.to_owned())
}

fn hide_ids(text: &str) -> Result<HideIds, String> {
    text.parse().map_err(config_message)
}

/// The longest `--auth-failed-delay`: an hour.
const MAX_AUTH_FAILED_DELAY: Duration = Duration::from_secs(3600);

fn auth_failed_delay(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|d| *d <= MAX_AUTH_FAILED_DELAY)
        .ok_or_else(|| format!("{text:?}: expected 0 to 3600 seconds"))
}

/// The longest timeout, ban window or ban time, in seconds: the library's
/// limit (ten years; a deadline past it could overflow the clock).
pub const MAX_SECONDS: u64 = ferroftpd::MAX_DURATION.as_secs();

/// A count that zero would make meaningless (`--max-cons 0` would refuse
/// every connection).
fn at_least_one<T: TryFrom<u64>>(text: &str) -> Result<T, String> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n >= 1)
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("{text:?}: expected a whole number, 1 or more"))
}

/// Seconds, 1 to [`MAX_SECONDS`].
fn seconds(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (1..=MAX_SECONDS).contains(n))
        .ok_or_else(|| format!("{text:?}: expected 1 to {MAX_SECONDS} seconds"))
}

/// Seconds, 0 (none) to [`MAX_SECONDS`].
fn seconds_or_zero(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n <= MAX_SECONDS)
        .ok_or_else(|| format!("{text:?}: expected 0 (no limit) to {MAX_SECONDS} seconds"))
}

/// `--anonymous[=PERMS]`: the text, once the letters are known good; empty
/// for the default.
fn anonymous_permissions(text: &str) -> Result<String, String> {
    if !text.is_empty() {
        permissions(text)?;
    }
    Ok(text.to_owned())
}

/// `--dir-message`: one file name.
fn file_name(text: &str) -> Result<String, String> {
    if text.is_empty() || text.contains('/') || text == "." || text == ".." {
        return Err(format!("{text:?}: expected a file name, without /"));
    }
    Ok(text.to_owned())
}

/// `--umask`: octal digits, at most 777.
fn umask(text: &str) -> Result<u32, String> {
    let digits = text.trim();
    let digits = digits.strip_prefix("0o").unwrap_or(digits);
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|u| *u <= 0o777 && !digits.starts_with('+'))
        .ok_or_else(|| {
            format!(
                "{text:?}: expected an octal umask from 000 to 777, e.g. 022 \
                 (in the config file, a string: umask = \"022\")"
            )
        })
}

fn permissions(text: &str) -> Result<Permissions, String> {
    text.parse().map_err(|e| format!("{e}"))
}

/// `--nat-address`: an IPv4 address, or a host name resolved to one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatAddress {
    Ip(Ipv4Addr),
    Host(String),
}

impl FromStr for NatAddress {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Ok(ip) = text.parse::<Ipv4Addr>() {
            return Ok(NatAddress::Ip(ip));
        }
        if text.parse::<IpAddr>().is_ok() {
            return Err(format!(
                "{text:?}: PASV replies carry IPv4 addresses only (EPSV gives none)"
            ));
        }
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        let name = text.strip_suffix('.').unwrap_or(text);
        if name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(format!("{text:?}: expected an IPv4 address or a host name"));
        }
        Ok(NatAddress::Host(name.to_owned()))
    }
}

fn proxy_protocol(text: &str) -> Result<ferroftpd::ProxyProtocol, String> {
    text.parse()
}

/// `--proxy-from`: networks, or single addresses, comma-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Networks(pub Vec<ipnet::IpNet>);

impl FromStr for Networks {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parse = |item: &str| {
            let item = item.trim();
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("{item:?}: expected an address or a network (10.0.0.0/24)"))
        };
        let nets = text
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(parse)
            .collect::<Result<Vec<_>, _>>()?;
        if nets.is_empty() {
            return Err("expected at least one address or network".into());
        }
        Ok(Networks(nets))
    }
}

fn passive_ports(text: &str) -> Result<PassivePorts, String> {
    text.parse().map_err(config_message)
}

fn session_reuse(text: &str) -> Result<SessionReuse, String> {
    text.parse().map_err(config_message)
}

fn rate(text: &str) -> Result<Rate, String> {
    text.parse()
}

fn size(text: &str) -> Result<u64, String> {
    ferroftpd::storage::parse_size(text)
}

/// The text of a library configuration error, without its "invalid
/// configuration" prefix (the caller says which option).
pub fn config_message(e: ferroftpd::Error) -> String {
    match e {
        ferroftpd::Error::Config(text) => text,
        other => other.to_string(),
    }
}

/// Subcommands; without one, `ferroftpd` runs the server.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Print a hash of a password for the users file. The password is read from standard input (one line), without echo on a terminal
    HashPassword {
        /// argon2id, bcrypt, sha512-crypt or sha256-crypt
        #[arg(long, default_value_t = HashScheme::Argon2id)]
        scheme: HashScheme,
    },
    /// List the sessions of a running server and their transfers (through its admin API)
    Who {
        #[command(flatten)]
        admin: AdminClient,
        /// Print the API's JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Show the sessions of a running server and their transfers, refreshed until interrupted
    Top {
        #[command(flatten)]
        admin: AdminClient,
        /// Seconds between refreshes
        #[arg(long, value_name = "SECONDS", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=3600))]
        interval: u64,
        /// Refresh this many times, then exit
        #[arg(short = 'n', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
        /// Show once, without clearing the screen, and exit (for scripts)
        #[arg(long, conflicts_with = "count")]
        once: bool,
    },
    /// End a session of a running server at once (its client gets a 421), even mid-transfer
    Kick {
        #[command(flatten)]
        admin: AdminClient,
        /// The session's id, as `ferroftpd who` shows it
        id: u64,
    },
    /// Refuse new connections from an address or network (e.g. 192.0.2.7 or 192.0.2.0/24) and end its sessions
    Ban {
        #[command(flatten)]
        admin: AdminClient,
        /// An IP address or a network in CIDR notation
        address: String,
        /// How long, in seconds [default: until unban]
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
        duration: Option<u64>,
        /// Leave the sessions already connected from the address running
        #[arg(long)]
        keep_sessions: bool,
    },
    /// Lift a ban, given or for failed logins
    Unban {
        #[command(flatten)]
        admin: AdminClient,
        /// The address or network, as `ferroftpd ban` was given it
        address: String,
    },
    /// Print what packages install, made from these options: the man page, shell completions, an example config file
    #[command(hide = true)]
    Generate {
        #[command(subcommand)]
        what: Generated,
    },
}

/// Where the admin commands find a running server's admin API: each
/// option from the flag, else FERROFTPD_ADMIN_ADDRESS and
/// FERROFTPD_ADMIN_TOKEN_FILE, else the server's config file
/// (admin_client.rs).
#[derive(Debug, Clone, clap::Args)]
pub struct AdminClient {
    /// The server's --admin-address: HOST:PORT, or a Unix socket path [default: FERROFTPD_ADMIN_ADDRESS, or admin_address of the config file]
    #[arg(long, value_name = "ADDRESS", value_parser = AdminAddress::from_str)]
    pub admin_address: Option<AdminAddress>,
    /// A file holding the server's admin token [default: FERROFTPD_ADMIN_TOKEN_FILE, or admin_token_file of the config file]
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// The server's config file, read for admin_address and admin_token_file [default: FERROFTPD_CONFIG]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `--admin-address`: a TCP address, or the path of a Unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminAddress {
    Tcp(std::net::SocketAddr),
    Unix(PathBuf),
}

impl FromStr for AdminAddress {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.contains('/') {
            return Ok(AdminAddress::Unix(PathBuf::from(text)));
        }
        text.parse().map(AdminAddress::Tcp).map_err(|_| {
            format!("{text:?}: expected HOST:PORT (127.0.0.1:9180, [::1]:9180) or a Unix socket path with a /")
        })
    }
}

impl std::fmt::Display for AdminAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminAddress::Tcp(addr) => write!(f, "{addr}"),
            AdminAddress::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// `ferroftpd generate WHAT` (generate.rs).
#[derive(Debug, Clone, Subcommand)]
pub enum Generated {
    /// The man page ferroftpd(1), in roff; with a subcommand's name, that subcommand's page (ferroftpd-hash-password(1))
    Man { subcommand: Option<String> },
    /// The completion script of SHELL
    Completions { shell: clap_complete::Shell },
    /// A config file with every key and its default (packaging/ferroftpd.toml)
    Config,
}
