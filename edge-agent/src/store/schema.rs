//! The database's tables, version by version, and the migrations that bring an older file up to
//! the newest. The schema on disk is a contract with every venue's existing database: versions
//! are only ever added.

use rusqlite::Connection;

use super::StoreError;

/// The newest schema version; `migrate` brings older files up to it.
pub(super) const SCHEMA_VERSION: i64 = 7;

const SCHEMA_V1: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Every accepted input, with the view it produced: the log that state is replayed from.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    table_id TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    device TEXT,
    device_seq INTEGER,
    input TEXT NOT NULL,
    view TEXT NOT NULL
);
CREATE INDEX events_by_table ON events (table_id, seq);
-- The current view of each table, and where its current match starts in the log.
CREATE TABLE tables (
    table_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    match_start_seq INTEGER,
    view TEXT NOT NULL
);
-- Per-device dedupe: the seq up to which every event is applied or given up on (in seq order), and
-- gaps still open below it (only written by versions that applied events in arrival order).
CREATE TABLE devices (
    device TEXT PRIMARY KEY,
    table_id TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    missing TEXT NOT NULL,
    last_seen_ms INTEGER NOT NULL
);
-- Finished racks and matches, and what cloud-sync will drain, written with the event that made them.
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    match_id TEXT NOT NULL,
    payload TEXT NOT NULL
);
-- Every match and finished rack, kept after the outbox is drained (derived from the outbox rows).
CREATE TABLE matches (
    match_id TEXT PRIMARY KEY,
    table_id TEXT NOT NULL,
    started_seq INTEGER NOT NULL,
    spec TEXT NOT NULL,
    finished_seq INTEGER,
    winner INTEGER,
    result TEXT
);
CREATE TABLE racks (
    match_id TEXT NOT NULL REFERENCES matches (match_id),
    ordinal INTEGER NOT NULL,
    winner INTEGER NOT NULL,
    finished_seq INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (match_id, ordinal)
);
-- Inputs that were refused, kept for staff to inspect.
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_ms INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL
);
";

/// Version 2: what cloud sync keeps at the venue.
const SCHEMA_V2: &str = "
-- Outbox records cloud-sync refused as invalid, kept for staff (their outbox row became a
-- `rejected` placeholder, so the sequence stays without a gap).
CREATE TABLE sync_dead_letters (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    match_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    reason TEXT NOT NULL,
    refused_ms INTEGER NOT NULL
);
-- Staff page dead letters by reason.
CREATE INDEX dead_letters_by_reason ON dead_letters (reason);
-- Registered players, copied from cloud-sync's change log (cursor in meta `players_cursor`).
CREATE TABLE players (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    rating INTEGER
);
";

/// Version 3: acknowledged records are kept a while, for a cloud restored from a backup.
const SCHEMA_V3: &str = "
-- Outbox rows cloud-sync acknowledged, moved here and kept `sync_keep_days`: should the cloud come
-- back from a backup and ask for a seq it had acknowledged, they go back into the outbox.
CREATE TABLE sync_sent (
    seq INTEGER PRIMARY KEY,
    event_seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    match_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    acked_ms INTEGER NOT NULL
);
CREATE INDEX sync_sent_by_age ON sync_sent (acked_ms);
";

/// Version 4: the table registry. Every table a database already has is registered as it is
/// (named by its id, in id order), so an upgrade refuses nothing that worked before.
const SCHEMA_V4: &str = "
-- The venue's tables (crate::registry): only registered, unretired tables take writes.
CREATE TABLE registry (
    table_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    retired INTEGER NOT NULL DEFAULT 0
);
INSERT INTO registry (table_id, name, position, retired)
    SELECT table_id, table_id, ROW_NUMBER() OVER (ORDER BY table_id), 0 FROM tables;
";

/// Version 5: device boots (decision 0014). A mark's seq counts in its device's `boot`; the boots
/// before it (a JSON array, newest first) are remembered so their late messages are duplicates.
const SCHEMA_V5: &str = "
ALTER TABLE devices ADD COLUMN boot TEXT;
ALTER TABLE devices ADD COLUMN old_boots TEXT NOT NULL DEFAULT '[]';
";

/// Version 6: the venue's staff (issue 17), pulled from cloud-sync with the players, so staff sign
/// in at the console with their PIN for weeks offline (`crate::staff`).
const SCHEMA_V6: &str = "
-- Users with a role at this venue who set a console PIN: the Argon2id PHC string, never the PIN.
-- Replaced whole by each pull whose version differs (meta `staff_version`).
CREATE TABLE staff (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    roles TEXT NOT NULL,
    pin_hash TEXT NOT NULL
);
";

/// Version 7: tournaments at the venue (`crate::tournament`). Their inputs share the event log's
/// seq (one counter orders everything the engine logged) and are replayed at start-up.
const SCHEMA_V7: &str = "
-- Every accepted tournament input (`TournamentInput` JSON), in the engine's seq order.
CREATE TABLE tournament_events (
    seq INTEGER PRIMARY KEY,
    tournament_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    input TEXT NOT NULL
);
CREATE INDEX tournament_events_by_id ON tournament_events (tournament_id, seq);
";

pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew(version));
    }
    if version < 1 {
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA_V1)?;
        let epoch = format!("{:032x}", rand::random::<u128>());
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('epoch', ?1)",
            [epoch],
        )?;
        tx.pragma_update(None, "user_version", 1)?;
        tx.commit()?;
    }
    if version < 2 {
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA_V2)?;
        tx.pragma_update(None, "user_version", 2)?;
        tx.commit()?;
    }
    if version < 3 {
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA_V3)?;
        tx.pragma_update(None, "user_version", 3)?;
        tx.commit()?;
    }
    if version < 4 {
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA_V4)?;
        tx.pragma_update(None, "user_version", 4)?;
        tx.commit()?;
    }
    if version < 5 {
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA_V5)?;
        tx.pragma_update(None, "user_version", 5)?;
        tx.commit()?;
    }
    if version < 6 {
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA_V6)?;
        tx.pragma_update(None, "user_version", 6)?;
        tx.commit()?;
    }
    if version < 7 {
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA_V7)?;
        tx.pragma_update(None, "user_version", 7)?;
        tx.commit()?;
    }
    Ok(())
}
