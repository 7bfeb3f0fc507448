//! What a stranger on the venue network can do to the agent's web side, tried over real sockets
//! (issue 16): screens that reconnect with `?since=` and never read must not pin memory (defect
//! 6, against the agent as a process, measured by its RSS), the staff token cannot be guessed at
//! speed and a weak one is refused at start (defect 8), and every page, asset and API answer
//! carries the security headers (defect 9).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

// ---- Defect 9: security headers on every answer ----------------------------------------------

/// The headers every answer must carry; `what` names the route in failures.
fn assert_secure(what: &str, headers: &reqwest::header::HeaderMap) {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let csp = get("content-security-policy");
    for needed in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(needed), "{what}: CSP {csp:?} lacks {needed}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
}

/// The asset files the agent serves (every file of `src/api/assets` but the page templates).
fn asset_files() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/assets");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("the assets folder")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| !name.ends_with(".html"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn every_page_asset_and_api_answer_carries_the_security_headers() {
    let dir = data_dir("web-headers");
    let agent = Agent::start(&dir).await;
    agent.start_match("w1", "nine-ball", 3).await;
    let client = reqwest::Client::new();
    let pages = [
        "/",
        "/tables/w1",
        "/staff",
        "/phone/w1",
        "/p/ABC123",
        "/overlay/w1",
        "/results",
        "/matches/m-1/replay",
    ];
    for page in pages {
        let response = client.get(agent.url(page)).send().await.expect("answers");
        assert_eq!(response.status().as_u16(), 200, "{page}");
        assert_secure(page, response.headers());
        // What the policy would block must not be on the page: no inline script or style.
        let html = response.text().await.expect("HTML");
        for script in html.split("<script").skip(1) {
            let tag = script.split('>').next().unwrap_or_default();
            assert!(tag.contains("src="), "{page}: an inline script");
        }
        assert!(
            !html.contains("<style") && !html.contains(" style="),
            "{page}: inline style"
        );
    }
    let assets = asset_files();
    assert!(assets.len() >= 15, "{assets:?}");
    for asset in &assets {
        let path = format!("/assets/{asset}");
        let response = client.get(agent.url(&path)).send().await.expect("answers");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_secure(&path, response.headers());
    }
    // JSON, text, images, errors: nosniff and the rest on every answer, whatever its status.
    let others = [
        ("/api/v1/tables", 200),
        ("/api/v1/tables/w1", 200),
        ("/api/v1/results", 200),
        ("/api/v1/network", 200),
        ("/tables/w1/pairing.svg", 200),
        ("/healthz", 200),
        ("/metrics", 200),
        ("/api/v1/dead-letters", 401),
        ("/api/v1/tables/nope-nope", 404),
        ("/assets/nope.js", 404),
        ("/no/such/page", 404),
    ];
    for (path, status) in others {
        let response = client.get(agent.url(path)).send().await.expect("answers");
        assert_eq!(response.status().as_u16(), status, "{path}");
        assert_secure(path, response.headers());
    }
    let wrong_method = client.delete(agent.url("/")).send().await.expect("answers");
    assert_eq!(wrong_method.status().as_u16(), 405);
    assert_secure("DELETE /", wrong_method.headers());
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

// ---- Defect 8: the staff token -----------------------------------------------------------------

/// A client whose requests come from `ip` (another loopback address: every test's own client is
/// 127.0.0.1).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::from(ip)))
        .build()
        .expect("client")
}

async fn announce(
    client: &reqwest::Client,
    agent: &Agent,
    token: Option<&str>,
) -> reqwest::Response {
    let request = client
        .post(agent.url("/api/v1/announcements"))
        .json(&json!({"text": "Last orders"}));
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.expect("answers")
}

