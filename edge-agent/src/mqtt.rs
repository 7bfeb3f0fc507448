//! The inbound stream of `dojo/v1/#` messages and the outbound command path.
//!
//! Two modes ([`MqttMode`]):
//!
//! - **Embedded** (`--mqtt-addr`): rumqttd runs in-process ([`crate::broker`]); the agent reads
//!   through the broker's in-process link (no TCP hop). A task pumps `Forward` notifications into
//!   the bounded [`MqttLink::inbound`] channel and answers `Unschedule` with `wake()`, so a burst
//!   that fills the link's buffer does not stop delivery. When `inbound` is full the pump waits,
//!   the router buffers in its commit log (1 MiB × 4 segments) and then drops the oldest.
//! - **External** (`--mqtt-url mqtt://host:port`): a rumqttc client with a unique client id,
//!   `TCP_NODELAY`, a clean session and a QoS 1 subscription to `dojo/v1/#`, renewed on every
//!   CONNACK. rumqttc reconnects on the next poll with no delay of its own, so the event-loop task
//!   waits 100 ms doubling to 5 s (±25 % jitter) between failed attempts. An unreachable broker at
//!   start is not an error: the task keeps trying.
//!
//! Either way, messages on `dojo/v1/devices/+/cmd` are not forwarded to `inbound`: those are the
//! agent's own commands echoed back by the broker.
//!
//! Commands ([`Commands::publish`]) go through a bounded queue (never blocking the caller). In
//! embedded mode they are published on the in-process link at QoS 0 — the only QoS a local link
//! has — with the retain flag honoured (rumqttd stores retained publishes from local links too);
//! in external mode at QoS 1 with the retain flag as given.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, NetworkOptions, Packet, QoS};
use rumqttd::Notification;
use rumqttd::local::{LinkRx, LinkTx};
use shared::protocol::{SUBSCRIBE_ALL, Topic, parse_topic};
use tokio::sync::mpsc;

use tokio_util::sync::CancellationToken;

/// Capacity of the inbound channel.
pub const INBOUND_CAPACITY: usize = 4096;

/// Capacity of the outbound command queue.
pub const OUTBOUND_CAPACITY: usize = 256;

/// Largest packet the external-mode client accepts or sends. Well above the protocol's
/// `MAX_PAYLOAD` so that an oversize device message reaches ingest (and is counted) instead of
/// tearing down the agent's connection.
pub const CLIENT_MAX_PACKET: usize = 1024 * 1024;

/// First reconnect delay in external mode.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect delay in external mode.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

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

