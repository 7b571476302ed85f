//! Turns what the user typed into a validated server.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ferroftpd::auth::{
    Authorizer, Confinement, MemoryAuthorizer, Permissions, SystemAuthorizer, UsersFile,
};
use ferroftpd::shared_limits::{RedisLimits, SharedLimits};
use ferroftpd::storage::{
    MemoryStorageFactory, ObjectStorageConfig, ObjectStorageFactory, QuotaLimits, StorageFactory,
};
use ferroftpd::tls::TlsError;
use ferroftpd::{BanPolicy, Builder, RateLimits, Server, TlsConfig};

use crate::args::{config_message, Args, NatAddress, StorageKind};

/// pyftpdlib's default port.
pub const DEFAULT_PORT: u16 = 2121;

/// The default `--memory-size`: room for a few test runs' files, small
/// next to the memory of any machine that runs a server.
pub const DEFAULT_MEMORY_SIZE: u64 = 256 << 20;

/// The listening address and the server.
#[derive(Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub server: Server,
    pub metrics_address: Option<SocketAddr>,
    /// The `--users` file, reloaded on SIGHUP.
    pub users_file: Option<Arc<UsersFile>>,
    /// Where implicit FTPS is served, if anywhere.
    pub implicit_tls_listen: Option<SocketAddr>,
    /// The homes of `--directory`, `--user` and `--username` and of the
    /// anonymous user (canonical paths), and whether anyone may write
    /// there: the sandbox opens these. The users file and system users
    /// have their own (`sandbox.rs`). Empty with `--storage memory`.
    pub roots: Vec<(PathBuf, bool)>,
    /// The tree of `--storage memory` or the bucket of `s3://`, kept by a
    /// reload; `None` for directories on disk.
    pub storage: Option<Arc<dyn StorageFactory>>,
    /// The `--cluster-redis` limits, kept by a reload.
    pub shared_limits: Option<Arc<dyn SharedLimits>>,
}

/// [`Settings`] before the server is made: what a reload checks before it
/// hands the builder to the running server.
pub struct Plan {
    pub builder: Builder,
    pub listen: SocketAddr,
    pub metrics_address: Option<SocketAddr>,
    pub users_file: Option<Arc<UsersFile>>,
    pub implicit_tls_listen: Option<SocketAddr>,
    pub roots: Vec<(PathBuf, bool)>,
    pub storage: Option<Arc<dyn StorageFactory>>,
    pub shared_limits: Option<Arc<dyn SharedLimits>>,
}

impl Plan {
    /// The settings with a server built from the plan.
    pub fn build(self) -> Result<Settings> {
        Ok(Settings {
            server: self.builder.build()?,
            listen: self.listen,
            metrics_address: self.metrics_address,
            users_file: self.users_file,
            implicit_tls_listen: self.implicit_tls_listen,
            roots: self.roots,
            storage: self.storage,
            shared_limits: self.shared_limits,
        })
    }
}

pub fn build(args: &Args) -> Result<Settings> {
    plan(args, None)?.build()
}

