//! One table's runtime: assembles shots from sensor events and staff actions and feeds them to the
//! rules engine. Pure and deterministic, like the engine it wraps: the table's state is a fold of
//! its logged inputs, so a restart (even after kill -9) replays the event log into the same state.
//!
//! Shots are assembled from what arrives: a camera's `shot_start` … `shot_end` brackets a shot (and
//! makes first contact and rails observed facts); without a camera a shot closes on `end_turn`, or
//! after a quiet period once balls have dropped (the engine logs that as a `quiet_close` input so a
//! replay closes it at the same place).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::protocol::{Button, DeviceEvent};
use shared::rules::{
    Action, ActionKind, Call, Input, Match, MatchSpec, Pocketed, Rejected, Report, Shot, State,
};

use crate::store::{Outcome, Record};
use crate::view::{DevicePresence, MatchInfo, SessionView, ShotInProgress, TableStatus, TableView};

/// A staff or player action on the current match (`POST .../matches/current/actions`), the same as
/// the table buttons plus `call` and `rerack`. Every variant is a struct (some empty) because serde
/// enforces `deny_unknown_fields` only on those: `{"action":"foul","x":1}` is refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum StaffAction {
    /// Close the shot in progress: the shot goes to the rules.
    EndTurn {},
    /// A foul on the shooter: on the shot in progress if balls have moved, else a called foul.
    Foul {},
    /// Take back the shot in progress, or else the last ruled input.
    Undo {},
    /// Declare the next shot a push-out.
    PushOut {},
    /// Hand the table back.
    Pass {},
    /// Declare the next shot a safety.
    Safety {},
    /// Concede (`player` defaults to the shooter).
    Concede {
        /// Who concedes.
        #[serde(default)]
        player: Option<u8>,
    },
    /// Take the re-rack option.
    Rerack {},
    /// Call the next shot.
    Call {
        /// Ball.
        ball: u8,
        /// Pocket.
        #[serde(default)]
        pocket: Option<u8>,
    },
}

impl From<Button> for StaffAction {
    fn from(button: Button) -> StaffAction {
        match button {
            Button::EndTurn => StaffAction::EndTurn {},
            Button::Foul => StaffAction::Foul {},
            Button::Undo => StaffAction::Undo {},
            Button::PushOut => StaffAction::PushOut {},
            Button::Pass => StaffAction::Pass {},
            Button::Safety => StaffAction::Safety {},
            Button::Concede => StaffAction::Concede { player: None },
        }
    }
}

/// One input of a table, exactly as logged in the event log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum TableInput {
    /// A device event (already validated and deduplicated).
    Device {
        /// Device id.
        device: String,
        /// Device seq.
        seq: u64,
        /// The event.
        event: DeviceEvent,
    },
    /// A staff or phone action.
    Staff {
        /// The action.
        action: StaffAction,
    },
    /// A match starts.
    StartMatch {
        /// Edge-local id.
        match_id: String,
        /// The match.
        spec: MatchSpec,
        /// Registered players' ids per seat, if any (logged only when there are some).
        #[serde(default, skip_serializing_if = "no_ids")]
        player_ids: [Option<String>; 2],
    },
    /// The quiet period closed the shot in progress.
    QuietClose,
    /// A device's presence changed (status topic, or silence past the timeout).
    Presence {
        /// Device id.
        device: String,
        /// Online or not.
        online: bool,
    },
    /// Events of a device that were missed and could not be replayed (counted per match).
    Missing {
        /// Device id.
        device: String,
        /// How many.
        events: u64,
    },
    /// Staff started a table-time session (at the input's receive time).
    SessionStart {},
    /// Staff stopped the running session (at the input's receive time).
    SessionStop {},
}

