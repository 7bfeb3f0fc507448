//! The room's screens in headless Chromium: the TV's states through a venue's day (idle, playing,
//! rack won, match won, device trouble, the link down), its sharp edges fixed (no "null" in the
//! header, the game and race on a phone, fouls in a row apart from the total), the shot clock, the
//! stream overlay (transparent at 1920×1080, and at phone size) and the results page.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::results::conceded;
use dojo_testkit::browser::{Browser, click};

/// What the TV shows, read off the rendered DOM.
const TV: &str = r##"(() => {
  const text = (el) => el ? el.textContent.trim() : null;
  const all = (sel) => [...document.querySelectorAll(sel)];
  const board = document.getElementById("board");
  const clock = document.querySelector("#shot-clock .sc-time");
  return {
    state: document.body.dataset.tv || null,
    trouble: document.body.classList.contains("trouble"),
    stale: document.body.classList.contains("stale"),
    stale_note: text(document.getElementById("stale-note")),
    board_opacity: Number(getComputedStyle(board).opacity),
    header: text(document.querySelector("header.topbar")),
    link: text(document.getElementById("link")),
    venue: text(document.querySelector(".idle-venue")),
    next: text(document.querySelector(".idle-next")),
    game: text(document.querySelector("#match-line .game")),
    race: text(document.querySelector("#match-line .race")),
    names: all("#board .player-name").map(text),
    fouls_label: all("#board .fouls").map(text),
    fouls_dots: all("#board .fouls .dots").map((d) => d.querySelectorAll(".dot.on").length),
    fouls_total: all("#board .fouls-total").map(text),
    moment: text(document.querySelector("#board .moment-title")),
    moment_score: text(document.querySelector("#board .moment-score")),
    win: text(document.querySelector("#board .banner.win")),
    clock: clock ? text(clock) : null,
    footer: text(document.getElementById("footer")),
  };
})()"##;

/// Where the game and the race are on screen, and whether they can be seen.
const MATCH_LINE_BOXES: &str = r##"(() => {
  const box = (sel) => {
    const el = document.querySelector(sel);
    if (!el) return null;
    const r = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return { left: r.left, right: r.right, width: r.width, height: r.height,
             shown: style.display !== "none" && style.visibility !== "hidden" && r.width > 0,
             text: el.textContent.trim() };
  };
  return { game: box("#match-line .game"), race: box("#match-line .race"), width: innerWidth,
           header: document.querySelector("header.topbar").textContent };
})()"##;

