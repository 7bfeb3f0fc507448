//! Ingest throughput through the HTTP API versus a plain `COPY` of the same rows into the same
//! PostgreSQL, in the same run (docs/benchmarks.md). Bounded and loopback only.
//!
//! Two figures per run against the same floor: records acknowledged per second (the venue's view:
//! every request answered), and records projected per second (from the first request until the
//! background projector has built every match, rack and statistic from them: the readers' view).
//!
//! `cargo bench -p cloud-sync --bench ingest` — environment: `BENCH_PG` (server URL without a
//! database, default `postgres://postgres@127.0.0.1:5432`), `BENCH_RECORDS` (default 100000),
//! `BENCH_VENUES` (concurrent venues for the second run, default 4). It creates and drops a database
//! of its own. Redis is left out: it is not on the write path's critical section.

mod common;

use std::io::Write as _;
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

/// One venue's outbox: whole matches (start, two racks, finish), `n` records from seq 1.
fn records(n: u64, tag: &str) -> Vec<Value> {
    (0..n.div_ceil(4))
        .flat_map(|k| {
            let (mid, table) = (format!("{tag}-{k}"), format!("t{}", k % 12));
            match_records(4 * k + 1, &mid, &table, 1_795_000_000_000 + 4 * k)
        })
        .take(usize::try_from(n).unwrap_or(usize::MAX))
        .collect()
}

/// Pushes pre-built gzip bodies one after another, like a venue catching up.
async fn push(
    http: reqwest::Client,
    url: String,
    key: String,
    bodies: Vec<Vec<u8>>,
) -> anyhow::Result<()> {
    for body in bodies {
        let response = http
            .post(&url)
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "batch answered {}",
            response.status()
        );
    }
    Ok(())
}

/// CSV rows for `COPY sync_records …`: the same rows the API stores.
fn csv(venue: &str, epoch: &str, records: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        let payload = r["payload"].to_string();
        let kind = r["kind"].as_str().unwrap_or_default();
        let mid = r["match_id"].as_str().unwrap_or_default();
        let mut hasher = Sha256::new();
        for part in [kind, mid, payload.as_str()] {
            hasher.update(part.as_bytes());
            hasher.update([0u8]);
        }
        let hash: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let _ = writeln!(
            out,
            "{venue},{epoch},{},{kind},{mid},\\x{hash},\"{}\"",
            r["seq"],
            payload.replace('"', "\"\"")
        );
    }
    out
}

struct Run {
    label: String,
    records: u64,
    elapsed: Duration,
}

impl Run {
    fn rate(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64()
    }
}

