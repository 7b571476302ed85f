//! The worker's side: [`SharedLimits`] answered by the supervisor over a
//! Unix stream ([`super::wire`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::wire::{self, Request, Response};
use super::{Ban, ConnectionRequest, Refusal, SharedLimits, SharedLimitsError, SharedSlot};
use crate::BanPolicy;

type Pending = Arc<Mutex<HashMap<u32, oneshot::Sender<Response>>>>;

/// Limits and bans kept by the supervisor that started this worker
/// process ([`super::LimitsHost`] on the other end of the stream).
/// Connections are counted too ([`SharedLimits::admit_connection`]), so
/// the server-wide and per-address limits hold over all workers.
///
/// Made before the runtime runs ([`Self::new`]), started within it
/// ([`Self::start`]); calls before then fail, and the server decides
/// alone.
#[derive(Debug)]
pub struct SupervisorLimits {
    /// The stream until [`Self::start`] takes it.
    stream: Mutex<Option<std::os::unix::net::UnixStream>>,
    conn: OnceLock<Conn>,
    next_id: AtomicU32,
    closed: CancellationToken,
}

#[derive(Debug)]
struct Conn {
    frames: mpsc::UnboundedSender<Vec<u8>>,
    pending: Pending,
}

/// A slot the supervisor gave; given back when dropped.
struct Release {
    frames: mpsc::UnboundedSender<Vec<u8>>,
    slot: u64,
}

impl Drop for Release {
    fn drop(&mut self) {
        let _ = self
            .frames
            .send(wire::encode_request(0, &Request::Release(self.slot)));
    }
}

impl SupervisorLimits {
    /// Limits asked of the supervisor on `stream`.
    pub fn new(stream: std::os::unix::net::UnixStream) -> Self {
        SupervisorLimits {
            stream: Mutex::new(Some(stream)),
            conn: OnceLock::new(),
            next_id: AtomicU32::new(1),
            closed: CancellationToken::new(),
        }
    }

    /// Starts the tasks that write requests and read answers. Must run
    /// within a tokio runtime; does nothing the second time.
    pub fn start(&self) -> std::io::Result<()> {
        let Some(stream) = self.stream.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return Ok(());
        };
        stream.set_nonblocking(true)?;
        let (mut reader, mut writer) = UnixStream::from_std(stream)?.into_split();
        let (frames, mut outgoing) = mpsc::unbounded_channel::<Vec<u8>>();
        let pending = Pending::default();
        let closed = self.closed.clone();
        tokio::spawn(async move {
            while let Some(frame) = outgoing.recv().await {
                if writer.write_all(&frame).await.is_err() {
                    break;
                }
            }
        });
        let answers = pending.clone();
        let releases = frames.clone();
        tokio::spawn(async move {
            let error = loop {
                let mut header = [0; 4];
                if let Err(e) = reader.read_exact(&mut header).await {
                    break e.to_string();
                }
                let len = match wire::frame_len(header) {
                    Ok(len) => len,
                    Err(e) => break e.to_string(),
                };
                let mut body = vec![0; len];
                if let Err(e) = reader.read_exact(&mut body).await {
                    break e.to_string();
                }
                match wire::decode_response(&body) {
                    Ok((id, response)) => {
                        let waiter = answers
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&id);
                        let unclaimed = match waiter {
                            Some(waiter) => waiter.send(response).err(),
                            None => Some(response),
                        };
                        // A slot granted after its caller gave up (the
                        // server's timeout) is given back at once, or it
                        // would count until this worker ends.
                        if let Some(Response::Slot(slot)) = unclaimed {
                            let _ = releases.send(wire::encode_request(0, &Request::Release(slot)));
                        }
                    }
                    Err(e) => break e.to_string(),
                }
            };
            tracing::debug!("supervisor's limits stream closed: {error}");
            // Waiting calls fail at once rather than at their timeout.
            answers.lock().unwrap_or_else(|e| e.into_inner()).clear();
            closed.cancel();
        });
        let _ = self.conn.set(Conn { frames, pending });
        Ok(())
    }

    /// Cancelled when the supervisor's end of the stream closes: the
    /// supervisor is gone.
    pub fn closed(&self) -> CancellationToken {
        self.closed.clone()
    }

    /// Tells the supervisor this worker serves.
    pub fn ready(&self) -> Result<(), SharedLimitsError> {
        self.conn()?
            .frames
            .send(wire::encode_request(0, &Request::Ready))
            .map_err(|_| SharedLimitsError::new("supervisor gone"))
    }

    fn conn(&self) -> Result<&Conn, SharedLimitsError> {
        self.conn
            .get()
            .ok_or_else(|| SharedLimitsError::new("not started"))
    }

    async fn ask(&self, request: Request) -> Result<Response, SharedLimitsError> {
        let conn = self.conn()?;
        if self.closed.is_cancelled() {
            return Err(SharedLimitsError::new("supervisor gone"));
        }
        // 0 is for messages without an answer.
        let id = match self.next_id.fetch_add(1, Ordering::Relaxed) {
            0 => self.next_id.fetch_add(1, Ordering::Relaxed),
            id => id,
        };
        let (tx, rx) = oneshot::channel();
        conn.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        // Taken back if the caller gives up (the server's timeout), so
        // that the map does not grow.
        let _forget = Forget {
            pending: &conn.pending,
            id,
        };
        conn.frames
            .send(wire::encode_request(id, &request))
            .map_err(|_| SharedLimitsError::new("supervisor gone"))?;
        rx.await
            .map_err(|_| SharedLimitsError::new("supervisor gone"))
    }

    fn slot(&self, slot: u64) -> Result<SharedSlot, SharedLimitsError> {
        Ok(SharedSlot::new(Release {
            frames: self.conn()?.frames.clone(),
            slot,
        }))
    }
}