impl Inbound {
    fn now(topic: String, payload: Vec<u8>) -> Inbound {
        Inbound {
            topic,
            payload,
            received_ms: crate::clock::now_ms(),
            received: Instant::now(),
        }
    }
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

/// Starts the embedded broker (if asked) and subscribes to `dojo/v1/#`.
///
/// Must be called inside a tokio runtime. The background tasks stop when `shutdown` is cancelled
/// (the embedded broker's own threads cannot be stopped; see [`crate::broker`]).
///
/// # Errors
///
/// [`MqttError::AddrInUse`] when the embedded broker's address is taken; [`MqttError::Other`] for
/// a bad `--mqtt-url` or a broker that cannot start.
pub async fn connect(mode: &MqttMode, shutdown: CancellationToken) -> Result<MqttLink, MqttError> {
    let (in_tx, inbound) = mpsc::channel(INBOUND_CAPACITY);
    let (out_tx, out_rx) = mpsc::channel(OUTBOUND_CAPACITY);
    match mode {
        MqttMode::Embedded { listen } => {
            let listen = *listen;
            let (link_tx, link_rx) =
                tokio::task::spawn_blocking(move || crate::broker::start(listen))
                    .await
                    .map_err(|e| MqttError::Other(format!("broker start task failed: {e}")))??;
            tokio::spawn(pump_local(link_rx, in_tx, shutdown.clone()));
            tokio::spawn(publish_local(link_tx, out_rx, shutdown));
        }
        MqttMode::External { url } => {
            let (host, port) = parse_url(url)?;
            let client_id = unique_client_id("dojo-edge");
            let mut options = MqttOptions::new(client_id.clone(), host.clone(), port);
            options
                .set_clean_session(true)
                .set_keep_alive(Duration::from_secs(15))
                .set_max_packet_size(CLIENT_MAX_PACKET, CLIENT_MAX_PACKET)
                .set_request_channel_capacity(OUTBOUND_CAPACITY)
                .set_inflight(100);
            let (client, mut eventloop) = AsyncClient::new(options, OUTBOUND_CAPACITY);
            eventloop.set_network_options(nodelay());
            tracing::info!(%host, port, %client_id, "connecting to external MQTT broker");
            tokio::spawn(run_external(
                client.clone(),
                eventloop,
                in_tx,
                shutdown.clone(),
            ));
            tokio::spawn(publish_external(client, out_rx, shutdown));
        }
    }
    Ok(MqttLink {
        inbound,
        commands: Commands { tx: out_tx },
    })
}

/// Network options with `TCP_NODELAY` (rumqttc defaults to Nagle on).
pub fn nodelay() -> NetworkOptions {
    let mut network = NetworkOptions::new();
    network.set_tcp_nodelay(true);
    network.set_connection_timeout(5);
    network
}

/// A client id unique to this process and call: `{prefix}-{pid}-{random}`.
pub fn unique_client_id(prefix: &str) -> String {
    let random: u32 = rand::rng().random();
    format!("{prefix}-{}-{random:08x}", std::process::id())
}

/// Parses `mqtt://host:port` (also `tcp://`; the port defaults to 1883; IPv6 hosts in brackets).
///
/// # Errors
///
/// [`MqttError::Other`] naming the URL and the expected shape.
pub fn parse_url(url: &str) -> Result<(String, u16), MqttError> {
    let bad = |why: &str| {
        MqttError::Other(format!(
            "invalid --mqtt-url {url:?}: {why}; expected mqtt://host:port (e.g. mqtt://127.0.0.1:1883)"
        ))
    };
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .ok_or_else(|| bad("the scheme must be mqtt://"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Err(bad("the host is missing"));
    }
    if rest.contains(['/', '?', '#', '@']) {
        return Err(bad("paths, queries and credentials are not supported"));
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        match after {
            "" => (host, None),
            p => (
                host,
                Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ']'"))?),
            ),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            Some(_) => return Err(bad("put IPv6 addresses in brackets")),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(bad("the host is missing"));
    }
    let port = match port {
        None => 1883,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(bad("the port must be 1-65535")),
            Ok(p) => p,
        },
    };
    Ok((host.to_owned(), port))
}

/// The agent's own commands come back on its `dojo/v1/#` subscription; they are not input.
fn is_own_command(topic: &str) -> bool {
    matches!(parse_topic(topic), Some(Topic::DeviceCmd { .. }))
}

/// Embedded mode: local link → `inbound`.
async fn pump_local(mut rx: LinkRx, inbound: mpsc::Sender<Inbound>, shutdown: CancellationToken) {
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => break,
            next = rx.next() => next,
        };
        match next {
            Ok(Some(Notification::Forward(forward))) => {
                let topic = String::from_utf8_lossy(&forward.publish.topic).into_owned();
                if is_own_command(&topic) {
                    continue;
                }
                let message = Inbound::now(topic, forward.publish.payload.to_vec());
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    sent = inbound.send(message) => if sent.is_err() { break },
                }
            }
            Ok(Some(Notification::Unschedule)) => {
                // The router stopped scheduling us because our buffer filled; ask to resume.
                if let Err(e) = rx.wake().await {
                    tracing::error!(error = %e, "embedded MQTT link: wake failed; inbound stops");
                    break;
                }
            }
            Ok(Some(_)) | Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "embedded MQTT link closed; inbound stops");
                break;
            }
        }
    }
    tracing::debug!("embedded MQTT inbound pump stopped");
}

/// Embedded mode: command queue → local link.
async fn publish_local(
    mut tx: LinkTx,
    mut out: mpsc::Receiver<Outbound>,
    shutdown: CancellationToken,
) {
    while let Some(o) = tokio::select! {
        () = shutdown.cancelled() => None,
        o = out.recv() => o,
    } {
        let publish = rumqttd::protocol::Publish::new(o.topic.into_bytes(), o.payload, o.retain);
        if let Err(e) = tx
            .send(rumqttd::protocol::Packet::Publish(publish, None))
            .await
        {
            tracing::warn!(error = %e, "embedded MQTT publish failed");
        }
    }
}