/// Reads `args` into a plan. On a reload `previous` is what runs now: its
/// in-memory tree or bucket is kept, and its users file is read again
/// (keeping the file's in-memory folders) rather than loaded afresh.
pub fn plan(args: &Args, previous: Option<&Settings>) -> Result<Plan> {
    if args.username.is_some() != args.password.is_some() {
        bail!("--username and --password go together");
    }
    let storage = args.storage.clone().unwrap_or(StorageKind::Local);
    if args.memory_size.is_some() && storage != StorageKind::Memory {
        bail!("--memory-size needs --storage memory");
    }
    let s3_option = [
        ("--s3-endpoint", args.s3_endpoint.is_some()),
        ("--s3-region", args.s3_region.is_some()),
        ("--s3-virtual-host", args.s3_virtual_host),
        ("--s3-part-size", args.s3_part_size.is_some()),
    ]
    .into_iter()
    .find(|(_, given)| *given);
    if let (Some((flag, _)), false) = (s3_option, matches!(storage, StorageKind::S3(_))) {
        bail!("{flag} needs --storage s3://BUCKET[/PREFIX]");
    }
    let directory = match &storage {
        StorageKind::Local => {
            let (directory, flag) = match &args.directory {
                Some(d) => (d.clone(), "--directory"),
                None => (
                    std::env::current_dir().context("current directory")?,
                    "--directory (the current directory)",
                ),
            };
            // System users are served with their own uids, and a users
            // file names its own homes: the directory is then no one's.
            let served = !args.system_users && args.users_file.is_none();
            let checked = if served {
                crate::preflight::served_dir(&directory)
            } else {
                canonical_dir(&directory)
            };
            checked.map_err(|e| anyhow::anyhow!("{flag}: {e}"))?
        }
        // A path of the tree or bucket, created at the first login.
        StorageKind::Memory | StorageKind::S3(_) => {
            if args.system_users || args.users_file.is_some() {
                bail!(
                    "--storage {} serves the users of --user, --username and --anonymous; \
                     --system-users and --users name directories on disk (a users file can \
                     give its users s3:// storage and mount memory and s3:// folders)",
                    if storage == StorageKind::Memory {
                        "memory"
                    } else {
                        "s3://..."
                    }
                );
            }
            args.directory.clone().unwrap_or_else(|| PathBuf::from("/"))
        }
    };
    let mut roots = Vec::new();
    let (authorizer, users_file) = match &args.users_file {
        _ if args.system_users => (system_users(args)?, None),
        None if has_system_options(args) => {
            bail!("the --system-* options and --pam-service need --system-users")
        }
        Some(path) => {
            if !args.users.is_empty() || args.username.is_some() || args.anonymous.is_some() {
                bail!(
                    "--users cannot be combined with --user, --username or --anonymous: \
                     put those users in the users file"
                );
            }
            let again = previous
                .and_then(|p| p.users_file.as_ref())
                .filter(|old| old.path() == path.as_path());
            let users = Arc::new(match again {
                Some(old) => old.reread().context("--users")?,
                None => UsersFile::load(path).context("--users")?,
            });
            if previous.is_none() {
                tracing::info!(file = %path.display(), users = users.len(), "users file loaded");
            }
            (users.clone() as Arc<dyn Authorizer>, Some(users))
        }
        None => (memory_users(args, &storage, &directory, &mut roots)?, None),
    };
    let readiness_homes = match (&storage, users_file.is_some() || args.system_users) {
        // Each user of the file, or of the system, has a home of their
        // own: too many to check at every probe.
        (_, true) => Vec::new(),
        (StorageKind::Local, false) => roots.iter().map(|(home, _)| home.clone()).collect(),
        (StorageKind::Memory | StorageKind::S3(_), false) => std::iter::once(directory.clone())
            .chain(args.users.iter().filter_map(|u| u.home.clone()))
            .collect(),
    };

    let mut builder = Server::builder()
        .authorizer(authorizer)
        .permit_foreign_addresses(args.permit_foreign_addresses)
        .permit_privileged_ports(args.permit_privileged_ports)
        .use_localtime(args.use_localtime)
        .sendfile(!args.disable_sendfile);
    let mut checked = Vec::new();
    for home in readiness_homes {
        if !checked.contains(&home) {
            builder = builder.readiness_home(&home);
            checked.push(home);
        }
    }
    if let Some(banner) = &args.banner {
        builder = builder.banner(banner);
    }
    builder = session_features(builder, args)?;
    if let Some(nat) = &args.nat_address {
        builder = builder.masquerade_address(resolve_nat_address(nat)?);
    }
    if let Some(ports) = args.range {
        builder = builder.passive_ports(ports);
    }
    builder = proxy_protocol(builder, args)?;
    if let Some(n) = args.max_login_attempts {
        builder = builder.max_login_attempts(n);
    }
    if let Some(delay) = args.auth_failed_delay {
        builder = builder.auth_failed_delay(delay);
    }
    builder = listing_rules(builder, args);
    let kept = previous.and_then(|p| p.storage.clone());
    let storage_factory: Option<Arc<dyn StorageFactory>> = match (&storage, kept) {
        // Each session's process has become its user (isolate.rs).
        (StorageKind::Local, _) if args.isolate_sessions => {
            Some(Arc::new(ferroftpd::storage::ProcessUserStorageFactory))
        }
        (StorageKind::Local, _) => None,
        // The storage options are read at startup only (reload.rs).
        (_, Some(kept)) => Some(kept),
        (StorageKind::Memory, None) => {
            let capacity = args.memory_size.unwrap_or(DEFAULT_MEMORY_SIZE);
            tracing::info!(capacity, "serving an in-memory tree, empty at startup");
            Some(Arc::new(MemoryStorageFactory::new(capacity)))
        }
        (StorageKind::S3(url), None) => {
            let factory = Arc::new(s3_storage(args, url)?);
            tracing::info!(
                url,
                endpoint = args.s3_endpoint.as_deref().unwrap_or("AWS"),
                "serving an S3 bucket"
            );
            Some(factory)
        }
    };
    if let Some(factory) = &storage_factory {
        builder = builder.storage(factory.clone());
    }
    if args.quota_bytes.is_some() || args.quota_files.is_some() {
        builder = builder.quota(QuotaLimits {
            max_bytes: args.quota_bytes,
            max_files: args.quota_files,
        });
    }
    builder = limits(builder, args)?;
    // Read at startup only (reload.rs): its leases and connection stay.
    let shared_limits = match (previous, &args.cluster_redis) {
        (Some(previous), _) => previous.shared_limits.clone(),
        (None, Some(url)) => {
            let redis = RedisLimits::new(url)
                .map_err(|e| anyhow::anyhow!("--cluster-redis: {}", config_message(e)))?;
            tracing::info!("limits and bans shared through {}", redis.describe());
            Some(Arc::new(redis) as Arc<dyn SharedLimits>)
        }
        (None, None) => None,
    };
    builder = builder.shared_limits(shared_limits.clone());
    if let Some(label) = &args.encoding {
        builder = builder
            .encoding(label)
            .map_err(|e| anyhow::anyhow!("--encoding: {}", config_message(e)))?;
    }
    // A reload keeps a self-signed certificate: its fingerprint is what
    // clients were told to trust.
    let self_signed = previous
        .filter(|_| args.tls_self_signed)
        .and_then(|p| p.server.config().tls().cloned());
    builder = tls(builder, args, self_signed)?;
    let ip = args.interface.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    Ok(Plan {
        builder,
        listen: SocketAddr::new(ip, args.port.unwrap_or(DEFAULT_PORT)),
        metrics_address: args.metrics_address,
        users_file,
        implicit_tls_listen: args.tls_implicit_port.map(|port| SocketAddr::new(ip, port)),
        roots,
        storage: storage_factory,
        shared_limits,
    })
}

