//! edge-agent's demo end to end: simulated controllers on real pseudo-terminals, firmware-bridge
//! in the agent's process, the agent's embedded broker. Matches started through the engine are
//! played to their end on the controllers, the next match follows, and the agent's `light`
//! commands travel back over the serial line (the controller's `light_state` comes out of the
//! bridge as a heartbeat with `"light"`).

use std::time::Duration;

use edge_agent::demo::{DemoBroker, DemoOptions, run_with};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::helpers::{Agent, Subscription, device_online, temp_dir, until_within, ws};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_matches_play_through_the_bridge_to_their_end_and_the_next_starts() {
    let dir = temp_dir("demo");
    let agent = Agent::start(&dir).await;
    let mut events = Subscription::listen(agent.mqtt, "dojo/v1/tables/d1/events").await;
    let mut ws = ws(&agent, "?tables=d1").await;
    let stop = CancellationToken::new();
    let demo = tokio::spawn(run_with(
        DemoBroker::from(agent.mqtt),
        agent.running.engine.clone(),
        vec!["d1".into(), "d2".into()],
        DemoOptions { speed: 100.0 },
        stop.clone(),
    ));

    let playing = until_within(&mut ws, "d1", 20, |v| v["status"] == "playing").await;
    let first = playing["match"]["match_id"].clone();
    assert!(["eight-ball", "nine-ball"].contains(&playing["match"]["game"].as_str().unwrap_or("")));
    until_within(&mut ws, "d1", 20, |v| {
        device_online(v, "sim-d1") == Some(true)
    })
    .await;
    let finished = until_within(&mut ws, "d1", 90, |v| v["status"] == "finished").await;
    assert_eq!(finished["match"]["match_id"], first, "{finished}");
    let winner = finished["match_winner"].as_u64().expect("a winner") as usize;
    let race_to = finished["match"]["race_to"].as_i64().expect("race_to");
    assert_eq!(
        finished["score"][winner].as_i64(),
        Some(race_to),
        "{finished}"
    );
    assert_eq!(finished["missing_events"], 0, "{finished}");
    assert_eq!(
        finished["stats"][winner]["racks_won"].as_i64(),
        Some(race_to),
        "{finished}"
    );
    assert!(
        finished["stats"][winner]["innings"].as_u64().unwrap_or(0) >= race_to as u64,
        "{finished}"
    );
    let next = until_within(&mut ws, "d1", 30, |v| {
        v["status"] == "playing" && v["match"]["match_id"] != first
    })
    .await;
    assert_eq!(next["rack"], 1, "{next}");

    // The agent's light command reached the controller over the serial line: its light_state
    // came back through the bridge as a heartbeat with "light": true.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, event) = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("a light_state within 10 s")
            .expect("listening");
        if event["device"] == "sim-d1" && event["light"] == true {
            assert_eq!(event["type"], "heartbeat");
            break;
        }
    }
    let tables: Value = reqwest::get(agent.url("/api/v1/tables"))
        .await
        .expect("HTTP answers")
        .json()
        .await
        .expect("JSON");
    let d2 = tables
        .as_array()
        .and_then(|t| t.iter().find(|v| v["table"] == "d2"))
        .expect("d2 is shown");
    assert_ne!(d2["status"], "idle", "{d2}");

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), demo)
        .await
        .expect("the demo stops")
        .expect("the demo task");
    // Stopping the demo stops its bridge, which says its controllers are offline.
    until_within(&mut ws, "d1", 10, |v| {
        device_online(v, "sim-d1") == Some(false)
    })
    .await;
    agent.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_flag_shows_live_tables_at_human_pace() {
    let dir = temp_dir("demo-flag");
    // Provisioned devices only: the demo provisions its own (fresh secrets, in memory).
    let agent = Agent::start_with(&dir, |config| {
        config.demo = true;
        config.demo_tables = 2;
        config.allow_anonymous_devices = false;
    })
    .await;
    let url = agent.url("/api/v1/tables");
    let mut tables = Value::Null;
    let mut done = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        tables = reqwest::get(&url)
            .await
            .expect("HTTP answers")
            .json()
            .await
            .expect("JSON");
        done = ["table-1", "table-2"].iter().all(|table| {
            tables.as_array().is_some_and(|all| {
                all.iter().any(|v| {
                    v["table"] == *table
                        && v["status"] == "playing"
                        && device_online(v, &format!("sim-{table}")) == Some(true)
                })
            })
        });
    }
    assert!(
        done,
        "both demo tables play with their controller online: {tables}"
    );
    let directory = agent.running.devices.directory();
    assert_eq!(
        directory.tables(edge_agent::demo::DEMO_BRIDGE_ID),
        Some(vec!["table-1".to_owned(), "table-2".to_owned()])
    );
    assert_eq!(
        directory.tables("cam-table-2"),
        Some(vec!["table-2".to_owned()])
    );
    let book = rusqlite::Connection::open(dir.join("devices.sqlite3")).expect("the device book");
    let stored: i64 = book
        .query_row("SELECT COUNT(*) FROM devices", [], |r| r.get(0))
        .expect("count");
    assert_eq!(stored, 0, "the demo's devices are kept in memory only");
    agent.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
