//! Tournaments at the venue: the pure part, no I/O, like `table/`. A [`Tournament`] is a fold of
//! its logged [`TournamentInput`]s: a draft (entrants, check-in, seeds by hand), then the
//! [`Bracket`] drawn at the start, the matches called to tables, the tables kept for chosen
//! matches, and when each player's last match ended (who waited longest is called first). The
//! engine owns every tournament beside the tables, so a table's finished match enters the bracket
//! in the same transaction (docs/tournaments.md, "At the venue").
//!
//! - `input`: what a tournament takes, as its event log keeps it;
//! - `calling`: which ready match goes to which free table;
//! - `view`: what the API, the pages and the WebSocket show.

mod calling;
mod input;
#[cfg(test)]
mod tests;
mod view;

use std::collections::BTreeMap;

use shared::bracket::{Bracket, BracketError, Entry, Format, MatchView, Options, Setup, Status};
use shared::rules::Game;
use shared::sync::{Entrant, Record, TournamentCalled, TournamentEntered, TournamentStarted};

pub use calling::Planned;
pub use input::TournamentInput;
pub use view::{CallView, QueuedMatch, TournamentStatus, TournamentSummary, TournamentView};

/// The race of a match whose tournament sets none (`options.race.to` absent).
pub const DEFAULT_RACE: u32 = 5;
/// Most entrants one tournament takes.
pub const MAX_ENTRANTS: usize = 256;
/// Longest name (a tournament's, a player's), in characters.
pub const MAX_NAME: usize = 64;
/// Most tables one tournament names.
pub const MAX_TABLES: usize = 256;
/// Most matches one table can be kept for.
pub const MAX_RESERVED: usize = 64;

/// Why a tournament input was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum TournamentError {
    /// No such tournament.
    #[error("no tournament {0:?}")]
    Unknown(String),
    /// No such entrant.
    #[error("no entrant {0:?} in this tournament")]
    NoEntrant(String),
    /// The tournament's state does not allow it (started, not started, …).
    #[error("{0}")]
    Conflict(String),
    /// The input itself is wrong (a bad name, seeds that are not the checked-in players, …).
    #[error("{0}")]
    Invalid(String),
    /// The bracket refused the entry.
    #[error(transparent)]
    Bracket(#[from] BracketError),
}

/// A match called to a table and not yet decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The bracket match.
    pub bracket_match: String,
    /// The table.
    pub table: String,
    /// The table match playing it.
    pub table_match: String,
    /// The players, in the match's order (seat 0, seat 1).
    pub players: [String; 2],
    /// When it was called (venue clock, Unix ms).
    pub called_ms: u64,
}

/// What an input did beyond the tournament itself, for the engine.
#[derive(Debug, Default)]
pub struct Effects {
    /// Records for the outbox, in order.
    pub records: Vec<Record>,
    /// Calls ended by the input whose table match may still be in play (staff decided or reset
    /// the match): the engine voids those table matches.
    pub released: Vec<Call>,
}

/// One tournament.
#[derive(Clone, Debug)]
pub struct Tournament {
    id: String,
    name: String,
    game: Game,
    format: Format,
    options: Options,
    imported: bool,
    /// The tables it plays on (empty: every table).
    tables: Vec<String>,
    entrants: Vec<Entrant>,
    seeds: Option<Vec<String>>,
    created_ms: u64,
    started_ms: Option<u64>,
    bracket: Option<Bracket>,
    calls: BTreeMap<String, Call>,
    reserved: BTreeMap<String, Vec<String>>,
    /// Per player, when their last match was decided (absent: since the start).
    last_done: BTreeMap<String, u64>,
}

