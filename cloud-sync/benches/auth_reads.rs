//! What authentication adds to a read (docs/benchmarks.md, "cloud-sync: authenticated reads"): the
//! same public read, `GET /api/v1/venues/{id}/matches`, by a signed-in player (a JWT access token)
//! and by an anonymous caller, interleaved request by request in one open-loop run, so both see the
//! same machine, the same load and the same cache. Target (issue 17): ≤ 10 % more at p99. Bounded
//! and loopback only.
//!
//! `cargo bench -p cloud-sync --bench auth_reads`. What it does:
//!
//! 1. Creates a scratch database (`dojo_testkit::postgres::ScratchDb`) and starts cloud-sync
//!    in-process on a loopback port with Redis under a key prefix of its own (the per-address rate
//!    limit off: every request comes from 127.0.0.1), enrolls a venue and syncs `BENCH_MATCHES`
//!    finished matches into it, waiting for the projection.
//! 2. Makes a player the way an account looks after sign-up (a `users` row in SQL, no role beyond
//!    `player`) and mints an access token with the service's own keys (`accounts::token::Keys::
//!    issue`, what signing in gives; the sign-in route is benchmarked elsewhere).
//! 3. Offers `BENCH_RATE` requests/s of each kind for `BENCH_SECONDS` (default 1,000/s each,
//!    interleaved: 2,000/s in all): request `k` is due at `start + k / (2 × rate)` and is sent at
//!    that time whether or not earlier ones were answered (open loop); the kinds alternate in pairs
//!    ordered AB BA AB … (anonymous, signed in), so that neither kind is always the one queued
//!    behind the other when two fall on the same timer tick. Latency runs from the due time to the whole answer read, so a late start
//!    counts against the service. Every answer must be 200 and the same page for both kinds.
//! 4. Reports p50/p99/max of each kind, the ratios, and the cost of `Keys::verify` alone (the
//!    work authentication adds: header, HMAC-SHA256, claims) over `BENCH_VERIFY` calls.
//!
//! The first page of a venue's matches comes from the Redis cache for both kinds: a player with no
//! role at the venue reads the public page. (If the cache is keyed by audience, a player's and an
//! anonymous caller's audience is the same public one, so the comparison holds.)
//!
//! Knobs (environment): `BENCH_RATE` (1000 per kind), `BENCH_SECONDS` (20), `BENCH_MATCHES` (20),
//! `BENCH_VERIFY` (100000), `BENCH_PG` (`postgres://postgres@127.0.0.1:5432`), `BENCH_REDIS`
//! (`redis://127.0.0.1:6379/`; `none` runs without Redis, hence without the cache).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;

use cloud_sync::accounts::token::{Claims, Keys};
use common::{gzip, match_records};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Params {
    rate: u32,
    duration: Duration,
    matches: u64,
    verifies: u32,
}

/// The two kinds of caller, interleaved.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Anonymous,
    SignedIn,
}

/// One request's outcome.
struct Outcome {
    kind: Kind,
    latency: Duration,
    status: String,
    /// The answer's body, kept for the first answer of each kind only.
    body: Option<String>,
    late: bool,
}

/// How long after its due time a request may start before it counts as late.
const LATE: Duration = Duration::from_millis(50);

/// Latencies of one kind.
struct Summary {
    p50: Duration,
    p99: Duration,
    max: Duration,
    total: usize,
    ok: usize,
    late: usize,
    /// Answers other than 200, by status (`timeout`, `network` for no answer).
    failed: std::collections::BTreeMap<String, usize>,
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

impl Summary {
    fn of(outcomes: &[Outcome], kind: Kind) -> Summary {
        let mine: Vec<&Outcome> = outcomes.iter().filter(|o| o.kind == kind).collect();
        let mut sorted: Vec<Duration> = mine.iter().map(|o| o.latency).collect();
        sorted.sort_unstable();
        Summary {
            p50: quantile(&sorted, 0.50),
            p99: quantile(&sorted, 0.99),
            max: sorted.last().copied().unwrap_or_default(),
            total: mine.len(),
            ok: mine.iter().filter(|o| o.status == "200").count(),
            late: mine.iter().filter(|o| o.late).count(),
            failed: mine.iter().filter(|o| o.status != "200").fold(
                std::collections::BTreeMap::new(),
                |mut by, o| {
                    *by.entry(o.status.clone()).or_default() += 1;
                    by
                },
            ),
        }
    }

