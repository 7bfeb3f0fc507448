//! Authentication of venues: a request's `Authorization: Bearer dpv_…` key is looked up
//! ([`crate::venues::keys::venue_of`]: by its hash) and the venue's rate limit counted. Why bearer
//! keys and not request signing: docs/security.md.

use axum::http::{HeaderMap, header};

use super::error::ApiError;
use super::state::AppState;
use crate::infra::rate_limit::{self, Verdict};
use crate::venues::keys;

/// The venue of the request's bearer key, then the venue's rate limit.
///
/// # Errors
///
/// 401 without a known key, 429 over the venue's limit, 503/500 when PostgreSQL fails.
pub async fn venue_of(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized(
            "missing venue key (Authorization: Bearer …)",
        ))?;
    if !key.starts_with(keys::KEY_PREFIX) && state.keys.verify(key).await.is_ok() {
        // A person's valid access token on a venue's route: known, but not allowed.
        return Err(ApiError::Forbidden("this route takes a venue key".into()));
    }
    let venue = keys::venue_of(&state.pool, key)
        .await?
        .ok_or(ApiError::Unauthorized("unknown venue key"))?;
    match rate_limit::check(
        &state.redis,
        &format!("venue:{venue}"),
        state.limits.venue_per_window,
        state.limits.window_secs,
    )
    .await
    {
        Verdict::Allow => Ok(venue),
        Verdict::Refuse(wait) => {
            state.metrics.rate_limited("venue");
            Err(ApiError::RateLimited(wait))
        }
    }
}
