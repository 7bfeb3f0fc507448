//! Pairing a player's phone with a table: a capability for one table's current match, with no app
//! and no account (docs/decisions/0009-phone-pairing.md).
//!
//! A table's **code** (6 characters from [`ALPHABET`], shown on its TV as text and as a QR code)
//! is a MAC of the table and its match id under the agent's [`Secret`]: it needs no storage, is
//! the same after a restart, changes with every match and stops working when the match ends
//! (only matches in play are searched). A phone that shows a valid code and picks a free seat
//! gets a **token**, another MAC, of the table, the match, the seat and a random nonce: the API
//! checks it against the table's current match, so it is worth nothing for another table or once
//! the match is over. The first phone to claim a seat holds it (its nonce is the seat's claim);
//! staff can release a seat for a player whose phone is lost. Claims live in memory: after a
//! restart the first valid token shown for a seat claims it again.
//!
//! Pairing state is not match state: nothing here goes into the event log. What a paired phone
//! does to the match goes through the engine as an action by `Actor::Player { seat }`.

mod secret;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub use secret::{FILE as SECRET_FILE, Secret};

/// The characters of a code: no 0/O, no 1/I, so a code read off a TV across the room is typed
/// right. 32 of them: each is 5 bits of the MAC.
pub const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Characters in a code (30 bits; guessing is rate-limited per address).
pub const CODE_LEN: usize = 6;
/// The version prefix of phone tokens.
const TOKEN_PREFIX: &str = "p1";

/// Why a pairing or a phone's token was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    /// The code matches no table's match in play (mistyped, or the match ended).
    #[error("no match in play has this code: check the code on the table's screen")]
    UnknownCode,
    /// A seat is 0 or 1.
    #[error("seat must be 0 or 1")]
    NoSuchSeat,
    /// Another phone holds the seat.
    #[error("seat {0} is already paired with another phone; staff can release it")]
    SeatTaken(u8),
    /// The token is not one of ours for this table's current match.
    #[error(
        "this phone is not paired with this table's match: pair again with the code on its screen"
    )]
    NotPaired,
    /// The seat was released and paired again on another phone.
    #[error("this seat is now paired with another phone")]
    Replaced,
}

/// Who claimed a seat: the table, the match, the seat.
type Seat = (String, String, u8);

/// The pairing secret and the seats' claims. Shared by the API's handlers.
#[derive(Debug)]
pub struct Pairing {
    secret: Secret,
    claims: Mutex<Claims>,
}

/// Who holds each seat, and the phones staff took a seat from.
#[derive(Debug, Default)]
struct Claims {
    /// The nonce of the phone holding each claimed seat.
    held: HashMap<Seat, String>,
    /// Nonces of phones whose seat staff released: refused for good, so a released phone cannot
    /// claim its seat back the way a phone does after a restart.
    revoked: HashSet<String>,
}

impl Pairing {
    /// Pairing under `secret`, no seat claimed yet.
    pub fn new(secret: Secret) -> Pairing {
        Pairing {
            secret,
            claims: Mutex::new(Claims::default()),
        }
    }

    /// The code of `table`'s match `match_id`.
    pub fn code(&self, table: &str, match_id: &str) -> String {
        let mac = self.mac(&[b"code", table.as_bytes(), match_id.as_bytes()]);
        mac.iter()
            .take(CODE_LEN)
            .map(|byte| char::from(ALPHABET[usize::from(byte & 31)]))
            .collect()
    }

    /// Which of the `live` matches (table, match id) has `code`, if any. Every candidate is
    /// compared whole, so the time taken says nothing about how close a guess was.
    pub fn find<'a>(
        &self,
        code: &str,
        live: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<(String, String)> {
        let code = normalize(code)?;
        let mut found = None;
        for (table, match_id) in live {
            let expected = self.code(table, match_id);
            if constant_time_eq(expected.as_bytes(), code.as_bytes()) && found.is_none() {
                found = Some((table.to_owned(), match_id.to_owned()));
            }
        }
        found
    }

