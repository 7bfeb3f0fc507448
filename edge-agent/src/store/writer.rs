//! The one writer: a thread that owns the write connection and commits every waiting write in one
//! transaction (group commit), then hands the committed views on: persist, then publish.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, params};
use shared::sync::Record;
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::checkpointer;
use super::reader::Reader;
use super::sync::{SyncWrite, sync_write};
use super::{DeviceMark, StoreError, db_path, outbox, to_i64};
use crate::view::Published;

/// One accepted input and everything it changes, committed together.
#[derive(Debug)]
pub struct Commit {
    /// Event-log sequence number (assigned by the engine, strictly increasing).
    pub seq: u64,
    /// Table id.
    pub table: String,
    /// Receive time.
    pub received_ms: u64,
    /// The device and its seq, for device events.
    pub device: Option<(String, u64)>,
    /// The input, as logged (JSON).
    pub input: String,
    /// The view it produced.
    pub view: Published,
    /// This input starts a new match: replay starts here.
    pub match_start: bool,
    /// The device's dedupe mark after this event, saved with it.
    pub device_mark: Option<DeviceMark>,
    /// Records for the outbox, in the order they happened; written as rows by `outbox`.
    pub outbox: Vec<Record>,
    /// Told the outcome after commit (staff requests wait for it).
    pub reply: Option<oneshot::Sender<Result<Published, String>>>,
}

/// A refused input, kept for inspection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// Receive time.
    pub received_ms: u64,
    /// Where it came from (MQTT topic, or `http:` + path).
    pub topic: String,
    /// The raw bytes.
    pub payload: Vec<u8>,
    /// Short reason (the metric label).
    pub reason: String,
    /// Details.
    pub detail: String,
}

/// Work for the writer thread.
#[derive(Debug)]
pub enum Write {
    /// An accepted input.
    Event(Box<Commit>),
    /// A device's dedupe mark changed without an event (e.g. a gap given up on).
    Device(DeviceMark),
    /// A refused input.
    DeadLetter(DeadLetter),
    /// Table registry entries, written before the events queued after them; `done` (if any) is
    /// told after the commit.
    Registry {
        /// The entries, new or changed.
        entries: Vec<crate::registry::Entry>,
        /// Told once they are committed.
        done: Option<oneshot::Sender<()>>,
    },
    /// Sync bookkeeping; `done` is told after the commit.
    Sync {
        /// What to write.
        write: SyncWrite,
        /// Told once it is committed.
        done: oneshot::Sender<()>,
    },
}

/// The writer side. Dropping every sender stops the writer after it drains.
#[derive(Clone, Debug)]
pub struct StoreTx {
    pub(super) tx: mpsc::Sender<Write>,
}

impl StoreTx {
    /// Queues a write, waiting if the writer is behind (backpressure on the engine).
    pub async fn send(&self, write: Write) -> Result<(), StoreError> {
        self.tx.send(write).await.map_err(|_| StoreError::Closed)
    }
}

/// Starts the writer thread on `conn`, and the checkpointer beside it (see [`checkpointer`]).
/// `on_commit` gets each committed group's views in seq order (their `committed` instant set);
/// `on_batch` each transaction's size and the time its `COMMIT` took (the fsync).
pub fn spawn_writer(
    conn: Connection,
    data_dir: &Path,
    on_commit: impl Fn(&[Published]) + Send + 'static,
    on_batch: impl Fn(usize, Duration) + Send + 'static,
) -> (StoreTx, Reader, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let path = db_path(data_dir);
    let reader = Reader::new(path.clone());
    // The writer holds `running`; when it stops, the checkpointer does a last pass and stops too.
    let (running, stopped) = std::sync::mpsc::channel::<()>();
    let checkpoints = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || checkpointer(&path, &stopped))
        .unwrap_or_else(|error| panic!("cannot start the SQLite checkpoint thread: {error}"));
    let handle = std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            writer(conn, rx, on_commit, on_batch);
            drop(running);
            let _ = checkpoints.join();
        })
        .unwrap_or_else(|error| panic!("cannot start the SQLite writer thread: {error}"));
    (StoreTx { tx }, reader, handle)
}

/// The most writes one transaction takes; bounds latency under a burst.
const MAX_BATCH: usize = 1024;

/// Writes waiting for the writer. Each carries a view and its update message (~1 KB each) and its
/// table state, so the bound is also a memory bound; the engine waits when it is full. 256 is
/// several milliseconds of a 25,000 events/s burst, more than one commit takes, so the writer
/// still finds a full group waiting.
const QUEUE: usize = 256;

