//! Server settings and their builder.

use std::fmt;
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use ferroftpd_proto::message::{message_lines, MAX_MESSAGE_BYTES, MAX_MESSAGE_LINES};

use crate::auth::{Authorizer, MemoryAuthorizer};
use crate::limits::BanPolicy;
pub use crate::listing_rules::{
    check_fake_id, HideIds, DEFAULT_MAX_LIST_DEPTH, DEFAULT_MAX_LIST_ENTRIES,
};
use crate::server::Server;
use crate::storage::{LocalStorageFactory, StorageFactory};
use crate::throttle::Rate;
use crate::tls::TlsConfig;
use crate::Error;
pub use ferroftpd_proto::glob::NamePattern;

/// An inclusive range of ports for passive data connections. Cannot hold an
/// empty or reversed range, or port 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassivePorts {
    start: u16,
    end: u16,
}

impl PassivePorts {
    /// Ports `start` to `end`, both included.
    pub fn new(start: u16, end: u16) -> Result<Self, Error> {
        if start == 0 || start > end {
            return Err(Error::Config(format!(
                "passive port range {start}-{end}: need 1 <= FROM <= TO <= 65535"
            )));
        }
        Ok(PassivePorts { start, end })
    }

    /// First port.
    pub fn start(self) -> u16 {
        self.start
    }

    /// Last port (included).
    pub fn end(self) -> u16 {
        self.end
    }
}

impl FromStr for PassivePorts {
    type Err = Error;

    /// Parses `FROM-TO`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::Config(format!(
                "passive port range {s:?}: expected FROM-TO, e.g. 60000-60100"
            ))
        };
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let a = a.trim().parse().map_err(|_| bad())?;
        let b = b.trim().parse().map_err(|_| bad())?;
        PassivePorts::new(a, b)
    }
}

impl fmt::Display for PassivePorts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// The validated settings of a server. Built with [`Server::builder`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub(crate) authorizer: Arc<dyn Authorizer>,
    pub(crate) storage: Arc<dyn StorageFactory>,
    /// Homes whose storage [`Server::check_ready`] checks.
    pub(crate) readiness_homes: Vec<std::path::PathBuf>,
    pub(crate) banner: String,
    pub(crate) dir_message: Option<Vec<u8>>,
    pub(crate) umask: Option<u32>,
    pub(crate) active_mode: bool,
    pub(crate) passive_mode: bool,
    pub(crate) passive_ports: Option<PassivePorts>,
    pub(crate) masquerade_address: Option<Ipv4Addr>,
    pub(crate) permit_foreign_addresses: bool,
    pub(crate) permit_privileged_ports: bool,
    pub(crate) use_localtime: bool,
    pub(crate) listing: Arc<crate::listing_rules::ListingRules>,
    pub(crate) sendfile: bool,
    pub(crate) max_login_attempts: u32,
    pub(crate) auth_failed_delay: Duration,
    pub(crate) passive_accept_timeout: Duration,
    pub(crate) active_connect_timeout: Duration,
    pub(crate) data_timeout: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) login_timeout: Option<Duration>,
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_ip: Option<u32>,
    pub(crate) max_sessions_per_user: Option<u32>,
    pub(crate) ban: Option<BanPolicy>,
    pub(crate) max_unknown_commands_before_login: u32,
    pub(crate) limits: RateLimits,
    pub(crate) encoding: Option<&'static encoding_rs::Encoding>,
    pub(crate) hooks: Option<Arc<dyn crate::hooks::Hooks>>,
    pub(crate) guard: Option<Arc<dyn crate::guard::Guard>>,
    pub(crate) default_quota: crate::storage::QuotaLimits,
    pub(crate) commands: Arc<crate::commands::CommandRegistry>,
    pub(crate) tls: Option<TlsConfig>,
    pub(crate) tls_control_required: bool,
    pub(crate) tls_data_required: bool,
    pub(crate) tls_required_for_anonymous: bool,
    pub(crate) tls_session_reuse: SessionReuse,
    pub(crate) tls_allow_ccc: bool,
    pub(crate) tls_strict_upload_eof: bool,
    pub(crate) proxy: Arc<crate::proxy::ProxySettings>,
    pub(crate) shared_limits: Option<Arc<crate::shared_limits::SharedLimitsStatus>>,
}

