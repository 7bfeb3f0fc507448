//! The table's shot clock (a house option of the match): follows what the table's inputs say about
//! the shot — a shot ruled means every ball is at rest and the next shooter's time starts; a stroke
//! (the camera's `shot_start`, or without a camera the first ball that drops) stops it — and takes
//! the engine's logged timer inputs (`shot_clock`: warning, expiry) and staff's pause, resume and
//! extension. Time is the logged `received_ms` of each input, never a clock read here, so a replay
//! of the event log rebuilds the same clock; an expiry is ruled as a time foul by the rules engine.

use serde::{Deserialize, Serialize};
use shared::rules::shot_clock::{ClockEvent, ClockRefused, ClockReport, Due, Outcome, ShotClock};
use shared::rules::{ActionKind, Input, Match};

use super::shot::Pending;
use super::{Applied, Refused, StaffAction, Table};

/// What the engine's timer logs for a table's shot clock (`{"input":"shot_clock","event":…}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockTick {
    /// The warning (the time left reached the warning).
    Warning,
    /// The time ran out: a time foul on the shooter.
    Expired,
    /// The deadline passed while nobody kept time (the agent was stopped): the shot's time starts
    /// again in full.
    Restart,
}

impl From<Due> for ClockTick {
    fn from(due: Due) -> ClockTick {
        match due {
            Due::Warning => ClockTick::Warning,
            Due::Expired => ClockTick::Expired,
            Due::Restart => ClockTick::Restart,
        }
    }
}

impl From<ClockTick> for ClockEvent {
    fn from(tick: ClockTick) -> ClockEvent {
        match tick {
            ClockTick::Warning => ClockEvent::Warn,
            ClockTick::Expired => ClockEvent::Expire,
            ClockTick::Restart => ClockEvent::Restart,
        }
    }
}

/// Where the match stood before an input, to tell afterwards what the input did to the clock.
#[derive(Debug)]
pub(super) struct Before {
    match_id: Option<String>,
    inputs: usize,
    /// The next input was a break (so the one after it is the first shot after the break).
    break_next: bool,
    /// A shot was under way.
    stroke: bool,
}

/// A break is next: the opening break, a rack over, or a re-break.
fn break_next(game: &Match) -> bool {
    let state = game.state();
    state.break_shot || state.rack_over()
}

fn stroke(pending: &Pending) -> bool {
    pending.open || pending.has_balls()
}

impl Table {
    /// Notes where the match stands before an input (see [`Table::follow_clock`]).
    pub(super) fn clock_before(&self) -> Before {
        let game = self.game.as_ref();
        Before {
            match_id: game.map(|(info, _)| info.match_id.clone()),
            inputs: game.map_or(0, |(_, game)| game.inputs().len()),
            break_next: game.is_some_and(|(_, game)| break_next(game)),
            stroke: stroke(&self.pending),
        }
    }

    /// After an input at `at_ms`: a new match gets its clock (if its house rules have one); a
    /// ruled input starts the next shooter's time; a stroke stops it; nothing is timed before a
    /// break or after the match.
    pub(super) fn follow_clock(&mut self, before: &Before, at_ms: u64) {
        let Some((info, game)) = self.game.as_ref() else {
            return;
        };
        if before.match_id.as_deref() != Some(info.match_id.as_str()) {
            self.clock = game.spec().rules.shot_clock.map(ShotClock::new);
        }
        let Some(clock) = self.clock.as_mut() else {
            return;
        };
        let state = game.state();
        let inputs = game.inputs().len();
        let event = if state.match_winner.is_some() || break_next(game) {
            Some(ClockEvent::Off)
        } else if inputs != before.inputs || (before.stroke && !stroke(&self.pending)) {
            // A ruled input, or a shot in progress taken back: the player to shoot starts again.
            // After an undo, whether that shot follows the break is the state before the newest
            // input left, which only a replay knows.
            let first_after_break = if inputs > before.inputs {
                before.break_next
            } else {
                follows_break(game)
            };
            Some(ClockEvent::AtRest {
                shooter: state.shooter,
                first_after_break,
                rack: state.rack,
            })
        } else {
            None
        };
        if let Some(event) = event {
            let _ = clock.apply(at_ms, event);
        }
        // A shot under way (whatever else this input did) is not timed.
        if stroke(&self.pending) {
            let _ = clock.apply(at_ms, ClockEvent::Stroke);
        }
    }

    /// A logged timer input: a warning, a restart, or the time running out (a time foul, ruled by
    /// the rules engine like any foul). One the clock does not agree with changes nothing.
    pub(super) fn clock_tick(
        &mut self,
        tick: ClockTick,
        at_ms: u64,
        applied: &mut Applied,
    ) -> Result<(), Refused> {
        let clock = self.clock.as_mut().ok_or(Refused::NoClock)?;
        let mut next = clock.clone();
        if let Outcome::Expired { .. } = next.apply(at_ms, tick.into())? {
            // The shot that timed out is over: its call or declared push-out or safety goes too.
            self.pending = Pending::default();
            self.rule(Input::action(ActionKind::TimeFoul), applied)?;
        }
        self.clock = Some(next);
        Ok(())
    }

    /// Staff's pause, resume and extension. False if `action` is not a clock action.
    pub(super) fn clock_action(
        &mut self,
        action: &StaffAction,
        at_ms: u64,
    ) -> Option<Result<(), Refused>> {
        let event = match action {
            StaffAction::ShotClockPause {} => ClockEvent::Pause,
            StaffAction::ShotClockResume {} => ClockEvent::Resume,
            StaffAction::ShotClockExtension { player } => ClockEvent::Extend {
                player: player.map(usize::from),
            },
            _ => return None,
        };
        let result = match (&self.game, self.clock.as_mut()) {
            (None, _) => Err(Refused::NoMatch),
            (Some(_), None) => Err(Refused::NoClock),
            (Some(_), Some(clock)) => clock.apply(at_ms, event).map(|_| ()).map_err(Refused::from),
        };
        Some(result)
    }

    /// What the engine's timer should log for this table at `now_ms`, if anything.
    pub fn clock_due(&self, now_ms: u64) -> Option<ClockTick> {
        let (_, game) = self.game.as_ref()?;
        if game.state().match_winner.is_some() {
            return None;
        }
        self.clock.as_ref()?.due(now_ms).map(ClockTick::from)
    }

    /// The clock as screens see it; `None` when the match has no shot clock.
    pub(super) fn clock_report(&self) -> Option<ClockReport> {
        self.game.as_ref()?;
        self.clock.as_ref().map(ShotClock::report)
    }
}

/// Whether the newest input of `game` was a break (so the shot to play now is the first after it).
fn follows_break(game: &Match) -> bool {
    let inputs = game.inputs();
    let Some((_, earlier)) = inputs.split_last() else {
        return false;
    };
    Match::replay(game.spec().clone(), earlier.to_vec()).is_ok_and(|before| break_next(&before))
}

impl From<ClockRefused> for Refused {
    fn from(refused: ClockRefused) -> Refused {
        Refused::Clock(refused)
    }
}
