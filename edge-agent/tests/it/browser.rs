//! The venue pages in a real browser: Debian's headless Chromium ([`dojo_testkit::browser`]). One
//! page stays open while devices publish, so this checks what the TV actually shows, live, not
//! just what `/ws` sends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use dojo_testkit::browser::{Browser, chromium_path, click};

/// What the TV scoreboard shows, read off the rendered DOM.
const SCOREBOARD: &str = r##"(() => {
  const text = (el) => el ? el.textContent.trim() : null;
  const all = (sel) => [...document.querySelectorAll(sel)];
  return {
    link: text(document.getElementById("link")),
    names: all("#board .player-name").map(text),
    scores: all("#board .player-score").map((e) => Number(text(e))),
    shooting: all("#board .player.shooting .player-name").map(text),
    waiting: all("#board .player.waiting .player-name").map(text),
    turn: all("#board .player-turn").map(text),
    balls: all("#board .tray .ball").map((e) => Number(text(e))),
    stripes: all("#board .tray .ball.stripe").map((e) => Number(text(e))),
    game: text(document.querySelector("#match-line .game")),
    banner: text(document.querySelector("#board .banner")),
  };
})()"##;

/// What the venue overview shows for each table card.
const OVERVIEW: &str = r##"(() => {
  const text = (el) => el ? el.textContent.trim() : null;
  return {
    link: text(document.getElementById("link")),
    cards: [...document.querySelectorAll("#tables .card")].map((card) => ({
      table: text(card.querySelector(".card-table")),
      href: card.getAttribute("href"),
      names: [...card.querySelectorAll(".row .name")].map(text),
      scores: [...card.querySelectorAll(".row .score")].map((e) => Number(text(e))),
      shooting: [...card.querySelectorAll(".row.shooting .name")].map(text),
      balls: [...card.querySelectorAll(".mini-balls .ball")].map((e) => Number(text(e))),
    })),
  };
})()"##;

fn balls(from: u8, to: u8) -> Value {
    json!((from..=to).collect::<Vec<_>>())
}