async fn act(agent: &Agent, table: &str, body: Value) {
    let (status, answer) = agent
        .post(
            &format!("/api/v1/tables/{table}/matches/current/actions"),
            body,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn the_tv_shows_a_venue_day_in_chromium() {
    let dir = data_dir("tv-day");
    let agent = Agent::start(&dir).await;
    let mut feed = ws(&agent, "?tables=tv2").await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-tv2").await;
    ctl.send("tv2", json!({"type": "heartbeat"})).await;
    until_within(&mut feed, "tv2", 10, |v| v["status"] == "idle").await;

    // Idle: the venue, the table, what is next; no "null" anywhere in the header.
    let mut browser = Browser::launch().await;
    let tv = browser.open(&agent.url("/tables/tv2")).await;
    let shown = browser
        .wait_for(&tv, TV, "the idle table", |v| {
            v["state"] == "idle" && v["link"] == "Live"
        })
        .await;
    assert_eq!(shown["venue"], "Test Hall", "{shown:#}");
    assert!(
        shown["next"]
            .as_str()
            .is_some_and(|t| t.starts_with("Next:")),
        "{shown:#}"
    );
    assert!(
        shown["header"]
            .as_str()
            .is_some_and(|h| !h.contains("null")),
        "{shown:#}"
    );

    // Playing, with a shot clock: the header names the game and race (and no "null": no session).
    let spec = json!({"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 2,
                      "rules": {"shot_clock": {"seconds": 35, "first_shot_seconds": 60}}});
    agent.start_match_spec("tv2", &spec).await;
    let shown = browser
        .wait_for(&tv, TV, "the match", |v| v["state"] == "playing")
        .await;
    assert_eq!(
        (&shown["game"], &shown["race"]),
        (&json!("9-Ball"), &json!("Race to 2")),
        "{shown:#}"
    );
    assert!(
        shown["header"]
            .as_str()
            .is_some_and(|h| !h.contains("null")),
        "{shown:#}"
    );
    assert_eq!(shown["clock"], "—", "the break is not timed: {shown:#}");

    // On a phone the game and the race stay on screen.
    let phone = browser.open(&agent.url("/tables/tv2")).await;
    browser.viewport(&phone, 390, 844, true).await;
    let boxes = browser
        .wait_for(&phone, MATCH_LINE_BOXES, "the match line", |v| {
            v["width"] == 390 && v["game"]["text"] == "9-Ball"
        })
        .await;
    for part in ["game", "race"] {
        let b = &boxes[part];
        assert_eq!(b["shown"], true, "{part} hidden on a phone: {boxes:#}");
        assert!(
            b["left"].as_f64() >= Some(0.0) && b["right"].as_f64() <= Some(390.0),
            "{part} off screen: {boxes:#}"
        );
    }
    assert!(
        boxes["header"]
            .as_str()
            .is_some_and(|h| !h.contains("null")),
        "{boxes:#}"
    );

    // Ann makes the 1 on the break: her first shot after the break is timed (60 s).
    ctl.pocket("tv2", 1, 2).await;
    ctl.button("tv2", "end_turn").await;
    let shown = browser
        .wait_for(&tv, TV, "the running clock", |v| {
            v["clock"]
                .as_str()
                .and_then(|c| c.parse::<u32>().ok())
                .is_some_and(|s| (50..=60).contains(&s))
        })
        .await;
    assert_eq!(shown["state"], "playing", "{shown:#}");

    // A called foul on Ann: one foul in a row, one in total, labelled apart.
    act(&agent, "tv2", json!({"action": "foul"})).await;
    let shown = browser
        .wait_for(&tv, TV, "Ann's foul", |v| v["fouls_dots"] == json!([1, 0]))
        .await;
    assert_eq!(
        shown["fouls_label"],
        json!(["Fouls in a row", "Fouls in a row"]),
        "{shown:#}"
    );
    assert_eq!(
        shown["fouls_total"],
        json!(["Total fouls 1", "Total fouls 0"]),
        "{shown:#}"
    );
    // Bo misses; Ann makes the 2 legally: her run of fouls ends, her total stays.
    ctl.button("tv2", "end_turn").await;
    ctl.pocket("tv2", 2, 2).await;
    ctl.button("tv2", "end_turn").await;
    let shown = browser
        .wait_for(&tv, TV, "Ann's legal shot", |v| {
            v["fouls_dots"] == json!([0, 0])
        })
        .await;
    assert_eq!(
        shown["fouls_total"],
        json!(["Total fouls 1", "Total fouls 0"]),
        "{shown:#}"
    );

    // Ann makes the 9: rack won, large.
    ctl.pocket("tv2", 9, 4).await;
    ctl.button("tv2", "end_turn").await;
    let shown = browser
        .wait_for(&tv, TV, "the rack won", |v| v["state"] == "rack-won")
        .await;
    assert_eq!(
        (&shown["moment"], &shown["moment_score"]),
        (&json!("Ann wins the rack"), &json!("1 – 0")),
        "{shown:#}"
    );

    // The controller drops off: device trouble, in words the room can read.
    ctl.raw(
        "dojo/v1/devices/ctl-tv2/status",
        json!({"status": "offline", "table": "tv2"})
            .to_string()
            .into_bytes(),
    )
    .await;
    let shown = browser
        .wait_for(&tv, TV, "the device trouble", |v| v["trouble"] == true)
        .await;
    let footer = shown["footer"].as_str().unwrap_or_default();
    assert!(
        footer.contains("Device trouble") && footer.contains("controller ctl-tv2 is offline"),
        "{shown:#}"
    );

    // Bo concedes: match won, with the final score.
    act(&agent, "tv2", json!({"action": "concede", "player": 1})).await;
    let shown = browser
        .wait_for(&tv, TV, "the match won", |v| v["state"] == "match-won")
        .await;
    assert_eq!(
        (&shown["win"], &shown["moment_score"]),
        (&json!("Ann wins the match!"), &json!("2 – 0")),
        "{shown:#}"
    );

    // The agent goes away: the board dims (over half a second) and says it is reconnecting.
    agent.stop().await;
    let shown = browser
        .wait_for(&tv, TV, "the dimmed, stale board", |v| {
            v["stale"] == true
                && v["stale_note"] == "Reconnecting…"
                && v["board_opacity"].as_f64().is_some_and(|o| o < 0.5)
        })
        .await;
    assert_eq!(shown["link"], "Reconnecting…", "{shown:#}");
    drop(browser);
    std::fs::remove_dir_all(dir).ok();
}

/// What the overlay shows and where.
const OVERLAY: &str = r##"(() => {
  const text = (el) => el ? el.textContent.trim() : null;
  const box = document.getElementById("overlay");
  const r = box.getBoundingClientRect();
  return {
    html_bg: getComputedStyle(document.documentElement).backgroundColor,
    body_bg: getComputedStyle(document.body).backgroundColor,
    shown: !box.hidden && r.width > 0,
    rect: { left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width },
    viewport: [innerWidth, innerHeight],
    game: text(document.getElementById("lt-game")),
    race: text(document.getElementById("lt-race")),
    names: [...document.querySelectorAll(".lt-name")].map(text),
    scores: [...document.querySelectorAll(".lt-score")].map((e) => Number(text(e))),
    shooting: [...document.querySelectorAll(".lt-row.shooting .lt-name")].map(text),
    balls: [...document.querySelectorAll(".lt-ball")].map((e) => Number(text(e))),
    clock: document.getElementById("lt-clock").hidden ? null : text(document.getElementById("lt-clock")),
  };
})()"##;