/// Why a staff request was refused (device inputs are never refused: they are facts).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// No match in play.
    #[error("no match in play")]
    NoMatch,
    /// A match is in play.
    #[error("a match is already in play")]
    Busy,
    /// The rules said no.
    #[error(transparent)]
    Rules(#[from] Rejected),
    /// A session is already running.
    #[error("a session is already running")]
    SessionRunning,
    /// No session is running.
    #[error("no session is running")]
    NoSession,
}

/// What applying an input changed, for the store.
#[derive(Debug, Default)]
pub struct Applied {
    /// A match started here (replay starts from this input).
    pub match_start: bool,
    /// Outbox rows, in the order they happened.
    pub outbox: Vec<Record>,
    /// A sensor-assembled shot the rules refused, and how it was repaired.
    pub repaired: Option<String>,
}

#[derive(Clone, Debug, Default)]
struct Pending {
    open: bool,
    camera: bool,
    pocketed: Vec<Pocketed>,
    cue_ball: bool,
    first_contact: Option<u8>,
    rail: bool,
    called: Option<Call>,
    push_out: bool,
    safety: bool,
    last_change_ms: u64,
}

impl Pending {
    fn has_balls(&self) -> bool {
        !self.pocketed.is_empty() || self.cue_ball
    }

    fn shot(&self, foul: bool) -> Shot {
        Shot {
            first_contact: self.first_contact,
            pocketed: self.pocketed.clone(),
            cue_ball_pocketed: self.cue_ball,
            rail_after_contact: (self.camera && !self.has_balls()).then_some(self.rail),
            called: self.called,
            push_out: self.push_out,
            safety: self.safety,
            foul,
            ..Shot::default()
        }
    }
}

/// One table.
#[derive(Debug)]
pub struct Table {
    id: String,
    game: Option<(MatchInfo, Match)>,
    pending: Pending,
    devices: BTreeMap<String, DevicePresence>,
    missing_events: u64,
    /// `(started_ms, stopped_ms)` of the running or last table-time session.
    session: Option<(u64, Option<u64>)>,
    seq: u64,
}

impl Table {
    /// A table with nothing on it.
    pub fn new(id: &str) -> Table {
        Table {
            id: id.to_owned(),
            game: None,
            pending: Pending::default(),
            devices: BTreeMap::new(),
            missing_events: 0,
            session: None,
            seq: 0,
        }
    }

    /// The table id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Applies one input logged at `seq`. Staff inputs the rules refuse change nothing and are not
    /// logged; device inputs always apply.
    pub fn apply(
        &mut self,
        input: &TableInput,
        seq: u64,
        received_ms: u64,
    ) -> Result<Applied, Refused> {
        let mut applied = Applied::default();
        match input {
            TableInput::StartMatch {
                match_id,
                spec,
                player_ids,
            } => {
                if self
                    .game
                    .as_ref()
                    .is_some_and(|(_, m)| m.state().match_winner.is_none())
                {
                    return Err(Refused::Busy);
                }
                let game = Match::new(spec.clone())?;
                let info = MatchInfo {
                    match_id: match_id.clone(),
                    game: spec.game,
                    players: spec.players.clone(),
                    race_to: spec.race_to,
                    break_rule: spec.break_rule,
                    player_ids: player_ids.clone(),
                };
                applied.match_start = true;
                applied.outbox.push(Record {
                    match_id: match_id.clone(),
                    outcome: Outcome::MatchStarted {
                        spec: json!(spec).to_string(),
                    },
                    payload: json!({"match_id": match_id, "table": self.id, "spec": spec,
                                    "player_ids": player_ids, "started_ms": received_ms})
                    .to_string(),
                });
                self.game = Some((info, game));
                self.pending = Pending::default();
                self.missing_events = 0;
            }
            TableInput::Staff { action } => self.staff(action, &mut applied)?,
            TableInput::Device { device, event, .. } => {
                self.heard(device, received_ms, kind_of(event));
                self.device_event(event, received_ms, &mut applied);
            }
            TableInput::QuietClose => self.close_shot(false, &mut applied),
            TableInput::Presence { device, online } => {
                let entry = self
                    .devices
                    .entry(device.clone())
                    .or_insert_with(|| DevicePresence {
                        device: device.clone(),
                        kind: "controller",
                        online: *online,
                        last_seen_ms: received_ms,
                    });
                entry.online = *online;
            }
            TableInput::Missing { events, .. } => self.missing_events += events,
            TableInput::SessionStart {} => {
                if self.session_running() {
                    return Err(Refused::SessionRunning);
                }
                self.session = Some((received_ms, None));
            }
            TableInput::SessionStop {} => match &mut self.session {
                Some((_, stopped @ None)) => *stopped = Some(received_ms),
                _ => return Err(Refused::NoSession),
            },
        }
        self.seq = seq;
        Ok(applied)
    }

