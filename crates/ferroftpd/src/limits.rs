//! Connection limits and the per-address ban list.
//!
//! Counting: every accepted control connection takes one slot of the
//! server-wide limit and one of its client address's limit, before the
//! greeting is sent; data connections are not counted. A logged-in session
//! also takes one slot of its user's limit. Slots are guards: dropping one
//! (when the session ends for any reason, including a panic or a transfer
//! that dies) gives it back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::shared_limits::SharedSlot;

mod operator;
use operator::OperatorBans;
pub use operator::{Ban, BanReason};

/// Settings of the ban list: an address with `failures` failed logins
/// within `window` is refused for `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanPolicy {
    /// Failed logins that trigger a ban. Default: 10.
    pub failures: u32,
    /// How far back failures count. Default: 10 minutes.
    pub window: Duration,
    /// How long a ban lasts. Default: 15 minutes.
    pub duration: Duration,
    /// IPv6 clients are counted and banned by network of this prefix
    /// length, not by single address: one host commonly holds a whole /64
    /// and can pick a fresh address for every connection. 128 counts
    /// single addresses. Default: 64.
    pub ipv6_prefix: u8,
}

impl Default for BanPolicy {
    fn default() -> Self {
        BanPolicy {
            failures: 10,
            window: Duration::from_secs(600),
            duration: Duration::from_secs(900),
            ipv6_prefix: 64,
        }
    }
}

impl BanPolicy {
    /// The key `ip` is counted and banned under: IPv4 addresses alone,
    /// IPv6 addresses by their `ipv6_prefix` network.
    pub(crate) fn key(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(v6) => {
                let bits = u32::from(self.ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        }
    }
}

/// Addresses tracked at most by the ban list. Past this, entries whose
/// window and ban have expired are dropped; if none has, the oldest is.
/// Bounds memory under a flood of failures from many addresses.
const MAX_TRACKED_ADDRESSES: usize = 65_536;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the maps inconsistent
    // (every update is a single insert or decrement), so poison is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a connection was refused at accept time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The server-wide connection limit is reached.
    TooManyConnections,
    /// The client's address has as many connections as it may.
    TooManyFromAddress,
    /// The client's address is banned.
    Banned,
    /// An operator's ban ([`crate::Server::ban`]); counted as `banned`.
    BannedByOperator,
}

impl Refusal {
    /// Every reason, so that each has its series from the start.
    pub(crate) const ALL: [Refusal; 3] = [
        Refusal::TooManyConnections,
        Refusal::TooManyFromAddress,
        Refusal::Banned,
    ];

    /// The `reason` label of the refused-connections metric.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Refusal::TooManyConnections => "max_connections",
            Refusal::TooManyFromAddress => "max_connections_per_ip",
            Refusal::Banned | Refusal::BannedByOperator => "banned",
        }
    }

    pub(crate) fn reply_text(self) -> &'static str {
        match self {
            Refusal::TooManyConnections => "Too many connections. Service temporarily unavailable.",
            Refusal::TooManyFromAddress => "Too many connections from your address.",
            Refusal::Banned => "Too many failed logins from your address; try again later.",
            Refusal::BannedByOperator => "Connections from your address are refused.",
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, u32>,
}

/// The server's connection and user counters and its ban list.
#[derive(Debug)]
pub(crate) struct Limits {
    max_connections: usize,
    max_per_ip: Option<u32>,
    counts: Arc<Mutex<Counts>>,
    users: Arc<Mutex<HashMap<String, u32>>>,
    ban: Option<BanPolicy>,
    failures: Arc<Mutex<HashMap<IpAddr, FailureRecord>>>,
    /// Bans an operator gave ([`Limits::ban`]), whatever the policy.
    operator_bans: Arc<Mutex<OperatorBans>>,
}

#[derive(Debug)]
struct FailureRecord {
    window_start: Instant,
    count: u32,
    banned_until: Option<Instant>,
}

/// A connection's slot; given back on drop.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    counts: Arc<Mutex<Counts>>,
    /// The address counted, as IPv6 octets (IPv4 mapped): an `IpAddr`
    /// would make the slot, kept by every session, 8 bytes larger.
    ip: [u8; 16],
    /// Its slot in the shared limits, if they count connections (boxed:
    /// a pointer in every session, the slot only where there is one).
    shared: Option<Box<SharedSlot>>,
}

