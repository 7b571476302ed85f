//! Recipe: event callbacks (pyftpdlib's tutorial "Event callbacks", the
//! `FTPHandler.on_*` methods): print what happens, and remove partial
//! uploads, safely.
//!
//! ```sh
//! cargo run -p ferroftpd --example hooks -- 127.0.0.1:2121 /tmp/ftp
//! ```
//!
//! pyftpdlib's recipe deletes the file of every incomplete upload. Here
//! the event says what the upload left ([`Remains`]), and only a file that
//! holds nothing but the partial upload is removed: an aborted STOR over
//! an existing file leaves that file as it was (`Remains::Nothing`), and an
//! aborted APPE or REST+STOR leaves earlier content in the file
//! (`Remains::InPlace`); deleting either would lose data. Prints
//! `listening on ADDR` once it accepts, then one line per event.

use std::sync::Arc;

use async_trait::async_trait;
use ferroftpd::auth::{MemoryAuthorizer, Permissions};
use ferroftpd::hooks::{FileEvent, Hooks, Remains, SessionInfo};
use ferroftpd::Server;

#[derive(Debug)]
struct MyHooks;

#[async_trait]
impl Hooks for MyHooks {
    async fn on_connect(&self, s: &SessionInfo) {
        println!("{} connected", s.client);
    }

    async fn on_disconnect(&self, s: &SessionInfo) {
        println!("{} disconnected", s.client);
    }

    async fn on_login(&self, s: &SessionInfo) {
        println!("{} logged in", s.user.as_deref().unwrap_or("?"));
    }

    async fn on_login_failed(&self, _s: &SessionInfo, username: &str) {
        println!("{username} failed to log in");
    }

    async fn on_logout(&self, s: &SessionInfo) {
        println!("{} logged out", s.user.as_deref().unwrap_or("?"));
    }

    async fn on_file_sent(&self, _s: &SessionInfo, file: &FileEvent) {
        println!("sent {} ({} bytes)", file.path, file.bytes);
    }

    async fn on_file_received(&self, _s: &SessionInfo, file: &FileEvent) {
        println!("received {} ({} bytes)", file.path, file.bytes);
    }

    async fn on_incomplete_file_sent(&self, _s: &SessionInfo, file: &FileEvent) {
        println!("incomplete download of {}", file.path);
    }

    async fn on_incomplete_file_received(&self, _s: &SessionInfo, file: &FileEvent) {
        match (file.remains, &file.real_path) {
            // A new file holding only the partial upload: nothing else is
            // lost by removing it. Hooks run on the async runtime, so the
            // file work goes to the blocking pool.
            (Some(Remains::NewFile), Some(path)) => {
                let path = path.clone();
                match tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await {
                    Ok(Ok(())) => println!("removed partial upload {}", file.path),
                    Ok(Err(e)) => println!("could not remove {}: {e}", file.path),
                    Err(e) => println!("could not remove {}: {e}", file.path),
                }
            }
            (remains, _) => println!("incomplete upload of {} kept: {remains:?}", file.path),
        }
    }

    async fn on_file_deleted(&self, _s: &SessionInfo, file: &FileEvent) {
        println!("deleted {}", file.path);
    }

    async fn on_renamed(&self, _s: &SessionInfo, from: &FileEvent, to: &FileEvent) {
        println!("renamed {} to {}", from.path, to.path);
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:2121".into());
    let dir = args.next().unwrap_or_else(|| ".".into());
    let users = MemoryAuthorizer::new();
    users.add_user("user", "12345", &dir, Permissions::ALL)?;
    users.add_anonymous(&dir, Permissions::READ)?;
    let server = Server::builder()
        .authorizer(Arc::new(users))
        .hooks(Arc::new(MyHooks))
        .build()?;
    let listener = ferroftpd::bind(addr.parse()?)?;
    println!("listening on {}", listener.local_addr()?);
    server.serve(listener).await?;
    Ok(())
}
