//! The one writer: a thread that owns the write connection and commits every waiting write in one
//! transaction (group commit), then hands the committed views on: persist, then publish.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, params};
use shared::sync::Record;
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::checkpointer;
use super::reader::Reader;
use super::retention::{Retention, TRIM_EVERY_LETTERS, TRIM_EVERY_MS, bounded, trim_dead_letters};
use super::status::WriterStatus;
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
    /// Tournament inputs this input caused (a finished match's result, a call), in the same
    /// transaction.
    pub tournament: Vec<TournamentRow>,
}

/// One logged tournament input and the records it made.
#[derive(Debug)]
pub struct TournamentRow {
    /// Its seq (the event log's counter).
    pub seq: u64,
    /// The tournament.
    pub tournament_id: String,
    /// When (Unix ms).
    pub at_ms: u64,
    /// The input, as logged (JSON).
    pub input: String,
    /// Records for the outbox, in order.
    pub outbox: Vec<Record>,
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
    /// Tournament inputs of their own (staff's); `done` is told after the commit.
    Tournament {
        /// The rows, in seq order.
        rows: Vec<TournamentRow>,
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
    pub(super) status: Arc<WriterStatus>,
}

impl StoreTx {
    /// Queues a write, waiting if the writer is behind (backpressure on the engine).
    pub async fn send(&self, write: Write) -> Result<(), StoreError> {
        self.tx.send(write).await.map_err(|_| StoreError::Closed)
    }

    /// Queues a write only if there is room now and the writer commits: for what may be dropped
    /// (dead letters), which must never hold up the engine. False if it was dropped.
    pub fn offer(&self, write: Write) -> bool {
        self.can_commit() && self.tx.try_send(write).is_ok()
    }

    /// True while the writer commits; false while it retries a transaction it cannot commit (a
    /// full disk): then nothing new should be taken that would need saving.
    pub fn can_commit(&self) -> bool {
        self.status.can_commit()
    }

    /// The writer's state (for health).
    pub fn status(&self) -> &Arc<WriterStatus> {
        &self.status
    }

    /// Writes waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity().saturating_sub(self.tx.capacity())
    }

    /// A watch on the writer that does not keep it running (health holds one).
    pub fn watch(&self) -> StoreWatch {
        StoreWatch {
            tx: self.tx.downgrade(),
            status: self.status.clone(),
        }
    }
}

/// What health reads of the writer, without holding it open (a [`StoreTx`] would keep the
/// writer from stopping).
#[derive(Clone, Debug)]
pub struct StoreWatch {
    tx: mpsc::WeakSender<Write>,
    status: Arc<WriterStatus>,
}

impl StoreWatch {
    /// True while the writer commits.
    pub fn can_commit(&self) -> bool {
        self.status.can_commit()
    }

    /// The writer's state now.
    pub fn snapshot(&self) -> super::WriterSnapshot {
        self.status.snapshot()
    }

    /// Writes waiting for the writer (0 once it stopped).
    pub fn queue_depth(&self) -> usize {
        self.tx
            .upgrade()
            .map_or(0, |tx| tx.max_capacity().saturating_sub(tx.capacity()))
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
    let status = Arc::new(WriterStatus::default());
    let writer_status = status.clone();
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
            writer(conn, rx, &writer_status, on_commit, on_batch);
            drop(running);
            let _ = checkpoints.join();
        })
        .unwrap_or_else(|error| panic!("cannot start the SQLite writer thread: {error}"));
    (StoreTx { tx, status }, reader, handle)
}

/// The most writes one transaction takes; bounds latency under a burst.
const MAX_BATCH: usize = 1024;

/// Writes waiting for the writer. Each carries a view and its update message (~1 KB each) and its
/// table state, so the bound is also a memory bound; the engine waits when it is full. 256 is
/// several milliseconds of a 25,000 events/s burst, more than one commit takes, so the writer
/// still finds a full group waiting.
const QUEUE: usize = 256;

/// The longest wait between two tries of a transaction that failed: space freed on a full disk is
/// used within this long.
const MAX_RETRY: Duration = Duration::from_secs(2);

fn writer(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Write>,
    status: &WriterStatus,
    on_commit: impl Fn(&[Published]),
    on_batch: impl Fn(usize, Duration),
) {
    let retention = Retention::default();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let (mut letters_since_trim, mut last_trim_ms) = (0_u64, 0_u64);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        // A failed commit is retried, never skipped: the engine has already shown nothing of it.
        // Meanwhile `status` says the writer cannot commit, and the engine takes nothing new that
        // would need saving (staff get a 503, devices keep their events), so the queue stops
        // growing; the first commit that succeeds (space freed) opens it again.
        let mut delay = Duration::from_millis(50);
        let took = loop {
            match commit(&mut conn, &batch, &retention) {
                Ok(took) => break took,
                Err(error) => {
                    let error = describe(&error);
                    tracing::error!(%error, events = batch.len(), retry_in_ms = delay.as_millis(), "SQLite commit failed; retrying");
                    status.failed(crate::clock::now_ms(), error);
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(MAX_RETRY);
                }
            }
        };
        let now_ms = crate::clock::now_ms();
        if !status.can_commit() {
            tracing::warn!("SQLite commits again");
        }
        status.committed(now_ms);
        letters_since_trim += batch
            .iter()
            .filter(|w| matches!(w, Write::DeadLetter(_)))
            .count() as u64;
        if letters_since_trim >= TRIM_EVERY_LETTERS
            || (letters_since_trim > 0 && now_ms.saturating_sub(last_trim_ms) >= TRIM_EVERY_MS)
        {
            match trim_dead_letters(&conn, &retention, now_ms) {
                Ok(0) => {}
                Ok(rows) => {
                    tracing::info!(rows, "dead letters trimmed (retention)");
                    status.trimmed(rows);
                }
                Err(error) => tracing::warn!(%error, "cannot trim dead letters"),
            }
            (letters_since_trim, last_trim_ms) = (0, now_ms);
        }
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
                Write::Registry { done, .. } | Write::Tournament { done, .. } => {
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

/// A commit error in words: a full disk says so.
fn describe(error: &rusqlite::Error) -> String {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => format!("the disk is full ({error})"),
        Some(rusqlite::ErrorCode::TooBig) => format!("a file size limit was reached ({error})"),
        _ => error.to_string(),
    }
}

/// Writes `batch` in one transaction; returns how long the `COMMIT` itself took (the fsync).
/// Dead letters are kept within `retention`'s bounds.
pub(super) fn commit(
    conn: &mut Connection,
    batch: &[Write],
    retention: &Retention,
) -> rusqlite::Result<Duration> {
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
                    for row in &c.tournament {
                        tournament_row(&tx, row)?;
                    }
                }
                Write::Tournament { rows, .. } => {
                    for row in rows {
                        tournament_row(&tx, row)?;
                    }
                }
                Write::Device(mark) => {
                    marks.insert(mark.device.as_str(), mark);
                }
                Write::DeadLetter(d) => {
                    let (topic, payload, detail) = bounded(d, retention);
                    dead.execute(params![
                        to_i64(d.received_ms),
                        topic,
                        payload,
                        d.reason,
                        detail
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

fn tournament_row(conn: &Connection, row: &TournamentRow) -> rusqlite::Result<()> {
    let seq = to_i64(row.seq);
    conn.prepare_cached(
        "INSERT INTO tournament_events (seq, tournament_id, at_ms, input) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        seq,
        row.tournament_id,
        to_i64(row.at_ms),
        row.input
    ])?;
    for record in &row.outbox {
        outbox::write(conn, seq, "", record)?;
    }
    Ok(())
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
