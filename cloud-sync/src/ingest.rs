//! A sync batch → one PostgreSQL transaction (docs/sync.md, "Push").
//!
//! The steps, each a function below: [`decode`] the body (gzip with a hard bound, so a compressed
//! bomb is refused as 413 before it can take memory), [`prepare`] it (the venue must be the key's,
//! the batch well formed, every record typed — all before touching PostgreSQL, so a refused batch
//! stores nothing), then [`apply`] it: lock the `(venue, epoch)` cursor, refuse a gap with the
//! expected `seq`, store the records (a known key with the same content hash is a duplicate, with
//! another a conflict kept aside), fold the newly stored records into matches, racks and statistics,
//! and advance the high-water mark. Every step is a multi-row statement over arrays (`UNNEST`), so a
//! batch of 1000 records costs about ten round trips, not thousands.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read as _;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use shared::rules::{Game, PlayerStats};
use shared::sync::{
    Batch, BatchAck, MAX_BATCH_BYTES, MAX_BATCH_RECORDS, RackFinished, RawRecord, Record,
};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row as _, Transaction};

use crate::cache::Scope;
use crate::keys;

/// Why a batch was refused. Nothing of a refused batch is stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Not JSON, not a batch, bad gzip, or a malformed batch as a whole (400).
    #[error("{0}")]
    BadBody(String),
    /// Too many records or bytes (413).
    #[error("{0}")]
    TooLarge(String),
    /// The key's venue is not the batch's venue (403).
    #[error("this key belongs to another venue than the batch's venue_id")]
    Forbidden,
    /// A record is invalid (422); `seq` names it.
    #[error("{error}")]
    Invalid {
        /// The record.
        seq: u64,
        /// Why.
        error: String,
    },
    /// The batch starts after a gap (409): send from `expected`.
    #[error("the batch starts at {first}, after a gap: send from {expected}")]
    Gap {
        /// The batch's first seq.
        first: u64,
        /// What the cloud expects next.
        expected: u64,
    },
    /// PostgreSQL failed (503 when it is unreachable or restarting, 500 otherwise).
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl IngestError {
    /// Whether the failure is PostgreSQL being unreachable, restarting or overloaded: worth a
    /// retry (503), not a bug (500).
    pub fn is_transient(&self) -> bool {
        matches!(self, IngestError::Db(error) if crate::db::is_transient(error))
    }
}

/// Decompresses (when `gzip`) within [`MAX_BATCH_BYTES`].
///
/// # Errors
///
/// [`IngestError::TooLarge`] past the bound, [`IngestError::BadBody`] for bad gzip.
pub fn decode(body: &[u8], gzip: bool) -> Result<Vec<u8>, IngestError> {
    if body.len() > MAX_BATCH_BYTES {
        return Err(too_large());
    }
    if !gzip {
        return Ok(body.to_vec());
    }
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(MAX_BATCH_BYTES));
    let limit = u64::try_from(MAX_BATCH_BYTES).unwrap_or(u64::MAX) + 1;
    flate2::read::MultiGzDecoder::new(body)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|error| IngestError::BadBody(format!("bad gzip body: {error}")))?;
    if out.len() > MAX_BATCH_BYTES {
        return Err(too_large());
    }
    Ok(out)
}

fn too_large() -> IngestError {
    IngestError::TooLarge(format!(
        "a batch is at most {MAX_BATCH_BYTES} bytes decompressed"
    ))
}

/// One record ready to store: typed, hashed, its payload as JSON text.
#[derive(Debug)]
struct Ready {
    seq: i64,
    kind: &'static str,
    match_id: String,
    payload: String,
    hash: Vec<u8>,
    record: Record,
}

/// A checked batch of `venue`, ready to apply.
#[derive(Debug)]
pub struct Prepared {
    venue_id: String,
    epoch: String,
    records: Vec<Ready>,
}

