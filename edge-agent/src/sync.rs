//! Venue → cloud sync: drains the outbox to cloud-sync and pulls registered players down.
//!
//! The outbox is written in the same SQLite transaction as the events, so this task only has to
//! deliver it, at least once, in order; cloud-sync's apply is idempotent (docs/sync.md), which
//! makes the effect exactly once. The rules that keep it from ever losing data:
//!
//! - a row leaves the outbox only once the cloud has acknowledged it (`acked_seq`), written through
//!   the one store writer like every other change;
//! - nothing gives up: network errors, 5xx, 401 and other 409s are retried forever with exponential
//!   backoff and full jitter (and `Retry-After` on 429/503 is honoured); only the operator's
//!   attention (logs, `/metrics`, `GET /api/v1/sync`) escalates;
//! - a record the cloud refuses as invalid (422) is moved to `sync_dead_letters`, where staff see
//!   it, and replaced by a `rejected` placeholder so the sequence has no gap;
//! - a 413 halves the batch and tries again;
//! - acknowledged records are kept a while (`sync_sent`): a cloud restored from a backup answers a
//!   409 asking for a seq it had acknowledged, and gets everything from there again.
//!
//! Batches are bounded by records and bytes and gzip-compressed. When the outbox is empty the task
//! looks again every [`SyncOptions::poll`]; a full batch is followed at once by the next, which is
//! how a venue that was offline for a week catches up.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use shared::sync::{
    BATCHES_ROUTE, Batch, BatchAck, MAX_BATCH_RECORDS, PLAYERS_ROUTE, PLAYERS_SNAPSHOT_ROUTE,
    PlayerChanges, PlayerSnapshot, STAFF_ROUTE, StaffList, SyncError, TOURNAMENTS_ROUTE,
    TournamentList,
};
use tokio::sync::oneshot;

use crate::config::CloudConfig;
use crate::metrics::Metrics;
use crate::store::{Reader, StoreError, StoreTx, SyncWrite, Write};
use tokio_util::sync::CancellationToken;

/// Tuning of the sync task.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Most records per batch.
    pub batch_records: usize,
    /// Most payload bytes per batch (before compression).
    pub batch_bytes: usize,
    /// How often to look at an empty outbox.
    pub poll: Duration,
    /// How often to pull the player change log.
    pub players_every: Duration,
    /// First retry delay; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// How long acknowledged records are kept, to send again to a cloud restored from a backup.
    pub keep_sent: Duration,
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions {
            // The contract's most: a catch-up pays the per-request cost half as often as at 500.
            batch_records: MAX_BATCH_RECORDS,
            batch_bytes: 2 << 20,
            poll: Duration::from_secs(1),
            players_every: Duration::from_secs(60),
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            keep_sent: Duration::from_secs(30 * 86_400),
        }
    }
}