/// `dojo_staff_auth_total{outcome="…"}` on the agent's `/metrics`.
async fn staff_auth_metric(agent: &Agent, outcome: &str) -> u64 {
    let text = reqwest::get(agent.url("/metrics"))
        .await
        .expect("answers")
        .text()
        .await
        .expect("text");
    metric(
        &text,
        &format!("dojo_staff_auth_total{{outcome=\"{outcome}\"}}"),
    )
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test]
async fn wrong_staff_tokens_are_slowed_per_address_and_staff_are_alerted() {
    let dir = data_dir("web-guess");
    let agent = Agent::start(&dir).await;
    let mut console = ws(&agent, "").await;
    assert_eq!(next_json(&mut console).await["type"], "snapshot");
    let attacker = client_from([127, 0, 0, 2]);
    let staff = reqwest::Client::new();

    // A burst of wrong guesses: 401 each, as for any wrong token.
    let burst = 10;
    for guess in 0..burst {
        let response = announce(&attacker, &agent, Some(&format!("guess-{guess:012}"))).await;
        assert_eq!(response.status().as_u16(), 401, "guess {guess}");
    }
    // Then the address waits, whatever it sends: even the right token is not compared.
    let refused = announce(&attacker, &agent, Some(TOKEN)).await;
    assert_eq!(refused.status().as_u16(), 429);
    let retry_after: u64 = (refused.headers().get("retry-after"))
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=6).contains(&retry_after), "{retry_after}");
    assert_eq!(
        announce(&attacker, &agent, Some("guess-again-123456"))
            .await
            .status()
            .as_u16(),
        429
    );
    // Staff at the bar, on another address, are not slowed and see the alert.
    let alert = next_json(&mut console).await;
    assert_eq!(alert["type"], "staff_alert", "{alert}");
    assert!(alert.get("text").is_none(), "the feed is public: {alert}");
    let alerts: Value = staff
        .get(agent.url("/api/v1/alerts"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    let alerts = alerts.as_array().expect("a list");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let text = alerts[0]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("127.0.0.2") && text.contains("staff token"),
        "{text}"
    );
    assert_eq!(
        staff
            .get(agent.url("/api/v1/alerts"))
            .send()
            .await
            .expect("answers")
            .status()
            .as_u16(),
        401,
        "the alerts are for staff"
    );
    // After Retry-After, one more try (wrong: 401), then waiting again.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(
        announce(&attacker, &agent, Some("guess-late-123456"))
            .await
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        announce(&attacker, &agent, Some(TOKEN))
            .await
            .status()
            .as_u16(),
        429
    );

    // A client that sends no token is not guessing: 401 every time, never slowed.
    let forgetful = client_from([127, 0, 0, 3]);
    for _ in 0..(2 * burst) {
        assert_eq!(
            announce(&forgetful, &agent, None).await.status().as_u16(),
            401
        );
    }
    assert_eq!(staff_auth_metric(&agent, "failed").await, burst + 1);
    assert_eq!(staff_auth_metric(&agent, "limited").await, 3);
    assert_eq!(staff_auth_metric(&agent, "alerted").await, 1);
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_staff_console_shows_the_alert_of_a_guessing_burst_in_chromium() {
    use dojo_testkit::browser::Browser;
    let dir = data_dir("web-alert-console");
    let agent = Agent::start(&dir).await;
    let mut browser = Browser::launch().await;
    let page = browser.open(&agent.url("/staff")).await;
    let ready = "document.readyState === 'complete' && !!document.getElementById('unlock-form')";
    browser
        .wait_for(&page, ready, "the console loaded", |v| v == &json!(true))
        .await;
    let unlock = format!(
        "document.getElementById('token').value = {TOKEN:?}; \
         document.getElementById('unlock-form').requestSubmit(); true"
    );
    browser.eval(&page, &unlock).await;
    let live = "document.getElementById('link')?.textContent ?? ''";
    browser
        .wait_for(&page, live, "the console live", |v| {
            v.as_str().is_some_and(|t| t.contains("Live"))
        })
        .await;
    // Someone else on the network guesses until their address is made to wait.
    let attacker = client_from([127, 0, 0, 4]);
    let mut status = 401;
    for guess in 0..20 {
        status = announce(&attacker, &agent, Some(&format!("guess-{guess:012}")))
            .await
            .status()
            .as_u16();
        if status == 429 {
            break;
        }
    }
    assert_eq!(status, 429);
    let alert = "document.querySelector('#room-alerts .staff-alert')?.textContent ?? null";
    browser
        .wait_for(&page, alert, "the alert on the console", |v| {
            v.as_str()
                .is_some_and(|t| t.contains("127.0.0.4") && t.contains("staff token"))
        })
        .await;
    let shown = "!document.getElementById('room').hidden";
    browser
        .wait_for(&page, shown, "the room panel shown", |v| v == &json!(true))
        .await;
    drop(browser);
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_weak_staff_token_is_refused_at_start_with_how_to_make_a_good_one() {
    let dir = data_dir("web-weak-token");
    for weak in [
        "12345678",
        "1234567890123456",
        "aaaaaaaaaaaaaaaaaaaa",
        "short-tok3n",
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_edge-agent"))
            .args(["--data-dir", &dir.display().to_string()])
            .args(["--http-addr", &format!("127.0.0.1:{}", free_port())])
            .args(["--mqtt-addr", &format!("127.0.0.1:{}", free_port())])
            .args(["--staff-token", weak])
            .output()
            .expect("edge-agent runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{weak}: {stderr}");
        assert!(
            stderr.contains("staff-token")
                && stderr.contains("too weak")
                && stderr.contains("openssl rand"),
            "{weak}: {stderr}"
        );
    }
    std::fs::remove_dir_all(dir).ok();
}

// ---- Defect 6: screens that never read ----------------------------------------------------------

#[tokio::test]
async fn one_address_cannot_take_every_screen_connection() {
    let dir = data_dir("web-screens-per-address");
    let agent = Agent::start(&dir).await;
    let connect = |ip: [u8; 4]| {
        let url = agent.url("/ws").replace("http://", "ws://");
        let server = agent.running.http_addr;
        async move {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket
                .bind((Ipv4Addr::from(ip), 0).into())
                .expect("bind a loopback address");
            let stream = socket.connect(server).await.expect("TCP connects");
            tokio_tungstenite::client_async(url, stream).await
        }
    };
    let mut held = Vec::new();
    for _ in 0..edge_agent::hub::MAX_SCREENS_PER_ADDRESS {
        held.push(connect([127, 0, 0, 2]).await.expect("admitted").0);
    }
    match connect([127, 0, 0, 2]).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429);
            assert!(response.headers().contains_key("retry-after"));
        }
        other => panic!(
            "one screen too many was not refused: {:?}",
            other.map(|_| ())
        ),
    }
    // Other addresses are not affected, and a screen that leaves frees its place.
    assert!(connect([127, 0, 0, 3]).await.is_ok());
    drop(held.pop());
    let mut admitted = false;
    for _ in 0..50 {
        if connect([127, 0, 0, 2]).await.is_ok() {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(admitted, "the place of a screen that left is free again");
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

/// The agent's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Tables of the attack: `w10`…`w17`.
fn flood_tables() -> Vec<String> {
    (10..18).map(|n| format!("w{n}")).collect()
}

/// The newest seq the agent has committed, from a fresh snapshot.
async fn newest_seq(http: &str) -> u64 {
    let url = format!("{}/ws", http.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a snapshot in time")
            .expect("open")
            .expect("a frame");
        if let Message::Text(text) = message {
            let snapshot: Value = serde_json::from_str(&text).expect("JSON");
            return snapshot["seq"].as_u64().expect("seq");
        }
    }
}

/// One attacker: connects with `?since=` a little or a lot behind, reads nothing, holds the
/// connection for `hold`, drops it and connects again, until `stop`.
async fn attacker(
    http: String,
    behind: u64,
    hold: Duration,
    newest: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> u32 {
    let mut connections = 0;
    while !stop.load(Ordering::Relaxed) {
        let since = newest.load(Ordering::Relaxed).saturating_sub(behind).max(1);
        let url = format!("{}/ws?since={since}", http.replace("http://", "ws://"));
        if let Ok(Ok((ws, _))) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio_tungstenite::connect_async(url),
        )
        .await
        {
            connections += 1;
            tokio::time::sleep(hold).await;
            drop(ws);
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    connections
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn screens_that_reconnect_with_since_and_never_read_cannot_pin_the_agents_memory() {
    const ATTACKERS: usize = 200;
    let dir = data_dir("web-since-flood");
    let agent = Process::start(EDGE_AGENT, &dir, &[]).await;
    let pid = agent.child.id();
    let http = agent.http.clone();
    let staff = reqwest::Client::new();
    let tables = flood_tables();
    let mut devices = Vec::new();
    for table in &tables {
        let spec = json!({"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 9, "break": "alternate"});
        let response = staff
            .post(format!("{http}/api/v1/tables/{table}/matches"))
            .bearer_auth(TOKEN)
            .json(&spec)
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status().as_u16(), 201);
        devices.push(Device::connect(agent.mqtt, &format!("ctl-{table}")).await);
    }
    // A log to replay from: 2,400 views (turns ending), more than a replay may hold.
    for _ in 0..300 {
        for (device, table) in devices.iter_mut().zip(&tables) {
            device.button(table, "end_turn").await;
        }
    }
    let last = tables.last().expect("tables").clone();
    wait_seq_at_least(&http, 2_400).await;
    let newest = Arc::new(AtomicU64::new(newest_seq(&http).await));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let baseline = rss_kib(pid);
    assert!(baseline > 0, "the agent's RSS is readable");

    // An honest screen on one table, reading everything.
    let honest_url = format!("{}/ws?tables={last}", http.replace("http://", "ws://"));
    let (mut honest, _) = tokio_tungstenite::connect_async(honest_url)
        .await
        .expect("connects");
    let first: Value = match honest.next().await {
        Some(Ok(Message::Text(text))) => serde_json::from_str(&text).expect("JSON"),
        other => panic!("no snapshot: {other:?}"),
    };
    assert_eq!(first["type"], "snapshot");
    let honest_task = tokio::spawn(async move {
        let (mut updates, mut snapshots, mut last_seq) = (Vec::new(), 0u32, 0u64);
        while let Ok(Some(Ok(message))) =
            tokio::time::timeout(Duration::from_secs(8), honest.next()).await
        {
            let Message::Text(text) = message else {
                continue;
            };
            let message: Value = serde_json::from_str(&text).expect("JSON");
            match message["type"].as_str() {
                Some("update") => {
                    let seq = message["seq"].as_u64().expect("seq");
                    assert!(seq > last_seq, "went back");
                    last_seq = seq;
                    updates.push(seq);
                }
                Some("snapshot") => snapshots += 1,
                _ => {}
            }
        }
        (updates, snapshots)
    });

    // Events keep flowing: every table ends a turn every 100 ms for the attack's time.
    let stop = Arc::new(AtomicBool::new(false));
    let flow = {
        let (stop, newest, http) = (stop.clone(), newest.clone(), http.clone());
        let tables = tables.clone();
        tokio::spawn(async move {
            let mut sent_last = 0u32;
            while !stop.load(Ordering::Relaxed) {
                for (device, table) in devices.iter_mut().zip(&tables) {
                    device.button(table, "end_turn").await;
                }
                sent_last += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                if sent_last.is_multiple_of(10) {
                    newest.store(newest_seq(&http).await, Ordering::Relaxed);
                }
            }
            (devices, sent_last)
        })
    };
    // 200 screens that never read: half a lot behind (a replay larger than allowed), half a
    // little (a replay within the limit), each reconnecting after 1 or 7 s.
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|i| {
            let behind = if i % 2 == 0 { 1_900 } else { 150 };
            let hold = Duration::from_millis(if i % 4 < 2 { 1_000 } else { 7_000 });
            tokio::spawn(attacker(
                http.clone(),
                behind,
                hold,
                newest.clone(),
                stop.clone(),
            ))
        })
        .collect();
    let started = Instant::now();
    let mut peak = baseline;
    while started.elapsed() < Duration::from_secs(20) {
        peak = peak.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut connections = 0;
    for attacker in attackers {
        connections += attacker.await.expect("attacker");
    }
    let (_devices, rounds) = flow.await.expect("events");
    peak = peak.max(rss_kib(pid));
    // They left: the agent notices at its next write or ping and lets go of their memory.
    let mut after = rss_kib(pid);
    let left = Instant::now();
    while left.elapsed() < Duration::from_secs(20) && after > baseline + 16 * 1024 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        after = rss_kib(pid);
    }
    let metrics = reqwest::get(format!("{http}/metrics"))
        .await
        .expect("answers")
        .text()
        .await
        .expect("text");
    let replays: HashMap<&str, u64> = ["replayed", "too_large", "too_far_behind", "busy"]
        .into_iter()
        .map(|o| {
            (
                o,
                metric(
                    &metrics,
                    &format!("dojo_ws_replays_total{{outcome=\"{o}\"}}"),
                ),
            )
        })
        .collect();
    eprintln!(
        "since flood: {connections} connections, RSS {baseline} KiB before, peak {peak} KiB, \
         {after} KiB after; replays {replays:?}; {rounds} rounds of events"
    );
    assert!(
        connections as usize >= 2 * ATTACKERS,
        "the attack ran: {connections}"
    );
    assert!(
        replays["too_large"] > 0 && replays["replayed"] > 0,
        "{replays:?}"
    );
    assert!(
        peak < baseline + 48 * 1024,
        "RSS rose from {baseline} KiB to {peak} KiB"
    );
    assert!(
        after < baseline + 16 * 1024,
        "RSS stayed at {after} KiB after the screens left (from {baseline} KiB)"
    );
    // The honest screen got every change of its table, in order, without falling behind.
    let (updates, snapshots) = honest_task.await.expect("honest screen");
    let table: Value = staff
        .get(format!("{http}/api/v1/tables/{last}"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(snapshots, 0, "the honest screen never fell behind");
    assert_eq!(
        updates.last().copied(),
        table["seq"].as_u64(),
        "the honest screen ends on the table's newest view"
    );
    // One update per event, but for events committed together (a group commit publishes only
    // a table's newest view): on a loaded machine a few are, never many.
    let received = u32::try_from(updates.len()).unwrap_or(u32::MAX);
    assert!(
        received <= rounds && received * 4 >= rounds * 3,
        "the honest screen got {received} updates for {rounds} events"
    );
    drop(agent);
    std::fs::remove_dir_all(dir).ok();
}

/// Waits (at most 30 s) until the agent has committed seq `seq`.
async fn wait_seq_at_least(http: &str, seq: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let newest = newest_seq(http).await;
        if newest >= seq {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only seq {newest} of {seq} committed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
