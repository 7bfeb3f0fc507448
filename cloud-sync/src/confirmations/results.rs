//! A player's results as venues reported them, with how each stands (`result_status`, migration
//! 0010), and the player's own word on one: confirm (it counts) or dispute with a reason (it stays
//! out, whatever else holds). The latest word stands. The venue's managers are told of a dispute
//! (a notification, in the dispute's transaction) and read their venue's disputes.

use serde_json::{Value, json};
use sqlx::PgPool;

use super::ConfirmError;
use crate::notifications::Kind;

/// Longest dispute reason, in characters.
pub const MAX_REASON: usize = 500;
/// Rows per page of results unless `limit` says otherwise, and the most.
pub const DEFAULT_LIMIT: i64 = 50;
/// Most rows per page.
pub const MAX_LIMIT: i64 = 200;

/// Which results a list shows (`?status=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Every result.
    All,
    /// Waiting for the player's word: left out of public statistics.
    Unconfirmed,
    /// Counting: confirmed, checked in, trusted venue, or reported before the profile was claimed.
    Confirmed,
    /// Disputed: left out.
    Disputed,
}

impl Filter {
    /// From `?status=`.
    ///
    /// # Errors
    ///
    /// [`ConfirmError::BadRequest`] for another word.
    pub fn parse(raw: Option<&str>) -> Result<Filter, ConfirmError> {
        match raw.map(str::trim) {
            None | Some("" | "all") => Ok(Filter::All),
            Some("unconfirmed") => Ok(Filter::Unconfirmed),
            Some("confirmed") => Ok(Filter::Confirmed),
            Some("disputed") => Ok(Filter::Disputed),
            Some(_) => Err(ConfirmError::BadRequest(
                "status must be unconfirmed, confirmed, disputed or all".into(),
            )),
        }
    }

    /// The `result_status` values it keeps.
    fn statuses(self) -> &'static [&'static str] {
        match self {
            Filter::All => &[
                "unconfirmed",
                "disputed",
                "confirmed",
                "checked_in",
                "trusted",
                "reported",
            ],
            Filter::Unconfirmed => &["unconfirmed"],
            Filter::Confirmed => &["confirmed", "checked_in", "trusted", "reported"],
            Filter::Disputed => &["disputed"],
        }
    }
}

/// Checks a dispute's reason: trimmed, 1..=[`MAX_REASON`] characters.
///
/// # Errors
///
/// [`ConfirmError::BadRequest`].
pub fn reason(raw: &str) -> Result<&str, ConfirmError> {
    let reason = raw.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(ConfirmError::BadRequest(format!(
            "reason must be 1 to {MAX_REASON} characters"
        )));
    }
    Ok(reason)
}

/// Checks `?after=` and `?limit=`.
///
/// # Errors
///
/// [`ConfirmError::BadRequest`].
pub fn page(after: Option<&str>, limit: Option<i64>) -> Result<(Option<i64>, i64), ConfirmError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ConfirmError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let after = match after.filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => Some(
            a.parse::<i64>()
                .map_err(|_| ConfirmError::BadRequest(format!("bad cursor {a:?}")))?,
        ),
    };
    Ok((after, limit))
}

/// `player`'s results, newest first, as the venue reported them (names included: the player sees
/// what was said about them), each with its `status` and the player's dispute reason.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn list(
    pool: &PgPool,
    player: &str,
    filter: Filter,
    after: Option<i64>,
    limit: i64,
) -> Result<Value, ConfirmError> {
    let rows: Vec<(i64, Value)> = sqlx::query_as(
        "SELECT m.id, jsonb_build_object(
                'match_id', m.id, 'venue_id', m.venue_id, 'venue_name', v.name,
                'venue_match_id', m.venue_match_id, 'table', m.table_id, 'game', m.game,
                'players', m.players, 'race_to', m.race_to, 'score', m.score,
                'winner', m.winner, 'finished', m.finished, 'voided', m.voided,
                'started_ms', m.started_ms, 'seat', s.seat,
                'won', m.finished AND NOT m.voided AND m.winner IS NOT DISTINCT FROM s.seat,
                'status', st.status, 'counts', st.status IN ('confirmed', 'checked_in',
                                                             'trusted', 'reported'),
                'reason', c.reason)
         FROM match_player_stats s
         JOIN matches m ON m.id = s.match_id
         JOIN venues v ON v.id = m.venue_id
         CROSS JOIN LATERAL (SELECT result_status(m, s.player_id) AS status) st
         LEFT JOIN result_confirmations c ON c.match_id = m.id AND c.player_id = s.player_id
         WHERE s.player_id = $1 AND ($2::int8 IS NULL OR m.id < $2)
           AND st.status = ANY($3::text[])
         ORDER BY m.id DESC LIMIT $4",
    )
    .bind(player)
    .bind(after)
    .bind(filter.statuses())
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let more = rows.len() as i64 > limit;
    let mut rows = rows;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next = if more {
        rows.last().map(|(id, _)| id.to_string())
    } else {
        None
    };
    let results: Vec<Value> = rows.into_iter().map(|(_, v)| v).collect();
    Ok(json!({ "player_id": player, "results": results, "next": next }))
}

/// What a word on a result changed: the answer, and the venue whose cached reads it touches.
#[derive(Debug)]
pub struct Said {
    /// `{match_id, status, reason}`.
    pub answer: Value,
    /// The match's venue.
    pub venue: String,
}

