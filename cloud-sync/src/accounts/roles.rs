//! Granting and revoking roles (`user_roles`), and reading who holds what. A grant and its audit
//! entry and notification commit in one transaction; a revocation and its audit entry too. Who
//! may grant what is the policy's (`Action::GrantRole`), asked by the routes before calling here.
//!
//! Roles ride in access tokens, so a change reaches the user's requests at their next refresh
//! (within the access-token lifetime, 10 minutes): a revoked manager keeps their role until then.

use serde_json::{Value, json};
use sqlx::PgPool;

use super::audit::{self, Entry};
use super::policy::{Grant, Role};
use crate::notifications::{self, Kind};

/// A grant or revocation was refused.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    /// PostgreSQL.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A role and venue that do not go together, or a role that cannot be granted.
    #[error("{0}")]
    Shape(&'static str),
    /// No such (undeleted) user.
    #[error("no such user")]
    NoUser,
    /// No such venue.
    #[error("no such venue")]
    NoVenue,
    /// The user does not hold that role there.
    #[error("the user does not hold that role there")]
    NotHeld,
    /// Revoking the last administrator would leave nobody to grant roles.
    #[error("this is the last administrator; grant admin to someone else first")]
    LastAdmin,
}

/// One grant or revocation: who acts, on whom, what.
#[derive(Clone, Debug)]
pub struct Change<'a> {
    /// The user acting.
    pub actor: &'a str,
    /// The user whose roles change.
    pub user: &'a str,
    /// The grant.
    pub grant: &'a Grant,
    /// The client address.
    pub addr: Option<String>,
}

/// Whether `role` at `venue` is a grant that can exist.
///
/// # Errors
///
/// [`RoleError::Shape`] saying why not.
pub fn check_shape(role: Role, venue: Option<&str>) -> Result<(), RoleError> {
    match (role, venue) {
        (Role::Player, _) => Err(RoleError::Shape(
            "everyone is a player; grant venue_manager, organiser or admin",
        )),
        (Role::Admin, Some(_)) => Err(RoleError::Shape("admin is global: venue_id must be null")),
        (Role::VenueManager, None) => Err(RoleError::Shape("venue_manager needs a venue_id")),
        _ => Ok(()),
    }
}

async fn live_user(conn: &mut sqlx::PgConnection, user: &str) -> Result<(), RoleError> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE")
            .bind(user)
            .fetch_optional(conn)
            .await?;
    found.map(|_| ()).ok_or(RoleError::NoUser)
}

fn detail(grant: &Grant) -> Value {
    json!({ "role": grant.role.as_str(), "venue_id": grant.venue_id })
}