#[tokio::test]
async fn the_stream_overlay_is_transparent_and_live_in_chromium() {
    let dir = data_dir("overlay");
    let agent = Agent::start(&dir).await;
    let mut feed = ws(&agent, "?tables=ov1").await;
    let spec = json!({"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 3,
                      "rules": {"shot_clock": {"seconds": 35, "first_shot_seconds": 60}}});
    agent.start_match_spec("ov1", &spec).await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-ov1").await;
    ctl.pocket("ov1", 1, 2).await;
    ctl.button("ov1", "end_turn").await;
    until_within(&mut feed, "ov1", 10, |v| v["shot_clock"]["running"] == true).await;

    // OBS's browser source: 1920×1080, transparent, placed bottom-left at 1.5×.
    let mut browser = Browser::launch().await;
    let stream = browser
        .open(&agent.url("/overlay/ov1?pos=bottom-left&scale=1.5"))
        .await;
    browser.transparent(&stream).await;
    browser.viewport(&stream, 1920, 1080, false).await;
    let shown = browser
        .wait_for(&stream, OVERLAY, "the lower third", |v| {
            v["shown"] == true && v["viewport"] == json!([1920, 1080]) && v["clock"].is_string()
        })
        .await;
    assert_eq!(shown["html_bg"], "rgba(0, 0, 0, 0)", "{shown:#}");
    assert_eq!(shown["body_bg"], "rgba(0, 0, 0, 0)", "{shown:#}");
    assert_eq!(shown["names"], json!(["Ann", "Bo"]), "{shown:#}");
    assert_eq!(shown["scores"], json!([0, 0]), "{shown:#}");
    assert_eq!(
        (&shown["game"], &shown["race"]),
        (&json!("9-Ball"), &json!("Race to 3")),
        "{shown:#}"
    );
    assert_eq!(shown["shooting"], json!(["Ann"]), "{shown:#}");
    assert_eq!(shown["balls"], json!([2, 3, 4, 5, 6, 7, 8, 9]), "{shown:#}");
    let seconds: u32 = shown["clock"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .expect("the clock's seconds");
    assert!((50..=60).contains(&seconds), "{shown:#}");
    let rect = &shown["rect"];
    assert!(
        rect["left"].as_f64() < Some(100.0) && rect["bottom"].as_f64() > Some(950.0),
        "bottom-left: {shown:#}"
    );
    assert!(
        rect["width"].as_f64() > Some(34.0 * 20.0 * 1.4),
        "scaled 1.5×: {shown:#}"
    );

    // Live: Ann makes the 2 and misses; Bo is at the table.
    ctl.pocket("ov1", 2, 2).await;
    ctl.button("ov1", "end_turn").await;
    ctl.button("ov1", "end_turn").await;
    let shown = browser
        .wait_for(&stream, OVERLAY, "Bo at the table", |v| {
            v["shooting"] == json!(["Bo"])
        })
        .await;
    assert_eq!(shown["balls"], json!([3, 4, 5, 6, 7, 8, 9]), "{shown:#}");

    // At phone size (default place and size) it stays on screen.
    let phone = browser.open(&agent.url("/overlay/ov1")).await;
    browser.viewport(&phone, 390, 844, true).await;
    let shown = browser
        .wait_for(&phone, OVERLAY, "the lower third on a phone", |v| {
            v["shown"] == true && v["viewport"] == json!([390, 844])
        })
        .await;
    let rect = &shown["rect"];
    assert!(
        rect["left"].as_f64() >= Some(0.0) && rect["right"].as_f64() <= Some(390.0),
        "{shown:#}"
    );

    // The page is an open read with a script policy of its own.
    let response = reqwest::get(agent.url("/overlay/ov1")).await.expect("HTTP");
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");

    drop(browser);
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

/// What the results page shows.
const RESULTS: &str = r##"(() => {
  const text = (el) => el ? el.textContent.trim() : null;
  return {
    ready: document.readyState === "complete",
    error: document.getElementById("results-error").hidden ? null : text(document.getElementById("results-error")),
    empty: !document.getElementById("results-empty").hidden,
    items: [...document.querySelectorAll("#results-list .result")].map((e) => ({
      table: text(e.querySelector(".result-table")),
      players: [...e.querySelectorAll(".result-player")].map(text),
      winner: text(e.querySelector(".result-player.won")),
      score: text(e.querySelector(".result-points")),
      racks: [...e.querySelectorAll(".rack-link")].map((a) => a.getAttribute("href")),
      elements_in_names: [...e.querySelectorAll(".result-player")].reduce((n, p) => n + p.children.length, 0),
    })),
  };
})()"##;