/// `--proxy-protocol` with `--proxy-from`.
fn proxy_protocol(builder: Builder, args: &Args) -> Result<Builder> {
    use ferroftpd::ProxyProtocol;
    let mode = args.proxy_protocol.unwrap_or_default();
    match (mode, &args.proxy_from) {
        (ProxyProtocol::Off, None) => Ok(builder),
        (ProxyProtocol::Off, Some(_)) => {
            bail!("--proxy-from needs --proxy-protocol optional or required")
        }
        (mode, None) => {
            bail!("--proxy-protocol {mode} needs --proxy-from: the balancers' addresses")
        }
        (mode, Some(nets)) => {
            tracing::info!(%mode, from = ?nets.0, "PROXY protocol");
            Ok(builder.proxy_protocol(mode, nets.0.iter().copied()))
        }
    }
}

/// The address of `--nat-address`; a host name is resolved now (at
/// startup, and again on each reload), to its first IPv4 address.
fn resolve_nat_address(nat: &NatAddress) -> Result<std::net::Ipv4Addr> {
    use std::net::ToSocketAddrs;
    match nat {
        NatAddress::Ip(ip) => Ok(*ip),
        NatAddress::Host(name) => {
            let addrs = (name.as_str(), 0)
                .to_socket_addrs()
                .with_context(|| format!("--nat-address {name}: cannot resolve the name"))?;
            let ip = addrs
                .filter_map(|a| match a.ip() {
                    IpAddr::V4(v4) => Some(v4),
                    IpAddr::V6(_) => None,
                })
                .next()
                .with_context(|| format!("--nat-address {name}: the name has no IPv4 address"))?;
            tracing::info!(name, %ip, "--nat-address resolved");
            Ok(ip)
        }
    }
}

