//! `cargo bench -p edge-agent --bench pipeline`: the sensor → screen pipeline under a venue's load.
//!
//! One run, every loop bounded by a fixed duration or count, loopback only, free ports, a temporary
//! data directory (removed at the end):
//!
//! 1. **Agent.** The release binary (`$CARGO_TARGET_DIR/release/edge-agent`, build it first with
//!    `cargo build --release -p edge-agent`) as a child process with its embedded broker, so its
//!    peak RSS (`VmHWM` of `/proc/<pid>/status`) and CPU time are its own. Without the binary, or
//!    with `DOJO_BENCH_AGENT=inprocess`, `edge_agent::start` runs in this process on its own
//!    2-worker runtime, and RSS is this whole process's (clients included; the baseline is printed).
//!    `DOJO_BENCH_AGENT=/path/to/edge-agent` picks another binary.
//! 2. **Screens.** A 9-ball match on each of 32 tables (`t01`..`t32`) and on a `probe` table, then
//!    500 WebSocket clients on `/ws`: 32 overview screens (every table) and 468 table screens, each
//!    following one table (round robin) plus the featured `probe` table.
//! 3. **Latency** (2 s warm-up, 10 s measured). 32 controllers publish a shot per second
//!    (`pocket` + `end_turn`, QoS 1) and 32 cameras publish 30 `frame`s/s (QoS 0, camera topic).
//!    The probe device publishes every 20 ms on `probe`: `pocket` of balls 1..15 then `rack`, so
//!    every event changes the table's pending shot and the number of balls in it tells which of 16
//!    consecutive events an update shows (the match never ends: `rack` only clears the shot). Every
//!    client's receive time of every probe update is one publish → WebSocket sample.
//!    At the same time, offset 5/10/15 ms from the probe, the floor: the same payload at the same
//!    rate through a bare MQTT hop (rumqttc publisher → rumqttc subscriber, both `TCP_NODELAY`) on
//!    the agent's embedded broker, with QoS 1 and with QoS 0 subscriptions, and on Mosquitto at
//!    127.0.0.1:1883 when it answers. The probe, the floors and 16 table screens
//!    (`DOJO_BENCH_MEASURING`) run on their own 1-thread runtime, so their timestamps are not queued
//!    behind the 484 load screens on the saturated 2-thread client runtime; both sets are reported.
//! 4. **Durable throughput.** Controllers and cameras stop (screens stay connected); 32 fresh
//!    devices publish 200,000 valid events (QoS 1) as fast as they can; the time until the last is
//!    committed (polled read-only in SQLite) gives events/s. Floor: the same rows (event + table
//!    view + device mark per event, the agent's own input and view JSON) inserted into a fresh SQLite
//!    file, WAL + `synchronous=FULL`, in transactions of the agent's mean group-commit size.
//!
//! Knobs (environment): `DOJO_BENCH_CLIENTS` (500), `DOJO_BENCH_OVERVIEW` (32),
//! `DOJO_BENCH_MEASURING` (16), `DOJO_BENCH_SECS`
//! (10), `DOJO_BENCH_BURST` (200000), `DOJO_BENCH_RATE` (25000 events/s offered in the durable
//! phase, paced per device; 0 = as fast as the publishers can, which overruns the embedded broker's
//! buffer for the agent), `DOJO_BENCH_AGENT` (see above).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edge_agent::CancellationToken;
use futures_util::StreamExt;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use shared::protocol::{
    BallPosition, Button, DeviceEvent, DeviceMessage, camera_topic, encode, events_topic,
};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "bench-staff-token";
const PROBE_TABLE: &str = "probe";
/// Probe events form a cycle of this length: `pocket` 1..15, then `rack`.
const PROBE_CYCLE: usize = 16;
const PROBE_EVERY: Duration = Duration::from_millis(20);
const WARMUP: Duration = Duration::from_secs(2);
const CAMERA_FPS: u64 = 30;
/// Controller events per second per table (a shot per second: `pocket` + `end_turn`).
const CONTROLLER_EVENTS_PER_S: u64 = 2;

#[derive(Clone, Debug)]
struct Params {
    tables: usize,
    clients: usize,
    overview: usize,
    measuring: usize,
    measure: Duration,
    burst: u64,
    /// Offered load of the durable phase, events/s over all devices; 0 = as fast as they can.
    rate: u64,
}

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Params {
    fn from_env() -> Params {
        Params {
            tables: 32,
            clients: env_or("DOJO_BENCH_CLIENTS", 500),
            overview: env_or("DOJO_BENCH_OVERVIEW", 32),
            measuring: env_or("DOJO_BENCH_MEASURING", 16),
            measure: Duration::from_secs(env_or("DOJO_BENCH_SECS", 10)),
            burst: env_or("DOJO_BENCH_BURST", 200_000),
            rate: env_or("DOJO_BENCH_RATE", 25_000),
        }
    }

    fn table(&self, i: usize) -> String {
        format!("t{:02}", i % self.tables + 1)
    }
}

// ---------------------------------------------------------------------------------------------
// The agent under test
// ---------------------------------------------------------------------------------------------

enum Kind {
    Child(Child),
    InProcess {
        runtime: tokio::runtime::Runtime,
        shutdown: CancellationToken,
        running: edge_agent::Running,
    },
}

