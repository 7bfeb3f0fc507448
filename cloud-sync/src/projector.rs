//! The projector: builds matches, racks and per-player statistics from `sync_records`, after the
//! batches that stored them were acknowledged (docs/sync.md, "Projection").
//!
//! Why apart from ingest: a venue's acknowledgement needs only its records durable; folding them
//! into matches costs as much again in PostgreSQL, and the venue need not wait for it. Reads lag
//! by the projection (normally milliseconds).
//!
//! How it stays exactly once in effect: a projection cursor per `(venue, epoch)`
//! (`sync_projections.projected`, migration 0002) is advanced in the same transaction that writes
//! the effects of the records up to it, so a crash loses nothing (the next pass resumes from the
//! cursor) and applies nothing twice. The transaction takes the cursor row `FOR UPDATE SKIP
//! LOCKED`, so two instances never project the same `(venue, epoch)` at once: the second one
//! skips it. Live messages and cache invalidation follow the commit (persist, then publish).
//!
//! When it runs: woken by this instance right after a batch commits, on start-up, and every
//! [`SAFETY_NET`] (records acknowledged by an instance that died before projecting them, or a
//! pass that failed, are picked up by then). Each pass also refreshes the lag metrics.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use shared::rules::{Game, PlayerStats};
use shared::sync::{RackFinished, Record};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row as _, Transaction};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cache::{self, Scope};
use crate::live::Live;
use crate::metrics::Metrics;
use crate::redis_link::RedisLink;

/// How often a pass runs without being woken.
pub const SAFETY_NET: Duration = Duration::from_secs(1);
/// Most records one projection transaction folds.
const CHUNK: i64 = 5000;

/// Wakes this instance's projector (cheap; wakes coalesce).
#[derive(Clone, Debug, Default)]
pub struct Projector {
    wake: Arc<Notify>,
}

impl Projector {
    /// Asks for a pass soon: records were just committed.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// What a pass needs.
#[derive(Clone, Debug)]
pub struct Context {
    /// PostgreSQL.
    pub pool: PgPool,
    /// Redis (maybe none, maybe down).
    pub redis: RedisLink,
    /// The live fan-out.
    pub live: Live,
    /// Counters and the lag gauges.
    pub metrics: Arc<Metrics>,
}

/// Starts the projector task; it stops when `shutdown` is cancelled (between passes).
pub fn spawn(context: Context, shutdown: CancellationToken) -> (Projector, JoinHandle<()>) {
    let projector = Projector::default();
    let wake = projector.wake.clone();
    let task = tokio::spawn(async move {
        loop {
            catch_up(&context).await;
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wake.notified() => {}
                () = tokio::time::sleep(SAFETY_NET) => {}
            }
        }
    });
    (projector, task)
}

/// Passes until one finds nothing this instance can do.
async fn catch_up(context: &Context) {
    loop {
        match pass(context).await {
            Ok(0) => return,
            Ok(_) => {}
            Err(error) => {
                context.metrics.projection_error();
                tracing::warn!(%error, "projection pass failed; retrying at the next one");
                return;
            }
        }
    }
}

/// The `(venue, epoch)`s with stored records not projected yet, oldest activity first, how many,
/// and how long the oldest of them has waited. Creates missing projection cursors first (a
/// data-modifying CTE: its rows are not visible to the SELECT, hence the `COALESCE`).
const BEHIND: &str = "
    WITH added AS (
        INSERT INTO sync_projections (venue_id, epoch)
        SELECT c.venue_id, c.epoch FROM sync_cursors c
        WHERE NOT EXISTS (SELECT 1 FROM sync_projections p
                          WHERE p.venue_id = c.venue_id AND p.epoch = c.epoch)
        ON CONFLICT DO NOTHING)
    SELECT c.venue_id, c.epoch, c.high_water - COALESCE(p.projected, 0) AS behind,
        COALESCE(EXTRACT(EPOCH FROM now() - (
            SELECT r.received_at FROM sync_records r
            WHERE r.venue_id = c.venue_id AND r.epoch = c.epoch
              AND r.seq = COALESCE(p.projected, 0) + 1)), 0)::float8 AS waited
    FROM sync_cursors c LEFT JOIN sync_projections p USING (venue_id, epoch)
    WHERE c.high_water > COALESCE(p.projected, 0)
    ORDER BY c.updated_at";

