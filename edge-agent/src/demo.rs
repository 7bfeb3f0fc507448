//! Simulated tables that play realistic matches through MQTT, exactly like real table controllers.
//!
//! Per table, [`run`] starts a match through the engine (8-ball or 9-ball, race to 3–5), then a
//! simulated controller `sim-{table}` publishes what a real one would on
//! `dojo/v1/tables/{table}/events`: `rack`, `pocket` for each ball that drops, `cue_return` on a
//! scratch, `button` `end_turn` to close each shot, sometimes `safety`, `push_out` and `pass`, and a
//! `heartbeat` every few seconds. Shots come every 3–10 s (divided by [`DemoOptions::speed`]).
//!
//! A mirror of the match (`shared::rules::Match`) picks plausible shots: the rules cannot see first
//! contact, so every made ball is one the shooter may legally pocket (the lowest ball in 9-ball, or
//! a combination; the shooter's group, then the 8, in 8-ball).
//!
//! Each simulated controller has its own MQTT connection (`TCP_NODELAY`), because MQTT allows one
//! last-will per connection: on connect it publishes a retained `online` status on
//! `dojo/v1/devices/sim-{table}/status`, with a retained `offline` last-will, and on shutdown it
//! publishes `offline` itself. Sequence numbers start at the current Unix time in ms and increase
//! by one per message, so they keep increasing across agent restarts. Replay commands are ignored:
//! the simulator keeps no history.
//!
//! Nothing here panics or gives up: errors are logged and retried.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rand::seq::IndexedRandom;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use shared::protocol::{
    Button, DeviceEvent, DeviceMessage, DeviceStatus, Presence, encode, events_topic, status_topic,
};
use shared::rules::{ActionKind, BallSet, Game, Input, Match, MatchSpec, Pocketed, Shot, State};
use tokio::sync::Mutex;

use crate::CancellationToken;
use crate::engine::{EngineError, EngineHandle};
use crate::mqtt::{MqttError, MqttMode, jitter, nodelay, parse_url, unique_client_id};
use crate::table::StaffAction;

/// The MQTT broker the simulated devices publish to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoBroker {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
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
                Ok(DemoBroker { host, port })
            }
        }
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
    let mut tasks = tokio::task::JoinSet::new();
    for table in tables {
        tasks.spawn(run_table(
            broker.clone(),
            engine.clone(),
            table,
            options,
            shutdown.clone(),
        ));
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "demo table task failed");
        }
    }
    tracing::info!("demo tables stopped");
}

/// The simulated controller's device id: `sim-{table}`, cut to the 32 characters a topic allows.
pub fn sim_device_id(table: &str) -> String {
    let mut id = format!("sim-{table}");
    id.truncate(shared::protocol::MAX_ID_LEN);
    id
}

/// One simulated controller's MQTT side.
struct Device {
    id: String,
    topic: String,
    client: AsyncClient,
    /// The next seq; the lock also keeps publishes in seq order.
    seq: Mutex<u64>,
}

impl Device {
    /// Publishes one event (QoS 1). Errors are logged.
    async fn send(&self, event: DeviceEvent) {
        let mut seq = self.seq.lock().await;
        let message = DeviceMessage {
            device: self.id.clone(),
            seq: *seq,
            ts_ms: Some(crate::now_ms()),
            event,
        };
        *seq += 1;
        if let Err(e) = self
            .client
            .publish(
                self.topic.as_str(),
                QoS::AtLeastOnce,
                false,
                encode(&message),
            )
            .await
        {
            tracing::warn!(device = %self.id, error = %e, "demo publish failed");
        }
    }
}

fn status(table: &str, presence: Presence) -> Vec<u8> {
    DeviceStatus {
        status: presence,
        firmware: Some(format!("sim-{}", env!("CARGO_PKG_VERSION"))),
        table: Some(table.to_owned()),
        kind: Some("controller".to_owned()),
        last_seen_ms: Some(crate::now_ms()),
    }
    .encode()
}

/// Connects the simulated controller and keeps its connection alive (with backoff).
fn connect_device(broker: &DemoBroker, table: &str, shutdown: &CancellationToken) -> Arc<Device> {
    let id = sim_device_id(table);
    let status_topic = status_topic(&id);
    let mut options = MqttOptions::new(unique_client_id(&id), broker.host.clone(), broker.port);
    options
        .set_keep_alive(Duration::from_secs(15))
        .set_clean_session(true)
        .set_last_will(LastWill::new(
            status_topic.clone(),
            status(table, Presence::Offline),
            QoS::AtLeastOnce,
            true,
        ));
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    eventloop.set_network_options(nodelay());
    let device = Arc::new(Device {
        id: id.clone(),
        topic: events_topic(table),
        client: client.clone(),
        seq: Mutex::new(crate::now_ms()),
    });
    let online = status(table, Presence::Online);
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => break,
                event = eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    backoff = Duration::from_millis(100);
                    if let Err(e) = client.try_publish(
                        status_topic.as_str(),
                        QoS::AtLeastOnce,
                        true,
                        online.clone(),
                    ) {
                        tracing::warn!(device = %id, error = %e, "demo status publish failed");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(device = %id, error = %e, "demo MQTT connection failed");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(jitter(backoff)) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        // Say goodbye ourselves (a clean disconnect suppresses the last-will), then drain briefly.
        let offline = status(&table_of(&status_topic), Presence::Offline);
        let _ = client.try_publish(status_topic.as_str(), QoS::AtLeastOnce, true, offline);
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            while eventloop.poll().await.is_ok() {}
        })
        .await;
    });
    device
}

