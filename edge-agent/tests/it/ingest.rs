//! Issue 16, defects 3, 4 and 7, as an attacker or a lossy broker would play them against the real
//! agent over MQTT: a redelivered or spoofed seq 1 re-applies nothing, a huge seq silences no
//! device, and a device whose events the broker loses gets every one of them committed exactly
//! once by answering the agent's (repeated) replay requests.

use std::collections::HashMap;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::helpers::*;

/// The value of metric line `name` (exact name with labels), 0 if absent.
fn metric(agent: &Agent, name: &str) -> u64 {
    let rendered = agent.running.metrics.render();
    rendered
        .lines()
        .find_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            (key == name).then(|| value.parse::<f64>().ok())?
        })
        .map_or(0, |v| v as u64)
}

fn rack(boot: Option<&str>) -> Value {
    match boot {
        Some(boot) => json!({"type": "rack", "boot": boot}),
        None => json!({"type": "rack"}),
    }
}

const RACKS: &str = "dojo_events_accepted_total{kind=\"rack\"}";

#[tokio::test]
async fn a_redelivered_or_spoofed_seq_1_after_500_events_re_applies_nothing() {
    let dir = data_dir("boot-dup");
    let agent = Agent::start(&dir).await;
    let ctl = Device::connect(agent.mqtt, "ctl-t40").await;
    for seq in 1..=500 {
        ctl.send_seq("t40", seq, rack(Some("boot-a"))).await;
    }
    wait_for("500 events applied", 30, || metric(&agent, RACKS) == 500).await;
    // A QoS-1 redelivery of seq 1, the same without a boot (an old-protocol spoof), and a replay of
    // the whole history: all duplicates.
    ctl.send_seq("t40", 1, rack(Some("boot-a"))).await;
    ctl.send_seq("t40", 1, rack(None)).await;
    for seq in 1..=100 {
        ctl.send_seq("t40", seq, rack(Some("boot-a"))).await;
    }
    // Sentinels: the next seq is applied; a new boot starts afresh; the old boot stays old.
    ctl.send_seq("t40", 501, rack(Some("boot-a"))).await;
    ctl.send_seq("t40", 1, rack(Some("boot-b"))).await;
    ctl.send_seq("t40", 502, rack(Some("boot-a"))).await;
    ctl.send_seq("t40", 2, rack(Some("boot-b"))).await;
    wait_for("the sentinels", 10, || metric(&agent, RACKS) == 503).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(metric(&agent, RACKS), 503, "nothing else applied");
    assert!(metric(&agent, "dojo_events_duplicate_total") >= 103);
    agent.stop().await;
    assert_eq!(
        sql_count(&dir, "SELECT COUNT(*) FROM events WHERE device = 'ctl-t40'"),
        503,
        "every event stored once"
    );
    assert_eq!(
        sql_count(
            &dir,
            "SELECT COUNT(*) FROM devices WHERE device = 'ctl-t40' AND boot = 'boot-b' \
             AND last_seq = 2 AND old_boots = '[\"boot-a\"]'"
        ),
        1,
        "the mark names its boot and remembers the old one"
    );
    // After a restart the boots are still known: boot-a's history is still a duplicate.
    let agent = Agent::start(&dir).await;
    let ctl = Device::connect(agent.mqtt, "ctl-t40").await;
    ctl.send_seq("t40", 1, rack(Some("boot-a"))).await;
    ctl.send_seq("t40", 2, rack(Some("boot-b"))).await;
    ctl.send_seq("t40", 3, rack(Some("boot-b"))).await;
    wait_for("the next event", 10, || metric(&agent, RACKS) == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(metric(&agent, RACKS), 1);
    agent.stop().await;
    assert_eq!(
        sql_count(&dir, "SELECT COUNT(*) FROM events WHERE device = 'ctl-t40'"),
        504
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_huge_seq_is_dead_lettered_and_does_not_silence_the_device() {
    let dir = data_dir("huge-seq");
    let agent = Agent::start(&dir).await;
    let ctl = Device::connect(agent.mqtt, "ctl-t41").await;
    let legacy = Device::connect(agent.mqtt, "ctl-t42").await;
    for seq in 1..=10 {
        ctl.send_seq("t41", seq, rack(Some("boot-a"))).await;
        legacy.send_seq("t42", seq, rack(None)).await;
    }
    wait_for("20 events", 10, || metric(&agent, RACKS) == 20).await;
    for spoof in [1u64 << 62, u64::MAX] {
        ctl.send_seq("t41", spoof, rack(Some("boot-a"))).await;
        legacy.send_seq("t42", spoof, rack(None)).await;
    }
    for seq in 11..=20 {
        ctl.send_seq("t41", seq, rack(Some("boot-a"))).await;
        legacy.send_seq("t42", seq, rack(None)).await;
    }
    wait_for("the devices' next events", 10, || {
        metric(&agent, RACKS) == 40
    })
    .await;
    assert_eq!(
        metric(
            &agent,
            "dojo_events_rejected_total{reason=\"seq_out_of_range\"}"
        ),
        4
    );
    assert_eq!(metric(&agent, "dojo_events_missing_total"), 0);
    let (_, view) = agent.get("/api/v1/tables/t41").await;
    assert_eq!(view["missing_events"], 0, "{view}");
    agent.stop().await;
    assert_eq!(
        sql_count(
            &dir,
            "SELECT COUNT(*) FROM dead_letters WHERE reason = 'seq_out_of_range'"
        ),
        4
    );
    assert_eq!(
        sql_count(
            &dir,
            "SELECT SUM(last_seq) FROM devices WHERE device IN ('ctl-t41', 'ctl-t42')"
        ),
        40,
        "each mark is where the device really is"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A device on its own MQTT client: publishes what the test says and hands over the commands the
/// agent sends it.
struct Lossy {
    client: AsyncClient,
    commands: mpsc::UnboundedReceiver<Value>,
}

impl Lossy {
    async fn connect(agent: &Agent, device: &str) -> Lossy {
        let mut options = MqttOptions::new(
            format!("{device}-{}", free_port()),
            agent.mqtt.ip().to_string(),
            agent.mqtt.port(),
        );
        options.set_keep_alive(Duration::from_secs(5));
        let (client, mut eventloop) = AsyncClient::new(options, 1_000);
        client
            .subscribe(format!("dojo/v1/devices/{device}/cmd"), QoS::AtLeastOnce)
            .await
            .expect("subscribe queued");
        let (tx, commands) = mpsc::unbounded_channel();
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut ready_tx = Some(ready_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(ready) = ready_tx.take() {
                            let _ = ready.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        let Ok(command) = serde_json::from_slice(&publish.payload) else {
                            continue;
                        };
                        if tx.send(command).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready)
            .await
            .expect("subscribed in time")
            .expect("subscribed");
        Lossy { client, commands }
    }

    async fn publish(&self, topic: String, payload: Value, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.to_string())
            .await
            .expect("publish queued");
    }
}

#[tokio::test]
async fn events_the_broker_loses_are_replayed_until_every_one_is_committed_once() {
    const EVENTS: u64 = 200;
    let dir = data_dir("lossy");
    let agent = Agent::start(&dir).await;
    let mut device = Lossy::connect(&agent, "ctl-t43").await;
    let boot = "lossy-boot-1";
    device
        .publish(
            "dojo/v1/devices/ctl-t43/status".into(),
            json!({"status": "online", "table": "t43", "kind": "controller", "boot": boot, "replay_window": 4096}),
            true,
        )
        .await;
    let event = |seq: u64| json!({"device": "ctl-t43", "seq": seq, "boot": boot, "type": "rack"});
    let topic = || "dojo/v1/tables/t43/events".to_owned();
    // The burst: seq 1 arrives, then every fifth is lost on the way and every seventh arrives twice.
    let lost = |seq: u64| seq > 1 && seq % 5 == 3;
    for seq in 1..=EVENTS {
        if lost(seq) {
            continue;
        }
        device.publish(topic(), event(seq), false).await;
        if seq % 7 == 0 {
            device.publish(topic(), event(seq), false).await;
        }
    }
    // The device answers a replay request for a seq only the second (even seqs) or third (odd) time
    // it is asked, with the same boot.
    let mut asked: HashMap<u64, u32> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while metric(&agent, RACKS) < EVENTS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every event came in: {} of {EVENTS}, asked {asked:?}",
            metric(&agent, RACKS)
        );
        let Ok(Some(command)) =
            tokio::time::timeout(Duration::from_millis(200), device.commands.recv()).await
        else {
            continue;
        };
        assert_eq!(command["type"], "replay", "{command}");
        assert_eq!(command["boot"], boot, "{command}");
        let from = command["from_seq"].as_u64().expect("from_seq");
        let to = command["to_seq"].as_u64().expect("to_seq");
        assert!(to - from < 4096, "{command}");
        for seq in from..=to {
            let times = asked.entry(seq).or_insert(0);
            *times += 1;
            if *times >= 2 + u32::from(seq % 2 == 1) {
                device.publish(topic(), event(seq), false).await;
            }
        }
    }
    assert!(
        asked.values().any(|&times| times >= 3),
        "the device was asked more than once: {asked:?}"
    );
    assert!(metric(&agent, "dojo_replay_requests_total") >= 3);
    assert_eq!(metric(&agent, "dojo_events_missing_total"), 0);
    wait_for("nothing left waiting", 5, || {
        metric(&agent, "dojo_events_waiting") == 0
    })
    .await;
    agent.stop().await;
    assert_eq!(
        sql_count(&dir, "SELECT COUNT(*) FROM events WHERE device = 'ctl-t43'"),
        EVENTS as i64
    );
    assert_eq!(
        sql_count(
            &dir,
            "SELECT COUNT(DISTINCT device_seq) FROM events WHERE device = 'ctl-t43'"
        ),
        EVENTS as i64,
        "each seq once"
    );
    // In seq order: no event is logged after one with a higher device seq.
    assert_eq!(
        sql_count(
            &dir,
            "SELECT COUNT(*) FROM events a JOIN events b ON a.device = b.device \
             WHERE a.device = 'ctl-t43' AND a.seq < b.seq AND a.device_seq > b.device_seq"
        ),
        0
    );
    std::fs::remove_dir_all(dir).ok();
}
