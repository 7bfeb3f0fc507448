//! Ingest latency under a steady load of many venues (docs/benchmarks.md, "cloud-sync: 1,000
//! venues"), against a plain PostgreSQL transaction storing the same rows at the same rate and
//! concurrency, in the same run. Bounded and loopback only.
//!
//! `cargo bench -p cloud-sync --bench venues`. What it does:
//!
//! 1. Creates a scratch database (`dojo_testkit::postgres::ScratchDb`), starts cloud-sync in-process on a
//!    loopback port with a PostgreSQL pool of `BENCH_POOL` connections and Redis under a key prefix
//!    of its own (rate limits on as in production, except the per-address limit: every simulated
//!    venue comes from 127.0.0.1, which a real deployment never sees), and enrolls `BENCH_VENUES`
//!    venues with `cloud_sync::venues::create_venue`.
//! 2. **API phase**: every venue, with its own HTTP client (its own keep-alive connection), pushes a
//!    finished match's four records (start, two racks with stats and shot logs, finish; gzip; its
//!    own epoch and increasing seqs) every `BENCH_INTERVAL_MS`, at a random phase, for
//!    `BENCH_SECONDS`. Latency is from the scheduled send time to the answer (so a late start counts
//!    against the API, not hidden), over every request; errors are counted by status.
//! 3. **Floor phase**, same venues, phases, interval and duration: the same four rows (same
//!    payloads, content hashes) inserted by one `INSERT … VALUES` into a table made `LIKE
//!    sync_records` plus `COMMIT`, from a pool of the same size, timed the same way.
//!
//! Knobs (environment): `BENCH_VENUES` (1000), `BENCH_INTERVAL_MS` (10000: 100 requests/s, what
//! the shared 2 vCPU machine sustained; 2000 offers 500/s), `BENCH_SECONDS` (30),
//! `BENCH_POOL` (16, cloud-sync's default), `BENCH_PG` (`postgres://postgres@127.0.0.1:5432`),
//! `BENCH_REDIS` (`redis://127.0.0.1:6379/`; `none` runs without Redis, hence without limits).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use common::{gzip, match_records};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Params {
    venues: usize,
    interval: Duration,
    duration: Duration,
    pool: u32,
}

impl Params {
    fn ticks(&self) -> u64 {
        (self.duration.as_millis() / self.interval.as_millis().max(1)).max(1) as u64
    }

    fn offered_per_s(&self) -> f64 {
        self.venues as f64 / self.interval.as_secs_f64()
    }
}

/// One stored row, as cloud-sync keeps it in `sync_records` (content hash over kind, match id and
/// payload as sent, each followed by a zero byte).
struct Row {
    seq: i64,
    kind: String,
    match_id: String,
    hash: Vec<u8>,
    payload: String,
}

fn row(record: &Value) -> anyhow::Result<Row> {
    let payload = record["payload"].to_string();
    let kind = record["kind"].as_str().context("kind")?.to_owned();
    let match_id = record["match_id"].as_str().context("match_id")?.to_owned();
    let mut hasher = Sha256::new();
    for part in [&kind, &match_id, &payload] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    Ok(Row {
        seq: record["seq"].as_i64().context("seq")?,
        kind,
        match_id,
        hash: hasher.finalize().to_vec(),
        payload,
    })
}

/// One venue's load: its key, phase, and per tick the gzip body and the rows it stores.
struct Venue {
    id: String,
    key: String,
    epoch: String,
    phase: Duration,
    bodies: Vec<Vec<u8>>,
    rows: Vec<Vec<Row>>,
}

fn venue_load(index: usize, id: String, key: String, params: &Params) -> anyhow::Result<Venue> {
    let epoch = format!("{:016x}", rand::random::<u64>());
    let phase = params.interval.mul_f64(rand::random::<f64>());
    let (mut bodies, mut rows) = (Vec::new(), Vec::new());
    for tick in 0..params.ticks() {
        let match_id = format!("{}-{tick}", &epoch[..8]);
        let table = format!("t{}", index % 12);
        let records = match_records(tick * 4 + 1, &match_id, &table, 1_795_000_000_000 + tick);
        let body = json!({"venue_id": id, "epoch": epoch, "records": records});
        bodies.push(gzip(body.to_string().as_bytes())?);
        rows.push(records.iter().map(row).collect::<anyhow::Result<_>>()?);
    }
    Ok(Venue {
        id,
        key,
        epoch,
        phase,
        bodies,
        rows,
    })
}

/// Latencies and outcomes of one phase.
#[derive(Default)]
struct Outcomes {
    latencies: Vec<Duration>,
    by_status: BTreeMap<String, u64>,
    late_starts: u64,
}

impl Outcomes {
    fn record(&mut self, latency: Duration, status: &str, late: bool) {
        self.latencies.push(latency);
        *self.by_status.entry(status.to_owned()).or_default() += 1;
        self.late_starts += u64::from(late);
    }

