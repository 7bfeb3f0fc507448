//! The player-profile routes ([`super::profiles`]):
//!
//! - `GET /api/v1/me/player` — signed-in user: their player, its privacy, their pending claims;
//! - `POST /api/v1/me/player` — signed-in user: `{}` creates a player named by their display
//!   name (201), `{player_id}` files a claim on one venues already sync (202);
//! - `PATCH /api/v1/me/privacy` `{profile_public}` — signed-in user with a player;
//! - `GET /api/v1/admin/claims?status=&before=&limit=` — admins (all), venue managers (claims on
//!   players who played at their venues);
//! - `POST /api/v1/admin/claims/{id}/approve|reject` — admins, a manager of a venue where the
//!   claimed player played;
//! - `POST /api/v1/admin/users/{id}/player` `{player_id}` — admin: gives a profile directly;
//! - `POST /api/v1/admin/players/merge` `{from, into}` — admin.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::profiles::{self, Actor, ProfileError};
use crate::accounts::Caller;
use crate::accounts::admin_http::{BODY_LIMIT, addr_of, json_body, page_limit};
use crate::accounts::policy::{self, Action};
use crate::http::query::number;
use crate::http::{ApiError, AppState};
use crate::infra::cache;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me/player", get(my_player).post(take_player))
        .route("/api/v1/me/privacy", patch(privacy))
        .route("/api/v1/admin/claims", get(list_claims))
        .route("/api/v1/admin/claims/{id}/approve", post(approve))
        .route("/api/v1/admin/claims/{id}/reject", post(reject))
        .route("/api/v1/admin/users/{id}/player", post(give))
        .route("/api/v1/admin/players/merge", post(merge))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

impl From<ProfileError> for ApiError {
    fn from(error: ProfileError) -> Self {
        match error {
            ProfileError::Db(e) => ApiError::from_db(&e),
            ProfileError::Name => ApiError::BadRequest(error.to_string()),
            ProfileError::NotFound(_) => ApiError::NotFound(error.to_string()),
            ProfileError::Conflict(why) => ApiError::Conflict(why.into()),
            ProfileError::Invalid(why) => ApiError::BadRequest(why.into()),
        }
    }
}

