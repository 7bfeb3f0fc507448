//! The one error type of the HTTP API: every failure becomes a 4xx/5xx with a JSON body
//! `{"error":"..."}`. Internals (storage errors) are logged, not sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::engine::EngineError;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or the query string is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed JSON that does not fit the request: unknown or missing fields, wrong types (422).
    #[error("{0}")]
    Unprocessable(String),
    /// No staff token, the wrong one, or writes disabled (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed to do this (403): a phone that is not the shooter's, or
    /// not paired with this table's match.
    #[error("{0}")]
    Forbidden(String),
    /// Too many tries from this address or phone (429, with `Retry-After` in seconds).
    #[error("{message}")]
    TooManyRequests {
        /// What was refused.
        message: String,
        /// Seconds to wait.
        retry_after_s: u64,
    },
    /// No such table or route (404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the table's state (409).
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than the limit (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The agent cannot take writes right now (503).
    #[error("{0}")]
    Unavailable(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Classifies a `serde_json` failure on a request body: bad syntax is 400, JSON of the wrong
    /// shape is 422.
    pub fn from_json(error: &serde_json::Error) -> ApiError {
        use serde_json::error::Category;
        match error.classify() {
            Category::Data => ApiError::Unprocessable(format!("invalid request: {error}")),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::BadRequest(format!("malformed JSON: {error}"))
            }
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> ApiError {
        match error {
            EngineError::UnknownTable(_) => ApiError::NotFound(error.to_string()),
            EngineError::Registry(crate::registry::RegistryError::Unknown(_)) => {
                ApiError::NotFound(error.to_string())
            }
            EngineError::Registry(crate::registry::RegistryError::BadTable(_)) => {
                ApiError::BadRequest(error.to_string())
            }
            EngineError::Registry(_) => ApiError::Unprocessable(error.to_string()),
            EngineError::NoMatch(_)
            | EngineError::InUse(_)
            | EngineError::Busy(_)
            | EngineError::SessionRunning(_)
            | EngineError::NoSession(_)
            | EngineError::ShotClock(_) => ApiError::Conflict(error.to_string()),
            EngineError::BadTable(_) => ApiError::BadRequest(error.to_string()),
            EngineError::Rejected(_) => ApiError::Unprocessable(error.to_string()),
            EngineError::Store(ref detail) => {
                tracing::error!(error = %detail, "write failed in the store");
                ApiError::Unavailable("storage failure: the input was not applied".to_owned())
            }
            EngineError::TooEarly(_) => ApiError::Conflict(error.to_string()),
            EngineError::Tournament(ref refused) => {
                use crate::tournament::TournamentError;
                use shared::bracket::BracketError;
                match refused {
                    TournamentError::Unknown(_)
                    | TournamentError::NoEntrant(_)
                    | TournamentError::Bracket(BracketError::UnknownMatch(_)) => {
                        ApiError::NotFound(error.to_string())
                    }
                    TournamentError::Conflict(_)
                    | TournamentError::Bracket(BracketError::NotReady { .. }) => {
                        ApiError::Conflict(error.to_string())
                    }
                    TournamentError::Invalid(_) | TournamentError::Bracket(_) => {
                        ApiError::Unprocessable(error.to_string())
                    }
                }
            }
            EngineError::ShuttingDown | EngineError::CannotSave | EngineError::NotSavedYet => {
                ApiError::Unavailable(error.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match &self {
            ApiError::TooManyRequests { retry_after_s, .. } => Some(*retry_after_s),
            _ => None,
        };
        let body = serde_json::json!({ "error": self.to_string() }).to_string();
        let mut response = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"dojo\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(error: EngineError) -> StatusCode {
        ApiError::from(error).status()
    }

    #[test]
    fn engine_errors_map_to_statuses() {
        assert_eq!(
            status(EngineError::NoMatch("t1".into())),
            StatusCode::CONFLICT
        );
        assert_eq!(status(EngineError::Busy("t1".into())), StatusCode::CONFLICT);
        assert_eq!(
            status(EngineError::BadTable("x y".into())),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(EngineError::Rejected(shared::rules::Rejected::InvalidSpec(
                "no".into()
            ))),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(EngineError::Store("disk I/O error".into())),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(EngineError::ShuttingDown),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn storage_details_are_not_sent() {
        let error = ApiError::from(EngineError::Store(
            "/var/lib/dojo/agent.db: disk full".into(),
        ));
        assert!(!error.to_string().contains("/var/lib"));
    }

    #[test]
    fn json_errors_are_400_for_syntax_and_422_for_shape() {
        let syntax = serde_json::from_str::<crate::table::StaffAction>("{\"action\":").err();
        let shape =
            serde_json::from_str::<crate::table::StaffAction>(r#"{"action":"dance"}"#).err();
        let unknown = serde_json::from_str::<crate::table::StaffAction>(
            r#"{"action":"call","ball":3,"x":1}"#,
        )
        .err();
        let status = |e: Option<serde_json::Error>| e.map(|e| ApiError::from_json(&e).status());
        assert_eq!(status(syntax), Some(StatusCode::BAD_REQUEST));
        assert_eq!(status(shape), Some(StatusCode::UNPROCESSABLE_ENTITY));
        assert_eq!(status(unknown), Some(StatusCode::UNPROCESSABLE_ENTITY));
    }
}
