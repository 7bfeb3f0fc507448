//! Announcements and players' messages over the API (crate::notices keeps them and sends them over
//! `/ws`). Who may call each route is in its doc line: **anyone**, **staff** (the staff token) or
//! **a paired phone** (see `phone`). Texts are plain text, checked for length and control
//! characters; pages show them with `textContent`.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::auth::Staff;
use super::error::ApiError;
use super::json::{body_bytes, json_response, parse};
use super::phone::{limit_messages, paired, peer};
use super::socket::Socket;
use crate::clock::now_ms;
use crate::notices::{
    ANNOUNCEMENT_TTL_MS, MAX_ANNOUNCEMENT_CHARS, MAX_ANNOUNCEMENT_TTL_MS, MAX_MESSAGE_CHARS,
    NoticeError, plain_text,
};

fn unprocessable(error: &NoticeError) -> ApiError {
    ApiError::Unprocessable(error.to_string())
}

/// `POST /api/v1/announcements` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnnouncementRequest {
    /// Plain text, at most 200 characters.
    text: String,
    /// Only this table's screens; absent: every screen.
    #[serde(default)]
    table: Option<String>,
    /// Seconds it stays up (default 600, at most a day).
    #[serde(default)]
    ttl_s: Option<u64>,
}

/// `POST /api/v1/announcements` — **staff**: `{"text","table"?,"ttl_s"?}` → 201 with the
/// announcement; TVs and phones show it (every screen, or the table's) until it expires.
pub(crate) async fn announce(
    _staff: Staff,
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: AnnouncementRequest = parse(&body_bytes(body)?)?;
    let text = plain_text(&request.text, MAX_ANNOUNCEMENT_CHARS).map_err(|e| unprocessable(&e))?;
    if let Some(table) = &request.table
        && state.hub.get(table).is_none()
    {
        return Err(ApiError::NotFound(format!("no table {table:?}")));
    }
    let ttl_ms = match request.ttl_s {
        None => ANNOUNCEMENT_TTL_MS,
        Some(seconds) if (1..=MAX_ANNOUNCEMENT_TTL_MS / 1_000).contains(&seconds) => {
            seconds * 1_000
        }
        Some(_) => {
            return Err(ApiError::Unprocessable(format!(
                "ttl_s: 1 to {} seconds",
                MAX_ANNOUNCEMENT_TTL_MS / 1_000
            )));
        }
    };
    let announcement = state
        .notices
        .announce(request.table, text, ttl_ms, now_ms());
    Ok(json_response(
        StatusCode::CREATED,
        json!(announcement).to_string(),
    ))
}

/// `GET /api/v1/announcements` — **anyone**: the announcements up now.
pub(crate) async fn announcements(State(state): State<AppState>) -> Response {
    let list = state.notices.announcements(now_ms());
    json_response(StatusCode::OK, json!(list).to_string())
}

/// `POST /api/v1/announcements/{id}/withdraw` — **staff**: takes an announcement down early.
pub(crate) async fn withdraw(
    _staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    let announcement = (state.notices.withdraw(id, now_ms()))
        .ok_or_else(|| ApiError::NotFound(format!("no announcement {id} is up")))?;
    Ok(json_response(
        StatusCode::OK,
        json!(announcement).to_string(),
    ))
}

/// `POST /api/v1/phone/{table}/messages` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageRequest {
    /// "need a referee", "need a rack", or up to 140 characters of the player's own.
    text: String,
}

/// `POST /api/v1/phone/{table}/messages` — **a paired phone**: a short message to staff (rate
/// limited per phone and per address: 429 with `Retry-After`). 201; the text goes to staff only.
pub(crate) async fn send_message(
    State(state): State<AppState>,
    Path(table): Path<String>,
    headers: HeaderMap,
    socket: Option<Extension<ConnectInfo<Socket>>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let paired = paired(&state, &table, &headers)?;
    let request: MessageRequest = parse(&body_bytes(body)?)?;
    let text = plain_text(&request.text, MAX_MESSAGE_CHARS).map_err(|e| unprocessable(&e))?;
    let now = now_ms();
    limit_messages(&state, &paired.phone, &peer(socket.as_ref()), now)?;
    let player = (paired.view.view.match_info.as_ref())
        .and_then(|m| m.players.get(usize::from(paired.seat)).cloned())
        .unwrap_or_default();
    let message = state
        .notices
        .message(&table, paired.seat, player, text, now);
    Ok(json_response(
        StatusCode::CREATED,
        json!(message).to_string(),
    ))
}

/// `GET /api/v1/messages` — **staff**: the players' messages kept (30 minutes), oldest first.
pub(crate) async fn messages(_staff: Staff, State(state): State<AppState>) -> Response {
    let list = state.notices.messages(now_ms());
    json_response(StatusCode::OK, json!(list).to_string())
}

/// `POST /api/v1/messages/{id}/ack` — **staff**: seen to; the player's phone shows it.
pub(crate) async fn acknowledge(
    _staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    let message = (state.notices.acknowledge(id, now_ms()))
        .map_err(|error| ApiError::NotFound(error.to_string()))?;
    Ok(json_response(StatusCode::OK, json!(message).to_string()))
}

/// `GET /api/v1/alerts` — **staff**: the alerts for staff up (30 minutes; a burst of wrong staff
/// tokens), oldest first. `/ws` says only that one was raised (`staff_alert`).
pub(crate) async fn alerts(_staff: Staff, State(state): State<AppState>) -> Response {
    let list = state.notices.alerts(now_ms());
    json_response(StatusCode::OK, json!(list).to_string())
}
