//! What edge-agent's tests share beyond the agent harness of `dojo-testkit` (an agent in this
//! process or as a process, devices, screens, staff requests): the edge-agent binary to run as a
//! process, and a scripted cloud-sync peer for the agent to sync to.

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use shared::sync::Batch;

pub(crate) use dojo_testkit::agent::*;
pub(crate) use dojo_testkit::temp_dir as data_dir;
pub(crate) use dojo_testkit::{free_port, wait_for};

/// This crate's agent binary, for [`Process`].
pub(crate) const EDGE_AGENT: Program = Program::Binary(env!("CARGO_BIN_EXE_edge-agent"));

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
    /// The venue's staff list (`GET /api/v1/sync/staff`); `None`: 404, a cloud without it.
    pub(crate) staff: Option<Value>,
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

async fn staff(State(peer): State<SharedPeer>) -> Response {
    match peer.lock().expect("peer").staff.clone() {
        Some(list) => answer((StatusCode::OK, vec![], list)),
        None => answer((StatusCode::NOT_FOUND, vec![], json!({"error": "no route"}))),
    }
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
        .route("/api/v1/sync/staff", get(staff))
        .with_state(peer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// An agent (embedded broker) syncing to `url` as venue `venue-1` with the key the peer accepts.
pub(crate) async fn agent_syncing_to(url: String, dir: &Path) -> Agent {
    Agent::start_syncing(dir, url, "venue-1", KEY, 60_000).await
}