impl ConnectionSlot {
    /// Holds `shared` as long as this slot.
    pub(crate) fn attach(&mut self, shared: SharedSlot) {
        if shared.is_tracked() {
            self.shared = Some(Box::new(shared));
        }
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut c = lock(&self.counts);
        c.total = c.total.saturating_sub(1);
        let ip = std::net::Ipv6Addr::from(self.ip).to_canonical();
        if let Some(n) = c.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&ip);
            }
        }
    }
}

/// A logged-in session's slot in its user's count; given back on drop.
#[derive(Debug)]
pub(crate) struct UserSlot {
    users: Arc<Mutex<HashMap<String, u32>>>,
    name: Box<str>,
    /// Its slot in the shared limits, if any (boxed, as in
    /// [`ConnectionSlot`]).
    shared: Option<Box<SharedSlot>>,
}

impl UserSlot {
    /// Holds `shared` as long as this slot.
    pub(crate) fn attach(&mut self, shared: SharedSlot) {
        if shared.is_tracked() {
            self.shared = Some(Box::new(shared));
        }
    }
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut users = lock(&self.users);
        if let Some(n) = users.get_mut(&*self.name) {
            *n -= 1;
            if *n == 0 {
                users.remove(&*self.name);
            }
        }
    }
}

impl Limits {
    pub(crate) fn new(
        max_connections: usize,
        max_per_ip: Option<u32>,
        ban: Option<BanPolicy>,
    ) -> Self {
        Limits {
            max_connections,
            max_per_ip,
            counts: Arc::default(),
            users: Arc::default(),
            ban,
            failures: Arc::default(),
            operator_bans: Arc::default(),
        }
    }

    /// The same counters and records under other limits: connections and
    /// users already counted stay counted, and failed logins and bans
    /// recorded so far are judged by the new policy (a ban lasts as long
    /// as it was given for; with no policy, nobody is banned).
    pub(crate) fn reconfigured(
        &self,
        max_connections: usize,
        max_per_ip: Option<u32>,
        ban: Option<BanPolicy>,
    ) -> Self {
        Limits {
            max_connections,
            max_per_ip,
            counts: self.counts.clone(),
            users: self.users.clone(),
            ban,
            failures: self.failures.clone(),
            operator_bans: self.operator_bans.clone(),
        }
    }

    /// Takes a connection slot for `ip`, or says why not.
    pub(crate) fn admit(&self, ip: IpAddr) -> Result<ConnectionSlot, Refusal> {
        self.admit_checking(ip, true)
    }

    /// [`Self::admit`] without the failed-login bans, for a server whose
    /// shared limits decide those ([`crate::shared_limits`]).
    pub(crate) fn admit_leaving_failures(&self, ip: IpAddr) -> Result<ConnectionSlot, Refusal> {
        self.admit_checking(ip, false)
    }

    fn admit_checking(&self, ip: IpAddr, failures: bool) -> Result<ConnectionSlot, Refusal> {
        if self.is_banned_by_operator(ip) {
            return Err(Refusal::BannedByOperator);
        }
        if failures && self.is_banned(ip) {
            return Err(Refusal::Banned);
        }
        let mut c = lock(&self.counts);
        if c.total >= self.max_connections {
            return Err(Refusal::TooManyConnections);
        }
        let from_ip = c.per_ip.get(&ip).copied().unwrap_or(0);
        if self.max_per_ip.is_some_and(|max| from_ip >= max) {
            return Err(Refusal::TooManyFromAddress);
        }
        c.total += 1;
        c.per_ip.insert(ip, from_ip + 1);
        Ok(ConnectionSlot {
            counts: self.counts.clone(),
            ip: octets(ip),
            shared: None,
        })
    }

    /// Takes one of `name`'s `max` session slots, or `None` if all are used.
    pub(crate) fn admit_user(&self, name: &str, max: Option<u32>) -> Option<UserSlot> {
        let mut users = lock(&self.users);
        let n = users.entry(name.to_owned()).or_insert(0);
        if max.is_some_and(|max| *n >= max) {
            if *n == 0 {
                users.remove(name);
            }
            return None;
        }
        *n += 1;
        Some(UserSlot {
            users: self.users.clone(),
            name: name.into(),
            shared: None,
        })
    }