/// One pass over every `(venue, epoch)` behind. Returns how many records this instance projected.
///
/// # Errors
///
/// PostgreSQL's; nothing of a failed `(venue, epoch)` step is kept.
pub async fn pass(context: &Context) -> Result<u64, sqlx::Error> {
    let behind = sqlx::query(BEHIND).fetch_all(&context.pool).await?;
    let mut lag = 0i64;
    let mut waited = 0f64;
    let mut todo = Vec::with_capacity(behind.len());
    for row in &behind {
        lag += row.try_get::<i64, _>("behind")?;
        waited = waited.max(row.try_get::<f64, _>("waited")?);
        todo.push((
            row.try_get::<String, _>("venue_id")?,
            row.try_get::<String, _>("epoch")?,
        ));
    }
    context.metrics.projection_lag(lag, waited);
    let mut done = 0;
    for (venue, epoch) in todo {
        done += project(context, &venue, &epoch).await?;
    }
    Ok(done)
}

/// Records acknowledged but not projected yet, over every `(venue, epoch)`.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn behind(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(sum(c.high_water - COALESCE(p.projected, 0)), 0)::int8
         FROM sync_cursors c LEFT JOIN sync_projections p USING (venue_id, epoch)",
    )
    .fetch_one(pool)
    .await
}

/// Waits (polling every 10 ms, at most `within`) until every acknowledged record is projected:
/// reads are eventually consistent, and tests that read right after a sync wait with this.
/// Returns whether the projection caught up in time.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn wait_caught_up(pool: &PgPool, within: Duration) -> Result<bool, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if behind(pool).await? == 0 {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A stored record, typed again for the fold.
#[derive(Debug)]
struct Stored {
    seq: i64,
    match_id: String,
    record: Record,
}

/// Types a stored row straight from its payload text (no `serde_json::Value` tree: the projector
/// reads every record once more, on the same cores as ingest). `None` (logged) only if a record
/// accepted once no longer parses, i.e. the contract changed incompatibly: it is skipped rather
/// than blocking the venue's projection.
fn typed(row: &PgRow) -> Result<Option<Stored>, sqlx::Error> {
    let seq: i64 = row.try_get("seq")?;
    let kind: &str = row.try_get("kind")?;
    let match_id: String = row.try_get("match_id")?;
    let text: &str = row.try_get("payload")?;
    let key = u64::try_from(seq).unwrap_or(0);
    match Record::from_stored_text(key, kind, &match_id, text) {
        Ok(record) => Ok(Some(Stored {
            seq,
            match_id,
            record,
        })),
        Err(error) => {
            tracing::error!(seq, %error, "a stored sync record no longer parses; not projected");
            Ok(None)
        }
    }
}

/// Projects up to [`CHUNK`] records of one `(venue, epoch)` in one transaction, unless another
/// instance holds its cursor. Returns how many records were projected.
async fn project(context: &Context, venue: &str, epoch: &str) -> Result<u64, sqlx::Error> {
    let mut tx = context.pool.begin().await?;
    let projected: Option<i64> = sqlx::query_scalar(
        "SELECT projected FROM sync_projections WHERE venue_id = $1 AND epoch = $2
         FOR UPDATE SKIP LOCKED",
    )
    .bind(venue)
    .bind(epoch)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(projected) = projected else {
        return Ok(0);
    };
    let rows = sqlx::query(
        "SELECT seq, kind, match_id, payload::text AS payload FROM sync_records
         WHERE venue_id = $1 AND epoch = $2 AND seq > $3 ORDER BY seq LIMIT $4",
    )
    .bind(venue)
    .bind(epoch)
    .bind(projected)
    .bind(CHUNK)
    .fetch_all(&mut *tx)
    .await?;
    let Some(last) = rows.last() else {
        return Ok(0);
    };
    let last: i64 = last.try_get("seq")?;
    let mut stored = Vec::with_capacity(rows.len());
    for row in &rows {
        stored.extend(typed(row)?);
    }
    drop(rows);
    let records: Vec<&Stored> = stored.iter().collect();
    let outcome = apply_records(&mut tx, venue, epoch, &records).await?;
    sqlx::query(
        "UPDATE sync_projections SET projected = $3, updated_at = now()
         WHERE venue_id = $1 AND epoch = $2",
    )
    .bind(venue)
    .bind(epoch)
    .bind(last)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let n = u64::try_from(last - projected).unwrap_or(0);
    context.metrics.projected(n);
    // After the commit: readers must not see a cached answer older than the projection, and live
    // clients hear only what is stored.
    tokio::join!(
        cache::invalidate(&context.redis, &outcome.touched),
        context.live.publish(&context.redis, outcome.live),
    );
    Ok(n)
}