/// The banner file, directory messages, the umask and the data modes.
fn session_features(mut builder: Builder, args: &Args) -> Result<Builder> {
    if let Some(path) = &args.banner_file {
        // Set in different layers, the two would hide each other.
        if args.banner.is_some() {
            bail!("--banner and --banner-file cannot be combined: choose one");
        }
        builder = builder.banner_file(path).context("--banner-file")?;
    }
    if let Some(name) = &args.dir_message {
        builder = builder.dir_message(name.as_bytes());
    }
    if let Some(umask) = args.umask {
        builder = builder.umask(umask);
    }
    if args.no_active && args.no_passive {
        bail!("--no-active and --no-passive cannot be combined: no transfer could be made");
    }
    Ok(builder
        .active_mode(!args.no_active)
        .passive_mode(!args.no_passive))
}

/// True if any option of `--system-users` is set.
fn has_system_options(args: &Args) -> bool {
    args.system_allowed_users.is_some()
        || args.system_rejected_users.is_some()
        || args.system_no_shell_check
        || args.system_perm.is_some()
        || !args.system_user_perms.is_empty()
        || args.system_unconfined
        || args.isolate_sessions
        || args.system_anonymous_account.is_some()
        || args.pam_service.is_some()
}

/// The system's accounts (`--system-users`), with `--anonymous` mapped to
/// a system account.
fn system_users(args: &Args) -> Result<Arc<dyn Authorizer>> {
    if args.users_file.is_some() || !args.users.is_empty() || args.username.is_some() {
        bail!("--system-users cannot be combined with --users, --user or --username");
    }
    if !rustix::process::geteuid().is_root() {
        bail!("--system-users needs root: to check passwords with PAM and to act as each user");
    }
    let mut builder = SystemAuthorizer::builder()
        .require_valid_shell(!args.system_no_shell_check)
        .become_user_at_login(args.isolate_sessions)
        .confinement(if args.system_unconfined {
            Confinement::Unconfined
        } else {
            Confinement::Home
        });
    if let Some(service) = &args.pam_service {
        builder = builder.pam_service(service);
    }
    if let Some(list) = &args.system_allowed_users {
        builder = builder.allowed_users(list.0.clone());
    }
    if let Some(list) = &args.system_rejected_users {
        builder = builder.rejected_users(list.0.clone());
    }
    if let Some(perms) = args.system_perm {
        builder = builder.permissions(perms);
    }
    for spec in &args.system_user_perms {
        builder = builder.user_permissions(&spec.name, spec.perms);
    }
    if let Some(perms) = &args.anonymous {
        let perms = match perms.as_str() {
            "" if args.write => Permissions::ALL,
            "" => Permissions::READ,
            p => p.parse().context("--anonymous")?,
        };
        let account = args.system_anonymous_account.as_deref().unwrap_or("ftp");
        builder = builder.anonymous(account, perms);
    } else if args.system_anonymous_account.is_some() {
        bail!("--system-anonymous-account needs --anonymous");
    }
    let authorizer = builder.build().with_context(|| {
        if args.anonymous.is_some() && args.system_anonymous_account.is_none() {
            "--system-users --anonymous (choose the account with --system-anonymous-account)"
        } else {
            "--system-users"
        }
    })?;
    let confinement = if args.system_unconfined {
        "none"
    } else {
        "home"
    };
    let anonymous = args.anonymous.is_some();
    // Said once by the supervisor, not again by each session's process.
    if crate::isolate::is_session_process() {
        tracing::debug!(confinement, anonymous, "serving system users");
    } else {
        tracing::info!(confinement, anonymous, "serving system users");
    }
    Ok(Arc::new(authorizer))
}

