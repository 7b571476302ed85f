//! Command-line flags and the TOML config file, as the user wrote them.
//! `settings.rs` turns them into a validated server.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};
use ferroftpd::auth::HashScheme;
use serde::Deserialize;

/// An FTP server: `ferroftpd` serves the current directory read-only to
/// anonymous users on port 2121.
#[derive(Debug, Parser)]
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

    /// Give anonymous users write permissions (elradfmwMT)
    #[arg(short = 'w', long)]
    pub write: bool,

    /// Public IPv4 address to announce in PASV replies (behind NAT)
    #[arg(short = 'n', long = "nat-address", value_name = "ADDRESS")]
    pub nat_address: Option<Ipv4Addr>,

    /// Passive ports to use, inclusive, e.g. 60000-60100 [default: any free port]
    #[arg(short = 'r', long, value_name = "FROM-TO")]
    pub range: Option<String>,

    /// Log every command and reply
    #[arg(short = 'D', long)]
    pub debug: bool,

    /// One user with full rights; anonymous access is then off unless --anonymous is given
    #[arg(short = 'u', long, requires = "password")]
    pub username: Option<String>,

    /// Password of --username
    #[arg(short = 'P', long, requires = "username")]
    pub password: Option<String>,

    /// Text of the greeting [default: "ferroftpd VERSION ready."]
    #[arg(long)]
    pub banner: Option<String>,

    /// DANGEROUS: allow data connections to and from other hosts than the client (FXP; enables bounce attacks)
    #[arg(long)]
    pub permit_foreign_addresses: bool,

    /// DANGEROUS: allow PORT and EPRT to ports below 1024
    #[arg(long)]
    pub permit_privileged_ports: bool,

    /// Show local time in listings [default: UTC]
    #[arg(long)]
    pub use_localtime: bool,

    /// Do not use sendfile(2) for downloads
    #[arg(long)]
    pub disable_sendfile: bool,

    /// Failed logins before the client is disconnected [default: 3]
    #[arg(long, value_name = "N")]
    pub max_login_attempts: Option<u32>,

    /// A user, repeatable. PERMS defaults to elradfmwMT, HOME to --directory
    #[arg(long = "user", value_name = "NAME:PASSWORD[:PERMS[:HOME]]")]
    pub users: Vec<String>,

    /// Serve the users of this TOML file (see docs/users.md), reloaded on SIGHUP; not with --user, --username or --anonymous
    #[arg(long = "users", value_name = "FILE", conflicts_with_all = ["users", "username", "anonymous"])]
    pub users_file: Option<PathBuf>,

    /// Allow anonymous logins with these permissions [default: elr, or elradfmwMT with --write]
    #[arg(long, value_name = "PERMS", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub anonymous: Option<String>,

    /// Serve the system's accounts: passwords checked with PAM, each user in their home, files accessed with the user's uid and groups (needs root; see docs/system-users.md); not with --users, --user or --username
    #[arg(long, conflicts_with_all = ["users_file", "users", "username"])]
    pub system_users: bool,

    /// With --system-users: only these users may log in, comma-separated [default: all but the rejected]
    #[arg(long, value_name = "NAME,...")]
    pub system_allowed_users: Option<String>,

    /// With --system-users: these users may never log in, comma-separated; "" for none (uid 0 is always refused) [default: root]
    #[arg(long, value_name = "NAME,...")]
    pub system_rejected_users: Option<String>,

    /// With --system-users: let in users whose shell is not in /etc/shells
    #[arg(long)]
    pub system_no_shell_check: bool,

    /// With --system-users: the permissions of every user [default: elradfmwMT]
    #[arg(long, value_name = "PERMS")]
    pub system_perm: Option<String>,

    /// With --system-users: other permissions for one user, repeatable
    #[arg(long = "system-user-perm", value_name = "NAME:PERMS")]
    pub system_user_perms: Vec<String>,

    /// With --system-users: show the whole filesystem with real paths, starting in the home [default: confined to the home]
    #[arg(long)]
    pub system_unconfined: bool,

    /// With --system-users and --anonymous: the system account anonymous users act as [default: ftp]
    #[arg(long, value_name = "NAME")]
    pub system_anonymous_account: Option<String>,

    /// With --system-users: the PAM service (/etc/pam.d/NAME) [default: ferroftpd]
    #[arg(long, value_name = "NAME")]
    pub pam_service: Option<String>,

    /// Seconds a failed login waits before its reply; 0 for none [default: 3]
    #[arg(long, value_name = "SECONDS")]
    pub auth_failed_delay: Option<f64>,

    /// Most control connections at once; more get 421 [default: 512]
    #[arg(long = "max-cons", value_name = "N")]
    pub max_cons: Option<usize>,

    /// Most control connections from one address [default: unlimited]
    #[arg(long = "max-cons-per-ip", value_name = "N")]
    pub max_cons_per_ip: Option<u32>,

    /// Most logged-in sessions per user; more get 530 [default: unlimited]
    #[arg(long = "max-sessions-per-user", value_name = "N")]
    pub max_sessions_per_user: Option<u32>,

    /// Seconds a session may stay idle between commands; 0 disables [default: 300]
    #[arg(long = "timeout", value_name = "SECONDS")]
    pub timeout: Option<u64>,

    /// Seconds a connection has to log in; 0 disables [default: 60]
    #[arg(long = "login-timeout", value_name = "SECONDS")]
    pub login_timeout: Option<u64>,

    /// Seconds a transfer may make no progress before it fails with 426 [default: 300]
    #[arg(long = "data-timeout", value_name = "SECONDS")]
    pub data_timeout: Option<u64>,

    /// Seconds to wait for the client's passive data connection [default: 30]
    #[arg(long = "passive-timeout", value_name = "SECONDS")]
    pub passive_timeout: Option<u64>,

    /// Seconds an active (PORT) data connection may take to connect [default: 30]
    #[arg(long = "active-timeout", value_name = "SECONDS")]
    pub active_timeout: Option<u64>,

    /// Failed logins from one address that ban it [default: 10]
    #[arg(long = "ban-failures", value_name = "N")]
    pub ban_failures: Option<u32>,

    /// Seconds over which failed logins count toward a ban [default: 600]
    #[arg(long = "ban-window", value_name = "SECONDS")]
    pub ban_window: Option<u64>,

    /// Seconds a ban lasts [default: 900]
    #[arg(long = "ban-time", value_name = "SECONDS")]
    pub ban_time: Option<u64>,

    /// IPv6 clients are counted and banned per network of this prefix length, 0 to 128 [default: 64]
    #[arg(long = "ban-ipv6-prefix", value_name = "BITS", value_parser = clap::value_parser!(u8).range(0..=128))]
    pub ban_ipv6_prefix: Option<u8>,

    /// Unknown commands allowed before login; the next closes the connection [default: 10]
    #[arg(long = "max-unknown-commands", value_name = "N")]
    pub max_unknown_commands: Option<u32>,

    /// Upload rate of each session, bytes/s with K/M/G suffixes [default: unlimited]
    #[arg(long = "read-limit", value_name = "RATE")]
    pub read_limit: Option<String>,

    /// Download rate of each session [default: unlimited]
    #[arg(long = "write-limit", value_name = "RATE")]
    pub write_limit: Option<String>,

    /// Upload rate of all of one user's sessions together [default: unlimited]
    #[arg(long = "user-read-limit", value_name = "RATE")]
    pub user_read_limit: Option<String>,

    /// Download rate of all of one user's sessions together [default: unlimited]
    #[arg(long = "user-write-limit", value_name = "RATE")]
    pub user_write_limit: Option<String>,

    /// Upload rate of the whole server [default: unlimited]
    #[arg(long = "total-read-limit", value_name = "RATE")]
    pub total_read_limit: Option<String>,

    /// Download rate of the whole server [default: unlimited]
    #[arg(long = "total-write-limit", value_name = "RATE")]
    pub total_write_limit: Option<String>,

    /// Character set of clients that do not speak UTF-8 (latin1, cp1251, gbk...); names on disk stay UTF-8 [default: UTF-8]
    #[arg(long, value_name = "NAME")]
    pub encoding: Option<String>,

    /// Log format: text or json (one JSON object per line) [default: text]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,

    /// Text lines in pyftpdlib's style, prefixed by this template: {ip}, {port}, {user}, {id}; e.g. "{ip}:{port}-[{user}]"
    #[arg(long, value_name = "TEMPLATE")]
    pub log_prefix: Option<String>,

    /// Append logs to this file instead of standard error
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Append one xferlog(5) line per transfer to this file
    #[arg(long, value_name = "FILE")]
    pub xferlog: Option<PathBuf>,

    /// Serve Prometheus metrics (/metrics) and a health check (/health) over HTTP on this address
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub metrics_address: Option<std::net::SocketAddr>,

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

    /// Whether PROT P data connections must resume their control connection's TLS session: required or optional [default: required]
    #[arg(long, value_name = "POLICY")]
    pub tls_session_reuse: Option<String>,

    /// Fail a protected upload that ends without the client's TLS close_notify (a cut connection looks like that)
    #[arg(long)]
    pub tls_strict_upload_eof: bool,

    /// Accept CCC: after login a client may return the control connection to plain text (for NAT routers that rewrite PASV)
    #[arg(long)]
    pub tls_allow_ccc: bool,

    /// TOML file with settings; flags given on the command line win
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print the version and exit
    #[arg(short = 'v', long, action = ArgAction::Version)]
    pub version: Option<bool>,
}

