//! The REST API: table state for anyone on the venue network, match control and dead letters for
//! staff.
//!
//! Reads serve the committed view's JSON bytes as they are (`Published.json`), so the API, the
//! screens and the event log always agree byte for byte. Writes go to the engine, the single
//! writer, and answer with the view it committed. Dead letters are read from SQLite on a blocking
//! thread through the [`Reader`](crate::store::Reader)'s own connection, never through the writer:
//! a staff member paging through them cannot delay a commit. They need the staff token even though
//! they are reads, because a refused payload may hold anything a device (or anyone on the venue
//! network) sent.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use shared::rules::MatchSpec;

use super::AppState;
use super::auth::Staff;
use super::error::ApiError;
use super::json::{body_bytes, json_response, parse};
use crate::store::{DeadLetterPage, KeptDeadLetter};
use crate::table::{Actor, StaffAction};
use crate::view::Published;

/// A committed view as the response body.
fn view_response(status: StatusCode, published: &Published) -> Response {
    json_response(status, published.json.to_string())
}

/// `GET /api/v1/tables`: every table's view, sorted by table; retired tables are left out (each
/// view carries the registry's `name` and `position` for display order).
pub(crate) async fn list_tables(State(state): State<AppState>) -> Response {
    let mut latest = state.hub.latest();
    latest.retain(|published| !published.view.retired);
    let mut body =
        String::with_capacity(2 + latest.iter().map(|p| p.json.len() + 1).sum::<usize>());
    body.push('[');
    for (i, published) in latest.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&published.json);
    }
    body.push(']');
    json_response(StatusCode::OK, body)
}

/// `GET /api/v1/tables/{table}`.
pub(crate) async fn get_table(
    State(state): State<AppState>,
    Path(table): Path<String>,
) -> Result<Response, ApiError> {
    state
        .hub
        .get(&table)
        .map(|published| view_response(StatusCode::OK, &published))
        .ok_or_else(|| ApiError::NotFound(format!("no table {table:?}")))
}

/// `POST /api/v1/tables/{table}/matches`: starts a match; 201 with the view. Staff only (the
/// staff token or a PIN session); who started it is logged and synced (`match_started.by`), as
/// for [`action`].
pub(crate) async fn start_match(
    staff: Staff,
    State(state): State<AppState>,
    Path(table): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let by = actor_of(&staff, &headers)?;
    let mut request: serde_json::Value = parse(&body_bytes(body)?)?;
    // The match spec, plus optionally `player_ids`: registered players (per seat) whose names
    // replace the ones given.
    let player_ids: [Option<String>; 2] = match request.as_object_mut() {
        Some(fields) => match fields.remove("player_ids") {
            Some(ids) => serde_json::from_value(ids).map_err(|e| {
                ApiError::Unprocessable(format!("player_ids must be [id or null, id or null]: {e}"))
            })?,
            None => [None, None],
        },
        None => [None, None],
    };
    let mut spec: MatchSpec =
        serde_json::from_value(request).map_err(|error| ApiError::from_json(&error))?;
    for (seat, id) in player_ids.iter().enumerate() {
        let Some(id) = id else { continue };
        let wanted = id.clone();
        let player = state
            .read(move |r| r.player(&wanted))
            .await?
            .ok_or_else(|| {
                ApiError::Unprocessable(format!(
                    "no registered player {id:?} at this venue (GET /api/v1/players lists them)"
                ))
            })?;
        if let Some(name) = spec.players.get_mut(seat) {
            *name = player.name;
        }
    }
    spec.validate_new()
        .map_err(|rejected| ApiError::Unprocessable(rejected.to_string()))?;
    let published = state
        .engine
        .start_registered(table, spec, player_ids, Some(by))
        .await?;
    let mut response = view_response(StatusCode::CREATED, &published);
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/tables/{}", published.table())) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `POST /api/v1/tables/{table}/matches/current/actions`: a staff action; 200 with the view.
///
/// The optional `X-Dojo-Staff` header names the staff member (the console sends the name staff
/// typed in): it is logged with the action and travels with corrections to the cloud. A staff
/// member signed in with their PIN is named by their session instead, with their id.
pub(crate) async fn action(
    staff: Staff,
    State(state): State<AppState>,
    Path(table): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let by = actor_of(&staff, &headers)?;
    let action: StaffAction = parse(&body_bytes(body)?)?;
    let published = state.engine.action_by(table, action, by).await?;
    Ok(view_response(StatusCode::OK, &published))
}

/// Who makes a staff write: a signed-in member is who they signed in as, whatever a header says;
/// else the staff member the `X-Dojo-Staff` header names, else unnamed staff.
pub(crate) fn actor_of(staff: &Staff, headers: &HeaderMap) -> Result<Actor, ApiError> {
    match staff.actor() {
        Some(member) => Ok(member),
        None => staff_actor(headers),
    }
}

/// The header that names the staff member making an action.
pub(crate) const STAFF_NAME_HEADER: &str = "x-dojo-staff";
/// The longest staff name, in characters.
const MAX_STAFF_NAME_CHARS: usize = 40;

/// Who makes a staff action: the staff member the header names (percent-encoded UTF-8, as
/// `encodeURIComponent` writes it), else unnamed staff.
fn staff_actor(headers: &HeaderMap) -> Result<Actor, ApiError> {
    let Some(value) = headers.get(STAFF_NAME_HEADER) else {
        return Ok(Actor::staff());
    };
    let name = percent_decode(value.as_bytes()).ok_or_else(|| {
        ApiError::Unprocessable(format!("{STAFF_NAME_HEADER} must be percent-encoded UTF-8"))
    })?;
    let name = name.trim();
    if name.chars().count() > MAX_STAFF_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable(format!(
            "{STAFF_NAME_HEADER} must be a name of at most {MAX_STAFF_NAME_CHARS} characters"
        )));
    }
    Ok(Actor::Staff {
        name: (!name.is_empty()).then(|| name.to_owned()),
        id: None,
    })
}