/// Whether a protected data connection must resume the TLS session of its
/// own control connection (RFC 4217 §10.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SessionReuse {
    /// Refuse, with 522, a data connection that does not resume its
    /// control connection's session (vsftpd's `require_ssl_reuse=YES`).
    /// It proves the data connection comes from the client that logged in.
    #[default]
    Required,
    /// Accept any data connection that completes a TLS handshake. For
    /// clients that cannot resume, such as Python's `ftplib.FTP_TLS`.
    Optional,
}

impl FromStr for SessionReuse {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "required" => Ok(SessionReuse::Required),
            "optional" => Ok(SessionReuse::Optional),
            _ => Err(Error::Config(format!(
                "session reuse must be `required` or `optional`, not `{s}`"
            ))),
        }
    }
}

/// Bandwidth limits, in each direction. "Read" is what the server reads
/// from clients (uploads), "write" what it writes to them (downloads), as
/// in pyftpdlib.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Each data connection's upload rate.
    pub read_per_connection: Option<Rate>,
    /// Each data connection's download rate.
    pub write_per_connection: Option<Rate>,
    /// All uploads of one user together, unless the account sets its own.
    pub read_per_user: Option<Rate>,
    /// All downloads of one user together, unless the account sets its own.
    pub write_per_user: Option<Rate>,
    /// All uploads to the server together.
    pub read_total: Option<Rate>,
    /// All downloads from the server together.
    pub write_total: Option<Rate>,
}

/// [`Builder::max_connections`]'s default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

impl ServerConfig {
    /// The passive port range, if one is set.
    pub fn passive_ports(&self) -> Option<PassivePorts> {
        self.passive_ports
    }

    /// Most control connections at once.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Threads tokio's blocking pool needs so that transfers can never
    /// starve other work: each session runs at most one transfer and one
    /// storage call at a time, both on that pool. Use it with
    /// `tokio::runtime::Builder::max_blocking_threads`.
    pub fn blocking_threads_needed(&self) -> usize {
        self.max_connections.saturating_mul(2).saturating_add(16)
    }

    /// The address announced in PASV replies, if one is set.
    pub fn masquerade_address(&self) -> Option<Ipv4Addr> {
        self.masquerade_address
    }

    /// The TLS certificate and key, if FTPS is on.
    pub fn tls(&self) -> Option<&TlsConfig> {
        self.tls.as_ref()
    }
}

/// Builds a [`Server`]. Every setting has a documented default.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use ferroftpd::auth::{MemoryAuthorizer, Permissions};
/// use ferroftpd::{PassivePorts, Rate, RateLimits, Server};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let users = MemoryAuthorizer::new();
/// users.add_user("alice", "wonderland", "/srv/ftp", Permissions::ALL)?;
/// let server = Server::builder()
///     .authorizer(Arc::new(users))
///     .banner("Welcome.")
///     .passive_ports(PassivePorts::new(60_000, 60_100)?)
///     .masquerade_address("203.0.113.7".parse()?)
///     .max_connections(256)
///     .max_connections_per_ip(Some(8))
///     .idle_timeout(Some(Duration::from_secs(300)))
///     .rate_limits(RateLimits {
///         write_per_connection: Rate::new(1 << 20),
///         ..RateLimits::default()
///     })
///     .build()?;
/// server.serve(ferroftpd::bind("0.0.0.0:2121".parse()?)?).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Builder {
    config: ServerConfig,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            config: ServerConfig {
                authorizer: Arc::new(MemoryAuthorizer::new()),
                storage: Arc::new(LocalStorageFactory),
                readiness_homes: Vec::new(),
                banner: format!("ferroftpd {} ready.", env!("CARGO_PKG_VERSION")),
                dir_message: None,
                umask: None,
                active_mode: true,
                passive_mode: true,
                passive_ports: None,
                masquerade_address: None,
                permit_foreign_addresses: false,
                permit_privileged_ports: false,
                use_localtime: false,
                listing: Arc::default(),
                sendfile: true,
                max_login_attempts: 3,
                auth_failed_delay: Duration::from_secs(3),
                passive_accept_timeout: Duration::from_secs(30),
                active_connect_timeout: Duration::from_secs(30),
                data_timeout: Duration::from_secs(300),
                idle_timeout: Some(Duration::from_secs(300)),
                login_timeout: Some(Duration::from_secs(60)),
                max_connections: DEFAULT_MAX_CONNECTIONS,
                max_connections_per_ip: None,
                max_sessions_per_user: None,
                ban: Some(BanPolicy::default()),
                max_unknown_commands_before_login: 10,
                limits: RateLimits::default(),
                encoding: None,
                hooks: None,
                guard: None,
                default_quota: Default::default(),
                commands: Arc::default(),
                tls: None,
                tls_control_required: false,
                tls_data_required: false,
                tls_required_for_anonymous: false,
                tls_session_reuse: SessionReuse::Required,
                tls_allow_ccc: false,
                tls_strict_upload_eof: false,
                proxy: Default::default(),
                shared_limits: None,
            },
        }
    }
}