/// The bucket of `--storage s3://...` with the `--s3-*` options; the keys
/// come from the AWS environment variables or profile.
fn s3_storage(args: &Args, url: &str) -> Result<ObjectStorageFactory> {
    let mut config = ObjectStorageConfig::from_url(url).context("--storage")?;
    if let Some(endpoint) = &args.s3_endpoint {
        config = config.endpoint(endpoint);
    }
    if let Some(region) = &args.s3_region {
        config = config.region(region);
    }
    if args.s3_virtual_host {
        config = config.path_style(false);
    }
    if let Some(size) = args.s3_part_size {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        config = config.part_size(size).context("--s3-part-size")?;
    }
    Ok(config.build()?)
}

/// The users of `--user`, `--username` and `--anonymous`. On disk their
/// homes must be directories, and go to `roots`; in memory they are paths
/// of the tree, made at the first login.
fn memory_users(
    args: &Args,
    storage: &StorageKind,
    directory: &Path,
    roots: &mut Vec<(PathBuf, bool)>,
) -> Result<Arc<dyn Authorizer>> {
    let directory = directory.to_path_buf();
    let mut root = |home: &Path, write: bool| {
        if *storage == StorageKind::Local {
            roots.push((home.to_path_buf(), write));
        }
    };
    let authorizer = MemoryAuthorizer::new();
    let mut named = 0;
    for user in &args.users {
        let home = match (&user.home, storage) {
            (Some(h), StorageKind::Local) => crate::preflight::served_dir(h)
                .map_err(|e| anyhow::anyhow!("--user {}: home {e}", user.name))?,
            (Some(h), StorageKind::Memory | StorageKind::S3(_)) => h.clone(),
            (None, _) => directory.clone(),
        };
        authorizer
            .add_user(&user.name, &user.password, &home, user.perms)
            .with_context(|| format!("--user {}", user.name))?;
        root(&home, user.perms.has_write());
        named += 1;
    }
    if let Some(name) = &args.username {
        let password = args.password.as_deref().unwrap_or_default();
        // As `python -m pyftpdlib -u`: read-only unless --write.
        let perms = if args.write {
            Permissions::ALL
        } else {
            Permissions::READ
        };
        authorizer
            .add_user(name, password, &directory, perms)
            .with_context(|| format!("--username {name}"))?;
        root(&directory, args.write);
        named += 1;
    }
    let anonymous = match (&args.anonymous, named) {
        (Some(p), _) if !p.is_empty() => Some(p.parse::<Permissions>().context("--anonymous")?),
        (Some(_), _) | (None, 0) if args.write => Some(Permissions::ALL),
        (Some(_), _) | (None, 0) => Some(Permissions::READ),
        (None, _) => None,
    };
    if let Some(perms) = anonymous {
        authorizer
            .add_anonymous(&directory, perms)
            .context("anonymous user")?;
        root(&directory, perms.has_write());
    }
    Ok(Arc::new(authorizer))
}

