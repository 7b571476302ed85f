//! Recipe: anonymous plus named users, each with a home, permissions and
//! limits of their own (pyftpdlib's `DummyAuthorizer.add_user`,
//! `add_anonymous` and `override_perm`; aioftp's "Advanced Server
//! Configuration" with `User(..., permissions=[...])`).
//!
//! ```sh
//! cargo run -p ferroftpd --example users -- 127.0.0.1:2121 /tmp/ftp
//! curl ftp://127.0.0.1:2121/pub/                        # anonymous
//! curl -T notes.txt ftp://alice:wonderland@127.0.0.1:2121/
//! curl -T notes.txt ftp://bob:builder@127.0.0.1:2121/incoming/
//! ```
//!
//! Under DIR it makes `pub/` (anonymous, read-only), `alice/` (alice, full
//! rights) and `bob/` (bob, read-only except `incoming/`). Prints
//! `listening on ADDR` once it accepts.

use std::path::Path;
use std::sync::Arc;

use ferroftpd::auth::{MemoryAuthorizer, Permissions, UserOptions};
use ferroftpd::{Rate, Server};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:2121".into());
    let root = args.next().unwrap_or_else(|| ".".into());
    let root = Path::new(&root);
    for dir in ["pub", "alice", "bob/incoming"] {
        std::fs::create_dir_all(root.join(dir))?;
    }

    let users = MemoryAuthorizer::new();
    // Anonymous: user "anonymous" or "ftp", any password.
    users.add_anonymous(root.join("pub"), Permissions::READ)?;
    users.add_user("alice", "wonderland", root.join("alice"), Permissions::ALL)?;
    // bob reads everywhere, writes only in /incoming (and below), gets a
    // welcome of his own, at most two sessions and 1 MB/s of downloads.
    let bob = UserOptions {
        login_message: "Hello bob, uploads go to /incoming.".into(),
        max_sessions: Some(2),
        write_limit: Rate::new(1 << 20),
        ..UserOptions::default()
    };
    users.add_user_with("bob", "builder", root.join("bob"), Permissions::READ, bob)?;
    users.override_perm("bob", "/incoming", "elrw".parse()?, true)?;

    let server = Server::builder().authorizer(Arc::new(users)).build()?;
    let listener = ferroftpd::bind(addr.parse()?)?;
    println!("listening on {}", listener.local_addr()?);
    server.serve(listener).await?;
    Ok(())
}