/// `%XX` escapes back to bytes, then UTF-8; `None` for a broken escape or invalid UTF-8.
fn percent_decode(bytes: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            rest = tail.get(2..)?;
        } else {
            out.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(out).ok()
}

/// Dead letters per page when `limit` is not given.
pub(crate) const DEAD_LETTERS_DEFAULT_LIMIT: usize = 50;
/// The most dead letters one page holds, whatever `limit` asks: a payload may be up to the broker's
/// 64 KiB, so this bounds a page at a few MiB.
pub(crate) const DEAD_LETTERS_MAX_LIMIT: usize = 100;

/// `GET /api/v1/dead-letters` query parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeadLetterQuery {
    /// Only rows with a smaller id: the previous page's `next_before`.
    before: Option<u64>,
    /// Rows per page; capped at [`DEAD_LETTERS_MAX_LIMIT`]; 0 answers only the counts.
    limit: Option<usize>,
}

/// The response body of `GET /api/v1/dead-letters`.
#[derive(Debug, Serialize)]
struct DeadLetterList {
    /// Newest first.
    dead_letters: Vec<DeadLetterRow>,
    /// Pass as `before` for the next (older) page; `null` on the last page.
    next_before: Option<u64>,
    /// Every kept dead letter by reason (not just this page's).
    counts: BTreeMap<String, u64>,
    /// The sum of `counts`.
    total: u64,
}

/// One dead letter on the wire.
#[derive(Debug, Serialize)]
struct DeadLetterRow {
    id: u64,
    received_ms: u64,
    topic: String,
    reason: String,
    detail: String,
    /// The payload as text when it is valid UTF-8, else standard base64 (see `payload_encoding`).
    payload: String,
    /// `utf8` or `base64`.
    payload_encoding: &'static str,
    /// The payload's length in bytes, as received.
    payload_bytes: usize,
}

impl From<KeptDeadLetter> for DeadLetterRow {
    fn from(kept: KeptDeadLetter) -> DeadLetterRow {
        let letter = kept.letter;
        let payload_bytes = letter.payload.len();
        let (payload, payload_encoding) = match String::from_utf8(letter.payload) {
            Ok(text) => (text, "utf8"),
            Err(error) => (
                base64::engine::general_purpose::STANDARD.encode(error.as_bytes()),
                "base64",
            ),
        };
        DeadLetterRow {
            id: kept.id,
            received_ms: letter.received_ms,
            topic: letter.topic,
            reason: letter.reason,
            detail: letter.detail,
            payload,
            payload_encoding,
            payload_bytes,
        }
    }
}

impl From<DeadLetterPage> for DeadLetterList {
    fn from(page: DeadLetterPage) -> DeadLetterList {
        let next_before = page
            .more
            .then(|| page.rows.last().map(|row| row.id))
            .flatten();
        let counts: BTreeMap<String, u64> = page.counts.into_iter().collect();
        DeadLetterList {
            dead_letters: page.rows.into_iter().map(DeadLetterRow::from).collect(),
            next_before,
            total: counts.values().sum(),
            counts,
        }
    }
}

