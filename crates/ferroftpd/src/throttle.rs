//! Bandwidth limits: token buckets shared by the transfers they govern.
//!
//! A transfer may be under several limits at once (its own connection's,
//! its user's, the whole server's). It takes its bytes from every bucket and
//! waits for the slowest, so the tightest limit wins. A bucket refills at
//! its rate but holds at most a small burst, so idle time cannot build up
//! credit for a later flood.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// A rate in bytes per second, parsed from `500`, `64K`, `10M` or `1G`
/// (binary multiples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(u64);

impl Rate {
    /// `bytes_per_second`, which must be at least 1.
    pub fn new(bytes_per_second: u64) -> Option<Rate> {
        (bytes_per_second > 0).then_some(Rate(bytes_per_second))
    }

    /// Bytes per second.
    pub fn bytes_per_second(self) -> u64 {
        self.0
    }
}

impl std::str::FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let (digits, mult) = match t.char_indices().last() {
            Some((i, 'k' | 'K')) => (&t[..i], 1u64 << 10),
            Some((i, 'm' | 'M')) => (&t[..i], 1 << 20),
            Some((i, 'g' | 'G')) => (&t[..i], 1 << 30),
            _ => (t, 1),
        };
        digits
            .trim()
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(mult))
            .and_then(Rate::new)
            .ok_or_else(|| format!("{s:?}: expected bytes per second, e.g. 512K or 10M"))
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes/s", self.0)
    }
}

/// The most a bucket holds: a tenth of a second of its rate, and at least
/// 16 KiB so small rates still move whole chunks.
fn burst(rate: u64) -> f64 {
    (rate as f64 / 10.0).max(16.0 * 1024.0)
}

/// One token bucket.
#[derive(Debug)]
pub(crate) struct Bucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    pub(crate) fn new(rate: Rate) -> Arc<Bucket> {
        let rate = rate.0 as f64;
        Arc::new(Bucket {
            rate,
            burst: burst(rate as u64),
            state: Mutex::new((burst(rate as u64), Instant::now())),
        })
    }

    /// Takes `n` bytes and returns how long to wait before using them. The
    /// bucket may go into debt; waiting the returned time pays it back.
    fn take(&self, n: usize) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let (tokens, last) = *state;
        let refilled =
            (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.burst);
        let left = refilled - n as f64;
        *state = (left, now);
        if left >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-left / self.rate)
        }
    }
}

/// Direction of a transfer, as the server sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Direction {
    /// Uploads: the server reads.
    Read,
    /// Downloads: the server writes.
    Write,
}

/// The server's shared buckets: one per direction for the whole server,
/// and one per direction for each user with sessions (dropped with the
/// user's last session).
#[derive(Debug, Default)]
pub(crate) struct SharedBuckets {
    total_read: Option<Arc<Bucket>>,
    total_write: Option<Arc<Bucket>>,
    users: Arc<Mutex<UserBuckets>>,
}

/// Each user's bucket per direction, while a transfer holds it.
type UserBuckets = HashMap<(String, Direction), Weak<Bucket>>;

impl SharedBuckets {
    pub(crate) fn new(read_total: Option<Rate>, write_total: Option<Rate>) -> Self {
        SharedBuckets {
            total_read: read_total.map(Bucket::new),
            total_write: write_total.map(Bucket::new),
            users: Arc::default(),
        }
    }

    /// The buckets under new server-wide rates: a bucket whose rate is
    /// unchanged is kept, so that transfers under the old and the new
    /// settings share it. Users' buckets are kept; a user's new rate
    /// applies once none of their transfers runs.
    pub(crate) fn reconfigured(&self, read_total: Option<Rate>, write_total: Option<Rate>) -> Self {
        let keep = |old: &Option<Arc<Bucket>>, rate: Option<Rate>| match (old, rate) {
            (Some(bucket), Some(rate)) if bucket.rate == rate.0 as f64 => Some(bucket.clone()),
            (_, rate) => rate.map(Bucket::new),
        };
        SharedBuckets {
            total_read: keep(&self.total_read, read_total),
            total_write: keep(&self.total_write, write_total),
            users: self.users.clone(),
        }
    }

    pub(crate) fn total(&self, dir: Direction) -> Option<Arc<Bucket>> {
        match dir {
            Direction::Read => self.total_read.clone(),
            Direction::Write => self.total_write.clone(),
        }
    }

    /// The bucket all of `user`'s sessions share in direction `dir`.
    pub(crate) fn user(&self, user: &str, dir: Direction, rate: Rate) -> Arc<Bucket> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        let key = (user.to_owned(), dir);
        if let Some(bucket) = users.get(&key).and_then(Weak::upgrade) {
            return bucket;
        }
        users.retain(|_, w| w.strong_count() > 0);
        let bucket = Bucket::new(rate);
        users.insert(key, Arc::downgrade(&bucket));
        bucket
    }
}

/// The buckets that apply to one direction of one transfer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Throttle {
    buckets: Vec<Arc<Bucket>>,
}

impl Throttle {
    pub(crate) fn new(buckets: impl IntoIterator<Item = Arc<Bucket>>) -> Self {
        Throttle {
            buckets: buckets.into_iter().collect(),
        }
    }

    /// Bytes to move between waits: about 1/20 s of the tightest rate, so
    /// the flow is smooth and ABOR is seen quickly.
    pub(crate) fn chunk(&self, max: usize) -> usize {
        let slowest = self
            .buckets
            .iter()
            .map(|b| b.rate)
            .fold(f64::INFINITY, f64::min);
        if slowest.is_finite() {
            ((slowest / 20.0) as usize).clamp(1024, max)
        } else {
            max
        }
    }

    /// Takes `n` bytes from every bucket; returns the longest wait.
    pub(crate) fn take(&self, n: usize) -> Duration {
        self.buckets
            .iter()
            .map(|b| b.take(n))
            .max()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        let cases = [
            ("500", 500),
            ("64K", 65_536),
            ("10m", 10 << 20),
            ("1G", 1 << 30),
            (" 2 K ", 2048),
        ];
        for (s, want) in cases {
            assert_eq!(s.parse::<Rate>().unwrap().bytes_per_second(), want, "{s}");
        }
        for bad in ["", "0", "K", "-1", "1.5M", "10X", "99999999999G"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn idle_time_builds_no_more_than_a_burst() {
        let bucket = Bucket::new(Rate::new(100_000).unwrap());
        {
            // Pretend the bucket sat idle for an hour.
            let mut s = bucket.state.lock().unwrap();
            s.1 -= Duration::from_secs(3600);
        }
        assert_eq!(bucket.take(16 * 1024), Duration::ZERO);
        // A second of data now owes about a second, less the burst.
        let wait = bucket.take(100_000);
        assert!(wait >= Duration::from_millis(800), "{wait:?}");
    }

    #[test]
    fn the_tightest_limit_wins() {
        let fast = Bucket::new(Rate::new(1 << 30).unwrap());
        let slow = Bucket::new(Rate::new(1 << 20).unwrap());
        let t = Throttle::new([fast, slow]);
        assert_eq!(t.chunk(256 * 1024), (1 << 20) / 20);
        t.take(1 << 20);
        let wait = t.take(1 << 20);
        assert!(wait >= Duration::from_millis(900), "{wait:?}");
        assert_eq!(Throttle::default().take(1 << 30), Duration::ZERO);
    }
}
