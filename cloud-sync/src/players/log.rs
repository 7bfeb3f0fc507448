//! The registered-player change log venues pull (docs/sync.md, "Pull"): pages after a cursor, a
//! snapshot with the cursor it reflects, and compaction, which raises the floor below which a
//! cursor gets 410 and the venue takes a snapshot instead.

use shared::sync::{Player, PlayerChange, PlayerChanges, PlayerSnapshot};
use sqlx::{PgPool, Row as _};

use super::lock_player_log;

/// Most changes in one page.
pub const MAX_PAGE: u64 = 1000;

/// A page could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PlayersError {
    /// The cursor is below the compaction floor: take a snapshot.
    #[error("cursor too old")]
    CursorTooOld,
    /// PostgreSQL's.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The changes after `cursor`, at most `limit` (1..=[`MAX_PAGE`]).
///
/// # Errors
///
/// [`PlayersError::CursorTooOld`] below the floor.
pub async fn changes(
    pool: &PgPool,
    cursor: u64,
    limit: u64,
) -> Result<PlayerChanges, PlayersError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let cursor_i = i64::try_from(cursor).unwrap_or(i64::MAX);
    let mut tx = pool.begin().await?;
    // One snapshot for the floor and the page, so a compaction in between cannot slip through.
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let (floor, newest): (i64, i64) = sqlx::query_as(
        "SELECT floor, GREATEST(floor, (SELECT COALESCE(max(version), 0) FROM player_changes))
         FROM player_log",
    )
    .fetch_one(&mut *tx)
    .await?;
    // Below the floor the log no longer has what the venue missed. Above the newest version the
    // venue saw a log this database does not have (restored from a backup): either way the
    // venue's copy cannot be brought up to date change by change, so it takes a snapshot.
    if cursor_i < floor || cursor_i > newest {
        return Err(PlayersError::CursorTooOld);
    }
    let rows = sqlx::query(
        "SELECT version, op, player_id, name, rating FROM player_changes
         WHERE version > $1 ORDER BY version LIMIT $2",
    )
    .bind(cursor_i)
    .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let more = rows.len() as u64 > limit;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows
        .iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
    {
        let version = to_u64(row.try_get("version")?);
        let id: String = row.try_get("player_id")?;
        let op: String = row.try_get("op")?;
        out.push(if op == "delete" {
            PlayerChange::Delete { version, id }
        } else {
            PlayerChange::Upsert {
                version,
                player: Player {
                    id,
                    name: row
                        .try_get::<Option<String>, _>("name")?
                        .unwrap_or_default(),
                    rating: row.try_get("rating")?,
                },
            }
        });
    }
    let next = out.last().map_or(cursor, PlayerChange::version);
    Ok(PlayerChanges {
        changes: out,
        cursor: next,
        more,
    })
}

/// Every registered player and the log version they reflect.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn snapshot(pool: &PgPool) -> Result<PlayerSnapshot, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let cursor: i64 = sqlx::query_scalar(
        "SELECT GREATEST((SELECT COALESCE(max(version), 0) FROM player_changes),
                         (SELECT floor FROM player_log))",
    )
    .fetch_one(&mut *tx)
    .await?;
    let rows = sqlx::query("SELECT id, name, rating FROM players ORDER BY id")
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let players = rows
        .iter()
        .map(|row| {
            Ok(Player {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                rating: row.try_get("rating")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(PlayerSnapshot {
        players,
        cursor: to_u64(cursor),
    })
}

/// Drops every change up to the newest version and raises the floor there: a venue whose cursor is
/// older now gets 410 and takes a snapshot. Returns the new floor.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn compact_player_log(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    lock_player_log(&mut tx).await?;
    let floor: i64 = sqlx::query_scalar(
        "UPDATE player_log SET floor = GREATEST(floor,
            (SELECT COALESCE(max(version), 0) FROM player_changes)) RETURNING floor",
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM player_changes WHERE version <= $1")
        .bind(floor)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(to_u64(floor))
}