/// `player` (signed in as `user`) confirms (`reason: None`) or disputes the result of match `id`.
///
/// # Errors
///
/// [`ConfirmError::NotFound`] when the match is unknown or `player` did not play in it.
pub async fn say(
    pool: &PgPool,
    user: &str,
    player: &str,
    id: &str,
    reason: Option<&str>,
) -> Result<Said, ConfirmError> {
    let Ok(id) = id.parse::<i64>() else {
        return Err(ConfirmError::NotFound("result of yours"));
    };
    let mut tx = pool.begin().await?;
    let venue: Option<String> = sqlx::query_scalar(
        "SELECT m.venue_id FROM match_player_stats s JOIN matches m ON m.id = s.match_id
         WHERE s.match_id = $1 AND s.player_id = $2 LIMIT 1",
    )
    .bind(id)
    .bind(player)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(venue) = venue else {
        return Err(ConfirmError::NotFound("result of yours"));
    };
    let state = if reason.is_some() {
        "disputed"
    } else {
        "confirmed"
    };
    sqlx::query(
        "INSERT INTO result_confirmations (match_id, player_id, state, reason, user_id)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (match_id, player_id) DO UPDATE SET state = EXCLUDED.state,
            reason = EXCLUDED.reason, user_id = EXCLUDED.user_id, at = now()",
    )
    .bind(id)
    .bind(player)
    .bind(state)
    .bind(reason)
    .bind(user)
    .execute(&mut *tx)
    .await?;
    if let Some(reason) = reason {
        tell_managers(&mut tx, &venue, id, player, reason).await?;
    }
    let status: String =
        sqlx::query_scalar("SELECT result_status(m, $2) FROM matches m WHERE m.id = $1")
            .bind(id)
            .bind(player)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(Said {
        answer: json!({ "match_id": id, "status": status, "reason": reason }),
        venue,
    })
}

/// Tells `venue`'s managers (in the dispute's transaction) that `player` disputed match `id`.
async fn tell_managers(
    tx: &mut sqlx::PgConnection,
    venue: &str,
    id: i64,
    player: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let (managers, about): (Vec<String>, Value) = sqlx::query_as(
        "SELECT ARRAY(SELECT DISTINCT r.user_id FROM user_roles r
                      WHERE r.role = 'venue_manager' AND r.venue_id = m.venue_id
                      ORDER BY r.user_id),
                jsonb_build_object('venue_id', m.venue_id, 'venue_name', v.name,
                    'match_id', m.id, 'venue_match_id', m.venue_match_id, 'table', m.table_id,
                    'started_ms', m.started_ms, 'player_id', $2::text, 'player_name', p.name)
         FROM matches m JOIN venues v ON v.id = m.venue_id
         LEFT JOIN players p ON p.id = $2
         WHERE m.id = $1 AND m.venue_id = $3",
    )
    .bind(id)
    .bind(player)
    .bind(venue)
    .fetch_one(&mut *tx)
    .await?;
    let mut payload = about;
    payload["reason"] = json!(reason);
    for manager in managers {
        crate::notifications::notify(&mut *tx, &manager, Kind::ResultDisputed, &payload).await?;
    }
    Ok(())
}

/// The disputes of `venue`'s results, newest first (for its managers): which match, which seat
/// and registered player, why and when.
///
/// # Errors
///
/// [`ConfirmError::NotFound`] for an unknown venue.
pub async fn venue_disputes(
    pool: &PgPool,
    venue: &str,
    after: Option<i64>,
    limit: i64,
) -> Result<Value, ConfirmError> {
    if !crate::venues::exists(pool, venue).await? {
        return Err(ConfirmError::NotFound("venue"));
    }
    let rows: Vec<(i64, Value)> = sqlx::query_as(
        "SELECT m.id, jsonb_build_object(
                'match_id', m.id, 'venue_match_id', m.venue_match_id, 'table', m.table_id,
                'game', m.game, 'players', m.players, 'score', m.score, 'winner', m.winner,
                'started_ms', m.started_ms, 'seat', s.seat, 'player_id', c.player_id,
                'player_name', p.name, 'reason', c.reason,
                'disputed_ms', (extract(epoch FROM c.at) * 1000)::int8)
         FROM result_confirmations c
         JOIN matches m ON m.id = c.match_id
         LEFT JOIN match_player_stats s ON s.match_id = m.id AND s.player_id = c.player_id
         LEFT JOIN players p ON p.id = c.player_id
         WHERE m.venue_id = $1 AND c.state = 'disputed' AND ($2::int8 IS NULL OR m.id < $2)
         ORDER BY m.id DESC, c.player_id LIMIT $3",
    )
    .bind(venue)
    .bind(after)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let more = rows.len() as i64 > limit;
    let mut rows = rows;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next = if more {
        rows.last().map(|(id, _)| id.to_string())
    } else {
        None
    };
    let disputes: Vec<Value> = rows.into_iter().map(|(_, v)| v).collect();
    Ok(json!({ "disputes": disputes, "next": next }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_reasons_are_checked() {
        assert_eq!(Filter::parse(None).ok(), Some(Filter::All));
        assert_eq!(
            Filter::parse(Some("unconfirmed")).ok(),
            Some(Filter::Unconfirmed)
        );
        assert!(Filter::parse(Some("'; DROP TABLE users; --")).is_err());
        assert!(Filter::Confirmed.statuses().contains(&"trusted"));
        assert!(!Filter::Confirmed.statuses().contains(&"unconfirmed"));
        assert_eq!(reason("  never played  ").ok(), Some("never played"));
        assert!(reason("   ").is_err());
        assert!(reason(&"x".repeat(MAX_REASON + 1)).is_err());
        assert_eq!(page(None, None).ok(), Some((None, DEFAULT_LIMIT)));
        assert!(page(Some("x"), None).is_err());
        assert!(page(None, Some(0)).is_err());
    }
}
