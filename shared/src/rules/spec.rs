//! What a match is: the game, the players, the race, the break order and the house options.
//!
//! This is the first line of a `dojo-rules` script and the body of edge-agent's "start a match"
//! request, so it is a wire contract: fields may be added, never renamed.

use serde::{Deserialize, Serialize};

use super::Rejected;
use super::ball::BallSet;
use super::shot_clock::ShotClockRules;

/// The games the engine referees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Game {
    /// WPA 8-ball: groups, call shot, the 8 last.
    EightBall,
    /// WPA 9-ball: rotation, the 9 wins.
    NineBall,
    /// WPA 10-ball: rotation with call shot, the 10 wins as the last ball.
    TenBall,
    /// WPA 14.1 continuous (straight pool): points, re-racks every 14 balls.
    StraightPool,
}

impl Game {
    /// The object balls racked for this game.
    pub fn full_rack(self) -> BallSet {
        match self {
            Game::EightBall | Game::StraightPool => BallSet::range(1, 15),
            Game::NineBall => BallSet::range(1, 9),
            Game::TenBall => BallSet::range(1, 10),
        }
    }

    /// The ball that wins a rotation rack.
    pub(crate) fn money_ball(self) -> Option<u8> {
        match self {
            Game::NineBall => Some(9),
            Game::TenBall => Some(10),
            Game::EightBall | Game::StraightPool => None,
        }
    }

    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Game::EightBall => "eight-ball",
            Game::NineBall => "nine-ball",
            Game::TenBall => "ten-ball",
            Game::StraightPool => "straight-pool",
        }
    }
}

/// Who breaks the next rack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakRule {
    /// Players take turns (WPA regulation default).
    #[default]
    Alternate,
    /// The winner of the previous rack breaks.
    Winner,
}

/// What happens to an 8 pocketed on the break.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EightOnBreak {
    /// WPA: the 8 is spotted; the breaker (or after a scratch, the opponent) may instead re-rack.
    #[default]
    Spot,
    /// APA: the 8 on the break wins, unless the cue ball scratches, which loses.
    Win,
    /// Always a fresh rack, broken by the same player.
    Rerack,
}

/// What a money ball (9 or 10) pocketed on a legal break does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoneyOnBreak {
    /// The rack is won.
    Win,
    /// The ball is spotted and the breaker continues.
    Spot,
}

/// What a concession gives away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Concede {
    /// WPA 1.11: a player who concedes loses the match.
    #[default]
    Match,
    /// Common house practice: conceding gives away the rack in play only.
    Rack,
}

/// House options where venues commonly differ from (or choose among) the WPA rules.
/// Every field is optional; absent fields take the WPA default for the game.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HouseRules {
    /// 8-ball: what an 8 made on the break does.
    pub eight_on_break: EightOnBreak,
    /// 8-ball (APA): ball in hand after a break foul is behind the head string.
    pub break_foul_behind_head_string: bool,
    /// 9-ball: the 9 made on a legal break wins (WPA) or is spotted.
    pub nine_on_break: Option<MoneyOnBreak>,
    /// 10-ball: the 10 made on a legal break is spotted (WPA) or wins.
    pub ten_on_break: Option<MoneyOnBreak>,
    /// 10-ball (CSI): a legally called 10 made before the last ball wins.
    pub early_ten_wins: bool,
    /// Three consecutive fouls lose the rack (14.1: cost 15 more points). Default: on, except 8-ball.
    pub three_foul_rule: Option<bool>,
    /// What `concede` gives away.
    pub concede: Concede,
    /// The shot clock and its numbers; absent or `null`: no clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shot_clock: Option<ShotClockRules>,
}

impl HouseRules {
    pub(crate) fn three_fouls(&self, game: Game) -> bool {
        self.three_foul_rule.unwrap_or(game != Game::EightBall)
    }

    pub(crate) fn money_on_break(&self, game: Game) -> MoneyOnBreak {
        match game {
            Game::TenBall => self.ten_on_break.unwrap_or(MoneyOnBreak::Spot),
            _ => self.nine_on_break.unwrap_or(MoneyOnBreak::Win),
        }
    }
}

/// The largest race a match may have: beyond it a typo is likelier than a marathon.
pub const MAX_RACE: u32 = 1000;

/// A match: the first line of a `dojo-rules` script.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// The game played.
    pub game: Game,
    /// The two players; `players[0]` won the lag and breaks first.
    pub players: [String; 2],
    /// Racks to win (14.1: points to reach).
    pub race_to: u32,
    /// Break order after the first rack.
    #[serde(rename = "break", default)]
    pub break_rule: BreakRule,
    /// House options.
    #[serde(default)]
    pub rules: HouseRules,
}

impl MatchSpec {
    /// Checks what the types cannot: a race that can be played.
    pub fn validate(&self) -> Result<(), Rejected> {
        if self.race_to == 0 || self.race_to > MAX_RACE {
            return Err(Rejected::InvalidSpec(format!(
                "race_to must be between 1 and {MAX_RACE}, not {}",
                self.race_to
            )));
        }
        if let Some(clock) = &self.rules.shot_clock {
            clock.validate().map_err(Rejected::InvalidSpec)?;
        }
        Ok(())
    }

    /// Checks a match being created now: [`MatchSpec::validate`], and two players, each named,
    /// who are not the same name twice (compared trimmed and ignoring case). Matches already
    /// logged or synced are only [`validate`](MatchSpec::validate)d, so a log written before this
    /// check still replays.
    pub fn validate_new(&self) -> Result<(), Rejected> {
        self.validate()?;
        let [a, b] = &self.players;
        if a.trim().is_empty() || b.trim().is_empty() {
            return Err(Rejected::InvalidSpec(
                "a match needs two players: give both names".to_owned(),
            ));
        }
        if same_player(a, b) {
            return Err(Rejected::InvalidSpec(format!(
                "the two players must differ: {:?} is given twice",
                b.trim()
            )));
        }
        Ok(())
    }
}

/// Whether two player names name the same player: trimmed, case-insensitive.
fn same_player(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}