struct Agent {
    kind: Kind,
    http: SocketAddr,
    mqtt: SocketAddr,
    data_dir: PathBuf,
    /// This process's VmHWM before the agent started (in-process mode).
    baseline_kb: Option<u64>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn agent_binary() -> Option<PathBuf> {
    match std::env::var("DOJO_BENCH_AGENT") {
        Ok(v) if v == "inprocess" => None,
        Ok(v) => Some(PathBuf::from(v)),
        Err(_) => {
            // The bench runs as $TARGET/release/deps/pipeline-<hash>.
            let exe = std::env::current_exe().ok()?;
            let binary = exe.parent()?.parent()?.join("edge-agent");
            binary.exists().then_some(binary)
        }
    }
}

impl Agent {
    fn start(dir: &Path) -> Agent {
        let data_dir = dir.join("data");
        let mqtt: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        match agent_binary() {
            Some(binary) => {
                let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
                let config = dir.join("bench.toml");
                let toml = format!(
                    "data_dir = {:?}\nhttp_addr = \"{http}\"\nmqtt_addr = \"{mqtt}\"\nstaff_token = \"{TOKEN}\"\nvenue = \"Bench Hall\"\nshot_quiet_ms = 0\npresence_timeout_ms = 60000\n",
                    data_dir.display().to_string()
                );
                std::fs::write(&config, toml).expect("write the agent's config");
                let log = std::fs::File::create(dir.join("agent.log")).expect("agent log");
                let modified = std::fs::metadata(&binary)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .map_or("?".to_owned(), |e| format!("{} s ago", e.as_secs()));
                println!(
                    "agent: child process {} (built {modified}), RUST_LOG=error",
                    binary.display()
                );
                let child = Command::new(&binary)
                    .arg("--config")
                    .arg(&config)
                    .env("RUST_LOG", "error")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
                Agent {
                    kind: Kind::Child(child),
                    http,
                    mqtt,
                    data_dir,
                    baseline_kb: None,
                }
            }
            None => {
                println!(
                    "agent: in-process (no release binary; RSS below includes the bench's clients)"
                );
                let baseline_kb = proc_status_kb(None, "VmHWM");
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("agent")
                    .enable_all()
                    .build()
                    .expect("agent runtime");
                let config = edge_agent::config::Config {
                    demo: false,
                    demo_tables: 1,
                    data_dir: data_dir.clone(),
                    http_addr: "127.0.0.1:0".parse().expect("addr"),
                    mqtt: edge_agent::mqtt::MqttMode::Embedded { listen: mqtt },
                    staff_token: Some(TOKEN.into()),
                    venue: "Bench Hall".into(),
                    shot_quiet_ms: 0,
                    presence_timeout_ms: 60_000,
                    table_lights: false,
                    cloud: None,
                };
                let shutdown = CancellationToken::new();
                let running = runtime
                    .block_on(edge_agent::start(config, shutdown.clone()))
                    .expect("the agent starts");
                Agent {
                    http: running.http_addr,
                    kind: Kind::InProcess {
                        runtime,
                        shutdown,
                        running,
                    },
                    mqtt,
                    data_dir,
                    baseline_kb,
                }
            }
        }
    }

    fn pid(&self) -> Option<u32> {
        match &self.kind {
            Kind::Child(child) => Some(child.id()),
            Kind::InProcess { .. } => None,
        }
    }

    fn db(&self) -> PathBuf {
        self.data_dir.join("edge.sqlite3")
    }

