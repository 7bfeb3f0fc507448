//! Spawning an agent and talking to it as devices and screens do, and a scripted cloud-sync peer
//! for it to sync to.

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use edge_agent::config::{CloudConfig, Config};
use edge_agent::mqtt::MqttMode;
use edge_agent::{Running, start};
use futures_util::StreamExt;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::{Value, json};
use shared::sync::Batch;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

pub(crate) const TOKEN: &str = "staff-secret-1";

pub(crate) use dojo_testkit::free_port;
pub(crate) use dojo_testkit::temp_dir as data_dir;

pub(crate) fn config(dir: &Path, mqtt: MqttMode) -> Config {
    Config {
        demo: false,
        demo_tables: 1,
        data_dir: dir.to_owned(),
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        mqtt,
        staff_token: Some(TOKEN.into()),
        venue: "Test Hall".into(),
        shot_quiet_ms: 0,
        presence_timeout_ms: 60_000,
        table_lights: true,
        cloud: None,
        ws_direct_writes: true,
    }
}

pub(crate) struct Agent {
    pub(crate) running: Running,
    pub(crate) shutdown: CancellationToken,
    pub(crate) mqtt: SocketAddr,
}

impl Agent {
    /// The agent with an embedded broker on a free port.
    pub(crate) async fn start(dir: &Path) -> Agent {
        let mqtt: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        Agent::start_with(config(dir, MqttMode::Embedded { listen: mqtt }), mqtt).await
    }

