//! Recipe: throttle bandwidth (pyftpdlib's tutorial "Throttle bandwidth",
//! `ThrottledDTPHandler.read_limit` and `write_limit`). "Read" is what the
//! server reads from clients (uploads), "write" what it writes to them
//! (downloads), as in pyftpdlib.
//!
//! ```sh
//! cargo run -p ferroftpd --example throttle -- 127.0.0.1:2121 /tmp/ftp 30720 30720
//! ```
//!
//! Arguments: address, directory, then the download and upload limits of
//! each data connection in bytes per second (default 30 KiB/s each, the
//! tutorial's figures). Prints `listening on ADDR` once it accepts.

use std::sync::Arc;

use ferroftpd::auth::{MemoryAuthorizer, Permissions};
use ferroftpd::{Rate, RateLimits, Server};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:2121".into());
    let dir = args.next().unwrap_or_else(|| ".".into());
    let write: u64 = args.next().map_or(Ok(30 * 1024), |a| a.parse())?;
    let read: u64 = args.next().map_or(Ok(30 * 1024), |a| a.parse())?;

    let users = MemoryAuthorizer::new();
    users.add_user("user", "12345", &dir, Permissions::ALL)?;
    users.add_anonymous(&dir, Permissions::READ)?;
    let limits = RateLimits {
        write_per_connection: Rate::new(write),
        read_per_connection: Rate::new(read),
        // Also per user (all of a user's sessions together) and for the
        // whole server: `write_per_user`, `write_total`, ...
        ..RateLimits::default()
    };
    let server = Server::builder()
        .authorizer(Arc::new(users))
        .rate_limits(limits)
        .build()?;
    let listener = ferroftpd::bind(addr.parse()?)?;
    println!("listening on {}", listener.local_addr()?);
    server.serve(listener).await?;
    Ok(())
}
