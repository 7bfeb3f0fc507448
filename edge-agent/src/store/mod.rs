//! SQLite: the venue's system of record. One writer thread owns the write connection and commits in
//! groups: every input waiting when a transaction starts goes into it, so under load one fsync
//! covers many events instead of one each (measured: ~8k single-row FULL commits/s vs ~300k rows/s
//! at 100 per transaction).
//!
//! In one transaction per group: the event-log row (the input and the view it produced), the table's
//! current view, the device's dedupe mark and any outbox rows. Only after the commit returns are the
//! views handed to `on_commit` (the WebSocket hub): persist, then publish.
//!
//! `synchronous=FULL` in WAL mode, so a committed event survives power loss. At open, `integrity_check`
//! runs; a damaged file is moved aside (never deleted) and a fresh one started.
//!
//! - `schema`: the tables, and the migrations between versions;
//! - `open`: open, check, migrate, and read back what must be replayed;
//! - `writer`: the writer thread and its group commit;
//! - `checkpoint`: the thread that moves WAL pages into the database file;
//! - `outbox`: the table's typed records as outbox rows (and `matches`, `racks`);
//! - `sync`: what the sync task writes (acknowledgements, refusals, registered players);
//! - `reader`: read-only queries for the API and the sync task, on their own connections;
//! - `match_log`: one match's logged inputs, read back to replay it (the rack replay's layouts);
//! - `results`: the venue's finished matches, read back for the results API;
//! - `retention`: the bounds on kept dead letters (payload prefix, age, rows, bytes);
//! - `status`: whether the writer commits, for the engine and health (a full disk).

mod checkpoint;
mod match_log;
mod open;
mod outbox;
mod reader;
mod results;
mod retention;
mod schema;
mod status;
mod sync;
#[cfg(test)]
mod tests;
mod writer;

use std::path::{Path, PathBuf};

pub use match_log::MatchLog;
pub use open::{Recovered, RecoveredTable, RecoveredTournamentInput, open};
pub use reader::{DeadLetterPage, KeptDeadLetter, Reader, Since, SyncDeadLetter, SyncStatus};
pub use results::{MatchResult, RackResult, ResultsPage, ResultsQuery};
pub use retention::Retention;
pub use status::{WriterSnapshot, WriterStatus};
pub use sync::SyncWrite;
pub use writer::{Commit, DeadLetter, StoreTx, StoreWatch, TournamentRow, Write, spawn_writer};

/// A device's dedupe mark, owned by `ingest` and saved here with the device's events.
pub use crate::ingest::DeviceMark;

use schema::SCHEMA_VERSION;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The data directory is unusable.
    #[error("data directory {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file was written by a newer edge-agent.
    #[error(
        "database schema version {0} is newer than this edge-agent ({SCHEMA_VERSION}); upgrade the agent"
    )]
    TooNew(i64),
    /// The writer thread is gone.
    #[error("the store is closed")]
    Closed,
}

/// The database file inside `data_dir`.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("edge.sqlite3")
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
