//! A sync batch → one short PostgreSQL transaction (docs/sync.md, "Push").
//!
//! The steps, each a function below: [`decode`] the body (gzip with a hard bound, so a compressed
//! bomb is refused as 413 before it can take memory), [`prepare`] it (the venue must be the key's,
//! the batch well formed, every record typed — all before touching PostgreSQL, so a refused batch
//! stores nothing), then [`apply`] it: lock the `(venue, epoch)` cursor, refuse a gap with the
//! expected `seq`, store the new records, compare the known ones (same content hash: a duplicate;
//! another hash: PostgreSQL compares kind, match and payload as `jsonb`, equal is a duplicate,
//! different a conflict kept aside), advance the high-water mark, commit.
//!
//! Why payloads are never turned into `serde_json::Value`s here: on one venue's serial catch-up the
//! decoding is on the critical path of every acknowledgement. [`prepare`] borrows the batch from
//! the decoded body, each payload a `&RawValue`: it is typed straight from that text
//! (`shared::sync::Record::from_text`, the checks `RawRecord::parse` makes), hashed as the bytes
//! sent, and stored as that text (PostgreSQL parses it into `jsonb`). Building a tree and
//! serializing it again cost 3–4× the time (docs/benchmarks.md). Hashing the bytes as sent keeps
//! the hashes of records stored before: edge-agent sends compact serde_json output, which is what
//! the re-serialization gave; a resend in any other layout is settled by the `jsonb` comparison.
//!
//! That is all the acknowledgement needs: once `acked_seq` covers a record it is durable in
//! `sync_records`, the system of record. Matches, racks and statistics are built from there by
//! the projections ([`crate::projection`]), right after the commit, so the venue does not wait for them. Records above
//! the high-water mark cannot exist yet (the cursor row lock serializes a venue database's batches,
//! and `sync_records` holds exactly seqs 1..high-water), so new records go in with one plain
//! `INSERT` over arrays, no conflict handling; only the records at or below the mark are compared.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read as _;

use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};
use shared::sync::{BatchAck, MAX_BATCH_BYTES, MAX_BATCH_RECORDS, Record, check_batch};
use sqlx::{PgPool, Postgres, Row as _, Transaction};

use crate::venues::keys;

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
        matches!(self, IngestError::Db(error) if crate::infra::db::is_transient(error))
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

/// A batch as received (the wire shape of `shared::sync::Batch`), borrowed from the decoded body:
/// each payload stays the JSON text the venue sent, so it is typed straight from that text, hashed
/// and stored as is, without a `serde_json::Value` tree built and serialized again.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Received<'a> {
    #[serde(borrow)]
    venue_id: Cow<'a, str>,
    #[serde(borrow)]
    epoch: Cow<'a, str>,
    #[serde(borrow)]
    records: Vec<ReceivedRecord<'a>>,
}

/// One record of a [`Received`] batch (the wire shape of `shared::sync::RawRecord`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceivedRecord<'a> {
    seq: u64,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    match_id: Cow<'a, str>,
    #[serde(borrow)]
    payload: &'a RawValue,
}

/// One record ready to store: checked, hashed, its payload the JSON text as sent.
#[derive(Debug)]
struct Ready<'a> {
    seq: i64,
    kind: &'static str,
    match_id: Cow<'a, str>,
    payload: &'a str,
    hash: [u8; 32],
}

/// A checked batch of `venue`, ready to apply; it borrows the decoded body.
#[derive(Debug)]
pub struct Prepared<'a> {
    venue_id: Cow<'a, str>,
    epoch: Cow<'a, str>,
    records: Vec<Ready<'a>>,
}

impl Prepared<'_> {
    /// How many records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are none (never, once prepared).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// The content hash of a record: kind, match and payload exactly as sent, each followed by a zero
