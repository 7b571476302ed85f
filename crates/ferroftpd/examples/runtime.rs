//! Recipe: changing the concurrency model (pyftpdlib's tutorial
//! "Changing the concurrency model": `FTPServer`, `ThreadedFTPServer`,
//! `MultiprocessFTPServer`). The embedder picks the tokio runtime: one
//! thread for everything, or a pool of worker threads. Either way file
//! I/O runs on tokio's blocking pool, so a slow disk never stalls other
//! sessions, and a hook or authorizer may `.await` as long as it likes.
//!
//! ```sh
//! cargo run -p ferroftpd --example runtime -- current-thread 127.0.0.1:2121 /tmp/ftp
//! cargo run -p ferroftpd --example runtime -- multi-thread 127.0.0.1:2121 /tmp/ftp
//! ```
//!
//! Prints `listening on ADDR` once it accepts.

use std::sync::Arc;

use ferroftpd::auth::{MemoryAuthorizer, Permissions};
use ferroftpd::Server;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = args.next().unwrap_or_else(|| "multi-thread".into());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:2121".into());
    let dir = args.next().unwrap_or_else(|| ".".into());

    let mut runtime = match model.as_str() {
        // pyftpdlib's FTPServer: one thread runs every session.
        "current-thread" => tokio::runtime::Builder::new_current_thread(),
        // ThreadedFTPServer and the pre-fork model in one: sessions are
        // spread over one worker thread per CPU (or `worker_threads(n)`).
        "multi-thread" => tokio::runtime::Builder::new_multi_thread(),
        other => {
            return Err(format!("unknown model {other:?}: current-thread or multi-thread").into())
        }
    };
    let users = MemoryAuthorizer::new();
    users.add_user("user", "12345", &dir, Permissions::ALL)?;
    let server = Server::builder().authorizer(Arc::new(users)).build()?;
    // The blocking pool needs a thread per transfer and per system-user
    // session at most; the server says how many its settings may use.
    let runtime = runtime
        .enable_all()
        .max_blocking_threads(server.config().blocking_threads_needed())
        .build()?;
    runtime.block_on(async {
        let listener = ferroftpd::bind(addr.parse()?)?;
        println!("listening on {} ({model})", listener.local_addr()?);
        server.serve(listener).await?;
        Ok(())
    })
}
