//! The players' phones: a table's pairing code (for its TV), pairing, and what a paired phone may
//! do to its match. Who may call each route is in its doc line: **anyone** (open, like the
//! screens), **staff** (the staff token) or **a paired phone** (the token [`pair`] gave it, sent as
//! `Authorization: Bearer p1.…`, valid for that table's current match only). A missing token is
//! 401, a token that is not for this table's match in play is 403, and an action only the
//! shooter may take, from the other player's phone, is 403. Wrong codes are rate-limited per
//! address (429 with `Retry-After`). See crate::pairing for the capability itself.

use std::sync::Mutex;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::auth::Staff;
use super::error::ApiError;
use super::json::{body_bytes, json_response, parse};
use super::socket::Socket;
use crate::clock::now_ms;
use crate::limit::{Limiter, RetryAfter};
use crate::notices::UndoStatus;
use crate::pairing::{Pairing, PairingError, Secret};
use crate::table::{Actor, StaffAction};
use crate::view::{Published, TableStatus};

/// Wrong codes an address may try before it waits.
const GUESSES: u32 = 10;
/// One more wrong code allowed this often.
const GUESS_REFILL_MS: u64 = 30_000;
/// Messages (and requests to undo) a phone may send in a burst.
const PHONE_MESSAGES: u32 = 3;
/// Messages an address may send in a burst (phones behind one address share it).
const ADDRESS_MESSAGES: u32 = 10;
/// One more message allowed this often.
const MESSAGE_REFILL_MS: u64 = 20_000;

/// Pairing, and the rate limits of what phones and strangers try.
#[derive(Debug)]
pub struct Phones {
    pub(crate) pairing: Pairing,
    limits: Mutex<Limits>,
}

#[derive(Debug)]
struct Limits {
    guesses: Limiter,
    by_phone: Limiter,
    by_address: Limiter,
}

impl Phones {
    /// Phones paired under `secret`.
    pub fn new(secret: Secret) -> Phones {
        Phones {
            pairing: Pairing::new(secret),
            limits: Mutex::new(Limits {
                guesses: Limiter::new(GUESSES, GUESS_REFILL_MS),
                by_phone: Limiter::new(PHONE_MESSAGES, MESSAGE_REFILL_MS),
                by_address: Limiter::new(ADDRESS_MESSAGES, MESSAGE_REFILL_MS),
            }),
        }
    }

    fn limits(&self) -> std::sync::MutexGuard<'_, Limits> {
        self.limits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `address` may still try a code (a wrong one uses a try: [`Phones::wrong_code`]).
    fn may_guess(&self, address: &str, now_ms: u64) -> Result<(), RetryAfter> {
        self.limits().guesses.check(address, now_ms)
    }

    fn wrong_code(&self, address: &str, now_ms: u64) {
        let _ = self.limits().guesses.take(address, now_ms);
    }

    /// Uses one message of the phone's and of its address's.
    fn may_send(&self, phone: &str, address: &str, now_ms: u64) -> Result<(), RetryAfter> {
        let mut limits = self.limits();
        limits.by_phone.check(phone, now_ms)?;
        limits.by_address.take(address, now_ms)?;
        limits.by_phone.take(phone, now_ms)
    }
}

/// The address a request came from, for rate limits (`unknown` when not served with it).
pub(crate) fn peer(socket: Option<&Extension<ConnectInfo<Socket>>>) -> String {
    socket
        .and_then(|Extension(ConnectInfo(Socket(stream)))| stream.peer_addr().ok())
        .map_or_else(|| "unknown".to_owned(), |addr| addr.ip().to_string())
}

fn too_many(state: &AppState, what: &str, RetryAfter(seconds): RetryAfter) -> ApiError {
    state.metrics.phone_refused("rate_limited");
    ApiError::TooManyRequests {
        message: format!("too many {what}: try again in {seconds} s"),
        retry_after_s: seconds,
    }
}

/// Uses one of the phone's messages and one of its address's (messages to staff and requests to
/// undo count alike); 429 past either limit.
pub(crate) fn limit_messages(
    state: &AppState,
    phone: &str,
    address: &str,
    now_ms: u64,
) -> Result<(), ApiError> {
    (state.phones.may_send(phone, address, now_ms)).map_err(|r| too_many(state, "messages", r))
}

/// The table's match in play: its view and match id, or 409.
fn live_match(state: &AppState, table: &str) -> Result<(Published, String), ApiError> {
    let published = state
        .hub
        .get(table)
        .ok_or_else(|| ApiError::NotFound(format!("no table {table:?}")))?;
    let match_id = in_play(&published)
        .ok_or_else(|| ApiError::Conflict(format!("table {table} has no match in play")))?;
    Ok((published, match_id))
}

