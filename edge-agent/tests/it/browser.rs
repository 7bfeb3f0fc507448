//! The venue pages in a real browser: Debian's headless Chromium, driven over the DevTools
//! protocol (CDP) by a small client over tokio-tungstenite. One page stays open while devices
//! publish, so this checks what the TV actually shows, live, not just what `/ws` sends.
//!
//! Needs `/usr/bin/chromium` (or `DOJO_CHROMIUM=<path>`); `.ci/run` installs it. Without it the
//! test fails, saying so: it is never skipped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

/// How long a page may take to show an expected state.
const PAGE_WAIT: Duration = Duration::from_secs(15);

fn chromium_path() -> PathBuf {
    let path = std::env::var_os("DOJO_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "the browser test needs Chromium at {} (Debian: `apt-get install chromium`, as .ci/run \
         does; or set DOJO_CHROMIUM to its path)",
        path.display()
    );
    path
}

/// A headless Chromium with its own empty profile, killed on drop.
struct Browser {
    _child: Child,
    profile: PathBuf,
    cdp: Ws,
    next_id: u64,
}

impl Browser {
    async fn launch() -> Browser {
        let profile = data_dir("chromium-profile");
        let mut child = Command::new(chromium_path())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1920,1080",
                "--remote-debugging-port=0",
                "about:blank",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("Chromium starts");
        // Chromium prints "DevTools listening on ws://127.0.0.1:<port>/devtools/browser/<id>".
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr piped")).lines();
        let mut seen = Vec::new();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = stderr.next_line().await.expect("read Chromium's stderr") {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return url.trim().to_owned();
                }
                seen.push(line);
            }
            panic!(
                "Chromium exited before DevTools listened:\n{}",
                seen.join("\n")
            );
        })
        .await
        .expect("Chromium's DevTools listens within 30 s");
        // Keep draining stderr so Chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
        let cdp = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("CDP WebSocket connects")
            .0;
        Browser {
            _child: child,
            profile,
            cdp,
            next_id: 0,
        }
    }

    /// One CDP command; `session` addresses a page attached with `flatten`. Events are skipped.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        self.cdp
            .send(Message::text(command.to_string()))
            .await
            .expect("CDP command sent");
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), self.cdp.next())
                .await
                .unwrap_or_else(|_| panic!("no CDP answer to {method} within 30 s"))
                .expect("CDP connection open")
                .expect("valid CDP frame");
            let Message::Text(text) = message else {
                continue;
            };
            let reply: Value = serde_json::from_str(&text).expect("CDP sends JSON");
            if reply["id"] != id {
                continue;
            }
            assert!(reply["error"].is_null(), "CDP {method} failed: {reply}");
            return reply["result"].clone();
        }
    }

    /// Opens `url` in a new tab; returns the tab's session.
    async fn open(&mut self, url: &str) -> String {
        let target = self
            .call(None, "Target.createTarget", json!({"url": url}))
            .await;
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned()
    }

    /// Evaluates `expression` in the page; its value (JSON-able), or null if it threw (e.g. the
    /// page is still loading).
    async fn eval(&mut self, session: &str, expression: &str) -> Value {
        let result = self
            .call(
                Some(session),
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await;
        if result["exceptionDetails"].is_null() {
            result["result"]["value"].clone()
        } else {
            Value::Null
        }
    }

    /// Polls `expression` until `done` holds for its value; panics after [`PAGE_WAIT`] with the
    /// last value seen.
    async fn wait_for(
        &mut self,
        session: &str,
        expression: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            let value = self.eval(session, expression).await;
            if done(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "the page did not show {what} within {PAGE_WAIT:?}; it shows: {value:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.profile).ok();
    }
}

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