    fn quantile(sorted: &[Duration], q: f64) -> Duration {
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let index = ((sorted.len() - 1) as f64 * q).round() as usize;
        sorted[index.min(sorted.len() - 1)]
    }
}

struct Summary {
    p50: Duration,
    p99: Duration,
    max: Duration,
    ok: u64,
    total: u64,
    by_status: BTreeMap<String, u64>,
    late_starts: u64,
    elapsed: Duration,
}

impl Summary {
    fn of(outcomes: Outcomes, elapsed: Duration) -> Summary {
        let mut sorted = outcomes.latencies;
        sorted.sort_unstable();
        Summary {
            p50: Outcomes::quantile(&sorted, 0.50),
            p99: Outcomes::quantile(&sorted, 0.99),
            max: sorted.last().copied().unwrap_or_default(),
            ok: outcomes.by_status.get("200").copied().unwrap_or(0),
            total: sorted.len() as u64,
            by_status: outcomes.by_status,
            late_starts: outcomes.late_starts,
            elapsed,
        }
    }

    fn print(&self, label: &str) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "  {label:<44} p50 {:>7.2} ms  p99 {:>8.2} ms  max {:>8.2} ms",
            ms(self.p50),
            ms(self.p99),
            ms(self.max)
        );
        let statuses: Vec<String> = self
            .by_status
            .iter()
            .map(|(status, n)| format!("{status}: {n}"))
            .collect();
        println!(
            "    {} requests, {} ok ({:.0}/s achieved over {:.1} s); by status: {}; started > 50 ms late: {}",
            self.total,
            self.ok,
            self.ok as f64 / self.elapsed.as_secs_f64(),
            self.elapsed.as_secs_f64(),
            statuses.join(", "),
            self.late_starts
        );
    }
}

/// How long after its scheduled time a request may start before it counts as late.
const LATE: Duration = Duration::from_millis(50);

