//! Projections: read models built from `sync_records` after the batches that stored them were
//! acknowledged (docs/sync.md, "Projection"). This module is the mechanism, generic over named
//! projections ([`Projection`]); each context that consumes venue records implements one (today
//! `crate::reads::MatchesProjection`: matches, racks, statistics) and the composition root
//! (`crate::startup`) lists them.
//!
//! Why apart from ingest: a venue's acknowledgement needs only its records durable; folding them
//! into matches costs as much again in PostgreSQL, and the venue need not wait for it. Reads lag
//! by the projection (normally milliseconds).
//!
//! How it stays exactly once in effect: a cursor per `(projection, venue, epoch)`
//! (`sync_projections.projected`, migrations 0002 and 0003, [`cursor`]) is advanced in the same
//! transaction that writes the effects of the records up to it, so a crash loses nothing (the next
//! pass resumes from the cursor) and applies nothing twice. The transaction takes the cursor row
//! `FOR UPDATE SKIP LOCKED`, so two instances never run one projection over the same
//! `(venue, epoch)` at once: the second one skips it. Live messages and cache invalidation follow
//! the commit (persist, then publish). Each projection has its own cursors and its own task, so
//! one that falls behind or fails does not hold back another.
//!
//! When it runs: woken by this instance right after a batch commits ([`Projector::wake`]), on
//! start-up, and every [`SAFETY_NET`] (records acknowledged by an instance that died before
//! projecting them, or a pass that failed, are picked up by then). Each pass also refreshes the
//! lag metrics.

mod cursor;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use shared::sync::Record;
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::infra::cache::{self, Scope};
use crate::infra::live::Live;
use crate::infra::metrics::Metrics;
use crate::infra::redis_link::RedisLink;

/// How often a pass runs without being woken.
pub const SAFETY_NET: Duration = Duration::from_secs(1);

/// A read model folded from the venue records, exactly once, with cursors of its own.
pub trait Projection: Send + Sync + 'static {
    /// The name of its cursors in `sync_projections`. Never rename one: a new name starts again
    /// from each `(venue, epoch)`'s first record.
    const NAME: &'static str;

    /// Folds `records` (one `(venue, epoch)`, consecutive, in seq order; records that no longer
    /// parse are left out) into the read model within `tx`, which also advances the cursor.
    /// Returns what to tell Redis once `tx` has committed.
    fn apply<'a>(
        &'a self,
        tx: &'a mut Transaction<'_, Postgres>,
        venue: &'a str,
        epoch: &'a str,
        records: &'a [Stored],
    ) -> impl Future<Output = Result<Effects, sqlx::Error>> + Send + 'a;
}

/// A stored record, typed again for a fold.
#[derive(Debug)]
pub struct Stored {
    /// Its seq in its `(venue, epoch)`.
    pub seq: i64,
    /// The venue's match id it belongs to.
    pub match_id: String,
    /// The record.
    pub record: Record,
}

/// What a projection's commit changed, told to Redis after the commit.
#[derive(Debug, Default)]
pub struct Effects {
    /// `/api/v1/live` messages (JSON text).
    pub live: Vec<String>,
    /// Cache scopes whose generation to bump.
    pub touched: Vec<Scope>,
}

/// Wakes this instance's projections (cheap; wakes coalesce).
#[derive(Clone, Debug, Default)]
pub struct Projector {
    wakes: Vec<Arc<Notify>>,
}

impl Projector {
    /// Asks every projection for a pass soon: records were just committed.
    pub fn wake(&self) {
        for wake in &self.wakes {
            wake.notify_one();
        }
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

/// Starts projections, one task each, and collects what wakes and stops them.
#[derive(Debug)]
pub struct Runner {
    context: Context,
    shutdown: CancellationToken,
    projector: Projector,
    tasks: Vec<JoinHandle<()>>,
}

impl Runner {
    /// No projection started yet.
    pub fn new(context: Context, shutdown: CancellationToken) -> Runner {
        Runner {
            context,
            shutdown,
            projector: Projector::default(),
            tasks: Vec::new(),
        }
    }

    /// Starts `projection`'s task; it stops when `shutdown` is cancelled (between passes).
    pub fn spawn<P: Projection>(&mut self, projection: P) {
        let wake = Arc::new(Notify::new());
        self.projector.wakes.push(wake.clone());
        let (context, shutdown) = (self.context.clone(), self.shutdown.clone());
        self.tasks.push(tokio::spawn(async move {
            loop {
                catch_up(&context, &projection).await;
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = wake.notified() => {}
                    () = tokio::time::sleep(SAFETY_NET) => {}
                }
            }
        }));
    }

    /// What wakes the projections, and their tasks.
    pub fn finish(self) -> (Projector, Vec<JoinHandle<()>>) {
        (self.projector, self.tasks)
    }
}

/// Passes until one finds nothing this instance can do.
async fn catch_up<P: Projection>(context: &Context, projection: &P) {
    loop {
        match pass(context, projection).await {
            Ok(0) => return,
            Ok(_) => {}
            Err(error) => {
                context.metrics.projection_error();
                tracing::warn!(%error, projection = P::NAME,
                    "projection pass failed; retrying at the next one");
                return;
            }
        }
    }
}

/// One pass of `projection` over every `(venue, epoch)` behind. Returns how many records this
/// instance projected.
///
/// # Errors
///
/// PostgreSQL's; nothing of a failed `(venue, epoch)` step is kept.
pub async fn pass<P: Projection>(context: &Context, projection: &P) -> Result<u64, sqlx::Error> {
    let behind = cursor::behind_of(&context.pool, P::NAME).await?;
    context
        .metrics
        .projection_lag(behind.records, behind.waited_secs);
    let mut done = 0;
    for (venue, epoch) in behind.todo {
        done += project(context, projection, &venue, &epoch).await?;
    }
    Ok(done)
}

/// Projects up to one chunk of records of one `(venue, epoch)` in one transaction, unless another
/// instance holds its cursor. Returns how many records were projected.
async fn project<P: Projection>(
    context: &Context,
    projection: &P,
    venue: &str,
    epoch: &str,
) -> Result<u64, sqlx::Error> {
    let mut tx = context.pool.begin().await?;
    let Some(projected) = cursor::lock(&mut tx, P::NAME, venue, epoch).await? else {
        return Ok(0);
    };
    let Some((last, records)) = cursor::next_records(&mut tx, venue, epoch, projected).await?
    else {
        return Ok(0);
    };
    let effects = projection.apply(&mut tx, venue, epoch, &records).await?;
    cursor::advance(&mut tx, P::NAME, venue, epoch, last).await?;
    tx.commit().await?;
    let n = u64::try_from(last - projected).unwrap_or(0);
    context.metrics.projected(P::NAME, n);
    // After the commit: readers must not see a cached answer older than the projection, and live
    // clients hear only what is stored.
    tokio::join!(
        cache::invalidate(&context.redis, &effects.touched),
        context.live.publish(&context.redis, effects.live),
    );
    Ok(n)
}

/// Records acknowledged but not projected yet, over every `(venue, epoch)` and every projection
/// (a `(venue, epoch)` no projection has a cursor for yet counts once).
///
/// # Errors
///
/// PostgreSQL's.
pub async fn behind(pool: &PgPool) -> Result<i64, sqlx::Error> {
    cursor::behind_total(pool).await
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
