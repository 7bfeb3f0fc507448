//! The agent's HTTP side over axum: the REST API (`rest`), cloud sync as staff see it
//! (`cloud`), the live WebSocket feed (`ws`), the venue's screens and the staff console
//! (`pages`), players' phones (`phone`: pairing and a paired player's actions), announcements and
//! players' messages (`room`), a match's camera layouts and its rack replay page (`replay`),
//! provisioned devices (`devices`), tournaments at the venue (`tournaments`), `/metrics`, `/healthz` and the staff health report
//! (`health`), staff sign-in by name and PIN (`staff`). This module holds the routes
//! and what every handler shares ([`AppState`]); the handlers lean on `auth` (the staff token),
//! `json` (bodies in and out) and `error` (every error is JSON), never on each other.
//!
//! Table reads come from the hub (committed views only); writes go through the engine, the single
//! writer, and need the staff token, as do the dead letters (read through the [`Reader`]). The
//! contract is documented in docs/protocol.md, "HTTP and WebSocket API".

mod auth;
mod cloud;
mod devices;
mod error;
mod health;
mod json;
mod network;
mod pages;
mod phone;
mod registry;
mod replay;
mod rest;
mod results;
mod room;
mod socket;
mod staff;
mod tournaments;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};

pub use auth::StaffGuard;
pub use error::ApiError;
pub use phone::Phones;
pub use ws::SEND_TIMEOUT;
pub(crate) use ws::spawn_direct_writers;

use crate::engine::EngineHandle;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::store::{Reader, StoreError};
use tokio_util::sync::CancellationToken;

/// Largest request body accepted (413 beyond).
pub const BODY_LIMIT: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Writes go through the engine (the single writer).
    pub engine: EngineHandle,
    /// Committed views for reads and WebSocket fan-out.
    pub hub: Hub,
    /// Read-only SQLite access (the log for `?since=`, the dead letters).
    pub reader: Reader,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Token required for writes and dead letters; `None` refuses them all with 401 (start the
    /// agent with `--staff-token` to allow them). Table reads are open.
    pub staff_token: Option<String>,
    /// Failed staff-token attempts per address: 429 past a burst, alerts for staff.
    pub staff_guard: Arc<StaffGuard>,
    /// Venue name for pages.
    pub venue: String,
    /// cloud-sync's URL when sync is on.
    pub cloud_url: Option<String>,
    /// Players' phones: pairing codes, tokens, seats and the rate limits of strangers.
    pub phones: Arc<phone::Phones>,
    /// Announcements, requests to undo and players' messages (sent over `/ws` too).
    pub notices: crate::notices::Notices,
    /// Where HTTP listens and the URLs the venue's network can open (`GET /api/v1/network`).
    pub reach: crate::network::Reach,
    /// Provisioned devices (`/api/v1/devices`).
    pub devices: crate::devices::Devices,
    /// What `/healthz` and `/api/v1/health` judge (`None`: always `ok`, for API unit tests).
    pub health: Option<Arc<crate::health::Health>>,
    /// The venue's staff, their PIN sign-in and sessions (`/api/v1/staff/…`).
    pub staff: Arc<crate::staff::Desk>,
}

impl AppState {
    /// Runs a read on a blocking thread through the [`Reader`]'s own connection, so a request
    /// never waits on the writer; a storage failure is a logged 503.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Reader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let reader = self.reader.clone();
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
}

