//! The sessions a server runs now, as an operator sees them: who is
//! connected, from where, since when, in which directory, and what they
//! are transferring ([`crate::Server::sessions`]); and a way to end one
//! ([`crate::Server::kick`]).
//!
//! Cost: a session registers once, when its connection is accepted (one
//! small allocation and a map insert under a lock), and updates its entry
//! only when something an operator sees changes (login, CWD, a transfer's
//! start and end). Transfer progress is the transfer's own byte counter,
//! an atomic the worker already updates per chunk: reading it takes no
//! lock on the transfer's path.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use std::sync::atomic::AtomicBool;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::limits::ConnectionSlot;

/// One session, as [`crate::Server::sessions`] shows it: a snapshot.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session's number, as in the logs (`session{id=7}`); what
    /// [`crate::Server::kick`] takes.
    pub id: u64,
    /// The logged-in user; `None` before login.
    pub user: Option<String>,
    /// The client's address (the one a PROXY header named, if any).
    pub peer: SocketAddr,
    /// When the connection was accepted.
    pub since: SystemTime,
    /// The current directory, as the client sees it; `None` before login.
    pub directory: Option<String>,
    /// The transfer running now, if any.
    pub transfer: Option<TransferInfo>,
}

/// A transfer in progress.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TransferInfo {
    /// Which way the bytes go.
    pub direction: TransferDirection,
    /// The command that started it: `RETR`, `STOR`, `APPE`, `STOU` or
    /// `LIST` (for any listing).
    pub command: &'static str,
    /// The file, as the client sees it; `None` for a listing of the
    /// current directory.
    pub path: Option<String>,
    /// Bytes moved so far.
    pub bytes: u64,
    /// Bytes this transfer moves in all, when known beforehand: a
    /// download's file size past its restart offset. `None` for uploads
    /// and listings.
    pub size: Option<u64>,
    /// When it started.
    pub started: SystemTime,
    /// How long it has run.
    pub elapsed: Duration,
}

impl TransferInfo {
    /// Average bytes per second since the start.
    pub fn rate(&self) -> u64 {
        let secs = self.elapsed.as_secs_f64();
        if secs <= 0.0 {
            return 0;
        }
        (self.bytes as f64 / secs) as u64
    }

    /// Fraction done, from 0 to 1, when the size is known.
    pub fn progress(&self) -> Option<f64> {
        match self.size {
            Some(0) => Some(1.0),
            Some(size) => Some((self.bytes as f64 / size as f64).min(1.0)),
            None => None,
        }
    }
}

/// Which way a transfer's bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferDirection {
    /// A file to the client (RETR).
    Download,
    /// A file from the client (STOR, APPE, STOU).
    Upload,
    /// A directory listing to the client (LIST, NLST, MLSD).
    Listing,
}

impl TransferDirection {
    /// `download`, `upload` or `listing`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferDirection::Download => "download",
            TransferDirection::Upload => "upload",
            TransferDirection::Listing => "listing",
        }
    }
}

impl From<crate::data::Direction> for TransferDirection {
    fn from(d: crate::data::Direction) -> Self {
        match d {
            crate::data::Direction::Download => TransferDirection::Download,
            crate::data::Direction::Upload => TransferDirection::Upload,
            crate::data::Direction::Listing => TransferDirection::Listing,
        }
    }
}

/// Bytes the server has moved since it started, running transfers
/// included ([`crate::Server::throughput`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Throughput {
    /// File bytes sent to clients (downloads).
    pub sent: u64,
    /// File bytes received from clients (uploads).
    pub received: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update is a single assignment: a panic cannot leave an
    // entry half-changed, so poison is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sessions of a server, across reconfigurations.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    entries: Mutex<HashMap<u64, Arc<Entry>>>,
    /// Set by [`Self::drain_all`]: sessions that register later drain too.
    draining: AtomicBool,
    /// Bytes of the transfers that have ended, by direction.
    finished_sent: AtomicU64,
    finished_received: AtomicU64,
}

