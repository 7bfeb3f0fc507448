//! The routes of results a venue may report. Who may call each is in its doc comment and checked
//! by [`policy::require`]: what makes a result count (check in, confirm, trust) needs a verified
//! email address (`VerifiedOnly`), what keeps one out or only reads (dispute, end a check-in,
//! stop trusting, lists) needs only the account (`OwnAccount`). A player acts only on their own
//! results: another's match is 404 (never "it exists, but not yours").
//!
//! - `POST /api/v1/me/checkins` `{venue_id}`, `GET /api/v1/me/checkins`,
//!   `DELETE /api/v1/me/checkins/{id}` (ends it);
//! - `GET /api/v1/me/results?status=unconfirmed|confirmed|disputed|all&after=&limit=`,
//!   `POST /api/v1/me/results/{match_id}/confirm`, `POST /api/v1/me/results/{match_id}/dispute`
//!   `{reason}`;
//! - `GET /api/v1/me/trusted-venues`, `PUT|DELETE /api/v1/me/trusted-venues/{venue_id}`;
//! - `GET /api/v1/venues/{id}/disputes` (the venue's managers).

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{ConfirmError, checkins, player_of, results, trust, venue_id};
use crate::accounts::policy::{Action, require, require_user};
use crate::accounts::{Caller, User};
use crate::http::query::number;
use crate::http::{ApiError, AppState};
use crate::infra::cache::{self, Scope};

/// Largest request body these routes read.
const MAX_BODY: usize = 4096;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me/checkins", post(check_in).get(list_checkins))
        .route("/api/v1/me/checkins/{id}", delete(end_checkin))
        .route("/api/v1/me/results", get(list_results))
        .route("/api/v1/me/results/{match_id}/confirm", post(confirm))
        .route("/api/v1/me/results/{match_id}/dispute", post(dispute))
        .route("/api/v1/me/trusted-venues", get(list_trusted))
        .route(
            "/api/v1/me/trusted-venues/{venue_id}",
            put(trust_venue).delete(distrust_venue),
        )
        .route("/api/v1/venues/{id}/disputes", get(venue_disputes))
}

