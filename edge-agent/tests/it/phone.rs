//! Players' phones and the room, end to end against the real agent: pairing with a table's code,
//! who may call each phone route (a stranger, a token for another table or an ended match, the
//! other player), the rate limits, requests to undo, announcements and players' messages — over
//! HTTP and `/ws`, then in headless Chromium at a phone's size.

use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, RETRY_AFTER};
use serde_json::{Value, json};

use crate::helpers::*;
use dojo_testkit::browser::{Browser, click};

/// `method path` with `token` as the bearer (none if `None`); the status, `Retry-After` and body.
async fn call(
    agent: &Agent,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let client = reqwest::Client::new();
    let url = agent.url(path);
    let mut request = match method {
        "GET" => client.get(url),
        _ => client.post(url),
    };
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("HTTP answers");
    let status = response.status().as_u16();
    let retry = (response.headers().get(RETRY_AFTER))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, retry, response.json().await.unwrap_or(Value::Null))
}

async fn code_of(agent: &Agent, table: &str) -> String {
    let (status, body) = agent.get(&format!("/api/v1/tables/{table}/pairing")).await;
    assert_eq!(status, 200, "{body}");
    body["code"].as_str().expect("a code").to_owned()
}

async fn pair(agent: &Agent, code: &str, seat: u8) -> String {
    let body = json!({"code": code, "seat": seat});
    let (status, _, body) = call(agent, "POST", "/api/v1/phone/pair", None, Some(body)).await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().expect("a token").to_owned()
}

/// The next message of `type` on the feed, within 10 s.
async fn next_of(feed: &mut Ws, kind: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no {kind} message within 10 s");
        let message = next_json(feed).await;
        if message["type"] == kind {
            return message;
        }
    }
}

