//! Tournament brackets: the pure engine behind the venue's tournaments, the cloud's mirror of them
//! and the `dojo-bracket` command (docs/tournaments.md).
//!
//! Like the rules, a bracket is a fold of its inputs: a [`Setup`] (format, players in seed order,
//! options) and the [`Entry`]s accepted since (results, forfeits, withdrawals, corrections). No
//! clock, no randomness, no I/O, so the venue and the cloud replaying the same entries draw the
//! same bracket, and a correction followed by the original result restores the original state.

mod elimination;
mod engine;
mod graph;
mod race;
mod round_robin;
mod seeding;
pub mod session;
mod standings;
mod swiss;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use self::engine::State;
use self::graph::Slot;

pub use self::standings::default_tiebreaks;

/// A tournament's format: the `format` of the bracket command's first line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Lose once and you are out; optional third-place match.
    SingleElimination,
    /// Winners' and losers' brackets; a grand final, with a reset or single.
    DoubleElimination,
    /// Everyone plays everyone (circle method).
    RoundRobin,
    /// Rounds paired within score groups, without rematches while avoidable.
    Swiss,
    /// Round-robin groups, the top K of each into a single-elimination knockout.
    GroupsKnockout,
}

/// How a double-elimination grand final is played.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrandFinal {
    /// If the losers'-bracket player wins `GF1`, `GF2` is played (both have lost once).
    #[default]
    Reset,
    /// `GF1` decides.
    Single,
}

/// A tie-break, applied in the order given after wins (round robin, Swiss, groups).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tiebreak {
    /// Wins in the matches among the tied players only.
    HeadToHead,
    /// Racks won minus racks lost.
    RackDifference,
    /// Racks won.
    RacksWon,
    /// Sum of the opponents' wins (Swiss).
    Buchholz,
    /// Buchholz without the best and the worst opponent (Swiss).
    MedianBuchholz,
    /// The better seed.
    Seed,
}

/// Race lengths: a default, a longer final, or per round.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Races {
    /// Racks to win in every match without a more specific race (absent: the venue's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u32>,
    /// Racks to win in the match(es) that decide first place (`GF1`/`GF2`, the last knockout
    /// round).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#final: Option<u32>,
    /// Per round, keyed by the match id's prefix before the `-`: `"W3"`, `"L5"`, `"AR2"`, `"S4"`,
    /// `"3P"`, `"GF1"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rounds: BTreeMap<String, u32>,
}

/// Handicapped races from the players' ratings: the lower-rated player's race is shortened.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handicap {
    /// Each player's rating, by name; a player without one is not handicapped.
    pub ratings: BTreeMap<String, i32>,
    /// Rating points per rack of handicap.
    pub points_per_rack: u32,
}

/// The options of the bracket command's first line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Single elimination (and the knockout stage): play a match for third place.
    #[serde(default)]
    pub third_place: bool,
    /// Double elimination: how the grand final is played.
    #[serde(default)]
    pub grand_final: GrandFinal,
    /// Swiss: how many rounds (default ⌈log2 n⌉).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounds: Option<u32>,
    /// Groups-knockout: how many groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<u32>,
    /// Groups-knockout: how many of each group go through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advance: Option<u32>,
    /// Tie-breaks after wins (absent: the format's default order, docs/tournaments.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiebreaks: Option<Vec<Tiebreak>>,
    /// Race lengths.
    #[serde(default)]
    pub race: Races,
    /// Handicapped races.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handicap: Option<Handicap>,
}

/// A bracket's first line: what is played, by whom, how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// The format.
    pub format: Format,
    /// The players' names, in seed order (best first); unique.
    pub players: Vec<String>,
    /// The options.
    #[serde(default)]
    pub options: Options,
}

/// A finished match's result, or its correction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Score {
    /// The match id (`W1-3`, …).
    #[serde(rename = "match")]
    pub match_id: String,
    /// The winner; `null` for a draw (round robin, Swiss and groups only).
    pub winner: Option<String>,
    /// Racks, in the order of the match's `players`.
    pub score: [u32; 2],
}

/// A player forfeits a match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forfeit {
    /// The match id.
    #[serde(rename = "match")]
    pub match_id: String,
    /// The player who forfeits.
    pub player: String,
}

/// Both players of a match forfeit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoubleForfeit {
    /// The match id.
    #[serde(rename = "match")]
    pub match_id: String,
}

/// One input after the setup: every line of the bracket command after the first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// A `ready` match was played.
    Result(Score),
    /// A player forfeits a match (`ready`, or `waiting` with that player known).
    Forfeit(Forfeit),
    /// Neither player of a match plays it.
    DoubleForfeit(DoubleForfeit),
    /// A player leaves: every later match of theirs is forfeited, in every bracket.
    Withdraw(String),
    /// A finished result changes: every later match that depended on it is reset.
    Correct(Score),
}

