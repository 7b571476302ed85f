//! The Prometheus text exposition of [`Metrics`], through a
//! `prometheus-client` registry filled from a snapshot.

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::{HistogramSnapshot, Labels, LoginOutcome, Metrics, TransferOutcome, DIRECTIONS};

/// Histograms by label set, already counted.
#[derive(Debug)]
struct Histograms(Vec<(Labels, HistogramSnapshot)>);

impl EncodeMetric for Histograms {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        for (labels, h) in &self.0 {
            encoder
                .encode_family(labels)?
                .encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

fn counters(values: impl IntoIterator<Item = (Labels, u64)>) -> Family<Labels, Counter> {
    let family = Family::<Labels, Counter>::default();
    for (labels, n) in values {
        family.get_or_create(&labels).inc_by(n);
    }
    family
}

fn counter(n: u64) -> Counter {
    let counter = Counter::<u64>::default();
    counter.inc_by(n);
    counter
}

fn gauge(value: i64) -> Gauge {
    let gauge = Gauge::<i64>::default();
    gauge.set(value);
    gauge
}

fn by_direction(label: &'static str) -> impl Iterator<Item = (usize, Labels)> {
    DIRECTIONS
        .iter()
        .map(move |d| (*d as usize, vec![(label, d.label())]))
}

pub(super) fn render(m: &Metrics) -> String {
    let mut registry = Registry::with_prefix("ferroftpd");
    registry.register(
        "build",
        "The server's version",
        Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
    );
    registry.register(
        "sessions_active",
        "Control connections being served",
        gauge(m.sessions_active.get()),
    );
    registry.register(
        "connections_refused",
        "Connections refused at accept, by reason",
        counters(m.connections_refused.snapshot()),
    );
    let logins = LoginOutcome::ALL.map(|o| (o as usize, vec![("outcome", o.label())]));
    registry.register(
        "logins",
        "Login attempts, by outcome",
        counters(logins.iter().map(|(i, l)| (l.clone(), m.logins[*i].get()))),
    );
    registry.register_with_unit(
        "login_duration",
        "Time from the password (or a user name that needs none) to the reply, by outcome",
        Unit::Seconds,
        Histograms(
            logins
                .iter()
                .map(|(i, l)| (l.clone(), m.login_duration[*i].snapshot()))
                .collect(),
        ),
    );
    registry.register(
        "commands",
        "Commands received, by verb",
        counters(m.commands.snapshot()),
    );
    let transfers = DIRECTIONS.iter().flat_map(|d| {
        TransferOutcome::ALL.iter().map(move |o| {
            let labels = vec![("direction", d.label()), ("outcome", o.label())];
            (labels, m.transfers[*d as usize][*o as usize].get())
        })
    });
    registry.register(
        "transfers",
        "Transfers ended, by direction and outcome",
        counters(transfers),
    );
    registry.register_with_unit(
        "transfer",
        "Bytes moved on data connections, by direction",
        Unit::Bytes,
        counters(by_direction("direction").map(|(i, l)| (l, m.transfer_bytes[i].get()))),
    );
    registry.register_with_unit(
        "transfer_duration",
        "Time from the start of a transfer to its end, by direction",
        Unit::Seconds,
        Histograms(
            by_direction("direction")
                .map(|(i, l)| (l, m.transfer_duration[i].snapshot()))
                .collect(),
        ),
    );
    let active = Family::<Labels, Gauge>::default();
    for (i, labels) in by_direction("direction") {
        active
            .get_or_create(&labels)
            .set(m.transfers_active[i].get());
    }
    registry.register(
        "transfers_active",
        "Transfers running now, by direction",
        active,
    );
    registry.register(
        "data_connection_errors",
        "Transfers that got no data connection",
        counter(m.data_connection_errors.get()),
    );
    registry.register(
        "bans",
        "Addresses banned after repeated failed logins",
        counter(m.bans.get()),
    );
    let shared = m
        .shared_limits_up
        .load(std::sync::atomic::Ordering::Relaxed);
    if shared >= 0 {
        registry.register(
            "shared_limits_up",
            "1 while the shared limits (--cluster-redis) answer, 0 while the server decides alone",
            gauge(shared),
        );
    }
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::data::Direction;

    #[test]
    fn render_shows_every_series_from_the_start() {
        let text = Metrics::new(["SITE CUSTOM"]).render();
        for line in [
            "# TYPE ferroftpd_build info",
            &format!(
                "ferroftpd_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            ),
            "ferroftpd_sessions_active 0",
            "ferroftpd_logins_total{outcome=\"success\"} 0",
            "ferroftpd_logins_total{outcome=\"failure\"} 0",
            "ferroftpd_logins_total{outcome=\"refused\"} 0",
            "ferroftpd_login_duration_seconds_count{outcome=\"failure\"} 0",
            "ferroftpd_commands_total{verb=\"RETR\"} 0",
            "ferroftpd_commands_total{verb=\"invalid\"} 0",
            "ferroftpd_commands_total{verb=\"SITE CUSTOM\"} 0",
            "ferroftpd_connections_refused_total{reason=\"banned\"} 0",
            "ferroftpd_transfers_total{direction=\"listing\",outcome=\"no_connection\"} 0",
            "ferroftpd_transfer_bytes_total{direction=\"upload\"} 0",
            "ferroftpd_transfer_duration_seconds_bucket{le=\"+Inf\",direction=\"download\"} 0",
            "ferroftpd_transfers_active{direction=\"upload\"} 0",
            "ferroftpd_data_connection_errors_total 0",
            "ferroftpd_bans_total 0",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
        }
        assert!(!text.contains("XCWD"), "aliases have no series");
    }

    #[test]
    fn render_shows_every_count() {
        let metrics = Arc::new(Metrics::new([]));
        metrics.sessions_active.inc();
        metrics.sessions_active.inc();
        metrics.sessions_active.dec();
        metrics.login(LoginOutcome::Success, Duration::from_millis(3));
        metrics.login(LoginOutcome::Success, Duration::from_millis(30));
        metrics.transfer(
            Direction::Download,
            TransferOutcome::Success,
            1 << 40,
            Duration::from_secs(2),
        );
        metrics.transfer(
            Direction::Upload,
            TransferOutcome::NoConnection,
            0,
            Duration::from_millis(1),
        );
        let running = metrics.transfer_started(Direction::Upload);
        metrics.bans.inc();
        let text = metrics.render();
        for line in [
            "ferroftpd_sessions_active 1",
            "ferroftpd_logins_total{outcome=\"success\"} 2",
            "ferroftpd_login_duration_seconds_sum{outcome=\"success\"} 0.033",
            "ferroftpd_login_duration_seconds_count{outcome=\"success\"} 2",
            "ferroftpd_login_duration_seconds_bucket{le=\"0.005\",outcome=\"success\"} 1",
            "ferroftpd_login_duration_seconds_bucket{le=\"0.05\",outcome=\"success\"} 2",
            "ferroftpd_transfer_bytes_total{direction=\"download\"} 1099511627776",
            "ferroftpd_transfers_total{direction=\"download\",outcome=\"success\"} 1",
            "ferroftpd_transfers_total{direction=\"upload\",outcome=\"no_connection\"} 1",
            "ferroftpd_transfer_duration_seconds_bucket{le=\"1.0\",direction=\"download\"} 0",
            "ferroftpd_transfer_duration_seconds_bucket{le=\"5.0\",direction=\"download\"} 1",
            "ferroftpd_transfers_active{direction=\"upload\"} 1",
            "ferroftpd_bans_total 1",
            "ferroftpd_data_connection_errors_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
        }
        drop(running);
        let text = metrics.render();
        assert!(text
            .lines()
            .any(|l| l == "ferroftpd_transfers_active{direction=\"upload\"} 0"));
    }
}
