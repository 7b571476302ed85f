//! The protocol between a worker process ([`super::SupervisorLimits`]) and
//! its supervisor ([`super::LimitsHost`]): frames of a 4-byte big-endian
//! length and a body, over a Unix stream.
//!
//! A request's body is its id (4 bytes), an operation code (1 byte) and
//! the operation's fields; the answer carries the same id, so that several
//! requests may wait at once and answers come in any order. Two messages
//! have no answer and id 0: [`Request::Release`] (a slot given back) and
//! [`Request::Ready`] (the worker serves). Addresses are 16 bytes (IPv4
//! mapped into IPv6), durations milliseconds in 8 bytes, integers big
//! endian. A frame that does not parse is an error for the connection,
//! never a panic, and the stream is closed: from a worker it is a bug (the
//! peer runs the same binary); a session process of `--isolate-sessions`
//! runs as its user after login, so the supervisor treats what it sends
//! as untrusted ([`super::LimitsHost::serve_session`]).

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use super::{Ban, ConnectionRequest, Refusal};
use crate::BanPolicy;

/// The largest body a frame may have: a list of bans is the only long
/// one, and is cut to fit.
pub const MAX_FRAME: usize = 1 << 20;

/// What a worker asks or tells its supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// [`super::SharedLimits::admit_connection`].
    AdmitConnection(ConnectionRequest),
    /// [`super::SharedLimits::is_banned`].
    IsBanned(IpAddr),
    /// [`super::SharedLimits::record_failure`].
    RecordFailure(IpAddr, BanPolicy),
    /// [`super::SharedLimits::ban`].
    Ban(IpAddr, Duration),
    /// [`super::SharedLimits::unban`].
    Unban(IpAddr),
    /// [`super::SharedLimits::bans`].
    Bans,
    /// [`super::SharedLimits::admit_user`]: the user and the cap.
    AdmitUser(String, u32),
    /// A slot the answer to an admission gave is given back. No answer.
    Release(u64),
    /// The worker serves now. No answer.
    Ready,
}

/// The supervisor's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Done ([`Request::Ban`]).
    Done,
    /// A yes or no.
    Bool(bool),
    /// Admitted, with this slot (give it back with [`Request::Release`]).
    Slot(u64),
    /// A connection refused.
    Refused(Refusal),
    /// A user's sessions are all taken.
    Full,
    /// The bans in force.
    Bans(Vec<Ban>),
}

