//! One table's runtime: assembles shots from sensor events and staff actions and feeds them to the
//! rules engine. Pure and deterministic, like the engine it wraps: the table's state is a fold of
//! its logged inputs, so a restart (even after kill -9) replays the event log into the same state.
//! It does no I/O and knows nothing of the store: what a match finishes leaves as typed
//! [`shared::sync::Record`]s, which the store serializes into outbox rows.
//!
//! - `input`: what a table takes, as the event log keeps it;
//! - `shot`: shot assembly from sensor events;
//! - `play`: the match in play, staff actions and ruling;
//! - `records`: the venue → cloud records a match emits;
//! - `presence`: the devices heard and whether each shows online;
//! - `session`: table-time sessions;
//! - `label`: the registry's name, position and retired flag, as the view shows them.

mod input;
mod label;
mod play;
mod presence;
mod records;
mod session;
mod shot;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use shared::rules::{Match, Rejected, Report};
use shared::sync::Record;

pub use input::{Actor, StaffAction, TableInput};

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
        match input {
            TableInput::StartMatch {
                match_id,
                spec,
                player_ids,
                demo,
            } => {
                self.start(match_id, spec, player_ids, received_ms, &mut applied)?;
                if let (true, Some((info, _))) = (*demo, &mut self.game) {
                    info.demo = true;
                }
            }
            TableInput::Staff { action, .. } => self.staff(action, &mut applied)?,
            TableInput::Device { device, event, .. } => {
                self.heard(device, received_ms, presence::kind_of(event));
                self.device_event(event, received_ms, &mut applied);
            }
            TableInput::QuietClose => self.close_shot(false, &mut applied),
            TableInput::Presence { device, online } => {
                self.presence(device, *online, received_ms);
            }
            TableInput::Missing { events, .. } => self.missing_events += events,
            TableInput::SessionStart {} => self.start_session(received_ms)?,
            TableInput::SessionStop {} => self.stop_session(received_ms)?,
            TableInput::Registry {
                name,
                position,
                retired,
            } => self.relabel(name, *position, *retired),
        }
        // Demo data never syncs: nothing a demo match makes leaves for the cloud.
        if self.game.as_ref().is_some_and(|(info, _)| info.demo) {
            applied.outbox.clear();
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
            TableInput::SessionStart {} => self.replay_session(true, received_ms),
            TableInput::SessionStop {} => self.replay_session(false, received_ms),
            _ => return self.apply(input, seq, received_ms),
        }
        self.seq = seq;
        Ok(Applied::default())
    }

    /// Whether the table's light should be on: a match in play or a session running.
    pub fn lit(&self) -> bool {
        let playing = self
            .game
            .as_ref()
            .is_some_and(|(_, game)| game.state().match_winner.is_none());
        playing || self.session_running()
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
