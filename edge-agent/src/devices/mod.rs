//! Provisioned devices: who may connect to the embedded broker and what each may speak for.
//!
//! A device is an MQTT identity (username = device id, password = its secret) with the tables it
//! serves. The agent keeps only the SHA-256 of each secret (secrets are 256 random bits, so a slow
//! hash adds nothing but a CPU cost an attacker could make us pay on every CONNECT).
//!
//! [`Directory`] is the broker's view of them, shared with the broker's threads: `login` decides a
//! CONNECT, `tables` what a device may publish for. It is replaced whole whenever staff add or revoke
//! a device. [`Directory::withdrawn`] names whose credentials went; the broker does not cut a live
//! connection yet, but every publish of a revoked device is refused (`not_this_device`).
//!
//! The record is the device book (`book`: `DATA_DIR/devices.sqlite3`), written by staff through
//! the API or `edge-agent device …` (`cli`) and read back into the directory by [`Devices::watch`]
//! within a second of any change, whoever made it. `secret` makes and hashes secrets.

pub mod book;
pub mod cli;
pub mod secret;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub use book::{Book, Record};

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
#[derive(Clone, Debug)]
pub struct Directory {
    devices: Arc<RwLock<HashMap<String, Device>>>,
    anonymous: bool,
    /// Accepted logins since the last [`Directory::take_seen`]: device → ms.
    seen: Arc<Mutex<HashMap<String, u64>>>,
    /// Ids whose credentials were withdrawn by a `replace`.
    withdrawn: broadcast::Sender<String>,
}

impl Default for Directory {
    fn default() -> Directory {
        Directory::new(false)
    }
}

impl Directory {
    /// An empty directory; `anonymous` = `--allow-anonymous-devices` (the lab bench's open broker).
    pub fn new(anonymous: bool) -> Directory {
        Directory {
            devices: Arc::default(),
            anonymous,
            seen: Arc::default(),
            withdrawn: broadcast::channel(256).0,
        }
    }

    /// Whether unauthenticated devices are let in (lab bench).
    pub fn anonymous(&self) -> bool {
        self.anonymous
    }

    /// Replaces every device (after staff added or revoked one). Each device that was in and is
    /// no longer, or whose secret changed, is sent to [`Directory::withdrawn`]'s receivers.
    pub fn replace(&self, devices: Vec<Device>) {
        let map: HashMap<String, Device> = devices.into_iter().map(|d| (d.id.clone(), d)).collect();
        let gone = match self.devices.write() {
            Ok(mut guard) => {
                let gone = withdrawn(&guard, &map);
                *guard = map;
                gone
            }
            Err(_) => Vec::new(),
        };
        for id in gone {
            // No receiver (the broker does not listen, or an external broker): nothing to cut.
            let _ = self.withdrawn.send(id);
        }
    }

    /// The ids of devices revoked (or given a new secret) from now on: the broker cuts their live
    /// connections, which would otherwise last until they disconnect. A receiver that falls more
    /// than 256 behind gets `Lagged` and should check every connection against [`Directory::tables`].
    pub fn withdrawn(&self) -> broadcast::Receiver<String> {
        self.withdrawn.subscribe()
    }