async fn api_run(
    base: &str,
    pool: &sqlx::PgPool,
    venues: usize,
    per_venue: u64,
    label: &str,
) -> anyhow::Result<([Run; 2], Vec<(String, Vec<Value>)>)> {
    let http = reqwest::Client::new();
    let url = format!("{base}/api/v1/sync/batches");
    let mut streams = Vec::new();
    let mut all = Vec::new();
    for v in 0..venues {
        let (venue, key) =
            cloud_sync::venues::create_venue(pool, &format!("Bench {label} {v}")).await?;
        let epoch = format!("e{v}");
        let recs = records(per_venue, &format!("{label}{v}"));
        let bodies = recs
            .chunks(1000)
            .map(|chunk| {
                gzip(
                    json!({"venue_id": venue, "epoch": epoch, "records": chunk})
                        .to_string()
                        .as_bytes(),
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        streams.push((key, bodies));
        all.push((venue, recs));
    }
    // cloud-sync's own CPU per record, without PostgreSQL: gunzip, JSON, typing, hashing.
    let cpu = Instant::now();
    for ((_, bodies), (venue, _)) in streams.iter().zip(&all) {
        for body in bodies {
            let decoded = cloud_sync::sync::ingest::decode(body, true)?;
            cloud_sync::sync::ingest::prepare(&decoded, venue)?;
        }
    }
    let cpu = cpu.elapsed();
    println!(
        "  decode + prepare only, no PostgreSQL ({label}):{:>40.0} records/s",
        (per_venue * venues as u64) as f64 / cpu.as_secs_f64()
    );
    let started = Instant::now();
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|(key, bodies)| tokio::spawn(push(http.clone(), url.clone(), key, bodies)))
        .collect();
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    let caught_up = cloud_sync::projection::wait_caught_up(pool, Duration::from_secs(600)).await?;
    anyhow::ensure!(
        caught_up,
        "the projection did not catch up within 10 minutes"
    );
    let projected = started.elapsed();
    let records = per_venue * venues as u64;
    Ok((
        [
            Run {
                label: format!(
                    "API acks, {venues} venue(s) × {per_venue} records, batches of 1000, gzip"
                ),
                records,
                elapsed,
            },
            Run {
                label: "  projection caught up (from the first request)".to_owned(),
                records,
                elapsed: projected,
            },
        ],
        all,
    ))
}

async fn copy_run(
    pool: &sqlx::PgPool,
    label: &str,
    data: &[(String, Vec<Value>)],
) -> anyhow::Result<Run> {
    let table = format!("copy_{label}");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {table} (LIKE sync_records INCLUDING ALL)"
    )))
    .execute(pool)
    .await?;
    let bodies: Vec<Vec<u8>> = data
        .iter()
        .enumerate()
        .map(|(i, (venue, recs))| csv(venue, &format!("e{i}"), recs))
        .collect();
    let records: u64 = data.iter().map(|(_, r)| r.len() as u64).sum();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for body in bodies {
        let pool = pool.clone();
        let statement = format!(
            "COPY {table} (venue_id, epoch, seq, kind, match_id, content_hash, payload) FROM STDIN (FORMAT csv)"
        );
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.acquire().await?;
            let mut copy = conn.copy_in_raw(&statement).await?;
            for chunk in body.chunks(1 << 20) {
                copy.send(chunk).await?;
            }
            copy.finish().await?;
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(Run {
        label: format!(
            "COPY of the same sync_records rows ({} stream(s))",
            data.len()
        ),
        records,
        elapsed: started.elapsed(),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server: String = env_or("BENCH_PG", "postgres://postgres@127.0.0.1:5432".to_owned());
    let total: u64 = env_or("BENCH_RECORDS", 100_000u64) / 4 * 4;
    let venues: usize = env_or("BENCH_VENUES", 4usize).max(1);
    let name = format!("dojo_bench_{:08x}", rand::random::<u32>());
    let admin = cloud_sync::infra::db::connect_with(&format!("{server}/postgres"), 1).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await?;
    if let Ok(ms) = std::env::var("BENCH_LOG_MS") {
        // Diagnostics: PostgreSQL logs this database's statements slower than `ms`.
        let ms: u32 = ms.parse().context("BENCH_LOG_MS")?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {name} SET log_min_duration_statement = {ms}"
        )))
        .execute(&admin)
        .await?;
    }
    let url = format!("{server}/{name}");
    let result = bench(&url, total, venues).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await?;
    result
}

async fn bench(url: &str, total: u64, venues: usize) -> anyhow::Result<()> {
    let mut config = cloud_sync::Config::new(url, None);
    config.limits.venue_per_window = 0;
    config.limits.addr_per_window = 0;
    let running = cloud_sync::start(config)
        .await
        .context("start cloud-sync")?;
    let base = format!("http://{}", running.addr());
    let pool = cloud_sync::infra::db::connect_with(url, 8).await?;

    println!("cloud-sync ingest bench: {total} records per run, loopback, same PostgreSQL");
    let per_venue = (total / venues as u64) / 4 * 4;
    let mut rows = Vec::new();
    for (label, n, per) in [("one", 1usize, total), ("many", venues, per_venue)] {
        let ([api, projected], data) = api_run(&base, &pool, n, per, label).await?;
        sqlx::query("CHECKPOINT").execute(&pool).await?;
        let copy = copy_run(&pool, label, &data).await?;
        sqlx::query("CHECKPOINT").execute(&pool).await?;
        let ratio = api.rate() / copy.rate();
        for run in [&api, &projected, &copy] {
            println!(
                "  {:<72} {:>9.0} records/s ({:.2} s)",
                run.label,
                run.rate(),
                run.elapsed.as_secs_f64()
            );
        }
        println!(
            "  ratio API acks / COPY: {ratio:.2}; projected / COPY: {:.2}",
            projected.rate() / copy.rate()
        );
        rows.push(ratio);
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_records")
        .fetch_one(&pool)
        .await?;
    let racks: i64 = sqlx::query_scalar("SELECT count(*) FROM racks")
        .fetch_one(&pool)
        .await?;
    let matches: i64 = sqlx::query_scalar("SELECT count(*) FROM matches WHERE finished")
        .fetch_one(&pool)
        .await?;
    println!(
        "  stored through the API: {stored} records; projected: {matches} matches, {racks} racks"
    );
    pool.close().await;
    running.shutdown().await;
    Ok(())
}
