//! Embedded mode: the MQTT broker (rumqttd 0.20, patched: vendor/rumqttd/PATCHES.md, decision
//! 0012) on its own threads, read through its in-process link.
//!
//! [`start_broker`] checks that the listen address is free, builds a trimmed configuration
//! ([`config`]), puts the agent's checks on it ([`install_guard`], over the device `Directory`:
//! see [`super::guard`]), registers the agent's own in-process link (subscribed to
//! [`SUBSCRIBE_ALL`]) and starts the broker's v4 (MQTT 3.1.1) listener on a dedicated OS thread.
//! Two tasks then join the link to the agent: one pumps the link into the inbound channel, one
//! publishes queued commands on it.
//!
//! Who may do what (the patched hooks):
//!
//! - Every CONNECT: the agent's own client id [`LINK_ID`] is refused (CONNACK 2), whatever the
//!   credentials, so nobody can take over the agent's link.
//! - With authentication (`Directory::anonymous()` false): the username/password must pass
//!   `Directory::login` (CONNACK 4 if not, 5 without credentials); the client id must be the
//!   username or `username-…` (CONNACK 2), so one device cannot take over another's session; a
//!   last-will must be a publish the device could make (CONNACK 5). Each PUBLISH is checked before
//!   it is routed; a refused one is acknowledged (QoS 1), not routed, and sent to the inbound
//!   channel marked `refused` for the engine to dead-letter and count. SUBSCRIBE only to command
//!   topics (else a SUBACK of failures).
//! - At [`MAX_CONNECTIONS`] (the agent's own link is one of them) a new CONNECT is answered
//!   CONNACK 3 (server unavailable) and closed; connected devices and the agent carry on, and the
//!   client id can connect once there is room (0.20 panicked there for good: PATCHES.md, 1).
//!
//! Things to know about rumqttd 0.20 (the reference notes on edge sync, §3):
//!
//! - `Broker::new` spawns the router thread at once; `Broker::start` blocks forever (it joins its
//!   server threads) and there is **no way to stop it**. On shutdown the agent simply stops
//!   consuming its link; the threads die with the process. Starting a second embedded broker in one
//!   process (tests) leaks the first one's threads, which is harmless.
//! - The in-process link is QoS 0 both ways and never receives retained messages on subscribe
//!   (its filter uses `RetainForwardRule::Never`); it subscribes before the listener exists, so it
//!   sees every device message.
//! - The router stops scheduling a link whose outgoing buffer fills and sends
//!   `Notification::Unschedule`; the consumer must answer with `wake()`/`ready()` or delivery
//!   silently stops (done in the inbound pump here).
//! - `RouterConfig::default()` is all zeros, so every field is set here, with small commit-log
//!   segments (1 MiB × 4 per filter) instead of the sample's 100 MB × 10, which let RSS reach 1.3 GB.
//! - rumqttd never sets `TCP_NODELAY` on accepted sockets. The agent's own consumer does not suffer
//!   (it reads through the in-process link), but remote subscribers of the embedded broker see
//!   Nagle delays under load; devices should set no-delay on their side.
//! - No console, no Prometheus exporter, no TLS, no websocket (`default-features = false`; how a
//!   venue would add TLS: docs/operations.md, "Embedded broker: authentication, limits and TLS").

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rumqttd::Notification;
use rumqttd::local::{LinkRx, LinkTx};
use rumqttd::protocol::ConnectReturnCode;
use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};
use shared::protocol::{MAX_PAYLOAD, SUBSCRIBE_ALL};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::guard::Guard;
use super::{Inbound, MqttError, Outbound, is_own_command};
use crate::devices::Directory;

/// The client id of the agent's own in-process link.
pub const LINK_ID: &str = "dojo-edge-agent";

/// Largest MQTT payload the broker accepts. Deliberately above [`MAX_PAYLOAD`] so that an oversize
/// device message reaches ingest and is counted as a dead letter (`oversize`) instead of silently
/// disconnecting the device.
pub const BROKER_MAX_PAYLOAD: usize = 4 * MAX_PAYLOAD;

/// Most simultaneous client connections.
pub const MAX_CONNECTIONS: usize = 1024;

