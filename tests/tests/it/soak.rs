//! The soak benchmark of a venue's hostile network (docs/benchmarks.md, "Soak: a hostile venue
//! network"; issue 16): 32 honest tables beside a hostile mix, for a few minutes, against the same
//! run without the hostile mix, both in one invocation. An `#[ignore]`d test, like the phone
//! measure: it takes minutes and measures rather than checks.
//!
//! ```sh
//! cargo test -p dojo-e2e --test it soak_measure -- --ignored --nocapture          # 2 × 180 s
//! DOJO_SOAK_SECS=20 cargo test -p dojo-e2e --test it soak_measure -- --ignored --nocapture  # smoke
//! ```
//!
//! Each run (baseline, then hostile) starts a fresh agent as a **child process** (this test binary
//! again, `helpers::edge_agent_process`, running edge-agent's own command line; or the binary at
//! `DOJO_SOAK_AGENT`), on free loopback ports with a data directory of its own, so that its peak RSS
//! (`VmHWM` of `/proc/<pid>/status`) and its database are its own. Then:
//!
//! 1. **Honest tables**: 32 firmware-bridge simulators (`firmware_bridge::simulator::Controller`,
//!    a 9-ball match race to 1000, a shot every `DOJO_SOAK_SHOT_MS`) on real pseudo-terminals, each
//!    read by a firmware-bridge of its own (in this process, `firmware_bridge::run`; or the binary
//!    at `DOJO_SOAK_BRIDGE`, or beside this test binary, which authenticated devices need for
//!    `--mqtt-password`), publishing to the agent's
//!    embedded broker as a venue's bridges do: QoS 1, seqs, answering replay requests. The same
//!    match is started on the agent for each table.
//! 2. **Hostile mix** (the hostile run only; all over real sockets on loopback, each part bounded
//!    in rate and stopping at the run's end by itself; `DOJO_SOAK_MIX` picks parts, default all):
//!    `garbage` (junk and 60 KB payloads on events topics), `unknown` (valid events from unknown
//!    devices for unknown table ids and for a real table), `heartbeats` (heartbeats from
//!    `DOJO_SOAK_HB_IDS` distinct device ids on one real table), `since` (`DOJO_SOAK_WS` WebSocket
//!    clients on `/ws?since=0` and `?since=1`, the whole log, that never read a byte and reconnect
//!    every 3 s), `flood` (MQTT QoS 0 publishes at `DOJO_SOAK_FLOOD_RATE`/s in 10 s bursts every
//!    30 s), `takeover` (a client connecting with the agent's own client id `dojo-edge-agent`
//!    every 30 s), `guess` (staff-token guesses at 100/s).
//! 3. **Figures**: honest events lost — for each honest device, the seqs the broker acknowledged
//!    (the controller's highest acked serial: the bridge acks a frame after its PUBACK) that the
//!    agent's stored device mark has not reached after a drain of `DOJO_SOAK_DRAIN_SECS`, plus the
//!    events it gave up on (`missing_events` of the table's view); the agent's peak RSS; the
//!    database's growth (main file + WAL) over the run, extrapolated per hour; rejects by reason
//!    and every refusal/trim counter of `/metrics`; events from other devices applied to the
//!    honest tables. A run stops early when the agent passes `DOJO_SOAK_MAX_RSS_MB` (1024) or its
//!    database `DOJO_SOAK_MAX_DB_MB` (1024): the machine is shared.
//!
//! Authentication: when the agent has `device add` (issue 16's provisioning, detected on the
//! binary, or forced with `DOJO_SOAK_AUTH=1`), each honest device is provisioned with
//! `edge-agent device add DEVICE --table T --config FILE` (before the agent starts, or once it runs
//! if that fails; the secret is the last line of its standard output)
//! and its bridge runs as a process with `--mqtt-password`; otherwise, the agent runs with
//! `--allow-anonymous-devices` when it knows that flag (before issue 16 it has no other mode).
//! `DOJO_SOAK_AUTH=0` forces the anonymous mode.
//!
//! With `DOJO_SOAK_ASSERT=1` the test fails unless the hostile run meets the targets (0 honest
//! events lost, peak RSS ≤ 96 MB, no foreign event applied to an honest table); it always fails if
//! the baseline loses an honest event or commits none (the harness would be measuring nothing).
//! `DOJO_SOAK_KEEP=1` keeps each run's data directory (database, agent log) and says where.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dojo_testkit::agent::process::AGENT_ARGS;
use dojo_testkit::proc::status_kb;
use dojo_testkit::serial::Plugged;
use firmware_bridge::config::BridgeConfig;
use firmware_bridge::simulator::{Controller, SimOptions};
use rand::Rng as _;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio_util::sync::CancellationToken;

use crate::helpers::{free_port, temp_dir};

/// The staff token of the soak's agents (strong enough for an agent that refuses weak ones).
const STAFF_TOKEN: &str = "soak-Staff-token-7Qx9-kR2m";
/// Honest tables `t1`…`t32`; `t33`…`t40` are real (registered) tables only the hostile mix uses.
const HONEST: usize = 32;
const REAL_TABLES: usize = 40;
/// The real table that gets heartbeats from thousands of device ids.
const HEARTBEAT_TABLE: &str = "t33";
/// The real table unknown devices publish events for.
const UNKNOWN_DEVICE_TABLE: &str = "t34";
/// The real table the flood is published on.
const FLOOD_TABLE: &str = "t35";
/// The agent's own MQTT client id (defect 1 of issue 16).
const AGENT_CLIENT_ID: &str = "dojo-edge-agent";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The soak's knobs (environment; see the module documentation).
#[derive(Clone, Debug)]
struct Params {
    run: Duration,
    shot_gap: Duration,
    drain: Duration,
    mix: Vec<String>,
    hb_ids: u64,
    ws_clients: usize,
    flood_rate: u64,
    max_rss_kb: u64,
    max_db_bytes: u64,
    assert_targets: bool,
}

