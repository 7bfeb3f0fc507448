//! Staff at the venue: a console PIN per staff member and venue, and the staff list a venue's
//! appliance pulls so its staff sign in at the console offline (edge-agent's `staff` module).
//!
//! Staff are the users holding a role at the venue (`venue_manager` or `organiser` there, in
//! `user_roles`). Each sets a PIN for that venue's console in the portal; only its Argon2id PHC
//! string is kept ([`super::password`]) and sent to the venue with the identity, because the
//! appliance must check PINs without the cloud. The trade-off (docs/security.md, "Staff PINs and
//! sessions"): a stolen appliance's PIN hashes can be brute-forced offline (a 6-digit PIN has a
//! million candidates); Argon2id at 19 MiB makes each guess cost tens of milliseconds, the list
//! holds only the venue's own staff, and a PIN opens only that venue's console — never the
//! account, which has its own password.
//!
//! Routes:
//! - `PUT /api/v1/me/staff-pin` `{venue_id, pin}` → 204: staff at that venue only
//!   ([`Action::StaffAt`]); `DELETE` the same path `{venue_id}` → 204 removes it;
//! - `GET /api/v1/sync/staff` (a venue's key: its own staff only) → [`StaffList`].

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use shared::sync::{STAFF_ROUTE, StaffList, StaffMember};
use sqlx::PgPool;

use super::audit::{self, Entry};
use super::caller::Caller;
use super::password;
use super::policy::{Action, require};
use crate::http::{ApiError, AppState};

/// Where staff set their console PIN.
pub const STAFF_PIN_ROUTE: &str = "/api/v1/me/staff-pin";
/// Shortest PIN, in digits.
pub const PIN_MIN: usize = 6;
/// Longest PIN, in digits.
pub const PIN_MAX: usize = 12;

/// The staff routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(STAFF_PIN_ROUTE, put(set_pin).delete(remove_pin))
        .route(STAFF_ROUTE, get(sync_staff))
}

/// Why a PIN is refused, in words for the person choosing it.
pub fn pin_problem(pin: &str) -> Option<String> {
    if !(PIN_MIN..=PIN_MAX).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!("a PIN is {PIN_MIN} to {PIN_MAX} digits"));
    }
    let digits: Vec<i8> = pin.bytes().map(|b| (b - b'0') as i8).collect();
    let steps: Vec<i8> = digits.windows(2).map(|w| w[1] - w[0]).collect();
    // One digit throughout, or a straight run up or down (123456, 987654).
    let straight = steps.iter().all(|&s| s == steps[0]) && steps[0].abs() <= 1;
    // A short pattern repeated (121212, 123123, 1122 1122…).
    let repeated = (1..=pin.len() / 2)
        .filter(|period| pin.len().is_multiple_of(*period))
        .any(|period| {
            pin.as_bytes()
                .chunks(period)
                .all(|c| c == &pin.as_bytes()[..period])
        });
    const COMMON: &[&str] = &["112233", "123321", "147258", "159753", "111222", "696969"];
    (straight || repeated || COMMON.contains(&pin))
        .then(|| "that PIN is too easy to guess: choose one without a pattern".to_owned())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetPin {
    venue_id: String,
    pin: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemovePin {
    venue_id: String,
}

/// Whether `user` holds a staff role at `venue` now (the access token's roles may be minutes old).
async fn is_staff(pool: &PgPool, user: &str, venue: &str) -> Result<bool, ApiError> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM user_roles r JOIN users u ON u.id = r.user_id
                         WHERE r.user_id = $1 AND r.venue_id = $2
                           AND r.role IN ('venue_manager', 'organiser')
                           AND u.deleted_at IS NULL)",
    )
    .bind(user)
    .bind(venue)
    .fetch_one(pool)
    .await
    .map_err(|e| ApiError::from_db(&e))
}