    fn stop(self) {
        match self.kind {
            Kind::Child(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Kind::InProcess {
                runtime,
                shutdown,
                running,
            } => {
                shutdown.cancel();
                let _ = runtime.block_on(tokio::time::timeout(
                    Duration::from_secs(10),
                    running.stopped,
                ));
                runtime.shutdown_timeout(Duration::from_secs(1));
            }
        }
    }
}

/// A `kB` field of `/proc/<pid>/status` (`None` = this process).
fn proc_status_kb(pid: Option<u32>, field: &str) -> Option<u64> {
    let path = pid.map_or("/proc/self/status".to_owned(), |p| {
        format!("/proc/{p}/status")
    });
    let status = std::fs::read_to_string(path).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: Option<u32>) -> Option<u64> {
    let path = pid.map_or("/proc/self/stat".to_owned(), |p| format!("/proc/{p}/stat"));
    let stat = std::fs::read_to_string(path).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// CPU ticks per thread name (threads of the same name summed).
fn thread_ticks(pid: Option<u32>) -> std::collections::BTreeMap<String, u64> {
    let dir = pid.map_or("/proc/self/task".to_owned(), |p| format!("/proc/{p}/task"));
    let mut out = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks = fields
            .get(11)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        *out.entry(name).or_default() += ticks;
    }
    out
}

/// `name 40 %, …` for the threads that used CPU between two [`thread_ticks`] readings.
fn thread_split(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
    hz: f64,
    secs: f64,
) -> String {
    let mut used: Vec<(u64, &String)> = after
        .iter()
        .map(|(name, t)| (t - before.get(name).copied().unwrap_or(0).min(*t), name))
        .filter(|(t, _)| *t > 0)
        .collect();
    used.sort_unstable_by(|a, b| b.cmp(a));
    used.iter()
        .map(|(t, name)| format!("{name} {:.0} %", *t as f64 / hz / secs * 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

fn clock_ticks_per_s() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

// ---------------------------------------------------------------------------------------------
// MQTT clients
// ---------------------------------------------------------------------------------------------

/// Connects a rumqttc client with `TCP_NODELAY` and waits for the CONNACK (and SUBACK).
async fn mqtt_connect(
    broker: SocketAddr,
    prefix: &str,
    subscribe: Option<(&str, QoS)>,
) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(
        edge_agent::mqtt::unique_client_id(prefix),
        broker.ip().to_string(),
        broker.port(),
    );
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(64 * 1024, 64 * 1024);
    let (client, mut eventloop) = AsyncClient::new(options, 1024);
    eventloop.set_network_options(edge_agent::mqtt::nodelay());
    if let Some((topic, qos)) = subscribe {
        client
            .subscribe(topic, qos)
            .await
            .expect("subscribe queued");
    }
    let wait_for_suback = subscribe.is_some();
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut connected = false;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => connected = true,
                Ok(Event::Incoming(Packet::SubAck(_))) => return,
                Ok(_) => {}
                Err(e) => panic!("MQTT {broker}: {e}"),
            }
            if connected && !wait_for_suback {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no CONNACK/SUBACK from {broker} within 10 s"));
    (client, eventloop)
}

/// Received publishes: (seq from the payload, receive instant).
type Received = Arc<Mutex<Vec<(u64, Instant)>>>;

/// Drives an event loop until `stop`; publishes received are recorded in `sink`.
fn spawn_poll(
    mut eventloop: EventLoop,
    stop: CancellationToken,
    sink: Option<Received>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                () = stop.cancelled() => return,
                event = eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let at = Instant::now();
                    if let Some(sink) = &sink {
                        let seq = serde_json::from_slice::<serde_json::Value>(&p.payload)
                            .ok()
                            .and_then(|v| v["seq"].as_u64())
                            .unwrap_or(u64::MAX);
                        lock(sink).push((seq, at));
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("MQTT event loop: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn message(device: &str, seq: u64, event: DeviceEvent) -> Vec<u8> {
    encode(&DeviceMessage {
        device: device.to_owned(),
        seq,
        ts_ms: Some(edge_agent::now_ms()),
        event,
    })
}

/// Probe event number `i` (0-based): `pocket` of ball `i % 16 + 1`, or `rack` every 16th.
fn probe_event(i: usize) -> DeviceEvent {
    let phase = i % PROBE_CYCLE;
    if phase == PROBE_CYCLE - 1 {
        DeviceEvent::Rack
    } else {
        DeviceEvent::Pocket {
            ball: (phase + 1) as u8,
            pocket: (phase % 6 + 1) as u8,
        }
    }
}

/// Publishes `count` messages `every`, starting after `offset`; returns the send instants.
async fn timed_publisher(
    client: AsyncClient,
    topic: String,
    device: &str,
    start: tokio::time::Instant,
    count: usize,
) -> Vec<Instant> {
    let mut sends = Vec::with_capacity(count);
    let mut tick = tokio::time::interval_at(start, PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for i in 0..count {
        tick.tick().await;
        let payload = message(device, i as u64 + 1, probe_event(i));
        sends.push(Instant::now());
        client
            .publish(topic.clone(), QoS::AtLeastOnce, false, payload)
            .await
            .expect("publish queued");
    }
    sends
}

/// The probe device: `count` events on the probe table from `start`; returns the send instants.
async fn probe_device(
    broker: SocketAddr,
    start: tokio::time::Instant,
    count: usize,
) -> Vec<Instant> {
    let stop = CancellationToken::new();
    let (probe, eventloop) = mqtt_connect(broker, "bench-probe", None).await;
    let poll = spawn_poll(eventloop, stop.clone(), None);
    let sends = timed_publisher(probe, events_topic(PROBE_TABLE), "probe-ctl", start, count).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    let _ = poll.await;
    sends
}

/// A bare MQTT hop: publisher → broker → subscriber, the probe's payload and rate.
async fn mqtt_hop(
    broker: SocketAddr,
    sub_qos: QoS,
    start: tokio::time::Instant,
    count: usize,
) -> Samples {
    let topic = format!(
        "bench/floor/{}-{}",
        std::process::id(),
        edge_agent::mqtt::unique_client_id("t")
    );
    let stop = CancellationToken::new();
    let received: Received = Arc::default();
    let (_sub, sub_loop) = mqtt_connect(broker, "bench-floor-sub", Some((&topic, sub_qos))).await;
    let sub_task = spawn_poll(sub_loop, stop.clone(), Some(received.clone()));
    let (publisher, pub_loop) = mqtt_connect(broker, "bench-floor-pub", None).await;
    let pub_task = spawn_poll(pub_loop, stop.clone(), None);
    let sends = timed_publisher(publisher, topic, "floor-pub", start, count).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    let _ = tokio::join!(sub_task, pub_task);
    let mut samples = Samples::new(count);
    for &(seq, at) in lock(&received).iter() {
        if let Some(sent) = seq.checked_sub(1).and_then(|i| sends.get(i as usize)) {
            samples.push(at.saturating_duration_since(*sent));
        }
    }
    samples
}

// ---------------------------------------------------------------------------------------------
// Load: controllers and cameras
// ---------------------------------------------------------------------------------------------

/// A table controller: a shot per second (`pocket` of the lowest ball, then `end_turn`), nine-ball
/// run-outs in a race to 1000, until `stop` or `max` events.
async fn controller(
    client: AsyncClient,
    table: String,
    offset: Duration,
    max: u64,
    stop: CancellationToken,
) {
    let device = format!("ctl-{table}");
    let topic = events_topic(&table);
    let every = Duration::from_millis(1000 / CONTROLLER_EVENTS_PER_S);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, every);
    for seq in 1..=max {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let n = seq - 1;
        let event = if n % 2 == 0 {
            DeviceEvent::Pocket {
                ball: ((n / 2) % 9 + 1) as u8,
                pocket: ((n / 2) % 6 + 1) as u8,
            }
        } else {
            DeviceEvent::Button {
                button: Button::EndTurn,
            }
        };
        let _ = client
            .publish(
                topic.clone(),
                QoS::AtLeastOnce,
                false,
                message(&device, seq, event),
            )
            .await;
    }
}

/// A camera: 30 `frame`s/s of 10 moving balls (QoS 0), until `stop` or `max` frames. Returns the
/// frames sent.
async fn camera(
    client: AsyncClient,
    table: String,
    offset: Duration,
    max: u64,
    stop: CancellationToken,
) -> u64 {
    let device = format!("cam-{table}");
    let topic = camera_topic(&table);
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + offset,
        Duration::from_micros(1_000_000 / CAMERA_FPS),
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent = 0;
    for seq in 1..=max {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let t = seq as f32 / 300.0;
        let balls = (0..10u8)
            .map(|n| BallPosition {
                n,
                x: (0.1 + 0.08 * f32::from(n) + 0.01 * (t * f32::from(n + 1)).sin())
                    .clamp(0.0, 1.0),
                y: (0.5 + 0.3 * (t + f32::from(n)).cos()).clamp(0.0, 1.0),
            })
            .collect();
        let payload = message(&device, seq, DeviceEvent::Frame { balls });
        if client
            .publish(topic.clone(), QoS::AtMostOnce, false, payload)
            .await
            .is_ok()
        {
            sent += 1;
        }
    }
    sent
}

// ---------------------------------------------------------------------------------------------
// WebSocket screens
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct ScreenStats {
    /// Probe updates: (balls in the pending shot, receive instant).
    probe: Vec<(usize, Instant)>,
    updates: u64,
    positions: u64,
    snapshots: u64,
    errors: u64,
}

/// Reads `/ws{query}` until `stop` (or the socket ends), recording what arrives.
async fn screen(url: String, stats: Arc<Mutex<ScreenStats>>, stop: CancellationToken) {
    let mut ws = match tokio_tungstenite::connect_async(&url).await {
        Ok((ws, _)) => ws,
        Err(e) => {
            eprintln!("WebSocket {url}: {e}");
            lock(&stats).errors += 1;
            return;
        }
    };
    let probe_marker = format!(r#""table":{{"table":"{PROBE_TABLE}""#);
    loop {
        let next = tokio::select! {
            () = stop.cancelled() => break,
            next = ws.next() => next,
        };
        let at = Instant::now();
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => {
                lock(&stats).errors += 1;
                break;
            }
        };
        let text = text.as_str();
        let mut stats = lock(&stats);
        if text.starts_with(r#"{"type":"positions""#) {
            stats.positions += 1;
        } else if text.starts_with(r#"{"type":"update""#) {
            stats.updates += 1;
            if text.contains(&probe_marker) {
                if let Some(balls) = pending_balls(text) {
                    stats.probe.push((balls, at));
                }
            }
        } else if text.starts_with(r#"{"type":"snapshot""#) {
            stats.snapshots += 1;
        }
    }
    let _ = ws.close(None).await;
}

/// The number of balls in a view's pending shot (`"shot":{"open":..,"pocketed":[..]`), without
/// parsing the whole message (500 screens would spend the bench's CPU on it).
fn pending_balls(text: &str) -> Option<usize> {
    let shot = &text[text.find(r#""shot":{"open":"#)?..];
    let list = &shot[shot.find(r#""pocketed":["#)? + 12..];
    let list = &list[..list.find(']')?];
    Some(if list.is_empty() {
        0
    } else {
        list.matches(',').count() + 1
    })
}

/// Maps each probe update to the probe event it shows: the newest event sent at or before it was
/// received whose position in the 16-event cycle leaves that many balls pending.
fn probe_latencies(sends: &[Instant], received: &[(usize, Instant)], samples: &mut Samples) {
    for &(balls, at) in received {
        let phase = if balls == 0 {
            PROBE_CYCLE - 1
        } else {
            balls - 1
        };
        let upto = sends.partition_point(|s| *s <= at);
        let Some(last) = upto.checked_sub(1) else {
            continue;
        };
        let back = (last % PROBE_CYCLE + PROBE_CYCLE - phase) % PROBE_CYCLE;
        if let Some(i) = last.checked_sub(back) {
            samples.push(at.saturating_duration_since(sends[i]));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Samples {
    expected: usize,
    micros: Vec<u64>,
}

impl Samples {
    fn new(expected: usize) -> Samples {
        Samples {
            expected,
            micros: Vec::new(),
        }
    }

    fn push(&mut self, d: Duration) {
        self.micros
            .push(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    fn quantile(&mut self, q: f64) -> Option<f64> {
        if self.micros.is_empty() {
            return None;
        }
        self.micros.sort_unstable();
        let i = ((self.micros.len() as f64 - 1.0) * q).round() as usize;
        Some(self.micros[i] as f64 / 1000.0)
    }

    fn row(&mut self, name: &str) -> String {
        let (p50, p99, p999, max) = (
            self.quantile(0.5),
            self.quantile(0.99),
            self.quantile(0.999),
            self.quantile(1.0),
        );
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        format!(
            "| {name} | {} | {} | {} | {} | {} of {} |",
            ms(p50),
            ms(p99),
            ms(p999),
            ms(max),
            self.micros.len(),
            self.expected
        )
    }
}

/// A counter or histogram field of the agent's `/metrics` (summed over labels).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scrape(http: &reqwest::Client, agent: SocketAddr) -> String {
    match http.get(format!("http://{agent}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

/// Where the figures go (stdout, as Markdown).
struct Figures;

impl Figures {
    fn line(&mut self, line: impl Into<String>) {
        println!("{}", line.into());
    }
}

async fn start_match(http: &reqwest::Client, agent: SocketAddr, table: &str) {
    let spec = serde_json::json!({"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 1000, "break": "alternate"});
    let response = http
        .post(format!("http://{agent}/api/v1/tables/{table}/matches"))
        .bearer_auth(TOKEN)
        .json(&spec)
        .send()
        .await
        .expect("HTTP answers");
    assert_eq!(response.status().as_u16(), 201, "start a match on {table}");
}

async fn wait_healthy(http: &reqwest::Client, agent: SocketAddr) {
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("http://{agent}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the agent did not answer /healthz within 10 s");
}

async fn mosquitto_reachable() -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect("127.0.0.1:1883"),
        )
        .await,
        Ok(Ok(_))
    )
}

#[allow(clippy::too_many_lines)]
async fn run(params: &Params, agent: &Agent, measure: &tokio::runtime::Handle, out: &mut Figures) {
    let http = reqwest::Client::new();
    wait_healthy(&http, agent.http).await;
    let pid = agent.pid();
    let hz = clock_ticks_per_s();

    // Matches, then screens.
    let tables: Vec<String> = (0..params.tables).map(|i| params.table(i)).collect();
    for table in tables.iter().map(String::as_str).chain([PROBE_TABLE]) {
        start_match(&http, agent.http, table).await;
    }
    let rss_idle = proc_status_kb(pid, "VmRSS");
    let screens_stop = CancellationToken::new();
    let mut screens = Vec::new();
    let mut screen_tasks = Vec::new();
    // Table screens overview..overview+measuring run on the measuring thread.
    let measuring = params.overview..(params.overview + params.measuring).min(params.clients);
    for i in 0..params.clients {
        let query = if i < params.overview {
            String::new()
        } else {
            format!("?tables={},{PROBE_TABLE}", params.table(i))
        };
        let stats = Arc::new(Mutex::new(ScreenStats::default()));
        screens.push(stats.clone());
        let task = screen(
            format!("ws://{}/ws{query}", agent.http),
            stats,
            screens_stop.clone(),
        );
        screen_tasks.push(if measuring.contains(&i) {
            measure.spawn(task)
        } else {
            tokio::spawn(task)
        });
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Every screen has its snapshot before the load starts (bounded wait).
    for _ in 0..300 {
        if screens.iter().all(|s| {
            let s = lock(s);
            s.snapshots > 0 || s.errors > 0
        }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connected = screens.iter().filter(|s| lock(s).snapshots > 0).count();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_screens = proc_status_kb(pid, "VmRSS");

    // Devices.
    let load_stop = CancellationToken::new();
    let load_secs = (WARMUP + params.measure).as_secs() + 5;
    let mut pollers = Vec::new();
    let mut controllers = Vec::new();
    let mut cameras = Vec::new();
    for (i, table) in tables.iter().enumerate() {
        let stagger = Duration::from_micros(1_000_000 * i as u64 / params.tables as u64);
        let (ctl, ctl_loop) = mqtt_connect(agent.mqtt, "bench-ctl", None).await;
        pollers.push(spawn_poll(ctl_loop, load_stop.clone(), None));
        controllers.push(tokio::spawn(controller(
            ctl,
            table.clone(),
            stagger / 2,
            CONTROLLER_EVENTS_PER_S * load_secs,
            load_stop.clone(),
        )));
        let (cam, cam_loop) = mqtt_connect(agent.mqtt, "bench-cam", None).await;
        pollers.push(spawn_poll(cam_loop, load_stop.clone(), None));
        cameras.push(tokio::spawn(camera(
            cam,
            table.clone(),
            stagger / CAMERA_FPS as u32,
            CAMERA_FPS * load_secs,
            load_stop.clone(),
        )));
    }
    let mosquitto: Option<SocketAddr> = mosquitto_reachable()
        .await
        .then(|| ([127, 0, 0, 1], 1883).into());

    tokio::time::sleep(WARMUP).await;

    // Latency phase.
    let count = (params.measure.as_millis() / PROBE_EVERY.as_millis()) as usize;
    let before: Vec<(u64, u64)> = screens
        .iter()
        .map(|s| {
            let s = lock(s);
            (s.updates, s.positions)
        })
        .collect();
    let metrics_before = scrape(&http, agent.http).await;
    let (t0, ticks0, threads0) = (Instant::now(), cpu_ticks(pid), thread_ticks(pid));
    // Probe and floors run on the measuring thread, 5 ms apart, from a common start.
    let start = tokio::time::Instant::now() + Duration::from_secs(1);
    let at = |ms: u64| start + Duration::from_millis(ms);
    let probe_run = measure.spawn(probe_device(agent.mqtt, at(0), count));
    let floor_q1 = measure.spawn(mqtt_hop(agent.mqtt, QoS::AtLeastOnce, at(5), count));
    let floor_q0 = measure.spawn(mqtt_hop(agent.mqtt, QoS::AtMostOnce, at(10), count));
    let mosq = mosquitto.map(|m| measure.spawn(mqtt_hop(m, QoS::AtLeastOnce, at(15), count)));
    let sends = probe_run.await.expect("probe");
    let mut floor_q1 = floor_q1.await.expect("floor");
    let mut floor_q0 = floor_q0.await.expect("floor");
    let mosq = match mosq {
        Some(m) => Some(m.await.expect("mosquitto hop")),
        None => None,
    };
    let (elapsed, ticks1, threads1) = (t0.elapsed(), cpu_ticks(pid), thread_ticks(pid));
    let metrics_after = scrape(&http, agent.http).await;
    let mut probe_samples = Samples::new(count * connected);
    let mut measured_samples = Samples::new(count * measuring.len());
    let (mut updates, mut positions) = (0u64, 0u64);
    for (i, (s, (u0, p0))) in screens.iter().zip(&before).enumerate() {
        let s = lock(s);
        probe_latencies(&sends, &s.probe, &mut probe_samples);
        if measuring.contains(&i) {
            probe_latencies(&sends, &s.probe, &mut measured_samples);
        }
        updates += s.updates - u0;
        positions += s.positions - p0;
    }
    let rss_latency = proc_status_kb(pid, "VmRSS");
    load_stop.cancel();
    let mut frames = 0;
    for c in cameras {
        frames += c.await.unwrap_or(0);
    }
    for c in controllers {
        let _ = c.await;
    }
    for p in pollers {
        let _ = p.await;
    }

    out.line(String::new());
    out.line(format!(
        "## Latency: {} s, {} tables × ({} events/s + {} frames/s), probe every {} ms, {} screens ({} overview, {connected} connected)",
        params.measure.as_secs(),
        params.tables,
        CONTROLLER_EVENTS_PER_S,
        CAMERA_FPS,
        PROBE_EVERY.as_millis(),
        params.clients,
        params.overview
    ));
    out.line(String::new());
    out.line("| path | p50 ms | p99 ms | p99.9 ms | max ms | samples |");
    out.line("|---|---|---|---|---|---|");
    out.line(measured_samples.row(&format!(
        "agent: probe event → WebSocket, {} screens on the measuring thread",
        measuring.len()
    )));
    out.line(probe_samples.row(&format!(
        "agent: probe event → WebSocket, all {connected} screens (load generator included)"
    )));
    out.line(floor_q1.row("bare hop, embedded rumqttd, QoS 1 sub (floor)"));
    out.line(floor_q0.row("bare hop, embedded rumqttd, QoS 0 sub"));
    match mosq {
        Some(mut m) => out.line(m.row("bare hop, Mosquitto 127.0.0.1:1883, QoS 1 sub")),
        None => out.line("| bare hop, Mosquitto | not reachable on 127.0.0.1:1883 | | | | |"),
    }
    let p99_gap = measured_samples
        .quantile(0.99)
        .zip(floor_q1.quantile(0.99))
        .map(|(a, f)| a - f);
    out.line(String::new());
    if let Some(gap) = p99_gap {
        out.line(format!(
            "p99 agent − p99 floor = {gap:.2} ms (target ≤ 2 ms: {})",
            if gap <= 2.0 { "met" } else { "MISSED" }
        ));
    }
    let secs = elapsed.as_secs_f64();
    out.line(format!(
        "WebSocket messages received: {:.0}/s updates, {:.0}/s positions; camera frames published: {frames} ({:.0}/s); positions delivered per screen-table ≈ {:.1}/s of {CAMERA_FPS}",
        updates as f64 / secs,
        positions as f64 / secs,
        frames as f64 / (WARMUP + params.measure).as_secs_f64(),
        positions as f64 / secs / (params.overview * params.tables + (params.clients - params.overview)).max(1) as f64,
    ));
    if let (Some(a), Some(b)) = (ticks0, ticks1) {
        out.line(format!(
            "agent CPU during the latency phase: {:.0} % of one core ({})",
            (b - a) as f64 / hz / secs * 100.0,
            thread_split(&threads0, &threads1, hz, secs)
        ));
    }
    out.line(format!(
        "agent counters during the phase: committed {:.0} events in {:.0} transactions, resnapshots {:.0}, missing events {:.0}",
        metric(&metrics_after, "dojo_commit_batch_events_sum") - metric(&metrics_before, "dojo_commit_batch_events_sum"),
        metric(&metrics_after, "dojo_commit_batch_events_count") - metric(&metrics_before, "dojo_commit_batch_events_count"),
        metric(&metrics_after, "dojo_ws_resnapshots_total") - metric(&metrics_before, "dojo_ws_resnapshots_total"),
        metric(&metrics_after, "dojo_events_missing_total") - metric(&metrics_before, "dojo_events_missing_total"),
    ));

    // Durable throughput.
    let db = agent.db();
    let per_device = params.burst / params.tables as u64;
    let total = per_device * params.tables as u64;
    let seq_before = max_seq(&db);
    let mut burst = Vec::new();
    let burst_stop = CancellationToken::new();
    let mut burst_pollers = Vec::new();
    for table in &tables {
        let (client, eventloop) = mqtt_connect(agent.mqtt, "bench-burst", None).await;
        burst_pollers.push(spawn_poll(eventloop, burst_stop.clone(), None));
        burst.push((client, table.clone()));
    }
    let metrics_before = scrape(&http, agent.http).await;
    let (t0, ticks0, threads0) = (Instant::now(), cpu_ticks(pid), thread_ticks(pid));
    let per_device_rate = params.rate as f64 / params.tables.max(1) as f64;
    let publishers: Vec<JoinHandle<Duration>> = burst
        .into_iter()
        .map(|(client, table)| {
            tokio::spawn(async move {
                let device = format!("burst-{table}");
                let topic = events_topic(&table);
                for seq in 1..=per_device {
                    // Paced: publish in steps of 50, each at its scheduled time.
                    if per_device_rate > 0.0 && seq % 50 == 0 {
                        let due = t0 + Duration::from_secs_f64(seq as f64 / per_device_rate);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let payload = message(&device, seq, probe_event(seq as usize - 1));
                    if client
                        .publish(topic.clone(), QoS::AtLeastOnce, false, payload)
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                t0.elapsed()
            })
        })
        .collect();
    let db_poll = db.clone();
    let (committed_at, last_seq) =
        tokio::task::spawn_blocking(move || wait_committed(&db_poll, seq_before, total, t0))
            .await
            .expect("poller");
    let mut published = Duration::ZERO;
    for p in publishers {
        published = published.max(p.await.unwrap_or_default());
    }
    let (ticks1, threads1, burst_secs) = (
        cpu_ticks(pid),
        thread_ticks(pid),
        t0.elapsed().as_secs_f64(),
    );
    let (mut burst_committed, _) = burst_rows(&db, seq_before);
    if burst_committed < total {
        // Give the agent's gap detection (5 s) time to count what it noticed missing.
        tokio::time::sleep(Duration::from_secs(7)).await;
    }
    let metrics_after = scrape(&http, agent.http).await;
    burst_stop.cancel();
    for p in burst_pollers {
        let _ = p.await;
    }
    let sample_row;
    (burst_committed, sample_row) = burst_rows(&db, seq_before);
    let highest = highest_device_seqs(&db, seq_before);
    let batches = metric(&metrics_after, "dojo_commit_batch_events_count")
        - metric(&metrics_before, "dojo_commit_batch_events_count");
    let batched = metric(&metrics_after, "dojo_commit_batch_events_sum")
        - metric(&metrics_before, "dojo_commit_batch_events_sum");
    let mean_batch = if batches > 0.0 {
        batched / batches
    } else {
        1.0
    };
    let rate = burst_committed as f64 / committed_at.as_secs_f64();
    let rss_after_burst = proc_status_kb(pid, "VmRSS");

    out.line(String::new());
    out.line(format!(
        "## Durable throughput: {total} events from {} devices (QoS 1, offered at {}), {connected} screens connected",
        params.tables,
        if params.rate > 0 { format!("{} events/s", params.rate) } else { "full speed".to_owned() }
    ));
    out.line(String::new());
    out.line("| what | events | seconds | events/s |");
    out.line("|---|---|---|---|");
    out.line(format!(
        "| agent: MQTT → SQLite commit | {burst_committed} of {total} | {:.2} | {rate:.0} |",
        committed_at.as_secs_f64()
    ));
    let floor = sample_row.map(|(input, view)| {
        let batch = (mean_batch.round() as usize).max(1);
        let dir = agent
            .data_dir
            .parent()
            .unwrap_or(&agent.data_dir)
            .join("floor");
        let (rows, took) = sqlite_floor(&dir, total, batch, &input, &view);
        (batch, rows, took, view.len())
    });
    if let Some((batch, rows, took, view_len)) = floor {
        let floor_rate = rows as f64 / took.as_secs_f64();
        out.line(format!(
            "| floor: raw SQLite, same rows, WAL + FULL, {batch} events/transaction | {rows} | {:.2} | {floor_rate:.0} |",
            took.as_secs_f64(),
        ));
        out.line(String::new());
        out.line(format!(
            "agent ÷ floor = {:.2}; publishers had queued everything after {:.2} s; last seq {last_seq}; mean group commit {mean_batch:.1} events ({batches:.0} transactions); view JSON {view_len} B",
            rate / floor_rate,
            published.as_secs_f64(),
        ));
    }
    out.line(format!(
        "burst devices: committed per device min {} / max {} of {per_device}; highest device seq committed min {} / max {}",
        highest.iter().map(|h| h.1).min().unwrap_or(0),
        highest.iter().map(|h| h.1).max().unwrap_or(0),
        highest.iter().map(|h| h.0).min().unwrap_or(0),
        highest.iter().map(|h| h.0).max().unwrap_or(0),
    ));
    out.line(format!(
        "target ≥ 20,000 durable events/s: {}",
        if rate >= 20_000.0 && burst_committed == total {
            "met"
        } else {
            "MISSED"
        }
    ));
    if let (Some(a), Some(b)) = (ticks0, ticks1) {
        let secs = burst_secs;
        out.line(format!(
            "agent CPU during the burst: {:.0} % of one core ({})",
            (b - a) as f64 / hz / secs * 100.0,
            thread_split(&threads0, &threads1, hz, secs)
        ));
    }
    out.line(format!(
        "agent counters during the burst: missing events {:.0}, duplicates {:.0}, rejected {:.0}",
        metric(&metrics_after, "dojo_events_missing_total")
            - metric(&metrics_before, "dojo_events_missing_total"),
        metric(&metrics_after, "dojo_events_duplicate_total")
            - metric(&metrics_before, "dojo_events_duplicate_total"),
        metric(&metrics_after, "dojo_events_rejected_total")
            - metric(&metrics_before, "dojo_events_rejected_total"),
    ));

    // Memory.
    let hwm = proc_status_kb(pid, "VmHWM");
    out.line(String::new());
    out.line("## Memory");
    out.line(String::new());
    let mb =
        |kb: Option<u64>| kb.map_or("?".to_owned(), |kb| format!("{:.1} MB", kb as f64 / 1024.0));
    match pid {
        Some(_) => {
            out.line(format!(
                "agent peak RSS (VmHWM): {} (target ≤ 64 MB: {}); RSS idle with 33 matches {}, with {connected} screens {}, after the latency phase {}, after the burst {}",
                mb(hwm),
                if hwm.is_some_and(|kb| kb <= 64 * 1024) { "met" } else { "MISSED" },
                mb(rss_idle),
                mb(rss_screens),
                mb(rss_latency),
                mb(rss_after_burst)
            ));
        }
        None => {
            out.line(format!(
                "bench process peak RSS (agent + all clients): {}; before the agent started: {}",
                mb(hwm),
                mb(agent.baseline_kb)
            ));
        }
    }

    screens_stop.cancel();
    for t in screen_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let errors: u64 = screens.iter().map(|s| lock(s).errors).sum();
    if errors > 0 {
        out.line(format!("WebSocket errors: {errors}"));
    }
}

fn read_only(db: &Path) -> rusqlite::Connection {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the agent's database read-only");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    conn
}

fn max_seq(db: &Path) -> u64 {
    read_only(db)
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_or(0, |v| u64::try_from(v).unwrap_or(0))
}

/// Polls the highest seq of a committed *device* event until `total` more events are committed, or
/// nothing moves for 5 s, or 120 s pass. Returns the time of the last progress and the last seq.
/// (Device events only: the agent's own `missing` inputs, committed when a gap times out 5 s
/// later, are not throughput.)
fn wait_committed(db: &Path, before: u64, total: u64, t0: Instant) -> (Duration, u64) {
    let conn = read_only(db);
    let (mut last, mut last_change) = (before, t0.elapsed());
    for _ in 0..12_000 {
        let seq = conn
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM events WHERE device IS NOT NULL",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_or(last, |v| u64::try_from(v).unwrap_or(0));
        if seq != last {
            last = seq;
            last_change = t0.elapsed();
        }
        if last >= before + total || t0.elapsed() - last_change > Duration::from_secs(5) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (last_change, last)
}

/// Burst events committed after `before`, and one of their (input, view) rows.
fn burst_rows(db: &Path, before: u64) -> (u64, Option<(String, String)>) {
    let conn = read_only(db);
    let before = i64::try_from(before).unwrap_or(i64::MAX);
    let count: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM events WHERE seq > ?1 AND device LIKE 'burst-%'",
            [before],
            |r| r.get(0),
        )
        .unwrap_or(0);
    let row = conn
        .query_row(
            "SELECT input, view FROM events WHERE seq > ?1 AND device LIKE 'burst-%' ORDER BY seq DESC LIMIT 1",
            [before],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok();
    (u64::try_from(count).unwrap_or(0), row)
}

/// Per burst device: (highest device seq committed, events committed).
fn highest_device_seqs(db: &Path, before: u64) -> Vec<(u64, u64)> {
    let conn = read_only(db);
    let before = i64::try_from(before).unwrap_or(i64::MAX);
    let Ok(mut stmt) = conn.prepare(
        "SELECT MAX(device_seq), COUNT(*) FROM events WHERE seq > ?1 AND device LIKE 'burst-%' GROUP BY device",
    ) else {
        return Vec::new();
    };
    stmt.query_map([before], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .map(|rows| {
            rows.flatten()
                .map(|(a, b)| (u64::try_from(a).unwrap_or(0), u64::try_from(b).unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// The store's rows for `total` events (event log row, table view upsert, device mark upsert),
/// written in transactions of `batch` events, WAL + `synchronous=FULL`, like the agent's writer.
/// Stops after 30 s; returns (events written, time).
fn sqlite_floor(dir: &Path, total: u64, batch: usize, input: &str, view: &str) -> (u64, Duration) {
    std::fs::create_dir_all(dir).expect("floor dir");
    let mut conn = rusqlite::Connection::open(dir.join("floor.sqlite3")).expect("floor db");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("WAL");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("FULL");
    conn.execute_batch(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, table_id TEXT NOT NULL, received_ms INTEGER NOT NULL,
             device TEXT, device_seq INTEGER, input TEXT NOT NULL, view TEXT NOT NULL);
         CREATE INDEX events_by_table ON events (table_id, seq);
         CREATE TABLE tables (table_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, match_start_seq INTEGER, view TEXT NOT NULL);
         CREATE TABLE devices (device TEXT PRIMARY KEY, table_id TEXT NOT NULL, last_seq INTEGER NOT NULL,
             missing TEXT NOT NULL, last_seen_ms INTEGER NOT NULL);",
    )
    .expect("floor schema");
    let tables: Vec<String> = (1..=32).map(|t| format!("t{t:02}")).collect();
    let devices: Vec<String> = tables.iter().map(|t| format!("burst-{t}")).collect();
    let t0 = Instant::now();
    let mut seq = 0u64;
    while seq < total && t0.elapsed() < Duration::from_secs(30) {
        let tx = conn.transaction().expect("begin");
        {
            let mut event = tx
                .prepare_cached("INSERT INTO events (seq, table_id, received_ms, device, device_seq, input, view) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .expect("prepare");
            let mut table = tx
                .prepare_cached("INSERT INTO tables (table_id, seq, match_start_seq, view) VALUES (?1, ?2, CASE WHEN ?3 THEN ?2 END, ?4)
                     ON CONFLICT (table_id) DO UPDATE SET seq = excluded.seq, view = excluded.view,
                       match_start_seq = CASE WHEN ?3 THEN excluded.seq ELSE tables.match_start_seq END")
                .expect("prepare");
            let mut device = tx
                .prepare_cached("INSERT INTO devices (device, table_id, last_seq, missing, last_seen_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (device) DO UPDATE SET table_id = excluded.table_id, last_seq = excluded.last_seq,
                       missing = excluded.missing, last_seen_ms = excluded.last_seen_ms")
                .expect("prepare");
            for _ in 0..batch {
                if seq >= total {
                    break;
                }
                seq += 1;
                let k = (seq % 32) as usize;
                let now = i64::try_from(edge_agent::now_ms()).unwrap_or(0);
                let s = i64::try_from(seq).unwrap_or(i64::MAX);
                event
                    .execute(rusqlite::params![
                        s,
                        tables[k],
                        now,
                        devices[k],
                        s / 32,
                        input,
                        view
                    ])
                    .expect("insert event");
                table
                    .execute(rusqlite::params![tables[k], s, false, view])
                    .expect("upsert table");
                device
                    .execute(rusqlite::params![devices[k], tables[k], s / 32, "[]", now])
                    .expect("upsert device");
            }
        }
        tx.commit().expect("commit");
    }
    (seq, t0.elapsed())
}

fn main() {
    let params = Params::from_env();
    let dir = std::env::temp_dir().join(format!(
        "dojo-bench-pipeline-{}-{}",
        std::process::id(),
        edge_agent::now_ms()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut out = Figures;
    println!(
        "edge-agent pipeline bench: {} tables, {} screens, {} s measured, burst {} events; data in {}",
        params.tables,
        params.clients,
        params.measure.as_secs(),
        params.burst,
        dir.display()
    );
    let agent = Agent::start(&dir);
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-clients")
        .enable_all()
        .build()
        .expect("client runtime");
    let measure = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-measure")
        .enable_all()
        .build()
        .expect("measuring runtime");
    clients.block_on(run(&params, &agent, measure.handle(), &mut out));
    clients.shutdown_timeout(Duration::from_secs(2));
    measure.shutdown_timeout(Duration::from_secs(2));
    let log = std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default();
    agent.stop();
    if !log.trim().is_empty() {
        let mut tail = String::new();
        for line in log
            .lines()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            let _ = writeln!(tail, "  {line}");
        }
        println!("\nagent log (last lines):\n{tail}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
