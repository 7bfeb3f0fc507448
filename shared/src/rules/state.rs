//! The state of a match after some inputs, and the bookkeeping moves every game shares: ending an
//! inning, a foul, a rack won.
//!
//! `State` is plain data that serialises whole, so a stored match can be reloaded and continued.
//! The game modules decide *what* happened on a shot; the methods here apply the consequences the same
//! way for every game, so statistics and turn order cannot drift apart between games.

use serde::{Deserialize, Serialize};

use super::ball::{Ball, BallSet, Group};
use super::spec::{BreakRule, Game, MatchSpec};
use super::stats::PlayerStats;

/// Why a shot was a foul.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FoulReason {
    /// WPA 6.1: the cue ball was pocketed.
    Scratch,
    /// WPA 6.1: the cue ball left the table.
    CueBallOffTable,
    /// WPA 6.2: the first ball hit was not a legal one.
    WrongBallFirst,
    /// WPA 6.3: nothing pocketed and no ball reached a rail after contact.
    NoRail,
    /// WPA 6.5: an object ball left the table.
    ObjectBallOffTable,
    /// A foul the referee called (touched ball, double hit, foot on the floor…).
    Referee,
    /// A break that did not drive enough balls to a rail (8-, 9-, 10-ball).
    IllegalBreak,
    /// 14.1: the opening break requirement was not met (−2).
    BreakingFoul,
    /// The third consecutive foul (rack lost; 14.1: −15 more).
    ThirdConsecutiveFoul,
    /// The shot clock ran out (WPA shot-clock regulation: a standard foul).
    ShotClock,
}

/// What the incoming player's `pass` does, when the rules offer one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassOption {
    /// The other player shoots from the position as it lies.
    HandBack,
    /// The balls are re-racked and the other player (the offender) breaks again.
    Rebreak,
}

/// Where the incoming player may place the cue ball.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BallInHand {
    /// Nowhere: the position is played as it lies.
    No,
    /// Anywhere on the table.
    Anywhere,
    /// Behind the head string.
    BehindHeadString,
}

/// Facts about the line just applied, reset by the next line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LastLine {
    /// The shot (or action) was a foul.
    pub foul: bool,
    /// Why.
    pub foul_reasons: Vec<FoulReason>,
    /// Balls brought back to the table by this line.
    pub spotted: BallSet,
    /// The player who won the rack this line ended.
    pub rack_winner: Option<usize>,
}

/// The whole state of a match.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct State {
    /// The rack in play, from 1 (14.1: counts the re-racks).
    pub rack: u32,
    /// Who broke (or breaks) this rack.
    pub breaker: usize,
    /// Who shoots next.
    pub shooter: usize,
    /// The next shot is a break shot.
    pub break_shot: bool,
    /// The shooter has the cue ball in hand.
    pub ball_in_hand: bool,
    /// ... restricted to behind the head string.
    pub behind_head_string: bool,
    /// The object balls on the table.
    pub on_table: BallSet,
    /// Racks won, or 14.1 points.
    pub score: [i32; 2],
    /// 8-ball groups per player once assigned.
    pub groups: Option<[Group; 2]>,
    /// Fouls since each player's last legal shot.
    pub consecutive_fouls: [u8; 2],
    /// The next shot may be declared a push-out.
    pub push_out_available: bool,
    /// What `pass` would do now, if it is allowed.
    pub pass_option: Option<PassOption>,
    /// `rerack` is allowed now.
    pub can_rerack: bool,
    /// The winner, once the match is over.
    pub match_winner: Option<usize>,
    /// What the last line did.
    pub last: LastLine,
    /// Per-player statistics.
    pub stats: [PlayerStats; 2],
    /// Balls (14.1: points) made in the current inning.
    pub inning_run: u32,
    /// The breaker has not left the table since the break (for break-and-run).
    pub breaker_still_at_table: bool,
}

/// The other player.
pub(crate) fn other(player: usize) -> usize {
    1 - player
}

impl State {
    /// The state before the opening break.
    pub fn new(spec: &MatchSpec) -> State {
        let mut state = State {
            rack: 1,
            breaker: 0,
            shooter: 0,
            break_shot: true,
            ball_in_hand: false,
            behind_head_string: false,
            on_table: spec.game.full_rack(),
            score: [0, 0],
            groups: None,
            consecutive_fouls: [0, 0],
            push_out_available: false,
            pass_option: None,
            can_rerack: false,
            match_winner: None,
            last: LastLine::default(),
            stats: Default::default(),
            inning_run: 0,
            breaker_still_at_table: true,
        };
        state.stats[0].innings = 1;
        state
    }

    /// The rack is over and the next input is played on a fresh one.
    pub fn rack_over(&self) -> bool {
        self.last.rack_winner.is_some() && self.match_winner.is_none()
    }

