//! Results a venue may report (issue 17, decision 0021). Any venue key can name any registered
//! player in a match (player ids are public), so a result counts for a registered player's record
//! and statistics only when the player took part knowingly:
//!
//! - [`checkins`]: the player checked in at that venue from their own account (phone or portal);
//!   a check-in covers the matches the venue started there from [`checkins::LEAD_IN`] before it
//!   until [`checkins::COVERS`] after it (or until the player ends it);
//! - [`results`]: the player confirmed the result afterwards — or disputed it, which keeps it out
//!   whatever else holds; the venue's managers read their venue's disputes;
//! - [`trust`]: the player trusts that venue's reports.
//!
//! Anything else is kept, shown to the player as unconfirmed and left out of public statistics;
//! publicly the match stays listed with that seat's name and id withheld. A profile no account
//! holds counts as the venue reported it (nobody could confirm it), and so do results recorded
//! before an account took its profile: claiming changes nothing public, and the player can then
//! dispute what they never played.
//!
//! The state of a (match, player) is never stored: the SQL function `result_status` (migration
//! 0010, the one statement of the rules) computes it from this context's tables whenever a read
//! asks, and the `reads` context's queries call `result_counts`, `public_players` and
//! `public_player_ids`. So the matches projection and its exactly-once cursors are untouched, and a
//! change here changes every read at once; the routes bump the cache generations of the player and
//! the venue after their commit ([`crate::infra::cache::invalidate`]).

pub mod checkins;
pub mod http;
pub mod results;
pub mod trust;

use sqlx::PgPool;

/// What this context refuses.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// No such venue, check-in or result of the caller's (404).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// A malformed request (400).
    #[error("{0}")]
    BadRequest(String),
    /// PostgreSQL's.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// The registered player the account `user` is (`users.player_id`), if any.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn player_of(pool: &PgPool, user: &str) -> Result<Option<String>, sqlx::Error> {
    let found: Option<Option<String>> =
        sqlx::query_scalar("SELECT player_id FROM users WHERE id = $1 AND deleted_at IS NULL")
            .bind(user)
            .fetch_optional(pool)
            .await?;
    Ok(found.flatten())
}

/// Moves the player `from`'s words on results (confirmations, disputes) to `into`, in the
/// transaction that merges the two profiles (the `roles` context's merge calls it); where both
/// spoke on the same match, `into`'s word stands.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn merge_players(
    conn: &mut sqlx::PgConnection,
    from: &str,
    into: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO result_confirmations (match_id, player_id, state, reason, user_id, at)
         SELECT match_id, $2, state, reason, user_id, at FROM result_confirmations
         WHERE player_id = $1
         ON CONFLICT (match_id, player_id) DO NOTHING",
    )
    .bind(from)
    .bind(into)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM result_confirmations WHERE player_id = $1")
        .bind(from)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Checks a venue id from outside (a path or a body): non-empty, at most 64 characters. Says
/// nothing about whether it exists.
///
/// # Errors
///
/// [`ConfirmError::BadRequest`].
pub fn venue_id(raw: &str) -> Result<&str, ConfirmError> {
    let id = raw.trim();
    if id.is_empty() || id.chars().count() > 64 {
        return Err(ConfirmError::BadRequest(
            "venue_id must be 1 to 64 characters".into(),
        ));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venue_ids_are_checked() {
        assert_eq!(venue_id(" v1 ").ok(), Some("v1"));
        assert!(venue_id("").is_err());
        assert!(venue_id(&"x".repeat(65)).is_err());
    }
}
