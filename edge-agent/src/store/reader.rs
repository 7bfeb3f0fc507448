//! Read-only queries for the API and the sync task, each on a connection of its own: WAL lets them
//! run beside the writer, and none of them waits for it. Every method blocks (call it from
//! `spawn_blocking`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, params};
use shared::sync::{Player, RawRecord};

use super::writer::DeadLetter;
use super::{StoreError, to_i64, to_u64};

/// What the sync task and the API show about sync.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncStatus {
    /// Outbox records not yet acknowledged.
    pub pending: u64,
    /// The oldest of them.
    pub oldest_seq: Option<u64>,
    /// The cloud's last acknowledged high-water mark.
    pub acked_seq: u64,
    /// Where the player change log was read up to.
    pub players_cursor: u64,
    /// Records the cloud refused, kept in `sync_dead_letters`.
    pub dead_letters: u64,
}

/// An outbox record the cloud refused.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SyncDeadLetter {
    /// Its outbox seq.
    pub seq: u64,
    /// Its kind.
    pub kind: String,
    /// Its match.
    pub match_id: String,
    /// Its payload, as it was.
    pub payload: String,
    /// Why the cloud refused it.
    pub reason: String,
    /// When (Unix ms).
    pub refused_ms: u64,
}

/// Read-only access for the API, on its own connection (WAL lets reads run beside the writer).
#[derive(Clone, Debug)]
pub struct Reader {
    path: Arc<PathBuf>,
}

/// What `Reader::since` found.
#[derive(Debug)]
pub enum Since {
    /// Every view committed after the seq (filtered), in seq order, as JSON.
    Views(Vec<Arc<str>>),
    /// More views than the limit: send a fresh snapshot instead.
    TooFarBehind,
    /// More bytes than the limit: send a fresh snapshot instead.
    TooLarge,
}

/// One kept dead letter, as [`Reader::dead_letters`] reads it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptDeadLetter {
    /// Row id: increases with every dead letter kept, so it orders them and pages through them.
    pub id: u64,
    /// The refused message.
    pub letter: DeadLetter,
}

/// A page of dead letters, newest first, with the totals of the whole table.
#[derive(Debug)]
pub struct DeadLetterPage {
    /// At most the limit asked for, newest (highest id) first.
    pub rows: Vec<KeptDeadLetter>,
    /// Whether older rows exist beyond this page (ask again with `before` = the last row's id).
    pub more: bool,
    /// Every dead letter kept, per reason, sorted by reason.
    pub counts: Vec<(String, u64)>,
}

impl Reader {
    /// A reader of the database at `path` (opened per call, read-only).
    pub fn new(path: PathBuf) -> Reader {
        Reader {
            path: Arc::new(path),
        }
    }