/// External mode: the rumqttc event loop with re-subscribe on CONNACK and reconnect backoff.
async fn run_external(
    client: AsyncClient,
    mut eventloop: EventLoop,
    inbound: mpsc::Sender<Inbound>,
    shutdown: CancellationToken,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => break,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                tracing::info!(code = ?ack.code, "connected to external MQTT broker");
                backoff = BACKOFF_MIN;
                // try_ (not .await): awaiting the request channel from inside the poll loop could
                // deadlock if it were full.
                if let Err(e) = client.try_subscribe(SUBSCRIBE_ALL, QoS::AtLeastOnce) {
                    tracing::error!(error = %e, "cannot queue the dojo/v1/# subscription");
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let topic = publish.topic;
                if is_own_command(&topic) {
                    continue;
                }
                let message = Inbound::now(topic, publish.payload.to_vec());
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    sent = inbound.send(message) => if sent.is_err() { break },
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                tracing::debug!(codes = ?ack.return_codes, "subscribed to dojo/v1/#");
            }
            Ok(_) => {}
            Err(e) => {
                let delay = jitter(backoff);
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "external MQTT connection failed");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    let _ = client.try_disconnect();
    tracing::debug!("external MQTT event loop stopped");
}

/// `base` ± 25 %.
pub(crate) fn jitter(base: Duration) -> Duration {
    base.mul_f64(rand::rng().random_range(0.75..1.25))
}

