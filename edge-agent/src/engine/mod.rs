//! The single owner of every table. One task takes device messages (from MQTT) and staff requests
//! (from HTTP) in arrival order, rules them, and hands each accepted input to the store writer with
//! the view it produced. It never waits for a commit itself (the writer batches), but staff
//! requests are answered only after theirs is committed, and screens only see committed views.
//!
//! - `handle`: [`EngineHandle`], how the API and the demo ask, and [`EngineError`];
//! - `reject_log`: rate-limited logging of rejected messages;
//! - `scoring`: scoring mode changes and fallbacks, logged and counted;
//! - `tournaments`: the tournaments beside the tables: results in the table's transaction, calls.

mod handle;
mod reject_log;
mod scoring;
mod tournaments;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::protocol::{
    self, BallPosition, Channel, DeviceCommand, DeviceEvent, DeviceStatus, Presence, Topic,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;
use crate::ingest::{DeviceMark, Ingest, Request as ReplayRequest, Step, Verdict};
use crate::metrics::Metrics;
use crate::mqtt::{Commands, Inbound};
use crate::registry::{Announcement, Change, Entry, Registry};
use crate::store::{Commit, DeadLetter, Recovered, StoreTx, Write};
use crate::table::{Actor, Applied, Refused, Table, TableInput};
use crate::view::Published;
use handle::{Reply, Request};
use reject_log::RejectLog;

pub use handle::{EngineError, EngineHandle};
pub use tournaments::Board;

/// Where an input came from, and what goes with it to the store and back.
#[derive(Debug)]
enum Source {
    /// A staff request: answered once its input is committed (or refused).
    Staff(Reply),
    /// A device message, in the device's seq order: its dedupe mark is saved with the input.
    Device {
        /// The device's mark as of this message.
        mark: DeviceMark,
        /// When it arrived (for the latency metric).
        received: Instant,
    },
    /// A device's retained status topic.
    Status {
        /// When it arrived.
        received: Instant,
    },
    /// Ingest gave up on a device's missed events: its mark moves past them.
    Lost(DeviceMark),
    /// The engine's own timers: a quiet close, a device silent past the timeout.
    Timer,
}

impl Source {
    /// The device mark to save, when it arrived, and whom to answer.
    fn into_parts(self) -> (Option<DeviceMark>, Option<Instant>, Option<Reply>) {
        match self {
            Source::Staff(reply) => (None, Some(Instant::now()), Some(reply)),
            Source::Device { mark, received } => (Some(mark), Some(received), None),
            Source::Status { received } => (None, Some(received), None),
            Source::Lost(mark) => (Some(mark), None, None),
            Source::Timer => (None, None, None),
        }
    }
}

/// Timing and behaviour knobs.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Quiet period that closes a shot with balls down (0 = never).
    pub shot_quiet_ms: u64,
    /// Silence after which a device shows offline.
    pub presence_timeout_ms: u64,
    /// Switch a table's light on when a match starts or a session starts there, and off when
    /// neither is left.
    pub table_lights: bool,
    /// A camera that opened a shot and says nothing more for this long hands the shot to the
    /// pocket sensors (0 = never).
    pub camera_shot_timeout_ms: u64,
    /// `--demo`: every match started is a demo match (its records never enter the outbox).
    pub demo: bool,
    /// A tournament's no-show may be forfeited this long after the call.
    pub call_timeout_ms: u64,
}