/// byte. Records stored before the payload was hashed as received were hashed over serde_json's
/// compact serialization of it, which is the same bytes for what edge-agent sends (compact
/// serde_json output, keys in order); any other difference in form is settled by
/// [`compare_known`] in PostgreSQL.
fn content_hash(kind: &str, match_id: &str, payload: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [kind, match_id, payload] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hasher.finalize().into()
}

/// Parses and checks a decoded body for the key's `venue`.
///
/// # Errors
///
/// 400, 403, 413 or 422 as [`IngestError`].
pub fn prepare<'a>(body: &'a [u8], venue: &str) -> Result<Prepared<'a>, IngestError> {
    let batch: Received<'a> = serde_json::from_slice(body)
        .map_err(|error| IngestError::BadBody(format!("not a batch: {error}")))?;
    if !keys::same(&batch.venue_id, venue) {
        return Err(IngestError::Forbidden);
    }
    if batch.records.len() > MAX_BATCH_RECORDS {
        return Err(IngestError::TooLarge(format!(
            "a batch holds at most {MAX_BATCH_RECORDS} records"
        )));
    }
    if let Err(error) = check_batch(
        &batch.venue_id,
        &batch.epoch,
        batch.records.iter().map(|r| r.seq),
    ) {
        return Err(match error.seq {
            Some(seq) => IngestError::Invalid {
                seq,
                error: error.error,
            },
            None => IngestError::BadBody(error.error),
        });
    }
    let records = batch
        .records
        .into_iter()
        .map(ready)
        .collect::<Result<_, _>>()?;
    Ok(Prepared {
        venue_id: batch.venue_id,
        epoch: batch.epoch,
        records,
    })
}

