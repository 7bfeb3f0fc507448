//! Catch-up: how long an edge-agent whose outbox holds `BENCH_RECORDS` (default 1,000,000) records
//! takes to drain it into cloud-sync, against a plain `COPY` of the same rows into the same
//! PostgreSQL in the same run (docs/benchmarks.md, "cloud-sync: catch-up"). Bounded, loopback only.
//!
//! 1. **The outbox, built honestly.** Whole 9-ball matches (race to 2, winner breaks; each rack
//!    two shots: a ball and then the 9, each a `pocket` and an `end_turn` from the table's
//!    controller) are played through edge-agent's own table runtime (`edge_agent::table::Table`:
//!    the rules engine and the record encoders the engine uses), and every input is committed
//!    through edge-agent's own store writer (`store::open`, `store::spawn_writer`: schema, event
//!    log, views, device marks, outbox, matches and racks, group commits with `synchronous=FULL`).
//!    So the outbox rows are exactly what the agent writes: `match_started`, `rack_finished` with
//!    stats and shot logs, `match_finished` with every input. Twelve tables play in turn.
//! 2. **cloud-sync** runs in this process (`cloud_sync::start`, own scratch database, no Redis, rate
//!    limits off: one venue sends one request at a time and is never near them).
//! 3. **The agent** is this bench binary started again as a child process (`DOJO_CATCH_UP_EDGE=1`),
//!    which runs edge-agent's own command line (`edge_agent::config::Flags`) with `--data-dir
//!    --http-addr --mqtt-addr --cloud-url --venue-id --venue-key`: a real process of its own, so its
//!    peak RSS (`VmHWM`) and CPU time are its own and not cloud-sync's. The clock starts when it is
//!    spawned and stops when the cloud's high-water mark for the venue's epoch is the last outbox
//!    seq and the agent's outbox is empty (polled every 50 ms: PostgreSQL `sync_cursors`, and the
//!    SQLite file read-only).
//! 4. **Floor**: `COPY … FROM STDIN (FORMAT csv)` of the same rows (venue, epoch, seq, kind,
//!    match id, content hash, payload as sent) into a table made `LIKE sync_records INCLUDING ALL`,
//!    one stream, like the ingest bench.
//!
//! Knobs (environment): `BENCH_RECORDS` (default 1000000; rounded down to whole matches of 4
//! records), `BENCH_PG` (server URL without a database, default
//! `postgres://postgres@127.0.0.1:5432`), `BENCH_TIMEOUT_S` (give up after this long, default 1200).

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use dojo_testkit::proc::{clock_ticks_per_s, cpu_ticks, status_kb};
use edge_agent::store::{self, Commit, DeviceMark, Write};
use edge_agent::table::{Table, TableInput};
use edge_agent::view::Published;
use sha2::{Digest as _, Sha256};
use shared::protocol::{Button, DeviceEvent};
use shared::rules::MatchSpec;

