//! One match's logged inputs, read back so the match can be replayed away from the engine: the
//! rack replay view draws the layouts a replay of them keeps (`table::layouts_of`). A match's
//! inputs run from its `start_match` to the next match started on its table (a match ends there
//! at the latest: the next one cannot start before it is over or conceded).

use rusqlite::{OptionalExtension, params};

use super::reader::Reader;
use super::{StoreError, to_u64};

/// A match's table and its logged inputs, `(seq, received_ms, input JSON)` in seq order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchLog {
    /// The table it was played on.
    pub table: String,
    /// Its inputs, from its `start_match` on.
    pub inputs: Vec<(u64, u64, String)>,
}

impl Reader {
    /// The logged inputs of `match_id`, or `None` if no such match was started here. Blocking.
    pub fn match_log(&self, match_id: &str) -> Result<Option<MatchLog>, StoreError> {
        let conn = self.connect()?;
        let started: Option<(String, i64)> = conn
            .query_row(
                "SELECT table_id, started_seq FROM matches WHERE match_id = ?1",
                [match_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((table, started_seq)) = started else {
            return Ok(None);
        };
        let next: Option<i64> = conn.query_row(
            "SELECT MIN(started_seq) FROM matches WHERE table_id = ?1 AND started_seq > ?2",
            params![table, started_seq],
            |r| r.get(0),
        )?;
        let mut stmt = conn.prepare(
            "SELECT seq, received_ms, input FROM events
             WHERE table_id = ?1 AND seq >= ?2 AND seq < ?3 ORDER BY seq",
        )?;
        let inputs = stmt
            .query_map(params![table, started_seq, next.unwrap_or(i64::MAX)], |r| {
                Ok((to_u64(r.get(0)?), to_u64(r.get(1)?), r.get(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(MatchLog { table, inputs }))
    }
}
