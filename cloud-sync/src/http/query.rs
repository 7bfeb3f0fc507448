//! Query parameters. They arrive as text and are parsed here, so a malformed one gets the same
//! JSON error as everything else (axum's `Query` rejection is plain text).

use super::error::ApiError;

/// The parameter `name` as a number, if present.
///
/// # Errors
///
/// 400 naming the parameter.
pub fn number<T: std::str::FromStr>(
    name: &str,
    value: Option<&str>,
) -> Result<Option<T>, ApiError> {
    value
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::BadRequest(format!("{name} must be a number, not {v:?}")))
        })
        .transpose()
}
