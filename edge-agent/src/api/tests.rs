//! The HTTP side against a real server on 127.0.0.1:0, with stub-backed state: the engine answers
//! every write with `ShuttingDown` (503), so these tests cover routing, auth, body handling and the
//! WebSocket feed, not the rules.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::*;
use crate::view::{DevicePresence, Published};

const TOKEN: &str = "let-me-in";

// No engine behind the handle, and no database behind the reader (`?since=` falls back to a snapshot).
fn state(staff_token: Option<&str>) -> AppState {
    AppState {
        engine: EngineHandle::detached(),
        hub: Hub::new(),
        reader: Reader::new(std::path::PathBuf::from("/nonexistent/edge.sqlite3")),
        metrics: Arc::new(Metrics::new()),
        staff_token: staff_token.map(str::to_owned),
        staff_guard: Arc::default(),
        venue: "Dojo <Downtown>".to_owned(),
        cloud_url: None,
        phones: Arc::new(Phones::new(crate::pairing::Secret::random())),
        notices: crate::notices::Notices::new(),
        reach: crate::network::Reach::with_addresses(
            "0.0.0.0:8080".parse().expect("addr"),
            &[std::net::Ipv4Addr::new(192, 168, 1, 23)],
        ),
        devices: crate::devices::Devices::new(
            std::path::Path::new("/nonexistent"),
            false,
            true,
            Vec::new(),
        ),
        health: None,
        staff: Arc::new(crate::staff::Desk::new([3; 32], Vec::new())),
    }
}

fn view(table: &str, seq: u64, devices: usize) -> Published {
    let mut view = (*Published::idle(table, seq).view).clone();
    view.devices = (0..devices)
        .map(|i| DevicePresence {
            device: format!("camera-{i:06}"),
            kind: "camera",
            online: true,
            last_seen_ms: 1_700_000_000_000,
        })
        .collect();
    Published::new(view, Some(std::time::Instant::now()))
}

struct TestServer {
    addr: SocketAddr,
    state: AppState,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn spawn(state: AppState) -> TestServer {
    spawn_with(state, true).await
}

/// The server as the agent starts it, with the WebSocket direct writers on or off.
async fn spawn_with(state: AppState, direct_writes: bool) -> TestServer {
    if direct_writes {
        spawn_direct_writers(&state.hub, &state.metrics);
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(listener, state.clone(), shutdown.clone()));
    TestServer {
        addr,
        state,
        shutdown,
        task,
    }
}

struct HttpResponse {
    status: u16,
    head: String,
    body: String,
}

impl HttpResponse {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
}

/// A minimal HTTP/1.1 client: one request per connection.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write head");
    // The server may answer (413) and close before reading a large body.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    HttpResponse {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    request(addr, "GET", path, &[], b"").await
}

async fn post(addr: SocketAddr, path: &str, token: Option<&str>, body: &str) -> HttpResponse {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| vec![("Authorization", b), ("Content-Type", "application/json")])
        .unwrap_or_default();
    request(addr, "POST", path, &headers, body.as_bytes()).await
}

const SPEC: &str = r#"{"game":"nine-ball","players":["A","B"],"race_to":5,"break":"alternate"}"#;
const MATCHES: &str = "/api/v1/tables/t1/matches";
const ACTIONS: &str = "/api/v1/tables/t1/matches/current/actions";

#[tokio::test]
async fn reads() {
    let server = spawn(state(None)).await;
    let addr = server.addr;

    let empty = get(addr, "/api/v1/tables").await;
    assert_eq!((empty.status, empty.body.as_str()), (200, "[]"));

    server
        .state
        .hub
        .publish(&[view("t2", 1, 0), view("t1", 2, 0)]);
    let list = get(addr, "/api/v1/tables").await;
    assert_eq!(list.status, 200);
    assert!(list.head.contains("content-type: application/json"));
    let tables: Vec<String> = list
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v["table"].as_str().expect("table").to_owned())
        .collect();
    assert_eq!(tables, ["t1", "t2"]);

    let one = get(addr, "/api/v1/tables/t1").await;
    assert_eq!(one.status, 200);
    assert_eq!(
        one.body,
        &*server.state.hub.get("t1").expect("t1").json,
        "the committed bytes as they are"
    );

    let missing = get(addr, "/api/v1/tables/nope").await;
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].as_str().is_some());

    let route = get(addr, "/api/v2/whatever").await;
    assert_eq!(route.status, 404);
    assert!(route.json()["error"].as_str().is_some());

    let method = request(addr, "DELETE", "/api/v1/tables", &[], b"").await;
    assert_eq!(method.status, 405);
}