/// Subcommands; without one, `ferroftpd` runs the server.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a hash of a password for the users file. The password is read from standard input (one line), without echo on a terminal
    HashPassword {
        /// argon2id, bcrypt, sha512-crypt or sha256-crypt
        #[arg(long, default_value_t = HashScheme::Argon2id)]
        scheme: HashScheme,
    },
}

/// The config file: one key per flag, named like the flag with `_` for `-`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub interface: Option<IpAddr>,
    pub port: Option<u16>,
    pub directory: Option<PathBuf>,
    #[serde(default)]
    pub write: bool,
    pub nat_address: Option<Ipv4Addr>,
    pub range: Option<String>,
    #[serde(default)]
    pub debug: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    pub banner: Option<String>,
    #[serde(default)]
    pub permit_foreign_addresses: bool,
    #[serde(default)]
    pub permit_privileged_ports: bool,
    #[serde(default)]
    pub use_localtime: bool,
    #[serde(default)]
    pub disable_sendfile: bool,
    pub max_login_attempts: Option<u32>,
    /// Same syntax as `--user`.
    #[serde(default)]
    pub user: Vec<String>,
    /// A users file, as `--users`.
    pub users: Option<PathBuf>,
    /// `true` for read-only anonymous access, or a permission string.
    pub anonymous: Option<AnonymousSetting>,
    #[serde(default)]
    pub system_users: bool,
    pub system_allowed_users: Option<Vec<String>>,
    pub system_rejected_users: Option<Vec<String>>,
    #[serde(default)]
    pub system_no_shell_check: bool,
    pub system_perm: Option<String>,
    /// Same syntax as `--system-user-perm`.
    #[serde(default)]
    pub system_user_perm: Vec<String>,
    #[serde(default)]
    pub system_unconfined: bool,
    pub system_anonymous_account: Option<String>,
    pub pam_service: Option<String>,
    pub auth_failed_delay: Option<f64>,
    pub max_cons: Option<usize>,
    pub max_cons_per_ip: Option<u32>,
    pub max_sessions_per_user: Option<u32>,
    pub timeout: Option<u64>,
    pub login_timeout: Option<u64>,
    pub data_timeout: Option<u64>,
    pub passive_timeout: Option<u64>,
    pub active_timeout: Option<u64>,
    pub ban_failures: Option<u32>,
    pub ban_window: Option<u64>,
    pub ban_time: Option<u64>,
    pub ban_ipv6_prefix: Option<u8>,
    pub max_unknown_commands: Option<u32>,
    pub read_limit: Option<String>,
    pub write_limit: Option<String>,
    pub user_read_limit: Option<String>,
    pub user_write_limit: Option<String>,
    pub total_read_limit: Option<String>,
    pub total_write_limit: Option<String>,
    #[serde(default)]
    pub no_ban: bool,
    #[serde(default)]
    pub no_sandbox: bool,
    pub encoding: Option<String>,
    pub log_format: Option<String>,
    pub log_file: Option<PathBuf>,
    pub log_prefix: Option<String>,
    pub xferlog: Option<PathBuf>,
    pub metrics_address: Option<std::net::SocketAddr>,
    #[serde(default)]
    pub tls: bool,
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
    #[serde(default)]
    pub tls_self_signed: bool,
    pub tls_implicit_port: Option<u16>,
    #[serde(default)]
    pub tls_control_required: bool,
    #[serde(default)]
    pub tls_data_required: bool,
    #[serde(default)]
    pub tls_required_for_anonymous: bool,
    pub tls_session_reuse: Option<String>,
    #[serde(default)]
    pub tls_allow_ccc: bool,
    #[serde(default)]
    pub tls_strict_upload_eof: bool,
}

