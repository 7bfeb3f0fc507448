//! Table-time sessions: staff start and stop them over REST (token, JSON errors), the view shows
//! them, the table light follows "a match in play or a session running", and a restart keeps them.

use serde_json::{Value, json};

use crate::helpers::*;

async fn post_empty(
    agent: &Agent,
    path: &str,
    token: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new().post(agent.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("HTTP answers");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned);
    (
        status,
        location,
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn sessions_switch_the_light_with_matches_and_refuse_what_makes_no_sense() {
    let dir = data_dir("session");
    let agent = Agent::start(&dir).await;
    let mut screen = ws(&agent, "?tables=s1").await;
    let mut commands = Commands::listen(agent.mqtt, "ctl-s1").await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-s1").await;
    ctl.send("s1", json!({"type": "heartbeat"})).await;
    until(&mut screen, "s1", |v| v["devices"][0]["device"] == "ctl-s1").await;

    let start = "/api/v1/tables/s1/sessions";
    let stop = "/api/v1/tables/s1/sessions/current/stop";
    let (status, _, body) = post_empty(&agent, start, None).await;
    assert_eq!(status, 401);
    assert!(body["error"].is_string(), "{body}");
    let (status, _, body) = post_empty(&agent, stop, Some(TOKEN)).await;
    assert_eq!(status, 409, "nothing to stop yet");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("no session")),
        "{body}"
    );
    let (status, _, body) =
        post_empty(&agent, "/api/v1/tables/bad%20id/sessions", Some(TOKEN)).await;
    assert_eq!(status, 400, "{body}");

    let before = edge_agent::clock::now_ms();
    let (status, location, view) = post_empty(&agent, start, Some(TOKEN)).await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(location.as_deref(), Some("/api/v1/tables/s1"));
    let started = view["session"]["started_ms"].as_u64().expect("started_ms");
    assert!(
        started >= before && started <= edge_agent::clock::now_ms(),
        "{view}"
    );
    assert_eq!(view["session"]["stopped_ms"], Value::Null);
    assert_eq!(view["status"], "idle", "a session needs no match");
    assert_eq!(commands.next().await, json!({"type": "light", "on": true}));
    let (status, _, body) = post_empty(&agent, start, Some(TOKEN)).await;
    assert_eq!(status, 409, "one session at a time: {body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("already has a session"))
    );

    // A match starts and ends during the session: the light stays on.
    agent.start_match("s1", "nine-ball", 1).await;
    let (status, _) = agent
        .post(
            "/api/v1/tables/s1/matches/current/actions",
            json!({"action": "concede"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, shown) = agent.get("/api/v1/tables/s1").await;
    assert_eq!(shown["status"], "finished");
    assert_eq!(shown["session"]["started_ms"], started, "{shown}");

    // The session stops: now nothing is left, the light goes off (the first command since "on").
    let (status, _, view) = post_empty(&agent, stop, Some(TOKEN)).await;
    assert_eq!(status, 200, "{view}");
    let stopped = view["session"]["stopped_ms"].as_u64().expect("stopped_ms");
    assert_eq!(
        view["session"]["elapsed_ms"].as_u64(),
        Some(stopped - started)
    );
    assert_eq!(commands.next().await, json!({"type": "light", "on": false}));
    let (status, _, _) = post_empty(&agent, stop, Some(TOKEN)).await;
    assert_eq!(status, 409, "already stopped");

    // A match alone lights the table; a session started during it keeps the light on after it.
    agent.start_match("s1", "nine-ball", 1).await;
    assert_eq!(commands.next().await, json!({"type": "light", "on": true}));
    let (status, _, _) = post_empty(&agent, start, Some(TOKEN)).await;
    assert_eq!(status, 201);
    agent
        .post(
            "/api/v1/tables/s1/matches/current/actions",
            json!({"action": "concede"}),
        )
        .await;
    post_empty(&agent, stop, Some(TOKEN)).await;
    assert_eq!(
        commands.next().await,
        json!({"type": "light", "on": false}),
        "off only once neither is left"
    );
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_session_started_before_a_match_survives_a_restart() {
    let dir = data_dir("session-restart");
    let agent = Agent::start(&dir).await;
    let (status, _, started) = post_empty(&agent, "/api/v1/tables/s2/sessions", Some(TOKEN)).await;
    assert_eq!(status, 201);
    // The match starts after the session, so replaying from the match start does not see it.
    agent.start_match("s2", "eight-ball", 2).await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-s2").await;
    let mut screen = ws(&agent, "?tables=s2").await;
    ctl.pocket("s2", 3, 1).await;
    until(&mut screen, "s2", |v| v["shot"]["pocketed"] == json!([3])).await;
    let (_, before) = agent.get("/api/v1/tables/s2").await;
    agent.stop().await;

    let agent = Agent::start(&dir).await;
    let (status, after) = agent.get("/api/v1/tables/s2").await;
    assert_eq!(status, 200);
    assert_eq!(
        after, before,
        "the whole view comes back, the session included"
    );
    assert_eq!(
        after["session"]["started_ms"],
        started["session"]["started_ms"]
    );
    assert_eq!(after["session"]["stopped_ms"], Value::Null, "still running");
    let (status, _, stopped) = post_empty(
        &agent,
        "/api/v1/tables/s2/sessions/current/stop",
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{stopped}");
    agent.stop().await;

    let agent = Agent::start(&dir).await;
    let (_, again) = agent.get("/api/v1/tables/s2").await;
    assert_eq!(
        again, stopped,
        "a stop is kept too, and the view seq with it"
    );
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
