//! What a person does with their own account: register, verify the address, sign in, change or
//! reset the password, rename, delete. Each is one function over PostgreSQL taking checked input;
//! the routes (`super::http`) only parse, authorize and answer.
//!
//! No answer tells whether an address has an account: registering a taken address answers like a
//! new one (with an id that names nothing) and tells the address's owner instead; a wrong address
//! and a wrong password get the same answer after the same Argon2id work
//! ([`super::password::decoy`]); "forgot password" answers 202 before looking.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;

use super::links::{self, Purpose};
use super::policy::Grant;
use super::rules::{self, RuleError};
use super::session::{self, Origin, Pair};
use super::token::{KeyError, Keys};
use super::{audit, password, throttle};
use crate::infra::ids;
use crate::notifications::{self, Kind};

/// The display name a deleted account keeps.
pub const DELETED_NAME: &str = "Deleted user";
/// The longest password accepted at sign-in (longer ones cannot match: see [`rules`]).
pub const LOGIN_PASSWORD_MAX: usize = 1024;

/// Why an account action was refused, or failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A field breaks a rule (400).
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// Wrong email or password at sign-in (401, the same for both).
    #[error("wrong email or password")]
    BadCredentials,
    /// The password given to confirm a change is wrong (403).
    #[error("the password is wrong")]
    WrongPassword,
    /// An unknown, used or expired link token (400).
    #[error("this link is invalid, used or expired; ask for a new one")]
    BadLink,
    /// Too many failures: wait (429).
    #[error("too many attempts")]
    Throttled(Duration),
    /// The account is gone (404).
    #[error("no such account")]
    Gone,
    /// PostgreSQL.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Signing an access token.
    #[error("signing: {0}")]
    Key(#[from] KeyError),
    /// Hashing (a panicked blocking task).
    #[error("password hashing failed")]
    Hash,
}

/// Argon2id on a blocking thread.
async fn hash(secret: &str) -> Result<String, AccountError> {
    let secret = secret.to_owned();
    tokio::task::spawn_blocking(move || password::hash(&secret))
        .await
        .map_err(|_| AccountError::Hash)?
        .map_err(|_| AccountError::Hash)
}

/// Whether `secret` matches `phc`; with no hash (no such account), the decoy's same work.
async fn matches(secret: &str, phc: Option<String>) -> Result<bool, AccountError> {
    let secret = secret.to_owned();
    tokio::task::spawn_blocking(move || match phc {
        Some(phc) => password::verify(&secret, &phc),
        None => {
            let _ = password::verify(&secret, password::decoy());
            false
        }
    })
    .await
    .map_err(|_| AccountError::Hash)
}

/// A new account's fields, unchecked.
#[derive(Debug)]
pub struct NewAccount<'a> {
    /// Email.
    pub email: &'a str,
    /// Password.
    pub password: &'a str,
    /// Display name.
    pub display_name: &'a str,
}

