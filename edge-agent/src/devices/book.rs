//! The device book: `DATA_DIR/devices.sqlite3`, the record of provisioned devices (id, tables, the
//! SHA-256 of the secret, created, revoked, last seen). Never the secret itself.
//!
//! A file of its own, not a table in `edge.sqlite3`, because two processes write it: the running
//! agent (its API, and the last-seen times) and `edge-agent device …` beside it, which must work
//! whether the agent runs or not and must never touch the event store (no second writer next to
//! the store's group commit, no integrity check or migration of the event log from the CLI). It
//! also outlives a damaged event store that start-up moves aside: the venue's controllers keep
//! their credentials. SQLite's own locking (WAL, a busy timeout) serialises the two writers; the
//! agent notices the other's commits through `PRAGMA data_version` (see `super::watch`).
//!
//! Versioned like the event store (`user_version`): versions are only ever added.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{Device, DeviceError, secret};

/// The file inside the data folder.
pub const FILE: &str = "devices.sqlite3";

/// The newest schema version.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA_V1: &str = "
-- Provisioned devices: an MQTT identity (username = device) and the tables it may speak for.
CREATE TABLE devices (
    device TEXT PRIMARY KEY,
    tables TEXT NOT NULL,          -- JSON array of table ids, at least one
    secret_sha256 BLOB NOT NULL,   -- SHA-256 of the secret (32 bytes); the secret is never kept
    created_ms INTEGER NOT NULL,
    revoked_ms INTEGER,            -- set: refused at CONNECT, kept for the record
    last_seen_ms INTEGER           -- last CONNECT the embedded broker accepted, when known
);
";

/// Most tables one device may serve (a bridge serves one hall's tables).
pub const MAX_TABLES: usize = 64;

/// A device as staff see it: never its secret or its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Record {
    /// Device id (its MQTT username).
    pub device: String,
    /// The tables it may speak for.
    pub tables: Vec<String>,
    /// When it was provisioned (ms since the epoch).
    pub created_ms: u64,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<u64>,
    /// Its last accepted CONNECT, if known.
    pub last_seen_ms: Option<u64>,
}

/// The path of the book in `data_dir`.
#[must_use]
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// Checks a provisioning request: the device id and each table id are what topics allow
/// (`shared::protocol::valid_id`), at least one table, at most [`MAX_TABLES`]. The tables come back
/// sorted without repeats.
///
/// # Errors
///
/// [`DeviceError::Invalid`] naming what is wrong.
pub fn check_request(device: &str, tables: &[String]) -> Result<Vec<String>, DeviceError> {
    if !shared::protocol::valid_id(device) {
        return Err(DeviceError::Invalid(format!(
            "device id {device:?} must be 1-32 characters of letters, digits, '-' and '_'"
        )));
    }
    if let Some(bad) = tables.iter().find(|t| !shared::protocol::valid_id(t)) {
        return Err(DeviceError::Invalid(format!(
            "table id {bad:?} must be 1-32 characters of letters, digits, '-' and '_'"
        )));
    }
    let mut tables = tables.to_vec();
    tables.sort();
    tables.dedup();
    if tables.is_empty() {
        return Err(DeviceError::Invalid(
            "a device needs at least one table (--table T, repeatable)".to_owned(),
        ));
    }
    if tables.len() > MAX_TABLES {
        return Err(DeviceError::Invalid(format!(
            "a device may serve at most {MAX_TABLES} tables"
        )));
    }
    Ok(tables)
}

/// An open device book.
#[derive(Debug)]
pub struct Book {
    conn: Connection,
    path: PathBuf,
}

impl Book {
    /// Opens (creating and migrating) `DATA_DIR/devices.sqlite3`. A file made by the CLI run as
    /// another user (root) is given to the data folder's owner, so the agent can still write it.
    ///
    /// # Errors
    ///
    /// [`DeviceError::Store`] when the folder or the file cannot be opened, or
    /// [`DeviceError::TooNew`].
    pub fn open(data_dir: &Path) -> Result<Book, DeviceError> {
        let path = path(data_dir);
        std::fs::create_dir_all(data_dir).map_err(|e| DeviceError::store(&path, e))?;
        let mut conn = Connection::open(&path).map_err(|e| DeviceError::store(&path, e))?;
        configure(&conn).map_err(|e| DeviceError::store(&path, e))?;
        migrate(&mut conn, &path)?;
        give_to_folder_owner(data_dir, &path);
        Ok(Book { conn, path })
    }

    fn err(&self, error: impl std::fmt::Display) -> DeviceError {
        DeviceError::store(&self.path, error)
    }

