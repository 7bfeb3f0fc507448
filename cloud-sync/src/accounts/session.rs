//! Sessions and their refresh tokens (docs/decisions/0017). A session is one sign-in on one
//! device; its refresh tokens form a family and each is used once: [`refresh`] answers a new pair
//! and the presented token becomes the previous one. Presenting a used token revokes the family
//! (someone copied it), except the immediately previous token within [`GRACE`]: a client that
//! lost the answer to its last refresh gets the current pair back, not a new one. The server
//! keeps no refresh token it could hand out: the current token is SHA-256(previous || salt), so
//! only whoever holds the previous token can be given it again.
//!
//! Each refresh reloads the user's roles and verification into the new access token. A session
//! unused for [`IDLE`] ends.

use std::time::Duration;

use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::policy::{Grant, Role};
use super::secret::{self, Raw};
use super::token::{Claims, KeyError, Keys};

/// The prefix of a refresh token.
pub const PREFIX: &str = "dpr_";
/// How long the previous refresh token still answers (with the current pair).
pub const GRACE: Duration = Duration::from_secs(30);
/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Where a sign-in came from (shown in the sessions list and the sign-in notice).
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// The client address.
    pub addr: Option<String>,
    /// The `User-Agent`, cut to 256 characters.
    pub user_agent: Option<String>,
}

/// What signing in or refreshing answers.
#[derive(Clone, Debug, Serialize)]
pub struct Pair {
    /// The access token (JWT).
    pub access_token: String,
    /// The refresh token (opaque).
    pub refresh_token: String,
    /// Seconds the access token lives.
    pub expires_in: u64,
}

/// A refresh refused, or failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, malformed, revoked or expired token; or the account is gone.
    #[error("invalid or expired refresh token; sign in again")]
    Invalid,
    /// A used token: the session is revoked.
    #[error("this refresh token was already used; the session is ended, sign in again")]
    Reused,
    /// PostgreSQL.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Signing.
    #[error("signing: {0}")]
    Key(#[from] KeyError),
}

/// One session, as its owner sees it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct SessionView {
    /// The session id.
    pub id: String,
    /// When it was signed in, RFC 3339.
    pub created_at: String,
    /// When it last refreshed.
    pub last_used_at: String,
    /// The address it signed in from.
    pub addr: Option<String>,
    /// Its browser or app.
    pub user_agent: Option<String>,
    /// Whether it is the caller's own.
    #[sqlx(default)]
    pub current: bool,
}

/// Starts a session for `user` in `conn`'s transaction; returns its id and first refresh token.
///
/// # Errors
///
/// PostgreSQL.
pub async fn start(
    conn: &mut PgConnection,
    user: &str,
    origin: &Origin,
) -> Result<(String, String), sqlx::Error> {
    let id = crate::infra::ids::new_id();
    let raw = secret::random();
    let hash = secret::hash(&raw);
    sqlx::query(
        "INSERT INTO sessions (id, user_id, addr, user_agent, current_hash)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(user)
    .bind(origin.addr.as_deref())
    .bind(origin.user_agent.as_deref())
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO session_tokens (hash, session_id) VALUES ($1, $2)")
        .bind(&hash)
        .bind(&id)
        .execute(&mut *conn)
        .await?;
    Ok((id, secret::encode(PREFIX, &raw)))
}

/// The claims of a new access token for `user` in session `sid`: roles and verification as
/// stored now. `None` when the account is gone.
///
/// # Errors
///
/// PostgreSQL.
pub async fn claims(
    conn: &mut PgConnection,
    user: &str,
    sid: &str,
) -> Result<Option<Claims>, sqlx::Error> {
    let verified: Option<bool> = sqlx::query_scalar(
        "SELECT email_verified_at IS NOT NULL FROM users WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(user)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(email_verified) = verified else {
        return Ok(None);
    };
    Ok(Some(Claims {
        iss: String::new(),
        aud: String::new(),
        sub: user.to_owned(),
        exp: 0,
        iat: 0,
        sid: sid.to_owned(),
        email_verified,
        roles: grants(conn, user).await?,
    }))
}

/// The roles `user` holds beyond `player`, as stored.
///
/// # Errors
///
/// PostgreSQL.
pub async fn grants(conn: &mut PgConnection, user: &str) -> Result<Vec<Grant>, sqlx::Error> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT role, venue_id FROM user_roles WHERE user_id = $1 ORDER BY role, venue_id",
    )
    .bind(user)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(role, venue_id)| {
            Some(Grant {
                role: Role::parse(&role)?,
                venue_id,
            })
        })
        .collect())
}

/// A pair for `claims` with `refresh_token`.
///
/// # Errors
///
/// [`KeyError`].
pub async fn pair(keys: &Keys, claims: Claims, refresh_token: String) -> Result<Pair, KeyError> {
    Ok(Pair {
        access_token: keys.issue(claims).await?,
        refresh_token,
        expires_in: super::token::ACCESS_TTL.as_secs(),
    })
}

