//! Event hooks: the counterpart of pyftpdlib's `FTPHandler.on_*` callbacks.
//!
//! Implement [`Hooks`] (every method has a no-op default) and give it to
//! [`crate::Builder::hooks`]. Each session delivers its events to a task of
//! its own, one at a time and in order, so a slow hook delays only that
//! session's later events, never the session or other sessions. Each call
//! runs as its own task: a hook that panics is logged and the next event
//! is still delivered.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use ferroftpd_proto::path::VirtualPath;
use tokio::sync::mpsc;

pub use crate::storage::Remains;

/// Who an event is about.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The session's number, unique while the server runs (also in logs).
    pub id: u64,
    /// The client's address.
    pub client: SocketAddr,
    /// The logged-in user, if any.
    pub user: Option<String>,
}

/// A file or directory an event is about.
#[derive(Debug, Clone)]
pub struct FileEvent {
    /// The path as the user sees it.
    pub path: VirtualPath,
    /// The path on the server's filesystem, when the storage has one. It
    /// is the home joined with the path, as text: if the user made it a
    /// symbolic link, it may point anywhere. A hook that opens it should
    /// not follow links (`O_NOFOLLOW`) or should check where it leads.
    pub real_path: Option<PathBuf>,
    /// Bytes transferred (0 for events that are not transfers).
    pub bytes: u64,
    /// In [`Hooks::on_incomplete_file_received`] only: what the upload
    /// left at `path` (and `real_path`). Remove the file only when it is
    /// [`Remains::NewFile`]: after an interrupted STOR over an existing
    /// file, the name still holds the old file ([`Remains::Nothing`]),
    /// and after APPE or REST the file holds earlier content too
    /// ([`Remains::InPlace`]). `None` in every other event.
    pub remains: Option<Remains>,
}

/// Reactions to what happens in sessions. Every method defaults to doing
/// nothing.
///
/// Log logins, and remove partial uploads, but only those that left a new
/// file of their own (`examples/hooks.rs` is the whole program):
///
/// ```no_run
/// use std::sync::Arc;
/// use ferroftpd::hooks::{FileEvent, Hooks, Remains, SessionInfo};
///
/// #[derive(Debug)]
/// struct MyHooks;
///
/// #[ferroftpd::storage::async_trait]
/// impl Hooks for MyHooks {
///     async fn on_login(&self, s: &SessionInfo) {
///         println!("{} logged in from {}", s.user.as_deref().unwrap_or("?"), s.client);
///     }
///     async fn on_incomplete_file_received(&self, _s: &SessionInfo, file: &FileEvent) {
///         if let (Some(Remains::NewFile), Some(path)) = (file.remains, &file.real_path) {
///             let path = path.clone();
///             let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
///         }
///     }
/// }
///
/// let builder = ferroftpd::Server::builder().hooks(Arc::new(MyHooks));
/// # drop(builder);
/// ```
#[async_trait]
pub trait Hooks: Send + Sync + fmt::Debug {
    /// A client connected (before the greeting).
    async fn on_connect(&self, _session: &SessionInfo) {}
    /// The connection closed, for whatever reason.
    async fn on_disconnect(&self, _session: &SessionInfo) {}
    /// A user logged in.
    async fn on_login(&self, _session: &SessionInfo) {}
    /// A login failed. The password is not given.
    async fn on_login_failed(&self, _session: &SessionInfo, _username: &str) {}
    /// A logged-in user left with QUIT, REIN or a new USER. A dropped
    /// connection gives only `on_disconnect`, as in pyftpdlib.
    async fn on_logout(&self, _session: &SessionInfo) {}
    /// A download completed.
    async fn on_file_sent(&self, _session: &SessionInfo, _file: &FileEvent) {}
    /// An upload completed.
    async fn on_file_received(&self, _session: &SessionInfo, _file: &FileEvent) {}
    /// A download did not complete.
    async fn on_incomplete_file_sent(&self, _session: &SessionInfo, _file: &FileEvent) {}
    /// An upload did not complete.
    async fn on_incomplete_file_received(&self, _session: &SessionInfo, _file: &FileEvent) {}
    /// A directory was created.
    async fn on_directory_created(&self, _session: &SessionInfo, _dir: &FileEvent) {}
    /// A directory was removed.
    async fn on_directory_removed(&self, _session: &SessionInfo, _dir: &FileEvent) {}
    /// A file was deleted.
    async fn on_file_deleted(&self, _session: &SessionInfo, _file: &FileEvent) {}
    /// A file or directory was renamed.
    async fn on_renamed(&self, _session: &SessionInfo, _from: &FileEvent, _to: &FileEvent) {}
}