    /// Racks the balls for a break by `breaker`. `next_rack` counts it as a new rack; otherwise it is a
    /// re-rack of the same one (illegal-break and 8-on-the-break options). The three fouls must fall
    /// in one game (WPA 6.14), so a fresh rack clears the counts — except in 14.1, one game throughout.
    pub(crate) fn rack_for_break(&mut self, game: Game, breaker: usize, next_rack: bool) {
        if next_rack {
            self.rack += 1;
        }
        if next_rack || game != Game::StraightPool {
            self.consecutive_fouls = [0, 0];
        }
        if next_rack || self.shooter != breaker {
            self.come_to_table(breaker);
        }
        self.breaker = breaker;
        self.shooter = breaker;
        self.breaker_still_at_table = true;
        self.break_shot = true;
        self.on_table = game.full_rack();
        self.groups = None;
        self.set_ball_in_hand(BallInHand::No);
    }

    /// Ends the shooter's inning: the other player comes to the table.
    pub(crate) fn end_inning(&mut self) {
        self.come_to_table(other(self.shooter));
    }

    fn come_to_table(&mut self, player: usize) {
        self.inning_run = 0;
        self.shooter = player;
        self.stats[player].innings += 1;
        if player != self.breaker {
            self.breaker_still_at_table = false;
        }
    }

    pub(crate) fn set_ball_in_hand(&mut self, ball_in_hand: BallInHand) {
        self.ball_in_hand = ball_in_hand != BallInHand::No;
        self.behind_head_string = ball_in_hand == BallInHand::BehindHeadString;
    }

    /// Credits the shooter with `balls` made on a legal shot.
    pub(crate) fn credit_balls(&mut self, balls: u32) {
        let stats = &mut self.stats[self.shooter];
        stats.balls_pocketed += balls;
        self.inning_run += balls;
        stats.high_run = stats.high_run.max(self.inning_run);
    }

    /// A legal shot clears the shooter's foul count.
    pub(crate) fn legal_shot(&mut self) {
        self.consecutive_fouls[self.shooter] = 0;
    }

    /// Records a foul by the shooter and counts it towards three in a row when `counts`.
    pub(crate) fn record_foul(&mut self, reasons: Vec<FoulReason>, counts: bool) {
        let shooter = self.shooter;
        self.stats[shooter].fouls += 1;
        if counts {
            self.consecutive_fouls[shooter] = self.consecutive_fouls[shooter].saturating_add(1);
        }
        self.last.foul = true;
        self.last.foul_reasons = reasons;
    }

    /// Puts balls back on the table and reports them as spotted.
    pub(crate) fn spot(&mut self, balls: BallSet) {
        self.on_table = self.on_table.union(balls);
        self.last.spotted = self.last.spotted.union(balls);
    }

    /// Ends the rack with `winner`; `by_shot` when the winner's own shot won it. Decides whether the
    /// match is over and, if not, who breaks next.
    pub(crate) fn win_rack(&mut self, spec: &MatchSpec, winner: usize, by_shot: bool) {
        if by_shot && winner == self.breaker && self.breaker_still_at_table {
            self.stats[winner].break_and_runs += 1;
        }
        self.stats[winner].racks_won += 1;
        self.last.rack_winner = Some(winner);
        self.push_out_available = false;
        self.pass_option = None;
        self.can_rerack = false;
        self.set_ball_in_hand(BallInHand::No);
        if spec.game != Game::StraightPool {
            self.score[winner] += 1;
        }
        // The score, not the racks won: a staff correction may have changed it.
        let reached = self.score[winner] >= race(spec);
        if reached {
            self.end_match(winner);
        } else {
            self.shooter = match spec.break_rule {
                BreakRule::Alternate => other(self.breaker),
                BreakRule::Winner => winner,
            };
            self.break_shot = true;
        }
    }

    /// Ends the match with `winner`.
    pub(crate) fn end_match(&mut self, winner: usize) {
        self.match_winner = Some(winner);
        self.break_shot = false;
        self.push_out_available = false;
        self.pass_option = None;
        self.can_rerack = false;
        self.set_ball_in_hand(BallInHand::No);
    }

    /// The balls left of `player`'s 8-ball group, if groups are assigned.
    pub(crate) fn group_left(&self, player: usize) -> Option<BallSet> {
        self.groups
            .map(|groups| self.on_table.intersect(groups[player].balls()))
    }

    /// Whether `ball` is on the table.
    pub(crate) fn has(&self, ball: Ball) -> bool {
        self.on_table.contains(ball)
    }
}

/// The race as a score (14.1 points can be negative, racks cannot).
pub(crate) fn race(spec: &MatchSpec) -> i32 {
    i32::try_from(spec.race_to).unwrap_or(i32::MAX)
}