/// `PUT /api/v1/me/staff-pin` `{venue_id, pin}` → 204. Who: a venue manager or organiser of
/// `venue_id` (a role at that venue; an administrator is not staff by being one). 400 for a PIN
/// that is not 6–12 digits or is trivially weak.
async fn set_pin(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let SetPin { venue_id, pin } = crate::http::error::json_body(&body)?;
    require(&caller, &Action::StaffAt(&venue_id))?;
    let user = caller.signed_in()?.id.clone();
    if !is_staff(&state.pool, &user, &venue_id).await? {
        return Err(ApiError::Forbidden("not staff at that venue".into()));
    }
    if let Some(problem) = pin_problem(&pin) {
        return Err(ApiError::BadRequest(problem));
    }
    let hash = tokio::task::spawn_blocking(move || password::hash(&pin))
        .await
        .map_err(|_| ApiError::Internal)?
        .map_err(|_| ApiError::Internal)?;
    let mut tx = state
        .pool
        .begin()
        .await
        .map_err(|e| ApiError::from_db(&e))?;
    sqlx::query(
        "INSERT INTO staff_pins (user_id, venue_id, pin_hash) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, venue_id) DO UPDATE SET pin_hash = $3, updated_at = now()",
    )
    .bind(&user)
    .bind(&venue_id)
    .bind(&hash)
    .execute(&mut *tx)
    .await
    .map_err(|e| ApiError::from_db(&e))?;
    audit_pin(&mut tx, &user, &venue_id, "staff_pin.set").await?;
    tx.commit().await.map_err(|e| ApiError::from_db(&e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/v1/me/staff-pin` `{venue_id}` → 204 (also when there was none). Who: the same as
/// [`set_pin`]'s callers.
async fn remove_pin(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let RemovePin { venue_id } = crate::http::error::json_body(&body)?;
    require(&caller, &Action::StaffAt(&venue_id))?;
    let user = caller.signed_in()?.id.clone();
    let mut tx = state
        .pool
        .begin()
        .await
        .map_err(|e| ApiError::from_db(&e))?;
    let removed = sqlx::query("DELETE FROM staff_pins WHERE user_id = $1 AND venue_id = $2")
        .bind(&user)
        .bind(&venue_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| ApiError::from_db(&e))?
        .rows_affected();
    if removed > 0 {
        audit_pin(&mut tx, &user, &venue_id, "staff_pin.remove").await?;
    }
    tx.commit().await.map_err(|e| ApiError::from_db(&e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn audit_pin(
    conn: &mut sqlx::PgConnection,
    user: &str,
    venue: &str,
    action: &str,
) -> Result<(), ApiError> {
    audit::record(
        conn,
        &Entry {
            actor: Some(user),
            action,
            resource: &format!("user:{user}"),
            venue: Some(venue),
            addr: None,
            detail: serde_json::json!({}),
        },
    )
    .await
    .map_err(|e| ApiError::from_db(&e))
}

/// `GET /api/v1/sync/staff` → [`StaffList`]. Who: a venue's key; it gets its own venue's staff
/// only (people's access tokens get 403).
async fn sync_staff(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let Caller::Venue(venue) = &caller else {
        require(&caller, &Action::VenueService(""))?;
        return Err(ApiError::Forbidden("this route takes a venue key".into()));
    };
    require(&caller, &Action::VenueService(venue))?;
    let staff = staff_of(&state.pool, venue)
        .await
        .map_err(|e| ApiError::from_db(&e))?;
    Ok(axum::Json(staff).into_response())
}

/// The staff of `venue` who set a PIN there, by name, with the list's version.
///
/// # Errors
///
/// PostgreSQL.
pub async fn staff_of(pool: &PgPool, venue: &str) -> Result<StaffList, sqlx::Error> {
    let rows: Vec<(String, String, Vec<String>, String)> = sqlx::query_as(
        "SELECT u.id, u.display_name, array_agg(DISTINCT r.role ORDER BY r.role), p.pin_hash
           FROM staff_pins p
           JOIN users u ON u.id = p.user_id AND u.deleted_at IS NULL
           JOIN user_roles r ON r.user_id = p.user_id AND r.venue_id = p.venue_id
                            AND r.role IN ('venue_manager', 'organiser')
          WHERE p.venue_id = $1
          GROUP BY u.id, u.display_name, p.pin_hash
          ORDER BY u.display_name, u.id",
    )
    .bind(venue)
    .fetch_all(pool)
    .await?;
    let staff: Vec<StaffMember> = rows
        .into_iter()
        .map(|(id, display_name, roles, pin_hash)| StaffMember {
            id,
            display_name,
            roles,
            pin_hash,
        })
        .collect();
    Ok(StaffList {
        version: version_of(&staff),
        staff,
    })
}

/// A digest of the list: it changes whenever anyone's name, roles or PIN does.
fn version_of(staff: &[StaffMember]) -> String {
    let text = serde_json::to_string(staff).unwrap_or_default();
    let digest = Sha256::digest(text.as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::pin_problem;

    #[test]
    fn weak_and_malformed_pins_are_refused() {
        for bad in [
            "",
            "12345",
            "1234567890123",
            "12a456",
            " 482913",
            "000000",
            "123456",
            "654321",
            "012345",
            "121212",
            "123123",
            "11221122",
            "112233",
            "99999999",
        ] {
            assert!(pin_problem(bad).is_some(), "{bad:?} refused");
        }
        for good in ["482913", "730519", "90817263", "583920174655"] {
            assert_eq!(pin_problem(good), None, "{good:?} accepted");
        }
    }
}