/// The match id if the view's match is in play (not finished).
fn in_play(published: &Published) -> Option<String> {
    let view = &published.view;
    let winner = view.state.as_ref().and_then(|s| s.match_winner);
    match (&view.match_info, view.status, winner) {
        (Some(info), TableStatus::Playing, None) => Some(info.match_id.clone()),
        _ => None,
    }
}

/// Every match in play, as (table, match id).
fn live_matches(state: &AppState) -> Vec<(String, String)> {
    (state.hub.latest().iter())
        .filter_map(|p| in_play(p).map(|m| (p.table().to_owned(), m)))
        .collect()
}

fn players(published: &Published) -> [String; 2] {
    (published.view.match_info.as_ref()).map_or_else(Default::default, |info| info.players.clone())
}

/// A phone paired with the table's match in play.
pub(crate) struct Paired {
    pub(crate) table: String,
    pub(crate) match_id: String,
    pub(crate) seat: u8,
    pub(crate) view: Published,
    /// The token's nonce part stands for the phone in rate limits.
    pub(crate) phone: String,
}

/// The phone's token from `Authorization: Bearer`, checked against `table`'s match in play.
pub(crate) fn paired(
    state: &AppState,
    table: &str,
    headers: &HeaderMap,
) -> Result<Paired, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    let Some(token) = token else {
        state.metrics.phone_refused("not_paired");
        return Err(ApiError::Unauthorized(
            "a paired phone's token is required: pair with the code on the table's screen"
                .to_owned(),
        ));
    };
    let refused = |message: String| {
        state.metrics.phone_refused("not_paired");
        ApiError::Forbidden(message)
    };
    let view = state
        .hub
        .get(table)
        .ok_or_else(|| refused(PairingError::NotPaired.to_string()))?;
    let match_id = in_play(&view).ok_or_else(|| {
        refused(format!(
            "table {table} has no match in play: a phone's pairing ends with its match"
        ))
    })?;
    let seat = (state.phones.pairing)
        .check(table, &match_id, token)
        .map_err(|error| refused(error.to_string()))?;
    let phone = token.split('.').nth(2).unwrap_or_default().to_owned();
    Ok(Paired {
        table: table.to_owned(),
        match_id,
        seat,
        view,
        phone,
    })
}

/// `GET /api/v1/tables/{table}/pairing` — **anyone** (it is what the table's TV shows): the code of
/// the match in play and the path a phone opens, `/p/{code}`. 409 without a match in play.
pub(crate) async fn pairing_code(
    State(state): State<AppState>,
    Path(table): Path<String>,
) -> Result<Response, ApiError> {
    let (_, match_id) = live_match(&state, &table)?;
    let code = state.phones.pairing.code(&table, &match_id);
    let body =
        json!({"table": table, "match_id": match_id, "path": format!("/p/{code}"), "code": code});
    Ok(json_response(StatusCode::OK, body.to_string()))
}

/// A `Host` header fit to go into a link: a name or address and a port, nothing else.
fn host(headers: &HeaderMap) -> Option<&str> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let fits = !host.is_empty()
        && host.len() <= 255
        && (host.bytes()).all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    fits.then_some(host)
}

/// `GET /tables/{table}/pairing.svg` — **anyone**: the pairing link of the match in play as a QR
/// code, for the TV. The link uses the address the TV reached the agent at.
pub(crate) async fn pairing_qr(
    State(state): State<AppState>,
    Path(table): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, match_id) = live_match(&state, &table)?;
    let host = host(&headers).ok_or_else(|| ApiError::BadRequest("bad Host header".to_owned()))?;
    let code = state.phones.pairing.code(&table, &match_id);
    let svg = crate::qr::svg(&format!("http://{host}/p/{code}"))
        .ok_or_else(|| ApiError::BadRequest("the link is too long for a QR code".to_owned()))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        svg,
    )
        .into_response())
}

/// `GET /api/v1/tables/{table}/matches/current/racks` — **anyone**: the racks of the match in play
/// (or of the last one) won so far, `[{"rack":1,"winner":0},…]`.
pub(crate) async fn racks(
    State(state): State<AppState>,
    Path(table): Path<String>,
) -> Result<Response, ApiError> {
    let published = state
        .hub
        .get(&table)
        .ok_or_else(|| ApiError::NotFound(format!("no table {table:?}")))?;
    let Some(match_id) = published
        .view
        .match_info
        .as_ref()
        .map(|m| m.match_id.clone())
    else {
        return Ok(json_response(StatusCode::OK, "[]".to_owned()));
    };
    let racks = state.read(move |reader| reader.racks(&match_id)).await?;
    let body: Vec<_> = (racks.into_iter())
        .map(|(rack, winner)| json!({"rack": rack, "winner": winner}))
        .collect();
    Ok(json_response(StatusCode::OK, json!(body).to_string()))
}

