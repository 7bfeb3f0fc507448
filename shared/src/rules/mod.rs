//! The rules engine: what the WPA rules say happened, shot by shot.
//!
//! Pure and deterministic: no I/O, no clock, no randomness. A match's [`State`] is a fold of its
//! [`Input`]s with [`step`], so the same inputs always give the same state, a stored match is its spec
//! plus its inputs, and undo is "replay all but the last". In data-flow order:
//!
//! - [`spec`]: the match (game, players, race, break order, house options);
//! - [`input`]: shots as observed (every field optional) and actions;
//! - `correction`: staff corrections of the score (a line like any other, so undo and replay see it);
//! - [`shot`]: a shot checked against the table — the only place impossible input is rejected;
//! - [`eight_ball`], [`rotation`] (9- and 10-ball), [`straight_pool`]: what each game rules;
//! - [`state`], [`stats`]: the consequences every game shares (innings, fouls, racks, statistics);
//! - [`report`]: the public view of a state, the contract of `dojo-rules` and of the screens;
//! - [`referee`]: the line-by-line session behind `dojo-rules`;
//! - [`shot_clock`]: the shot clock (a house option), a fold of timed events beside the match.

mod ball;
mod correction;
mod eight_ball;
mod input;
pub mod referee;
mod report;
mod rotation;
mod shot;
pub mod shot_clock;
mod spec;
mod state;
mod stats;
mod straight_pool;

use serde::{Deserialize, Serialize};

pub use ball::{Ball, BallSet, Group, MAX_BALL, MAX_POCKET, Pocket};
pub use correction::check_reason;
pub use input::{Action, ActionKind, Call, Correction, Input, MAX_REASON_CHARS, Pocketed, Shot};
pub use report::Report;
pub use shot_clock::ShotClockRules;
pub use spec::{
    BreakRule, Concede, EightOnBreak, Game, HouseRules, MAX_RACE, MatchSpec, MoneyOnBreak,
};
pub use state::{FoulReason, LastLine, PassOption, State};
pub use stats::PlayerStats;

use shot::Observed;
use state::{BallInHand, other};

/// Why an input was refused. A refused input changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// The match line itself is unusable.
    #[error("invalid match: {0}")]
    InvalidSpec(String),
    /// A ball number outside 1..=15.
    #[error("ball {0} does not exist (object balls are 1..15)")]
    NoSuchBall(u8),
    /// A ball this game does not rack.
    #[error("ball {0} is not used in {1}")]
    BallNotInGame(u8, &'static str),
    /// A pocket number outside 1..=6.
    #[error("pocket {0} does not exist (pockets are 1..6)")]
    NoSuchPocket(u8),
    /// The shot names a ball that is already down.
    #[error("ball {0} is not on the table")]
    BallNotOnTable(u8),
    /// The same ball is listed twice.
    #[error("ball {0} is listed twice in one shot")]
    DuplicateBall(u8),
    /// A push-out outside the shot right after a legal break.
    #[error("a push-out is only allowed on the shot after a legal break in 9-ball and 10-ball")]
    PushOutNotAllowed,
    /// A pass where the rules offer no choice.
    #[error(
        "there is nothing to pass: pass follows a push-out, a wrongly pocketed ball or an illegal break"
    )]
    PassNotAllowed,
    /// A re-rack where the rules offer none.
    #[error("a re-rack is not an option now")]
    RerackNotAllowed,
    /// A referee foul before the rack is broken.
    #[error("a foul cannot be called before the break shot")]
    FoulBeforeBreak,
    /// A player index other than 0 or 1.
    #[error("player {0} does not exist (players are 0 and 1)")]
    NoSuchPlayer(u8),
    /// A `player` on an action that is always the shooter's.
    #[error("only concede names a player")]
    PlayerNotExpected,
    /// Fields that cannot all be true.
    #[error("{0}")]
    Contradiction(&'static str),
    /// Input after the match ended.
    #[error("the match is over")]
    MatchOver,
    /// Undo with nothing left to undo.
    #[error("nothing to undo")]
    NothingToUndo,
    /// A correction that cannot be made (no reason, a score off the race).
    #[error("invalid correction: {0}")]
    InvalidCorrection(String),
}

