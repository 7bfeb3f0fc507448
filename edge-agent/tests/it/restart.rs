//! Restarts lose nothing: every table comes back as it was, from the event log.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn a_graceful_restart_replays_every_table() {
    let dir = data_dir("restart");
    let agent = Agent::start(&dir).await;
    let mut screen = ws(&agent, "?tables=t4").await;
    agent.start_match("t4", "ten-ball", 3).await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-t4").await;
    ctl.pocket("t4", 4, 2).await;
    ctl.button("t4", "end_turn").await;
    ctl.pocket("t4", 1, 5).await;
    until(&mut screen, "t4", |v| {
        v["shot"]["pocketed"] == serde_json::json!([1])
    })
    .await;
    let (_, before) = agent.get("/api/v1/tables/t4").await;
    agent.stop().await;

    let agent = Agent::start(&dir).await;
    let (status, after) = agent.get("/api/v1/tables/t4").await;
    assert_eq!(status, 200);
    assert_eq!(after, before, "the whole view comes back, devices included");
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn events_held_behind_a_gap_come_back_by_replay_after_a_restart() {
    let dir = data_dir("restart-held");
    let agent = Agent::start(&dir).await;
    let mut screen = ws(&agent, "?tables=t8").await;
    agent.start_match("t8", "nine-ball", 3).await;
    let ctl = Device::connect(agent.mqtt, "ctl-t8").await;
    ctl.send_seq(
        "t8",
        1,
        serde_json::json!({"type": "pocket", "ball": 1, "pocket": 1}),
    )
    .await;
    until(&mut screen, "t8", |v| {
        v["shot"]["pocketed"] == serde_json::json!([1])
    })
    .await;
    // Seq 2 is missing; 3 (end_turn) is held, not stored, when the agent stops.
    ctl.send_seq(
        "t8",
        3,
        serde_json::json!({"type": "button", "button": "end_turn"}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    agent.stop().await;
    assert_eq!(
        sql_count(&dir, "SELECT last_seq FROM devices WHERE device = 'ctl-t8'"),
        1,
        "the stored frontier does not pass the gap"
    );

    // After the restart the device's next message shows the gap again; the replay brings 2 and 3.
    let agent = Agent::start(&dir).await;
    let mut screen = ws(&agent, "?tables=t8").await;
    let mut commands = Commands::listen(agent.mqtt, "ctl-t8").await;
    let ctl = Device::connect(agent.mqtt, "ctl-t8").await;
    ctl.send_seq("t8", 4, serde_json::json!({"type": "heartbeat"}))
        .await;
    assert_eq!(
        commands.next().await,
        serde_json::json!({"type": "replay", "from_seq": 2, "to_seq": 3})
    );
    ctl.send_seq(
        "t8",
        2,
        serde_json::json!({"type": "pocket", "ball": 2, "pocket": 4}),
    )
    .await;
    ctl.send_seq(
        "t8",
        3,
        serde_json::json!({"type": "button", "button": "end_turn"}),
    )
    .await;
    let view = until(&mut screen, "t8", |v| v["break_shot"] == false).await;
    assert_eq!(view["stats"][0]["balls_pocketed"], 2, "{view}");
    assert_eq!(view["missing_events"], 0, "{view}");
    agent.stop().await;
    assert_eq!(
        sql_count(&dir, "SELECT last_seq FROM devices WHERE device = 'ctl-t8'"),
        4
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn kill_dash_nine_loses_nothing_that_was_shown() {
    let dir = data_dir("kill9");
    let mut agent = Process::start(EDGE_AGENT, &dir, &[]).await;
    // A table-time session started before the match: not in the replayed part of the log.
    let status = reqwest::Client::new()
        .post(format!("{}/api/v1/tables/k1/sessions", agent.http))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answers")
        .status();
    assert_eq!(status.as_u16(), 201);
    let spec = serde_json::json!({"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 5, "break": "alternate"});
    let status = reqwest::Client::new()
        .post(format!("{}/api/v1/tables/k1/matches", agent.http))
        .bearer_auth(TOKEN)
        .json(&spec)
        .send()
        .await
        .expect("answers")
        .status();
    assert_eq!(status.as_u16(), 201);
    let mut ctl = Device::connect(agent.mqtt, "ctl-k1").await;
    ctl.pocket("k1", 1, 1).await;
    ctl.button("k1", "end_turn").await;
    ctl.pocket("k1", 9, 2).await;
    ctl.button("k1", "end_turn").await;
    ctl.pocket("k1", 3, 4).await;
    // Wait until the last event is visible: then it is committed (persist, then publish).
    let mut before = Value::Null;
    for _ in 0..100 {
        before = agent.table("k1").await;
        if before["shot"]["pocketed"] == serde_json::json!([3]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(before["score"], serde_json::json!([1, 0]), "{before}");
    assert!(before["session"]["started_ms"].is_u64(), "{before}");
    agent.child.kill().expect("SIGKILL");
    agent.child.wait().expect("reaped");

    let mut agent = Process::start(EDGE_AGENT, &dir, &[]).await;
    let after = agent.table("k1").await;
    assert_eq!(after, before, "the whole view comes back, devices included");
    agent.stop();
    std::fs::remove_dir_all(dir).ok();
}
