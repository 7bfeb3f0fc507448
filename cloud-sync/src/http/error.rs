//! `ApiError`: every error answer of the service. Each maps to a status and a JSON `{"error": …}`
//! body (`shared::sync::SyncError`, with `expected_seq` or `seq` where the contract says), logs
//! internals and never leaks them; 429 and 503 carry `Retry-After`. A context turns its own error
//! type into this one (`impl From<…> for ApiError` in its `http.rs`).

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shared::sync::SyncError;

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
    /// 409: the resource's state does not allow it (already linked, already decided, …).
    #[error("{0}")]
    Conflict(String),
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
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone => StatusCode::GONE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A PostgreSQL failure: 503 when it is transient (logged as a warning), else 500 (logged as
    /// an error).
    pub fn from_db(error: &sqlx::Error) -> ApiError {
        if crate::infra::db::is_transient(error) {
            tracing::warn!(%error, "database unavailable");
            ApiError::Unavailable
        } else {
            tracing::error!(%error, "database error");
            ApiError::Internal
        }
    }
}

/// A request body as JSON `T`, or a 400 naming what is wrong: the one parser of every
/// context's JSON bodies (each route bounds the body's size before).
///
/// # Errors
///
/// [`ApiError::BadRequest`].
pub fn json_body<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|error| ApiError::BadRequest(format!("bad JSON body: {error}")))
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::from_db(&error)
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