#[tokio::test]
async fn health_metrics_and_pages() {
    let server = spawn(state(None)).await;
    let health = get(server.addr, "/healthz").await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (200, r#"{"status":"ok"}"#)
    );

    let metrics = get(server.addr, "/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .head
            .contains("content-type: text/plain; version=0.0.4")
    );
    assert!(metrics.body.contains("dojo_ws_clients"));

    let overview = get(server.addr, "/").await;
    assert_eq!(overview.status, 200);
    assert!(overview.head.contains("text/html"));
    assert!(overview.body.contains("Dojo &lt;Downtown&gt;"));
    let scoreboard = get(server.addr, "/tables/t%3Cx%3E").await;
    assert_eq!(scoreboard.status, 200);
    assert!(!scoreboard.body.contains("<x>"));
    assert!(
        overview.body.contains(r#"href="/staff""#),
        "the overview links the staff console"
    );
    let staff = get(server.addr, "/staff").await;
    assert_eq!(staff.status, 200);
    assert!(staff.head.contains("text/html"));
    assert!(staff.body.contains("Dojo &lt;Downtown&gt;"));
    assert!(
        staff
            .head
            .contains("content-security-policy: default-src 'self';")
    );
    assert!(staff.head.contains("frame-ancestors 'none'"));
    assert!(staff.head.contains("x-frame-options: deny"));
    for asset in [
        "style.css",
        "live.js",
        "overview.js",
        "scoreboard.js",
        "staff.css",
        "staff.js",
    ] {
        assert_eq!(
            get(server.addr, &format!("/assets/{asset}")).await.status,
            200
        );
    }
    assert_eq!(get(server.addr, "/assets/nope.js").await.status, 404);
}

#[tokio::test]
async fn writes_need_the_staff_token() {
    let disabled = spawn(state(None)).await;
    let refused = post(disabled.addr, MATCHES, Some(TOKEN), SPEC).await;
    assert_eq!(refused.status, 401);
    assert!(
        refused.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("--staff-token"))
    );

    let server = spawn(state(Some(TOKEN))).await;
    let addr = server.addr;
    let none = post(addr, MATCHES, None, SPEC).await;
    assert_eq!(none.status, 401);
    assert!(none.head.contains("www-authenticate: bearer"));
    assert_eq!(post(addr, MATCHES, Some("guess"), SPEC).await.status, 401);
    assert_eq!(
        post(addr, ACTIONS, Some("guess"), r#"{"action":"foul"}"#)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn dead_letters_need_the_staff_token() {
    const DEAD: &str = "/api/v1/dead-letters";
    let disabled = spawn(state(None)).await;
    let bearer = format!("Bearer {TOKEN}");
    let with_token = [("Authorization", bearer.as_str())];
    let refused = request(disabled.addr, "GET", DEAD, &with_token, b"").await;
    assert_eq!(refused.status, 401);
    assert!(
        refused.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("--staff-token"))
    );

    let server = spawn(state(Some(TOKEN))).await;
    let addr = server.addr;
    let none = get(addr, DEAD).await;
    assert_eq!(none.status, 401);
    assert!(none.head.contains("www-authenticate: bearer"));
    assert!(none.json()["error"].as_str().is_some());
    let wrong = request(addr, "GET", DEAD, &[("Authorization", "Bearer guess")], b"").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["error"], "wrong staff token");
    // The token is checked before the query string.
    assert_eq!(get(addr, "/api/v1/dead-letters?limit=x").await.status, 401);

    // With the token: a malformed query is 400; no database behind this reader is 503. Both JSON.
    for (query, status) in [
        ("?limit=x", 400),
        ("?before=-1", 400),
        ("?page=2", 400),
        ("?limit=5", 503),
    ] {
        let response = request(addr, "GET", &format!("{DEAD}{query}"), &with_token, b"").await;
        assert_eq!(response.status, status, "{query}: {}", response.body);
        assert!(
            response.json()["error"].as_str().is_some(),
            "{}",
            response.body
        );
    }
    assert_eq!(
        request(addr, "POST", DEAD, &with_token, b"").await.status,
        405
    );
}

