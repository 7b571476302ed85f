//! Limits and bans shared with other servers: the nodes of a cluster
//! behind a load balancer, or the worker processes of one server.
//!
//! Every server always keeps its own counts and ban list
//! ([`crate::Builder::max_connections`], [`crate::Builder::ban`], ...).
//! A [`SharedLimits`] given to [`crate::Builder::shared_limits`] adds a
//! second opinion that all of them consult:
//!
//! - a failed login is counted in both, and a ban given by either holds in
//!   both (a ban triggered through one node holds on all);
//! - while the shared state answers, it decides whether an address is
//!   banned for failed logins (so a ban lifted there is lifted on every
//!   server, [`crate::Server::unban_everywhere`]); the server's own record
//!   decides only when it does not answer. Operators' bans
//!   ([`crate::Server::ban`]) stay each server's own;
//! - a user's session cap is checked in both, so it holds across nodes;
//! - an implementation may also count connections server-wide
//!   ([`SharedLimits::admit_connection`]).
//!
//! When the shared state cannot be reached (an error, or no answer within
//! [`SHARED_LIMITS_TIMEOUT`]), the server goes on with its own limits
//! alone, logs that once, and says so on the metrics endpoint's `/health`
//! and in the `ferroftpd_shared_limits_up` gauge; it tries again at most
//! once every [`SHARED_LIMITS_RETRY`] until it can.
//!
//! [`RedisLimits`] (feature `redis`) keeps the state in Redis.
//! `LimitsHost` and `SupervisorLimits` (feature `multi-proc`) keep it in
//! a supervisor process for the worker processes it starts, over a Unix
//! stream per worker (module `wire` is the protocol).

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;

pub use crate::limits::Refusal;
use crate::BanPolicy;

mod status;
pub(crate) use status::SharedLimitsStatus;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use self::redis::RedisLimits;

#[cfg(feature = "multi-proc")]
mod host;
#[cfg(feature = "multi-proc")]
mod supervisor;
#[cfg(feature = "multi-proc")]
pub mod wire;
#[cfg(feature = "multi-proc")]
pub use self::host::LimitsHost;
#[cfg(feature = "multi-proc")]
pub use self::supervisor::SupervisorLimits;

/// How long the server waits for an answer from the shared state before it
/// decides with its own limits alone.
pub const SHARED_LIMITS_TIMEOUT: Duration = Duration::from_millis(500);

/// After the shared state failed, how long the server decides alone before
/// it asks again (so that an unreachable state costs no wait per
/// connection).
pub const SHARED_LIMITS_RETRY: Duration = Duration::from_secs(2);

/// An error of the shared state: it could not be reached or answered
/// something unexpected. The server then decides alone.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SharedLimitsError(pub String);

impl SharedLimitsError {
    /// An error with this text.
    pub fn new(text: impl fmt::Display) -> Self {
        SharedLimitsError(text.to_string())
    }
}

/// A slot taken in the shared state (a user's session, a connection);
/// given back when dropped. What giving back means is up to the
/// implementation, which puts its own guard inside.
pub struct SharedSlot {
    guard: Option<Box<dyn Send + Sync>>,
}

impl SharedSlot {
    /// A slot released by dropping `guard`.
    pub fn new(guard: impl Send + Sync + 'static) -> Self {
        SharedSlot {
            guard: Some(Box::new(guard)),
        }
    }

    /// A slot with nothing to give back (the implementation does not count
    /// this kind of slot).
    pub fn untracked() -> Self {
        SharedSlot { guard: None }
    }

    /// False for [`Self::untracked`] slots.
    pub fn is_tracked(&self) -> bool {
        self.guard.is_some()
    }
}

impl fmt::Debug for SharedSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSlot")
            .field("tracked", &self.guard.is_some())
            .finish()
    }
}

/// What a new connection is checked against: see
/// [`SharedLimits::admit_connection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionRequest {
    /// The client's address (the one a PROXY header gave, if any).
    pub ip: IpAddr,
    /// The key the address is counted and banned under
    /// ([`BanPolicy::ipv6_prefix`] applied).
    pub ban_key: IpAddr,
    /// The server-wide connection limit.
    pub max_connections: usize,
    /// The per-address connection limit, if any.
    pub max_per_ip: Option<u32>,
}

