//! Prometheus metrics, and the liveness and readiness endpoints.
//!
//! Every server counts, whether or not anyone reads the figures (an atomic
//! add per event), with the plain counters of this module: they cost no
//! dependency. Reading them needs the `metrics` feature (on by default):
//! [`serve`] answers `GET /metrics` with the Prometheus text format,
//! `GET /health` with `ok` (liveness) and `GET /ready` with 200 or 503
//! after asking the storage ([`Server::check_ready`]);
//! [`Server::metrics_text`] returns the same text as `/metrics`. The text
//! is written by `prometheus-client`, the HTTP server is hyper's.
//!
//! Every series whose labels are known in advance (directions, outcomes,
//! the built-in verbs, refusal reasons) is there from the start, at 0, so
//! that `rate()` and alerts see the first event. `docs/metrics.md` lists
//! them all.
//!
//! [`Server::metrics_text`]: crate::Server::metrics_text
//! [`Server::check_ready`]: crate::Server::check_ready

#[cfg(feature = "metrics")]
mod http;
#[cfg(feature = "metrics")]
mod render;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::data::{Direction, Outcome};

#[cfg(feature = "metrics")]
pub use http::serve;

/// A metric's labels: few, and fixed by the code.
pub(crate) type Labels = Vec<(&'static str, &'static str)>;

/// Upper bounds, in seconds, of the transfer-duration buckets: from a
/// small file on a LAN (10 ms) to a large one over a slow link (4 h).
const TRANSFER_SECONDS: &[f64] = &[
    0.01, 0.05, 0.25, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
];

/// Upper bounds, in seconds, of the login-duration buckets: an in-memory
/// check takes microseconds, a password hash (argon2, bcrypt) tens of
/// milliseconds, PAM or an S3 home up to seconds.
const LOGIN_SECONDS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Aliases in [`ferroftpd_proto::help::VERBS`]: a command is counted
/// under its main name (`XCWD` as `CWD`), so these have no series.
const VERB_ALIASES: &[&str] = &["XCUP", "XCWD", "XMKD", "XPWD", "XRMD"];

/// The `verb` label of a line that is no command.
pub(crate) const INVALID_VERB: &str = "invalid";

/// A count that only goes up.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn inc(&self) {
        self.add(1);
    }

    fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    #[cfg(feature = "metrics")]
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub(crate) struct Gauge(AtomicI64);

impl Gauge {
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    #[cfg(feature = "metrics")]
    fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Durations counted in fixed buckets, with their sum.
#[derive(Debug)]
pub(crate) struct Histogram {
    /// Upper bounds, ascending; a last bucket (`+Inf`) takes the rest.
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative), one more than `bounds`.
    counts: Box<[AtomicU64]>,
    /// Sum of the observations in nanoseconds: 584 years fit.
    sum_nanos: AtomicU64,
}

/// What [`Histogram`] holds at one moment.
#[cfg(feature = "metrics")]
#[derive(Debug)]
pub(crate) struct HistogramSnapshot {
    pub sum: f64,
    pub count: u64,
    /// Upper bound and count of each bucket (not cumulative), `+Inf` last.
    pub buckets: Vec<(f64, u64)>,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        // The first bucket whose bound is at least `seconds` (`le`).
        let i = self.bounds.partition_point(|&bound| bound < seconds);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    #[cfg(feature = "metrics")]
    fn snapshot(&self) -> HistogramSnapshot {
        let buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        HistogramSnapshot {
            sum: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            count: buckets.iter().map(|(_, n)| n).sum(),
            buckets,
        }
    }
}

/// Counters by label set, for labels not all known in advance (the verbs
/// an embedder registers).
#[derive(Debug, Default)]
pub(crate) struct Family(RwLock<HashMap<Labels, AtomicU64>>);

impl Family {
    /// A family holding each of `known` at 0.
    fn with_known(known: impl IntoIterator<Item = Labels>) -> Self {
        Family(RwLock::new(
            known.into_iter().map(|l| (l, AtomicU64::new(0))).collect(),
        ))
    }

