//! What can happen at a table: a shot, as far as the sensors saw it, or a player's or referee's action.
//!
//! Every shot field is optional because a table may only have pocket sensors: an absent fact means
//! "not observed", and the engine then assumes the legal case (docs/rules.md). Numbers stay raw `u8`
//! here so that the engine, not serde, explains what is wrong with a ball or pocket number.

use serde::{Deserialize, Serialize};

use super::ball::{Ball, Pocket};

/// One ball dropping into a pocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pocketed {
    /// The ball; `0` is the cue ball (the same as `cue_ball_pocketed`).
    pub ball: u8,
    /// The pocket, when a sensor knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pocket: Option<Pocket>,
}

/// A shooter's call: the ball, and the pocket when one was named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// The called ball.
    pub ball: Ball,
    /// The called pocket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pocket: Option<Pocket>,
}

/// One stroke of the cue, as observed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Shot {
    /// The first object ball the cue ball touched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_contact: Option<Ball>,
    /// The balls that dropped, in the order they dropped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pocketed: Vec<Pocketed>,
    /// The cue ball went into a pocket.
    #[serde(skip_serializing_if = "is_false")]
    pub cue_ball_pocketed: bool,
    /// The cue ball left the table.
    #[serde(skip_serializing_if = "is_false")]
    pub cue_ball_off_table: bool,
    /// Object balls that left the table.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub object_off_table: Vec<Ball>,
    /// Whether any ball reached a rail after the cue ball hit an object ball.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rail_after_contact: Option<bool>,
    /// The call for this shot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub called: Option<Call>,
    /// The shooter declared a push-out.
    #[serde(skip_serializing_if = "is_false")]
    pub push_out: bool,
    /// The shooter called a safety.
    #[serde(skip_serializing_if = "is_false")]
    pub safety: bool,
    /// Extension: object balls that reached a rail on a break shot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_rails: Option<u8>,
    /// Extension: a foul the referee saw on this shot that no sensor can (double hit, push shot…).
    #[serde(skip_serializing_if = "is_false")]
    pub foul: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// What a player or the referee can do besides shooting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Hand the table back (after a push-out, a wrongly pocketed ball, an illegal break).
    Pass,
    /// Take the re-rack option where the rules offer one.
    Rerack,
    /// A referee-called foul on the shooter.
    Foul,
    /// A player concedes.
    Concede,
    /// Take back the last accepted input.
    Undo,
    /// The shooter ran out of time on the shot clock: a standard foul, ruled like `foul`.
    TimeFoul,
}

/// An action line: `{"action":"concede","player":1}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// What is done.
    pub action: ActionKind,
    /// Who does it (`concede` only); absent means the player to shoot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub player: Option<u8>,
}

/// The longest reason a correction may give, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// A correction of the score by staff (a sensor missed a ball, a rack was scored by hand, the
/// final result is entered), with the reason: a line of the match like any other, so a replay
/// and an undo see it where it happened. It changes the score and nothing of the table in play.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Correction {
    /// One rack (14.1: one point) more (`delta` 1) or less (`delta` -1) for `player`.
    AdjustRack {
        /// The seat whose score changes.
        player: u8,
        /// `1` or `-1`.
        delta: i8,
        /// Why, for people (required).
        reason: String,
    },
    /// The score set outright; a score that reaches the race ends the match.
    SetScore {
        /// The score now, per seat.
        score: [i32; 2],
        /// Why, for people (required).
        reason: String,
    },
}

impl Correction {
    /// Why the correction was made.
    pub fn reason(&self) -> &str {
        match self {
            Correction::AdjustRack { reason, .. } | Correction::SetScore { reason, .. } => reason,
        }
    }
}

/// One line of input after the match line: `{"shot":{…}}`, `{"action":…}` or
/// `{"correction":{…}}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Input {
    /// A shot.
    Shot {
        /// What was observed.
        shot: Shot,
    },
    /// An action.
    Action(Action),
    /// A staff correction of the score.
    Correction {
        /// What is corrected, and why.
        correction: Correction,
    },
}

impl Input {
    /// A shot input.
    pub fn shot(shot: Shot) -> Input {
        Input::Shot { shot }
    }

    /// An action input by the player to shoot.
    pub fn action(action: ActionKind) -> Input {
        Input::Action(Action {
            action,
            player: None,
        })
    }

    /// Parses one input line with an error that says what is wrong, which untagged enums cannot.
    pub fn from_json(line: &str) -> Result<Input, String> {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|error| format!("invalid JSON: {error}"))?;
        let object = value.as_object().ok_or("an input must be a JSON object")?;
        if object.contains_key("shot") {
            serde_json::from_value::<ShotLine>(value)
                .map(|line| Input::shot(line.shot))
                .map_err(|error| format!("invalid shot: {error}"))
        } else if object.contains_key("action") {
            serde_json::from_value::<Action>(value)
                .map(Input::Action)
                .map_err(|error| format!("invalid action: {error}"))
        } else if object.contains_key("correction") {
            serde_json::from_value::<CorrectionLine>(value)
                .map(|line| Input::Correction {
                    correction: line.correction,
                })
                .map_err(|error| format!("invalid correction: {error}"))
        } else {
            Err("an input needs a \"shot\", an \"action\" or a \"correction\" key".to_owned())
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShotLine {
    shot: Shot,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CorrectionLine {
    correction: Correction,
}