    /// Claims `seat` of `table`'s match `match_id` for a new phone: its token.
    pub fn pair(&self, table: &str, match_id: &str, seat: u8) -> Result<String, PairingError> {
        if seat > 1 {
            return Err(PairingError::NoSuchSeat);
        }
        let nonce = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>());
        let mut claims = lock(&self.claims);
        // Claims of the table's earlier matches are worthless now.
        (claims.held).retain(|(t, m, _), _| t != table || m == match_id);
        let key = (table.to_owned(), match_id.to_owned(), seat);
        if claims.held.contains_key(&key) {
            return Err(PairingError::SeatTaken(seat));
        }
        claims.held.insert(key, nonce.clone());
        drop(claims);
        let mac = self.token_mac(table, match_id, seat, &nonce);
        Ok(format!(
            "{TOKEN_PREFIX}.{seat}.{nonce}.{}",
            URL_SAFE_NO_PAD.encode(mac)
        ))
    }

    /// The seat `token` holds in `table`'s match `match_id`.
    pub fn check(&self, table: &str, match_id: &str, token: &str) -> Result<u8, PairingError> {
        let (seat, nonce) = self.verify(table, match_id, token)?;
        let mut claims = lock(&self.claims);
        if claims.revoked.contains(&nonce) {
            return Err(PairingError::Replaced);
        }
        let key = (table.to_owned(), match_id.to_owned(), seat);
        match claims.held.get(&key) {
            Some(holder) if *holder == nonce => Ok(seat),
            Some(_) => Err(PairingError::Replaced),
            None => {
                // Claims are kept in memory: after a restart, the first valid token claims again.
                claims.held.insert(key, nonce);
                Ok(seat)
            }
        }
    }

    /// Frees `seat` of `table`'s match for another phone (staff). `true` if a phone held it.
    pub fn release(&self, table: &str, match_id: &str, seat: u8) -> bool {
        let mut claims = lock(&self.claims);
        let released = (claims.held).remove(&(table.to_owned(), match_id.to_owned(), seat));
        match released {
            Some(nonce) => {
                claims.revoked.insert(nonce);
                true
            }
            None => false,
        }
    }

    /// Which seats of `table`'s match a phone holds.
    pub fn seats_taken(&self, table: &str, match_id: &str) -> [bool; 2] {
        let claims = lock(&self.claims);
        [0, 1]
            .map(|seat| (claims.held).contains_key(&(table.to_owned(), match_id.to_owned(), seat)))
    }

    /// The seat and nonce of a well-formed token whose MAC is right for this table and match.
    fn verify(
        &self,
        table: &str,
        match_id: &str,
        token: &str,
    ) -> Result<(u8, String), PairingError> {
        let mut parts = token.split('.');
        let (Some(TOKEN_PREFIX), Some(seat), Some(nonce), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(PairingError::NotPaired);
        };
        let seat = match seat {
            "0" => 0,
            "1" => 1,
            _ => return Err(PairingError::NotPaired),
        };
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| PairingError::NotPaired)?;
        self.hmac(&[
            b"phone",
            table.as_bytes(),
            match_id.as_bytes(),
            &[seat],
            nonce.as_bytes(),
        ])
        .verify_slice(&mac)
        .map_err(|_| PairingError::NotPaired)?;
        Ok((seat, nonce.to_owned()))
    }

    fn token_mac(&self, table: &str, match_id: &str, seat: u8, nonce: &str) -> [u8; 32] {
        self.mac(&[
            b"phone",
            table.as_bytes(),
            match_id.as_bytes(),
            &[seat],
            nonce.as_bytes(),
        ])
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        self.hmac(parts).finalize().into_bytes().into()
    }

    /// HMAC-SHA-256 of `parts`, each length-prefixed so that no two lists of parts collide.
    fn hmac(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        // HMAC pads a key shorter than SHA-256's 64-byte block with zeros: the same MAC as keying
        // with the 32-byte secret, without a fallible constructor.
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(&self.secret.0);
        let mut mac = Hmac::<Sha256>::new(&key.into());
        for part in parts {
            mac.update(&u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
            mac.update(part);
        }
        mac
    }
}

/// A code as typed: case and spaces or dashes do not matter. `None` if it cannot be a code.
pub fn normalize(code: &str) -> Option<String> {
    let code: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = code.len() == CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b));
    valid.then_some(code)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = u8::from(a.len() != b.len());
    for (x, y) in a.iter().zip(b) {
        difference |= x ^ y;
    }
    std::hint::black_box(difference) == 0
}

