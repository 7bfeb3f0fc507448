//! Provisioned devices for staff (`crate::devices`): `GET /api/v1/devices` lists them (never a
//! secret or a hash) and says whether the broker is open to anonymous devices;
//! `POST /api/v1/devices` (`{"device": "…", "tables": ["…"]}`) provisions one and answers its
//! secret, the only time it is ever shown; `DELETE /api/v1/devices/{device}` revokes one. All need
//! the staff token. The broker's directory has the change when the answer leaves.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Staff;
use super::error::ApiError;
use super::json::{body_bytes, json_response, parse};
use crate::devices::{DeviceError, Record};

/// `POST /api/v1/devices` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Add {
    /// Device id (its MQTT username).
    device: String,
    /// The tables it may speak for.
    tables: Vec<String>,
}

/// The listing.
#[derive(Debug, Serialize)]
struct Listing {
    /// `--allow-anonymous-devices`: the broker lets anyone in (the console warns).
    anonymous: bool,
    /// Whether devices connect to this agent's broker (else an external broker decides).
    embedded: bool,
    devices: Vec<Record>,
}

/// A new device, with its secret (the only answer that ever carries one).
#[derive(Debug, Serialize)]
struct Added {
    #[serde(flatten)]
    record: Record,
    /// Its MQTT username (the device id).
    username: String,
    /// Its MQTT password.
    secret: String,
}

fn api_error(error: DeviceError) -> ApiError {
    match error {
        DeviceError::Invalid(_) => ApiError::Unprocessable(error.to_string()),
        DeviceError::Exists(_) => ApiError::Conflict(error.to_string()),
        DeviceError::Unknown(_) => ApiError::NotFound(error.to_string()),
        DeviceError::TooNew(_) | DeviceError::Store { .. } => {
            tracing::error!(%error, "device book failed");
            ApiError::Unavailable("the device book cannot be used now".to_owned())
        }
    }
}

fn encode(status: StatusCode, value: &impl Serialize) -> Result<Response, ApiError> {
    let body = serde_json::to_string(value)
        .map_err(|_| ApiError::Unavailable("cannot encode the answer".to_owned()))?;
    let mut response = json_response(status, body);
    // Device lists and (above all) secrets are not for any cache.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /api/v1/devices`.
pub(crate) async fn list(
    _staff: Staff,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let devices = state.devices.list().await.map_err(api_error)?;
    let listing = Listing {
        anonymous: state.devices.directory().anonymous(),
        embedded: state.devices.embedded(),
        devices,
    };
    encode(StatusCode::OK, &listing)
}

/// `POST /api/v1/devices`: 201 with the record and its secret; 409 when it is provisioned and not
/// revoked; 422 for a bad id or no table.
pub(crate) async fn add(
    _staff: Staff,
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let add: Add = parse(&body_bytes(body)?)?;
    let (record, secret) = state
        .devices
        .add(add.device, add.tables)
        .await
        .map_err(api_error)?;
    tracing::info!(device = %record.device, tables = ?record.tables, "device provisioned by staff");
    let username = record.device.clone();
    encode(
        StatusCode::CREATED,
        &Added {
            record,
            username,
            secret,
        },
    )
}

/// `DELETE /api/v1/devices/{device}`: 200 with the revoked record; 404 when unknown.
pub(crate) async fn revoke(
    _staff: Staff,
    State(state): State<AppState>,
    Path(device): Path<String>,
) -> Result<Response, ApiError> {
    let record = state.devices.revoke(device).await.map_err(api_error)?;
    tracing::info!(device = %record.device, "device revoked by staff");
    encode(StatusCode::OK, &record)
}