struct Forget<'a> {
    pending: &'a Pending,
    id: u32,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

fn unexpected(response: Response) -> SharedLimitsError {
    SharedLimitsError::new(format!(
        "unexpected answer from the supervisor: {response:?}"
    ))
}

#[async_trait]
impl SharedLimits for SupervisorLimits {
    async fn admit_connection(
        &self,
        request: &ConnectionRequest,
    ) -> Result<Result<SharedSlot, Refusal>, SharedLimitsError> {
        match self.ask(Request::AdmitConnection(*request)).await? {
            Response::Slot(slot) => Ok(Ok(self.slot(slot)?)),
            Response::Refused(refusal) => Ok(Err(refusal)),
            other => Err(unexpected(other)),
        }
    }

    async fn is_banned(&self, key: IpAddr) -> Result<bool, SharedLimitsError> {
        match self.ask(Request::IsBanned(key)).await? {
            Response::Bool(banned) => Ok(banned),
            other => Err(unexpected(other)),
        }
    }

    async fn record_failure(
        &self,
        key: IpAddr,
        policy: &BanPolicy,
    ) -> Result<bool, SharedLimitsError> {
        match self.ask(Request::RecordFailure(key, *policy)).await? {
            Response::Bool(banned) => Ok(banned),
            other => Err(unexpected(other)),
        }
    }