/// What the registry knows of one session.
#[derive(Debug)]
pub(crate) struct Entry {
    id: u64,
    /// The peer's address and port apart: 12 bytes less than a
    /// `SocketAddr`, which takes the entry down an allocation size.
    peer_ip: IpAddr,
    peer_port: u16,
    since: SystemTime,
    /// Set to end the session (a kick, or the server's abort), then
    /// `wake` is notified. A `Notify` in the entry, not a child token of
    /// the server's: a child costs each session another allocation, and
    /// waiting on it no less.
    closing: AtomicBool,
    /// Set to end the session once no transfer runs (the server's
    /// drain), then `wake` is notified.
    draining: AtomicBool,
    wake: Notify,
    state: Mutex<State>,
    registry: Arc<Registry>,
}

#[derive(Debug, Default)]
struct State {
    /// The session's place in the connection counts; `None` once it ended.
    slot: Option<ConnectionSlot>,
    user: Option<Arc<str>>,
    /// `None` once logged in is the root: most sessions start there, and
    /// need no allocation for it.
    directory: Option<Box<str>>,
    /// The size of the next transfer, noted while it is prepared; 0 if
    /// unknown (an empty file shows no size).
    next_size: u64,
    transfer: Option<Box<Shown>>,
}

/// A running transfer's entry.
#[derive(Debug)]
struct Shown {
    direction: TransferDirection,
    command: &'static str,
    path: Option<Box<str>>,
    size: Option<u64>,
    bytes: Arc<AtomicU64>,
    started: SystemTime,
    started_at: Instant,
}

impl Registry {
    /// Registers a session; it stays listed until the returned guard is
    /// dropped. `close` is the server's close token: a session that
    /// registers after it was cancelled is told to close at once (the
    /// server's `abort` closes those registered before, with
    /// [`Self::close_all`]). The guard keeps the connection's `slot` and
    /// gives it back on drop.
    pub(crate) fn register(
        self: &Arc<Self>,
        id: u64,
        peer: SocketAddr,
        close: &CancellationToken,
        slot: ConnectionSlot,
    ) -> Registration {
        let entry = Arc::new(Entry {
            id,
            peer_ip: peer.ip(),
            peer_port: peer.port(),
            since: SystemTime::now(),
            closing: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            wake: Notify::new(),
            state: Mutex::new(State {
                slot: Some(slot),
                ..State::default()
            }),
            registry: self.clone(),
        });
        lock(&self.entries).insert(id, entry.clone());
        // After the insert: either this sees the cancel, or the abort's
        // `close_all` sees the entry.
        if close.is_cancelled() {
            entry.close();
        }
        if self.draining.load(Ordering::Acquire) {
            entry.drain();
        }
        Registration(entry)
    }

    /// Tells every session, and those that register from now on, to end
    /// once no transfer runs (the server's drain).
    pub(crate) fn drain_all(&self) {
        self.draining.store(true, Ordering::Release);
        let entries: Vec<Arc<Entry>> = lock(&self.entries).values().cloned().collect();
        for e in entries {
            e.drain();
        }
    }

