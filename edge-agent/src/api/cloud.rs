//! What staff see of cloud sync at the venue: where it stands, the records the cloud refused, and
//! the registered players copied from it (to put on a table).
//!
//! All of it is read from SQLite on a blocking thread, so these requests never wait on the writer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::AppState;
use super::auth::Staff;
use super::error::ApiError;
use super::json::json_response;
use crate::store::Reader;

/// Most dead letters one answer lists.
const DEAD_LETTER_LIMIT: usize = 500;

/// `GET /api/v1/sync`: whether sync is on, and the outbox, high-water mark and dead-letter count.
pub(crate) async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let status = state.read(Reader::sync_status).await?;
    let mut body = json!(status);
    body["enabled"] = json!(state.cloud_url.is_some());
    body["cloud_url"] = json!(state.cloud_url);
    Ok(json_response(StatusCode::OK, body.to_string()))
}

/// `GET /api/v1/sync/dead-letters` (staff): records cloud-sync refused, newest first.
pub(crate) async fn dead_letters(
    _staff: Staff,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let rows = state
        .read(|r| r.sync_dead_letters(DEAD_LETTER_LIMIT))
        .await?;
    Ok(json_response(StatusCode::OK, json!(rows).to_string()))
}

/// `GET /api/v1/players`: registered players copied from cloud-sync, by name.
pub(crate) async fn players(State(state): State<AppState>) -> Result<Response, ApiError> {
    let players = state.read(Reader::players).await?;
    Ok(json_response(StatusCode::OK, json!(players).to_string()))
}
