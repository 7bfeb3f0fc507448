//! Per-player statistics of a match, kept as the shots are applied so they are a fold of the inputs too.

use serde::{Deserialize, Serialize};

/// What one player did in a match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlayerStats {
    /// Racks won.
    pub racks_won: u32,
    /// Object balls made on legal shots (14.1: balls scored).
    pub balls_pocketed: u32,
    /// Fouls committed, breaking fouls included.
    pub fouls: u32,
    /// Racks won from the break without the opponent coming to the table.
    pub break_and_runs: u32,
    /// Break shots that made an object ball without a foul.
    pub breaks_with_ball: u32,
    /// Called safeties.
    pub safeties: u32,
    /// Visits to the table, the break included.
    pub innings: u32,
    /// Most balls made in one inning (14.1: most points, the classic high run).
    pub high_run: u32,
}
