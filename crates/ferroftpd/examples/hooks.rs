//! The counterpart of pyftpdlib's tutorial "event callbacks": log what
//! happens, and remove files whose upload did not complete.
//!
//! ```sh
//! cargo run -p ferroftpd --example hooks -- /tmp/ftp
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use ferroftpd::auth::{MemoryAuthorizer, Permissions};
use ferroftpd::hooks::{FileEvent, Hooks, SessionInfo};
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
        // Remove partially uploaded files, as the tutorial does. Hooks run
        // on the async runtime: file work goes to the blocking pool.
        if let Some(path) = file.real_path.clone() {
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
            println!("removed partial upload {}", file.path);
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    let users = MemoryAuthorizer::new();
    users.add_user("user", "12345", &dir, Permissions::ALL)?;
    users.add_anonymous(&dir, Permissions::READ)?;
    let server = Server::builder()
        .authorizer(Arc::new(users))
        .hooks(Arc::new(MyHooks))
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
