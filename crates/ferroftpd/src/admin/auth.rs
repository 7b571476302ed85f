//! The bearer token, compared in constant time, and the count of wrong
//! ones by address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::MIN_TOKEN_LEN;

/// Wrong tokens an address may present within [`FAILURE_WINDOW`].
const MAX_FAILURES: u32 = 10;
/// How long wrong tokens count, and how long an address that presented
/// too many is refused.
pub(super) const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses counted at most: a bound on memory.
const MAX_TRACKED: usize = 4096;

/// The token, kept as its SHA-256: comparing digests takes the same time
/// whatever the length of what a client sent.
#[derive(Clone)]
pub(super) struct Token([u8; 32]);

impl Token {
    pub(super) fn new(token: &str) -> Result<Token, String> {
        if token.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "the admin token is too short: at least {MIN_TOKEN_LEN} characters"
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "the admin token must be printable ASCII without spaces (it goes in a header)"
                    .into(),
            );
        }
        Ok(Token(Sha256::digest(token.as_bytes()).into()))
    }

    /// True if `header` (an `Authorization` value) is `Bearer TOKEN`.
    pub(super) fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(header) = header else { return false };
        let Some(presented) = strip_bearer(header) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(presented).into();
        digest.ct_eq(&self.0).into()
    }
}

/// The credentials of `Bearer CREDENTIALS` (the scheme in any case).
fn strip_bearer(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

/// Wrong tokens by client address (`None`: the Unix socket).
#[derive(Default)]
pub(super) struct Failures(Mutex<HashMap<Option<IpAddr>, Record>>);

struct Record {
    since: Instant,
    count: u32,
}

impl Failures {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Option<IpAddr>, Record>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long `client` must wait before it may try again, if it is
    /// refused now.
    pub(super) fn refused(&self, client: Option<IpAddr>) -> Option<Duration> {
        let map = self.lock();
        let record = map.get(&client)?;
        let elapsed = record.since.elapsed();
        (record.count >= MAX_FAILURES && elapsed < FAILURE_WINDOW).then(|| FAILURE_WINDOW - elapsed)
    }

    /// Counts a wrong token from `client`.
    pub(super) fn record(&self, client: Option<IpAddr>) {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= MAX_TRACKED && !map.contains_key(&client) {
            map.retain(|_, r| now.duration_since(r.since) < FAILURE_WINDOW);
            if map.len() >= MAX_TRACKED {
                // All recent: forget the oldest.
                if let Some(oldest) = map.iter().min_by_key(|(_, r)| r.since).map(|(k, _)| *k) {
                    map.remove(&oldest);
                }
            }
        }
        let record = map.entry(client).or_insert(Record {
            since: now,
            count: 0,
        });
        if now.duration_since(record.since) >= FAILURE_WINDOW {
            *record = Record {
                since: now,
                count: 0,
            };
        }
        record.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_whole() {
        assert!(Token::new("short").is_err());
        assert!(Token::new("has a space in the middle").is_err());
        let token = Token::new("0123456789abcdef").unwrap();
        assert!(token.accepts(Some(b"Bearer 0123456789abcdef")));
        assert!(token.accepts(Some(b"bearer 0123456789abcdef")));
        assert!(!token.accepts(Some(b"Bearer 0123456789abcde")));
        assert!(!token.accepts(Some(b"Bearer 0123456789abcdefg")));
        assert!(!token.accepts(Some(b"Basic 0123456789abcdef")));
        assert!(!token.accepts(Some(b"0123456789abcdef")));
        assert!(!token.accepts(None));
    }

    #[test]
    fn too_many_failures_refuse_an_address_and_memory_is_bounded() {
        let failures = Failures::default();
        let ip: Option<IpAddr> = Some("192.0.2.1".parse().unwrap());
        for _ in 0..MAX_FAILURES - 1 {
            failures.record(ip);
        }
        assert!(failures.refused(ip).is_none());
        failures.record(ip);
        assert!(failures.refused(ip).is_some());
        assert!(failures.refused(None).is_none());
        for i in 0..(MAX_TRACKED as u32 + 10) {
            failures.record(Some(IpAddr::from(i.to_be_bytes())));
        }
        assert!(failures.lock().len() <= MAX_TRACKED);
    }
}
