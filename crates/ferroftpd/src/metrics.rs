//! Prometheus metrics and a health endpoint.
//!
//! Every server counts, whether or not anyone reads the figures (an atomic
//! add per event), with the plain counters of this module: they cost no
//! dependency. Reading them needs the `metrics` feature (on by default):
//! [`serve`] answers `GET /metrics` with the Prometheus text format and
//! `GET /health` with `ok`, and [`Server::metrics_text`] returns the same
//! text. The text is written by `prometheus-client`, the HTTP server is
//! hyper's.
//!
//! [`Server::metrics_text`]: crate::Server::metrics_text

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::RwLock;

/// A metric's labels: few, and fixed by the code.
type Labels = Vec<(&'static str, &'static str)>;

/// A count that only goes up.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
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

/// Counters by label set.
#[derive(Debug, Default)]
pub(crate) struct Family(RwLock<HashMap<Labels, AtomicU64>>);

impl Family {
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

/// The server's figures.
#[derive(Default)]
pub(crate) struct Metrics {
    pub sessions_active: Gauge,
    pub connections_refused: Family,
    pub logins: Family,
    pub commands: Family,
    pub transfers: Family,
    pub bytes: Family,
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
        Metrics::default()
    }

    pub(crate) fn count(family: &Family, labels: Labels, n: u64) {
        family.inc_by(labels, n);
    }

    /// The Prometheus text exposition (OpenMetrics), made from a snapshot
    /// of the counters.
    #[cfg(feature = "metrics")]
    pub(crate) fn render(&self) -> String {
        use prometheus_client::metrics::counter::Counter;
        use prometheus_client::metrics::family::Family;
        use prometheus_client::metrics::gauge::Gauge;
        use prometheus_client::registry::Registry;

        let family = |source: &self::Family| {
            let family = Family::<Labels, Counter>::default();
            for (labels, n) in source.snapshot() {
                family.get_or_create(&labels).inc_by(n);
            }
            family
        };
        let counter = |source: &self::Counter| {
            let counter = Counter::<u64>::default();
            counter.inc_by(source.get());
            counter
        };
        let sessions_active = Gauge::<i64>::default();
        sessions_active.set(self.sessions_active.get());

        let mut registry = Registry::with_prefix("ferroftpd");
        registry.register(
            "sessions_active",
            "Control connections being served",
            sessions_active,
        );
        registry.register(
            "connections_refused",
            "Connections refused at accept, by reason",
            family(&self.connections_refused),
        );
        registry.register("logins", "Login attempts, by result", family(&self.logins));
        registry.register(
            "commands",
            "Commands received, by verb",
            family(&self.commands),
        );
        registry.register(
            "transfers",
            "Transfers, by direction and result",
            family(&self.transfers),
        );
        registry.register(
            "transfer_bytes",
            "Bytes moved on data connections, by direction",
            family(&self.bytes),
        );
        registry.register(
            "data_connection_errors",
            "Transfers that got no data connection",
            counter(&self.data_connection_errors),
        );
        registry.register(
            "bans",
            "Addresses banned after repeated failed logins",
            counter(&self.bans),
        );
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

#[cfg(feature = "metrics")]
pub use http::serve;

/// The HTTP endpoint.
#[cfg(feature = "metrics")]
mod http {
    use std::convert::Infallible;

    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::{Request, Response, StatusCode};
    use tokio::net::TcpListener;

    use crate::Server;

    /// Longest a metrics HTTP connection may stay open.
    const CONNECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

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
                server.shared().metrics.render(),
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
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use super::*;

    #[test]
    fn render_shows_every_count() {
        let metrics = Metrics::new();
        metrics.sessions_active.inc();
        metrics.sessions_active.inc();
        metrics.sessions_active.dec();
        Metrics::count(&metrics.logins, vec![("result", "success")], 1);
        Metrics::count(&metrics.logins, vec![("result", "success")], 2);
        Metrics::count(&metrics.bytes, vec![("direction", "download")], 1 << 40);
        metrics.bans.inc();
        let text = metrics.render();
        for line in [
            "# TYPE ferroftpd_sessions_active gauge",
            "ferroftpd_sessions_active 1",
            "ferroftpd_logins_total{result=\"success\"} 3",
            "ferroftpd_transfer_bytes_total{direction=\"download\"} 1099511627776",
            "ferroftpd_bans_total 1",
            "ferroftpd_data_connection_errors_total 0",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
        }
    }
}
