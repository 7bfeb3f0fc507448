//! The REST API: table state for anyone on the venue network, match control for staff.
//!
//! Reads serve the committed view's JSON bytes as they are (`Published.json`), so the API, the
//! screens and the event log always agree byte for byte. Writes go to the engine, the single
//! writer, and answer with the view it committed.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use shared::rules::MatchSpec;

use super::AppState;
use super::error::ApiError;
use crate::table::StaffAction;
use crate::view::Published;

/// Proof that the request carried the staff token. Extracted before the body is read, so an
/// unauthenticated client is refused without parsing anything.
#[derive(Debug)]
pub(crate) struct Staff;

impl FromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Staff, ApiError> {
        check_token(
            state.staff_token.as_deref(),
            parts.headers.get(header::AUTHORIZATION),
        )
        .map(|()| Staff)
    }
}

/// Checks an `Authorization` header against the configured staff token.
pub(crate) fn check_token(
    expected: Option<&str>,
    authorization: Option<&HeaderValue>,
) -> Result<(), ApiError> {
    // An empty token would let `Authorization: Bearer ` in: treat it as no token.
    let Some(expected) = expected.filter(|token| !token.is_empty()) else {
        return Err(ApiError::Unauthorized(
            "writes are disabled: start the agent with --staff-token to allow them".to_owned(),
        ));
    };
    let presented = authorization
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| !token.is_empty());
    match presented {
        None => Err(ApiError::Unauthorized(
            "staff token required: send Authorization: Bearer <token>".to_owned(),
        )),
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::Unauthorized("wrong staff token".to_owned())),
    }
}

/// Compares without stopping at the first difference, so response time does not reveal how much of
/// a guess was right. Runs over the expected token's length whatever the guess's length.
fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    let mut difference = u8::from(presented.len() != expected.len());
    for (i, &byte) in expected.iter().enumerate() {
        difference |= byte ^ presented.get(i).copied().unwrap_or(!byte);
    }
    std::hint::black_box(difference) == 0
}

/// The body, or 413 past [`super::BODY_LIMIT`].
fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "the request body is larger than {} KiB",
                super::BODY_LIMIT / 1024
            ))
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    })
}

/// Parses a JSON body; see [`ApiError::from_json`] for the statuses.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("the request body is empty".to_owned()));
    }
    serde_json::from_slice(body).map_err(|error| ApiError::from_json(&error))
}

/// A committed view as the response body.
fn view_response(status: StatusCode, published: &Published) -> Response {
    json_response(status, published.json.to_string())
}

pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// `GET /api/v1/tables`: every table's view, sorted by table.
pub(crate) async fn list_tables(State(state): State<AppState>) -> Response {
    let latest = state.hub.latest();
    let mut body =
        String::with_capacity(2 + latest.iter().map(|p| p.json.len() + 1).sum::<usize>());
    body.push('[');
    for (i, published) in latest.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&published.json);
    }
    body.push(']');
    json_response(StatusCode::OK, body)
}

/// `GET /api/v1/tables/{table}`.
pub(crate) async fn get_table(
    State(state): State<AppState>,
    Path(table): Path<String>,
) -> Result<Response, ApiError> {
    state
        .hub
        .get(&table)
        .map(|published| view_response(StatusCode::OK, &published))
        .ok_or_else(|| ApiError::NotFound(format!("no table {table:?}")))
}

/// `POST /api/v1/tables/{table}/matches`: starts a match; 201 with the view.
pub(crate) async fn start_match(
    _staff: Staff,
    State(state): State<AppState>,
    Path(table): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let spec: MatchSpec = parse(&body_bytes(body)?)?;
    spec.validate()
        .map_err(|rejected| ApiError::Unprocessable(rejected.to_string()))?;
    let published = state.engine.start_match(table, spec).await?;
    let mut response = view_response(StatusCode::CREATED, &published);
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/tables/{}", published.table())) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `POST /api/v1/tables/{table}/matches/current/actions`: a staff action; 200 with the view.
pub(crate) async fn action(
    _staff: Staff,
    State(state): State<AppState>,
    Path(table): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let action: StaffAction = parse(&body_bytes(body)?)?;
    let published = state.engine.action(table, action).await?;
    Ok(view_response(StatusCode::OK, &published))
}

/// `POST /api/v1/tables/{table}/sessions`: starts a table-time session; 201 with the view. The
/// body, if any, is ignored.
pub(crate) async fn start_session(
    _staff: Staff,
    State(state): State<AppState>,
    Path(table): Path<String>,
) -> Result<Response, ApiError> {
    let published = state.engine.session(table, true).await?;
    let mut response = view_response(StatusCode::CREATED, &published);
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/tables/{}", published.table())) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `POST /api/v1/tables/{table}/sessions/current/stop`: stops the running session; 200 with the
/// view (its `session` shows the elapsed time). The body, if any, is ignored.
pub(crate) async fn stop_session(
    _staff: Staff,
    State(state): State<AppState>,
    Path(table): Path<String>,
) -> Result<Response, ApiError> {
    let published = state.engine.session(table, false).await?;
    Ok(view_response(StatusCode::OK, &published))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(expected: Option<&str>, header: Option<&str>) -> Result<(), StatusCode> {
        let header = header.map(|h| HeaderValue::from_str(h).expect("header"));
        check_token(expected, header.as_ref()).map_err(|e| e.status())
    }

    #[test]
    fn staff_token() {
        let unauthorized = Err(StatusCode::UNAUTHORIZED);
        assert_eq!(check(Some("s3cret"), Some("Bearer s3cret")), Ok(()));
        assert_eq!(check(Some("s3cret"), Some("bearer s3cret")), Ok(()));
        assert_eq!(check(Some("s3cret"), Some("Bearer s3cre")), unauthorized);
        assert_eq!(check(Some("s3cret"), Some("Bearer s3cret!")), unauthorized);
        assert_eq!(check(Some("s3cret"), Some("Bearer ")), unauthorized);
        assert_eq!(check(Some("s3cret"), Some("Basic s3cret")), unauthorized);
        assert_eq!(check(Some("s3cret"), Some("s3cret")), unauthorized);
        assert_eq!(check(Some("s3cret"), None), unauthorized);
        assert_eq!(check(None, Some("Bearer anything")), unauthorized);
        assert_eq!(check(Some(""), Some("Bearer ")), unauthorized);
    }

    #[test]
    fn writes_disabled_says_how_to_enable_them() {
        let error = check_token(None, None).err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("--staff-token")));
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"x", b""));
    }

    #[test]
    fn empty_body_is_400() {
        assert_eq!(
            parse::<StaffAction>(b" \n").err().map(|e| e.status()),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            parse::<StaffAction>(br#"{"action":"call","ball":3}"#).ok(),
            Some(StaffAction::Call {
                ball: 3,
                pocket: None
            })
        );
    }
}
