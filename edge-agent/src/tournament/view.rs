//! What the API, the bracket page, the staff console and the WebSocket show of a tournament:
//! [`TournamentView`] (the bracket, the calls, the queue of what's next) and the list's
//! [`TournamentSummary`].

use std::collections::BTreeMap;

use serde::Serialize;
use shared::bracket::{Format, Options, View};
use shared::rules::Game;
use shared::sync::Entrant;

use super::Tournament;

/// Where a tournament is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TournamentStatus {
    /// Entries and check-in open.
    Draft,
    /// The bracket is drawn and being played.
    Running,
    /// Every match is done.
    Complete,
}

/// A called match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallView {
    /// The bracket match.
    pub bracket_match: String,
    /// The table.
    pub table: String,
    /// The table match playing it.
    pub table_match: String,
    /// The players.
    pub players: [String; 2],
    /// Racks to win.
    pub race_to: u32,
    /// When it was called (Unix ms).
    pub called_ms: u64,
    /// When staff may forfeit a no-show (Unix ms).
    pub forfeit_from_ms: u64,
}

/// A ready match waiting for a table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QueuedMatch {
    /// The bracket match.
    pub bracket_match: String,
    /// The players.
    pub players: [String; 2],
    /// Racks to win.
    pub race_to: u32,
    /// Since when both players are free (Unix ms).
    pub waiting_since_ms: u64,
    /// The table it is kept for, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_table: Option<String>,
}

/// A tournament as screens and staff see it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TournamentView {
    /// Id (the cloud's for an import).
    pub id: String,
    /// Name.
    pub name: String,
    /// The game.
    pub game: Game,
    /// The format.
    pub format: Format,
    /// The bracket's options.
    pub options: Options,
    /// Draft, running, complete.
    pub status: TournamentStatus,
    /// Imported from the cloud.
    pub imported: bool,
    /// The tables it plays on (empty: every table).
    pub tables: Vec<String>,
    /// Entrants, in entry order.
    pub entrants: Vec<Entrant>,
    /// The order the bracket is (or will be) drawn in.
    pub seeds: Vec<String>,
    /// Created (Unix ms).
    pub created_ms: u64,
    /// Started (Unix ms).
    pub started_ms: Option<u64>,
    /// The bracket, once started.
    pub bracket: Option<View>,
    /// Matches called to tables.
    pub calls: Vec<CallView>,
    /// What's next: ready matches waiting for a table, in call order.
    pub queue: Vec<QueuedMatch>,
    /// Tables kept for chosen matches.
    pub reserved: BTreeMap<String, Vec<String>>,
    /// The winner, once complete.
    pub champion: Option<String>,
}

/// One line of the tournament list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TournamentSummary {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// The format.
    pub format: Format,
    /// Draft, running, complete.
    pub status: TournamentStatus,
    /// Entrants.
    pub entrants: usize,
    /// Created (Unix ms).
    pub created_ms: u64,
}

impl Tournament {
    /// Where it is.
    pub fn status(&self) -> TournamentStatus {
        match &self.bracket {
            None => TournamentStatus::Draft,
            Some(b) if b.view().complete => TournamentStatus::Complete,
            Some(_) => TournamentStatus::Running,
        }
    }

    /// Its list line.
    pub fn summary(&self) -> TournamentSummary {
        TournamentSummary {
            id: self.id.clone(),
            name: self.name.clone(),
            format: self.format,
            status: self.status(),
            entrants: self.entrants.len(),
            created_ms: self.created_ms,
        }
    }

    /// The whole view; `call_timeout_ms` says when a no-show may be forfeited.
    pub fn view(&self, call_timeout_ms: u64) -> TournamentView {
        let bracket = self.bracket.as_ref().map(shared::bracket::Bracket::view);
        let race = |id: &str| {
            self.match_view(id)
                .map_or(super::DEFAULT_RACE, |m| Tournament::race_of(&m))
        };
        let calls = self
            .calls
            .values()
            .map(|c| CallView {
                bracket_match: c.bracket_match.clone(),
                table: c.table.clone(),
                table_match: c.table_match.clone(),
                players: c.players.clone(),
                race_to: race(&c.bracket_match),
                called_ms: c.called_ms,
                forfeit_from_ms: c.called_ms.saturating_add(call_timeout_ms),
            })
            .collect();
        let queue = self
            .queue()
            .into_iter()
            .filter_map(|(m, since)| {
                let [Some(a), Some(b)] = &m.players else {
                    return None;
                };
                Some(QueuedMatch {
                    bracket_match: m.id.clone(),
                    players: [a.clone(), b.clone()],
                    race_to: Tournament::race_of(&m),
                    waiting_since_ms: since,
                    reserved_table: self.reserved_table(&m.id).map(str::to_owned),
                })
            })
            .collect();
        let champion = bracket
            .as_ref()
            .filter(|b| b.complete)
            .and_then(|b| b.standings.first())
            .map(|s| s.player.clone());
        TournamentView {
            id: self.id.clone(),
            name: self.name.clone(),
            game: self.game,
            format: self.format,
            options: self.options.clone(),
            status: self.status(),
            imported: self.imported,
            tables: self.tables.clone(),
            entrants: self.entrants.clone(),
            seeds: self.seed_order(),
            created_ms: self.created_ms,
            started_ms: self.started_ms,
            bracket,
            calls,
            queue,
            reserved: self.reserved.clone(),
            champion,
        }
    }
}