async fn api_phase(base: &str, venues: &[Arc<Venue>], params: &Params) -> anyhow::Result<Summary> {
    let url = format!("{base}/api/v1/sync/batches");
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let start = tokio::time::Instant::now() + Duration::from_millis(500);
    let mut tasks = Vec::new();
    for venue in venues {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let (venue, url, outcomes) = (venue.clone(), url.clone(), outcomes.clone());
        let interval = params.interval;
        tasks.push(tokio::spawn(async move {
            for (tick, body) in venue.bodies.iter().enumerate() {
                let due = start + venue.phase + interval * u32::try_from(tick).unwrap_or(0);
                tokio::time::sleep_until(due).await;
                let late = tokio::time::Instant::now().duration_since(due) > LATE;
                let sent = http
                    .post(&url)
                    .bearer_auth(&venue.key)
                    .header("content-type", "application/json")
                    .header("content-encoding", "gzip")
                    .body(body.clone())
                    .send()
                    .await;
                let status = match sent {
                    Ok(response) => {
                        let status = response.status();
                        // The answer is read whole: that is when the venue has its ack.
                        let _ = response.bytes().await;
                        status.as_u16().to_string()
                    }
                    Err(error) if error.is_timeout() => "timeout".to_owned(),
                    Err(_) => "network".to_owned(),
                };
                let latency = tokio::time::Instant::now().duration_since(due);
                lock(&outcomes).record(latency, &status, late);
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let elapsed = tokio::time::Instant::now().duration_since(start);
    let outcomes = std::mem::take(&mut *lock(&outcomes));
    Ok(Summary::of(outcomes, elapsed))
}

async fn floor_phase(url: &str, venues: &[Arc<Venue>], params: &Params) -> anyhow::Result<Summary> {
    let pool = cloud_sync::infra::db::connect_with(url, params.pool).await?;
    sqlx::query("CREATE TABLE floor_records (LIKE sync_records INCLUDING ALL)")
        .execute(&pool)
        .await?;
    let values: Vec<String> = (0..4)
        .map(|r| {
            let p = r * 7;
            format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}::jsonb)",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6,
                p + 7
            )
        })
        .collect();
    let insert: Arc<str> = format!(
        "INSERT INTO floor_records (venue_id, epoch, seq, kind, match_id, content_hash, payload) VALUES {}",
        values.join(", ")
    )
    .into();
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let start = tokio::time::Instant::now() + Duration::from_millis(500);
    let mut tasks = Vec::new();
    for venue in venues {
        let (venue, pool, outcomes, insert) = (
            venue.clone(),
            pool.clone(),
            outcomes.clone(),
            insert.clone(),
        );
        let interval = params.interval;
        tasks.push(tokio::spawn(async move {
            for (tick, rows) in venue.rows.iter().enumerate() {
                let due = start + venue.phase + interval * u32::try_from(tick).unwrap_or(0);
                tokio::time::sleep_until(due).await;
                let late = tokio::time::Instant::now().duration_since(due) > LATE;
                let stored = store_rows(&pool, &insert, &venue, rows).await;
                let status = match stored {
                    Ok(()) => "200".to_owned(),
                    Err(error) => format!("error: {error}"),
                };
                let latency = tokio::time::Instant::now().duration_since(due);
                lock(&outcomes).record(latency, &status, late);
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let elapsed = tokio::time::Instant::now().duration_since(start);
    pool.close().await;
    let outcomes = std::mem::take(&mut *lock(&outcomes));
    Ok(Summary::of(outcomes, elapsed))
}

/// The floor's unit of work: one transaction, one multi-row INSERT of the batch's rows, COMMIT.
async fn store_rows(
    pool: &sqlx::PgPool,
    insert: &str,
    venue: &Venue,
    rows: &[Row],
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut query = sqlx::query(sqlx::AssertSqlSafe(insert));
    for row in rows {
        query = query
            .bind(&venue.id)
            .bind(&venue.epoch)
            .bind(row.seq)
            .bind(&row.kind)
            .bind(&row.match_id)
            .bind(&row.hash)
            .bind(&row.payload);
    }
    query.execute(&mut *tx).await?;
    tx.commit().await
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server: String = env_or("BENCH_PG", "postgres://postgres@127.0.0.1:5432".to_owned());
    let redis: String = env_or("BENCH_REDIS", "redis://127.0.0.1:6379/".to_owned());
    let params = Params {
        venues: env_or("BENCH_VENUES", 1000usize).max(1),
        interval: Duration::from_millis(env_or("BENCH_INTERVAL_MS", 10_000u64).max(1)),
        duration: Duration::from_secs(env_or("BENCH_SECONDS", 30u64).max(1)),
        pool: env_or("BENCH_POOL", 16u32).max(1),
    };
    let db = dojo_testkit::postgres::ScratchDb::create(&server, "dojo_bench_venues").await?;
    let redis = (redis != "none").then_some(redis);
    let result = bench(&db.url, redis, &params).await;
    drop(db);
    result
}

async fn bench(url: &str, redis: Option<String>, params: &Params) -> anyhow::Result<()> {
    let mut config = cloud_sync::Config::new(url, redis.clone());
    config.redis_prefix = format!("bench-venues-{:08x}", rand::random::<u32>());
    config.db_pool_size = params.pool;
    // Every simulated venue comes from 127.0.0.1: the per-address limit would refuse them all.
    config.limits.addr_per_window = 0;
    let running = cloud_sync::start(config)
        .await
        .context("start cloud-sync")?;
    let base = format!("http://{}", running.addr());
    let admin = cloud_sync::infra::db::connect_with(url, 4).await?;

    let made = Instant::now();
    let mut venues = Vec::with_capacity(params.venues);
    for index in 0..params.venues {
        let (id, key) =
            cloud_sync::venues::create_venue(&admin, &format!("Bench venue {index}")).await?;
        venues.push(Arc::new(venue_load(index, id, key, params)?));
    }
    println!(
        "cloud-sync venues bench: {} venues (enrolled in {:.1} s), a finished match (4 records, gzip, ~{} bytes) each every {} ms for {} s: offered {:.0} requests/s = {:.0} records/s; pool {}, Redis {}",
        params.venues,
        made.elapsed().as_secs_f64(),
        venues
            .first()
            .map_or(0, |v| v.bodies.first().map_or(0, Vec::len)),
        params.interval.as_millis(),
        params.duration.as_secs(),
        params.offered_per_s(),
        params.offered_per_s() * 4.0,
        params.pool,
        if redis.is_some() {
            "on (own key prefix; per-venue rate limit on, per-address off)"
        } else {
            "off (no rate limits)"
        }
    );

    let api = api_phase(&base, &venues, params).await?;
    api.print("API: POST /api/v1/sync/batches");
    sqlx::query("CHECKPOINT").execute(&admin).await?;
    let floor = floor_phase(url, &venues, params).await?;
    floor.print("floor: INSERT of the same rows + COMMIT");

    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_records")
        .fetch_one(&admin)
        .await?;
    println!(
        "  cloud-sync stored {stored} records (expected {})",
        api.ok * 4
    );
    println!(
        "  p99 API ÷ p99 floor: {:.1}   p99 API − p99 floor: {:.2} ms   (p50: {:.1}×, {:.2} ms)",
        api.p99.as_secs_f64() / floor.p99.as_secs_f64().max(1e-9),
        (api.p99.as_secs_f64() - floor.p99.as_secs_f64()) * 1e3,
        api.p50.as_secs_f64() / floor.p50.as_secs_f64().max(1e-9),
        (api.p50.as_secs_f64() - floor.p50.as_secs_f64()) * 1e3,
    );
    admin.close().await;
    running.shutdown().await;
    Ok(())
}
