//! The venue's results: finished matches read back from `matches` and `racks` (kept by the outbox
//! writer in the transaction of the event that finished them, and kept after cloud sync drains the
//! outbox), with the times from the event log. Newest first, in keyset pages on the finishing
//! event's seq, so a page never shifts while matches finish.

use rusqlite::params;
use serde::Serialize;
use shared::rules::{Game, Input, PlayerStats};
use shared::sync::{MatchFinished, RackFinished};

use super::reader::Reader;
use super::{StoreError, to_i64, to_u64};

/// Which finished matches to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResultsQuery {
    /// Only matches finished before this cursor (a previous page's `next_before`).
    pub before: Option<u64>,
    /// At most this many.
    pub limit: usize,
    /// Only this table's.
    pub table: Option<String>,
    /// Only matches with a player whose name contains this (case-insensitive).
    pub player: Option<String>,
    /// Only matches started in `[from_ms, to_ms)` (a day at the venue).
    pub started: Option<(u64, u64)>,
}

/// One finished rack.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RackResult {
    /// 1, 2, … in the match.
    pub ordinal: u32,
    /// Seat of the rack's winner.
    pub winner: usize,
    /// The score after it.
    pub score: [i32; 2],
    /// The match's statistics after it.
    pub stats: [PlayerStats; 2],
    /// Its shots, as the rules engine took them (only in a single match's read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shots: Option<Vec<Input>>,
}

/// One finished match.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatchResult {
    /// Edge-local match id.
    pub match_id: String,
    /// Its table.
    pub table: String,
    /// The game.
    pub game: Game,
    /// The players; index 0 broke first.
    pub players: [String; 2],
    /// Racks (14.1: points) to win.
    pub race_to: u32,
    /// The final score.
    pub score: [i32; 2],
    /// Seat of the winner.
    pub winner: usize,
    /// When it started and finished (the agent's clock, Unix ms).
    pub started_ms: u64,
    /// See `started_ms`.
    pub finished_ms: u64,
    /// Its racks, in order.
    pub racks: Vec<RackResult>,
    /// Per-player statistics of the whole match.
    pub stats: [PlayerStats; 2],
    /// Every input of the match, the shot log (only in a single match's read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<Input>>,
}

/// A page of results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResultsPage {
    /// Newest first.
    pub matches: Vec<MatchResult>,
    /// Pass as `before` for the next (older) page; `null` on the last one.
    pub next_before: Option<u64>,
}

/// A row of `matches` joined to its events.
struct Row {
    match_id: String,
    table: String,
    finished_seq: u64,
    started_ms: u64,
    finished_ms: u64,
    result: String,
}

const SELECT: &str =
    "SELECT m.match_id, m.table_id, m.finished_seq, s.received_ms, f.received_ms, m.result
     FROM matches m
     JOIN events s ON s.seq = m.started_seq
     JOIN events f ON f.seq = m.finished_seq
     WHERE m.finished_seq IS NOT NULL AND m.result IS NOT NULL";

impl Reader {
    /// Finished matches matching `query`, newest first, with their racks. Blocking.
    pub fn results(&self, query: &ResultsQuery) -> Result<ResultsPage, StoreError> {
        let mut conn = self.connect()?;
        let tx = conn.transaction()?;
        let (from, to) = query.started.unwrap_or((0, u64::MAX));
        let player = query.player.as_deref().map(str::to_lowercase);
        // Over-fetch by one to know whether an older page exists.
        let cap = i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX);
        let rows: Vec<Row> = {
            let mut stmt = tx.prepare_cached(&format!(
                "{SELECT}
                 AND m.finished_seq < ?1
                 AND (?2 IS NULL OR m.table_id = ?2)
                 AND (?3 IS NULL
                      OR instr(lower(json_extract(m.spec, '$.players[0]')), ?3) > 0
                      OR instr(lower(json_extract(m.spec, '$.players[1]')), ?3) > 0)
                 AND s.received_ms >= ?4 AND s.received_ms < ?5
                 ORDER BY m.finished_seq DESC LIMIT ?6"
            ))?;
            stmt.query_map(
                params![
                    query.before.map_or(i64::MAX, to_i64),
                    query.table.as_deref(),
                    player,
                    to_i64(from),
                    to_i64(to),
                    cap
                ],
                row,
            )?
            .collect::<Result<_, _>>()?
        };
        let more = rows.len() > query.limit;
        let mut matches = Vec::with_capacity(rows.len().min(query.limit));
        let mut next_before = None;
        for row in rows.into_iter().take(query.limit) {
            next_before = Some(row.finished_seq);
            if let Some(result) = build(&tx, row, false)? {
                matches.push(result);
            }
        }
        tx.finish()?;
        Ok(ResultsPage {
            matches,
            next_before: next_before.filter(|_| more),
        })
    }

    /// One finished match with its shot log and each rack's shots; `None` if there is no such
    /// finished match. Blocking.
    pub fn result(&self, match_id: &str) -> Result<Option<MatchResult>, StoreError> {
        let mut conn = self.connect()?;
        let tx = conn.transaction()?;
        let row = {
            let mut stmt = tx.prepare_cached(&format!("{SELECT} AND m.match_id = ?1"))?;
            let mut rows = stmt.query_map([match_id], row)?;
            rows.next().transpose()?
        };
        let found = match row {
            Some(row) => build(&tx, row, true)?,
            None => None,
        };
        tx.finish()?;
        Ok(found)
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        match_id: r.get(0)?,
        table: r.get(1)?,
        finished_seq: to_u64(r.get(2)?),
        started_ms: to_u64(r.get(3)?),
        finished_ms: to_u64(r.get(4)?),
        result: r.get(5)?,
    })
}

/// The match of `row` with its racks (and, `detailed`, the shots). A record that no longer parses
/// (written by us, so it should not happen) is logged and skipped, never a failed page.
fn build(
    tx: &rusqlite::Transaction<'_>,
    row: Row,
    detailed: bool,
) -> Result<Option<MatchResult>, StoreError> {
    let finished: MatchFinished = match serde_json::from_str(&row.result) {
        Ok(finished) => finished,
        Err(error) => {
            tracing::error!(match_id = %row.match_id, %error, "a kept match result does not parse");
            return Ok(None);
        }
    };
    let mut stmt =
        tx.prepare_cached("SELECT record FROM racks WHERE match_id = ?1 ORDER BY ordinal")?;
    let records = stmt
        .query_map([&row.match_id], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let racks = records
        .iter()
        .filter_map(
            |record| match serde_json::from_str::<RackFinished>(record) {
                Ok(rack) => Some(RackResult {
                    ordinal: rack.ordinal,
                    winner: rack.winner,
                    score: rack.score,
                    stats: rack.stats,
                    shots: detailed.then_some(rack.shots),
                }),
                Err(error) => {
                    tracing::error!(match_id = %row.match_id, %error, "a kept rack does not parse");
                    None
                }
            },
        )
        .collect();
    Ok(Some(MatchResult {
        match_id: row.match_id,
        table: row.table,
        game: finished.game,
        players: finished.players,
        race_to: finished.race_to,
        score: finished.score,
        winner: finished.winner,
        started_ms: row.started_ms,
        finished_ms: row.finished_ms,
        racks,
        stats: finished.stats,
        inputs: detailed.then_some(finished.inputs),
    }))
}
