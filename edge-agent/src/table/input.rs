//! What a table takes, exactly as the event log keeps it: [`TableInput`], and the staff and player
//! actions on a match ([`StaffAction`]). The log's JSON is a contract with every database already
//! written: a replay after an upgrade must read it back into the same inputs.

use serde::{Deserialize, Serialize};
use shared::protocol::{Button, DeviceEvent};
use shared::rules::MatchSpec;

/// A staff or player action on the current match (`POST .../matches/current/actions`), the same as
/// the table buttons plus `call` and `rerack`. Every variant is a struct (some empty) because serde
/// enforces `deny_unknown_fields` only on those: `{"action":"foul","x":1}` is refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum StaffAction {
    /// Close the shot in progress: the shot goes to the rules.
    EndTurn {},
    /// A foul on the shooter: on the shot in progress if balls have moved, else a called foul.
    Foul {},
    /// Take back the shot in progress, or else the last ruled input.
    Undo {},
    /// Declare the next shot a push-out.
    PushOut {},
    /// Hand the table back.
    Pass {},
    /// Declare the next shot a safety.
    Safety {},
    /// Concede (`player` defaults to the shooter).
    Concede {
        /// Who concedes.
        #[serde(default)]
        player: Option<u8>,
    },
    /// Take the re-rack option.
    Rerack {},
    /// Call the next shot.
    Call {
        /// Ball.
        ball: u8,
        /// Pocket.
        #[serde(default)]
        pocket: Option<u8>,
    },
    /// A ball dropped, entered by hand into the shot in progress as a pocket sensor would report
    /// it (ball 0 is the cue ball).
    Pocket {
        /// Ball.
        ball: u8,
        /// Pocket, where it matters.
        #[serde(default)]
        pocket: Option<u8>,
    },
    /// The cue ball dropped (a scratch), entered by hand into the shot in progress.
    CueBall {},
    /// A correction: one rack (14.1: one point) more or less for a player.
    AdjustRack {
        /// The seat whose score changes.
        player: u8,
        /// `1` or `-1`.
        delta: i8,
        /// Why (required).
        reason: String,
    },
    /// A correction: the score set outright (one that reaches the race ends the match).
    SetScore {
        /// The score per seat.
        score: [i32; 2],
        /// Why (required).
        reason: String,
    },
    /// Void the match: it ends with no winner and counts for nobody (unlike a concession).
    Void {
        /// Why (required).
        reason: String,
    },
    /// Hold the shot clock (a referee's interruption).
    ShotClockPause {},
    /// Let the shot clock run again.
    ShotClockResume {},
    /// The shooter's extension for this rack (`player`, when given, must be the shooter).
    ShotClockExtension {
        /// Who asks.
        #[serde(default)]
        player: Option<u8>,
    },
}

impl From<Button> for StaffAction {
    fn from(button: Button) -> StaffAction {
        match button {
            Button::EndTurn => StaffAction::EndTurn {},
            Button::Foul => StaffAction::Foul {},
            Button::Undo => StaffAction::Undo {},
            Button::PushOut => StaffAction::PushOut {},
            Button::Pass => StaffAction::Pass {},
            Button::Safety => StaffAction::Safety {},
            Button::Concede => StaffAction::Concede { player: None },
        }
    }
}

/// Who made a staff or player action: carried into the event log (and into corrections synced to
/// the cloud), so "who corrected this score" always has an answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case", deny_unknown_fields)]
pub enum Actor {
    /// Venue staff (the staff token, or a named staff member once staff sign in).
    Staff {
        /// The staff member, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The signed-in staff member's user id (a PIN session, `crate::staff`); absent for the
        /// shared staff token and in logs written before staff signed in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// A player of the match, from their paired phone (seat 0 or 1).
    Player {
        /// The player's seat.
        seat: u8,
    },
    /// The agent itself (timers, the demo's simulated staff).
    Agent {},
}

impl Actor {
    /// Staff whose name is not known (the shared staff token).
    pub fn staff() -> Actor {
        Actor::Staff {
            name: None,
            id: None,
        }
    }
}

/// One input of a table, exactly as logged in the event log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum TableInput {
    /// A device event (already validated and deduplicated).
    Device {
        /// Device id.
        device: String,
        /// Device seq.
        seq: u64,
        /// The event.
        event: DeviceEvent,
    },
    /// A staff or phone action.
    Staff {
        /// The action.
        action: StaffAction,
        /// Who made it (absent in logs written before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Actor>,
    },
    /// A match starts.
    StartMatch {
        /// Edge-local id.
        match_id: String,
        /// The match.
        spec: MatchSpec,
        /// Registered players' ids per seat, if any (logged only when there are some).
        #[serde(default, skip_serializing_if = "no_ids")]
        player_ids: [Option<String>; 2],
        /// Started by an agent running `--demo`: its records never enter the outbox (demo data
        /// never syncs), even after a restart without `--demo`. Logged only when true.
        #[serde(default, skip_serializing_if = "is_false")]
        demo: bool,
        /// Who started it (absent in logs written before it was recorded, and when no one is
        /// named: the demo, tests).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Actor>,
    },
    /// A tournament's match starts: called to this table by the engine (`crate::tournament`).
    TournamentMatch {
        /// Edge-local id.
        match_id: String,
        /// The match (the tournament's game and race, the bracket match's players).
        spec: MatchSpec,
        /// Registered players' ids per seat, if any.
        #[serde(default, skip_serializing_if = "no_ids")]
        player_ids: [Option<String>; 2],
        /// The tournament and its bracket match.
        tournament: shared::sync::TournamentMatch,
    },
    /// The quiet period closed the shot in progress.
    QuietClose,
    /// A device's presence changed (status topic, or silence past the timeout).
    Presence {
        /// Device id.
        device: String,
        /// Online or not.
        online: bool,
    },
    /// Events of a device that were missed and could not be replayed (counted per match).
    Missing {
        /// Device id.
        device: String,
        /// How many.
        events: u64,
    },
    /// Staff started a table-time session (at the input's receive time).
    SessionStart {
        /// Who started it (absent in logs written before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Actor>,
    },
    /// Staff stopped the running session (at the input's receive time).
    SessionStop {
        /// Who stopped it (absent in logs written before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Actor>,
    },
    /// The camera bracketing the shot in progress sent no `shot_end` within the camera timeout:
    /// the shot is handed to the pocket sensors (see `table::fallback`).
    CameraLost {
        /// The camera.
        device: String,
    },
    /// The engine's timer on the shot clock: a warning, the time running out, or a restart.
    ShotClock {
        /// What the time changed.
        event: super::ClockTick,
    },
    /// Staff changed the table's registry entry (`crate::registry`): its name, position, retired.
    Registry {
        /// Display name.
        name: String,
        /// Position in the venue's order.
        position: u32,
        /// Retired.
        retired: bool,
        /// Who changed it (absent in logs written before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Actor>,
    },
}

impl TableInput {
    /// The device and its seq, for a device event (the event log's `device` and `device_seq`).
    pub fn device_seq(&self) -> Option<(String, u64)> {
        match self {
            TableInput::Device { device, seq, .. } => Some((device.clone(), *seq)),
            _ => None,
        }
    }
}

fn is_false(flag: &bool) -> bool {
    !flag
}

fn no_ids(ids: &[Option<String>; 2]) -> bool {
    ids.iter().all(Option::is_none)
}