    /// Every provisioned device's id.
    pub fn ids(&self) -> Vec<String> {
        self.devices
            .read()
            .map(|guard| guard.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The logins accepted since the last call: device → when (ms), for the device book's "last seen".
    pub fn take_seen(&self) -> HashMap<String, u64> {
        self.seen
            .lock()
            .map(|mut guard| std::mem::take(&mut *guard))
            .unwrap_or_default()
    }

    /// Like [`Directory::take_seen`] without taking them.
    pub fn seen(&self) -> HashMap<String, u64> {
        self.seen
            .lock()
            .map(|guard| guard.clone())
            .unwrap_or_default()
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
        let digest = secret::hash(password);
        let ok = digest
            .iter()
            .zip(device.secret_sha256.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        drop(guard);
        if ok && let Ok(mut seen) = self.seen.lock() {
            seen.insert(username.to_owned(), crate::clock::now_ms());
        }
        ok
    }

    /// The tables `device` may publish for; `None` if it is not provisioned.
    pub fn tables(&self, device: &str) -> Option<Vec<String>> {
        self.devices
            .read()
            .ok()?
            .get(device)
            .map(|d| d.tables.clone())
    }
}

/// The ids in `old` that `new` no longer has with the same secret (pure).
fn withdrawn(old: &HashMap<String, Device>, new: &HashMap<String, Device>) -> Vec<String> {
    old.values()
        .filter(|d| {
            new.get(&d.id)
                .is_none_or(|n| n.secret_sha256 != d.secret_sha256)
        })
        .map(|d| d.id.clone())
        .collect()
}

/// Why provisioning failed.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// A device or table id that topics do not allow, or no table.
    #[error("{0}")]
    Invalid(String),
    /// The device is provisioned and not revoked.
    #[error("device {0} is already provisioned; revoke it first to give it a new secret")]
    Exists(String),
    /// No such device.
    #[error("no device {0} is provisioned")]
    Unknown(String),
    /// The device book was written by a newer edge-agent.
    #[error(
        "the device book's schema version {0} is newer than this edge-agent; upgrade the agent"
    )]
    TooNew(i64),
    /// SQLite or the file system said no.
    #[error("device book {path}: {message}")]
    Store {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl DeviceError {
    fn store(path: &Path, error: impl std::fmt::Display) -> DeviceError {
        DeviceError::Store {
            path: path.to_owned(),
            message: error.to_string(),
        }
    }
}

/// How often the agent looks for changes to the device book made by another process.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);
/// How often accepted logins are written to the book as "last seen".
pub const SEEN_EVERY: Duration = Duration::from_secs(30);

/// The running agent's side of provisioning: the broker's [`Directory`], kept equal to the device
/// book (plus the demo's simulated devices, which live in memory only), and what the API does.
#[derive(Clone, Debug)]
pub struct Devices {
    directory: Directory,
    data_dir: PathBuf,
    extra: Arc<Vec<Device>>,
    embedded: bool,
}

impl Devices {
    /// Opens the book in `data_dir` and fills a new directory from it, plus `extra` devices kept in
    /// memory only. `embedded`: whether the agent runs the broker (else `anonymous` means nothing:
    /// the external broker decides who connects).
    ///
    /// # Errors
    ///
    /// When the book cannot be opened or read.
    pub fn load(
        data_dir: &Path,
        anonymous: bool,
        embedded: bool,
        extra: Vec<Device>,
    ) -> Result<Devices, DeviceError> {
        let devices = Devices::new(data_dir, anonymous, embedded, extra);
        let book = Book::open(data_dir)?;
        devices.fill(&book)?;
        Ok(devices)
    }

    /// Like [`Devices::load`] without reading the book yet: the directory holds `extra` only.
    #[must_use]
    pub fn new(data_dir: &Path, anonymous: bool, embedded: bool, extra: Vec<Device>) -> Devices {
        let directory = Directory::new(anonymous);
        directory.replace(extra.clone());
        Devices {
            directory,
            data_dir: data_dir.to_owned(),
            extra: Arc::new(extra),
            embedded,
        }
    }

    /// The broker's directory.
    #[must_use]
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Whether the agent's own broker is the one devices connect to.
    #[must_use]
    pub fn embedded(&self) -> bool {
        self.embedded
    }

    fn fill(&self, book: &Book) -> Result<(), DeviceError> {
        let mut devices = book.active()?;
        devices.extend(self.extra.iter().cloned());
        self.directory.replace(devices);
        Ok(())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Devices, &mut Book) -> Result<T, DeviceError> + Send + 'static,
    ) -> Result<T, DeviceError> {
        let devices = self.clone();
        let path = book::path(&self.data_dir);
        tokio::task::spawn_blocking(move || {
            let mut book = Book::open(&devices.data_dir)?;
            work(&devices, &mut book)
        })
        .await
        .map_err(|e| DeviceError::store(&path, e))?
    }

    /// Provisions `device` for `tables` (see [`Book::add`]); the directory has it on return.
    ///
    /// # Errors
    ///
    /// As [`Book::add`].
    pub async fn add(
        &self,
        device: String,
        tables: Vec<String>,
    ) -> Result<(Record, String), DeviceError> {
        self.blocking(move |devices, book| {
            let added = book.add(&device, &tables, crate::clock::now_ms())?;
            devices.fill(book)?;
            Ok(added)
        })
        .await
    }

    /// Revokes `device` (see [`Book::revoke`]); the directory no longer has it on return.
    ///
    /// # Errors
    ///
    /// As [`Book::revoke`].
    pub async fn revoke(&self, device: String) -> Result<Record, DeviceError> {
        self.blocking(move |devices, book| {
            let revoked = book.revoke(&device, crate::clock::now_ms())?;
            devices.fill(book)?;
            Ok(revoked)
        })
        .await
    }

    /// Every device in the book, with the logins not yet written to it as "last seen".
    ///
    /// # Errors
    ///
    /// As [`Book::list`].
    pub async fn list(&self) -> Result<Vec<Record>, DeviceError> {
        let seen = self.directory.seen();
        let mut records = self.blocking(|_, book| book.list()).await?;
        for record in &mut records {
            if let Some(at) = seen.get(&record.device) {
                record.last_seen_ms = Some(record.last_seen_ms.map_or(*at, |was| was.max(*at)));
            }
        }
        Ok(records)
    }

    /// Until `shutdown`: every [`WATCH_EVERY`], reloads the directory if another connection (the
    /// CLI in another process) changed the book; every [`SEEN_EVERY`], writes accepted logins as
    /// "last seen". A failing book is logged once per failure spell and retried; the directory keeps
    /// what it had.
    pub async fn watch(self, shutdown: CancellationToken) {
        let mut book: Option<Book> = None;
        let mut version = None;
        let mut failing = false;
        let mut last_flush = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let flush = last_flush.elapsed() >= SEEN_EVERY;
            if flush {
                last_flush = tokio::time::Instant::now();
            }
            let devices = self.clone();
            let taken = book.take();
            let outcome = tokio::task::spawn_blocking(move || {
                let mut book = match taken {
                    Some(book) => book,
                    None => Book::open(&devices.data_dir)?,
                };
                let result = devices.poll(&mut book, version, flush);
                result.map(|now| (book, now))
            })
            .await;
            match outcome {
                Ok(Ok((open, now))) => {
                    book = Some(open);
                    version = Some(now);
                    if failing {
                        tracing::info!("device book readable again");
                        failing = false;
                    }
                }
                Ok(Err(error)) => {
                    if !failing {
                        tracing::error!(%error, "cannot read the device book; devices keep the access they had");
                        failing = true;
                    }
                }
                Err(error) => tracing::error!(%error, "device book task failed"),
            }
        }
        // What was seen since the last flush.
        let seen = self.directory.take_seen();
        if !seen.is_empty() {
            let data_dir = self.data_dir.clone();
            let _ = tokio::task::spawn_blocking(move || Book::open(&data_dir)?.seen(&seen)).await;
        }
    }