    /// Tells every session to close (the server's abort).
    pub(crate) fn close_all(&self) {
        let entries: Vec<Arc<Entry>> = lock(&self.entries).values().cloned().collect();
        for e in entries {
            e.close();
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<SessionInfo> {
        let entries: Vec<Arc<Entry>> = lock(&self.entries).values().cloned().collect();
        let mut list: Vec<SessionInfo> = entries.iter().map(|e| e.info()).collect();
        list.sort_by_key(|s| s.id);
        list
    }

    pub(crate) fn get(&self, id: u64) -> Option<SessionInfo> {
        let entry = lock(&self.entries).get(&id).cloned();
        entry.map(|e| e.info())
    }

    /// Ends session `id`; false if there is none.
    pub(crate) fn kick(&self, id: u64) -> bool {
        let entry = lock(&self.entries).get(&id).cloned();
        match entry {
            Some(e) => {
                e.close();
                true
            }
            None => false,
        }
    }

    /// Ends every session whose client matches `matches`; returns how many.
    pub(crate) fn kick_where(&self, matches: impl Fn(std::net::IpAddr) -> bool) -> usize {
        let entries: Vec<Arc<Entry>> = lock(&self.entries)
            .values()
            .filter(|e| matches(e.peer_ip))
            .cloned()
            .collect();
        for e in &entries {
            e.close();
        }
        entries.len()
    }

    pub(crate) fn throughput(&self) -> Throughput {
        let mut total = Throughput {
            sent: self.finished_sent.load(Ordering::Relaxed),
            received: self.finished_received.load(Ordering::Relaxed),
        };
        let entries: Vec<Arc<Entry>> = lock(&self.entries).values().cloned().collect();
        for e in entries {
            let state = lock(&e.state);
            if let Some(t) = &state.transfer {
                let bytes = t.bytes.load(Ordering::Relaxed);
                match t.direction {
                    TransferDirection::Download => total.sent += bytes,
                    TransferDirection::Upload => total.received += bytes,
                    TransferDirection::Listing => {}
                }
            }
        }
        total
    }
}

impl Entry {
    fn close(&self) {
        self.closing.store(true, Ordering::Release);
        // A permit if the session is not waiting right now: its next wait
        // ends at once.
        self.wake.notify_one();
    }

    fn drain(&self) {
        self.draining.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    fn info(&self) -> SessionInfo {
        let state = lock(&self.state);
        SessionInfo {
            id: self.id,
            user: state.user.as_deref().map(str::to_owned),
            peer: SocketAddr::new(self.peer_ip, self.peer_port),
            since: self.since,
            directory: match (&state.user, &state.directory) {
                (None, _) => None,
                (Some(_), None) => Some("/".to_owned()),
                (Some(_), Some(d)) => Some(d.to_string()),
            },
            transfer: state.transfer.as_ref().map(|t| TransferInfo {
                direction: t.direction,
                command: t.command,
                path: t.path.as_deref().map(str::to_owned),
                bytes: t.bytes.load(Ordering::Relaxed),
                size: t.size,
                started: t.started,
                elapsed: t.started_at.elapsed(),
            }),
        }
    }

    /// Moves a transfer's final count to the registry's totals.
    fn finish(&self, shown: &Shown) {
        let bytes = shown.bytes.load(Ordering::Relaxed);
        let total = match shown.direction {
            TransferDirection::Download => &self.registry.finished_sent,
            TransferDirection::Upload => &self.registry.finished_received,
            TransferDirection::Listing => return,
        };
        total.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// A session's place in the registry; dropping it unlists the session.
#[derive(Debug)]
pub(crate) struct Registration(Arc<Entry>);

impl Registration {
    /// What the session waits on to learn it must end.
    pub(crate) fn closer(&self) -> Closer {
        Closer(self.0.clone())
    }

    /// True once the session was kicked, as opposed to the whole server
    /// closing.
    pub(crate) fn kicked(&self, server_closing: &CancellationToken) -> bool {
        self.0.closing.load(Ordering::Acquire) && !server_closing.is_cancelled()
    }

    /// The user logged in (`Some`) or out (`None`), in `directory`.
    pub(crate) fn set_user(&self, user: Option<&str>, directory: Option<&str>) {
        let mut state = lock(&self.0.state);
        state.user = user.map(Arc::from);
        state.directory = directory.filter(|d| *d != "/").map(Box::from);
    }

    pub(crate) fn set_directory(&self, directory: &str) {
        lock(&self.0.state).directory = (directory != "/").then(|| directory.into());
    }

    /// Notes the byte count of the transfer about to start.
    pub(crate) fn expect_size(&self, size: u64) {
        lock(&self.0.state).next_size = size;
    }

    /// Shows a transfer until the returned guard is dropped. `bytes` is
    /// the transfer's own counter.
    pub(crate) fn transfer_started(
        &self,
        kind: crate::data::TransferKind,
        path: Option<&str>,
        bytes: Arc<AtomicU64>,
    ) -> ShownTransfer {
        let mut state = lock(&self.0.state);
        let direction = kind.direction().into();
        // Noted for a download only; taken in any case.
        let size = Some(std::mem::take(&mut state.next_size))
            .filter(|&n| n > 0 && direction == TransferDirection::Download);
        let previous = state.transfer.replace(Box::new(Shown {
            direction,
            command: kind.verb(),
            path: path.map(Box::from),
            size,
            bytes,
            started: SystemTime::now(),
            started_at: Instant::now(),
        }));
        drop(state);
        if let Some(previous) = previous {
            self.0.finish(&previous);
        }
        ShownTransfer(self.0.clone())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.0.registry.entries).remove(&self.0.id);
        // Given back now, whoever still holds the entry for a moment.
        let slot = lock(&self.0.state).slot.take();
        drop(slot);
    }
}

/// Completes when the session must end: kicked, the server aborting, or,
/// for a session with no transfer running, the server draining.
#[derive(Debug)]
pub(crate) struct Closer(Arc<Entry>);

impl Closer {
    /// Completes when the session must end now; `idle` if no transfer
    /// runs (a drain ends it then). One wait for every reason, so that an
    /// idle session holds no more than one waiting future.
    /// Cancel-safe: a wait dropped by a `select!` loses no notification.
    pub(crate) async fn closed(&self, idle: bool) {
        loop {
            let entry = &self.0;
            if entry.closing.load(Ordering::Acquire)
                || (idle && entry.draining.load(Ordering::Acquire))
            {
                return;
            }
            entry.wake.notified().await;
        }
    }

    #[cfg(test)]
    fn is_closed(&self) -> bool {
        self.0.closing.load(Ordering::Acquire)
    }
}

/// A transfer shown in its session's entry; dropping it ends the showing
/// and counts its bytes in the server's totals.
#[derive(Debug)]
pub(crate) struct ShownTransfer(Arc<Entry>);

impl Drop for ShownTransfer {
    fn drop(&mut self) {
        let shown = lock(&self.0.state).transfer.take();
        if let Some(shown) = shown {
            self.0.finish(&shown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::TransferKind;
    use crate::limits::Limits;

    /// A connection slot of a throwaway counter.
    fn slot() -> ConnectionSlot {
        Limits::new(100, None, None)
            .admit("192.0.2.99".parse().unwrap())
            .unwrap()
    }

    #[test]
    fn sessions_are_listed_while_registered() {
        let registry = Arc::new(Registry::default());
        let server_close = CancellationToken::new();
        let peer: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let a = registry.register(1, peer, &server_close, slot());
        let b = registry.register(2, peer, &server_close, slot());
        a.set_user(Some("alice"), Some("/"));
        a.set_directory("/pub");
        let list = registry.snapshot();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].user.as_deref(), Some("alice"));
        assert_eq!(list[0].directory.as_deref(), Some("/pub"));
        assert_eq!(list[1].user, None);
        drop(b);
        assert_eq!(registry.snapshot().len(), 1);
        assert!(registry.get(2).is_none());
        // The connection's slot goes with its registration.
        let limits = Limits::new(1, None, None);
        let c = registry.register(3, peer, &server_close, limits.admit(peer.ip()).unwrap());
        assert_eq!(limits.connections(), 1);
        drop(c);
        assert_eq!(limits.connections(), 0);
    }

    #[test]
    fn transfers_show_progress_and_add_to_the_totals() {
        let registry = Arc::new(Registry::default());
        let close = CancellationToken::new();
        let r = registry.register(1, "192.0.2.7:1".parse().unwrap(), &close, slot());
        r.expect_size(1000);
        let bytes = Arc::new(AtomicU64::new(0));
        let shown = r.transfer_started(TransferKind::Retr, Some("/big"), bytes.clone());
        bytes.store(250, Ordering::Relaxed);
        let t = registry.get(1).unwrap().transfer.unwrap();
        assert_eq!(t.direction, TransferDirection::Download);
        assert_eq!((t.bytes, t.size, t.command), (250, Some(1000), "RETR"));
        assert_eq!(t.progress(), Some(0.25));
        assert_eq!(registry.throughput().sent, 250);
        bytes.store(1000, Ordering::Relaxed);
        drop(shown);
        assert!(registry.get(1).unwrap().transfer.is_none());
        assert_eq!(registry.throughput().sent, 1000);
        // An upload has no size known beforehand.
        let up = Arc::new(AtomicU64::new(7));
        let _shown = r.transfer_started(TransferKind::Stor, Some("/up"), up);
        let t = registry.get(1).unwrap().transfer.unwrap();
        assert_eq!((t.size, t.progress()), (None, None));
        assert_eq!(registry.throughput().received, 7);
    }

    #[tokio::test]
    async fn a_drain_ends_idle_sessions_only_and_later_ones_too() {
        let registry = Arc::new(Registry::default());
        let close = CancellationToken::new();
        let r = registry.register(1, "192.0.2.1:1".parse().unwrap(), &close, slot());
        let closer = r.closer();
        // Waiting while a transfer runs: the drain wakes it, and it waits on.
        let busy = tokio::spawn(async move { closer.closed(false).await });
        tokio::task::yield_now().await;
        registry.drain_all();
        let short = Duration::from_millis(100);
        assert!(tokio::time::timeout(short, busy).await.is_err());
        // Once the transfer has ended, the wait ends at once.
        tokio::time::timeout(short, r.closer().closed(true))
            .await
            .expect("an idle session ends");
        // A session that registers after the drain began drains too.
        let later = registry.register(2, "192.0.2.1:2".parse().unwrap(), &close, slot());
        tokio::time::timeout(short, later.closer().closed(true))
            .await
            .expect("a later session ends");
        assert!(tokio::time::timeout(short, later.closer().closed(false))
            .await
            .is_err());
    }

    #[tokio::test]
    async fn a_kick_wakes_a_waiting_session_or_the_next_wait() {
        let registry = Arc::new(Registry::default());
        let close = CancellationToken::new();
        let r = registry.register(1, "192.0.2.1:1".parse().unwrap(), &close, slot());
        let closer = r.closer();
        let waiting = tokio::spawn(async move { closer.closed(true).await });
        tokio::task::yield_now().await;
        assert!(registry.kick(1));
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .unwrap();
        // Kicked while not waiting: the next wait ends at once.
        let r2 = registry.register(2, "192.0.2.1:2".parse().unwrap(), &close, slot());
        assert!(registry.kick(2));
        tokio::time::timeout(Duration::from_secs(5), r2.closer().closed(true))
            .await
            .expect("not waiting forever");
    }

    #[test]
    fn kick_cancels_one_session_and_abort_all() {
        let registry = Arc::new(Registry::default());
        let close = CancellationToken::new();
        let a = registry.register(1, "192.0.2.1:1".parse().unwrap(), &close, slot());
        let b = registry.register(2, "192.0.2.2:1".parse().unwrap(), &close, slot());
        assert!(registry.kick(1));
        assert!(!registry.kick(9));
        assert!(a.kicked(&close));
        assert!(!b.closer().is_closed());
        let ip: std::net::IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(registry.kick_where(|p| p == ip), 1);
        assert!(b.closer().is_closed());
        let c = registry.register(3, "192.0.2.3:1".parse().unwrap(), &close, slot());
        close.cancel();
        registry.close_all();
        assert!(c.closer().is_closed());
        assert!(!c.kicked(&close));
        // Registered after the abort: closed at once.
        let d = registry.register(4, "192.0.2.4:1".parse().unwrap(), &close, slot());
        assert!(d.closer().is_closed());
    }
}
