//! The audit log of privileged actions: who, what, which resource, when, from where. Append-only
//! (the table refuses updates and deletes). Written in the transaction of the action it records,
//! so an action and its entry commit together.

use serde_json::Value;

/// One entry.
#[derive(Clone, Debug)]
pub struct Entry<'a> {
    /// The user who acted (`None`: the CLI or the system).
    pub actor: Option<&'a str>,
    /// What was done, e.g. `role.grant`, `player.merge`, `user.create_admin`.
    pub action: &'a str,
    /// What it was done to, e.g. `user:<id>`, `player:<id>`.
    pub resource: &'a str,
    /// The venue concerned, if any (its managers may read the entry).
    pub venue: Option<&'a str>,
    /// The client address, if over HTTP.
    pub addr: Option<String>,
    /// Anything else worth keeping (never a secret).
    pub detail: Value,
}

/// Appends `entry`.
///
/// # Errors
///
/// PostgreSQL.
pub async fn record(conn: &mut sqlx::PgConnection, entry: &Entry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (actor_id, action, resource, venue_id, addr, detail)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(entry.actor)
    .bind(entry.action)
    .bind(entry.resource)
    .bind(entry.venue)
    .bind(entry.addr.as_deref())
    .bind(&entry.detail)
    .execute(conn)
    .await?;
    Ok(())
}