    /// Applies one input read back from the event log at start-up. Like [`Table::apply`], except
    /// that session inputs set the session unconditionally: they were accepted when logged, and the
    /// session seeded from the stored view ([`Table::seed_session`]) may already show their effect.
    pub fn replay(
        &mut self,
        input: &TableInput,
        seq: u64,
        received_ms: u64,
    ) -> Result<Applied, Refused> {
        match input {
            TableInput::SessionStart {} => self.session = Some((received_ms, None)),
            TableInput::SessionStop {} => {
                let started = self.session.map_or(received_ms, |(started, _)| started);
                self.session = Some((started, Some(received_ms)));
            }
            _ => return self.apply(input, seq, received_ms),
        }
        self.seq = seq;
        Ok(Applied::default())
    }

    fn heard(&mut self, device: &str, at_ms: u64, kind: &'static str) {
        let entry = self
            .devices
            .entry(device.to_owned())
            .or_insert_with(|| DevicePresence {
                device: device.to_owned(),
                kind,
                online: true,
                last_seen_ms: at_ms,
            });
        entry.online = true;
        entry.last_seen_ms = at_ms;
    }

    /// Restores device presence from the last stored view before a replay: heartbeats are not
    /// logged, and devices heard before the current match started are not in the replayed part of
    /// the log.
    pub fn seed_devices(&mut self, stored_view: &str) {
        let Ok(view) = serde_json::from_str::<serde_json::Value>(stored_view) else {
            return;
        };
        for seen in view["devices"].as_array().into_iter().flatten() {
            let (Some(device), Some(online), Some(last_seen_ms)) = (
                seen["device"].as_str(),
                seen["online"].as_bool(),
                seen["last_seen_ms"].as_u64(),
            ) else {
                continue;
            };
            let kind = if seen["kind"] == "camera" {
                "camera"
            } else {
                "controller"
            };
            let presence = DevicePresence {
                device: device.to_owned(),
                kind,
                online,
                last_seen_ms,
            };
            self.devices.insert(device.to_owned(), presence);
        }
    }

    /// Whether a table-time session is running.
    pub fn session_running(&self) -> bool {
        matches!(self.session, Some((_, None)))
    }

    /// Whether the table's light should be on: a match in play or a session running.
    pub fn lit(&self) -> bool {
        let playing = self
            .game
            .as_ref()
            .is_some_and(|(_, game)| game.state().match_winner.is_none());
        playing || self.session_running()
    }

    /// Restores the session from the last stored view before a replay: like device presence it
    /// outlives matches, and a session started before the current match is not in the replayed
    /// part of the log (session inputs in that part bring it to the same state again).
    pub fn seed_session(&mut self, stored_view: &str) {
        let Ok(view) = serde_json::from_str::<serde_json::Value>(stored_view) else {
            return;
        };
        let session = &view["session"];
        if let Some(started_ms) = session["started_ms"].as_u64() {
            self.session = Some((started_ms, session["stopped_ms"].as_u64()));
        }
    }

    /// The table controllers heard here (they switch the table light).
    pub fn controllers(&self) -> Vec<String> {
        self.devices
            .values()
            .filter(|d| d.kind == "controller")
            .map(|d| d.device.clone())
            .collect()
    }