/// One event, owned, on its way to the hook task.
#[derive(Debug)]
pub(crate) enum Event {
    Connect,
    Disconnect,
    Login,
    LoginFailed(String),
    Logout,
    FileSent(FileEvent),
    FileReceived(FileEvent),
    IncompleteFileSent(FileEvent),
    IncompleteFileReceived(FileEvent),
    DirectoryCreated(FileEvent),
    DirectoryRemoved(FileEvent),
    FileDeleted(FileEvent),
    Renamed(FileEvent, FileEvent),
}

impl Event {
    fn name(&self) -> &'static str {
        match self {
            Event::Connect => "on_connect",
            Event::Disconnect => "on_disconnect",
            Event::Login => "on_login",
            Event::LoginFailed(_) => "on_login_failed",
            Event::Logout => "on_logout",
            Event::FileSent(_) => "on_file_sent",
            Event::FileReceived(_) => "on_file_received",
            Event::IncompleteFileSent(_) => "on_incomplete_file_sent",
            Event::IncompleteFileReceived(_) => "on_incomplete_file_received",
            Event::DirectoryCreated(_) => "on_directory_created",
            Event::DirectoryRemoved(_) => "on_directory_removed",
            Event::FileDeleted(_) => "on_file_deleted",
            Event::Renamed(..) => "on_renamed",
        }
    }

    async fn deliver(self, hooks: &dyn Hooks, s: &SessionInfo) {
        match &self {
            Event::Connect => hooks.on_connect(s).await,
            Event::Disconnect => hooks.on_disconnect(s).await,
            Event::Login => hooks.on_login(s).await,
            Event::LoginFailed(user) => hooks.on_login_failed(s, user).await,
            Event::Logout => hooks.on_logout(s).await,
            Event::FileSent(f) => hooks.on_file_sent(s, f).await,
            Event::FileReceived(f) => hooks.on_file_received(s, f).await,
            Event::IncompleteFileSent(f) => hooks.on_incomplete_file_sent(s, f).await,
            Event::IncompleteFileReceived(f) => hooks.on_incomplete_file_received(s, f).await,
            Event::DirectoryCreated(f) => hooks.on_directory_created(s, f).await,
            Event::DirectoryRemoved(f) => hooks.on_directory_removed(s, f).await,
            Event::FileDeleted(f) => hooks.on_file_deleted(s, f).await,
            Event::Renamed(from, to) => hooks.on_renamed(s, from, to).await,
        }
    }
}

/// A session's end of its hook task.
#[derive(Debug)]
pub(crate) struct HookSender {
    tx: mpsc::Sender<(Event, Option<String>)>,
}

/// Events a session may have waiting for its hooks. A hook slower than its
/// session's events loses the excess (with a warning) rather than letting
/// the queue grow without bound.
const QUEUE: usize = 1024;

impl HookSender {
    /// Starts the hook task of a session.
    /// `tracker` is the server's, so that shutdown waits for the last
    /// events (`on_disconnect` among them).
    pub(crate) fn start(
        hooks: Arc<dyn Hooks>,
        id: u64,
        client: SocketAddr,
        tracker: &tokio_util::task::TaskTracker,
    ) -> HookSender {
        let (tx, mut rx) = mpsc::channel::<(Event, Option<String>)>(QUEUE);
        tracker.spawn(async move {
            while let Some((event, user)) = rx.recv().await {
                let name = event.name();
                let info = SessionInfo { id, client, user };
                let hooks = hooks.clone();
                // Its own task, so that a panic is caught and reported here.
                let call = tokio::spawn(async move { event.deliver(&*hooks, &info).await });
                if let Err(e) = call.await {
                    tracing::error!(hook = name, session = id, error = %e, "hook failed");
                }
            }
        });
        HookSender { tx }
    }

    /// Queues `event`; `user` is who is logged in at that moment.
    pub(crate) fn send(&self, event: Event, user: Option<&str>) {
        let name = event.name();
        if let Err(mpsc::error::TrySendError::Full(_)) =
            self.tx.try_send((event, user.map(str::to_owned)))
        {
            tracing::warn!(hook = name, "hook queue full: event dropped");
        }
    }
}