fn small(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// How a match ends after the records, when they say.
#[derive(Clone, Debug)]
enum Finish {
    /// Over, won by this seat.
    Won { winner: usize, seq: i64 },
    /// Corrected back to in progress.
    Cleared,
}

/// What the records do to one match, folded in `seq` order.
#[derive(Debug, Default)]
struct MatchDelta<'a> {
    table: Option<String>,
    game: Option<String>,
    players: Option<[String; 2]>,
    race_to: Option<u32>,
    start: Option<Start>,
    score: Option<[i32; 2]>,
    finish: Option<Finish>,
    stats: Option<[PlayerStats; 2]>,
    truncate_above: Option<u32>,
    /// Finished racks by ordinal, with the seq of the record that carried each.
    racks: BTreeMap<u32, (i64, &'a RackFinished)>,
}

#[derive(Debug)]
struct Start {
    player_ids: [Option<String>; 2],
    spec: String,
    started_ms: i64,
}

fn game_name(game: Game) -> Option<String> {
    serde_json::to_value(game)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
}

/// Folds records into per-match deltas, keeping the order matches first appear in.
fn fold<'a>(records: &[&'a Stored]) -> Vec<(String, MatchDelta<'a>)> {
    let mut order: Vec<(String, MatchDelta<'a>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for &ready in records {
        if matches!(ready.record, Record::Rejected(_)) {
            continue;
        }
        let slot = *index.entry(ready.match_id.clone()).or_insert_with(|| {
            order.push((ready.match_id.clone(), MatchDelta::default()));
            order.len() - 1
        });
        let Some((_, delta)) = order.get_mut(slot) else {
            continue;
        };
        match &ready.record {
            Record::MatchStarted(r) => {
                delta.table = Some(r.table.clone());
                delta.game = game_name(r.spec.game);
                delta.players = Some(r.spec.players.clone());
                delta.race_to = Some(r.spec.race_to);
                delta.start = Some(Start {
                    player_ids: r.player_ids.clone(),
                    spec: serde_json::to_string(&r.spec).unwrap_or_else(|_| "{}".into()),
                    started_ms: i64::try_from(r.started_ms).unwrap_or(i64::MAX),
                });
                delta.score.get_or_insert([0, 0]);
            }
            Record::RackFinished(r) => {
                delta.table = Some(r.table.clone());
                delta.score = Some(r.score);
                delta.stats = Some(r.stats.clone());
                delta.racks.insert(r.ordinal, (ready.seq, r));
            }
            Record::MatchFinished(r) => {
                delta.table = Some(r.table.clone());
                delta.game = game_name(r.game);
                delta.players = Some(r.players.clone());
                delta.race_to = Some(r.race_to);
                delta.score = Some(r.score);
                delta.stats = Some(r.stats.clone());
                delta.finish = Some(Finish::Won {
                    winner: r.winner,
                    seq: ready.seq,
                });
            }
            Record::ResultCorrected(r) => {
                delta.table = Some(r.table.clone());
                delta.score = Some(r.score);
                delta
                    .racks
                    .retain(|ordinal, _| *ordinal <= r.racks_finished);
                delta.truncate_above = Some(
                    delta
                        .truncate_above
                        .map_or(r.racks_finished, |n| n.min(r.racks_finished)),
                );
                if !r.match_finished {
                    delta.finish = Some(Finish::Cleared);
                }
            }
            Record::Rejected(_) => {}
        }
    }
    order
}

