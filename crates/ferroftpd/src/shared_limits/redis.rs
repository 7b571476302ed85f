//! [`RedisLimits`]: shared limits in Redis.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use tokio::sync::{mpsc, Mutex};

use super::{Ban, SharedLimits, SharedLimitsError, SharedSlot, SHARED_LIMITS_TIMEOUT};
use crate::BanPolicy;

/// How long a user session's lease lasts without renewal.
const LEASE: Duration = Duration::from_secs(30);

/// Counts a failure; bans at the threshold. KEYS: fail, ban. ARGV: window
/// ms, failures, ban ms, who banned.
const RECORD_FAILURE: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

/// Takes a user slot if fewer than the cap are live. KEYS: user. ARGV:
/// cap, lease ms, member.
const ADMIT_USER: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// Renews leases still held. KEYS: user sets. ARGV: lease ms, then one
/// member per key.
const RENEW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + tonumber(ARGV[1]), ARGV[i + 1])
  redis.call('PEXPIRE', key, ARGV[1])
end
return 0
";

/// Bans, failed-login counts and user session caps in Redis, shared by
/// every server that names the same Redis (and database) and key prefix.
///
/// Keys (`P` is the prefix, `ferroftpd` by default):
///
/// - `P:ban:ADDRESS`: a ban, expiring with it;
/// - `P:fail:ADDRESS`: failed logins in the current window, expiring with
///   the window;
/// - `P:user:NAME`: a sorted set of the user's sessions, each a lease
///   scored with its expiry in Redis's clock. A server renews its leases
///   every 10 s, so the sessions of a server that dies (even by
///   `kill -9`) stop counting within 30 s.
///
/// Checking and taking happen in one Lua script each, so two servers can
/// never both take the last slot. Connections are not counted across
/// servers (the trait's default [`SharedLimits::admit_connection`]: a
/// ban check).
///
/// ```no_run
/// use std::sync::Arc;
/// use ferroftpd::{Server, shared_limits::RedisLimits};
/// # fn run() -> Result<(), ferroftpd::Error> {
/// let redis = RedisLimits::new("redis://127.0.0.1:6379/0")?;
/// let server = Server::builder().shared_limits(Some(Arc::new(redis))).build()?;
/// # Ok(()) }
/// ```
pub struct RedisLimits {
    client: redis::Client,
    /// The URL without its password, for logs.
    shown: String,
    prefix: String,
    /// Names this server's leases.
    node: String,
    connection: Mutex<Option<ConnectionManager>>,
    leases: OnceLock<mpsc::UnboundedSender<LeaseEvent>>,
    record_failure: Script,
    admit_user: Script,
}

impl fmt::Debug for RedisLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimits")
            .field("url", &self.shown)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisLimits {
    /// Shared limits in the Redis at `url` (`redis://[:PASSWORD@]HOST[:PORT][/DB]`
    /// or `redis+unix:///PATH[?db=N]`), under the key prefix `ferroftpd`.
    /// Nothing is connected yet: the first call connects, and a Redis that
    /// cannot be reached then or later only makes the server decide alone.
    ///
    /// Errors: `url` is not a Redis URL.
    pub fn new(url: &str) -> Result<Self, crate::Error> {
        let client = redis::Client::open(url)
            .map_err(|e| crate::Error::Config(format!("Redis URL {}: {e}", hide_password(url))))?;
        Ok(RedisLimits {
            client,
            shown: hide_password(url),
            prefix: "ferroftpd".to_owned(),
            node: format!("{:016x}", fastrand::u64(..)),
            connection: Mutex::new(None),
            leases: OnceLock::new(),
            record_failure: Script::new(RECORD_FAILURE),
            admit_user: Script::new(ADMIT_USER),
        })
    }

    /// The prefix of every key (default `ferroftpd`): servers that share it
    /// share their limits. Errors: empty, or with spaces or control
    /// characters.
    pub fn prefix(mut self, prefix: &str) -> Result<Self, crate::Error> {
        if prefix.is_empty() || prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(crate::Error::Config(format!(
                "Redis key prefix {prefix:?}: must be non-empty, without spaces"
            )));
        }
        self.prefix = prefix.to_owned();
        Ok(self)
    }

    async fn connection(&self) -> Result<ConnectionManager, SharedLimitsError> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(SHARED_LIMITS_TIMEOUT))
            .set_response_timeout(Some(SHARED_LIMITS_TIMEOUT))
            .set_number_of_retries(1);
        let c = ConnectionManager::new_with_config(self.client.clone(), config)
            .await
            .map_err(|e| self.error(e))?;
        *slot = Some(c.clone());
        Ok(c)
    }

    fn error(&self, e: redis::RedisError) -> SharedLimitsError {
        SharedLimitsError::new(format!("Redis {}: {e}", self.shown))
    }

    fn key(&self, kind: &str, name: impl fmt::Display) -> String {
        format!("{}:{kind}:{name}", self.prefix)
    }

    /// The task that renews and gives back this server's leases.
    fn leases(&self) -> &mpsc::UnboundedSender<LeaseEvent> {
        self.leases.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let renewer = Renewer {
                client: self.client.clone(),
                shown: self.shown.clone(),
            };
            tokio::spawn(renewer.run(rx));
            tx
        })
    }
}

