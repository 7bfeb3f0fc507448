//! Administration: enrolling venues and keeping the registered players. The CLI calls these, and so
//! do tests (`cloud_sync::admin::create_venue(&pool, "…")`). Every player change is written with its
//! change-log entry in one transaction, so venues can never miss one.

use rand::RngCore as _;
use shared::sync::Player;
use sqlx::PgPool;

use crate::keys;
pub use crate::players::compact_player_log;

/// A venue's id (32 hex characters, a valid `shared` id).
pub type VenueId = String;

/// An administration step failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// PostgreSQL refused or is unreachable.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A name that is empty or too long.
    #[error("a name must be 1-100 characters")]
    Name,
}

/// A new random id: 128 bits as hex.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_name(name: &str) -> Result<(), AdminError> {
    let len = name.trim().chars().count();
    if len == 0 || len > 100 {
        return Err(AdminError::Name);
    }
    Ok(())
}

/// Enrolls a venue: its id and its key. The key is returned only here; PostgreSQL keeps its hash.
///
/// # Errors
///
/// [`AdminError`].
pub async fn create_venue(pool: &PgPool, name: &str) -> Result<(VenueId, String), AdminError> {
    check_name(name)?;
    let id = new_id();
    let key = keys::generate();
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO venues (id, name) VALUES ($1, $2)")
        .bind(&id)
        .bind(name.trim())
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO venue_keys (key_hash, venue_id) VALUES ($1, $2)")
        .bind(keys::hash(&key))
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((id, key))
}

/// Issues another key for an existing venue (rotation: give the edge the new key, then revoke the
/// old one). `None` when there is no such venue.
///
/// # Errors
///
/// [`AdminError`].
pub async fn add_venue_key(pool: &PgPool, venue: &str) -> Result<Option<String>, AdminError> {
    let key = keys::generate();
    let added = sqlx::query(
        "INSERT INTO venue_keys (key_hash, venue_id) SELECT $1, id FROM venues WHERE id = $2",
    )
    .bind(keys::hash(&key))
    .bind(venue)
    .execute(pool)
    .await?
    .rows_affected();
    Ok((added == 1).then_some(key))
}

/// Revokes a key (effective on the next request: nothing caches keys). `false` when it was not a
/// valid key.
///
/// # Errors
///
/// [`AdminError`].
pub async fn revoke_venue_key(pool: &PgPool, key: &str) -> Result<bool, AdminError> {
    let revoked = sqlx::query("DELETE FROM venue_keys WHERE key_hash = $1")
        .bind(keys::hash(key))
        .execute(pool)
        .await?
        .rows_affected();
    Ok(revoked > 0)
}

/// Serializes change-log writers so versions become visible in order (see the migration).
const PLAYER_LOG_LOCK: i64 = 0x646f_6a6f_706c_6f67;

/// Registers a player; venues get it through the change log.
///
/// # Errors
///
/// [`AdminError`].
pub async fn create_player(
    pool: &PgPool,
    name: &str,
    rating: Option<i32>,
) -> Result<Player, AdminError> {
    check_name(name)?;
    let player = Player {
        id: new_id(),
        name: name.trim().to_owned(),
        rating,
    };
    let mut tx = pool.begin().await?;
    lock_player_log(&mut tx).await?;
    sqlx::query("INSERT INTO players (id, name, rating) VALUES ($1, $2, $3)")
        .bind(&player.id)
        .bind(&player.name)
        .bind(player.rating)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO player_changes (op, player_id, name, rating) VALUES ('upsert', $1, $2, $3)",
    )
    .bind(&player.id)
    .bind(&player.name)
    .bind(player.rating)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(player)
}

/// Removes a registered player; `false` when there was none with that id.
///
/// # Errors
///
/// [`AdminError`].
pub async fn delete_player(pool: &PgPool, id: &str) -> Result<bool, AdminError> {
    let mut tx = pool.begin().await?;
    lock_player_log(&mut tx).await?;
    let deleted = sqlx::query("DELETE FROM players WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Ok(false);
    }
    sqlx::query("INSERT INTO player_changes (op, player_id) VALUES ('delete', $1)")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

pub(crate) async fn lock_player_log(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(PLAYER_LOG_LOCK)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