    /// Provisions `device` for `tables` with a new secret, returned once here. A revoked device
    /// may be provisioned again (new secret, new tables); an active one may not.
    ///
    /// # Errors
    ///
    /// [`DeviceError::Invalid`], [`DeviceError::Exists`] or [`DeviceError::Store`].
    pub fn add(
        &mut self,
        device: &str,
        tables: &[String],
        now_ms: u64,
    ) -> Result<(Record, String), DeviceError> {
        let tables = check_request(device, tables)?;
        let secret = secret::generate();
        let digest = secret::hash(&secret);
        let tables_json = serde_json::to_string(&tables).map_err(|e| self.err(e))?;
        let tx = self
            .conn
            .transaction()
            .map_err(|e| DeviceError::store(&self.path, e))?;
        let active: Option<Option<i64>> = tx
            .query_row(
                "SELECT revoked_ms FROM devices WHERE device = ?1",
                [device],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| DeviceError::store(&self.path, e))?;
        if matches!(active, Some(None)) {
            return Err(DeviceError::Exists(device.to_owned()));
        }
        tx.execute(
            "INSERT OR REPLACE INTO devices (device, tables, secret_sha256, created_ms, revoked_ms, last_seen_ms)
             VALUES (?1, ?2, ?3, ?4, NULL, NULL)",
            params![device, tables_json, digest.as_slice(), to_i64(now_ms)],
        )
        .map_err(|e| DeviceError::store(&self.path, e))?;
        tx.commit().map_err(|e| DeviceError::store(&self.path, e))?;
        let record = Record {
            device: device.to_owned(),
            tables,
            created_ms: now_ms,
            revoked_ms: None,
            last_seen_ms: None,
        };
        Ok((record, secret))
    }

    /// Revokes `device` (kept, marked revoked). Revoking a revoked device changes nothing.
    ///
    /// # Errors
    ///
    /// [`DeviceError::Unknown`] or [`DeviceError::Store`].
    pub fn revoke(&mut self, device: &str, now_ms: u64) -> Result<Record, DeviceError> {
        self.conn
            .execute(
                "UPDATE devices SET revoked_ms = ?2 WHERE device = ?1 AND revoked_ms IS NULL",
                params![device, to_i64(now_ms)],
            )
            .map_err(|e| self.err(e))?;
        self.list()?
            .into_iter()
            .find(|r| r.device == device)
            .ok_or_else(|| DeviceError::Unknown(device.to_owned()))
    }