    /// Control connections open now.
    pub(crate) fn connections(&self) -> usize {
        lock(&self.counts).total
    }

    /// True if `ip` is banned now.
    pub(crate) fn is_banned(&self, ip: IpAddr) -> bool {
        let Some(policy) = self.ban else { return false };
        let failures = lock(&self.failures);
        failures
            .get(&policy.key(ip))
            .and_then(|r| r.banned_until)
            .is_some_and(|until| Instant::now() < until)
    }

    /// Bans `ip` (by its key under the ban policy) for `duration`, as if it
    /// had failed too often; nothing without a ban policy.
    pub(crate) fn ban_as_failed(&self, ip: IpAddr, duration: Duration) {
        let Some(policy) = self.ban else { return };
        let ip = policy.key(ip);
        let now = Instant::now();
        let mut failures = lock(&self.failures);
        if failures.len() >= MAX_TRACKED_ADDRESSES && !failures.contains_key(&ip) {
            evict(&mut failures, now, policy);
        }
        let record = failures.entry(ip).or_insert(FailureRecord {
            window_start: now,
            count: 0,
            banned_until: None,
        });
        record.banned_until = Some(ban_end(now, duration));
    }

    /// Lifts the ban on `ip` (by its key under the ban policy); true if
    /// there was one in force.
    #[cfg_attr(not(feature = "multi-proc"), allow(dead_code))]
    pub(crate) fn unban_failed(&self, ip: IpAddr) -> bool {
        let Some(policy) = self.ban else { return false };
        let now = Instant::now();
        let mut failures = lock(&self.failures);
        let banned = failures
            .get(&policy.key(ip))
            .and_then(|r| r.banned_until)
            .is_some_and(|until| now < until);
        failures.remove(&policy.key(ip));
        banned
    }

    /// The failed-login bans in force: each key and how long it still
    /// lasts.
    #[cfg_attr(not(feature = "multi-proc"), allow(dead_code))]
    pub(crate) fn failed_login_bans(&self) -> Vec<(IpAddr, Duration)> {
        let now = Instant::now();
        lock(&self.failures)
            .iter()
            .filter_map(|(key, r)| {
                let until = r.banned_until.filter(|&until| now < until)?;
                Some((*key, until - now))
            })
            .collect()
    }

    /// Records a failed login from `ip`; returns true if that bans it.
    pub(crate) fn record_failure(&self, ip: IpAddr) -> bool {
        let Some(policy) = self.ban else { return false };
        let ip = policy.key(ip);
        let now = Instant::now();
        let mut failures = lock(&self.failures);
        if failures.len() >= MAX_TRACKED_ADDRESSES && !failures.contains_key(&ip) {
            evict(&mut failures, now, policy);
        }
        let record = failures.entry(ip).or_insert(FailureRecord {
            window_start: now,
            count: 0,
            banned_until: None,
        });
        if now.duration_since(record.window_start) > policy.window {
            record.window_start = now;
            record.count = 0;
        }
        record.count += 1;
        if record.count >= policy.failures {
            record.banned_until = Some(ban_end(now, policy.duration));
            record.count = 0;
            record.window_start = now;
            return true;
        }
        false
    }
}

