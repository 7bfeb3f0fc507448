//! Sign-ins per second through the API (docs/benchmarks.md, "cloud-sync: sign-in"), against the
//! Argon2id verification alone measured in the same run: the floor sign-in cannot beat, since
//! every sign-in verifies one password hash. Bounded and loopback only.
//!
//! `cargo bench -p cloud-sync --bench signin`. What it does:
//!
//! 1. Creates a scratch database, starts cloud-sync in-process on a loopback port (Redis under a
//!    prefix of its own; the per-address limits off, since every client is 127.0.0.1), and makes
//!    `BENCH_USERS` verified accounts sharing one password hash (made once: hashing is not what is
//!    measured here).
//! 2. **Floor**: `BENCH_HASHES` Argon2id verifications of that hash on one thread, then the same
//!    number spread over every core (`available_parallelism`) on blocking threads. The floor is
//!    cores ÷ the one-thread hash time: the most sign-ins per second the hashing alone allows.
//! 3. **API**: `BENCH_CLIENTS` clients, each with its own connection, sign in (`POST
//!    /api/v1/auth/login`, round-robin over the accounts) back to back for `BENCH_SECONDS`; each
//!    answer must be 200. Sign-ins per second, p50 and p99 latency, and the ratio to the floor.
//!
//! Knobs (environment): `BENCH_USERS` (50), `BENCH_CLIENTS` (8), `BENCH_SECONDS` (10),
//! `BENCH_HASHES` (40), `BENCH_PG` (`postgres://postgres@127.0.0.1:5432`), `BENCH_REDIS`
//! (`redis://127.0.0.1:6379/`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const PASSWORD: &str = "bench password of some length";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn main() -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let users: usize = env_or("BENCH_USERS", 50);
    let clients: usize = env_or("BENCH_CLIENTS", 8);
    let seconds: u64 = env_or("BENCH_SECONDS", 10);
    let hashes: usize = env_or("BENCH_HASHES", 40);
    let server: String = env_or("BENCH_PG", "postgres://postgres@127.0.0.1:5432".to_owned());
    let redis: String = env_or("BENCH_REDIS", "redis://127.0.0.1:6379/".to_owned());

    let db = dojo_testkit::postgres::ScratchDb::create(&server, "dojo_bench_signin").await?;
    let mut config = cloud_sync::Config::new(db.url.clone(), Some(redis));
    config.redis_prefix = format!("bench-signin-{:08x}", rand::random::<u32>());
    config.limits.addr_per_window = 0;
    config.limits.auth_per_window = 0;
    let running = cloud_sync::start(config)
        .await
        .context("cloud-sync starts")?;
    let base = format!("http://{}", running.addr());
    let pool = cloud_sync::infra::db::connect_with(&db.url, 2).await?;

    let phc = tokio::task::spawn_blocking(|| cloud_sync::accounts::password::hash(PASSWORD))
        .await?
        .map_err(|e| anyhow::anyhow!("hash: {e}"))?;
    for i in 0..users {
        sqlx::query(
            "INSERT INTO users (id, email, email_key, display_name, password_hash,
                                email_verified_at)
             VALUES ($1, $2, lower($2), 'Bench', $3, now())",
        )
        .bind(cloud_sync::infra::ids::new_id())
        .bind(format!("bench{i}@example.test"))
        .bind(&phc)
        .execute(&pool)
        .await?;
    }

    // Floor: Argon2id verification on one thread, then on every core.
    let one = {
        let phc = phc.clone();
        tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            for _ in 0..hashes {
                assert!(cloud_sync::accounts::password::verify(PASSWORD, &phc));
            }
            start.elapsed() / u32::try_from(hashes.max(1)).unwrap_or(1)
        })
        .await?
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..cores {
        let phc = phc.clone();
        let each = hashes.div_ceil(cores);
        tasks.push(tokio::task::spawn_blocking(move || {
            for _ in 0..each {
                let _ = cloud_sync::accounts::password::verify(PASSWORD, &phc);
            }
            each
        }));
    }
    let mut done = 0;
    for task in tasks {
        done += task.await?;
    }
    let parallel_per_s = done as f64 / start.elapsed().as_secs_f64();
    // The floor: every core verifying back to back at the one-thread speed.
    let floor_per_s = cores as f64 / one.as_secs_f64().max(1e-9);

    // API: clients signing in back to back.
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let api_start = Instant::now();
    for _ in 0..clients {
        let base = base.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed) % users.max(1);
                let sent = Instant::now();
                let ok = http
                    .post(format!("{base}/api/v1/auth/login"))
                    .json(&json!({"email": format!("bench{i}@example.test"), "password": PASSWORD}))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == reqwest::StatusCode::OK);
                if ok {
                    latencies.push(sent.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = api_start.elapsed().as_secs_f64();
    latencies.sort();
    let per_s = latencies.len() as f64 / elapsed;
    println!(
        "cloud-sync sign-in bench: {users} accounts, {clients} clients, {seconds} s, {cores} cores"
    );
    println!(
        "  Argon2id verify (m=19 MiB, t=2, p=1): {:.1} ms on one thread; floor {floor_per_s:.1}/s \
         ({cores} cores at that speed; measured on {cores} threads: {parallel_per_s:.1}/s)",
        one.as_secs_f64() * 1000.0
    );
    println!(
        "  API: {} sign-ins in {elapsed:.1} s = {per_s:.1}/s (errors {errors}); p50 {:.1} ms, p99 {:.1} ms",
        latencies.len(),
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0
    );
    println!(
        "  ratio API / floor: {:.2}",
        if floor_per_s > 0.0 {
            per_s / floor_per_s
        } else {
            0.0
        }
    );
    running.shutdown().await;
    drop(pool);
    drop(db);
    Ok(())
}
