//! Ids and names of what operators register (venues, players): ids are 128 random bits as hex (a
//! valid `shared` id, unguessable), names are what scoreboards and lists show.

use rand::RngCore as _;

/// A new random id: 128 bits as hex.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `name` is 1-100 characters once trimmed.
pub fn valid_name(name: &str) -> bool {
    let len = name.trim().chars().count();
    (1..=100).contains(&len)
}