impl From<ConfirmError> for ApiError {
    fn from(error: ConfirmError) -> Self {
        match error {
            ConfirmError::NotFound(what) => ApiError::NotFound(format!("no such {what}")),
            ConfirmError::BadRequest(e) => ApiError::BadRequest(e),
            ConfirmError::Db(e) => ApiError::from_db(&e),
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

/// Bumps the cache generations a change of how `player` stands at `venue` touches (their
/// statistics and history; the venue's match list, which names or withholds them).
async fn touched(state: &AppState, player: Option<&str>, venue: &str) {
    let mut scopes = vec![Scope::Venue(venue.to_owned())];
    scopes.extend(player.map(|p| Scope::Player(p.to_owned())));
    cache::invalidate(&state.redis, &scopes).await;
}

#[derive(Debug, Deserialize)]
struct CheckIn {
    venue_id: String,
}

/// `POST /api/v1/me/checkins` `{venue_id}`: any signed-in user with a verified email address
/// (their own account). 201 with the check-in, or 200 when a running one at that venue is renewed.
async fn check_in(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, ApiError> {
    let user = require_user(&caller, &Action::VerifiedOnly)?;
    let request: CheckIn = json_body(body).await?;
    let venue = venue_id(&request.venue_id)?;
    let (checkin, new) = checkins::check_in(&state.pool, &user.id, venue).await?;
    touched(
        &state,
        player_of(&state.pool, &user.id).await?.as_deref(),
        venue,
    )
    .await;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(checkin)).into_response())
}

/// `GET /api/v1/me/checkins`: any signed-in user, their own.
async fn list_checkins(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Value>, ApiError> {
    let user = require_user(&caller, &Action::OwnAccount)?;
    Ok(axum::Json(checkins::list(&state.pool, &user.id).await?))
}

/// `DELETE /api/v1/me/checkins/{id}`: any signed-in user, their own check-in (ends it now).
async fn end_checkin(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let user = require_user(&caller, &Action::OwnAccount)?;
    let (checkin, venue) = checkins::end(&state.pool, &user.id, &id).await?;
    touched(
        &state,
        player_of(&state.pool, &user.id).await?.as_deref(),
        &venue,
    )
    .await;
    Ok(axum::Json(checkin))
}

#[derive(Debug, Deserialize)]
struct ResultsQuery {
    status: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /api/v1/me/results?status=…`: any signed-in user, the results of their own player
/// (none when the account has no player).
async fn list_results(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ResultsQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let user = require_user(&caller, &Action::OwnAccount)?;
    let filter = results::Filter::parse(query.status.as_deref())?;
    let (after, limit) = results::page(
        query.after.as_deref(),
        number("limit", query.limit.as_deref())?,
    )?;
    let Some(player) = player_of(&state.pool, &user.id).await? else {
        return Ok(axum::Json(
            json!({ "player_id": null, "results": [], "next": null }),
        ));
    };
    Ok(axum::Json(
        results::list(&state.pool, &player, filter, after, limit).await?,
    ))
}

/// Confirms or disputes (with `reason`) the caller's result in `match_id`.
async fn say(
    state: &AppState,
    user: &User,
    match_id: &str,
    reason: Option<&str>,
) -> Result<Value, ApiError> {
    let Some(player) = player_of(&state.pool, &user.id).await? else {
        return Err(ConfirmError::NotFound("result of yours").into());
    };
    let said = results::say(&state.pool, &user.id, &player, match_id, reason).await?;
    touched(state, Some(&player), &said.venue).await;
    Ok(said.answer)
}

/// `POST /api/v1/me/results/{match_id}/confirm`: a signed-in user with a verified email address,
/// on their own player's result only (another's: 404).
async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    Path(match_id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let user = require_user(&caller, &Action::VerifiedOnly)?;
    Ok(axum::Json(say(&state, user, &match_id, None).await?))
}

#[derive(Debug, Deserialize)]
struct Dispute {
    reason: String,
}

/// `POST /api/v1/me/results/{match_id}/dispute` `{reason}`: any signed-in user, on their own
/// player's result only (another's: 404).
async fn dispute(
    State(state): State<AppState>,
    caller: Caller,
    Path(match_id): Path<String>,
    body: Body,
) -> Result<axum::Json<Value>, ApiError> {
    let user = require_user(&caller, &Action::OwnAccount)?;
    let request: Dispute = json_body(body).await?;
    let reason = results::reason(&request.reason)?;
    Ok(axum::Json(
        say(&state, user, &match_id, Some(reason)).await?,
    ))
}

/// `GET /api/v1/me/trusted-venues`: any signed-in user, their own.
async fn list_trusted(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Value>, ApiError> {
    let user = require_user(&caller, &Action::OwnAccount)?;
    Ok(axum::Json(trust::list(&state.pool, &user.id).await?))
}

/// `PUT /api/v1/me/trusted-venues/{venue_id}`: a signed-in user with a verified email address,
/// for their own account.
async fn trust_venue(
    State(state): State<AppState>,
    caller: Caller,
    Path(venue): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let user = require_user(&caller, &Action::VerifiedOnly)?;
    let venue = venue_id(&venue)?;
    let trusted = trust::trust(&state.pool, &user.id, venue).await?;
    touched(
        &state,
        player_of(&state.pool, &user.id).await?.as_deref(),
        venue,
    )
    .await;
    Ok(axum::Json(trusted))
}

/// `DELETE /api/v1/me/trusted-venues/{venue_id}`: any signed-in user, for their own account.
/// 204 (also when the venue was not trusted).
async fn distrust_venue(
    State(state): State<AppState>,
    caller: Caller,
    Path(venue): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = require_user(&caller, &Action::OwnAccount)?;
    let venue = venue_id(&venue)?;
    if trust::distrust(&state.pool, &user.id, venue).await? {
        touched(
            &state,
            player_of(&state.pool, &user.id).await?.as_deref(),
            venue,
        )
        .await;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /api/v1/venues/{id}/disputes`: the venue's managers (and administrators).
async fn venue_disputes(
    State(state): State<AppState>,
    caller: Caller,
    Path(venue): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    require(&caller, &Action::ManageVenue(&venue))?;
    let (after, limit) = results::page(
        query.after.as_deref(),
        number("limit", query.limit.as_deref())?,
    )?;
    Ok(axum::Json(
        results::venue_disputes(&state.pool, &venue, after, limit).await?,
    ))
}