/// Grants `change.grant` to `change.user`: `true` when it is new (then audited and the user
/// notified), `false` when they held it already.
///
/// # Errors
///
/// [`RoleError`].
pub async fn grant(pool: &PgPool, change: &Change<'_>) -> Result<bool, RoleError> {
    let venue = change.grant.venue_id.as_deref();
    check_shape(change.grant.role, venue)?;
    if let Some(venue) = venue
        && !crate::venues::exists(pool, venue).await?
    {
        return Err(RoleError::NoVenue);
    }
    let mut tx = pool.begin().await?;
    live_user(&mut tx, change.user).await?;
    let added = sqlx::query(
        "INSERT INTO user_roles (user_id, role, venue_id, granted_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(change.user)
    .bind(change.grant.role.as_str())
    .bind(venue)
    .bind(change.actor)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if added == 0 {
        return Ok(false);
    }
    audit::record(
        &mut tx,
        &Entry {
            actor: Some(change.actor),
            action: "role.grant",
            resource: &format!("user:{}", change.user),
            venue,
            addr: change.addr.clone(),
            detail: detail(change.grant),
        },
    )
    .await?;
    notifications::notify(
        &mut tx,
        change.user,
        Kind::RoleGranted,
        &detail(change.grant),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Revokes `change.grant` from `change.user` (audited).
///
/// # Errors
///
/// [`RoleError`]: [`RoleError::NotHeld`] when they did not hold it, [`RoleError::LastAdmin`].
pub async fn revoke(pool: &PgPool, change: &Change<'_>) -> Result<(), RoleError> {
    let venue = change.grant.venue_id.as_deref();
    check_shape(change.grant.role, venue)?;
    let mut tx = pool.begin().await?;
    live_user(&mut tx, change.user).await?;
    if change.grant.role == Role::Admin {
        // Every admin row locked, so two revocations cannot each see the other admin.
        let admins: Vec<String> = sqlx::query_scalar(
            "SELECT r.user_id FROM user_roles r JOIN users u ON u.id = r.user_id
             WHERE r.role = 'admin' AND u.deleted_at IS NULL FOR UPDATE OF r",
        )
        .fetch_all(&mut *tx)
        .await?;
        if admins.len() == 1 && admins[0] == change.user {
            return Err(RoleError::LastAdmin);
        }
    }
    let removed = sqlx::query(
        "DELETE FROM user_roles WHERE user_id = $1 AND role = $2
         AND venue_id IS NOT DISTINCT FROM $3",
    )
    .bind(change.user)
    .bind(change.grant.role.as_str())
    .bind(venue)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if removed == 0 {
        return Err(RoleError::NotHeld);
    }
    audit::record(
        &mut tx,
        &Entry {
            actor: Some(change.actor),
            action: "role.revoke",
            resource: &format!("user:{}", change.user),
            venue,
            addr: change.addr.clone(),
            detail: detail(change.grant),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The roles `user` holds now (what their next access token will carry).
///
/// # Errors
///
/// PostgreSQL's.
pub async fn roles_of(pool: &PgPool, user: &str) -> Result<Vec<Grant>, sqlx::Error> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT role, venue_id FROM user_roles WHERE user_id = $1 ORDER BY role, venue_id",
    )
    .bind(user)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(role, venue_id)| Role::parse(&role).map(|role| Grant { role, venue_id }))
        .collect())
}

/// The id of the live account with `email`, if any (compared lower-cased, as sign-in does).
///
/// # Errors
///
/// PostgreSQL's.
pub async fn user_by_email(pool: &PgPool, email: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM users WHERE email_key = lower($1) AND deleted_at IS NULL")
        .bind(email.trim())
        .fetch_optional(pool)
        .await
}

/// The people with a role at `venue` (its staff): `{user_id, display_name, email, roles}`.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn staff_of(pool: &PgPool, venue: &str) -> Result<Vec<Value>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT jsonb_build_object('user_id', u.id, 'display_name', u.display_name,
                'email', u.email, 'roles', jsonb_agg(r.role ORDER BY r.role))
         FROM user_roles r JOIN users u ON u.id = r.user_id
         WHERE r.venue_id = $1 AND u.deleted_at IS NULL
         GROUP BY u.id, u.display_name, u.email ORDER BY u.display_name, u.id",
    )
    .bind(venue)
    .fetch_all(pool)
    .await
}

/// The venues where `user` holds a role: `{venue_id, name, roles}` (global grants are not
/// venues and are left out).
///
/// # Errors
///
/// PostgreSQL's.
pub async fn venues_of(pool: &PgPool, user: &str) -> Result<Vec<Value>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT jsonb_build_object('venue_id', v.id, 'name', v.name,
                'roles', jsonb_agg(r.role ORDER BY r.role))
         FROM user_roles r JOIN venues v ON v.id = r.venue_id
         WHERE r.user_id = $1 GROUP BY v.id, v.name ORDER BY v.name, v.id",
    )
    .bind(user)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_grants_have_a_shape() {
        assert!(check_shape(Role::Player, None).is_err());
        assert!(check_shape(Role::Admin, Some("v")).is_err());
        assert!(check_shape(Role::Admin, None).is_ok());
        assert!(check_shape(Role::VenueManager, None).is_err());
        assert!(check_shape(Role::VenueManager, Some("v")).is_ok());
        assert!(check_shape(Role::Organiser, None).is_ok());
        assert!(check_shape(Role::Organiser, Some("v")).is_ok());
    }
}
