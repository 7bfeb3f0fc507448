//! Which channels a user is told each kind on. In-app is always on; the rest are the user's choice
//! (`notification_preferences`), with defaults for a kind never chosen. Verify-email and
//! reset-password always go by email whatever the choice: they are how the account works.

use serde::{Deserialize, Serialize};

use super::Kind;

/// The channels beyond in-app for one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channels {
    /// Email over SMTP.
    pub email: bool,
    /// Web Push to every subscribed browser.
    pub push: bool,
    /// Every webhook of the user.
    pub webhook: bool,
}

/// What a user who never chose gets.
pub fn defaults(kind: Kind) -> Channels {
    match kind {
        Kind::VerifyEmail
        | Kind::ResetPassword
        | Kind::NewSignIn
        | Kind::RoleGranted
        | Kind::ResultDisputed
        | Kind::TournamentCheckIn
        | Kind::TournamentPromoted
        | Kind::TournamentCancelled => Channels {
            email: true,
            push: false,
            webhook: false,
        },
        // Minutes matter: "you are up on table 7" is worth a push, not an email read later.
        Kind::TournamentCalled => Channels {
            email: false,
            push: true,
            webhook: false,
        },
    }
}

/// Whether email is forced on for `kind` (the account's own links).
pub fn email_forced(kind: Kind) -> bool {
    matches!(kind, Kind::VerifyEmail | Kind::ResetPassword)
}

/// `chosen` with what is forced applied.
pub fn effective(kind: Kind, chosen: Channels) -> Channels {
    Channels {
        email: chosen.email || email_forced(kind),
        ..chosen
    }
}

/// The channels `user` gets `kind` on (their choice or the defaults, forced ones applied).
///
/// # Errors
///
/// PostgreSQL.
pub async fn load(
    conn: &mut sqlx::PgConnection,
    user: &str,
    kind: Kind,
) -> Result<Channels, sqlx::Error> {
    let row: Option<(bool, bool, bool)> = sqlx::query_as(
        "SELECT email, push, webhook FROM notification_preferences
         WHERE user_id = $1 AND kind = $2",
    )
    .bind(user)
    .bind(kind.as_str())
    .fetch_optional(conn)
    .await?;
    let chosen = row.map_or_else(
        || defaults(kind),
        |(email, push, webhook)| Channels {
            email,
            push,
            webhook,
        },
    );
    Ok(effective(kind, chosen))
}

/// Every kind's channels for `user`, as the preferences page shows them.
///
/// # Errors
///
/// PostgreSQL.
pub async fn all(
    conn: &mut sqlx::PgConnection,
    user: &str,
) -> Result<Vec<(Kind, Channels)>, sqlx::Error> {
    let mut out = Vec::with_capacity(Kind::ALL.len());
    for kind in Kind::ALL {
        out.push((kind, load(&mut *conn, user, kind).await?));
    }
    Ok(out)
}

/// Stores `user`'s choice for `kind`.
///
/// # Errors
///
/// PostgreSQL.
pub async fn set(
    conn: &mut sqlx::PgConnection,
    user: &str,
    kind: Kind,
    channels: Channels,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO notification_preferences (user_id, kind, email, push, webhook)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id, kind)
         DO UPDATE SET email = $3, push = $4, webhook = $5",
    )
    .bind(user)
    .bind(kind.as_str())
    .bind(channels.email)
    .bind(channels.push)
    .bind(channels.webhook)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_links_always_go_by_email() {
        let none = Channels {
            email: false,
            push: false,
            webhook: false,
        };
        assert!(effective(Kind::VerifyEmail, none).email);
        assert!(effective(Kind::ResetPassword, none).email);
        assert!(!effective(Kind::NewSignIn, none).email);
        assert!(defaults(Kind::NewSignIn).email && defaults(Kind::RoleGranted).email);
    }
}
