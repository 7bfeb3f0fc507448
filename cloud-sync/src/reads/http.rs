//! The read API's routes (open, no key): `GET /api/v1/venues`, `/venues/{id}/matches`,
//! `/matches/{id}`, `/players/{id}`, `/players/{id}/matches`. A venue's first page of matches and
//! a player's statistics and first page go through the Redis cache ([`crate::infra::cache`]),
//! whose generations the matches projection bumps after its commits.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use serde::Deserialize;
use serde_json::Value;

use super::queries::{self, Page, ReadError};
use crate::accounts::Caller;
use crate::http::query::number;
use crate::http::{ApiError, AppState};
use crate::infra::cache::{self, Scope};

/// The read routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/venues", get(venues))
        .route("/api/v1/venues/{id}/matches", get(venue_matches))
        .route("/api/v1/matches/{id}", get(match_detail))
        .route("/api/v1/players/{id}", get(player))
        .route("/api/v1/players/{id}/matches", get(player_matches))
}

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::NotFound(what) => ApiError::NotFound(format!("no such {what}")),
            ReadError::BadRequest(e) => ApiError::BadRequest(e),
            ReadError::Db(e) => ApiError::from_db(&e),
        }
    }
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    after: Option<String>,
    limit: Option<String>,
}

impl PageQuery {
    fn page(self) -> Result<Page, ApiError> {
        let limit = number("limit", self.limit.as_deref())?;
        Ok(Page::new(self.after, limit)?)
    }
}

async fn venues(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    Ok(axum::Json(
        queries::venues(&state.pool, &query.page()?).await?,
    ))
}

/// Who: anyone. A presented credential is checked all the same (a bad one is 401, never read as
/// anonymous).
async fn venue_matches(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let page = query.page()?;
    let load = queries::venue_matches(&state.pool, &id, &page);
    let value = if page.is_first_default() {
        let scope = Scope::Venue(id.clone());
        cache::get_or_load(&state.redis, &state.metrics, &scope, "matches", load).await?
    } else {
        load.await?
    };
    Ok(axum::Json(value))
}

async fn match_detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    Ok(axum::Json(queries::match_detail(&state.pool, &id).await?))
}

async fn player(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let scope = Scope::Player(id.clone());
    let load = queries::player(&state.pool, &id);
    Ok(axum::Json(
        cache::get_or_load(&state.redis, &state.metrics, &scope, "stats", load).await?,
    ))
}

async fn player_matches(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let page = query.page()?;
    let load = queries::player_matches(&state.pool, &id, &page);
    let value = if page.is_first_default() {
        let scope = Scope::Player(id.clone());
        cache::get_or_load(&state.redis, &state.metrics, &scope, "matches", load).await?
    } else {
        load.await?
    };
    Ok(axum::Json(value))
}