/// `POST /api/v1/phone/pair` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairRequest {
    /// The code on the table's screen.
    code: String,
    /// The seat to take; without it, the answer only says which table and seats the code is for.
    #[serde(default)]
    seat: Option<u8>,
}

/// `POST /api/v1/phone/pair` — **anyone with the code** of a match in play (rate-limited per
/// address: wrong codes count, 429 past the limit). `{"code"}`: 200 with the table, the players
/// and the seats already paired; `{"code","seat"}`: 201 with the phone's `token` (409 if another
/// phone holds the seat). A wrong or ended code is 403.
pub(crate) async fn pair(
    State(state): State<AppState>,
    socket: Option<Extension<ConnectInfo<Socket>>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let address = peer(socket.as_ref());
    let now = now_ms();
    (state.phones.may_guess(&address, now)).map_err(|r| too_many(&state, "wrong codes", r))?;
    let request: PairRequest = parse(&body_bytes(body)?)?;
    let live = live_matches(&state);
    let found = (state.phones.pairing).find(
        &request.code,
        live.iter().map(|(t, m)| (t.as_str(), m.as_str())),
    );
    let Some((table, match_id)) = found else {
        state.phones.wrong_code(&address, now);
        state.metrics.phone_refused("bad_code");
        tracing::info!(%address, "a phone tried a wrong pairing code");
        return Err(ApiError::Forbidden(PairingError::UnknownCode.to_string()));
    };
    let players = state
        .hub
        .get(&table)
        .map(|p| players(&p))
        .unwrap_or_default();
    let Some(seat) = request.seat else {
        let taken = state.phones.pairing.seats_taken(&table, &match_id);
        let body =
            json!({"table": table, "match_id": match_id, "players": players, "seats_taken": taken});
        return Ok(json_response(StatusCode::OK, body.to_string()));
    };
    let token =
        state
            .phones
            .pairing
            .pair(&table, &match_id, seat)
            .map_err(|error| match error {
                PairingError::SeatTaken(_) => ApiError::Conflict(error.to_string()),
                error => ApiError::Unprocessable(error.to_string()),
            })?;
    tracing::info!(%table, seat, "a phone paired");
    let body = json!({"table": table, "match_id": match_id, "seat": seat, "players": players, "token": token});
    Ok(json_response(StatusCode::CREATED, body.to_string()))
}

/// `GET /api/v1/phone/{table}/me` — **a paired phone**: its table, match and seat.
pub(crate) async fn me(
    State(state): State<AppState>,
    Path(table): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let paired = paired(&state, &table, &headers)?;
    let players = players(&paired.view);
    let body = json!({
        "table": paired.table,
        "match_id": paired.match_id,
        "seat": paired.seat,
        "player": players[usize::from(paired.seat)],
    });
    Ok(json_response(StatusCode::OK, body.to_string()))
}

/// What a paired phone may do to its match: the shooter's own calls. Like [`StaffAction`], each
/// variant a struct so that unknown fields are refused.
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
enum PhoneAction {
    /// Call the next shot.
    Call {
        ball: u8,
        #[serde(default)]
        pocket: Option<u8>,
    },
    /// End the turn.
    EndTurn {},
    /// Declare a push-out.
    PushOut {},
    /// Declare a safety.
    Safety {},
}

impl From<PhoneAction> for StaffAction {
    fn from(action: PhoneAction) -> StaffAction {
        match action {
            PhoneAction::Call { ball, pocket } => StaffAction::Call { ball, pocket },
            PhoneAction::EndTurn {} => StaffAction::EndTurn {},
            PhoneAction::PushOut {} => StaffAction::PushOut {},
            PhoneAction::Safety {} => StaffAction::Safety {},
        }
    }
}

/// `POST /api/v1/phone/{table}/actions` — **the shooter's paired phone** (the other player's is
/// 403): `{"action":"call","ball":7,"pocket":2}`, `end_turn`, `push_out` or `safety`. Applied
/// as an action by `Actor::Player { seat }`; answers with the committed view.
pub(crate) async fn action(
    State(state): State<AppState>,
    Path(table): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let paired = paired(&state, &table, &headers)?;
    let action: PhoneAction = parse(&body_bytes(body)?)?;
    let shooter = paired.view.view.state.as_ref().map(|s| s.shooter);
    if shooter != Some(usize::from(paired.seat)) {
        state.metrics.phone_refused("not_shooter");
        return Err(ApiError::Forbidden(
            "only the shooter's phone can call, end the turn, push out or play safe".to_owned(),
        ));
    }
    let by = Actor::Player { seat: paired.seat };
    let published = state.engine.action_by(table, action.into(), by).await?;
    Ok(json_response(StatusCode::OK, published.json.to_string()))
}

