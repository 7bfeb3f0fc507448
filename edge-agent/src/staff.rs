//! Staff at the venue, signed in by name and PIN, offline.
//!
//! cloud-sync sends the venue's staff (users with a role at the venue who set a console PIN: id,
//! name, roles, the PIN's Argon2id hash); `crate::sync` pulls the list beside the players and
//! keeps it in SQLite (`staff`), so sign-in works for weeks without the cloud. This module holds:
//!
//! - [`Desk`]: the roster in memory (loaded from SQLite at start, replaced after each pull), the
//!   session key, the sign-in limits and the signed-out sessions;
//! - sessions as HMAC-signed cookies ([`Desk::issue`], [`Desk::session`]): the agent's key
//!   (derived from `pairing.key`) over the member's id, the expiry, a nonce and the member's
//!   current PIN hash — so a session survives a restart, ends at its expiry ([`SESSION_MS`]), and
//!   ends at once when the member leaves the roster or changes their PIN;
//! - [`PinGuard`]: failed PINs slowed per staff member and per address (429 + `Retry-After`).
//!
//! Pure apart from its locks: times are inputs. The routes are `crate::api::staff`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use shared::sync::StaffMember;

use crate::limit::{Limiter, RetryAfter};

/// The session cookie's name.
pub const COOKIE: &str = "dojo_staff";
/// How long a session lasts: a long shift.
pub const SESSION_MS: u64 = 12 * 3_600_000;
/// Wrong PINs per staff member in a burst, then one more every [`MEMBER_REFILL_MS`].
pub const MEMBER_FAILURES: u32 = 5;
/// See [`MEMBER_FAILURES`]: 2 a minute, so a 6-digit PIN takes about a year online.
pub const MEMBER_REFILL_MS: u64 = 30_000;
/// Wrong PINs per address in a burst, then one more every [`ADDRESS_REFILL_MS`].
pub const ADDRESS_FAILURES: u32 = 10;
/// See [`ADDRESS_FAILURES`].
pub const ADDRESS_REFILL_MS: u64 = 6_000;

/// A signed-in staff member, as a valid session says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The member's user id.
    pub id: String,
    /// Their name (as the roster has it now).
    pub display_name: String,
    /// Their roles at the venue.
    pub roles: Vec<String>,
    /// When the session ends (Unix ms).
    pub expires_ms: u64,
    /// The session's nonce (what signing out remembers).
    nonce: String,
}

/// Who a sign-in names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Nobody of that id or name.
    Unknown,
    /// Several members have that name: pick by id.
    Ambiguous,
    /// The member.
    Found(StaffMember),
}

/// The venue's staff and their sessions.
pub struct Desk {
    roster: RwLock<Vec<StaffMember>>,
    key: [u8; 32],
    guard: Mutex<PinGuard>,
    /// Nonces of sessions signed out before their expiry, with that expiry.
    signed_out: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk").finish_non_exhaustive()
    }
}

