//! The routes of administrators and venue managers: users and their roles, the audit log, a
//! venue's staff and keys, and the signed-in user's venues. Each route says who may call it and
//! asks [`super::policy::require`] before anything else; every change writes an audit entry in its
//! own transaction.
//!
//! - `GET /api/v1/admin/users?q=&after=&limit=`, `GET /api/v1/admin/users/{id}` — admin;
//! - `POST|DELETE /api/v1/admin/users/{id}/roles` `{role, venue_id}` — admin, or a venue manager
//!   for `venue_manager`/`organiser` at their own venue;
//! - `GET /api/v1/admin/audit?actor=&action=&resource=&venue=&before=&limit=` — admin;
//! - `GET /api/v1/venues/{id}/audit` — that venue's managers, admins;
//! - `GET /api/v1/venues/{id}/staff`, `POST …/staff` `{email | user_id, role}` — managers, admins;
//! - `GET|POST /api/v1/venues/{id}/keys`, `DELETE …/keys/{key_id}` — managers, admins;
//! - `GET /api/v1/me/venues` — any signed-in user (the venues where they hold a role).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::audit::{self, Entry, Filter};
use super::policy::{self, Action, Grant, Role};
use super::roles::{self, Change, RoleError};
use super::{Caller, directory};
use crate::http::query::number;
use crate::http::{ApiError, AppState};

/// The largest body these routes take.
pub const BODY_LIMIT: usize = 16 * 1024;
/// Rows per page unless `limit` says otherwise.
const DEFAULT_LIMIT: i64 = 50;
/// Most rows per page.
const MAX_LIMIT: i64 = 200;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/users", get(list_users))
        .route("/api/v1/admin/users/{id}", get(get_user))
        .route(
            "/api/v1/admin/users/{id}/roles",
            post(grant_role).delete(revoke_role),
        )
        .route("/api/v1/admin/audit", get(admin_audit))
        .route("/api/v1/venues/{id}/audit", get(venue_audit))
        .route("/api/v1/venues/{id}/staff", get(staff).post(add_staff))
        .route("/api/v1/venues/{id}/keys", get(keys).post(add_key))
        .route("/api/v1/venues/{id}/keys/{key_id}", delete(revoke_key))
        .route("/api/v1/me/venues", get(my_venues))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// A JSON body, or a clear 400.
///
/// # Errors
///
/// [`ApiError::BadRequest`] naming what is wrong.
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes = if bytes.is_empty() {
        b"{}" as &[u8]
    } else {
        bytes
    };
    crate::http::error::json_body(bytes)
}

/// `limit` (1..=200, default 50), checked.
///
/// # Errors
///
/// 400 out of range.
pub fn page_limit(limit: Option<&str>) -> Result<i64, ApiError> {
    let limit = number("limit", limit)?.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )))
    }
}

/// The client address, for the audit log.
pub fn addr_of(peer: &SocketAddr) -> Option<String> {
    Some(peer.ip().to_string())
}

impl From<RoleError> for ApiError {
    fn from(error: RoleError) -> Self {
        match error {
            RoleError::Db(e) => ApiError::from_db(&e),
            RoleError::Shape(why) => ApiError::BadRequest(why.into()),
            RoleError::NoUser => ApiError::NotFound("no such user".into()),
            RoleError::NoVenue => ApiError::NotFound("no such venue".into()),
            RoleError::NotHeld => {
                ApiError::NotFound("the user does not hold that role there".into())
            }
            RoleError::LastAdmin => ApiError::Conflict(error.to_string()),
        }
    }
}

#[derive(Debug, Deserialize)]
struct UsersQuery {
    q: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// Who: admin.
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<UsersQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    policy::require(&caller, &Action::ManageUsers)?;
    let limit = page_limit(query.limit.as_deref())?;
    if query.q.as_deref().is_some_and(|q| q.len() > 200) {
        return Err(ApiError::BadRequest("q is at most 200 characters".into()));
    }
    Ok(axum::Json(
        directory::search(
            &state.pool,
            query.q.as_deref(),
            query.after.as_deref(),
            limit,
        )
        .await?,
    ))
}

