//! The MQTT side of an agent: a device publishing events as firmware-bridge does, and a
//! subscriber that sees what is published (the commands the agent sends a device, a table's
//! events). Every wait is bounded.

use std::net::SocketAddr;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::free_port;

/// A device publishing like firmware-bridge does: QoS 1, its own increasing seq.
#[derive(Debug)]
pub struct Device {
    client: AsyncClient,
    /// The device id in every event.
    pub name: String,
    /// The last seq [`Device::send`] used.
    pub seq: u64,
    _poll: tokio::task::JoinHandle<()>,
}

impl Device {
    /// Connects to `broker` as `name` (client id `name-<port>`), without credentials (an agent
    /// started with `--allow-anonymous-devices`, the harness's default).
    pub async fn connect(broker: SocketAddr, name: &str) -> Device {
        Device::connect_with(broker, name, None).await
    }

    /// Connects to `broker` as provisioned device `name` with its `secret` (MQTT username `name`).
    pub async fn connect_as(broker: SocketAddr, name: &str, secret: &str) -> Device {
        Device::connect_with(broker, name, Some(secret)).await
    }

    async fn connect_with(broker: SocketAddr, name: &str, secret: Option<&str>) -> Device {
        let mut options = MqttOptions::new(
            format!("{name}-{}", free_port()),
            broker.ip().to_string(),
            broker.port(),
        );
        if let Some(secret) = secret {
            options.set_credentials(name, secret);
        }
        options.set_keep_alive(Duration::from_secs(5));
        // Big enough to send an oversize payload for the agent to reject.
        options.set_max_packet_size(128 * 1024, 128 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        let poll = tokio::spawn(async move {
            loop {
                if eventloop.poll().await.is_err() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        Device {
            client,
            name: name.into(),
            seq: 0,
            _poll: poll,
        }
    }

    /// Publishes `payload` as it is to `topic`.
    pub async fn raw(&self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .expect("publish queued");
    }

    /// Publishes the next event of this device to `table`'s events topic.
    pub async fn send(&mut self, table: &str, event: Value) {
        self.seq += 1;
        self.send_seq(table, self.seq, event).await;
    }

    /// Publishes `event` with this device's id and the given `seq` (gaps and repeats on purpose).
    pub async fn send_seq(&self, table: &str, seq: u64, mut event: Value) {
        event["device"] = json!(self.name);
        event["seq"] = json!(seq);
        self.raw(
            &format!("dojo/v1/tables/{table}/events"),
            event.to_string().into_bytes(),
        )
        .await;
    }

    /// A ball pocketed.
    pub async fn pocket(&mut self, table: &str, ball: u8, pocket: u8) {
        self.send(
            table,
            json!({"type": "pocket", "ball": ball, "pocket": pocket}),
        )
        .await;
    }

    /// A button pressed (`end_turn`, `foul`, …).
    pub async fn button(&mut self, table: &str, button: &str) {
        self.send(table, json!({"type": "button", "button": button}))
            .await;
    }
}

/// Everything published under an MQTT topic filter from the moment [`Subscription::listen`]
/// returns.
#[derive(Debug)]
pub struct Subscription {
    rx: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    _client: AsyncClient,
}

impl Subscription {
    /// Subscribes to `filter` on `broker` and waits (at most 10 s) until the broker confirms.
    ///
    /// # Panics
    ///
    /// When the subscription is not confirmed in time.
    pub async fn listen(broker: SocketAddr, filter: &str) -> Subscription {
        Subscription::listen_with(broker, filter, None).await
    }

    /// Like [`Subscription::listen`], logged in as provisioned device `name` with `secret`.
    ///
    /// # Panics
    ///
    /// When the subscription is not confirmed in time.
    pub async fn listen_as(
        broker: SocketAddr,
        filter: &str,
        name: &str,
        secret: &str,
    ) -> Subscription {
        Subscription::listen_with(broker, filter, Some((name, secret))).await
    }

    async fn listen_with(
        broker: SocketAddr,
        filter: &str,
        login: Option<(&str, &str)>,
    ) -> Subscription {
        let client_id = match login {
            Some((name, _)) => format!("{name}-sub-{}", free_port()),
            None => format!("sub-{}", free_port()),
        };
        let mut options = MqttOptions::new(client_id, broker.ip().to_string(), broker.port());
        if let Some((name, secret)) = login {
            options.set_credentials(name, secret);
        }
        options.set_keep_alive(Duration::from_secs(5));
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("subscribe queued");
        let (tx, rx) = mpsc::unbounded_channel();
        let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut subscribed_tx = Some(subscribed_tx);
            while let Ok(event) = eventloop.poll().await {
                match event {
                    Event::Incoming(Packet::SubAck(_)) => {
                        if let Some(done) = subscribed_tx.take() {
                            let _ = done.send(());
                        }
                    }
                    // A test that no longer listens: stop.
                    Event::Incoming(Packet::Publish(publish))
                        if tx
                            .send((publish.topic.clone(), publish.payload.to_vec()))
                            .is_err() =>
                    {
                        break;
                    }
                    _ => {}
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), subscribed_rx)
            .await
            .expect("subscribed in time")
            .expect("subscribed");
        Subscription {
            rx,
            _client: client,
        }
    }

    /// The next publish: its topic and payload as JSON (`null` when it is not JSON).
    pub async fn recv(&mut self) -> Option<(String, Value)> {
        let (topic, payload) = self.rx.recv().await?;
        Some((
            topic,
            serde_json::from_slice(&payload).unwrap_or(Value::Null),
        ))
    }
}

/// What the agent publishes to one device's command topic, as that device would receive it.
#[derive(Debug)]
pub struct Commands(Subscription);

impl Commands {
    /// Listens on `dojo/v1/devices/{device}/cmd`.
    pub async fn listen(broker: SocketAddr, device: &str) -> Commands {
        Commands(Subscription::listen(broker, &format!("dojo/v1/devices/{device}/cmd")).await)
    }

    /// The next command, within 5 s.
    ///
    /// # Panics
    ///
    /// When none comes, or it is not JSON.
    pub async fn next(&mut self) -> Value {
        let (_, bytes) = tokio::time::timeout(Duration::from_secs(5), self.0.rx.recv())
            .await
            .expect("a command within 5 s")
            .expect("a command");
        serde_json::from_slice(&bytes).expect("JSON command")
    }
}