/// Why one sync step did not complete; every one of them is retried.
#[derive(Debug, thiserror::Error)]
pub enum SyncFailure {
    /// The cloud could not be reached or did not answer in time.
    #[error("cloud unreachable: {0}")]
    Network(#[from] reqwest::Error),
    /// The cloud asked us to wait (429/503).
    #[error("cloud busy ({status}); retry after {after:?}")]
    Busy {
        /// The status.
        status: StatusCode,
        /// Its `Retry-After`.
        after: Option<Duration>,
    },
    /// The cloud answered with an error we cannot fix by ourselves (401, 403, 409, 400, 5xx).
    #[error("cloud answered {status}: {error}")]
    Refused {
        /// The status.
        status: StatusCode,
        /// Its `{"error"}`.
        error: String,
    },
    /// SQLite said no.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A refusal with the cloud's reason and, for a gap, the seq it expects.
fn refused(status: StatusCode, error: SyncError) -> SyncFailure {
    let error = match error.expected_seq {
        Some(expected) => format!("{} (cloud expects seq {expected})", error.error),
        None => error.error,
    };
    SyncFailure::Refused { status, error }
}

/// What one push did.
#[derive(Debug, PartialEq, Eq)]
enum Pushed {
    /// Nothing was waiting.
    Idle,
    /// A batch was acknowledged; `full` when there may be more right behind it.
    Acked { full: bool },
    /// The cloud refused one record; it was dead-lettered and the batch will be resent.
    DeadLettered,
    /// The batch was too large; it will be resent smaller.
    TooLarge,
    /// The cloud had lost records it acknowledged; they are back in the outbox.
    Rewound,
}

/// The sync task's handle on the world.
#[derive(Debug)]
pub struct Sync {
    cloud: CloudConfig,
    epoch: String,
    options: SyncOptions,
    http: reqwest::Client,
    reader: Reader,
    store: StoreTx,
    metrics: Arc<Metrics>,
    batch_records: usize,
    /// When the pending gauge was last counted (`None`: never).
    counted: Option<tokio::time::Instant>,
    /// The batch behind the last one acknowledged, prepared while that one was in flight.
    prefetched: Option<tokio::task::JoinHandle<Prepared>>,
    /// Told each push's outcome (the health report's sync part).
    health: Option<Arc<crate::health::Health>>,
    /// Given each staff list pulled (`crate::staff`).
    staff: Option<Arc<crate::staff::Desk>>,
    /// The engine, once it runs: the cloud's planned tournaments are imported through it.
    engine: Option<Arc<std::sync::OnceLock<crate::engine::EngineHandle>>>,
}

/// A batch read from the outbox and compressed, ready to send.
#[derive(Debug)]
struct Outgoing {
    /// Its seqs, consecutive.
    first: u64,
    last: u64,
    count: usize,
    body: Vec<u8>,
}

/// What [`Sync::prepare`] gives: the batch (`None`: the outbox is empty) and, when counted, how
/// many records are pending.
type Prepared = Result<(Option<Outgoing>, Option<u64>), StoreError>;

/// How often the outbox is counted for the pending gauge. Counting is a scan of the whole outbox
/// (`COUNT(*)`), which per batch made a 1,000,000-record catch-up quadratic (docs/benchmarks.md).
const COUNT_EVERY: Duration = Duration::from_secs(5);

impl Sync {
    /// A sync task for this database (`epoch`) to `cloud`.
    ///
    /// # Errors
    ///
    /// The HTTP client could not be built (no TLS roots).
    pub fn new(
        cloud: CloudConfig,
        epoch: String,
        options: SyncOptions,
        reader: Reader,
        store: StoreTx,
        metrics: Arc<Metrics>,
    ) -> Result<Sync, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("edge-agent/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let batch_records = options.batch_records.clamp(1, MAX_BATCH_RECORDS);
        Ok(Sync {
            cloud,
            epoch,
            options,
            http,
            reader,
            store,
            metrics,
            batch_records,
            counted: None,
            prefetched: None,
            health: None,
            staff: None,
            engine: None,
        })
    }

    /// Reports each push's outcome to `health`.
    #[must_use]
    pub fn report_to(mut self, health: Arc<crate::health::Health>) -> Sync {
        self.health = Some(health);
        self
    }

    /// Gives each staff list pulled to `desk` (after it is stored).
    #[must_use]
    pub fn staff_to(mut self, desk: Arc<crate::staff::Desk>) -> Sync {
        self.staff = Some(desk);
        self
    }

    /// Imports the cloud's planned tournaments through the engine in `slot` (set once it runs).
    #[must_use]
    pub fn tournaments_to(
        mut self,
        slot: Arc<std::sync::OnceLock<crate::engine::EngineHandle>>,
    ) -> Sync {
        self.engine = Some(slot);
        self
    }

    /// Runs until `shutdown`: pushes the outbox, pulls players, retries forever.
    pub async fn run(mut self, shutdown: CancellationToken) {
        tracing::info!(cloud = %self.cloud.url, venue = %self.cloud.venue_id, "cloud sync on");
        let (mut failures, mut pull_failures) = (0u32, 0u32);
        let mut next_pull = tokio::time::Instant::now();
        loop {
            // A request in flight is abandoned at shutdown: what it would have acknowledged is
            // still in the outbox and is sent again (a duplicate to the cloud, never a loss).
            if tokio::time::Instant::now() >= next_pull {
                let pulled = tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    pulled = async {
                        self.pull_players().await?;
                        self.pull_staff().await?;
                        self.pull_tournaments().await
                    } => pulled,
                };
                next_pull = tokio::time::Instant::now()
                    + match pulled {
                        Ok(()) => {
                            pull_failures = 0;
                            self.options.players_every
                        }
                        Err(error) => {
                            pull_failures = pull_failures.saturating_add(1);
                            if pull_failures.is_power_of_two() {
                                tracing::warn!(%error, failures = pull_failures, "player pull failed; will retry");
                            }
                            backoff(&self.options, pull_failures, retry_after_of(&error))
                        }
                    };
            }
            let pushed = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                pushed = self.push() => pushed,
            };
            if let Some(health) = &self.health {
                match &pushed {
                    Ok(_) => health.sync_ok(crate::clock::now_ms()),
                    Err(error) => health.sync_failed(crate::clock::now_ms(), error.to_string()),
                }
            }
            let wait = match pushed {
                Ok(
                    Pushed::Acked { full: true }
                    | Pushed::DeadLettered
                    | Pushed::TooLarge
                    | Pushed::Rewound,
                ) => {
                    failures = 0;
                    Duration::ZERO
                }
                Ok(Pushed::Acked { full: false } | Pushed::Idle) => {
                    failures = 0;
                    self.options.poll
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    self.metrics.sync_failure(failure_label(&error));
                    let delay = backoff(&self.options, failures, retry_after_of(&error));
                    if failures == 1 || failures.is_power_of_two() {
                        tracing::warn!(%error, failures, retry_in = ?delay, "sync failed; nothing is dropped, retrying");
                    }
                    delay
                }
            };
            if wait.is_zero() {
                if shutdown.is_cancelled() {
                    break;
                }
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!("cloud sync stopped");
    }

    /// Reads the outbox after seq `after` (`0`: from its head), counts it for the pending gauge
    /// when `count` (or when it is empty), and builds the gzipped batch, on a blocking thread.
    fn prepare(&self, after: u64, count: bool) -> tokio::task::JoinHandle<Prepared> {
        let reader = self.reader.clone();
        let (records, bytes) = (self.batch_records, self.options.batch_bytes);
        let (venue_id, epoch) = (self.cloud.venue_id.clone(), self.epoch.clone());
        tokio::task::spawn_blocking(move || {
            let records = reader.outbox_after(after, records, bytes)?;
            // An empty outbox is always counted, so an idle agent's gauge says 0.
            let pending = if count || records.is_empty() {
                Some(reader.sync_status()?.pending)
            } else {
                None
            };
            let (Some(first), Some(last)) = (
                records.first().map(|r| r.seq),
                records.last().map(|r| r.seq),
            ) else {
                return Ok((None, pending));
            };
            let outgoing = Outgoing {
                first,
                last,
                count: records.len(),
                body: gzip(&Batch {
                    venue_id,
                    epoch,
                    records,
                }),
            };
            Ok((Some(outgoing), pending))
        })
    }

    /// Sends the oldest outbox records once. While a full batch is in flight, the batch behind it
    /// is read and compressed (`prefetched`), so a catch-up does not leave the cloud waiting for
    /// the venue between requests; it is used only if this one is acknowledged in full.
    async fn push(&mut self) -> Result<Pushed, SyncFailure> {
        let due = self.counted.is_none_or(|at| at.elapsed() >= COUNT_EVERY);
        let prepared = match self.prefetched.take() {
            Some(prefetched) => prefetched,
            None => self.prepare(0, due),
        };
        let (outgoing, pending) = prepared.await.map_err(|e| StoreError::Io {
            path: "outbox".into(),
            source: std::io::Error::other(e),
        })??;
        if let Some(pending) = pending {
            self.metrics.sync_pending(pending);
            self.counted = Some(tokio::time::Instant::now());
        }
        let Some(Outgoing {
            first,
            last,
            count,
            body,
        }) = outgoing
        else {
            return Ok(Pushed::Idle);
        };
        let full = count >= self.batch_records;
        let next = full.then(|| {
            let due = self.counted.is_none_or(|at| at.elapsed() >= COUNT_EVERY);
            self.prepare(last, due)
        });
        let response = self
            .http
            .post(format!("{}{BATCHES_ROUTE}", self.cloud.url))
            .header(AUTHORIZATION, format!("Bearer {}", self.cloud.venue_key))
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "gzip")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        match status {
            StatusCode::OK => {
                let ack: BatchAck = response.json().await?;
                if !ack.conflicts.is_empty() {
                    tracing::error!(conflicts = ?ack.conflicts, "cloud-sync holds different content for these records: flagged there for staff");
                    self.metrics
                        .sync_records("conflict", ack.conflicts.len() as u64);
                }
                // Only what the cloud holds leaves the outbox: its mark, never more than we sent.
                let acked = ack.acked_seq.min(last);
                let forget_before_ms = crate::clock::now_ms().saturating_sub(
                    u64::try_from(self.options.keep_sent.as_millis()).unwrap_or(u64::MAX),
                );
                self.write(SyncWrite::Acked {
                    seq: acked,
                    forget_before_ms,
                })
                .await?;
                self.metrics.sync_records("applied", ack.applied);
                self.metrics.sync_records("duplicate", ack.duplicates);
                if acked == last {
                    self.prefetched = next;
                }
                Ok(Pushed::Acked {
                    full: acked == last && full,
                })
            }
            StatusCode::UNPROCESSABLE_ENTITY => {
                let error: SyncError = response.json().await?;
                let Some(seq) = error.seq.filter(|s| (first..=last).contains(s)) else {
                    return Err(SyncFailure::Refused {
                        status,
                        error: error.error,
                    });
                };
                tracing::error!(seq, reason = %error.error, "cloud-sync refused a record as invalid; moved to sync dead letters");
                self.write(SyncWrite::Refused {
                    seq,
                    reason: error.error,
                })
                .await?;
                self.metrics.sync_records("dead_lettered", 1);
                Ok(Pushed::DeadLettered)
            }
            StatusCode::PAYLOAD_TOO_LARGE if count > 1 => {
                self.batch_records = (count / 2).max(1);
                tracing::warn!(
                    records = self.batch_records,
                    "cloud-sync said the batch was too large; sending smaller ones"
                );
                Ok(Pushed::TooLarge)
            }
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                Err(SyncFailure::Busy {
                    status,
                    after: retry_after(response.headers()),
                })
            }
            StatusCode::CONFLICT => {
                let text = response.text().await.unwrap_or_default();
                let error = serde_json::from_str::<SyncError>(&text).unwrap_or(SyncError {
                    error: text,
                    seq: None,
                    expected_seq: None,
                });
                match error.expected_seq {
                    Some(expected) if expected < first => self.rewind(expected, first).await,
                    _ => Err(refused(status, error)),
                }
            }
            _ => {
                let text = response.text().await.unwrap_or_default();
                let error = serde_json::from_str::<SyncError>(&text).map_or_else(
                    |_| SyncFailure::Refused {
                        status,
                        error: text,
                    },
                    |e| refused(status, e),
                );
                Err(error)
            }
        }
    }

