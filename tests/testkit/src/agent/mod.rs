//! An edge-agent as its tests and the end-to-end tests drive it: started in this process on free
//! ports with its own data directory (or as a child process, [`process`]), then talked to as
//! devices ([`device`]), screens ([`screen`]) and staff (HTTP with [`TOKEN`]) do. One harness for
//! edge-agent's integration tests and `dojo-e2e`, so a fix to it lands once.
//!
//! edge-agent's integration tests take this crate as a dev-dependency while it depends on
//! edge-agent: cargo allows that cycle for dev-dependencies, and an integration test links the same
//! `edge_agent` library this crate does, so the types are the same.

pub mod device;
pub mod process;
pub mod screen;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use edge_agent::config::{CloudConfig, Config};
use edge_agent::mqtt::MqttMode;
use edge_agent::{Running, start};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub use device::{Commands, Device, Subscription};
pub use process::{Process, Program, secret_in, serve_if_child};
pub use screen::{Ws, next_json, until, until_within, ws};

use crate::free_port;

/// The staff token every test agent accepts.
pub const TOKEN: &str = "staff-secret-for-tests";

/// The tables every test agent declares: the ids the tests use, 0…64 after `t`, `tv`, `e`, `r`,
/// `s`, `k`, `c`, `d`, `w`, `bar`, `dl`, `table-`, `p`, `v`, `ov`, `rp`, `sc`, `hand`, `score` and `f`,
/// and `t01`…`t09`. Like a venue's agent, a
/// test agent refuses writes to any other table; a test that needs one registers it
/// (`PUT /api/v1/registry/{table}`) or declares it in its configuration.
#[must_use]
pub fn test_tables() -> Vec<String> {
    let prefixes = [
        "t", "tv", "e", "r", "s", "k", "c", "d", "w", "bar", "dl", "table-", "p", "v", "ov", "rp",
        "sc", "hand", "score", "f",
    ];
    let mut tables: Vec<String> = prefixes
        .iter()
        .flat_map(|prefix| (0..=64).map(move |n| format!("{prefix}{n}")))
        .collect();
    // The benchmarks' `t01`…`t09`; from `t10` on they are the same.
    tables.extend((1..10).map(|n| format!("t{n:02}")));
    tables
}

/// The test configuration: no demo, HTTP on a free port, immediate shots, lights on, no cloud, the
/// [`test_tables`] declared.
#[must_use]
pub fn config(dir: &Path, mqtt: MqttMode) -> Config {
    Config {
        demo: false,
        demo_tables: 1,
        data_dir: dir.to_owned(),
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        mqtt,
        staff_token: Some(TOKEN.into()),
        venue: "Test Hall".into(),
        shot_quiet_ms: 0,
        presence_timeout_ms: 60_000,
        table_lights: true,
        cloud: None,
        ws_direct_writes: true,
        camera_shot_timeout_ms: 20_000,
        call_timeout_ms: 600_000,
        tables: test_tables(),
        // Tests publish as devices without credentials unless they start an authenticated agent.
        allow_anonymous_devices: true,
    }
}

/// Provisions `device` for `tables` in the agent data folder `dir` through edge-agent's own
/// command line (`edge-agent device add DEVICE --table T… --data-dir DIR`, parsed by its flags and
/// run by the same code as the binary, in this process); the secret it printed on its last line.
/// A running agent on `dir` lets the device in within a second ([`provisioned`] waits for it).
///
/// # Panics
///
/// When the command is refused.
#[must_use]
pub fn provision(dir: &Path, device: &str, tables: &[&str]) -> String {
    let mut args = vec![
        "edge-agent".to_owned(),
        "--data-dir".to_owned(),
        dir.display().to_string(),
        "device".to_owned(),
        "add".to_owned(),
        device.to_owned(),
    ];
    for table in tables {
        args.extend(["--table".to_owned(), (*table).to_owned()]);
    }
    let mut flags = <edge_agent::config::Flags as clap::Parser>::try_parse_from(args)
        .expect("a device command line");
    let Some(edge_agent::devices::cli::Command::Device(command)) = flags.command.take() else {
        panic!("not a device command");
    };
    let mut out = Vec::new();
    edge_agent::devices::cli::run(&command, dir, &mut out).expect("device add succeeds");
    let text = String::from_utf8(out).expect("UTF-8");
    text.lines().last().expect("a last line").to_owned()
}

