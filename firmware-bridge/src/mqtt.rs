//! The bridge's one MQTT connection (rumqttc): publishes the outbox in order, keeps a window of
//! publishes in flight, and hands commands to [`Bridge::command`].
//!
//! - Client id `{username}-{pid}` (the username defaults to the bridge id; with the password, the
//!   credential edge-agent provisioned, docs/operations.md "Provisioning devices"), clean session, `TCP_NODELAY`, keep-alive 5 s, and a retained
//!   last-will `{"status":"offline","kind":"bridge",…}` on `dojo/v1/devices/{bridge_id}/status`.
//! - On every CONNACK: subscribe to `dojo/v1/devices/+/cmd` (QoS 1), then publish every status
//!   (the bridge's `online`, each controller's current one), then the events in outbox order.
//! - At most [`WINDOW`] publishes in flight. A broker sends PUBACKs in the order it received the
//!   publishes (MQTT 3.1.1 §4.6), so each PUBACK completes the oldest one in flight, which then acks
//!   the controller frame. When the connection drops, everything in flight goes back to the front
//!   of the outbox in order (rumqttc itself forgets it: clean session), so nothing is lost or
//!   reordered; a publish the broker had already taken may be delivered twice (same seq).
//! - rumqttc reconnects on the next poll with no delay of its own: this task waits 100 ms doubling
//!   to 5 s (±25 % jitter) between failed attempts, and the port tasks keep filling the bounded
//!   outbox meanwhile.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, NetworkOptions, Outgoing, Packet, QoS};
use shared::protocol::{DeviceCommand, Topic, parse_topic, status_topic};
use tokio::sync::watch;

use crate::bridge::{Bridge, Item, bridge_status};
use crate::config::BridgeConfig;

/// Publishes in flight at once.
pub const WINDOW: usize = 32;

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// `d` ± 25 %.
pub fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::rng().random_range(0.75..1.25))
}

fn nodelay() -> NetworkOptions {
    let mut network = NetworkOptions::new();
    network.set_tcp_nodelay(true);
    network.set_connection_timeout(5);
    network
}

/// Runs the MQTT side until `stop` turns true, then publishes every status as offline (for at
/// most 2 s) and disconnects.
pub async fn run(bridge: Arc<Bridge>, config: BridgeConfig, mut stop: watch::Receiver<bool>) {
    let client_id = format!("{}-{}", config.username(), std::process::id());
    let mut options = MqttOptions::new(client_id, config.mqtt_host.clone(), config.mqtt_port);
    if let Some(password) = &config.mqtt_password {
        options.set_credentials(config.username(), password.expose());
    }
    let mut refusal_told = false;
    options
        .set_clean_session(true)
        .set_keep_alive(Duration::from_secs(5))
        .set_inflight(WINDOW as u16 + 8)
        .set_request_channel_capacity(WINDOW * 2 + 16)
        .set_last_will(LastWill::new(
            status_topic(&config.bridge_id),
            bridge_status(false).encode(),
            QoS::AtLeastOnce,
            true,
        ));
    let (client, mut eventloop) = AsyncClient::new(options, WINDOW * 2 + 16);
    eventloop.set_network_options(nodelay());
    let mut window: VecDeque<Item> = VecDeque::new();
    let mut connected = false;
    let mut backoff = BACKOFF_MIN;
    let mut stopping = false;
    let mut stop_deadline = None;
    let mut closed = false;
    loop {
        if !stopping && (closed || *stop.borrow()) {
            stopping = true;
            bridge.all_offline();
            stop_deadline = Some(tokio::time::Instant::now() + Duration::from_secs(2));
        }
        if connected {
            while window.len() < WINDOW {
                let Some(item) = bridge.next_item() else {
                    break;
                };
                let (topic, payload, retain) = match &item {
                    Item::Event { topic, payload, .. } => (topic.clone(), payload.clone(), false),
                    Item::Status { device } => {
                        let (topic, payload) = bridge.status_payload(device);
                        (topic, payload, true)
                    }
                };
                if client
                    .try_publish(topic, QoS::AtLeastOnce, retain, payload)
                    .is_err()
                {
                    bridge.requeue(vec![item]);
                    break;
                }
                window.push_back(item);
            }
            if stopping && window.is_empty() && bridge.next_item_is_none() {
                let _ = client.try_disconnect();
                // Let the DISCONNECT go out.
                let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
                return;
            }
        }
        if let Some(deadline) = stop_deadline
            && tokio::time::Instant::now() >= deadline
        {
            return;
        }
        tokio::select! {
            event = eventloop.poll() => match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    tracing::info!(host = %config.mqtt_host, port = config.mqtt_port, "MQTT connected");
                    connected = true;
                    bridge.mqtt_connected(true);
                    backoff = BACKOFF_MIN;
                    if let Err(error) = client.try_subscribe("dojo/v1/devices/+/cmd", QoS::AtLeastOnce) {
                        tracing::warn!(%error, "cannot subscribe to commands");
                    }
                    if !stopping {
                        bridge.all_dirty();
                    }
                }
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    if let Some(item) = window.pop_front() {
                        bridge.published(&item);
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    if let Some(Topic::DeviceCmd { device }) = parse_topic(&publish.topic) {
                        match DeviceCommand::decode(&publish.payload) {
                            Ok(command) => bridge.command(device, command),
                            Err(error) => tracing::warn!(%device, %error, "bad command ignored"),
                        }
                    }
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => {}
                Ok(_) => {}
                Err(error) => {
                    if connected {
                        tracing::warn!(%error, in_flight = window.len(), queued = bridge.queued(), "MQTT connection lost");
                    } else if matches!(error, rumqttc::ConnectionError::ConnectionRefused(_)) {
                        // Said once per spell: a wrong or revoked credential, retried with backoff.
                        if !refusal_told {
                            tracing::error!(%error, username = config.username(), password = config.mqtt_password.is_some(), "the broker refused this bridge's MQTT credentials; check mqtt_password (edge-agent device list)");
                            refusal_told = true;
                        }
                    } else {
                        tracing::debug!(%error, "MQTT connect failed");
                    }
                    if connected {
                        refusal_told = false;
                    }
                    connected = false;
                    bridge.mqtt_connected(false);
                    bridge.requeue(window.drain(..).collect());
                    if stopping {
                        return;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(jitter(backoff)) => {}
                        r = stop.changed() => closed |= r.is_err(),
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            },
            () = bridge.wake.notified(), if connected => {}
            r = stop.changed(), if !stopping => closed |= r.is_err(),
            () = tokio::time::sleep(Duration::from_millis(100)), if stopping => {}
        }
    }
}
