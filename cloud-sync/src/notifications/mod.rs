//! Notifications: how people are told things. [`notify`] is the one way in for every context; it
//! writes the in-app notification in the caller's transaction (so a notification exists exactly
//! when the change it tells of commits).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a notification is about. Later contexts (tournaments, reservations, payments) add kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A link to verify an email address.
    VerifyEmail,
    /// A link to reset a password.
    ResetPassword,
    /// The account was signed in to (from where).
    NewSignIn,
    /// A role was granted.
    RoleGranted,
    /// A player disputed a result their venue reported (told to the venue's managers).
    ResultDisputed,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::VerifyEmail => "verify_email",
            Kind::ResetPassword => "reset_password",
            Kind::NewSignIn => "new_sign_in",
            Kind::RoleGranted => "role_granted",
            Kind::ResultDisputed => "result_disputed",
        }
    }
}

/// Tells `user` about `kind` with `payload` (what the message shows: links, names, addresses).
/// Returns the notification's id.
///
/// # Errors
///
/// PostgreSQL.
pub async fn notify(
    conn: &mut sqlx::PgConnection,
    user: &str,
    kind: Kind,
    payload: &Value,
) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO notifications (user_id, kind, payload) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(user)
    .bind(kind.as_str())
    .bind(payload)
    .fetch_one(conn)
    .await?;
    Ok(id)
}
