//! Passwords and PINs: Argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1), stored as the
//! PHC string, which names its own parameters so they can be raised later without breaking old
//! hashes. Hashing is CPU-bound (tens of milliseconds): call these on a blocking thread.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// OWASP's Argon2id minimum: 19 MiB, 2 passes, 1 lane.
pub fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of `secret` with a fresh salt.
///
/// # Errors
///
/// Never in practice (argon2 refuses only absurd lengths).
pub fn hash(secret: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Ok(hasher()
        .hash_password(secret.as_bytes(), &salt)?
        .to_string())
}

/// Whether `secret` matches `phc`. A malformed stored hash never matches.
pub fn verify(secret: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .is_ok_and(|parsed| hasher().verify_password(secret.as_bytes(), &parsed).is_ok())
}

/// A hash of a password nobody has, verified against when the account does not exist, so a wrong
/// email costs the same time as a wrong password.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy password nobody has").unwrap_or_default())
}