    /// The cloud expects `expected`, below the oldest record not yet acknowledged (`first`): it
    /// lost records it had acknowledged, e.g. its database was restored from a backup. Everything
    /// from `expected` on goes back into the outbox when this venue still keeps it; otherwise the
    /// failure stands, retried (and alarmed) forever, for an operator to look at.
    async fn rewind(&self, expected: u64, first: u64) -> Result<Pushed, SyncFailure> {
        let reader = self.reader.clone();
        let kept = tokio::task::spawn_blocking(move || reader.oldest_kept_sent())
            .await
            .map_err(|e| StoreError::Io {
                path: "sync_sent".into(),
                source: std::io::Error::other(e),
            })??;
        if kept.is_some_and(|oldest| oldest <= expected) {
            tracing::warn!(
                expected,
                first,
                "cloud-sync has lost records it had acknowledged (restored from a backup?); sending them again"
            );
            self.write(SyncWrite::Rewind { from: expected }).await?;
            self.metrics.sync_records("resent", first - expected);
            return Ok(Pushed::Rewound);
        }
        Err(SyncFailure::Refused {
            status: StatusCode::CONFLICT,
            error: format!(
                "cloud-sync expects seq {expected}, but records {expected}..{first} were acknowledged and are no longer kept here (sync_keep_days): an operator must reconcile"
            ),
        })
    }