/// A match's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A player is not known yet.
    Waiting,
    /// Both players are known: it can be played.
    Ready,
    /// Played, forfeited or a bye.
    Done,
}

/// Which part of the event a match belongs to (for screens; the id says the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Single elimination, the winners' bracket, the knockout stage.
    Winners,
    /// The losers' bracket.
    Losers,
    /// `GF1`, `GF2`.
    GrandFinal,
    /// `3P`.
    ThirdPlace,
    /// Round robin.
    RoundRobin,
    /// A group of groups-knockout.
    Group,
    /// Swiss.
    Swiss,
}

/// One match as the bracket command prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchView {
    /// `W{round}-{k}`, `L{round}-{k}`, `GF1`, `GF2`, `3P`, `R{round}-{k}`, `{letter}R{round}-{k}`,
    /// `S{round}-{k}`.
    pub id: String,
    /// The round within its stage, from 1.
    pub round: u32,
    /// The players, `null` while unknown.
    pub players: [Option<String>; 2],
    /// Waiting, ready or done.
    pub status: Status,
    /// The winner once done (`null` for a draw or a double forfeit).
    pub winner: Option<String>,
    /// Racks in the order of `players`, once played.
    pub score: Option<[u32; 2]>,
    /// A match against a bye: done at once, the present player through.
    pub bye: bool,
    /// Which part of the event.
    pub stage: Stage,
    /// The group's letter (groups-knockout group stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Racks each player needs (handicaps make them differ).
    pub race: [u32; 2],
    /// The players who forfeited it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forfeited: Vec<String>,
}

/// One line of the standings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// The player.
    pub player: String,
    /// Their place; tied players share the best place of the tie.
    pub rank: u32,
    /// Matches won (byes and opponents' forfeits count).
    pub wins: u32,
    /// Matches lost (forfeits count).
    pub losses: u32,
    /// Drawn matches.
    #[serde(default)]
    pub draws: u32,
    /// Racks won.
    pub racks_won: u32,
    /// Racks lost.
    pub racks_lost: u32,
    /// Swiss: the sum of the opponents' wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buchholz: Option<u32>,
    /// Swiss: Buchholz without the best and the worst opponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_buchholz: Option<u32>,
    /// Groups-knockout: the player's group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Still in the event (not eliminated, not withdrawn).
    pub alive: bool,
    /// Withdrew.
    #[serde(default)]
    pub withdrawn: bool,
}

/// The bracket after a line: the bracket command's output, and what screens and the cloud show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// Every match known so far, in a stable order (stage, round, k).
    pub matches: Vec<MatchView>,
    /// Every player, best first.
    pub standings: Vec<Standing>,
    /// Every match is done.
    pub complete: bool,
    /// The matches the line reset (a correction's, a withdrawal's).
    pub reset: Vec<String>,
}

/// Why a setup or an entry was refused; the bracket is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BracketError {
    /// The setup cannot make a bracket.
    #[error("bad setup: {0}")]
    Setup(String),
    /// No match has this id.
    #[error("unknown match {0:?}")]
    UnknownMatch(String),
    /// The match cannot take this entry in its state.
    #[error("match {id:?} is {status:?}")]
    NotReady {
        /// The match.
        id: String,
        /// Its state.
        status: Status,
    },
    /// The player is not in the match (or not in the event).
    #[error("{player:?} is not in {context}")]
    NotInMatch {
        /// The player named.
        player: String,
        /// The match or "the event".
        context: String,
    },
    /// Anything else the entry gets wrong (a draw in an elimination format, a score that
    /// disagrees with the winner, …).
    #[error("{0}")]
    Invalid(String),
}

/// A bracket: the setup, the accepted entries and the state they fold to.
#[derive(Clone, Debug)]
pub struct Bracket {
    setup: Setup,
    entries: Vec<Entry>,
    /// The entries the state is the fold of (corrections in place of what they corrected,
    /// dropped entries left out), each with its match's players when it was applied.
    effective: Vec<(Entry, Option<[Slot; 2]>)>,
    state: State,
}

impl Entry {
    /// The match the entry is about (none for a withdrawal).
    pub fn match_id(&self) -> Option<&str> {
        match self {
            Entry::Result(s) | Entry::Correct(s) => Some(&s.match_id),
            Entry::Forfeit(f) => Some(&f.match_id),
            Entry::DoubleForfeit(d) => Some(&d.match_id),
            Entry::Withdraw(_) => None,
        }
    }
}

impl Bracket {
    /// Draws the bracket for a setup: first-round pairings, byes done at once.
    ///
    /// # Errors
    ///
    /// [`BracketError::Setup`] when the setup cannot make a bracket (fewer than two players, a
    /// name twice, groups that do not fit, …).
    pub fn new(setup: Setup) -> Result<Bracket, BracketError> {
        let state = State::new(setup.clone())?;
        Ok(Bracket {
            setup,
            entries: Vec::new(),
            effective: Vec::new(),
            state,
        })
    }