/// The engine before it runs.
#[derive(Debug)]
pub struct Engine {
    tables: BTreeMap<String, Table>,
    ingest: Ingest<Held>,
    seq: u64,
    epoch: String,
    store: StoreTx,
    hub: Hub,
    metrics: Arc<Metrics>,
    commands: Commands,
    timing: Timing,
    requests: mpsc::Receiver<Request>,
    reject_log: RejectLog,
    /// Per camera, the seq of the newest positions frame shown.
    newest_frame: HashMap<String, u64>,
    /// The last scoring mode reported per table.
    modes: scoring::Modes,
    /// Which tables take writes, their names and order.
    registry: Registry,
    /// Registry entries not yet handed to the store (tables the configuration declares).
    unsaved: Vec<Entry>,
    /// Per device, the table its retained status names (at most [`MAX_ANNOUNCED`]).
    announced: BTreeMap<String, Announcement>,
    /// Told what the engine sees happen (devices heard, its loop running, the link closing).
    health: Option<Arc<crate::health::Health>>,
    /// The venue's tournaments, by id.
    tournaments: BTreeMap<String, crate::tournament::Tournament>,
    /// Calls ended without their table match, whose table matches are voided on the next tick.
    to_void: Vec<crate::tournament::Call>,
    /// Where `tournament` messages go to `/ws` clients.
    notices: Option<crate::notices::Notices>,
    /// The tournaments' committed views, for the API.
    board: tournaments::Board,
}

/// Devices whose announcements are kept: anyone on the network can publish a status under any
/// device id, so the oldest announcement goes when a new device would pass this.
const MAX_ANNOUNCED: usize = 512;

/// Camera ids whose newest shown frame is remembered (for more, the memory starts over: at worst
/// one older replayed frame is shown again).
const MAX_FRAME_MARKS: usize = 1024;

/// A decoded device message, as `ingest` holds it until the device's earlier seqs are in.
#[derive(Debug)]
struct Held {
    table: String,
    channel: Channel,
    message: protocol::DeviceMessage,
    received_ms: u64,
    received: Instant,
}

impl Engine {
    /// Rebuilds every table by replaying its logged inputs, and returns the engine, its handle and
    /// the recovered views (to seed the hub before anything is served).
    pub fn recover(
        recovered: Recovered,
        store: StoreTx,
        hub: Hub,
        metrics: Arc<Metrics>,
        commands: Commands,
        timing: Timing,
    ) -> (Engine, EngineHandle, Vec<Published>) {
        let mut tables = BTreeMap::new();
        let mut views = Vec::new();
        let registry = Registry::new(recovered.registry);
        for logged in recovered.tables {
            let mut table = Table::new(&logged.table);
            table.seed_label(registry.get(&logged.table));
            table.seed_devices(&logged.view);
            table.seed_session(&logged.view);
            for (seq, received_ms, input) in &logged.events {
                match serde_json::from_str::<TableInput>(input) {
                    Ok(input) => {
                        if let Err(error) = table.replay(&input, *seq, *received_ms) {
                            tracing::warn!(table = %logged.table, seq, %error, "a logged input no longer applies");
                        }
                    }
                    Err(error) => {
                        tracing::error!(table = %logged.table, seq, %error, "unreadable logged input skipped");
                    }
                }
            }
            let view = Published::new(table.view(), None);
            if *view.json != *logged.view {
                tracing::warn!(table = %logged.table, "replayed state differs from the last stored view");
            }
            views.push(view);
            tables.insert(logged.table, table);
        }
        let tournaments = tournaments::replay(recovered.tournaments);
        let board = tournaments::Board::default();
        for tournament in tournaments.values() {
            board.put(recovered.last_seq, tournament.view(timing.call_timeout_ms));
        }
        let (tx, requests) = mpsc::channel(256);
        let store_watch = store.watch();
        let modes = scoring::Modes::recovered(tables.values());
        let engine = Engine {
            tables,
            ingest: Ingest::new(recovered.devices, crate::clock::now_ms()),
            seq: recovered.last_seq,
            epoch: recovered.epoch,
            store,
            hub,
            metrics,
            commands,
            timing,
            requests,
            reject_log: RejectLog::default(),
            newest_frame: HashMap::new(),
            modes,
            registry,
            unsaved: Vec::new(),
            announced: BTreeMap::new(),
            health: None,
            tournaments,
            to_void: Vec::new(),
            notices: None,
            board: board.clone(),
        };
        let handle = EngineHandle {
            tx,
            store: Some(store_watch),
            board,
        };
        (engine, handle, views)
    }

