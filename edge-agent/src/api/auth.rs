//! Staff authentication: who may write, and read what devices sent.
//!
//! Table reads are open to anyone on the venue network; match control, sessions and the dead
//! letters need the staff token (`--staff-token`), sent as `Authorization: Bearer <token>`. A
//! handler asks for it by taking a [`Staff`] argument, which axum extracts before the body is
//! read. Without a configured token every staff request is refused (401), and the answer says how
//! to allow them.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};

use super::AppState;
use super::error::ApiError;

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
            "staff requests are disabled: start the agent with --staff-token to allow them"
                .to_owned(),
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

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

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
}
