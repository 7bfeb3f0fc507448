//! `connect` in both modes against real brokers: the embedded one on a free port, and the external
//! one on 127.0.0.1:1883 when there is one (skipped otherwise).

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use rand::Rng;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio_util::sync::CancellationToken;

use super::*;

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
    let mut link = connect(
        &MqttMode::Embedded { listen: addr },
        &Directory::new(true),
        shutdown.clone(),
    )
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
    let mut options = MqttOptions::new(unique_client_id("test-burst"), "127.0.0.1", addr.port());
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
        &Directory::new(true),
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
        &Directory::new(true),
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
        &Directory::new(true),
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
