//! Service tokens: the machine identities of integrations (the `service` role beside venue keys).
//! A token is 256 random bits, base64url with a `dps_` prefix, printed once by
//! `cloud-sync service-token create NAME`; PostgreSQL keeps only its SHA-256 (a leaked table
//! cannot be replayed), looked up by that hash. Revoking keeps the row (when, which name) and
//! ends the token on its next request: nothing caches tokens. What a service may do is the
//! policy's (`Caller::Service`): read-only, every venue's and player's full data.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;

use crate::infra::ids;

/// Every service token starts with this, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "dps_";

/// Making or revoking a token failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceTokenError {
    /// PostgreSQL.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A name that is empty, too long or not `[A-Za-z0-9._-]`.
    #[error("a service token's name is 1-64 characters of letters, digits, '.', '_' or '-'")]
    Name,
    /// A live token already has that name.
    #[error("a live service token is already named {0:?}; revoke it first")]
    Taken(String),
}

/// A token as listed (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was made (RFC 3339).
    pub created: String,
    /// When it was revoked, if it was.
    pub revoked: Option<String>,
}

/// Whether `name` is a valid token name.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A new random token.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Makes a token named `name`: its id and the token (shown only now).
///
/// # Errors
///
/// [`ServiceTokenError`].
pub async fn create(pool: &PgPool, name: &str) -> Result<(String, String), ServiceTokenError> {
    if !valid_name(name) {
        return Err(ServiceTokenError::Name);
    }
    let id = ids::new_id();
    let token = generate();
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO service_tokens (id, name, token_hash) VALUES ($1, $2, $3)
         ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING",
    )
    .bind(&id)
    .bind(name)
    .bind(hash(&token))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(ServiceTokenError::Taken(name.to_owned()));
    }
    crate::accounts::audit::record(
        &mut tx,
        &crate::accounts::audit::Entry {
            actor: None,
            action: "service_token.create",
            resource: &format!("service_token:{id}"),
            venue: None,
            addr: None,
            detail: serde_json::json!({ "name": name }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((id, token))
}

/// Revokes the live token named `name`; `false` when there is none.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn revoke(pool: &PgPool, name: &str) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let revoked: Option<String> = sqlx::query_scalar(
        "UPDATE service_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL
         RETURNING id",
    )
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = revoked else {
        return Ok(false);
    };
    crate::accounts::audit::record(
        &mut tx,
        &crate::accounts::audit::Entry {
            actor: None,
            action: "service_token.revoke",
            resource: &format!("service_token:{id}"),
            venue: None,
            addr: None,
            detail: serde_json::json!({ "name": name }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Every token, newest first.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn list(pool: &PgPool) -> Result<Vec<Listed>, sqlx::Error> {
    let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, name, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
         FROM service_tokens ORDER BY created_at DESC, id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, created, revoked)| Listed {
            id,
            name,
            created,
            revoked,
        })
        .collect())
}

/// The name of the live token `token`, if it is one.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn name_of(pool: &PgPool, token: &str) -> Result<Option<String>, sqlx::Error> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Ok(None);
    }
    sqlx::query_scalar(
        "SELECT name FROM service_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash(token))
    .fetch_optional(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_prefixed() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(hash(&a).len(), 32);
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("billing-export.v2"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name(&"x".repeat(65)));
    }
}
