//! The administration API and web dashboard: sessions and their
//! transfers, kicking a session, banning addresses, reloading, over HTTP
//! with JSON, behind a bearer token (feature `admin`).
//!
//! Serve it on a listener of its own, never the FTP port: a loopback
//! address, or a Unix socket whose permissions say who may use it. The
//! routes are described in `docs/admin-api.yaml` (OpenAPI 3); `GET /` is a
//! dashboard that asks for the token once and keeps it for the browser
//! tab.
//!
//! ```no_run
//! # async fn run(server: ferroftpd::Server) -> Result<(), Box<dyn std::error::Error>> {
//! use ferroftpd::admin::Admin;
//! let token = std::fs::read_to_string("/etc/ferroftpd/admin-token")?;
//! let admin = Admin::new(server.clone(), token.trim())?
//!     .setting("port", "21")
//!     .on_reload(|| async { Ok(()) });
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9180").await?;
//! tokio::spawn(admin.serve(listener));
//! # Ok(())
//! # }
//! ```
//!
//! Security: every `/api/` request needs `Authorization: Bearer TOKEN`,
//! compared in constant time; an address with too many wrong tokens is
//! refused for a while (429). The token travels in a header, never a
//! cookie, so another site cannot make a browser send it; requests whose
//! `Origin` is not this listener's are refused (403), and what changes
//! state takes POST or DELETE. Request bodies are bounded; the dashboard
//! is served with a Content-Security-Policy that allows its own script
//! and nothing else. Passwords and hashes are never shown.

mod assets;
mod auth;
mod http;
mod json;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::net::{TcpListener, UnixListener};

use crate::{Error, Server};

/// The shortest token [`Admin::new`] accepts, in bytes.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a reload returns: `Err` with the reason when the new settings
/// were refused.
pub type ReloadFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

type ReloadFn = Arc<dyn Fn() -> ReloadFuture + Send + Sync>;

/// The administration API of a [`Server`]. Clones share the count of
/// wrong tokens, so serving one API on two listeners counts them once.
#[derive(Clone)]
pub struct Admin {
    inner: Inner,
}

#[derive(Clone)]
struct Inner {
    server: Server,
    token: auth::Token,
    reload: Option<ReloadFn>,
    /// What `GET /api/v1/info` shows besides the server's own settings.
    settings: Vec<(String, String)>,
    started: SystemTime,
    started_at: Instant,
    failures: Arc<auth::Failures>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

impl Admin {
    /// The API of `server`, for clients that present `token`: at least
    /// [`MIN_TOKEN_LEN`] printable ASCII characters, no spaces.
    pub fn new(server: Server, token: &str) -> Result<Admin, Error> {
        let token = auth::Token::new(token).map_err(Error::Config)?;
        Ok(Admin {
            inner: Inner {
                server,
                token,
                reload: None,
                settings: Vec::new(),
                started: SystemTime::now(),
                started_at: Instant::now(),
                failures: Arc::default(),
            },
        })
    }

    /// What `POST /api/v1/reload` runs: it answers `200` when the future
    /// gives `Ok`, `500` with the reason otherwise. Without it, reloading
    /// answers `501`.
    pub fn on_reload<F, Fut>(mut self, reload: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.inner.reload = Some(Arc::new(move || Box::pin(reload())));
        self
    }

    /// A setting `GET /api/v1/info` shows, by name. Give none that is a
    /// secret.
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.inner.settings.push((name.into(), value.into()));
        self
    }

    /// Serves the API and dashboard on `listener` until the server stops
    /// accepting ([`Server::shutdown`], [`Server::abort`]).
    pub async fn serve(self, listener: TcpListener) {
        http::serve(Arc::new(self.inner), http::Listener::Tcp(listener)).await
    }

    /// [`Self::serve`] on a Unix socket. Who may connect is what the
    /// socket file's permissions say; the token is asked all the same.
    pub async fn serve_unix(self, listener: UnixListener) {
        http::serve(Arc::new(self.inner), http::Listener::Unix(listener)).await
    }
}