    fn inc_by(&self, labels: Labels, n: u64) {
        {
            let counters = self.0.read().unwrap_or_else(|e| e.into_inner());
            if let Some(counter) = counters.get(&labels) {
                counter.fetch_add(n, Ordering::Relaxed);
                return;
            }
        }
        let mut counters = self.0.write().unwrap_or_else(|e| e.into_inner());
        counters
            .entry(labels)
            .or_default()
            .fetch_add(n, Ordering::Relaxed);
    }

    #[cfg(feature = "metrics")]
    fn snapshot(&self) -> Vec<(Labels, u64)> {
        let counters = self.0.read().unwrap_or_else(|e| e.into_inner());
        counters
            .iter()
            .map(|(labels, n)| (labels.clone(), n.load(Ordering::Relaxed)))
            .collect()
    }
}

/// Every direction, in the order of the metrics' arrays.
const DIRECTIONS: [Direction; 3] = [Direction::Download, Direction::Upload, Direction::Listing];

impl Direction {
    /// The `direction` label of metrics and the `direction` field of
    /// transfer log lines: one vocabulary for both.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Direction::Download => "download",
            Direction::Upload => "upload",
            Direction::Listing => "listing",
        }
    }
}

/// How a transfer ended, as metrics and logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferOutcome {
    /// Every byte moved (226).
    Success,
    /// The data connection broke, or storage failed.
    Failure,
    /// ABOR stopped it.
    Aborted,
    /// No data connection could be made (425).
    NoConnection,
}

impl TransferOutcome {
    #[cfg(feature = "metrics")]
    const ALL: [TransferOutcome; 4] = [
        TransferOutcome::Success,
        TransferOutcome::Failure,
        TransferOutcome::Aborted,
        TransferOutcome::NoConnection,
    ];

    /// The `outcome` label and log field.
    pub(crate) fn label(self) -> &'static str {
        match self {
            TransferOutcome::Success => "success",
            TransferOutcome::Failure => "failure",
            TransferOutcome::Aborted => "aborted",
            TransferOutcome::NoConnection => "no_connection",
        }
    }
}

impl From<&Outcome> for TransferOutcome {
    fn from(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Complete => TransferOutcome::Success,
            Outcome::Aborted => TransferOutcome::Aborted,
            Outcome::NoConnection(_) => TransferOutcome::NoConnection,
            Outcome::Failed(_) => TransferOutcome::Failure,
        }
    }
}

/// How a login attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginOutcome {
    /// 230.
    Success,
    /// Wrong user name or password.
    Failure,
    /// Refused for another reason than wrong credentials: TLS required,
    /// the authorizer refusing the user name, the guard, too many
    /// sessions, or a home that could not be opened.
    Refused,
}

impl LoginOutcome {
    const ALL: [LoginOutcome; 3] = [
        LoginOutcome::Success,
        LoginOutcome::Failure,
        LoginOutcome::Refused,
    ];

    #[cfg(feature = "metrics")]
    fn label(self) -> &'static str {
        match self {
            LoginOutcome::Success => "success",
            LoginOutcome::Failure => "failure",
            LoginOutcome::Refused => "refused",
        }
    }
}

/// The server's figures.
pub(crate) struct Metrics {
    pub sessions_active: Gauge,
    pub connections_refused: Family,
    pub commands: Family,
    pub data_connection_errors: Counter,
    pub bans: Counter,
    /// By [`LoginOutcome`].
    logins: [Counter; 3],
    login_duration: [Histogram; 3],
    /// By [`Direction`], then [`TransferOutcome`].
    transfers: [[Counter; 4]; 3],
    /// By [`Direction`].
    transfer_bytes: [Counter; 3],
    transfer_duration: [Histogram; 3],
    transfers_active: [Gauge; 3],
    /// 1 while the shared limits answer, 0 while they do not, -1 (not
    /// shown) without shared limits.
    pub shared_limits_up: AtomicI64,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Every known series at 0; `custom_verbs` are the labels of the
    /// commands registered with the server.
    pub(crate) fn new(custom_verbs: impl IntoIterator<Item = &'static str>) -> Self {
        let verbs = ferroftpd_proto::help::VERBS
            .iter()
            .copied()
            .filter(|v| !VERB_ALIASES.contains(v))
            .chain([INVALID_VERB])
            .chain(custom_verbs);
        let reasons = crate::limits::Refusal::ALL.map(|r| vec![("reason", r.label())]);
        Metrics {
            sessions_active: Gauge::default(),
            connections_refused: Family::with_known(reasons),
            commands: Family::with_known(verbs.map(|v| vec![("verb", v)])),
            data_connection_errors: Counter::default(),
            bans: Counter::default(),
            logins: Default::default(),
            login_duration: LoginOutcome::ALL.map(|_| Histogram::new(LOGIN_SECONDS)),
            transfers: Default::default(),
            transfer_bytes: Default::default(),
            transfer_duration: DIRECTIONS.map(|_| Histogram::new(TRANSFER_SECONDS)),
            transfers_active: Default::default(),
            shared_limits_up: AtomicI64::new(-1),
        }
    }