    pub(crate) async fn start_with(config: Config, mqtt: SocketAddr) -> Agent {
        let shutdown = CancellationToken::new();
        let running = start(config, shutdown.clone())
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

    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.running.stopped)
            .await
            .expect("stops in time")
            .ok();
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(self.url(path))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .expect("HTTP answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        let response = reqwest::get(self.url(path)).await.expect("HTTP answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn start_match(&self, table: &str, game: &str, race_to: u32) -> Value {
        let spec = json!({"game": game, "players": ["Ann", "Bo"], "race_to": race_to, "break": "alternate"});
        let (status, body) = self
            .post(&format!("/api/v1/tables/{table}/matches"), spec)
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }
}

/// A device publishing like firmware-bridge does: QoS 1, its own increasing seq.
pub(crate) struct Device {
    client: AsyncClient,
    pub(crate) name: String,
    pub(crate) seq: u64,
    _poll: tokio::task::JoinHandle<()>,
}

impl Device {
    pub(crate) async fn connect(broker: SocketAddr, name: &str) -> Device {
        let mut options = MqttOptions::new(
            format!("{name}-{}", free_port()),
            broker.ip().to_string(),
            broker.port(),
        );
        options.set_keep_alive(Duration::from_secs(5));
        // Big enough to send an oversize payload for the agent to reject.
        options.set_max_packet_size(128 * 1024, 128 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        let poll = tokio::spawn(async move {
            loop {
                if eventloop.poll().await.is_err() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        Device {
            client,
            name: name.into(),
            seq: 0,
            _poll: poll,
        }
    }

    pub(crate) async fn raw(&self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .expect("publish queued");
    }

    /// Publishes the next event of this device to `table`'s events topic.
    pub(crate) async fn send(&mut self, table: &str, event: Value) {
        self.seq += 1;
        self.send_seq(table, self.seq, event).await;
    }

    pub(crate) async fn send_seq(&self, table: &str, seq: u64, mut event: Value) {
        event["device"] = json!(self.name);
        event["seq"] = json!(seq);
        self.raw(
            &format!("dojo/v1/tables/{table}/events"),
            event.to_string().into_bytes(),
        )
        .await;
    }

    pub(crate) async fn pocket(&mut self, table: &str, ball: u8, pocket: u8) {
        self.send(
            table,
            json!({"type": "pocket", "ball": ball, "pocket": pocket}),
        )
        .await;
    }

    pub(crate) async fn button(&mut self, table: &str, button: &str) {
        self.send(table, json!({"type": "button", "button": button}))
            .await;
    }
}

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn ws(agent: &Agent, query: &str) -> Ws {
    let url = format!("ws://{}/ws{query}", agent.running.http_addr);
    tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket connects")
        .0
}

/// The next JSON message (skipping pings), within 10 s.
pub(crate) async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("stream open")
            .expect("valid frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("JSON message");
        }
    }
}

/// Reads updates until `table`'s view satisfies `done`; returns that view.
pub(crate) async fn until(ws: &mut Ws, table: &str, done: impl Fn(&Value) -> bool) -> Value {
    loop {
        let message = next_json(ws).await;
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

/// Read-only SQL on an agent's database.
pub(crate) fn sql_count(dir: &Path, query: &str) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("edge.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("database opens");
    conn.query_row(query, [], |row| row.get(0))
        .expect("query runs")
}

/// What the agent publishes to one device's command topic, as that device would receive it.
pub(crate) struct Commands {
    rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    _client: AsyncClient,
}

impl Commands {
    pub(crate) async fn listen(broker: SocketAddr, device: &str) -> Commands {
        let mut options = MqttOptions::new(
            format!("{device}-cmd-{}", free_port()),
            broker.ip().to_string(),
            broker.port(),
        );
        options.set_keep_alive(Duration::from_secs(5));
        let (client, mut events) = AsyncClient::new(options, 10);
        client
            .subscribe(format!("dojo/v1/devices/{device}/cmd"), QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
        let mut subscribed_tx = Some(subscribed_tx);
        tokio::spawn(async move {
            while let Ok(event) = events.poll().await {
                match event {
                    rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) => {
                        if let Some(done) = subscribed_tx.take() {
                            let _ = done.send(());
                        }
                    }
                    rumqttc::Event::Incoming(rumqttc::Packet::Publish(publish)) => {
                        let _ = tx.send(publish.payload.to_vec()).await;
                    }
                    _ => {}
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(5), subscribed_rx)
            .await
            .expect("subscribed in time")
            .ok();
        Commands {
            rx,
            _client: client,
        }
    }

    /// The next command, within 5 s.
    pub(crate) async fn next(&mut self) -> Value {
        let bytes = tokio::time::timeout(Duration::from_secs(5), self.rx.recv())
            .await
            .expect("a command within 5 s")
            .expect("a command");
        serde_json::from_slice(&bytes).expect("JSON command")
    }
}

/// The agent as a separate process, so it can be killed with SIGKILL.
pub(crate) struct Process {
    pub(crate) child: std::process::Child,
    pub(crate) http: String,
    pub(crate) mqtt: std::net::SocketAddr,
}

impl Drop for Process {
    // A failing test must not leave an agent running.
    fn drop(&mut self) {
        self.stop();
    }
}

impl Process {
    pub(crate) async fn start(dir: &std::path::Path) -> Process {
        Process::start_with(dir, &[]).await
    }

    /// With more flags (e.g. `--cloud-url`).
    pub(crate) async fn start_with(dir: &std::path::Path, flags: &[String]) -> Process {
        let (http, mqtt) = (free_port(), free_port());
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_edge-agent"))
            .args(["--data-dir", &dir.display().to_string()])
            .args(["--http-addr", &format!("127.0.0.1:{http}")])
            .args(["--mqtt-addr", &format!("127.0.0.1:{mqtt}")])
            .args(["--staff-token", TOKEN])
            .args(flags)
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("edge-agent starts");
        let http = format!("http://127.0.0.1:{http}");
        for _ in 0..100 {
            if reqwest::get(format!("{http}/healthz"))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Process {
                    child,
                    http,
                    mqtt: format!("127.0.0.1:{mqtt}").parse().expect("addr"),
                };
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        child.kill().ok();
        child.wait().ok();
        panic!("edge-agent did not become healthy");
    }

    pub(crate) fn stop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    pub(crate) async fn table(&self, table: &str) -> Value {
        reqwest::get(format!("{}/api/v1/tables/{table}", self.http))
            .await
            .expect("answers")
            .json()
            .await
            .expect("JSON")
    }
}

// ---- A scripted cloud-sync peer ------------------------------------------------------------
//
// It speaks docs/sync.md and answers from a script (then, by default, acks every batch and serves
// one registered player): sync.rs provokes faults with it, browser.rs shows them in the console.

/// The venue key the peer accepts.
pub(crate) const KEY: &str = "dpv_test-key-0123456789";

/// One scripted answer: status, headers, JSON body.
pub(crate) type Answer = (StatusCode, Vec<(&'static str, String)>, Value);

/// The script, and what the peer received.
#[derive(Default)]
pub(crate) struct Peer {
    pub(crate) batch_answers: VecDeque<Answer>,
    pub(crate) player_answers: VecDeque<Answer>,
    pub(crate) batches: Vec<(Instant, Batch)>,
    pub(crate) bad_requests: Vec<String>,
}

pub(crate) type SharedPeer = Arc<Mutex<Peer>>;

fn answer((status, headers, body): Answer) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    for (name, value) in headers {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

async fn batches(State(peer): State<SharedPeer>, headers: HeaderMap, body: Bytes) -> Response {
    let mut peer = peer.lock().expect("peer");
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    let gzip = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        == Some("gzip");
    let mut json = String::new();
    let decoded = flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut json);
    let batch = match (auth, gzip, decoded) {
        (Some(a), true, Ok(_)) if a == format!("Bearer {KEY}") => {
            serde_json::from_str::<Batch>(&json)
        }
        _ => {
            peer.bad_requests.push(format!("{auth:?} gzip={gzip}"));
            return answer((
                StatusCode::BAD_REQUEST,
                vec![],
                json!({"error": "bad request"}),
            ));
        }
    };
    let Ok(batch) = batch else {
        peer.bad_requests.push(json);
        return answer((
            StatusCode::BAD_REQUEST,
            vec![],
            json!({"error": "not a batch"}),
        ));
    };
    let last = batch.records.last().map_or(0, |r| r.seq);
    peer.batches.push((Instant::now(), batch));
    let scripted = peer.batch_answers.pop_front();
    answer(scripted.unwrap_or((
        StatusCode::OK,
        vec![],
        json!({"acked_seq": last, "applied": 1, "duplicates": 0, "conflicts": []}),
    )))
}

async fn players(State(peer): State<SharedPeer>) -> Response {
    let scripted = peer.lock().expect("peer").player_answers.pop_front();
    answer(scripted.unwrap_or((
        StatusCode::OK,
        vec![],
        json!({"changes": [], "cursor": 7, "more": false}),
    )))
}

async fn snapshot() -> Response {
    answer((
        StatusCode::OK,
        vec![],
        json!({"players": [{"id": "p-efren", "name": "Efren Reyes", "rating": 820}], "cursor": 7}),
    ))
}

/// Serves the peer on a free port; its base URL.
pub(crate) async fn start_peer(peer: SharedPeer) -> String {
    let app = Router::new()
        .route("/api/v1/sync/batches", post(batches))
        .route("/api/v1/sync/players", get(players))
        .route("/api/v1/sync/players/snapshot", get(snapshot))
        .with_state(peer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// An agent (embedded broker) syncing to `url` as venue `venue-1`.
pub(crate) async fn agent_syncing_to(url: String, dir: &std::path::Path) -> Agent {
    agent_syncing_as(dir, url, "venue-1", KEY, 60_000).await
}

/// An agent (embedded broker) syncing to `url` as `venue` with `key`, retrying at most every
/// `max_backoff_ms`.
pub(crate) async fn agent_syncing_as(
    dir: &std::path::Path,
    url: String,
    venue: &str,
    key: &str,
    max_backoff_ms: u64,
) -> Agent {
    let mqtt = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let mut config = config(dir, MqttMode::Embedded { listen: mqtt });
    config.cloud = Some(CloudConfig {
        url,
        venue_id: venue.into(),
        venue_key: key.into(),
        max_backoff_ms,
        keep_sent_days: 30,
    });
    Agent::start_with(config, mqtt).await
}

/// Polls `done` until it holds, for up to 20 s.
pub(crate) async fn wait_for(what: &str, done: impl FnMut() -> bool) {
    dojo_testkit::wait_for(what, 20, done).await;
}

/// Polls `GET /api/v1/sync` until `done` holds, for up to 20 s; that status.
pub(crate) async fn sync_status_until(agent: &Agent, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, status) = agent.get("/api/v1/sync").await;
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "sync status stuck at {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