    async fn ban(&self, key: IpAddr, duration: Duration) -> Result<(), SharedLimitsError> {
        match self.ask(Request::Ban(key, duration)).await? {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn unban(&self, key: IpAddr) -> Result<bool, SharedLimitsError> {
        match self.ask(Request::Unban(key)).await? {
            Response::Bool(was) => Ok(was),
            other => Err(unexpected(other)),
        }
    }

    async fn bans(&self) -> Result<Vec<Ban>, SharedLimitsError> {
        match self.ask(Request::Bans).await? {
            Response::Bans(bans) => Ok(bans),
            other => Err(unexpected(other)),
        }
    }

    async fn admit_user(
        &self,
        user: &str,
        max: u32,
    ) -> Result<Option<SharedSlot>, SharedLimitsError> {
        match self.ask(Request::AdmitUser(user.to_owned(), max)).await? {
            Response::Slot(slot) => Ok(Some(self.slot(slot)?)),
            Response::Full => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    fn describe(&self) -> String {
        "the supervisor".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared_limits::LimitsHost;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn request(ip_text: &str, max_per_ip: u32) -> ConnectionRequest {
        ConnectionRequest {
            ip: ip(ip_text),
            ban_key: ip(ip_text),
            max_connections: 3,
            max_per_ip: Some(max_per_ip),
        }
    }

    /// A worker's limits connected to `host`, and the task serving it.
    fn worker(host: &LimitsHost) -> (SupervisorLimits, tokio::task::JoinHandle<()>) {
        let (mine, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        theirs.set_nonblocking(true).unwrap();
        let host = host.clone();
        let task = tokio::spawn(async move {
            let stream = UnixStream::from_std(theirs).unwrap();
            host.serve(stream, || {}).await.unwrap();
        });
        let limits = SupervisorLimits::new(mine);
        limits.start().unwrap();
        (limits, task)
    }

    /// One request on a bare stream, as a worker would send it.
    async fn raw_ask(stream: &mut UnixStream, id: u32, request: Request) -> Response {
        stream
            .write_all(&wire::encode_request(id, &request))
            .await
            .unwrap();
        let mut header = [0; 4];
        stream.read_exact(&mut header).await.unwrap();
        let mut body = vec![0; wire::frame_len(header).unwrap()];
        stream.read_exact(&mut body).await.unwrap();
        let (got, response) = wire::decode_response(&body).unwrap();
        assert_eq!(got, id);
        response
    }

    #[tokio::test]
    async fn limits_hold_across_workers_and_die_with_them() {
        let host = LimitsHost::new();
        // Worker a speaks on a bare stream, so that closing it is what a
        // worker's death does: the stream closes without a Release.
        let (a_end, host_end) = UnixStream::pair().unwrap();
        let mut a = a_end;
        let a_task = {
            let host = host.clone();
            tokio::spawn(async move { host.serve(host_end, || {}).await.unwrap() })
        };
        let (b, _b_task) = worker(&host);
        let r = request("192.0.2.1", 2);
        let a1 = raw_ask(&mut a, 1, Request::AdmitConnection(r)).await;
        let Response::Slot(a1) = a1 else {
            panic!("{a1:?}")
        };
        let b1 = b.admit_connection(&r).await.unwrap().unwrap();
        assert!(b1.is_tracked());
        assert_eq!(
            b.admit_connection(&r).await.unwrap().unwrap_err(),
            Refusal::TooManyFromAddress
        );
        let _b2 = b.admit_connection(&request("192.0.2.2", 2)).await.unwrap();
        assert_eq!(
            raw_ask(&mut a, 2, Request::AdmitConnection(request("192.0.2.3", 2))).await,
            Response::Refused(Refusal::TooManyConnections)
        );
        assert_eq!(host.connections(), 3);
        // A slot given back is free again.
        a.write_all(&wire::encode_request(0, &Request::Release(a1)))
            .await
            .unwrap();
        assert!(matches!(
            raw_ask(&mut a, 3, Request::AdmitConnection(r)).await,
            Response::Slot(_)
        ));
        // Users' caps hold across workers.
        assert!(matches!(
            raw_ask(&mut a, 4, Request::AdmitUser("bob".into(), 1)).await,
            Response::Slot(_)
        ));
        assert!(b.admit_user("bob", 1).await.unwrap().is_none());
        // Worker a dies: its connection and its user slot are given back.
        drop(a);
        a_task.await.unwrap();
        assert_eq!(host.connections(), 2);
        assert!(b.admit_user("bob", 1).await.unwrap().is_some());
        // A slot b gives back by dropping it is released too.
        drop(b1);
        let _b3 = b.admit_connection(&r).await.unwrap().unwrap();
        assert_eq!(host.connections(), 2);
    }

    #[tokio::test]
    async fn bans_hold_across_workers() {
        let host = LimitsHost::new();
        let (a, _a) = worker(&host);
        let (b, _b) = worker(&host);
        let policy = BanPolicy {
            failures: 3,
            ..BanPolicy::default()
        };
        let bad = ip("203.0.113.9");
        assert!(!a.record_failure(bad, &policy).await.unwrap());
        assert!(!b.record_failure(bad, &policy).await.unwrap());
        assert!(a.record_failure(bad, &policy).await.unwrap());
        assert!(b.is_banned(bad).await.unwrap());
        assert_eq!(
            b.admit_connection(&request("203.0.113.9", 5))
                .await
                .unwrap()
                .unwrap_err(),
            Refusal::Banned
        );
        let bans = b.bans().await.unwrap();
        assert_eq!(bans.len(), 1);
        assert_eq!(bans[0].key, bad);
        assert!(a.unban(bad).await.unwrap());
        assert!(!b.is_banned(bad).await.unwrap());
        b.ban(ip("2001:db8::"), Duration::from_secs(60))
            .await
            .unwrap();
        assert!(a.is_banned(ip("2001:db8::")).await.unwrap());
    }

    #[tokio::test]
    async fn a_slot_granted_after_the_caller_gave_up_is_given_back() {
        let (mine, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        theirs.set_nonblocking(true).unwrap();
        let mut supervisor = UnixStream::from_std(theirs).unwrap();
        let limits = SupervisorLimits::new(mine);
        limits.start().unwrap();
        // The caller gives up before the answer (as the server does after
        // SHARED_LIMITS_TIMEOUT).
        let asked = tokio::time::timeout(Duration::from_millis(50), limits.admit_user("u", 1));
        assert!(asked.await.is_err());
        let mut header = [0; 4];
        supervisor.read_exact(&mut header).await.unwrap();
        let mut body = vec![0; wire::frame_len(header).unwrap()];
        supervisor.read_exact(&mut body).await.unwrap();
        let (id, request) = wire::decode_request(&body).unwrap();
        assert_eq!(request, Request::AdmitUser("u".into(), 1));
        supervisor
            .write_all(&wire::encode_response(id, &Response::Slot(42)))
            .await
            .unwrap();
        // The late slot comes back as a release.
        supervisor.read_exact(&mut header).await.unwrap();
        let mut body = vec![0; wire::frame_len(header).unwrap()];
        supervisor.read_exact(&mut body).await.unwrap();
        assert_eq!(
            wire::decode_request(&body).unwrap(),
            (0, Request::Release(42))
        );
    }

    #[tokio::test]
    async fn a_gone_supervisor_is_an_error_and_closes() {
        let (mine, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let limits = SupervisorLimits::new(mine);
        assert!(
            limits.is_banned(ip("10.0.0.1")).await.is_err(),
            "not started"
        );
        limits.start().unwrap();
        drop(theirs);
        limits.closed().cancelled().await;
        assert!(limits.is_banned(ip("10.0.0.1")).await.is_err());
    }

    #[tokio::test]
    async fn a_malformed_frame_ends_the_worker_stream() {
        let host = LimitsHost::new();
        let (mine, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        theirs.set_nonblocking(true).unwrap();
        let served = {
            let host = host.clone();
            tokio::spawn(async move {
                host.serve(UnixStream::from_std(theirs).unwrap(), || {})
                    .await
            })
        };
        mine.set_nonblocking(true).unwrap();
        let mut mine = UnixStream::from_std(mine).unwrap();
        mine.write_all(&[0, 0, 0, 5, 0, 0, 0, 1, 250])
            .await
            .unwrap();
        assert!(served.await.unwrap().is_err());
        let mut huge = UnixStream::pair().unwrap();
        huge.0.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        assert!(host.serve(huge.1, || {}).await.is_err());
    }
}
