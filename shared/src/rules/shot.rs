//! A shot checked against the table: every number in range, every ball where the shot says it was.
//!
//! `Observed` is what the game modules read. Building it is the one place that rejects impossible
//! shots, so the games can assume a consistent shot and stay small.

use super::Rejected;
use super::ball::{Ball, BallSet, MAX_BALL, MAX_POCKET, Pocket};
use super::input::{Call, Shot};
use super::spec::Game;
use super::state::{FoulReason, State};

/// A shot that is possible on the current table.
#[derive(Clone, Debug, Default)]
pub(crate) struct Observed {
    /// Object balls that dropped.
    pub pocketed: BallSet,
    /// The first object ball listed as pocketed: the obvious call when none was made.
    first_pocketed: Option<Ball>,
    pocket_of: [Option<Pocket>; MAX_BALL as usize + 1],
    /// The cue ball dropped or left the table.
    pub cue_ball_pocketed: bool,
    pub cue_ball_off_table: bool,
    /// Object balls that left the table.
    pub off_table: BallSet,
    pub first_contact: Option<Ball>,
    pub rail_after_contact: Option<bool>,
    pub called: Option<Call>,
    pub push_out: bool,
    pub safety: bool,
    pub break_rails: Option<u8>,
    pub referee_foul: bool,
    /// The shot clock ran out.
    pub time_foul: bool,
}

impl Observed {
    /// Checks `shot` against the table in `state`.
    pub(crate) fn check(
        game: Game,
        state: &State,
        shot: &Shot,
        push_out_available: bool,
    ) -> Result<Observed, Rejected> {
        let on_table = |ball: Ball| -> Result<Ball, Rejected> {
            check_ball(game, ball)?;
            if state.has(ball) {
                Ok(ball)
            } else {
                Err(Rejected::BallNotOnTable(ball))
            }
        };
        let mut observed = Observed {
            cue_ball_pocketed: shot.cue_ball_pocketed,
            cue_ball_off_table: shot.cue_ball_off_table,
            rail_after_contact: shot.rail_after_contact,
            push_out: shot.push_out,
            safety: shot.safety,
            break_rails: shot.break_rails,
            referee_foul: shot.foul,
            ..Observed::default()
        };
        for drop in &shot.pocketed {
            if let Some(pocket) = drop.pocket {
                check_pocket(pocket)?;
            }
            if drop.ball == 0 {
                observed.cue_ball_pocketed = true;
                continue;
            }
            let ball = on_table(drop.ball)?;
            if observed.pocketed.contains(ball) {
                return Err(Rejected::DuplicateBall(ball));
            }
            observed.pocketed.insert(ball);
            observed.pocket_of[usize::from(ball)] = drop.pocket;
            observed.first_pocketed.get_or_insert(ball);
        }
        for &ball in &shot.object_off_table {
            let ball = on_table(ball)?;
            if observed.pocketed.contains(ball) || observed.off_table.contains(ball) {
                return Err(Rejected::DuplicateBall(ball));
            }
            observed.off_table.insert(ball);
        }
        if let Some(ball) = shot.first_contact {
            observed.first_contact = Some(on_table(ball)?);
        }
        if let Some(call) = shot.called {
            on_table(call.ball)?;
            if let Some(pocket) = call.pocket {
                check_pocket(pocket)?;
            }
            observed.called = Some(call);
        }
        if shot.push_out && !push_out_available {
            return Err(Rejected::PushOutNotAllowed);
        }
        if shot.push_out && shot.safety {
            return Err(Rejected::Contradiction(
                "a shot cannot be both a push-out and a safety",
            ));
        }
        Ok(observed)
    }

    /// A referee-called foul with nothing else observed.
    pub(crate) fn referee_foul() -> Observed {
        Observed {
            referee_foul: true,
            ..Observed::default()
        }
    }

    /// The shooter ran out of time, with nothing else observed.
    pub(crate) fn time_foul() -> Observed {
        Observed {
            time_foul: true,
            ..Observed::default()
        }
    }

    /// The ball the shooter is taken to have called: the call, or else the first ball that dropped.
    pub(crate) fn called_ball(&self) -> Option<Ball> {
        self.called.map(|call| call.ball).or(self.first_pocketed)
    }

    /// Whether the (explicit or assumed) called ball dropped, in the called pocket when one was named
    /// and the pocket was seen.
    pub(crate) fn call_made(&self) -> bool {
        let Some(ball) = self.called_ball() else {
            return false;
        };
        let called_pocket = self.called.and_then(|call| call.pocket);
        self.pocketed.contains(ball)
            && match (called_pocket, self.pocket_of[usize::from(ball)]) {
                (Some(called), Some(actual)) => called == actual,
                _ => true,
            }
    }

    /// Whether `ball` dropped in a pocket other than the one called for it.
    pub(crate) fn in_wrong_pocket(&self, ball: Ball) -> bool {
        match (self.called, self.pocket_of[usize::from(ball)]) {
            (Some(call), Some(actual)) if call.ball == ball => {
                call.pocket.is_some_and(|p| p != actual)
            }
            _ => false,
        }
    }

    /// The cue ball went in or off.
    pub(crate) fn scratched(&self) -> bool {
        self.cue_ball_pocketed || self.cue_ball_off_table
    }

    /// The standard fouls of WPA section 6 that sensors or the referee can report. `legal_first` says
    /// which first contact is legal; `push_out` suspends wrong-ball-first and no-rail (WPA 9-ball).
    pub(crate) fn standard_fouls(&self, legal_first: impl Fn(Ball) -> bool) -> Vec<FoulReason> {
        let mut fouls = Vec::new();
        if self.cue_ball_pocketed {
            fouls.push(FoulReason::Scratch);
        }
        if self.cue_ball_off_table {
            fouls.push(FoulReason::CueBallOffTable);
        }
        if !self.push_out {
            if self.first_contact.is_some_and(|ball| !legal_first(ball)) {
                fouls.push(FoulReason::WrongBallFirst);
            }
            if self.rail_after_contact == Some(false) && self.pocketed.is_empty() {
                fouls.push(FoulReason::NoRail);
            }
        }
        if !self.off_table.is_empty() {
            fouls.push(FoulReason::ObjectBallOffTable);
        }
        if self.referee_foul {
            fouls.push(FoulReason::Referee);
        }
        if self.time_foul {
            fouls.push(FoulReason::ShotClock);
        }
        fouls
    }

    /// A break shot with nothing made and fewer than `needed` object balls observed at a rail.
    pub(crate) fn short_break(&self, needed: u8) -> bool {
        self.pocketed.is_empty() && self.break_rails.is_some_and(|rails| rails < needed)
    }
}

fn check_ball(game: Game, ball: Ball) -> Result<(), Rejected> {
    if ball == 0 || ball > MAX_BALL {
        Err(Rejected::NoSuchBall(ball))
    } else if !game.full_rack().contains(ball) {
        Err(Rejected::BallNotInGame(ball, game.as_str()))
    } else {
        Ok(())
    }
}

fn check_pocket(pocket: Pocket) -> Result<(), Rejected> {
    if (1..=MAX_POCKET).contains(&pocket) {
        Ok(())
    } else {
        Err(Rejected::NoSuchPocket(pocket))
    }
}
