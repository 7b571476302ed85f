//! `--admin-address` and `--admin-token-file`: the admin API and
//! dashboard (docs/admin.md), on a listener of their own, bound with the
//! others before the sandbox. The token is read then too, so the sandbox
//! needs no rule for its file.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use ferroftpd::admin::{Admin, ReloadFuture};

use crate::args::{AdminAddress, Args};

/// The admin listener, bound, and the token it asks for.
pub struct Bound {
    listener: Listener,
    token: String,
    address: AdminAddress,
}

enum Listener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// Reads the token and binds the listener, if `--admin-address` is given.
/// Errors name the flag.
pub fn bind(args: &Args, ftp: std::net::SocketAddr) -> Result<Option<Bound>> {
    let (address, file) = match (&args.admin_address, &args.admin_token_file) {
        (None, None) => return Ok(None),
        (None, Some(_)) => bail!("--admin-token-file: given without --admin-address"),
        (Some(_), None) => bail!(
            "--admin-address: needs --admin-token-file (the admin API is never served without a token)"
        ),
        (Some(address), Some(file)) => (address.clone(), file),
    };
    if let AdminAddress::Tcp(addr) = &address {
        let same_ip =
            addr.ip() == ftp.ip() || addr.ip().is_unspecified() || ftp.ip().is_unspecified();
        if addr.port() != 0 && addr.port() == ftp.port() && same_ip {
            bail!("--admin-address: {addr} is the FTP port; give the admin API a port of its own");
        }
    }
    let token = read_token(file)?;
    if let Ok(meta) = std::fs::metadata(file) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "--admin-token-file: {} can be read by other users (mode {:o}); chmod 600 it",
                file.display(),
                meta.permissions().mode() & 0o777
            );
        }
    }
    let listener = match &address {
        AdminAddress::Tcp(addr) => Listener::Tcp(
            ferroftpd::bind_std(*addr)
                .map_err(|e| anyhow::anyhow!("--admin-address: cannot listen on {addr}: {e}"))?,
        ),
        AdminAddress::Unix(path) => Listener::Unix(bind_unix(path)?),
    };
    Ok(Some(Bound {
        listener,
        token,
        address,
    }))
}

/// The token of `file`: its first line, checked as the API checks it.
pub fn read_token(file: &Path) -> Result<String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("--admin-token-file: {}: {e}", file.display()))?;
    let token = text.lines().next().unwrap_or_default().trim().to_owned();
    if token.is_empty() {
        bail!("--admin-token-file: {}: empty", file.display());
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        bail!(
            "--admin-token-file: {}: the token must be printable ASCII without spaces",
            file.display()
        );
    }
    if token.len() < ferroftpd::admin::MIN_TOKEN_LEN {
        bail!(
            "--admin-token-file: {}: the token is too short (at least {} characters)",
            file.display(),
            ferroftpd::admin::MIN_TOKEN_LEN
        );
    }
    Ok(token)
}

/// A Unix socket at `path`, replacing a socket left by an earlier run
/// (never another kind of file), readable and writable by the owner only.
fn bind_unix(path: &PathBuf) -> Result<std::os::unix::net::UnixListener> {
    let context = |e: std::io::Error| anyhow::anyhow!("--admin-address: {}: {e}", path.display());
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path).map_err(context)?,
        Ok(_) => bail!(
            "--admin-address: {}: exists and is not a socket",
            path.display()
        ),
        Err(_) => {}
    }
    // Made 0600 from the start: a chmod after the bind would leave a
    // moment when anyone may connect.
    let umask = rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o177));
    let bound = std::os::unix::net::UnixListener::bind(path);
    rustix::process::umask(umask);
    let listener = bound.map_err(context)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(context)?;
    listener.set_nonblocking(true).map_err(context)?;
    Ok(listener)
}

/// Serves the API in the runtime; `listening` is the FTP listener's
/// address, `reload` what SIGHUP runs.
pub fn spawn(
    bound: Bound,
    settings: &crate::settings::Settings,
    listening: std::net::SocketAddr,
    reload: impl Fn() -> ReloadFuture + Send + Sync + 'static,
) -> Result<()> {
    let mut admin = Admin::new(settings.server.clone(), &bound.token)
        .map_err(|e| anyhow::anyhow!("--admin-token-file: {e}"))?
        .setting("listen", listening.to_string())
        .setting("admin_address", bound.address.to_string())
        .on_reload(reload);
    if let Some(metrics) = settings.metrics_address {
        admin = admin.setting("metrics_address", metrics.to_string());
    }
    if let Some(users) = &settings.users_file {
        admin = admin.setting("users_file", users.path().display().to_string());
    }
    match bound.listener {
        Listener::Tcp(l) => {
            let l = tokio::net::TcpListener::from_std(l)?;
            tracing::info!("admin API and dashboard on http://{}/", l.local_addr()?);
            tokio::spawn(admin.serve(l));
        }
        Listener::Unix(l) => {
            let l = tokio::net::UnixListener::from_std(l)?;
            tracing::info!("admin API and dashboard on unix:{}", bound.address);
            tokio::spawn(admin.serve_unix(l));
        }
    }
    Ok(())
}
