//! The read API's routes (open, no key): `GET /api/v1/venues`, `/venues/{id}/matches`,
//! `/matches/{id}`, `/players/{id}`, `/players/{id}/matches`. A venue's first page of matches and
//! a player's statistics and first page go through the Redis cache ([`crate::infra::cache`]),
//! whose generations the matches projection bumps after its commits.
//!
//! Who sees what ([`super::privacy`]): everyone may call every route; anonymous and other callers
//! get public players only (walk-ins and private players masked, a private player's own pages
//! 404); a venue's managers, administrators, the venue's key and service tokens get a venue's
//! full data; a player (the account that owns the profile), administrators and service tokens
//! a player's full pages. Cache entries are keyed by audience.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use serde::Deserialize;
use serde_json::Value;

use super::privacy::{self, Audience};
use super::queries::{self, Page, ReadError};
use crate::accounts::{Action, Caller, policy};
use crate::http::query::number;
use crate::http::{ApiError, AppState};
use crate::infra::cache::{self, Scope};

/// The read routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/venues", get(venues))
        .route("/api/v1/venues/{id}/matches", get(venue_matches))
        .route("/api/v1/matches/{id}", get(match_detail))
        .route("/api/v1/players/{id}", get(player))
        .route("/api/v1/players/{id}/matches", get(player_matches))
}

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::NotFound(what) => ApiError::NotFound(format!("no such {what}")),
            ReadError::BadRequest(e) => ApiError::BadRequest(e),
            ReadError::Db(e) => ApiError::from_db(&e),
        }
    }
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    after: Option<String>,
    limit: Option<String>,
}

impl PageQuery {
    fn page(self) -> Result<Page, ApiError> {
        let limit = number("limit", self.limit.as_deref())?;
        Ok(Page::new(self.after, limit)?)
    }
}

async fn venues(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    Ok(axum::Json(
        queries::venues(&state.pool, &query.page()?).await?,
    ))
}

/// Who: anyone; the venue's managers, administrators, its key and service tokens get full data.
async fn venue_matches(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let page = query.page()?;
    let audience = if policy::allows(&caller, &Action::ReadVenueData(&id)) {
        Audience::Full
    } else {
        Audience::Public
    };
    let load = async {
        let mut value = queries::venue_matches(&state.pool, &id, &page).await?;
        if audience == Audience::Public {
            let ids = privacy::page_player_ids(&value);
            let visible = privacy::public_players(&state.pool, &ids).await?;
            privacy::mask_page(&mut value, &visible);
        }
        Ok::<_, ReadError>(value)
    };
    let value = if page.is_first_default() {
        let scope = Scope::Venue(id.clone());
        let entry = audience.cache_entry("matches");
        cache::get_or_load(&state.redis, &state.metrics, &scope, &entry, load).await?
    } else {
        load.await?
    };
    Ok(axum::Json(value))
}

/// Who: anyone; the match's venue's managers, administrators, the venue's key and service tokens
/// get full data.
async fn match_detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let mut value = queries::match_detail(&state.pool, &id).await?;
    let venue = value
        .get("venue_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if !policy::allows(&caller, &Action::ReadVenueData(&venue)) {
        let mut ids = Vec::new();
        privacy::player_ids(&value, &mut ids);
        let visible = privacy::public_players(&state.pool, &ids).await?;
        privacy::mask_match(&mut value, &visible);
    }
    Ok(axum::Json(value))
}

/// The audience of a player's pages: full for the profile's owner, administrators and services;
/// public when the profile is public; `None` (404, as if there were no such player) otherwise.
async fn player_audience(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Option<Audience>, ApiError> {
    let visibility = crate::players::profiles::visibility(&state.pool, id).await?;
    let owner = visibility.as_ref().and_then(|v| v.owner.as_deref());
    if policy::allows(caller, &Action::ReadPlayerData { owner }) {
        return Ok(Some(Audience::Full));
    }
    Ok(visibility
        .is_some_and(|v| v.public)
        .then_some(Audience::Public))
}

/// Who: anyone, for a public profile; the profile's owner, administrators and service tokens for
/// any. A private player is 404 to everyone else.
async fn player(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let Some(audience) = player_audience(&state, &caller, &id).await? else {
        return Err(ApiError::NotFound("no such player".into()));
    };
    let scope = Scope::Player(id.clone());
    let load = queries::player(&state.pool, &id);
    let entry = audience.cache_entry("stats");
    Ok(axum::Json(
        cache::get_or_load(&state.redis, &state.metrics, &scope, &entry, load).await?,
    ))
}

/// Who: as [`player`]. Opponents are masked unless public, except for administrators and
/// services (full); the player themself always shows.
async fn player_matches(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let Some(audience) = player_audience(&state, &caller, &id).await? else {
        return Err(ApiError::NotFound("no such player".into()));
    };
    // The owner's view of opponents is the public one: full only for admins and services.
    let full = audience == Audience::Full
        && policy::allows(&caller, &Action::ReadPlayerData { owner: None });
    let audience = if full {
        Audience::Full
    } else {
        Audience::Public
    };
    let page = query.page()?;
    let load = async {
        let mut value = queries::player_matches(&state.pool, &id, &page).await?;
        if !full {
            let ids = privacy::page_player_ids(&value);
            let mut visible = privacy::public_players(&state.pool, &ids).await?;
            visible.insert(id.clone());
            privacy::mask_page(&mut value, &visible);
        }
        Ok::<_, ReadError>(value)
    };
    let value = if page.is_first_default() {
        let scope = Scope::Player(id.clone());
        let entry = audience.cache_entry("matches");
        cache::get_or_load(&state.redis, &state.metrics, &scope, &entry, load).await?
    } else {
        load.await?
    };
    Ok(axum::Json(value))
}
