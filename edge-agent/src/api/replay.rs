//! A match's racks as the camera saw them: `GET /api/v1/matches/{match_id}/layouts` (each rack's
//! camera-bracketed shots with the layout at rest, the balls the pockets reported and the check's
//! flags; an open read, like the tables) and the rack replay page `/matches/{match_id}/replay`
//! (`?rack=N` opens that rack), which draws them on a table shot by shot. The layouts are not
//! stored apart: the match's logged inputs are replayed (`table::layouts_of`).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shared::rules::MatchSpec;

use super::AppState;
use super::error::ApiError;
use super::json::json_response;
use crate::table::{ScoringFlag, ShotLayout, TableInput, layouts_of};

const REPLAY: &str = include_str!("assets/replay.html");
/// The replay page's script (served by `pages::asset`).
pub(crate) const REPLAY_JS: &str = include_str!("assets/replay.js");
/// Its styles (served by `pages::asset`).
pub(crate) const REPLAY_CSS: &str = include_str!("assets/replay.css");

/// Like the staff console's: this agent's scripts and styles only, no inline script, no framing.
const REPLAY_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                          img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                          base-uri 'none'; form-action 'none'";

/// One shot in the answer.
#[derive(Serialize)]
struct Shot<'a> {
    seq: u64,
    balls: &'a [shared::protocol::BallPosition],
    pocketed: &'a [u8],
    flags: &'a [ScoringFlag],
}

/// One rack in the answer.
#[derive(Serialize)]
struct Rack<'a> {
    rack: u32,
    shots: Vec<Shot<'a>>,
}

/// The whole answer.
#[derive(Serialize)]
struct Layouts<'a> {
    match_id: &'a str,
    table: &'a str,
    game: Option<shared::rules::Game>,
    players: Option<[String; 2]>,
    racks: Vec<Rack<'a>>,
}

/// Groups shots by rack, in play order.
fn racks(layouts: &[ShotLayout]) -> Vec<Rack<'_>> {
    let mut racks: Vec<Rack<'_>> = Vec::new();
    for layout in layouts {
        let shot = Shot {
            seq: layout.seq,
            balls: &layout.balls,
            pocketed: &layout.pocketed,
            flags: &layout.flags,
        };
        match racks.last_mut() {
            Some(rack) if rack.rack == layout.rack => rack.shots.push(shot),
            _ => racks.push(Rack {
                rack: layout.rack,
                shots: vec![shot],
            }),
        }
    }
    racks
}

/// `GET /api/v1/matches/{match_id}/layouts`: open read; 400 for a malformed id, 404 for a match
/// not played here.
pub(crate) async fn layouts(
    State(state): State<AppState>,
    Path(match_id): Path<String>,
) -> Result<Response, ApiError> {
    if !shared::protocol::valid_id(&match_id) {
        return Err(ApiError::BadRequest(format!(
            "{match_id:?} is not a match id"
        )));
    }
    let wanted = match_id.clone();
    let log = state
        .read(move |reader| reader.match_log(&wanted))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no match {match_id:?}")))?;
    let spec: Option<MatchSpec> = log.inputs.first().and_then(|(_, _, input)| {
        match serde_json::from_str::<TableInput>(input) {
            Ok(TableInput::StartMatch { spec, .. } | TableInput::TournamentMatch { spec, .. }) => {
                Some(spec)
            }
            _ => None,
        }
    });
    let table = log.table.clone();
    let layouts = tokio::task::spawn_blocking(move || layouts_of(&log.table, &log.inputs))
        .await
        .map_err(|error| {
            tracing::error!(%error, "layout replay failed");
            ApiError::Unavailable("replay failure".to_owned())
        })?;
    let body = Layouts {
        match_id: &match_id,
        table: &table,
        game: spec.as_ref().map(|s| s.game),
        players: spec.map(|s| s.players),
        racks: racks(&layouts),
    };
    let json = serde_json::to_string(&body).unwrap_or_else(|_| "{}".to_owned());
    Ok(json_response(StatusCode::OK, json))
}

/// `GET /matches/{match_id}/replay`: the rack replay page (open, like every screen). The page
/// reads the match id from its own address; the server puts nothing of it into the HTML.
pub(crate) async fn page(State(state): State<AppState>) -> Response {
    let body = REPLAY.replace("{{VENUE}}", &super::pages::escape_html(&state.venue));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(REPLAY_CSP),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        ],
        body,
    )
        .into_response()
}
