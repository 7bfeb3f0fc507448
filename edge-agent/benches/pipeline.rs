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
//!    following one table (round robin) plus the featured `probe` table (the counts are knobs, below).
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
//!    (`DOJO_BENCH_MEASURING`) run on their own 1-thread runtime ("measuring thread"), at normal
//!    priority. The load — the other 484 screens, the controllers and the cameras — runs, after
//!    `DOJO_BENCH_LOAD`: `idle` (default) in a child process (this binary again,
//!    `DOJO_BENCH_ROLE=load`) under `nice -n 19` and `SCHED_IDLE`, which models a venue where
//!    screens and devices are other machines and only get the CPU the agent leaves; `nice`: the
//!    same at nice 19 only; `inline`: on this process's 2-thread runtime at normal priority (runs
//!    A–E; the "all screens" row is then printed too). Every load screen is still a real WebSocket
//!    client reading every update; the bench prints how many probe updates they received.
//!    Also in the phase: the disk's floor, one event row committed into a separate SQLite file
//!    (WAL + `synchronous=FULL`) every 20 ms from a thread of its own; and the agent's own stage
//!    histograms (`dojo_stage_seconds`, `dojo_commit_seconds` of `/metrics`, scraped before and
//!    after): MQTT receipt → view built → committed → queued for every client → written to each
//!    client's socket.
//! 4. **Durable throughput.** Controllers and cameras stop (screens stay connected); 32 fresh
//!    devices publish 200,000 valid events (QoS 1) as fast as they can; the time until the last is
//!    committed (polled read-only in SQLite) gives events/s. Floor: the same rows (event + table
//!    view + device mark per event, the agent's own input and view JSON) inserted into a fresh SQLite
//!    file, WAL + `synchronous=FULL`, in transactions of the agent's mean group-commit size.
//!
//! Knobs (environment): `DOJO_BENCH_LOAD` (`idle`, see 3.), `DOJO_BENCH_TABLES` (32, at most
//! 99), `DOJO_BENCH_CLIENTS` (500 screens), `DOJO_BENCH_OVERVIEW` (32 of them),
//! `DOJO_BENCH_MEASURING` (16), `DOJO_BENCH_SECS`
//! (10), `DOJO_BENCH_BURST` (200000), `DOJO_BENCH_RATE` (25000 events/s offered in the durable
//! phase, paced per device; 0 = as fast as the publishers can, which overruns the embedded broker's
//! buffer for the agent), `DOJO_BENCH_AGENT` (see above), `DOJO_BENCH_DIRECT` (`on`/`off`: the
//! agent's `--ws-direct-writes`; unset = the agent's default).
//!
//! The fan-out's two modes at a venue's size and at the 500-screen case:
//! `DOJO_BENCH_CLIENTS=100 DOJO_BENCH_DIRECT=on|off` and `DOJO_BENCH_DIRECT=on|off`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use shared::protocol::{
    BallPosition, Button, DeviceEvent, DeviceMessage, camera_topic, encode, events_topic,
};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

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
    /// The agent's WebSocket direct writes (`--ws-direct-writes`); `None` = its default.
    direct: Option<bool>,
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
            tables: env_or("DOJO_BENCH_TABLES", 32_usize).clamp(1, 99),
            clients: env_or("DOJO_BENCH_CLIENTS", 500),
            overview: env_or("DOJO_BENCH_OVERVIEW", 32),
            measuring: env_or("DOJO_BENCH_MEASURING", 16),
            measure: Duration::from_secs(env_or("DOJO_BENCH_SECS", 10)),
            burst: env_or("DOJO_BENCH_BURST", 200_000),
            rate: env_or("DOJO_BENCH_RATE", 25_000),
            direct: match std::env::var("DOJO_BENCH_DIRECT").as_deref() {
                Ok("on") => Some(true),
                Ok("off") => Some(false),
                Ok(other) => panic!("DOJO_BENCH_DIRECT={other:?}: use on or off"),
                Err(_) => None,
            },
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
        running: Box<edge_agent::Running>,
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

/// The tables the agent declares (its registry refuses any other): `t01`…`t99` and the probe's.
fn bench_tables() -> Vec<String> {
    (1..=99)
        .map(|t| format!("t{t:02}"))
        .chain([PROBE_TABLE.to_owned()])
        .collect()
}