    /// Brings the local copy of registered players up to date: change log pages from the stored
    /// cursor, or a snapshot when the cloud no longer keeps that far back.
    async fn pull_players(&self) -> Result<(), SyncFailure> {
        loop {
            let reader = self.reader.clone();
            let cursor = tokio::task::spawn_blocking(move || reader.sync_status())
                .await
                .map_err(|e| StoreError::Io {
                    path: "meta".into(),
                    source: std::io::Error::other(e),
                })??
                .players_cursor;
            let response = self
                .get(&format!("{PLAYERS_ROUTE}?cursor={cursor}&limit=1000"))
                .await?;
            match response.status() {
                StatusCode::OK => {
                    let page: PlayerChanges = response.json().await?;
                    let more = page.more && page.cursor > cursor;
                    if page.cursor != cursor || !page.changes.is_empty() {
                        self.write(SyncWrite::PlayerChanges(page)).await?;
                    }
                    if !more {
                        return Ok(());
                    }
                }
                StatusCode::GONE => {
                    tracing::info!(
                        cursor,
                        "player change log no longer reaches our cursor; taking a snapshot"
                    );
                    let response = self.get(PLAYERS_SNAPSHOT_ROUTE).await?;
                    let status = response.status();
                    if status != StatusCode::OK {
                        return Err(SyncFailure::Refused {
                            status,
                            error: response.text().await.unwrap_or_default(),
                        });
                    }
                    let snapshot: PlayerSnapshot = response.json().await?;
                    self.write(SyncWrite::PlayerSnapshot(snapshot)).await?;
                    return Ok(());
                }
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                    return Err(SyncFailure::Busy {
                        status: response.status(),
                        after: retry_after(response.headers()),
                    });
                }
                status => {
                    return Err(SyncFailure::Refused {
                        status,
                        error: response.text().await.unwrap_or_default(),
                    });
                }
            }
        }
    }

    /// Copies the venue's staff list (who may sign in at the console, with their PIN hashes)
    /// into SQLite, then hands it to the desk. A cloud without the route (404: older than staff
    /// sign-in) is not a failure: the staff token still works.
    async fn pull_staff(&self) -> Result<(), SyncFailure> {
        let response = self.get(STAFF_ROUTE).await?;
        match response.status() {
            StatusCode::OK => {
                let list: StaffList = response.json().await?;
                let members = list.staff.clone();
                self.write(SyncWrite::Staff(list)).await?;
                if let Some(desk) = &self.staff {
                    desk.replace(members);
                }
                Ok(())
            }
            StatusCode::NOT_FOUND => {
                tracing::debug!("cloud-sync has no staff list route; staff sign in with the token");
                Ok(())
            }
            status @ (StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) => {
                Err(SyncFailure::Busy {
                    status,
                    after: retry_after(response.headers()),
                })
            }
            status => Err(SyncFailure::Refused {
                status,
                error: response.text().await.unwrap_or_default(),
            }),
        }
    }

    /// Imports the venue's planned tournaments (new drafts, entrants registered since) through
    /// the engine. A cloud without the route (404) is not a failure.
    async fn pull_tournaments(&self) -> Result<(), SyncFailure> {
        let Some(engine) = self.engine.as_ref().and_then(|slot| slot.get()) else {
            return Ok(());
        };
        let response = self.get(TOURNAMENTS_ROUTE).await?;
        match response.status() {
            StatusCode::OK => {
                let list: TournamentList = response.json().await?;
                match engine.import_tournaments(list.tournaments).await {
                    Ok(0) => {}
                    Ok(taken) => {
                        tracing::info!(taken, "planned tournaments imported from the cloud");
                    }
                    Err(error) => tracing::warn!(%error, "planned tournaments not imported now"),
                }
                Ok(())
            }
            StatusCode::NOT_FOUND => {
                tracing::debug!("cloud-sync has no tournament list route");
                Ok(())
            }
            status @ (StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) => {
                Err(SyncFailure::Busy {
                    status,
                    after: retry_after(response.headers()),
                })
            }
            status => Err(SyncFailure::Refused {
                status,
                error: response.text().await.unwrap_or_default(),
            }),
        }
    }

    async fn get(&self, path: &str) -> Result<reqwest::Response, reqwest::Error> {
        self.http
            .get(format!("{}{path}", self.cloud.url))
            .header(AUTHORIZATION, format!("Bearer {}", self.cloud.venue_key))
            .send()
            .await
    }

    /// Writes through the store's one writer and waits for the commit.
    async fn write(&self, write: SyncWrite) -> Result<(), StoreError> {
        let (done, committed) = oneshot::channel();
        self.store.send(Write::Sync { write, done }).await?;
        committed.await.map_err(|_| StoreError::Closed)
    }
}