/// `POST /api/v1/phone/{table}/undo-requests` — **a paired phone** (either player): asks to undo
/// the last input; the opponent's phone or staff confirm it within a minute. 202 with the request
/// (`{"id","seat","status":"pending",…}`); every screen of the table hears it over `/ws`.
pub(crate) async fn request_undo(
    State(state): State<AppState>,
    Path(table): Path<String>,
    headers: HeaderMap,
    socket: Option<Extension<ConnectInfo<Socket>>>,
) -> Result<Response, ApiError> {
    let paired = paired(&state, &table, &headers)?;
    let now = now_ms();
    limit_messages(&state, &paired.phone, &peer(socket.as_ref()), now)?;
    let request = state
        .notices
        .request_undo(&table, &paired.match_id, paired.seat, now);
    Ok(json_response(
        StatusCode::ACCEPTED,
        json!(request).to_string(),
    ))
}

/// An answer to a request to undo: `{"confirm": true}` applies it, `false` declines it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UndoAnswer {
    confirm: bool,
}

/// `POST /api/v1/phone/{table}/undo-requests/{id}` — **the other player's paired phone** (the
/// asking phone's own answer is 403): `{"confirm":true|false}`.
pub(crate) async fn answer_undo(
    State(state): State<AppState>,
    Path((table, id)): Path<(String, u64)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let paired = paired(&state, &table, &headers)?;
    let answer: UndoAnswer = parse(&body_bytes(body)?)?;
    let request = open_request(&state, &table, id, &paired.match_id)?;
    if request.seat == paired.seat {
        return Err(ApiError::Forbidden(
            "the opponent or staff confirm a request to undo, not the player who asked".to_owned(),
        ));
    }
    settle_undo(&state, &table, id, request.seat, answer.confirm).await
}

/// `POST /api/v1/tables/{table}/undo-requests/{id}` — **staff**: `{"confirm":true|false}`.
pub(crate) async fn staff_answer_undo(
    _staff: Staff,
    State(state): State<AppState>,
    Path((table, id)): Path<(String, u64)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let answer: UndoAnswer = parse(&body_bytes(body)?)?;
    let (_, match_id) = live_match(&state, &table)?;
    let request = open_request(&state, &table, id, &match_id)?;
    settle_undo(&state, &table, id, request.seat, answer.confirm).await
}

fn open_request(
    state: &AppState,
    table: &str,
    id: u64,
    match_id: &str,
) -> Result<crate::notices::UndoRequest, ApiError> {
    (state.notices.open_undo(table, id, now_ms()))
        .ok()
        .filter(|r| r.match_id == match_id)
        .ok_or_else(|| ApiError::NotFound(crate::notices::NoticeError::NoSuchRequest.to_string()))
}

/// Closes the request first (so two answers cannot both apply it), then applies the undo as the
/// asking player's action.
async fn settle_undo(
    state: &AppState,
    table: &str,
    id: u64,
    seat: u8,
    confirm: bool,
) -> Result<Response, ApiError> {
    let status = if confirm {
        UndoStatus::Confirmed
    } else {
        UndoStatus::Declined
    };
    let request = (state.notices.answer_undo(table, id, status, now_ms()))
        .map_err(|error| ApiError::NotFound(error.to_string()))?;
    if !confirm {
        return Ok(json_response(StatusCode::OK, json!(request).to_string()));
    }
    let by = Actor::Player { seat };
    let published = (state.engine)
        .action_by(table.to_owned(), StaffAction::Undo {}, by)
        .await?;
    Ok(json_response(StatusCode::OK, published.json.to_string()))
}

/// `POST /api/v1/tables/{table}/seats/{seat}/release` — **staff**: frees a seat of the match in
/// play for another phone (a player's phone was lost or changed hands). `{"released": bool}`.
pub(crate) async fn release_seat(
    _staff: Staff,
    State(state): State<AppState>,
    Path((table, seat)): Path<(String, u8)>,
) -> Result<Response, ApiError> {
    let (_, match_id) = live_match(&state, &table)?;
    let released = state.phones.pairing.release(&table, &match_id, seat);
    Ok(json_response(
        StatusCode::OK,
        json!({"released": released}).to_string(),
    ))
}
