//! Recipe: a base FTP server (pyftpdlib's tutorial "A Base FTP server",
//! aioftp's "Basic FTP Server"): one user with full rights, read-only
//! anonymous access, a banner, a connection limit and a passive port range.
//!
//! ```sh
//! cargo run -p ferroftpd --example basic -- 127.0.0.1:2121 /tmp/ftp
//! curl ftp://user:12345@127.0.0.1:2121/
//! ```
//!
//! Arguments: the address to listen on (port 0 picks a free one) and the
//! directory to serve; it prints `listening on ADDR` once it accepts.

use std::sync::Arc;

use ferroftpd::auth::{MemoryAuthorizer, Permissions};
use ferroftpd::{PassivePorts, Server};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:2121".into());
    let dir = args.next().unwrap_or_else(|| ".".into());

    // A user with full rights and an anonymous user with read-only rights.
    let users = MemoryAuthorizer::new();
    users.add_user("user", "12345", &dir, Permissions::ALL)?;
    users.add_anonymous(&dir, Permissions::READ)?;

    let server = Server::builder()
        .authorizer(Arc::new(users))
        .banner("pyftpdlib-style server, in Rust.")
        // pyftpdlib's FTPServer.max_cons and max_cons_per_ip.
        .max_connections(256)
        .max_connections_per_ip(Some(5))
        // Behind NAT: announce the public address and use a forwarded range.
        // .masquerade_address("203.0.113.7".parse()?)
        .passive_ports(PassivePorts::new(60_000, 65_535)?)
        .build()?;

    let listener = ferroftpd::bind(addr.parse()?)?;
    println!("listening on {}", listener.local_addr()?);
    // Ctrl-C closes every session, as pyftpdlib's close_all().
    let stopper = server.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stopper.abort();
    });
    server.serve(listener).await?;
    Ok(())
}