fn gzip(batch: &Batch) -> Vec<u8> {
    let json = serde_json::to_vec(batch).unwrap_or_default();
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(json.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(&json);
    encoder.finish().unwrap_or(json)
}

/// `Retry-After` in seconds (the form cloud-sync sends; an HTTP date falls back to backoff).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds.min(3600)))
}

/// Exponential backoff with full jitter, never shorter than the server's `Retry-After`.
fn backoff(options: &SyncOptions, failures: u32, retry_after: Option<Duration>) -> Duration {
    let exp = options
        .min_backoff
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(options.max_backoff);
    let jittered = exp.mul_f64(rand::rng().random_range(0.5..=1.0));
    retry_after.map_or(jittered, |after| after.max(jittered))
}

fn retry_after_of(failure: &SyncFailure) -> Option<Duration> {
    match failure {
        SyncFailure::Busy { after, .. } => *after,
        _ => None,
    }
}

fn failure_label(failure: &SyncFailure) -> &'static str {
    match failure {
        SyncFailure::Network(_) => "network",
        SyncFailure::Busy { .. } => "busy",
        SyncFailure::Refused { status, .. } if *status == StatusCode::UNAUTHORIZED => {
            "unauthorized"
        }
        SyncFailure::Refused { status, .. } if *status == StatusCode::FORBIDDEN => "forbidden",
        SyncFailure::Refused { status, .. } if *status == StatusCode::CONFLICT => "gap",
        SyncFailure::Refused { .. } => "refused",
        SyncFailure::Store(_) => "store",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let options = SyncOptions::default();
        for failures in 1..40 {
            let delay = backoff(&options, failures, None);
            assert!(delay <= options.max_backoff, "{delay:?}");
            assert!(delay >= options.min_backoff / 2, "{delay:?}");
        }
        assert!(backoff(&options, 12, None) >= options.max_backoff / 2);
        let after = Duration::from_secs(7);
        assert!(backoff(&options, 1, Some(after)) >= after);
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(RETRY_AFTER, "3".parse().expect("header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("header"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn batches_are_gzipped_json() {
        let batch = Batch {
            venue_id: "v1".into(),
            epoch: "e1".into(),
            records: Vec::new(),
        };
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&gzip(&batch)[..]),
            &mut text,
        )
        .expect("gunzips");
        assert_eq!(serde_json::from_str::<Batch>(&text).expect("parses"), batch);
    }
}