/// A name as shown: trimmed, 1–[`MAX_NAME`] characters, no control characters.
pub fn clean_name(name: &str, what: &str) -> Result<String, TournamentError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(TournamentError::Invalid(format!(
            "{what} must be 1 to {MAX_NAME} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(TournamentError::Invalid(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(name.to_owned())
}

fn same(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

impl Tournament {
    /// A tournament from its first input (`Create`).
    ///
    /// # Errors
    ///
    /// The input is not a valid `Create`.
    pub fn create(
        id: &str,
        input: &TournamentInput,
        at_ms: u64,
    ) -> Result<Tournament, TournamentError> {
        let TournamentInput::Create {
            name,
            game,
            format,
            options,
            entrants,
            imported,
            tables,
            ..
        } = input
        else {
            return Err(TournamentError::Unknown(id.to_owned()));
        };
        if tables.len() > MAX_TABLES || tables.iter().any(|t| !shared::protocol::valid_id(t)) {
            return Err(TournamentError::Invalid(format!(
                "tables: at most {MAX_TABLES} table ids (1-32 letters, digits, '-' or '_')"
            )));
        }
        let mut tournament = Tournament {
            id: id.to_owned(),
            name: clean_name(name, "the tournament's name")?,
            game: *game,
            format: *format,
            options: options.clone(),
            imported: *imported,
            tables: tables.clone(),
            entrants: Vec::new(),
            seeds: None,
            created_ms: at_ms,
            started_ms: None,
            bracket: None,
            calls: BTreeMap::new(),
            reserved: BTreeMap::new(),
            last_done: BTreeMap::new(),
        };
        for entrant in entrants {
            tournament.add(&entrant.name, entrant.player_id.clone())?;
            if entrant.checked_in
                && let Some(last) = tournament.entrants.last_mut()
            {
                last.checked_in = true;
            }
        }
        Ok(tournament)
    }

    /// The id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The game every match plays.
    pub fn game(&self) -> Game {
        self.game
    }

    /// Started and not complete: its matches are called.
    pub fn running(&self) -> bool {
        self.bracket.as_ref().is_some_and(|b| !b.view().complete)
    }

    /// The draft's entrants, in entry order.
    pub fn entrants(&self) -> &[Entrant] {
        &self.entrants
    }

    /// The open calls, by bracket match.
    pub fn calls(&self) -> impl Iterator<Item = &Call> {
        self.calls.values()
    }

    /// The call a table match plays, if any.
    pub fn call_of(&self, table_match: &str) -> Option<&Call> {
        self.calls.values().find(|c| c.table_match == table_match)
    }

    /// The open call of a bracket match.
    pub fn call(&self, bracket_match: &str) -> Option<&Call> {
        self.calls.get(bracket_match)
    }

    /// The bracket, once started.
    pub fn bracket(&self) -> Option<&Bracket> {
        self.bracket.as_ref()
    }

    /// Applies one input at `at_ms`.
    ///
    /// # Errors
    ///
    /// The input does not fit the tournament's state; nothing changed.
    pub fn apply(
        &mut self,
        input: &TournamentInput,
        at_ms: u64,
    ) -> Result<Effects, TournamentError> {
        let mut effects = Effects::default();
        match input {
            TournamentInput::Create { .. } => {
                return Err(TournamentError::Conflict(format!(
                    "tournament {:?} exists already",
                    self.id
                )));
            }
            TournamentInput::AddEntrant { name, player_id } => {
                self.draft("entries")?;
                self.add(name, player_id.clone())?;
            }
            TournamentInput::RemoveEntrant { name } => {
                self.draft("entries")?;
                let index = self.entrant(name)?;
                let removed = self.entrants.remove(index);
                self.unseed(&removed.name);
            }
            TournamentInput::CheckIn { name, checked_in } => {
                self.draft("check-in")?;
                let index = self.entrant(name)?;
                self.entrants[index].checked_in = *checked_in;
                if !*checked_in {
                    let name = self.entrants[index].name.clone();
                    self.unseed(&name);
                }
            }
            TournamentInput::Seed { players } => {
                self.draft("seeding")?;
                self.seeds = Some(self.checked_seeds(players)?);
            }
            TournamentInput::Start { by } => {
                self.draft("the start")?;
                let players = self.seed_order();
                let setup = Setup {
                    format: self.format,
                    players: players.clone(),
                    options: self.options.clone(),
                };
                let bracket = Bracket::new(setup.clone())?;
                let player_ids = players
                    .iter()
                    .map(|p| {
                        self.entrants
                            .iter()
                            .find(|e| &e.name == p)
                            .and_then(|e| e.player_id.clone())
                    })
                    .collect();
                self.bracket = Some(bracket);
                self.started_ms = Some(at_ms);
                effects
                    .records
                    .push(Record::TournamentStarted(TournamentStarted {
                        tournament_id: self.id.clone(),
                        name: self.name.clone(),
                        setup,
                        player_ids,
                        started_ms: at_ms,
                        by: by.as_ref().map(crate::table::author),
                    }));
            }
            TournamentInput::Entry {
                entry,
                table_match,
                by,
            } => {
                let bracket = self.started_mut()?;
                let decided = decided_players(bracket, entry);
                bracket.apply(entry)?;
                let ordinal = u32::try_from(bracket.entries().len()).unwrap_or(u32::MAX);
                for player in decided {
                    self.last_done.insert(player, at_ms);
                }
                effects
                    .records
                    .push(Record::TournamentEntered(TournamentEntered {
                        tournament_id: self.id.clone(),
                        ordinal,
                        entry: entry.clone(),
                        table_match: table_match.clone(),
                        at_ms,
                        by: by.as_ref().map(crate::table::author),
                    }));
                effects.released = self.end_stale_calls(table_match.as_deref());
            }
            TournamentInput::Call {
                bracket_match,
                table,
                table_match,
            } => {
                let record = self.call_to(bracket_match, table, table_match, at_ms)?;
                effects.records.push(record);
            }
            TournamentInput::Release { bracket_match } => {
                if self.calls.remove(bracket_match).is_none() {
                    return Err(TournamentError::Conflict(format!(
                        "match {bracket_match} is not called"
                    )));
                }
            }
            TournamentInput::Reserve { table, matches } => {
                if !shared::protocol::valid_id(table) {
                    return Err(TournamentError::Invalid(format!(
                        "invalid table id {table:?}"
                    )));
                }
                if matches.len() > MAX_RESERVED {
                    return Err(TournamentError::Invalid(format!(
                        "a table is kept for at most {MAX_RESERVED} matches"
                    )));
                }
                if matches.is_empty() {
                    self.reserved.remove(table);
                } else {
                    // A match is kept for one table: the last reservation wins.
                    for kept in self.reserved.values_mut() {
                        kept.retain(|m| !matches.contains(m));
                    }
                    self.reserved.retain(|_, kept| !kept.is_empty());
                    self.reserved.insert(table.clone(), matches.clone());
                }
            }
        }
        Ok(effects)
    }

    fn draft(&self, what: &str) -> Result<(), TournamentError> {
        if self.bracket.is_some() {
            return Err(TournamentError::Conflict(format!(
                "the tournament has started: {what} closed"
            )));
        }
        Ok(())
    }

    fn started_mut(&mut self) -> Result<&mut Bracket, TournamentError> {
        self.bracket
            .as_mut()
            .ok_or_else(|| TournamentError::Conflict("the tournament has not started".into()))
    }

    fn add(&mut self, name: &str, player_id: Option<String>) -> Result<(), TournamentError> {
        let name = clean_name(name, "a player's name")?;
        if self.entrants.iter().any(|e| same(&e.name, &name)) {
            return Err(TournamentError::Conflict(format!(
                "{name:?} is entered already"
            )));
        }
        if self.entrants.len() >= MAX_ENTRANTS {
            return Err(TournamentError::Conflict(format!(
                "a tournament takes at most {MAX_ENTRANTS} entrants"
            )));
        }
        self.entrants.push(Entrant {
            name,
            player_id,
            checked_in: false,
        });
        Ok(())
    }

    fn entrant(&self, name: &str) -> Result<usize, TournamentError> {
        self.entrants
            .iter()
            .position(|e| same(&e.name, name))
            .ok_or_else(|| TournamentError::NoEntrant(name.to_owned()))
    }

    fn unseed(&mut self, name: &str) {
        if let Some(seeds) = &mut self.seeds {
            seeds.retain(|s| s != name);
        }
    }

    /// The checked-in players, in entry order.
    fn checked_in(&self) -> Vec<String> {
        self.entrants
            .iter()
            .filter(|e| e.checked_in)
            .map(|e| e.name.clone())
            .collect()
    }

    fn checked_seeds(&self, players: &[String]) -> Result<Vec<String>, TournamentError> {
        let checked = self.checked_in();
        let mut seeds = Vec::with_capacity(players.len());
        for player in players {
            let name = checked.iter().find(|c| same(c, player)).ok_or_else(|| {
                TournamentError::Invalid(format!("{player:?} is not a checked-in player"))
            })?;
            if seeds.contains(name) {
                return Err(TournamentError::Invalid(format!(
                    "{player:?} is seeded twice"
                )));
            }
            seeds.push(name.clone());
        }
        Ok(seeds)
    }

    /// The order the bracket is drawn in: the seeds by hand (checked-in players they leave out
    /// follow in entry order), else entry order.
    pub fn seed_order(&self) -> Vec<String> {
        let checked = self.checked_in();
        let mut order: Vec<String> = self
            .seeds
            .iter()
            .flatten()
            .filter(|s| checked.contains(s))
            .cloned()
            .collect();
        for name in checked {
            if !order.contains(&name) {
                order.push(name);
            }
        }
        order
    }

    /// A match's view, once started.
    fn match_view(&self, id: &str) -> Option<MatchView> {
        self.bracket.as_ref().and_then(|b| b.match_view(id))
    }

    fn call_to(
        &mut self,
        bracket_match: &str,
        table: &str,
        table_match: &str,
        at_ms: u64,
    ) -> Result<Record, TournamentError> {
        if self.bracket.is_none() {
            return Err(TournamentError::Conflict(
                "the tournament has not started".into(),
            ));
        }
        let view = self
            .match_view(bracket_match)
            .ok_or_else(|| BracketError::UnknownMatch(bracket_match.to_owned()))?;
        let players = match (&view.status, &view.players) {
            (Status::Ready, [Some(a), Some(b)]) => [a.clone(), b.clone()],
            _ => {
                return Err(TournamentError::Conflict(format!(
                    "match {bracket_match} is not ready"
                )));
            }
        };
        if self.calls.contains_key(bracket_match) {
            return Err(TournamentError::Conflict(format!(
                "match {bracket_match} is called already"
            )));
        }
        if let Some(other) = self.calls.values().find(|c| c.table == table) {
            return Err(TournamentError::Conflict(format!(
                "table {table} is called for {} already",
                other.bracket_match
            )));
        }
        if let Some(busy) = players
            .iter()
            .find(|p| self.calls.values().any(|c| c.players.contains(p)))
        {
            return Err(TournamentError::Conflict(format!("{busy:?} is playing")));
        }
        self.calls.insert(
            bracket_match.to_owned(),
            Call {
                bracket_match: bracket_match.to_owned(),
                table: table.to_owned(),
                table_match: table_match.to_owned(),
                players: players.clone(),
                called_ms: at_ms,
            },
        );
        Ok(Record::TournamentCalled(TournamentCalled {
            tournament_id: self.id.clone(),
            bracket_match: bracket_match.to_owned(),
            table: table.to_owned(),
            players,
            called_ms: at_ms,
        }))
    }

    /// Ends the calls whose match is no longer ready with the same players (decided, reset); the
    /// one `scored` by its own table match is not released (its table match is over).
    fn end_stale_calls(&mut self, scored: Option<&str>) -> Vec<Call> {
        let stale: Vec<String> = self
            .calls
            .values()
            .filter(|call| {
                self.match_view(&call.bracket_match).is_none_or(|m| {
                    m.status != Status::Ready
                        || m.players
                            != [Some(call.players[0].clone()), Some(call.players[1].clone())]
                })
            })
            .map(|call| call.bracket_match.clone())
            .collect();
        stale
            .into_iter()
            .filter_map(|id| self.calls.remove(&id))
            .filter(|call| Some(call.table_match.as_str()) != scored)
            .collect()
    }

    /// The race of a bracket match: the longer of its players' races (a handicap's shorter race
    /// is not played at the table yet), else [`DEFAULT_RACE`].
    pub fn race_of(view: &MatchView) -> u32 {
        match view.race.iter().max() {
            Some(&race) if race > 0 => race,
            _ => DEFAULT_RACE,
        }
    }
}

/// The players whose match an entry decides (they stop playing now).
fn decided_players(bracket: &Bracket, entry: &Entry) -> Vec<String> {
    let id = match entry {
        Entry::Result(score) | Entry::Correct(score) => &score.match_id,
        Entry::Forfeit(forfeit) => &forfeit.match_id,
        Entry::DoubleForfeit(forfeit) => &forfeit.match_id,
        Entry::Withdraw(_) => return Vec::new(),
    };
    bracket
        .match_view(id)
        .map(|m| m.players.into_iter().flatten().collect())
        .unwrap_or_default()
}