#[tokio::test]
async fn write_bodies_and_engine_errors() {
    let server = spawn(state(Some(TOKEN))).await;
    let addr = server.addr;
    let token = Some(TOKEN);
    let check = |response: HttpResponse, status: u16| {
        assert_eq!(response.status, status, "{}", response.body);
        assert!(
            response.json()["error"].as_str().is_some(),
            "{}",
            response.body
        );
    };
    // The stub engine is shutting down: a valid write reaches it and gets 503.
    check(post(addr, MATCHES, token, SPEC).await, 503);
    check(
        post(addr, ACTIONS, token, r#"{"action":"end_turn"}"#).await,
        503,
    );
    check(
        post(
            addr,
            ACTIONS,
            token,
            r#"{"action":"call","ball":9,"pocket":3}"#,
        )
        .await,
        503,
    );
    // Malformed JSON: 400. Well-formed but wrong: 422.
    check(post(addr, MATCHES, token, r#"{"game":"#).await, 400);
    check(post(addr, MATCHES, token, "").await, 400);
    check(post(addr, ACTIONS, token, "not json").await, 400);
    check(
        post(
            addr,
            MATCHES,
            token,
            r#"{"game":"snooker","players":["A","B"],"race_to":5}"#,
        )
        .await,
        422,
    );
    check(
        post(
            addr,
            MATCHES,
            token,
            r#"{"game":"nine-ball","players":["A","B"],"race_to":5,"x":1}"#,
        )
        .await,
        422,
    );
    check(
        post(
            addr,
            MATCHES,
            token,
            r#"{"game":"nine-ball","players":["A","B"],"race_to":0}"#,
        )
        .await,
        422,
    );
    check(
        post(addr, ACTIONS, token, r#"{"action":"dance"}"#).await,
        422,
    );
    check(
        post(
            addr,
            ACTIONS,
            token,
            r#"{"action":"call","ball":3,"extra":true}"#,
        )
        .await,
        422,
    );
    check(post(addr, ACTIONS, token, r#"[1,2,3]"#).await, 422);
    // Too large: 413.
    let huge = format!(
        r#"{{"action":"foul","pad":"{}"}}"#,
        "x".repeat(BODY_LIMIT + 1)
    );
    check(post(addr, ACTIONS, token, &huge).await, 413);
    // Reads are not writes.
    check(request(addr, "GET", ACTIONS, &[], b"").await, 405);
}

type Client = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn connect(addr: SocketAddr, query: &str) -> Client {
    let (client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws{query}"))
        .await
        .expect("websocket");
    client
}

/// The next text message as JSON (pings are answered by tungstenite itself).
async fn receive(client: &mut Client) -> serde_json::Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), client.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("a message");
        if let WsMessage::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("JSON message");
        }
    }
}

#[tokio::test]
async fn websocket_snapshot_then_updates() {
    snapshot_then_updates(true).await;
}

#[tokio::test]
async fn websocket_snapshot_then_updates_without_direct_writes() {
    snapshot_then_updates(false).await;
}

async fn snapshot_then_updates(direct_writes: bool) {
    let server = spawn_with(state(None), direct_writes).await;
    assert_eq!(server.state.hub.has_courier(), direct_writes);
    let hub = server.state.hub.clone();
    hub.publish(&[view("t1", 1, 0), view("t2", 2, 0)]);

    let mut all = connect(server.addr, "").await;
    let snapshot = receive(&mut all).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["seq"], 2);
    assert_eq!(snapshot["tables"].as_array().map(Vec::len), Some(2));

    let mut only_t2 = connect(server.addr, "?tables=t2&positions=true").await;
    let snapshot = receive(&mut only_t2).await;
    assert_eq!(snapshot["tables"][0]["table"], "t2");
    assert_eq!(snapshot["tables"].as_array().map(Vec::len), Some(1));

    hub.publish(&[view("t1", 3, 0)]);
    hub.publish(&[view("t2", 4, 0)]);
    let update = receive(&mut all).await;
    assert_eq!(
        (update["type"].as_str(), update["seq"].as_u64()),
        (Some("update"), Some(3))
    );
    assert_eq!(update["table"]["table"], "t1");
    assert_eq!(receive(&mut all).await["seq"], 4);
    let update = receive(&mut only_t2).await;
    assert_eq!(
        (update["seq"].as_u64(), update["table"]["seq"].as_u64()),
        (Some(4), Some(4))
    );

    hub.positions(
        "t2",
        r#"{"type":"positions","table":"t2","balls":[]}"#.to_owned(),
    );
    assert_eq!(receive(&mut only_t2).await["type"], "positions");

    only_t2
        .send(WsMessage::Text(r#"{"type":"ping"}"#.into()))
        .await
        .expect("send ping");
    assert_eq!(receive(&mut only_t2).await["type"], "pong");

    assert!(server.state.metrics.render().contains("dojo_ws_clients 2"));
}

#[tokio::test]
async fn websocket_since() {
    // An empty but real event log behind the reader.
    let dir = std::env::temp_dir().join(format!("dojo-api-since-{}", std::process::id()));
    crate::store::open(&dir).expect("an empty store");
    let mut state = state(None);
    state.reader = Reader::new(crate::store::db_path(&dir));
    let server = spawn(state).await;
    let hub = server.state.hub.clone();
    hub.publish(&[view("t1", 5, 0), view("t2", 6, 0)]);

    // Up to date: no snapshot, just what comes next.
    let mut current = connect(server.addr, "?since=6").await;
    // Too new for this agent (its database was replaced): a snapshot.
    let mut ahead = connect(server.addr, "?since=99").await;
    assert_eq!(receive(&mut ahead).await["type"], "snapshot");
    // Behind: what the log has since then (this log is empty), then live updates.
    let mut behind = connect(server.addr, "?since=4&tables=t1").await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    hub.publish(&[view("t1", 7, 0)]);
    let update = receive(&mut current).await;
    assert_eq!(
        (update["type"].as_str(), update["seq"].as_u64()),
        (Some("update"), Some(7))
    );
    assert_eq!(receive(&mut behind).await["seq"], 7);

    let bad = request(server.addr, "GET", "/ws?since=minus-one", &[], b"").await;
    assert_eq!(bad.status, 400);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_stalled_client_does_not_delay_the_others() {
    let server = spawn(state(None)).await;
    let hub = server.state.hub.clone();
    hub.publish(&[view("t1", 1, 2_000), view("t2", 1, 0)]);

    // Never read from: its socket buffers fill with big t1 views and its sends stall.
    let stalled = connect(server.addr, "").await;
    // A screen of another table, with small views.
    let mut live = connect(server.addr, "?tables=t2").await;
    assert_eq!(receive(&mut live).await["type"], "snapshot");

    // ~150 KiB per view: enough to fill the stalled client's socket buffers many times over.
    let views: Vec<Published> = (2..=300).map(|seq| view("t1", seq, 2_000)).collect();
    let mut slowest_publish = Duration::ZERO;
    for published in &views {
        let before = Instant::now();
        hub.publish(std::slice::from_ref(published));
        slowest_publish = slowest_publish.max(before.elapsed());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        slowest_publish < Duration::from_millis(50),
        "publish waited {slowest_publish:?}"
    );
    // The live screen gets its update while the stalled client is still stuck: it is not queued
    // behind it (the stalled client is only resnapshotted after its send times out).
    let started = Instant::now();
    hub.publish(&[view("t2", 301, 0)]);
    loop {
        let message = receive(&mut live).await;
        if message["seq"] == 301 {
            break;
        }
    }
    assert!(
        started.elapsed() < SEND_TIMEOUT,
        "the live client took {:?}",
        started.elapsed()
    );

    // The stalled client's sends time out and it is offered a fresh snapshot.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server
        .state
        .metrics
        .render()
        .lines()
        .any(|l| l.starts_with("dojo_ws_resnapshots_total") && !l.ends_with(" 0"))
    {
        assert!(Instant::now() < deadline, "no resnapshot counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(stalled);
}

/// Updates written by the hub's direct writers and the client task's own replies (pongs to JSON
/// pings and to WebSocket pings) share one socket: every frame must arrive whole and in order.
#[tokio::test]
async fn direct_writes_and_the_tasks_replies_share_the_socket_cleanly() {
    updates_and_replies_share_the_socket(true).await;
}

#[tokio::test]
async fn without_direct_writes_the_task_writes_updates_and_replies_in_order() {
    updates_and_replies_share_the_socket(false).await;
}

async fn updates_and_replies_share_the_socket(direct_writes: bool) {
    const UPDATES: u64 = 3_000;
    let server = spawn_with(state(None), direct_writes).await;
    let hub = server.state.hub.clone();
    hub.publish(&[view("t1", 1, 0)]);
    let mut client = connect(server.addr, "").await;
    assert_eq!(receive(&mut client).await["type"], "snapshot");

    // Published from a thread, as the store's writer does, while the client keeps pinging.
    let publisher = std::thread::spawn(move || {
        for seq in 2..=UPDATES {
            let table = if seq % 3 == 0 { "t2" } else { "t1" };
            hub.publish(&[view(table, seq, 20)]);
            if seq % 64 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    let (mut last_seq, mut pongs, mut control_pongs, mut pings_sent) = (1u64, 0u32, 0u32, 0u32);
    let deadline = Instant::now() + Duration::from_secs(30);
    while last_seq < UPDATES || pongs < pings_sent || control_pongs < pings_sent {
        assert!(
            Instant::now() < deadline,
            "stuck at seq {last_seq}, {pongs} pongs"
        );
        if pings_sent < 20 && last_seq > u64::from(pings_sent) * 100 {
            pings_sent += 1;
            client
                .send(WsMessage::text(r#"{"type":"ping"}"#))
                .await
                .expect("ping");
            client
                .send(WsMessage::Ping(vec![7u8; 4].into()))
                .await
                .expect("control ping");
        }
        let message = tokio::time::timeout(Duration::from_secs(10), client.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("a well-formed frame");
        match message {
            WsMessage::Text(text) => {
                let message: serde_json::Value =
                    serde_json::from_str(text.as_str()).expect("whole JSON message");
                match message["type"].as_str() {
                    Some("pong") => pongs += 1,
                    Some("update") => {
                        let seq = message["seq"].as_u64().expect("seq");
                        assert!(seq > last_seq, "seq {seq} after {last_seq}");
                        assert_eq!(message["table"]["seq"], seq);
                        last_seq = seq;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            WsMessage::Pong(payload) => {
                assert_eq!(&payload[..], [7u8; 4]);
                control_pongs += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    publisher.join().expect("publisher");
    assert_eq!(last_seq, UPDATES);
    assert_eq!((pongs, control_pongs), (20, 20));
}

#[tokio::test]
async fn shutdown_closes_websockets_and_stops_serving() {
    let server = spawn(state(None)).await;
    let mut client = connect(server.addr, "").await;
    assert_eq!(receive(&mut client).await["type"], "snapshot");
    server.shutdown.cancel();
    let close = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match client.next().await {
                Some(Ok(WsMessage::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    })
    .await
    .expect("closed in time");
    assert_eq!(close, Some(1001));
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("server stopped in time")
        .expect("server task")
        .expect("server result");
}