#[derive(sqlx::FromRow)]
struct Family {
    id: String,
    user_id: String,
    current_hash: Vec<u8>,
    previous_hash: Option<Vec<u8>>,
    salt: Option<Vec<u8>>,
    in_grace: bool,
    live: bool,
}

/// Rotates `token`: the new pair, the current pair again (the previous token within [`GRACE`]),
/// or the session revoked (any other used token).
///
/// # Errors
///
/// [`RefreshError`].
pub async fn refresh(pool: &PgPool, keys: &Keys, token: &str) -> Result<Pair, RefreshError> {
    let raw = secret::decode(PREFIX, token).ok_or(RefreshError::Invalid)?;
    let hash = secret::hash(&raw);
    let mut tx = pool.begin().await?;
    let Some(family) = family_of(&mut tx, &hash).await? else {
        return Err(RefreshError::Invalid);
    };
    if !family.live {
        return Err(RefreshError::Invalid);
    }
    let next = if family.current_hash == hash {
        rotate(&mut tx, &family.id, &raw).await?
    } else if family.in_grace && family.previous_hash.as_deref() == Some(hash.as_slice()) {
        let current = secret::derive(&raw, family.salt.as_deref().unwrap_or_default());
        if secret::hash(&current) != family.current_hash {
            return Err(RefreshError::Invalid);
        }
        current
    } else {
        revoke_in(&mut tx, &family.user_id, &family.id, "reused").await?;
        tx.commit().await?;
        tracing::warn!(session = %family.id, "a used refresh token was presented; session revoked");
        return Err(RefreshError::Reused);
    };
    let Some(claims) = claims(&mut tx, &family.user_id, &family.id).await? else {
        revoke_in(&mut tx, &family.user_id, &family.id, "account deleted").await?;
        tx.commit().await?;
        return Err(RefreshError::Invalid);
    };
    sqlx::query("UPDATE sessions SET last_used_at = now() WHERE id = $1")
        .bind(&family.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(pair(keys, claims, secret::encode(PREFIX, &next)).await?)
}

async fn family_of(conn: &mut PgConnection, hash: &[u8]) -> Result<Option<Family>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id, s.user_id, s.current_hash, s.previous_hash, s.salt,
                COALESCE(s.rotated_at > now() - make_interval(secs => $2), false) AS in_grace,
                s.revoked_at IS NULL AND s.last_used_at > now() - make_interval(secs => $3)
                    AS live
           FROM session_tokens t JOIN sessions s ON s.id = t.session_id
          WHERE t.hash = $1
            FOR UPDATE OF s",
    )
    .bind(hash)
    .bind(GRACE.as_secs_f64())
    .bind(IDLE.as_secs_f64())
    .fetch_optional(conn)
    .await
}

/// Makes the next token of session `id` from the current one (`raw`).
async fn rotate(conn: &mut PgConnection, id: &str, raw: &Raw) -> Result<Raw, sqlx::Error> {
    let salt = secret::random();
    let next = secret::derive(raw, &salt);
    let next_hash = secret::hash(&next);
    sqlx::query(
        "UPDATE sessions SET previous_hash = current_hash, current_hash = $2, salt = $3,
                rotated_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(&next_hash)
    .bind(&salt[..])
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO session_tokens (hash, session_id) VALUES ($1, $2)")
        .bind(&next_hash)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(next)
}

async fn revoke_in(
    conn: &mut PgConnection,
    user: &str,
    id: &str,
    why: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_why = $3
          WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(user)
    .bind(why)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Revokes `user`'s session `id` (signing out, or revoking from the list); `false` when the user
/// has no such live session.
///
/// # Errors
///
/// PostgreSQL.
pub async fn revoke(
    conn: &mut PgConnection,
    user: &str,
    id: &str,
    why: &str,
) -> Result<bool, sqlx::Error> {
    revoke_in(conn, user, id, why).await
}

/// Revokes every session of `user` but `except`; returns how many.
///
/// # Errors
///
/// PostgreSQL.
pub async fn revoke_all(
    conn: &mut PgConnection,
    user: &str,
    except: Option<&str>,
    why: &str,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_why = $3
          WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2",
    )
    .bind(user)
    .bind(except)
    .bind(why)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// `user`'s live sessions, newest first, `current` marking `sid`.
///
/// # Errors
///
/// PostgreSQL.
pub async fn list(pool: &PgPool, user: &str, sid: &str) -> Result<Vec<SessionView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
                    AS created_at,
                to_char(last_used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
                    AS last_used_at,
                addr, user_agent, id = $2 AS current
           FROM sessions
          WHERE user_id = $1 AND revoked_at IS NULL
            AND last_used_at > now() - make_interval(secs => $3)
          ORDER BY created_at DESC, id",
    )
    .bind(user)
    .bind(sid)
    .bind(IDLE.as_secs_f64())
    .fetch_all(pool)
    .await
}
