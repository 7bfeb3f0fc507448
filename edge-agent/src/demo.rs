//! Simulated tables that reach the agent exactly as a venue's tables do: over a serial line and
//! through firmware-bridge.
//!
//! Per table, [`run`] opens a pseudo-terminal pair and runs firmware-bridge's simulated controller
//! (`firmware_bridge::simulator`, what `firmware-bridge simulate` runs) on one end; one
//! firmware-bridge (`firmware_bridge::run`, in this process) opens the other ends like serial ports
//! and publishes to the agent's broker. So the demo exercises the serial protocol, the bridge's seq
//! mapping, acks, statuses and last-will, and the agent's `light` commands reach the controllers.
//!
//! Each table loops: start a random match through the engine (8-ball or 9-ball, race to 3–5, as
//! staff would), have the controller's simulated players play it (every shot legal for a mirror
//! of the match, see `firmware_bridge::simulator::play`), wait for the next players. Shots come
//! every 4.5–8.5 s and racks after a 15 s pause, divided by [`DemoOptions::speed`]. The controller
//! is `sim-{table}`; the bridge is `demo-bridge`.
//!
//! The tables show the three scoring modes (see `table::mode`), by their place in the list: the
//! first, fourth, … have the controller only (`sensors`); the second, fifth, … also a simulated
//! camera (`camera`, see [`camera`]), `cam-{table}`, which brackets each shot and reports the
//! layout at rest while the controller presses no end turn; the third, sixth, … have no device at
//! all (`manual`): the demo plays them through the engine as staff would (as `Actor::Agent`), a
//! shot ended with `end_turn` every few seconds until one player concedes.
//!
//! The demo provisions its devices itself ([`provision`]): `demo-bridge` for every table with a
//! controller and each `cam-{table}` for its table, with fresh secrets each run, kept in memory only
//! (the agent's directory and the [`DemoBroker`]'s [`Logins`]), so the demo runs against a broker
//! that lets in provisioned devices only, as a venue's does.
//!
//! Nothing here panics or gives up: errors are logged and retried.

pub mod camera;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use firmware_bridge::config::BridgeConfig;
use firmware_bridge::simulator::play::random_spec;
use firmware_bridge::simulator::{Controller, Players, SimOptions, pty};
use rand::Rng;
use shared::rules::MatchSpec;

use crate::config::MqttMode;
use crate::engine::{EngineError, EngineHandle};
use crate::mqtt::{MqttError, parse_url};
use crate::table::{Actor, StaffAction};
use tokio_util::sync::CancellationToken;

/// The bridge id (status topic and last-will) of the demo's in-process firmware-bridge.
pub const DEMO_BRIDGE_ID: &str = "demo-bridge";

/// The MQTT broker the simulated devices publish to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoBroker {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// The simulated devices' credentials (none: connect without, to a broker open to anyone).
    pub logins: Logins,
}

/// Device id → secret, for the demo's simulated devices. `Debug` shows the ids only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Logins(Arc<HashMap<String, String>>);

impl fmt::Debug for Logins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// The devices of the demo's `tables` (by their place, as [`run`] plays them) with fresh secrets:
/// what the agent's directory takes, and the simulated devices' logins.
#[must_use]
pub fn provision(tables: &[String]) -> (Vec<crate::devices::Device>, Logins) {
    let mut bridge_tables = Vec::new();
    let mut devices: Vec<(String, Vec<String>)> = Vec::new();
    for (index, table) in tables.iter().enumerate() {
        match Role::of(index) {
            Role::Manual => {}
            Role::Sensors => bridge_tables.push(table.clone()),
            Role::Camera => {
                bridge_tables.push(table.clone());
                devices.push((camera::camera_device_id(table), vec![table.clone()]));
            }
        }
    }
    if !bridge_tables.is_empty() {
        devices.push((DEMO_BRIDGE_ID.to_owned(), bridge_tables));
    }
    let mut logins = HashMap::new();
    let devices = devices
        .into_iter()
        .map(|(id, tables)| {
            let secret = crate::devices::secret::generate();
            let device = crate::devices::Device {
                id: id.clone(),
                tables,
                secret_sha256: crate::devices::secret::hash(&secret),
            };
            logins.insert(id, secret);
            device
        })
        .collect();
    (devices, Logins(Arc::new(logins)))
}

