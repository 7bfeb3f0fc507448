//! Staff sign-in at the console by name and PIN, offline (`crate::staff`):
//!
//! - `GET /api/v1/staff/members` (anyone on the venue network: the sign-in form's list) →
//!   `{"staff": [{id, display_name}]}`: names and ids only, never a hash;
//! - `POST /api/v1/staff/session` `{staff_id | name, pin}` (anyone; failures slowed per staff
//!   member and per address, 429 + `Retry-After`) → 200 `{id, display_name, roles, expires_ms}`
//!   and the session cookie (`HttpOnly; SameSite=Strict; Path=/`, `Secure` when the request
//!   came through an https proxy: the appliance itself serves http on the LAN);
//! - `GET /api/v1/staff/session` (anyone) → `{"staff": {…} | null}`: who this browser is
//!   signed in as;
//! - `DELETE /api/v1/staff/session` (anyone; a no-op without a session) → 204, the cookie
//!   cleared and the session ended.
//!
//! A wrong name and a wrong PIN get the same answer after the same Argon2id work.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::auth::{address_key, session_of};
use super::error::ApiError;
use super::json::{body_bytes, json_response, parse};
use super::socket::Socket;
use crate::limit::RetryAfter;
use crate::staff::{COOKIE, Lookup, SESSION_MS, Session, decoy_hash, verify_pin};

/// The longest PIN looked at (cloud-sync accepts 6–12 digits).
const MAX_PIN_CHARS: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    #[serde(default)]
    staff_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    pin: String,
}

/// `GET /api/v1/staff/members`.
pub(crate) async fn members(State(state): State<AppState>) -> Response {
    let staff: Vec<_> = state
        .staff
        .roster()
        .into_iter()
        .map(|m| json!({"id": m.id, "display_name": m.display_name}))
        .collect();
    json_response(StatusCode::OK, json!({ "staff": staff }).to_string())
}

/// `GET /api/v1/staff/session`.
pub(crate) async fn current(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let staff = session_of(&headers, &state).map(|s| session_json(&s));
    json_response(StatusCode::OK, json!({ "staff": staff }).to_string())
}

/// `DELETE /api/v1/staff/session`.
pub(crate) async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(session) = session_of(&headers, &state) {
        state.staff.sign_out(&session, crate::clock::now_ms());
        tracing::info!(staff = %session.id, "staff signed out");
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(cookie) = HeaderValue::from_str(&cookie(&headers, "", 0)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `POST /api/v1/staff/session`.
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    socket: Option<Extension<ConnectInfo<Socket>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let SignIn {
        staff_id,
        name,
        pin,
    } = parse(&body_bytes(body)?)?;
    if pin.chars().count() > MAX_PIN_CHARS {
        return Err(ApiError::Unprocessable(
            "a PIN is 6 to 12 digits".to_owned(),
        ));
    }
    let address = address_key(
        socket
            .and_then(|Extension(ConnectInfo(Socket(stream)))| stream.peer_addr().ok())
            .map(|addr| addr.ip()),
    );
    let found = match state.staff.lookup(staff_id.as_deref(), name.as_deref()) {
        Lookup::Found(member) => Some(member),
        Lookup::Ambiguous => {
            return Err(ApiError::Conflict(
                "several staff have that name: pick yours from the list".to_owned(),
            ));
        }
        Lookup::Unknown => None,
    };
    // Failures count against the member (or, for an unknown name, the name typed) and the address.
    let member_key = found.as_ref().map_or_else(
        || {
            format!(
                "?{}",
                name.as_deref().unwrap_or_default().trim().to_lowercase()
            )
        },
        |m| m.id.clone(),
    );
    let now = crate::clock::now_ms();
    if let Err(RetryAfter(seconds)) = state.staff.guard().admit(&member_key, &address, now) {
        state.metrics.staff_auth("pin_limited");
        return Err(ApiError::TooManyRequests {
            message: format!("too many wrong PINs: wait {seconds} s"),
            retry_after_s: seconds,
        });
    }
    let hash = found
        .as_ref()
        .map_or_else(|| decoy_hash().to_owned(), |m| m.pin_hash.clone());
    let matches = tokio::task::spawn_blocking(move || verify_pin(&pin, &hash))
        .await
        .unwrap_or(false);
    let Some(member) = found.filter(|_| matches) else {
        state
            .staff
            .guard()
            .failed(&member_key, &address, crate::clock::now_ms());
        state.metrics.staff_auth("pin_failed");
        tracing::info!(%address, "a wrong staff name or PIN");
        return Err(ApiError::Unauthorized("wrong name or PIN".to_owned()));
    };
    let now = crate::clock::now_ms();
    let value = state.staff.issue(&member, now);
    let session = state
        .staff
        .session(&value, now)
        .ok_or_else(|| ApiError::Unavailable("the staff list changed: try again".to_owned()))?;
    tracing::info!(staff = %member.id, %address, "staff signed in");
    let mut response = json_response(StatusCode::OK, session_json(&session).to_string());
    let cookie = HeaderValue::from_str(&cookie(&headers, &value, SESSION_MS / 1_000))
        .map_err(|_| ApiError::Unavailable("could not make the session cookie".to_owned()))?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

fn session_json(session: &Session) -> serde_json::Value {
    json!({
        "id": session.id,
        "display_name": session.display_name,
        "roles": session.roles,
        "expires_ms": session.expires_ms,
    })
}

/// The `Set-Cookie` value: `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's
/// page sends it), `Path=/`; `Secure` when the request came through an https proxy.
pub(crate) fn cookie(headers: &HeaderMap, value: &str, max_age_s: u64) -> String {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    format!(
        "{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_s}{}",
        if https { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_behind_https() {
        let plain = cookie(&HeaderMap::new(), "v", 60);
        assert_eq!(
            plain,
            "dojo_staff=v; HttpOnly; SameSite=Strict; Path=/; Max-Age=60"
        );
        let mut proxied = HeaderMap::new();
        proxied.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(cookie(&proxied, "v", 60).ends_with("; Secure"));
    }
}