/// The table a `sim-` status topic's device serves (best effort, for the goodbye message).
fn table_of(status_topic: &str) -> String {
    status_topic
        .split('/')
        .nth(3)
        .and_then(|d| d.strip_prefix("sim-"))
        .unwrap_or_default()
        .to_owned()
}

/// Sleeps, or returns `false` if shutdown came first.
async fn pause(shutdown: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(d) => true,
    }
}

async fn run_table<E: Referee>(
    broker: DemoBroker,
    engine: E,
    table: String,
    options: DemoOptions,
    shutdown: CancellationToken,
) {
    let device = connect_device(&broker, &table, &shutdown);

    // Heartbeats.
    let beat = {
        let device = device.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            while pause(&shutdown, options.scaled(5.0)).await {
                device.send(DeviceEvent::Heartbeat).await;
            }
        })
    };

    // Let the connection come up before the first match.
    let _ = pause(&shutdown, options.scaled(1.0)).await;
    while !shutdown.is_cancelled() {
        let spec = random_spec(&mut rand::rng());
        if !start_match(&engine, &table, &spec, options, &shutdown).await {
            break;
        }
        tracing::info!(%table, game = spec.game.as_str(), players = ?spec.players, race_to = spec.race_to, "demo match started");
        if !play_match(&device, spec, options, &shutdown).await {
            break;
        }
        if !pause(&shutdown, options.between(15.0, 30.0)).await {
            break;
        }
    }
    beat.abort();
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
            _ if attempt == 1 || attempt % 10 == 0 => {
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

/// Plays one match to the end; `false` on shutdown.
async fn play_match(
    device: &Device,
    spec: MatchSpec,
    options: DemoOptions,
    shutdown: &CancellationToken,
) -> bool {
    let Ok(mut mirror) = Match::new(spec) else {
        return true;
    };
    device.send(DeviceEvent::Rack).await;
    let mut shots = 0u32;
    while mirror.state().match_winner.is_none() {
        shots += 1;
        if shots > MAX_SHOTS {
            tracing::warn!("demo match ran past {MAX_SHOTS} shots; starting another");
            return true;
        }
        if !pause(shutdown, options.between(3.0, 10.0)).await {
            return false;
        }
        let plan = choose(mirror.spec(), mirror.state(), &mut rand::rng());
        let events = plan.events();
        let last = events.len().saturating_sub(1);
        for (i, event) in events.into_iter().enumerate() {
            device.send(event).await;
            if i < last && !pause(shutdown, options.between(0.3, 1.2)).await {
                return false;
            }
        }
        if let Err(e) = mirror.apply(plan.input()) {
            // Should not happen (the chooser only proposes legal inputs); fall back to a miss.
            tracing::warn!(error = %e, "demo mirror refused its own shot; treating it as a miss");
            let _ = mirror.apply(Input::shot(Shot::default()));
        }
        let state = mirror.state();
        if state.last.rack_winner.is_some() && state.match_winner.is_none() {
            if !pause(shutdown, options.between(10.0, 20.0)).await {
                return false;
            }
            device.send(DeviceEvent::Rack).await;
        }
    }
    true
}

/// A safety net against a mirror that never ends.
const MAX_SHOTS: u32 = 5000;

const NAMES: [&str; 24] = [
    "Ana", "Ben", "Carla", "Dev", "Efren", "Fiona", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena",
    "Marco", "Nia", "Oscar", "Priya", "Quinn", "Rosa", "Sam", "Tess", "Umar", "Vera", "Wes",
    "Yuki",
];

/// A plausible match: 8-ball or 9-ball, two different players, race to 3–5.
pub fn random_spec(rng: &mut impl Rng) -> MatchSpec {
    let game = if rng.random_bool(0.5) {
        Game::EightBall
    } else {
        Game::NineBall
    };
    let mut players = NAMES.choose_multiple(rng, 2).map(|s| (*s).to_owned());
    let a = players.next().unwrap_or_else(|| "Home".to_owned());
    let b = players.next().unwrap_or_else(|| "Away".to_owned());
    MatchSpec {
        game,
        players: [a, b],
        race_to: rng.random_range(3..=5),
        break_rule: Default::default(),
        rules: Default::default(),
    }
}

/// What the simulated players do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The incoming player hands the table back (button `pass`).
    Pass,
    /// A shot: an optional declaration button, the balls that drop, a scratch, then `end_turn`.
    Shot {
        /// `push_out` or `safety`, pressed before the shot.
        declare: Option<Button>,
        /// `(ball, pocket)` in the order they drop.
        pocketed: Vec<(u8, u8)>,
        /// The cue ball came back (`cue_return`).
        scratch: bool,
    },
}

