//! Venue keys. A key is 256 random bits, base64url with a `dpv_` prefix, shown once at enrollment;
//! PostgreSQL keeps only its SHA-256, so a leaked database cannot be replayed as credentials. A
//! request's key is hashed and looked up by that hash (an index lookup on a value the caller cannot
//! choose, so its timing tells nothing about stored keys). Why bearer keys and not request signing:
//! docs/security.md.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;

/// Every key starts with this, so a leaked key is recognisable (secret scanners, logs).
pub const KEY_PREFIX: &str = "dpv_";

/// A new random key.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// What is stored for a key.
pub fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// The venue a key belongs to, if any.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn venue_of(pool: &PgPool, key: &str) -> Result<Option<String>, sqlx::Error> {
    if !key.starts_with(KEY_PREFIX) || key.len() > 128 {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT venue_id FROM venue_keys WHERE key_hash = $1")
        .bind(hash(key))
        .fetch_optional(pool)
        .await
}

/// Compares two strings in time that depends only on their lengths, so an attacker with a key
/// cannot probe which venue ids are near the key's own.
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_prefixed() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(a.len(), KEY_PREFIX.len() + 43, "{a}");
        assert_eq!(hash(&a).len(), 32);
    }

    #[test]
    fn same_compares_whole_strings() {
        assert!(same("venue1", "venue1"));
        assert!(!same("venue1", "venue2"));
        assert!(!same("venue1", "venue10"));
    }
}