impl Agent {
    fn start(dir: &Path, direct: Option<bool>) -> Agent {
        let data_dir = dir.join("data");
        let mqtt: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        match agent_binary() {
            Some(binary) => {
                let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
                let config = dir.join("bench.toml");
                let toml = format!(
                    "data_dir = {:?}\nhttp_addr = \"{http}\"\nmqtt_addr = \"{mqtt}\"\nstaff_token = \"{TOKEN}\"\nvenue = \"Bench Hall\"\nshot_quiet_ms = 0\npresence_timeout_ms = 60000\ntables = {:?}\n",
                    data_dir.display().to_string(),
                    bench_tables()
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
                let mut command = Command::new(&binary);
                if let Some(direct) = direct {
                    command.env("DOJO_WS_DIRECT_WRITES", if direct { "on" } else { "off" });
                }
                let child = command
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
                    ws_direct_writes: direct.unwrap_or(true),
                    camera_shot_timeout_ms: 20_000,
                    call_timeout_ms: 600_000,
                    tables: bench_tables(),
                    // The bench's devices publish without credentials.
                    allow_anonymous_devices: true,
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
                        running: Box::new(running),
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
                // The timer is made inside the runtime: tokio's timers need one to be created.
                let _ = runtime.block_on(async {
                    tokio::time::timeout(Duration::from_secs(10), running.stopped).await
                });
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

/// utime + stime of a process (this one without a child agent), in clock ticks.
fn cpu_ticks(pid: Option<u32>) -> Option<u64> {
    dojo_testkit::proc::cpu_ticks(pid.unwrap_or_else(std::process::id))
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
        ts_ms: Some(edge_agent::clock::now_ms()),
        boot: None,
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
            if text.contains(&probe_marker)
                && let Some(balls) = pending_balls(text)
            {
                stats.probe.push((balls, at));
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
// The load generator: in this process, or a child process at the lowest CPU priority
// ---------------------------------------------------------------------------------------------

/// Where the load screens, controllers and cameras run (`DOJO_BENCH_LOAD`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LoadMode {
    /// A child process (this bench binary again) under `nice -n 19` and `SCHED_IDLE`
    /// (`chrt --idle 0`): the load gets only CPU the agent and the measuring thread leave, as if
    /// the screens and devices were elsewhere in the venue. The default.
    Idle,
    /// The same child at `nice -n 19` only.
    Nice,
    /// On this process's 2-thread client runtime at normal priority (runs A–E).
    Inline,
}

impl LoadMode {
    fn from_env() -> LoadMode {
        match std::env::var("DOJO_BENCH_LOAD").as_deref() {
            Ok("inline") => LoadMode::Inline,
            Ok("nice") => LoadMode::Nice,
            _ => LoadMode::Idle,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            LoadMode::Idle => {
                "load screens, controllers and cameras in a child process at nice 19 + SCHED_IDLE (remote devices)"
            }
            LoadMode::Nice => {
                "load screens, controllers and cameras in a child process at nice 19 (remote devices)"
            }
            LoadMode::Inline => {
                "load screens, controllers and cameras in the bench process at normal priority"
            }
        }
    }
}

fn screen_query(params: &Params, i: usize) -> String {
    if i < params.overview {
        String::new()
    } else {
        format!("?tables={},{PROBE_TABLE}", params.table(i))
    }
}

/// Screens by index: `0..overview` follow every table, the others one table plus the probe; the
/// measuring screens are `overview..overview + measuring`.
fn measuring_screens(params: &Params) -> std::ops::Range<usize> {
    params.overview..(params.overview + params.measuring).min(params.clients)
}

fn load_screens(params: &Params) -> Vec<usize> {
    let measuring = measuring_screens(params);
    (0..params.clients)
        .filter(|i| !measuring.contains(i))
        .collect()
}

type Screens = Vec<Arc<Mutex<ScreenStats>>>;

/// Connects the screens `indices` on `on`, 50 at a time.
async fn spawn_screens(
    http: SocketAddr,
    params: &Params,
    indices: &[usize],
    stop: &CancellationToken,
    on: &tokio::runtime::Handle,
) -> (Screens, Vec<JoinHandle<()>>) {
    let mut screens = Vec::new();
    let mut tasks = Vec::new();
    for (n, &i) in indices.iter().enumerate() {
        let stats = Arc::new(Mutex::new(ScreenStats::default()));
        screens.push(stats.clone());
        let url = format!("ws://{http}/ws{}", screen_query(params, i));
        tasks.push(on.spawn(screen(url, stats, stop.clone())));
        if n % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    (screens, tasks)
}

/// Waits (bounded) until every screen has its snapshot or failed; returns how many have one.
async fn wait_snapshots(screens: &[Arc<Mutex<ScreenStats>>]) -> usize {
    for _ in 0..300 {
        if screens.iter().all(|s| {
            let s = lock(s);
            s.snapshots > 0 || s.errors > 0
        }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    screens.iter().filter(|s| lock(s).snapshots > 0).count()
}

/// What a set of screens received so far.
#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    updates: u64,
    positions: u64,
    probe: u64,
    errors: u64,
}

fn totals(screens: &[Arc<Mutex<ScreenStats>>]) -> Totals {
    screens.iter().fold(Totals::default(), |t, s| {
        let s = lock(s);
        Totals {
            updates: t.updates + s.updates,
            positions: t.positions + s.positions,
            probe: t.probe + s.probe.len() as u64,
            errors: t.errors + s.errors,
        }
    })
}

/// The table controllers and cameras.
struct Devices {
    stop: CancellationToken,
    pollers: Vec<JoinHandle<()>>,
    controllers: Vec<JoinHandle<()>>,
    cameras: Vec<JoinHandle<u64>>,
}

async fn start_devices(mqtt: SocketAddr, params: &Params) -> Devices {
    let stop = CancellationToken::new();
    let load_secs = (WARMUP + params.measure).as_secs() + 5;
    let mut devices = Devices {
        stop: stop.clone(),
        pollers: Vec::new(),
        controllers: Vec::new(),
        cameras: Vec::new(),
    };
    for i in 0..params.tables {
        let table = params.table(i);
        let stagger = Duration::from_micros(1_000_000 * i as u64 / params.tables as u64);
        let (ctl, ctl_loop) = mqtt_connect(mqtt, "bench-ctl", None).await;
        devices
            .pollers
            .push(spawn_poll(ctl_loop, stop.clone(), None));
        devices.controllers.push(tokio::spawn(controller(
            ctl,
            table.clone(),
            stagger / 2,
            CONTROLLER_EVENTS_PER_S * load_secs,
            stop.clone(),
        )));
        let (cam, cam_loop) = mqtt_connect(mqtt, "bench-cam", None).await;
        devices
            .pollers
            .push(spawn_poll(cam_loop, stop.clone(), None));
        devices.cameras.push(tokio::spawn(camera(
            cam,
            table,
            stagger / CAMERA_FPS as u32,
            CAMERA_FPS * load_secs,
            stop.clone(),
        )));
    }
    devices
}

impl Devices {
    /// Stops them; returns the camera frames published.
    async fn stop(self) -> u64 {
        self.stop.cancel();
        let mut frames = 0;
        for c in self.cameras {
            frames += c.await.unwrap_or(0);
        }
        for c in self.controllers {
            let _ = c.await;
        }
        for p in self.pollers {
            let _ = p.await;
        }
        frames
    }
}

/// The load (every screen but the measuring ones, the controllers and cameras).
#[allow(clippy::large_enum_variant)] // one value per run
enum Load {
    Inline {
        screens: Screens,
        tasks: Vec<JoinHandle<()>>,
        stop: CancellationToken,
        devices: Option<Devices>,
    },
    Child {
        child: tokio::process::Child,
        stdin: tokio::process::ChildStdin,
        lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    },
}

impl Load {
    /// Connects the load screens; returns how many got their snapshot.
    async fn start(mode: LoadMode, agent: &Agent, params: &Params) -> (Load, usize) {
        let indices = load_screens(params);
        if mode == LoadMode::Inline {
            let stop = CancellationToken::new();
            let (screens, tasks) = spawn_screens(
                agent.http,
                params,
                &indices,
                &stop,
                &tokio::runtime::Handle::current(),
            )
            .await;
            let connected = wait_snapshots(&screens).await;
            let load = Load::Inline {
                screens,
                tasks,
                stop,
                devices: None,
            };
            return (load, connected);
        }
        let exe = std::env::current_exe().expect("the bench's own path");
        let mut command = tokio::process::Command::new("nice");
        command.args(["-n", "19"]);
        if mode == LoadMode::Idle {
            command.args(["chrt", "--idle", "0"]);
        }
        command
            .arg(exe)
            .env("DOJO_BENCH_ROLE", "load")
            .env("DOJO_BENCH_CHILD_HTTP", agent.http.to_string())
            .env("DOJO_BENCH_CHILD_MQTT", agent.mqtt.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("start the load process");
        let stdin = child.stdin.take().expect("child stdin");
        let stdout = child.stdout.take().expect("child stdout");
        let mut load = Load::Child {
            child,
            stdin,
            lines: tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout)),
        };
        let connected = load.answer("screens").await.first().copied().unwrap_or(0);
        (load, connected as usize)
    }

    /// Reads the child's next answer line, `word n n …`.
    async fn answer(&mut self, word: &str) -> Vec<u64> {
        let Load::Child { lines, .. } = self else {
            return Vec::new();
        };
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
            .unwrap_or_else(|| panic!("the load process did not answer {word}"));
        let mut fields = line.split_whitespace();
        assert_eq!(fields.next(), Some(word), "load process: {line}");
        fields.filter_map(|f| f.parse().ok()).collect()
    }

    async fn ask(&mut self, command: &str) -> Vec<u64> {
        if let Load::Child { stdin, .. } = self {
            tokio::io::AsyncWriteExt::write_all(stdin, format!("{command}\n").as_bytes())
                .await
                .expect("write to the load process");
        }
        self.answer(command).await
    }

    async fn start_devices(&mut self, agent: &Agent, params: &Params) {
        match self {
            Load::Inline { devices, .. } => {
                *devices = Some(start_devices(agent.mqtt, params).await);
            }
            Load::Child { .. } => {
                self.ask("devices").await;
            }
        }
    }

    async fn totals(&mut self) -> Totals {
        match self {
            Load::Inline { screens, .. } => totals(screens),
            Load::Child { .. } => {
                let v = self.ask("totals").await;
                let at = |i: usize| v.get(i).copied().unwrap_or(0);
                Totals {
                    updates: at(0),
                    positions: at(1),
                    probe: at(2),
                    errors: at(3),
                }
            }
        }
    }

    /// Stops the devices; returns the camera frames published.
    async fn stop_devices(&mut self) -> u64 {
        match self {
            Load::Inline { devices, .. } => match devices.take() {
                Some(d) => d.stop().await,
                None => 0,
            },
            Load::Child { .. } => self.ask("stop").await.first().copied().unwrap_or(0),
        }
    }

    /// Disconnects the screens; returns their errors.
    async fn finish(mut self) -> u64 {
        let errors = self.totals().await.errors;
        match self {
            Load::Inline { tasks, stop, .. } => {
                stop.cancel();
                for t in tasks {
                    let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
                }
            }
            Load::Child {
                mut child, stdin, ..
            } => {
                drop(stdin);
                if tokio::time::timeout(Duration::from_secs(10), child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
            }
        }
        errors
    }
}

/// `DOJO_BENCH_ROLE=load`: the load process. Connects the load screens, then answers one line per
/// command on stdin (`devices`, `totals`, `stop`) until stdin closes.
fn load_process(params: &Params) {
    let addr = |name: &str| -> SocketAddr {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} must be set for the load process"))
    };
    let (http, mqtt) = (addr("DOJO_BENCH_CHILD_HTTP"), addr("DOJO_BENCH_CHILD_MQTT"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-load")
        .enable_all()
        .build()
        .expect("load runtime");
    runtime.block_on(async {
        use tokio::io::AsyncBufReadExt;
        let stop = CancellationToken::new();
        let indices = load_screens(params);
        let (screens, tasks) = spawn_screens(
            http,
            params,
            &indices,
            &stop,
            &tokio::runtime::Handle::current(),
        )
        .await;
        println!("screens {}", wait_snapshots(&screens).await);
        let mut devices = None;
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            match line.trim() {
                "devices" => {
                    devices = Some(start_devices(mqtt, params).await);
                    println!("devices");
                }
                "totals" => {
                    let t = totals(&screens);
                    println!(
                        "totals {} {} {} {}",
                        t.updates, t.positions, t.probe, t.errors
                    );
                }
                "stop" => {
                    let frames = match devices.take() {
                        Some(d) => d.stop().await,
                        None => 0,
                    };
                    println!("stop {frames}");
                }
                _ => break,
            }
        }
        if let Some(d) = devices.take() {
            d.stop().await;
        }
        stop.cancel();
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
}

// ---------------------------------------------------------------------------------------------
// Inside the agent: stage histograms, and the disk's floor
// ---------------------------------------------------------------------------------------------

/// Samples of a Prometheus histogram between two scrapes (`selector`: a label pair such as
/// `stage="ingest"`, or empty) with p50 and p99 in ms, interpolated linearly within a bucket
/// (`None` beyond the last finite bucket).
fn histogram_delta(
    before: &str,
    after: &str,
    name: &str,
    selector: &str,
) -> (u64, Option<f64>, Option<f64>) {
    let buckets = |text: &str| -> Vec<(f64, f64)> {
        let prefix = format!("{name}_bucket{{");
        let mut out: Vec<(f64, f64)> = text
            .lines()
            .filter(|l| l.starts_with(&prefix) && l.contains(selector))
            .filter_map(|l| {
                let le = l.split("le=\"").nth(1)?.split('"').next()?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, l.rsplit(' ').next()?.parse().ok()?))
            })
            .collect();
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    };
    let (b0, b1) = (buckets(before), buckets(after));
    let delta: Vec<(f64, f64)> = b1
        .iter()
        .map(|&(le, n)| {
            let was = b0.iter().find(|(l, _)| *l == le).map_or(0.0, |(_, n)| *n);
            (le, n - was)
        })
        .collect();
    let total = delta.last().map_or(0.0, |(_, n)| *n);
    let quantile = |q: f64| -> Option<f64> {
        if total <= 0.0 {
            return None;
        }
        let target = q * total;
        let (mut lower, mut below) = (0.0, 0.0);
        for &(le, n) in &delta {
            if n >= target {
                if le.is_infinite() {
                    return None;
                }
                let within = if n > below {
                    (target - below) / (n - below)
                } else {
                    1.0
                };
                return Some((lower + (le - lower) * within) * 1000.0);
            }
            (lower, below) = (le, n);
        }
        None
    };
    (total as u64, quantile(0.5), quantile(0.99))
}

/// The disk's share of the agent path: one event row (the agent's input and view) committed every
/// `every` into a fresh SQLite file, WAL + `synchronous=FULL` like the agent's writer, `count`
/// times from its own thread; each commit (insert + COMMIT) is a sample.
fn fsync_floor(dir: &Path, count: usize, every: Duration, input: &str, view: &str) -> Samples {
    std::fs::create_dir_all(dir).expect("fsync floor dir");
    let conn = rusqlite::Connection::open(dir.join("fsync.sqlite3")).expect("fsync floor db");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("WAL");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("FULL");
    conn.execute_batch(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, table_id TEXT NOT NULL, received_ms INTEGER NOT NULL,
             device TEXT, device_seq INTEGER, input TEXT NOT NULL, view TEXT NOT NULL);",
    )
    .expect("fsync floor schema");
    let mut samples = Samples::new(count);
    let start = Instant::now();
    for i in 0..count {
        let due = start + every * u32::try_from(i).unwrap_or(u32::MAX);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let t = Instant::now();
        let s = i64::try_from(i).unwrap_or(i64::MAX);
        let now = i64::try_from(edge_agent::clock::now_ms()).unwrap_or(0);
        conn.execute(
            "INSERT INTO events (seq, table_id, received_ms, device, device_seq, input, view) VALUES (?1, 'probe', ?2, 'probe-ctl', ?1, ?3, ?4)",
            rusqlite::params![s, now, input, view],
        )
        .expect("fsync floor insert");
        samples.push(t.elapsed());
    }
    samples
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
        if let Ok(r) = http.get(format!("http://{agent}/healthz")).send().await
            && r.status().is_success()
        {
            return;
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
    let hz = dojo_testkit::proc::clock_ticks_per_s();

    // Matches, then screens.
    let tables: Vec<String> = (0..params.tables).map(|i| params.table(i)).collect();
    for table in tables.iter().map(String::as_str).chain([PROBE_TABLE]) {
        start_match(&http, agent.http, table).await;
    }
    let rss_idle = proc_status_kb(pid, "VmRSS");
    // The measuring screens on the measuring thread, then the load (here or in its own process).
    let mode = LoadMode::from_env();
    let screens_stop = CancellationToken::new();
    let measuring = measuring_screens(params);
    let measuring_indices: Vec<usize> = measuring.clone().collect();
    let (screens, screen_tasks) = spawn_screens(
        agent.http,
        params,
        &measuring_indices,
        &screens_stop,
        measure,
    )
    .await;
    let measuring_connected = wait_snapshots(&screens).await;
    let (mut load, load_connected) = Load::start(mode, agent, params).await;
    let connected = measuring_connected + load_connected;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_screens = proc_status_kb(pid, "VmRSS");

    // Devices.
    load.start_devices(agent, params).await;
    let mosquitto: Option<SocketAddr> = mosquitto_reachable()
        .await
        .then(|| ([127, 0, 0, 1], 1883).into());

    tokio::time::sleep(WARMUP).await;

    // Latency phase.
    let count = (params.measure.as_millis() / PROBE_EVERY.as_millis()) as usize;
    let measured_before = totals(&screens);
    let load_before = load.totals().await;
    let (floor_input, floor_view) = latest_row(&agent.db());
    let metrics_before = scrape(&http, agent.http).await;
    let (t0, ticks0, threads0) = (Instant::now(), cpu_ticks(pid), thread_ticks(pid));
    // Probe and floors run on the measuring thread, 5 ms apart, from a common start; the disk's
    // floor on a thread of its own, offset 2 ms.
    let start = tokio::time::Instant::now() + Duration::from_secs(1);
    let at = |ms: u64| start + Duration::from_millis(ms);
    let probe_run = measure.spawn(probe_device(agent.mqtt, at(0), count));
    let floor_q1 = measure.spawn(mqtt_hop(agent.mqtt, QoS::AtLeastOnce, at(5), count));
    let floor_q0 = measure.spawn(mqtt_hop(agent.mqtt, QoS::AtMostOnce, at(10), count));
    let mosq = mosquitto.map(|m| measure.spawn(mqtt_hop(m, QoS::AtLeastOnce, at(15), count)));
    let fsync_dir = agent
        .data_dir
        .parent()
        .unwrap_or(&agent.data_dir)
        .join("fsync-floor");
    let fsync_start = at(2);
    let fsync = tokio::task::spawn_blocking(move || {
        std::thread::sleep(fsync_start.saturating_duration_since(tokio::time::Instant::now()));
        fsync_floor(&fsync_dir, count, PROBE_EVERY, &floor_input, &floor_view)
    });
    let sends = probe_run.await.expect("probe");
    let mut floor_q1 = floor_q1.await.expect("floor");
    let mut floor_q0 = floor_q0.await.expect("floor");
    let mosq = match mosq {
        Some(m) => Some(m.await.expect("mosquitto hop")),
        None => None,
    };
    let mut fsync = fsync.await.expect("fsync floor");
    let (elapsed, ticks1, threads1) = (t0.elapsed(), cpu_ticks(pid), thread_ticks(pid));
    let metrics_after = scrape(&http, agent.http).await;
    let mut measured_samples = Samples::new(count * measuring_indices.len());
    for s in &screens {
        probe_latencies(&sends, &lock(s).probe, &mut measured_samples);
    }
    // Inline, the load screens' samples too (their timestamps queue behind the saturated runtime).
    let mut all_samples = match &load {
        Load::Inline {
            screens: load_screens,
            ..
        } => {
            let mut all = Samples::new(count * connected);
            for s in screens.iter().chain(load_screens) {
                probe_latencies(&sends, &lock(s).probe, &mut all);
            }
            Some(all)
        }
        Load::Child { .. } => None,
    };
    let measured_after = totals(&screens);
    let load_after = load.totals().await;
    let updates =
        measured_after.updates - measured_before.updates + load_after.updates - load_before.updates;
    let positions = measured_after.positions - measured_before.positions + load_after.positions
        - load_before.positions;
    let load_probe = load_after.probe - load_before.probe;
    let rss_latency = proc_status_kb(pid, "VmRSS");
    let frames = load.stop_devices().await;

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
    out.line(format!("load: {}", mode.describe()));
    out.line(String::new());
    out.line("| path | p50 ms | p99 ms | p99.9 ms | max ms | samples |");
    out.line("|---|---|---|---|---|---|");
    out.line(measured_samples.row(&format!(
        "agent: probe event → WebSocket, {} screens on the measuring thread",
        measuring.len()
    )));
    if let Some(all) = &mut all_samples {
        out.line(all.row(&format!(
            "agent: probe event → WebSocket, all {connected} screens (load generator included)"
        )));
    }
    out.line(floor_q1.row("bare hop, embedded rumqttd, QoS 1 sub (floor)"));
    out.line(floor_q0.row("bare hop, embedded rumqttd, QoS 0 sub"));
    match mosq {
        Some(mut m) => out.line(m.row("bare hop, Mosquitto 127.0.0.1:1883, QoS 1 sub")),
        None => out.line("| bare hop, Mosquitto | not reachable on 127.0.0.1:1883 | | | | |"),
    }
    out.line(fsync.row("floor: the disk, one event row committed (WAL + FULL) every 20 ms"));
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
    out.line(format!(
        "probe updates received by the {load_connected} load screens: {load_probe} of {} ({:.1} %; conflation may merge two when a screen is late)",
        count * load_connected,
        load_probe as f64 * 100.0 / (count * load_connected).max(1) as f64
    ));
    out.line(String::new());
    out.line("Inside the agent, every durable event of the phase (probe 50/s + controllers 64/s; `/metrics` `dojo_stage_seconds`, quantiles interpolated within buckets):");
    out.line(String::new());
    out.line("| stage | samples | p50 ms | p99 ms |");
    out.line("|---|---|---|---|");
    for (label, name, selector) in [
        (
            "ingest: MQTT receipt → view built",
            "dojo_stage_seconds",
            r#"stage="ingest""#,
        ),
        (
            "commit: view built → committed (queue + transaction + fsync)",
            "dojo_stage_seconds",
            r#"stage="commit""#,
        ),
        (
            "  of which COMMIT alone (per transaction)",
            "dojo_commit_seconds",
            "",
        ),
        (
            "hub: committed → queued for every client (per group commit)",
            "dojo_stage_seconds",
            r#"stage="hub""#,
        ),
        (
            "socket: committed → written to a client's socket (per client)",
            "dojo_stage_seconds",
            r#"stage="socket""#,
        ),
        (
            "end to end: receipt → handed to a client's socket (per client)",
            "dojo_event_to_screen_seconds",
            "",
        ),
    ] {
        let (n, p50, p99) = histogram_delta(&metrics_before, &metrics_after, name, selector);
        let ms = |v: Option<f64>| v.map_or("> 250".to_owned(), |v| format!("{v:.2}"));
        out.line(format!("| {label} | {n} | {} | {} |", ms(p50), ms(p99)));
    }
    out.line(String::new());
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

    let load_errors = load.finish().await;
    screens_stop.cancel();
    for t in screen_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let errors: u64 = screens.iter().map(|s| lock(s).errors).sum::<u64>() + load_errors;
    if errors > 0 {
        out.line(format!("WebSocket errors: {errors}"));
    }
}

/// The newest committed (input, view) row, for the disk's floor (placeholders of the same size if
/// none).
fn latest_row(db: &Path) -> (String, String) {
    read_only(db)
        .query_row(
            "SELECT input, view FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap_or_else(|_| ("{}".repeat(40), "x".repeat(1100)))
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
                let now = i64::try_from(edge_agent::clock::now_ms()).unwrap_or(0);
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
    if std::env::var("DOJO_BENCH_ROLE").as_deref() == Ok("load") {
        load_process(&params);
        return;
    }
    let dir = std::env::temp_dir().join(format!(
        "dojo-bench-pipeline-{}-{}",
        std::process::id(),
        edge_agent::clock::now_ms()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut out = Figures;
    println!(
        "edge-agent pipeline bench: {} tables, {} screens, {} s measured, burst {} events, WebSocket direct writes {}; data in {}",
        params.tables,
        params.clients,
        params.measure.as_secs(),
        params.burst,
        match params.direct {
            Some(true) => "on",
            Some(false) => "off",
            None => "as the agent's default",
        },
        dir.display()
    );
    let agent = Agent::start(&dir, params.direct);
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