/// Set in the child's environment: run as the edge-agent.
const EDGE_ROLE: &str = "DOJO_CATCH_UP_EDGE";
/// Records per match: started, two racks, finished.
const PER_MATCH: u64 = 4;
/// Tables playing in turn.
const TABLES: u64 = 12;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("catch_up: no runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = if std::env::var_os(EDGE_ROLE).is_some() {
        runtime.block_on(edge_child())
    } else {
        runtime.block_on(bench())
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("catch_up: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The child: edge-agent's own command line and start-up, until SIGTERM.
async fn edge_child() -> anyhow::Result<()> {
    dojo_testkit::agent::process::run_command_line(std::env::args()).await
}

fn nine_ball() -> anyhow::Result<MatchSpec> {
    Ok(serde_json::from_value(serde_json::json!({
        "game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 2, "break": "winner"
    }))?)
}

/// One table's inputs for a whole match: start, then per rack a ball and the 9, each pocketed
/// and closed with `end_turn` by the table's controller.
fn match_inputs(match_id: &str, spec: &MatchSpec, device: &str, dseq: &mut u64) -> Vec<TableInput> {
    let mut inputs = vec![TableInput::StartMatch {
        match_id: match_id.to_owned(),
        spec: spec.clone(),
        player_ids: Default::default(),
        demo: false,
        by: None,
    }];
    let mut device_event = |event| {
        *dseq += 1;
        TableInput::Device {
            device: device.to_owned(),
            seq: *dseq,
            event,
        }
    };
    for _rack in 0..2 {
        for ball in [3, 9] {
            inputs.push(device_event(DeviceEvent::Pocket { ball, pocket: 2 }));
            inputs.push(device_event(DeviceEvent::Button {
                button: Button::EndTurn,
            }));
        }
    }
    inputs
}

/// Plays whole matches through edge-agent's table runtime and commits every input through its
/// store writer, until the outbox holds `records`. Returns the epoch.
async fn build_outbox(dir: &Path, records: u64) -> anyhow::Result<String> {
    let open_dir = dir.to_owned();
    let (conn, recovered) = tokio::task::spawn_blocking(move || store::open(&open_dir)).await??;
    let epoch = recovered.epoch.clone();
    let (tx, _reader, writer) = store::spawn_writer(conn, dir, |_| {}, |_, _| {});
    let spec = nine_ball()?;
    let mut tables: Vec<Table> = (0..TABLES).map(|t| Table::new(&format!("t{t}"))).collect();
    let mut device_seqs = vec![0u64; tables.len()];
    let base_ms = edge_agent::clock::now_ms().saturating_sub(365 * 24 * 3600 * 1000);
    let (mut seq, mut written) = (0u64, 0u64);
    let mut number = 0u64;
    while written < records {
        let t = usize::try_from(number % TABLES)?;
        let table = &mut tables[t];
        let device = format!("ctl-{}", table.id());
        let match_id = format!("{}-{number}", &epoch[..8]);
        for input in match_inputs(&match_id, &spec, &device, &mut device_seqs[t]) {
            seq += 1;
            let received_ms = base_ms + seq * 1000;
            let applied = table
                .apply(&input, seq, received_ms)
                .map_err(|e| anyhow::anyhow!("the table refused {input:?}: {e}"))?;
            let device = match &input {
                TableInput::Device { device, seq, .. } => Some((device.clone(), *seq)),
                _ => None,
            };
            let device_mark = device.as_ref().map(|(device, dseq)| DeviceMark {
                device: device.clone(),
                table: table.id().to_owned(),
                last_seq: *dseq,
                missing: Vec::new(),
                last_seen_ms: received_ms,
                boot: None,
                old_boots: Vec::new(),
            });
            written += applied.outbox.len() as u64;
            let commit = Commit {
                seq,
                table: table.id().to_owned(),
                received_ms,
                device,
                input: serde_json::to_string(&input)?,
                view: Published::new(table.view(), None),
                match_start: applied.match_start,
                device_mark,
                outbox: applied.outbox,
                reply: None,
                tournament: Vec::new(),
            };
            tx.send(Write::Event(Box::new(commit))).await?;
        }
        number += 1;
    }
    drop(tx);
    tokio::task::spawn_blocking(move || writer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the store writer panicked"))?;
    Ok(epoch)
}

/// The outbox as CSV rows for `COPY sync_records …` (the rows cloud-sync stores: the content hash
/// is SHA-256 over kind, match id and payload as sent, each followed by a zero byte), written to
/// `csv`. Returns (rows, last seq, payload bytes).
fn outbox_csv(db: &Path, venue: &str, epoch: &str, csv: &Path) -> anyhow::Result<(u64, u64, u64)> {
    let conn = read_only(db)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(csv)?);
    let mut statement =
        conn.prepare("SELECT seq, kind, match_id, payload FROM outbox ORDER BY seq")?;
    let mut rows = statement.query([])?;
    let (mut count, mut last, mut bytes) = (0u64, 0u64, 0u64);
    let mut line = String::new();
    while let Some(row) = rows.next()? {
        let (seq, kind, mid, payload): (i64, String, String, String) =
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        let mut hasher = Sha256::new();
        for part in [&kind, &mid, &payload] {
            hasher.update(part.as_bytes());
            hasher.update([0u8]);
        }
        line.clear();
        write!(line, "{venue},{epoch},{seq},{kind},{mid},\\x")?;
        for byte in hasher.finalize() {
            write!(line, "{byte:02x}")?;
        }
        writeln!(line, ",\"{}\"", payload.replace('"', "\"\""))?;
        out.write_all(line.as_bytes())?;
        count += 1;
        bytes += payload.len() as u64;
        last = u64::try_from(seq)?;
    }
    out.flush()?;
    Ok((count, last, bytes))
}

fn read_only(db: &Path) -> anyhow::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// The agent child; killed (SIGTERM, then SIGKILL) when dropped.
struct Edge {
    child: Child,
}

impl Edge {
    fn spawn(dir: &Path, cloud: &str, venue: &str, key: &str) -> anyhow::Result<Edge> {
        let child = Command::new(std::env::current_exe()?)
            .env(EDGE_ROLE, "1")
            .env("RUST_LOG", "warn")
            .arg("--data-dir")
            .arg(dir)
            .arg("--http-addr")
            .arg(format!("127.0.0.1:{}", dojo_testkit::free_port()))
            .arg("--mqtt-addr")
            .arg(format!("127.0.0.1:{}", dojo_testkit::free_port()))
            .arg("--cloud-url")
            .arg(cloud)
            .arg("--venue-id")
            .arg(venue)
            .arg("--venue-key")
            .arg(key)
            .stdin(Stdio::null())
            .spawn()
            .context("start the agent child")?;
        Ok(Edge { child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
        for _ in 0..100 {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        anyhow::bail!("the agent did not stop within 10 s of SIGTERM")
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn bench() -> anyhow::Result<()> {
    let server: String = env_or("BENCH_PG", "postgres://postgres@127.0.0.1:5432".to_owned());
    let records = (env_or("BENCH_RECORDS", 1_000_000u64) / PER_MATCH * PER_MATCH).max(PER_MATCH);
    let timeout = Duration::from_secs(env_or("BENCH_TIMEOUT_S", 1200u64));
    let dir = TempDir(std::env::temp_dir().join(format!("dojo-catch-up-{:08x}", rand_suffix())));
    std::fs::create_dir_all(&dir.0)?;
    let db = dojo_testkit::postgres::ScratchDb::create(&server, "dojo_bench_catchup").await?;
    let result = run(&db.url, &dir.0, records, timeout).await;
    drop(db);
    result
}

fn rand_suffix() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ std::process::id()
}

async fn run(url: &str, dir: &Path, records: u64, timeout: Duration) -> anyhow::Result<()> {
    println!("catch-up bench: {records} outbox records, one venue, loopback, same PostgreSQL");
    let built = Instant::now();
    let epoch = build_outbox(dir, records).await?;
    let sqlite = store::db_path(dir);
    let size: u64 = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", sqlite.display())).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "  outbox built through edge-agent's table runtime and store writer in {:.1} s (SQLite {:.0} MB)",
        built.elapsed().as_secs_f64(),
        size as f64 / 1e6
    );

    let mut config = cloud_sync::Config::new(url, None);
    config.limits.venue_per_window = 0;
    config.limits.addr_per_window = 0;
    let cloud = cloud_sync::start(config)
        .await
        .context("start cloud-sync")?;
    let pool = cloud_sync::infra::db::connect_with(url, 4).await?;
    let (venue, key) = cloud_sync::venues::create_venue(&pool, "Bench catch-up").await?;
    let csv = dir.join("floor.csv");
    let (rows, last, payload) = outbox_csv(&sqlite, &venue, &epoch, &csv)?;
    anyhow::ensure!(rows >= records, "the outbox holds {rows} rows");
    println!(
        "  {rows} records, last seq {last}, {:.0} bytes of JSON payload per record",
        payload as f64 / rows as f64
    );

    let ticks = clock_ticks_per_s();
    let started = Instant::now();
    let edge = Edge::spawn(dir, &format!("http://{}", cloud.addr()), &venue, &key)?;
    let pid = edge.pid();
    let outbox = read_only(&sqlite)?;
    let (mut first_ack, mut next_report) = (None, Duration::from_secs(10));
    let finished = loop {
        let elapsed = started.elapsed();
        anyhow::ensure!(
            elapsed < timeout,
            "gave up after {timeout:?} (BENCH_TIMEOUT_S)"
        );
        let high_water: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(high_water), 0) FROM sync_cursors WHERE venue_id = $1 AND epoch = $2",
        )
        .bind(&venue)
        .bind(&epoch)
        .fetch_one(&pool)
        .await?;
        let high_water = u64::try_from(high_water)?;
        if high_water > 0 && first_ack.is_none() {
            first_ack = Some(elapsed);
        }
        if high_water >= last {
            let pending: i64 = outbox.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
            if pending == 0 {
                break elapsed;
            }
        }
        if elapsed >= next_report {
            println!(
                "    {:>5.0} s: cloud high-water mark {high_water} of {last}",
                elapsed.as_secs_f64()
            );
            next_report += Duration::from_secs(10);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let cpu = cpu_ticks(pid).map(|t| t as f64 / ticks);
    let hwm = status_kb(pid, "VmHWM");
    edge.stop()?;

    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_records WHERE venue_id = $1")
        .bind(&venue)
        .fetch_one(&pool)
        .await?;
    let matches: i64 =
        sqlx::query_scalar("SELECT count(*) FROM matches WHERE venue_id = $1 AND finished")
            .bind(&venue)
            .fetch_one(&pool)
            .await?;
    anyhow::ensure!(
        u64::try_from(stored)? == rows,
        "cloud-sync stored {stored} of {rows} records"
    );

    sqlx::query("CHECKPOINT").execute(&pool).await?;
    let copy = copy_floor(&pool, &csv).await?;

    let api_rate = rows as f64 / finished.as_secs_f64();
    let copy_rate = rows as f64 / copy.as_secs_f64();
    let first = first_ack.unwrap_or_default();
    println!(
        "  API catch-up: {rows} records in {:.1} s from the agent's spawn: {api_rate:.0} records/s",
        finished.as_secs_f64()
    );
    println!(
        "    (first acknowledged batch after {:.2} s: agent start-up incl. integrity check; then {:.0} records/s)",
        first.as_secs_f64(),
        rows as f64 / (finished - first).as_secs_f64().max(1e-3)
    );
    println!("    cloud-sync holds {stored} records and {matches} finished matches for the venue");
    if let (Some(cpu), Some(hwm)) = (cpu, hwm) {
        println!(
            "    agent process: {cpu:.1} s CPU ({:.0} % of one core), peak RSS {:.1} MB",
            100.0 * cpu / finished.as_secs_f64(),
            hwm as f64 / 1024.0
        );
    }
    println!(
        "  floor: COPY of the same {rows} sync_records rows, one stream: {:.1} s: {copy_rate:.0} records/s",
        copy.as_secs_f64()
    );
    println!(
        "  ratio API / COPY: {:.2}   (catch-up time ÷ COPY time: {:.1})",
        api_rate / copy_rate,
        finished.as_secs_f64() / copy.as_secs_f64()
    );
    pool.close().await;
    cloud.shutdown().await;
    Ok(())
}

async fn copy_floor(pool: &sqlx::PgPool, csv: &Path) -> anyhow::Result<Duration> {
    sqlx::query("CREATE TABLE copy_floor (LIKE sync_records INCLUDING ALL)")
        .execute(pool)
        .await?;
    let mut file = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(csv)?);
    let mut conn = pool.acquire().await?;
    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw(
            "COPY copy_floor (venue_id, epoch, seq, kind, match_id, content_hash, payload) FROM STDIN (FORMAT csv)",
        )
        .await?;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        copy.send(&chunk[..n]).await?;
    }
    copy.finish().await?;
    Ok(started.elapsed())
}