impl Plan {
    /// What the controller publishes for this plan, in order.
    pub fn events(&self) -> Vec<DeviceEvent> {
        match self {
            Plan::Pass => vec![DeviceEvent::Button {
                button: Button::Pass,
            }],
            Plan::Shot {
                declare,
                pocketed,
                scratch,
            } => {
                let mut events = Vec::new();
                if let Some(button) = declare {
                    events.push(DeviceEvent::Button { button: *button });
                }
                events.extend(
                    pocketed
                        .iter()
                        .map(|&(ball, pocket)| DeviceEvent::Pocket { ball, pocket }),
                );
                if *scratch {
                    events.push(DeviceEvent::CueReturn);
                }
                events.push(DeviceEvent::Button {
                    button: Button::EndTurn,
                });
                events
            }
        }
    }

    /// The rules input the table should assemble from [`Plan::events`].
    pub fn input(&self) -> Input {
        match self {
            Plan::Pass => Input::action(ActionKind::Pass),
            Plan::Shot {
                declare,
                pocketed,
                scratch,
            } => Input::shot(Shot {
                pocketed: pocketed
                    .iter()
                    .map(|&(ball, pocket)| Pocketed {
                        ball,
                        pocket: Some(pocket),
                    })
                    .collect(),
                cue_ball_pocketed: *scratch,
                push_out: *declare == Some(Button::PushOut),
                safety: *declare == Some(Button::Safety),
                ..Shot::default()
            }),
        }
    }
}

/// Chooses the next plausible thing to happen at the table.
pub fn choose(spec: &MatchSpec, state: &State, rng: &mut impl Rng) -> Plan {
    // After a push-out (or a wrongly pocketed ball) the incoming player may hand the table back.
    if state.pass_option.is_some() && rng.random_bool(0.4) {
        return Plan::Pass;
    }
    if state.break_shot {
        // 0–2 balls on the break, rarely 3; the money ball / 8 only by luck.
        let n = *[0usize, 1, 1, 1, 2, 2, 3].choose(rng).unwrap_or(&1);
        let mut balls: Vec<u8> = state.on_table.iter().collect();
        let special = match spec.game {
            Game::EightBall => Some(8),
            Game::NineBall => Some(9),
            _ => None,
        };
        if !rng.random_bool(0.03) {
            balls.retain(|&b| Some(b) != special);
        }
        let made: Vec<(u8, u8)> = balls
            .choose_multiple(rng, n)
            .map(|&b| (b, pocket(rng)))
            .collect();
        return Plan::Shot {
            declare: None,
            pocketed: made,
            scratch: rng.random_bool(0.05),
        };
    }
    if state.push_out_available && rng.random_bool(0.3) {
        return Plan::Shot {
            declare: Some(Button::PushOut),
            pocketed: Vec::new(),
            scratch: false,
        };
    }
    let targets = legal_targets(spec, state);
    let skill = 0.6;
    if targets.is_empty() || !rng.random_bool(skill) {
        // A miss, sometimes a declared safety, sometimes a scratch.
        let safety = rng.random_bool(0.15);
        return Plan::Shot {
            declare: safety.then_some(Button::Safety),
            pocketed: Vec::new(),
            scratch: !safety && rng.random_bool(0.06),
        };
    }
    let first = *targets.choose(rng).unwrap_or(&targets[0]);
    let mut made = vec![(first, pocket(rng))];
    // Sometimes a second ball drops (from the same choices, never the 8 or the money ball).
    if rng.random_bool(0.12) {
        let mut rest: Vec<u8> = state
            .on_table
            .iter()
            .filter(|&b| b != first && Some(b) != spec.game_money_or_eight())
            .collect();
        if spec.game == Game::EightBall {
            let own = targets.clone();
            rest.retain(|b| own.contains(b));
        }
        if let Some(&second) = rest.choose(rng) {
            made.push((second, pocket(rng)));
        }
    }
    Plan::Shot {
        declare: None,
        pocketed: made,
        scratch: rng.random_bool(0.04),
    }
}

/// A random pocket, 1..=6.
fn pocket(rng: &mut impl Rng) -> u8 {
    rng.random_range(1..=6u8)
}