impl DemoBroker {
    /// The broker the agent itself uses: the embedded listener (a wildcard address is reached on
    /// loopback) or the external `--mqtt-url`.
    ///
    /// # Errors
    ///
    /// A bad `--mqtt-url`.
    pub fn for_mode(mode: &MqttMode) -> Result<DemoBroker, MqttError> {
        match mode {
            MqttMode::Embedded { listen } => Ok(DemoBroker::from(*listen)),
            MqttMode::External { url } => {
                let (host, port) = parse_url(url)?;
                Ok(DemoBroker {
                    host,
                    port,
                    logins: Logins::default(),
                })
            }
        }
    }

    /// The same broker, the simulated devices logging in with `logins`.
    #[must_use]
    pub fn with_logins(self, logins: Logins) -> DemoBroker {
        DemoBroker { logins, ..self }
    }

    /// `device`'s username and password, if it has any.
    #[must_use]
    pub fn login(&self, device: &str) -> Option<(String, String)> {
        self.logins
            .0
            .get(device)
            .map(|secret| (device.to_owned(), secret.clone()))
    }
}

impl From<SocketAddr> for DemoBroker {
    fn from(addr: SocketAddr) -> DemoBroker {
        let host = if addr.ip().is_unspecified() {
            if addr.is_ipv4() { "127.0.0.1" } else { "::1" }.to_owned()
        } else {
            addr.ip().to_string()
        };
        DemoBroker {
            host,
            port: addr.port(),
            logins: Logins::default(),
        }
    }
}

impl fmt::Display for DemoBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Tuning for the simulation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DemoOptions {
    /// Time compression: 1.0 is human pace (a shot every 3–10 s); 100.0 plays 100× faster.
    pub speed: f64,
}

impl Default for DemoOptions {
    fn default() -> DemoOptions {
        DemoOptions { speed: 1.0 }
    }
}

impl DemoOptions {
    /// `secs` of human time at this speed (never below 1 ms).
    fn scaled(&self, secs: f64) -> Duration {
        let speed = if self.speed.is_finite() && self.speed > 0.0 {
            self.speed
        } else {
            1.0
        };
        Duration::from_secs_f64((secs / speed).clamp(0.001, 3600.0))
    }

    fn between(&self, low: f64, high: f64) -> Duration {
        self.scaled(rand::rng().random_range(low..high))
    }
}

