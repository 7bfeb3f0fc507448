//! The match graph every format is drawn into: matches with two slots, each filled by a seed or by
//! the winner or loser of an earlier match, and the propagation of a finished match to the matches
//! it feeds. Byes, forfeits, withdrawals and double forfeits all resolve here, so the formats only
//! differ in how they draw the graph (`elimination`, `round_robin`, `swiss`, `groups`).
//!
//! Applying a result touches the match and the few it feeds: O(1) per result, whatever the field.

use std::collections::HashMap;

use super::Stage;

/// The level of a player who is still in the event: above every eliminated player.
pub(crate) const ALIVE: u32 = u32::MAX - 1;
/// The level of the winner of the event.
pub(crate) const CHAMPION: u32 = u32::MAX;

/// One of a match's two places.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Not known yet: the match feeding it is not finished.
    Pending,
    /// This player.
    Player(usize),
    /// Nobody: a bye, or the place of a match where nobody advanced.
    Empty,
}

impl Slot {
    pub(crate) fn player(self) -> Option<usize> {
        match self {
            Slot::Player(p) => Some(p),
            _ => None,
        }
    }
}

/// What a finished match hands on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Feed {
    Winner,
    Loser,
}

/// A finished match feeds `slot` of match `target`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub target: usize,
    pub slot: usize,
    pub feed: Feed,
}

/// A player who lost a match, and what that means for their place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Loss {
    pub player: usize,
    /// The placing level this loss gives (higher is better), `None` when it gives none yet (a
    /// winners'-bracket loss in double elimination).
    pub level: Option<u32>,
    /// The player is out of the event with this loss.
    pub out: bool,
}

/// How a match ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub winner: Option<usize>,
    pub losses: Vec<Loss>,
    /// Racks in slot order; `None` for byes and forfeits (racks of forfeits never count).
    pub score: Option<[u32; 2]>,
    pub bye: bool,
    pub forfeited: Vec<usize>,
    /// The placing level the winner reaches (the champion's, a third-place winner's).
    pub winner_level: Option<u32>,
}

/// One match of the graph.
#[derive(Clone, Debug)]
pub(crate) struct Match {
    pub id: String,
    pub stage: Stage,
    pub round: u32,
    pub group: Option<usize>,
    pub slots: [Slot; 2],
    pub feeds: Vec<Link>,
    /// Level given to a loser who goes on to another match (3P); `None` when it gives none.
    pub loser_level: Option<u32>,
    /// Level given to a loser who is out here.
    pub out_level: u32,
    /// Level reached by the winner.
    pub winner_level: Option<u32>,
    pub outcome: Option<Outcome>,
    /// Players who declared a forfeit before the match was ready.
    pub pre_forfeit: Vec<usize>,
    /// Not shown and not counted (a grand-final reset that is not needed).
    pub hidden: bool,
    pub draws: bool,
    /// Swiss round or group stage the match belongs to, for "the stage is over" counting.
    pub phase: bool,
}

impl Match {
    pub(crate) fn new(id: String, stage: Stage, round: u32, slots: [Slot; 2]) -> Match {
        Match {
            id,
            stage,
            round,
            group: None,
            slots,
            feeds: Vec::new(),
            loser_level: None,
            out_level: 0,
            winner_level: None,
            outcome: None,
            pre_forfeit: Vec::new(),
            hidden: false,
            draws: false,
            phase: false,
        }
    }

    /// Both players are known and it is not finished.
    pub(crate) fn ready(&self) -> bool {
        self.outcome.is_none()
            && !self.hidden
            && self.slots[0].player().is_some()
            && self.slots[1].player().is_some()
    }

    pub(crate) fn has_loser_feed(&self) -> bool {
        self.feeds.iter().any(|l| l.feed == Feed::Loser)
    }

    /// The position of `player` in the match.
    pub(crate) fn side(&self, player: usize) -> Option<usize> {
        self.slots.iter().position(|s| *s == Slot::Player(player))
    }
}

/// All matches of a bracket, the players and who has withdrawn.
#[derive(Clone, Debug, Default)]
pub(crate) struct Graph {
    pub matches: Vec<Match>,
    pub ids: HashMap<String, usize>,
    pub withdrawn: Vec<bool>,
    /// The grand final and its reset, when the reset is played.
    pub reset: Option<(usize, usize)>,
    /// Matches of the current phase (Swiss round, group stage) still to finish.
    pub phase_open: usize,
}

impl Graph {
    pub(crate) fn new(players: usize) -> Graph {
        Graph {
            withdrawn: vec![false; players],
            ..Graph::default()
        }
    }

    /// Adds a match and returns its index.
    pub(crate) fn push(&mut self, m: Match) -> usize {
        let index = self.matches.len();
        self.ids.insert(m.id.clone(), index);
        self.matches.push(m);
        index
    }

    /// `from`'s winner or loser goes to `slot` of `target`.
    pub(crate) fn link(&mut self, from: usize, feed: Feed, target: usize, slot: usize) {
        self.matches[from].feeds.push(Link { target, slot, feed });
    }