/// Who: admin.
async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    policy::require(&caller, &Action::ManageUsers)?;
    directory::user(&state.pool, &id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::NotFound("no such user".into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: String,
    #[serde(default)]
    venue_id: Option<String>,
}

impl RoleBody {
    fn grant(self) -> Result<Grant, ApiError> {
        let role = Role::parse(&self.role).ok_or_else(|| {
            ApiError::BadRequest("role must be one of venue_manager, organiser, admin".to_owned())
        })?;
        Ok(Grant {
            role,
            venue_id: self.venue_id.filter(|v| !v.is_empty()),
        })
    }
}

/// Who: admin (any role), a venue manager (`venue_manager`/`organiser` at their own venue).
async fn grant_role(
    State(state): State<AppState>,
    caller: Caller,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    policy::require(&caller, &Action::OwnAccount)?;
    let grant = json_body::<RoleBody>(&body)?.grant()?;
    grant_to(&state, &caller, &peer, &id, &grant).await
}

async fn grant_to(
    state: &AppState,
    caller: &Caller,
    peer: &SocketAddr,
    user: &str,
    grant: &Grant,
) -> Result<Response, ApiError> {
    policy::require(
        caller,
        &Action::GrantRole {
            role: grant.role,
            venue: grant.venue_id.as_deref(),
        },
    )?;
    let actor = caller.signed_in()?;
    let change = Change {
        actor: &actor.id,
        user,
        grant,
        addr: addr_of(peer),
    };
    let new = roles::grant(&state.pool, &change).await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(json!({
            "user_id": user, "role": grant.role, "venue_id": grant.venue_id,
            "granted": new,
            "effective": "at the user's next token refresh (at most 10 minutes)",
        })),
    )
        .into_response())
}

/// Who: as [`grant_role`].
async fn revoke_role(
    State(state): State<AppState>,
    caller: Caller,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    policy::require(&caller, &Action::OwnAccount)?;
    let grant = json_body::<RoleBody>(&body)?.grant()?;
    policy::require(
        &caller,
        &Action::GrantRole {
            role: grant.role,
            venue: grant.venue_id.as_deref(),
        },
    )?;
    let actor = caller.signed_in()?;
    roles::revoke(
        &state.pool,
        &Change {
            actor: &actor.id,
            user: &id,
            grant: &grant,
            addr: addr_of(&peer),
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    resource: Option<String>,
    venue: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

impl AuditQuery {
    fn filter(self, venue: Option<String>) -> Result<Filter, ApiError> {
        let too_long = [&self.actor, &self.action, &self.resource, &self.venue]
            .iter()
            .any(|v| v.as_deref().is_some_and(|v| v.len() > 200));
        if too_long {
            return Err(ApiError::BadRequest(
                "filters are at most 200 characters".into(),
            ));
        }
        Ok(Filter {
            actor: self.actor.filter(|v| !v.is_empty()),
            action: self.action.filter(|v| !v.is_empty()),
            resource: self.resource.filter(|v| !v.is_empty()),
            venue: venue.or(self.venue).filter(|v| !v.is_empty()),
            before: number("before", self.before.as_deref())?,
            limit: page_limit(self.limit.as_deref())?,
        })
    }
}

/// Who: admin.
async fn admin_audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    policy::require(&caller, &Action::ReadAudit { venue: None })?;
    Ok(axum::Json(
        audit::list(&state.pool, &query.filter(None)?).await?,
    ))
}

/// Who: the venue's managers, admin.
async fn venue_audit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<AuditQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    policy::require(&caller, &Action::ReadAudit { venue: Some(&id) })?;
    known_venue(&state, &id).await?;
    Ok(axum::Json(
        audit::list(&state.pool, &query.filter(Some(id))?).await?,
    ))
}

async fn known_venue(state: &AppState, venue: &str) -> Result<(), ApiError> {
    if crate::venues::exists(&state.pool, venue).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound("no such venue".into()))
    }
}