    /// Whether a device is shown online here, if it is known at all.
    pub fn device_online(&self, device: &str) -> Option<bool> {
        self.devices.get(device).map(|d| d.online)
    }

    /// Marks a device as heard without logging (heartbeats); true if that brought it back online.
    pub fn heartbeat(&mut self, device: &str, at_ms: u64, kind: &'static str) -> bool {
        let was_online = self.devices.get(device).is_some_and(|d| d.online);
        self.heard(device, at_ms, kind);
        !was_online
    }

    fn device_event(&mut self, event: &DeviceEvent, at_ms: u64, applied: &mut Applied) {
        if self.game.is_none() {
            return;
        }
        let pending = &mut self.pending;
        match event {
            DeviceEvent::Pocket { ball: 0, .. } | DeviceEvent::CueReturn => pending.cue_ball = true,
            DeviceEvent::Pocket { ball, pocket } => {
                if !pending.pocketed.iter().any(|p| p.ball == *ball) {
                    pending.pocketed.push(Pocketed {
                        ball: *ball,
                        pocket: Some(*pocket),
                    });
                }
            }
            DeviceEvent::Button { button } => {
                // A refused button press (e.g. pass when there is nothing to pass) is logged and
                // ignored: buttons are pressed by people and cannot be answered with an error.
                if let Err(error) = self.staff(&StaffAction::from(*button), applied) {
                    applied.repaired = Some(format!("button {} ignored: {error}", button.as_str()));
                }
                return;
            }
            DeviceEvent::Rack => {
                self.pending = Pending::default();
                return;
            }
            DeviceEvent::ShotStart => {
                if pending.has_balls() && !pending.open {
                    self.close_shot(false, applied);
                }
                let pending = &mut self.pending;
                pending.open = true;
                pending.camera = true;
                pending.first_contact = None;
                pending.rail = false;
            }
            DeviceEvent::FirstContact { ball } => {
                if pending.open && pending.first_contact.is_none() {
                    pending.first_contact = Some(*ball);
                }
            }
            DeviceEvent::RailContact => pending.rail |= pending.open,
            DeviceEvent::ShotEnd { .. } => {
                if pending.open {
                    self.close_shot(false, applied);
                }
                return;
            }
            DeviceEvent::Heartbeat | DeviceEvent::Frame { .. } => return,
        }
        self.pending.last_change_ms = at_ms;
    }

    fn staff(&mut self, action: &StaffAction, applied: &mut Applied) -> Result<(), Refused> {
        let (_, game) = self.game.as_mut().ok_or(Refused::NoMatch)?;
        let state = game.state();
        match action {
            StaffAction::EndTurn {} => self.close_shot(false, applied),
            StaffAction::Foul {} if self.pending.has_balls() => self.close_shot(true, applied),
            StaffAction::Foul {} => self.rule(Input::action(ActionKind::Foul), applied)?,
            StaffAction::Undo {} if self.pending.has_balls() || self.pending.open => {
                self.pending = Pending::default();
            }
            StaffAction::Undo {} => self.rule(Input::action(ActionKind::Undo), applied)?,
            StaffAction::PushOut {} if !state.push_out_available => {
                return Err(Rejected::PushOutNotAllowed.into());
            }
            StaffAction::PushOut {} => self.pending.push_out = true,
            StaffAction::Safety {} if state.match_winner.is_some() => {
                return Err(Rejected::MatchOver.into());
            }
            StaffAction::Safety {} => self.pending.safety = true,
            StaffAction::Pass {} => self.rule(Input::action(ActionKind::Pass), applied)?,
            StaffAction::Rerack {} => self.rule(Input::action(ActionKind::Rerack), applied)?,
            StaffAction::Concede { player } => {
                self.rule(
                    Input::Action(Action {
                        action: ActionKind::Concede,
                        player: *player,
                    }),
                    applied,
                )?;
            }
            StaffAction::Call { ball, pocket } => {
                let table = if state.rack_over() {
                    game.spec().game.full_rack()
                } else {
                    state.on_table
                };
                if !table.contains(*ball) {
                    return Err(Rejected::BallNotOnTable(*ball).into());
                }
                if pocket.is_some_and(|p| !(1..=6).contains(&p)) {
                    return Err(Rejected::NoSuchPocket(pocket.unwrap_or(0)).into());
                }
                self.pending.called = Some(Call {
                    ball: *ball,
                    pocket: *pocket,
                });
            }
        }
        Ok(())
    }