impl Builder {
    /// Who may log in. Default: a [`MemoryAuthorizer`] with no users, which
    /// refuses everyone.
    pub fn authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.config.authorizer = authorizer;
        self
    }

    /// Where files live. Default: [`LocalStorageFactory`], each user confined
    /// to their home directory.
    pub fn storage(mut self, storage: Arc<dyn StorageFactory>) -> Self {
        self.config.storage = storage;
        self
    }

    /// Adds a home that readiness checks ([`Server::check_ready`], `/ready`
    /// of [`crate::metrics::serve`]) open with the [storage
    /// factory](Self::storage), as a login would, and ask whether it is
    /// reachable ([`crate::storage::Storage::check_reachable`]): the
    /// served directory, or `/` for a whole bucket. Default: none, and
    /// the server is always ready.
    pub fn readiness_home(mut self, home: impl Into<std::path::PathBuf>) -> Self {
        self.config.readiness_homes.push(home.into());
        self
    }

    /// The text of the 220 greeting; several lines are sent as a multi-line
    /// reply. Default: `ferroftpd <version> ready.`
    pub fn banner(mut self, banner: impl Into<String>) -> Self {
        self.config.banner = banner.into();
        self
    }

    /// The 220 greeting read from a text file (vsftpd's `banner_file`,
    /// proftpd's `DisplayConnect`), now, once: it replaces
    /// [`Self::banner`], and the last of the two called wins. Control
    /// characters are dropped and blank lines at the end left out.
    /// Default: none, the [`Self::banner`] text.
    ///
    /// Errors: the file cannot be read, is empty, is not UTF-8, or is
    /// larger than [`MAX_MESSAGE_BYTES`] or [`MAX_MESSAGE_LINES`] lines.
    pub fn banner_file(mut self, path: impl AsRef<Path>) -> Result<Self, Error> {
        self.config.banner = read_banner_file(path.as_ref())?;
        Ok(self)
    }

    /// The name of a file (e.g. `.message`) whose text is shown to a
    /// client that enters its directory: before the 250 reply of CWD and
    /// CDUP, and before the 230 reply of a login for the directory the
    /// session starts in (vsftpd's `dirmessage_enable` and
    /// `message_file`, proftpd's `DisplayChdir`). It is read through the
    /// user's storage, so it works on every backend, and only when the
    /// user may download it; at most [`MAX_MESSAGE_BYTES`] of it are sent,
    /// without control characters. Listings show it like any file.
    /// Default: none.
    ///
    /// `name` must be one path component: [`Self::build`] refuses a `/`,
    /// `.`, `..` or an empty name.
    pub fn dir_message(mut self, name: impl Into<Vec<u8>>) -> Self {
        self.config.dir_message = Some(name.into());
        self
    }

    /// The umask of uploads and new directories, `0` to `0o777` (vsftpd's
    /// `local_umask`, proftpd's `Umask`): files are created with mode
    /// `0o666 & !umask`, directories with `0o777 & !umask`, whatever the
    /// process umask. An upload that replaces a file keeps that file's
    /// mode. It applies to [`LocalStorage`](crate::storage::LocalStorage)
    /// (system users included), through [`Account::umask`], which may set
    /// one per user; other backends ignore it ([`MemoryStorage`] creates
    /// files `0o644` and directories `0o755`, object storage keeps no
    /// modes).
    ///
    /// [`MemoryStorage`]: crate::storage::MemoryStorage
    /// Default: none, the process umask decides (`022` makes files `644`
    /// and directories `755`).
    ///
    /// [`Account::umask`]: crate::auth::Account::umask
    pub fn umask(mut self, umask: u32) -> Self {
        self.config.umask = Some(umask);
        self
    }

    /// Accept active data connections, PORT and EPRT. When false they are
    /// refused with `550`, as vsftpd's `port_enable=NO` does, and FEAT
    /// and HELP leave them out: clients must use PASV or EPSV, which
    /// suits a server whose clients sit behind NAT or firewalls that make
    /// active connections fail slowly. Default: true.
    pub fn active_mode(mut self, enabled: bool) -> Self {
        self.config.active_mode = enabled;
        self
    }

    /// Accept passive data connections, PASV and EPSV. When false they
    /// are refused with `550`, as vsftpd's `pasv_enable=NO` does, and FEAT
    /// and HELP leave them out. [`Self::build`] refuses turning both modes
    /// off. Default: true.
    pub fn passive_mode(mut self, enabled: bool) -> Self {
        self.config.passive_mode = enabled;
        self
    }

    /// Ports for passive data connections. Default: any port the kernel
    /// picks.
    pub fn passive_ports(mut self, ports: PassivePorts) -> Self {
        self.config.passive_ports = Some(ports);
        self
    }

    /// The address given in PASV replies, for a server behind NAT.
    /// Default: the address the client connected to.
    pub fn masquerade_address(mut self, address: Ipv4Addr) -> Self {
        self.config.masquerade_address = Some(address);
        self
    }

    /// **Dangerous.** Allow PORT/EPRT to other hosts than the client and
    /// passive connections from other hosts (FXP). Opens the FTP bounce
    /// attack (RFC 2577). Default: false.
    pub fn permit_foreign_addresses(mut self, permit: bool) -> Self {
        self.config.permit_foreign_addresses = permit;
        self
    }

    /// **Dangerous.** Allow PORT/EPRT to ports below 1024. Default: false.
    pub fn permit_privileged_ports(mut self, permit: bool) -> Self {
        self.config.permit_privileged_ports = permit;
        self
    }

    /// Show times in listings in the server's local time zone instead of
    /// UTC. MDTM and MLSx facts are always UTC, as RFC 3659 requires.
    /// Default: false (UTC).
    pub fn use_localtime(mut self, local: bool) -> Self {
        self.config.use_localtime = local;
        self
    }

    /// Whose listings show fake owner and group names (vsftpd's
    /// `hide_ids`, proftpd's `DirFakeUser`/`DirFakeGroup`). Default:
    /// [`HideIds::Anonymous`].
    pub fn hide_ids(mut self, who: HideIds) -> Self {
        Arc::make_mut(&mut self.config.listing).hide_ids = who;
        self
    }

    /// The owner name shown where [`Self::hide_ids`] hides the real one:
    /// 1 to 32 characters, no spaces ([`check_fake_id`], checked by
    /// [`Self::build`]). Default: `ftp`.
    pub fn fake_owner(mut self, name: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.config.listing).fake_ids.owner = name.into();
        self
    }

    /// The group name shown where [`Self::hide_ids`] hides the real one,
    /// as [`Self::fake_owner`]. Default: `ftp`.
    pub fn fake_group(mut self, name: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.config.listing).fake_ids.group = name.into();
        self
    }

    /// Names no command may touch (vsftpd's `deny_file`, proftpd's
    /// `PathDenyFilter`): a path with a component matching one of these
    /// patterns is refused with 550 by every command (read, write, list,
    /// rename from or to, delete, enter), and such entries are left out of
    /// listings. A symbolic link under another name still leads to what it
    /// points to. Default: none.
    pub fn deny_names(mut self, patterns: impl IntoIterator<Item = NamePattern>) -> Self {
        Arc::make_mut(&mut self.config.listing).deny = patterns.into_iter().collect();
        self
    }

    /// Names left out of LIST, NLST, MLSD and STAT listings that can still
    /// be used by name (vsftpd's `hide_file`). Default: none.
    pub fn hide_names(mut self, patterns: impl IntoIterator<Item = NamePattern>) -> Self {
        Arc::make_mut(&mut self.config.listing).hide = patterns.into_iter().collect();
        self
    }

    /// Leave names that start with `.` out of listings unless the client
    /// asks with `LIST -a` or `NLST -a` (vsftpd without `force_dot_files`);
    /// MLSD, which takes no options, always leaves them out. Default: false
    /// (listed, as pyftpdlib does).
    pub fn hide_dotfiles(mut self, hide: bool) -> Self {
        Arc::make_mut(&mut self.config.listing).hide_dotfiles = hide;
        self
    }

    /// Levels below the listed directory that `LIST -R` and `NLST -R`
    /// descend; 0 ignores `-R` (vsftpd's `ls_recurse_enable=NO`).
    /// Default: [`DEFAULT_MAX_LIST_DEPTH`] (5).
    pub fn max_list_depth(mut self, depth: u32) -> Self {
        Arc::make_mut(&mut self.config.listing).max_depth = depth;
        self
    }

    /// Entries one recursive listing reads, all directories together; the
    /// listing ends there. Default: [`DEFAULT_MAX_LIST_ENTRIES`] (10 000).
    pub fn max_list_entries(mut self, entries: usize) -> Self {
        Arc::make_mut(&mut self.config.listing).max_entries = entries;
        self
    }

    /// Use `sendfile(2)` for binary downloads of local files. Default: true.
    pub fn sendfile(mut self, enabled: bool) -> Self {
        self.config.sendfile = enabled;
        self
    }

    /// Failed logins on one connection after which the client is
    /// disconnected: the last one gets its 530, then the connection
    /// closes (as in pyftpdlib and vsftpd); successful logins in between
    /// (REIN, USER again) do not reset the count. Default: 3. Must be at
    /// least 1.
    pub fn max_login_attempts(mut self, attempts: u32) -> Self {
        self.config.max_login_attempts = attempts;
        self
    }

    /// How long a failed login waits before its 530 reply, which slows
    /// password guessing. No commands are read meanwhile. Default: 3 s;
    /// zero is allowed.
    pub fn auth_failed_delay(mut self, delay: Duration) -> Self {
        self.config.auth_failed_delay = delay;
        self
    }

    /// How long a passive listener waits for the client (then 425).
    /// Default: 30 s.
    pub fn passive_accept_timeout(mut self, timeout: Duration) -> Self {
        self.config.passive_accept_timeout = timeout;
        self
    }

    /// How long an active connection attempt may take (then 425).
    /// Default: 30 s.
    pub fn active_connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.active_connect_timeout = timeout;
        self
    }

    /// How long a transfer may make no progress before it fails with 426.
    /// Default: 300 s.
    pub fn data_timeout(mut self, timeout: Duration) -> Self {
        self.config.data_timeout = timeout;
        self
    }

    /// How long a session may stay silent between commands before it gets
    /// 421 and is closed; not counted while a transfer runs. `None`
    /// disables it. Default: 300 s.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// How long a connection may take to log in, from the greeting, before
    /// it gets 421 and is closed. `None` disables it. Default: 60 s.
    pub fn login_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.login_timeout = timeout;
        self
    }

    /// Most control connections at once; more get 421. Default: 512.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.config.max_connections = max;
        self
    }

    /// Most control connections from one address; more get 421.
    /// Default: unlimited.
    pub fn max_connections_per_ip(mut self, max: Option<u32>) -> Self {
        self.config.max_connections_per_ip = max;
        self
    }

    /// Most logged-in sessions of one user, unless the account sets its
    /// own; a login over it gets 530. Default: unlimited.
    pub fn max_sessions_per_user(mut self, max: Option<u32>) -> Self {
        self.config.max_sessions_per_user = max;
        self
    }

    /// Ban addresses with too many failed logins. `None` turns bans off.
    /// Default: [`BanPolicy::default`] (10 failures in 10 minutes ban for
    /// 15 minutes).
    pub fn ban(mut self, policy: Option<BanPolicy>) -> Self {
        self.config.ban = policy;
        self
    }

    /// Limits and bans shared with other servers (the nodes of a cluster,
    /// through [`crate::shared_limits::RedisLimits`] for example), checked
    /// besides this server's own: a ban given through any of them holds on
    /// all, and a user's session cap counts their sessions on all. If the
    /// shared state does not answer, the server decides alone and says so
    /// in its log and on `/health` (see [`crate::shared_limits`]).
    /// Default: none, every limit is this server's own.
    pub fn shared_limits(
        mut self,
        limits: Option<Arc<dyn crate::shared_limits::SharedLimits>>,
    ) -> Self {
        self.config.shared_limits =
            limits.map(|l| Arc::new(crate::shared_limits::SharedLimitsStatus::new(l)));
        self
    }

    /// Unknown commands a client may send before logging in; the next one
    /// gets 421 and the connection is closed (vsftpd does the same against
    /// cross-protocol attacks). Default: 10.
    pub fn max_unknown_commands_before_login(mut self, max: u32) -> Self {
        self.config.max_unknown_commands_before_login = max;
        self
    }

    /// Bandwidth limits. Default: none.
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.config.limits = limits;
        self
    }

    /// The character set of clients that do not speak UTF-8, by its label
    /// (`latin1`, `cp1251`, `gbk`, `shift_jis`...). Names on the control
    /// and data connections are converted between it and the UTF-8 names
    /// on disk; characters it cannot express are sent as `&#NNNN;`.
    /// `utf-8` is the same as none. Default: none (names pass through as
    /// bytes, UTF-8 advertised).
    pub fn encoding(mut self, label: &str) -> Result<Self, Error> {
        let enc = encoding_rs::Encoding::for_label(label.trim().as_bytes())
            .ok_or_else(|| Error::Config(format!("unknown encoding {label:?}")))?;
        self.config.encoding = (enc != encoding_rs::UTF_8).then_some(enc);
        Ok(self)
    }

    /// Event hooks (see [`crate::hooks`]). Default: none.
    pub fn hooks(mut self, hooks: Arc<dyn crate::hooks::Hooks>) -> Self {
        self.config.hooks = Some(hooks);
        self
    }

    /// A guard asked before logins and file operations, which may refuse
    /// them or send an upload elsewhere (see [`crate::guard`]). Default:
    /// none.
    pub fn guard(mut self, guard: Arc<dyn crate::guard::Guard>) -> Self {
        self.config.guard = Some(guard);
        self
    }

    /// The quota of every user whose account sets none
    /// ([`crate::storage::StorageSettings::quota`]). Default: none.
    pub fn quota(mut self, limits: crate::storage::QuotaLimits) -> Self {
        self.config.default_quota = limits;
        self
    }

    /// Adds the verb `name` (e.g. `XWHO`), or replaces the built-in verb of
    /// that name (all but USER, PASS, AUTH, PBSZ, PROT and CCC). HELP and
    /// FEAT list it. See [`crate::commands`]. Default: none.
    pub fn command(mut self, name: &str, command: crate::commands::CustomCommand) -> Self {
        Arc::make_mut(&mut self.config.commands).add_verb(name, command);
        self
    }

    /// Adds `SITE name`, or replaces the built-in SITE subcommand of that
    /// name (all but HELP, which lists them). See [`crate::commands`].
    /// Default: none.
    pub fn site_command(mut self, name: &str, command: crate::commands::CustomCommand) -> Self {
        Arc::make_mut(&mut self.config.commands).add_site(name, command);
        self
    }

    /// Offers FTPS: `AUTH TLS` on the control listener, and implicit TLS
    /// on listeners served with [`Server::serve_implicit_tls`]. Default:
    /// none (plain FTP only).
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.config.tls = Some(tls);
        self
    }

    /// Refuse USER and PASS (534) until the control connection is
    /// encrypted (pyftpdlib's `tls_control_required`). Anonymous users are
    /// exempt unless [`Self::tls_required_for_anonymous`]. Default: false.
    pub fn tls_control_required(mut self, required: bool) -> Self {
        self.config.tls_control_required = required;
        self
    }

    /// Refuse transfers and listings (521) unless `PROT P` protects the
    /// data connection (pyftpdlib's `tls_data_required`). Anonymous users
    /// are exempt unless [`Self::tls_required_for_anonymous`]. Default:
    /// false.
    pub fn tls_data_required(mut self, required: bool) -> Self {
        self.config.tls_data_required = required;
        self
    }

    /// Apply the two TLS requirements to anonymous users too (vsftpd's
    /// `force_anon_logins_ssl` and `force_anon_data_ssl`). Default: false.
    pub fn tls_required_for_anonymous(mut self, required: bool) -> Self {
        self.config.tls_required_for_anonymous = required;
        self
    }

    /// Whether protected data connections must resume their control
    /// connection's TLS session. Default: [`SessionReuse::Required`].
    pub fn tls_session_reuse(mut self, reuse: SessionReuse) -> Self {
        self.config.tls_session_reuse = reuse;
        self
    }

    /// Accept CCC (RFC 4217 §6): after login, the client may return the
    /// control connection to plain text, so that a NAT router can read and
    /// rewrite PASV replies. Later commands then travel unprotected, and so
    /// would the password of a later USER, unless
    /// [`Self::tls_control_required`] refuses that USER. Default: false
    /// (534).
    pub fn tls_allow_ccc(mut self, allow: bool) -> Self {
        self.config.tls_allow_ccc = allow;
        self
    }

    /// Fail a protected upload (426) whose data connection ends without the
    /// client's TLS close_notify, which is what a connection cut by an
    /// attacker looks like (vsftpd's `strict_ssl_read_eof`). Default: false,
    /// since many clients close uploads without close_notify.
    pub fn tls_strict_upload_eof(mut self, strict: bool) -> Self {
        self.config.tls_strict_upload_eof = strict;
        self
    }

    /// Connections through a load balancer that sends the PROXY protocol
    /// (HAProxy's, versions 1 and 2): with [`ProxyProtocol::Optional`] or
    /// [`ProxyProtocol::Required`], a connection from one of `trusted`
    /// (the balancers' addresses) is read for a header, on the control
    /// connection and the implicit-TLS one (and then on the client's
    /// passive data connections), and the client address in it is the
    /// client's for everything: connection limits and bans, the
    /// passive-connection address check, active-mode targets, `STAT`,
    /// logs, metrics and hooks. A header on a control connection from any
    /// other source is refused and the connection closed; with
    /// `Required`, so is a connection without one. Default:
    /// [`ProxyProtocol::Off`]. Not for [`Server::serve_stream`], whose
    /// caller gives the addresses.
    ///
    /// [`ProxyProtocol::Optional`]: crate::ProxyProtocol::Optional
    /// [`ProxyProtocol::Required`]: crate::ProxyProtocol::Required
    /// [`ProxyProtocol::Off`]: crate::ProxyProtocol::Off
    pub fn proxy_protocol(
        mut self,
        mode: crate::ProxyProtocol,
        trusted: impl IntoIterator<Item = ipnet::IpNet>,
    ) -> Self {
        self.config.proxy = Arc::new(crate::proxy::ProxySettings {
            mode,
            trusted: trusted.into_iter().map(|net| net.trunc()).collect(),
        });
        self
    }

    /// Checks the settings and builds the server.
    pub fn build(self) -> Result<Server, Error> {
        Ok(Server::from_config(self.into_config()?))
    }

    /// Checks the settings: [`Self::build`] without the server, for
    /// [`Server::reconfigure`].
    pub(crate) fn into_config(self) -> Result<ServerConfig, Error> {
        let c = &self.config;
        c.listing.validate()?;
        if c.max_login_attempts == 0 {
            return Err(Error::Config(
                "max_login_attempts must be at least 1".into(),
            ));
        }
        for (name, t) in [
            ("passive_accept_timeout", c.passive_accept_timeout),
            ("active_connect_timeout", c.active_connect_timeout),
            ("data_timeout", c.data_timeout),
        ] {
            if t.is_zero() {
                return Err(Error::Config(format!("{name} must be greater than zero")));
            }
            check_not_too_long(name, t)?;
        }
        c.commands.validate().map_err(Error::Config)?;
        check_session_texts(c)?;
        if c.max_connections == 0 {
            return Err(Error::Config("max_connections must be at least 1".into()));
        }
        if c.max_connections_per_ip == Some(0) {
            return Err(Error::Config(
                "max_connections_per_ip must be at least 1".into(),
            ));
        }
        for (name, t) in [
            ("idle_timeout", c.idle_timeout),
            ("login_timeout", c.login_timeout),
        ] {
            if t.is_some_and(|t| t.is_zero()) {
                return Err(Error::Config(format!(
                    "{name} must be greater than zero, or None"
                )));
            }
            if let Some(t) = t {
                check_not_too_long(name, t)?;
            }
        }
        if let Some(ban) = c.ban {
            check_not_too_long("ban window", ban.window)?;
            check_not_too_long("ban duration", ban.duration)?;
            if ban.ipv6_prefix > 128 {
                return Err(Error::Config(
                    "ban ipv6_prefix must be from 0 to 128".into(),
                ));
            }
            if ban.failures == 0 || ban.window.is_zero() || ban.duration.is_zero() {
                return Err(Error::Config(
                    "ban failures, window and duration must be greater than zero".into(),
                ));
            }
        }
        if c.proxy.is_on() && c.proxy.trusted.is_empty() {
            return Err(Error::Config(
                "the PROXY protocol needs the addresses of the trusted proxies".into(),
            ));
        }
        if c.tls.is_none() && (c.tls_control_required || c.tls_data_required) {
            return Err(Error::Config(
                "requiring TLS needs a certificate (tls)".into(),
            ));
        }
        Ok(self.config)
    }
}

