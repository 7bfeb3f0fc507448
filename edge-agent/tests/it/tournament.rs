//! Tournaments at the venue through the API and MQTT: who may do what, the draft, a bracket
//! played by itself on tables scored by their devices (a result by hand and a correction on the
//! way), a no-show forfeited only after the call timeout, and a restart that keeps it all.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

/// `method` on `path`, as staff (`token`) or anonymously; the status and the JSON body.
async fn call(agent: &Agent, method: &str, path: &str, token: bool, body: Value) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = reqwest::Client::new().request(method, agent.url(path));
    if !body.is_null() {
        request = request.json(&body);
    }
    if token {
        request = request.bearer_auth(TOKEN);
    }
    let response = request.send().await.expect("HTTP answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Makes a tournament of `players` (all checked in) on `tables`; its id.
async fn draft(
    agent: &Agent,
    format: &str,
    players: &[&str],
    tables: &[&str],
    race: u32,
) -> String {
    let (status, view) = call(
        agent,
        "POST",
        "/api/v1/tournaments",
        true,
        json!({"name": "Friday 9-ball", "format": format, "game": "nine-ball",
               "options": {"race": {"to": race}}, "entrants": players, "tables": tables}),
    )
    .await;
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().expect("an id").to_owned();
    for player in players {
        let (status, body) = call(
            agent,
            "POST",
            &format!("/api/v1/tournaments/{id}/check-in"),
            true,
            json!({"name": player}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    id
}

async fn view(agent: &Agent, id: &str) -> Value {
    let (status, view) = agent.get(&format!("/api/v1/tournaments/{id}")).await;
    assert_eq!(status, 200, "{view}");
    view
}

/// Polls the tournament until `done` holds (20 s at most).
async fn view_until(agent: &Agent, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let view = view(agent, id).await;
        if done(&view) {
            return view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} within 20 s: {view}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn anonymous_callers_get_401_on_every_staff_route_and_anyone_reads() {
    let dir = data_dir("tournament-auth");
    let agent = Agent::start(&dir).await;
    let id = draft(&agent, "single-elimination", &["Ann", "Bo"], &["t1"], 1).await;
    let writes = [
        (
            "POST",
            "/api/v1/tournaments".to_owned(),
            json!({"name": "x", "format": "swiss"}),
        ),
        (
            "POST",
            format!("/api/v1/tournaments/{id}/entrants"),
            json!({"name": "Cy"}),
        ),
        (
            "DELETE",
            format!("/api/v1/tournaments/{id}/entrants/Ann"),
            Value::Null,
        ),
        (
            "POST",
            format!("/api/v1/tournaments/{id}/check-in"),
            json!({"name": "Ann"}),
        ),
        (
            "PUT",
            format!("/api/v1/tournaments/{id}/seeds"),
            json!({"players": ["Bo", "Ann"]}),
        ),
        (
            "POST",
            format!("/api/v1/tournaments/{id}/start"),
            Value::Null,
        ),
        (
            "POST",
            format!("/api/v1/tournaments/{id}/entries"),
            json!({"withdraw": "Ann"}),
        ),
        (
            "PUT",
            format!("/api/v1/tournaments/{id}/reserved/t1"),
            json!({"matches": ["W1-1"]}),
        ),
    ];
    for (method, path, body) in &writes {
        let (status, answer) = call(&agent, method, path, false, body.clone()).await;
        assert_eq!(status, 401, "{method} {path}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    // Nothing changed; the reads are public.
    let (status, list) = agent.get("/api/v1/tournaments").await;
    assert_eq!(status, 200);
    assert_eq!(
        list["tournaments"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
    let shown = view(&agent, &id).await;
    assert_eq!(shown["status"], "draft");
    assert_eq!(shown["entrants"].as_array().map(Vec::len), Some(2));
    let (status, page) = reqwest::get(agent.url(&format!("/tournaments/{id}")))
        .await
        .map(|r| (r.status().as_u16(), r))
        .expect("the page");
    assert_eq!(status, 200);
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let (status, _) = agent.get("/api/v1/tournaments/nope").await;
    assert_eq!(status, 404);
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn staff_run_the_draft_and_bad_input_is_refused_with_json() {
    let dir = data_dir("tournament-draft");
    let agent = Agent::start(&dir).await;
    let id = draft(&agent, "double-elimination", &["Ann", "Bo", "Cy"], &[], 3).await;
    let base = format!("/api/v1/tournaments/{id}");
    let (status, body) = call(
        &agent,
        "POST",
        &format!("{base}/entrants"),
        true,
        json!({"name": "ann"}),
    )
    .await;
    assert_eq!(status, 409, "entered twice: {body}");
    let (status, body) = call(
        &agent,
        "POST",
        &format!("{base}/entrants"),
        true,
        json!({"name": "Dee"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        &agent,
        "PUT",
        &format!("{base}/seeds"),
        true,
        json!({"players": ["Dee"]}),
    )
    .await;
    assert_eq!(status, 422, "Dee is not checked in: {body}");
    let (status, body) = call(
        &agent,
        "PUT",
        &format!("{base}/seeds"),
        true,
        json!({"players": ["Cy", "Ann"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["seeds"], json!(["Cy", "Ann", "Bo"]));
    let (status, body) = call(
        &agent,
        "DELETE",
        &format!("{base}/entrants/Zed"),
        true,
        Value::Null,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = call(
        &agent,
        "POST",
        "/api/v1/tournaments",
        true,
        json!({"name": "x", "format": "knockout"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = call(
        &agent,
        "POST",
        "/api/v1/tournaments",
        true,
        json!({"name": "<b>x</b>\u{7}", "format": "swiss"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = call(
        &agent,
        "POST",
        &format!("{base}/entries"),
        true,
        json!({"withdraw": "Ann"}),
    )
    .await;
    assert_eq!(status, 409, "not started: {body}");
    let (status, body) = call(
        &agent,
        "POST",
        "/api/v1/tournaments/none/start",
        true,
        Value::Null,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    // Kept through a restart.
    agent.stop().await;
    let agent = Agent::start(&dir).await;
    let shown = view(&agent, &id).await;
    assert_eq!(shown["seeds"], json!(["Cy", "Ann", "Bo"]));
    assert_eq!(shown["entrants"].as_array().map(Vec::len), Some(4));
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

/// Plays whatever is called on `table`: seat `winner` wins a race-to-1 nine-ball match with the
/// 9 (seat 0 on the break, seat 1 after a dry break).
async fn play_called(ctl: &mut Device, table: &str, winner: u64) {
    if winner == 1 {
        ctl.button(table, "end_turn").await;
        ctl.pocket(table, 1, 3).await;
    }
    ctl.pocket(table, 9, 4).await;
    ctl.button(table, "end_turn").await;
}

#[tokio::test]
async fn a_bracket_plays_itself_on_tables_scored_by_their_devices() {
    let dir = data_dir("tournament-play");
    let agent = Agent::start(&dir).await;
    let players = ["P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8"];
    let id = draft(&agent, "single-elimination", &players, &["t1", "t2"], 1).await;
    let (status, started) = call(
        &agent,
        "POST",
        &format!("/api/v1/tournaments/{id}/start"),
        true,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let mut devices = [
        Device::connect(agent.mqtt, "ctl-t1").await,
        Device::connect(agent.mqtt, "ctl-t2").await,
    ];
    let mut played = Vec::new();
    let mut corrected = false;
    for _ in 0..64 {
        let shown = view_until(&agent, &id, "a call or the end", |v| {
            v["status"] == "complete"
                || v["calls"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| !played.contains(&c["table_match"])))
        })
        .await;
        if shown["status"] == "complete" {
            break;
        }
        let calls: Vec<Value> = (shown["calls"].as_array().cloned().unwrap_or_default())
            .into_iter()
            .filter(|c| !played.contains(&c["table_match"]))
            .collect();
        for c in &calls {
            let table = c["table"].as_str().expect("a table");
            assert_eq!(c["race_to"], 1, "{c}");
            // The table shows the tournament's match.
            let (_, on_table) = agent.get(&format!("/api/v1/tables/{table}")).await;
            assert_eq!(
                on_table["match"]["tournament"]["bracket_match"], c["bracket_match"],
                "{on_table}"
            );
            assert_eq!(on_table["match"]["players"], c["players"]);
            let device = if table == "t1" {
                &mut devices[0]
            } else {
                &mut devices[1]
            };
            let winner = (played.len() % 2) as u64;
            play_called(device, table, winner).await;
            played.push(c["table_match"].clone());
        }
        // Once, staff correct a finished first-round result by hand: the later match that
        // depended on it is reset (and called again when ready).
        if !corrected && played.len() >= 4 {
            let shown = view_until(&agent, &id, "first round done", |v| {
                v["bracket"]["matches"].as_array().is_some_and(|m| {
                    m.iter()
                        .filter(|m| m["round"] == 1 && m["status"] == "done")
                        .count()
                        == 4
                })
            })
            .await;
            let first = shown["bracket"]["matches"]
                .as_array()
                .and_then(|m| m.iter().find(|m| m["id"] == "W1-1"))
                .cloned()
                .expect("W1-1");
            let loser = if first["winner"] == first["players"][0] {
                1
            } else {
                0
            };
            let score = if loser == 1 {
                json!([0, 1])
            } else {
                json!([1, 0])
            };
            let (status, body) = call(
                &agent,
                "POST",
                &format!("/api/v1/tournaments/{id}/entries"),
                true,
                json!({"correct": {"match": "W1-1", "winner": first["players"][loser], "score": score}}),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            corrected = true;
        }
    }
    let done = view_until(&agent, &id, "the end", |v| v["status"] == "complete").await;
    assert!(done["champion"].is_string(), "{done}");
    assert!(corrected);
    let finished = sql_count(
        &dir,
        "SELECT COUNT(*) FROM outbox WHERE kind = 'match_started' AND payload LIKE '%\"tournament\"%'",
    );
    assert!(
        finished >= 7,
        "every table match names its tournament match: {finished}"
    );
    let ordinals = sql_count(
        &dir,
        "SELECT COUNT(DISTINCT json_extract(payload, '$.ordinal')) FROM outbox WHERE kind = 'tournament_entered'",
    );
    let max = sql_count(
        &dir,
        "SELECT MAX(json_extract(payload, '$.ordinal')) FROM outbox WHERE kind = 'tournament_entered'",
    );
    assert_eq!(ordinals, max, "ordinals 1.. without gaps");
    assert_eq!(
        sql_count(
            &dir,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'tournament_started'"
        ),
        1
    );
    agent.stop().await;
    // The restart replays the same tournament.
    let agent = Agent::start(&dir).await;
    assert_eq!(view(&agent, &id).await["bracket"], done["bracket"]);
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_no_show_is_forfeited_only_after_the_call_timeout_and_the_table_goes_to_the_next_match() {
    for (timeout_s, expected) in [(600, 409), (0, 200)] {
        let dir = data_dir("tournament-noshow");
        let agent =
            Agent::start_with(&dir, |config| config.call_timeout_ms = timeout_s * 1000).await;
        let id = draft(
            &agent,
            "single-elimination",
            &["Ann", "Bo", "Cy", "Dee"],
            &["t3"],
            2,
        )
        .await;
        call(
            &agent,
            "POST",
            &format!("/api/v1/tournaments/{id}/start"),
            true,
            Value::Null,
        )
        .await;
        let shown = view_until(&agent, &id, "a call", |v| {
            v["calls"].as_array().is_some_and(|c| c.len() == 1)
        })
        .await;
        let called = shown["calls"][0].clone();
        let (status, body) = call(
            &agent,
            "POST",
            &format!("/api/v1/tournaments/{id}/entries"),
            true,
            json!({"forfeit": {"match": called["bracket_match"], "player": called["players"][1]}}),
        )
        .await;
        assert_eq!(status, expected, "{body}");
        if expected == 200 {
            // The called table match is voided, the table takes the next match.
            let next = view_until(&agent, &id, "the next call", |v| {
                v["calls"].as_array().is_some_and(|c| {
                    c.len() == 1 && c[0]["bracket_match"] != called["bracket_match"]
                })
            })
            .await;
            assert_eq!(next["calls"][0]["table"], "t3");
            let voided = sql_count(
                &dir,
                "SELECT COUNT(*) FROM outbox WHERE kind = 'match_voided'",
            );
            assert_eq!(voided, 1);
        }
        agent.stop().await;
        std::fs::remove_dir_all(dir).ok();
    }
}

/// What the tournament page shows, read off the rendered DOM.
const PAGE: &str = r##"(() => {
  const text = (el) => el ? el.textContent.trim() : null;
  const all = (sel) => [...document.querySelectorAll(sel)];
  return {
    link: text(document.getElementById("link")),
    name: text(document.getElementById("t-name")),
    names: all("#bracket .db-name").map(text),
    winners: all("#bracket .db-winner .db-name").map(text),
    calls: all("#t-calls .t-players").map(text),
    images: document.querySelectorAll("img").length,
  };
})()"##;

#[tokio::test]
async fn the_bracket_page_shows_the_players_and_follows_play_live_in_chromium() {
    let _chromium = dojo_testkit::browser::chromium_path();
    let dir = data_dir("tournament-page");
    let agent = Agent::start(&dir).await;
    let evil = "<img src=x onerror=alert(1)>";
    let id = draft(
        &agent,
        "single-elimination",
        &["Ann", evil, "Cy", "Dee"],
        &["t7"],
        1,
    )
    .await;
    call(
        &agent,
        "POST",
        &format!("/api/v1/tournaments/{id}/start"),
        true,
        Value::Null,
    )
    .await;
    let mut browser = dojo_testkit::browser::Browser::launch().await;
    let page = browser
        .open(&agent.url(&format!("/tournaments/{id}")))
        .await;
    let shown = browser
        .wait_for(&page, PAGE, "the bracket and the call", |v| {
            v["link"] == "Live" && v["calls"].as_array().is_some_and(|c| c.len() == 1)
        })
        .await;
    assert_eq!(shown["name"], "Friday 9-ball", "{shown:#}");
    for player in ["Ann", evil, "Cy", "Dee"] {
        assert!(
            shown["names"]
                .as_array()
                .is_some_and(|n| n.iter().any(|n| n == player)),
            "{player} shown as text: {shown:#}"
        );
    }
    assert_eq!(shown["images"], 0, "a name is never markup: {shown:#}");
    let called = view(&agent, &id).await["calls"][0].clone();
    assert_eq!(
        shown["calls"][0],
        format!(
            "called: {} v {}, race to 1",
            called["players"][0].as_str().unwrap_or(""),
            called["players"][1].as_str().unwrap_or("")
        ),
        "{shown:#}"
    );
    // The table's TV and the overview say the same until the break.
    let line = format!(
        "Called: {} v {}, race to 1",
        called["players"][0].as_str().unwrap_or(""),
        called["players"][1].as_str().unwrap_or("")
    );
    for (path, selector) in [("/tables/t7", ".banner.called"), ("/", ".flag.called")] {
        let screen = browser.open(&agent.url(path)).await;
        let probe = format!(
            "(() => {{ const el = document.querySelector({selector:?}); \
             return {{ text: el ? el.textContent.trim() : null, \
             injected: document.querySelectorAll('img[src=x]').length }}; }})()"
        );
        let shown = browser
            .wait_for(&screen, &probe, "the call on the table's screens", |v| {
                v["text"].as_str().is_some_and(|t| t.starts_with(&line))
            })
            .await;
        assert_eq!(shown["injected"], 0, "{path}: {shown:#}");
    }
    // The table plays; the page follows without a reload.
    let mut ctl = Device::connect(agent.mqtt, "ctl-t7").await;
    play_called(&mut ctl, "t7", 0).await;
    let winner = called["players"][0].clone();
    let shown = browser
        .wait_for(&page, PAGE, "the winner marked", |v| {
            v["winners"].as_array().is_some_and(|w| w.contains(&winner))
        })
        .await;
    assert_eq!(shown["images"], 0);
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