    /// Sends an input to the rules and records what it finished.
    fn rule(&mut self, input: Input, applied: &mut Applied) -> Result<(), Rejected> {
        let Some((info, game)) = self.game.as_mut() else {
            return Ok(());
        };
        let before = game.state().clone();
        game.apply(input)?;
        applied
            .outbox
            .extend(finished(&self.id, info, game, &before));
        Ok(())
    }

    /// Closes the shot in progress and rules it. A shot the sensors got wrong (a ball reported that
    /// is already down, a push-out no longer allowed) is repaired, not dropped: the impossible fact
    /// is removed and the rest is ruled, and the repair is reported.
    fn close_shot(&mut self, foul: bool, applied: &mut Applied) {
        let mut shot = self.pending.shot(foul);
        self.pending = Pending::default();
        let Some((_, game)) = self.game.as_ref() else {
            return;
        };
        if game.state().match_winner.is_some() {
            return;
        }
        let mut notes = Vec::new();
        for _ in 0..20 {
            match self.rule(Input::shot(shot.clone()), applied) {
                Ok(()) => break,
                Err(error) => {
                    notes.push(error.to_string());
                    if !repair(&mut shot, &error) {
                        break;
                    }
                }
            }
        }
        if !notes.is_empty() {
            applied.repaired = Some(notes.join("; "));
        }
    }

    /// Whether the quiet period has passed on a shot with balls down and no camera bracket.
    pub fn quiet_due(&self, now_ms: u64, quiet_ms: u64) -> bool {
        quiet_ms > 0
            && self.game.is_some()
            && !self.pending.open
            && self.pending.has_balls()
            && now_ms.saturating_sub(self.pending.last_change_ms) >= quiet_ms
    }

    /// Devices shown online but silent for `timeout_ms`.
    pub fn silent_devices(&self, now_ms: u64, timeout_ms: u64) -> Vec<String> {
        self.devices
            .values()
            .filter(|d| d.online && now_ms.saturating_sub(d.last_seen_ms) >= timeout_ms)
            .map(|d| d.device.clone())
            .collect()
    }

    /// The view screens see.
    pub fn view(&self) -> TableView {
        let (status, match_info, state) = match &self.game {
            None => (TableStatus::Idle, None, None),
            Some((info, game)) => {
                let status = if game.state().match_winner.is_some() {
                    TableStatus::Finished
                } else {
                    TableStatus::Playing
                };
                (status, Some(info.clone()), Some(Report::new(game.state())))
            }
        };
        TableView {
            table: self.id.clone(),
            seq: self.seq,
            status,
            match_info,
            state,
            shot: ShotInProgress {
                open: self.pending.open,
                pocketed: self.pending.pocketed.iter().map(|p| p.ball).collect(),
                cue_ball_pocketed: self.pending.cue_ball,
                first_contact: self.pending.first_contact,
                called: self.pending.called,
            },
            devices: self.devices.values().cloned().collect(),
            missing_events: self.missing_events,
            session: self.session.map(|(started_ms, stopped_ms)| SessionView {
                started_ms,
                stopped_ms,
                elapsed_ms: stopped_ms.map(|stopped| stopped.saturating_sub(started_ms)),
            }),
        }
    }
}

