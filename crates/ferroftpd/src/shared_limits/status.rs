//! Whether the shared state answers: every call goes through here, with a
//! time limit, and a failure of a session's call makes the server decide
//! alone for a while (an operator's call does not).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{SharedLimits, SharedLimitsError, SHARED_LIMITS_RETRY, SHARED_LIMITS_TIMEOUT};

/// A [`SharedLimits`] and whether it answered last time.
#[derive(Debug)]
pub(crate) struct SharedLimitsStatus {
    limits: Arc<dyn SharedLimits>,
    /// Since when it fails, why, and when to ask again; `None` while it
    /// answers.
    down: Mutex<Option<Down>>,
}

/// How long an operator's call on the shared state may take (see
/// [`SharedLimitsStatus::ask_for_operator`]).
const OPERATOR_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
struct Down {
    since: chrono::DateTime<chrono::Utc>,
    why: String,
    retry_at: Instant,
}

impl SharedLimitsStatus {
    pub(crate) fn new(limits: Arc<dyn SharedLimits>) -> Self {
        SharedLimitsStatus {
            limits,
            down: Mutex::new(None),
        }
    }

    /// Runs `call` on the shared state, or not if it failed less than
    /// [`SHARED_LIMITS_RETRY`] ago; `None` when it failed, took longer than
    /// [`SHARED_LIMITS_TIMEOUT`], or was not asked: the caller then
    /// decides alone.
    pub(crate) async fn ask<'a, T, F, Fut>(&'a self, call: F) -> Option<T>
    where
        F: FnOnce(&'a dyn SharedLimits) -> Fut,
        Fut: Future<Output = Result<T, SharedLimitsError>>,
    {
        if self
            .lock()
            .as_ref()
            .is_some_and(|down| Instant::now() < down.retry_at)
        {
            return None;
        }
        match tokio::time::timeout(SHARED_LIMITS_TIMEOUT, call(self.limits.as_ref())).await {
            Ok(Ok(answer)) => {
                self.answered();
                Some(answer)
            }
            Ok(Err(e)) => {
                self.failed(e.to_string());
                None
            }
            Err(_) => {
                self.failed(format!(
                    "no answer within {} ms",
                    SHARED_LIMITS_TIMEOUT.as_millis()
                ));
                None
            }
        }
    }

    /// Runs an operator's `call` (listing or lifting bans) on the shared
    /// state, within [`OPERATOR_TIMEOUT`]. Whatever comes of it, the
    /// state's status is left as the sessions' calls set it: a slow
    /// listing of many bans must not make every node decide alone.
    pub(crate) async fn ask_for_operator<'a, T, F, Fut>(&'a self, call: F) -> Option<T>
    where
        F: FnOnce(&'a dyn SharedLimits) -> Fut,
        Fut: Future<Output = Result<T, SharedLimitsError>>,
    {
        match tokio::time::timeout(OPERATOR_TIMEOUT, call(self.limits.as_ref())).await {
            Ok(Ok(answer)) => Some(answer),
            Ok(Err(e)) => {
                tracing::warn!("shared limits: {}: {e}", self.limits.describe());
                None
            }
            Err(_) => {
                tracing::warn!(
                    "shared limits: {}: no answer to the operator's call within {} s",
                    self.limits.describe(),
                    OPERATOR_TIMEOUT.as_secs()
                );
                None
            }
        }
    }

    /// True while the shared state answers (or has not failed yet).
    pub(crate) fn is_up(&self) -> bool {
        self.lock().is_none()
    }

    /// What `/health` says about it.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn health(&self) -> String {
        match &*self.lock() {
            None => format!("shared limits: {}: ok", self.limits.describe()),
            Some(down) => format!(
                "shared limits: {}: unreachable since {} ({}); limits and bans are per server",
                self.limits.describe(),
                down.since.format("%Y-%m-%dT%H:%M:%SZ"),
                down.why
            ),
        }
    }

    fn answered(&self) {
        let was_down = self.lock().take();
        if let Some(down) = was_down {
            tracing::warn!(
                "shared limits: {} answers again (unreachable since {}); limits and bans are shared again",
                self.limits.describe(),
                down.since.format("%Y-%m-%dT%H:%M:%SZ")
            );
        }
    }

    fn failed(&self, why: String) {
        let mut down = self.lock();
        let retry_at = Instant::now() + SHARED_LIMITS_RETRY;
        match &mut *down {
            Some(d) => {
                d.retry_at = retry_at;
                d.why = why;
            }
            None => {
                tracing::warn!(
                    "shared limits: {} unreachable: {why}; limits and bans are per server until it answers",
                    self.limits.describe()
                );
                *down = Some(Down {
                    since: chrono::Utc::now(),
                    why,
                    retry_at,
                });
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Down>> {
        self.down.lock().unwrap_or_else(|e| e.into_inner())
    }
}