#[async_trait]
impl SharedLimits for RedisLimits {
    async fn is_banned(&self, key: IpAddr) -> Result<bool, SharedLimitsError> {
        let mut c = self.connection().await?;
        c.exists(self.key("ban", key))
            .await
            .map_err(|e| self.error(e))
    }

    async fn record_failure(
        &self,
        key: IpAddr,
        policy: &BanPolicy,
    ) -> Result<bool, SharedLimitsError> {
        let mut c = self.connection().await?;
        let banned: i64 = self
            .record_failure
            .key(self.key("fail", key))
            .key(self.key("ban", key))
            .arg(millis(policy.window))
            .arg(policy.failures.max(1))
            .arg(millis(policy.duration))
            .arg(&self.node)
            .invoke_async(&mut c)
            .await
            .map_err(|e| self.error(e))?;
        Ok(banned == 1)
    }

    async fn ban(&self, key: IpAddr, duration: Duration) -> Result<(), SharedLimitsError> {
        let mut c = self.connection().await?;
        let _: () = redis::cmd("SET")
            .arg(self.key("ban", key))
            .arg(&self.node)
            .arg("PX")
            .arg(millis(duration))
            .query_async(&mut c)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn unban(&self, key: IpAddr) -> Result<bool, SharedLimitsError> {
        let mut c = self.connection().await?;
        let removed: i64 = c
            .del(self.key("ban", key))
            .await
            .map_err(|e| self.error(e))?;
        Ok(removed > 0)
    }

    async fn bans(&self) -> Result<Vec<Ban>, SharedLimitsError> {
        let mut c = self.connection().await?;
        // A thousand keys looked at per round trip: the keyspace holds a
        // failure count per address that failed, which can be many.
        let scan = redis::ScanOptions::default()
            .with_pattern(self.key("ban", "*"))
            .with_count(1000);
        let mut keys: Vec<String> = Vec::new();
        {
            let mut iter: redis::AsyncIter<'_, String> =
                c.scan_options(scan).await.map_err(|e| self.error(e))?;
            while let Some(key) = iter.next_item().await {
                keys.push(key.map_err(|e| self.error(e))?);
            }
        }
        // Every expiry in one round trip.
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.pttl(key);
        }
        let expiries: Vec<i64> = if keys.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut c).await.map_err(|e| self.error(e))?
        };
        let start = self.key("ban", "");
        let mut bans = Vec::new();
        for (key, ms) in keys.iter().zip(expiries) {
            let Some(Ok(address)) = key.strip_prefix(&start).map(str::parse::<IpAddr>) else {
                continue;
            };
            // -2: gone meanwhile; -1: no expiry (set by hand), shown as
            // lasting for ever.
            let remaining = match ms {
                -2 => continue,
                -1 => Duration::MAX,
                ms => Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
            };
            bans.push(Ban {
                key: address,
                remaining,
            });
        }
        Ok(bans)
    }

    async fn admit_user(
        &self,
        user: &str,
        max: u32,
    ) -> Result<Option<SharedSlot>, SharedLimitsError> {
        let mut c = self.connection().await?;
        let key = self.key("user", user);
        let member = format!("{}:{:016x}", self.node, fastrand::u64(..));
        let taken: i64 = self
            .admit_user
            .key(&key)
            .arg(max)
            .arg(millis(LEASE))
            .arg(&member)
            .invoke_async(&mut c)
            .await
            .map_err(|e| self.error(e))?;
        if taken != 1 {
            return Ok(None);
        }
        let leases = self.leases().clone();
        let _ = leases.send(LeaseEvent::Taken(key.clone(), member.clone()));
        Ok(Some(SharedSlot::new(Lease {
            key,
            member,
            leases,
        })))
    }

    fn describe(&self) -> String {
        format!("Redis {} (prefix {})", self.shown, self.prefix)
    }
}