struct Outcome {
    live: Vec<String>,
    touched: Vec<Scope>,
}

/// Applies records to matches, racks and statistics.
async fn apply_records(
    tx: &mut Transaction<'_, Postgres>,
    venue: &str,
    epoch: &str,
    records: &[&Stored],
) -> Result<Outcome, sqlx::Error> {
    let deltas = fold(records);
    if deltas.is_empty() {
        return Ok(Outcome {
            live: Vec::new(),
            touched: Vec::new(),
        });
    }
    // Sorted, so concurrent projections take the new rows' locks in one order (no deadlock).
    let tables: Vec<&str> = deltas
        .iter()
        .filter_map(|(_, d)| d.table.as_deref())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !tables.is_empty() {
        sqlx::query(
            "INSERT INTO venue_tables (venue_id, table_id) SELECT $1, unnest($2::text[])
             ON CONFLICT DO NOTHING",
        )
        .bind(venue)
        .bind(&tables)
        .execute(&mut **tx)
        .await?;
    }
    let (inserted, existing) = store_matches(tx, venue, epoch, &deltas).await?;
    let mut cloud_ids: HashMap<String, i64> = HashMap::new();
    let mut touched = vec![Scope::Venue(venue.to_owned())];
    for row in inserted.iter().chain(&existing) {
        let id: i64 = row.try_get("id")?;
        let vmid: String = row.try_get("venue_match_id")?;
        let player_ids: Option<Vec<Option<String>>> = row.try_get("player_ids")?;
        touched.extend(
            player_ids
                .into_iter()
                .flatten()
                .flatten()
                .map(Scope::Player),
        );
        cloud_ids.insert(vmid, id);
    }
    let with_id: Vec<(i64, &MatchDelta<'_>)> = deltas
        .iter()
        .filter_map(|(vmid, d)| cloud_ids.get(vmid).map(|id| (*id, d)))
        .collect();

    // Racks taken back by a correction; racks finished after it in these records are re-inserted.
    let truncations: Vec<(i64, i32)> = with_id
        .iter()
        .filter_map(|(id, d)| d.truncate_above.map(|n| (*id, small(n))))
        .collect();
    if !truncations.is_empty() {
        sqlx::query(
            "DELETE FROM racks r USING UNNEST($1::int8[], $2::int4[]) AS u(match_id, above)
             WHERE r.match_id = u.match_id AND r.ordinal > u.above",
        )
        .bind(truncations.iter().map(|t| t.0).collect::<Vec<_>>())
        .bind(truncations.iter().map(|t| t.1).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    upsert_racks(tx, epoch, &with_id).await?;
    upsert_stats(tx, &with_id).await?;

    let live = live_messages(venue, records, &cloud_ids);
    touched.sort_by_key(|s| format!("{s:?}"));
    touched.dedup();
    Ok(Outcome { live, touched })
}

async fn upsert_racks(
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
async fn store_matches(
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

async fn upsert_stats(
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

/// The `/api/v1/live` messages for the results in `records`.
fn live_messages(
    venue: &str,
    records: &[&Stored],
    cloud_ids: &HashMap<String, i64>,
) -> Vec<String> {
    records
        .iter()
        .filter_map(|ready| {
            let match_id = cloud_ids.get(&ready.match_id)?;
            let message: Value = match &ready.record {
                Record::MatchFinished(r) => json!({
                    "type": "match_finished", "venue_id": venue, "match_id": match_id,
                    "venue_match_id": r.match_id, "table": r.table, "game": r.game,
                    "players": r.players, "race_to": r.race_to, "winner": r.winner,
                    "score": r.score,
                }),
                Record::RackFinished(r) => json!({
                    "type": "rack_finished", "venue_id": venue, "match_id": match_id,
                    "venue_match_id": r.match_id, "table": r.table, "ordinal": r.ordinal,
                    "winner": r.winner, "score": r.score,
                }),
                _ => return None,
            };
            Some(message.to_string())
        })
        .collect()
}