    fn print(&self, label: &str, elapsed: Duration) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "  {label:<34} p50 {:>6.2} ms  p99 {:>7.2} ms  max {:>7.2} ms   {} requests, {} ok ({:.0}/s), started > 50 ms late: {}",
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.total,
            self.ok,
            self.ok as f64 / elapsed.as_secs_f64().max(1e-9),
            self.late
        );
        if !self.failed.is_empty() {
            println!("    not 200: {:?}", self.failed);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server: String = env_or("BENCH_PG", "postgres://postgres@127.0.0.1:5432".to_owned());
    let redis: String = env_or("BENCH_REDIS", "redis://127.0.0.1:6379/".to_owned());
    let params = Params {
        rate: env_or("BENCH_RATE", 1000u32).max(1),
        duration: Duration::from_secs(env_or("BENCH_SECONDS", 20u64).max(1)),
        matches: env_or("BENCH_MATCHES", 20u64).max(1),
        verifies: env_or("BENCH_VERIFY", 100_000u32).max(1),
    };
    let db = dojo_testkit::postgres::ScratchDb::create(&server, "dojo_bench_auth").await?;
    let redis = (redis != "none").then_some(redis);
    let result = bench(&db.url, redis, &params).await;
    drop(db);
    result
}

/// A player account as sign-up leaves it (verified, no role beyond `player`) and an access token.
async fn player_token(pool: &sqlx::PgPool) -> anyhow::Result<(Keys, String)> {
    let id = cloud_sync::infra::ids::new_id();
    sqlx::query(
        "INSERT INTO users (id, email, email_key, display_name, password_hash, email_verified_at)
         VALUES ($1, $2, lower($2), 'Bench Player', NULL, now())",
    )
    .bind(&id)
    .bind(format!("bench-{id}@example.test"))
    .execute(pool)
    .await?;
    let keys = Keys::load(pool.clone()).await?;
    let token = keys
        .issue(Claims {
            iss: String::new(),
            aud: String::new(),
            sub: id,
            exp: 0,
            iat: 0,
            sid: cloud_sync::infra::ids::new_id(),
            email_verified: true,
            roles: Vec::new(),
        })
        .await?;
    Ok((keys, token))
}

/// Syncs `n` finished matches into `venue` and waits until they are projected.
async fn seed(
    base: &str,
    pool: &sqlx::PgPool,
    venue: &str,
    key: &str,
    n: u64,
) -> anyhow::Result<()> {
    let records: Vec<_> = (0..n)
        .flat_map(|k| {
            match_records(
                4 * k + 1,
                &format!("bench-{k}"),
                &format!("t{}", k % 12),
                1_795_000_000_000 + k,
            )
        })
        .collect();
    let body = json!({"venue_id": venue, "epoch": "bench", "records": records});
    let answer = reqwest::Client::new()
        .post(format!("{base}/api/v1/sync/batches"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(body.to_string().as_bytes())?)
        .send()
        .await?;
    anyhow::ensure!(
        answer.status().is_success(),
        "seeding answered {}",
        answer.status()
    );
    anyhow::ensure!(
        cloud_sync::projection::wait_caught_up(pool, Duration::from_secs(30)).await?,
        "the projection did not catch up"
    );
    Ok(())
}

/// The open-loop run: both kinds interleaved; every outcome and the time it took.
async fn run(url: &str, token: &str, params: &Params) -> anyhow::Result<(Vec<Outcome>, Duration)> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build()?;
    let total = u64::from(params.rate) * 2 * params.duration.as_secs();
    let step = Duration::from_secs(1) / (params.rate * 2);
    let outcomes = Arc::new(Mutex::new(Vec::with_capacity(
        usize::try_from(total).unwrap_or(0),
    )));
    let start = tokio::time::Instant::now() + Duration::from_millis(200);
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for k in 0..total {
        let due = start + step * u32::try_from(k).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due).await;
        // Pairs in the order AB BA AB BA …: two requests due within one timer tick start in
        // spawn order, so neither kind is always the second.
        let kind = if (k % 2 == 0) == ((k / 2) % 2 == 0) {
            Kind::Anonymous
        } else {
            Kind::SignedIn
        };
        let mut request = http.get(url);
        if kind == Kind::SignedIn {
            request = request.bearer_auth(token);
        }
        let (outcomes, keep) = (outcomes.clone(), k < 2);
        tasks.push(tokio::spawn(async move {
            let late = tokio::time::Instant::now().duration_since(due) > LATE;
            let (status, body) = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16().to_string();
                    let body = response.text().await.unwrap_or_default();
                    (status, keep.then_some(body))
                }
                Err(error) if error.is_timeout() => ("timeout".to_owned(), None),
                Err(_) => ("network".to_owned(), None),
            };
            let latency = tokio::time::Instant::now().duration_since(due);
            lock(&outcomes).push(Outcome {
                kind,
                latency,
                status,
                body,
                late,
            });
        }));
    }
    for task in tasks {
        task.await?;
    }
    let elapsed = tokio::time::Instant::now().duration_since(start);
    let outcomes = std::mem::take(&mut *lock(&outcomes));
    Ok((outcomes, elapsed))
}

