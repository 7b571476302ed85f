//! The JSON the API speaks, as `docs/admin-api.yaml` describes it.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::registry::{SessionInfo, Throughput, TransferInfo};
use crate::{Ban, Server};

/// RFC 3339 in UTC, to the millisecond; times past the year 9999 (a ban
/// of a million years) as the end of that year.
fn time(t: SystemTime) -> String {
    const END_OF_9999: i64 = 253_402_300_799;
    let since_epoch = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    let (secs, millis) = if secs > END_OF_9999 {
        (END_OF_9999, 999)
    } else {
        (secs, since_epoch.subsec_millis())
    };
    chrono::DateTime::from_timestamp(secs, millis * 1_000_000)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Serialize)]
pub(super) struct Session {
    id: u64,
    user: Option<String>,
    address: String,
    since: String,
    directory: Option<String>,
    transfer: Option<Transfer>,
}

#[derive(Serialize)]
struct Transfer {
    command: &'static str,
    direction: &'static str,
    path: Option<String>,
    bytes: u64,
    size: Option<u64>,
    progress: Option<f64>,
    rate: u64,
    started: String,
    elapsed_seconds: f64,
}

impl From<SessionInfo> for Session {
    fn from(s: SessionInfo) -> Self {
        Session {
            id: s.id,
            user: s.user,
            address: s.peer.to_string(),
            since: time(s.since),
            directory: s.directory,
            transfer: s.transfer.map(Transfer::from),
        }
    }
}

impl From<TransferInfo> for Transfer {
    fn from(t: TransferInfo) -> Self {
        Transfer {
            command: t.command,
            direction: t.direction.as_str(),
            rate: t.rate(),
            progress: t.progress(),
            path: t.path,
            bytes: t.bytes,
            size: t.size,
            started: time(t.started),
            elapsed_seconds: t.elapsed.as_secs_f64(),
        }
    }
}

#[derive(Serialize)]
pub(super) struct BanJson {
    address: String,
    until: Option<String>,
    reason: &'static str,
}

impl From<Ban> for BanJson {
    fn from(b: Ban) -> Self {
        BanJson {
            address: b.network.to_string(),
            until: b.until.map(time),
            reason: b.reason.as_str(),
        }
    }
}

/// The longest ban with a duration: ten years. Longer is no ban with an
/// end the server will see; give none.
pub(super) const MAX_BAN_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// The body of `POST /api/v1/bans`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewBan {
    pub address: String,
    /// Seconds, at most [`MAX_BAN_SECONDS`]; absent: until lifted.
    pub duration: Option<u64>,
    /// End the sessions from the address too.
    #[serde(default)]
    pub kick: bool,
}

#[derive(Serialize)]
pub(super) struct BanMade {
    pub address: String,
    pub until: Option<String>,
    pub kicked: usize,
}

impl BanMade {
    pub(super) fn new(network: ipnet::IpNet, duration: Option<u64>, kicked: usize) -> Self {
        let until = duration
            .and_then(|d| SystemTime::now().checked_add(std::time::Duration::from_secs(d)))
            .map(time);
        BanMade {
            address: network.to_string(),
            until,
            kicked,
        }
    }
}

#[derive(Serialize)]
pub(super) struct Info {
    version: &'static str,
    started: String,
    uptime_seconds: u64,
    sessions: usize,
    connections: usize,
    bytes_sent: u64,
    bytes_received: u64,
    reload: bool,
    settings: serde_json::Map<String, serde_json::Value>,
}

impl Info {
    pub(super) fn new(inner: &super::Inner) -> Info {
        let server: &Server = &inner.server;
        let Throughput { sent, received } = server.throughput();
        let mut settings = serde_json::Map::new();
        for (name, value) in server_settings(server) {
            settings.insert(name.to_owned(), value);
        }
        for (name, value) in &inner.settings {
            settings.insert(name.clone(), value.clone().into());
        }
        Info {
            version: env!("CARGO_PKG_VERSION"),
            started: time(inner.started),
            uptime_seconds: inner.started_at.elapsed().as_secs(),
            sessions: server.session_count(),
            connections: server.connection_count(),
            bytes_sent: sent,
            bytes_received: received,
            reload: inner.reload.is_some(),
            settings,
        }
    }
}

/// The server's own settings that say how it behaves, none of them secret
/// (no users, no keys).
fn server_settings(server: &Server) -> Vec<(&'static str, serde_json::Value)> {
    let c = server.config();
    let secs = |d: Option<std::time::Duration>| d.map(|d| d.as_secs());
    vec![
        ("max_connections", c.max_connections.into()),
        ("max_connections_per_ip", c.max_connections_per_ip.into()),
        ("idle_timeout_seconds", secs(c.idle_timeout).into()),
        ("login_timeout_seconds", secs(c.login_timeout).into()),
        (
            "passive_ports",
            c.passive_ports().map(|p| p.to_string()).into(),
        ),
        (
            "masquerade_address",
            c.masquerade_address().map(|a| a.to_string()).into(),
        ),
        ("tls", c.tls.is_some().into()),
        ("ban_failed_logins", c.ban.is_some().into()),
    ]
}

#[derive(Serialize)]
pub(super) struct Problem<'a> {
    pub error: &'a str,
}