/// Who: the venue's managers, admin.
async fn staff(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    policy::require(&caller, &Action::ManageVenue(&id))?;
    known_venue(&state, &id).await?;
    Ok(axum::Json(
        json!({ "staff": roles::staff_of(&state.pool, &id).await? }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StaffBody {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    role: String,
}

/// Who: the venue's managers, admin: grants `venue_manager` or `organiser` at this venue to a
/// user named by id or email (the same grant as `POST /api/v1/admin/users/{id}/roles`).
async fn add_staff(
    State(state): State<AppState>,
    caller: Caller,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    policy::require(&caller, &Action::ManageVenue(&id))?;
    let body: StaffBody = json_body(&body)?;
    let role = match Role::parse(&body.role) {
        Some(role @ (Role::VenueManager | Role::Organiser)) => role,
        _ => {
            return Err(ApiError::BadRequest(
                "role must be venue_manager or organiser".into(),
            ));
        }
    };
    let user = match (body.user_id.filter(|u| !u.is_empty()), body.email) {
        (Some(user), _) => user,
        (None, Some(email)) if email.len() <= 320 => roles::user_by_email(&state.pool, &email)
            .await?
            .ok_or_else(|| ApiError::NotFound("no account with that email address".into()))?,
        _ => {
            return Err(ApiError::BadRequest(
                "name the person by user_id or email".into(),
            ));
        }
    };
    let grant = Grant {
        role,
        venue_id: Some(id),
    };
    grant_to(&state, &caller, &peer, &user, &grant).await
}

/// Who: the venue's managers, admin.
async fn keys(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    policy::require(&caller, &Action::ManageVenue(&id))?;
    known_venue(&state, &id).await?;
    Ok(axum::Json(
        json!({ "keys": crate::venues::list_keys(&state.pool, &id).await? }),
    ))
}

/// Who: the venue's managers, admin. The key is in this answer only.
async fn add_key(
    State(state): State<AppState>,
    caller: Caller,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    policy::require(&caller, &Action::ManageVenue(&id))?;
    let actor = caller.signed_in()?;
    let mut tx = state.pool.begin().await?;
    let (info, key) = crate::venues::add_key_in(&mut tx, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such venue".into()))?;
    audit::record(
        &mut tx,
        &Entry {
            actor: Some(&actor.id),
            action: "venue_key.add",
            resource: &format!("venue_key:{}", info.id),
            venue: Some(&id),
            addr: addr_of(&peer),
            detail: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "id": info.id, "created_ms": info.created_ms, "key": key })),
    )
        .into_response())
}

/// Who: the venue's managers, admin. Effective on the key's next request.
async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    policy::require(&caller, &Action::ManageVenue(&id))?;
    let actor = caller.signed_in()?;
    let Ok(key_id) = key_id.parse::<i64>() else {
        return Err(ApiError::NotFound("no such key".into()));
    };
    let mut tx = state.pool.begin().await?;
    if !crate::venues::revoke_key_in(&mut tx, &id, key_id).await? {
        return Err(ApiError::NotFound("no such key".into()));
    }
    audit::record(
        &mut tx,
        &Entry {
            actor: Some(&actor.id),
            action: "venue_key.revoke",
            resource: &format!("venue_key:{key_id}"),
            venue: Some(&id),
            addr: addr_of(&peer),
            detail: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Who: any signed-in user: the venues where they hold a role now (from the database, so a
/// grant shows here before their token carries it).
async fn my_venues(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Value>, ApiError> {
    let user = policy::require_user(&caller, &Action::OwnAccount)?;
    Ok(axum::Json(
        json!({ "venues": roles::venues_of(&state.pool, &user.id).await? }),
    ))
}
