//! The projection cursors' SQL: `sync_projections` rows keyed by `(projection, venue, epoch)`
//! (migration 0003 added the projection's name), and the stored records after a cursor. The
//! projections read `sync_records` and `sync_cursors` only here, and never write them.

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row as _, Transaction};

use super::Stored;
use shared::sync::Record;

/// Most records one projection transaction folds.
const CHUNK: i64 = 5000;

/// The `(venue, epoch)`s with stored records the projection `$1` has not folded yet, oldest
/// activity first, how many, and how long the oldest of them has waited. Creates the projection's
/// missing cursors first (a data-modifying CTE: its rows are not visible to the SELECT, hence the
/// `COALESCE`).
const BEHIND: &str = "
    WITH added AS (
        INSERT INTO sync_projections (projection, venue_id, epoch)
        SELECT $1, c.venue_id, c.epoch FROM sync_cursors c
        WHERE NOT EXISTS (SELECT 1 FROM sync_projections p
                          WHERE p.projection = $1 AND p.venue_id = c.venue_id
                            AND p.epoch = c.epoch)
        ON CONFLICT DO NOTHING)
    SELECT c.venue_id, c.epoch, c.high_water - COALESCE(p.projected, 0) AS behind,
        COALESCE(EXTRACT(EPOCH FROM now() - (
            SELECT r.received_at FROM sync_records r
            WHERE r.venue_id = c.venue_id AND r.epoch = c.epoch
              AND r.seq = COALESCE(p.projected, 0) + 1)), 0)::float8 AS waited
    FROM sync_cursors c LEFT JOIN sync_projections p
      ON p.projection = $1 AND p.venue_id = c.venue_id AND p.epoch = c.epoch
    WHERE c.high_water > COALESCE(p.projected, 0)
    ORDER BY c.updated_at";

/// Where one projection stands.
#[derive(Debug)]
pub(super) struct Behind {
    /// Records not folded yet, over every `(venue, epoch)`.
    pub(super) records: i64,
    /// How long the oldest of them has waited, in seconds.
    pub(super) waited_secs: f64,
    /// The `(venue, epoch)`s with records to fold.
    pub(super) todo: Vec<(String, String)>,
}

/// Where the projection `name` stands (creating its missing cursors).
pub(super) async fn behind_of(pool: &PgPool, name: &str) -> Result<Behind, sqlx::Error> {
    let rows = sqlx::query(BEHIND).bind(name).fetch_all(pool).await?;
    let mut behind = Behind {
        records: 0,
        waited_secs: 0.0,
        todo: Vec::with_capacity(rows.len()),
    };
    for row in &rows {
        behind.records += row.try_get::<i64, _>("behind")?;
        behind.waited_secs = behind.waited_secs.max(row.try_get::<f64, _>("waited")?);
        behind.todo.push((
            row.try_get::<String, _>("venue_id")?,
            row.try_get::<String, _>("epoch")?,
        ));
    }
    Ok(behind)
}

/// Records acknowledged but not projected, summed over every projection's cursors (see
/// [`super::behind`]).
pub(super) async fn behind_total(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(sum(c.high_water - COALESCE(p.projected, 0)), 0)::int8
         FROM sync_cursors c LEFT JOIN sync_projections p USING (venue_id, epoch)",
    )
    .fetch_one(pool)
    .await
}

/// Takes the cursor of `name` over `(venue, epoch)` for the rest of `tx` and returns where it
/// stands; `None` when another instance holds it (`SKIP LOCKED`).
pub(super) async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    name: &str,
    venue: &str,
    epoch: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT projected FROM sync_projections
         WHERE projection = $1 AND venue_id = $2 AND epoch = $3
         FOR UPDATE SKIP LOCKED",
    )
    .bind(name)
    .bind(venue)
    .bind(epoch)
    .fetch_optional(&mut **tx)
    .await
}

/// Up to [`CHUNK`] stored records after `projected`, typed, and the seq of the last one; `None`
/// when there are none.
pub(super) async fn next_records(
    tx: &mut Transaction<'_, Postgres>,
    venue: &str,
    epoch: &str,
    projected: i64,
) -> Result<Option<(i64, Vec<Stored>)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT seq, kind, match_id, payload::text AS payload FROM sync_records
         WHERE venue_id = $1 AND epoch = $2 AND seq > $3 ORDER BY seq LIMIT $4",
    )
    .bind(venue)
    .bind(epoch)
    .bind(projected)
    .bind(CHUNK)
    .fetch_all(&mut **tx)
    .await?;
    let Some(last) = rows.last() else {
        return Ok(None);
    };
    let last: i64 = last.try_get("seq")?;
    let mut stored = Vec::with_capacity(rows.len());
    for row in &rows {
        stored.extend(typed(row)?);
    }
    Ok(Some((last, stored)))
}

/// Moves the cursor of `name` over `(venue, epoch)` to `last`, in the transaction that wrote the
/// effects of the records up to it.
pub(super) async fn advance(
    tx: &mut Transaction<'_, Postgres>,
    name: &str,
    venue: &str,
    epoch: &str,
    last: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sync_projections SET projected = $4, updated_at = now()
         WHERE projection = $1 AND venue_id = $2 AND epoch = $3",
    )
    .bind(name)
    .bind(venue)
    .bind(epoch)
    .bind(last)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Types a stored row straight from its payload text (no `serde_json::Value` tree: a projection
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
