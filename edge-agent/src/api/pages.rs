//! The venue's screens: a live overview of every table at `/`, a TV scoreboard per table at
//! `/tables/{table}`, a table on a phone at `/phone/{table}` (and `/p/{code}`, what the TV's QR
//! code opens), the staff console at `/staff` (a tablet at the bar), a stream overlay per table at
//! `/overlay/{table}` and the day's results at `/results`. Assets are gzipped and tagged once, on
//! first use. Plain HTML, CSS and
//! JavaScript compiled into the binary with `include_str!`: the appliance serves them with no build
//! step and no files to install. Every page follows `/ws` and reconnects by itself with
//! `?since=<last seq>`.
//!
//! Every response gets the same security headers ([`security_headers`], a layer on the router).
//!
//! The staff page itself is public, like the others: it holds no secret. It asks for the staff
//! token and sends it with each API call, so the API stays the only place that checks it.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::Digest as _;

use super::AppState;
use super::error::ApiError;

const OVERVIEW: &str = include_str!("assets/overview.html");
const SCOREBOARD: &str = include_str!("assets/scoreboard.html");
const STYLE: &str = include_str!("assets/style.css");
const LIVE_JS: &str = include_str!("assets/live.js");
const OVERVIEW_JS: &str = include_str!("assets/overview.js");
const SCOREBOARD_JS: &str = include_str!("assets/scoreboard.js");
const STAFF: &str = include_str!("assets/staff.html");
const STAFF_CSS: &str = include_str!("assets/staff.css");
const STAFF_JS: &str = include_str!("assets/staff.js");
const STAFF_MANUAL_JS: &str = include_str!("assets/staff-manual.js");
const PHONE: &str = include_str!("assets/phone.html");
const PHONE_CSS: &str = include_str!("assets/phone.css");
const PHONE_JS: &str = include_str!("assets/phone.js");
const PAIRING_JS: &str = include_str!("assets/pairing.js");
const ROOM_JS: &str = include_str!("assets/room.js");
const OVERLAY: &str = include_str!("assets/overlay.html");
const OVERLAY_CSS: &str = include_str!("assets/overlay.css");
const OVERLAY_JS: &str = include_str!("assets/overlay.js");
const RESULTS: &str = include_str!("assets/results.html");
const RESULTS_JS: &str = include_str!("assets/results.js");
const VENUE_JS: &str = include_str!("assets/venue.js");
const TOURNAMENT: &str = include_str!("assets/tournament.html");
const TOURNAMENT_JS: &str = include_str!("assets/tournament.js");
const TOURNAMENT_CSS: &str = include_str!("assets/tournament.css");
const STAFF_TOURNAMENTS_JS: &str = include_str!("assets/staff-tournaments.js");

/// Escapes text for HTML element content and quoted attribute values.
pub(super) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(template: &str, venue: &str, table: &str) -> Response {
    let body = template
        .replace("{{VENUE}}", &escape_html(venue))
        .replace("{{TABLE}}", &escape_html(table));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// `GET /`: every table at a glance.
pub(crate) async fn overview(State(state): State<AppState>) -> Response {
    page(OVERVIEW, &state.venue, "")
}

/// `GET /tables/{table}`: one table's scoreboard, for a TV beside it.
pub(crate) async fn scoreboard(
    State(state): State<AppState>,
    Path(table): Path<String>,
) -> Response {
    page(SCOREBOARD, &state.venue, &table)
}

/// What every page may load, for every response (pages, assets, JSON, errors; see
/// [`security_headers`]): scripts, styles and connections from this agent only (`'self'` covers
/// the same-origin WebSocket), no inline script or style, no plugins, no `<base>`, no form posted
/// anywhere (the pages' forms are handled by their scripts), and no framing. The pages' texts come
/// from anyone (names, announcements, the dead letters' bytes), so a script slipped into one must
/// not run; and the staff console's and a paired phone's buttons must not be framed by a page
/// that could trick a tap onto them.
///
/// The stream overlay gets the same `frame-ancestors 'none'`: OBS's browser source (and
/// Streamlabs', both CEF) open it as a top-level page, which frame ancestors do not restrict, and
/// nothing in the venue embeds it in a frame. A tool that must frame it can take the page's
/// data from `/ws` instead.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                              img-src 'self' data:; connect-src 'self'; object-src 'none'; \
                              frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Adds the security headers to every response the router makes, unless a route set its own:
/// [`CSP`], `X-Content-Type-Options: nosniff` (a text or JSON body is never run as a script or
/// shown as HTML by guessing), `X-Frame-Options: DENY` (browsers without `frame-ancestors`) and
/// `Referrer-Policy: no-referrer` (a paired phone's pairing link does not leave in a `Referer`).
pub(crate) async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    }
    response
}

