//! The change log's routes, for venues (venue key): `GET /api/v1/sync/players?cursor=&limit=`
//! (a page; 410 when the cursor is older than the kept log) and `GET /api/v1/sync/players/snapshot`.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use shared::sync::{PLAYERS_ROUTE, PLAYERS_SNAPSHOT_ROUTE};

use super::PlayersError;
use crate::http::auth::venue_of;
use crate::http::query::number;
use crate::http::{ApiError, AppState};

/// The players routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(PLAYERS_ROUTE, get(sync_players))
        .route(PLAYERS_SNAPSHOT_ROUTE, get(sync_snapshot))
}

#[derive(Debug, Deserialize)]
struct CursorQuery {
    cursor: Option<String>,
    limit: Option<String>,
}

async fn sync_players(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CursorQuery>,
) -> Result<Response, ApiError> {
    venue_of(&state, &headers).await?;
    let cursor = number("cursor", query.cursor.as_deref())?.unwrap_or(0);
    let limit = number("limit", query.limit.as_deref())?.unwrap_or(500);
    let page = super::changes(&state.pool, cursor, limit)
        .await
        .map_err(|error| match error {
            PlayersError::CursorTooOld => ApiError::Gone,
            PlayersError::Db(e) => ApiError::from_db(&e),
        })?;
    Ok(axum::Json(page).into_response())
}

async fn sync_snapshot(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    venue_of(&state, &headers).await?;
    Ok(axum::Json(super::snapshot(&state.pool).await?).into_response())
}
