//! The tournaments' routes (docs/cloud-api.md, "Tournaments"). Who may call each is in its doc
//! comment and checked by [`policy::require`]: "writers" are `Action::Organise(venue)` (an
//! organiser of the venue or a global one, a manager of the venue, an administrator); registering
//! needs a verified email address (`VerifiedOnly`); withdrawing and checking in one's own account
//! (`OwnAccount`); the venue's pull its key (`VenueService`); the reads are open, a tournament not
//! listed for everyone only to its writers.
//!
//! - `POST|GET /api/v1/venues/{id}/tournaments`;
//! - `GET|PATCH|DELETE /api/v1/tournaments/{id}`, `POST /api/v1/tournaments/{id}/open-check-in`;
//! - `POST /api/v1/tournaments/{id}/registrations`,
//!   `DELETE /api/v1/tournaments/{id}/registrations/me`, `POST /api/v1/tournaments/{id}/check-in`;
//! - `GET /api/v1/players/{id}/tournaments`;
//! - `GET /api/v1/sync/tournaments` (`shared::sync::TOURNAMENTS_ROUTE`).
//!
//! Every change is followed, after its commit, by the live message `{"type": "tournament", …}`.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shared::sync::TOURNAMENTS_ROUTE;

use super::queries::{self, Reader, When};
use super::registration::{self, Changes, Draft, Settings};
use super::{TournamentError, live_message};
use crate::accounts::Caller;
use crate::accounts::admin_http::addr_of;
use crate::accounts::policy::{self, Action, require, require_user};
use crate::http::{ApiError, AppState};
use crate::players::profiles::Actor;

/// Largest request body these routes read.
const MAX_BODY: usize = 16 * 1024;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/venues/{id}/tournaments",
            post(create).get(venue_tournaments),
        )
        .route(
            "/api/v1/tournaments/{id}",
            get(tournament).patch(change).delete(cancel),
        )
        .route(
            "/api/v1/tournaments/{id}/open-check-in",
            post(open_check_in),
        )
        .route("/api/v1/tournaments/{id}/registrations", post(register))
        .route(
            "/api/v1/tournaments/{id}/registrations/me",
            axum::routing::delete(withdraw),
        )
        .route("/api/v1/tournaments/{id}/check-in", post(check_in))
        .route("/api/v1/players/{id}/tournaments", get(player_tournaments))
        .route(TOURNAMENTS_ROUTE, get(sync_tournaments))
}

impl From<TournamentError> for ApiError {
    fn from(error: TournamentError) -> Self {
        match error {
            TournamentError::NotFound(what) => ApiError::NotFound(format!("no such {what}")),
            TournamentError::BadRequest(e) => ApiError::BadRequest(e),
            TournamentError::Conflict(e) => ApiError::Conflict(e),
            TournamentError::Db(e) => ApiError::from_db(&e),
        }
    }
}

/// Reads a JSON body of at most [`MAX_BODY`] bytes.
async fn json_body<T: DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::TooLarge(format!("the body must be at most {MAX_BODY} bytes")))?;
    crate::http::error::json_body(&bytes)
}

/// Tells live clients tournament `id` changed (after the commit).
async fn changed(state: &AppState, id: &str) {
    state
        .live
        .publish(&state.redis, vec![live_message(id)])
        .await;
}

/// The head of tournament `id`, or 404.
async fn head_of(state: &AppState, id: &str) -> Result<queries::Head, ApiError> {
    queries::head(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such tournament".into()))
}

/// The signed-in writer of tournament `id`, as an actor for the audit log.
async fn writer<'c>(
    state: &AppState,
    caller: &'c Caller,
    id: &str,
    peer: &SocketAddr,
) -> Result<Actor<'c>, ApiError> {
    let head = head_of(state, id).await?;
    let user = require_user(caller, &Action::Organise(&head.venue_id))?;
    Ok(Actor {
        user: &user.id,
        addr: addr_of(peer),
    })
}

/// `POST /api/v1/venues/{id}/tournaments`: the venue's writers. 201 `{id}`.
async fn create(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Caller,
    Path(venue): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let user = require_user(&caller, &Action::Organise(&venue))?;
    let draft: Draft = json_body(body).await?;
    let settings = Settings::from_draft(draft)?;
    let actor = Actor {
        user: &user.id,
        addr: addr_of(&peer),
    };
    let id = registration::create(&state.pool, &actor, &venue, &settings).await?;
    changed(&state, &id).await;
    Ok((StatusCode::CREATED, axum::Json(json!({ "id": id }))).into_response())
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    when: Option<String>,
}

/// `GET /api/v1/venues/{id}/tournaments?when=upcoming|past`: anyone; those not listed for
/// everyone only for the venue's writers.
async fn venue_tournaments(
    State(state): State<AppState>,
    caller: Caller,
    Path(venue): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let when = When::parse(query.when.as_deref())?;
    let writer = policy::allows(&caller, &Action::Organise(&venue));
    Ok(axum::Json(
        queries::list(&state.pool, &venue, when, writer).await?,
    ))
}