/// What the demo needs from the engine (a seam so tests can run the demo without one).
pub(crate) trait Referee: Clone + Send + Sync + 'static {
    /// Starts a match on `table`.
    fn start(
        &self,
        table: String,
        spec: MatchSpec,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Concedes whatever is in play on `table`.
    fn concede(&self, table: String) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Takes `action` on `table` as the agent (a manual table's simulated staff).
    fn act(
        &self,
        table: String,
        action: StaffAction,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
}

impl Referee for EngineHandle {
    fn start(
        &self,
        table: String,
        spec: MatchSpec,
    ) -> impl Future<Output = Result<(), EngineError>> + Send {
        let engine = self.clone();
        async move { engine.start_match(table, spec).await.map(|_| ()) }
    }

    fn concede(&self, table: String) -> impl Future<Output = Result<(), EngineError>> + Send {
        let engine = self.clone();
        async move {
            engine
                .action(table, StaffAction::Concede { player: None })
                .await
                .map(|_| ())
        }
    }

    fn act(
        &self,
        table: String,
        action: StaffAction,
    ) -> impl Future<Output = Result<(), EngineError>> + Send {
        let engine = self.clone();
        async move {
            engine
                .action_by(table, action, Actor::Agent {})
                .await
                .map(|_| ())
        }
    }
}

/// How a demo table is scored, by its place in the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// A controller only.
    Sensors,
    /// A controller and a camera.
    Camera,
    /// No device: staff score.
    Manual,
}

impl Role {
    fn of(index: usize) -> Role {
        match index % 3 {
            0 => Role::Sensors,
            1 => Role::Camera,
            _ => Role::Manual,
        }
    }
}

/// Runs the simulated tables at human pace until `shutdown`.
pub async fn run(
    broker: DemoBroker,
    engine: EngineHandle,
    tables: Vec<String>,
    shutdown: CancellationToken,
) {
    run_with(broker, engine, tables, DemoOptions::default(), shutdown).await;
}

/// Runs the simulated tables with `options` until `shutdown`.
pub async fn run_with(
    broker: DemoBroker,
    engine: EngineHandle,
    tables: Vec<String>,
    options: DemoOptions,
    shutdown: CancellationToken,
) {
    run_tables(broker, engine, tables, options, shutdown).await;
}

async fn run_tables<E: Referee>(
    broker: DemoBroker,
    engine: E,
    tables: Vec<String>,
    options: DemoOptions,
    shutdown: CancellationToken,
) {
    tracing::info!(%broker, tables = tables.len(), speed = options.speed, "demo tables starting");
    let mut ptys = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, table) in tables.into_iter().enumerate() {
        let role = Role::of(index);
        if role == Role::Manual {
            tasks.spawn(run_manual_table(
                engine.clone(),
                table,
                options,
                shutdown.clone(),
            ));
            continue;
        }
        match pty() {
            Ok(pty) => ptys.push((table, pty, role)),
            Err(error) => {
                tracing::error!(%table, %error, "demo table has no pseudo-terminal; skipping it");
            }
        }
    }
    let mut config = BridgeConfig::new(
        ptys.iter().map(|(_, pty, _)| pty.path.clone()).collect(),
        &broker.host,
        broker.port,
    );
    config.bridge_id = DEMO_BRIDGE_ID.to_owned();
    if let Some((username, password)) = broker.login(DEMO_BRIDGE_ID) {
        config.mqtt_username = Some(username);
        config.mqtt_password = Some(password.into());
    }
    let bridge = firmware_bridge::run(config);
    for (table, pty, role) in ptys {
        let (mut controller, players) = Controller::idle(sim_options(&table, options));
        if role == Role::Camera {
            // The camera must report the stroke before the balls drop, even on a loaded machine.
            let lead = options.scaled(0.4).max(Duration::from_millis(100));
            let cues = controller.with_camera(lead);
            tasks.spawn(camera::run(
                broker.clone(),
                table.clone(),
                sim_device_id(&table),
                cues,
                shutdown.clone(),
            ));
        }
        let stop = shutdown.clone();
        tasks.spawn(async move {
            let mut controller = controller;
            let slave = pty.slave;
            if let Err(error) = controller.run(pty.master, stop.cancelled()).await {
                tracing::error!(%error, "demo controller's pseudo-terminal failed");
            }
            drop(slave);
        });
        tasks.spawn(run_table(
            engine.clone(),
            table,
            players,
            options,
            shutdown.clone(),
        ));
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "demo table task failed");
        }
    }
    bridge.stop().await;
    tracing::info!("demo tables stopped");
}

/// The simulated controller's device id: `sim-{table}`, cut to the 32 characters a topic allows.
pub fn sim_device_id(table: &str) -> String {
    let mut id = format!("sim-{table}");
    id.truncate(shared::protocol::MAX_ID_LEN);
    id
}

/// The simulated controller of `table`, at the demo's pace.
fn sim_options(table: &str, options: DemoOptions) -> SimOptions {
    let mut sim = SimOptions::new(table);
    sim.device = sim_device_id(table);
    sim.seed = rand::rng().random();
    sim.shot_gap = options.scaled(6.5);
    sim.rack_gap = options.scaled(15.0);
    sim
}

/// Sleeps, or returns `false` if shutdown came first.
async fn pause(shutdown: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(d) => true,
    }
}

