//! The HTTP routes. Every error is one [`ApiError`] that maps to a status and a JSON
//! `{"error": …}` body (`shared::sync::SyncError`, with `expected_seq` or `seq` where the contract
//! says), logs internals and never leaks them; 429 and 503 carry `Retry-After`.
//!
//! - `POST /api/v1/sync/batches` — venue key; [`crate::ingest`];
//! - `GET /api/v1/sync/players`, `…/snapshot` — venue key; [`crate::players`];
//! - `GET /api/v1/venues`, `/venues/{id}/matches`, `/matches/{id}`, `/players/{id}`,
//!   `/players/{id}/matches` — open reads; [`crate::reads`], some through [`crate::cache`];
//! - `GET /api/v1/live` — WebSocket of results; [`crate::live`];
//! - `GET /metrics`, `GET /healthz`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;
use shared::sync::{
    BATCHES_ROUTE, BatchAck, MAX_BATCH_BYTES, PLAYERS_ROUTE, PLAYERS_SNAPSHOT_ROUTE, SyncError,
};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::cache::{self, Scope};
use crate::config::Limits;
use crate::ingest::{self, IngestError};
use crate::keys;
use crate::live::Live;
use crate::metrics::Metrics;
use crate::players::{self, PlayersError};
use crate::projector::Projector;
use crate::rate_limit::{self, Verdict};
use crate::reads::{self, Page, ReadError};
use crate::redis_link::RedisLink;

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    /// PostgreSQL.
    pub pool: PgPool,
    /// Redis (maybe none, maybe down).
    pub redis: RedisLink,
    /// The live fan-out.
    pub live: Live,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Wakes this instance's projector after a batch is stored.
    pub projector: Projector,
    /// Rate limits.
    pub limits: Limits,
    /// Stops WebSocket clients at shutdown.
    pub shutdown: CancellationToken,
}

/// Every error answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or unknown key.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409 with the seq to send from.
    #[error("{error}")]
    Gap {
        /// For people.
        error: String,
        /// Send from here.
        expected_seq: u64,
    },
    /// 410: the player cursor is older than the kept log.
    #[error("cursor too old")]
    Gone,
    /// 413.
    #[error("{0}")]
    TooLarge(String),
    /// 422 naming the record.
    #[error("{error}")]
    Invalid {
        /// For people.
        error: String,
        /// The record.
        seq: u64,
    },
    /// 429: wait this long.
    #[error("too many requests")]
    RateLimited(Duration),
    /// 503: PostgreSQL is unreachable or restarting; retry soon.
    #[error("the database is unavailable, retry shortly")]
    Unavailable,
    /// 500: a bug or an unexpected database error (logged, not shown).
    #[error("internal error")]
    Internal,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Gap { .. } => StatusCode::CONFLICT,
            ApiError::Gone => StatusCode::GONE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn from_db(error: &sqlx::Error) -> ApiError {
        if crate::db::is_transient(error) {
            tracing::warn!(%error, "database unavailable");
            ApiError::Unavailable
        } else {
            tracing::error!(%error, "database error");
            ApiError::Internal
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::from_db(&error)
    }
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

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::NotFound(what) => ApiError::NotFound(format!("no such {what}")),
            ReadError::BadRequest(e) => ApiError::BadRequest(e),
            ReadError::Db(e) => ApiError::from_db(&e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = SyncError {
            error: self.to_string(),
            expected_seq: match &self {
                ApiError::Gap { expected_seq, .. } => Some(*expected_seq),
                _ => None,
            },
            seq: match &self {
                ApiError::Invalid { seq, .. } => Some(*seq),
                _ => None,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        let retry_after = match &self {
            ApiError::RateLimited(wait) => Some(wait.as_secs().max(1)),
            ApiError::Unavailable => Some(1),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The routes over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(BATCHES_ROUTE, post(sync_batch))
        .route(PLAYERS_ROUTE, get(sync_players))
        .route(PLAYERS_SNAPSHOT_ROUTE, get(sync_snapshot))
        .route("/api/v1/venues", get(venues))
        .route("/api/v1/venues/{id}/matches", get(venue_matches))
        .route("/api/v1/matches/{id}", get(match_detail))
        .route("/api/v1/players/{id}", get(player))
        .route("/api/v1/players/{id}/matches", get(player_matches))
        .route("/api/v1/live", get(live))
        .layer(middleware::from_fn_with_state(state.clone(), limit_by_addr))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Per client address, on every API route.
async fn limit_by_addr(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let who = format!("addr:{}", peer.ip());
    match rate_limit::check(
        &state.redis,
        &who,
        state.limits.addr_per_window,
        state.limits.window_secs,
    )
    .await
    {
        Verdict::Allow => next.run(request).await,
        Verdict::Refuse(wait) => {
            state.metrics.rate_limited("addr");
            ApiError::RateLimited(wait).into_response()
        }
    }
}

/// The venue of the request's bearer key, then the venue's rate limit.
async fn venue_of(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized(
            "missing venue key (Authorization: Bearer …)",
        ))?;
    let venue = keys::venue_of(&state.pool, key)
        .await?
        .ok_or(ApiError::Unauthorized("unknown venue key"))?;
    match rate_limit::check(
        &state.redis,
        &format!("venue:{venue}"),
        state.limits.venue_per_window,
        state.limits.window_secs,
    )
    .await
    {
        Verdict::Allow => Ok(venue),
        Verdict::Refuse(wait) => {
            state.metrics.rate_limited("venue");
            Err(ApiError::RateLimited(wait))
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
    let decoded = ingest::decode(&bytes, gzip)?;
    // The prepared batch borrows its payloads from `decoded` (they are stored as sent).
    let prepared = ingest::prepare(&decoded, &venue)?;
    let ack = ingest::apply(&state.pool, prepared).await?;
    if ack.applied > 0 {
        // Matches, racks and statistics follow in the background; the projector tells Redis
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

/// Query parameters arrive as text and are parsed here, so a malformed one gets the same JSON
/// error as everything else (axum's `Query` rejection is plain text).
fn number<T: std::str::FromStr>(name: &str, value: Option<&str>) -> Result<Option<T>, ApiError> {
    value
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::BadRequest(format!("{name} must be a number, not {v:?}")))
        })
        .transpose()
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
    let page = players::changes(&state.pool, cursor, limit)
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
    Ok(axum::Json(players::snapshot(&state.pool).await?).into_response())
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
        reads::venues(&state.pool, &query.page()?).await?,
    ))
}

async fn venue_matches(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let page = query.page()?;
    let load = reads::venue_matches(&state.pool, &id, &page);
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
    Ok(axum::Json(reads::match_detail(&state.pool, &id).await?))
}

async fn player(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let scope = Scope::Player(id.clone());
    let load = reads::player(&state.pool, &id);
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
    let load = reads::player_matches(&state.pool, &id, &page);
    let value = if page.is_first_default() {
        let scope = Scope::Player(id.clone());
        cache::get_or_load(&state.redis, &state.metrics, &scope, "matches", load).await?
    } else {
        load.await?
    };
    Ok(axum::Json(value))
}

async fn live(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| async move {
        state.live.serve(socket, state.shutdown.clone()).await;
    })
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn healthz(State(state): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(&state.pool).await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(error) => ApiError::from(error).into_response(),
    }
}