    /// Registers the tables the configuration declares that the registry does not know yet (a
    /// retired one stays retired: staff retired it). They are saved when the engine starts running.
    pub fn declare(&mut self, tables: &[String]) {
        for table in tables {
            if self.registry.get(table).is_some() {
                continue;
            }
            let change = Change::Put {
                table: table.clone(),
                name: None,
                position: None,
            };
            match self.registry.plan(&change) {
                Ok(Some(entry)) => {
                    self.registry.apply(entry.clone());
                    self.unsaved.push(entry);
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%table, %error, "a declared table is not registered"),
            }
        }
    }

    /// Reports to `health` what the engine sees: devices heard, its loop running, the link closing.
    pub fn report_to(&mut self, health: Arc<crate::health::Health>) {
        self.health = Some(health);
    }

    /// Sends each committed tournament change to `/ws` clients as a `tournament` message.
    pub fn notices_to(&mut self, notices: crate::notices::Notices) {
        self.notices = Some(notices);
    }

    /// Runs until `shutdown`; then drops its store sender so the writer drains and stops.
    pub async fn run(mut self, mut inbound: mpsc::Receiver<Inbound>, shutdown: CancellationToken) {
        if !self.unsaved.is_empty() {
            let entries = std::mem::take(&mut self.unsaved);
            tracing::info!(tables = entries.len(), "declared tables registered");
            let write = Write::Registry {
                entries,
                done: None,
            };
            if let Err(error) = self.store.send(write).await {
                tracing::error!(%error, "cannot save the declared tables");
            }
        }
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut link_open = true;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(request) = self.requests.recv() => self.request(request).await,
                message = inbound.recv(), if link_open => match message {
                    Some(message) => self.inbound(message).await,
                    None => {
                        link_open = false;
                        tracing::error!("the MQTT link closed: no device can be heard (health fails)");
                        if let Some(health) = &self.health {
                            health.link_closed();
                        }
                    }
                },
                _ = tick.tick() => {
                    if let Some(health) = &self.health {
                        health.engine_ran(crate::clock::now_ms());
                    }
                    self.timers().await;
                }
                else => break,
            }
        }
        tracing::info!("engine stopped");
    }

    async fn request(&mut self, request: Request) {
        let (table, input, reply) = match request {
            Request::Register { change, by, reply } => {
                return self.register(change, by, reply).await;
            }
            Request::Registry { reply } => {
                let _ = reply.send(self.registry.listing(self.announced.values()));
                return;
            }
            Request::Tournament { id, input, reply } => {
                return self.tournament_request(id, input, reply).await;
            }
            Request::Import { planned, reply } => {
                let taken = self.import(planned).await;
                let _ = reply.send(taken);
                return;
            }
            Request::Start {
                table,
                spec,
                player_ids,
                by,
                reply,
            } => {
                // Unique per database: its epoch's first 8 hex digits and the event seq.
                let epoch = self.epoch.get(..8).unwrap_or(&self.epoch);
                let match_id = format!("{epoch}-{}", self.seq + 1);
                let input = TableInput::StartMatch {
                    match_id,
                    spec,
                    player_ids,
                    demo: self.timing.demo,
                    by,
                };
                (table, input, reply)
            }
            Request::Action {
                table,
                action,
                by,
                reply,
            } => (
                table,
                TableInput::Staff {
                    action,
                    by: Some(by),
                },
                reply,
            ),
            Request::Session {
                table,
                start: true,
                by,
                reply,
            } => (table, TableInput::SessionStart { by: Some(by) }, reply),
            Request::Session {
                table,
                start: false,
                by,
                reply,
            } => (table, TableInput::SessionStop { by: Some(by) }, reply),
        };
        if !protocol::valid_id(&table) {
            let _ = reply.send(Err(EngineError::BadTable(table)));
            return;
        }
        if !self.registry.accepts(&table) {
            let _ = reply.send(Err(EngineError::UnknownTable(table)));
            return;
        }
        if !self.store.can_commit() {
            let _ = reply.send(Err(EngineError::CannotSave));
            return;
        }
        if let Err(error) = self
            .commit(&table, input, crate::clock::now_ms(), Source::Staff(reply))
            .await
        {
            tracing::debug!(%error, "staff request refused");
        }
    }

    /// Applies `input`, received at `received_ms`, to `table` and queues the commit. Errors were
    /// already sent to a staff request's reply.
    async fn commit(
        &mut self,
        table_id: &str,
        input: TableInput,
        received_ms: u64,
        source: Source,
    ) -> Result<(), EngineError> {
        let (device_mark, received, reply) = source.into_parts();
        // Nothing new is applied that could not be saved: the table stays as committed and staff
        // get a 503. A device's event that ingest already released (its mark moved in memory)
        // still goes to the writer, which saves it once it can: refusing it here would lose it.
        // New device messages are not taken at all while the writer cannot commit (see
        // `device_message`), so their marks do not move and they are asked for again.
        if device_mark.is_none() && !self.store.can_commit() {
            if let Some(reply) = reply {
                let _ = reply.send(Err(EngineError::CannotSave));
            }
            return Err(EngineError::CannotSave);
        }
        let table = table_entry(&mut self.tables, &self.registry, table_id);
        let seq = self.seq + 1;
        let was_lit = table.lit();
        let applied: Applied = match table.apply(&input, seq, received_ms) {
            Ok(applied) => applied,
            Err(refused) => {
                let error = match refused {
                    Refused::NoMatch => EngineError::NoMatch(table_id.to_owned()),
                    Refused::Busy => EngineError::Busy(table_id.to_owned()),
                    Refused::Rules(rejected) => EngineError::Rejected(rejected),
                    Refused::SessionRunning => EngineError::SessionRunning(table_id.to_owned()),
                    Refused::NoSession => EngineError::NoSession(table_id.to_owned()),
                    Refused::NoClock | Refused::Clock(_) => {
                        EngineError::ShotClock(refused.to_string())
                    }
                };
                self.metrics.rejected("rules");
                if let Some(reply) = reply {
                    let _ = reply.send(Err(error));
                }
                return Ok(());
            }
        };
        self.seq = seq;
        // The light follows "a match in play or a session running": switched when that changes.
        let lit = table.lit();
        if self.timing.table_lights && lit != was_lit {
            let command = serde_json::to_vec(&DeviceCommand::Light { on: lit }).unwrap_or_default();
            for device in table.controllers() {
                self.commands
                    .publish(protocol::cmd_topic(&device), command.clone(), false);
            }
        }
        if let Some(note) = &applied.repaired {
            tracing::warn!(table = table_id, seq, note, "shot repaired");
            self.metrics.rejected("shot_repaired");
        }
        self.modes.report(&self.metrics, table, seq, &applied);
        let view = Published::new(table.view(), received);
        let device = input.device_seq();
        let input_value = input;
        let input = serde_json::to_string(&input_value).unwrap_or_default();
        let (rows, changed) = self.follow_table(table_id, &input_value, &applied, received_ms);
        let (store_reply, committed) = oneshot::channel();
        let commit = Commit {
            seq,
            table: table_id.to_owned(),
            received_ms,
            device,
            input,
            view,
            match_start: applied.match_start,
            device_mark,
            outbox: applied.outbox,
            reply: (reply.is_some() || !changed.is_empty()).then_some(store_reply),
            tournament: rows,
        };
        self.store
            .send(Write::Event(Box::new(commit)))
            .await
            .map_err(|e| EngineError::Store(e.to_string()))?;
        let (publish_tx, publish_rx) = oneshot::channel();
        self.publish_after(&changed, publish_rx);
        if reply.is_some() || !changed.is_empty() {
            // Answer (and show the tournaments) after the commit without holding up the engine.
            tokio::spawn(async move {
                let answer = match committed.await {
                    Ok(Ok(view)) => {
                        let _ = publish_tx.send(());
                        Ok(view)
                    }
                    Ok(Err(error)) => Err(EngineError::Store(error)),
                    Err(_) => Err(EngineError::ShuttingDown),
                };
                if let Some(reply) = reply {
                    let _ = reply.send(answer);
                }
            });
        }
        Ok(())
    }

    async fn reject(&mut self, message: &Inbound, reason: &'static str, detail: String) {
        self.metrics.rejected(reason);
        if let Some(suppressed) =
            self.reject_log
                .should_log(&message.topic, reason, message.received_ms)
        {
            tracing::warn!(topic = %message.topic, reason, %detail, suppressed, "message rejected");
        }
        let letter = DeadLetter {
            received_ms: message.received_ms,
            topic: message.topic.clone(),
            payload: message.payload.clone(),
            reason: reason.to_owned(),
            detail,
        };
        // Dropped rather than waited for when the writer is behind or cannot commit: refused
        // input must never hold up the tables (it is counted above either way).
        if !self.store.offer(Write::DeadLetter(letter)) {
            self.metrics.rejected("dead_letter_dropped");
        }
    }

    async fn inbound(&mut self, mut message: Inbound) {
        // Refused by the embedded broker (mqtt::guard): never routed, only dead-lettered.
        if let Some(refusal) = message.refused.take() {
            return self.reject(&message, refusal.reason, refusal.detail).await;
        }
        let Some(topic) = protocol::parse_topic(&message.topic) else {
            return self
                .reject(
                    &message,
                    "unknown_topic",
                    "not a dojo/v1 table or device topic".into(),
                )
                .await;
        };
        match topic {
            Topic::Table { table, channel } => {
                let table = table.to_owned();
                self.device_message(&table, channel, message).await;
            }
            Topic::DeviceStatus { device } => {
                let device = device.to_owned();
                self.status(&device, message).await;
            }
            // Our own commands come back through the subscription; they are not input.
            Topic::DeviceCmd { .. } => {}
        }
    }

    async fn device_message(&mut self, table: &str, channel: Channel, message: Inbound) {
        if !self.registry.accepts(table) {
            return self.unknown_table(&message, table).await;
        }
        let decoded = match protocol::decode(channel, &message.payload) {
            Ok(decoded) => decoded,
            Err(reject) => {
                return self
                    .reject(&message, reject.reason(), reject.to_string())
                    .await;
            }
        };
        // A valid message for a registered table: a device is heard (garbage is not).
        if let Some(health) = &self.health {
            health.heard(message.received_ms);
        }
        // While nothing can be saved, a device's message is not taken at all: its mark stays
        // where it was committed, so once the writer commits again the device's next message
        // shows the gap and the events are asked for again (they stay with the device).
        if !self.store.can_commit() {
            self.metrics.rejected("store_unavailable");
            return;
        }
        let now = message.received_ms;
        let (device, seq, boot) = (decoded.device.clone(), decoded.seq, decoded.boot.clone());
        let mut decoded = decoded;
        // Positions go to screens as they come, newest only, even while a gap holds the camera's
        // shot events back: they are not rules input, and holding them would freeze the screens and
        // keep up to a thousand frames per camera in memory. Only the seq goes through `ingest`,
        // so the frame still fills its place in the device's sequence.
        let positions = match &mut decoded.event {
            DeviceEvent::Frame { balls } => Some(std::mem::take(balls)),
            _ => None,
        };
        let held = Held {
            table: table.to_owned(),
            channel,
            message: decoded,
            received_ms: now,
            received: message.received,
        };
        let (verdict, steps) = self
            .ingest
            .check(&device, table, boot.as_deref(), seq, now, held);
        if let (Verdict::Accept { .. }, Some(balls)) = (&verdict, positions) {
            self.show_positions(table, &device, seq, balls);
        }
        match verdict {
            Verdict::Duplicate => self.metrics.duplicate(),
            Verdict::OutOfRange { bound } => {
                let detail = format!(
                    "seq {seq} of device {device:?} is more than its replay window above what it has sent (at most {bound} now)"
                );
                self.reject(&message, "seq_out_of_range", detail).await;
            }
            Verdict::Accept {
                gap: Some((from_seq, to_seq)),
            } => {
                tracing::warn!(%device, from_seq, to_seq, "gap in device seq; asking for a replay (later events wait)");
                self.replay(ReplayRequest {
                    device: device.clone(),
                    boot,
                    from_seq,
                    to_seq,
                });
            }
            Verdict::Accept { gap: None } => {}
        }
        self.steps(steps, now).await;
        self.metrics.set_waiting(self.ingest.waiting());
    }

    /// Asks a device to publish its messages `from_seq..=to_seq` again.
    fn replay(&mut self, request: ReplayRequest) {
        let command = DeviceCommand::Replay {
            from_seq: request.from_seq,
            to_seq: request.to_seq,
            boot: request.boot,
        };
        self.metrics.replay_requested(1);
        self.commands.publish(
            protocol::cmd_topic(&request.device),
            serde_json::to_vec(&command).unwrap_or_default(),
            false,
        );
    }

    /// Sends a camera's positions to the table's screens, unless a newer frame of it was shown
    /// (a replayed one). Seq 1 is a camera that restarted: shown.
    fn show_positions(&mut self, table: &str, device: &str, seq: u64, balls: Vec<BallPosition>) {
        if self.newest_frame.len() >= MAX_FRAME_MARKS && !self.newest_frame.contains_key(device) {
            self.newest_frame.clear();
        }
        let newest = self.newest_frame.entry(device.to_owned()).or_insert(0);
        if seq > 1 && seq <= *newest {
            return;
        }
        *newest = seq;
        let event = DeviceEvent::Frame { balls };
        let json = serde_json::json!({"type": "positions", "table": table, "device": device, "event": event});
        self.hub.positions(table, json.to_string());
    }

    /// Carries out what `ingest` released: device messages in seq order, events given up on.
    async fn steps(&mut self, steps: Vec<Step<Held>>, now: u64) {
        for step in steps {
            match step {
                Step::Apply { item, mark } => self.apply_device(item, mark).await,
                Step::Lost { events, mark } => {
                    tracing::warn!(device = %mark.device, events, "device events missed and not replayed");
                    self.metrics.missing(events);
                    let input = TableInput::Missing {
                        device: mark.device.clone(),
                        events,
                    };
                    let table = mark.table.clone();
                    let _ = self.commit(&table, input, now, Source::Lost(mark)).await;
                }
            }
        }
    }

    /// Applies one device message (in its device's seq order); `mark` is stored with it.
    async fn apply_device(&mut self, held: Held, mark: DeviceMark) {
        let Held {
            table,
            channel,
            message: decoded,
            received_ms: now,
            received,
        } = held;
        let table = table.as_str();
        self.metrics.accepted(decoded.event.type_name());
        let kind = if channel == Channel::Camera {
            "camera"
        } else {
            "controller"
        };
        scoring::note_new_device(&self.metrics, self.tables.get(table), &decoded.device, kind);
        match &decoded.event {
            // Shown when it arrived (see `device_message`); not stored, nor is the mark (the next
            // stored event carries it).
            DeviceEvent::Frame { .. } => {}
            DeviceEvent::Heartbeat => {
                let table_entry = table_entry(&mut self.tables, &self.registry, table);
                if table_entry.heartbeat(&decoded.device, now, kind) {
                    let input = TableInput::Presence {
                        device: decoded.device.clone(),
                        online: true,
                    };
                    let source = Source::Device { mark, received };
                    let _ = self.commit(table, input, now, source).await;
                } else {
                    let _ = self.store.send(Write::Device(mark)).await;
                }
            }
            _ => {
                let input = TableInput::Device {
                    device: decoded.device,
                    seq: decoded.seq,
                    event: decoded.event,
                };
                let source = Source::Device { mark, received };
                let _ = self.commit(table, input, now, source).await;
            }
        }
    }

    async fn status(&mut self, device: &str, message: Inbound) {
        if message.payload.is_empty() {
            return; // a cleared retained status
        }
        let status: DeviceStatus = match serde_json::from_slice(&message.payload) {
            Ok(status) => status,
            Err(error) => {
                return self
                    .reject(&message, "invalid", format!("device status: {error}"))
                    .await;
            }
        };
        let table = status
            .table
            .clone()
            .or_else(|| self.ingest.mark(device).map(|m| m.table.clone()));
        let Some(table) = table.filter(|t| protocol::valid_id(t)) else {
            return;
        };
        if status.table.is_some() {
            let announcement = Announcement {
                device: device.to_owned(),
                table: table.clone(),
                kind: status.kind.clone(),
                online: status.status == Presence::Online,
                received_ms: message.received_ms,
            };
            remember(&mut self.announced, announcement);
        }
        if !self.registry.accepts(&table) {
            return self.unknown_table(&message, &table).await;
        }
        if let Some(health) = &self.health {
            health.heard(message.received_ms);
        }
        // Only devices of registered tables are remembered (an outsider's statuses make nothing).
        let boot = status.boot.as_deref().filter(|b| protocol::valid_boot(b));
        self.ingest.announce(
            device,
            boot,
            status.replay_window,
            status.status == Presence::Online,
            message.received_ms,
        );
        let online = status.status == Presence::Online;
        let shown = self
            .tables
            .get(&table)
            .and_then(|t| t.device_online(device));
        if shown != Some(online) {
            let input = TableInput::Presence {
                device: device.to_owned(),
                online,
            };
            let source = Source::Status {
                received: message.received,
            };
            let _ = self
                .commit(&table, input, message.received_ms, source)
                .await;
        }
    }

    /// A device message for a table that is not registered (or is retired): a dead letter.
    async fn unknown_table(&mut self, message: &Inbound, table: &str) {
        let detail = format!(
            "table {table:?} is not registered{}: register it in the staff console (Venue tab) if it is real",
            if self.registry.get(table).is_some() {
                " (retired)"
            } else {
                ""
            }
        );
        self.reject(message, "unknown_table", detail).await;
    }

    /// A registry change from staff: saved, then shown on the table's view, then answered.
    async fn register(
        &mut self,
        change: Change,
        by: Actor,
        reply: oneshot::Sender<Result<crate::registry::Entry, EngineError>>,
    ) {
        if !self.store.can_commit() {
            let _ = reply.send(Err(EngineError::CannotSave));
            return;
        }
        let planned = match self.registry.plan(&change) {
            Ok(planned) => planned,
            Err(error) => {
                let _ = reply.send(Err(error.into()));
                return;
            }
        };
        let table_id = match &change {
            Change::Put { table, .. } | Change::Retire { table } => table.clone(),
        };
        let Some(entry) = planned else {
            // Nothing changes: answer with the entry as it is.
            let known = self.registry.get(&table_id).cloned();
            let _ = reply.send(known.ok_or(EngineError::UnknownTable(table_id)));
            return;
        };
        let in_use = self.tables.get(&table_id).is_some_and(Table::lit);
        if entry.retired && in_use {
            let _ = reply.send(Err(EngineError::InUse(table_id)));
            return;
        }
        // Any change shows on the table's view (made if new), except retiring a table that never
        // had one: then the registry row alone is committed.
        let shown = !entry.retired || self.tables.contains_key(&table_id);
        let (saved_tx, saved) = oneshot::channel();
        let write = Write::Registry {
            entries: vec![entry.clone()],
            done: (!shown).then_some(saved_tx),
        };
        if self.store.send(write).await.is_err() {
            let _ = reply.send(Err(EngineError::ShuttingDown));
            return;
        }
        self.registry.apply(entry.clone());
        if !shown {
            tokio::spawn(async move {
                let answer = saved.await.map(|()| entry);
                let _ = reply.send(answer.map_err(|_| EngineError::ShuttingDown));
            });
            return;
        }
        let input = TableInput::Registry {
            name: entry.name.clone(),
            position: entry.position,
            retired: entry.retired,
            by: Some(by),
        };
        let (view_tx, committed) = oneshot::channel();
        let now = crate::clock::now_ms();
        let _ = self
            .commit(&table_id, input, now, Source::Staff(view_tx))
            .await;
        tokio::spawn(async move {
            let answer = match committed.await {
                Ok(Ok(_)) => Ok(entry),
                Ok(Err(error)) => Err(error),
                Err(_) => Err(EngineError::ShuttingDown),
            };
            let _ = reply.send(answer);
        });
    }

    async fn timers(&mut self) {
        // Timers change tables only through commits: while nothing can be saved they wait (the
        // next tick after the writer commits again does what is due then).
        if !self.store.can_commit() {
            return;
        }
        let now = crate::clock::now_ms();
        let mut due = Vec::new();
        for (id, table) in &self.tables {
            if table.quiet_due(now, self.timing.shot_quiet_ms) {
                due.push((id.clone(), TableInput::QuietClose));
            }
            if let Some(device) = table.camera_due(now, self.timing.camera_shot_timeout_ms) {
                due.push((id.clone(), TableInput::CameraLost { device }));
            }
            if let Some(event) = table.clock_due(now) {
                due.push((id.clone(), TableInput::ShotClock { event }));
            }
            for device in table.silent_devices(now, self.timing.presence_timeout_ms) {
                due.push((
                    id.clone(),
                    TableInput::Presence {
                        device,
                        online: false,
                    },
                ));
            }
        }
        for (table, input) in due {
            let _ = self.commit(&table, input, now, Source::Timer).await;
        }
        self.call_ready().await;
        let steps = self.ingest.expire(now);
        self.steps(steps, now).await;
        for request in self.ingest.replays(now) {
            tracing::info!(device = %request.device, from_seq = request.from_seq, to_seq = request.to_seq, "gap still open; asking for a replay again");
            self.replay(request);
        }
        self.metrics.set_waiting(self.ingest.waiting());
    }
}