#[tokio::test]
async fn the_tv_scoreboard_and_overview_follow_a_match_live_in_chromium() {
    let chromium = chromium_path();
    let started = Instant::now();
    let dir = data_dir("browser");
    let agent = Agent::start(&dir).await;
    let mut feed = ws(&agent, "?tables=tv1").await;
    agent.start_match("tv1", "nine-ball", 3).await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-tv1").await;
    // Ann breaks and makes the 1 (she stays at the table), then misses: Bo's turn.
    ctl.pocket("tv1", 1, 2).await;
    ctl.button("tv1", "end_turn").await;
    ctl.button("tv1", "end_turn").await;
    let view = until(&mut feed, "tv1", |v| v["shooter"] == 1).await;
    assert_eq!(view["on_table"], balls(2, 9), "{view}");

    let mut browser = Browser::launch().await;
    let board = browser.open(&agent.url("/tables/tv1")).await;
    let shown = browser
        .wait_for(&board, SCOREBOARD, "the live match", |v| {
            v["link"] == "Live" && v["balls"] == balls(2, 9)
        })
        .await;
    assert_eq!(shown["names"], json!(["Ann", "Bo"]), "{shown:#}");
    assert_eq!(shown["scores"], json!([0, 0]), "{shown:#}");
    assert_eq!(
        shown["shooting"],
        json!(["Bo"]),
        "Bo is at the table: {shown:#}"
    );
    assert_eq!(shown["waiting"], json!(["Ann"]), "Ann is dimmed: {shown:#}");
    assert_eq!(shown["turn"], json!(["", "At the table"]), "{shown:#}");
    assert_eq!(
        shown["stripes"],
        json!([9]),
        "only the 9 is striped: {shown:#}"
    );
    assert_eq!(shown["game"], "9-Ball", "{shown:#}");

    let overview = browser.open(&agent.url("/")).await;
    let shown = browser
        .wait_for(&overview, OVERVIEW, "the table's card", |v| {
            v["link"] == "Live" && v["cards"][0]["balls"] == balls(2, 9)
        })
        .await;
    let card = &shown["cards"][0];
    assert_eq!(
        shown["cards"].as_array().map(Vec::len),
        Some(1),
        "{shown:#}"
    );
    assert_eq!(card["table"], "tv1", "{shown:#}");
    assert_eq!(card["href"], "/tables/tv1", "{shown:#}");
    assert_eq!(card["names"], json!(["Ann", "Bo"]), "{shown:#}");
    assert_eq!(card["shooting"], json!(["Bo"]), "{shown:#}");

    // Live, with both pages still open: Bo makes the 2, then the 9 on a combination: his rack.
    ctl.pocket("tv1", 2, 4).await;
    ctl.button("tv1", "end_turn").await;
    let shown = browser
        .wait_for(&board, SCOREBOARD, "the 2 gone", |v| {
            v["balls"] == balls(3, 9)
        })
        .await;
    assert_eq!(shown["shooting"], json!(["Bo"]), "{shown:#}");
    ctl.pocket("tv1", 3, 4).await;
    ctl.pocket("tv1", 9, 5).await;
    ctl.button("tv1", "end_turn").await;
    let shown = browser
        .wait_for(&board, SCOREBOARD, "Bo's rack", |v| {
            v["scores"] == json!([0, 1])
        })
        .await;
    assert_eq!(shown["link"], "Live", "{shown:#}");
    let shown = browser
        .wait_for(&overview, OVERVIEW, "Bo's rack on the card", |v| {
            v["cards"][0]["scores"] == json!([0, 1])
        })
        .await;
    assert_eq!(shown["link"], "Live", "{shown:#}");

    // A table-time session: both pages show it counting up.
    let (status, _) = agent.post("/api/v1/tables/tv1/sessions", json!({})).await;
    assert_eq!(status, 201);
    let running = "document.querySelector('.session.running')?.textContent ?? null";
    for page in [&board, &overview] {
        browser
            .wait_for(page, running, "the running session", |v| {
                v.as_str().is_some_and(|t| t.starts_with("Table time 0:0"))
            })
            .await;
    }

    drop(browser);
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
    eprintln!(
        "browser test against {} took {:?}",
        chromium.display(),
        started.elapsed()
    );
}

/// What the staff console shows, read off the rendered DOM.
const STAFF: &str = r##"(() => {
  const text = (el) => el ? el.textContent.trim() : null;
  const byId = (id) => document.getElementById(id);
  const shown = (id) => !!byId(id) && !byId(id).hidden;
  return {
    ready: document.readyState === "complete" && !!byId("unlock-form"),
    locked: shown("unlock"),
    unlocked: shown("console"),
    unlock_error: shown("unlock-error") ? text(byId("unlock-error")) : null,
    notice: shown("notice") ? { kind: byId("notice").className, text: text(byId("notice-text")) } : null,
    link: text(byId("link")),
    stored: sessionStorage.getItem("dojo.staffToken"),
    tables: [...document.querySelectorAll(".table-item")].map((e) => ({
      table: e.dataset.table,
      status: text(e.querySelector(".pill")),
      selected: e.classList.contains("selected"),
    })),
    status: text(byId("table-status")),
    players: [...document.querySelectorAll(".tv-name")].map(text),
    flags: [...document.querySelectorAll("#table-view .flag")].map(text),
    actions: shown("actions"),
    // Set through CSSOM, which the page's Content-Security-Policy must still allow.
    call_ball_colours: [...document.querySelectorAll(".pick-ball .ball")]
      .map((b) => getComputedStyle(b).getPropertyValue("--c").trim()),
    start_form: shown("start-form"),
    dead: [...document.querySelectorAll(".dead-row")].map((e) => ({
      reason: text(e.querySelector(".dead-reason")),
      topic: text(e.querySelector(".dead-topic")),
      payload: text(e.querySelector(".dead-payload")),
      elements_inside: e.querySelector(".dead-payload").children.length,
    })),
    dead_counts: [...document.querySelectorAll(".dead-count[data-reason]")].map(text),
  };
})()"##;

