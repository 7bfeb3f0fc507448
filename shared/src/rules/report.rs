//! The public view of a match state: the fields `dojo-rules` prints and screens show.
//!
//! Kept apart from [`State`] so the engine's bookkeeping (current run, break-and-run tracking) can
//! change without changing the contract.

use serde::Serialize;

use super::ball::{BallSet, Group};
use super::state::{FoulReason, State};
use super::stats::PlayerStats;

/// One output line of `dojo-rules`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The rack in play, from 1.
    pub rack: u32,
    /// Who broke (or breaks) this rack.
    pub breaker: usize,
    /// Who shoots next.
    pub shooter: usize,
    /// The next shot is a break.
    pub break_shot: bool,
    /// The next shooter has ball in hand.
    pub ball_in_hand: bool,
    /// ... behind the head string.
    pub behind_head_string: bool,
    /// Object balls on the table, sorted.
    pub on_table: BallSet,
    /// Racks won, or 14.1 points.
    pub score: [i32; 2],
    /// This line was a foul.
    pub foul: bool,
    /// Why.
    pub foul_reasons: Vec<FoulReason>,
    /// Balls this line put back on the table.
    pub spotted: BallSet,
    /// Who won the rack this line ended.
    pub rack_winner: Option<usize>,
    /// Who won the match.
    pub match_winner: Option<usize>,
    /// 8-ball groups by player, `null` while the table is open.
    pub groups: Option<[Group; 2]>,
    /// Fouls in a row per player.
    pub consecutive_fouls: [u8; 2],
    /// The next shot may be declared a push-out.
    pub push_out_available: bool,
    /// The next input may be `pass`.
    pub can_pass: bool,
    /// The next input may be `rerack`.
    pub can_rerack: bool,
    /// Per-player statistics.
    pub stats: [PlayerStats; 2],
}

impl Report {
    /// The view of `state`.
    pub fn new(state: &State) -> Report {
        Report {
            rack: state.rack,
            breaker: state.breaker,
            shooter: state.shooter,
            break_shot: state.break_shot,
            ball_in_hand: state.ball_in_hand,
            behind_head_string: state.behind_head_string,
            on_table: state.on_table,
            score: state.score,
            foul: state.last.foul,
            foul_reasons: state.last.foul_reasons.clone(),
            spotted: state.last.spotted,
            rack_winner: state.last.rack_winner,
            match_winner: state.match_winner,
            groups: state.groups,
            consecutive_fouls: state.consecutive_fouls,
            push_out_available: state.push_out_available,
            can_pass: state.pass_option.is_some(),
            can_rerack: state.can_rerack,
            stats: state.stats.clone(),
        }
    }
}
