//! Who is calling: [`Caller`], taken from the request's `Authorization: Bearer …` by the axum
//! extractor below. A venue key (`dpv_…`) is the venue's machine identity, a service token
//! (`dps_…`) an integration's ([`super::service_tokens`]); anything else must be
//! a valid access token ([`super::token`]); no header at all is [`Caller::Anonymous`]. A bad
//! credential is 401 — it never falls back to anonymous.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::policy::{Grant, Role};
use crate::http::{ApiError, AppState};

/// A signed-in user, as their access token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user id.
    pub id: String,
    /// The session (refresh-token family) the token came from.
    pub session: String,
    /// Whether their email address is verified.
    pub email_verified: bool,
    /// Roles beyond `player`.
    pub grants: Vec<Grant>,
}

impl User {
    /// Whether the user holds `role` at `venue` (a global grant holds everywhere; `venue: None`
    /// asks for a global grant).
    pub fn has(&self, role: Role, venue: Option<&str>) -> bool {
        self.grants.iter().any(|grant| {
            grant.role == role
                && (grant.venue_id.is_none()
                    || venue.is_some_and(|v| grant.venue_id.as_deref() == Some(v)))
        })
    }
}

/// The identity behind a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No credentials.
    Anonymous,
    /// A person, by access token.
    User(User),
    /// A venue's machine identity, by its venue key: the venue id.
    Venue(String),
    /// An integration's machine identity, by its service token (`dps_…`): the token's name.
    Service(String),
}

impl Caller {
    /// The signed-in user, if any.
    pub fn user(&self) -> Option<&User> {
        match self {
            Caller::User(user) => Some(user),
            _ => None,
        }
    }

    /// The signed-in user, or 401.
    ///
    /// # Errors
    ///
    /// [`ApiError::Unauthorized`] for anyone else.
    pub fn signed_in(&self) -> Result<&User, ApiError> {
        self.user().ok_or(ApiError::Unauthorized(
            "sign in first (Authorization: Bearer …)",
        ))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Caller::Anonymous);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized(
                "Authorization must be `Bearer <token>`",
            ))?;
        if token.starts_with(crate::venues::keys::KEY_PREFIX) {
            let venue = crate::http::auth::venue_of(state, &parts.headers).await?;
            return Ok(Caller::Venue(venue));
        }
        if token.starts_with(super::service_tokens::TOKEN_PREFIX) {
            let name = super::service_tokens::name_of(&state.pool, token)
                .await?
                .ok_or(ApiError::Unauthorized("unknown or revoked service token"))?;
            return Ok(Caller::Service(name));
        }
        let claims = state.keys.verify(token).await.map_err(|error| {
            tracing::debug!(%error, "access token refused");
            ApiError::Unauthorized("invalid or expired access token")
        })?;
        Ok(Caller::User(User {
            id: claims.sub,
            session: claims.sid,
            email_verified: claims.email_verified,
            grants: claims.roles,
        }))
    }
}
