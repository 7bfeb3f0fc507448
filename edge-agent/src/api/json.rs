//! JSON in and out of the handlers: a request body within [`BODY_LIMIT`](super::BODY_LIMIT) (413
//! beyond), parsed with 400 for bad syntax and 422 for the wrong shape, and JSON responses with
//! their content type. Every error body is JSON too ([`ApiError`]).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The body, or 413 past [`super::BODY_LIMIT`].
pub(crate) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
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
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("the request body is empty".to_owned()));
    }
    serde_json::from_slice(body).map_err(|error| ApiError::from_json(&error))
}

/// A JSON body with its content type.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::StaffAction;

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