/// Types and checks one record from its payload text (`shared::sync::Record::from_text`: the
/// checks `RawRecord::parse` makes), and hashes it.
fn ready(raw: ReceivedRecord<'_>) -> Result<Ready<'_>, IngestError> {
    let payload = raw.payload.get();
    let record =
        Record::from_text(raw.seq, &raw.kind, &raw.match_id, payload).map_err(|invalid| {
            IngestError::Invalid {
                seq: invalid.seq,
                error: invalid.to_string(),
            }
        })?;
    let seq = i64::try_from(raw.seq).map_err(|_| IngestError::Invalid {
        seq: raw.seq,
        error: format!("record {}: seq too large", raw.seq),
    })?;
    Ok(Ready {
        seq,
        kind: record.kind(),
        hash: content_hash(record.kind(), &raw.match_id, payload),
        match_id: raw.match_id,
        payload,
    })
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Stores a prepared batch in one transaction and answers it. Wake the projections ([`crate::projection`]) after a
/// batch that stored records (`applied > 0`).
///
/// # Errors
///
/// [`IngestError::Gap`] (nothing stored) or [`IngestError::Db`].
pub async fn apply(pool: &PgPool, batch: Prepared<'_>) -> Result<BatchAck, IngestError> {
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
    .bind(batch.venue_id.as_ref())
    .bind(batch.epoch.as_ref())
    .fetch_one(&mut *tx)
    .await?;
    if first > high_water + 1 {
        return Err(IngestError::Gap {
            first: to_u64(first),
            expected: to_u64(high_water + 1),
        });
    }

    // Above the high-water mark: new (they cannot exist yet). At or below: known keys to compare.
    let (known, fresh): (Vec<&Ready<'_>>, Vec<&Ready<'_>>) =
        batch.records.iter().partition(|r| r.seq <= high_water);
    if !fresh.is_empty() {
        insert_records(&mut tx, &batch.venue_id, &batch.epoch, &fresh).await?;
    }
    let (duplicates, conflicts) = compare_known(&mut tx, &batch, &known).await?;
    let acked = if last > high_water {
        sqlx::query(
            "UPDATE sync_cursors SET high_water = $3, updated_at = now()
             WHERE venue_id = $1 AND epoch = $2",
        )
        .bind(batch.venue_id.as_ref())
        .bind(batch.epoch.as_ref())
        .bind(last)
        .execute(&mut *tx)
        .await?;
        last
    } else {
        high_water
    };
    tx.commit().await?;
    Ok(BatchAck {
        acked_seq: to_u64(acked),
        applied: fresh.len() as u64,
        duplicates,
        conflicts,
    })
}

/// One `INSERT … SELECT FROM UNNEST` of new records: a single message to PostgreSQL. Not a `COPY`,
/// although PostgreSQL parses those rows a little faster: sqlx leaves Nagle's algorithm on its
/// sockets and a `COPY` is several writes (the data, then `CopyDone`), so the last one waited for
/// the server's delayed ACK, up to 40 ms per batch (docs/benchmarks.md, the venues bench).
async fn insert_records(
    tx: &mut Transaction<'_, Postgres>,
    venue: &str,
    epoch: &str,
    records: &[&Ready<'_>],
) -> Result<(), sqlx::Error> {
    let seqs: Vec<i64> = records.iter().map(|r| r.seq).collect();
    let kinds: Vec<&str> = records.iter().map(|r| r.kind).collect();
    let matches: Vec<&str> = records.iter().map(|r| r.match_id.as_ref()).collect();
    let hashes: Vec<&[u8]> = records.iter().map(|r| r.hash.as_slice()).collect();
    let payloads: Vec<&str> = records.iter().map(|r| r.payload).collect();
    sqlx::query(
        "INSERT INTO sync_records (venue_id, epoch, seq, kind, match_id, content_hash, payload)
         SELECT $1, $2, u.seq, u.kind, u.match_id, u.hash, u.payload::jsonb
         FROM UNNEST($3::bigint[], $4::text[], $5::text[], $6::bytea[], $7::text[])
           AS u(seq, kind, match_id, hash, payload)",
    )
    .bind(venue)
    .bind(epoch)
    .bind(&seqs)
    .bind(&kinds)
    .bind(&matches)
    .bind(&hashes)
    .bind(&payloads)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Compares records at or below the high-water mark with what is stored. The same content hash is
/// a duplicate (a retry of the same outbox row: the common case, one query of hashes). For the
/// others PostgreSQL decides, in the statement that keeps the conflicts aside: the same kind and
/// match and an equal payload as `jsonb` (key order, whitespace and number formatting do not
/// count) is a duplicate too, whatever the form it was sent or stored in; anything else is a
/// conflict, stored in `sync_conflicts` and reported by seq.
async fn compare_known(
    tx: &mut Transaction<'_, Postgres>,
    batch: &Prepared<'_>,
    known: &[&Ready<'_>],
) -> Result<(u64, Vec<u64>), sqlx::Error> {
    if known.is_empty() {
        return Ok((0, Vec::new()));
    }
    let stored: HashMap<i64, Vec<u8>> = sqlx::query(
        "SELECT seq, content_hash FROM sync_records
         WHERE venue_id = $1 AND epoch = $2 AND seq = ANY($3)",
    )
    .bind(batch.venue_id.as_ref())
    .bind(batch.epoch.as_ref())
    .bind(known.iter().map(|r| r.seq).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|row| Ok((row.try_get("seq")?, row.try_get("content_hash")?)))
    .collect::<Result<_, sqlx::Error>>()?;
    let other_hash: Vec<&Ready<'_>> = known
        .iter()
        .filter(|r| stored.get(&r.seq).map(Vec::as_slice) != Some(r.hash.as_slice()))
        .copied()
        .collect();
    let conflicts = if other_hash.is_empty() {
        Vec::new()
    } else {
        store_conflicts(tx, batch, &other_hash).await?
    };
    let duplicates = known.len() - conflicts.len();
    Ok((duplicates as u64, conflicts))
}

/// Of `records` (known seqs whose hash differs from the stored one), keeps aside in
/// `sync_conflicts` those whose content differs semantically from the stored record, and returns
/// their seqs, in order. A seq with no stored record (which the cursor's invariant rules out) is a
/// conflict too, never a silent duplicate.
async fn store_conflicts(
    tx: &mut Transaction<'_, Postgres>,
    batch: &Prepared<'_>,
    records: &[&Ready<'_>],
) -> Result<Vec<u64>, sqlx::Error> {
    let mut seqs: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO sync_conflicts (venue_id, epoch, seq, kind, match_id, content_hash, payload)
         SELECT $1, $2, u.seq, u.kind, u.match_id, u.hash, u.payload::jsonb
         FROM UNNEST($3::int8[], $4::text[], $5::text[], $6::bytea[], $7::text[])
              AS u(seq, kind, match_id, hash, payload)
         LEFT JOIN sync_records s ON s.venue_id = $1 AND s.epoch = $2 AND s.seq = u.seq
         WHERE NOT COALESCE(s.kind = u.kind AND s.match_id = u.match_id
                            AND s.payload = u.payload::jsonb, false)
         RETURNING seq",
    )
    .bind(batch.venue_id.as_ref())
    .bind(batch.epoch.as_ref())
    .bind(records.iter().map(|r| r.seq).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.kind).collect::<Vec<_>>())
    .bind(
        records
            .iter()
            .map(|r| r.match_id.as_ref())
            .collect::<Vec<_>>(),
    )
    .bind(
        records
            .iter()
            .map(|r| r.hash.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(records.iter().map(|r| r.payload).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    seqs.sort_unstable();
    Ok(seqs.into_iter().map(to_u64).collect())
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
    fn a_compact_payload_hashes_as_it_did_when_its_value_was_serialized_again() {
        // What edge-agent sends: compact serde_json output. Hashing the bytes as received gives
        // the hash the cloud gave such a record when it hashed `Value::to_string()`.
        let body = r#"{"venue_id":"v1","epoch":"e1","records":[{"seq":1,"kind":"rejected","match_id":"m-1","payload":{"reason":"x \"q\" é","original_kind":"rack_finished","extra":[1,-2.5,{"b":null,"a":true}]}}]}"#;
        let prepared = prepare(body.as_bytes(), "v1").expect("prepares");
        let value: serde_json::Value = serde_json::from_str(body).expect("JSON");
        let reserialized = value["records"][0]["payload"].to_string();
        let ready = prepared.records.first().expect("one record");
        assert_eq!(ready.payload, reserialized);
        assert_eq!(ready.hash, content_hash("rejected", "m-1", &reserialized));
    }

    #[test]
    fn a_batch_is_checked_as_before() {
        let record = |seq: u64| {
            format!(
                r#"{{"seq":{seq},"kind":"rejected","match_id":"m-1","payload":{{"original_kind":"x","reason":"y"}}}}"#
            )
        };
        let batch = |venue: &str, records: &[String]| {
            format!(
                r#"{{"venue_id":"{venue}","epoch":"e1","records":[{}]}}"#,
                records.join(",")
            )
        };
        let ok = batch("v1", &[record(1), record(2)]);
        assert_eq!(prepare(ok.as_bytes(), "v1").map(|p| p.len()).ok(), Some(2));
        assert!(matches!(
            prepare(ok.as_bytes(), "v2"),
            Err(IngestError::Forbidden)
        ));
        let gap = batch("v1", &[record(1), record(3)]);
        assert!(matches!(
            prepare(gap.as_bytes(), "v1"),
            Err(IngestError::Invalid { seq: 3, .. })
        ));
        let empty = batch("v1", &[]);
        assert!(matches!(
            prepare(empty.as_bytes(), "v1"),
            Err(IngestError::BadBody(_))
        ));
        let extra = ok.replacen(r#""seq":1,"#, r#""seq":1,"note":1,"#, 1);
        assert!(matches!(
            prepare(extra.as_bytes(), "v1"),
            Err(IngestError::BadBody(_))
        ));
    }

    #[test]
    fn the_content_hash_separates_its_parts() {
        assert_ne!(content_hash("a", "bc", "d"), content_hash("ab", "c", "d"));
    }
}