/// Checks the directory message name, the umask and the data modes.
fn check_session_texts(c: &ServerConfig) -> Result<(), Error> {
    if !c.active_mode && !c.passive_mode {
        return Err(Error::Config(
            "active_mode and passive_mode cannot both be off: no transfer could be made".into(),
        ));
    }
    if let Some(name) = &c.dir_message {
        if name.is_empty() || name.contains(&b'/') || name == b"." || name == b".." {
            return Err(Error::Config(format!(
                "dir_message {:?}: expected a file name, without `/`",
                String::from_utf8_lossy(name)
            )));
        }
    }
    if let Some(umask) = c.umask {
        if umask > 0o777 {
            return Err(Error::Config(format!(
                "umask {umask:o}: expected an octal value from 0 to 777"
            )));
        }
    }
    Ok(())
}

/// The greeting text of a banner file, checked (see
/// [`Builder::banner_file`]).
fn read_banner_file(path: &Path) -> Result<String, Error> {
    let bad = |why: String| Error::Config(format!("{}: {why}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let mut bytes = Vec::new();
    // One byte past the cap says the file is too large, without reading
    // a huge file whole.
    std::io::Read::take(file, MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(e.to_string()))?;
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(bad(format!(
            "larger than {MAX_MESSAGE_BYTES} bytes, the most a banner may be"
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        bad(format!("line {line}: not UTF-8 text"))
    })?;
    if text.split('\n').count() > MAX_MESSAGE_LINES + 1 {
        return Err(bad(format!(
            "more than {MAX_MESSAGE_LINES} lines, the most a banner may have"
        )));
    }
    let lines = message_lines(&text);
    if lines.is_empty() {
        return Err(bad("empty".to_owned()));
    }
    Ok(lines.join("\n"))
}

/// Longest timeout or ban accepted: a deadline past it could overflow the
/// clock, and nobody means a longer one.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

fn check_not_too_long(name: &str, t: Duration) -> Result<(), Error> {
    if t > MAX_DURATION {
        return Err(Error::Config(format!(
            "{name} must be at most {} seconds (ten years)",
            MAX_DURATION.as_secs()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passive_ports_parse() {
        assert_eq!(
            "60000-60100".parse::<PassivePorts>().unwrap().to_string(),
            "60000-60100"
        );
        assert_eq!("5-5".parse::<PassivePorts>().unwrap().start(), 5);
        for bad in ["", "1", "0-10", "10-5", "a-b", "1-70000", "-5"] {
            assert!(bad.parse::<PassivePorts>().is_err(), "{bad}");
        }
    }

    #[test]
    fn build_validates() {
        assert!(Server::builder().max_login_attempts(0).build().is_err());
        assert!(Server::builder()
            .data_timeout(Duration::ZERO)
            .build()
            .is_err());
        assert!(Server::builder()
            .auth_failed_delay(Duration::ZERO)
            .build()
            .is_ok());
        // Requiring TLS without a certificate is a mistake, not a no-op.
        assert!(Server::builder()
            .tls_control_required(true)
            .build()
            .is_err());
        assert!(Server::builder().tls_data_required(true).build().is_err());
        // A timeout whose deadline could overflow the clock is refused.
        let forever = Duration::from_secs(u64::MAX);
        assert!(Server::builder()
            .idle_timeout(Some(forever))
            .build()
            .is_err());
        assert!(Server::builder()
            .passive_accept_timeout(forever)
            .build()
            .is_err());
        let ban = BanPolicy {
            duration: forever,
            ..BanPolicy::default()
        };
        assert!(Server::builder().ban(Some(ban)).build().is_err());
    }

    #[test]
    fn session_reuse_parses() {
        assert_eq!(
            "required".parse::<SessionReuse>().unwrap(),
            SessionReuse::Required
        );
        assert_eq!(
            "optional".parse::<SessionReuse>().unwrap(),
            SessionReuse::Optional
        );
        assert!("yes".parse::<SessionReuse>().is_err());
        assert_eq!(SessionReuse::default(), SessionReuse::Required);
    }
}
