//! Scoring that degrades gracefully, over real MQTT: a camera killed mid-shot (silent, or its
//! status offline), a controller unplugged, devices replaced mid-match, a camera layout that
//! disagrees with a pocket sensor, and `rail_contact` deciding the no-rail foul. Then the layouts
//! kept per shot, read back over HTTP and drawn by the rack replay page in Chromium, and the
//! scoring mode on the TV.

use serde_json::{Value, json};

use crate::helpers::*;
use dojo_testkit::browser::{Browser, chromium_path, click};

/// A camera publishing on `dojo/v1/tables/{table}/camera` with its own seq.
struct Camera {
    device: Device,
    table: String,
    seq: u64,
}

impl Camera {
    async fn connect(agent: &Agent, name: &str, table: &str) -> Camera {
        Camera {
            device: Device::connect(agent.mqtt, name).await,
            table: table.into(),
            seq: 0,
        }
    }

    async fn send(&mut self, mut event: Value) {
        self.seq += 1;
        event["device"] = json!(self.device.name);
        event["seq"] = json!(self.seq);
        self.device
            .raw(
                &format!("dojo/v1/tables/{}/camera", self.table),
                event.to_string().into_bytes(),
            )
            .await;
    }

    async fn shot_start(&mut self, first_contact: u8, rail: bool) {
        self.send(json!({"type": "shot_start"})).await;
        self.send(json!({"type": "first_contact", "ball": first_contact}))
            .await;
        if rail {
            self.send(json!({"type": "rail_contact"})).await;
        }
    }

    /// `shot_end` with these balls at rest (the cue ball too), spread over the table.
    async fn shot_end(&mut self, balls: &[u8]) {
        let balls: Vec<Value> = std::iter::once(0)
            .chain(balls.iter().copied())
            .enumerate()
            .map(|(i, n)| json!({"n": n, "x": 0.125 + (i % 4) as f64 * 0.25, "y": 0.0625 * (i + 1) as f64}))
            .collect();
        self.send(json!({"type": "shot_end", "balls": balls})).await;
    }
}

/// A device's retained-status message, as its last will publishes it.
async fn status(device: &Device, table: &str, kind: &str, online: bool) {
    let status = if online { "online" } else { "offline" };
    let payload = json!({"status": status, "table": table, "kind": kind});
    device
        .raw(
            &format!("dojo/v1/devices/{}/status", device.name),
            payload.to_string().into_bytes(),
        )
        .await;
}

