//! A screen's side of an agent: the `/ws` feed and waits for a table's view on it. Every wait is
//! bounded.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::Agent;

/// A screen's WebSocket.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to `/ws{query}` (e.g. `?tables=t1`).
///
/// # Panics
///
/// When the agent refuses.
pub async fn ws(agent: &Agent, query: &str) -> Ws {
    let url = format!("ws://{}/ws{query}", agent.running.http_addr);
    tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket connects")
        .0
}

/// The next JSON message (skipping pings), within 10 s.
///
/// # Panics
///
/// When none comes, the stream ends or the message is not JSON.
pub async fn next_json(ws: &mut Ws) -> Value {
    next_json_before(ws, Instant::now() + Duration::from_secs(10))
        .await
        .expect("a message within 10 s")
}

/// Reads updates until `table`'s view satisfies `done`; returns that view. Each message must come
/// within 10 s.
pub async fn until(ws: &mut Ws, table: &str, done: impl Fn(&Value) -> bool) -> Value {
    loop {
        if let Some(view) = matching_view(next_json(ws).await, table, &done) {
            return view;
        }
    }
}

/// Like [`until`], but the whole wait is bounded by `secs` seconds instead, however long the
/// feed stays quiet in between.
///
/// # Panics
///
/// After `secs` seconds without a matching view.
pub async fn until_within(
    ws: &mut Ws,
    table: &str,
    secs: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let Some(message) = next_json_before(ws, deadline).await else {
            panic!("no matching view of {table} within {secs} s");
        };
        if let Some(view) = matching_view(message, table, &done) {
            return view;
        }
    }
}

/// The next JSON message (skipping pings), or `None` at `deadline`.
async fn next_json_before(ws: &mut Ws, deadline: Instant) -> Option<Value> {
    loop {
        let message = tokio::time::timeout_at(deadline, ws.next())
            .await
            .ok()?
            .expect("stream open")
            .expect("valid frame");
        if let Message::Text(text) = message {
            return Some(serde_json::from_str(&text).expect("JSON message"));
        }
    }
}

/// `table`'s view in a snapshot or an update, if it satisfies `done`.
fn matching_view(message: Value, table: &str, done: impl Fn(&Value) -> bool) -> Option<Value> {
    let views: Vec<Value> = match message["type"].as_str() {
        Some("snapshot") => message["tables"].as_array().cloned().unwrap_or_default(),
        Some("update") => vec![message["table"].clone()],
        _ => vec![],
    };
    views.into_iter().find(|v| v["table"] == table && done(v))
}
