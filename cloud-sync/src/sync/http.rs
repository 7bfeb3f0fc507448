//! The sync route: `POST /api/v1/sync/batches` (venue key). Reads the body within the contract's
//! bound, then [`super::ingest`]'s `decode` → `prepare` → `apply`, wakes the projections when
//! records were stored, and counts the answer by status.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use shared::sync::{BATCHES_ROUTE, BatchAck, MAX_BATCH_BYTES};

use super::ingest::IngestError;
use crate::http::auth::venue_of;
use crate::http::{ApiError, AppState};

/// The sync routes.
pub fn router() -> Router<AppState> {
    Router::new().route(BATCHES_ROUTE, post(sync_batch))
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        let transient = error.is_transient();
        match error {
            IngestError::BadBody(e) => ApiError::BadRequest(e),
            IngestError::TooLarge(e) => ApiError::TooLarge(e),
            IngestError::Forbidden => ApiError::Forbidden(IngestError::Forbidden.to_string()),
            IngestError::Invalid { seq, error } => ApiError::Invalid { error, seq },
            gap @ IngestError::Gap { expected, .. } => ApiError::Gap {
                error: gap.to_string(),
                expected_seq: expected,
            },
            IngestError::Db(error) if transient => {
                tracing::warn!(%error, "database unavailable during a sync batch");
                ApiError::Unavailable
            }
            IngestError::Db(error) => {
                tracing::error!(%error, "database error during a sync batch");
                ApiError::Internal
            }
        }
    }
}

async fn sync_batch(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let response = match ingest_batch(&state, &headers, body).await {
        Ok(ack) => axum::Json(ack).into_response(),
        Err(error) => error.into_response(),
    };
    state.metrics.batch(response.status().as_u16());
    response
}

async fn ingest_batch(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<BatchAck, ApiError> {
    let venue = venue_of(state, headers).await?;
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
    {
        None => false,
        Some(e) if e == "identity" => false,
        Some(e) if e == "gzip" => true,
        Some(e) => {
            return Err(ApiError::BadRequest(format!(
                "unsupported Content-Encoding {e:?}"
            )));
        }
    };
    let bytes = axum::body::to_bytes(body, MAX_BATCH_BYTES)
        .await
        .map_err(|error| {
            if format!("{error:?}").contains("LengthLimit") {
                ApiError::TooLarge(format!("a batch is at most {MAX_BATCH_BYTES} bytes"))
            } else {
                ApiError::BadRequest(format!("cannot read the body: {error}"))
            }
        })?;
    let decoded = super::ingest::decode(&bytes, gzip)?;
    // The prepared batch borrows its payloads from `decoded` (they are stored as sent).
    let prepared = super::ingest::prepare(&decoded, &venue)?;
    let ack = super::ingest::apply(&state.pool, prepared).await?;
    if ack.applied > 0 {
        // Matches, racks and statistics follow in the background; each projection tells Redis
        // (cache generations, live results) after its own commit.
        state.projector.wake();
    }
    state.metrics.records("applied", ack.applied);
    state.metrics.records("duplicate", ack.duplicates);
    state
        .metrics
        .records("conflict", ack.conflicts.len() as u64);
    if !ack.conflicts.is_empty() {
        tracing::warn!(venue, conflicts = ?ack.conflicts, "sync records conflict with stored ones");
    }
    Ok(ack)
}