/// The cost of one `Keys::verify` of a valid token, averaged over `n` calls.
async fn verify_cost(keys: &Keys, token: &str, n: u32) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for _ in 0..n {
        keys.verify(token)
            .await
            .map_err(|error| anyhow::anyhow!("verify: {error}"))?;
    }
    Ok(started.elapsed() / n)
}

async fn bench(url: &str, redis: Option<String>, params: &Params) -> anyhow::Result<()> {
    let mut config = cloud_sync::Config::new(url, redis.clone());
    config.redis_prefix = format!("bench-auth-{:08x}", rand::random::<u32>());
    // Every request comes from 127.0.0.1: the per-address limit would refuse most of them.
    config.limits.addr_per_window = 0;
    let running = cloud_sync::start(config)
        .await
        .context("start cloud-sync")?;
    let base = format!("http://{}", running.addr());
    let admin = cloud_sync::infra::db::connect_with(url, 4).await?;
    let (venue, key) = cloud_sync::venues::create_venue(&admin, "Bench Hall").await?;
    seed(&base, &admin, &venue, &key, params.matches).await?;
    let (keys, token) = player_token(&admin).await?;
    let read = format!("{base}/api/v1/venues/{venue}/matches");

    // The token is taken: a tampered one is refused (the read does authenticate).
    let tampered = format!("{token}x");
    let refused = reqwest::Client::new()
        .get(&read)
        .bearer_auth(&tampered)
        .send()
        .await?
        .status();
    anyhow::ensure!(
        refused == reqwest::StatusCode::UNAUTHORIZED,
        "a tampered token got {refused}: the read does not check tokens"
    );

    println!(
        "cloud-sync auth reads bench: GET /api/v1/venues/{{id}}/matches (first page, {} matches), {} requests/s of each kind interleaved ({}/s in all) for {} s, open loop; Redis {}",
        params.matches,
        params.rate,
        params.rate * 2,
        params.duration.as_secs(),
        if redis.is_some() {
            "on (the page from its cache for both kinds)"
        } else {
            "off (every read from PostgreSQL)"
        }
    );
    // Warm-up: connections, the cache entry, the key set.
    let _ = run(
        &read,
        &token,
        &Params {
            duration: Duration::from_secs(1),
            ..*params
        },
    )
    .await?;
    let (outcomes, elapsed) = run(&read, &token, params).await?;
    let bodies: Vec<(Kind, &String)> = outcomes
        .iter()
        .filter_map(|o| o.body.as_ref().map(|b| (o.kind, b)))
        .collect();
    anyhow::ensure!(
        bodies.len() == 2 && bodies[0].1 == bodies[1].1,
        "anonymous and signed-in callers did not read the same page"
    );
    let anonymous = Summary::of(&outcomes, Kind::Anonymous);
    let signed_in = Summary::of(&outcomes, Kind::SignedIn);
    anonymous.print("anonymous", elapsed);
    signed_in.print("signed in (Bearer access token)", elapsed);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!(
        "  signed in ÷ anonymous: p50 {:.3}  p99 {:.3}   (p99 difference {:+.3} ms; target ≤ 1.10 at p99)",
        ratio(signed_in.p50, anonymous.p50),
        ratio(signed_in.p99, anonymous.p99),
        (signed_in.p99.as_secs_f64() - anonymous.p99.as_secs_f64()) * 1e3
    );
    let verify = verify_cost(&keys, &token, params.verifies).await?;
    println!(
        "  Keys::verify of a valid token alone: {:.1} µs (mean of {}), {:.1} % of the anonymous p50",
        verify.as_secs_f64() * 1e6,
        params.verifies,
        100.0 * verify.as_secs_f64() / anonymous.p50.as_secs_f64().max(1e-9)
    );
    let failed = anonymous.total - anonymous.ok + signed_in.total - signed_in.ok;
    anyhow::ensure!(failed == 0, "{failed} requests were not answered 200");
    admin.close().await;
    running.shutdown().await;
    Ok(())
}