impl Prepared {
    /// How many records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are none (never, once prepared).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// The content hash of a record: kind, match and payload exactly as sent.
fn content_hash(kind: &str, match_id: &str, payload: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for part in [kind, match_id, payload] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hasher.finalize().to_vec()
}

/// Parses and checks a decoded body for the key's `venue`.
///
/// # Errors
///
/// 400, 403, 413 or 422 as [`IngestError`].
pub fn prepare(body: &[u8], venue: &str) -> Result<Prepared, IngestError> {
    let batch: Batch = serde_json::from_slice(body)
        .map_err(|error| IngestError::BadBody(format!("not a batch: {error}")))?;
    if !keys::same(&batch.venue_id, venue) {
        return Err(IngestError::Forbidden);
    }
    if batch.records.len() > MAX_BATCH_RECORDS {
        return Err(IngestError::TooLarge(format!(
            "a batch holds at most {MAX_BATCH_RECORDS} records"
        )));
    }
    if let Err(error) = batch.check() {
        return Err(match error.seq {
            Some(seq) => IngestError::Invalid {
                seq,
                error: error.error,
            },
            None => IngestError::BadBody(error.error),
        });
    }
    let mut records = Vec::with_capacity(batch.records.len());
    for raw in &batch.records {
        records.push(ready(raw)?);
    }
    Ok(Prepared {
        venue_id: batch.venue_id,
        epoch: batch.epoch,
        records,
    })
}

fn ready(raw: &RawRecord) -> Result<Ready, IngestError> {
    let record = raw.parse().map_err(|invalid| IngestError::Invalid {
        seq: invalid.seq,
        error: invalid.to_string(),
    })?;
    let seq = i64::try_from(raw.seq).map_err(|_| IngestError::Invalid {
        seq: raw.seq,
        error: format!("record {}: seq too large", raw.seq),
    })?;
    let payload = raw.payload.to_string();
    Ok(Ready {
        seq,
        kind: record.kind(),
        hash: content_hash(record.kind(), &raw.match_id, &payload),
        match_id: raw.match_id.clone(),
        payload,
        record,
    })
}

/// What an applied batch produced: the answer, and what to tell Redis after the commit.
#[derive(Debug)]
pub struct Applied {
    /// The answer to the venue.
    pub ack: BatchAck,
    /// Live messages (JSON) for `/api/v1/live`.
    pub live: Vec<String>,
    /// Cache scopes the batch changed.
    pub touched: Vec<Scope>,
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn small(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Applies a prepared batch in one transaction.
///
/// # Errors
///
/// [`IngestError::Gap`] (nothing stored) or [`IngestError::Db`].
pub async fn apply(pool: &PgPool, batch: Prepared) -> Result<Applied, IngestError> {
    let (Some(first), Some(last)) = (batch.records.first(), batch.records.last()) else {
        return Err(IngestError::BadBody(
            "a batch holds at least one record".into(),
        ));
    };
    let (first, last) = (first.seq, last.seq);
    let mut tx = pool.begin().await?;
    // Taking the row lock serializes batches of one edge database; other venues go in parallel.
    let high_water: i64 = sqlx::query_scalar(
        "INSERT INTO sync_cursors (venue_id, epoch) VALUES ($1, $2)
         ON CONFLICT (venue_id, epoch) DO UPDATE SET high_water = sync_cursors.high_water
         RETURNING high_water",
    )
    .bind(&batch.venue_id)
    .bind(&batch.epoch)
    .fetch_one(&mut *tx)
    .await?;
    if first > high_water + 1 {
        return Err(IngestError::Gap {
            first: to_u64(first),
            expected: to_u64(high_water + 1),
        });
    }

    // Store the records above the high-water mark; the rest are known keys to compare.
    let fresh: Vec<&Ready> = batch
        .records
        .iter()
        .filter(|r| r.seq > high_water)
        .collect();
    let inserted: HashSet<i64> =
        if fresh.is_empty() {
            HashSet::new()
        } else {
            sqlx::query_scalar(
            "INSERT INTO sync_records (venue_id, epoch, seq, kind, match_id, content_hash, payload)
             SELECT $1, $2, u.seq, u.kind, u.match_id, u.hash, u.payload::jsonb
             FROM UNNEST($3::int8[], $4::text[], $5::text[], $6::bytea[], $7::text[])
                  AS u(seq, kind, match_id, hash, payload)
             ON CONFLICT DO NOTHING RETURNING seq",
        )
        .bind(&batch.venue_id)
        .bind(&batch.epoch)
        .bind(fresh.iter().map(|r| r.seq).collect::<Vec<_>>())
        .bind(fresh.iter().map(|r| r.kind).collect::<Vec<_>>())
        .bind(fresh.iter().map(|r| r.match_id.as_str()).collect::<Vec<_>>())
        .bind(fresh.iter().map(|r| r.hash.as_slice()).collect::<Vec<_>>())
        .bind(fresh.iter().map(|r| r.payload.as_str()).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect()
        };
    let known: Vec<&Ready> = batch
        .records
        .iter()
        .filter(|r| !inserted.contains(&r.seq))
        .collect();
    let mut duplicates = 0u64;
    let mut conflicts = Vec::new();
    if !known.is_empty() {
        let stored: HashMap<i64, Vec<u8>> = sqlx::query(
            "SELECT seq, content_hash FROM sync_records
             WHERE venue_id = $1 AND epoch = $2 AND seq = ANY($3)",
        )
        .bind(&batch.venue_id)
        .bind(&batch.epoch)
        .bind(known.iter().map(|r| r.seq).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("seq")?, row.try_get("content_hash")?)))
        .collect::<Result<_, sqlx::Error>>()?;
        let mut conflicting = Vec::new();
        for record in known {
            if stored.get(&record.seq) == Some(&record.hash) {
                duplicates += 1;
            } else {
                conflicting.push(record);
            }
        }
        if !conflicting.is_empty() {
            store_conflicts(&mut tx, &batch, &conflicting).await?;
            conflicts = conflicting.iter().map(|r| to_u64(r.seq)).collect();
        }
    }

    let new_records: Vec<&Ready> = batch
        .records
        .iter()
        .filter(|r| inserted.contains(&r.seq))
        .collect();
    let outcome = apply_records(&mut tx, &batch.venue_id, &batch.epoch, &new_records).await?;

    let acked: i64 = sqlx::query_scalar(
        "UPDATE sync_cursors SET high_water = GREATEST(high_water, $3), updated_at = now()
         WHERE venue_id = $1 AND epoch = $2 RETURNING high_water",
    )
    .bind(&batch.venue_id)
    .bind(&batch.epoch)
    .bind(last)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Applied {
        ack: BatchAck {
            acked_seq: to_u64(acked),
            applied: new_records.len() as u64,
            duplicates,
            conflicts,
        },
        live: outcome.live,
        touched: outcome.touched,
    })
}

async fn store_conflicts(
    tx: &mut Transaction<'_, Postgres>,
    batch: &Prepared,
    records: &[&Ready],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sync_conflicts (venue_id, epoch, seq, kind, match_id, content_hash, payload)
         SELECT $1, $2, u.seq, u.kind, u.match_id, u.hash, u.payload::jsonb
         FROM UNNEST($3::int8[], $4::text[], $5::text[], $6::bytea[], $7::text[])
              AS u(seq, kind, match_id, hash, payload)",
    )
    .bind(&batch.venue_id)
    .bind(&batch.epoch)
    .bind(records.iter().map(|r| r.seq).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.kind).collect::<Vec<_>>())
    .bind(
        records
            .iter()
            .map(|r| r.match_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        records
            .iter()
            .map(|r| r.hash.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(
        records
            .iter()
            .map(|r| r.payload.as_str())
            .collect::<Vec<_>>(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How a match ends after the batch, when the batch says.
#[derive(Clone, Debug)]
enum Finish {
    /// Over, won by this seat.
    Won { winner: usize, seq: i64 },
    /// Corrected back to in progress.
    Cleared,
}

/// What the batch does to one match, folded in `seq` order.
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
fn fold<'a>(records: &[&'a Ready]) -> Vec<(String, MatchDelta<'a>)> {
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

/// Applies newly stored records to matches, racks and statistics.
async fn apply_records(
    tx: &mut Transaction<'_, Postgres>,
    venue: &str,
    epoch: &str,
    records: &[&Ready],
) -> Result<Outcome, sqlx::Error> {
    let deltas = fold(records);
    if deltas.is_empty() {
        return Ok(Outcome {
            live: Vec::new(),
            touched: Vec::new(),
        });
    }
    // Sorted, so concurrent batches take the new rows' locks in one order (no deadlock).
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

    // Racks taken back by a correction; racks finished after it in this batch are re-inserted.
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

/// Creates the batch's new matches complete in one statement, then updates the ones that existed
/// (a match whose start came in an earlier batch). Returns both sets of rows
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
fn live_messages(venue: &str, records: &[&Ready], cloud_ids: &HashMap<String, i64>) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn a_gzip_bomb_is_refused_within_the_bound() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..9 {
            encoder.write_all(&zeros).expect("compress");
        }
        let bomb = encoder.finish().expect("compress");
        assert!(bomb.len() < 100_000);
        assert!(matches!(decode(&bomb, true), Err(IngestError::TooLarge(_))));
        assert!(matches!(
            decode(b"not gzip", true),
            Err(IngestError::BadBody(_))
        ));
    }

    #[test]
    fn the_content_hash_separates_its_parts() {
        assert_ne!(content_hash("a", "bc", "d"), content_hash("ab", "c", "d"));
    }
}
