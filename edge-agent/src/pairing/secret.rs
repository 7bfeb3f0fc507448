//! The agent's pairing secret: 32 random bytes in `pairing.key` in the data folder, made on the
//! first start (mode 0600) and kept, so that a table's code and its phones' tokens survive a
//! restart. Never logged; replacing the file unpairs every phone and changes every code.

use std::io::{self, Read, Write};
use std::path::Path;

/// The file in the data folder.
pub const FILE: &str = "pairing.key";

const LEN: usize = 32;

/// The key every pairing code and phone token is a MAC with.
#[derive(Clone)]
pub struct Secret(pub(super) [u8; LEN]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A fresh random secret (tests, and the first start).
    pub fn random() -> Secret {
        Secret(rand::random())
    }

    /// A key for another purpose, derived from this one (HMAC-SHA-256 of `label`), so one file
    /// keeps the agent's keys and no two purposes share a key (staff sessions: `crate::staff`).
    pub fn derive(&self, label: &[u8]) -> [u8; 32] {
        use hmac::{Hmac, KeyInit, Mac};
        let mut key = [0u8; 64];
        key[..LEN].copy_from_slice(&self.0);
        let mut mac = Hmac::<sha2::Sha256>::new(&key.into());
        mac.update(label);
        mac.finalize().into_bytes().into()
    }

    /// The secret in `dir`, made there if there is none. A file of the wrong size (damaged) is
    /// replaced: phones pair again, nothing else depends on it.
    pub fn load_or_create(dir: &Path) -> io::Result<Secret> {
        let path = dir.join(FILE);
        match std::fs::File::open(&path) {
            Ok(mut file) => {
                let mut bytes = Vec::with_capacity(LEN);
                file.read_to_end(&mut bytes)?;
                if let Ok(key) = <[u8; LEN]>::try_from(bytes.as_slice()) {
                    return Ok(Secret(key));
                }
                tracing::warn!(path = %path.display(), "pairing key damaged; making a new one (phones pair again)");
                std::fs::remove_file(&path)?;
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        let secret = Secret::random();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path)?;
        file.write_all(&secret.0)?;
        file.sync_all()?;
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_survives_a_restart_and_a_damaged_one_is_replaced() {
        let dir = std::env::temp_dir().join(format!("dojo-pairing-key-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("dir");
        let first = Secret::load_or_create(&dir).expect("made");
        let again = Secret::load_or_create(&dir).expect("read");
        assert_eq!(first.0, again.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(FILE))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "only the agent's user may read it");
        }
        std::fs::write(dir.join(FILE), b"short").expect("damage");
        let replaced = Secret::load_or_create(&dir).expect("replaced");
        assert_ne!(replaced.0, first.0);
        assert_eq!(format!("{replaced:?}"), "Secret(..)", "never printed");
        std::fs::remove_dir_all(dir).ok();
    }
}
