//! The outbox rows: the one place the edge turns the table's typed [`shared::sync::Record`]s into
//! what cloud-sync receives. Each row's `kind` is the record's, its payload the record's JSON; in
//! the same transaction `matches` and `racks` are kept in step from the typed record, without
//! reading the JSON back.

use rusqlite::{Connection, params};
use shared::sync::Record;

use super::to_i64;

/// Writes `record`, made by event `seq` on `table`, as an outbox row, and keeps `matches` and
/// `racks` in step with it.
pub(super) fn write(
    conn: &Connection,
    seq: i64,
    table: &str,
    record: &Record,
) -> rusqlite::Result<()> {
    let Some(id) = record.match_id() else {
        // A `rejected` placeholder is made from a row already in the outbox (see `sync`); a table
        // never emits one.
        tracing::error!(
            kind = record.kind(),
            "a record naming no match is not written to the outbox"
        );
        return Ok(());
    };
    // Plain structs, nothing serde_json refuses. Should it ever, the row says `null`: the cloud
    // refuses it as invalid and it is dead-lettered, never lost.
    let payload = record.payload_text().unwrap_or_else(|error| {
        tracing::error!(%error, kind = record.kind(), "cannot serialize an outbox record");
        "null".to_owned()
    });
    conn.prepare_cached(
        "INSERT INTO outbox (event_seq, kind, match_id, payload) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![seq, record.kind(), id, payload])?;
    match record {
        Record::MatchStarted(r) => {
            let spec = serde_json::to_string(&r.spec).unwrap_or_default();
            conn.prepare_cached(
                "INSERT OR IGNORE INTO matches (match_id, table_id, started_seq, spec) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id, table, seq, spec])?;
        }
        Record::RackFinished(r) => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO racks (match_id, ordinal, winner, finished_seq, record) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![id, r.ordinal, to_i64(r.winner as u64), seq, payload])?;
        }
        Record::MatchFinished(r) => {
            conn.prepare_cached("UPDATE matches SET finished_seq = ?2, winner = ?3, result = ?4 WHERE match_id = ?1")?
                .execute(params![id, seq, to_i64(r.winner as u64), payload])?;
        }
        Record::ResultCorrected(r) => {
            conn.prepare_cached("DELETE FROM racks WHERE match_id = ?1 AND ordinal > ?2")?
                .execute(params![id, r.racks_finished])?;
            if !r.match_finished {
                conn.prepare_cached(
                    "UPDATE matches SET finished_seq = NULL, winner = NULL, result = NULL WHERE match_id = ?1",
                )?
                .execute([id])?;
            }
        }
        Record::MatchVoided(_) => {
            // Over, won by nobody: no winner and no result (the record stays in the outbox).
            conn.prepare_cached(
                "UPDATE matches SET finished_seq = ?2, winner = NULL, result = NULL WHERE match_id = ?1",
            )?
            .execute(params![id, seq])?;
        }
        Record::Rejected(_)
        | Record::TournamentStarted(_)
        | Record::TournamentEntered(_)
        | Record::TournamentCalled(_) => {}
    }
    Ok(())
}
