//! Checks made at startup, before the sandbox, of what every session will
//! need: without them the server starts, and then every client gets 550
//! (a directory the server cannot read) or 425 (a passive range it cannot
//! bind), with the reason only in the server's log.
//!
//! They check the process as it will serve: its effective uid and groups.
//! With `--system-users` files are opened as each user's uid instead, so
//! the homes are checked at each login (530), not here.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use ferroftpd::PassivePorts;
use rustix::fs::{Access, AtFlags, CWD};

/// A directory the server serves with its own uid: its canonical path, if
/// it exists, is a directory, and the process may list it (read) and open
/// what is in it (search). The error names the path and says which.
pub fn served_dir(path: &Path) -> Result<PathBuf, String> {
    let shown = path.display();
    let dir = path.canonicalize().map_err(|e| match e.kind() {
        ErrorKind::NotFound => format!("{shown}: no such directory"),
        ErrorKind::PermissionDenied => format!(
            "{shown}: permission denied: {} may not search a directory above it",
            identity()
        ),
        _ => format!("{shown}: {}", io_reason(&e)),
    })?;
    if !dir.is_dir() {
        return Err(format!("{shown}: not a directory"));
    }
    // The effective uid and groups, as the kernel will check each open;
    // root passes (the kernel lets it read and search any directory).
    let may = |access: Access| rustix::fs::accessat(CWD, &dir, access, AtFlags::EACCESS).is_ok();
    let missing: Vec<&str> = [
        (Access::READ_OK, "read (list)"),
        (Access::EXEC_OK, "search (open files in)"),
    ]
    .into_iter()
    .filter(|(access, _)| !may(*access))
    .map(|(_, what)| what)
    .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{shown}: permission denied: {} may not {} it",
            identity(),
            missing.join(" or ")
        ));
    }
    Ok(dir)
}

/// "ferroftpd, running as uid 1000,".
fn identity() -> String {
    format!(
        "ferroftpd, running as uid {},",
        rustix::process::geteuid().as_raw()
    )
}

/// Checks that a passive listener can be bound on `ip` in `range`: binds
/// each port of the range in turn until one binds, and closes it at once.
/// Sessions bind their passive ports later the same way, on the address
/// the client reached; a range none of whose ports binds now would fail
/// every PASV and EPSV with 425. Other servers may take ports of the
/// range later: that is the operator's to plan.
pub fn passive_ports(range: PassivePorts, ip: IpAddr) -> Result<(), String> {
    let mut denied = 0u32;
    let mut in_use = 0u32;
    let mut other = None;
    for port in range.start()..=range.end() {
        match TcpListener::bind(SocketAddr::new(ip, port)) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::PermissionDenied => denied += 1,
            Err(e) if e.kind() == ErrorKind::AddrInUse => in_use += 1,
            Err(e) => other = Some(e),
        }
    }
    let why = if denied > 0 && in_use == 0 {
        format!(
            "permission denied: {} may not bind ports below 1024 \
             (run as root, or give it CAP_NET_BIND_SERVICE, or use ports from 1024)",
            identity()
        )
    } else if in_use > 0 && denied == 0 {
        "every port of the range is in use".to_owned()
    } else if let Some(e) = other.filter(|_| denied == 0 && in_use == 0) {
        io_reason(&e)
    } else {
        format!("{denied} ports refused (permission denied), {in_use} in use")
    };
    let address = match ip {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    Err(format!(
        "no port of {range} can be bound on {address}: {why}"
    ))
}

/// Why a listening socket could not be bound, naming the flag at fault:
/// `port_flag` for a port in use or refused, `address_flag` for an
/// address this host does not have.
pub fn listen_error(
    port_flag: &str,
    address_flag: &str,
    addr: SocketAddr,
    e: &std::io::Error,
) -> anyhow::Error {
    let (flag, why) = match e.kind() {
        ErrorKind::AddrInUse => (
            port_flag,
            "in use (another server listens there)".to_owned(),
        ),
        ErrorKind::PermissionDenied => (
            port_flag,
            format!(
                "permission denied: {} may not bind ports below 1024 \
                 (run as root, or give it CAP_NET_BIND_SERVICE, or use a port from 1024)",
                identity()
            ),
        ),
        ErrorKind::AddrNotAvailable => (
            address_flag,
            "no interface of this host has that address".to_owned(),
        ),
        _ => (port_flag, io_reason(e)),
    };
    anyhow::anyhow!("{flag}: cannot listen on {addr}: {why}")
}

/// An I/O error in words, without "(os error N)".
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn served_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert_eq!(
            served_dir(dir.path()).unwrap(),
            dir.path().canonicalize().unwrap()
        );
        let missing = dir.path().join("missing");
        assert_eq!(
            served_dir(&missing).unwrap_err(),
            format!("{}: no such directory", missing.display())
        );
        assert_eq!(
            served_dir(&file).unwrap_err(),
            format!("{}: not a directory", file.display())
        );
        // Permissions: tests/interop/test_cli_options.py, which can run
        // the server as a user the kernel checks (root reads anything).
    }

    #[test]
    fn a_range_in_use_is_refused_and_a_free_port_is_enough() {
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let held = TcpListener::bind((loopback, 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        let range = PassivePorts::new(port, port).unwrap();
        assert_eq!(
            passive_ports(range, loopback).unwrap_err(),
            format!("no port of {port}-{port} can be bound on 127.0.0.1: every port of the range is in use")
        );
        drop(held);
        assert_eq!(passive_ports(range, loopback), Ok(()));
    }
}
