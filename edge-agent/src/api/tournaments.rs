//! Tournaments at the venue (`crate::tournament`, docs/tournaments.md "At the venue"): anyone may
//! read them (the bracket page on the TVs and phones); staff make and run them. Every write goes
//! through the engine and answers with the tournament's committed view.
//!
//! - `GET /api/v1/tournaments`, `GET /api/v1/tournaments/{id}`: public.
//! - `POST /api/v1/tournaments`, `…/{id}/entrants`, `DELETE …/{id}/entrants/{name}`,
//!   `POST …/{id}/check-in`, `PUT …/{id}/seeds`, `POST …/{id}/start`, `POST …/{id}/entries`,
//!   `PUT …/{id}/reserved/{table}`: staff (the token or a PIN session; 401 otherwise).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use shared::bracket::{Entry, Format, Options};
use shared::rules::Game;

use super::AppState;
use super::auth::Staff;
use super::error::ApiError;
use super::json::{body_bytes, json_response, parse};
use crate::tournament::{TournamentInput, TournamentView};

fn view_response(status: StatusCode, view: &TournamentView) -> Result<Response, ApiError> {
    let body = serde_json::to_string(view)
        .map_err(|_| ApiError::Unavailable("cannot encode the tournament".to_owned()))?;
    Ok(json_response(status, body))
}

/// `GET /api/v1/tournaments`: every tournament's list line. Public.
pub(crate) async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let list = state.engine.tournaments();
    let body = serde_json::json!({ "tournaments": list }).to_string();
    Ok(json_response(StatusCode::OK, body))
}

/// `GET /api/v1/tournaments/{id}`: the bracket, the calls and the queue of what's next. Public.
pub(crate) async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match state.engine.tournament_view(&id) {
        Some(view) => view_response(StatusCode::OK, &view),
        None => Err(ApiError::NotFound(format!("no tournament {id:?}"))),
    }
}

/// `POST /api/v1/tournaments` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    name: String,
    format: Format,
    #[serde(default)]
    options: Options,
    /// The game every match plays (default 8-ball).
    #[serde(default)]
    game: Option<Game>,
    /// Players entered at once, in entry order (not checked in).
    #[serde(default)]
    entrants: Vec<String>,
    /// The tables it plays on, in order (absent: every table).
    #[serde(default)]
    tables: Vec<String>,
}

/// `POST /api/v1/tournaments`: a draft; 201 with its view. Staff only.
pub(crate) async fn create(
    staff: Staff,
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let create: Create = parse(&body_bytes(body)?)?;
    let input = TournamentInput::Create {
        name: create.name,
        game: create.game.unwrap_or(Game::EightBall),
        format: create.format,
        options: create.options,
        entrants: create
            .entrants
            .into_iter()
            .map(|name| shared::sync::Entrant {
                name,
                player_id: None,
                checked_in: false,
            })
            .collect(),
        tables: create.tables,
        imported: false,
        by: staff.actor().or_else(|| Some(crate::table::Actor::staff())),
    };
    let view = state.engine.tournament(None, input).await?;
    view_response(StatusCode::CREATED, &view)
}

async fn apply(state: &AppState, id: String, input: TournamentInput) -> Result<Response, ApiError> {
    let view = state.engine.tournament(Some(id), input).await?;
    view_response(StatusCode::OK, &view)
}

/// `POST /api/v1/tournaments/{id}/entrants` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddEntrant {
    name: String,
    #[serde(default)]
    player_id: Option<String>,
}

/// `POST /api/v1/tournaments/{id}/entrants`: a (late) entry, until the start. Staff only.
pub(crate) async fn add_entrant(
    _staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let add: AddEntrant = parse(&body_bytes(body)?)?;
    let input = TournamentInput::AddEntrant {
        name: add.name,
        player_id: add.player_id,
    };
    apply(&state, id, input).await
}

/// `DELETE /api/v1/tournaments/{id}/entrants/{name}`: before the start. Staff only.
pub(crate) async fn remove_entrant(
    _staff: Staff,
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    apply(&state, id, TournamentInput::RemoveEntrant { name }).await
}

/// `POST /api/v1/tournaments/{id}/check-in` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckIn {
    name: String,
    #[serde(default = "yes")]
    checked_in: bool,
}

fn yes() -> bool {
    true
}

/// `POST /api/v1/tournaments/{id}/check-in`: `{"name", "checked_in"}` (default true). Staff only.
pub(crate) async fn check_in(
    _staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let check: CheckIn = parse(&body_bytes(body)?)?;
    let input = TournamentInput::CheckIn {
        name: check.name,
        checked_in: check.checked_in,
    };
    apply(&state, id, input).await
}

/// `PUT /api/v1/tournaments/{id}/seeds` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Seeds {
    players: Vec<String>,
}

/// `PUT /api/v1/tournaments/{id}/seeds`: the checked-in players, best first. Staff only.
pub(crate) async fn seeds(
    _staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let seeds: Seeds = parse(&body_bytes(body)?)?;
    if seeds.players.len() > crate::tournament::MAX_ENTRANTS {
        return Err(ApiError::Unprocessable("too many seeds".to_owned()));
    }
    apply(
        &state,
        id,
        TournamentInput::Seed {
            players: seeds.players,
        },
    )
    .await
}

/// `POST /api/v1/tournaments/{id}/start`: draws the bracket; matches are called from now on.
/// Staff only.
pub(crate) async fn start(
    staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let by = staff.actor().or_else(|| Some(crate::table::Actor::staff()));
    apply(&state, id, TournamentInput::Start { by }).await
}

/// `POST /api/v1/tournaments/{id}/entries`: a bracket entry by hand (`{"result": …}`,
/// `{"forfeit": …}`, `{"double_forfeit": …}`, `{"withdraw": "name"}`, `{"correct": …}`). A
/// forfeit of a called match before `--call-timeout` is 409. Staff only.
pub(crate) async fn entry(
    staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let entry: Entry = parse(&body_bytes(body)?)?;
    let by = staff.actor().or_else(|| Some(crate::table::Actor::staff()));
    let input = TournamentInput::Entry {
        entry,
        table_match: None,
        by,
    };
    apply(&state, id, input).await
}

/// `PUT /api/v1/tournaments/{id}/reserved/{table}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reserve {
    matches: Vec<String>,
}

/// `PUT /api/v1/tournaments/{id}/reserved/{table}`: the table takes only these matches (a stream
/// or TV table); `[]` frees it. Staff only.
pub(crate) async fn reserve(
    _staff: Staff,
    State(state): State<AppState>,
    Path((id, table)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let reserve: Reserve = parse(&body_bytes(body)?)?;
    let input = TournamentInput::Reserve {
        table,
        matches: reserve.matches,
    };
    apply(&state, id, input).await
}
