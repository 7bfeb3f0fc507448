//! External mode (`--mqtt-url mqtt://host:port`): a rumqttc client of a broker the venue runs
//! itself.
//!
//! The client has a unique client id, `TCP_NODELAY`, a clean session and a QoS 1 subscription to
//! `dojo/v1/#`, renewed on every CONNACK. rumqttc reconnects on the next poll with no delay of its
//! own, so the event-loop task waits 100 ms doubling to 5 s (±25 % jitter) between failed
//! attempts. An unreachable broker at start is not an error: the task keeps trying. Commands go
//! out at QoS 1 with the retain flag as given.

use std::time::Duration;

use rand::Rng;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, NetworkOptions, Packet, QoS};
use shared::protocol::SUBSCRIBE_ALL;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Inbound, MqttError, OUTBOUND_CAPACITY, Outbound, is_own_command};

/// Largest packet the external-mode client accepts or sends. Well above the protocol's
/// `MAX_PAYLOAD` so that an oversize device message reaches ingest (and is counted) instead of
/// tearing down the agent's connection.
pub const CLIENT_MAX_PACKET: usize = 1024 * 1024;

/// First reconnect delay in external mode.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect delay in external mode.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Parses `url`, then starts the client's event loop and its command publisher. Returns at once:
/// the connection is made (and remade) in the background.
///
/// # Errors
///
/// [`MqttError::Other`] for a bad `--mqtt-url`.
pub(super) fn connect(
    url: &str,
    inbound: mpsc::Sender<Inbound>,
    outbound: mpsc::Receiver<Outbound>,
    shutdown: CancellationToken,
) -> Result<(), MqttError> {
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
        inbound,
        shutdown.clone(),
    ));
    tokio::spawn(publish_external(client, outbound, shutdown));
    Ok(())
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
fn jitter(base: Duration) -> Duration {
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
}
