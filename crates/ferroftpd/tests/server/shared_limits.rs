//! Shared limits (`Builder::shared_limits`): two servers consulting one
//! in-process state, and a state that fails or never answers. (Redis
//! itself is exercised by tests/interop/test_shared_limits.py.)

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ferroftpd::shared_limits::{Ban, SharedLimits, SharedLimitsError, SharedSlot};
use ferroftpd::BanPolicy;

use crate::common::{Client, TestServer};

/// Bans, failure counts and user sessions of several servers, in memory.
#[derive(Debug, Default)]
struct InProcess {
    bans: Mutex<HashSet<IpAddr>>,
    failures: Mutex<HashMap<IpAddr, u32>>,
    users: Arc<Mutex<HashMap<String, u32>>>,
}

struct UserGuard(Arc<Mutex<HashMap<String, u32>>>, String);

impl Drop for UserGuard {
    fn drop(&mut self) {
        *self.0.lock().unwrap().get_mut(&self.1).unwrap() -= 1;
    }
}

#[async_trait]
impl SharedLimits for InProcess {
    async fn is_banned(&self, key: IpAddr) -> Result<bool, SharedLimitsError> {
        Ok(self.bans.lock().unwrap().contains(&key))
    }
    async fn record_failure(
        &self,
        key: IpAddr,
        policy: &BanPolicy,
    ) -> Result<bool, SharedLimitsError> {
        let mut failures = self.failures.lock().unwrap();
        let n = failures.entry(key).or_default();
        *n += 1;
        if *n >= policy.failures {
            *n = 0;
            self.bans.lock().unwrap().insert(key);
            return Ok(true);
        }
        Ok(false)
    }
    async fn ban(&self, key: IpAddr, _: Duration) -> Result<(), SharedLimitsError> {
        self.bans.lock().unwrap().insert(key);
        Ok(())
    }
    async fn unban(&self, key: IpAddr) -> Result<bool, SharedLimitsError> {
        Ok(self.bans.lock().unwrap().remove(&key))
    }
    async fn bans(&self) -> Result<Vec<Ban>, SharedLimitsError> {
        let bans = self.bans.lock().unwrap();
        Ok(bans
            .iter()
            .map(|&key| Ban {
                key,
                remaining: Duration::MAX,
            })
            .collect())
    }
    async fn admit_user(
        &self,
        user: &str,
        max: u32,
    ) -> Result<Option<SharedSlot>, SharedLimitsError> {
        let mut users = self.users.lock().unwrap();
        let n = users.entry(user.to_owned()).or_default();
        if *n >= max {
            return Ok(None);
        }
        *n += 1;
        Ok(Some(SharedSlot::new(UserGuard(
            self.users.clone(),
            user.to_owned(),
        ))))
    }
}

/// A state that fails every call, or never answers.
#[derive(Debug)]
struct Broken {
    hangs: bool,
}

impl Broken {
    async fn fail<T>(&self) -> Result<T, SharedLimitsError> {
        if self.hangs {
            std::future::pending::<()>().await;
        }
        Err(SharedLimitsError::new("connection refused"))
    }
}

#[async_trait]
impl SharedLimits for Broken {
    async fn is_banned(&self, _: IpAddr) -> Result<bool, SharedLimitsError> {
        self.fail().await
    }
    async fn record_failure(&self, _: IpAddr, _: &BanPolicy) -> Result<bool, SharedLimitsError> {
        self.fail().await
    }
    async fn ban(&self, _: IpAddr, _: Duration) -> Result<(), SharedLimitsError> {
        self.fail().await
    }
    async fn unban(&self, _: IpAddr) -> Result<bool, SharedLimitsError> {
        self.fail().await
    }
    async fn bans(&self) -> Result<Vec<Ban>, SharedLimitsError> {
        self.fail().await
    }
    async fn admit_user(&self, _: &str, _: u32) -> Result<Option<SharedSlot>, SharedLimitsError> {
        self.fail().await
    }
}

async fn pair(shared: Arc<InProcess>) -> (TestServer, TestServer) {
    let configure = |b: ferroftpd::Builder| {
        b.shared_limits(Some(shared.clone()))
            .max_sessions_per_user(Some(1))
            .ban(Some(BanPolicy {
                failures: 2,
                ..BanPolicy::default()
            }))
    };
    (
        TestServer::start_with(configure).await,
        TestServer::start_with(configure).await,
    )
}

