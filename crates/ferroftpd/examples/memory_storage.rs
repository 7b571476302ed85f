//! Recipe: in-memory storage (aioftp's `MemoryPathIO`,
//! `Server(path_io_factory=aioftp.MemoryPathIO)`): files live in the
//! server's memory, bounded in size, and vanish when it stops. Handy for
//! tests of FTP clients.
//!
//! ```sh
//! cargo run -p ferroftpd --example memory_storage -- 127.0.0.1:2121
//! curl -T notes.txt ftp://user:12345@127.0.0.1:2121/
//! ```
//!
//! Homes are paths inside the tree (`/user` here), not directories of the
//! disk. Prints `listening on ADDR` once it accepts.

use std::sync::Arc;

use ferroftpd::auth::{MemoryAuthorizer, Permissions};
use ferroftpd::storage::MemoryStorageFactory;
use ferroftpd::Server;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2121".into());
    let users = MemoryAuthorizer::new();
    users.add_user("user", "12345", "/user", Permissions::ALL)?;
    users.add_anonymous("/user", Permissions::READ)?;
    // 64 MiB in all; an upload past it gets 452 (insufficient storage).
    let storage = MemoryStorageFactory::new(64 << 20);
    let server = Server::builder()
        .authorizer(Arc::new(users))
        .storage(Arc::new(storage))
        .build()?;
    let listener = ferroftpd::bind(addr.parse()?)?;
    println!("listening on {}", listener.local_addr()?);
    server.serve(listener).await?;
    Ok(())
}