/// Connection limits, timeouts, bans and bandwidth limits.
fn limits(mut builder: Builder, args: &Args) -> Result<Builder> {
    if let Some(n) = args.max_cons {
        builder = builder.max_connections(n);
    }
    builder = builder
        .max_connections_per_ip(args.max_cons_per_ip)
        .max_sessions_per_user(args.max_sessions_per_user);
    let seconds = |s: u64| Duration::from_secs(s);
    let optional = |s: u64| (s > 0).then(|| seconds(s));
    if let Some(s) = args.timeout {
        builder = builder.idle_timeout(optional(s));
        // pyftpdlib's --timeout is its data channels' timeout too.
        if args.data_timeout.is_none() && s > 0 {
            builder = builder.data_timeout(seconds(s));
        }
    }
    if let Some(s) = args.login_timeout {
        builder = builder.login_timeout(optional(s));
    }
    if let Some(s) = args.data_timeout {
        builder = builder.data_timeout(seconds(s));
    }
    if let Some(s) = args.passive_timeout {
        builder = builder.passive_accept_timeout(seconds(s));
    }
    if let Some(s) = args.active_timeout {
        builder = builder.active_connect_timeout(seconds(s));
    }
    if args.no_ban {
        builder = builder.ban(None);
    } else {
        let mut ban = BanPolicy::default();
        if let Some(n) = args.ban_failures {
            ban.failures = n;
        }
        if let Some(s) = args.ban_window {
            ban.window = seconds(s);
        }
        if let Some(s) = args.ban_time {
            ban.duration = seconds(s);
        }
        if let Some(bits) = args.ban_ipv6_prefix {
            anyhow::ensure!(
                bits <= 128,
                "ban_ipv6_prefix = {bits}: expected a prefix length from 0 to 128"
            );
            ban.ipv6_prefix = bits;
        }
        builder = builder.ban(Some(ban));
    }
    if let Some(n) = args.max_unknown_commands {
        builder = builder.max_unknown_commands_before_login(n);
    }
    let limits = RateLimits {
        read_per_connection: args.read_limit,
        write_per_connection: args.write_limit,
        read_per_user: args.user_read_limit,
        write_per_user: args.user_write_limit,
        read_total: args.total_read_limit,
        write_total: args.total_write_limit,
    };
    Ok(builder.rate_limits(limits))
}

/// FTPS: the certificate and the policies.
fn tls(mut builder: Builder, args: &Args, self_signed: Option<TlsConfig>) -> Result<Builder> {
    let enabled = args.tls || args.tls_self_signed;
    if !enabled {
        if args.certfile.is_some() || args.keyfile.is_some() {
            bail!("--certfile and --keyfile need --tls");
        }
        if args.tls_implicit_port.is_some()
            || args.tls_control_required
            || args.tls_data_required
            || args.tls_required_for_anonymous
            || args.tls_session_reuse.is_some()
            || args.tls_allow_ccc
            || args.tls_strict_upload_eof
        {
            bail!("the --tls-* settings need --tls (with --certfile) or --tls-self-signed");
        }
        return Ok(builder);
    }
    let config = match (&args.certfile, args.tls_self_signed, self_signed) {
        (Some(_), true, _) => bail!("--certfile and --tls-self-signed exclude each other"),
        (Some(cert), false, _) => {
            let key = args.keyfile.as_deref().unwrap_or(cert);
            TlsConfig::from_pem_files(cert, key).map_err(|e| {
                // The flag of the file at fault, which the message names.
                let flag = match e {
                    TlsError::KeyFile { .. } if args.keyfile.is_some() => "--keyfile",
                    _ => "--certfile",
                };
                anyhow::anyhow!("{flag}: {e}")
            })?
        }
        (None, true, Some(kept)) => kept,
        (None, true, None) => {
            let mut names = vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
            ];
            if let Some(ip) = args.interface.filter(|ip| !ip.is_unspecified()) {
                names.push(ip.to_string());
            }
            let config = TlsConfig::self_signed(&names).context("--tls-self-signed")?;
            tracing::warn!(
                fingerprint = config.fingerprint(),
                "serving an ephemeral self-signed certificate; clients must be told to trust it"
            );
            config
        }
        (None, false, _) => bail!("--tls needs --certfile (and --keyfile), or --tls-self-signed"),
    };
    tracing::info!(
        fingerprint = config.fingerprint(),
        "TLS certificate (SHA-256)"
    );
    builder = builder
        .tls(config)
        .tls_control_required(args.tls_control_required)
        .tls_data_required(args.tls_data_required)
        .tls_required_for_anonymous(args.tls_required_for_anonymous)
        .tls_allow_ccc(args.tls_allow_ccc)
        .tls_strict_upload_eof(args.tls_strict_upload_eof);
    if let Some(reuse) = args.tls_session_reuse {
        builder = builder.tls_session_reuse(reuse);
    }
    Ok(builder)
}