    /// Replays a setup and its entries (as [`Bracket::entries`] gave them).
    ///
    /// # Errors
    ///
    /// The setup or an entry is refused.
    pub fn replay(setup: Setup, entries: &[Entry]) -> Result<Bracket, BracketError> {
        let mut bracket = Bracket::new(setup)?;
        for entry in entries {
            bracket.apply(entry)?;
        }
        Ok(bracket)
    }

    /// Applies one entry and returns the ids of the matches it reset.
    ///
    /// # Errors
    ///
    /// The entry is impossible; nothing changed.
    pub fn apply(&mut self, entry: &Entry) -> Result<Vec<String>, BracketError> {
        let reset = match entry {
            Entry::Correct(score) => self.correct(score)?,
            _ => {
                let slots = entry.match_id().and_then(|id| self.state.slots(id));
                apply_to(&mut self.state, entry)?;
                self.effective.push((entry.clone(), slots));
                Vec::new()
            }
        };
        self.entries.push(entry.clone());
        Ok(reset)
    }

    /// A correction: re-fold the effective entries with the correction in place of the entry
    /// that decided the match, dropping every later entry whose match no longer has the same
    /// players or no longer takes it. Returns the matches that changed.
    fn correct(&mut self, score: &Score) -> Result<Vec<String>, BracketError> {
        let m = self.state.lookup(&score.match_id)?;
        let status = self.state.status(m);
        let bye = self.state.graph.matches[m]
            .outcome
            .as_ref()
            .is_some_and(|o| o.bye);
        if status != Status::Done {
            return Err(BracketError::NotReady {
                id: score.match_id.clone(),
                status,
            });
        }
        if bye {
            return Err(BracketError::Invalid(format!(
                "{} is a bye: there is no result to correct",
                score.match_id
            )));
        }
        self.state.scored(m, score)?;
        let at = self
            .effective
            .iter()
            .rposition(|(e, _)| e.match_id() == Some(score.match_id.as_str()))
            .ok_or_else(|| {
                BracketError::Invalid(format!(
                    "{} was decided by a withdrawal, not by a result: nothing to correct",
                    score.match_id
                ))
            })?;
        let mut state = State::new(self.setup.clone())?;
        let mut kept = Vec::with_capacity(self.effective.len());
        for (i, (entry, slots)) in self.effective.iter().enumerate() {
            let entry = if i == at {
                Entry::Result(score.clone())
            } else {
                entry.clone()
            };
            let now = entry.match_id().and_then(|id| state.slots(id));
            if now != *slots {
                continue;
            }
            let applied = apply_to(&mut state, &entry);
            if i == at {
                applied.clone()?;
            }
            if applied.is_ok() {
                kept.push((entry, now));
            }
        }
        let before: BTreeMap<String, MatchView> = self
            .state
            .match_views()
            .into_iter()
            .map(|v| (v.id.clone(), v))
            .collect();
        let after = state.match_views();
        let mut reset: Vec<String> = after
            .iter()
            .filter(|v| v.id != score.match_id && before.get(&v.id) != Some(v))
            .map(|v| v.id.clone())
            .collect();
        let shown: std::collections::BTreeSet<&str> = after.iter().map(|v| v.id.as_str()).collect();
        reset.extend(
            self.state
                .match_views()
                .into_iter()
                .filter(|b| !shown.contains(b.id.as_str()))
                .map(|b| b.id),
        );
        self.state = state;
        self.effective = kept;
        Ok(reset)
    }

    /// The state now (`reset` empty).
    pub fn view(&self) -> View {
        View {
            matches: self.state.match_views(),
            standings: standings::standings(&self.state),
            complete: self.state.complete(),
            reset: Vec::new(),
        }
    }

    /// One match now.
    pub fn match_view(&self, id: &str) -> Option<MatchView> {
        self.state.lookup(id).ok().map(|m| self.state.match_view(m))
    }

    /// The setup it was drawn from.
    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    /// The entries accepted so far, in order: with the setup, all it takes to replay it.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

/// Applies a result, forfeit or withdrawal (a correction is the bracket's re-fold).
fn apply_to(state: &mut State, entry: &Entry) -> Result<(), BracketError> {
    match entry {
        Entry::Result(score) => state.result(score),
        Entry::Forfeit(forfeit) => state.forfeit(forfeit),
        Entry::DoubleForfeit(double) => state.double_forfeit(double),
        Entry::Withdraw(name) => state.withdraw(name),
        Entry::Correct(_) => Err(BracketError::Invalid(
            "a correction cannot be replayed here".into(),
        )),
    }
}
