//! Registered players: the `players` table and its change log (`player_changes`, `player_log`),
//! which venues pull (docs/sync.md, "Pull"). Every change is written with its log entry in one
//! transaction, under an advisory lock so versions become visible in order, so venues can never
//! miss one. Nothing else writes these tables.
//!
//! - here: registering and removing players (the CLI and tests call these);
//! - [`log`]: the change log's pages, the snapshot, compaction;
//! - [`http`]: `GET /api/v1/sync/players` and `…/snapshot` for venues;
//! - [`profiles`]: a player profile and its person: claims, gifts, merges, privacy;
//! - [`profiles_http`]: `/api/v1/me/player`, `/api/v1/me/privacy` and the claims and merge routes.

pub mod http;
pub mod log;
pub mod profiles;
pub mod profiles_http;

use shared::sync::Player;
use sqlx::PgPool;

pub use self::log::{PlayersError, changes, compact_player_log, snapshot};
use crate::infra::ids;

/// Registering or removing a player failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// PostgreSQL refused or is unreachable.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A name that is empty or too long.
    #[error("a name must be 1-100 characters")]
    Name,
}

/// Serializes change-log writers so versions become visible in order (see the migration).
const PLAYER_LOG_LOCK: i64 = 0x646f_6a6f_706c_6f67;

/// Registers a player; venues get it through the change log.
///
/// # Errors
///
/// [`RegisterError`].
pub async fn create_player(
    pool: &PgPool,
    name: &str,
    rating: Option<i32>,
) -> Result<Player, RegisterError> {
    if !ids::valid_name(name) {
        return Err(RegisterError::Name);
    }
    let mut tx = pool.begin().await?;
    lock_player_log(&mut tx).await?;
    let player = insert_player(&mut tx, name, rating).await?;
    tx.commit().await?;
    Ok(player)
}

/// Registers a player inside `tx` (which holds the change-log lock: [`lock_player_log`]), with
/// its log entry; for callers that link it to something in the same transaction.
///
/// # Errors
///
/// [`RegisterError`].
pub(crate) async fn insert_player(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    name: &str,
    rating: Option<i32>,
) -> Result<Player, RegisterError> {
    if !ids::valid_name(name) {
        return Err(RegisterError::Name);
    }
    let player = Player {
        id: ids::new_id(),
        name: name.trim().to_owned(),
        rating,
    };
    sqlx::query("INSERT INTO players (id, name, rating) VALUES ($1, $2, $3)")
        .bind(&player.id)
        .bind(&player.name)
        .bind(player.rating)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO player_changes (op, player_id, name, rating) VALUES ('upsert', $1, $2, $3)",
    )
    .bind(&player.id)
    .bind(&player.name)
    .bind(player.rating)
    .execute(&mut **tx)
    .await?;
    Ok(player)
}

/// Removes a registered player inside `tx` (holding the change-log lock), with its log entry;
/// `false` when there was none.
///
/// # Errors
///
/// PostgreSQL's.
pub(crate) async fn remove_player(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: &str,
) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM players WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Ok(false);
    }
    sqlx::query("INSERT INTO player_changes (op, player_id) VALUES ('delete', $1)")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

/// What a deleted account's player profile is called from then on.
pub const ANONYMOUS_NAME: &str = "Deleted player";

/// Anonymises a registered player (its owner deleted their account): renamed
/// [`ANONYMOUS_NAME`], private, its rating kept; venues get the new name through the change log.
/// The results stay, as results of that (now nameless) profile.
///
/// # Errors
///
/// PostgreSQL's.
pub(crate) async fn anonymise_player(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: &str,
) -> Result<(), sqlx::Error> {
    lock_player_log(tx).await?;
    let rating: Option<Option<i32>> = sqlx::query_scalar(
        "UPDATE players SET name = $2, public = false WHERE id = $1 RETURNING rating",
    )
    .bind(id)
    .bind(ANONYMOUS_NAME)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(rating) = rating {
        sqlx::query(
            "INSERT INTO player_changes (op, player_id, name, rating) VALUES ('upsert', $1, $2, $3)",
        )
        .bind(id)
        .bind(ANONYMOUS_NAME)
        .bind(rating)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Removes a registered player; `false` when there was none with that id.
///
/// # Errors
///
/// [`RegisterError`].
pub async fn delete_player(pool: &PgPool, id: &str) -> Result<bool, RegisterError> {
    let mut tx = pool.begin().await?;
    lock_player_log(&mut tx).await?;
    let deleted = remove_player(&mut tx, id).await?;
    tx.commit().await?;
    Ok(deleted)
}

/// Takes the change-log writers' lock for the rest of `tx`.
pub(crate) async fn lock_player_log(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(PLAYER_LOG_LOCK)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
