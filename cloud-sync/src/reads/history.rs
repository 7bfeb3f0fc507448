//! A player's history in the read model (`match_player_stats`, `matches.player_ids`), for the
//! contexts that act on a whole profile: where a player played (claims are approved by those
//! venues' managers), which cached answers show them (a privacy change or a merge invalidates
//! them), and moving a history from one profile to another (a merge). The read model's tables are
//! written only here and by the projection.

use crate::infra::cache::Scope;

/// The venues where `player` played.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn venues_of_player(
    conn: impl sqlx::PgExecutor<'_>,
    player: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT m.venue_id FROM match_player_stats s JOIN matches m ON m.id = s.match_id
         WHERE s.player_id = $1 ORDER BY m.venue_id",
    )
    .bind(player)
    .fetch_all(conn)
    .await
}

/// Every cache scope whose answers show `player`: theirs, the venues where they played, and the
/// registered players they played against.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn cache_scopes(pool: &sqlx::PgPool, player: &str) -> Result<Vec<Scope>, sqlx::Error> {
    let mut scopes = vec![Scope::Player(player.to_owned())];
    scopes.extend(
        venues_of_player(pool, player)
            .await?
            .into_iter()
            .map(Scope::Venue),
    );
    let opponents: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT o.player_id FROM match_player_stats s
         JOIN match_player_stats o ON o.match_id = s.match_id AND o.seat <> s.seat
         WHERE s.player_id = $1 AND o.player_id IS NOT NULL AND o.player_id <> $1",
    )
    .bind(player)
    .fetch_all(pool)
    .await?;
    scopes.extend(opponents.into_iter().map(Scope::Player));
    Ok(scopes)
}

/// Moves `from`'s history to `into` (a merge of two profiles): every seat and every match that
/// named `from` names `into`. Returns how many seats moved.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn merge_player(
    conn: &mut sqlx::PgConnection,
    from: &str,
    into: &str,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE matches SET player_ids = array_replace(player_ids, $1, $2), updated_at = now()
         WHERE id IN (SELECT match_id FROM match_player_stats WHERE player_id = $1)
            OR $1 = ANY(player_ids)",
    )
    .bind(from)
    .bind(into)
    .execute(&mut *conn)
    .await?;
    let seats = sqlx::query("UPDATE match_player_stats SET player_id = $2 WHERE player_id = $1")
        .bind(from)
        .bind(into)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(seats)
}