fn flag_kinds(view: &Value) -> Vec<String> {
    view["scoring"]["flags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["kind"].as_str().map(str::to_owned))
        .collect()
}

/// Waits until the agent has the shot in progress with `balls` pocketed: the controller and the
/// camera are two MQTT clients, so nothing orders one's messages after the other's but this.
async fn pocketed(feed: &mut Ws, table: &str, balls: Value) {
    until(feed, table, |v| v["shot"]["pocketed"] == balls).await;
}

/// Waits until the agent has a camera's shot open (see [`pocketed`]).
async fn opened(feed: &mut Ws, table: &str) {
    until(feed, table, |v| v["shot"]["open"] == true).await;
}

fn balls(from: u8, to: u8) -> Value {
    json!((from..=to).collect::<Vec<_>>())
}

/// An agent whose quiet period and camera timeout are short enough for a test.
async fn agent(dir: &std::path::Path) -> Agent {
    Agent::start_with(dir, |config| {
        config.shot_quiet_ms = 500;
        config.camera_shot_timeout_ms = 500;
    })
    .await
}

#[tokio::test]
async fn a_camera_silent_mid_shot_hands_the_shot_to_the_pocket_sensors() {
    let dir = data_dir("fallback-silent");
    let agent = agent(&dir).await;
    let mut feed = ws(&agent, "?tables=f1").await;
    agent.start_match("f1", "nine-ball", 1).await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-f1").await;
    let mut cam = Camera::connect(&agent, "cam-f1", "f1").await;
    ctl.send("f1", json!({"type": "heartbeat"})).await;
    // The break: the camera sees the stroke, the 2 drops, and then the camera dies.
    cam.shot_start(1, true).await;
    until(&mut feed, "f1", |v| v["shot"]["open"] == true).await;
    assert_eq!(
        until(&mut feed, "f1", |v| v["scoring"]["mode"] == "camera").await["scoring"]["mode"],
        "camera"
    );
    ctl.pocket("f1", 2, 3).await;
    // No shot_end: the camera timeout hands the shot over, the quiet period closes it.
    let view = until(&mut feed, "f1", |v| {
        v["on_table"] == json!([1, 3, 4, 5, 6, 7, 8, 9])
    })
    .await;
    assert_eq!(view["shooter"], 0, "Ann made a ball on the break: {view}");
    assert_eq!(view["shot"]["open"], false, "{view}");
    assert!(
        flag_kinds(&view).contains(&"shot_handed_over".to_owned()),
        "{view}"
    );
    assert_eq!(
        agent
            .running
            .metrics
            .scoring_fallback_count("camera_timeout"),
        1
    );
    let metrics = agent.running.metrics.render();
    assert!(
        metrics
            .lines()
            .any(|l| l == "dojo_scoring_fallbacks_total{kind=\"camera_timeout\"} 1"),
        "{metrics}"
    );
    // The match goes on with the pocket sensors, and the score is right.
    ctl.pocket("f1", 1, 1).await;
    ctl.pocket("f1", 9, 4).await;
    ctl.button("f1", "end_turn").await;
    let view = until(&mut feed, "f1", |v| !v["match_winner"].is_null()).await;
    assert_eq!(
        (&view["match_winner"], &view["score"]),
        (&json!(0), &json!([1, 0]))
    );
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_camera_offline_mid_shot_hands_over_at_once_and_the_mode_follows() {
    let dir = data_dir("fallback-offline");
    let agent = agent(&dir).await;
    let mut feed = ws(&agent, "?tables=f2").await;
    agent.start_match("f2", "nine-ball", 2).await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-f2").await;
    let mut cam = Camera::connect(&agent, "cam-f2", "f2").await;
    ctl.send("f2", json!({"type": "heartbeat"})).await;
    cam.shot_start(1, true).await;
    until(&mut feed, "f2", |v| v["shot"]["open"] == true).await;
    // The camera's last will: offline. The shot (nothing down) closes after the quiet period:
    // a miss, Bo's turn; the table is scored by its pocket sensors now.
    status(&cam.device, "f2", "camera", false).await;
    let view = until(&mut feed, "f2", |v| v["shooter"] == 1).await;
    assert_eq!(view["scoring"]["mode"], "sensors", "{view}");
    let kinds = flag_kinds(&view);
    assert!(kinds.contains(&"camera_offline".to_owned()), "{view}");
    assert!(kinds.contains(&"shot_handed_over".to_owned()), "{view}");
    assert_eq!(
        agent
            .running
            .metrics
            .scoring_fallback_count("camera_offline"),
        1
    );
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_controller_unplugged_leaves_the_camera_and_staff_to_score() {
    let dir = data_dir("fallback-controller");
    let agent = agent(&dir).await;
    let mut feed = ws(&agent, "?tables=f3").await;
    agent.start_match("f3", "nine-ball", 2).await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-f3").await;
    let mut cam = Camera::connect(&agent, "cam-f3", "f3").await;
    ctl.send("f3", json!({"type": "heartbeat"})).await;
    cam.send(json!({"type": "heartbeat"})).await;
    until(&mut feed, "f3", |v| {
        v["devices"].as_array().map(Vec::len) == Some(2)
    })
    .await;
    status(&ctl, "f3", "controller", false).await;
    let view = until(&mut feed, "f3", |v| {
        flag_kinds(v).contains(&"controller_offline".to_owned())
    })
    .await;
    assert_eq!(view["scoring"]["mode"], "camera", "{view}");
    assert_eq!(
        agent
            .running
            .metrics
            .scoring_fallback_count("controller_offline"),
        1
    );
    // The camera still closes shots: a dry break, Bo's turn.
    cam.shot_start(1, true).await;
    cam.shot_end(&[1, 2, 3, 4, 5, 6, 7, 8, 9]).await;
    until(&mut feed, "f3", |v| v["shooter"] == 1).await;
    // Staff score by hand: a foul called on Bo gives Ann ball in hand.
    let (status_code, body) = agent
        .post(
            "/api/v1/tables/f3/matches/current/actions",
            json!({"action": "foul"}),
        )
        .await;
    assert_eq!(status_code, 200, "{body}");
    let view = until(&mut feed, "f3", |v| {
        v["shooter"] == 0 && v["ball_in_hand"] == true
    })
    .await;
    assert_eq!(view["scoring"]["mode"], "camera");
    // The camera goes too: nothing is left but staff.
    status(&cam.device, "f3", "camera", false).await;
    let view = until(&mut feed, "f3", |v| v["scoring"]["mode"] == "manual").await;
    let kinds = flag_kinds(&view);
    assert!(
        kinds.contains(&"camera_offline".to_owned())
            && kinds.contains(&"controller_offline".to_owned()),
        "{view}"
    );
    let (status_code, body) = agent
        .post(
            "/api/v1/tables/f3/matches/current/actions",
            json!({"action": "end_turn"}),
        )
        .await;
    assert_eq!(status_code, 200, "{body}");
    until(&mut feed, "f3", |v| v["shooter"] == 1).await;
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn replaced_devices_take_over_without_restarting_the_match() {
    let dir = data_dir("fallback-replaced");
    let agent = agent(&dir).await;
    let mut feed = ws(&agent, "?tables=f4").await;
    let started = agent.start_match("f4", "nine-ball", 2).await;
    let match_id = started["match"]["match_id"].clone();
    let mut old_ctl = Device::connect(agent.mqtt, "ctl-f4-old").await;
    let mut old_cam = Camera::connect(&agent, "cam-f4-old", "f4").await;
    // The break, bracketed by the old camera: the 2 drops; the old camera never ends the shot.
    old_cam.shot_start(1, true).await;
    opened(&mut feed, "f4").await;
    old_ctl.pocket("f4", 2, 1).await;
    until(&mut feed, "f4", |v| v["shot"]["pocketed"] == json!([2])).await;
    // A new camera starts the next stroke: the old bracket closes first (Ann made the 2 and
    // stays), then the new camera's shot goes on.
    let mut new_cam = Camera::connect(&agent, "cam-f4-new", "f4").await;
    new_cam.shot_start(1, true).await;
    let view = until(&mut feed, "f4", |v| {
        v["on_table"] == json!([1, 3, 4, 5, 6, 7, 8, 9]) && v["shot"]["open"] == true
    })
    .await;
    assert_eq!(view["shooter"], 0, "{view}");
    // The old controller is unplugged; a new one, a new id, reports the balls of this shot.
    status(&old_ctl, "f4", "controller", false).await;
    let mut new_ctl = Device::connect(agent.mqtt, "ctl-f4-new").await;
    new_ctl.pocket("f4", 1, 5).await;
    pocketed(&mut feed, "f4", json!([1])).await;
    new_cam.shot_end(&[3, 4, 5, 6, 7, 8, 9]).await;
    let view = until(&mut feed, "f4", |v| v["on_table"] == balls(3, 9)).await;
    assert_eq!(view["shooter"], 0, "{view}");
    assert_eq!(
        view["match"]["match_id"], match_id,
        "the same match: {view}"
    );
    assert_eq!(view["scoring"]["mode"], "camera", "{view}");
    assert!(
        flag_kinds(&view).is_empty(),
        "the successors are online: {view}"
    );
    let metrics = &agent.running.metrics;
    assert_eq!(metrics.scoring_fallback_count("camera_replaced"), 1);
    assert_eq!(metrics.scoring_fallback_count("controller_replaced"), 1);
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_camera_that_disagrees_with_a_pocket_sensor_is_flagged_and_the_layout_kept() {
    let dir = data_dir("fallback-layout");
    let agent = agent(&dir).await;
    let mut feed = ws(&agent, "?tables=f5").await;
    let started = agent.start_match("f5", "nine-ball", 2).await;
    let match_id = started["match"]["match_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let mut ctl = Device::connect(agent.mqtt, "ctl-f5").await;
    let mut cam = Camera::connect(&agent, "cam-f5", "f5").await;
    // The break: the 2 reported by its pocket, and the camera agrees.
    cam.shot_start(1, true).await;
    opened(&mut feed, "f5").await;
    ctl.pocket("f5", 2, 3).await;
    pocketed(&mut feed, "f5", json!([2])).await;
    cam.shot_end(&[1, 3, 4, 5, 6, 7, 8, 9]).await;
    until(&mut feed, "f5", |v| {
        v["on_table"] == json!([1, 3, 4, 5, 6, 7, 8, 9])
    })
    .await;
    // Next: the pocket reports the 1, but the camera still sees it, and the 5 is gone.
    cam.shot_start(1, true).await;
    opened(&mut feed, "f5").await;
    ctl.pocket("f5", 1, 2).await;
    pocketed(&mut feed, "f5", json!([1])).await;
    cam.shot_end(&[1, 3, 4, 6, 7, 8, 9]).await;
    let view = until(&mut feed, "f5", |v| {
        flag_kinds(v).contains(&"layout_mismatch".to_owned())
    })
    .await;
    let flag = view["scoring"]["flags"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["kind"] == "layout_mismatch"))
        .cloned()
        .expect("the flag");
    assert_eq!(
        (&flag["still_seen"], &flag["unreported"]),
        (&json!([1]), &json!([5])),
        "{flag}"
    );
    // The rules went with the pocket sensor; staff decide.
    assert_eq!(view["on_table"], json!([3, 4, 5, 6, 7, 8, 9]), "{view}");
    let metrics = agent.running.metrics.render();
    assert!(
        metrics
            .lines()
            .any(|l| l == "dojo_scoring_layout_mismatches_total 1"),
        "{metrics}"
    );

    // The layouts, per rack and shot.
    let (status_code, layouts) = agent
        .get(&format!("/api/v1/matches/{match_id}/layouts"))
        .await;
    assert_eq!(status_code, 200, "{layouts}");
    assert_eq!(layouts["match_id"], match_id);
    assert_eq!(layouts["table"], "f5");
    let shots = &layouts["racks"][0]["shots"];
    assert_eq!(layouts["racks"][0]["rack"], 1, "{layouts}");
    assert_eq!(shots.as_array().map(Vec::len), Some(2), "{layouts}");
    assert_eq!(shots[0]["pocketed"], json!([2]));
    assert_eq!(shots[0]["balls"].as_array().map(Vec::len), Some(9));
    assert_eq!(shots[0]["flags"], json!([]));
    assert_eq!(shots[1]["pocketed"], json!([1]));
    assert_eq!(shots[1]["flags"][0]["kind"], "layout_mismatch");
    assert_eq!(
        shots[1]["balls"][0],
        json!({"n": 0, "x": 0.125, "y": 0.0625})
    );
    let (status_code, body) = agent.get("/api/v1/matches/nope-1/layouts").await;
    assert_eq!(status_code, 404, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let (status_code, body) = agent.get("/api/v1/matches/not%20an%20id/layouts").await;
    assert_eq!(status_code, 400, "{body}");

    // The rack replay page draws each shot's layout; the TV shows the scoring mode.
    let _ = chromium_path();
    let mut browser = Browser::launch().await;
    let replay = browser
        .open(&agent.url(&format!("/matches/{match_id}/replay?rack=1")))
        .await;
    let drawn = r##"(() => ({
        balls: document.querySelectorAll("#table .ball").length,
        step: document.getElementById("step").textContent,
        warnings: [...document.querySelectorAll("#shot .warning")].map((e) => e.textContent),
    }))()"##;
    let shown = browser
        .wait_for(&replay, drawn, "the break's layout", |v| v["balls"] == 9)
        .await;
    assert_eq!(shown["step"], "Rack 1 · shot 1 of 2", "{shown}");
    assert_eq!(shown["warnings"], json!([]), "{shown}");
    assert_eq!(browser.eval(&replay, &click("#next")).await, true);
    let shown = browser
        .wait_for(&replay, drawn, "the second shot's layout", |v| {
            v["balls"] == 8
        })
        .await;
    assert_eq!(shown["step"], "Rack 1 · shot 2 of 2", "{shown}");
    assert!(
        shown["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("still sees 1")),
        "{shown}"
    );
    let tv = browser.open(&agent.url("/tables/f5")).await;
    let mode = r##"(() => { const el = document.getElementById("scoring-mode");
        return el ? [el.dataset.mode, el.textContent] : null; })()"##;
    let shown = browser
        .wait_for(&tv, mode, "the scoring mode", |v| !v.is_null())
        .await;
    assert_eq!(shown, json!(["camera", "Camera scoring"]));
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn rail_contact_decides_the_no_rail_foul_end_to_end() {
    let dir = data_dir("fallback-rail");
    let agent = agent(&dir).await;
    let mut feed = ws(&agent, "?tables=f6").await;
    agent.start_match("f6", "nine-ball", 2).await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-f6").await;
    let mut cam = Camera::connect(&agent, "cam-f6", "f6").await;
    // The break: the 2 drops; Ann stays at the table.
    cam.shot_start(1, true).await;
    opened(&mut feed, "f6").await;
    ctl.pocket("f6", 2, 3).await;
    pocketed(&mut feed, "f6", json!([2])).await;
    cam.shot_end(&[1, 3, 4, 5, 6, 7, 8, 9]).await;
    until(&mut feed, "f6", |v| {
        v["on_table"] == json!([1, 3, 4, 5, 6, 7, 8, 9])
    })
    .await;
    // Ann hits the 1, nothing reaches a rail, nothing drops: a foul, Bo has ball in hand.
    cam.shot_start(1, false).await;
    cam.shot_end(&[1, 3, 4, 5, 6, 7, 8, 9]).await;
    let view = until(&mut feed, "f6", |v| v["shooter"] == 1).await;
    assert_eq!(view["foul"], true, "{view}");
    assert_eq!(view["foul_reasons"], json!(["no_rail"]), "{view}");
    assert_eq!(view["ball_in_hand"], true, "{view}");
    // Bo hits the 1 and a ball reaches a rail: a legal miss, no foul.
    cam.shot_start(1, true).await;
    cam.shot_end(&[1, 3, 4, 5, 6, 7, 8, 9]).await;
    let view = until(&mut feed, "f6", |v| v["shooter"] == 0).await;
    assert_eq!(view["foul"], false, "{view}");
    assert_eq!(view["ball_in_hand"], false, "{view}");
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_demo_shows_all_three_scoring_modes_and_its_camera_keeps_layouts() {
    use edge_agent::demo::{DemoBroker, DemoOptions, run_with};
    let dir = data_dir("fallback-demo");
    let agent = Agent::start(&dir).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let demo = tokio::spawn(run_with(
        DemoBroker::from(agent.mqtt),
        agent.running.engine.clone(),
        vec!["d1".into(), "d2".into(), "d3".into()],
        DemoOptions { speed: 8.0 },
        shutdown.clone(),
    ));
    // d1: a controller only; d2: a controller and a camera; d3: nothing, scored through the engine.
    let sensors = poll_table(&agent, "d1", |v| {
        v["scoring"]["mode"] == "sensors" && v["status"] == "playing"
    })
    .await;
    assert_eq!(sensors["devices"][0]["device"], "sim-d1", "{sensors}");
    let manual = poll_table(&agent, "d3", |v| v["status"] == "playing").await;
    assert_eq!(manual["scoring"]["mode"], "manual", "{manual}");
    let camera = poll_table(&agent, "d2", |v| {
        v["scoring"]["mode"] == "camera" && v["stats"][0]["innings"].as_u64().unwrap_or(0) >= 2
    })
    .await;
    let match_id = camera["match"]["match_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    // The camera brackets the shots and its layouts agree with the controller's pockets.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let shots = loop {
        let (status_code, layouts) = agent
            .get(&format!("/api/v1/matches/{match_id}/layouts"))
            .await;
        assert_eq!(status_code, 200, "{layouts}");
        let shots: Vec<Value> = layouts["racks"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["shots"].as_array().cloned().unwrap_or_default())
            .collect();
        if shots.len() >= 3 {
            break shots;
        }
        assert!(std::time::Instant::now() < deadline, "{layouts}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    for shot in &shots {
        assert_eq!(shot["flags"], json!([]), "{shot}");
        assert!(
            shot["balls"].as_array().is_some_and(|b| !b.is_empty()),
            "{shot}"
        );
    }
    shutdown.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(10), demo)
        .await
        .expect("the demo stops")
        .ok();
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

/// Polls `GET /api/v1/tables/{table}` until `done` holds, for up to 60 s (a loaded machine runs
/// the demo slowly); panics with the last view.
async fn poll_table(agent: &Agent, table: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, view) = agent.get(&format!("/api/v1/tables/{table}")).await;
        if done(&view) {
            return view;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{table} never got there: {view}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
