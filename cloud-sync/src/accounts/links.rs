//! One-time links sent by email: verify an address (24 h), reset a password (1 h). The link
//! carries a 256-bit random token; only its SHA-256 is stored; using it marks it used, and a new
//! link of the same purpose voids the older ones.

use std::time::Duration;

use sqlx::PgConnection;

use super::secret;

/// The prefix of a link token.
pub const PREFIX: &str = "dpl_";

/// What a link is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// `/portal/verify?token=…`.
    Verify,
    /// `/portal/reset?token=…`.
    Reset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Verify => "verify",
            Purpose::Reset => "reset",
        }
    }

    /// How long a link lives.
    pub fn ttl(self) -> Duration {
        match self {
            Purpose::Verify => Duration::from_secs(24 * 3600),
            Purpose::Reset => Duration::from_secs(3600),
        }
    }

    /// The portal page that opens it.
    pub fn page(self) -> &'static str {
        self.as_str()
    }
}

/// A new link token for `user`, voiding older unused ones of `purpose`; returns the full link.
///
/// # Errors
///
/// PostgreSQL.
pub async fn issue(
    conn: &mut PgConnection,
    public_url: &str,
    user: &str,
    purpose: Purpose,
) -> Result<String, sqlx::Error> {
    sqlx::query("DELETE FROM email_tokens WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL")
        .bind(user)
        .bind(purpose.as_str())
        .execute(&mut *conn)
        .await?;
    let raw = secret::random();
    sqlx::query(
        "INSERT INTO email_tokens (hash, user_id, purpose, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
    )
    .bind(secret::hash(&raw))
    .bind(user)
    .bind(purpose.as_str())
    .bind(purpose.ttl().as_secs_f64())
    .execute(&mut *conn)
    .await?;
    Ok(format!(
        "{}/portal/{}?token={}",
        public_url.trim_end_matches('/'),
        purpose.page(),
        secret::encode(PREFIX, &raw)
    ))
}

/// Uses `token` for `purpose`: the user it was for, once, before it expires.
///
/// # Errors
///
/// PostgreSQL.
pub async fn consume(
    conn: &mut PgConnection,
    token: &str,
    purpose: Purpose,
) -> Result<Option<String>, sqlx::Error> {
    let Some(raw) = secret::decode(PREFIX, token) else {
        return Ok(None);
    };
    sqlx::query_scalar(
        "UPDATE email_tokens SET used_at = now()
          WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
          RETURNING user_id",
    )
    .bind(secret::hash(&raw))
    .bind(purpose.as_str())
    .fetch_optional(conn)
    .await
}