/// `GET /api/v1/dead-letters?before=ID&limit=N`: refused messages for staff, newest first.
pub(crate) async fn dead_letters(
    _staff: Staff,
    State(state): State<AppState>,
    query: Result<Query<DeadLetterQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let limit = query
        .limit
        .unwrap_or(DEAD_LETTERS_DEFAULT_LIMIT)
        .min(DEAD_LETTERS_MAX_LIMIT);
    let reader = state.reader.clone();
    let found = tokio::task::spawn_blocking(move || reader.dead_letters(query.before, limit)).await;
    let page = match found {
        Ok(Ok(page)) => page,
        Ok(Err(error)) => {
            tracing::error!(%error, "cannot read the dead letters");
            return Err(ApiError::Unavailable(
                "storage failure: the dead letters cannot be read right now".to_owned(),
            ));
        }
        Err(error) => {
            tracing::error!(%error, "dead-letter reader task failed");
            return Err(ApiError::Unavailable(
                "the dead letters cannot be read right now".to_owned(),
            ));
        }
    };
    let body = serde_json::to_string(&DeadLetterList::from(page)).map_err(|error| {
        tracing::error!(%error, "cannot encode the dead letters");
        ApiError::Unavailable("the dead letters cannot be encoded".to_owned())
    })?;
    Ok(json_response(StatusCode::OK, body))
}

/// `POST /api/v1/tables/{table}/sessions`: starts a table-time session; 201 with the view. The
/// body, if any, is ignored. Staff only; who started it is logged (as for [`action`]).
pub(crate) async fn start_session(
    staff: Staff,
    State(state): State<AppState>,
    Path(table): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let by = actor_of(&staff, &headers)?;
    let published = state.engine.session(table, true, by).await?;
    let mut response = view_response(StatusCode::CREATED, &published);
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/tables/{}", published.table())) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `POST /api/v1/tables/{table}/sessions/current/stop`: stops the running session; 200 with the
/// view (its `session` shows the elapsed time). The body, if any, is ignored. Staff only; who
/// stopped it is logged (as for [`action`]).
pub(crate) async fn stop_session(
    staff: Staff,
    State(state): State<AppState>,
    Path(table): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let by = actor_of(&staff, &headers)?;
    let published = state.engine.session(table, false, by).await?;
    Ok(view_response(StatusCode::OK, &published))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(id: u64, payload: &[u8]) -> KeptDeadLetter {
        KeptDeadLetter {
            id,
            letter: crate::store::DeadLetter {
                received_ms: 1_700_000_000_000,
                topic: "dojo/v1/tables/t1/events".to_owned(),
                payload: payload.to_vec(),
                reason: "not_json".to_owned(),
                detail: "expected value".to_owned(),
            },
        }
    }

    #[test]
    fn dead_letter_payloads_are_text_or_base64() {
        let text = DeadLetterRow::from(letter(1, "naïve {".as_bytes()));
        assert_eq!(
            (
                text.payload.as_str(),
                text.payload_encoding,
                text.payload_bytes
            ),
            ("naïve {", "utf8", 8)
        );
        let binary = DeadLetterRow::from(letter(2, &[0xff, 0x00, 0x41]));
        assert_eq!(
            (
                binary.payload.as_str(),
                binary.payload_encoding,
                binary.payload_bytes
            ),
            ("/wBB", "base64", 3)
        );
    }

    #[test]
    fn dead_letter_pages_point_to_the_next_one() {
        let page = |rows: Vec<KeptDeadLetter>, more| DeadLetterPage {
            rows,
            more,
            counts: vec![("invalid".to_owned(), 2), ("not_json".to_owned(), 5)],
        };
        let full = DeadLetterList::from(page(vec![letter(9, b"a"), letter(7, b"b")], true));
        assert_eq!(full.next_before, Some(7));
        assert_eq!(full.total, 7);
        let last = DeadLetterList::from(page(vec![letter(3, b"c")], false));
        assert_eq!(last.next_before, None);
        let counts_only = DeadLetterList::from(page(vec![], true));
        assert_eq!(counts_only.next_before, None);
        assert!(counts_only.dead_letters.is_empty());
    }

    #[test]
    fn the_staff_name_header_is_percent_decoded_and_bounded() {
        let named = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                STAFF_NAME_HEADER,
                HeaderValue::from_str(value).expect("ascii"),
            );
            staff_actor(&headers)
        };
        assert_eq!(staff_actor(&HeaderMap::new()).ok(), Some(Actor::staff()));
        assert_eq!(
            named("Zo%C3%AB%20K").ok(),
            Some(Actor::Staff {
                name: Some("Zoë K".into()),
                id: None,
            })
        );
        assert_eq!(named("  ").ok(), Some(Actor::staff()), "blank is unnamed");
        for bad in ["%ZZ", "%C3", "a%0Ab", &"x".repeat(41)] {
            assert!(named(bad).is_err(), "{bad:?} is refused");
        }
    }
}