#[tokio::test]
async fn the_results_page_lists_the_days_matches_with_filters_in_chromium() {
    let dir = data_dir("results-page");
    let agent = Agent::start(&dir).await;
    let hostile = "<b>Zed</b>";
    let first = conceded(&agent, "rp1", ["Ann", "Bo"]).await;
    let second = conceded(&agent, "rp2", ["Cy", hostile]).await;

    let mut browser = Browser::launch().await;
    let overview = browser.open(&agent.url("/")).await;
    browser
        .wait_for(
            &overview,
            &click("a[href='/results']"),
            "the results link",
            |v| v == true,
        )
        .await;
    let page = browser.open(&agent.url("/results")).await;
    let shown = browser
        .wait_for(&page, RESULTS, "the day's matches", |v| {
            v["items"].as_array().is_some_and(|i| i.len() == 2)
        })
        .await;
    let items = &shown["items"];
    assert_eq!(items[0]["table"], "rp2", "newest first: {shown:#}");
    assert_eq!(items[0]["players"], json!(["Cy", hostile]), "{shown:#}");
    assert_eq!(
        items[0]["elements_in_names"], 0,
        "names are text: {shown:#}"
    );
    assert_eq!(
        (&items[1]["winner"], &items[1]["score"]),
        (&json!("Ann"), &json!("1 – 0")),
        "{shown:#}"
    );
    assert_eq!(
        items[0]["racks"],
        json!([format!("/matches/{second}/replay?rack=1")]),
        "{shown:#}"
    );
    assert_eq!(
        items[1]["racks"],
        json!([format!("/matches/{first}/replay?rack=1")]),
        "{shown:#}"
    );

    // Filter by player.
    browser
        .eval(
            &page,
            "document.getElementById('f-player').value = 'ann'; \
             document.getElementById('filters').requestSubmit(); true",
        )
        .await;
    let shown = browser
        .wait_for(&page, RESULTS, "Ann's match only", |v| {
            v["items"].as_array().is_some_and(|i| i.len() == 1)
        })
        .await;
    assert_eq!(shown["items"][0]["table"], "rp1", "{shown:#}");
    // A table nobody played on today: the page says so.
    browser
        .eval(
            &page,
            "document.getElementById('f-player').value = ''; \
             document.getElementById('f-table').value = 'rp9'; \
             document.getElementById('filters').requestSubmit(); true",
        )
        .await;
    browser
        .wait_for(&page, RESULTS, "no matches", |v| v["empty"] == true)
        .await;
    // A table id the API refuses: its sentence is shown.
    browser
        .eval(
            &page,
            "document.getElementById('f-table').value = 'no spaces'; \
             document.getElementById('filters').requestSubmit(); true",
        )
        .await;
    let shown = browser
        .wait_for(&page, RESULTS, "the refusal", |v| v["error"].is_string())
        .await;
    assert!(
        shown["error"]
            .as_str()
            .is_some_and(|e| e.contains("not a table id") && e.contains("422")),
        "{shown:#}"
    );

    drop(browser);
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