/// `anonymous = true` or `anonymous = "elr"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AnonymousSetting {
    Enabled(bool),
    Perms(String),
}

impl Args {
    /// Fills what the command line left out from the config file.
    pub fn merge(mut self, file: ConfigFile) -> Args {
        self.interface = self.interface.or(file.interface);
        self.port = self.port.or(file.port);
        self.directory = self.directory.or(file.directory);
        self.write |= file.write;
        self.nat_address = self.nat_address.or(file.nat_address);
        self.range = self.range.or(file.range);
        self.debug |= file.debug;
        if self.username.is_none() {
            self.username = file.username;
            self.password = file.password;
        }
        self.banner = self.banner.or(file.banner);
        self.permit_foreign_addresses |= file.permit_foreign_addresses;
        self.permit_privileged_ports |= file.permit_privileged_ports;
        self.use_localtime |= file.use_localtime;
        self.disable_sendfile |= file.disable_sendfile;
        self.max_login_attempts = self.max_login_attempts.or(file.max_login_attempts);
        self.users_file = self.users_file.or(file.users);
        let mut users = file.user;
        users.append(&mut self.users);
        self.users = users;
        if self.anonymous.is_none() {
            self.anonymous = match file.anonymous {
                Some(AnonymousSetting::Enabled(true)) => Some(String::new()),
                Some(AnonymousSetting::Enabled(false)) | None => None,
                Some(AnonymousSetting::Perms(p)) => Some(p),
            };
        }
        self.system_users |= file.system_users;
        let names = |list: Option<Vec<String>>| list.map(|l| l.join(","));
        self.system_allowed_users = self
            .system_allowed_users
            .or(names(file.system_allowed_users));
        self.system_rejected_users = self
            .system_rejected_users
            .or(names(file.system_rejected_users));
        self.system_no_shell_check |= file.system_no_shell_check;
        self.system_perm = self.system_perm.or(file.system_perm);
        let mut user_perms = file.system_user_perm;
        user_perms.append(&mut self.system_user_perms);
        self.system_user_perms = user_perms;
        self.system_unconfined |= file.system_unconfined;
        self.system_anonymous_account = self
            .system_anonymous_account
            .or(file.system_anonymous_account);
        self.pam_service = self.pam_service.or(file.pam_service);
        self.auth_failed_delay = self.auth_failed_delay.or(file.auth_failed_delay);
        self.max_cons = self.max_cons.or(file.max_cons);
        self.max_cons_per_ip = self.max_cons_per_ip.or(file.max_cons_per_ip);
        self.max_sessions_per_user = self.max_sessions_per_user.or(file.max_sessions_per_user);
        self.timeout = self.timeout.or(file.timeout);
        self.login_timeout = self.login_timeout.or(file.login_timeout);
        self.data_timeout = self.data_timeout.or(file.data_timeout);
        self.passive_timeout = self.passive_timeout.or(file.passive_timeout);
        self.active_timeout = self.active_timeout.or(file.active_timeout);
        self.ban_failures = self.ban_failures.or(file.ban_failures);
        self.ban_window = self.ban_window.or(file.ban_window);
        self.ban_time = self.ban_time.or(file.ban_time);
        self.ban_ipv6_prefix = self.ban_ipv6_prefix.or(file.ban_ipv6_prefix);
        self.max_unknown_commands = self.max_unknown_commands.or(file.max_unknown_commands);
        self.read_limit = self.read_limit.or(file.read_limit);
        self.write_limit = self.write_limit.or(file.write_limit);
        self.user_read_limit = self.user_read_limit.or(file.user_read_limit);
        self.user_write_limit = self.user_write_limit.or(file.user_write_limit);
        self.total_read_limit = self.total_read_limit.or(file.total_read_limit);
        self.total_write_limit = self.total_write_limit.or(file.total_write_limit);
        self.no_ban |= file.no_ban;
        self.no_sandbox |= file.no_sandbox;
        self.encoding = self.encoding.or(file.encoding);
        self.log_format = self.log_format.or(file.log_format);
        self.log_file = self.log_file.or(file.log_file);
        self.log_prefix = self.log_prefix.or(file.log_prefix);
        self.xferlog = self.xferlog.or(file.xferlog);
        self.metrics_address = self.metrics_address.or(file.metrics_address);
        self.tls |= file.tls;
        self.certfile = self.certfile.or(file.certfile);
        self.keyfile = self.keyfile.or(file.keyfile);
        self.tls_self_signed |= file.tls_self_signed;
        self.tls_implicit_port = self.tls_implicit_port.or(file.tls_implicit_port);
        self.tls_control_required |= file.tls_control_required;
        self.tls_data_required |= file.tls_data_required;
        self.tls_required_for_anonymous |= file.tls_required_for_anonymous;
        self.tls_session_reuse = self.tls_session_reuse.or(file.tls_session_reuse);
        self.tls_allow_ccc |= file.tls_allow_ccc;
        self.tls_strict_upload_eof |= file.tls_strict_upload_eof;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_users_from_the_config_file() {
        let file: ConfigFile = toml::from_str(
            r#"
system_users = true
system_allowed_users = ["alice", "bob"]
system_rejected_users = []
system_perm = "elr"
system_user_perm = ["alice:elradfmwMT"]
system_unconfined = true
system_no_shell_check = true
system_anonymous_account = "nobody"
pam_service = "ftp"
"#,
        )
        .unwrap();
        let args = Args::parse_from([
            "ferroftpd",
            "--system-user-perm",
            "bob:elr",
            "--pam-service",
            "other",
        ])
        .merge(file);
        assert!(args.system_users && args.system_unconfined && args.system_no_shell_check);
        assert_eq!(args.system_allowed_users.as_deref(), Some("alice,bob"));
        // An empty list rejects nobody; it is not the same as no setting.
        assert_eq!(args.system_rejected_users.as_deref(), Some(""));
        assert_eq!(args.system_perm.as_deref(), Some("elr"));
        assert_eq!(args.system_user_perms, ["alice:elradfmwMT", "bob:elr"]);
        assert_eq!(args.system_anonymous_account.as_deref(), Some("nobody"));
        // The command line wins.
        assert_eq!(args.pam_service.as_deref(), Some("other"));
    }

    #[test]
    fn no_sandbox_from_the_config_file_or_the_command_line() {
        let off: ConfigFile = toml::from_str("no_sandbox = true").unwrap();
        assert!(Args::parse_from(["ferroftpd"]).merge(off).no_sandbox);
        let file: ConfigFile = toml::from_str("").unwrap();
        assert!(!Args::parse_from(["ferroftpd"]).merge(file).no_sandbox);
        let file: ConfigFile = toml::from_str("no_sandbox = false").unwrap();
        assert!(
            Args::parse_from(["ferroftpd", "--no-sandbox"])
                .merge(file)
                .no_sandbox
        );
    }

    #[test]
    fn system_users_exclude_other_users() {
        for other in [
            &["--users", "users.toml"][..],
            &["--user", "a:b"],
            &["-u", "a", "-P", "b"],
        ] {
            let argv = ["ferroftpd", "--system-users"].iter().chain(other);
            assert!(Args::try_parse_from(argv).is_err(), "{other:?}");
        }
        let args = Args::try_parse_from(["ferroftpd", "--system-users", "--anonymous"]).unwrap();
        assert!(args.system_users && args.anonymous.is_some());
    }
}
