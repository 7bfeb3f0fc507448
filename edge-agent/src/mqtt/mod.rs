//! The inbound stream of `dojo/v1/#` messages and the outbound command path, whichever broker the
//! agent uses: one [`connect`], one [`MqttError`], one [`MqttLink`] (inbound channel + [`Commands`]).
//!
//! Two modes ([`MqttMode`], chosen by the configuration):
//!
//! - **Embedded** (`--mqtt-addr`, [`embedded`]): rumqttd runs in-process; the agent reads through
//!   the broker's in-process link (no TCP hop). A task pumps `Forward` notifications into the
//!   bounded [`MqttLink::inbound`] channel and answers `Unschedule` with `wake()`, so a burst that
//!   fills the link's buffer does not stop delivery. When `inbound` is full the pump waits, the
//!   router buffers in its commit log (1 MiB × 4 segments) and then drops the oldest.
//! - **External** (`--mqtt-url mqtt://host:port`, [`external`]): a rumqttc client with a unique
//!   client id, `TCP_NODELAY`, a clean session and a QoS 1 subscription to `dojo/v1/#`, renewed on
//!   every CONNACK. rumqttc reconnects on the next poll with no delay of its own, so the event-loop
//!   task waits 100 ms doubling to 5 s (±25 % jitter) between failed attempts. An unreachable
//!   broker at start is not an error: the task keeps trying.
//!
//! Either way, messages on `dojo/v1/devices/+/cmd` are not forwarded to `inbound`: those are the
//! agent's own commands echoed back by the broker.
//!
//! Commands ([`Commands::publish`]) go through a bounded queue (never blocking the caller). In
//! embedded mode they are published on the in-process link at QoS 0 — the only QoS a local link
//! has — with the retain flag honoured (rumqttd stores retained publishes from local links too);
//! in external mode at QoS 1 with the retain flag as given.

pub mod embedded;
pub mod external;
pub mod guard;

use std::net::SocketAddr;
use std::time::Instant;

use shared::protocol::{Topic, parse_topic};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use crate::config::MqttMode;
use crate::devices::Directory;
pub use external::{nodelay, parse_url, unique_client_id};
pub use guard::Refusal;

/// Capacity of the inbound channel.
pub const INBOUND_CAPACITY: usize = 4096;

/// Capacity of the outbound command queue.
pub const OUTBOUND_CAPACITY: usize = 256;

/// One message as received.
#[derive(Clone, Debug)]
pub struct Inbound {
    /// MQTT topic.
    pub topic: String,
    /// Raw payload.
    pub payload: Vec<u8>,
    /// Receive time, ms since the Unix epoch.
    pub received_ms: u64,
    /// Receive instant, for latency measurement.
    pub received: Instant,
    /// Set when the embedded broker refused the publish ([`guard`]): it was not routed and is
    /// only to be dead-lettered, for this reason.
    pub refused: Option<Refusal>,
}

impl Inbound {
    fn now(topic: String, payload: Vec<u8>) -> Inbound {
        Inbound {
            topic,
            payload,
            received_ms: crate::clock::now_ms(),
            received: Instant::now(),
            refused: None,
        }
    }
}

/// Errors starting MQTT.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// The embedded broker's address is taken.
    #[error(
        "cannot listen for MQTT on {addr}: the address is in use; choose another with --mqtt-addr, or use an existing broker with --mqtt-url"
    )]
    AddrInUse {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// Anything else.
    #[error("MQTT: {0}")]
    Other(String),
}

/// One queued publish.
#[derive(Debug)]
struct Outbound {
    topic: String,
    payload: Vec<u8>,
    retain: bool,
}

/// Publishes commands to devices (replay requests, lights). Cheap to clone; never blocks.
#[derive(Clone, Debug)]
pub struct Commands {
    tx: mpsc::Sender<Outbound>,
}

impl Commands {
    /// Queues a publish; dropped (and logged) if the outbound queue is full or MQTT has stopped.
    pub fn publish(&self, topic: String, payload: Vec<u8>, retain: bool) {
        let out = Outbound {
            topic,
            payload,
            retain,
        };
        match self.tx.try_send(out) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(out)) => {
                tracing::warn!(topic = %out.topic, "MQTT outbound queue full; command dropped");
            }
            Err(mpsc::error::TrySendError::Closed(out)) => {
                tracing::warn!(topic = %out.topic, "MQTT has stopped; command dropped");
            }
        }
    }
}

/// A connected MQTT side.
#[derive(Debug)]
pub struct MqttLink {
    /// Inbound messages, bounded.
    pub inbound: mpsc::Receiver<Inbound>,
    /// Outbound commands.
    pub commands: Commands,
}

/// Starts the embedded broker (if asked) and subscribes to `dojo/v1/#`. The embedded broker lets
/// in and screens devices by `directory` ([`guard`]); an external broker does its own
/// authentication and `directory` is not used.
///
/// Must be called inside a tokio runtime. The background tasks stop when `shutdown` is cancelled
/// (the embedded broker's own threads cannot be stopped; see [`embedded`]).
///
/// # Errors
///
/// [`MqttError::AddrInUse`] when the embedded broker's address is taken; [`MqttError::Other`] for
/// a bad `--mqtt-url` or a broker that cannot start.
pub async fn connect(
    mode: &MqttMode,
    directory: &Directory,
    shutdown: CancellationToken,
) -> Result<MqttLink, MqttError> {
    let (in_tx, inbound) = mpsc::channel(INBOUND_CAPACITY);
    let (out_tx, out_rx) = mpsc::channel(OUTBOUND_CAPACITY);
    match mode {
        MqttMode::Embedded { listen } => {
            embedded::connect(*listen, directory.clone(), in_tx, out_rx, shutdown).await?;
        }
        MqttMode::External { url } => external::connect(url, in_tx, out_rx, shutdown)?,
    }
    Ok(MqttLink {
        inbound,
        commands: Commands { tx: out_tx },
    })
}

/// The agent's own commands come back on its `dojo/v1/#` subscription; they are not input.
fn is_own_command(topic: &str) -> bool {
    matches!(parse_topic(topic), Some(Topic::DeviceCmd { .. }))
}

#[cfg(test)]
mod tests;
