//! Debian's headless Chromium driven over the DevTools protocol (CDP) by a small client over
//! tokio-tungstenite: the venue pages tested as a real browser renders them, live. Shared by every
//! crate whose pages are tested (edge-agent's screens and console, cloud-sync's portal).
//!
//! Needs `/usr/bin/chromium` (or `DOJO_CHROMIUM=<path>`); `.ci/run` installs it. Without it a test
//! fails, saying so: it is never skipped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a page may take to show an expected state.
pub const PAGE_WAIT: Duration = Duration::from_secs(15);

pub fn chromium_path() -> PathBuf {
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
#[allow(missing_debug_implementations)] // holds a child process and a CDP socket: nothing to print
pub struct Browser {
    _child: Child,
    profile: PathBuf,
    cdp: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("profile", &self.profile)
            .field("next_id", &self.next_id)
            .finish_non_exhaustive()
    }
}

impl Browser {
    pub async fn launch() -> Browser {
        let profile = crate::temp_dir("chromium-profile");
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
    pub async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let reply = self.call_reply(session, method, params).await;
        assert!(reply["error"].is_null(), "CDP {method} failed: {reply}");
        reply["result"].clone()
    }

    /// [`Browser::call`]'s whole reply, an `error` included.
    async fn call_reply(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
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
            return reply;
        }
    }

    /// Opens `url` in a new tab; returns the tab's session.
    pub async fn open(&mut self, url: &str) -> String {
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
    pub async fn eval(&mut self, session: &str, expression: &str) -> Value {
        let reply = self
            .call_reply(
                Some(session),
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await;
        // Between two documents (a navigation under way) there is no context to evaluate in:
        // like a page still loading, that is "nothing yet".
        if reply["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("execution context") || m.contains("navigated or closed"))
        {
            return Value::Null;
        }
        assert!(
            reply["error"].is_null(),
            "CDP Runtime.evaluate failed: {reply}"
        );
        let result = &reply["result"];
        if result["exceptionDetails"].is_null() {
            result["result"]["value"].clone()
        } else {
            Value::Null
        }
    }

    /// Polls `expression` until `done` holds for its value; panics after [`PAGE_WAIT`] with the
    /// last value seen.
    pub async fn wait_for(
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

/// An expression that clicks `selector` if it is there and enabled: `true` once it did.
pub fn click(selector: &str) -> String {
    format!(
        "(() => {{ const el = document.querySelector({selector:?}); \
         if (!el || el.disabled || el.closest('[hidden]')) return false; el.click(); return true; }})()"
    )
}

impl Browser {
    /// Sets the page's viewport (CSS pixels; `mobile` for a phone's), e.g. 390×844 for a phone.
    pub async fn viewport(&mut self, session: &str, width: u32, height: u32, mobile: bool) {
        self.call(
            Some(session),
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        )
        .await;
    }

    /// Makes the page's default background transparent (as OBS's browser source renders it).
    pub async fn transparent(&mut self, session: &str) {
        self.call(
            Some(session),
            "Emulation.setDefaultBackgroundColorOverride",
            json!({"color": {"r": 0, "g": 0, "b": 0, "a": 0}}),
        )
        .await;
    }
}
