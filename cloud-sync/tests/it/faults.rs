//! The service or its database failing during ingest.
//!
//! cloud-sync killed (SIGKILL) at moments spread over a batch's transaction: afterwards the batch is
//! stored whole or not at all, and the venue's retry stores it exactly once.
//!
//! PostgreSQL restarted during ingest: the test runs a postmaster of its own (initdb + pg_ctl in a
//! temporary directory, on a free port, as the `postgres` user when the tests run as root, since
//! initdb refuses root), never the machine's. Two simulated venues push batches the way edge-agent
//! does (always from their last acknowledged seq + 1, retrying 503s after `Retry-After`) while the
//! server is stopped and started again: every answer must be 200 or 503, and afterwards every record
//! is stored exactly once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PG, post_raw, random_hex, rec, test_db};

/// A PostgreSQL server of the test's own.
struct OwnPostgres {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
}

fn pg_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program args…`, as `postgres` when we are root.
fn run_as_owner(program: &Path, args: &[&str]) -> bool {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    command
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl OwnPostgres {
    fn start() -> Option<OwnPostgres> {
        let bin = pg_bin()?;
        let dir = std::env::temp_dir().join(format!("dojo-pg-{}", random_hex()));
        std::fs::create_dir_all(&dir).ok()?;
        if is_root() {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return None;
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .ok()?;
        let data = dir.join("data");
        let data = data.to_str()?;
        if !run_as_owner(
            &bin.join("initdb"),
            &["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
        ) {
            return None;
        }
        let server = OwnPostgres { dir, port, bin };
        server.pg_ctl_start().then_some(server)
    }

    fn data(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }

    fn pg_ctl_start(&self) -> bool {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").to_string_lossy().into_owned();
        run_as_owner(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        )
    }

    fn pg_ctl_stop(&self, mode: &str) -> bool {
        run_as_owner(
            &self.bin.join("pg_ctl"),
            &["-D", &self.data(), "-m", mode, "-w", "stop"],
        )
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.pg_ctl_stop("immediate");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What one simulated venue saw.
#[derive(Debug, Default)]
struct Seen {
    ok: u64,
    unavailable: u64,
    unreachable: u64,
    other: Vec<(StatusCode, serde_json::Value)>,
}

/// Pushes `records` like edge-agent: from the acknowledged seq + 1, 8 at a time, until all are
/// acknowledged.
async fn edge(
    base: String,
    key: String,
    venue: String,
    epoch: String,
    records: Vec<serde_json::Value>,
    progress: Arc<AtomicU64>,
) -> Seen {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let mut seen = Seen::default();
    let mut acked = 0usize;
    let deadline = Instant::now() + Duration::from_secs(90);
    while acked < records.len() && Instant::now() < deadline {
        let end = (acked + 8).min(records.len());
        let batch = json!({"venue_id": venue, "epoch": epoch, "records": &records[acked..end]});
        let sent = tokio::time::timeout(
            Duration::from_secs(25),
            post_raw(
                &http,
                &base,
                Some(&key),
                batch.to_string().into_bytes(),
                true,
            ),
        )
        .await;
        let Ok(answer) = sent else {
            seen.unreachable += 1;
            continue;
        };
        match answer.status {
            StatusCode::OK => {
                seen.ok += 1;
                acked =
                    usize::try_from(answer.body["acked_seq"].as_u64().unwrap_or(0)).unwrap_or(0);
                progress.fetch_add(1, Ordering::Relaxed);
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                seen.unavailable += 1;
                assert!(
                    answer.headers.contains_key("retry-after"),
                    "503 without Retry-After"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            status => {
                seen.other.push((status, answer.body));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    seen
}

#[tokio::test]
async fn postgres_restarted_during_ingest_loses_nothing_and_stores_nothing_twice() {
    let Some(postgres) = tokio::task::spawn_blocking(OwnPostgres::start)
        .await
        .expect("join")
    else {
        eprintln!("SKIPPED: cannot run a private PostgreSQL here (initdb/pg_ctl/runuser missing)");
        return;
    };
    let db = test_db(&postgres.url()).await;
    let mut config = cloud_sync::Config::new(db.url.clone(), None);
    config.db_pool_size = 4;
    let running = cloud_sync::start(config).await.expect("starts");
    let base = format!("http://{}", running.addr());
    let pool = cloud_sync::infra::db::connect_with(&db.url, 1)
        .await
        .expect("pool");
    let (venue, key) = cloud_sync::venues::create_venue(&pool, "Fault Hall")
        .await
        .expect("venue");
    pool.close().await;

    const MATCHES: u64 = 40;
    let progress = Arc::new(AtomicU64::new(0));
    let mut edges = Vec::new();
    for epoch in ["epochA", "epochB"] {
        let records: Vec<_> = (0..MATCHES)
            .flat_map(|m| rec::whole_match(1 + 4 * m, &format!("{epoch}-{m}")))
            .collect();
        edges.push(tokio::spawn(edge(
            base.clone(),
            key.clone(),
            venue.clone(),
            epoch.into(),
            records,
            progress.clone(),
        )));
    }
    // Let some batches through, then restart the server under the venues' feet.
    while progress.load(Ordering::Relaxed) < 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let restarted = tokio::task::spawn_blocking(move || {
        let stopped = postgres.pg_ctl_stop("fast");
        std::thread::sleep(Duration::from_millis(800));
        let started = postgres.pg_ctl_start();
        (stopped && started, postgres)
    })
    .await
    .expect("join");
    let (ok, postgres) = restarted;
    assert!(ok, "pg_ctl restart failed");

    let mut total = Seen::default();
    for task in edges {
        let seen = task.await.expect("edge task");
        total.ok += seen.ok;
        total.unavailable += seen.unavailable;
        total.unreachable += seen.unreachable;
        total.other.extend(seen.other);
    }
    eprintln!(
        "postgres restart: {} batches acknowledged, {} answered 503, {} unanswered",
        total.ok, total.unavailable, total.unreachable
    );
    assert!(
        total.other.is_empty(),
        "answers other than 200/503: {:?}",
        total.other
    );

    let pool = cloud_sync::infra::db::connect_with(&db.url, 1)
        .await
        .expect("pool");
    let per_epoch: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT epoch, count(*), count(DISTINCT seq), max(seq) FROM sync_records
         GROUP BY epoch ORDER BY epoch",
    )
    .fetch_all(&pool)
    .await
    .expect("count");
    let n = i64::try_from(4 * MATCHES).unwrap_or(0);
    assert_eq!(
        per_epoch,
        [
            ("epochA".to_owned(), n, n, n),
            ("epochB".to_owned(), n, n, n)
        ]
    );
    // The projection catches up after the restart (a failed pass is retried).
    assert!(
        cloud_sync::projection::wait_caught_up(&pool, Duration::from_secs(10))
            .await
            .expect("lag")
    );
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM matches WHERE finished),
                (SELECT count(*) FROM racks),
                (SELECT high_water FROM sync_cursors WHERE epoch = 'epochA')",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    let m = i64::try_from(MATCHES).unwrap_or(0);
    assert_eq!(counts, (2 * m, 4 * m, n));
    pool.close().await;
    running.shutdown().await;
    drop(db);
    drop(postgres);
}

/// cloud-sync as a process of its own on `port`, ready to serve.
fn spawn_server(url: &str, port: u16) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_cloud-sync"))
        .args(["serve", "--database-url", url, "--http-addr"])
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("REDIS_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("cloud-sync starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "cloud-sync did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[tokio::test]
async fn cloud_sync_killed_mid_batch_stores_all_or_nothing_and_the_retry_completes() {
    let db = test_db(PG).await;
    let pool = cloud_sync::infra::db::connect_with(&db.url, 1)
        .await
        .expect("pool");
    cloud_sync::infra::db::migrate(&pool)
        .await
        .expect("migrate");
    let (venue, key) = cloud_sync::venues::create_venue(&pool, "Crash Hall")
        .await
        .expect("venue");
    // No pooled connections: one to a killed server would fail the retry for the wrong reason.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    for (round, delay_ms) in [5u64, 100, 250, 300, 350, 400, 2500]
        .into_iter()
        .enumerate()
    {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let mut server = spawn_server(&db.url, port);
        let base = format!("http://127.0.0.1:{port}");
        let epoch = format!("crash{round}");
        let records: Vec<_> = (0..250u64)
            .flat_map(|m| rec::whole_match(1 + 4 * m, &format!("c{round}-{m}")))
            .collect();
        let body = json!({"venue_id": venue, "epoch": epoch, "records": records}).to_string();
        let request = {
            let (http, base, key, body) = (http.clone(), base.clone(), key.clone(), body.clone());
            tokio::spawn(async move {
                http.post(format!("{base}/api/v1/sync/batches"))
                    .bearer_auth(key)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status())
            })
        };
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let _ = server.kill();
        let _ = server.wait();
        let first = request.await.expect("join");
        let (stored, matches): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM sync_records WHERE epoch = $1),
                    (SELECT count(*) FROM matches WHERE venue_match_id LIKE $2)",
        )
        .bind(&epoch)
        .bind(format!("c{round}-%"))
        .fetch_one(&pool)
        .await
        .expect("count");
        // The batch is stored whole or not at all; its projection (one transaction for these
        // 1000 records) is done whole, or not yet when the kill came between the two.
        assert!(
            matches!((stored, matches), (0, 0) | (1000, 0) | (1000, 250)),
            "partial batch after a kill at {delay_ms} ms: {stored} records, {matches} matches \
             (first answer {first:?})"
        );
        eprintln!("killed after {delay_ms} ms: {stored} records stored, first answer {first:?}");
        // The venue retries against the restarted service: all of it, exactly once.
        let mut server = spawn_server(&db.url, port);
        let answer =
            crate::helpers::post_raw(&http, &base, Some(&key), body.into_bytes(), false).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        assert_eq!(answer.body["acked_seq"], 1000);
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_records WHERE epoch = $1")
            .bind(&epoch)
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!(stored, 1000);
        assert!(
            cloud_sync::projection::wait_caught_up(&pool, Duration::from_secs(10))
                .await
                .expect("lag")
        );
        let projected: (i64, i64) = sqlx::query_as(
            "SELECT count(*), (SELECT count(*) FROM racks r JOIN matches m2 ON m2.id = r.match_id
                               WHERE m2.venue_match_id LIKE $1)
             FROM matches WHERE venue_match_id LIKE $1 AND finished",
        )
        .bind(format!("c{round}-%"))
        .fetch_one(&pool)
        .await
        .expect("count");
        assert_eq!(
            projected,
            (250, 500),
            "every match once, with its two racks"
        );
        let _ = server.kill();
        let _ = server.wait();
    }
    pool.close().await;
}
