//! Recipe: logging management (pyftpdlib's tutorial "Logging management",
//! "DEBUG logging" and "Changing log line prefix"). The library logs with
//! `tracing`; the embedder installs a subscriber, here one that appends
//! to a file, at DEBUG level, where every command and reply shows. Each
//! line of a session carries its span, `session{id=3 peer=... user=alice}`,
//! the counterpart of pyftpdlib's log prefix.
//!
//! ```sh
//! cargo run -p ferroftpd --example logging -- 127.0.0.1:2121 /tmp/ftp /tmp/ftpd.log
//! ```
//!
//! The `ferroftpd` binary does the same with flags, and adds pyftpdlib's
//! own line format: `ferroftpd --log-file /tmp/ftpd.log -D --log-prefix
//! '{ip}:{port}-[{user}]'` (docs/cli.md, "Logs"). Prints
//! `listening on ADDR` once it accepts.

use std::fs::OpenOptions;
use std::sync::Arc;

use ferroftpd::auth::{MemoryAuthorizer, Permissions};
use ferroftpd::Server;
use tracing::Level;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:2121".into());
    let dir = args.next().unwrap_or_else(|| ".".into());
    let log = args.next().unwrap_or_else(|| "ftpd.log".into());

    // pyftpdlib: logging.basicConfig(filename=..., level=logging.DEBUG).
    // INFO gives logins, transfers and errors; DEBUG adds the commands
    // and replies (passwords are masked).
    let file = OpenOptions::new().create(true).append(true).open(&log)?;
    tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_max_level(Level::DEBUG)
        .with_ansi(false)
        .init();

    let users = MemoryAuthorizer::new();
    users.add_user("user", "12345", &dir, Permissions::ALL)?;
    let server = Server::builder().authorizer(Arc::new(users)).build()?;
    let listener = ferroftpd::bind(addr.parse()?)?;
    println!("listening on {}", listener.local_addr()?);
    server.serve(listener).await?;
    Ok(())
}
