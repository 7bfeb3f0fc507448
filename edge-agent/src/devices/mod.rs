//! Provisioned devices: who may connect to the embedded broker and what each may speak for.
//!
//! A device is an MQTT identity (username = device id, password = its secret) with the tables it
//! serves. The agent keeps only the SHA-256 of each secret (secrets are 256 random bits, so a slow
//! hash adds nothing but a CPU cost an attacker could make us pay on every CONNECT).
//!
//! [`Directory`] is the broker's view of them, shared with the broker's threads: `login` decides a
//! CONNECT, `tables` what a device may publish for. It is replaced whole whenever staff add or revoke
//! a device (the store is the source of truth; see `store`).
//!
//! GROUNDWORK (lead): this is the interface the broker (`mqtt::embedded`) and the management side
//! (store, CLI, API, console) share. Fill in, keep the signatures.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

/// One provisioned device, as the broker needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Device id: its MQTT username.
    pub id: String,
    /// Tables it may publish for (at least one).
    pub tables: Vec<String>,
    /// SHA-256 of its secret.
    pub secret_sha256: [u8; 32],
}

/// The provisioned devices, shared between the broker's threads and the agent.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    devices: Arc<RwLock<HashMap<String, Device>>>,
    anonymous: bool,
}

impl Directory {
    /// An empty directory; `anonymous` = `--allow-anonymous-devices` (the lab bench's open broker).
    pub fn new(anonymous: bool) -> Directory {
        Directory {
            devices: Arc::default(),
            anonymous,
        }
    }

    /// Whether unauthenticated devices are let in (lab bench).
    pub fn anonymous(&self) -> bool {
        self.anonymous
    }

    /// Replaces every device (after staff added or revoked one).
    pub fn replace(&self, devices: Vec<Device>) {
        let map = devices.into_iter().map(|d| (d.id.clone(), d)).collect();
        if let Ok(mut guard) = self.devices.write() {
            *guard = map;
        }
    }

    /// Whether `username`/`password` is a provisioned, unrevoked device. Compares the hashes in
    /// constant time.
    pub fn login(&self, username: &str, password: &str) -> bool {
        let Ok(guard) = self.devices.read() else {
            return false;
        };
        let Some(device) = guard.get(username) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        digest
            .iter()
            .zip(device.secret_sha256.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// The tables `device` may publish for; `None` if it is not provisioned.
    pub fn tables(&self, device: &str) -> Option<Vec<String>> {
        self.devices.read().ok()?.get(device).map(|d| d.tables.clone())
    }
}
