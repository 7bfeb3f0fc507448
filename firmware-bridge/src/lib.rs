//! firmware-bridge: the link between a pool table's controller (pocket sensors, cue-ball return,
//! player buttons, the table light) on a serial port and the venue's MQTT broker.
//!
//! Module map, in data-flow order:
//!
//! - [`codec`] — the serial protocol v1: [`codec::Decoder`] turns the bytes read from the port into
//!   [`codec::Frame`]s (COBS framing, CRC-16/CCITT-FALSE, resynchronisation after noise, every
//!   refusal counted by reason), and [`codec::encode`] makes the bytes the host writes back.
//! - [`config`] — flags and the TOML file → [`config::BridgeConfig`].
//! - [`port`] — one task per serial port: open, read, hot-plug (hang-up → reopen with backoff),
//!   heartbeat watchdog, host frames out.
//! - [`bridge`] — the shared state: controller sessions and the serial → MQTT seq mapping, recent
//!   events for `replay`, the bounded outbox, cumulative serial acks.
//! - [`mqtt`] — the one MQTT connection: ordered publishing with a window, statuses, last-will,
//!   commands in.
//! - [`metrics`] — the counters of [`bridge`] as Prometheus metrics on `GET /metrics`
//!   (`--metrics-addr`).
//! - [`simulator`] — a simulated controller on a pseudo-terminal (`firmware-bridge simulate`), and
//!   [`simulator::play`], the legal-shot chooser its simulated players (and edge-agent's demo) use.
//!
//! [`run`] starts the port tasks and the MQTT task. The wire format is specified for firmware
//! authors in `docs/protocol.md`, section "Table controller protocol v1 (serial)"; what the bridge
//! publishes in its "firmware-bridge" subsection.

pub mod bridge;
pub mod codec;
pub mod config;
pub mod metrics;
pub mod mqtt;
pub mod port;
pub mod simulator;

use std::sync::Arc;

use tokio::sync::watch;

use crate::bridge::Bridge;
use crate::config::BridgeConfig;

/// A running bridge.
#[derive(Debug)]
pub struct Running {
    /// The shared state (counters, controller presence).
    pub bridge: Arc<Bridge>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Serves `GET /metrics` on `listener` (already bound, so a taken port is the caller's error
    /// and tests can bind port 0) until [`Running::stop`].
    pub fn serve_metrics(&mut self, listener: tokio::net::TcpListener) {
        let (bridge, stop) = (self.bridge.clone(), self.stop.subscribe());
        self.tasks.push(tokio::spawn(async move {
            if let Err(error) = metrics::serve(listener, bridge, stop).await {
                tracing::error!(%error, "the metrics endpoint failed");
            }
        }));
    }

    /// Stops every port, publishes every status as offline (at most 2 s) and disconnects.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        }
    }
}

/// Starts one task per port and the MQTT task. Must be called inside a tokio runtime.
pub fn run(config: BridgeConfig) -> Running {
    let bridge = Arc::new(Bridge::new(&config.bridge_id, config.buffer));
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for path in &config.ports {
        tasks.push(tokio::spawn(port::run(
            bridge.clone(),
            path.clone(),
            config.baud,
            config.heartbeat_timeout,
            stop_rx.clone(),
        )));
    }
    tasks.push(tokio::spawn(mqtt::run(bridge.clone(), config, stop_rx)));
    Running {
        bridge,
        stop,
        tasks,
    }
}