/// Waits (at most 5 s) until `agent`'s broker directory lets `device` in with `secret`.
///
/// # Panics
///
/// After 5 s.
pub async fn provisioned(agent: &Agent, device: &str, secret: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !agent.running.devices.directory().login(device, secret) {
        assert!(Instant::now() < deadline, "{device} not let in within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An edge-agent running in this process.
#[derive(Debug)]
pub struct Agent {
    /// What `edge_agent::start` returned.
    pub running: Running,
    /// Cancelled by [`Agent::stop`].
    pub shutdown: CancellationToken,
    /// The broker devices publish to (the embedded one unless the configuration names another).
    pub mqtt: SocketAddr,
}

impl Agent {
    /// The agent with an embedded broker on a free port, open to anonymous devices (the
    /// harness's default, so tests publish as devices without credentials).
    pub async fn start(dir: &Path) -> Agent {
        Agent::start_with(dir, |_| {}).await
    }

    /// The agent with an embedded broker on a free port that lets in provisioned devices only
    /// ([`provision`] them).
    pub async fn start_authenticated(dir: &Path) -> Agent {
        Agent::start_with(dir, |config| config.allow_anonymous_devices = false).await
    }

    /// Like [`Agent::start`], with `tweak` applied to the configuration first.
    ///
    /// # Panics
    ///
    /// When the agent does not start, or `tweak` names an external broker whose URL is not
    /// `mqtt://host:port` with an IP address.
    pub async fn start_with(dir: &Path, tweak: impl FnOnce(&mut Config)) -> Agent {
        let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let mut config = config(dir, MqttMode::Embedded { listen });
        tweak(&mut config);
        let mqtt = match &config.mqtt {
            MqttMode::Embedded { listen } => *listen,
            MqttMode::External { url } => url
                .trim_start_matches("mqtt://")
                .parse()
                .expect("an external broker as mqtt://ip:port"),
        };
        let shutdown = CancellationToken::new();
        let running = start(config, shutdown.clone())
            .await
            .expect("the agent starts");
        Agent {
            running,
            shutdown,
            mqtt,
        }
    }

    /// An agent (embedded broker) syncing to `url` as `venue` with `key`, retrying at most every
    /// `max_backoff_ms`.
    pub async fn start_syncing(
        dir: &Path,
        url: String,
        venue: &str,
        key: &str,
        max_backoff_ms: u64,
    ) -> Agent {
        Agent::start_with(dir, |config| {
            config.cloud = Some(CloudConfig {
                url,
                venue_id: venue.into(),
                venue_key: key.into(),
                max_backoff_ms,
                keep_sent_days: 30,
            });
        })
        .await
    }

    /// `http://…{path}` on this agent.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.http_addr)
    }

    /// Stops the agent and waits (at most 10 s) until everything has stopped.
    ///
    /// # Panics
    ///
    /// When it takes longer.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.running.stopped)
            .await
            .expect("stops in time")
            .ok();
    }

    /// `POST` as staff; the status and the JSON body (`null` when there is none).
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(self.url(path))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .expect("HTTP answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `GET` without a token; the status and the JSON body (`null` when there is none).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = reqwest::get(self.url(path)).await.expect("HTTP answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Starts a match of `game` between Ann and Bo (alternate breaks) on `table`; its view.
    ///
    /// # Panics
    ///
    /// Unless the agent answers 201.
    pub async fn start_match(&self, table: &str, game: &str, race_to: u32) -> Value {
        let spec = json!({"game": game, "players": ["Ann", "Bo"], "race_to": race_to, "break": "alternate"});
        self.start_match_spec(table, &spec).await
    }

    /// Starts a match of `spec` (a `MatchSpec` or its JSON) on `table`; its view.
    ///
    /// # Panics
    ///
    /// Unless the agent answers 201.
    pub async fn start_match_spec(&self, table: &str, spec: &impl serde::Serialize) -> Value {
        let spec = serde_json::to_value(spec).expect("a match spec");
        let (status, body) = self
            .post(&format!("/api/v1/tables/{table}/matches"), spec)
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }
}

/// Polls `GET /api/v1/sync` until `done` holds, for up to 20 s; that status.
///
/// # Panics
///
/// After 20 s, with the last status.
pub async fn sync_status_until(agent: &Agent, done: impl Fn(&Value) -> bool) -> Value {
    sync_status_within(&agent.url(""), 20, done).await
}

/// Polls `GET {base}/api/v1/sync` (an agent in this process or a [`Process`]) every 100 ms until
/// `done` holds, for up to `secs` seconds; that status.
///
/// # Panics
///
/// After `secs` seconds, with the last status.
pub async fn sync_status_within(base: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let status: Value = reqwest::get(format!("{base}/api/v1/sync"))
            .await
            .expect("HTTP answers")
            .json()
            .await
            .unwrap_or(Value::Null);
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "sync status stuck at {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Read-only SQL on an agent's database: the first column of the first row.
///
/// # Panics
///
/// When the database does not open or the query fails.
#[must_use]
pub fn sql_count(dir: &Path, query: &str) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("edge.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("database opens");
    conn.query_row(query, [], |row| row.get(0))
        .expect("query runs")
}
