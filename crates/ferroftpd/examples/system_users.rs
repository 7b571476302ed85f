//! Recipe: a Unix FTP server for the system's own accounts (pyftpdlib's
//! tutorial "Unix FTP Server", `UnixAuthorizer` and
//! `UnixFilesystem`; feature `system-users`). Passwords are checked with
//! PAM; each user is confined to their home, and every file operation of
//! the session runs with the user's uid, gid and groups, so uploads
//! belong to the user and the kernel's permissions apply.
//!
//! ```sh
//! cargo build -p ferroftpd --features system-users --example system_users
//! sudo target/debug/examples/system_users 0.0.0.0:21
//! ```
//!
//! Needs root (to switch to each user). Root and accounts without a shell
//! from `/etc/shells` are refused. Arguments: the address, then the PAM
//! service (default `ferroftpd`, falling back to `other` where it is not
//! installed; see docs/system-users.md). Prints `listening on ADDR` once
//! it accepts.

use std::sync::Arc;

use ferroftpd::auth::{Permissions, SystemAuthorizer};
use ferroftpd::Server;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:2121".into());
    let mut users = SystemAuthorizer::builder().permissions(Permissions::ALL);
    if let Some(service) = args.next() {
        users = users.pam_service(service);
    }
    let server = Server::builder()
        .authorizer(Arc::new(users.build()?))
        .build()?;
    let listener = ferroftpd::bind(addr.parse()?)?;
    println!("listening on {}", listener.local_addr()?);
    server.serve(listener).await?;
    Ok(())
}