/// A poisoned lock only means another thread panicked while holding it; the map stays usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairing() -> Pairing {
        Pairing::new(Secret([7; 32]))
    }

    #[test]
    fn a_code_is_per_table_and_match_and_stable() {
        let pairing = pairing();
        let code = pairing.code("t1", "m-1");
        assert_eq!(code.len(), CODE_LEN);
        assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
        assert_eq!(code, pairing.code("t1", "m-1"), "the same after a restart");
        assert_ne!(code, pairing.code("t1", "m-2"), "rotates with the match");
        assert_ne!(code, pairing.code("t2", "m-1"));
        assert_ne!(code, Pairing::new(Secret([8; 32])).code("t1", "m-1"));
    }

    #[test]
    fn a_code_finds_its_match_in_play_only() {
        let pairing = pairing();
        let code = pairing.code("t2", "m-9");
        let live = [("t1", "m-1"), ("t2", "m-9")];
        assert_eq!(
            pairing.find(&code, live),
            Some(("t2".to_owned(), "m-9".to_owned()))
        );
        let typed = format!(" {}-{} ", &code[..3], code[3..].to_lowercase());
        assert!(pairing.find(&typed, live).is_some(), "as typed: {typed}");
        // The match ended: it is no longer in play.
        assert_eq!(pairing.find(&code, [("t1", "m-1")]), None);
        assert_eq!(pairing.find("", live), None);
        assert_eq!(pairing.find("0OI1AA", live), None);
    }

    #[test]
    fn a_token_is_for_its_table_match_and_seat() {
        let pairing = pairing();
        let token = pairing.pair("t1", "m-1", 1).expect("paired");
        assert_eq!(pairing.check("t1", "m-1", &token), Ok(1));
        assert_eq!(
            pairing.check("t2", "m-1", &token),
            Err(PairingError::NotPaired)
        );
        assert_eq!(
            pairing.check("t1", "m-2", &token),
            Err(PairingError::NotPaired)
        );
        let forged = token.replacen("p1.1.", "p1.0.", 1);
        assert_eq!(
            pairing.check("t1", "m-1", &forged),
            Err(PairingError::NotPaired)
        );
        for junk in ["", "p1", "p1.1.x.y.z", "p1.2.abc.def", "Bearer x"] {
            assert_eq!(
                pairing.check("t1", "m-1", junk),
                Err(PairingError::NotPaired),
                "{junk}"
            );
        }
        assert_eq!(pairing.pair("t1", "m-1", 2), Err(PairingError::NoSuchSeat));
    }

    #[test]
    fn a_seat_has_one_phone_until_staff_release_it() {
        let pairing = pairing();
        let first = pairing.pair("t1", "m-1", 0).expect("paired");
        assert_eq!(
            pairing.pair("t1", "m-1", 0),
            Err(PairingError::SeatTaken(0))
        );
        assert_eq!(pairing.seats_taken("t1", "m-1"), [true, false]);
        assert!(pairing.release("t1", "m-1", 0));
        assert_eq!(
            pairing.check("t1", "m-1", &first),
            Err(PairingError::Replaced),
            "a released phone cannot take its seat back"
        );
        let second = pairing.pair("t1", "m-1", 0).expect("paired again");
        assert_eq!(
            pairing.check("t1", "m-1", &first),
            Err(PairingError::Replaced)
        );
        assert_eq!(pairing.check("t1", "m-1", &second), Ok(0));
        // The next match frees the table's seats.
        assert!(pairing.pair("t1", "m-2", 0).is_ok());
        assert_eq!(pairing.seats_taken("t1", "m-1"), [false, false]);
    }

    #[test]
    fn after_a_restart_the_first_valid_token_claims_its_seat_again() {
        let before = pairing();
        let token = before.pair("t1", "m-1", 0).expect("paired");
        let after = pairing();
        assert_eq!(after.check("t1", "m-1", &token), Ok(0));
        assert_eq!(after.pair("t1", "m-1", 0), Err(PairingError::SeatTaken(0)));
    }
}