const ALL_MIX: [&str; 7] = [
    "garbage",
    "unknown",
    "heartbeats",
    "since",
    "flood",
    "takeover",
    "guess",
];

impl Params {
    fn from_env() -> Params {
        let mix = std::env::var("DOJO_SOAK_MIX").unwrap_or_else(|_| "all".into());
        let mix = if mix == "all" {
            ALL_MIX.iter().map(|s| (*s).to_owned()).collect()
        } else {
            mix.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| {
                    assert!(
                        ALL_MIX.contains(&s.as_str()),
                        "DOJO_SOAK_MIX: {s:?} is none of {ALL_MIX:?}"
                    );
                    true
                })
                .collect()
        };
        Params {
            run: Duration::from_secs(env_or("DOJO_SOAK_SECS", 180u64).max(5)),
            shot_gap: Duration::from_millis(env_or("DOJO_SOAK_SHOT_MS", 1000u64).max(50)),
            drain: Duration::from_secs(env_or("DOJO_SOAK_DRAIN_SECS", 20u64)),
            mix,
            hb_ids: env_or("DOJO_SOAK_HB_IDS", 3000u64).max(1),
            ws_clients: env_or("DOJO_SOAK_WS", 100usize),
            flood_rate: env_or("DOJO_SOAK_FLOOD_RATE", 20_000u64),
            max_rss_kb: env_or("DOJO_SOAK_MAX_RSS_MB", 1024u64) * 1024,
            max_db_bytes: env_or("DOJO_SOAK_MAX_DB_MB", 1024u64) * 1024 * 1024,
            assert_targets: std::env::var("DOJO_SOAK_ASSERT").is_ok_and(|v| v == "1"),
        }
    }

    fn has(&self, part: &str) -> bool {
        self.mix.iter().any(|p| p == part)
    }
}

fn honest_table(i: usize) -> String {
    format!("t{}", i + 1)
}

/// An honest bridge's id: its MQTT username when devices authenticate.
fn bridge_id(table: &str) -> String {
    format!("soak-{table}")
}

/// An honest controller's device id: under its bridge's name (`<username>-…`), so a broker that
/// lets a device speak only for itself finds the bridge's username in it.
fn controller_id(table: &str) -> String {
    format!("soak-{table}-ctl")
}

// ---------------------------------------------------------------------------------------------
// The agent as a child process
// ---------------------------------------------------------------------------------------------

/// Which program runs edge-agent's command line.
#[derive(Clone, Debug)]
enum AgentProgram {
    /// An edge-agent binary (`DOJO_SOAK_AGENT`).
    Binary(PathBuf),
    /// This test binary again, running `helpers::edge_agent_process` (the agent of this build).
    TestChild,
}

impl AgentProgram {
    fn from_env() -> AgentProgram {
        match std::env::var("DOJO_SOAK_AGENT") {
            Ok(path) if !path.is_empty() => AgentProgram::Binary(PathBuf::from(path)),
            _ => AgentProgram::TestChild,
        }
    }

    fn command(&self, args: &[String]) -> Command {
        match self {
            AgentProgram::Binary(path) => {
                let mut command = Command::new(path);
                command.args(args);
                command
            }
            AgentProgram::TestChild => {
                let mut command =
                    Command::new(std::env::current_exe().expect("the test binary's path"));
                command
                    .args([
                        "helpers::edge_agent_process",
                        "--exact",
                        "--nocapture",
                        "--test-threads=1",
                    ])
                    .env(AGENT_ARGS, args.join("\n"));
                command
            }
        }
    }

