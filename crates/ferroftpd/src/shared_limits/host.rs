//! The supervisor's side: the authoritative counts and ban list of all
//! workers, served to each over its own stream.
//!
//! The state is the library's own [`Limits`], the one a single server
//! keeps: connections counted per address and in total, users' sessions,
//! failed logins and bans. Each worker's slots are held in a map owned by
//! the task that serves its stream, so when the worker dies (its end of
//! the stream closes) the task ends and every slot it held is given back:
//! a crashed worker cannot leak connections or user sessions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::wire::{self, Request, Response};
use super::{Ban, ConnectionRequest, Refusal};
use crate::limits::{ConnectionSlot, Limits, UserSlot};
use crate::BanPolicy;

/// Keys arrive already reduced to their network (the worker applied its
/// `ipv6_prefix`), so the supervisor's policy takes them as they are.
const KEYS_AS_GIVEN: BanPolicy = BanPolicy {
    failures: u32::MAX,
    window: Duration::from_secs(600),
    duration: Duration::from_secs(900),
    ipv6_prefix: 128,
};

/// The limits of every worker of one supervisor; see the module docs.
#[derive(Debug, Clone)]
pub struct LimitsHost {
    limits: Arc<Limits>,
}

impl Default for LimitsHost {
    fn default() -> Self {
        Self::new()
    }
}

/// Who is at the other end of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// A multi-proc worker: the server itself.
    Worker,
    /// A session process, which may run as a user.
    Session,
}

/// The slots a session process may hold at once: its connection and a
/// user session, with room for a login that replaces another.
pub const SESSION_SLOTS: usize = 4;

/// A slot held for a worker.
#[allow(dead_code)] // held for their `Drop`
enum Held {
    Connection(ConnectionSlot),
    User(UserSlot),
}

impl LimitsHost {
    /// Empty counts and no bans.
    pub fn new() -> Self {
        LimitsHost {
            limits: Arc::new(Limits::new(usize::MAX, None, Some(KEYS_AS_GIVEN))),
        }
    }

    /// Control connections counted now, over all workers.
    pub fn connections(&self) -> usize {
        self.limits.connections()
    }

    /// Answers one worker on `stream` until it closes it (or sends a
    /// malformed frame); `ready` is called each time it says it serves.
    /// Every slot it took is given back when this returns.
    pub async fn serve(
        &self,
        stream: UnixStream,
        ready: impl FnMut(),
    ) -> Result<(), wire::WireError> {
        self.serve_peer(stream, ready, Peer::Worker).await
    }

    /// Answers a process that serves one session and may run as a system
    /// user after login (ferroftpd's `--isolate-sessions`), so whatever it
    /// sends is untrusted: it may hold at most four slots,
    /// and asking for the operator's calls (unban, the list of bans),
    /// which a session never makes, ends the stream. Every slot it took
    /// is given back when this returns.
    pub async fn serve_session(&self, stream: UnixStream) -> Result<(), wire::WireError> {
        self.serve_peer(stream, || {}, Peer::Session).await
    }

    async fn serve_peer(
        &self,
        stream: UnixStream,
        mut ready: impl FnMut(),
        peer: Peer,
    ) -> Result<(), wire::WireError> {
        let (mut reader, mut writer) = stream.into_split();
        let mut held: HashMap<u64, Held> = HashMap::new();
        let mut next_slot: u64 = 1;
        loop {
            let mut header = [0; 4];
            if reader.read_exact(&mut header).await.is_err() {
                return Ok(());
            }
            let mut body = vec![0; wire::frame_len(header)?];
            if reader.read_exact(&mut body).await.is_err() {
                return Ok(());
            }
            let (id, request) = wire::decode_request(&body)?;
            if peer == Peer::Session {
                match request {
                    Request::Unban(_) | Request::Bans => {
                        return Err(wire::WireError::refused(
                            "an operator's call from a session",
                        ))
                    }
                    Request::AdmitConnection(_) | Request::AdmitUser(..)
                        if held.len() >= SESSION_SLOTS =>
                    {
                        return Err(wire::WireError::refused("more slots than a session holds"))
                    }
                    _ => {}
                }
            }
            let response = match request {
                Request::Release(slot) => {
                    held.remove(&slot);
                    continue;
                }
                Request::Ready => {
                    ready();
                    continue;
                }
                other => self.answer(other, &mut held, &mut next_slot),
            };
            if writer
                .write_all(&wire::encode_response(id, &response))
                .await
                .is_err()
            {
                return Ok(());
            }
        }
    }

    fn answer(
        &self,
        request: Request,
        held: &mut HashMap<u64, Held>,
        next_slot: &mut u64,
    ) -> Response {
        let mut keep = |slot| {
            let id = *next_slot;
            *next_slot += 1;
            held.insert(id, slot);
            Response::Slot(id)
        };
        match request {
            Request::AdmitConnection(request) => match self.admit(&request) {
                Ok(slot) => keep(Held::Connection(slot)),
                Err(refusal) => Response::Refused(refusal),
            },
            Request::AdmitUser(user, max) => match self.limits.admit_user(&user, Some(max)) {
                Some(slot) => keep(Held::User(slot)),
                None => Response::Full,
            },
            Request::IsBanned(key) => Response::Bool(self.limits.is_banned(key)),
            Request::RecordFailure(key, policy) => {
                let limits = self.limits.reconfigured(
                    usize::MAX,
                    None,
                    Some(BanPolicy {
                        ipv6_prefix: 128,
                        ..policy
                    }),
                );
                Response::Bool(limits.record_failure(key))
            }
            Request::Ban(key, duration) => {
                self.limits.ban_as_failed(key, duration);
                Response::Done
            }
            Request::Unban(key) => Response::Bool(self.limits.unban_failed(key)),
            Request::Bans => Response::Bans(
                self.limits
                    .failed_login_bans()
                    .into_iter()
                    .map(|(key, remaining)| Ban { key, remaining })
                    .collect(),
            ),
            // Answered by the caller.
            Request::Release(_) | Request::Ready => Response::Done,
        }
    }

    /// A connection slot under the worker's limits, counted with every
    /// other worker's.
    fn admit(&self, request: &ConnectionRequest) -> Result<ConnectionSlot, Refusal> {
        if self.limits.is_banned(request.ban_key) {
            return Err(Refusal::Banned);
        }
        self.limits
            .reconfigured(
                request.max_connections,
                request.max_per_ip,
                Some(KEYS_AS_GIVEN),
            )
            .admit(request.ip)
    }
}
