//! Venues: enrollment and their keys (the `venues` and `venue_keys` tables; nothing else writes
//! them). The CLI calls these, and so do tests (`cloud_sync::venues::create_venue(&pool, "…")`).
//! Requests are authenticated by [`keys::venue_of`] (through `crate::http::auth`); rotation is
//! [`add_venue_key`] then [`revoke_venue_key`]; a venue's managers list, add and revoke keys by id
//! ([`list_keys`], [`add_key_in`], [`revoke_key_in`]).
//!
//! Why keys live here and not with sync: a key belongs to a venue (enrollment makes both in one
//! transaction), and the HTTP layer's authentication calls it, so it must not depend on a context
//! with routes.

pub mod keys;

use sqlx::PgPool;

use crate::infra::ids;

/// A venue's id (32 hex characters, a valid `shared` id).
pub type VenueId = String;

/// Enrolling a venue or changing its keys failed.
#[derive(Debug, thiserror::Error)]
pub enum VenueError {
    /// PostgreSQL refused or is unreachable.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A name that is empty or too long.
    #[error("a name must be 1-100 characters")]
    Name,
}

/// Enrolls a venue: its id and its key. The key is returned only here; PostgreSQL keeps its hash.
///
/// # Errors
///
/// [`VenueError`].
pub async fn create_venue(pool: &PgPool, name: &str) -> Result<(VenueId, String), VenueError> {
    if !ids::valid_name(name) {
        return Err(VenueError::Name);
    }
    let id = ids::new_id();
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

/// Whether `venue` is enrolled.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn exists(pool: &PgPool, venue: &str) -> Result<bool, sqlx::Error> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM venues WHERE id = $1")
        .bind(venue)
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

/// Issues another key for an existing venue (rotation: give the edge the new key, then revoke the
/// old one). `None` when there is no such venue.
///
/// # Errors
///
/// [`VenueError`].
pub async fn add_venue_key(pool: &PgPool, venue: &str) -> Result<Option<String>, VenueError> {
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
/// [`VenueError`].
pub async fn revoke_venue_key(pool: &PgPool, key: &str) -> Result<bool, VenueError> {
    let revoked = sqlx::query("DELETE FROM venue_keys WHERE key_hash = $1")
        .bind(keys::hash(key))
        .execute(pool)
        .await?
        .rows_affected();
    Ok(revoked > 0)
}

/// A venue key as its managers see it: its id and when it was made (never the key or its hash).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KeyInfo {
    /// The key's id.
    pub id: i64,
    /// When it was issued, Unix ms.
    pub created_ms: i64,
}

/// The keys of `venue`, oldest first.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn list_keys(pool: &PgPool, venue: &str) -> Result<Vec<KeyInfo>, sqlx::Error> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, (extract(epoch FROM created_at) * 1000)::int8 FROM venue_keys
         WHERE venue_id = $1 ORDER BY id",
    )
    .bind(venue)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, created_ms)| KeyInfo { id, created_ms })
        .collect())
}

/// Issues another key for `venue` in the caller's transaction (so an audit entry commits with
/// it): its id and the key (shown only now). `None` when there is no such venue.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn add_key_in(
    conn: &mut sqlx::PgConnection,
    venue: &str,
) -> Result<Option<(KeyInfo, String)>, sqlx::Error> {
    let key = keys::generate();
    let row: Option<(i64, i64)> = sqlx::query_as(
        "INSERT INTO venue_keys (key_hash, venue_id) SELECT $1, id FROM venues WHERE id = $2
         RETURNING id, (extract(epoch FROM created_at) * 1000)::int8",
    )
    .bind(keys::hash(&key))
    .bind(venue)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(id, created_ms)| (KeyInfo { id, created_ms }, key)))
}

/// Revokes `venue`'s key `id` in the caller's transaction; `false` when the venue has no such key.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn revoke_key_in(
    conn: &mut sqlx::PgConnection,
    venue: &str,
    id: i64,
) -> Result<bool, sqlx::Error> {
    let revoked = sqlx::query("DELETE FROM venue_keys WHERE venue_id = $1 AND id = $2")
        .bind(venue)
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(revoked > 0)
}
