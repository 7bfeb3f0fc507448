//! The checkpointer thread: moves the WAL's committed pages into the database file beside the
//! writer, so no commit on the path to the screens pays for a checkpoint.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::open::configure;

/// How often the checkpointer moves the WAL's committed pages into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// The writer's own automatic checkpoint, in WAL pages: only a safety net should the checkpointer
/// fall far behind (64 MiB of WAL).
pub(super) const WRITER_CHECKPOINT_PAGES: i64 = 16_384;

/// Copies committed WAL pages into the database file, every [`CHECKPOINT_EVERY`], on a connection
/// of its own, until `stopped` disconnects.
///
/// Why a thread: SQLite's automatic checkpoint runs inside the `COMMIT` that crosses 1000 WAL
/// pages, so every few seconds under load one event's commit also wrote and fsynced the database
/// file, several milliseconds on the path to the screens. A `PASSIVE` checkpoint here blocks
/// neither the writer nor readers; once it has copied every frame the writer starts the WAL over
/// from its beginning, so the file stays small.
pub(super) fn checkpointer(path: &Path, stopped: &std::sync::mpsc::Receiver<()>) {
    let mut conn = None;
    // Failures in a row: the first is logged, then only when the run ends (no log line twice a
    // second for as long as the disk misbehaves).
    let mut failures = 0u32;
    loop {
        let last = !matches!(
            stopped.recv_timeout(CHECKPOINT_EVERY),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout)
        );
        // Opened on the first pass (and again after a failed open); checkpoints from the next.
        let outcome = match &conn {
            Some(c) => checkpoint(c).map(|_| ()),
            None => Connection::open(path)
                .and_then(|c| configure(&c).map(|()| c))
                .map(|c| conn = Some(c)),
        };
        match outcome {
            Ok(()) if failures > 0 => {
                tracing::info!(failures, "WAL checkpoints work again");
                failures = 0;
            }
            Ok(()) => {}
            Err(error) => {
                if failures == 0 {
                    tracing::warn!(%error, "WAL checkpoint failed; retrying every 500 ms");
                }
                failures = failures.saturating_add(1);
            }
        }
        if last {
            return;
        }
    }
}

/// One `PASSIVE` checkpoint: returns the WAL's frames and how many of them are now in the
/// database file.
pub(super) fn checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get(1)?, row.get(2)?))
    })
}