/// `GET /api/v1/tournaments/{id}`: anyone when it is public; else its writers (401/403 for the
/// others). Names masked for all but the venue's full-data readers.
async fn tournament(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let head = head_of(&state, &id).await?;
    if !head.public {
        require(&caller, &Action::Organise(&head.venue_id))?;
    }
    let user = caller.user().map(|u| u.id.clone());
    let player = match &user {
        Some(user) => crate::confirmations::player_of(&state.pool, user).await?,
        None => None,
    };
    let reader = Reader {
        full: policy::allows(&caller, &Action::ReadVenueData(&head.venue_id)),
        user: user.as_deref(),
        player: player.as_deref(),
    };
    Ok(axum::Json(
        queries::detail(&state.pool, &head, reader).await?,
    ))
}

/// `PATCH /api/v1/tournaments/{id}`: its writers, before it starts (409 after).
async fn change(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> Result<axum::Json<Value>, ApiError> {
    let actor = writer(&state, &caller, &id, &peer).await?;
    let changes: Changes = json_body(body).await?;
    registration::change(&state.pool, &actor, &id, changes).await?;
    changed(&state, &id).await;
    let head = head_of(&state, &id).await?;
    let reader = Reader {
        full: policy::allows(&caller, &Action::ReadVenueData(&head.venue_id)),
        user: Some(actor.user),
        player: None,
    };
    Ok(axum::Json(
        queries::detail(&state.pool, &head, reader).await?,
    ))
}

/// `DELETE /api/v1/tournaments/{id}`: its writers, before it starts; everyone registered is told.
/// 204.
async fn cancel(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let actor = writer(&state, &caller, &id, &peer).await?;
    registration::cancel(&state.pool, &actor, &id).await?;
    changed(&state, &id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/tournaments/{id}/open-check-in`: its writers, before it starts; the registered
/// players are told (once). 200 `{"opened": true|false}` (false: it was open already).
async fn open_check_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let actor = writer(&state, &caller, &id, &peer).await?;
    let mut tx = state.pool.begin().await?;
    let opened = registration::open_check_in(&mut tx, Some(&actor), &id).await?;
    tx.commit().await?;
    changed(&state, &id).await;
    Ok(axum::Json(json!({ "opened": opened })))
}

/// `POST /api/v1/tournaments/{id}/registrations`: a signed-in user with a verified email address,
/// for themselves. 201 `{status, position}`; 409 when registration is not open or they are
/// registered already.
async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user = require_user(&caller, &Action::VerifiedOnly)?;
    let head = head_of(&state, &id).await?;
    if !head.public {
        require(&caller, &Action::Organise(&head.venue_id))?;
    }
    let actor = Actor {
        user: &user.id,
        addr: addr_of(&peer),
    };
    let place = registration::register(&state.pool, &actor, &id).await?;
    changed(&state, &id).await;
    Ok((StatusCode::CREATED, axum::Json(place)).into_response())
}

/// `DELETE /api/v1/tournaments/{id}/registrations/me`: a signed-in user, their own registration.
/// 204; the first on the waiting list moves up and is told.
async fn withdraw(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = require_user(&caller, &Action::OwnAccount)?;
    registration::withdraw(&state.pool, &user.id, &id).await?;
    changed(&state, &id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/tournaments/{id}/check-in`: a signed-in user with a place, while check-in is
/// open. 200 `{"status": "checked_in"}`.
async fn check_in(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let user = require_user(&caller, &Action::OwnAccount)?;
    registration::check_in(&state.pool, &user.id, &id).await?;
    changed(&state, &id).await;
    Ok(axum::Json(json!({ "status": "checked_in" })))
}

/// `GET /api/v1/players/{id}/tournaments`: anyone for a public player; the player's own account,
/// administrators and services for any (a private player is 404 to everyone else, as their
/// results are).
async fn player_tournaments(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let visibility = crate::players::profiles::visibility(&state.pool, &id).await?;
    let owner = visibility.as_ref().and_then(|v| v.owner.as_deref());
    let full = policy::allows(&caller, &Action::ReadPlayerData { owner });
    if !full && !visibility.is_some_and(|v| v.public) {
        return Err(ApiError::NotFound("no such player".into()));
    }
    Ok(axum::Json(
        queries::of_player(&state.pool, &id, full).await?,
    ))
}

/// `GET /api/v1/sync/tournaments` → `shared::sync::TournamentList`. Who: a venue's key; it gets
/// its own venue's planned tournaments only (people's access tokens get 403).
async fn sync_tournaments(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let Caller::Venue(venue) = &caller else {
        require(&caller, &Action::VenueService(""))?;
        return Err(ApiError::Forbidden("this route takes a venue key".into()));
    };
    require(&caller, &Action::VenueService(venue))?;
    Ok(axum::Json(queries::planned(&state.pool, venue).await?).into_response())
}