/// A frame that does not parse, or a request the peer may not make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limits frame refused: {0}")]
pub struct WireError(&'static str);

impl WireError {
    /// A well-formed request the peer may not make.
    pub(crate) fn refused(why: &'static str) -> Self {
        WireError(why)
    }
}

const ADMIT_CONNECTION: u8 = 1;
const IS_BANNED: u8 = 2;
const RECORD_FAILURE: u8 = 3;
const BAN: u8 = 4;
const UNBAN: u8 = 5;
const BANS: u8 = 6;
const ADMIT_USER: u8 = 7;
const RELEASE: u8 = 8;
const READY: u8 = 9;

const DONE: u8 = 0;
const BOOL: u8 = 1;
const SLOT: u8 = 2;
const REFUSED: u8 = 3;
const FULL: u8 = 4;
const BAN_LIST: u8 = 5;

/// A whole frame (length and body) for request `id`.
pub fn encode_request(id: u32, request: &Request) -> Vec<u8> {
    let mut b = Body::new(id);
    match request {
        Request::AdmitConnection(r) => {
            b.u8(ADMIT_CONNECTION);
            b.ip(r.ip);
            b.ip(r.ban_key);
            b.u64(u64::try_from(r.max_connections).unwrap_or(u64::MAX));
            b.u32(r.max_per_ip.unwrap_or(u32::MAX));
            b.u8(u8::from(r.max_per_ip.is_some()));
        }
        Request::IsBanned(key) => {
            b.u8(IS_BANNED);
            b.ip(*key);
        }
        Request::RecordFailure(key, policy) => {
            b.u8(RECORD_FAILURE);
            b.ip(*key);
            b.u32(policy.failures);
            b.duration(policy.window);
            b.duration(policy.duration);
            b.u8(policy.ipv6_prefix);
        }
        Request::Ban(key, duration) => {
            b.u8(BAN);
            b.ip(*key);
            b.duration(*duration);
        }
        Request::Unban(key) => {
            b.u8(UNBAN);
            b.ip(*key);
        }
        Request::Bans => b.u8(BANS),
        Request::AdmitUser(user, max) => {
            b.u8(ADMIT_USER);
            b.u32(*max);
            // A user name is at most a few hundred bytes (the command
            // line's limit); cut to fit the frame all the same.
            let name = user.as_bytes();
            b.0.extend_from_slice(&name[..name.len().min(MAX_FRAME - 16)]);
        }
        Request::Release(slot) => {
            b.u8(RELEASE);
            b.u64(*slot);
        }
        Request::Ready => b.u8(READY),
    }
    b.finish()
}

/// Parses a request body (without its length): its id and the request.
pub fn decode_request(body: &[u8]) -> Result<(u32, Request), WireError> {
    let mut r = Reader(body);
    let id = r.u32()?;
    let request = match r.u8()? {
        ADMIT_CONNECTION => {
            let ip = r.ip()?;
            let ban_key = r.ip()?;
            let max_connections = usize::try_from(r.u64()?).unwrap_or(usize::MAX);
            let max_per_ip = r.u32()?;
            let has_max = r.bool()?;
            Request::AdmitConnection(ConnectionRequest {
                ip,
                ban_key,
                max_connections,
                max_per_ip: has_max.then_some(max_per_ip),
            })
        }
        IS_BANNED => Request::IsBanned(r.ip()?),
        RECORD_FAILURE => {
            let key = r.ip()?;
            let policy = BanPolicy {
                failures: r.u32()?,
                window: r.duration()?,
                duration: r.duration()?,
                ipv6_prefix: r.u8()?,
            };
            Request::RecordFailure(key, policy)
        }
        BAN => Request::Ban(r.ip()?, r.duration()?),
        UNBAN => Request::Unban(r.ip()?),
        BANS => Request::Bans,
        ADMIT_USER => {
            let max = r.u32()?;
            let name = std::str::from_utf8(std::mem::take(&mut r.0))
                .map_err(|_| WireError("user name not UTF-8"))?;
            Request::AdmitUser(name.to_owned(), max)
        }
        RELEASE => Request::Release(r.u64()?),
        READY => Request::Ready,
        _ => return Err(WireError("unknown request")),
    };
    r.end()?;
    Ok((id, request))
}

/// A whole frame (length and body) answering request `id`.
pub fn encode_response(id: u32, response: &Response) -> Vec<u8> {
    let mut b = Body::new(id);
    match response {
        Response::Done => b.u8(DONE),
        Response::Bool(yes) => {
            b.u8(BOOL);
            b.u8(u8::from(*yes));
        }
        Response::Slot(slot) => {
            b.u8(SLOT);
            b.u64(*slot);
        }
        Response::Refused(refusal) => {
            b.u8(REFUSED);
            b.u8(match refusal {
                Refusal::TooManyConnections => 0,
                Refusal::TooManyFromAddress => 1,
                Refusal::Banned => 2,
                Refusal::BannedByOperator => 3,
            });
        }
        Response::Full => b.u8(FULL),
        Response::Bans(bans) => {
            b.u8(BAN_LIST);
            // 24 bytes a ban: what fits in a frame.
            let bans = &bans[..bans.len().min((MAX_FRAME - 16) / 24)];
            b.u32(u32::try_from(bans.len()).unwrap_or(u32::MAX));
            for ban in bans {
                b.ip(ban.key);
                b.duration(ban.remaining);
            }
        }
    }
    b.finish()
}

/// Parses a response body (without its length): its id and the response.
pub fn decode_response(body: &[u8]) -> Result<(u32, Response), WireError> {
    let mut r = Reader(body);
    let id = r.u32()?;
    let response = match r.u8()? {
        DONE => Response::Done,
        BOOL => Response::Bool(r.bool()?),
        SLOT => Response::Slot(r.u64()?),
        REFUSED => Response::Refused(match r.u8()? {
            0 => Refusal::TooManyConnections,
            1 => Refusal::TooManyFromAddress,
            2 => Refusal::Banned,
            3 => Refusal::BannedByOperator,
            _ => return Err(WireError("unknown refusal")),
        }),
        FULL => Response::Full,
        BAN_LIST => {
            let n = r.u32()? as usize;
            if n > r.0.len() / 24 {
                return Err(WireError("ban count longer than the frame"));
            }
            let mut bans = Vec::with_capacity(n);
            for _ in 0..n {
                bans.push(Ban {
                    key: r.ip()?,
                    remaining: r.duration()?,
                });
            }
            Response::Bans(bans)
        }
        _ => return Err(WireError("unknown response")),
    };
    r.end()?;
    Ok((id, response))
}

/// The body length a frame's first 4 bytes give, if it is allowed.
pub fn frame_len(header: [u8; 4]) -> Result<usize, WireError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(WireError("frame longer than the limit"));
    }
    Ok(len)
}

/// A frame being written: room for the length, then the id.
struct Body(Vec<u8>);

impl Body {
    fn new(id: u32) -> Self {
        let mut v = Vec::with_capacity(48);
        v.extend_from_slice(&[0; 4]);
        v.extend_from_slice(&id.to_be_bytes());
        Body(v)
    }
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn ip(&mut self, ip: IpAddr) {
        let v6 = match ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        self.0.extend_from_slice(&v6.octets());
    }
    fn duration(&mut self, d: Duration) {
        self.u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    }
    fn finish(mut self) -> Vec<u8> {
        // Every body is cut to MAX_FRAME above, which fits in 4 bytes.
        let len = u32::try_from(self.0.len() - 4).unwrap_or(u32::MAX);
        self.0[..4].copy_from_slice(&len.to_be_bytes());
        self.0
    }
}