    pub(super) fn connect(&self) -> Result<Connection, StoreError> {
        let conn =
            Connection::open_with_flags(&*self.path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(conn)
    }

    /// The oldest unacknowledged outbox records: at most `max_records`, and no more than
    /// `max_bytes` of payload (but always at least one). Blocking.
    pub fn outbox(
        &self,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<RawRecord>, StoreError> {
        self.outbox_after(0, max_records, max_bytes)
    }

    /// Like [`Reader::outbox`], for the records after seq `after` only: the batch behind one
    /// still in flight. Blocking.
    pub fn outbox_after(
        &self,
        after: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<RawRecord>, StoreError> {
        let conn = self.connect()?;
        let mut stmt = conn.prepare(
            "SELECT seq, kind, match_id, payload FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let mut rows = stmt.query([
            to_i64(after),
            i64::try_from(max_records).unwrap_or(i64::MAX),
        ])?;
        let (mut records, mut bytes) = (Vec::new(), 0usize);
        while let Some(row) = rows.next()? {
            let payload: String = row.get(3)?;
            bytes += payload.len();
            if bytes > max_bytes && !records.is_empty() {
                break;
            }
            records.push(RawRecord {
                seq: to_u64(row.get(0)?),
                kind: row.get(1)?,
                match_id: row.get(2)?,
                // Written by us as JSON; should it ever not parse, the cloud refuses it as
                // invalid and it is dead-lettered, never lost.
                payload: serde_json::from_str(&payload)
                    .unwrap_or(serde_json::Value::String(payload)),
            });
        }
        Ok(records)
    }

    /// The oldest acknowledged record still kept in `sync_sent`, if any: a cloud restored from a
    /// backup can be sent everything from there on again. Blocking.
    pub fn oldest_kept_sent(&self) -> Result<Option<u64>, StoreError> {
        let conn = self.connect()?;
        let oldest: Option<i64> =
            conn.query_row("SELECT MIN(seq) FROM sync_sent", [], |r| r.get(0))?;
        Ok(oldest.map(to_u64))
    }

    /// Where sync stands. Blocking.
    pub fn sync_status(&self) -> Result<SyncStatus, StoreError> {
        let conn = self.connect()?;
        let (pending, oldest): (i64, Option<i64>) =
            conn.query_row("SELECT COUNT(*), MIN(seq) FROM outbox", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let meta = |key: &str| -> Result<u64, StoreError> {
            let value: Option<String> = conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .ok();
            Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
        };
        let dead_letters: i64 =
            conn.query_row("SELECT COUNT(*) FROM sync_dead_letters", [], |r| r.get(0))?;
        Ok(SyncStatus {
            pending: to_u64(pending),
            oldest_seq: oldest.map(to_u64),
            acked_seq: meta("sync_acked_seq")?,
            players_cursor: meta("players_cursor")?,
            dead_letters: to_u64(dead_letters),
        })
    }

    /// Outbox records cloud-sync refused, newest first. Blocking.
    pub fn sync_dead_letters(&self, limit: usize) -> Result<Vec<SyncDeadLetter>, StoreError> {
        let conn = self.connect()?;
        let mut stmt = conn.prepare(
            "SELECT seq, kind, match_id, payload, reason, refused_ms FROM sync_dead_letters ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok(SyncDeadLetter {
                    seq: to_u64(r.get(0)?),
                    kind: r.get(1)?,
                    match_id: r.get(2)?,
                    payload: r.get(3)?,
                    reason: r.get(4)?,
                    refused_ms: to_u64(r.get(5)?),
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Registered players copied from cloud-sync, by name. Blocking.
    pub fn players(&self) -> Result<Vec<Player>, StoreError> {
        let conn = self.connect()?;
        let mut stmt = conn.prepare("SELECT id, name, rating FROM players ORDER BY name, id")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Player {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    rating: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The venue's staff copied from cloud-sync, by name. Blocking.
    pub fn staff(&self) -> Result<Vec<shared::sync::StaffMember>, StoreError> {
        let conn = self.connect()?;
        let mut stmt = conn.prepare(
            "SELECT id, display_name, roles, pin_hash FROM staff ORDER BY display_name, id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                let roles: String = r.get(2)?;
                Ok(shared::sync::StaffMember {
                    id: r.get(0)?,
                    display_name: r.get(1)?,
                    roles: serde_json::from_str(&roles).unwrap_or_default(),
                    pin_hash: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// One registered player. Blocking.
    pub fn player(&self, id: &str) -> Result<Option<Player>, StoreError> {
        let conn = self.connect()?;
        let mut stmt = conn.prepare("SELECT id, name, rating FROM players WHERE id = ?1")?;
        let mut rows = stmt.query([id])?;
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        Ok(Some(Player {
            id: row.get(0)?,
            name: row.get(1)?,
            rating: row.get(2)?,
        }))
    }

    /// Views committed after `seq` for `tables` (all if `None`), at most `limit` views and
    /// `max_bytes` of their JSON: beyond either, [`Since::TooFarBehind`] or [`Since::TooLarge`]
    /// without reading further. Blocking: call it from `spawn_blocking`.
    pub fn since(
        &self,
        seq: u64,
        tables: Option<&[String]>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Since, StoreError> {
        let conn = self.connect()?;
        // A reconnecting screen reads each page once: a small page cache is enough, and several
        // replays at once then cost little memory (SQLite's default is about 2 MB a connection).
        conn.pragma_update(None, "cache_size", -256)?;
        let mut stmt =
            conn.prepare("SELECT table_id, view FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
        // Over-fetch by one to know whether the client is too far behind.
        let cap = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let mut views = Vec::new();
        let mut rows = stmt.query(params![to_i64(seq), cap])?;
        let (mut seen, mut bytes) = (0usize, 0usize);
        while let Some(row) = rows.next()? {
            seen += 1;
            if seen > limit {
                return Ok(Since::TooFarBehind);
            }
            let table: String = row.get(0)?;
            if tables.is_none_or(|wanted| wanted.contains(&table)) {
                let view: String = row.get(1)?;
                bytes = bytes.saturating_add(view.len());
                if bytes > max_bytes {
                    return Ok(Since::TooLarge);
                }
                views.push(Arc::from(view));
            }
        }
        Ok(Since::Views(views))
    }

    /// The finished racks of `match_id` in order, as (ordinal, winning seat): the racks so far
    /// that a phone lists. Blocking.
    pub fn racks(&self, match_id: &str) -> Result<Vec<(u64, u64)>, StoreError> {
        let conn = self.connect()?;
        let mut stmt =
            conn.prepare("SELECT ordinal, winner FROM racks WHERE match_id = ?1 ORDER BY ordinal")?;
        let rows = stmt.query_map([match_id], |row| {
            Ok((to_u64(row.get(0)?), to_u64(row.get(1)?)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Dead letters older than `before` (every one if `None`), newest first, at most `limit`, with
    /// the count per reason. One read transaction, so the page and the counts agree even while the
    /// writer adds rows. Blocking: call it from `spawn_blocking`.
    pub fn dead_letters(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<DeadLetterPage, StoreError> {
        let mut conn = self.connect()?;
        let tx = conn.transaction()?;
        let before = before.map_or(i64::MAX, to_i64);
        // Over-fetch by one to know whether an older page exists.
        let cap = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let mut rows = {
            let mut stmt = tx.prepare(
                "SELECT id, received_ms, topic, payload, reason, detail FROM dead_letters
                 WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            stmt.query_map(params![before, cap], |r| {
                Ok(KeptDeadLetter {
                    id: to_u64(r.get(0)?),
                    letter: DeadLetter {
                        received_ms: to_u64(r.get(1)?),
                        topic: r.get(2)?,
                        payload: r.get(3)?,
                        reason: r.get(4)?,
                        detail: r.get(5)?,
                    },
                })
            })?
            .collect::<Result<Vec<_>, _>>()?
        };
        let more = rows.len() > limit;
        rows.truncate(limit);
        let counts = {
            let mut stmt = tx.prepare(
                "SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason ORDER BY reason",
            )?;
            stmt.query_map([], |r| Ok((r.get(0)?, to_u64(r.get(1)?))))?
                .collect::<Result<Vec<_>, _>>()?
        };
        tx.finish()?;
        Ok(DeadLetterPage { rows, more, counts })
    }
}
