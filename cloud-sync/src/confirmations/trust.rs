//! Trusted venues: a player's home hall, whose reports count without confirming each one. Trust
//! covers every result the venue reports for the player while it holds (a result the player
//! disputed stays out); taking it back takes those results out again unless confirmed one by one.

use serde_json::{Value, json};
use sqlx::PgPool;

use super::ConfirmError;

/// `user`'s trusted venues, by name.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn list(pool: &PgPool, user: &str) -> Result<Value, ConfirmError> {
    let rows: Vec<Value> = sqlx::query_scalar(
        "SELECT jsonb_build_object('venue_id', t.venue_id, 'venue_name', v.name,
                'trusted_ms', (extract(epoch FROM t.trusted_at) * 1000)::int8)
         FROM trusted_venues t JOIN venues v ON v.id = t.venue_id
         WHERE t.user_id = $1 ORDER BY v.name, t.venue_id",
    )
    .bind(user)
    .fetch_all(pool)
    .await?;
    Ok(json!({ "venues": rows }))
}

/// `user` trusts `venue` (again: nothing changes).
///
/// # Errors
///
/// [`ConfirmError::NotFound`] for an unknown venue.
pub async fn trust(pool: &PgPool, user: &str, venue: &str) -> Result<Value, ConfirmError> {
    let row: Option<Value> = sqlx::query_scalar(
        "WITH t AS (INSERT INTO trusted_venues (user_id, venue_id)
                    SELECT $1, v.id FROM venues v WHERE v.id = $2
                    ON CONFLICT (user_id, venue_id) DO UPDATE SET trusted_at = trusted_venues.trusted_at
                    RETURNING *)
         SELECT jsonb_build_object('venue_id', t.venue_id, 'venue_name', v.name,
                'trusted_ms', (extract(epoch FROM t.trusted_at) * 1000)::int8)
         FROM t JOIN venues v ON v.id = t.venue_id",
    )
    .bind(user)
    .bind(venue)
    .fetch_optional(pool)
    .await?;
    row.ok_or(ConfirmError::NotFound("venue"))
}

/// `user` no longer trusts `venue`. Returns whether they did.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn distrust(pool: &PgPool, user: &str, venue: &str) -> Result<bool, ConfirmError> {
    let done = sqlx::query("DELETE FROM trusted_venues WHERE user_id = $1 AND venue_id = $2")
        .bind(user)
        .bind(venue)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
