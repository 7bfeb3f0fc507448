//! The HTTP side every context shares: the state handlers get ([`AppState`]), the one error type
//! ([`ApiError`]), venue authentication ([`auth`]), query parameters ([`query`]), and [`router`],
//! which puts the contexts' routes behind the service-wide layers. Each context keeps its own
//! routes in its `http.rs` (`pub fn router() -> Router<AppState>`); the composition root
//! (`crate::startup`) lists them, so this module depends on no context.
//!
//! - `POST /api/v1/sync/batches`, `GET /api/v1/sync/players`, `…/snapshot` — venue key;
//!   [`crate::sync`];
//! - `GET /api/v1/venues`, `/venues/{id}/matches`, `/matches/{id}`, `/players/{id}`,
//!   `/players/{id}/matches` — open reads; [`crate::reads`];
//! - `/api/v1/me/checkins…`, `/me/results…`, `/me/trusted-venues…`, `/venues/{id}/disputes` —
//!   signed-in users; [`crate::confirmations`];
//! - `GET /api/v1/live` — WebSocket of results ([`crate::infra::live`]), `GET /metrics`,
//!   `GET /healthz` — here.
//!
//! Every `/api/` route is rate limited per client address; `/metrics` and `/healthz` are not.

pub mod auth;
pub mod error;
pub mod query;
pub mod state;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use self::error::ApiError;
pub use self::state::AppState;
use crate::infra::rate_limit::{self, Verdict};

/// The service: the contexts' `routes` and the live WebSocket behind the per-address rate limit,
/// then `/metrics` and `/healthz`, over `state`.
pub fn router(state: AppState, routes: Router<AppState>) -> Router {
    routes
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