/// The balls the shooter may try to make now.
fn legal_targets(spec: &MatchSpec, state: &State) -> Vec<u8> {
    let on = state.on_table;
    match spec.game {
        Game::EightBall => {
            let own: Option<BallSet> = state
                .groups
                .map(|groups| groups[state.shooter].balls().intersect(on));
            match own {
                Some(own) if !own.is_empty() => own.iter().collect(),
                Some(_) => on.iter().filter(|&b| b == 8).collect(),
                None => {
                    let open: Vec<u8> = on.iter().filter(|&b| b != 8).collect();
                    if open.is_empty() {
                        on.iter().collect()
                    } else {
                        open
                    }
                }
            }
        }
        _ => {
            // Rotation: the lowest ball, or now and then a combination on the money ball.
            let mut t: Vec<u8> = on.lowest().into_iter().collect();
            if let Some(money) = spec.game_money_or_eight() {
                if on.contains(money) && on.len() <= 4 && !t.contains(&money) {
                    t.push(money);
                }
            }
            t
        }
    }
}

trait SpecExt {
    fn game_money_or_eight(&self) -> Option<u8>;
}

impl SpecExt for MatchSpec {
    fn game_money_or_eight(&self) -> Option<u8> {
        match self.game {
            Game::EightBall => Some(8),
            Game::NineBall => Some(9),
            Game::TenBall => Some(10),
            Game::StraightPool => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicU32, Ordering};

    use rand::SeedableRng;
    use rand::rngs::StdRng;

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
    }

    #[test]
    fn simulated_matches_finish_with_only_legal_inputs() {
        for seed in 0..300u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let spec = random_spec(&mut rng);
            assert_ne!(spec.players[0], spec.players[1]);
            assert!((3..=5).contains(&spec.race_to));
            let mut mirror = Match::new(spec).unwrap();
            let mut shots = 0;
            while mirror.state().match_winner.is_none() {
                shots += 1;
                assert!(shots < 2000, "seed {seed}: no winner after {shots} inputs");
                let plan = choose(mirror.spec(), mirror.state(), &mut rng);
                // Every event the controller would send is valid on the events channel.
                for (i, event) in plan.events().into_iter().enumerate() {
                    let m = DeviceMessage {
                        device: "sim-t1".into(),
                        seq: i as u64,
                        ts_ms: None,
                        event,
                    };
                    shared::protocol::decode(shared::protocol::Channel::Events, &encode(&m))
                        .unwrap();
                }
                let input = plan.input();
                if let Err(e) = mirror.apply(input.clone()) {
                    panic!("seed {seed}: rules refused {input:?} ({plan:?}): {e}");
                }
            }
        }
    }

    #[test]
    fn plans_map_to_events_and_inputs() {
        let plan = Plan::Shot {
            declare: Some(Button::Safety),
            pocketed: vec![(3, 2)],
            scratch: true,
        };
        assert_eq!(
            plan.events(),
            vec![
                DeviceEvent::Button {
                    button: Button::Safety
                },
                DeviceEvent::Pocket { ball: 3, pocket: 2 },
                DeviceEvent::CueReturn,
                DeviceEvent::Button {
                    button: Button::EndTurn
                },
            ]
        );
        let Input::Shot { shot } = plan.input() else {
            panic!("not a shot");
        };
        assert!(shot.safety && shot.cue_ball_pocketed && !shot.push_out);
        assert_eq!(Plan::Pass.input(), Input::action(ActionKind::Pass));
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
        assert_eq!(table_of("dojo/v1/devices/sim-t9/status"), "t9");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn demo_devices_publish_through_the_embedded_broker() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let shutdown = CancellationToken::new();
        let mut link = crate::mqtt::connect(&MqttMode::Embedded { listen: addr }, shutdown.clone())
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
        let (mut online, mut beats, mut racks, mut shots) = (false, 0u32, 0u32, 0u32);
        let mut last_seq = 0u64;
        let r = tokio::time::timeout(Duration::from_secs(10), async {
            while !(online && beats >= 2 && racks >= 1 && shots >= 3) {
                let m = link.inbound.recv().await.unwrap();
                match m.topic.as_str() {
                    "dojo/v1/devices/sim-t1/status" => {
                        let s = DeviceStatus::decode(&m.payload).unwrap();
                        online |= s.status == Presence::Online;
                    }
                    "dojo/v1/tables/t1/events" => {
                        let msg =
                            shared::protocol::decode(shared::protocol::Channel::Events, &m.payload)
                                .unwrap();
                        assert_eq!(msg.device, "sim-t1");
                        assert!(msg.seq > last_seq, "seq must increase");
                        last_seq = msg.seq;
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
            "online={online} heartbeats={beats} racks={racks} shots={shots}"
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