impl Desk {
    /// A desk whose sessions are MACs with `key`, starting with `roster`.
    pub fn new(key: [u8; 32], roster: Vec<StaffMember>) -> Desk {
        Desk {
            roster: RwLock::new(roster),
            key,
            guard: Mutex::new(PinGuard::default()),
            signed_out: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the roster (after a pull). Sessions of members no longer in it end.
    pub fn replace(&self, roster: Vec<StaffMember>) {
        *self
            .roster
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = roster;
    }

    /// The roster, by name.
    pub fn roster(&self) -> Vec<StaffMember> {
        self.roster
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The member of `id`, else the one named `name` (trimmed, case-insensitive).
    pub fn lookup(&self, id: Option<&str>, name: Option<&str>) -> Lookup {
        let roster = self.roster();
        if let Some(id) = id {
            return roster
                .into_iter()
                .find(|m| m.id == id)
                .map_or(Lookup::Unknown, Lookup::Found);
        }
        let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
            return Lookup::Unknown;
        };
        let mut named = roster
            .into_iter()
            .filter(|m| m.display_name.trim().to_lowercase() == name.to_lowercase());
        match (named.next(), named.next()) {
            (Some(member), None) => Lookup::Found(member),
            (Some(_), Some(_)) => Lookup::Ambiguous,
            _ => Lookup::Unknown,
        }
    }

    /// The sign-in limits.
    pub fn guard(&self) -> MutexGuard<'_, PinGuard> {
        self.guard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A session cookie's value for `member`, from `now_ms`.
    pub fn issue(&self, member: &StaffMember, now_ms: u64) -> String {
        let expires = now_ms.saturating_add(SESSION_MS);
        let nonce = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>());
        let id = URL_SAFE_NO_PAD.encode(member.id.as_bytes());
        let mac = URL_SAFE_NO_PAD.encode(self.mac(&member.id, expires, &nonce, &member.pin_hash));
        format!("v1.{id}.{expires}.{nonce}.{mac}")
    }

    /// The session a cookie value proves at `now_ms`, if any: well formed, signed by this agent,
    /// not expired, not signed out, for a member still in the roster with the same PIN.
    pub fn session(&self, value: &str, now_ms: u64) -> Option<Session> {
        let mut parts = value.split('.');
        let (Some("v1"), Some(id), Some(expires), Some(nonce), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let id = String::from_utf8(URL_SAFE_NO_PAD.decode(id).ok()?).ok()?;
        let expires: u64 = expires.parse().ok()?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        if expires <= now_ms || self.is_signed_out(nonce) {
            return None;
        }
        let member = self.roster().into_iter().find(|m| m.id == id)?;
        self.hmac(&id, expires, nonce, &member.pin_hash)
            .verify_slice(&mac)
            .ok()?;
        Some(Session {
            id,
            display_name: member.display_name,
            roles: member.roles,
            expires_ms: expires,
            nonce: nonce.to_owned(),
        })
    }

    /// Ends `session` before its expiry (remembered until then, in memory).
    pub fn sign_out(&self, session: &Session, now_ms: u64) {
        let mut out = self
            .signed_out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        out.retain(|_, expires| *expires > now_ms);
        out.insert(session.nonce.clone(), session.expires_ms);
    }

    fn is_signed_out(&self, nonce: &str) -> bool {
        self.signed_out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains_key(nonce)
    }

    fn mac(&self, id: &str, expires: u64, nonce: &str, pin_hash: &str) -> [u8; 32] {
        self.hmac(id, expires, nonce, pin_hash)
            .finalize()
            .into_bytes()
            .into()
    }

    /// HMAC-SHA-256 over the length-prefixed parts.
    fn hmac(&self, id: &str, expires: u64, nonce: &str, pin_hash: &str) -> Hmac<Sha256> {
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(&self.key);
        let mut mac = Hmac::<Sha256>::new(&key.into());
        let expires = expires.to_string();
        for part in [
            b"staff-session".as_slice(),
            id.as_bytes(),
            expires.as_bytes(),
            nonce.as_bytes(),
            pin_hash.as_bytes(),
        ] {
            mac.update(&u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
            mac.update(part);
        }
        mac
    }
}

/// Whether `pin` matches the Argon2id PHC string `phc` (CPU-bound: a blocking thread). A
/// malformed hash never matches.
pub fn verify_pin(pin: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
    PasswordHash::new(phc).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(pin.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash of a PIN nobody has, verified against for an unknown name so that it costs the same
/// time as a wrong PIN (OWASP's parameters, as cloud-sync hashes PINs). Made once.
pub fn decoy_hash() -> &'static str {
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let params = argon2::Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let Ok(salt) = SaltString::encode_b64(&rand::random::<[u8; 16]>()) else {
            return String::new();
        };
        argon
            .hash_password(b"decoy pin nobody has", &salt)
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}

/// Wrong PINs per staff member and per address.
#[derive(Debug)]
pub struct PinGuard {
    by_member: Limiter,
    by_address: Limiter,
}

impl Default for PinGuard {
    fn default() -> Self {
        PinGuard {
            by_member: Limiter::new(MEMBER_FAILURES, MEMBER_REFILL_MS),
            by_address: Limiter::new(ADDRESS_FAILURES, ADDRESS_REFILL_MS),
        }
    }
}

impl PinGuard {
    /// Whether a PIN for `member` from `address` may be tried at `now_ms`; refused before the
    /// PIN is checked, so a limited caller learns nothing, not even from a right PIN.
    pub fn admit(&mut self, member: &str, address: &str, now_ms: u64) -> Result<(), RetryAfter> {
        let by_member = self.by_member.check(member, now_ms);
        let by_address = self.by_address.check(address, now_ms);
        match (by_member, by_address) {
            (Err(RetryAfter(a)), Err(RetryAfter(b))) => Err(RetryAfter(a.max(b))),
            (Err(wait), _) | (_, Err(wait)) => Err(wait),
            _ => Ok(()),
        }
    }

    /// Counts a wrong PIN for `member` from `address`.
    pub fn failed(&mut self, member: &str, address: &str, now_ms: u64) {
        let _ = self.by_member.take(member, now_ms);
        let _ = self.by_address.take(address, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, name: &str, pin_hash: &str) -> StaffMember {
        StaffMember {
            id: id.into(),
            display_name: name.into(),
            roles: vec!["venue_manager".into()],
            pin_hash: pin_hash.into(),
        }
    }

    #[test]
    fn a_session_holds_until_expiry_sign_out_a_new_pin_or_leaving_the_roster() {
        let kim = member("u-kim", "Kim", "hash-1");
        let desk = Desk::new([7; 32], vec![kim.clone(), member("u-lee", "Lee", "hash-2")]);
        let cookie = desk.issue(&kim, 1_000);
        let session = desk.session(&cookie, 2_000).expect("valid");
        assert_eq!(session.id, "u-kim");
        assert_eq!(session.display_name, "Kim");
        assert_eq!(desk.session(&cookie, 1_000 + SESSION_MS), None, "expired");
        // Another agent's key, or a changed byte: no session.
        let other = Desk::new([8; 32], vec![kim.clone()]);
        assert_eq!(other.session(&cookie, 2_000), None);
        let forged = cookie.replace("v1.", "v1.x");
        assert_eq!(desk.session(&forged, 2_000), None);
        for junk in [
            "",
            "v1",
            "v1.a.b.c.d",
            "v1....",
            "v2.a.1.n.m",
            "v1.a.1.n.m.extra",
        ] {
            assert_eq!(desk.session(junk, 2_000), None, "{junk:?}");
        }
        // A new PIN ends it; so does leaving the roster.
        desk.replace(vec![member("u-kim", "Kim", "hash-3")]);
        assert_eq!(desk.session(&cookie, 2_000), None);
        desk.replace(vec![kim.clone()]);
        assert!(desk.session(&cookie, 2_000).is_some());
        desk.replace(vec![]);
        assert_eq!(desk.session(&cookie, 2_000), None);
        desk.replace(vec![kim.clone()]);
        desk.sign_out(&session, 3_000);
        assert_eq!(desk.session(&cookie, 3_000), None, "signed out");
        assert!(desk.session(&desk.issue(&kim, 3_000), 3_000).is_some());
    }

    #[test]
    fn members_are_found_by_id_or_by_a_unique_name() {
        let desk = Desk::new(
            [1; 32],
            vec![
                member("a", "Kim", "h"),
                member("b", "Lee", "h"),
                member("c", "lee ", "h"),
            ],
        );
        assert!(matches!(desk.lookup(None, Some(" kim ")), Lookup::Found(m) if m.id == "a"));
        assert_eq!(desk.lookup(None, Some("Lee")), Lookup::Ambiguous);
        assert!(matches!(desk.lookup(Some("c"), Some("x")), Lookup::Found(m) if m.id == "c"));
        assert_eq!(desk.lookup(None, Some("Nobody")), Lookup::Unknown);
        assert_eq!(desk.lookup(None, None), Lookup::Unknown);
        assert_eq!(desk.lookup(Some("zz"), None), Lookup::Unknown);
    }

    #[test]
    fn wrong_pins_are_slowed_per_member_and_per_address() {
        let mut guard = PinGuard::default();
        for i in 0..MEMBER_FAILURES {
            assert_eq!(guard.admit("kim", &format!("10.0.0.{i}"), 0), Ok(()));
            guard.failed("kim", &format!("10.0.0.{i}"), 0);
        }
        assert_eq!(
            guard.admit("kim", "10.0.0.99", 0),
            Err(RetryAfter(MEMBER_REFILL_MS / 1_000)),
            "the member is slowed from any address"
        );
        assert_eq!(guard.admit("lee", "10.0.0.99", 0), Ok(()));
        assert_eq!(guard.admit("kim", "10.0.0.99", MEMBER_REFILL_MS), Ok(()));
        for i in 0..ADDRESS_FAILURES {
            guard.failed(&format!("m{i}"), "10.0.9.9", 0);
        }
        assert!(
            guard.admit("lee", "10.0.9.9", 0).is_err(),
            "the address too"
        );
    }

    #[test]
    fn pins_verify_against_cloud_sync_hashes_only() {
        // An Argon2id PHC string at OWASP's parameters, as cloud-sync's accounts::password makes.
        use argon2::password_hash::{PasswordHasher as _, SaltString};
        let params = argon2::Params::new(19 * 1024, 2, 1, None).expect("params");
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = SaltString::encode_b64(b"sixteen byte slt").expect("salt");
        let phc = argon
            .hash_password(b"482913", &salt)
            .expect("hash")
            .to_string();
        assert!(verify_pin("482913", &phc));
        assert!(!verify_pin("482914", &phc));
        assert!(!verify_pin("482913", "not a hash"));
        assert!(!verify_pin("482913", decoy_hash()));
        assert!(decoy_hash().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }
}