/// A directory's canonical path, if it is one.
fn canonical_dir(path: &Path) -> Result<PathBuf, String> {
    let dir = path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if !dir.is_dir() {
        return Err(format!("{}: not a directory", path.display()));
    }
    Ok(dir)
}

/// What listings show and which names are off limits: `--hide-ids`,
/// `--fake-owner`, `--fake-group`, `--deny-file`, `--hide-file`,
/// `--hide-dotfiles`, `--max-list-depth`, `--max-list-entries`.
fn listing_rules(mut builder: Builder, args: &Args) -> Builder {
    if let Some(who) = args.hide_ids {
        builder = builder.hide_ids(who);
    }
    if let Some(name) = &args.fake_owner {
        builder = builder.fake_owner(name);
    }
    if let Some(name) = &args.fake_group {
        builder = builder.fake_group(name);
    }
    if let Some(patterns) = &args.deny_file {
        builder = builder.deny_names(patterns.0.iter().cloned());
    }
    if let Some(patterns) = &args.hide_file {
        builder = builder.hide_names(patterns.0.iter().cloned());
    }
    if let Some(depth) = args.max_list_depth {
        builder = builder.max_list_depth(depth);
    }
    if let Some(entries) = args.max_list_entries {
        builder = builder.max_list_entries(usize::try_from(entries).unwrap_or(usize::MAX));
    }
    builder.hide_dotfiles(args.hide_dotfiles)
}

#[cfg(test)]
mod listing_rules_tests {
    use crate::layers::parse;