/// Open files the agent wants: a full broker's sockets, plus SQLite, HTTP clients and screens.
pub const WANTED_OPEN_FILES: u64 = MAX_CONNECTIONS as u64 + 1024;

/// How long [`start_broker`] waits for the listener to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// The broker configuration: one v4 listener on `listen`, trimmed router, nothing else.
pub fn config(listen: SocketAddr) -> Config {
    let router = RouterConfig {
        max_connections: MAX_CONNECTIONS,
        // Packets the router hands a connection per round (the agent's local link included): a
        // bigger batch lets the agent drain a burst before the commit log rolls over.
        max_outgoing_packet_count: 4096,
        max_segment_size: 1024 * 1024,
        max_segment_count: 4,
        custom_segment: None,
        initialized_filters: None,
        shared_subscriptions_strategy: Default::default(),
    };
    let connections = ConnectionSettings {
        connection_timeout_ms: 5_000,
        max_payload_size: BROKER_MAX_PAYLOAD,
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        // Publishes to topics nobody subscribed to are accepted (and dropped) instead of
        // disconnecting the client.
        dynamic_filters: true,
        // Set by `guard` (start_broker).
        connect_filter: None,
        publish_filter: None,
        subscribe_filter: None,
    };
    let server = ServerSettings {
        name: "dojo-mqtt-v4".to_owned(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    Config {
        id: 0,
        router,
        v4: Some(HashMap::from([("dojo".to_owned(), server)])),
        v5: None,
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    }
}

/// Starts the embedded broker on `listen` and the tasks between its in-process link and the
/// agent: the link into `inbound`, `outbound` onto the link. Returns once the listener accepts
/// connections.
///
/// # Errors
///
/// As [`start_broker`]; [`MqttError::Other`] if the start task fails.
pub(super) async fn connect(
    listen: SocketAddr,
    directory: Directory,
    inbound: mpsc::Sender<Inbound>,
    outbound: mpsc::Receiver<Outbound>,
    shutdown: CancellationToken,
) -> Result<(), MqttError> {
    let refused = inbound.clone();
    let (link_tx, link_rx) =
        tokio::task::spawn_blocking(move || start_broker(listen, directory, refused))
            .await
            .map_err(|e| MqttError::Other(format!("broker start task failed: {e}")))??;
    tokio::spawn(pump_local(link_rx, inbound, shutdown.clone()));
    tokio::spawn(publish_local(link_tx, outbound, shutdown));
    Ok(())
}

/// Puts `guard` on every connection of `config`'s listeners: the LINK_ID rule always; with
/// authentication also the login, the client-id rule, and the publish and subscribe checks.
/// Refused publishes go to `refused` as [`Inbound`]s to dead-letter (dropped, and counted in the
/// log, when that channel is more than half full, so that refusals never crowd out devices'
/// messages).
pub fn install_guard(config: &mut Config, guard: Arc<Guard>, refused: mpsc::Sender<Inbound>) {
    let servers = config.v4.iter_mut().flat_map(|m| m.values_mut());
    for server in servers {
        let connections = &mut server.connections;
        let g = guard.clone();
        let throttle = Throttle::default();
        connections.connect_filter = Some(connect_filter(move |c| {
            let will = c.will_topic.map(|t| (t, c.will_payload));
            let verdict = g.connect(c.client_id, c.username, will);
            if let Err(code) = &verdict
                && let Some(suppressed) = throttle.allow()
            {
                tracing::warn!(client_id = %c.client_id, username = ?c.username, ?code, suppressed, "MQTT CONNECT refused");
            }
            verdict
        }));
        if guard.anonymous() {
            continue;
        }
        let g = guard.clone();
        let throttle = Arc::new(Throttle::default());
        connections.set_auth_handler(move |_client_id, username: String, password: String| {
            let allowed = g.login(&username, &password);
            if !allowed && let Some(suppressed) = throttle.allow() {
                tracing::warn!(%username, suppressed, "MQTT login refused");
            }
            std::future::ready(allowed)
        });
        let g = guard.clone();
        let refused = refused.clone();
        let lost = Throttle::default();
        connections.publish_filter = Some(publish_filter(move |p| {
            let Some(username) = p.username else {
                return false;
            };
            let Err(refusal) = g.publish(username, p.topic, p.payload) else {
                return true;
            };
            let mut message = Inbound::now(
                String::from_utf8_lossy(p.topic).into_owned(),
                p.payload.to_vec(),
            );
            message.refused = Some(refusal);
            // Refusals may take at most half of the inbound queue: a device flooding what it
            // may not say must not delay what the others may.
            let room = refused.capacity() > super::INBOUND_CAPACITY / 2;
            if !(room && refused.try_send(message).is_ok())
                && let Some(suppressed) = lost.allow()
            {
                tracing::warn!(
                    suppressed,
                    "a refused MQTT publish was not dead-lettered: the inbound queue is busy"
                );
            }
            false
        }));
        let g = guard.clone();
        connections.subscribe_filter =
            Some(subscribe_filter(move |_client_id, username, filter| {
                g.subscribe(username, filter)
            }));
    }
}

/// At most one log line per [`Throttle::EVERY_MS`] for something an attacker can repeat at will
/// (refused CONNECTs and logins); the next line says how many were left out.
#[derive(Debug, Default)]
struct Throttle {
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl Throttle {
    const EVERY_MS: u64 = 10_000;

    /// `Some(lines left out since the last one)` if this one may be logged.
    fn allow(&self) -> Option<u64> {
        let now = crate::clock::now_ms();
        let last = self.last_ms.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= Self::EVERY_MS)
            && self
                .last_ms
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// `f` as rumqttd's connect hook (the bound gives the closure its higher-ranked signature).
fn connect_filter(
    f: impl Fn(&rumqttd::ConnectInfo<'_>) -> Result<(), ConnectReturnCode> + Send + Sync + 'static,
) -> rumqttd::ConnectFilter {
    Arc::new(f)
}

/// `f` as rumqttd's publish hook.
fn publish_filter(
    f: impl Fn(&rumqttd::PublishInfo<'_>) -> bool + Send + Sync + 'static,
) -> rumqttd::PublishFilter {
    Arc::new(f)
}

/// `f` as rumqttd's subscribe hook: (client id, username, filter).
fn subscribe_filter(
    f: impl Fn(&str, Option<&str>, &str) -> bool + Send + Sync + 'static,
) -> rumqttd::SubscribeFilter {
    Arc::new(f)
}

/// Starts the embedded broker on `listen`, screening devices by `directory` ([`guard`]), and
/// returns the agent's in-process link, already subscribed to `dojo/v1/#`. Publishes the broker
/// refuses go to `refused` to be dead-lettered. Returns once the listener accepts connections.
///
/// # Errors
///
/// [`MqttError::AddrInUse`] if the address is taken; [`MqttError::Other`] if it cannot be bound
/// for another reason, the link is refused or the listener does not come up.
pub fn start_broker(
    listen: SocketAddr,
    directory: Directory,
    refused: mpsc::Sender<Inbound>,
) -> Result<(LinkTx, LinkRx), MqttError> {
    // rumqttd binds inside its server thread and only logs a failure, so check first.
    match TcpListener::bind(listen) {
        Ok(probe) => drop(probe),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            return Err(MqttError::AddrInUse { addr: listen });
        }
        Err(e) => {
            return Err(MqttError::Other(format!(
                "cannot listen for MQTT on {listen}: {e}"
            )));
        }
    }

    raise_open_files();
    let mut config = config(listen);
    install_guard(&mut config, Arc::new(Guard::new(directory)), refused);
    let mut broker = Broker::new(config);
    let (mut link_tx, link_rx) = broker
        .link(LINK_ID)
        .map_err(|e| MqttError::Other(format!("embedded broker refused the agent's link: {e}")))?;
    link_tx
        .subscribe(SUBSCRIBE_ALL)
        .map_err(|e| MqttError::Other(format!("embedded broker subscribe failed: {e}")))?;

    std::thread::Builder::new()
        .name("mqtt-broker".to_owned())
        .spawn(move || {
            // Blocks for the life of the process; returns only if every listener failed.
            match broker.start() {
                Ok(()) => tracing::error!("embedded MQTT broker stopped: its listener failed"),
                Err(e) => tracing::error!(error = %e, "embedded MQTT broker failed"),
            }
        })
        .map_err(|e| MqttError::Other(format!("cannot start the broker thread: {e}")))?;

    wait_listening(listen)?;
    tracing::info!(%listen, "embedded MQTT broker listening");
    Ok((link_tx, link_rx))
}

/// Raises the soft limit of open files towards [`WANTED_OPEN_FILES`] (never above the hard
/// limit, never lower than it was). With the common soft default of 1,024, a broker filled by
/// clients would run the whole process out of descriptors (no HTTP, no SQLite) before its own
/// connection limit refused anyone.
fn raise_open_files() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let Some(current) = limit.current else {
        return; // unlimited
    };
    if current >= WANTED_OPEN_FILES {
        return;
    }
    let wanted = limit
        .maximum
        .map_or(WANTED_OPEN_FILES, |max| max.min(WANTED_OPEN_FILES));
    if wanted > current {
        let raised = Rlimit {
            current: Some(wanted),
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, "cannot raise the limit of open files");
        }
    }
    let now = getrlimit(Resource::Nofile).current;
    if now.is_some_and(|n| n < WANTED_OPEN_FILES) {
        tracing::warn!(
            open_files = now,
            wanted = WANTED_OPEN_FILES,
            "the limit of open files is below what a full MQTT broker needs; raise it (systemd: LimitNOFILE=)"
        );
    }
}

/// Waits until the broker answers an MQTT CONNECT on `listen` (the wildcard address is probed on
/// loopback). A real handshake, then the socket is closed without DISCONNECT: rumqttd 0.20 takes a
/// DISCONNECT followed by the close as two disconnections and logs the second at ERROR
/// ("no-connection id 1 is already gone") at every start, while a plain close is an ordinary
/// `info` "disconnected" (see `crate::logging`).
fn wait_listening(listen: SocketAddr) -> Result<(), MqttError> {
    let mut probe = listen;
    if probe.ip().is_unspecified() {
        probe.set_ip(match listen {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if mqtt_handshake(probe).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(MqttError::Other(format!(
                "the embedded MQTT broker did not start listening on {listen} within {}s",
                READY_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// CONNECT (MQTT 3.1.1, clean session, client id `dojo-ready-probe`), expect a CONNACK (accepted
/// or refused), close.
fn mqtt_handshake(addr: SocketAddr) -> std::io::Result<()> {
    use std::io::{Read, Write};
    const ID: &[u8] = b"dojo-ready-probe";
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut connect = vec![
        0x10,
        12 + ID.len() as u8,
        0,
        4,
        b'M',
        b'Q',
        b'T',
        b'T',
        4,
        0x02,
        0,
        10,
        0,
        ID.len() as u8,
    ];
    connect.extend_from_slice(ID);
    stream.write_all(&connect)?;
    let mut connack = [0u8; 4];
    stream.read_exact(&mut connack)?;
    // Any CONNACK will do: with authentication the probe (no credentials) is refused, and that
    // answer too says the broker is up.
    if connack[0] != 0x20 {
        return Err(std::io::Error::other("unexpected CONNACK"));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_lets_one_line_through_then_counts() {
        let t = Throttle::default();
        assert_eq!(t.allow(), Some(0));
        assert_eq!(t.allow(), None);
        assert_eq!(t.allow(), None);
        t.last_ms.store(1, Ordering::Relaxed); // long ago
        assert_eq!(t.allow(), Some(2));
    }

    #[test]
    fn config_is_trimmed_and_complete() {
        let addr: SocketAddr = ([127, 0, 0, 1], 1883).into();
        let c = config(addr);
        assert!(c.router.max_connections > 0);
        assert!(c.router.max_outgoing_packet_count > 0);
        assert_eq!(c.router.max_segment_size, 1024 * 1024);
        assert_eq!(c.router.max_segment_count, 4);
        let v4 = c.v4.as_ref().map(|m| m.values().collect::<Vec<_>>());
        let v4 = v4.unwrap_or_default();
        assert_eq!(v4.len(), 1);
        assert_eq!(v4[0].listen, addr);
        assert!(v4[0].connections.max_payload_size >= MAX_PAYLOAD);
        assert!(c.console.is_none() && c.prometheus.is_none() && c.v5.is_none());
    }
}