/// One of this server's user sessions in Redis; given back on drop.
struct Lease {
    key: String,
    member: String,
    leases: mpsc::UnboundedSender<LeaseEvent>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let event = LeaseEvent::Released(
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.member),
        );
        let _ = self.leases.send(event);
    }
}

enum LeaseEvent {
    /// Key and member of a lease taken.
    Taken(String, String),
    /// Key and member of a lease given back.
    Released(String, String),
}

/// Renews this server's leases and removes those given back, on a
/// connection of its own.
struct Renewer {
    client: redis::Client,
    shown: String,
}

impl Renewer {
    async fn run(self, mut events: mpsc::UnboundedReceiver<LeaseEvent>) {
        let mut held: HashMap<String, String> = HashMap::new();
        let mut connection: Option<ConnectionManager> = None;
        let mut tick = tokio::time::interval(LEASE / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let renew = Script::new(RENEW);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(LeaseEvent::Taken(key, member)) => {
                        held.insert(member, key);
                    }
                    Some(LeaseEvent::Released(key, member)) => {
                        held.remove(&member);
                        if let Some(c) = self.connect(&mut connection).await {
                            let removed: Result<i64, _> = c.zrem(&key, &member).await;
                            if let Err(e) = removed {
                                // The lease then ends by itself within LEASE.
                                tracing::debug!("Redis {}: lease not given back: {e}", self.shown);
                            }
                        }
                    }
                    // Every sender is gone: the server's limits were dropped.
                    None => return,
                },
                _ = tick.tick() => {
                    if held.is_empty() {
                        continue;
                    }
                    let Some(c) = self.connect(&mut connection).await else { continue };
                    let pairs: Vec<(&String, &String)> = held.iter().collect();
                    for chunk in pairs.chunks(500) {
                        let mut call = renew.prepare_invoke();
                        call.arg(millis(LEASE));
                        for (member, key) in chunk {
                            call.key(*key).arg(*member);
                        }
                        let renewed: Result<i64, _> = call.invoke_async(c).await;
                        if let Err(e) = renewed {
                            tracing::debug!("Redis {}: leases not renewed: {e}", self.shown);
                        }
                    }
                }
            }
        }
    }

    async fn connect<'a>(
        &self,
        connection: &'a mut Option<ConnectionManager>,
    ) -> Option<&'a mut ConnectionManager> {
        if connection.is_none() {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(SHARED_LIMITS_TIMEOUT))
                .set_response_timeout(Some(SHARED_LIMITS_TIMEOUT))
                .set_number_of_retries(1);
            match ConnectionManager::new_with_config(self.client.clone(), config).await {
                Ok(c) => *connection = Some(c),
                Err(e) => tracing::debug!("Redis {}: {e}", self.shown),
            }
        }
        connection.as_mut()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// `url` with any password replaced by `***`.
fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => format!("{scheme}://{userinfo}@{host}"),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        for (url, shown) in [
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("redis://:secret@host:6379/1", "redis://:***@host:6379/1"),
            ("redis://user:p@ss@host", "redis://user:***@host"),
            ("redis://user@host", "redis://user@host"),
            (
                "redis+unix:///run/redis.sock",
                "redis+unix:///run/redis.sock",
            ),
        ] {
            assert_eq!(hide_password(url), shown, "{url}");
        }
    }

    #[test]
    fn bad_urls_and_prefixes_are_refused() {
        let e = RedisLimits::new("http://127.0.0.1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Redis URL http://127.0.0.1"), "{e}");
        let e = RedisLimits::new("redis://:pw@host")
            .unwrap()
            .prefix("a b")
            .unwrap_err()
            .to_string();
        assert!(e.contains("prefix"), "{e}");
    }
}
