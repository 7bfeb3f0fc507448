//! The shot clock in the real agent: its timer logs the expiry, which the rules make a foul with
//! ball in hand; staff pause it; and all of it comes back the same after a restart.

use serde_json::{Value, json};

use crate::helpers::*;

fn clock_match(first_shot_seconds: u32) -> Value {
    json!({"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 3,
           "rules": {"shot_clock": {"seconds": 30, "first_shot_seconds": first_shot_seconds,
                                    "extension_seconds": 25, "warning_seconds": 0}}})
}

async fn clock_action(agent: &Agent, table: &str, action: &str) -> (u16, Value) {
    agent
        .post(
            &format!("/api/v1/tables/{table}/matches/current/actions"),
            json!({"action": action}),
        )
        .await
}

#[tokio::test]
async fn the_shot_clock_expires_into_a_foul_with_ball_in_hand_and_survives_a_restart() {
    let dir = data_dir("shot-clock");
    let agent = Agent::start(&dir).await;
    let mut feed = ws(&agent, "?tables=sc1").await;
    let view = agent.start_match_spec("sc1", &clock_match(1)).await;
    assert_eq!(
        view["shot_clock"]["running"], false,
        "the break is not timed: {view}"
    );
    assert_eq!(
        view["shot_clock"]["rules"]["seconds"], 30,
        "the options are shown: {view}"
    );

    // Ann makes the 1 on the break (sensors only): she is at the table, with 1 s for the first
    // shot after the break, and lets it run out.
    let mut ctl = Device::connect(agent.mqtt, "ctl-sc1").await;
    ctl.pocket("sc1", 1, 2).await;
    ctl.button("sc1", "end_turn").await;
    let running = until_within(&mut feed, "sc1", 10, |v| v["shot_clock"]["running"] == true).await;
    assert_eq!(
        (&running["shooter"], &running["shot_clock"]["first_shot"]),
        (&json!(0), &json!(true)),
        "{running}"
    );
    let fouled = until_within(&mut feed, "sc1", 10, |v| v["foul"] == true).await;
    assert_eq!(fouled["foul_reasons"], json!(["shot_clock"]), "{fouled}");
    assert_eq!(
        (&fouled["shooter"], &fouled["ball_in_hand"]),
        (&json!(1), &json!(true)),
        "Bo comes to the table with ball in hand: {fouled}"
    );
    assert_eq!(fouled["consecutive_fouls"], json!([1, 0]), "{fouled}");
    let clock = &fouled["shot_clock"];
    assert_eq!(
        (&clock["running"], &clock["shooter"], &clock["first_shot"]),
        (&json!(true), &json!(1), &json!(false)),
        "Bo's 30 s run from the foul: {fouled}"
    );
    assert!(
        clock["deadline_ms"].as_u64() >= clock["as_of_ms"].as_u64().map(|t| t + 29_000),
        "{fouled}"
    );

    // Staff hold the clock; a second pause is refused with the reason.
    let (status, paused) = clock_action(&agent, "sc1", "shot_clock_pause").await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["shot_clock"]["paused"], true, "{paused}");
    let (status, body) = clock_action(&agent, "sc1", "shot_clock_pause").await;
    assert_eq!(
        (status, &body["error"]),
        (409, &json!("the shot clock is already paused")),
        "{body}"
    );
    let (_, before) = agent.get("/api/v1/tables/sc1").await;
    agent.stop().await;

    // After a restart: the same foul, the same ball in hand, the same held clock.
    let agent = Agent::start(&dir).await;
    let (status, after) = agent.get("/api/v1/tables/sc1").await;
    assert_eq!(status, 200);
    assert_eq!(after, before, "the replay rebuilds the clock exactly");
    let (status, resumed) = clock_action(&agent, "sc1", "shot_clock_resume").await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["shot_clock"]["running"], true, "{resumed}");
    let (status, extended) = clock_action(&agent, "sc1", "shot_clock_extension").await;
    assert_eq!(status, 200, "{extended}");
    assert_eq!(
        extended["shot_clock"]["extensions_left"],
        json!([1, 0]),
        "{extended}"
    );
    assert_eq!(extended["shot_clock"]["allowance_ms"], 55_000, "{extended}");
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn clock_actions_need_staff_and_a_match_with_a_clock() {
    let dir = data_dir("shot-clock-refusals");
    let agent = Agent::start(&dir).await;
    agent.start_match("sc2", "nine-ball", 3).await;
    let (status, body) = clock_action(&agent, "sc2", "shot_clock_pause").await;
    assert_eq!(
        (status, &body["error"]),
        (409, &json!("this match has no shot clock")),
        "{body}"
    );
    let (_, view) = agent.get("/api/v1/tables/sc2").await;
    assert_eq!(view["shot_clock"], Value::Null, "{view}");
    // Without the staff token: 401, nothing applied.
    let response = reqwest::Client::new()
        .post(agent.url("/api/v1/tables/sc2/matches/current/actions"))
        .json(&json!({"action": "shot_clock_pause"}))
        .send()
        .await
        .expect("HTTP answers");
    assert_eq!(response.status().as_u16(), 401);
    // A clock option out of range is refused when the match starts.
    let mut spec = clock_match(60);
    spec["rules"]["shot_clock"]["seconds"] = json!(0);
    let (status, body) = agent.post("/api/v1/tables/sc3/matches", spec).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("shot_clock.seconds")),
        "{body}"
    );
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
