//! Prometheus metrics and a health endpoint.
//!
//! Every server counts, whether or not anyone reads the figures (an atomic
//! add per event). [`serve`] answers `GET /metrics` with the Prometheus
//! text format and `GET /health` with `ok`.

use std::convert::Infallible;
use std::fmt;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::Server;

type Labels = Vec<(&'static str, &'static str)>;

/// Longest a metrics HTTP connection may stay open.
const CONNECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The server's figures.
pub(crate) struct Metrics {
    registry: Registry,
    pub sessions_active: Gauge,
    pub connections_refused: Family<Labels, Counter>,
    pub logins: Family<Labels, Counter>,
    pub commands: Family<Labels, Counter>,
    pub transfers: Family<Labels, Counter>,
    pub bytes: Family<Labels, Counter>,
    pub data_connection_errors: Counter,
    pub bans: Counter,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("ferroftpd");
        let m = Metrics {
            registry: Registry::default(),
            sessions_active: Gauge::default(),
            connections_refused: Family::default(),
            logins: Family::default(),
            commands: Family::default(),
            transfers: Family::default(),
            bytes: Family::default(),
            data_connection_errors: Counter::default(),
            bans: Counter::default(),
        };
        registry.register(
            "sessions_active",
            "Control connections being served",
            m.sessions_active.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections refused at accept, by reason",
            m.connections_refused.clone(),
        );
        registry.register("logins", "Login attempts, by result", m.logins.clone());
        registry.register("commands", "Commands received, by verb", m.commands.clone());
        registry.register(
            "transfers",
            "Transfers, by direction and result",
            m.transfers.clone(),
        );
        registry.register(
            "transfer_bytes",
            "Bytes moved on data connections, by direction",
            m.bytes.clone(),
        );
        registry.register(
            "data_connection_errors",
            "Transfers that got no data connection",
            m.data_connection_errors.clone(),
        );
        registry.register(
            "bans",
            "Addresses banned after repeated failed logins",
            m.bans.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    pub(crate) fn count(family: &Family<Labels, Counter>, labels: Labels, n: u64) {
        family.get_or_create(&labels).inc_by(n);
    }
}

/// Serves `/metrics` and `/health` for `server` on `listener` until the
/// server stops accepting (after [`Server::shutdown`] or [`Server::abort`]).
pub async fn serve(server: Server, listener: TcpListener) {
    let stop = server.stop_token();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics listener accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => return,
        };
        let server = server.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let server = server.clone();
                async move { Ok::<_, Infallible>(respond(&server, &req)) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
            // A scraper that stalls cannot hold the connection for long.
            match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
                Ok(Err(e)) => tracing::debug!(error = %e, "metrics connection failed"),
                Err(_) => tracing::debug!("metrics connection timed out"),
                Ok(Ok(())) => {}
            }
        });
    }
}

fn respond<B>(server: &Server, req: &Request<B>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method().as_str(), req.uri().path()) {
        ("GET", "/metrics") => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            server.shared.metrics.render(),
        ),
        ("GET", "/health") => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}