fn kind_of(event: &DeviceEvent) -> &'static str {
    match event {
        DeviceEvent::ShotStart
        | DeviceEvent::FirstContact { .. }
        | DeviceEvent::RailContact
        | DeviceEvent::ShotEnd { .. }
        | DeviceEvent::Frame { .. } => "camera",
        _ => "controller",
    }
}

/// Removes the fact the rules refused; false if there is nothing left to remove.
fn repair(shot: &mut Shot, error: &Rejected) -> bool {
    match error {
        Rejected::BallNotOnTable(ball)
        | Rejected::BallNotInGame(ball, _)
        | Rejected::DuplicateBall(ball) => {
            let before = (shot.pocketed.len(), shot.first_contact, shot.called);
            shot.pocketed.retain(|p| p.ball != *ball);
            shot.object_off_table.retain(|b| b != ball);
            if shot.first_contact == Some(*ball) {
                shot.first_contact = None;
            }
            if shot.called.is_some_and(|c| c.ball == *ball) {
                shot.called = None;
            }
            before != (shot.pocketed.len(), shot.first_contact, shot.called)
        }
        Rejected::PushOutNotAllowed | Rejected::Contradiction(_) if shot.push_out => {
            shot.push_out = false;
            true
        }
        _ => false,
    }
}

fn no_ids(ids: &[Option<String>; 2]) -> bool {
    ids.iter().all(Option::is_none)
}