fn writer(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Write>,
    on_commit: impl Fn(&[Published]),
    on_batch: impl Fn(usize, Duration),
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        // A failed commit is retried, never skipped: the engine has already shown nothing of it,
        // and the channel's bound holds the engine back meanwhile.
        let mut delay = Duration::from_millis(50);
        let took = loop {
            match commit(&mut conn, &batch) {
                Ok(took) => break took,
                Err(error) => {
                    tracing::error!(%error, events = batch.len(), "SQLite commit failed; retrying");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        };
        let committed = std::time::Instant::now();
        on_batch(batch.len(), took);
        let views: Vec<Published> = batch
            .iter_mut()
            .filter_map(|w| match w {
                Write::Event(c) => {
                    c.view.committed = Some(committed);
                    Some(c.view.clone())
                }
                _ => None,
            })
            .collect();
        on_commit(&views);
        for write in batch.drain(..) {
            match write {
                Write::Event(mut c) => {
                    if let Some(reply) = c.reply.take() {
                        let _ = reply.send(Ok(c.view));
                    }
                }
                Write::Sync { done, .. } => {
                    let _ = done.send(());
                }
                Write::Registry { done, .. } => {
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
                Write::Device(_) | Write::DeadLetter(_) => {}
            }
        }
    }
    tracing::info!("SQLite writer stopped");
}

/// Writes `batch` in one transaction; returns how long the `COMMIT` itself took (the fsync).
pub(super) fn commit(conn: &mut Connection, batch: &[Write]) -> rusqlite::Result<Duration> {
    let tx = conn.transaction()?;
    {
        let mut event = tx.prepare_cached(
            "INSERT INTO events (seq, table_id, received_ms, device, device_seq, input, view) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut dead = tx.prepare_cached(
            "INSERT INTO dead_letters (received_ms, topic, payload, reason, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        // Each table's row and each device's mark are written once per transaction, newest wins.
        let mut newest: HashMap<&str, (i64, Option<i64>, &str)> = HashMap::new();
        let mut marks: HashMap<&str, &DeviceMark> = HashMap::new();
        for write in batch {
            match write {
                Write::Event(c) => {
                    let seq = to_i64(c.seq);
                    let (device, device_seq) = match &c.device {
                        Some((device, seq)) => (Some(device.as_str()), Some(to_i64(*seq))),
                        None => (None, None),
                    };
                    event.execute(params![
                        seq,
                        c.table,
                        to_i64(c.received_ms),
                        device,
                        device_seq,
                        c.input,
                        &*c.view.json
                    ])?;
                    let entry =
                        newest
                            .entry(c.table.as_str())
                            .or_insert((seq, None, &*c.view.json));
                    *entry = (
                        seq,
                        if c.match_start { Some(seq) } else { entry.1 },
                        &*c.view.json,
                    );
                    for record in &c.outbox {
                        outbox::write(&tx, seq, &c.table, record)?;
                    }
                    if let Some(mark) = &c.device_mark {
                        marks.insert(mark.device.as_str(), mark);
                    }
                }
                Write::Device(mark) => {
                    marks.insert(mark.device.as_str(), mark);
                }
                Write::DeadLetter(d) => {
                    dead.execute(params![
                        to_i64(d.received_ms),
                        d.topic,
                        d.payload,
                        d.reason,
                        d.detail
                    ])?;
                }
                Write::Sync { write, .. } => sync_write(&tx, write)?,
                Write::Registry { entries, .. } => {
                    for entry in entries {
                        upsert_registry(&tx, entry)?;
                    }
                }
            }
        }
        let mut table = tx.prepare_cached(
            "INSERT INTO tables (table_id, seq, match_start_seq, view) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (table_id) DO UPDATE SET seq = excluded.seq, view = excluded.view,
               match_start_seq = COALESCE(excluded.match_start_seq, tables.match_start_seq)",
        )?;
        for (id, (seq, match_start, view)) in newest {
            table.execute(params![id, seq, match_start, view])?;
        }
        for mark in marks.into_values() {
            upsert_device(&tx, mark)?;
        }
    }
    let started = std::time::Instant::now();
    tx.commit()?;
    Ok(started.elapsed())
}

fn upsert_device(conn: &Connection, mark: &DeviceMark) -> rusqlite::Result<()> {
    let missing = serde_json::to_string(&mark.missing).unwrap_or_else(|_| "[]".into());
    let old_boots = serde_json::to_string(&mark.old_boots).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(
        "INSERT INTO devices (device, table_id, last_seq, missing, last_seen_ms, boot, old_boots)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (device) DO UPDATE SET table_id = excluded.table_id, last_seq = excluded.last_seq,
           missing = excluded.missing, last_seen_ms = excluded.last_seen_ms, boot = excluded.boot,
           old_boots = excluded.old_boots",
    )?
    .execute(params![
        mark.device,
        mark.table,
        to_i64(mark.last_seq),
        missing,
        to_i64(mark.last_seen_ms),
        mark.boot,
        old_boots
    ])?;
    Ok(())
}

fn upsert_registry(conn: &Connection, entry: &crate::registry::Entry) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO registry (table_id, name, position, retired) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (table_id) DO UPDATE SET name = excluded.name, position = excluded.position,
           retired = excluded.retired",
    )?
    .execute(params![
        entry.table,
        entry.name,
        entry.position,
        entry.retired
    ])?;
    Ok(())
}
