//! Device secrets: 256 random bits from the operating system's CSPRNG (through `rand`'s thread
//! generator, ChaCha seeded from the OS), written as `dpd_` + URL-safe base64 (47 characters, fit
//! for a TOML string, an environment variable and an MQTT password). Only the SHA-256 of the whole
//! string is kept (docs/decisions/0013-device-identity.md): with 256 bits of entropy no dictionary
//! or brute force applies, so a slow hash would buy nothing and cost CPU on every CONNECT.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// What every device secret starts with (so a leaked one is recognisable in a log or a paste).
pub const PREFIX: &str = "dpd_";

/// A new secret: [`PREFIX`] and 32 random bytes in URL-safe base64 without padding.
#[must_use]
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The SHA-256 the agent keeps of `secret` (what [`super::Directory::login`] compares).
#[must_use]
pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_random_bits_in_url_safe_text() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert_eq!(a.len(), PREFIX.len() + 43);
        let raw = URL_SAFE_NO_PAD
            .decode(a.trim_start_matches(PREFIX))
            .expect("base64");
        assert_eq!(raw.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        );
        assert_ne!(hash(&a), hash(&b));
    }
}