    fn parse_with(argv: &[&str], env: &[(&str, &str)]) -> Result<crate::args::Args, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(
            std::iter::once("ferroftpd").chain(argv.iter().copied()),
            |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.into()),
        )
        .map(|parsed| parsed.args)
        .map_err(|e| e.to_string())
    }

    #[test]
    fn listing_rules_from_the_file_the_environment_and_flags() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(
            &mut file,
            br#"
hide_ids = "everyone"
fake_owner = "nobody"
fake_group = "nogroup"
deny_file = ["*.mp3", ".private"]
hide_file = "{*.bak,core}"
hide_dotfiles = true
max_list_depth = 2
max_list_entries = 100
"#,
        )
        .unwrap();
        let path = file.path().to_str().unwrap();
        let args = parse_with(&["--config", path], &[]).unwrap();
        assert_eq!(args.hide_ids, Some(ferroftpd::HideIds::Everyone));
        assert_eq!(args.fake_owner.as_deref(), Some("nobody"));
        let deny: Vec<&str> = args
            .deny_file
            .as_ref()
            .unwrap()
            .0
            .iter()
            .map(|p| p.as_str())
            .collect();
        assert_eq!(deny, ["*.mp3", ".private"]);
        assert_eq!(args.hide_file.as_ref().unwrap().0.len(), 2);
        assert!(args.hide_dotfiles);
        assert_eq!(
            (args.max_list_depth, args.max_list_entries),
            (Some(2), Some(100))
        );
        super::build(&args).unwrap();
        // The environment beats the file, the command line beats both.
        let args = parse_with(
            &["--config", path, "--no-hide-dotfiles"],
            &[
                ("FERROFTPD_DENY_FILE", "*.iso"),
                ("FERROFTPD_HIDE_IDS", "never"),
            ],
        )
        .unwrap();
        assert!(!args.hide_dotfiles);
        assert_eq!(args.deny_file.unwrap().0[0].as_str(), "*.iso");
        assert_eq!(args.hide_ids, Some(ferroftpd::HideIds::Never));
    }

    #[test]
    fn bad_listing_rules_name_their_source() {
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case<'_>] = &[
            (&["--deny-file", "a/b"], &[], "--deny-file"),
            // Blank items are skipped: accepted.
            (&["--hide-file", "ok,"], &[], ""),
            (
                &[],
                &[("FERROFTPD_HIDE_FILE", "x\ty")],
                "FERROFTPD_HIDE_FILE",
            ),
            (&["--hide-ids", "yes"], &[], "--hide-ids"),
            (
                &[],
                &[("FERROFTPD_FAKE_OWNER", "two words")],
                "FERROFTPD_FAKE_OWNER",
            ),
            (&["--fake-group", ""], &[], "--fake-group"),
            (&["--max-list-entries", "0"], &[], "--max-list-entries"),
            (&["--max-list-depth=-1"], &[], "--max-list-depth"),
        ];
        for (argv, env, source) in cases {
            match parse_with(argv, env) {
                Ok(_) if source.is_empty() => {}
                Ok(args) => panic!("{argv:?} {env:?}: accepted {args:?}"),
                Err(e) => {
                    assert!(!source.is_empty(), "{argv:?}: {e}");
                    assert!(e.contains(source), "{argv:?} {env:?}: {e}");
                    assert_eq!(e.trim().lines().count(), 1, "{e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::UserSpec;

    #[test]
    fn user_specs() {
        let parse = |s: &str| s.parse::<UserSpec>();
        let u = parse("bob:pw").unwrap();
        assert_eq!(
            (u.name.as_str(), u.password.as_str(), u.perms, u.home),
            ("bob", "pw", Permissions::ALL, None)
        );
        let u = parse("bob:pw:elr:/srv").unwrap();
        assert_eq!(u.perms, Permissions::READ);
        assert_eq!(u.home, Some(PathBuf::from("/srv")));
        let u = parse("bob:p:w::").unwrap();
        assert_eq!(u.password, "p");
        assert_eq!(u.perms, "w".parse().unwrap());
        let u = parse("bob::").unwrap();
        assert_eq!(u.password, "");
        for bad in ["bob", ":pw", "bob:pw:xyz"] {
            let e = parse(bad).unwrap_err();
            assert!(!e.contains("pw"), "{bad}: {e}");
        }
        assert!(!format!("{:?}", parse("bob:s3cret").unwrap()).contains("s3cret"));
    }

    fn args(argv: &[&str]) -> Args {
        crate::layers::parse(
            std::iter::once("ferroftpd").chain(argv.iter().copied()),
            |_| None,
        )
        .unwrap()
        .args
    }

    #[test]
    fn memory_storage_needs_no_directory_and_opens_nothing_on_disk() {
        let settings = build(&args(&[
            "--storage",
            "memory",
            "-d",
            "/nonexistent/tree",
            "-u",
            "alice",
            "-P",
            "pw",
            "--user",
            "bob:pw:elr:/bob",
            "--anonymous",
            "--quota-bytes",
            "1M",
        ]))
        .unwrap();
        assert!(settings.roots.is_empty());
        for bad in [
            &["--memory-size", "1M"][..],
            &["--storage", "memory", "--users", "users.toml"],
            &["-u", "alice"],
            &["-P", "pw"],
        ] {
            assert!(build(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn banner_and_banner_file_exclude_each_other_across_layers() {
        let dir = tempfile::tempdir().unwrap();
        let banner = dir.path().join("banner");
        std::fs::write(&banner, "Hello\n").unwrap();
        let d = dir.path().to_str().unwrap();
        let file = dir.path().join("ferroftpd.toml");
        std::fs::write(&file, "banner = \"Hi\"\n").unwrap();
        let layered = crate::layers::parse(
            [
                "ferroftpd",
                "-d",
                d,
                "--config",
                file.to_str().unwrap(),
                "--banner-file",
                banner.to_str().unwrap(),
            ],
            |_| None,
        )
        .unwrap()
        .args;
        let err = build(&layered).err().unwrap().to_string();
        assert!(err.contains("--banner and --banner-file"), "{err}");
        assert!(build(&args(&["-d", d, "--banner-file", banner.to_str().unwrap()])).is_ok());
        let err = build(&args(&["-d", d, "--banner-file", "/nonexistent/banner"]))
            .err()
            .unwrap();
        let err = format!("{err:#}");
        assert!(err.starts_with("--banner-file: "), "{err}");
        assert!(err.contains("/nonexistent/banner"), "{err}");
    }
}