/// Starts matches on `table` and has its players play them, until shutdown.
async fn run_table<E: Referee>(
    engine: E,
    table: String,
    players: Players,
    options: DemoOptions,
    shutdown: CancellationToken,
) {
    // Let the bridge and the controller say hello before the first match.
    let _ = pause(&shutdown, options.scaled(1.0)).await;
    while !shutdown.is_cancelled() {
        let spec = random_spec(&mut rand::rng());
        if !start_match(&engine, &table, &spec, options, &shutdown).await {
            break;
        }
        tracing::info!(%table, game = spec.game.as_str(), players = ?spec.players, race_to = spec.race_to, "demo match started");
        let finished = tokio::select! {
            () = shutdown.cancelled() => break,
            finished = players.play(spec) => finished,
        };
        let Some(finished) = finished else {
            tracing::warn!(%table, "demo controller stopped; no more matches on this table");
            break;
        };
        tracing::info!(%table, winner = ?finished.winner, score = ?finished.score, shots = finished.shots, "demo match over");
        if !pause(&shutdown, options.between(15.0, 30.0)).await {
            break;
        }
    }
}

/// Plays matches on a table with no device, as staff would from the console: each shot a miss
/// ended with `end_turn`, until one player concedes after 8–16 shots.
async fn run_manual_table<E: Referee>(
    engine: E,
    table: String,
    options: DemoOptions,
    shutdown: CancellationToken,
) {
    let _ = pause(&shutdown, options.scaled(1.0)).await;
    while !shutdown.is_cancelled() {
        let spec = random_spec(&mut rand::rng());
        if !start_match(&engine, &table, &spec, options, &shutdown).await {
            break;
        }
        tracing::info!(%table, game = spec.game.as_str(), "demo match started (scored by staff)");
        let shots = rand::rng().random_range(8..=16);
        for _ in 0..shots {
            if !pause(&shutdown, options.between(4.5, 8.5)).await {
                return;
            }
            if let Err(error) = engine.act(table.clone(), StaffAction::EndTurn {}).await {
                tracing::debug!(%table, %error, "demo staff end turn refused");
            }
        }
        if let Err(error) = engine.concede(table.clone()).await {
            tracing::debug!(%table, %error, "demo staff concede refused");
        }
        if !pause(&shutdown, options.between(15.0, 30.0)).await {
            break;
        }
    }
}