/// Keeps `announcement`, dropping the oldest one when a new device would pass [`MAX_ANNOUNCED`].
fn remember(announced: &mut BTreeMap<String, Announcement>, announcement: Announcement) {
    if announced.len() >= MAX_ANNOUNCED && !announced.contains_key(&announcement.device) {
        let oldest = announced
            .values()
            .min_by_key(|a| a.received_ms)
            .map(|a| a.device.clone());
        if let Some(oldest) = oldest {
            announced.remove(&oldest);
        }
    }
    announced.insert(announcement.device.clone(), announcement);
}

/// The table `id`, made (labelled from the registry) if it is new.
fn table_entry<'a>(
    tables: &'a mut BTreeMap<String, Table>,
    registry: &Registry,
    id: &str,
) -> &'a mut Table {
    tables.entry(id.to_owned()).or_insert_with(|| {
        let mut table = Table::new(id);
        table.seed_label(registry.get(id));
        table
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announcement(n: u64) -> Announcement {
        Announcement {
            device: format!("dev{n}"),
            table: "nowhere".into(),
            kind: None,
            online: true,
            received_ms: n,
        }
    }

    #[test]
    fn announcements_are_bounded_and_the_oldest_goes_first() {
        let mut announced = BTreeMap::new();
        for n in 0..(MAX_ANNOUNCED as u64 + 100) {
            remember(&mut announced, announcement(n));
        }
        assert_eq!(announced.len(), MAX_ANNOUNCED);
        assert!(!announced.contains_key("dev99"), "the oldest are forgotten");
        assert!(announced.contains_key("dev100"));
        // A known device is updated in place, nothing forgotten.
        remember(&mut announced, announcement(100));
        assert_eq!(announced.len(), MAX_ANNOUNCED);
        assert!(announced.contains_key("dev101"));
    }
}
