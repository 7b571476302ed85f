//! The counterpart of pyftpdlib's tutorial "basic_ftpd.py": one user with
//! full rights, read-only anonymous access, a custom banner, NAT and a
//! passive port range.
//!
//! ```sh
//! cargo run -p ferroftpd --example basic -- /tmp
//! curl ftp://user:12345@127.0.0.1:2121/
//! ```

use std::sync::Arc;

use ferroftpd::auth::{MemoryAuthorizer, Permissions};
use ferroftpd::{PassivePorts, Server};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());

    // A user with full rights and an anonymous user with read-only rights.
    let users = MemoryAuthorizer::new();
    users.add_user("user", "12345", &dir, Permissions::ALL)?;
    users.add_anonymous(&dir, Permissions::READ)?;

    let server = Server::builder()
        .authorizer(Arc::new(users))
        .banner("pyftpdlib-style server, in Rust.")
        // Behind NAT: announce the public address and use a forwarded range.
        // .masquerade_address("203.0.113.7".parse()?)
        .passive_ports(PassivePorts::new(60_000, 65_535)?)
        .build()?;

    let listener = ferroftpd::bind("127.0.0.1:2121".parse()?)?;
    let stopper = server.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stopper.abort();
    });
    server.serve(listener).await?;
    Ok(())
}
