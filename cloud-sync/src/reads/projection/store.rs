//! The matches projection's writes: matches, racks and `match_player_stats` from the per-match
//! deltas ([`super::fold`]), each a single statement over arrays (`UNNEST`) whatever the number of
//! matches, inside the transaction that advances the projection's cursor.

use std::collections::HashSet;

use shared::rules::PlayerStats;
use shared::sync::RackFinished;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Postgres, Row as _, Transaction};

use super::fold::{Finish, MatchDelta};

/// A count as PostgreSQL's `int4`.
pub(super) fn small(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

pub(super) async fn upsert_racks(
    tx: &mut Transaction<'_, Postgres>,
    epoch: &str,
    matches: &[(i64, &MatchDelta<'_>)],
) -> Result<(), sqlx::Error> {
    let racks: Vec<(i64, i64, &RackFinished)> = matches
        .iter()
        .flat_map(|(id, d)| d.racks.values().map(move |(seq, r)| (*id, *seq, *r)))
        .collect();
    if racks.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO racks (match_id, ordinal, rack, winner, score, epoch, seq)
         SELECT u.match_id, u.ordinal, u.rack, u.winner, ARRAY[u.s0, u.s1], $1, u.seq
         FROM UNNEST($2::int8[], $3::int4[], $4::int4[], $5::int2[], $6::int4[], $7::int4[],
                     $8::int8[])
              AS u(match_id, ordinal, rack, winner, s0, s1, seq)
         ON CONFLICT (match_id, ordinal) DO UPDATE SET rack = EXCLUDED.rack,
            winner = EXCLUDED.winner, score = EXCLUDED.score, epoch = EXCLUDED.epoch,
            seq = EXCLUDED.seq",
    )
    .bind(epoch)
    .bind(racks.iter().map(|r| r.0).collect::<Vec<_>>())
    .bind(racks.iter().map(|r| small(r.2.ordinal)).collect::<Vec<_>>())
    .bind(racks.iter().map(|r| small(r.2.rack)).collect::<Vec<_>>())
    .bind(
        racks
            .iter()
            .map(|r| i16::try_from(r.2.winner).unwrap_or(0))
            .collect::<Vec<_>>(),
    )
    .bind(racks.iter().map(|r| r.2.score[0]).collect::<Vec<_>>())
    .bind(racks.iter().map(|r| r.2.score[1]).collect::<Vec<_>>())
    .bind(racks.iter().map(|r| r.1).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The per-match arrays both match statements take.
#[derive(Debug, Default)]
struct MatchColumns {
    vmid: Vec<String>,
    table: Vec<Option<String>>,
    game: Vec<Option<String>>,
    p0: Vec<Option<String>>,
    p1: Vec<Option<String>>,
    race_to: Vec<Option<i32>>,
    has_start: Vec<bool>,
    pid0: Vec<Option<String>>,
    pid1: Vec<Option<String>>,
    spec: Vec<Option<String>>,
    started_ms: Vec<Option<i64>>,
    has_score: Vec<bool>,
    s0: Vec<i32>,
    s1: Vec<i32>,
    finish: Vec<i16>,
    winner: Vec<i16>,
    result_seq: Vec<Option<i64>>,
}

impl MatchColumns {
    fn new<'a, 'b: 'a>(deltas: impl Iterator<Item = &'a (String, MatchDelta<'b>)>) -> MatchColumns {
        let mut c = MatchColumns::default();
        for (vmid, d) in deltas {
            let seat = |i: usize| d.players.as_ref().and_then(|p| p.get(i).cloned());
            let pid = |i: usize| {
                d.start
                    .as_ref()
                    .and_then(|s| s.player_ids.get(i).cloned().flatten())
            };
            let score = |i: usize| d.score.and_then(|s| s.get(i).copied()).unwrap_or(0);
            c.vmid.push(vmid.clone());
            c.table.push(d.table.clone());
            c.game.push(d.game.clone());
            c.p0.push(seat(0));
            c.p1.push(seat(1));
            c.race_to.push(d.race_to.map(small));
            c.has_start.push(d.start.is_some());
            c.pid0.push(pid(0));
            c.pid1.push(pid(1));
            c.spec.push(d.start.as_ref().map(|s| s.spec.clone()));
            c.started_ms.push(d.start.as_ref().map(|s| s.started_ms));
            c.has_score.push(d.score.is_some());
            c.s0.push(score(0));
            c.s1.push(score(1));
            let (finish, winner, seq) = match &d.finish {
                None => (0, 0, None),
                Some(Finish::Won { winner, seq }) => {
                    (1, i16::try_from(*winner).unwrap_or(0), Some(*seq))
                }
                Some(Finish::Cleared) => (2, 0, None),
            };
            c.finish.push(finish);
            c.winner.push(winner);
            c.result_seq.push(seq);
        }
        c
    }

    /// Binds `$3..=$19` (after the venue and epoch).
    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.vmid)
            .bind(&self.table)
            .bind(&self.game)
            .bind(&self.p0)
            .bind(&self.p1)
            .bind(&self.race_to)
            .bind(&self.has_start)
            .bind(&self.pid0)
            .bind(&self.pid1)
            .bind(&self.spec)
            .bind(&self.started_ms)
            .bind(&self.has_score)
            .bind(&self.s0)
            .bind(&self.s1)
            .bind(&self.finish)
            .bind(&self.winner)
            .bind(&self.result_seq)
    }
}

/// The arrays as a row source: `u(vmid, …, result_seq)`.
const MATCH_ROWS: &str = "UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::int4[], $9::bool[], $10::text[], $11::text[], $12::text[], $13::int8[], $14::bool[],
        $15::int4[], $16::int4[], $17::int2[], $18::int2[], $19::int8[])
    AS u(vmid, table_id, game, p0, p1, race_to, has_start, pid0, pid1, spec, started_ms,
         has_score, s0, s1, finish, winner, result_seq)";

/// Creates the new matches complete in one statement, then updates the ones that existed
/// (a match whose start was projected earlier). Returns both sets of rows
/// (`id, venue_match_id, player_ids`).
pub(super) async fn store_matches(
    tx: &mut Transaction<'_, Postgres>,
    venue: &str,
    epoch: &str,
    deltas: &[(String, MatchDelta<'_>)],
) -> Result<(Vec<PgRow>, Vec<PgRow>), sqlx::Error> {
    let all = MatchColumns::new(deltas.iter());
    let insert = format!(
        "INSERT INTO matches (venue_id, venue_match_id, table_id, game, players, race_to,
            player_ids, spec, started_ms, score, finished, winner, finished_at, result_epoch,
            result_seq)
         SELECT $1, u.vmid, u.table_id, u.game,
            CASE WHEN u.p0 IS NULL THEN NULL ELSE ARRAY[u.p0, u.p1] END, u.race_to,
            CASE WHEN u.has_start THEN ARRAY[u.pid0, u.pid1] END, u.spec::jsonb, u.started_ms,
            CASE WHEN u.has_score THEN ARRAY[u.s0, u.s1] END, u.finish = 1,
            CASE WHEN u.finish = 1 THEN u.winner END,
            CASE WHEN u.finish = 1 THEN now() END,
            CASE WHEN u.finish = 1 THEN $2 END, u.result_seq
         FROM {MATCH_ROWS}
         ON CONFLICT (venue_id, venue_match_id) DO NOTHING
         RETURNING id, venue_match_id, player_ids"
    );
    let inserted = all
        .bind(sqlx::query(AssertSqlSafe(insert)).bind(venue).bind(epoch))
        .fetch_all(&mut **tx)
        .await?;
    if inserted.len() == deltas.len() {
        return Ok((inserted, Vec::new()));
    }
    let new: HashSet<String> = inserted
        .iter()
        .map(|row| row.try_get("venue_match_id"))
        .collect::<Result<_, _>>()?;
    let rest = MatchColumns::new(deltas.iter().filter(|(vmid, _)| !new.contains(vmid)));
    let update = format!(
        "UPDATE matches m SET
            table_id = COALESCE(u.table_id, m.table_id),
            game = COALESCE(u.game, m.game),
            players = CASE WHEN u.p0 IS NULL THEN m.players ELSE ARRAY[u.p0, u.p1] END,
            race_to = COALESCE(u.race_to, m.race_to),
            player_ids = CASE WHEN u.has_start THEN ARRAY[u.pid0, u.pid1] ELSE m.player_ids END,
            spec = CASE WHEN u.has_start THEN u.spec::jsonb ELSE m.spec END,
            started_ms = CASE WHEN u.has_start THEN u.started_ms ELSE m.started_ms END,
            score = CASE WHEN u.has_score THEN ARRAY[u.s0, u.s1] ELSE m.score END,
            finished = CASE u.finish WHEN 1 THEN true WHEN 2 THEN false ELSE m.finished END,
            winner = CASE u.finish WHEN 1 THEN u.winner WHEN 2 THEN NULL ELSE m.winner END,
            finished_at = CASE u.finish WHEN 1 THEN now() WHEN 2 THEN NULL
                               ELSE m.finished_at END,
            result_epoch = CASE u.finish WHEN 1 THEN $2 WHEN 2 THEN NULL
                                ELSE m.result_epoch END,
            result_seq = CASE u.finish WHEN 1 THEN u.result_seq WHEN 2 THEN NULL
                              ELSE m.result_seq END,
            updated_at = now()
         FROM {MATCH_ROWS}
         WHERE m.venue_id = $1 AND m.venue_match_id = u.vmid
         RETURNING m.id, m.venue_match_id, m.player_ids"
    );
    let existing = rest
        .bind(sqlx::query(AssertSqlSafe(update)).bind(venue).bind(epoch))
        .fetch_all(&mut **tx)
        .await?;
    Ok((inserted, existing))
}

pub(super) async fn upsert_stats(
    tx: &mut Transaction<'_, Postgres>,
    matches: &[(i64, &MatchDelta<'_>)],
) -> Result<(), sqlx::Error> {
    // Seats with new statistics are written; seats of a newly started match get a row (zeros) so
    // the player's history shows the match from its start. Player and name come from the match.
    let mut rows: Vec<(i64, i16, PlayerStats, bool)> = Vec::new();
    for (id, delta) in matches {
        match (&delta.stats, &delta.start) {
            (Some(stats), _) => {
                for (seat, s) in stats.iter().enumerate() {
                    rows.push((*id, i16::try_from(seat).unwrap_or(0), s.clone(), true));
                }
            }
            (None, Some(_)) => {
                for seat in 0..2i16 {
                    rows.push((*id, seat, PlayerStats::default(), false));
                }
            }
            (None, None) => {}
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&PlayerStats) -> u32| rows.iter().map(|r| small(f(&r.2))).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO match_player_stats (match_id, seat, player_id, player_name, racks_won,
            balls_pocketed, fouls, break_and_runs, breaks_with_ball, safeties, innings, high_run)
         SELECT u.match_id, u.seat, m.player_ids[u.seat + 1], m.players[u.seat + 1], u.racks_won,
            u.balls_pocketed, u.fouls, u.break_and_runs, u.breaks_with_ball, u.safeties,
            u.innings, u.high_run
         FROM UNNEST($1::int8[], $2::int2[], $3::int4[], $4::int4[], $5::int4[], $6::int4[],
                     $7::int4[], $8::int4[], $9::int4[], $10::int4[], $11::bool[])
              AS u(match_id, seat, racks_won, balls_pocketed, fouls, break_and_runs,
                   breaks_with_ball, safeties, innings, high_run, has_stats)
         JOIN matches m ON m.id = u.match_id
         ON CONFLICT (match_id, seat) DO UPDATE SET
            player_id = EXCLUDED.player_id, player_name = EXCLUDED.player_name,
            racks_won = EXCLUDED.racks_won, balls_pocketed = EXCLUDED.balls_pocketed,
            fouls = EXCLUDED.fouls, break_and_runs = EXCLUDED.break_and_runs,
            breaks_with_ball = EXCLUDED.breaks_with_ball, safeties = EXCLUDED.safeties,
            innings = EXCLUDED.innings, high_run = EXCLUDED.high_run",
    )
    .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
    .bind(col(|s| s.racks_won))
    .bind(col(|s| s.balls_pocketed))
    .bind(col(|s| s.fouls))
    .bind(col(|s| s.break_and_runs))
    .bind(col(|s| s.breaks_with_ball))
    .bind(col(|s| s.safeties))
    .bind(col(|s| s.innings))
    .bind(col(|s| s.high_run))
    .bind(rows.iter().map(|r| r.3).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks voided matches: over, with no winner, with why, by whom and when. Runs after
/// [`store_matches`], so a void wins over what earlier records of the same chunk said.
pub(super) async fn void_matches(
    tx: &mut Transaction<'_, Postgres>,
    matches: &[(i64, &MatchDelta<'_>)],
) -> Result<(), sqlx::Error> {
    let voids: Vec<(i64, &shared::sync::MatchVoided)> = matches
        .iter()
        .filter_map(|(id, d)| d.voided.map(|v| (*id, v)))
        .collect();
    if voids.is_empty() {
        return Ok(());
    }
    let by =
        |v: &shared::sync::MatchVoided| v.by.as_ref().and_then(|by| serde_json::to_string(by).ok());
    sqlx::query(
        "UPDATE matches m SET voided = true, finished = true, winner = NULL,
            finished_at = COALESCE(m.finished_at, now()), void_reason = u.reason,
            voided_by = u.by::jsonb, voided_ms = u.at, result_epoch = NULL, result_seq = NULL,
            updated_at = now()
         FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::int8[]) AS u(id, reason, by, at)
         WHERE m.id = u.id",
    )
    .bind(voids.iter().map(|v| v.0).collect::<Vec<_>>())
    .bind(voids.iter().map(|v| v.1.reason.clone()).collect::<Vec<_>>())
    .bind(voids.iter().map(|v| by(v.1)).collect::<Vec<_>>())
    .bind(
        voids
            .iter()
            .map(|v| i64::try_from(v.1.voided_ms).unwrap_or(i64::MAX))
            .collect::<Vec<_>>(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
