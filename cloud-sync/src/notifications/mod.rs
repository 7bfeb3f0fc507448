//! Notifications: how people are told things. [`notify`] is the one way in for every context; it
//! writes the in-app notification in the caller's transaction (so a notification exists exactly
//! when the change it tells of commits), with one outbox row ([`outbox`]) per channel the user
//! chose for that kind ([`prefs`]), and a PostgreSQL `NOTIFY` that fires at that commit: it wakes
//! every instance's delivery workers ([`worker`]) and live WebSocket clients ([`live`]).
//!
//! - [`prefs`]: channels per kind, with the defaults and the forced ones;
//! - [`outbox`]: fan-out, claim (`FOR UPDATE SKIP LOCKED`), attempts, backoff;
//! - [`worker`]: the delivery task and `try_deliver`;
//! - [`email`], [`push`], [`webhook`]: the channels beyond in-app;
//! - [`live`]: the in-app channel's WebSocket;
//! - [`http`]: the routes.

pub mod email;
pub mod http;
pub mod live;
pub mod outbox;
pub mod prefs;
pub mod push;
pub mod webhook;
pub mod worker;

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
    /// Check-in is open for a tournament one registered for (told to those with a place).
    TournamentCheckIn,
    /// One's tournament match is called to a table (from the venue's `tournament_called`).
    TournamentCalled,
    /// One moved up from a tournament's waiting list to a place.
    TournamentPromoted,
    /// A tournament one registered for was cancelled.
    TournamentCancelled,
}

impl Kind {
    /// Every kind, in the order pages show them.
    pub const ALL: [Kind; 9] = [
        Kind::VerifyEmail,
        Kind::ResetPassword,
        Kind::NewSignIn,
        Kind::RoleGranted,
        Kind::ResultDisputed,
        Kind::TournamentCheckIn,
        Kind::TournamentCalled,
        Kind::TournamentPromoted,
        Kind::TournamentCancelled,
    ];

    /// From the stored name.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::VerifyEmail => "verify_email",
            Kind::ResetPassword => "reset_password",
            Kind::NewSignIn => "new_sign_in",
            Kind::RoleGranted => "role_granted",
            Kind::ResultDisputed => "result_disputed",
            Kind::TournamentCheckIn => "tournament_check_in",
            Kind::TournamentCalled => "tournament_called",
            Kind::TournamentPromoted => "tournament_promoted",
            Kind::TournamentCancelled => "tournament_cancelled",
        }
    }
}

/// The PostgreSQL channel `notify` signals on (delivered at the commit, to every instance).
pub const PG_CHANNEL: &str = "dojo_notifications";

/// Tells `user` about `kind` with `payload` (what the message shows: links, names, addresses):
/// the in-app notification, one delivery per other channel the user chose for `kind`, and a
/// wake-up for the workers and live clients once the caller's transaction commits.
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
    .fetch_one(&mut *conn)
    .await?;
    let channels = prefs::load(&mut *conn, user, kind).await?;
    outbox::fan_out(&mut *conn, id, user, channels).await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(PG_CHANNEL)
        .bind(format!("{id} {user}"))
        .execute(conn)
        .await?;
    Ok(id)
}
