//! The web portal: people's pages (sign up, sign in, profile, notifications, administration),
//! served like edge-agent serves its screens: plain HTML, CSS and JavaScript compiled into the
//! binary, no build step. Pages hold no secret and build every value into the DOM as text
//! (`textContent`, never `innerHTML`), so nothing a user typed can run; the JSON API under
//! `/api/v1` is the only place that checks who may do what.
//!
//! Every page is `/portal/<name>` with `assets/<name>.html`; its script is
//! `/portal/assets/<name>.js` beside `portal.js` (the shared API client, session and helpers)
//! and `portal.css`. A new page: its two files and one line in [`ASSETS`].
//!
//! Every answer under `/portal` carries a strict CSP (scripts from this origin only, no inline
//! script), `X-Frame-Options: DENY`, nosniff and `Referrer-Policy: no-referrer` (links with
//! one-time tokens must not leak through `Referer`).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::http::{ApiError, AppState};

/// `(file, content type, body)`: every asset of the portal.
const ASSETS: &[(&str, &str, &str)] = &[
    ("portal.css", CSS, include_str!("assets/portal.css")),
    ("portal.js", JS, include_str!("assets/portal.js")),
    ("index.html", HTML, include_str!("assets/index.html")),
    ("index.js", JS, include_str!("assets/index.js")),
    ("results.html", HTML, include_str!("assets/results.html")),
    ("results.js", JS, include_str!("assets/results.js")),
    ("signup.html", HTML, include_str!("assets/signup.html")),
    ("signup.js", JS, include_str!("assets/signup.js")),
    ("verify.html", HTML, include_str!("assets/verify.html")),
    ("verify.js", JS, include_str!("assets/verify.js")),
    ("signin.html", HTML, include_str!("assets/signin.html")),
    ("signin.js", JS, include_str!("assets/signin.js")),
    ("reset.html", HTML, include_str!("assets/reset.html")),
    ("reset.js", JS, include_str!("assets/reset.js")),
    ("sessions.html", HTML, include_str!("assets/sessions.html")),
    ("sessions.js", JS, include_str!("assets/sessions.js")),
    ("profile.html", HTML, include_str!("assets/profile.html")),
    ("profile.js", JS, include_str!("assets/profile.js")),
    ("admin.html", HTML, include_str!("assets/admin.html")),
    ("admin.js", JS, include_str!("assets/admin.js")),
    ("venue.html", HTML, include_str!("assets/venue.html")),
    ("venue.js", JS, include_str!("assets/venue.js")),
    (
        "tournament.html",
        HTML,
        include_str!("assets/tournament.html"),
    ),
    ("tournament.js", JS, include_str!("assets/tournament.js")),
    (
        "tournaments.html",
        HTML,
        include_str!("assets/tournaments.html"),
    ),
    ("tournaments.js", JS, include_str!("assets/tournaments.js")),
    ("organise.html", HTML, include_str!("assets/organise.html")),
    ("organise.js", JS, include_str!("assets/organise.js")),
    ("match.html", HTML, include_str!("assets/match.html")),
    ("match.js", JS, include_str!("assets/match.js")),
    // The bracket renderer, the same file the venue's screens serve (shared::web).
    ("bracket.js", JS, shared::web::BRACKET_JS),
    ("bracket.css", CSS, shared::web::BRACKET_CSS),
    (
        "notifications.html",
        HTML,
        include_str!("assets/notifications.html"),
    ),
    (
        "notifications.js",
        JS,
        include_str!("assets/notifications.js"),
    ),
];

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// `/` (to the portal), `/portal/<page>` and `/portal/assets/<file>`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/portal/") }))
        .route("/portal", get(|| async { Redirect::to("/portal/") }))
        .route("/portal/", get(|| async { serve("index.html") }))
        .route("/portal/assets/{file}", get(asset))
        .route("/portal/{page}", get(page))
}

async fn page(Path(page): Path<String>) -> Response {
    serve(&format!("{page}.html"))
}

async fn asset(Path(file): Path<String>) -> Response {
    if file.ends_with(".html") {
        return not_found();
    }
    serve(&file)
}

fn serve(file: &str) -> Response {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return not_found();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                HeaderValue::from_static("same-origin"),
            ),
        ],
        *body,
    )
        .into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        ApiError::NotFound("no such page".into()),
    )
        .into_response()
}
