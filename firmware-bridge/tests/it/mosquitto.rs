//! The bridge against a Mosquitto broker this test starts and stops: nothing is lost while the
//! broker is down, replay requests are answered with the original seqs, light and identify reach
//! the controller, a gap on the serial line is repaired, a silent controller is reported offline.

use std::collections::HashMap;
use std::time::Duration;

use firmware_bridge::codec::{Frame, Message, encode};
use firmware_bridge::simulator::{Controller, pty};
use serde_json::Value;
use shared::protocol::{DeviceCommand, cmd_topic};
use tokio::io::AsyncWriteExt;

use crate::helpers::{
    Mosquitto, Plugged, Subscriber, bridge_config, sim_options, temp_dir, wait_for,
};

fn seq(v: &Value) -> u64 {
    v["seq"].as_u64().expect("seq")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_for_a_while_loses_nothing() {
    let dir = temp_dir("outage");
    let mut broker = Mosquitto::start(&dir).await;
    let mut sub = Subscriber::connect(broker.addr, "dojo/v1/tables/+/events").await;
    let mut opts = sim_options("t1", 11);
    opts.race_to = 1000; // plays throughout
    let link = dir.join("ttyCTL");
    let plugged = Plugged::plug(Controller::new(opts), &link);
    let bridge = firmware_bridge::run(bridge_config(vec![link], broker.addr));
    let mut seen: Vec<u64> = Vec::new();
    while seen.last() < Some(&20) {
        seen.push(seq(&sub.next(10, |_, _| true).await.1));
    }

    broker.pause().await;
    let state = bridge.bridge.clone();
    wait_for("events to queue up", 10, || state.queued() >= 30).await;
    broker.resume().await;
    let target = state.stats().frames + 20;
    wait_for("the backlog to drain", 20, || {
        state.queued() == 0 && state.stats().frames >= target
    })
    .await;
    let controller = plugged.unplug().await;
    // MQTT seqs count from the session's `hello`, which is the controller's second frame when the
    // bridge missed its first.
    let device = controller.options().device.clone();
    let last = state
        .mqtt_seq(&device, controller.seq())
        .expect("the controller's last frame has an MQTT seq");
    // Everything the controller sent arrives, in order (a redelivered copy may repeat a seq).
    while seen.last() < Some(&last) {
        seen.push(seq(&sub.next(20, |_, _| true).await.1));
    }
    let mut firsts = Vec::new();
    for s in &seen {
        if !firsts.contains(s) {
            firsts.push(*s);
        }
    }
    let first = firsts[0];
    let expected: Vec<u64> = (first..=last).collect();
    assert_eq!(firsts, expected, "every seq once, in order");
    let stats = state.stats();
    assert_eq!(stats.dropped, 0, "{stats:?}");
    bridge.stop().await;
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_light_identify_and_a_serial_gap() {
    let dir = temp_dir("commands");
    let broker = Mosquitto::start(&dir).await;
    let mut sub = Subscriber::connect(broker.addr, "dojo/v1/tables/+/events").await;
    let mut opts = sim_options("t1", 5);
    opts.race_to = 1000;
    opts.garble_seq = Some(12);
    let link = dir.join("ttyCTL");
    let plugged = Plugged::plug(Controller::new(opts), &link);
    let bridge = firmware_bridge::run(bridge_config(vec![link], broker.addr));

    // The garbled frame 12 shows as a gap (13 before 12) and is filled by the controller.
    let mut first_copy: HashMap<u64, Value> = HashMap::new();
    let mut order = Vec::new();
    while !(first_copy.contains_key(&12) && first_copy.contains_key(&25)) {
        let (_, v) = sub.next(10, |_, _| true).await;
        order.push(seq(&v));
        first_copy.entry(seq(&v)).or_insert(v);
    }
    // MQTT seqs count from the session's `hello` (a boot starts at 1), which is the controller's
    // second frame when the bridge missed the first: the garbled frame is MQTT seq 11 or 12.
    let pos = |s: u64| order.iter().position(|&x| x == s);
    assert!(
        (10..=12).any(|s| matches!((pos(s), pos(s + 1)), (Some(a), Some(b)) if b < a)),
        "the gap is visible: {order:?}"
    );
    assert!(bridge.bridge.stats().replay_from_sent >= 1);

    // A replay request is answered from the bridge's buffer with the original seqs and payloads.
    let command = DeviceCommand::Replay {
        from_seq: 5,
        to_seq: 9,
        boot: None,
    };
    sub.client
        .publish(
            cmd_topic("ctl-t1"),
            rumqttc::QoS::AtLeastOnce,
            false,
            command.encode(),
        )
        .await
        .expect("publish");
    let mut replayed = Vec::new();
    while replayed.len() < 5 {
        let (_, v) = sub.next(10, |_, v| (5..=9).contains(&seq(v))).await;
        assert_eq!(
            Some(&v),
            first_copy.get(&seq(&v)),
            "a replay is the original message"
        );
        replayed.push(seq(&v));
    }
    assert_eq!(replayed, vec![5, 6, 7, 8, 9]);

    // Light and identify reach the board.
    for command in [DeviceCommand::Light { on: true }, DeviceCommand::Identify] {
        sub.client
            .publish(
                cmd_topic("ctl-t1"),
                rumqttc::QoS::AtLeastOnce,
                false,
                command.encode(),
            )
            .await
            .expect("publish");
    }
    let (_, light) = sub.next(10, |_, v| v["light"] == true).await;
    assert_eq!(
        light["type"], "heartbeat",
        "light_state goes out as a heartbeat with light"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let controller = plugged.unplug().await;
    assert_eq!(controller.stats().lights, vec![true]);
    assert_eq!(controller.stats().identifies, 1);
    bridge.stop().await;
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_controller_is_reported_offline_while_its_port_stays_open() {
    let dir = temp_dir("silent");
    let broker = Mosquitto::start(&dir).await;
    let mut sub = Subscriber::connect(broker.addr, "dojo/v1/devices/ctl-quiet/status").await;
    let mut pty = pty().expect("pty");
    let mut config = bridge_config(vec![pty.path.clone()], broker.addr);
    config.heartbeat_timeout = Duration::from_millis(400);
    let bridge = firmware_bridge::run(config);
    let frame = |seq, message| encode(&Frame::new(seq, message)).expect("encodes");
    let hello = Message::Hello {
        device_id: "ctl-quiet".into(),
        firmware: "1.0".into(),
        table: "t9".into(),
        capabilities: firmware_bridge::codec::Capabilities::POCKETS,
    };
    // Wait for the bridge to open the port (it asks for a hello), then say hello once.
    let state = bridge.bridge.clone();
    let mut written = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        pty.master
            .write_all(&frame(1, hello.clone()))
            .await
            .expect("write");
        if state.online("ctl-quiet").is_some() {
            written = true;
            break;
        }
    }
    assert!(written, "the bridge heard the hello");
    let (_, online) = sub.next(10, |_, v| v["status"] == "online").await;
    assert_eq!(
        (online["kind"].as_str(), online["table"].as_str()),
        (Some("controller"), Some("t9"))
    );
    let (_, offline) = sub.next(10, |_, v| v["status"] == "offline").await;
    assert_eq!(offline["table"], "t9");
    // It speaks again: online again.
    pty.master
        .write_all(&frame(50, Message::Heartbeat))
        .await
        .expect("write");
    sub.next(10, |_, v| v["status"] == "online").await;
    bridge.stop().await;
    drop(pty);
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
