//! The venue's screens: a live overview of every table at `/`, a TV scoreboard per table at
//! `/tables/{table}`, and the staff console at `/staff` (a tablet at the bar). Plain HTML, CSS and
//! JavaScript compiled into the binary with `include_str!`: the appliance serves them with no build
//! step and no files to install. Every page follows `/ws` and reconnects by itself with
//! `?since=<last seq>`.
//!
//! The staff page itself is public, like the others: it holds no secret. It asks for the staff
//! token and sends it with each API call, so the API stays the only place that checks it.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

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
const VENUE_JS: &str = include_str!("assets/venue.js");

/// Escapes text for HTML element content and quoted attribute values.
fn escape_html(text: &str) -> String {
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

/// What the staff console may load and where it may be shown. Its buttons start matches and its
/// dead-letter list shows bytes anyone could have published, so: scripts, styles and connections
/// from this agent only (`'self'` covers the same-origin WebSocket), no inline script, and no
/// framing by another page that could trick a tap onto a button.
const STAFF_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                         img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                         base-uri 'none'; form-action 'none'";

/// `GET /staff`: the staff console.
pub(crate) async fn staff(State(state): State<AppState>) -> Response {
    let mut response = page(STAFF, &state.venue, "");
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(STAFF_CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `GET /assets/{file}`.
pub(crate) async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (content_type, body) = match file.as_str() {
        "style.css" => ("text/css; charset=utf-8", STYLE),
        "live.js" => ("text/javascript; charset=utf-8", LIVE_JS),
        "overview.js" => ("text/javascript; charset=utf-8", OVERVIEW_JS),
        "scoreboard.js" => ("text/javascript; charset=utf-8", SCOREBOARD_JS),
        "staff.css" => ("text/css; charset=utf-8", STAFF_CSS),
        "staff.js" => ("text/javascript; charset=utf-8", STAFF_JS),
        "venue.js" => ("text/javascript; charset=utf-8", VENUE_JS),
        _ => return Err(ApiError::NotFound(format!("no asset {file:?}"))),
    };
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response())
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
    }
}
