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

/// Which entries to read: each filter is optional; `venue: Some` reads one venue's entries.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Entries by this user.
    pub actor: Option<String>,
    /// Entries of this action (`role.grant`) or, ending in `.`, this family (`role.`).
    pub action: Option<String>,
    /// Entries about this resource (`user:<id>`).
    pub resource: Option<String>,
    /// Entries of this venue.
    pub venue: Option<String>,
    /// Entries older than this id (the previous page's `next`).
    pub before: Option<i64>,
    /// Entries per page.
    pub limit: i64,
}

/// A page of entries, newest first: `{"entries": [...], "next": id | null}`.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn list(pool: &sqlx::PgPool, filter: &Filter) -> Result<Value, sqlx::Error> {
    let action_prefix = filter
        .action
        .as_deref()
        .filter(|a| a.ends_with('.'))
        .map(|a| {
            format!(
                "{}%",
                a.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        });
    let rows: Vec<(i64, Value)> = sqlx::query_as(
        "SELECT id, jsonb_build_object('id', id,
                'at_ms', (extract(epoch FROM at) * 1000)::int8, 'actor_id', actor_id,
                'action', action, 'resource', resource, 'venue_id', venue_id, 'addr', addr,
                'detail', detail)
         FROM audit_log
         WHERE ($1::text IS NULL OR actor_id = $1)
           AND ($2::text IS NULL OR action = $2 OR action LIKE $3)
           AND ($4::text IS NULL OR resource = $4)
           AND ($5::text IS NULL OR venue_id = $5)
           AND ($6::int8 IS NULL OR id < $6)
         ORDER BY id DESC LIMIT $7",
    )
    .bind(filter.actor.as_deref())
    .bind(filter.action.as_deref())
    .bind(action_prefix.as_deref())
    .bind(filter.resource.as_deref())
    .bind(filter.venue.as_deref())
    .bind(filter.before)
    .bind(filter.limit + 1)
    .fetch_all(pool)
    .await?;
    let more = rows.len() as i64 > filter.limit;
    let entries: Vec<(i64, Value)> = rows
        .into_iter()
        .take(usize::try_from(filter.limit).unwrap_or(0))
        .collect();
    let next = if more {
        entries.last().map(|(id, _)| *id)
    } else {
        None
    };
    let entries: Vec<Value> = entries.into_iter().map(|(_, v)| v).collect();
    Ok(serde_json::json!({ "entries": entries, "next": next }))
}
