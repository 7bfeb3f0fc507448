//! STUB (to be written): one table's runtime.

use serde::{Deserialize, Serialize};

/// A staff or player action on the current match (`POST .../matches/current/actions`), the same as
/// the table buttons plus `call`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum StaffAction {
    /// Close the shot in progress (no camera): the shot goes to the rules.
    EndTurn,
    /// Referee-called foul on the shooter.
    Foul,
    /// Take back the last input.
    Undo,
    /// Declare the next shot a push-out.
    PushOut,
    /// Hand the table back.
    Pass,
    /// Declare the next shot a safety.
    Safety,
    /// Concede (`player` defaults to the shooter).
    Concede {
        /// Who concedes.
        #[serde(default)]
        player: Option<u8>,
    },
    /// Take the re-rack option.
    Rerack,
    /// Call the next shot.
    Call {
        /// Ball.
        ball: u8,
        /// Pocket.
        #[serde(default)]
        pocket: Option<u8>,
    },
}
