//! Test harness: an in-process edge-agent and its WebSocket feed; free ports, temp dirs, bounded
//! waits and simulated controllers on pseudo-terminals come from `dojo-testkit`. Every wait is
//! bounded.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub(crate) use dojo_testkit::serial::{Plugged, bridge_config, sim_options};
pub(crate) use dojo_testkit::{free_port, temp_dir, wait_for};

use edge_agent::Running;
use edge_agent::config::Config;
use edge_agent::mqtt::MqttMode;
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

pub(crate) const TOKEN: &str = "staff-secret-1";

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
            ws_direct_writes: true,
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
