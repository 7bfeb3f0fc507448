//! One table's runtime: assembles shots from sensor events and staff actions and feeds them to the
//! rules engine. Pure and deterministic, like the engine it wraps: the table's state is a fold of
//! its logged inputs, so a restart (even after kill -9) replays the event log into the same state.
//! It does no I/O and knows nothing of the store: what a match finishes leaves as typed
//! [`shared::sync::Record`]s, which the store serializes into outbox rows.
//!
//! - `input`: what a table takes, as the event log keeps it;
//! - `shot`: shot assembly from sensor events;
//! - `play`: the match in play, staff actions and ruling;
//! - `manual`: balls entered by hand, and undo of the shot in progress entry by entry;
//! - `correction`: score corrections and void, with who and why;
//! - `records`: the venue → cloud records a match emits;
//! - `presence`: the devices heard and whether each shows online;
//! - `session`: table-time sessions;
//! - `mode`: the scoring mode (camera, sensors, manual) derived from presence, and staff flags;
//! - `fallback`: a lost camera hands its shot to the pocket sensors;
//! - `layout`: the camera's at-rest layouts, checked against the pockets and kept per shot;
//! - `clock`: the shot clock (a house option), following the shots and the engine's timer.
//! - `label`: the registry's name, position and retired flag, as the view shows them.

mod clock;
#[cfg(test)]
mod clock_tests;
mod correction;
mod fallback;
mod input;
mod label;
mod layout;
mod manual;
mod mode;
mod play;
mod presence;
mod records;
mod session;
mod shot;
#[cfg(test)]
mod staff_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use shared::rules::{Match, Rejected, Report};
use shared::sync::Record;

pub use clock::ClockTick;
pub use input::{Actor, StaffAction, TableInput};
pub use layout::{ShotLayout, layouts_of};
pub use mode::{ScoringFlag, ScoringMode, ScoringView};
pub(crate) use records::author;

use crate::view::{DevicePresence, MatchInfo, SessionView, ShotInProgress, TableStatus, TableView};
use shot::Pending;

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
    /// The match has no shot clock.
    #[error("this match has no shot clock")]
    NoClock,
    /// The shot clock said no.
    #[error(transparent)]
    Clock(shared::rules::shot_clock::ClockRefused),
}

/// What applying an input changed, for the store.
#[derive(Debug, Default)]
pub struct Applied {
    /// A match started here (replay starts from this input).
    pub match_start: bool,
    /// Records for the outbox, in the order they happened (the store writes them as rows).
    pub outbox: Vec<Record>,
    /// A sensor-assembled shot the rules refused, and how it was repaired.
    pub repaired: Option<String>,
    /// Scoring fallbacks this input caused (`camera_timeout`, `camera_offline`, …), for the
    /// engine to count and log.
    pub fallbacks: Vec<&'static str>,
    /// A camera layout that disagreed with the pocket sensors, in words.
    pub layout_mismatch: Option<String>,
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
    /// Flags kept for staff during the current match (see `layout`, `fallback`).
    kept_flags: Vec<ScoringFlag>,
    /// The current match's camera-bracketed shots at rest.
    layouts: Vec<ShotLayout>,
    /// The match's shot clock, when its house rules have one.
    clock: Option<shared::rules::shot_clock::ShotClock>,
    label: label::Label,
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
            kept_flags: Vec::new(),
            layouts: Vec::new(),
            clock: None,
            label: label::Label::default(),
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
        let before = self.clock_before();
        match input {
            TableInput::StartMatch {
                match_id,
                spec,
                player_ids,
                demo,
                by,
            } => {
                self.start(
                    match_id,
                    spec,
                    player_ids,
                    by.as_ref(),
                    received_ms,
                    &mut applied,
                )?;
                if let (true, Some((info, _))) = (*demo, &mut self.game) {
                    info.demo = true;
                }
            }
            TableInput::TournamentMatch {
                match_id,
                spec,
                player_ids,
                tournament,
            } => {
                // Started by the tournament's call, not by a person.
                self.start(match_id, spec, player_ids, None, received_ms, &mut applied)?;
                records::for_tournament(&mut applied.outbox, tournament);
                if let Some((info, _)) = &mut self.game {
                    info.tournament = Some(tournament.clone());
                }
            }
            TableInput::Staff { action, by } => match self.clock_action(action, received_ms) {
                Some(result) => result?,
                None => self.staff(action, by.as_ref(), received_ms, &mut applied)?,
            },
            TableInput::ShotClock { event } => {
                self.clock_tick(*event, received_ms, &mut applied)?;
            }
            TableInput::Device { device, event, .. } => {
                self.heard(device, received_ms, presence::kind_of(event));
                self.before_camera_event(device, event, &mut applied);
                self.shot_at_rest(event, seq, &mut applied);
                self.device_event(event, received_ms, &mut applied);
                self.after_camera_event(device, event, received_ms);
            }
            TableInput::QuietClose => self.close_shot(false, &mut applied),
            TableInput::Presence { device, online } => {
                self.presence(device, *online, received_ms);
                self.presence_changed(device, *online, seq, received_ms, &mut applied);
            }
            TableInput::CameraLost { device } => {
                self.camera_lost(device, seq, received_ms, &mut applied);
            }
            TableInput::Missing { events, .. } => {
                self.missing_events = self.missing_events.saturating_add(*events);
            }
            TableInput::SessionStart { .. } => self.start_session(received_ms)?,
            TableInput::SessionStop { .. } => self.stop_session(received_ms)?,
            TableInput::Registry {
                name,
                position,
                retired,
                ..
            } => self.relabel(name, *position, *retired),
        }
        // Demo data never syncs: nothing a demo match makes leaves for the cloud.
        if self.game.as_ref().is_some_and(|(info, _)| info.demo) {
            applied.outbox.clear();
        }
        if applied.match_start {
            self.kept_flags.clear();
            self.layouts.clear();
        }
        self.follow_clock(&before, received_ms);
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
            TableInput::SessionStart { .. } => self.replay_session(true, received_ms),
            TableInput::SessionStop { .. } => self.replay_session(false, received_ms),
            _ => return self.apply(input, seq, received_ms),
        }
        self.seq = seq;
        Ok(Applied::default())
    }

    /// Whether the table's light should be on: a match in play or a session running.
    pub fn lit(&self) -> bool {
        self.in_play() || self.session_running()
    }

    /// The view screens see.
    pub fn view(&self) -> TableView {
        let (status, match_info, state) = match &self.game {
            None => (TableStatus::Idle, None, None),
            Some((info, game)) => {
                let status = if game.state().match_winner.is_some() || info.voided.is_some() {
                    TableStatus::Finished
                } else {
                    TableStatus::Playing
                };
                (status, Some(info.clone()), Some(Report::new(game.state())))
            }
        };
        TableView {
            table: self.id.clone(),
            name: self.label.name.clone().unwrap_or_else(|| self.id.clone()),
            position: self.label.position,
            retired: self.label.retired,
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
                push_out: self.pending.push_out,
                safety: self.pending.safety,
            },
            devices: self.devices.values().cloned().collect(),
            missing_events: self.missing_events,
            session: self.session.map(|(started_ms, stopped_ms)| SessionView {
                started_ms,
                stopped_ms,
                elapsed_ms: stopped_ms.map(|stopped| stopped.saturating_sub(started_ms)),
            }),
            scoring: self.scoring_view(),
            shot_clock: self.clock_report(),
        }
    }
}