    /// Every device, revoked ones included, by id.
    ///
    /// # Errors
    ///
    /// [`DeviceError::Store`].
    pub fn list(&self) -> Result<Vec<Record>, DeviceError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT device, tables, created_ms, revoked_ms, last_seen_ms FROM devices ORDER BY device",
            )
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([], |r| {
                let tables: String = r.get(1)?;
                Ok(Record {
                    device: r.get(0)?,
                    tables: serde_json::from_str(&tables).unwrap_or_default(),
                    created_ms: to_u64(r.get(2)?),
                    revoked_ms: r.get::<_, Option<i64>>(3)?.map(to_u64),
                    last_seen_ms: r.get::<_, Option<i64>>(4)?.map(to_u64),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The unrevoked devices, as the broker's [`super::Directory`] takes them. A row whose hash is
    /// not 32 bytes (a hand-edited file) is left out: it could never log in.
    ///
    /// # Errors
    ///
    /// [`DeviceError::Store`].
    pub fn active(&self) -> Result<Vec<Device>, DeviceError> {
        let mut statement = self
            .conn
            .prepare("SELECT device, tables, secret_sha256 FROM devices WHERE revoked_ms IS NULL")
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([], |r| {
                let tables: String = r.get(1)?;
                let hash: Vec<u8> = r.get(2)?;
                Ok((r.get::<_, String>(0)?, tables, hash))
            })
            .map_err(|e| self.err(e))?;
        let mut devices = Vec::new();
        for row in rows {
            let (id, tables, hash) = row.map_err(|e| self.err(e))?;
            let Ok(secret_sha256) = <[u8; 32]>::try_from(hash.as_slice()) else {
                tracing::warn!(device = %id, "device book: a secret hash is not 32 bytes; the device cannot log in");
                continue;
            };
            devices.push(Device {
                id,
                tables: serde_json::from_str(&tables).unwrap_or_default(),
                secret_sha256,
            });
        }
        Ok(devices)
    }

    /// SQLite's `data_version`: changes whenever another connection (the CLI, the API) commits.
    ///
    /// # Errors
    ///
    /// [`DeviceError::Store`].
    pub fn data_version(&self) -> Result<i64, DeviceError> {
        self.conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Records last-seen times (only ever moved forward).
    ///
    /// # Errors
    ///
    /// [`DeviceError::Store`].
    pub fn seen(&mut self, seen: &HashMap<String, u64>) -> Result<(), DeviceError> {
        if seen.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction()
            .map_err(|e| DeviceError::store(&self.path, e))?;
        for (device, at) in seen {
            tx.execute(
                "UPDATE devices SET last_seen_ms = ?2 WHERE device = ?1 AND (last_seen_ms IS NULL OR last_seen_ms < ?2)",
                params![device, to_i64(*at)],
            )
            .map_err(|e| DeviceError::store(&self.path, e))?;
        }
        tx.commit().map_err(|e| DeviceError::store(&self.path, e))
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), DeviceError> {
    let store = |e: rusqlite::Error| DeviceError::store(path, e);
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(store)?;
    if version > SCHEMA_VERSION {
        return Err(DeviceError::TooNew(version));
    }
    if version < 1 {
        let tx = conn.transaction().map_err(store)?;
        // Another process may have created it between our read and our write lock.
        let again: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(store)?;
        if again < 1 {
            tx.execute_batch(SCHEMA_V1).map_err(store)?;
            tx.pragma_update(None, "user_version", 1).map_err(store)?;
        }
        tx.commit().map_err(store)?;
    }
    Ok(())
}

/// `edge-agent device add` run as root on a service's folder would leave a file the service user
/// cannot write; give it to whoever owns the folder (a no-op, or refused, when not root).
#[cfg(unix)]
fn give_to_folder_owner(data_dir: &Path, path: &Path) {
    use std::os::unix::fs::MetadataExt as _;
    let (Ok(dir), Ok(file)) = (std::fs::metadata(data_dir), std::fs::metadata(path)) else {
        return;
    };
    if (dir.uid(), dir.gid()) != (file.uid(), file.gid())
        && let Err(error) = std::os::unix::fs::chown(path, Some(dir.uid()), Some(dir.gid()))
    {
        tracing::warn!(file = %path.display(), %error, "the device book is not owned by the data folder's owner; run edge-agent device … as that user");
    }
}

#[cfg(not(unix))]
fn give_to_folder_owner(_data_dir: &Path, _path: &Path) {}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dojo-book-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn add_list_revoke_keeps_only_the_hash() {
        let dir = dir("basic");
        let mut book = Book::open(&dir).expect("opens");
        let (record, secret) = book
            .add("bridge-a", &["t2".into(), "t1".into(), "t2".into()], 1000)
            .expect("added");
        assert_eq!(record.tables, ["t1", "t2"]);
        let active = book.active().expect("active");
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].secret_sha256, secret::hash(&secret));
        assert!(matches!(
            book.add("bridge-a", &["t1".into()], 2000),
            Err(DeviceError::Exists(_))
        ));
        let revoked = book.revoke("bridge-a", 3000).expect("revoked");
        assert_eq!(revoked.revoked_ms, Some(3000));
        assert!(book.active().expect("active").is_empty());
        assert_eq!(
            book.revoke("bridge-a", 4000).expect("again").revoked_ms,
            Some(3000)
        );
        assert!(matches!(
            book.revoke("nobody", 1),
            Err(DeviceError::Unknown(_))
        ));
        let (_, again) = book
            .add("bridge-a", &["t3".into()], 5000)
            .expect("re-added");
        assert_ne!(again, secret);
        let mut seen = HashMap::new();
        seen.insert("bridge-a".to_owned(), 6000);
        book.seen(&seen).expect("seen");
        let list = book.list().expect("list");
        assert_eq!(list[0].last_seen_ms, Some(6000));
        assert_eq!(list[0].revoked_ms, None);
        drop(book);
        // The secret is nowhere on disk.
        for entry in std::fs::read_dir(&dir).expect("dir").flatten() {
            let bytes = std::fs::read(entry.path()).expect("read");
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(&again) && !text.contains(&secret));
        }
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn requests_are_checked() {
        assert!(check_request("ctl 1", &["t1".into()]).is_err());
        assert!(check_request("ctl-1", &[]).is_err());
        assert!(check_request("ctl-1", &["t/1".into()]).is_err());
        let many: Vec<String> = (0..=MAX_TABLES).map(|n| format!("t{n}")).collect();
        assert!(check_request("ctl-1", &many).is_err());
    }

    #[test]
    fn another_connection_s_commit_changes_the_data_version() {
        let dir = dir("version");
        let agent = Book::open(&dir).expect("opens");
        let before = agent.data_version().expect("version");
        let mut cli = Book::open(&dir).expect("opens again");
        cli.add("cam-1", &["t1".into()], 1).expect("added");
        assert_ne!(agent.data_version().expect("version"), before);
        assert_eq!(agent.active().expect("active").len(), 1);
        std::fs::remove_dir_all(dir).ok();
    }
}
