//! The table registry for staff (`crate::registry`): `GET /api/v1/registry` lists every table
//! with the devices that announced it and the devices announcing a table nobody registered;
//! `PUT /api/v1/registry/{table}` registers, renames, moves or brings back a table;
//! `POST /api/v1/registry/{table}/retire` retires one. All need the staff token (or a staff PIN
//! session): the listing names devices and retired tables, which is staff's business. Who made a
//! change is logged with it on the table's view (as for match actions, `super::rest::actor_of`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use super::auth::Staff;
use super::error::ApiError;
use super::json::{body_bytes, json_response, parse};
use super::rest::actor_of;
use crate::registry::{Change, Entry};

/// `PUT /api/v1/registry/{table}` body; both optional (an empty body is `{}`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Put {
    /// Display name.
    name: Option<String>,
    /// Position in the venue's order.
    position: Option<u32>,
}

fn entry_response(status: StatusCode, entry: &Entry) -> Result<Response, ApiError> {
    let body = serde_json::to_string(entry)
        .map_err(|_| ApiError::Unavailable("cannot encode the entry".to_owned()))?;
    Ok(json_response(status, body))
}

/// `GET /api/v1/registry`.
pub(crate) async fn list(
    _staff: Staff,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let listing = state.engine.registry().await?;
    let body = serde_json::to_string(&listing)
        .map_err(|_| ApiError::Unavailable("cannot encode the registry".to_owned()))?;
    Ok(json_response(StatusCode::OK, body))
}

/// `PUT /api/v1/registry/{table}`: 201 with the entry when the table is new, else 200.
pub(crate) async fn put(
    staff: Staff,
    State(state): State<AppState>,
    Path(table): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let by = actor_of(&staff, &headers)?;
    let bytes = body_bytes(body)?;
    let put: Put = if bytes.iter().all(u8::is_ascii_whitespace) {
        Put::default()
    } else {
        parse(&bytes)?
    };
    let known = state
        .engine
        .registry()
        .await?
        .tables
        .iter()
        .any(|t| t.entry.table == table);
    let change = Change::Put {
        table,
        name: put.name,
        position: put.position,
    };
    let entry = state.engine.register(change, by).await?;
    let status = if known {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    entry_response(status, &entry)
}

/// `POST /api/v1/registry/{table}/retire`: 200 with the entry; 404 unknown, 409 in use.
pub(crate) async fn retire(
    staff: Staff,
    State(state): State<AppState>,
    Path(table): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let by = actor_of(&staff, &headers)?;
    let entry = state.engine.register(Change::Retire { table }, by).await?;
    entry_response(StatusCode::OK, &entry)
}