    /// One look at the book: reload when its data version moved since `version`; write last-seen
    /// times when `flush`. The data version now.
    fn poll(&self, book: &mut Book, version: Option<i64>, flush: bool) -> Result<i64, DeviceError> {
        if flush {
            let seen = self.directory.take_seen();
            book.seen(&seen)?;
        }
        let now = book.data_version()?;
        if version != Some(now) {
            self.fill(book)?;
        }
        Ok(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str, secret: &str) -> Device {
        Device {
            id: id.to_owned(),
            tables: vec!["t1".to_owned()],
            secret_sha256: secret::hash(secret),
        }
    }

    #[test]
    fn login_needs_the_right_secret_and_replace_withdraws() {
        let directory = Directory::new(false);
        let mut withdrawn = directory.withdrawn();
        directory.replace(vec![device("a", "sa"), device("b", "sb")]);
        assert!(directory.login("a", "sa"));
        assert!(!directory.login("a", "sb"));
        assert!(!directory.login("c", "sa"));
        assert_eq!(directory.tables("b"), Some(vec!["t1".to_owned()]));
        assert!(directory.seen().contains_key("a"));
        assert!(!directory.seen().contains_key("b"));
        // b revoked, a given a new secret: both are withdrawn.
        directory.replace(vec![device("a", "sa2")]);
        let mut gone = vec![
            withdrawn.try_recv().expect("one"),
            withdrawn.try_recv().expect("two"),
        ];
        gone.sort();
        assert_eq!(gone, ["a", "b"]);
        assert!(withdrawn.try_recv().is_err());
        assert!(!directory.login("a", "sa"));
        assert!(directory.login("a", "sa2"));
        assert_eq!(directory.take_seen().len(), 1);
        assert!(directory.take_seen().is_empty());
    }
}