/// Who: any signed-in user (their own).
async fn my_player(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Value>, ApiError> {
    let user = policy::require_user(&caller, &Action::OwnAccount)?;
    Ok(axum::Json(json!(
        profiles::mine(&state.pool, &user.id).await?
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TakeBody {
    #[serde(default)]
    player_id: Option<String>,
}

/// Who: any signed-in user (for themself).
async fn take_player(
    State(state): State<AppState>,
    caller: Caller,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let user = policy::require_user(&caller, &Action::OwnAccount)?;
    let body: TakeBody = json_body(&body)?;
    let actor = Actor {
        user: &user.id,
        addr: addr_of(&peer),
    };
    match body.player_id.filter(|p| !p.is_empty()) {
        None => {
            let player = profiles::create_for(&state.pool, &actor).await?;
            Ok((StatusCode::CREATED, axum::Json(json!({ "player": player }))).into_response())
        }
        Some(player) => {
            if player.len() > 100 {
                return Err(ApiError::NotFound("no such player".into()));
            }
            let claim = profiles::file_claim(&state.pool, &actor, &player).await?;
            Ok((
                StatusCode::ACCEPTED,
                axum::Json(json!({ "claim_id": claim, "status": "pending" })),
            )
                .into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivacyBody {
    profile_public: bool,
}

/// Who: any signed-in user with a player profile (their own).
async fn privacy(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<axum::Json<Value>, ApiError> {
    let user = policy::require_user(&caller, &Action::OwnAccount)?;
    let body: PrivacyBody = json_body(&body)?;
    let player = profiles::set_public(&state.pool, &user.id, body.profile_public).await?;
    // Every cached answer that shows this player was made for the old choice.
    let scopes = crate::reads::history::cache_scopes(&state.pool, &player).await?;
    cache::invalidate(&state.redis, &scopes).await;
    Ok(axum::Json(
        json!({ "player_id": player, "profile_public": body.profile_public }),
    ))
}

#[derive(Debug, Deserialize)]
struct ClaimsQuery {
    status: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

/// Who: admins (every claim), venue managers (claims on players who played at their venues).
async fn list_claims(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ClaimsQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    policy::require(&caller, &Action::ListClaims)?;
    let status = query.status.as_deref().unwrap_or("pending");
    if !matches!(status, "pending" | "approved" | "rejected") {
        return Err(ApiError::BadRequest(
            "status is pending, approved or rejected".into(),
        ));
    }
    let limit = page_limit(query.limit.as_deref())?;
    let before = number("before", query.before.as_deref())?;
    let scope = policy::managed_venues(&caller);
    let (claims, next) = profiles::claims(&state.pool, status, &scope, before, limit).await?;
    Ok(axum::Json(json!({ "claims": claims, "next": next })))
}

async fn decide(
    state: &AppState,
    caller: &Caller,
    peer: &SocketAddr,
    id: &str,
    approve: bool,
) -> Result<Response, ApiError> {
    // Signed in first, so an anonymous caller learns nothing about claims.
    policy::require(caller, &Action::OwnAccount)?;
    let claim = match id.parse::<i64>() {
        Ok(id) => profiles::claim(&state.pool, id).await?,
        Err(_) => None,
    };
    let Some(claim) = claim else {
        // Only those who decide claims learn whether one exists.
        policy::require(caller, &Action::ListClaims)?;
        return Err(ApiError::NotFound("no such claim".into()));
    };
    policy::require(
        caller,
        &Action::DecideClaim {
            venues: &claim.venues,
        },
    )?;
    let user = caller.signed_in()?;
    let actor = Actor {
        user: &user.id,
        addr: addr_of(peer),
    };
    profiles::decide(&state.pool, &actor, claim.id, approve).await?;
    Ok(axum::Json(json!({
        "claim_id": claim.id,
        "status": if approve { "approved" } else { "rejected" },
    }))
    .into_response())
}

/// Who: admins, a manager of a venue where the claimed player played.
async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    decide(&state, &caller, &peer, &id, true).await
}

/// Who: as [`approve`].
async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    decide(&state, &caller, &peer, &id, false).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GiveBody {
    player_id: String,
}

/// Who: admin.
async fn give(
    State(state): State<AppState>,
    caller: Caller,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let user = policy::require_user(&caller, &Action::ManagePlayers)?;
    let body: GiveBody = json_body(&body)?;
    let actor = Actor {
        user: &user.id,
        addr: addr_of(&peer),
    };
    profiles::give(&state.pool, &actor, &id, &body.player_id).await?;
    Ok(axum::Json(json!({ "user_id": id, "player_id": body.player_id })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeBody {
    from: String,
    into: String,
}

/// Who: admin.
async fn merge(
    State(state): State<AppState>,
    caller: Caller,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let user = policy::require_user(&caller, &Action::ManagePlayers)?;
    let body: MergeBody = json_body(&body)?;
    if body.from.len() > 100 || body.into.len() > 100 {
        return Err(ApiError::NotFound("no such player".into()));
    }
    let actor = Actor {
        user: &user.id,
        addr: addr_of(&peer),
    };
    // Scopes before the merge (the history still names `from`), then after (`into`'s).
    let mut scopes = crate::reads::history::cache_scopes(&state.pool, &body.from).await?;
    let merged = profiles::merge(&state.pool, &actor, &body.from, &body.into).await?;
    scopes.extend(crate::reads::history::cache_scopes(&state.pool, &body.into).await?);
    cache::invalidate(&state.redis, &scopes).await;
    Ok(axum::Json(json!(merged)).into_response())
}