/// `ip` as 16 octets: an IPv6 address's own, an IPv4 address's mapped.
fn octets(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn evict(failures: &mut HashMap<IpAddr, FailureRecord>, now: Instant, policy: BanPolicy) {
    failures.retain(|_, r| {
        let banned = r.banned_until.is_some_and(|until| now < until);
        banned || now.duration_since(r.window_start) <= policy.window
    });
    if failures.len() >= MAX_TRACKED_ADDRESSES {
        let oldest = failures
            .iter()
            .min_by_key(|(_, r)| r.window_start)
            .map(|(ip, _)| *ip);
        if let Some(ip) = oldest {
            failures.remove(&ip);
        }
    }
}

/// When a ban of `duration` from `now` ends: at most [`LONGEST_BAN`]
/// away, so that no duration (one from another process among them) can
/// overflow the clock.
fn ban_end(now: Instant, duration: Duration) -> Instant {
    now + duration.min(LONGEST_BAN)
}

/// The longest ban kept: a year.
const LONGEST_BAN: Duration = Duration::from_secs(365 * 24 * 3600);

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn connection_slots_are_counted_and_released() {
        let limits = Limits::new(3, Some(2), None);
        let a1 = limits.admit(ip("10.0.0.1")).unwrap();
        let _a2 = limits.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(
            limits.admit(ip("10.0.0.1")).unwrap_err(),
            Refusal::TooManyFromAddress
        );
        let _b = limits.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(
            limits.admit(ip("10.0.0.3")).unwrap_err(),
            Refusal::TooManyConnections
        );
        drop(a1);
        assert_eq!(limits.connections(), 2);
        let _a3 = limits.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(limits.connections(), 3);
    }

    #[test]
    fn user_slots() {
        let limits = Limits::new(10, None, None);
        let s1 = limits.admit_user("bob", Some(1)).unwrap();
        assert!(limits.admit_user("bob", Some(1)).is_none());
        assert!(limits.admit_user("eve", Some(1)).is_some());
        drop(s1);
        assert!(limits.admit_user("bob", Some(1)).is_some());
        assert!(limits.admit_user("anyone", None).is_some());
        assert!(limits.admit_user("nobody", Some(0)).is_none());
        assert!(lock(&limits.users).get("nobody").is_none());
    }

    #[test]
    fn bans_after_repeated_failures() {
        let policy = BanPolicy {
            failures: 3,
            window: Duration::from_secs(60),
            duration: Duration::from_secs(60),
            ..BanPolicy::default()
        };
        let limits = Limits::new(10, None, Some(policy));
        let bad = ip("192.0.2.1");
        assert!(!limits.record_failure(bad));
        assert!(!limits.record_failure(bad));
        assert!(limits.admit(bad).is_ok());
        assert!(limits.record_failure(bad));
        assert_eq!(limits.admit(bad).unwrap_err(), Refusal::Banned);
        assert!(limits.admit(ip("192.0.2.2")).is_ok());
        let off = Limits::new(10, None, None);
        for _ in 0..100 {
            assert!(!off.record_failure(bad));
        }
        assert!(off.admit(bad).is_ok());
    }

    #[test]
    fn ipv6_clients_are_banned_by_network() {
        let policy = BanPolicy {
            failures: 2,
            ..BanPolicy::default()
        };
        let limits = Limits::new(10, None, Some(policy));
        // Two addresses of one /64 share a count; the ban covers the /64.
        assert!(!limits.record_failure(ip("2001:db8:1:2::1")));
        assert!(limits.record_failure(ip("2001:db8:1:2:ffff::9")));
        assert_eq!(
            limits.admit(ip("2001:db8:1:2:abcd::1")).unwrap_err(),
            Refusal::Banned
        );
        assert!(limits.admit(ip("2001:db8:1:3::1")).is_ok());
        // IPv4 addresses stay single.
        assert!(!limits.record_failure(ip("192.0.2.1")));
        assert!(limits.admit(ip("192.0.2.2")).is_ok());
        let exact = Limits::new(
            10,
            None,
            Some(BanPolicy {
                failures: 1,
                ipv6_prefix: 128,
                ..BanPolicy::default()
            }),
        );
        assert!(exact.record_failure(ip("2001:db8::1")));
        assert!(exact.admit(ip("2001:db8::2")).is_ok());
        let whole = BanPolicy {
            ipv6_prefix: 0,
            ..BanPolicy::default()
        };
        assert_eq!(whole.key(ip("2001:db8::1")), ip("::"));
    }

    #[test]
    fn ban_list_memory_is_bounded() {
        let limits = Limits::new(10, None, Some(BanPolicy::default()));
        for i in 0..(MAX_TRACKED_ADDRESSES as u32 + 100) {
            limits.record_failure(IpAddr::from(i.to_be_bytes()));
        }
        assert!(lock(&limits.failures).len() <= MAX_TRACKED_ADDRESSES);
    }
}
