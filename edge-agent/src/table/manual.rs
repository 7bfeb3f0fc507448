//! Scoring by hand: balls staff enter into the shot in progress (as a pocket sensor would report
//! them), and undo of the shot in progress last-in first-out: every entry into it (a ball from a
//! sensor or from staff, a call, a safety, a push-out) is remembered, so undo takes back exactly
//! the last one before it takes back a ruled input.

use shared::rules::{Pocketed, Rejected};

use super::shot::Pending;
use super::{Refused, Table};

/// The most entries one shot remembers for undo (a shot holds at most 16 balls; calls can be
/// changed, so a bound keeps a stuck button from growing it).
const MAX_HISTORY: usize = 64;

impl Pending {
    /// Keeps the shot as it is now, so that the change about to be made can be undone alone.
    pub(super) fn remember(&mut self) {
        let mut history = std::mem::take(&mut self.history);
        if history.len() >= MAX_HISTORY {
            history.remove(0);
        }
        history.push(self.clone());
        self.history = history;
    }

    /// Takes back the last remembered change; false if there is none.
    pub(super) fn take_back(&mut self) -> bool {
        let mut history = std::mem::take(&mut self.history);
        let Some(earlier) = history.pop() else {
            return false;
        };
        *self = earlier;
        self.history = history;
        true
    }

    /// A ball into the shot (0 is the cue ball), remembered for undo; false if it was already in.
    pub(super) fn drop_ball(&mut self, ball: u8, pocket: Option<u8>) -> bool {
        if ball == 0 {
            if self.cue_ball {
                return false;
            }
            self.remember();
            self.cue_ball = true;
            return true;
        }
        if self.pocketed.iter().any(|p| p.ball == ball) {
            return false;
        }
        self.remember();
        self.pocketed.push(Pocketed { ball, pocket });
        true
    }
}

impl Table {
    /// A ball staff saw drop: checked against the table (a ball already down, or not in this
    /// game, is refused), then entered like a sensor's report.
    pub(super) fn manual_pocket(
        &mut self,
        ball: u8,
        pocket: Option<u8>,
        at_ms: u64,
    ) -> Result<(), Refused> {
        let (_, game) = self.game.as_ref().ok_or(Refused::NoMatch)?;
        let state = game.state();
        if state.match_winner.is_some() {
            return Err(Rejected::MatchOver.into());
        }
        let on_table = if state.rack_over() {
            game.spec().game.full_rack()
        } else {
            state.on_table
        };
        if ball != 0 && !on_table.contains(ball) {
            return Err(Rejected::BallNotOnTable(ball).into());
        }
        if let Some(p) = pocket.filter(|p| !(1..=6).contains(p)) {
            return Err(Rejected::NoSuchPocket(p).into());
        }
        if self.pending.drop_ball(ball, pocket) {
            self.pending.last_change_ms = at_ms;
        }
        Ok(())
    }

    /// Undo: the last entry into the shot in progress, else a camera shot still open, else the
    /// last ruled input (see `correction::undo_ruled`).
    pub(super) fn undo(
        &mut self,
        by: Option<&super::Actor>,
        applied: &mut super::Applied,
    ) -> Result<(), Refused> {
        if self.pending.take_back() {
            return Ok(());
        }
        if self.pending.has_balls() || self.pending.open {
            self.pending = Pending::default();
            return Ok(());
        }
        self.undo_ruled(by, applied)
    }
}