    /// Whether its command line knows `--allow-anonymous-devices`.
    fn knows_anonymous_flag(&self) -> bool {
        match self {
            AgentProgram::Binary(path) => Command::new(path)
                .arg("--help")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("allow-anonymous")),
            AgentProgram::TestChild => {
                use clap::CommandFactory as _;
                edge_agent::config::Flags::command()
                    .get_arguments()
                    .any(|a| a.get_long() == Some("allow-anonymous-devices"))
            }
        }
    }

    /// Whether it has `device add` (issue 16's provisioning).
    fn knows_device_add(&self) -> bool {
        self.command(&["device".into(), "add".into(), "--help".into()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// `device add DEVICE --table TABLE` on the agent's configuration: the secret (the last line
    /// of standard output), or what it said on standard error.
    fn device_add(&self, config: &Path, device: &str, table: &str) -> Result<String, String> {
        let config = config.display().to_string();
        let attempts: [Vec<String>; 2] = [
            vec![
                "device".into(),
                "add".into(),
                device.into(),
                "--table".into(),
                table.into(),
                "--config".into(),
                config.clone(),
            ],
            vec![
                "--config".into(),
                config,
                "device".into(),
                "add".into(),
                device.into(),
                "--table".into(),
                table.into(),
            ],
        ];
        let mut errors = Vec::new();
        for args in attempts {
            let output = self
                .command(&args)
                .stdin(Stdio::null())
                .output()
                .expect("edge-agent device add runs");
            let stdout = String::from_utf8_lossy(&output.stdout);
            // The test harness's own lines ("running 1 test", "test … ok", "test result: …")
            // follow what the agent printed when it runs as this test binary.
            let secret = stdout.lines().rev().find(|l| {
                let l = l.trim();
                !l.is_empty() && !l.starts_with("running ") && !l.starts_with("test ")
            });
            if output.status.success()
                && let Some(secret) = secret
            {
                return Ok(secret.trim().to_owned());
            }
            errors.push(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        Err(format!(
            "edge-agent device add {device} --table {table} failed: {errors:?}"
        ))
    }
}

/// A running agent process, killed when dropped.
#[derive(Debug)]
struct AgentProc {
    child: Child,
    http: String,
    mqtt: SocketAddr,
    data_dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl AgentProc {
    /// Writes the agent's configuration (free ports, its own data directory) in `dir`: its path,
    /// HTTP port and MQTT port. Devices can be provisioned on it before the agent starts.
    fn configure(dir: &Path) -> (PathBuf, u16, u16) {
        let (http_port, mqtt_port) = (free_port(), free_port());
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let tables: Vec<String> = (0..REAL_TABLES).map(honest_table).collect();
        let config = dir.join("agent.toml");
        let toml = format!(
            "data_dir = {:?}\nhttp_addr = \"127.0.0.1:{http_port}\"\nmqtt_addr = \"127.0.0.1:{mqtt_port}\"\nstaff_token = \"{STAFF_TOKEN}\"\nvenue = \"Soak Hall\"\nshot_quiet_ms = 0\npresence_timeout_ms = 60000\ntables = {tables:?}\n",
            data_dir.display().to_string(),
        );
        std::fs::write(&config, toml).expect("agent config");
        (config, http_port, mqtt_port)
    }

    async fn start(
        program: &AgentProgram,
        dir: &Path,
        (config, http_port, mqtt_port): (PathBuf, u16, u16),
        anonymous_flag: bool,
    ) -> AgentProc {
        let data_dir = dir.join("data");
        let mut args = vec!["--config".to_owned(), config.display().to_string()];
        if anonymous_flag {
            args.push("--allow-anonymous-devices".into());
        }
        let log = dir.join("agent.log");
        let child = program
            .command(&args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("agent log"))
            .spawn()
            .expect("edge-agent starts");
        let mut agent = AgentProc {
            child,
            http: format!("http://127.0.0.1:{http_port}"),
            mqtt: ([127, 0, 0, 1], mqtt_port).into(),
            data_dir,
            config,
            log,
        };
        let client = http_client();
        for _ in 0..600 {
            if client
                .get(format!("{}/healthz", agent.http))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return agent;
            }
            if let Ok(Some(status)) = agent.child.try_wait() {
                panic!(
                    "edge-agent exited ({status}): {}",
                    std::fs::read_to_string(&agent.log).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = agent.child.kill();
        panic!("edge-agent did not become healthy within 60 s");
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn db_bytes(&self) -> u64 {
        ["edge.sqlite3", "edge.sqlite3-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(self.data_dir.join(f)).ok())
            .map(|m| m.len())
            .sum()
    }

    fn db(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_with_flags(
            self.data_dir.join("edge.sqlite3"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .expect("the agent's database opens read-only");
        conn.busy_timeout(Duration::from_secs(5)).ok();
        conn
    }

    /// SIGTERM, at most 10 s, then SIGKILL.
    async fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("HTTP client")
}

// ---------------------------------------------------------------------------------------------
// Honest tables
// ---------------------------------------------------------------------------------------------

/// An honest table's bridge: in this process, or a firmware-bridge process.
#[derive(Debug)]
enum Bridge {
    InProcess(firmware_bridge::Running),
    Process(Child),
}

impl Bridge {
    async fn stop(self) {
        match self {
            Bridge::InProcess(running) => running.stop().await,
            Bridge::Process(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

#[derive(Debug)]
struct Honest {
    table: String,
    plugged: Plugged,
    bridge: Bridge,
}

/// What an honest controller did, read after it was unplugged.
#[derive(Debug)]
struct HonestEnd {
    table: String,
    /// MQTT seqs the broker acknowledged (the bridge acks a serial frame after its PUBACK; seq =
    /// serial − 1, the `hello` being serial 1).
    acked: u64,
    /// MQTT seqs the controller sent (an upper bound: the last few may not have been read).
    sent: u64,
}

async fn start_honest(
    agent: &AgentProc,
    dir: &Path,
    params: &Params,
    secrets: &BTreeMap<String, String>,
    bridge_binary: Option<&Path>,
) -> Vec<Honest> {
    let client = http_client();
    let mut honest = Vec::new();
    for i in 0..HONEST {
        let table = honest_table(i);
        let mut opts = SimOptions::new(&table);
        opts.device = controller_id(&table);
        opts.seed = 1000 + i as u64;
        opts.race_to = 1000;
        opts.shot_gap = params.shot_gap;
        opts.heartbeat = Duration::from_secs(1);
        opts.retransmit_after = Duration::from_millis(500);
        let spec = serde_json::to_value(opts.spec()).expect("spec");
        let response = client
            .post(format!("{}/api/v1/tables/{table}/matches", agent.http))
            .bearer_auth(STAFF_TOKEN)
            .json(&spec)
            .send()
            .await
            .expect("the agent answers");
        assert_eq!(
            response.status().as_u16(),
            201,
            "start the match on {table}"
        );
        let link = dir.join(format!("ttyCTL-{table}"));
        let plugged = Plugged::plug(Controller::new(opts), &link);
        let id = bridge_id(&table);
        let bridge = match bridge_binary {
            Some(binary) => {
                let mut command = Command::new(binary);
                command
                    .arg("--port")
                    .arg(&link)
                    .arg("--mqtt-url")
                    .arg(format!("mqtt://{}", agent.mqtt))
                    .arg("--bridge-id")
                    .arg(&id)
                    .env("RUST_LOG", "warn")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                if let Some(secret) = secrets.get(&id) {
                    command.arg("--mqtt-password").arg(secret);
                }
                Bridge::Process(command.spawn().expect("firmware-bridge starts"))
            }
            None => {
                let mut config =
                    BridgeConfig::new(vec![link], &agent.mqtt.ip().to_string(), agent.mqtt.port());
                config.bridge_id = id;
                config.heartbeat_timeout = Duration::from_secs(5);
                Bridge::InProcess(firmware_bridge::run(config))
            }
        };
        honest.push(Honest {
            table,
            plugged,
            bridge,
        });
    }
    honest
}

/// Unplugs every controller (play stops), then stops the bridges once the agent has caught up
/// (or after the drain time).
async fn stop_honest(honest: Vec<Honest>, agent: &AgentProc, drain: Duration) -> Vec<HonestEnd> {
    let mut ends = Vec::new();
    let mut bridges = Vec::new();
    for h in honest {
        let controller = h.plugged.unplug().await;
        ends.push(HonestEnd {
            table: h.table,
            acked: u64::from(controller.stats().acked.saturating_sub(1)),
            sent: u64::from(controller.seq().saturating_sub(1)),
        });
        bridges.push(h.bridge);
    }
    let deadline = Instant::now() + drain;
    while Instant::now() < deadline {
        let marks = device_marks(agent);
        if ends
            .iter()
            .all(|e| marks.get(&controller_id(&e.table)).copied().unwrap_or(0) >= e.acked)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for bridge in bridges {
        bridge.stop().await;
    }
    ends
}

/// Every stored device mark: device → last seq.
fn device_marks(agent: &AgentProc) -> BTreeMap<String, u64> {
    let conn = agent.db();
    let Ok(mut statement) = conn.prepare("SELECT device, last_seq FROM devices") else {
        return BTreeMap::new();
    };
    statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .map(|rows| {
            rows.filter_map(Result::ok)
                .map(|(d, s)| (d, u64::try_from(s).unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// The hostile mix
// ---------------------------------------------------------------------------------------------

/// What the hostile mix offered, and what it got back.
#[derive(Debug, Default)]
struct Offered {
    garbage: AtomicU64,
    garbage_60k: AtomicU64,
    unknown: AtomicU64,
    heartbeats: AtomicU64,
    ws_connects: AtomicU64,
    ws_refused: AtomicU64,
    flood: AtomicU64,
    flood_not_queued: AtomicU64,
    takeovers: AtomicU64,
    takeovers_accepted: AtomicU64,
    guess_401: AtomicU64,
    guess_403: AtomicU64,
    guess_429: AtomicU64,
    guess_other: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// An MQTT client whose event loop is polled until `stop`; QoS 0 publishes are dropped by the
/// client when its queue of `cap` is full.
fn hostile_client(
    mqtt: SocketAddr,
    id: &str,
    cap: usize,
    stop: &CancellationToken,
) -> (AsyncClient, tokio::task::JoinHandle<()>) {
    let mut options = MqttOptions::new(id, mqtt.ip().to_string(), mqtt.port());
    options.set_keep_alive(Duration::from_secs(10));
    options.set_max_packet_size(128 * 1024, 128 * 1024);
    options.set_clean_session(true);
    let (client, mut eventloop) = AsyncClient::new(options, cap);
    let stop = stop.clone();
    let poll = tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                event = eventloop.poll() => {
                    if event.is_err() {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
    });
    (client, poll)
}

/// Ticks every `every` until `stop`: a hostile part's pace.
struct Ticker {
    interval: tokio::time::Interval,
    stop: CancellationToken,
    n: u64,
}

impl Ticker {
    fn new(stop: &CancellationToken, every: Duration) -> Ticker {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Ticker {
            interval,
            stop: stop.clone(),
            n: 0,
        }
    }

    /// The next tick's number, or `None` once stopped.
    async fn next(&mut self) -> Option<u64> {
        tokio::select! {
            () = self.stop.cancelled() => None,
            _ = self.interval.tick() => {
                self.n += 1;
                Some(self.n - 1)
            }
        }
    }
}

fn events_topic(table: &str) -> String {
    format!("dojo/v1/tables/{table}/events")
}

/// 20 publishes/s: short junk (not JSON, wrong JSON) and, one in four, 60 KB of random bytes, on
/// the events topics of real tables (honest ones included) and on made-up topics.
async fn garbage(mqtt: SocketAddr, stop: CancellationToken, offered: Arc<Offered>) {
    let (client, poll) = hostile_client(mqtt, "soak-garbage", 64, &stop);
    let mut ticker = Ticker::new(&stop, Duration::from_millis(50));
    while let Some(n) = ticker.next().await {
        let (payload, topic) = {
            let mut rng = rand::rng();
            let table = honest_table(rng.random_range(0..REAL_TABLES));
            let payload: Vec<u8> = match n % 4 {
                0 => (0..60 * 1024).map(|_| rng.random()).collect(),
                1 => b"{\"device\":".to_vec(),
                2 => json!({"device": "x", "seq": "one", "type": "pocket"})
                    .to_string()
                    .into_bytes(),
                _ => (0..rng.random_range(1..200))
                    .map(|_| rng.random())
                    .collect(),
            };
            let topic = if n % 5 == 4 {
                format!("dojo/v1/tables/{}/junk", rng.random::<u32>())
            } else {
                events_topic(&table)
            };
            (payload, topic)
        };
        let big = payload.len() > 1024;
        if client
            .try_publish(topic, QoS::AtMostOnce, false, payload)
            .is_ok()
        {
            add(&offered.garbage, 1);
            add(&offered.garbage_60k, u64::from(big));
        }
    }
    let _ = poll.await;
}

/// 50 publishes/s of valid `pocket` events from unknown devices: four in five for unknown table
/// ids (up to 50,000 of them), one in five for a real table.
async fn unknown(mqtt: SocketAddr, stop: CancellationToken, offered: Arc<Offered>) {
    let (client, poll) = hostile_client(mqtt, "soak-unknown", 64, &stop);
    let mut ticker = Ticker::new(&stop, Duration::from_millis(20));
    while let Some(n) = ticker.next().await {
        let table = if n % 5 == 4 {
            UNKNOWN_DEVICE_TABLE.to_owned()
        } else {
            format!("zz{}", n % 50_000)
        };
        let event = json!({"device": format!("ghost-{n}"), "seq": 1, "type": "pocket", "ball": 3, "pocket": 2});
        if client
            .try_publish(
                events_topic(&table),
                QoS::AtMostOnce,
                false,
                event.to_string(),
            )
            .is_ok()
        {
            add(&offered.unknown, 1);
        }
    }
    let _ = poll.await;
}

/// 40 heartbeats/s from `ids` distinct device ids in turn, on one real table.
async fn heartbeats(mqtt: SocketAddr, ids: u64, stop: CancellationToken, offered: Arc<Offered>) {
    let (client, poll) = hostile_client(mqtt, "soak-heartbeats", 64, &stop);
    let mut ticker = Ticker::new(&stop, Duration::from_millis(25));
    while let Some(n) = ticker.next().await {
        let event =
            json!({"device": format!("hb-{}", n % ids), "seq": n / ids + 1, "type": "heartbeat"});
        if client
            .try_publish(
                events_topic(HEARTBEAT_TABLE),
                QoS::AtMostOnce,
                false,
                event.to_string(),
            )
            .is_ok()
        {
            add(&offered.heartbeats, 1);
        }
    }
    let _ = poll.await;
}

/// A screen that asks for the whole log (`?since=1`) or a snapshot (`?since=0`), never reads a
/// byte, and reconnects every 3 s.
async fn lazy_screen(http: SocketAddr, n: usize, stop: CancellationToken, offered: Arc<Offered>) {
    let mut round = 0usize;
    while !stop.is_cancelled() {
        let since = (n + round) % 2;
        round += 1;
        match tokio::net::TcpStream::connect(http).await {
            Ok(mut stream) => {
                let request = format!(
                    "GET /ws?since={since} HTTP/1.1\r\nHost: {http}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                );
                if stream.write_all(request.as_bytes()).await.is_ok() {
                    add(&offered.ws_connects, 1);
                }
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = tokio::time::sleep(Duration::from_secs(3)) => {}
                }
            }
            Err(_) => {
                add(&offered.ws_refused, 1);
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }
}

/// QoS 0 heartbeats of two flood devices at `rate`/s in all, in bursts of 10 s every 30 s (the
/// first a quarter of the way into the run).
async fn flood(
    mqtt: SocketAddr,
    rate: u64,
    run: Duration,
    stop: CancellationToken,
    offered: Arc<Offered>,
) {
    let started = Instant::now();
    let first = run / 4;
    let mut tasks = Vec::new();
    for k in 0..2u64 {
        let (client, poll) = hostile_client(mqtt, &format!("soak-flood-{k}"), 10_000, &stop);
        let (stop, offered) = (stop.clone(), offered.clone());
        tasks.push(poll);
        tasks.push(tokio::spawn(async move {
            let per_tick = (rate / 2 / 100).max(1);
            let mut seq = 0u64;
            let mut ticker = Ticker::new(&stop, Duration::from_millis(10));
            while ticker.next().await.is_some() {
                let t = started.elapsed();
                let bursting = t >= first && (t - first).as_secs() % 30 < 10;
                if !bursting {
                    continue;
                }
                for _ in 0..per_tick {
                    seq += 1;
                    let event =
                        json!({"device": format!("flood-{k}"), "seq": seq, "type": "heartbeat"});
                    if client
                        .try_publish(
                            events_topic(FLOOD_TABLE),
                            QoS::AtMostOnce,
                            false,
                            event.to_string(),
                        )
                        .is_ok()
                    {
                        add(&offered.flood, 1);
                    } else {
                        add(&offered.flood_not_queued, 1);
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// Every 30 s from a third of the way in: a client connecting with the agent's own client id,
/// staying 2 s.
async fn takeover(mqtt: SocketAddr, run: Duration, stop: CancellationToken, offered: Arc<Offered>) {
    tokio::select! {
        () = stop.cancelled() => return,
        () = tokio::time::sleep(run / 3) => {}
    }
    let mut ticker = Ticker::new(&stop, Duration::from_secs(30));
    while ticker.next().await.is_some() {
        add(&offered.takeovers, 1);
        let mut options = MqttOptions::new(AGENT_CLIENT_ID, mqtt.ip().to_string(), mqtt.port());
        options.set_keep_alive(Duration::from_secs(5));
        let (client, mut eventloop) = AsyncClient::new(options, 10);
        let until = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(Ok(event)) = tokio::time::timeout_at(until, eventloop.poll()).await {
            if let Event::Incoming(Packet::ConnAck(ack)) = event
                && ack.code == rumqttc::ConnectReturnCode::Success
            {
                add(&offered.takeovers_accepted, 1);
            }
        }
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
    }
}

/// 100 staff-token guesses/s on a staff route.
async fn guess(http: String, stop: CancellationToken, offered: Arc<Offered>) {
    let client = http_client();
    let mut ticker = Ticker::new(&stop, Duration::from_millis(10));
    while let Some(n) = ticker.next().await {
        let response = client
            .get(format!("{http}/api/v1/dead-letters"))
            .bearer_auth(format!("guess-{n:08}"))
            .send()
            .await;
        let counter = match response.map(|r| r.status().as_u16()) {
            Ok(401) => &offered.guess_401,
            Ok(403) => &offered.guess_403,
            Ok(429) => &offered.guess_429,
            _ => &offered.guess_other,
        };
        add(counter, 1);
    }
}

fn start_hostile(
    params: &Params,
    agent: &AgentProc,
    stop: &CancellationToken,
    offered: &Arc<Offered>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mqtt = agent.mqtt;
    let http: SocketAddr = agent
        .http
        .trim_start_matches("http://")
        .parse()
        .expect("http addr");
    let mut tasks = Vec::new();
    let o = || offered.clone();
    let s = || stop.clone();
    if params.has("garbage") {
        tasks.push(tokio::spawn(garbage(mqtt, s(), o())));
    }
    if params.has("unknown") {
        tasks.push(tokio::spawn(unknown(mqtt, s(), o())));
    }
    if params.has("heartbeats") {
        tasks.push(tokio::spawn(heartbeats(mqtt, params.hb_ids, s(), o())));
    }
    if params.has("since") {
        for n in 0..params.ws_clients {
            tasks.push(tokio::spawn(lazy_screen(http, n, s(), o())));
        }
    }
    if params.has("flood") {
        tasks.push(tokio::spawn(flood(
            mqtt,
            params.flood_rate,
            params.run,
            s(),
            o(),
        )));
    }
    if params.has("takeover") {
        tasks.push(tokio::spawn(takeover(mqtt, params.run, s(), o())));
    }
    if params.has("guess") {
        tasks.push(tokio::spawn(guess(agent.http.clone(), s(), o())));
    }
    tasks
}

// ---------------------------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------------------------

/// What one run measured.
#[derive(Debug, Default)]
struct Figures {
    secs: f64,
    honest_acked: u64,
    honest_sent: u64,
    honest_lost: u64,
    honest_missing: u64,
    honest_rows: i64,
    foreign_rows: i64,
    peak_rss_kb: u64,
    db_start: u64,
    db_end: u64,
    stopped_early: Option<String>,
    counters: BTreeMap<String, f64>,
    metrics_answered: bool,
    log_lines: BTreeMap<&'static str, usize>,
    panics: Vec<String>,
}

impl Figures {
    fn growth_per_hour(&self) -> f64 {
        (self.db_end.saturating_sub(self.db_start)) as f64 * 3600.0 / self.secs.max(1e-3)
    }
}

/// Counters of `/metrics` that say what was refused, trimmed, limited or dropped, by name and
/// labels.
fn refusal_counters(text: &str) -> BTreeMap<String, f64> {
    const WORDS: [&str; 10] = [
        "reject",
        "refus",
        "trim",
        "limit",
        "dropped",
        "dead",
        "unauthor",
        "missing",
        "duplicate",
        "resnapshot",
    ];
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            let base = name.split('{').next()?;
            WORDS
                .iter()
                .any(|w| base.contains(w))
                .then(|| Some((name.to_owned(), value.parse().ok()?)))?
        })
        .collect()
}

/// Lines of the agent's log worth knowing about: counts, and the first few distinct panics (where
/// and what). (An agent run as this test binary has no log subscriber: only panics reach its
/// standard error.)
fn log_lines(path: &Path) -> (BTreeMap<&'static str, usize>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let patterns: [(&str, &str); 4] = [
        ("link closed", "inbound stops"),
        ("panicked", "panicked"),
        ("ERROR", "ERROR"),
        ("WARN", "WARN"),
    ];
    let counts = patterns
        .iter()
        .map(|(label, needle)| (*label, text.lines().filter(|l| l.contains(needle)).count()))
        .collect();
    let lines: Vec<&str> = text.lines().collect();
    let mut panics: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(at) = line.find("panicked at ") {
            let place = &line[at..];
            let message = lines.get(i + 1).copied().unwrap_or("");
            let panic = format!("{place} {message}");
            if !panics.contains(&panic) && panics.len() < 3 {
                panics.push(panic);
            }
        }
    }
    (counts, panics)
}

#[derive(Clone, Debug)]
struct Setup {
    program: AgentProgram,
    bridge_binary: Option<PathBuf>,
    auth: bool,
    anonymous_flag: bool,
}

/// `device add` for every honest bridge: its secret by bridge id.
fn provision(
    setup: &Setup,
    config: &Path,
    secrets: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    for i in 0..HONEST {
        let table = honest_table(i);
        let id = bridge_id(&table);
        let secret = setup.program.device_add(config, &id, &table)?;
        secrets.insert(id, secret);
    }
    Ok(())
}

async fn run_once(params: &Params, setup: &Setup, hostile: bool) -> Figures {
    let name = if hostile { "hostile" } else { "baseline" };
    let dir = temp_dir(&format!("soak-{name}"));
    let configured = AgentProc::configure(&dir);
    // Devices are provisioned before the agent starts (a command on its data folder) or, should
    // the command need the running agent, once it runs.
    let mut secrets = BTreeMap::new();
    let early = setup.auth && provision(setup, &configured.0, &mut secrets).is_ok();
    let agent = AgentProc::start(&setup.program, &dir, configured, setup.anonymous_flag).await;
    if setup.auth && !early {
        secrets.clear();
        if let Err(error) = provision(setup, &agent.config, &mut secrets) {
            panic!("{error}");
        }
    }
    let honest = start_honest(
        &agent,
        &dir,
        params,
        &secrets,
        setup.bridge_binary.as_deref(),
    )
    .await;
    // Warm-up: every controller has said hello and played.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut figures = Figures {
        db_start: agent.db_bytes(),
        ..Figures::default()
    };
    let started = Instant::now();
    let stop = CancellationToken::new();
    let offered = Arc::new(Offered::default());
    let tasks = if hostile {
        start_hostile(params, &agent, &stop, &offered)
    } else {
        Vec::new()
    };
    // The run, watched every second: the agent must not take the machine.
    let mut last_report = Instant::now();
    while started.elapsed() < params.run {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = status_kb(agent.pid(), "VmRSS").unwrap_or(0);
        let db = agent.db_bytes();
        let at = started.elapsed().as_secs();
        if rss > params.max_rss_kb {
            figures.stopped_early = Some(format!(
                "at {at} s: RSS {} MB over DOJO_SOAK_MAX_RSS_MB",
                rss / 1024
            ));
        } else if db > params.max_db_bytes {
            figures.stopped_early = Some(format!(
                "at {at} s: database {} MB over DOJO_SOAK_MAX_DB_MB",
                db / 1_000_000
            ));
        }
        if figures.stopped_early.is_some() {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            println!(
                "  {name}: {at:>4} s, agent RSS {:.1} MB, database {:.1} MB",
                rss as f64 / 1024.0,
                db as f64 / 1e6
            );
            last_report = Instant::now();
        }
    }
    figures.secs = started.elapsed().as_secs_f64();
    figures.db_end = agent.db_bytes();
    stop.cancel();
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }

    let ends = stop_honest(honest, &agent, params.drain).await;
    let marks = device_marks(&agent);
    let conn = agent.db();
    for end in &ends {
        let device = controller_id(&end.table);
        let mark = marks.get(&device).copied().unwrap_or(0);
        let missing = conn
            .query_row(
                "SELECT view FROM tables WHERE table_id = ?1",
                [&end.table],
                |row| row.get::<_, String>(0),
            )
            .ok()
            .and_then(|v| serde_json::from_str::<Value>(&v).ok())
            .and_then(|v| v["missing_events"].as_u64())
            .unwrap_or(0);
        figures.honest_acked += end.acked;
        figures.honest_sent += end.sent;
        figures.honest_missing += missing;
        figures.honest_lost += end.acked.saturating_sub(mark) + missing;
        figures.honest_rows += conn
            .query_row(
                "SELECT COUNT(*) FROM events WHERE device = ?1",
                [&device],
                |row| row.get::<_, i64>(0),
            )
            .unwrap_or(0);
    }
    let honest_list: Vec<String> = (0..HONEST)
        .map(|i| format!("'{}'", honest_table(i)))
        .collect();
    figures.foreign_rows = conn
        .query_row(
            &format!(
                "SELECT COUNT(*) FROM events WHERE table_id IN ({}) AND device IS NOT NULL AND device NOT LIKE 'soak-%'",
                honest_list.join(",")
            ),
            [],
            |row| row.get(0),
        )
        .unwrap_or(0);
    drop(conn);
    figures.peak_rss_kb = status_kb(agent.pid(), "VmHWM").unwrap_or(0);
    if let Ok(response) = http_client()
        .get(format!("{}/metrics", agent.http))
        .send()
        .await
        && let Ok(text) = response.text().await
    {
        figures.metrics_answered = true;
        figures.counters = refusal_counters(&text);
    }
    let log = agent.log.clone();
    agent.stop().await;
    (figures.log_lines, figures.panics) = log_lines(&log);
    if hostile {
        print_offered(&offered);
    }
    if std::env::var_os("DOJO_SOAK_KEEP").is_some() {
        println!(
            "  {name}: data, agent log and config kept in {}",
            dir.display()
        );
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    figures
}

fn print_offered(o: &Offered) {
    println!(
        "  hostile mix offered: garbage {} ({} of 60 KB), unknown-device events {}, heartbeats {}, \
         /ws?since= connections {} (refused {}), flood {} (not queued by the client {}), \
         takeovers {} (CONNACK accepted {}), token guesses 401 {} / 403 {} / 429 {} / other {}",
        get(&o.garbage),
        get(&o.garbage_60k),
        get(&o.unknown),
        get(&o.heartbeats),
        get(&o.ws_connects),
        get(&o.ws_refused),
        get(&o.flood),
        get(&o.flood_not_queued),
        get(&o.takeovers),
        get(&o.takeovers_accepted),
        get(&o.guess_401),
        get(&o.guess_403),
        get(&o.guess_429),
        get(&o.guess_other),
    );
}

fn mb(bytes: f64) -> String {
    if bytes >= 1e9 {
        format!("{:.2} GB", bytes / 1e9)
    } else {
        format!("{:.1} MB", bytes / 1e6)
    }
}

fn ratio(hostile: f64, baseline: f64) -> String {
    if baseline > 0.0 {
        format!("{:.2}", hostile / baseline)
    } else {
        "—".into()
    }
}

fn report(params: &Params, setup: &Setup, base: &Figures, host: &Figures) -> String {
    let mut out = String::new();
    let _ = std::fmt::Write::write_fmt(
        &mut out,
        format_args!(
            "\nsoak: {HONEST} honest tables (simulated controllers on pseudo-terminals → firmware-bridge → MQTT, a shot every {} ms), {} s per run, devices {}, hostile mix: {}\n\n",
            params.shot_gap.as_millis(),
            params.run.as_secs(),
            if setup.auth {
                "authenticated"
            } else {
                "anonymous"
            },
            params.mix.join(", ")
        ),
    );
    let rows: Vec<(String, String, String, String, &str)> = vec![
        (
            "run length".into(),
            format!("{:.0} s", base.secs),
            format!(
                "{:.0} s{}",
                host.secs,
                host.stopped_early
                    .as_ref()
                    .map_or(String::new(), |s| format!(" (stopped early {s})"))
            ),
            String::new(),
            "",
        ),
        (
            "honest events acknowledged by the broker (sent)".into(),
            format!("{} ({})", base.honest_acked, base.honest_sent),
            format!("{} ({})", host.honest_acked, host.honest_sent),
            ratio(host.honest_acked as f64, base.honest_acked as f64),
            "",
        ),
        (
            "**honest events lost** (of which given up)".into(),
            format!("{} ({})", base.honest_lost, base.honest_missing),
            format!("{} ({})", host.honest_lost, host.honest_missing),
            String::new(),
            "0",
        ),
        (
            "honest events committed (rows, heartbeats not stored)".into(),
            base.honest_rows.to_string(),
            host.honest_rows.to_string(),
            ratio(host.honest_rows as f64, base.honest_rows as f64),
            "",
        ),
        (
            "other devices' events applied to honest tables".into(),
            base.foreign_rows.to_string(),
            host.foreign_rows.to_string(),
            String::new(),
            "0",
        ),
        (
            "**agent peak RSS** (VmHWM)".into(),
            format!("{:.1} MB", base.peak_rss_kb as f64 / 1024.0),
            format!("{:.1} MB", host.peak_rss_kb as f64 / 1024.0),
            ratio(host.peak_rss_kb as f64, base.peak_rss_kb as f64),
            "≤ 96 MB",
        ),
        (
            "**database growth per hour** (extrapolated)".into(),
            format!("{}/h", mb(base.growth_per_hour())),
            format!("{}/h", mb(host.growth_per_hour())),
            ratio(host.growth_per_hour(), base.growth_per_hour()),
            "",
        ),
        (
            "database at the end (main + WAL)".into(),
            mb(base.db_end as f64),
            mb(host.db_end as f64),
            ratio(host.db_end as f64, base.db_end as f64),
            "",
        ),
        (
            "/metrics answered at the end".into(),
            base.metrics_answered.to_string(),
            host.metrics_answered.to_string(),
            String::new(),
            "",
        ),
    ];
    out.push_str("| figure | baseline (honest only) | hostile | hostile ÷ baseline | target |\n");
    out.push_str("|---|---|---|---|---|\n");
    for (figure, b, h, r, t) in rows {
        out.push_str(&format!("| {figure} | {b} | {h} | {r} | {t} |\n"));
    }
    out.push_str(
        "\nrefusals, trims, duplicates and gaps counted in /metrics (baseline → hostile):\n",
    );
    let names: std::collections::BTreeSet<&String> =
        base.counters.keys().chain(host.counters.keys()).collect();
    for name in names {
        let (b, h) = (
            base.counters.get(name).copied().unwrap_or(0.0),
            host.counters.get(name).copied().unwrap_or(0.0),
        );
        if b > 0.0 || h > 0.0 {
            out.push_str(&format!("  {name}: {b} → {h}\n"));
        }
    }
    out.push_str("agent log lines (baseline → hostile):");
    for (label, b) in &base.log_lines {
        let h = host.log_lines.get(label).copied().unwrap_or(0);
        out.push_str(&format!(" {label:?} {b} → {h};"));
    }
    out.push('\n');
    for (run, figures) in [("baseline", base), ("hostile", host)] {
        for panic in &figures.panics {
            out.push_str(&format!("  {run} run, agent {panic}\n"));
        }
    }
    out
}

/// The soak: a baseline run and a hostile run, each on a fresh agent; prints the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the soak benchmark: minutes per run (docs/benchmarks.md, \"Soak\"); --ignored to run"]
async fn soak_measure() {
    let params = Params::from_env();
    let program = AgentProgram::from_env();
    let forced = std::env::var("DOJO_SOAK_AUTH").ok();
    let explicit_bridge = std::env::var("DOJO_SOAK_BRIDGE")
        .ok()
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let bridge_binary = explicit_bridge.clone().or_else(|| {
        // Beside this test binary (`target/<profile>/deps/it-…`), when it was built.
        let exe = std::env::current_exe().ok()?;
        let binary = exe.parent()?.parent()?.join("firmware-bridge");
        binary.exists().then_some(binary)
    });
    let auth = match forced.as_deref() {
        Some("1") => {
            assert!(
                bridge_binary.is_some(),
                "authenticated devices need firmware-bridge as a process (its --mqtt-password): set DOJO_SOAK_BRIDGE to the binary"
            );
            true
        }
        Some("0") => false,
        _ => {
            let knows = program.knows_device_add();
            if knows && bridge_binary.is_none() {
                println!(
                    "soak: the agent has `device add`, but no firmware-bridge binary was found (DOJO_SOAK_BRIDGE): devices stay anonymous"
                );
            }
            knows && bridge_binary.is_some()
        }
    };
    // Anonymous devices: the bridges of this build, in this process, unless one is named.
    let bridge_binary = if auth { bridge_binary } else { explicit_bridge };
    let setup = Setup {
        anonymous_flag: !auth && program.knows_anonymous_flag(),
        program,
        bridge_binary,
        auth,
    };
    println!("soak: {params:?}\n      {setup:?}");
    let _ = std::io::stdout().flush();
    let base = run_once(&params, &setup, false).await;
    println!("  baseline done: {} honest events lost", base.honest_lost);
    let host = run_once(&params, &setup, true).await;
    let table = report(&params, &setup, &base, &host);
    println!("{table}");

    assert!(
        base.honest_rows > 0,
        "the baseline committed no honest event: the harness measured nothing"
    );
    assert_eq!(
        base.honest_lost, 0,
        "the baseline (no hostile traffic) lost honest events"
    );
    if params.assert_targets {
        assert_eq!(
            host.honest_lost, 0,
            "honest events lost under the hostile mix"
        );
        assert_eq!(
            host.foreign_rows, 0,
            "other devices' events applied to honest tables"
        );
        assert!(
            host.peak_rss_kb <= 96 * 1024,
            "agent peak RSS {} kB over 96 MB",
            host.peak_rss_kb
        );
        assert!(host.stopped_early.is_none(), "{:?}", host.stopped_early);
    }
}