/// The HTTP routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/tables/{table}", get(pages::scoreboard))
        .route("/staff", get(pages::staff))
        .route("/assets/{file}", get(pages::asset))
        .route("/api/v1/tables", get(rest::list_tables))
        .route("/api/v1/tables/{table}", get(rest::get_table))
        .route("/api/v1/tables/{table}/matches", post(rest::start_match))
        .route(
            "/api/v1/tables/{table}/matches/current/actions",
            post(rest::action),
        )
        .route("/api/v1/sync", get(cloud::status))
        .route("/api/v1/sync/dead-letters", get(cloud::dead_letters))
        .route("/api/v1/players", get(cloud::players))
        .route("/api/v1/dead-letters", get(rest::dead_letters))
        .route("/api/v1/registry", get(registry::list))
        .route("/api/v1/registry/{table}", put(registry::put))
        .route("/api/v1/registry/{table}/retire", post(registry::retire))
        .route("/api/v1/devices", get(devices::list).post(devices::add))
        .route("/api/v1/devices/{device}", delete(devices::revoke))
        .route("/api/v1/network", get(network::reach))
        .route("/api/v1/network/qr", get(network::qr))
        .route("/api/v1/tables/{table}/sessions", post(rest::start_session))
        .route(
            "/api/v1/tables/{table}/sessions/current/stop",
            post(rest::stop_session),
        )
        .route("/matches/{match_id}/replay", get(replay::page))
        .route("/api/v1/matches/{match_id}/layouts", get(replay::layouts))
        .route("/phone/{table}", get(pages::phone))
        .route("/p/{code}", get(pages::phone_pairing))
        .route("/tables/{table}/pairing.svg", get(phone::pairing_qr))
        .route("/api/v1/tables/{table}/pairing", get(phone::pairing_code))
        .route(
            "/api/v1/tables/{table}/matches/current/racks",
            get(phone::racks),
        )
        .route("/api/v1/phone/pair", post(phone::pair))
        .route("/api/v1/phone/{table}/me", get(phone::me))
        .route("/api/v1/phone/{table}/actions", post(phone::action))
        .route(
            "/api/v1/phone/{table}/undo-requests",
            post(phone::request_undo),
        )
        .route(
            "/api/v1/phone/{table}/undo-requests/{id}",
            post(phone::answer_undo),
        )
        .route("/api/v1/phone/{table}/messages", post(room::send_message))
        .route(
            "/api/v1/tables/{table}/undo-requests/{id}",
            post(phone::staff_answer_undo),
        )
        .route(
            "/api/v1/tables/{table}/seats/{seat}/release",
            post(phone::release_seat),
        )
        .route(
            "/api/v1/announcements",
            get(room::announcements).post(room::announce),
        )
        .route("/api/v1/announcements/{id}/withdraw", post(room::withdraw))
        .route("/api/v1/messages", get(room::messages))
        .route("/api/v1/messages/{id}/ack", post(room::acknowledge))
        .route("/api/v1/alerts", get(room::alerts))
        .route("/results", get(pages::results))
        .route("/overlay/{table}", get(pages::overlay))
        .route("/api/v1/results", get(results::list))
        .route("/api/v1/results/{match_id}", get(results::one))
        .route("/ws", get(ws::upgrade))
        .route("/metrics", get(metrics))
        .route("/healthz", get(health::healthz))
        .route("/api/v1/health", get(health::detail))
        .route("/api/v1/staff/members", get(staff::members))
        .route(
            "/api/v1/staff/session",
            get(staff::current)
                .post(staff::sign_in)
                .delete(staff::sign_out),
        )
        .route("/tournaments/{id}", get(pages::tournament))
        .route(
            "/api/v1/tournaments",
            get(tournaments::list).post(tournaments::create),
        )
        .route("/api/v1/tournaments/{id}", get(tournaments::one))
        .route(
            "/api/v1/tournaments/{id}/entrants",
            post(tournaments::add_entrant),
        )
        .route(
            "/api/v1/tournaments/{id}/entrants/{name}",
            delete(tournaments::remove_entrant),
        )
        .route(
            "/api/v1/tournaments/{id}/check-in",
            post(tournaments::check_in),
        )
        .route("/api/v1/tournaments/{id}/seeds", put(tournaments::seeds))
        .route("/api/v1/tournaments/{id}/start", post(tournaments::start))
        .route("/api/v1/tournaments/{id}/entries", post(tournaments::entry))
        .route(
            "/api/v1/tournaments/{id}/reserved/{table}",
            put(tournaments::reserve),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(pages::security_headers))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown`: then the hub is closed (every WebSocket
/// gets a close frame, the direct writers stop), the listener stops accepting and in-flight
/// requests finish. Screens get direct writes if `spawn_direct_writers` ran for the hub first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let hub = state.hub.clone();
    let closing = shutdown.clone();
    tokio::spawn(async move {
        closing.cancelled().await;
        hub.close();
    });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "HTTP listening");
    }
    let app = router(state).into_make_service_with_connect_info::<socket::Socket>();
    axum::serve(socket::Listener(listener), app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route {}", uri.path()))
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        r#"{"error":"method not allowed"}"#,
    )
        .into_response()
}

#[cfg(test)]
mod tests;
