//! Bans given by an operator ([`crate::Server::ban`]), beside those the
//! failed-login policy gives; and the list of both.
//!
//! An operator's ban holds whatever the ban policy (even with none), for
//! a single address or a whole network, for a time or until lifted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use ipnet::IpNet;

use super::{lock, Limits};

/// Operator bans kept at most: a bound on memory if a script goes wrong.
const MAX_OPERATOR_BANS: usize = 65_536;

/// The operator's bans: each network, until when (`None`: until lifted).
pub(crate) type OperatorBans = HashMap<IpNet, Option<Instant>>;

/// An address or network refused at connection time, as
/// [`crate::Server::bans`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ban {
    /// What is refused: one address (`/32`, `/128`) or a network. IPv6
    /// clients banned for failed logins are banned by network, as the
    /// [`crate::BanPolicy`]'s `ipv6_prefix` says.
    pub network: IpNet,
    /// When the ban ends; `None` until it is lifted.
    pub until: Option<SystemTime>,
    /// Who gave it.
    pub reason: BanReason,
}

/// Why an address is banned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BanReason {
    /// [`crate::Server::ban`].
    Operator,
    /// Too many failed logins ([`crate::BanPolicy`]).
    FailedLogins,
}

impl BanReason {
    /// `operator` or `failed-logins`.
    pub fn as_str(self) -> &'static str {
        match self {
            BanReason::Operator => "operator",
            BanReason::FailedLogins => "failed-logins",
        }
    }
}

/// The wall-clock time of `at`, an instant in the future or past.
fn wall_clock(at: Instant, now: Instant) -> SystemTime {
    let system_now = SystemTime::now();
    if at >= now {
        system_now + (at - now)
    } else {
        system_now - (now - at)
    }
}

impl Limits {
    /// Refuses connections from `network` for `duration` (`None`: until
    /// [`Self::unban`]). A second ban of the same network replaces the
    /// first. False if the list is full.
    pub(crate) fn ban(&self, network: IpNet, duration: Option<Duration>) -> bool {
        let now = Instant::now();
        // A duration past what the clock can hold is a ban until lifted.
        let until = duration.and_then(|d| now.checked_add(d));
        let mut bans = lock(&self.operator_bans);
        bans.retain(|_, until| until.is_none_or(|u| now < u));
        if bans.len() >= MAX_OPERATOR_BANS && !bans.contains_key(&network.trunc()) {
            return false;
        }
        bans.insert(network.trunc(), until);
        true
    }

    /// Lifts the bans on `network`: the operator's ban of that exact
    /// network, and failed-login bans of addresses within it (or of the
    /// network a banned IPv6 address counts under). True if one was lifted.
    pub(crate) fn unban(&self, network: IpNet) -> bool {
        let network = network.trunc();
        let mut lifted = lock(&self.operator_bans).remove(&network).is_some();
        if let Some(policy) = self.ban {
            let key = policy.key(network.addr());
            let now = Instant::now();
            let mut failures = lock(&self.failures);
            for (ip, record) in failures.iter_mut() {
                let banned = record.banned_until.is_some_and(|u| now < u);
                if banned && (network.contains(ip) || *ip == key) {
                    record.banned_until = None;
                    record.count = 0;
                    lifted = true;
                }
            }
        }
        lifted
    }

    /// True if an operator's ban covers `ip` now.
    pub(crate) fn is_banned_by_operator(&self, ip: IpAddr) -> bool {
        let bans = lock(&self.operator_bans);
        if bans.is_empty() {
            return false;
        }
        let now = Instant::now();
        bans.iter()
            .any(|(net, until)| net.contains(&ip) && until.is_none_or(|u| now < u))
    }

    /// Every ban in force now: the operator's, then the policy's.
    pub(crate) fn bans(&self) -> Vec<Ban> {
        let now = Instant::now();
        let mut list: Vec<Ban> = lock(&self.operator_bans)
            .iter()
            .filter(|(_, until)| until.is_none_or(|u| now < u))
            .map(|(net, until)| Ban {
                network: *net,
                until: until.map(|u| wall_clock(u, now)),
                reason: BanReason::Operator,
            })
            .collect();
        if let Some(policy) = self.ban {
            let failures = lock(&self.failures);
            for (ip, record) in failures.iter() {
                let Some(until) = record.banned_until.filter(|u| now < *u) else {
                    continue;
                };
                let prefix = match ip {
                    IpAddr::V4(_) => 32,
                    IpAddr::V6(_) => policy.ipv6_prefix.min(128),
                };
                let Ok(network) = IpNet::new(*ip, prefix) else {
                    continue;
                };
                list.push(Ban {
                    network,
                    until: Some(wall_clock(until, now)),
                    reason: BanReason::FailedLogins,
                });
            }
        }
        list.sort_by(|a, b| (a.reason.as_str(), a.network).cmp(&(b.reason.as_str(), b.network)));
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{BanPolicy, Refusal};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn operator_bans_hold_without_a_policy_and_lift() {
        let limits = Limits::new(10, None, None);
        assert!(limits.ban(net("192.0.2.7/32"), None));
        assert_eq!(
            limits.admit(ip("192.0.2.7")).unwrap_err(),
            Refusal::BannedByOperator
        );
        assert!(limits.admit(ip("192.0.2.8")).is_ok());
        assert!(limits.ban(net("2001:db8::/32"), Some(Duration::from_secs(60))));
        assert_eq!(
            limits.admit(ip("2001:db8:5::1")).unwrap_err(),
            Refusal::BannedByOperator
        );
        let bans = limits.bans();
        assert_eq!(bans.len(), 2);
        assert!(bans.iter().all(|b| b.reason == BanReason::Operator));
        assert!(bans.iter().any(|b| b.until.is_none()));
        assert!(limits.unban(net("192.0.2.7/32")));
        assert!(!limits.unban(net("192.0.2.7/32")));
        assert!(limits.admit(ip("192.0.2.7")).is_ok());
        // A network given with host bits is the network.
        assert!(limits.unban(net("2001:db8::1/32")));
        assert!(limits.bans().is_empty());
    }

    #[test]
    fn a_ban_that_ran_out_refuses_no_more() {
        let limits = Limits::new(10, None, None);
        assert!(limits.ban(net("192.0.2.1/32"), Some(Duration::ZERO)));
        assert!(limits.admit(ip("192.0.2.1")).is_ok());
        assert!(limits.bans().is_empty());
    }

    #[test]
    fn failed_login_bans_are_listed_and_lifted() {
        let policy = BanPolicy {
            failures: 1,
            ..BanPolicy::default()
        };
        let limits = Limits::new(10, None, Some(policy));
        assert!(limits.record_failure(ip("198.51.100.9")));
        assert!(limits.record_failure(ip("2001:db8:1:2::5")));
        let bans = limits.bans();
        assert_eq!(bans.len(), 2);
        assert!(bans.iter().all(|b| b.reason == BanReason::FailedLogins));
        assert!(bans.iter().any(|b| b.network == net("2001:db8:1:2::/64")));
        // An address of the banned IPv6 network lifts its ban.
        assert!(limits.unban(net("2001:db8:1:2::5/128")));
        assert!(limits.admit(ip("2001:db8:1:2::5")).is_ok());
        assert!(limits.unban(net("198.51.100.0/24")));
        assert!(limits.admit(ip("198.51.100.9")).is_ok());
        assert!(limits.bans().is_empty());
    }
}