/// A ban in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// The banned address or IPv6 network address.
    pub key: IpAddr,
    /// How long it still lasts.
    pub remaining: Duration,
}

/// State shared by several servers; see the [module docs](self).
///
/// Every method may fail with [`SharedLimitsError`]; the server then
/// decides with its own limits alone. Implementations answer quickly: the
/// server waits at most [`SHARED_LIMITS_TIMEOUT`] for any call.
///
/// ```
/// use std::net::IpAddr;
/// use std::sync::Mutex;
/// use std::collections::HashSet;
/// use std::time::Duration;
/// use ferroftpd::shared_limits::{Ban, SharedLimits, SharedLimitsError, SharedSlot};
/// use ferroftpd::BanPolicy;
///
/// /// Bans shared by the servers of one process; user caps not shared.
/// #[derive(Debug, Default)]
/// struct BanSet(Mutex<HashSet<IpAddr>>);
///
/// #[async_trait::async_trait]
/// impl SharedLimits for BanSet {
///     async fn is_banned(&self, key: IpAddr) -> Result<bool, SharedLimitsError> {
///         Ok(self.0.lock().unwrap().contains(&key))
///     }
///     async fn record_failure(&self, _: IpAddr, _: &BanPolicy) -> Result<bool, SharedLimitsError> {
///         Ok(false) // each server counts its own failures
///     }
///     async fn ban(&self, key: IpAddr, _: Duration) -> Result<(), SharedLimitsError> {
///         self.0.lock().unwrap().insert(key);
///         Ok(())
///     }
///     async fn unban(&self, key: IpAddr) -> Result<bool, SharedLimitsError> {
///         Ok(self.0.lock().unwrap().remove(&key))
///     }
///     async fn bans(&self) -> Result<Vec<Ban>, SharedLimitsError> {
///         Ok(self.0.lock().unwrap().iter()
///             .map(|&key| Ban { key, remaining: Duration::MAX })
///             .collect())
///     }
///     async fn admit_user(&self, _: &str, _: u32) -> Result<Option<SharedSlot>, SharedLimitsError> {
///         Ok(Some(SharedSlot::untracked()))
///     }
/// }
/// ```
#[async_trait]
pub trait SharedLimits: Send + Sync + fmt::Debug + 'static {
    /// Checks a new connection. The default checks only that its
    /// [`ConnectionRequest::ban_key`] is not banned, and counts nothing:
    /// connection limits stay per server. An implementation that counts
    /// connections across servers returns a tracked slot, or the refusal.
    async fn admit_connection(
        &self,
        request: &ConnectionRequest,
    ) -> Result<Result<SharedSlot, Refusal>, SharedLimitsError> {
        if self.is_banned(request.ban_key).await? {
            Ok(Err(Refusal::Banned))
        } else {
            Ok(Ok(SharedSlot::untracked()))
        }
    }

    /// True if `key` (an address, or an IPv6 network address) is banned.
    async fn is_banned(&self, key: IpAddr) -> Result<bool, SharedLimitsError>;

    /// Counts a failed login from `key` under `policy`; true if that bans
    /// it (for [`BanPolicy::duration`]).
    async fn record_failure(
        &self,
        key: IpAddr,
        policy: &BanPolicy,
    ) -> Result<bool, SharedLimitsError>;

    /// Bans `key` for `duration` (a ban a server gave by itself, or an
    /// operator's).
    async fn ban(&self, key: IpAddr, duration: Duration) -> Result<(), SharedLimitsError>;

    /// Lifts the ban on `key`; true if there was one.
    async fn unban(&self, key: IpAddr) -> Result<bool, SharedLimitsError>;

    /// The bans in force.
    async fn bans(&self) -> Result<Vec<Ban>, SharedLimitsError>;

    /// Takes one of `user`'s `max` session slots, or `None` if all are
    /// taken.
    async fn admit_user(
        &self,
        user: &str,
        max: u32,
    ) -> Result<Option<SharedSlot>, SharedLimitsError>;

    /// A short description for logs (`redis://127.0.0.1:6379`), without
    /// secrets.
    fn describe(&self) -> String {
        format!("{self:?}")
    }
}