#[tokio::test]
async fn phone_routes_let_only_the_paired_players_in() {
    let dir = data_dir("phone-auth");
    let agent = Agent::start(&dir).await;
    let mut feed = ws(&agent, "?tables=p1").await;
    agent.start_match("p1", "nine-ball", 3).await;
    agent.start_match("p2", "nine-ball", 3).await;
    let (code, other_code) = (code_of(&agent, "p1").await, code_of(&agent, "p2").await);
    assert_eq!(code.len(), 6);
    assert_ne!(code, other_code);
    let (status, _) = agent.get("/api/v1/tables/nowhere/pairing").await;
    assert_eq!(status, 404);

    // The code says which table and who plays; a seat gives the phone its token, once.
    let pair_path = "/api/v1/phone/pair";
    let (status, _, found) = call(
        &agent,
        "POST",
        pair_path,
        None,
        Some(json!({"code": code.to_lowercase()})),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["table"], "p1");
    assert_eq!(found["players"], json!(["Ann", "Bo"]));
    assert_eq!(found["seats_taken"], json!([false, false]));
    let ann = pair(&agent, &code, 0).await;
    let (status, _, body) = call(
        &agent,
        "POST",
        pair_path,
        None,
        Some(json!({"code": code, "seat": 0})),
    )
    .await;
    assert_eq!(status, 409, "the seat is Ann's phone's: {body}");
    let (status, _, _) = call(
        &agent,
        "POST",
        pair_path,
        None,
        Some(json!({"code": code, "seat": 2})),
    )
    .await;
    assert_eq!(status, 422);
    let bo = pair(&agent, &code, 1).await;
    let elsewhere = pair(&agent, &other_code, 0).await;
    let (status, _, me) = call(&agent, "GET", "/api/v1/phone/p1/me", Some(&ann), None).await;
    assert_eq!(
        (status, me["seat"].clone(), me["player"].clone()),
        (200, json!(0), json!("Ann"))
    );

    // Strangers: no token, a token for another table, the staff token, a forged one.
    let actions = "/api/v1/phone/p1/actions";
    let end_turn = json!({"action": "end_turn"});
    for (token, expected) in [
        (None, 401),
        (Some(elsewhere.as_str()), 403),
        (Some(TOKEN), 403),
        (Some("p1.0.AAAA.AAAA"), 403),
    ] {
        let (status, _, body) = call(&agent, "POST", actions, token, Some(end_turn.clone())).await;
        assert_eq!(status, expected, "{token:?}: {body}");
        for path in [
            "/api/v1/phone/p1/undo-requests",
            "/api/v1/phone/p1/messages",
        ] {
            let body = json!({"text": "hi"});
            let (status, _, _) = call(&agent, "POST", path, token, Some(body)).await;
            assert_eq!(status, expected, "{path} with {token:?}");
        }
    }
    // Only the shooter's phone calls and ends the turn; staff-only actions are not a phone's.
    let (status, _, body) = call(&agent, "POST", actions, Some(&bo), Some(end_turn.clone())).await;
    assert_eq!(status, 403, "Bo is not at the table: {body}");
    let foul = json!({"action": "foul"});
    let (status, _, _) = call(&agent, "POST", actions, Some(&ann), Some(foul)).await;
    assert_eq!(status, 422, "a phone cannot call a foul");
    let (status, _, view) = call(&agent, "POST", actions, Some(&ann), Some(end_turn.clone())).await;
    assert_eq!((status, view["shooter"].clone()), (200, json!(1)), "{view}");
    let call_two = json!({"action": "call", "ball": 2, "pocket": 3});
    let (status, _, view) = call(&agent, "POST", actions, Some(&bo), Some(call_two)).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["shot"]["called"], json!({"ball": 2, "pocket": 3}));

    // Bo asks to undo; his own phone cannot confirm, Ann's can, and every screen hears it.
    let (status, _, request) = call(
        &agent,
        "POST",
        "/api/v1/phone/p1/undo-requests",
        Some(&bo),
        None,
    )
    .await;
    assert_eq!(status, 202, "{request}");
    let heard = next_of(&mut feed, "undo_request").await;
    assert_eq!(
        (heard["seat"].clone(), heard["status"].clone()),
        (json!(1), json!("pending"))
    );
    let answer = format!("/api/v1/phone/p1/undo-requests/{}", request["id"]);
    let confirm = json!({"confirm": true});
    let (status, _, _) = call(&agent, "POST", &answer, Some(&bo), Some(confirm.clone())).await;
    assert_eq!(status, 403, "not by the player who asked");
    let staff_answer = format!("/api/v1/tables/p1/undo-requests/{}", request["id"]);
    let (status, _, _) = call(&agent, "POST", &staff_answer, None, Some(confirm.clone())).await;
    assert_eq!(status, 401, "staff need their token");
    let (status, _, _) = call(
        &agent,
        "POST",
        &answer,
        Some(&elsewhere),
        Some(confirm.clone()),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, view) = call(&agent, "POST", &answer, Some(&ann), Some(confirm.clone())).await;
    assert_eq!(status, 200, "{view}");
    // Undo takes back the last input first: Bo's call (his turn stays his).
    assert_eq!(
        view["shot"]["called"],
        Value::Null,
        "Bo's call is taken back: {view}"
    );
    assert_eq!(view["shooter"], 1, "{view}");
    let heard = next_of(&mut feed, "undo_request").await;
    assert_eq!(heard["status"], "confirmed");
    // A safety is the shooter's call too.
    let safety = json!({"action": "safety"});
    let (status, _, _) = call(&agent, "POST", actions, Some(&ann), Some(safety.clone())).await;
    assert_eq!(status, 403);
    let (status, _, view) = call(&agent, "POST", actions, Some(&bo), Some(safety)).await;
    assert_eq!(status, 200, "{view}");
    let (status, _, _) = call(&agent, "POST", &answer, Some(&ann), Some(confirm.clone())).await;
    assert_eq!(status, 404, "a request is answered once");

    // Messages to staff: text for staff only, rate-limited per phone.
    let markup = r#"<img src=x onerror="alert(1)">"#;
    let messages = "/api/v1/phone/p1/messages";
    let (status, _, sent) = call(
        &agent,
        "POST",
        messages,
        Some(&ann),
        Some(json!({"text": markup})),
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    let heard = next_of(&mut feed, "player_message").await;
    assert!(
        heard.get("text").is_none(),
        "the text is not on the open feed: {heard}"
    );
    let (status, _, _) = call(&agent, "GET", "/api/v1/messages", None, None).await;
    assert_eq!(status, 401);
    let (status, _, kept) = call(&agent, "GET", "/api/v1/messages", Some(TOKEN), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        kept[0]["text"], markup,
        "kept as typed: pages show it as text"
    );
    let long = json!({"text": "x".repeat(141)});
    let (status, _, _) = call(&agent, "POST", messages, Some(&ann), Some(long)).await;
    assert_eq!(status, 422);
    let mut limited = None;
    for _ in 0..5 {
        let (status, retry, _) = call(
            &agent,
            "POST",
            messages,
            Some(&ann),
            Some(json!({"text": "need a rack"})),
        )
        .await;
        if status == 429 {
            limited = retry;
            break;
        }
        assert_eq!(status, 201);
    }
    assert!(
        limited.is_some_and(|r| r.parse::<u64>().is_ok_and(|s| s >= 1)),
        "429 with Retry-After"
    );
    let ack = format!("/api/v1/messages/{}/ack", sent["id"]);
    let (status, _, _) = call(&agent, "POST", &ack, Some(&ann), None).await;
    assert_eq!(status, 401, "a phone's token is not the staff's");
    let (status, _, acked) = call(&agent, "POST", &ack, Some(TOKEN), None).await;
    assert_eq!((status, acked["acknowledged"].clone()), (200, json!(true)));

    // Announcements are staff's.
    let text = json!({"text": "Table p1 closes in 10 minutes", "table": "p1"});
    let (status, _, _) = call(
        &agent,
        "POST",
        "/api/v1/announcements",
        Some(&ann),
        Some(text.clone()),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, _) = call(
        &agent,
        "POST",
        "/api/v1/announcements",
        Some(TOKEN),
        Some(text),
    )
    .await;
    assert_eq!(status, 201);
    let heard = next_of(&mut feed, "announcement").await;
    assert_eq!(heard["text"], "Table p1 closes in 10 minutes");
    let (status, _, _) = call(
        &agent,
        "POST",
        "/api/v1/tables/p1/seats/0/release",
        Some(&ann),
        None,
    )
    .await;
    assert_eq!(status, 401);
    // Staff release Bo's seat (a lost phone): his old phone is out, a new one pairs.
    let release = "/api/v1/tables/p1/seats/1/release";
    let (status, _, released) = call(&agent, "POST", release, Some(TOKEN), None).await;
    assert_eq!((status, released["released"].clone()), (200, json!(true)));
    let (status, _, _) = call(&agent, "GET", "/api/v1/phone/p1/me", Some(&bo), None).await;
    assert_eq!(status, 403, "the released phone");
    let bo_again = pair(&agent, &code, 1).await;
    let (status, _, _) = call(&agent, "GET", "/api/v1/phone/p1/me", Some(&bo_again), None).await;
    assert_eq!(status, 200);

    // The match ends: its tokens and its code are worth nothing.
    let (status, _) = agent
        .post(
            "/api/v1/tables/p1/matches/current/actions",
            json!({"action": "concede", "player": 1}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = call(&agent, "GET", "/api/v1/phone/p1/me", Some(&ann), None).await;
    assert_eq!(status, 403, "the pairing ended with the match");
    let (status, _, _) = call(&agent, "POST", actions, Some(&ann), Some(end_turn)).await;
    assert_eq!(status, 403);
    let (status, _, _) = call(&agent, "POST", pair_path, None, Some(json!({"code": code}))).await;
    assert_eq!(status, 403, "the code of an ended match");

    // Guessing codes: a wrong one is 403, then the address waits (429 + Retry-After), counted.
    let mut limited = None;
    for i in 0..20 {
        let guess = json!({"code": format!("ZZZZ{:02}", i % 8 + 22)});
        let (status, retry, body) = call(&agent, "POST", pair_path, None, Some(guess)).await;
        if status == 429 {
            limited = retry;
            break;
        }
        assert_eq!(status, 403, "{body}");
    }
    assert!(limited.is_some(), "guessing is rate-limited");
    let (status, _, _) = call(
        &agent,
        "POST",
        pair_path,
        None,
        Some(json!({"code": other_code})),
    )
    .await;
    assert_eq!(status, 429, "even the right code waits now");
    let metrics = reqwest::get(agent.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(r#"dojo_phone_refusals_total{reason="rate_limited"}"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"dojo_phone_refusals_total{reason="bad_code"}"#));

    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

/// What a phone page shows, read off the DOM.
const PHONE: &str = r##"(() => {
  const text = (el) => el ? el.textContent.trim() : null;
  const all = (sel) => [...document.querySelectorAll(sel)];
  return {
    path: location.pathname,
    link: text(document.getElementById("link")),
    names: all("#board .p .name").map(text),
    scores: all("#board .p .score").map((e) => Number(text(e))),
    shooting: all("#board .p.shooting .name").map(text),
    balls: all("#board .balls .ball").map((e) => Number(text(e))),
    controls: !document.getElementById("controls").hidden,
    enabled: all("#controls button:not([disabled])").map((b) => b.dataset.act),
    seats: all("#pair-seats button.seat").map(text),
    pairError: text(document.getElementById("pair-error")),
    undo: document.getElementById("undo").hidden ? null : text(document.getElementById("undo")),
    announcements: all("#announcements .announcement").map(text),
    injected: document.querySelectorAll("#announcements img, #undo img").length,
    width: document.documentElement.scrollWidth,
  };
})()"##;

/// Opens `url` in a browser context of its own (its own storage: another phone).
async fn open_phone(browser: &mut Browser, url: &str) -> String {
    let context = browser
        .call(None, "Target.createBrowserContext", json!({}))
        .await;
    let target = browser
        .call(
            None,
            "Target.createTarget",
            json!({"url": "about:blank", "browserContextId": context["browserContextId"]}),
        )
        .await;
    let attached = browser
        .call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        )
        .await;
    let session = attached["sessionId"].as_str().expect("session").to_owned();
    browser.viewport(&session, 390, 844, true).await;
    browser
        .call(Some(&session), "Page.navigate", json!({"url": url}))
        .await;
    session
}

async fn clicked(browser: &mut Browser, session: &str, selector: &str) {
    browser
        .wait_for(
            session,
            &click(selector),
            &format!("{selector} to click"),
            |v| v == &json!(true),
        )
        .await;
}

#[tokio::test]
async fn two_phones_pair_call_end_the_turn_and_confirm_an_undo_in_chromium() {
    let dir = data_dir("phone-browser");
    let agent = Agent::start(&dir).await;
    let mut feed = ws(&agent, "?tables=t1").await;
    agent.start_match("t1", "nine-ball", 3).await;
    let mut browser = Browser::launch().await;

    // The TV shows the code and the QR code of the match in play.
    let tv = browser.open(&agent.url("/tables/t1")).await;
    let tv_code = browser
        .wait_for(&tv, "document.getElementById('pairing').hidden ? null : document.getElementById('pairing-code').textContent", "the pairing code", |v| v.as_str().is_some_and(|c| c.len() == 6))
        .await;
    let code = tv_code.as_str().expect("code").to_owned();
    assert_eq!(code, code_of(&agent, "t1").await);
    let qr = reqwest::get(agent.url("/tables/t1/pairing.svg"))
        .await
        .expect("QR");
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");
    assert!(qr.text().await.expect("svg").starts_with("<svg"));

    // Ann and Bo open the TV's link on their phones and pick their seats.
    let ann = open_phone(&mut browser, &agent.url(&format!("/p/{code}"))).await;
    let shown = browser
        .wait_for(&ann, PHONE, "the seats", |v| {
            v["seats"] == json!(["Ann", "Bo"])
        })
        .await;
    assert_eq!(shown["width"], 390, "fits a phone: {shown:#}");
    clicked(&mut browser, &ann, r#"button.seat[data-seat="0"]"#).await;
    let shown = browser
        .wait_for(&ann, PHONE, "Ann's controls", |v| {
            v["controls"] == true && v["link"] == "Live"
        })
        .await;
    assert_eq!(shown["path"], "/phone/t1", "{shown:#}");
    assert_eq!(shown["names"], json!(["Ann (you)", "Bo"]), "{shown:#}");
    assert_eq!(
        shown["balls"],
        json!((1..=9).collect::<Vec<_>>()),
        "{shown:#}"
    );
    let bo = open_phone(&mut browser, &agent.url(&format!("/p/{code}"))).await;
    clicked(&mut browser, &bo, r#"button.seat[data-seat="1"]"#).await;
    let shown = browser
        .wait_for(&bo, PHONE, "Bo's controls", |v| v["controls"] == true)
        .await;
    assert!(
        !shown["enabled"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("end_turn"))),
        "not Bo's shot: {shown:#}"
    );

    // Ann calls the 1 and ends her turn from her phone.
    clicked(&mut browser, &ann, r#"#controls [data-act="call"]"#).await;
    clicked(&mut browser, &ann, r#".pick[data-ball="1"]"#).await;
    until(&mut feed, "t1", |v| v["shot"]["called"]["ball"] == 1).await;
    clicked(&mut browser, &ann, r#"#controls [data-act="end_turn"]"#).await;
    until(&mut feed, "t1", |v| v["shooter"] == 1).await;
    browser
        .wait_for(&bo, PHONE, "Bo at the table", |v| {
            v["shooting"] == json!(["Bo (you)"])
        })
        .await;

    // Bo asks for an undo; Ann's phone shows the request and confirms it.
    clicked(&mut browser, &bo, r#"#controls [data-act="undo"]"#).await;
    let shown = browser
        .wait_for(&ann, PHONE, "the request to undo", |v| {
            v["undo"]
                .as_str()
                .is_some_and(|t| t.contains("Bo asks to undo"))
        })
        .await;
    assert_eq!(shown["injected"], 0);
    clicked(&mut browser, &ann, "#undo-confirm").await;
    until(&mut feed, "t1", |v| v["shooter"] == 0).await;
    browser
        .wait_for(&ann, PHONE, "Ann back at the table", |v| {
            v["shooting"] == json!(["Ann (you)"]) && v["undo"].is_null()
        })
        .await;

    // Ann makes the 9 on the break: the rack is hers, and the phones list it.
    let mut ctl = Device::connect(agent.mqtt, "ctl-t1").await;
    ctl.pocket("t1", 9, 2).await;
    ctl.button("t1", "end_turn").await;
    until(&mut feed, "t1", |v| v["score"] == json!([1, 0])).await;
    let racks = "[...document.querySelectorAll('#racks .rack-row')].map((e) => e.textContent)";
    for page in [&ann, &bo] {
        browser
            .wait_for(page, racks, "the racks so far", |v| {
                v == &json!(["Rack 1Ann"])
            })
            .await;
    }

    // A stranger's code is refused.
    let stranger = open_phone(&mut browser, &agent.url("/p/ZZZZZZ")).await;
    browser
        .wait_for(&stranger, PHONE, "the refusal", |v| {
            v["pairError"]
                .as_str()
                .is_some_and(|t| t.contains("not valid"))
        })
        .await;

    // An announcement shows on the TV and the phones, as text.
    let payload = r#"<img src=x onerror="window.pwned=1"> Last orders"#;
    let (status, _) = agent
        .post("/api/v1/announcements", json!({"text": payload}))
        .await;
    assert_eq!(status, 201);
    for page in [&ann, &bo] {
        let shown = browser
            .wait_for(page, PHONE, "the announcement", |v| {
                v["announcements"] == json!([payload])
            })
            .await;
        assert_eq!(shown["injected"], 0, "{shown:#}");
    }
    let on_tv =
        "[...document.querySelectorAll('#announcements .announcement')].map((e) => e.textContent)";
    browser
        .wait_for(&tv, on_tv, "the announcement on the TV", |v| {
            v == &json!([payload])
        })
        .await;
    for page in [&tv, &ann, &bo] {
        let pwned = browser.eval(page, "window.pwned === undefined && document.querySelectorAll('#announcements img').length === 0").await;
        assert_eq!(pwned, json!(true), "shown as text, never as HTML");
    }

    // A spectator on the overview, on a phone, opens the table's read-only phone view.
    let spectator = open_phone(&mut browser, &agent.url("/")).await;
    let href = "document.querySelector('#tables .card')?.getAttribute('href') ?? null";
    browser
        .wait_for(&spectator, href, "the phone link", |v| v == "/phone/t1")
        .await;
    // Opened in a tab of its own: evaluating in a page while it navigates away races its
    // teardown (CDP then answers with an error instead of a value).
    let watcher = open_phone(&mut browser, &agent.url("/phone/t1")).await;
    let shown = browser
        .wait_for(&watcher, PHONE, "the read-only view", |v| {
            v["names"] == json!(["Ann", "Bo"])
        })
        .await;
    assert_eq!(shown["controls"], false, "spectators only watch: {shown:#}");

    drop(browser);
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

/// Bytes of `path` as served with `Accept-Encoding: gzip`; checks it is gzipped and revalidates.
async fn compressed_size(agent: &Agent, path: &str) -> usize {
    let client = reqwest::Client::new();
    let response = (client.get(agent.url(path)))
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .expect("HTTP answers");
    assert_eq!(response.status(), 200, "{path}");
    let headers = response.headers().clone();
    assert_eq!(
        headers.get("content-encoding").map(|v| v.as_bytes()),
        Some(&b"gzip"[..]),
        "{path} is gzipped"
    );
    if let Some(etag) = headers.get("etag") {
        let again = (client.get(agent.url(path)))
            .header("if-none-match", etag)
            .send()
            .await
            .expect("HTTP answers");
        assert_eq!(again.status(), 304, "{path} revalidates");
    }
    response.bytes().await.expect("body").len()
}

/// The phone measure, (a): the phone view's first load (the page and every asset it loads),
/// compressed, within 60 KB; the assets revalidate by ETag. Sizes, not times: a plain test.
#[tokio::test]
async fn the_phone_view_first_load_is_small_compressed_and_cached() {
    let dir = data_dir("phone-weight");
    let agent = Agent::start(&dir).await;
    agent.start_match("w1", "nine-ball", 3).await;
    let mut total = 0;
    let mut lines = Vec::new();
    for path in [
        "/phone/w1",
        "/assets/phone.css",
        "/assets/live.js",
        "/assets/phone.js",
    ] {
        let size = compressed_size(&agent, path).await;
        lines.push(format!("{path}: {size} B"));
        total += size;
    }
    eprintln!("phone first load, gzip: {total} B ({})", lines.join(", "));
    assert!(total <= 60 * 1024, "{total} B > 60 KB: {lines:?}");
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

/// The phone measure, (b): from a `pocket` publish to the update on a phone's `/ws` (as the phone
/// page opens it) and on the TV's, in the same run: p50/p99 of each and of their difference. A
/// measure, not a test: `cargo test -p edge-agent --test it phone_measure -- --ignored --nocapture`
/// (figures in docs/benchmarks.md).
#[tokio::test]
#[ignore = "a measure: run it with --ignored --nocapture (docs/benchmarks.md)"]
async fn phone_measure_pocket_to_phone_vs_tv() {
    use futures_util::StreamExt;
    use tokio::sync::mpsc;

    const SAMPLES: usize = 400;
    let dir = data_dir("phone-measure");
    let agent = Agent::start(&dir).await;
    agent.start_match("m1", "nine-ball", 200).await;
    let code = code_of(&agent, "m1").await;
    let _paired = pair(&agent, &code, 0).await;
    // Each screen's socket is read by a task of its own, which stamps every update on arrival.
    let mut arrivals = Vec::new();
    for _ in 0..2 {
        let mut socket = ws(&agent, "?tables=m1").await;
        next_json(&mut socket).await; // the snapshot
        let (tx, rx) = mpsc::unbounded_channel::<Instant>();
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                let at = Instant::now();
                if message
                    .to_text()
                    .is_ok_and(|t| t.starts_with(r#"{"type":"update""#))
                    && tx.send(at).is_err()
                {
                    break;
                }
            }
        });
        arrivals.push(rx);
    }
    let mut ctl = Device::connect(agent.mqtt, "ctl-m1").await;
    let (mut phone, mut tv, mut difference) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        let ball = u8::try_from(i % 9).unwrap_or(0) + 1;
        let sent = Instant::now();
        ctl.pocket("m1", ball, 1).await;
        let mut at = [sent; 2];
        for (slot, rx) in at.iter_mut().zip(arrivals.iter_mut()) {
            *slot = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("an update within 10 s")
                .expect("the reader runs");
        }
        // Whatever else this pocket made (a rack's end) arrives before the next publish.
        tokio::time::sleep(Duration::from_millis(15)).await;
        for rx in &mut arrivals {
            while rx.try_recv().is_ok() {}
        }
        let micros = |d: Duration| d.as_secs_f64() * 1e6;
        phone.push(micros(at[0] - sent));
        tv.push(micros(at[1] - sent));
        difference.push((micros(at[0] - sent) - micros(at[1] - sent)).abs());
    }
    let pct = |values: &mut Vec<f64>, p: f64| {
        values.sort_by(f64::total_cmp);
        let index = ((values.len() as f64 * p).ceil() as usize).clamp(1, values.len()) - 1;
        values[index]
    };
    eprintln!(
        "pocket → update, {SAMPLES} pockets, µs: phone p50 {:.0} p99 {:.0}; TV p50 {:.0} p99 {:.0}; |phone − TV| p50 {:.0} p99 {:.0}",
        pct(&mut phone, 0.5),
        pct(&mut phone, 0.99),
        pct(&mut tv, 0.5),
        pct(&mut tv, 0.99),
        pct(&mut difference, 0.5),
        pct(&mut difference, 0.99),
    );
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_staff_console_confirms_an_undo_acknowledges_a_message_and_announces_in_chromium() {
    let dir = data_dir("phone-staff");
    let agent = Agent::start(&dir).await;
    let mut feed = ws(&agent, "?tables=s1").await;
    agent.start_match("s1", "nine-ball", 3).await;
    let code = code_of(&agent, "s1").await;
    let (ann, bo) = (pair(&agent, &code, 0).await, pair(&agent, &code, 1).await);
    let end_turn = Some(json!({"action": "end_turn"}));
    let (status, _, _) = call(
        &agent,
        "POST",
        "/api/v1/phone/s1/actions",
        Some(&ann),
        end_turn,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = call(
        &agent,
        "POST",
        "/api/v1/phone/s1/undo-requests",
        Some(&bo),
        None,
    )
    .await;
    assert_eq!(status, 202);
    let markup = r#"<img src=x onerror="window.pwned=1"> need a referee"#;
    let body = Some(json!({"text": markup}));
    let (status, _, _) = call(
        &agent,
        "POST",
        "/api/v1/phone/s1/messages",
        Some(&ann),
        body,
    )
    .await;
    assert_eq!(status, 201);

    let mut browser = Browser::launch().await;
    let page = browser.open(&agent.url("/staff")).await;
    let unlock = format!(
        "document.getElementById('token').value = {TOKEN:?}; \
         document.getElementById('unlock-form').requestSubmit(); true"
    );
    // Submitting before staff.js runs would post the form itself (which the CSP refuses).
    let ready = "document.readyState === 'complete' && !!document.getElementById('unlock-form')";
    browser
        .wait_for(&page, ready, "the console loaded", |v| v == &json!(true))
        .await;
    browser.eval(&page, &unlock).await;
    // The request made before the console connected is on it, and staff confirm it.
    let undo_row = "document.querySelector('#room-undo .undo-row')?.textContent ?? null";
    browser
        .wait_for(&page, undo_row, "the request to undo", |v| {
            v.as_str().is_some_and(|t| t.contains("Bo asks to undo"))
        })
        .await;
    clicked(&mut browser, &page, "#room-undo .undo-confirm").await;
    until(&mut feed, "s1", |v| v["shooter"] == 0).await;
    browser
        .wait_for(&page, undo_row, "the request gone", Value::is_null)
        .await;
    // The player's message, as text; staff see to it.
    let message = "document.querySelector('#room-messages .message-text')?.textContent ?? null";
    browser
        .wait_for(&page, message, "the message", |v| v == markup)
        .await;
    let clean = "window.pwned === undefined && document.querySelectorAll('#room img').length === 0";
    assert_eq!(
        browser.eval(&page, clean).await,
        json!(true),
        "shown as text"
    );
    clicked(&mut browser, &page, "#room-messages .message-ack").await;
    let done = "document.querySelector('#room-messages .message.done') !== null";
    browser
        .wait_for(&page, done, "the message seen to", |v| v == &json!(true))
        .await;
    let (_, _, kept) = call(&agent, "GET", "/api/v1/messages", Some(TOKEN), None).await;
    assert_eq!(kept[0]["acknowledged"], true, "{kept}");
    // An announcement from the console's form.
    clicked(&mut browser, &page, "#room-toggle").await;
    let announce = "document.getElementById('announce-text').value = 'Table s1 closes at 11'; \
                    document.getElementById('announce-form').requestSubmit(); true";
    browser.eval(&page, announce).await;
    let up = "document.querySelector('#room-announcements .room-row')?.textContent ?? null";
    browser
        .wait_for(&page, up, "the announcement listed", |v| {
            v.as_str()
                .is_some_and(|t| t.contains("Table s1 closes at 11"))
        })
        .await;
    let (_, list) = agent.get("/api/v1/announcements").await;
    assert_eq!(list[0]["text"], "Table s1 closes at 11", "{list}");

    drop(browser);
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_tables_code_and_its_phones_survive_a_restart() {
    let dir = data_dir("phone-restart");
    let agent = Agent::start(&dir).await;
    agent.start_match("r1", "nine-ball", 3).await;
    let code = code_of(&agent, "r1").await;
    let ann = pair(&agent, &code, 0).await;
    agent.stop().await;

    let agent = Agent::start(&dir).await;
    assert_eq!(
        code_of(&agent, "r1").await,
        code,
        "the same match, the same code"
    );
    let (status, _, me) = call(&agent, "GET", "/api/v1/phone/r1/me", Some(&ann), None).await;
    assert_eq!((status, me["seat"].clone()), (200, json!(0)), "{me}");
    let taken = json!({"code": code, "seat": 0});
    let (status, _, _) = call(&agent, "POST", "/api/v1/phone/pair", None, Some(taken)).await;
    assert_eq!(status, 409, "Ann's phone claimed its seat again");
    // A new match: a new code, and the old phone is not paired with it.
    let concede = json!({"action": "concede", "player": 0});
    let (status, _) = agent
        .post("/api/v1/tables/r1/matches/current/actions", concede)
        .await;
    assert_eq!(status, 200);
    agent.start_match("r1", "nine-ball", 3).await;
    assert_ne!(code_of(&agent, "r1").await, code, "rotated with the match");
    let (status, _, _) = call(&agent, "GET", "/api/v1/phone/r1/me", Some(&ann), None).await;
    assert_eq!(status, 403);
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