/// An expression that types `token` on the unlock form and submits it.
fn unlock_with(token: &str) -> String {
    format!(
        "document.getElementById('token').value = {token:?}; \
         document.getElementById('unlock-form').requestSubmit(); true"
    )
}

/// An expression that fills the start form and submits it.
fn start_form(game: &str, players: [&str; 2], race_to: &str, break_rule: &str) -> String {
    format!(
        "(() => {{ const set = (id, v) => {{ document.getElementById(id).value = v; }}; \
         set('game', {game:?}); set('player0', {p0:?}); set('player1', {p1:?}); \
         set('race-to', {race_to:?}); set('break', {break_rule:?}); \
         document.getElementById('start-form').requestSubmit(); return true; }})()",
        p0 = players[0],
        p1 = players[1],
    )
}

#[tokio::test]
async fn the_staff_console_starts_a_match_and_sends_actions_in_chromium() {
    let dir = data_dir("staff-console");
    let agent = Agent::start(&dir).await;
    let mut feed = ws(&agent, "?tables=bar1").await;
    // The table's controller reports in: the agent shows the table, open, with no match.
    let mut ctl = Device::connect(agent.mqtt, "ctl-bar1").await;
    ctl.send("bar1", json!({"type": "heartbeat"})).await;
    until(&mut feed, "bar1", |v| v["status"] == "idle").await;
    // And sends something the agent refuses: a dead letter for the console to list, as text.
    let hostile = "<img src=x onerror=alert(1)>";
    ctl.raw("dojo/v1/tables/bar1/events", hostile.as_bytes().to_vec())
        .await;

    let mut browser = Browser::launch().await;
    let page = browser.open(&agent.url("/staff")).await;
    let shown = browser
        .wait_for(&page, STAFF, "the page", |v| v["ready"] == true)
        .await;
    assert_eq!(
        (&shown["locked"], &shown["unlocked"]),
        (&json!(true), &json!(false)),
        "locked until a token: {shown:#}"
    );

    // A wrong token: the API's refusal is shown, nothing is kept, the console stays locked.
    browser.eval(&page, &unlock_with("not-the-token")).await;
    let shown = browser
        .wait_for(&page, STAFF, "the wrong-token error", |v| {
            v["unlock_error"].is_string()
        })
        .await;
    assert_eq!(
        shown["unlock_error"], "wrong staff token (HTTP 401)",
        "{shown:#}"
    );
    assert_eq!(shown["unlocked"], false, "{shown:#}");
    assert!(shown["stored"].is_null(), "a refused token is not kept");

    // The right token: the console opens and lists the table live.
    browser.eval(&page, &unlock_with(TOKEN)).await;
    let shown = browser
        .wait_for(&page, STAFF, "the table list", |v| {
            v["unlocked"] == true && v["link"] == "Live" && v["tables"][0]["table"] == "bar1"
        })
        .await;
    assert_eq!(shown["tables"][0]["status"], "Open", "{shown:#}");
    assert_eq!(shown["stored"], TOKEN, "kept for this tab");

    // Pick the table; a spec the API refuses shows the API's sentence.
    browser
        .wait_for(&page, &click(".table-item[data-table=bar1]"), "bar1", |v| {
            v == true
        })
        .await;
    browser
        .wait_for(&page, STAFF, "the start form", |v| v["start_form"] == true)
        .await;
    browser
        .eval(
            &page,
            &start_form("nine-ball", ["Ann", "Bo"], "5000", "winner"),
        )
        .await;
    let shown = browser
        .wait_for(&page, STAFF, "the API's refusal", |v| {
            v["notice"].is_object()
        })
        .await;
    assert_eq!(shown["notice"]["kind"], "notice error", "{shown:#}");
    assert_eq!(
        shown["notice"]["text"],
        "Start a match on bar1 failed: invalid match: race_to must be between 1 and 1000, not 5000 (HTTP 422)",
        "{shown:#}"
    );
    let (_, view) = agent.get("/api/v1/tables/bar1").await;
    assert_eq!(view["status"], "idle", "nothing started: {view}");

    // A valid match: started through the API, as the API and every screen see it.
    browser
        .eval(
            &page,
            &start_form("nine-ball", ["Ann", "Bo"], "3", "winner"),
        )
        .await;
    let shown = browser
        .wait_for(&page, STAFF, "the match in play", |v| {
            v["status"] == "Playing" && v["actions"] == true && v["notice"]["kind"] == "notice ok"
        })
        .await;
    assert_eq!(shown["players"], json!(["Ann", "Bo"]), "{shown:#}");
    assert_eq!(shown["start_form"], false, "{shown:#}");
    assert_eq!(
        shown["call_ball_colours"][0], "#f5c400",
        "the 1 is yellow: {shown:#}"
    );
    assert!(
        shown["notice"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Start a match on bar1: done")),
        "{shown:#}"
    );
    let (status, view) = agent.get("/api/v1/tables/bar1").await;
    assert_eq!(status, 200);
    assert_eq!(view["status"], "playing", "{view}");
    assert_eq!(view["match"]["players"], json!(["Ann", "Bo"]), "{view}");
    assert_eq!(
        (
            &view["match"]["game"],
            &view["match"]["race_to"],
            &view["match"]["break"]
        ),
        (&json!("nine-ball"), &json!(3), &json!("winner")),
        "{view}"
    );
    until(&mut feed, "bar1", |v| v["status"] == "playing").await;

    // An action the rules refuse (no called foul before the break): the API's sentence is shown.
    browser
        .wait_for(&page, &click("[data-action=foul]"), "Foul", |v| v == true)
        .await;
    let shown = browser
        .wait_for(&page, STAFF, "the refused foul", |v| {
            v["notice"]["kind"] == "notice error"
        })
        .await;
    assert_eq!(
        shown["notice"]["text"],
        "Foul on bar1 failed: a foul cannot be called before the break shot (HTTP 422)",
        "{shown:#}"
    );

    // Ann breaks and makes the 1 (the controller sees it); staff closes the shot with End turn.
    ctl.pocket("bar1", 1, 2).await;
    until(&mut feed, "bar1", |v| v["shot"]["pocketed"] == json!([1])).await;
    browser
        .wait_for(&page, &click("[data-action=end_turn]"), "End turn", |v| {
            v == true
        })
        .await;
    let view = until(&mut feed, "bar1", |v| v["break_shot"] == false).await;
    assert_eq!(
        view["shooter"], 0,
        "the made 1 keeps Ann at the table: {view}"
    );
    assert_eq!(view["on_table"], balls(2, 9), "{view}");

    // Ann calls the 2 in pocket 3.
    for selector in [
        ".pick-ball[data-ball='2']",
        ".pick-pocket[data-pocket='3']",
        "#call",
    ] {
        browser
            .wait_for(&page, &click(selector), selector, |v| v == true)
            .await;
    }
    let view = until(&mut feed, "bar1", |v| !v["shot"]["called"].is_null()).await;
    assert_eq!(
        view["shot"]["called"],
        json!({"ball": 2, "pocket": 3}),
        "{view}"
    );

    // A foul called by staff: Ann's inning ends, Bo comes to the table with ball in hand.
    browser
        .wait_for(&page, &click("[data-action=foul]"), "Foul", |v| v == true)
        .await;
    let view = until(&mut feed, "bar1", |v| v["foul"] == true).await;
    assert_eq!(
        (&view["shooter"], &view["ball_in_hand"]),
        (&json!(1), &json!(true)),
        "{view}"
    );
    let (_, rest) = agent.get("/api/v1/tables/bar1").await;
    assert_eq!(rest["seq"], view["seq"], "REST and WebSocket agree: {rest}");
    let shown = browser
        .wait_for(&page, STAFF, "the foul", |v| {
            v["notice"]["kind"] == "notice ok"
                && v["flags"].as_array().is_some_and(|f| {
                    f.iter()
                        .any(|f| f.as_str().is_some_and(|f| f.starts_with("Foul")))
                })
        })
        .await;
    assert!(
        shown["flags"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("Ball in hand"))),
        "{shown:#}"
    );

    // Concede takes a second tap naming who: Bo concedes, Ann wins, and the table is open again
    // with the same players filled in for a rematch.
    browser
        .wait_for(&page, &click("#concede-open"), "Concede…", |v| v == true)
        .await;
    browser
        .wait_for(&page, &click("[data-concede='1']"), "Bo concedes", |v| {
            v == true
        })
        .await;
    let view = until(&mut feed, "bar1", |v| v["status"] == "finished").await;
    assert_eq!(view["match_winner"], 0, "{view}");
    let shown = browser
        .wait_for(&page, STAFF, "the finished match", |v| {
            v["status"] == "Finished" && v["start_form"] == true
        })
        .await;
    assert!(
        shown["flags"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("Ann wins the match"))),
        "{shown:#}"
    );
    let rematch = browser
        .eval(
            &page,
            "[document.getElementById('player0').value, document.getElementById('player1').value]",
        )
        .await;
    assert_eq!(rematch, json!(["Ann", "Bo"]));

    // The dead letters, as text and never as markup.
    browser
        .wait_for(&page, &click("#tab-dead"), "the dead-letters tab", |v| {
            v == true
        })
        .await;
    let shown = browser
        .wait_for(&page, STAFF, "the dead letter", |v| {
            v["dead"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    assert_eq!(
        shown["dead"],
        json!([{
            "reason": "not_json",
            "topic": "dojo/v1/tables/bar1/events",
            "payload": hostile,
            "elements_inside": 0,
        }]),
        "{shown:#}"
    );
    assert_eq!(shown["dead_counts"], json!(["not_json: 1"]), "{shown:#}");
    // This agent does not sync: the console says so, has no registered players to offer, and the
    // cloud's refused list is empty.
    let cloud = browser
        .wait_for(&page, STAFF_SYNC, "sync off", |v| v["cloud_empty"] == true)
        .await;
    assert_eq!(cloud["sync"], "Cloud sync off", "{cloud:#}");
    assert_eq!(cloud["registered"], json!([]), "{cloud:#}");
    assert_eq!(cloud["cloud"], json!([]), "{cloud:#}");

    // A reload keeps the tab unlocked (sessionStorage).
    browser.call(Some(&page), "Page.reload", json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    browser
        .wait_for(&page, STAFF, "the console after a reload", |v| {
            v["unlocked"] == true && v["tables"][0]["table"] == "bar1"
        })
        .await;

    // A kept token the agent no longer takes (it was changed): the page says so and locks.
    browser
        .eval(
            &page,
            "sessionStorage.setItem('dojo.staffToken', 'an-old-token'); true",
        )
        .await;
    browser.call(Some(&page), "Page.reload", json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let shown = browser
        .wait_for(&page, STAFF, "the stale token refused", |v| {
            v["ready"] == true && v["unlock_error"].is_string()
        })
        .await;
    assert_eq!(
        shown["unlock_error"], "wrong staff token (HTTP 401)",
        "{shown:#}"
    );
    assert_eq!(
        (&shown["unlocked"], &shown["stored"]),
        (&json!(false), &Value::Null),
        "{shown:#}"
    );

    drop(browser);
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

/// What the staff console shows of cloud sync and registered players.
const STAFF_SYNC: &str = r##"(() => {
  const text = (el) => el ? el.textContent.trim() : null;
  const byId = (id) => document.getElementById(id);
  const shown = (id) => !!byId(id) && !byId(id).hidden && !byId(id).closest("[hidden]");
  return {
    unlocked: shown("console"),
    link: text(byId("link")),
    sync: shown("sync") ? text(byId("sync")) : null,
    notice: shown("notice") ? { kind: byId("notice").className, text: text(byId("notice-text")) } : null,
    start_form: shown("start-form"),
    status: text(byId("table-status")),
    players: [...document.querySelectorAll(".tv-name")].map(text),
    registered: [...document.querySelectorAll("#registered-players option")]
      .map((o) => ({ value: o.value, label: o.label })),
    hints: [text(byId("player0-hint")), text(byId("player1-hint"))],
    dead_tab: text(byId("dead-total")),
    cloud_total: text(byId("sync-dead-total")),
    cloud_explained: shown("sync-dead") ? text(byId("sync-dead").querySelector("p")) : null,
    cloud_empty: shown("sync-dead-empty"),
    cloud: [...document.querySelectorAll(".sync-dead-row")].map((e) => ({
      kind: text(e.querySelector(".sync-dead-kind")),
      seq: text(e.querySelector(".sync-dead-seq")),
      reason: text(e.querySelector(".sync-dead-reason")),
      payload: text(e.querySelector(".dead-payload")),
      elements_inside: e.querySelector(".dead-payload").children.length
        + e.querySelector(".sync-dead-reason").children.length,
    })),
  };
})()"##;

/// An expression that types `name` into a seat's field as staff would (an `input` event follows).
fn type_seat(seat: usize, name: &str) -> String {
    format!(
        "(() => {{ const el = document.getElementById('player{seat}'); el.value = {name:?}; \
         el.dispatchEvent(new Event('input', {{ bubbles: true }})); return true; }})()"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_staff_console_seats_registered_players_and_shows_cloud_sync_in_chromium() {
    // A cloud that serves two registered players (one without a rating) and refuses the first
    // record it is sent.
    let peer: SharedPeer = Arc::default();
    let refusal = "match_started: <b>spec</b> refused";
    {
        let mut script = peer.lock().expect("peer");
        script.player_answers.push_back((
            StatusCode::OK,
            vec![],
            json!({"changes": [
                {"op": "upsert", "version": 1,
                 "player": {"id": "p-efren", "name": "Efren Reyes", "rating": 820}},
                {"op": "upsert", "version": 2, "player": {"id": "p-walkup", "name": "Ana Walk"}},
            ], "cursor": 2, "more": false}),
        ));
        script.batch_answers.push_back((
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![],
            json!({"error": refusal, "seq": 1}),
        ));
    }
    let url = start_peer(peer.clone()).await;
    let dir = data_dir("staff-console-sync");
    let agent = agent_syncing_to(url, &dir).await;
    sync_status_until(&agent, |s| s["players_cursor"] == 2).await;

    // A match whose record (seq 1) the cloud refuses; its payload carries markup.
    let hostile = "<img src=x onerror=alert(1)>";
    let spec = json!({"game": "nine-ball", "players": [hostile, "Bo"], "race_to": 2});
    let (status, view) = agent.post("/api/v1/tables/t0/matches", spec).await;
    assert_eq!(status, 201, "{view}");
    let status = sync_status_until(&agent, |s| s["dead_letters"] == 1 && s["pending"] == 0).await;
    assert_eq!(
        status["acked_seq"], 1,
        "the placeholder went in its place: {status}"
    );

    let mut browser = Browser::launch().await;
    let page = browser.open(&agent.url("/staff")).await;
    browser
        .wait_for(&page, STAFF, "the page", |v| v["ready"] == true)
        .await;
    browser.eval(&page, &unlock_with(TOKEN)).await;
    let shown = browser
        .wait_for(&page, STAFF_SYNC, "the sync status and the players", |v| {
            v["unlocked"] == true
                && v["link"] == "Live"
                && v["sync"].is_string()
                && v["registered"].as_array().is_some_and(|r| r.len() == 2)
        })
        .await;
    assert_eq!(
        shown["sync"], "Cloud: on · 0 waiting · acked #1",
        "{shown:#}"
    );
    assert_eq!(
        shown["registered"],
        json!([
            {"value": "Ana Walk", "label": "no rating"},
            {"value": "Efren Reyes", "label": "rating 820"},
        ]),
        "by name, with the rating when there is one: {shown:#}"
    );
    assert_eq!(
        shown["dead_tab"], "1",
        "the refused record counts: {shown:#}"
    );

    // A new table: Efren picked from the list for the break, a walk-in typed for seat 2.
    browser
        .eval(
            &page,
            "document.getElementById('open-table').value = 'bar2'; \
             document.getElementById('open-form').requestSubmit(); true",
        )
        .await;
    browser
        .wait_for(&page, STAFF_SYNC, "the start form", |v| {
            v["start_form"] == true
        })
        .await;
    browser.eval(&page, &type_seat(0, "Efren Reyes")).await;
    browser.eval(&page, &type_seat(1, "Wu the walk-in")).await;
    let shown = browser.eval(&page, STAFF_SYNC).await;
    assert_eq!(
        shown["hints"],
        json!([
            "✓ Registered player · rating 820",
            "Walk-in: not a registered player"
        ]),
        "{shown:#}"
    );
    browser
        .eval(
            &page,
            "document.getElementById('race-to').value = '3'; \
             document.getElementById('start-form').requestSubmit(); true",
        )
        .await;
    let shown = browser
        .wait_for(&page, STAFF_SYNC, "the match in play", |v| {
            v["status"] == "Playing" && v["notice"]["kind"] == "notice ok"
        })
        .await;
    assert_eq!(
        shown["players"],
        json!(["Efren Reyes", "Wu the walk-in"]),
        "{shown:#}"
    );
    let (status, view) = agent.get("/api/v1/tables/bar2").await;
    assert_eq!(status, 200);
    assert_eq!(
        view["match"]["players"],
        json!(["Efren Reyes", "Wu the walk-in"]),
        "{view}"
    );
    assert_eq!(
        view["match"]["player_ids"],
        json!(["p-efren", null]),
        "{view}"
    );

    // Its record reaches the cloud with the id, and the badge follows the acknowledgement.
    wait_for("the console's match at the cloud", 20, || {
        peer.lock().expect("peer").batches.iter().any(|(_, batch)| {
            batch
                .records
                .iter()
                .any(|r| r.kind == "match_started" && r.payload["player_ids"][0] == "p-efren")
        })
    })
    .await;
    browser
        .wait_for(&page, STAFF_SYNC, "the acknowledged match", |v| {
            v["sync"] == "Cloud: on · 0 waiting · acked #2"
        })
        .await;

    // The refused record, as text, with the word that it is kept.
    browser
        .wait_for(&page, &click("#tab-dead"), "the dead-letters tab", |v| {
            v == true
        })
        .await;
    let shown = browser
        .wait_for(&page, STAFF_SYNC, "the record the cloud refused", |v| {
            v["cloud"].as_array().is_some_and(|c| !c.is_empty())
        })
        .await;
    let row = &shown["cloud"][0];
    assert_eq!(
        shown["cloud"].as_array().map(Vec::len),
        Some(1),
        "{shown:#}"
    );
    assert_eq!(
        (
            &row["kind"],
            &row["seq"],
            &row["reason"],
            &row["elements_inside"]
        ),
        (
            &json!("match_started"),
            &json!("record #1"),
            &json!(refusal),
            &json!(0)
        ),
        "{shown:#}"
    );
    assert!(
        row["payload"]
            .as_str()
            .is_some_and(|p| p.contains(hostile) && p.contains("nine-ball")),
        "the original record, as text: {shown:#}"
    );
    assert!(
        shown["cloud_explained"]
            .as_str()
            .is_some_and(|t| t.contains("kept") && t.contains("not lost")),
        "{shown:#}"
    );
    assert_eq!(shown["cloud_total"], "1", "{shown:#}");
    assert_eq!(shown["cloud_empty"], false, "{shown:#}");

    drop(browser);
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