/// `GET /staff`: the staff console.
pub(crate) async fn staff(State(state): State<AppState>) -> Response {
    page(STAFF, &state.venue, "")
}

/// `GET /phone/{table}`: one table on a phone: read-only for spectators, with the player's
/// controls once the phone is paired (the page keeps its token; it holds no other secret).
pub(crate) async fn phone(
    State(state): State<AppState>,
    Path(table): Path<String>,
    headers: HeaderMap,
) -> Response {
    phone_page(&state.venue, &table, "", &headers)
}

/// `GET /p/{code}`: what a TV's QR code opens: the phone page, pairing with `code` (checked by
/// `POST /api/v1/phone/pair`, not here: the page says if it is wrong).
pub(crate) async fn phone_pairing(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Response {
    // Only a code's characters reach the page, whatever the path held.
    let code: String = (code.chars())
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect();
    phone_page(&state.venue, "", &code, &headers)
}

fn phone_page(venue: &str, table: &str, code: &str, headers: &HeaderMap) -> Response {
    let body = PHONE
        .replace("{{VENUE}}", &escape_html(venue))
        .replace("{{TABLE}}", &escape_html(table))
        .replace("{{CODE}}", &escape_html(code));
    let mut response = compressed(
        "text/html; charset=utf-8",
        body.as_bytes(),
        accepts_gzip(headers),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /overlay/{table}`: a lower-third scoreboard on a transparent page, for a stream (OBS's
/// browser source); `?pos=` and `?scale=` are read by the page itself.
pub(crate) async fn overlay(State(state): State<AppState>, Path(table): Path<String>) -> Response {
    page(OVERLAY, &state.venue, &table)
}

/// `GET /results`: the day's finished matches at the venue, with filters.
pub(crate) async fn results(State(state): State<AppState>) -> Response {
    page(RESULTS, &state.venue, "")
}

/// `GET /tournaments/{id}`: a tournament's live bracket, what is called and what's next, for the
/// venue's TVs and phones. Public (the page holds no secret; it reads the public API).
pub(crate) async fn tournament(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let body = TOURNAMENT
        .replace("{{VENUE}}", &escape_html(&state.venue))
        .replace("{{TOURNAMENT}}", &escape_html(&id));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// An asset as served: its type, its bytes, gzipped once, and its ETag.
struct Asset {
    content_type: &'static str,
    body: &'static str,
    gzip: Vec<u8>,
    etag: HeaderValue,
}

/// Every asset, compressed and tagged once, on first use.
fn assets() -> &'static HashMap<&'static str, Asset> {
    static ASSETS: OnceLock<HashMap<&'static str, Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let css = "text/css; charset=utf-8";
        let js = "text/javascript; charset=utf-8";
        [
            ("style.css", css, STYLE),
            ("live.js", js, LIVE_JS),
            ("overview.js", js, OVERVIEW_JS),
            ("scoreboard.js", js, SCOREBOARD_JS),
            ("staff.css", css, STAFF_CSS),
            ("staff.js", js, STAFF_JS),
            ("staff-manual.js", js, STAFF_MANUAL_JS),
            ("venue.js", js, VENUE_JS),
            ("phone.css", css, PHONE_CSS),
            ("phone.js", js, PHONE_JS),
            ("pairing.js", js, PAIRING_JS),
            ("room.js", js, ROOM_JS),
            ("overlay.css", css, OVERLAY_CSS),
            ("overlay.js", js, OVERLAY_JS),
            ("results.js", js, RESULTS_JS),
            ("replay.js", js, super::replay::REPLAY_JS),
            ("replay.css", css, super::replay::REPLAY_CSS),
            ("tournament.js", js, TOURNAMENT_JS),
            ("tournament.css", css, TOURNAMENT_CSS),
            ("staff-tournaments.js", js, STAFF_TOURNAMENTS_JS),
            ("bracket.js", js, shared::web::BRACKET_JS),
            ("bracket.css", css, shared::web::BRACKET_CSS),
        ]
        .into_iter()
        .map(|(name, content_type, body)| {
            let digest = sha2::Sha256::digest(body.as_bytes());
            let tag: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
            let etag = HeaderValue::from_str(&format!("\"{tag}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
            let asset = Asset {
                content_type,
                body,
                gzip: gzip(body.as_bytes()),
                etag,
            };
            (name, asset)
        })
        .collect()
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    (headers.get_all(header::ACCEPT_ENCODING).iter())
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// `body` as `content_type`, gzipped when the client takes it.
fn compressed(content_type: &'static str, body: &[u8], gzipped: bool) -> Response {
    if gzipped {
        encoded(content_type, gzip(body), true)
    } else {
        encoded(content_type, body.to_vec(), false)
    }
}

/// `bytes` as `content_type`, gzip-encoded already or not.
fn encoded(content_type: &'static str, bytes: Vec<u8>, gzipped: bool) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// `GET /assets/{file}`: gzipped when the client takes it, with an ETag: a screen revalidates
/// (`no-cache`) and gets a 304 while the agent's version is the same, so an upgrade is never
/// hidden behind a stale cache.
pub(crate) async fn asset(
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(asset) = assets().get(file.as_str()) else {
        return Err(ApiError::NotFound(format!("no asset {file:?}")));
    };
    let fresh = (headers.get_all(header::IF_NONE_MATCH).iter())
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim().trim_start_matches("W/") == asset.etag);
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else if accepts_gzip(&headers) {
        encoded(asset.content_type, asset.gzip.clone(), true)
    } else {
        encoded(asset.content_type, asset.body.as_bytes().to_vec(), false)
    };
    let response_headers = response.headers_mut();
    response_headers.insert(header::ETAG, asset.etag.clone());
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venue_and_table_are_escaped() {
        assert_eq!(
            escape_html(r#"<b>"Joe's" & co</b>"#),
            "&lt;b&gt;&quot;Joe&#39;s&quot; &amp; co&lt;/b&gt;"
        );
    }

    #[test]
    fn templates_have_their_placeholders() {
        assert!(OVERVIEW.contains("{{VENUE}}"));
        assert!(SCOREBOARD.contains("{{TABLE}}"));
        assert!(STAFF.contains("{{VENUE}}"));
        assert!(PHONE.contains("{{TABLE}}") && PHONE.contains("{{CODE}}"));
        assert!(OVERLAY.contains("{{TABLE}}"));
        assert!(RESULTS.contains("{{VENUE}}"));
        assert!(TOURNAMENT.contains("{{TOURNAMENT}}"));
    }

    #[test]
    fn gzip_is_taken_only_when_offered() {
        let offer = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(value).expect("header"),
            );
            accepts_gzip(&headers)
        };
        assert!(offer("gzip, deflate, br"));
        assert!(offer("br;q=1.0, gzip;q=0.8"));
        assert!(offer("*"));
        assert!(!offer("br"));
        assert!(!offer("gzip;q=0"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn every_asset_is_gzipped_and_tagged() {
        for (name, asset) in assets() {
            assert!(asset.gzip.len() < asset.body.len(), "{name} compresses");
            let mut back = String::new();
            std::io::Read::read_to_string(
                &mut flate2::read::GzDecoder::new(&asset.gzip[..]),
                &mut back,
            )
            .expect("gunzip");
            assert_eq!(back, asset.body, "{name}");
            assert!(asset.etag.to_str().is_ok_and(|t| t.len() == 18), "{name}");
        }
    }
}