/// Applies one input to a state. Pure: `prev` is untouched and a refused input returns why.
/// `undo` is not a step (it is the absence of one) and is handled by [`Match::apply`].
pub fn step(spec: &MatchSpec, prev: &State, input: &Input) -> Result<State, Rejected> {
    if prev.match_winner.is_some() {
        return Err(Rejected::MatchOver);
    }
    if let Input::Correction { correction } = input {
        return correction::correct(spec, prev, correction);
    }
    let mut state = prev.clone();
    state.last = LastLine::default();
    if prev.rack_over() {
        state.rack_for_break(spec.game, prev.shooter, true);
    }
    // Options, and ball in hand, are good for the next input only.
    state.set_ball_in_hand(BallInHand::No);
    let pass_option = state.pass_option.take();
    let can_rerack = std::mem::take(&mut state.can_rerack);
    let push_out_available = std::mem::take(&mut state.push_out_available);
    match input {
        Input::Shot { shot } => {
            let shot = Observed::check(spec.game, &state, shot, push_out_available)?;
            play(spec, &mut state, &shot);
        }
        Input::Action(action) => {
            if action.player.is_some() && action.action != ActionKind::Concede {
                return Err(Rejected::PlayerNotExpected);
            }
            match action.action {
                ActionKind::Pass => match pass_option {
                    None => return Err(Rejected::PassNotAllowed),
                    Some(PassOption::HandBack) => state.end_inning(),
                    Some(PassOption::Rebreak) => {
                        state.rack_for_break(spec.game, other(state.shooter), false);
                    }
                },
                ActionKind::Rerack if can_rerack => {
                    state.rack_for_break(spec.game, state.shooter, false);
                }
                ActionKind::Rerack => return Err(Rejected::RerackNotAllowed),
                ActionKind::Foul | ActionKind::TimeFoul if state.break_shot => {
                    return Err(Rejected::FoulBeforeBreak);
                }
                ActionKind::Foul => play(spec, &mut state, &Observed::referee_foul()),
                ActionKind::TimeFoul => play(spec, &mut state, &Observed::time_foul()),
                ActionKind::Concede => {
                    let loser = match action.player {
                        None => state.shooter,
                        Some(player @ 0..=1) => usize::from(player),
                        Some(player) => return Err(Rejected::NoSuchPlayer(player)),
                    };
                    let winner = other(loser);
                    state.win_rack(spec, winner, false);
                    if spec.rules.concede == Concede::Match || spec.game == Game::StraightPool {
                        state.end_match(winner);
                    }
                }
                ActionKind::Undo => return Err(Rejected::NothingToUndo),
            }
        }
        Input::Correction { .. } => {}
    }
    Ok(state)
}

fn play(spec: &MatchSpec, state: &mut State, shot: &Observed) {
    match spec.game {
        Game::EightBall => eight_ball::play(spec, state, shot),
        Game::NineBall | Game::TenBall => rotation::play(spec, state, shot),
        Game::StraightPool => straight_pool::play(spec, state, shot),
    }
}

/// The three-foul rule of 9- and 10-ball (and 8-ball as a house option): `offender`'s third
/// consecutive foul loses the rack.
fn three_fouls(spec: &MatchSpec, state: &mut State, offender: usize) {
    if spec.rules.three_fouls(spec.game) && state.consecutive_fouls[offender] >= 3 {
        state
            .last
            .foul_reasons
            .push(FoulReason::ThirdConsecutiveFoul);
        state.win_rack(spec, other(offender), false);
    }
}

/// A match: its spec, the inputs accepted so far and the state they fold to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    spec: MatchSpec,
    inputs: Vec<Input>,
    state: State,
}

impl Match {
    /// A match before its opening break.
    pub fn new(spec: MatchSpec) -> Result<Match, Rejected> {
        spec.validate()?;
        let state = State::new(&spec);
        Ok(Match {
            spec,
            inputs: Vec::new(),
            state,
        })
    }

    /// Replays `inputs` from the start; fails on the first input the rules refuse.
    pub fn replay(spec: MatchSpec, inputs: Vec<Input>) -> Result<Match, Rejected> {
        let mut game = Match::new(spec)?;
        for input in inputs {
            game.apply(input)?;
        }
        Ok(game)
    }

    /// Applies an input (or undoes the last one) and returns the new state.
    pub fn apply(&mut self, input: Input) -> Result<&State, Rejected> {
        if input == Input::action(ActionKind::Undo) {
            let Some((_, kept)) = self.inputs.split_last() else {
                return Err(Rejected::NothingToUndo);
            };
            let mut state = State::new(&self.spec);
            for earlier in kept {
                state = step(&self.spec, &state, earlier)?;
            }
            self.state = state;
            self.inputs.pop();
        } else {
            self.state = step(&self.spec, &self.state, &input)?;
            self.inputs.push(input);
        }
        Ok(&self.state)
    }

    /// The match's spec.
    pub fn spec(&self) -> &MatchSpec {
        &self.spec
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The accepted inputs, oldest first.
    pub fn inputs(&self) -> &[Input] {
        &self.inputs
    }

    /// The inputs of the newest rack: from the end of the rack before it up to the newest input
    /// (so, right after a rack ends, that whole rack's shot log).
    pub fn last_rack_inputs(&self) -> &[Input] {
        let mut state = State::new(&self.spec);
        let mut start = 0;
        let older = self.inputs.len().saturating_sub(1);
        for (i, input) in self.inputs.iter().take(older).enumerate() {
            match step(&self.spec, &state, input) {
                Ok(next) => state = next,
                Err(_) => break,
            }
            if state.last.rack_winner.is_some() {
                start = i + 1;
            }
        }
        self.inputs.get(start..).unwrap_or_default()
    }

    /// The public view of the current state.
    pub fn report(&self) -> Report {
        Report::new(&self.state)
    }
}
