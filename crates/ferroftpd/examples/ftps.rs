//! Recipe: an FTPS server (pyftpdlib's tutorial "FTPS (FTP over TLS/SSL)
//! server", `TLS_FTPHandler`; aioftp's "Server with SSL/TLS"): explicit
//! FTPS (`AUTH TLS`) on one port, implicit FTPS on another, and TLS
//! required for logins and data (`tls_control_required`,
//! `tls_data_required`).
//!
//! ```sh
//! cargo run -p ferroftpd --example ftps -- 127.0.0.1:2121 127.0.0.1:990 /tmp/ftp cert.pem key.pem
//! curl --ssl-reqd -k ftp://user:12345@127.0.0.1:2121/      # explicit
//! curl -k ftps://user:12345@127.0.0.1:990/                  # implicit
//! ```
//!
//! Arguments: the explicit and the implicit address, the directory, then a
//! PEM certificate and key; without them, a throwaway self-signed
//! certificate (feature `self-signed`, on by default) whose fingerprint is
//! printed. Prints `listening on ADDR` and `implicit TLS on ADDR`.

use std::path::Path;
use std::sync::Arc;

use ferroftpd::auth::{MemoryAuthorizer, Permissions};
use ferroftpd::{Server, TlsConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:2121".into());
    let implicit_addr = args.next().unwrap_or_else(|| "127.0.0.1:990".into());
    let dir = args.next().unwrap_or_else(|| ".".into());
    let tls = match (args.next(), args.next()) {
        (Some(cert), Some(key)) => TlsConfig::from_pem_files(Path::new(&cert), Path::new(&key))?,
        _ => TlsConfig::self_signed(&["localhost".into(), "127.0.0.1".into()])?,
    };
    println!("certificate fingerprint {}", tls.fingerprint());

    let users = MemoryAuthorizer::new();
    users.add_user("user", "12345", &dir, Permissions::ALL)?;
    let server = Server::builder()
        .authorizer(Arc::new(users))
        .tls(tls)
        // No password and no file in clear text.
        .tls_control_required(true)
        .tls_data_required(true)
        .build()?;

    let explicit = ferroftpd::bind(addr.parse()?)?;
    let implicit = ferroftpd::bind(implicit_addr.parse()?)?;
    println!("implicit TLS on {}", implicit.local_addr()?);
    println!("listening on {}", explicit.local_addr()?);
    // One server, two listeners: they share users, limits and sessions.
    tokio::try_join!(server.serve(explicit), server.serve_implicit_tls(implicit))?;
    Ok(())
}
