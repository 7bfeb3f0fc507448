//! Random bearer secrets (refresh tokens, email links): 256 bits from the OS generator, written as
//! `<prefix>` + unpadded base64url (URL-safe, so a link carries one as is), and stored only as
//! their SHA-256: a stolen table gives nothing to present.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// The bytes of a secret.
pub type Raw = [u8; 32];

/// 256 fresh random bits.
pub fn random() -> Raw {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    raw
}

/// The text form of `raw`.
pub fn encode(prefix: &str, raw: &Raw) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(raw))
}

/// The bytes of a presented secret, if it has the right prefix and exactly 256 bits.
pub fn decode(prefix: &str, text: &str) -> Option<Raw> {
    let body = text.trim().strip_prefix(prefix)?;
    if body.len() != 43 {
        return None;
    }
    URL_SAFE_NO_PAD.decode(body).ok()?.try_into().ok()
}

/// What is stored: SHA-256 of the bytes.
pub fn hash(raw: &Raw) -> Vec<u8> {
    Sha256::digest(raw).to_vec()
}

/// SHA-256 of `raw` then `salt`: how a refresh token is derived from the one before it.
pub fn derive(raw: &Raw, salt: &[u8]) -> Raw {
    let mut digest = Sha256::new();
    digest.update(raw);
    digest.update(salt);
    digest.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_refuse_anything_else() {
        let raw = random();
        let text = encode("dpr_", &raw);
        assert_eq!(decode("dpr_", &text), Some(raw));
        assert_eq!(decode("dpe_", &text), None);
        assert_eq!(decode("dpr_", &text[..text.len() - 1]), None);
        assert_eq!(decode("dpr_", "dpr_' OR 1=1 --"), None);
        assert_ne!(random(), raw);
        assert_eq!(hash(&raw).len(), 32);
        assert_ne!(derive(&raw, b"a"), derive(&raw, b"b"));
    }
}
