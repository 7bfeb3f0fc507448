//! A whole match through MQTT → rules → SQLite → WebSocket, with the bad inputs around it.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn a_nine_ball_match_played_over_mqtt_ends_on_the_websocket_and_in_sqlite() {
    let dir = data_dir("nine");
    let agent = Agent::start(&dir).await;
    let mut screen = ws(&agent, "?tables=t1").await;
    let snapshot = next_json(&mut screen).await;
    assert_eq!(snapshot["type"], "snapshot");

    agent.start_match("t1", "nine-ball", 2).await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-t1").await;
    // Rack 1: Ann breaks dry; Bo makes the 1 and the 9 on one shot (a legal combination).
    ctl.button("t1", "end_turn").await;
    ctl.pocket("t1", 1, 3).await;
    ctl.pocket("t1", 9, 4).await;
    ctl.button("t1", "end_turn").await;
    let view = until(&mut screen, "t1", |v| v["rack_winner"] == 1).await;
    assert_eq!(view["score"], json!([0, 1]));
    // Rack 2: Bo breaks (alternate break) and makes the 9 on the break: the match.
    ctl.pocket("t1", 9, 1).await;
    ctl.button("t1", "end_turn").await;
    let view = until(&mut screen, "t1", |v| !v["match_winner"].is_null()).await;
    assert_eq!(view["match_winner"], 1);
    assert_eq!(view["status"], "finished");
    assert_eq!(view["match"]["players"], json!(["Ann", "Bo"]));

    let (status, body) = agent.get("/api/v1/tables/t1").await;
    assert_eq!(status, 200);
    assert_eq!(body["match_winner"], 1);
    agent.stop().await;
    assert_eq!(
        sql_count(
            &dir,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'match_finished'"
        ),
        1
    );
    assert_eq!(
        sql_count(
            &dir,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'rack_finished'"
        ),
        2
    );
    assert_eq!(
        sql_count(
            &dir,
            "SELECT COUNT(*) FROM events WHERE table_id = 't1' AND device = 'ctl-t1'"
        ),
        6
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn an_eight_ball_match_with_groups_and_the_eight() {
    let dir = data_dir("eight");
    let agent = Agent::start(&dir).await;
    let mut screen = ws(&agent, "").await;
    agent.start_match("t8", "eight-ball", 1).await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-t8").await;
    // Ann breaks and makes the 3 (table stays open), then makes the 1: solids.
    ctl.pocket("t8", 3, 1).await;
    ctl.button("t8", "end_turn").await;
    ctl.pocket("t8", 1, 2).await;
    ctl.button("t8", "end_turn").await;
    let view = until(&mut screen, "t8", |v| !v["groups"].is_null()).await;
    assert_eq!(view["groups"], json!(["solids", "stripes"]));
    // She runs the solids, then the 8.
    for ball in [2, 4, 5, 6, 7] {
        ctl.pocket("t8", ball, 3).await;
        ctl.button("t8", "end_turn").await;
    }
    ctl.pocket("t8", 8, 6).await;
    ctl.button("t8", "end_turn").await;
    let view = until(&mut screen, "t8", |v| !v["match_winner"].is_null()).await;
    assert_eq!(view["match_winner"], 0);
    assert_eq!(view["stats"][0]["break_and_runs"], 1);
    agent.stop().await;
    assert_eq!(
        sql_count(
            &dir,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'match_finished'"
        ),
        1
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn duplicates_are_ignored_and_bad_payloads_dead_lettered() {
    let dir = data_dir("bad");
    let agent = Agent::start(&dir).await;
    let mut screen = ws(&agent, "?tables=t2").await;
    agent.start_match("t2", "nine-ball", 3).await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-t2").await;
    ctl.pocket("t2", 2, 1).await;
    // QoS 1 redelivery: the same (device, seq) again.
    ctl.send_seq(
        "t2",
        ctl.seq,
        json!({"type": "pocket", "ball": 2, "pocket": 1}),
    )
    .await;
    for bad in [
        &b"not json"[..],
        br#"{"device":"ctl-t2","seq":99,"type":"pocket","ball":16,"pocket":1}"#,
        br#"{"device":"ctl-t2","seq":98,"type":"teleport"}"#,
    ] {
        ctl.raw("dojo/v1/tables/t2/events", bad.to_vec()).await;
    }
    ctl.raw("dojo/v1/elsewhere/t2", b"{}".to_vec()).await;
    ctl.raw("dojo/v1/tables/t2/events", vec![b' '; 20_000])
        .await;
    ctl.button("t2", "end_turn").await;
    let view = until(&mut screen, "t2", |v| {
        v["on_table"].as_array().is_some_and(|t| t.len() == 8)
    })
    .await;
    assert_eq!(
        view["shooter"], 0,
        "the made 2 keeps the breaker at the table"
    );
    let metrics = agent.running.metrics.clone();
    assert_eq!(metrics.duplicate_count(), 1);
    assert_eq!(metrics.rejected_count("not_json"), 1);
    assert_eq!(metrics.rejected_count("invalid"), 1);
    assert_eq!(metrics.rejected_count("unknown_type"), 1);
    assert_eq!(metrics.rejected_count("oversize"), 1);
    let text = reqwest::get(agent.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(text.contains("dojo_events_rejected_total"), "{text}");
    agent.stop().await;
    assert!(sql_count(&dir, "SELECT COUNT(*) FROM dead_letters") >= 4);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn staff_writes_need_the_token_and_errors_are_json() {
    let dir = data_dir("staff");
    let agent = Agent::start(&dir).await;
    let response = reqwest::Client::new()
        .post(agent.url("/api/v1/tables/t3/matches"))
        .json(&json!({"game": "nine-ball", "players": ["A", "B"], "race_to": 1}))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 401);
    let (status, body) = agent
        .post(
            "/api/v1/tables/t3/matches/current/actions",
            json!({"action": "pass"}),
        )
        .await;
    assert!(status == 404 || status == 409, "{status} {body}");
    assert!(body["error"].is_string());
    agent.start_match("t3", "nine-ball", 1).await;
    let (status, body) = agent
        .post(
            "/api/v1/tables/t3/matches/current/actions",
            json!({"action": "pass"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = agent
        .post(
            "/api/v1/tables/t3/matches/current/actions",
            json!({"action": "call", "ball": 1, "pocket": 2}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["shot"]["called"], json!({"ball": 1, "pocket": 2}));
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_external_broker_mode_works_against_mosquitto() {
    let mosquitto: std::net::SocketAddr = "127.0.0.1:1883".parse().expect("addr");
    assert!(
        std::net::TcpStream::connect(mosquitto).is_ok(),
        "this test needs Mosquitto on 127.0.0.1:1883 (.ci/run starts it)"
    );
    let dir = data_dir("external");
    // A table id of its own: Mosquitto is shared with other tests and programs.
    let table = format!("ext{}", free_port());
    let agent = Agent::start_with(&dir, |config| {
        config.mqtt = edge_agent::mqtt::MqttMode::External {
            url: "mqtt://127.0.0.1:1883".into(),
        };
        config.tables.push(table.clone());
    })
    .await;
    let mut screen = ws(&agent, &format!("?tables={table}")).await;
    agent.start_match(&table, "nine-ball", 1).await;
    let mut ctl = Device::connect(mosquitto, &format!("ctl-{table}")).await;
    // The agent's subscription may still be settling: repeat the break until it is seen.
    let mut seen = false;
    for _ in 0..20 {
        ctl.pocket(&table, 9, 1).await;
        ctl.button(&table, "end_turn").await;
        let got = tokio::time::timeout(
            std::time::Duration::from_millis(500),
            until(&mut screen, &table, |v| !v["match_winner"].is_null()),
        )
        .await;
        if let Ok(view) = got {
            assert_eq!(view["match_winner"], 0);
            seen = true;
            break;
        }
    }
    assert!(seen, "the match played through Mosquitto never finished");
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_gap_is_asked_for_and_counted_when_the_device_restarts_without_filling_it() {
    let dir = data_dir("gap");
    let agent = Agent::start(&dir).await;
    let mut screen = ws(&agent, "?tables=t5").await;
    agent.start_match("t5", "nine-ball", 3).await;
    // Listen where the agent sends device commands.
    let mut commands = Commands::listen(agent.mqtt, "ctl-t5").await;
    let ctl = Device::connect(agent.mqtt, "ctl-t5").await;
    ctl.send_seq("t5", 1, json!({"type": "pocket", "ball": 3, "pocket": 1}))
        .await;
    // Seqs 2..=4 never arrive.
    ctl.send_seq("t5", 5, json!({"type": "pocket", "ball": 4, "pocket": 1}))
        .await;
    assert_eq!(
        commands.next().await,
        json!({"type": "replay", "from_seq": 2, "to_seq": 4})
    );
    // Nobody replays, and the device starts a new boot: it no longer has 2..=4, so the three
    // events are counted and shown, the held seq 5 is applied, then the new boot's seq 1 (a screen
    // may see them in one conflated view).
    ctl.send_seq(
        "t5",
        1,
        json!({"type": "pocket", "ball": 6, "pocket": 1, "boot": "second-boot"}),
    )
    .await;
    let view = until(&mut screen, "t5", |v| {
        v["missing_events"] == 3 && v["shot"]["pocketed"] == json!([3, 4, 6])
    })
    .await;
    assert_eq!(view["missing_events"], 3, "{view}");
    assert!(
        agent
            .running
            .metrics
            .render()
            .lines()
            .any(|l| l == "dojo_events_missing_total 3")
    );
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_replayed_event_is_applied_in_seq_order_and_lands_in_its_shot() {
    let dir = data_dir("reorder");
    let agent = Agent::start(&dir).await;
    let mut screen = ws(&agent, "?tables=t7").await;
    agent.start_match("t7", "nine-ball", 3).await;
    let mut commands = Commands::listen(agent.mqtt, "ctl-t7").await;
    let ctl = Device::connect(agent.mqtt, "ctl-t7").await;
    // The break makes the 1 (seq 1) and the 2 (seq 2), then end_turn (seq 3). Seq 2 is lost on the
    // way and arrives after end_turn, by replay.
    ctl.send_seq("t7", 1, json!({"type": "pocket", "ball": 1, "pocket": 1}))
        .await;
    until(&mut screen, "t7", |v| v["shot"]["pocketed"] == json!([1])).await;
    ctl.send_seq("t7", 3, json!({"type": "button", "button": "end_turn"}))
        .await;
    assert_eq!(
        commands.next().await,
        json!({"type": "replay", "from_seq": 2, "to_seq": 2})
    );
    // end_turn waits for seq 2: the shot is still open with the 1 down.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, held) = agent.get("/api/v1/tables/t7").await;
    assert_eq!(held["shot"]["pocketed"], json!([1]), "{held}");
    assert_eq!(held["break_shot"], true, "{held}");
    ctl.send_seq("t7", 2, json!({"type": "pocket", "ball": 2, "pocket": 4}))
        .await;
    let view = until(&mut screen, "t7", |v| v["break_shot"] == false).await;
    // Both balls count for the break: the breaker stays at the table with two balls made.
    assert_eq!(view["shot"]["pocketed"], json!([]), "{view}");
    assert_eq!(view["stats"][0]["balls_pocketed"], 2, "{view}");
    assert_eq!(view["shooter"], 0, "{view}");
    assert!(
        !view["on_table"]
            .as_array()
            .expect("on_table")
            .iter()
            .any(|b| b == 1 || b == 2),
        "{view}"
    );
    assert_eq!(view["missing_events"], 0, "{view}");
    // The log has the events in seq order.
    assert_eq!(
        sql_count(
            &dir,
            "SELECT COUNT(*) FROM events e1 JOIN events e2 ON e1.device = e2.device \
             WHERE e1.device = 'ctl-t7' AND e1.seq < e2.seq AND e1.device_seq > e2.device_seq"
        ),
        0
    );
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_screen_that_reconnects_with_since_gets_every_missed_change_from_the_log() {
    let dir = data_dir("since");
    let agent = Agent::start(&dir).await;
    let mut screen = ws(&agent, "?tables=t6").await;
    agent.start_match("t6", "nine-ball", 5).await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-t6").await;
    ctl.pocket("t6", 1, 1).await;
    let seen = until(&mut screen, "t6", |v| v["shot"]["pocketed"] == json!([1])).await;
    let last_seen = seen["seq"].as_u64().expect("seq");
    drop(screen);

    // While the screen is away: three more changes.
    ctl.pocket("t6", 2, 2).await;
    ctl.button("t6", "end_turn").await;
    ctl.pocket("t6", 3, 3).await;
    let mut watcher = ws(&agent, "?tables=t6").await;
    until(&mut watcher, "t6", |v| v["shot"]["pocketed"] == json!([3])).await;

    let mut screen = ws(&agent, &format!("?tables=t6&since={last_seen}")).await;
    let mut seqs = Vec::new();
    while seqs.len() < 3 {
        let message = next_json(&mut screen).await;
        assert_eq!(
            message["type"], "update",
            "a catch-up, not a snapshot: {message}"
        );
        seqs.push(message["seq"].as_u64().expect("seq"));
    }
    assert_eq!(
        seqs,
        vec![last_seen + 1, last_seen + 2, last_seen + 3],
        "every missed change, in order"
    );
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_table_light_follows_the_match() {
    let dir = data_dir("light");
    let agent = Agent::start(&dir).await;
    let mut screen = ws(&agent, "?tables=t7").await;
    let mut commands = Commands::listen(agent.mqtt, "ctl-t7").await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-t7").await;
    ctl.send("t7", json!({"type": "heartbeat"})).await;
    until(&mut screen, "t7", |v| v["devices"][0]["device"] == "ctl-t7").await;

    agent.start_match("t7", "nine-ball", 1).await;
    assert_eq!(commands.next().await, json!({"type": "light", "on": true}));
    let (status, _) = agent
        .post(
            "/api/v1/tables/t7/matches/current/actions",
            json!({"action": "concede"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(commands.next().await, json!({"type": "light", "on": false}));
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

/// The `x` of the cue ball in the next positions message.
async fn next_positions_x(screen: &mut Ws) -> Option<f64> {
    loop {
        let message = next_json(screen).await;
        if message["type"] == "positions" {
            return message["event"]["balls"][0]["x"].as_f64();
        }
    }
}

#[tokio::test]
async fn positions_keep_flowing_while_a_camera_gap_holds_its_shot_events() {
    let dir = data_dir("frames-gap");
    let agent = Agent::start(&dir).await;
    let mut screen = ws(&agent, "?tables=t8&positions=true").await;
    let mut commands = Commands::listen(agent.mqtt, "cam-t8").await;
    let cam = Device::connect(agent.mqtt, "cam-t8").await;
    // Positions are f32 on the wire: values it holds exactly.
    let frame = |x: f64| json!({"type": "frame", "balls": [{"n": 0, "x": x, "y": 0.5}]});
    let camera_topic = "dojo/v1/tables/t8/camera";
    let send = |seq: u64, mut event: Value| {
        event["device"] = json!("cam-t8");
        event["seq"] = json!(seq);
        cam.raw(camera_topic, event.to_string().into_bytes())
    };
    send(1, frame(0.125)).await;
    assert_eq!(next_positions_x(&mut screen).await, Some(0.125));
    // Seq 2 is lost: the gap is asked for, the camera's shot_start (seq 4) waits behind it, and
    // later frames still reach the screen.
    send(3, frame(0.375)).await;
    assert_eq!(
        commands.next().await,
        json!({"type": "replay", "from_seq": 2, "to_seq": 2})
    );
    // Well before the gap times out (when held events are released anyway).
    let within = std::time::Duration::from_millis(edge_agent::ingest::GAP_TIMEOUT_MS / 2);
    let shown = tokio::time::timeout(within, next_positions_x(&mut screen)).await;
    assert_eq!(shown.ok().flatten(), Some(0.375), "not held behind the gap");
    send(4, json!({"type": "shot_start"})).await;
    send(5, frame(0.5)).await;
    assert_eq!(next_positions_x(&mut screen).await, Some(0.5));
    // The replay fills the gap; the replayed frame is older than what screens show: not shown.
    send(2, frame(0.25)).await;
    send(6, frame(0.75)).await;
    assert_eq!(next_positions_x(&mut screen).await, Some(0.75));
    // The shot_start held behind the gap was applied once the replay filled it.
    let metrics = agent.running.metrics.render();
    let shot_starts = "dojo_events_accepted_total{kind=\"shot_start\"} 1";
    assert!(metrics.lines().any(|l| l == shot_starts), "{metrics}");
    assert!(!metrics.lines().any(|l| l == "dojo_events_missing_total 1"));
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
