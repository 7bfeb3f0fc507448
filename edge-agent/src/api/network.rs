//! How the venue's network reaches the agent, for the staff console: `GET /api/v1/network` (where
//! HTTP listens, the LAN URLs, advice when only this machine can connect) and
//! `GET /api/v1/network/qr?url=…`, a QR code (SVG) of one of those URLs for a phone to scan. Both
//! are open reads like the tables: anyone who can ask is already on the network they describe.
//! The QR route only draws the agent's own LAN URLs, so it is no QR service for anything else.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::json::json_response;

/// `GET /api/v1/network`: `{"listening", "lan_urls", "serving_lan", "advice"}`.
pub(crate) async fn reach(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut body = serde_json::to_value(&state.reach)
        .map_err(|_| ApiError::Unavailable("cannot encode the network".to_owned()))?;
    body["advice"] = serde_json::Value::String(state.reach.advice());
    Ok(json_response(StatusCode::OK, body.to_string()))
}

/// `GET /api/v1/network/qr` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QrQuery {
    /// One of the agent's LAN URLs.
    url: String,
}

/// `GET /api/v1/network/qr?url=…`: the QR code of one of `lan_urls` as `image/svg+xml`; 404 for
/// any other URL.
pub(crate) async fn qr(
    State(state): State<AppState>,
    query: Result<Query<QrQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    if !state.reach.lan_urls.contains(&query.url) {
        return Err(ApiError::NotFound(format!(
            "{:?} is not one of this agent's LAN URLs",
            query.url
        )));
    }
    let svg = crate::qr::svg(&query.url)
        .ok_or_else(|| ApiError::Unprocessable("too long for a QR code".to_owned()))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        svg,
    )
        .into_response())
}