/// Starts a match, retrying (and conceding a stale match) until it works; `false` on shutdown.
async fn start_match<E: Referee>(
    engine: &E,
    table: &str,
    spec: &MatchSpec,
    options: DemoOptions,
    shutdown: &CancellationToken,
) -> bool {
    let mut attempt = 0u32;
    loop {
        if shutdown.is_cancelled() {
            return false;
        }
        attempt += 1;
        let error = tokio::select! {
            () = shutdown.cancelled() => return false,
            r = engine.start(table.to_owned(), spec.clone()) => match r {
                Ok(_) => return true,
                Err(e) => e,
            },
        };
        match &error {
            EngineError::Busy(_) => {
                // A match left over (our mirror and the engine disagree, or an earlier run): the
                // simulated players concede it.
                tracing::info!(%table, "demo table busy with an earlier match; conceding it");
                if let Err(e) = engine.concede(table.to_owned()).await {
                    tracing::debug!(%table, error = %e, "demo concede failed");
                }
            }
            _ if attempt == 1 || attempt.is_multiple_of(10) => {
                tracing::warn!(%table, error = %error, attempt, "demo cannot start a match; retrying");
            }
            _ => {}
        }
        let wait = match error {
            EngineError::Busy(_) => options.scaled(0.5),
            _ => options.between(8.0, 12.0),
        };
        if !pause(shutdown, wait).await {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use shared::protocol::{Button, DeviceEvent, DeviceStatus, Presence};

    use super::*;

    /// Accepts every match; the first attempt is refused as busy, to exercise the retry.
    #[derive(Clone, Default)]
    struct FakeEngine {
        started: Arc<AtomicU32>,
        attempts: Arc<AtomicU32>,
    }

    impl Referee for FakeEngine {
        fn start(
            &self,
            table: String,
            _spec: MatchSpec,
        ) -> impl Future<Output = Result<(), EngineError>> + Send {
            let me = self.clone();
            async move {
                if me.attempts.fetch_add(1, Ordering::Relaxed) == 0 {
                    return Err(EngineError::Busy(table));
                }
                me.started.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        }

        async fn concede(&self, _table: String) -> Result<(), EngineError> {
            Ok(())
        }

        async fn act(&self, _table: String, _action: StaffAction) -> Result<(), EngineError> {
            Ok(())
        }
    }

    #[test]
    fn device_ids_and_brokers() {
        assert_eq!(sim_device_id("t1"), "sim-t1");
        let long = "x".repeat(32);
        let id = sim_device_id(&long);
        assert!(shared::protocol::valid_id(&id));
        let b = DemoBroker::from(SocketAddr::from(([0, 0, 0, 0], 1883)));
        assert_eq!(b.to_string(), "127.0.0.1:1883");
        let b = DemoBroker::for_mode(&MqttMode::External {
            url: "mqtt://broker:1884".into(),
        })
        .unwrap();
        assert_eq!((b.host.as_str(), b.port), ("broker", 1884));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn demo_devices_publish_through_the_embedded_broker() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let shutdown = CancellationToken::new();
        let mut link = crate::mqtt::connect(
            &MqttMode::Embedded { listen: addr },
            &crate::devices::Directory::new(true),
            shutdown.clone(),
        )
        .await
        .unwrap();
        let engine = FakeEngine::default();
        let demo = tokio::spawn(run_tables(
            DemoBroker::from(addr),
            engine.clone(),
            vec!["t1".into()],
            DemoOptions { speed: 200.0 },
            shutdown.clone(),
        ));
        // The controller's events come through the bridge: its hello (as a heartbeat), rack_ready,
        // shots closed with end_turn, every seq with none missing in the end. Not always in order:
        // a frame the bridge missed on the serial line (on a loaded machine, the first ones before
        // it has the port open) is published when the controller sends it again, after later
        // seqs — edge-agent's gap handling puts it back in its place.
        let (mut online, mut bridge_online, mut beats, mut racks, mut shots) =
            (false, false, 0u32, 0u32, 0u32);
        let mut seen = std::collections::BTreeSet::new();
        let no_holes = |seen: &std::collections::BTreeSet<u64>| match (seen.first(), seen.last()) {
            (Some(first), Some(last)) => (last - first + 1) as usize == seen.len(),
            _ => false,
        };
        let r = tokio::time::timeout(Duration::from_secs(20), async {
            while !(online
                && bridge_online
                && beats >= 1
                && racks >= 1
                && shots >= 3
                && no_holes(&seen))
            {
                let m = link.inbound.recv().await.unwrap();
                match m.topic.as_str() {
                    "dojo/v1/devices/sim-t1/status" => {
                        let s = DeviceStatus::decode(&m.payload).unwrap();
                        assert_eq!(s.table.as_deref(), Some("t1"));
                        assert_eq!(s.kind.as_deref(), Some("controller"));
                        online |= s.status == Presence::Online;
                    }
                    "dojo/v1/devices/demo-bridge/status" => {
                        let s = DeviceStatus::decode(&m.payload).unwrap();
                        bridge_online |= s.status == Presence::Online;
                    }
                    "dojo/v1/tables/t1/events" => {
                        let msg =
                            shared::protocol::decode(shared::protocol::Channel::Events, &m.payload)
                                .unwrap();
                        assert_eq!(msg.device, "sim-t1");
                        if !seen.insert(msg.seq) {
                            continue; // a retransmitted copy
                        }
                        beats += u32::from(msg.event == DeviceEvent::Heartbeat);
                        racks += u32::from(msg.event == DeviceEvent::Rack);
                        shots += u32::from(
                            msg.event
                                == DeviceEvent::Button {
                                    button: Button::EndTurn,
                                },
                        );
                    }
                    other => panic!("unexpected topic {other}"),
                }
            }
        })
        .await;
        assert!(
            r.is_ok(),
            "online={online} bridge={bridge_online} heartbeats={beats} racks={racks} shots={shots}"
        );
        assert!(engine.started.load(Ordering::Relaxed) >= 1);
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), demo)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn options_scale_time() {
        let fast = DemoOptions { speed: 100.0 };
        assert_eq!(fast.scaled(10.0), Duration::from_millis(100));
        let broken = DemoOptions { speed: f64::NAN };
        assert_eq!(broken.scaled(2.0), Duration::from_secs(2));
    }
}