#[tokio::test]
async fn failures_on_two_servers_ban_on_both() {
    let shared = Arc::new(InProcess::default());
    let (a, b) = pair(shared.clone()).await;
    for srv in [&a, &b] {
        let mut c = srv.client().await;
        c.cmd("USER user").await;
        assert_eq!(c.cmd("PASS wrong").await.0, 530);
    }
    assert!(shared
        .bans
        .lock()
        .unwrap()
        .contains(&"127.0.0.1".parse().unwrap()));
    // Banned on both: refused at connection, and on the next password of
    // a connection opened before.
    for srv in [&a, &b] {
        let c = Client::connect(srv.addr).await;
        assert_eq!(c.greeting.0, 421, "{}", c.greeting.1);
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_ban_given_through_one_server_is_listed_and_lifted_through_the_other() {
    let shared = Arc::new(InProcess::default());
    let (a, b) = pair(shared.clone()).await;
    for _ in 0..2 {
        let mut c = a.client().await;
        c.cmd("USER user").await;
        c.cmd("PASS wrong").await;
    }
    let here: ipnet::IpNet = "127.0.0.1/32".parse().unwrap();
    // b never saw a failure: its own list is empty, the shared one is not.
    assert!(b.server.bans().is_empty());
    let listed = b.server.bans_everywhere().await;
    assert_eq!(
        listed.iter().map(|ban| ban.network).collect::<Vec<_>>(),
        [here]
    );
    assert_eq!(listed[0].reason, ferroftpd::BanReason::FailedLogins);
    // Lifted through b: gone from the shared state, and a, whose own
    // record still has the ban, lets the client in: the shared limits
    // decide while they answer.
    assert!(b.server.unban_everywhere(here).await);
    assert!(shared.bans.lock().unwrap().is_empty());
    assert_eq!(a.server.bans().len(), 1);
    let mut c = Client::connect(a.addr).await;
    assert_eq!(c.greeting.0, 220);
    c.cmd("USER user").await;
    assert_eq!(c.cmd("PASS 12345").await.0, 230);
    assert!(!b.server.unban_everywhere(here).await);
    // An IPv6 client is banned by its /64: lifting the address lifts that.
    shared
        .bans
        .lock()
        .unwrap()
        .insert("2001:db8:1:2::".parse().unwrap());
    let one: ipnet::IpNet = "2001:db8:1:2::5/128".parse().unwrap();
    assert!(b.server.unban_everywhere(one).await);
    assert!(shared.bans.lock().unwrap().is_empty());
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_users_cap_counts_sessions_on_both_servers() {
    let shared = Arc::new(InProcess::default());
    let (a, b) = pair(shared.clone()).await;
    let mut first = a.user().await;
    let mut second = b.client().await;
    second.cmd("USER user").await;
    let (code, text) = second.cmd("PASS 12345").await;
    assert_eq!(
        (code, text.as_str()),
        (530, "Too many sessions for this user.")
    );
    assert_eq!(first.cmd("QUIT").await.0, 221);
    // Given back when the session ends.
    let started = Instant::now();
    loop {
        second.cmd("USER user").await;
        if second.cmd("PASS 12345").await.0 == 230 {
            break;
        }
        assert!(
            started.elapsed() < crate::common::TIMEOUT,
            "slot never given back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_broken_state_leaves_the_server_deciding_alone() {
    for hangs in [false, true] {
        let srv = TestServer::start_with(|b| {
            b.shared_limits(Some(Arc::new(Broken { hangs })))
                .max_sessions_per_user(Some(1))
        })
        .await;
        let started = Instant::now();
        let mut c = srv.user().await;
        // The first question waits SHARED_LIMITS_TIMEOUT at most; later
        // ones are not asked for SHARED_LIMITS_RETRY.
        assert!(started.elapsed() < Duration::from_secs(3), "hangs={hangs}");
        let mut other = srv.client().await;
        other.cmd("USER user").await;
        assert_eq!(other.cmd("PASS 12345").await.0, 530, "local cap holds");
        assert_eq!(c.cmd("QUIT").await.0, 221);
        #[cfg(feature = "metrics")]
        assert!(srv
            .server
            .metrics_text()
            .lines()
            .any(|l| l == "ferroftpd_shared_limits_up 0"));
        srv.stop().await;
    }
}