/// External mode: command queue → client, QoS 1.
async fn publish_external(
    client: AsyncClient,
    mut out: mpsc::Receiver<Outbound>,
    shutdown: CancellationToken,
) {
    while let Some(o) = tokio::select! {
        () = shutdown.cancelled() => None,
        o = out.recv() => o,
    } {
        let topic = o.topic;
        if let Err(e) = client
            .publish(topic.clone(), QoS::AtLeastOnce, o.retain, o.payload)
            .await
        {
            tracing::warn!(error = %e, %topic, "external MQTT publish failed");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("mqtt://127.0.0.1:1883").unwrap(),
            ("127.0.0.1".into(), 1883)
        );
        assert_eq!(
            parse_url("mqtt://broker.local").unwrap(),
            ("broker.local".into(), 1883)
        );
        assert_eq!(parse_url("tcp://h:99/").unwrap(), ("h".into(), 99));
        assert_eq!(
            parse_url("mqtt://[::1]:2000").unwrap(),
            ("::1".into(), 2000)
        );
        for bad in [
            "",
            "127.0.0.1:1883",
            "http://h:1",
            "mqtt://",
            "mqtt://:1883",
            "mqtt://h:0",
            "mqtt://h:99999",
            "mqtt://h:x",
            "mqtt://::1:1883",
            "mqtt://u:p@h:1",
            "mqtt://h:1/path",
        ] {
            let e = parse_url(bad).unwrap_err();
            assert!(e.to_string().contains("--mqtt-url"), "{bad}: {e}");
        }
    }

    #[test]
    fn jitter_stays_near_base() {
        for _ in 0..100 {
            let d = jitter(Duration::from_millis(1000));
            assert!(d >= Duration::from_millis(750) && d <= Duration::from_millis(1250));
        }
    }

    /// A free local port (bound, then released).
    fn free_port() -> SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }

    /// Publishes one QoS 1 message with a fresh rumqttc client and waits for the PUBACK.
    async fn publish_once(host: &str, port: u16, topic: &str, payload: Vec<u8>) {
        let mut options = MqttOptions::new(unique_client_id("test-pub"), host, port);
        options.set_keep_alive(Duration::from_secs(5));
        let (client, mut eventloop) = AsyncClient::new(options, 10);
        eventloop.set_network_options(nodelay());
        client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        let acked = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => break,
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("test publisher: {e}; retrying");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        })
        .await;
        assert!(acked.is_ok(), "no PUBACK from {host}:{port}");
        let _ = client.disconnect().await;
    }

    /// Waits for a message on `topic`, skipping others.
    async fn expect(link: &mut MqttLink, topic: &str, payload: &[u8]) {
        let got = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let m = link.inbound.recv().await.unwrap();
                if m.topic == topic {
                    return m;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("nothing on {topic}"));
        assert_eq!(got.payload, payload);
        assert!(got.received_ms > 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_broker_delivers_device_publishes() {
        let addr = free_port();
        let shutdown = CancellationToken::new();
        let mut link = connect(&MqttMode::Embedded { listen: addr }, shutdown.clone())
            .await
            .unwrap();
        let payload = br#"{"device":"ctl-t1","seq":1,"type":"rack"}"#.to_vec();
        publish_once(
            "127.0.0.1",
            addr.port(),
            "dojo/v1/tables/t1/events",
            payload.clone(),
        )
        .await;
        expect(&mut link, "dojo/v1/tables/t1/events", &payload).await;

        // A burst well past the link's 200-notification buffer keeps flowing (Unschedule → wake).
        let mut options =
            MqttOptions::new(unique_client_id("test-burst"), "127.0.0.1", addr.port());
        options.set_keep_alive(Duration::from_secs(5));
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        eventloop.set_network_options(nodelay());
        let poller = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
        const N: u64 = 3000;
        for seq in 1..=N {
            let p = format!(r#"{{"device":"ctl-t2","seq":{seq},"type":"heartbeat"}}"#);
            client
                .publish("dojo/v1/tables/t2/events", QoS::AtLeastOnce, false, p)
                .await
                .unwrap();
        }
        let mut seen = 0u64;
        let done = tokio::time::timeout(Duration::from_secs(20), async {
            while seen < N {
                let m = link.inbound.recv().await.unwrap();
                if m.topic == "dojo/v1/tables/t2/events" {
                    seen += 1;
                }
            }
        })
        .await;
        assert!(done.is_ok(), "only {seen} of {N} burst messages arrived");
        poller.abort();

        // Commands go out on the broker (and are not echoed back into inbound).
        link.commands.publish(
            shared::protocol::cmd_topic("ctl-t1"),
            shared::protocol::DeviceCommand::Identify.encode(),
            false,
        );
        let payload = br#"{"device":"ctl-t1","seq":2,"type":"rack"}"#.to_vec();
        publish_once(
            "127.0.0.1",
            addr.port(),
            "dojo/v1/tables/t1/events",
            payload.clone(),
        )
        .await;
        let m = tokio::time::timeout(Duration::from_secs(10), link.inbound.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            m.topic, "dojo/v1/tables/t1/events",
            "the command was echoed"
        );
        shutdown.cancel();
    }

    #[tokio::test]
    async fn taken_port_is_addr_in_use() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = connect(
            &MqttMode::Embedded { listen: addr },
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, MqttError::AddrInUse { addr: a } if a == addr),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("--mqtt-addr") && text.contains("--mqtt-url"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn bad_url_is_other() {
        let err = connect(
            &MqttMode::External {
                url: "http://x".into(),
            },
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, MqttError::Other(_)), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn external_broker_delivers_publishes() {
        let probe = tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect("127.0.0.1:1883"),
        )
        .await;
        if !matches!(probe, Ok(Ok(_))) {
            eprintln!("NOTE: no MQTT broker on 127.0.0.1:1883; external-mode test skipped");
            return;
        }
        let shutdown = CancellationToken::new();
        let mut link = connect(
            &MqttMode::External {
                url: "mqtt://127.0.0.1:1883".into(),
            },
            shutdown.clone(),
        )
        .await
        .unwrap();
        let table = format!("ext{:08x}", rand::rng().random::<u32>());
        let topic = shared::protocol::events_topic(&table);
        let payload = br#"{"device":"ctl-x","seq":1,"type":"rack"}"#.to_vec();
        // The subscription is made after CONNACK; publish until it is in place.
        let got = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                publish_once("127.0.0.1", 1883, &topic, payload.clone()).await;
                if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), async {
                    loop {
                        match link.inbound.recv().await {
                            Some(m) if m.topic == topic => return Some(m),
                            Some(_) => {}
                            None => return None,
                        }
                    }
                })
                .await
                {
                    return m;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(got.payload, payload);
        shutdown.cancel();
    }

    #[test]
    fn own_commands_are_filtered() {
        assert!(is_own_command("dojo/v1/devices/ctl-1/cmd"));
        assert!(!is_own_command("dojo/v1/devices/ctl-1/status"));
        assert!(!is_own_command("dojo/v1/tables/t1/events"));
    }
}
