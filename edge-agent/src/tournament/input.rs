//! What a tournament takes, exactly as its event log (`tournament_events`, schema v7) keeps it:
//! [`TournamentInput`]. Like the tables' log, its JSON is a contract with every database already
//! written: a replay after an upgrade must read it back into the same inputs.

use serde::{Deserialize, Serialize};
use shared::bracket::{Entry, Format, Options};
use shared::rules::Game;
use shared::sync::Entrant;

use crate::table::Actor;

/// One input of a tournament, exactly as logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum TournamentInput {
    /// A draft is made: by staff at the venue, or imported from the cloud's planned list.
    Create {
        /// Its name.
        name: String,
        /// The game every match plays.
        game: Game,
        /// The format.
        format: Format,
        /// The bracket's options.
        #[serde(default)]
        options: Options,
        /// Entrants known at creation (an import's registrations), in entry order.
        #[serde(default)]
        entrants: Vec<Entrant>,
        /// The tables it plays on, in the order they are used (empty: every table of the venue).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tables: Vec<String>,
        /// Imported from the cloud (its id is the cloud's).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        imported: bool,
        /// Who made it (absent for an import).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Actor>,
    },
    /// A player enters (a late entry, until the start).
    AddEntrant {
        /// The name the bracket shows.
        name: String,
        /// The registered player's id, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        player_id: Option<String>,
    },
    /// A player leaves before the start.
    RemoveEntrant {
        /// The entrant.
        name: String,
    },
    /// A player is checked in (or the check-in is taken back).
    CheckIn {
        /// The entrant.
        name: String,
        /// Checked in.
        checked_in: bool,
    },
    /// Staff set the seeds by hand: the checked-in players, best first.
    Seed {
        /// Every checked-in player once.
        players: Vec<String>,
    },
    /// The bracket is drawn; from now on matches are called.
    Start {
        /// Who started it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Actor>,
    },
    /// The bracket takes an entry: a table's result, or staff's forfeit, withdrawal, result or
    /// correction.
    Entry {
        /// The entry.
        entry: Entry,
        /// The table match whose result it is, when a table scored it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        table_match: Option<String>,
        /// Who entered it (absent when a table scored it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Actor>,
    },
    /// A ready match is called to a table, whose match `table_match` started with it.
    Call {
        /// The bracket match.
        bracket_match: String,
        /// The table.
        table: String,
        /// The table match playing it.
        table_match: String,
    },
    /// A call ends without a result (its table match was voided): the match is ready again.
    Release {
        /// The bracket match.
        bracket_match: String,
    },
    /// A table is kept for chosen matches (a stream or TV table); an empty list frees it.
    Reserve {
        /// The table.
        table: String,
        /// The bracket matches only it may take.
        matches: Vec<String>,
    },
}
