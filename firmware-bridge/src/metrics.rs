//! The bridge's counters as Prometheus metrics on `GET /metrics` (`--metrics-addr`), so a venue's
//! monitoring sees line noise, lost controllers, a broker outage or a dropping outbox without
//! reading logs.
//!
//! The bridge keeps its counters in [`Bridge`] (one mutex, already there for the outbox); each
//! scrape renders a [`Snapshot`] taken under that lock into a fresh registry, so the numbers of one
//! scrape agree with each other and the hot path counts nothing twice. Names follow
//! `dojo_bridge_<thing>[_<unit>]_total`; docs/operations.md lists them.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::bridge::{Bridge, Snapshot};

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let metric = Counter::<u64>::default();
    metric.inc_by(value);
    registry.register(name, help, metric);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: usize) {
    let metric = Gauge::<i64>::default();
    metric.set(i64::try_from(value).unwrap_or(i64::MAX));
    registry.register(name, help, metric);
}

/// The Prometheus text exposition of `snapshot`.
pub fn render(snapshot: &Snapshot) -> String {
    let stats = &snapshot.stats;
    let mut registry = Registry::with_prefix("dojo_bridge");
    let rejects = Family::<Vec<(&'static str, &'static str)>, Counter>::default();
    for (reason, n) in stats.rejects.iter() {
        rejects.get_or_create(&vec![("reason", reason)]).inc_by(n);
    }
    registry.register(
        "frames_rejected",
        "Serial frames refused by the decoder, by reason (empty is not an error)",
        rejects,
    );
    counter(
        &mut registry,
        "frames",
        "Controller frames turned into MQTT events (retransmissions included)",
        stats.frames,
    );
    counter(
        &mut registry,
        "frames_before_hello",
        "Controller frames ignored because they came before the connection's hello",
        stats.before_hello,
    );
    counter(
        &mut registry,
        "events_published",
        "MQTT events acknowledged by the broker",
        stats.published,
    );
    counter(
        &mut registry,
        "outbox_dropped",
        "Events dropped from a full outbox, oldest first",
        stats.dropped,
    );
    counter(
        &mut registry,
        "retransmits_deduplicated",
        "Retransmitted frames not queued again (their first copy was still queued)",
        stats.deduplicated,
    );
    counter(
        &mut registry,
        "replayed_events",
        "Events re-published to answer replay commands",
        stats.replayed,
    );
    counter(
        &mut registry,
        "replay_from_sent",
        "replay_from frames sent to controllers (serial gaps, replays beyond the buffer)",
        stats.replay_from_sent,
    );
    counter(
        &mut registry,
        "port_reconnects",
        "Serial ports opened again after they were lost",
        stats.port_reconnects,
    );
    counter(
        &mut registry,
        "ports_lost",
        "Serial connections that ended (unplug, hang-up, I/O error)",
        stats.ports_lost,
    );
    counter(
        &mut registry,
        "mqtt_connects",
        "MQTT connections established (the first included)",
        stats.mqtt_connects,
    );
    gauge(
        &mut registry,
        "controllers",
        "Controllers heard since the bridge started",
        snapshot.controllers,
    );
    gauge(
        &mut registry,
        "controllers_online",
        "Controllers shown online",
        snapshot.controllers_online,
    );
    gauge(
        &mut registry,
        "outbox_events",
        "Events waiting for the broker",
        snapshot.queued,
    );
    gauge(
        &mut registry,
        "mqtt_connected",
        "1 while the MQTT connection is up",
        usize::from(snapshot.mqtt_connected),
    );
    let mut out = String::new();
    if let Err(error) = encode(&mut out, &registry) {
        tracing::error!(%error, "cannot render the metrics");
    }
    out
}

/// Serves `GET /metrics` (and 404 elsewhere) on `listener` until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    bridge: Arc<Bridge>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let bridge = bridge.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, CONTENT_TYPE)],
                    render(&bridge.snapshot()),
                )
                    .into_response()
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Reject;

    #[test]
    fn renders_every_counter_with_its_value() {
        let bridge = Bridge::new("b1", 10);
        let bad_crc = Reject::BadCrc {
            computed: 1,
            found: 2,
        };
        bridge.rejected(&bad_crc);
        bridge.rejected(&bad_crc);
        bridge.rejected(&Reject::Empty);
        bridge.port_opened(false);
        bridge.port_opened(true);
        bridge.mqtt_connected(true);
        let text = render(&bridge.snapshot());
        for line in [
            "dojo_bridge_frames_rejected_total{reason=\"bad_crc\"} 2",
            "dojo_bridge_frames_rejected_total{reason=\"empty\"} 1",
            "dojo_bridge_frames_rejected_total{reason=\"wrong_direction\"} 0",
            "dojo_bridge_port_reconnects_total 1",
            "dojo_bridge_mqtt_connects_total 1",
            "dojo_bridge_mqtt_connected 1",
            "dojo_bridge_controllers_online 0",
            "dojo_bridge_outbox_dropped_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
