//! `/metrics` after real traffic: a simulated controller on a pseudo-terminal with one garbled
//! frame, an unplug and re-plug, a replay command, all through a Mosquitto broker; the scrape over
//! HTTP shows exactly those counts.

use std::time::Duration;

use firmware_bridge::simulator::Controller;
use shared::protocol::{DeviceCommand, cmd_topic};

use crate::helpers::{
    Mosquitto, Plugged, Subscriber, bridge_config, sim_options, temp_dir, wait_for,
};

/// The value of the sample `name` (with its labels, as rendered), if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

async fn scrape(url: &str) -> String {
    let response = reqwest::get(url)
        .await
        .expect("the metrics endpoint answers");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        firmware_bridge::metrics::CONTENT_TYPE
    );
    response.text().await.expect("a body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_rejects_reconnects_replays_and_publishes() {
    let dir = temp_dir("metrics");
    let broker = Mosquitto::start(&dir).await;
    let sub = Subscriber::connect(broker.addr, "dojo/v1/tables/+/events").await;
    let mut opts = sim_options("t1", 9);
    opts.race_to = 1000;
    opts.garble_seq = Some(6);
    let link = dir.join("ttyCTL");
    let plugged = Plugged::plug(Controller::new(opts), &link);
    let mut bridge = firmware_bridge::run(bridge_config(vec![link.clone()], broker.addr));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}/metrics", listener.local_addr().expect("addr"));
    bridge.serve_metrics(listener);
    let state = bridge.bridge.clone();

    // Traffic: the garbled frame 6 is refused (bad_crc) and filled by a replay_from.
    wait_for("seq 12 published", 20, || state.stats().published >= 12).await;
    // Unplug and plug back in: one lost connection, one reconnect.
    let controller = plugged.unplug().await;
    wait_for("the unplug to be noticed", 5, || {
        state.online("ctl-t1") == Some(false)
    })
    .await;
    let offline = scrape(&url).await;
    assert_eq!(
        sample(&offline, "dojo_bridge_controllers_online"),
        Some(0.0),
        "{offline}"
    );
    assert_eq!(
        sample(&offline, "dojo_bridge_controllers"),
        Some(1.0),
        "{offline}"
    );
    let plugged = Plugged::plug(controller, &link);
    wait_for("the re-plug", 10, || state.online("ctl-t1") == Some(true)).await;
    // A replay command answered from the buffer: five events.
    sub.client
        .publish(
            cmd_topic("ctl-t1"),
            rumqttc::QoS::AtLeastOnce,
            false,
            DeviceCommand::Replay {
                from_seq: 2,
                to_seq: 6,
                boot: None,
            }
            .encode(),
        )
        .await
        .expect("publish");
    wait_for("the replay", 10, || state.stats().replayed == 5).await;
    let controller = plugged.unplug().await;
    wait_for("everything published", 10, || state.queued() == 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let text = scrape(&url).await;
    let stats = state.stats();
    let expect = [
        ("dojo_bridge_frames_rejected_total{reason=\"bad_crc\"}", 1.0),
        (
            "dojo_bridge_frames_rejected_total{reason=\"bad_body\"}",
            0.0,
        ),
        ("dojo_bridge_replayed_events_total", 5.0),
        ("dojo_bridge_port_reconnects_total", 1.0),
        ("dojo_bridge_ports_lost_total", 2.0),
        ("dojo_bridge_outbox_dropped_total", 0.0),
        ("dojo_bridge_controllers", 1.0),
        ("dojo_bridge_controllers_online", 0.0),
        ("dojo_bridge_mqtt_connected", 1.0),
        ("dojo_bridge_mqtt_connects_total", 1.0),
        ("dojo_bridge_outbox_events", 0.0),
        ("dojo_bridge_frames_total", stats.frames as f64),
        ("dojo_bridge_events_published_total", stats.published as f64),
        (
            "dojo_bridge_replay_from_sent_total",
            stats.replay_from_sent as f64,
        ),
    ];
    for (name, value) in expect {
        assert_eq!(sample(&text, name), Some(value), "{name} in\n{text}");
    }
    assert!(
        stats.replay_from_sent >= 1,
        "the garbled frame was asked for again"
    );
    // Every frame the bridge decoded was published (plus the five replayed copies). (A frame the
    // controller wrote as its pty closed may never arrive, so its own seq is not the bound.)
    assert!(
        stats.published >= stats.frames + 5,
        "{stats:?}, controller seq {}",
        controller.seq()
    );
    let missing = reqwest::get(url.replace("/metrics", "/nope"))
        .await
        .expect("answers");
    assert_eq!(missing.status().as_u16(), 404);
    bridge.stop().await;
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
