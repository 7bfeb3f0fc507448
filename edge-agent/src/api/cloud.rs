//! What staff see of cloud sync at the venue: where it stands, the records the cloud refused, and
//! the registered players copied from it (to put on a table).
//!
//! All of it is read from SQLite on a blocking thread, so these requests never wait on the writer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::rest::{Staff, json_response};
use crate::store::{Reader, StoreError};

/// Most dead letters one answer lists.
const DEAD_LETTER_LIMIT: usize = 500;

/// Runs a read on a blocking thread; a storage failure is a logged 503.
pub(crate) async fn read<T: Send + 'static>(
    reader: &Reader,
    read: impl FnOnce(&Reader) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let reader = reader.clone();
    match tokio::task::spawn_blocking(move || read(&reader)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            tracing::error!(%error, "read failed in the store");
            Err(ApiError::Unavailable("storage failure".to_owned()))
        }
        Err(error) => {
            tracing::error!(%error, "read task failed");
            Err(ApiError::Unavailable("storage failure".to_owned()))
        }
    }
}

/// `GET /api/v1/sync`: whether sync is on, and the outbox, high-water mark and dead-letter count.
pub(crate) async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let status = read(&state.reader, Reader::sync_status).await?;
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
    let rows = read(&state.reader, |r| r.sync_dead_letters(DEAD_LETTER_LIMIT)).await?;
    Ok(json_response(StatusCode::OK, json!(rows).to_string()))
}

/// `GET /api/v1/players`: registered players copied from cloud-sync, by name.
pub(crate) async fn players(State(state): State<AppState>) -> Result<Response, ApiError> {
    let players = read(&state.reader, Reader::players).await?;
    Ok(json_response(StatusCode::OK, json!(players).to_string()))
}