/// Outbox rows for what an input finished (or, on undo, took back).
fn finished(table: &str, info: &MatchInfo, game: &Match, before: &State) -> Vec<Record> {
    let after = game.state();
    let id = &info.match_id;
    let record = |outcome, payload: serde_json::Value| Record {
        match_id: id.clone(),
        outcome,
        payload: payload.to_string(),
    };
    let mut rows = Vec::new();
    let racks = |s: &State| s.stats.iter().map(|p| p.racks_won).sum::<u32>();
    if let Some(winner) = after.last.rack_winner {
        let ordinal = racks(after);
        rows.push(record(
            Outcome::RackFinished { ordinal, winner },
            json!({"match_id": id, "table": table, "ordinal": ordinal, "rack": after.rack,
                   "winner": winner, "score": after.score, "stats": after.stats,
                   "shots": game.last_rack_inputs()}),
        ));
    }
    if let (Some(winner), None) = (after.match_winner, before.match_winner) {
        rows.push(record(
            Outcome::MatchFinished { winner },
            json!({"match_id": id, "table": table, "game": info.game, "players": info.players,
                   "player_ids": info.player_ids, "race_to": info.race_to, "winner": winner, "score": after.score,
                   "stats": after.stats, "inputs": game.inputs()}),
        ));
    }
    if racks(after) < racks(before)
        || (before.match_winner.is_some() && after.match_winner.is_none())
    {
        let (racks_finished, match_finished) = (racks(after), after.match_winner.is_some());
        rows.push(record(
            Outcome::Corrected {
                racks_finished,
                match_finished,
            },
            json!({"match_id": id, "table": table, "score": after.score, "rack": after.rack,
                   "racks_finished": racks_finished, "match_finished": match_finished}),
        ));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(game: &str) -> MatchSpec {
        serde_json::from_value(
            json!({"game": game, "players": ["Ann", "Bo"], "race_to": 1, "break": "alternate"}),
        )
        .expect("spec")
    }

    fn device(seq: u64, event: DeviceEvent) -> TableInput {
        TableInput::Device {
            device: "ctl".into(),
            seq,
            event,
        }
    }

    /// Table `t1` with a match of `game` started at seq 1.
    fn playing(game: &str) -> Table {
        let mut table = Table::new("t1");
        let start = TableInput::StartMatch {
            match_id: "m1".into(),
            spec: spec(game),
            player_ids: Default::default(),
        };
        table.apply(&start, 1, 0).expect("start");
        table
    }

    #[test]
    fn sessions_start_stop_light_and_come_back_from_the_stored_view() {
        let mut table = Table::new("t1");
        assert!(!table.lit());
        assert!(matches!(
            table.apply(&TableInput::SessionStop {}, 1, 100),
            Err(Refused::NoSession)
        ));
        table
            .apply(&TableInput::SessionStart {}, 1, 1_000)
            .expect("starts");
        assert!(table.lit() && table.session_running());
        assert!(matches!(
            table.apply(&TableInput::SessionStart {}, 2, 2_000),
            Err(Refused::SessionRunning)
        ));
        let start = TableInput::StartMatch {
            match_id: "m1".into(),
            spec: spec("nine-ball"),
            player_ids: Default::default(),
        };
        table
            .apply(&start, 2, 3_000)
            .expect("a match during a session");
        let concede = TableInput::Staff {
            action: StaffAction::Concede { player: None },
        };
        table.apply(&concede, 3, 4_000).expect("concedes");
        assert!(table.lit(), "the session keeps the light on");
        table
            .apply(&TableInput::SessionStop {}, 4, 61_000)
            .expect("stops");
        assert!(!table.lit());
        let view = table.view();
        assert_eq!(
            view.session,
            Some(SessionView {
                started_ms: 1_000,
                stopped_ms: Some(61_000),
                elapsed_ms: Some(60_000)
            })
        );

        // Replayed from the match start (seq 2) after seeding from the last stored view.
        let stored = serde_json::to_string(&view).expect("json");
        let mut again = Table::new("t1");
        again.seed_session(&stored);
        for (seq, at, input) in [
            (2, 3_000, start),
            (3, 4_000, concede),
            (4, 61_000, TableInput::SessionStop {}),
        ] {
            again.replay(&input, seq, at).expect("replays");
        }
        assert_eq!(again.view(), view);
    }

    #[test]
    fn pockets_then_end_turn_make_one_shot() {
        let mut table = playing("nine-ball");
        table
            .apply(
                &device(1, DeviceEvent::Pocket { ball: 3, pocket: 2 }),
                2,
                10,
            )
            .expect("pocket");
        assert_eq!(table.view().shot.pocketed, vec![3]);
        table
            .apply(
                &device(
                    2,
                    DeviceEvent::Button {
                        button: Button::EndTurn,
                    },
                ),
                3,
                20,
            )
            .expect("end turn");
        let view = table.view();
        assert!(view.shot.pocketed.is_empty());
        let state = view.state.expect("a match");
        assert!(!state.on_table.contains(3));
        assert_eq!(
            state.shooter, 0,
            "a ball made on the break keeps the breaker at the table"
        );
        table
            .apply(
                &device(3, DeviceEvent::Pocket { ball: 9, pocket: 1 }),
                4,
                30,
            )
            .expect("pocket");
        let applied = table
            .apply(&TableInput::QuietClose, 5, 40)
            .expect("quiet close");
        assert_eq!(table.view().state.expect("match").match_winner, Some(0));
        let kinds: Vec<_> = applied.outbox.iter().map(Record::kind).collect();
        assert_eq!(kinds, vec!["rack_finished", "match_finished"]);
    }

    #[test]
    fn a_camera_bracket_observes_first_contact_and_rails() {
        let mut table = playing("nine-ball");
        table
            .apply(&device(1, DeviceEvent::Pocket { ball: 2, pocket: 2 }), 2, 0)
            .expect("break");
        table
            .apply(
                &device(
                    2,
                    DeviceEvent::Button {
                        button: Button::EndTurn,
                    },
                ),
                3,
                0,
            )
            .expect("end");
        for (i, event) in [
            DeviceEvent::ShotStart,
            DeviceEvent::FirstContact { ball: 5 },
            DeviceEvent::ShotEnd { balls: vec![] },
        ]
        .into_iter()
        .enumerate()
        {
            table
                .apply(&device(3 + i as u64, event), 4 + i as u64, 0)
                .expect("camera");
        }
        let state = table.view().state.expect("match");
        assert!(state.foul, "hit the 5 before the 1, and no rail: a foul");
        assert_eq!(state.shooter, 1);
        assert!(state.ball_in_hand);
    }

    #[test]
    fn impossible_sensor_facts_are_repaired_not_dropped() {
        let mut table = playing("nine-ball");
        table
            .apply(
                &device(
                    1,
                    DeviceEvent::Pocket {
                        ball: 12,
                        pocket: 2,
                    },
                ),
                2,
                0,
            )
            .expect("ghost ball");
        table
            .apply(&device(2, DeviceEvent::Pocket { ball: 4, pocket: 2 }), 3, 0)
            .expect("pocket");
        let applied = table
            .apply(
                &device(
                    3,
                    DeviceEvent::Button {
                        button: Button::EndTurn,
                    },
                ),
                4,
                0,
            )
            .expect("end");
        assert!(applied.repaired.is_some_and(|note| note.contains("12")));
        assert!(
            !table.view().state.expect("match").on_table.contains(4),
            "the real ball still counts"
        );
    }

    #[test]
    fn staff_requests_the_rules_refuse_change_nothing() {
        let mut table = Table::new("t1");
        assert!(matches!(
            table.apply(
                &TableInput::Staff {
                    action: StaffAction::Pass {}
                },
                1,
                0
            ),
            Err(Refused::NoMatch)
        ));
        table
            .apply(
                &TableInput::StartMatch {
                    match_id: "m1".into(),
                    spec: spec("eight-ball"),
                    player_ids: Default::default(),
                },
                2,
                0,
            )
            .expect("start");
        let before = table.view();
        assert!(
            table
                .apply(
                    &TableInput::Staff {
                        action: StaffAction::Pass {}
                    },
                    3,
                    0
                )
                .is_err()
        );
        assert!(
            table
                .apply(
                    &TableInput::Staff {
                        action: StaffAction::PushOut {}
                    },
                    3,
                    0
                )
                .is_err()
        );
        assert_eq!(table.view(), before);
        let start = TableInput::StartMatch {
            match_id: "m2".into(),
            spec: spec("nine-ball"),
            player_ids: Default::default(),
        };
        assert!(matches!(table.apply(&start, 3, 0), Err(Refused::Busy)));
    }

    #[test]
    fn staff_actions_refuse_unknown_fields() {
        let parse = |text: &str| serde_json::from_str::<StaffAction>(text);
        assert_eq!(
            parse(r#"{"action":"foul"}"#).ok(),
            Some(StaffAction::Foul {})
        );
        assert!(parse(r#"{"action":"foul","x":1}"#).is_err());
        assert!(parse(r#"{"action":"call","ball":3,"colour":"red"}"#).is_err());
        assert_eq!(
            serde_json::to_string(&StaffAction::EndTurn {})
                .ok()
                .as_deref(),
            Some(r#"{"action":"end_turn"}"#)
        );
    }

    #[test]
    fn inputs_round_trip_through_the_log_format() {
        let inputs = vec![
            TableInput::StartMatch {
                match_id: "m1".into(),
                spec: spec("ten-ball"),
                player_ids: Default::default(),
            },
            device(1, DeviceEvent::Pocket { ball: 0, pocket: 3 }),
            TableInput::Staff {
                action: StaffAction::Call {
                    ball: 4,
                    pocket: Some(2),
                },
            },
            TableInput::QuietClose,
            TableInput::Presence {
                device: "cam".into(),
                online: false,
            },
            TableInput::Missing {
                device: "ctl".into(),
                events: 2,
            },
        ];
        for input in inputs {
            let logged = serde_json::to_string(&input).expect("serialises");
            assert_eq!(
                serde_json::from_str::<TableInput>(&logged).expect("parses"),
                input,
                "{logged}"
            );
        }
    }
}