/// Registers an account and sends the verification link; returns its id. A taken address
/// answers alike (a fresh id that names nothing) and its owner gets a password-reset link saying
/// someone tried to register with it.
///
/// # Errors
///
/// [`AccountError::Rule`], or a failure.
pub async fn register(
    pool: &PgPool,
    public_url: &str,
    new: &NewAccount<'_>,
) -> Result<String, AccountError> {
    let email = rules::email(new.email)?;
    let name = rules::display_name(new.display_name)?;
    rules::password(new.password, &email, &name)?;
    let phc = hash(new.password).await?;
    let id = ids::new_id();
    let mut tx = pool.begin().await?;
    let made: Option<String> = sqlx::query_scalar(
        "INSERT INTO users (id, email, email_key, display_name, password_hash)
         VALUES ($1, $2, lower($2), $3, $4)
         ON CONFLICT (email_key) DO NOTHING RETURNING id",
    )
    .bind(&id)
    .bind(&email)
    .bind(&name)
    .bind(&phc)
    .fetch_optional(&mut *tx)
    .await?;
    if made.is_some() {
        let link = links::issue(&mut tx, public_url, &id, Purpose::Verify).await?;
        notifications::notify(
            &mut tx,
            &id,
            Kind::VerifyEmail,
            &json!({"link": link, "email": email}),
        )
        .await?;
    } else {
        let owner: Option<String> =
            sqlx::query_scalar("SELECT id FROM users WHERE email_key = lower($1)")
                .bind(&email)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(owner) = owner {
            let link = links::issue(&mut tx, public_url, &owner, Purpose::Reset).await?;
            notifications::notify(
                &mut tx,
                &owner,
                Kind::ResetPassword,
                &json!({"link": link, "reason": "register_attempt"}),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(id)
}

/// Marks the address of the link's account verified.
///
/// # Errors
///
/// [`AccountError::BadLink`], or a failure.
pub async fn verify_email(pool: &PgPool, token: &str) -> Result<String, AccountError> {
    let mut tx = pool.begin().await?;
    let user = links::consume(&mut tx, token, Purpose::Verify)
        .await?
        .ok_or(AccountError::BadLink)?;
    let done = sqlx::query(
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, now())
          WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(&user)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AccountError::BadLink);
    }
    tx.commit().await?;
    Ok(user)
}

/// Sends `user` a new verification link (voiding the older one); nothing when already verified.
///
/// # Errors
///
/// [`AccountError::Gone`], or a failure.
pub async fn resend_verification(
    pool: &PgPool,
    public_url: &str,
    user: &str,
) -> Result<(), AccountError> {
    let mut tx = pool.begin().await?;
    let row: Option<(Option<String>, bool)> = sqlx::query_as(
        "SELECT email, email_verified_at IS NOT NULL FROM users
          WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(user)
    .fetch_optional(&mut *tx)
    .await?;
    let (email, verified) = row.ok_or(AccountError::Gone)?;
    if !verified {
        let link = links::issue(&mut tx, public_url, user, Purpose::Verify).await?;
        notifications::notify(
            &mut tx,
            user,
            Kind::VerifyEmail,
            &json!({"link": link, "email": email}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Signs in: a new session and its first pair, and a "new sign-in" notice. Failures count
/// against the account and the address ([`throttle`]).
///
/// # Errors
///
/// [`AccountError::BadCredentials`], [`AccountError::Throttled`], or a failure.
pub async fn login(
    pool: &PgPool,
    keys: &Keys,
    email: &str,
    secret: &str,
    origin: &Origin,
) -> Result<Pair, AccountError> {
    let email_key = email.trim().to_lowercase();
    let counters = [
        (throttle::account(&email_key), throttle::ACCOUNT_FREE),
        (
            throttle::address(origin.addr.as_deref().unwrap_or("-")),
            throttle::ADDRESS_FREE,
        ),
    ];
    if let Some(wait) = throttle::check(pool, &counters).await? {
        return Err(AccountError::Throttled(wait));
    }
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT id, password_hash FROM users WHERE email_key = $1 AND deleted_at IS NULL",
    )
    .bind(&email_key)
    .fetch_optional(pool)
    .await?;
    let (user, phc) = match row {
        Some((id, phc)) => (Some(id), phc),
        None => (None, None),
    };
    let ok = matches(secret, phc).await?;
    let Some(user) = user.filter(|_| ok) else {
        throttle::fail(pool, &counters).await?;
        return Err(AccountError::BadCredentials);
    };
    throttle::clear(pool, &counters[0].0).await?;
    let mut tx = pool.begin().await?;
    let (sid, refresh) = session::start(&mut tx, &user, origin).await?;
    let claims = session::claims(&mut tx, &user, &sid)
        .await?
        .ok_or(AccountError::BadCredentials)?;
    notifications::notify(
        &mut tx,
        &user,
        Kind::NewSignIn,
        &json!({"addr": origin.addr, "user_agent": origin.user_agent, "session": sid}),
    )
    .await?;
    tx.commit().await?;
    Ok(session::pair(keys, claims, refresh).await?)
}

/// Sends a reset link to the address's account, if there is one (the caller answers 202 without
/// waiting for this).
///
/// # Errors
///
/// PostgreSQL.
pub async fn forgot(pool: &PgPool, public_url: &str, email: &str) -> Result<(), AccountError> {
    let mut tx = pool.begin().await?;
    let user: Option<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE email_key = $1 AND deleted_at IS NULL")
            .bind(email.trim().to_lowercase())
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(user) = user {
        let link = links::issue(&mut tx, public_url, &user, Purpose::Reset).await?;
        notifications::notify(
            &mut tx,
            &user,
            Kind::ResetPassword,
            &json!({"link": link, "reason": "forgot"}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Sets a new password by a reset link: the link is used up, the address counts as verified (the
/// link reached it), and every session ends.
///
/// # Errors
///
/// [`AccountError::BadLink`], [`AccountError::Rule`], or a failure.
pub async fn reset(pool: &PgPool, token: &str, new_password: &str) -> Result<(), AccountError> {
    let mut tx = pool.begin().await?;
    let user = links::consume(&mut tx, token, Purpose::Reset)
        .await?
        .ok_or(AccountError::BadLink)?;
    let (email, name) = profile(&mut tx, &user).await?;
    rules::password(new_password, &email, &name)?;
    let phc = hash(new_password).await?;
    sqlx::query(
        "UPDATE users SET password_hash = $2,
                email_verified_at = COALESCE(email_verified_at, now())
          WHERE id = $1",
    )
    .bind(&user)
    .bind(&phc)
    .execute(&mut *tx)
    .await?;
    session::revoke_all(&mut tx, &user, None, "password reset").await?;
    tx.commit().await?;
    throttle::clear(pool, &throttle::account(&email.to_lowercase())).await?;
    Ok(())
}

async fn profile(
    conn: &mut sqlx::PgConnection,
    user: &str,
) -> Result<(String, String), AccountError> {
    let row: Option<(Option<String>, String)> = sqlx::query_as(
        "SELECT email, display_name FROM users WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(user)
    .fetch_optional(conn)
    .await?;
    let (email, name) = row.ok_or(AccountError::Gone)?;
    Ok((email.unwrap_or_default(), name))
}

/// Checks `user`'s password before a sensitive change; failures count like sign-in failures.
async fn confirm(pool: &PgPool, user: &str, secret: &str) -> Result<String, AccountError> {
    let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT email_key, password_hash FROM users WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(user)
    .fetch_optional(pool)
    .await?;
    let (email_key, phc) = row.ok_or(AccountError::Gone)?;
    let counters = [(
        throttle::account(email_key.as_deref().unwrap_or(user)),
        throttle::ACCOUNT_FREE,
    )];
    if let Some(wait) = throttle::check(pool, &counters).await? {
        return Err(AccountError::Throttled(wait));
    }
    if secret.chars().count() > LOGIN_PASSWORD_MAX || !matches(secret, phc).await? {
        throttle::fail(pool, &counters).await?;
        return Err(AccountError::WrongPassword);
    }
    Ok(counters[0].0.clone())
}

/// Changes the password (the current one confirms it); every other session ends.
///
/// # Errors
///
/// [`AccountError::WrongPassword`], [`AccountError::Rule`], or a failure.
pub async fn change_password(
    pool: &PgPool,
    user: &str,
    sid: &str,
    current: &str,
    new_password: &str,
) -> Result<(), AccountError> {
    let counter = confirm(pool, user, current).await?;
    let mut tx = pool.begin().await?;
    let (email, name) = profile(&mut tx, user).await?;
    rules::password(new_password, &email, &name)?;
    let phc = hash(new_password).await?;
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(user)
        .bind(&phc)
        .execute(&mut *tx)
        .await?;
    session::revoke_all(&mut tx, user, Some(sid), "password changed").await?;
    tx.commit().await?;
    throttle::clear(pool, &counter).await?;
    Ok(())
}

/// Deletes the account (the password confirms it): email, name and password are cleared, roles
/// and sessions end, the player profile is unlinked and stays with its results (it is the
/// venues' record; docs/security.md).
///
/// # Errors
///
/// [`AccountError::WrongPassword`], or a failure.
pub async fn delete(
    pool: &PgPool,
    user: &str,
    secret: &str,
    addr: Option<String>,
) -> Result<(), AccountError> {
    confirm(pool, user, secret).await?;
    let mut tx = pool.begin().await?;
    let player: Option<Option<String>> = sqlx::query_scalar(
        "WITH old AS (SELECT id, player_id FROM users
                       WHERE id = $1 AND deleted_at IS NULL FOR UPDATE)
         UPDATE users SET email = NULL, email_key = NULL, display_name = $2,
                password_hash = NULL, email_verified_at = NULL, deleted_at = now()
           FROM old WHERE users.id = old.id
         RETURNING old.player_id",
    )
    .bind(user)
    .bind(DELETED_NAME)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(player) = player else {
        return Err(AccountError::Gone);
    };
    // The profile stays held by the deleted row, so what counted still counts and nothing new
    // counts without the player's word (decision 0021), under a name that is no one's.
    if let Some(player) = &player {
        crate::players::anonymise_player(&mut tx, player).await?;
    }
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
        .bind(user)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM email_tokens WHERE user_id = $1")
        .bind(user)
        .execute(&mut *tx)
        .await?;
    session::revoke_all(&mut tx, user, None, "account deleted").await?;
    audit::record(
        &mut tx,
        &audit::Entry {
            actor: Some(user),
            action: "user.delete",
            resource: &format!("user:{user}"),
            venue: None,
            addr,
            detail: json!({"player_id": player}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// `GET /api/v1/me`.
#[derive(Clone, Debug, Serialize)]
pub struct Me {
    /// User id.
    pub id: String,
    /// Email as typed.
    pub email: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Whether the address is verified.
    pub email_verified: bool,
    /// `player` first, then every stored grant.
    pub roles: Vec<Grant>,
    /// The player profile this account is, if any.
    pub player_id: Option<String>,
}

/// The account as its owner sees it.
///
/// # Errors
///
/// [`AccountError::Gone`], or a failure.
pub async fn me(pool: &PgPool, user: &str) -> Result<Me, AccountError> {
    let mut conn = pool.acquire().await?;
    let row: Option<(Option<String>, String, bool, Option<String>)> = sqlx::query_as(
        "SELECT email, display_name, email_verified_at IS NOT NULL, player_id
           FROM users WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(user)
    .fetch_optional(&mut *conn)
    .await?;
    let (email, display_name, email_verified, player_id) = row.ok_or(AccountError::Gone)?;
    let mut roles = vec![Grant {
        role: super::Role::Player,
        venue_id: None,
    }];
    roles.extend(session::grants(&mut conn, user).await?);
    Ok(Me {
        id: user.to_owned(),
        email,
        display_name,
        email_verified,
        roles,
        player_id,
    })
}

/// Renames the account.
///
/// # Errors
///
/// [`AccountError::Rule`], [`AccountError::Gone`], or a failure.
pub async fn rename(pool: &PgPool, user: &str, display_name: &str) -> Result<(), AccountError> {
    let name = rules::display_name(display_name)?;
    let done =
        sqlx::query("UPDATE users SET display_name = $2 WHERE id = $1 AND deleted_at IS NULL")
            .bind(user)
            .bind(&name)
            .execute(pool)
            .await?;
    if done.rows_affected() == 0 {
        return Err(AccountError::Gone);
    }
    Ok(())
}

/// `cloud-sync user create-admin`: makes a verified account with the admin role, or promotes the
/// existing account of `email` (whose password then stays as it is); an audit entry either way.
/// Returns the id and whether the account was made.
///
/// # Errors
///
/// [`AccountError::Rule`] for a bad address or (new account) password, or a failure.
pub async fn create_admin(
    pool: &PgPool,
    email: &str,
    secret: &str,
) -> Result<(String, bool), AccountError> {
    let email = rules::email(email)?;
    let existing: Option<String> = sqlx::query_scalar(
        "SELECT id FROM users WHERE email_key = lower($1) AND deleted_at IS NULL",
    )
    .bind(&email)
    .fetch_optional(pool)
    .await?;
    let phc = match existing {
        Some(_) => None,
        None => {
            let name = email.split('@').next().unwrap_or("admin");
            rules::password(secret, &email, name)?;
            Some(hash(secret).await?)
        }
    };
    let mut tx = pool.begin().await?;
    let (id, created) = match (existing, phc) {
        (Some(id), _) => {
            sqlx::query(
                "UPDATE users SET email_verified_at = COALESCE(email_verified_at, now())
                  WHERE id = $1",
            )
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            (id, false)
        }
        (None, phc) => {
            let id = ids::new_id();
            let name = email.split('@').next().unwrap_or("admin").to_owned();
            sqlx::query(
                "INSERT INTO users (id, email, email_key, display_name, password_hash,
                                    email_verified_at)
                 VALUES ($1, $2, lower($2), $3, $4, now())",
            )
            .bind(&id)
            .bind(&email)
            .bind(rules::display_name(&name).unwrap_or_else(|_| "admin".into()))
            .bind(phc)
            .execute(&mut *tx)
            .await?;
            (id, true)
        }
    };
    sqlx::query(
        "INSERT INTO user_roles (user_id, role, venue_id) VALUES ($1, 'admin', NULL)
         ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &audit::Entry {
            actor: None,
            action: "user.create_admin",
            resource: &format!("user:{id}"),
            venue: None,
            addr: None,
            detail: json!({"created": created, "via": "cli"}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((id, created))
}
