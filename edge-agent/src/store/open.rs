//! Opening the database at start-up: an `integrity_check` (a damaged file is moved aside, never
//! deleted, and a fresh one started), the migrations, and reading back what the engine replays.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, params};

use super::checkpoint::WRITER_CHECKPOINT_PAGES;
use super::schema::migrate;
use super::{DeviceMark, StoreError, db_path, to_u64};

/// The logged inputs of one table, to replay at start-up.
#[derive(Debug)]
pub struct RecoveredTable {
    /// Table id.
    pub table: String,
    /// (seq, received_ms, input JSON) from the current match's start (or the table's first event).
    pub events: Vec<(u64, u64, String)>,
    /// The view last committed, to check the replay against.
    pub view: String,
}

/// One logged tournament input, to replay at start-up.
#[derive(Debug)]
pub struct RecoveredTournamentInput {
    /// Its seq.
    pub seq: u64,
    /// The tournament.
    pub tournament_id: String,
    /// When (Unix ms).
    pub at_ms: u64,
    /// The input JSON.
    pub input: String,
}

/// What was on disk.
#[derive(Debug)]
pub struct Recovered {
    /// This database's epoch: a random id made when it was created.
    pub epoch: String,
    /// The highest event seq.
    pub last_seq: u64,
    /// Every table.
    pub tables: Vec<RecoveredTable>,
    /// Every device's dedupe mark.
    pub devices: Vec<DeviceMark>,
    /// The table registry.
    pub registry: Vec<crate::registry::Entry>,
    /// Every tournament input, in seq order.
    pub tournaments: Vec<RecoveredTournamentInput>,
    /// Where a damaged database was moved, if one was.
    pub moved_aside: Option<PathBuf>,
}

/// Opens (creating, checking and migrating) the database and reads what must be replayed.
pub fn open(data_dir: &Path) -> Result<(Connection, Recovered), StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
        path: data_dir.to_owned(),
        source,
    })?;
    let path = db_path(data_dir);
    let mut moved_aside = None;
    let mut conn = match check(&path) {
        Ok(conn) => conn,
        Err(problem) => {
            let aside = data_dir.join(format!("edge.sqlite3.damaged-{}", crate::clock::now_ms()));
            tracing::error!(%problem, moved_to = %aside.display(), "database failed its integrity check; moving it aside and starting a new one");
            for suffix in ["", "-wal", "-shm"] {
                let from = PathBuf::from(format!("{}{suffix}", path.display()));
                if from.exists() {
                    let to = PathBuf::from(format!("{}{suffix}", aside.display()));
                    std::fs::rename(&from, &to)
                        .map_err(|source| StoreError::Io { path: from, source })?;
                }
            }
            moved_aside = Some(aside);
            check(&path).map_err(|_| StoreError::Closed)?
        }
    };
    migrate(&mut conn)?;
    let mut recovered = recover(&conn)?;
    recovered.moved_aside = moved_aside;
    Ok((conn, recovered))
}

pub(super) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Checkpoints are the checkpointer thread's job (see `checkpointer`), not the committing
    // writer's; the writer's own is kept as a safety net only.
    conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
    conn.pragma_update(None, "foreign_keys", "ON")
}

/// Opens the file and runs `integrity_check`; an error or a non-`ok` answer means damaged.
fn check(path: &Path) -> Result<Connection, String> {
    let conn = Connection::open(path).map_err(|e| e.to_string())?;
    configure(&conn).map_err(|e| e.to_string())?;
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|e| e.to_string())?;
    if verdict == "ok" {
        Ok(conn)
    } else {
        Err(verdict)
    }
}

fn recover(conn: &Connection) -> Result<Recovered, StoreError> {
    let epoch: String = conn.query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |r| {
        r.get(0)
    })?;
    // Tournament inputs share the event log's counter: the highest of both is the last seq.
    let last_seq: Option<i64> = conn.query_row(
        "SELECT MAX(s) FROM (SELECT MAX(seq) AS s FROM events UNION ALL SELECT MAX(seq) FROM tournament_events)",
        [],
        |r| r.get(0),
    )?;
    let mut tables = Vec::new();
    let mut by_table = conn.prepare(
        "SELECT table_id, COALESCE(match_start_seq, 0), view FROM tables ORDER BY table_id",
    )?;
    let mut events = conn.prepare(
        "SELECT seq, received_ms, input FROM events WHERE table_id = ?1 AND seq >= ?2 ORDER BY seq",
    )?;
    let rows: Vec<(String, i64, String)> = by_table
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (table, from, view) in rows {
        let logged = events
            .query_map(params![table, from], |r| {
                Ok((to_u64(r.get(0)?), to_u64(r.get(1)?), r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        tables.push(RecoveredTable {
            table,
            events: logged,
            view,
        });
    }
    let mut devices = conn.prepare(
        "SELECT device, table_id, last_seq, missing, last_seen_ms, boot, old_boots FROM devices",
    )?;
    let devices = devices
        .query_map([], |r| {
            let missing: String = r.get(3)?;
            Ok(DeviceMark {
                device: r.get(0)?,
                table: r.get(1)?,
                last_seq: to_u64(r.get(2)?),
                missing: serde_json::from_str(&missing).unwrap_or_default(),
                last_seen_ms: to_u64(r.get(4)?),
                boot: r.get(5)?,
                old_boots: serde_json::from_str(&r.get::<_, String>(6)?).unwrap_or_default(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut registry = conn.prepare(
        "SELECT table_id, name, position, retired FROM registry ORDER BY position, table_id",
    )?;
    let registry = registry
        .query_map([], |r| {
            Ok(crate::registry::Entry {
                table: r.get(0)?,
                name: r.get(1)?,
                position: u32::try_from(r.get::<_, i64>(2)?).unwrap_or(u32::MAX),
                retired: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut tournaments = conn
        .prepare("SELECT seq, tournament_id, at_ms, input FROM tournament_events ORDER BY seq")?;
    let tournaments = tournaments
        .query_map([], |r| {
            Ok(RecoveredTournamentInput {
                seq: to_u64(r.get(0)?),
                tournament_id: r.get(1)?,
                at_ms: to_u64(r.get(2)?),
                input: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Recovered {
        epoch,
        tournaments,
        last_seq: last_seq.map_or(0, to_u64),
        tables,
        devices,
        registry,
        moved_aside: None,
    })
}