    /// The outcome a match reaches by itself once its slots are known: a bye, a forfeit of a
    /// withdrawn player or of one who declared it in advance. `None` while it waits or is ready.
    pub(crate) fn automatic(&self, index: usize) -> Option<Outcome> {
        let m = &self.matches[index];
        if m.outcome.is_some() || m.hidden || m.slots.contains(&Slot::Pending) {
            return None;
        }
        let forfeits = |p: usize| self.withdrawn[p] || m.pre_forfeit.contains(&p);
        match (m.slots[0].player(), m.slots[1].player()) {
            (Some(a), Some(b)) => match (forfeits(a), forfeits(b)) {
                (false, false) => None,
                (true, true) => Some(self.outcome(index, None, None, vec![a, b], false)),
                (true, false) => Some(self.outcome(index, Some(b), None, vec![a], false)),
                (false, true) => Some(self.outcome(index, Some(a), None, vec![b], false)),
            },
            (Some(p), None) | (None, Some(p)) => Some(if forfeits(p) {
                self.outcome(index, None, None, vec![p], true)
            } else {
                self.outcome(index, Some(p), None, vec![], true)
            }),
            (None, None) => Some(self.outcome(index, None, None, vec![], true)),
        }
    }

    /// Builds the outcome of a match: the losers are the players who did not win (and were there).
    pub(crate) fn outcome(
        &self,
        index: usize,
        winner: Option<usize>,
        score: Option<[u32; 2]>,
        forfeited: Vec<usize>,
        bye: bool,
    ) -> Outcome {
        let m = &self.matches[index];
        let draw = winner.is_none() && forfeited.is_empty() && !bye;
        let losers: Vec<usize> = if draw {
            Vec::new()
        } else {
            m.slots
                .iter()
                .filter_map(|s| s.player())
                .filter(|&p| Some(p) != winner)
                .collect()
        };
        let fed = m.has_loser_feed() && losers.len() == 1;
        let losses = losers
            .into_iter()
            .map(|player| {
                if fed {
                    Loss {
                        player,
                        level: m.loser_level,
                        out: false,
                    }
                } else {
                    Loss {
                        player,
                        level: Some(m.loser_level.unwrap_or(m.out_level)),
                        out: m.stage != Stage::RoundRobin
                            && m.stage != Stage::Group
                            && m.stage != Stage::Swiss,
                    }
                }
            })
            .collect();
        Outcome {
            winner_level: winner.and(m.winner_level),
            winner,
            losses,
            score,
            bye,
            forfeited,
        }
    }

    /// Finishes a match and everything that follows from it by itself (byes, forfeits of
    /// withdrawn players). Returns whether the current phase (Swiss round, group stage) ended, so
    /// the format can draw what comes next.
    pub(crate) fn finish(&mut self, index: usize, outcome: Outcome) -> bool {
        let mut phase_done = false;
        let mut work = vec![(index, outcome)];
        while let Some((index, outcome)) = work.pop() {
            let winner = outcome.winner.map_or(Slot::Empty, Slot::Player);
            let loser = match outcome.losses.as_slice() {
                [one] => Slot::Player(one.player),
                _ => Slot::Empty,
            };
            let bye = outcome.bye;
            self.matches[index].outcome = Some(outcome);
            if self.matches[index].phase {
                self.phase_open = self.phase_open.saturating_sub(1);
                phase_done |= self.phase_open == 0;
            }
            if let Some((gf1, gf2)) = self.reset
                && gf1 == index
            {
                self.open_reset(gf1, gf2, bye);
                if let Some(next) = self.automatic(gf2) {
                    work.push((gf2, next));
                }
            }
            let feeds = self.matches[index].feeds.clone();
            for link in feeds {
                self.matches[link.target].slots[link.slot] = match link.feed {
                    Feed::Winner => winner,
                    Feed::Loser => loser,
                };
                if let Some(next) = self.automatic(link.target) {
                    work.push((link.target, next));
                }
            }
        }
        phase_done
    }

    /// After the grand final: the reset is played when the losers'-bracket player (slot 1) won a
    /// real match; then the winners'-bracket player's loss is not final.
    fn open_reset(&mut self, gf1: usize, gf2: usize, bye: bool) {
        let slots = self.matches[gf1].slots;
        let Some(outcome) = self.matches[gf1].outcome.as_mut() else {
            return;
        };
        if bye || outcome.winner.is_none() || outcome.winner != slots[1].player() {
            return;
        }
        outcome.winner_level = None;
        for loss in &mut outcome.losses {
            loss.level = None;
            loss.out = false;
        }
        let m = &mut self.matches[gf2];
        m.hidden = false;
        m.slots = slots;
    }

    /// Marks a player withdrawn and forfeits their matches that can be decided now. Returns
    /// whether a phase ended.
    pub(crate) fn withdraw(&mut self, player: usize) -> bool {
        self.withdrawn[player] = true;
        let mut phase_done = false;
        for index in 0..self.matches.len() {
            let m = &self.matches[index];
            if m.outcome.is_none()
                && m.side(player).is_some()
                && let Some(outcome) = self.automatic(index)
            {
                phase_done |= self.finish(index, outcome);
            }
        }
        phase_done
    }
}