/// A body being read.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(WireError("frame too short"))?;
        self.0 = rest;
        Ok(*head)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take::<1>()?[0])
    }
    fn bool(&mut self) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError("flag neither 0 nor 1")),
        }
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.take()?))
    }
    fn ip(&mut self) -> Result<IpAddr, WireError> {
        Ok(Ipv6Addr::from(self.take::<16>()?).to_canonical())
    }
    fn duration(&mut self) -> Result<Duration, WireError> {
        Ok(Duration::from_millis(self.u64()?))
    }
    fn end(&self) -> Result<(), WireError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(WireError("bytes after the end"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The body of a whole frame, checking its length.
    fn body(frame: &[u8]) -> &[u8] {
        let len = frame_len(frame[..4].try_into().unwrap()).unwrap();
        assert_eq!(len, frame.len() - 4);
        &frame[4..]
    }

    #[test]
    fn requests_round_trip() {
        let requests = [
            Request::AdmitConnection(ConnectionRequest {
                ip: ip("192.0.2.7"),
                ban_key: ip("192.0.2.7"),
                max_connections: 512,
                max_per_ip: Some(2),
            }),
            Request::AdmitConnection(ConnectionRequest {
                ip: ip("2001:db8::5"),
                ban_key: ip("2001:db8::"),
                max_connections: usize::MAX,
                max_per_ip: None,
            }),
            Request::IsBanned(ip("10.1.2.3")),
            Request::RecordFailure(
                ip("2001:db8:1::"),
                BanPolicy {
                    failures: 3,
                    window: Duration::from_secs(60),
                    duration: Duration::from_millis(1500),
                    ipv6_prefix: 48,
                },
            ),
            Request::Ban(ip("10.0.0.1"), Duration::from_secs(900)),
            Request::Unban(ip("::1")),
            Request::Bans,
            Request::AdmitUser("zoë".into(), 4),
            Request::AdmitUser(String::new(), 0),
            Request::Release(u64::MAX),
            Request::Ready,
        ];
        for (i, request) in requests.iter().enumerate() {
            let frame = encode_request(i as u32 + 1, request);
            assert_eq!(
                decode_request(body(&frame)),
                Ok((i as u32 + 1, request.clone()))
            );
        }
    }

    #[test]
    fn responses_round_trip() {
        let responses = [
            Response::Done,
            Response::Bool(true),
            Response::Bool(false),
            Response::Slot(7),
            Response::Refused(Refusal::TooManyConnections),
            Response::Refused(Refusal::TooManyFromAddress),
            Response::Refused(Refusal::Banned),
            Response::Refused(Refusal::BannedByOperator),
            Response::Full,
            Response::Bans(vec![]),
            Response::Bans(vec![
                Ban {
                    key: ip("192.0.2.1"),
                    remaining: Duration::from_secs(30),
                },
                Ban {
                    key: ip("2001:db8::"),
                    remaining: Duration::from_millis(1),
                },
            ]),
        ];
        for response in responses {
            let frame = encode_response(u32::MAX, &response);
            assert_eq!(decode_response(body(&frame)), Ok((u32::MAX, response)));
        }
    }

    #[test]
    fn malformed_frames_are_errors() {
        // Every cut of a valid frame is short (or, for a user name, may be
        // a valid shorter name, or bad UTF-8): never a panic.
        let frame = encode_request(
            9,
            &Request::RecordFailure(ip("10.0.0.1"), BanPolicy::default()),
        );
        for cut in 0..frame.len() - 4 {
            assert!(decode_request(&frame[4..4 + cut]).is_err(), "cut at {cut}");
        }
        let mut long = encode_request(1, &Request::Bans);
        long.push(0);
        assert!(decode_request(&long[4..]).is_err());
        assert!(decode_request(&[0, 0, 0, 1, 200]).is_err());
        assert!(decode_request(&[0, 0, 0, 1, ADMIT_USER, 0, 0, 0, 1, 0xff]).is_err());
        assert!(decode_response(&[0, 0, 0, 1, 99]).is_err());
        assert!(decode_response(&[0, 0, 0, 1, BOOL, 2]).is_err());
        assert!(decode_response(&[0, 0, 0, 1, REFUSED, 4]).is_err());
        // A count of bans the frame cannot hold is refused before any
        // allocation.
        assert!(decode_response(&[0, 0, 0, 1, BAN_LIST, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(frame_len((MAX_FRAME as u32 + 1).to_be_bytes()).is_err());
        assert!(frame_len(u32::MAX.to_be_bytes()).is_err());
        // Random bytes: errors or requests, never a panic.
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..20_000 {
            let len = (x % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = decode_request(&bytes);
            let _ = decode_response(&bytes);
        }
    }
}
