//! Check-ins: "I am at this venue", said from the player's own account (phone or portal). A
//! check-in makes the results of the matches the venue starts there count for the player, from
//! [`LEAD_IN`] before it (a match often starts before anyone opens the app) until [`COVERS`]
//! after it, or until the player ends it. Checking in again at the same venue while a check-in
//! runs renews that one; at most [`MAX_ACTIVE`] run at once.

use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;

use super::ConfirmError;

/// How long before the check-in a match may have started and still be covered.
pub const LEAD_IN: Duration = Duration::from_secs(30 * 60);
/// How long a check-in covers matches after it is made.
pub const COVERS: Duration = Duration::from_secs(12 * 3600);
/// Check-ins running at once per account (one per venue: a renewal is not a new one).
pub const MAX_ACTIVE: i64 = 5;
/// Check-ins listed (newest first).
const LISTED: i64 = 50;

/// A check-in as the API shows it.
const CHECKIN: &str = "jsonb_build_object('id', k.id, 'venue_id', k.venue_id, 'venue_name', v.name,
    'checked_in_ms', (extract(epoch FROM k.checked_in_at) * 1000)::int8,
    'covers_from_ms', (extract(epoch FROM k.covers_from) * 1000)::int8,
    'ends_ms', (extract(epoch FROM k.ends_at) * 1000)::int8,
    'active', k.ends_at > now())";

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Checks `user` in at `venue`. Returns the check-in and whether it is new (else renewed).
///
/// # Errors
///
/// [`ConfirmError::NotFound`] for an unknown venue, [`ConfirmError::BadRequest`] when
/// [`MAX_ACTIVE`] check-ins already run elsewhere.
pub async fn check_in(
    pool: &PgPool,
    user: &str,
    venue: &str,
) -> Result<(Value, bool), ConfirmError> {
    if !crate::venues::exists(pool, venue).await? {
        return Err(ConfirmError::NotFound("venue"));
    }
    let mut tx = pool.begin().await?;
    // One account's check-ins are made one at a time (the cap holds under concurrent requests).
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(user)
        .execute(&mut *tx)
        .await?;
    let renewed: Option<Value> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "WITH k AS (UPDATE checkins SET ends_at = now() + make_interval(secs => $3)
                    WHERE id = (SELECT id FROM checkins WHERE user_id = $1 AND venue_id = $2
                                AND ends_at > now() ORDER BY id DESC LIMIT 1)
                    RETURNING *)
         SELECT {CHECKIN} FROM k JOIN venues v ON v.id = k.venue_id"
    )))
    .bind(user)
    .bind(venue)
    .bind(secs(COVERS))
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(checkin) = renewed {
        tx.commit().await?;
        return Ok((checkin, false));
    }
    let active: i64 =
        sqlx::query_scalar("SELECT count(*) FROM checkins WHERE user_id = $1 AND ends_at > now()")
            .bind(user)
            .fetch_one(&mut *tx)
            .await?;
    if active >= MAX_ACTIVE {
        return Err(ConfirmError::BadRequest(format!(
            "at most {MAX_ACTIVE} check-ins run at once; end one first"
        )));
    }
    let checkin: Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "WITH k AS (INSERT INTO checkins (user_id, venue_id, covers_from, ends_at)
                    VALUES ($1, $2, now() - make_interval(secs => $3),
                            now() + make_interval(secs => $4))
                    RETURNING *)
         SELECT {CHECKIN} FROM k JOIN venues v ON v.id = k.venue_id"
    )))
    .bind(user)
    .bind(venue)
    .bind(secs(LEAD_IN))
    .bind(secs(COVERS))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((checkin, true))
}

/// `user`'s check-ins, newest first.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn list(pool: &PgPool, user: &str) -> Result<Value, ConfirmError> {
    let rows: Vec<Value> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {CHECKIN} FROM checkins k JOIN venues v ON v.id = k.venue_id
         WHERE k.user_id = $1 ORDER BY k.id DESC LIMIT $2"
    )))
    .bind(user)
    .bind(LISTED)
    .fetch_all(pool)
    .await?;
    Ok(serde_json::json!({ "checkins": rows }))
}

/// Ends `user`'s check-in `id` now (matches started after now are no longer covered; those it
/// covered stay covered). Returns it and its venue.
///
/// # Errors
///
/// [`ConfirmError::NotFound`] for a check-in that is not the caller's.
pub async fn end(pool: &PgPool, user: &str, id: &str) -> Result<(Value, String), ConfirmError> {
    let Ok(id) = id.parse::<i64>() else {
        return Err(ConfirmError::NotFound("check-in"));
    };
    let ended: Option<(Value, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH k AS (UPDATE checkins SET ends_at = GREATEST(covers_from, LEAST(ends_at, now()))
                    WHERE id = $1 AND user_id = $2 RETURNING *)
         SELECT {CHECKIN}, k.venue_id FROM k JOIN venues v ON v.id = k.venue_id"
    )))
    .bind(id)
    .bind(user)
    .fetch_optional(pool)
    .await?;
    ended.ok_or(ConfirmError::NotFound("check-in"))
}
