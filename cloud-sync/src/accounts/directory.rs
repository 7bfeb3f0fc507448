//! The administrators' view of accounts: search users by email or name (paged), one user with
//! their roles and player. Read-only; granting is [`super::roles`].

use serde_json::Value;
use sqlx::PgPool;

/// One user as administrators see them (a constant: the only text formatted into a query here).
const USER: &str = "jsonb_build_object('id', u.id, 'email', u.email,
        'display_name', u.display_name, 'email_verified', u.email_verified_at IS NOT NULL,
        'player_id', u.player_id, 'created_ms', (extract(epoch FROM u.created_at) * 1000)::int8,
        'deleted', u.deleted_at IS NOT NULL,
        'roles', COALESCE((SELECT jsonb_agg(jsonb_build_object('role', r.role,
                 'venue_id', r.venue_id) ORDER BY r.role, r.venue_id)
                 FROM user_roles r WHERE r.user_id = u.id), '[]'))";

/// `q` as a `LIKE` pattern matching it anywhere, its wildcards escaped.
pub fn contains_pattern(q: &str) -> String {
    let escaped = q
        .trim()
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Users whose email or display name contains `q` (all without), by id after `after`:
/// `{"users": [...], "next": id | null}`.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn search(
    pool: &PgPool,
    q: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Value, sqlx::Error> {
    let pattern = q.filter(|q| !q.trim().is_empty()).map(contains_pattern);
    let rows: Vec<(String, Value)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT u.id, {USER} FROM users u
         WHERE ($1::text IS NULL OR u.email_key LIKE $1 OR lower(u.display_name) LIKE $1)
           AND ($2::text IS NULL OR u.id > $2)
         ORDER BY u.id LIMIT $3"
    )))
    .bind(pattern.as_deref())
    .bind(after)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let more = rows.len() as i64 > limit;
    let users: Vec<(String, Value)> = rows
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(0))
        .collect();
    let next = if more {
        users.last().map(|(id, _)| id.clone())
    } else {
        None
    };
    let users: Vec<Value> = users.into_iter().map(|(_, v)| v).collect();
    Ok(serde_json::json!({ "users": users, "next": next }))
}

/// One user, if any.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn user(pool: &PgPool, id: &str) -> Result<Option<Value>, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {USER} FROM users u WHERE u.id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_escaped() {
        assert_eq!(contains_pattern(" Ann "), "%ann%");
        assert_eq!(contains_pattern("100%_x"), "%100\\%\\_x%");
    }
}
