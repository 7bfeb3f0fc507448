//! STUB (to be written): the inbound stream of `dojo/v1/#` messages and the outbound command path.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::CancellationToken;

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
}

/// Where the agent gets its MQTT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MqttMode {
    /// Run rumqttd in-process listening on this address.
    Embedded {
        /// `--mqtt-addr`.
        listen: SocketAddr,
    },
    /// Connect to an external broker (`--mqtt-url mqtt://host:port`).
    External {
        /// `--mqtt-url`.
        url: String,
    },
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

/// Publishes commands to devices (replay requests, lights). Cheap to clone; never blocks.
#[derive(Clone, Debug)]
pub struct Commands {}

impl Commands {
    /// Queues a publish; dropped (and logged) if the outbound queue is full.
    pub fn publish(&self, _topic: String, _payload: Vec<u8>, _retain: bool) {}
}

/// A connected MQTT side.
#[derive(Debug)]
pub struct MqttLink {
    /// Inbound messages, bounded.
    pub inbound: mpsc::Receiver<Inbound>,
    /// Outbound commands.
    pub commands: Commands,
}

/// Starts the embedded broker (if asked) and subscribes to `dojo/v1/#`.
pub async fn connect(
    _mode: &MqttMode,
    _shutdown: CancellationToken,
) -> Result<MqttLink, MqttError> {
    Err(MqttError::Other("not implemented".into()))
}