    pub(crate) fn count(family: &Family, labels: Labels, n: u64) {
        family.inc_by(labels, n);
    }

    /// A login attempt that took `took` (the deliberate delay after a
    /// failure not included).
    pub(crate) fn login(&self, outcome: LoginOutcome, took: Duration) {
        self.logins[outcome as usize].inc();
        self.login_duration[outcome as usize].observe(took);
    }

    /// A transfer that ended.
    pub(crate) fn transfer(
        &self,
        direction: Direction,
        outcome: TransferOutcome,
        bytes: u64,
        took: Duration,
    ) {
        let d = direction as usize;
        self.transfers[d][outcome as usize].inc();
        self.transfer_bytes[d].add(bytes);
        self.transfer_duration[d].observe(took);
        if outcome == TransferOutcome::NoConnection {
            self.data_connection_errors.inc();
        }
    }

    /// Counts a transfer as active until the returned guard is dropped
    /// (whichever way the transfer ends, the session's end included).
    pub(crate) fn transfer_started(self: &Arc<Self>, direction: Direction) -> ActiveTransfer {
        self.transfers_active[direction as usize].inc();
        ActiveTransfer {
            metrics: self.clone(),
            direction,
        }
    }

    /// The Prometheus text exposition (OpenMetrics), made from a snapshot
    /// of the counters.
    #[cfg(feature = "metrics")]
    pub(crate) fn render(&self) -> String {
        render::render(self)
    }
}

/// A running transfer, counted in the active-transfers gauge while held.
#[derive(Debug)]
pub(crate) struct ActiveTransfer {
    metrics: Arc<Metrics>,
    direction: Direction,
}

impl Drop for ActiveTransfer {
    fn drop(&mut self) {
        self.metrics.transfers_active[self.direction as usize].dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_take_values_up_to_their_bound() {
        let h = Histogram::new(&[0.1, 1.0]);
        h.observe(Duration::from_millis(100)); // le 0.1
        h.observe(Duration::from_millis(101)); // le 1
        h.observe(Duration::from_secs(1)); // le 1
        h.observe(Duration::from_secs(7)); // +Inf
        let counts: Vec<u64> = h.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert_eq!(counts, [1, 2, 1]);
        assert_eq!(h.sum_nanos.load(Ordering::Relaxed), 8_201_000_000);
    }

    #[test]
    fn verb_aliases_are_counted_under_another_name() {
        use ferroftpd_proto::command::Command;
        for (line, main) in [
            ("XCUP", "CDUP"),
            ("XCWD /", "CWD"),
            ("XMKD a", "MKD"),
            ("XPWD", "PWD"),
            ("XRMD a", "RMD"),
        ] {
            let command = Command::parse(line.as_bytes()).unwrap();
            assert_eq!(command.name(), main, "{line}");
            assert!(VERB_ALIASES.contains(&line.split(' ').next().unwrap()));
        }
        assert_eq!(VERB_ALIASES.len(), 5);
    }

    #[test]
    fn every_built_in_verb_name_has_a_series_from_the_start() {
        use ferroftpd_proto::command::Command;
        let metrics = Metrics::new([]);
        let known: Vec<&str> = metrics
            .commands
            .0
            .read()
            .unwrap()
            .keys()
            .map(|l| l[0].1)
            .collect();
        for verb in ferroftpd_proto::help::VERBS {
            // Each verb is counted under the name `Command::name` gives.
            for line in [verb.to_string(), format!("{verb} a")] {
                if let Ok(command) = Command::parse(line.as_bytes()) {
                    assert!(known.contains(&command.name()), "{}", command.name());
                }
            }
        }
    }
}
