//! Test harness: free ports, temp dirs, pseudo-terminals behind a stable symlink, a bridge, a
//! simulated controller in a task, an in-process edge-agent and its WebSocket feed. Every wait is
//! bounded.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use edge_agent::config::Config;
use edge_agent::mqtt::MqttMode;
use edge_agent::{CancellationToken, Running};
use firmware_bridge::config::BridgeConfig;
use firmware_bridge::simulator::{Controller, SimOptions, pty};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

pub(crate) const TOKEN: &str = "staff-secret-1";

/// A port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A fresh temporary directory.
pub(crate) fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "dojo-e2e-{name}-{}-{}",
        std::process::id(),
        firmware_bridge::bridge::now_ms()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Polls `check` every 20 ms for at most `secs` seconds.
pub(crate) async fn wait_for(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Fast simulator options for tests.
pub(crate) fn sim_options(table: &str, seed: u64) -> SimOptions {
    let mut opts = SimOptions::new(table);
    opts.seed = seed;
    opts.race_to = 2;
    opts.shot_gap = Duration::from_millis(40);
    opts.heartbeat = Duration::from_millis(200);
    opts.retransmit_after = Duration::from_millis(300);
    opts
}

/// A bridge configuration with test timings.
pub(crate) fn bridge_config(ports: Vec<PathBuf>, broker: SocketAddr) -> BridgeConfig {
    let mut config = BridgeConfig::new(ports, &broker.ip().to_string(), broker.port());
    config.bridge_id = format!("bridge-{}", free_port());
    config.heartbeat_timeout = Duration::from_millis(1500);
    config
}

/// A simulated controller playing on a pseudo-terminal reached through the symlink `link`.
pub(crate) struct Plugged {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<(Controller, std::io::Result<()>)>,
}

impl Plugged {
    /// Opens a new pseudo-terminal, points `link` at it and runs `controller` on it.
    pub(crate) fn plug(mut controller: Controller, link: &Path) -> Plugged {
        let pty = pty().expect("a pseudo-terminal");
        let tmp = link.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&pty.path, &tmp).expect("symlink");
        std::fs::rename(&tmp, link).expect("symlink in place");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let slave = pty.slave;
            let result = controller
                .run(pty.master, async {
                    let _ = stopped.await;
                })
                .await;
            // Unplugging closes both ends.
            drop(slave);
            (controller, result)
        });
        Plugged { stop, task }
    }

    /// Unplugs: closes the pseudo-terminal (master and the simulator's slave handle) and returns
    /// the controller, whose state carries on.
    pub(crate) async fn unplug(self) -> Controller {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the simulator stops")
            .expect("the simulator task")
            .0
    }
}

/// An edge-agent in this process with its embedded broker on a free port.
pub(crate) struct Agent {
    pub(crate) running: Running,
    pub(crate) shutdown: CancellationToken,
    pub(crate) mqtt: SocketAddr,
}

impl Agent {
    pub(crate) async fn start(dir: &Path) -> Agent {
        Agent::start_with(dir, |_| {}).await
    }

    /// Like [`Agent::start`], with `tweak` applied to the configuration first.
    pub(crate) async fn start_with(dir: &Path, tweak: impl FnOnce(&mut Config)) -> Agent {
        let mqtt: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let mut config = Config {
            demo: false,
            demo_tables: 1,
            data_dir: dir.to_owned(),
            http_addr: "127.0.0.1:0".parse().expect("addr"),
            mqtt: MqttMode::Embedded { listen: mqtt },
            staff_token: Some(TOKEN.into()),
            venue: "Test Hall".into(),
            shot_quiet_ms: 0,
            presence_timeout_ms: 60_000,
            table_lights: true,
            cloud: None,
        };
        tweak(&mut config);
        let shutdown = CancellationToken::new();
        let running = edge_agent::start(config, shutdown.clone())
            .await
            .expect("the agent starts");
        Agent {
            running,
            shutdown,
            mqtt,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.http_addr)
    }

    pub(crate) async fn start_match(&self, table: &str, spec: &shared::rules::MatchSpec) {
        let response = reqwest::Client::new()
            .post(self.url(&format!("/api/v1/tables/{table}/matches")))
            .bearer_auth(TOKEN)
            .json(spec)
            .send()
            .await
            .expect("HTTP answers");
        assert_eq!(response.status().as_u16(), 201, "match starts");
    }

    pub(crate) async fn ws(&self, table: &str) -> Ws {
        let url = format!("ws://{}/ws?tables={table}", self.running.http_addr);
        tokio_tungstenite::connect_async(url)
            .await
            .expect("WebSocket connects")
            .0
    }

    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.running.stopped).await;
    }
}

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads the WebSocket until `table`'s view satisfies `done` (at most `secs` seconds).
pub(crate) async fn until(
    ws: &mut Ws,
    table: &str,
    secs: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let message = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no matching view of {table} within {secs} s"))
            .expect("stream open")
            .expect("valid frame");
        let Message::Text(text) = message else {
            continue;
        };
        let message: Value = serde_json::from_str(&text).expect("JSON message");
        let views: Vec<Value> = match message["type"].as_str() {
            Some("snapshot") => message["tables"].as_array().cloned().unwrap_or_default(),
            Some("update") => vec![message["table"].clone()],
            _ => vec![],
        };
        if let Some(view) = views.into_iter().find(|v| v["table"] == table && done(v)) {
            return view;
        }
    }
}
