//! The state of a bracket: the setup drawn into a match graph, and the entries applied to it.
//! Formats differ in how they draw (`elimination`, `round_robin`, `groups`) and in their phases:
//! a Swiss round is paired when the one before is complete, the knockout of groups-knockout is
//! drawn when the groups are.

use std::collections::{BTreeMap, HashSet};

use super::graph::{Graph, Slot};
use super::{
    BracketError, DoubleForfeit, Forfeit, Format, MatchView, Score, Setup, Stage, Status,
    elimination, race, round_robin, seeding, standings, swiss,
};

/// A drawn bracket and its results.
#[derive(Clone, Debug)]
pub(crate) struct State {
    pub setup: Setup,
    pub graph: Graph,
    pub index: BTreeMap<String, usize>,
    /// Swiss: rounds paired so far, and how many to play.
    pub swiss_round: u32,
    pub swiss_rounds: u32,
    /// Groups-knockout: each group's players (seed order) and how many go through.
    pub groups: Vec<Vec<usize>>,
    pub advance: usize,
    pub knockout_drawn: bool,
}

impl State {
    /// Validates the setup and draws the first round (byes done at once).
    pub(crate) fn new(setup: Setup) -> Result<State, BracketError> {
        let n = setup.players.len();
        let bad = |why: String| Err(BracketError::Setup(why));
        if n < 2 {
            return bad("a bracket needs at least two players".into());
        }
        // Bounded: a round robin has n(n − 1)/2 matches, an elimination bracket about 2n.
        if n > 4096 {
            return bad("at most 4096 players".into());
        }
        if setup.format == Format::RoundRobin && n > 256 {
            return bad("a round robin takes at most 256 players".into());
        }
        let mut index = BTreeMap::new();
        for (i, name) in setup.players.iter().enumerate() {
            if name.trim().is_empty() {
                return bad(format!("player {} has no name", i + 1));
            }
            if index.insert(name.clone(), i).is_some() {
                return bad(format!("{name:?} is entered twice"));
            }
        }
        let options = &setup.options;
        let mut state = State {
            graph: Graph::new(n),
            index,
            swiss_round: 0,
            swiss_rounds: 0,
            groups: Vec::new(),
            advance: 0,
            knockout_drawn: false,
            setup: setup.clone(),
        };
        let seeds: Vec<usize> = (0..n).collect();
        match setup.format {
            Format::SingleElimination => {
                let first = elimination::single(&mut state.graph, &seeds, options.third_place);
                state.settle(&first);
            }
            Format::DoubleElimination => {
                let reset = options.grand_final == super::GrandFinal::Reset;
                let first = elimination::double(&mut state.graph, &seeds, reset);
                state.settle(&first);
            }
            Format::RoundRobin => {
                let made = round_robin::draw(&mut state.graph, &seeds, "", Stage::RoundRobin, None);
                state.settle(&made);
            }
            Format::Swiss => {
                let default = usize::BITS - (n - 1).leading_zeros();
                let rounds = options.rounds.unwrap_or(default);
                if rounds == 0 || rounds > 64 {
                    return bad("a Swiss event plays 1 to 64 rounds".into());
                }
                state.swiss_rounds = rounds;
                state.next_phase();
            }
            Format::GroupsKnockout => {
                let groups = options.groups.map_or((n / 4).max(1), |g| g as usize);
                let advance = options.advance.unwrap_or(2) as usize;
                if groups == 0 || groups > 26 {
                    return bad("groups-knockout needs 1 to 26 groups".into());
                }
                if n > 256 * groups {
                    return bad(format!(
                        "{groups} groups take at most {} players",
                        256 * groups
                    ));
                }
                if n < 2 * groups {
                    return bad(format!("{n} players cannot fill {groups} groups of two"));
                }
                if advance == 0 || advance > n / groups || groups * advance < 2 {
                    return bad(format!(
                        "{advance} of each of {groups} groups cannot make a knockout"
                    ));
                }
                state.advance = advance;
                state.groups = seeding::snake_groups(n, groups);
                let mut made = Vec::new();
                for (g, players) in state.groups.clone().iter().enumerate() {
                    let letter = group_letter(g);
                    made.extend(round_robin::draw(
                        &mut state.graph,
                        players,
                        &letter,
                        Stage::Group,
                        Some(g),
                    ));
                }
                for &m in &made {
                    state.graph.matches[m].phase = true;
                }
                state.graph.phase_open = made.len();
                state.settle(&made);
            }
        }
        Ok(state)
    }

    /// Resolves the byes and forfeits among `matches`, then opens the next phase if one ended.
    fn settle(&mut self, matches: &[usize]) {
        let mut ended = false;
        for &m in matches {
            if let Some(outcome) = self.graph.automatic(m) {
                ended |= self.graph.finish(m, outcome);
            }
        }
        if ended {
            self.next_phase();
        }
    }

    /// Draws the next Swiss round or the knockout while the current phase is over.
    fn next_phase(&mut self) {
        // Bounded: each pass either opens a round (at most 64) or stops.
        for _ in 0..=64 {
            if self.graph.phase_open != 0 {
                return;
            }
            let opened = match self.setup.format {
                Format::Swiss => self.pair_swiss_round(),
                Format::GroupsKnockout if !self.knockout_drawn => {
                    self.draw_knockout();
                    false
                }
                _ => false,
            };
            if !opened {
                return;
            }
        }
    }

    fn pair_swiss_round(&mut self) -> bool {
        let n = self.setup.players.len();
        if self.swiss_round >= self.swiss_rounds {
            return false;
        }
        let active: Vec<usize> = (0..n).filter(|&p| !self.graph.withdrawn[p]).collect();
        if active.len() < 2 {
            return false;
        }
        let mut points = vec![0u32; n];
        let mut had_bye = vec![false; n];
        let mut played = HashSet::new();
        for m in &self.graph.matches {
            let Some(outcome) = &m.outcome else { continue };
            match (m.slots[0].player(), m.slots[1].player()) {
                (Some(a), Some(b)) => {
                    played.insert((a.min(b), a.max(b)));
                }
                (Some(p), None) | (None, Some(p)) if outcome.bye => had_bye[p] = true,
                _ => {}
            }
            if let Some(w) = outcome.winner {
                points[w] += 2;
            } else if outcome.losses.is_empty() {
                for p in m.slots.iter().filter_map(|s| s.player()) {
                    points[p] += 1;
                }
            }
        }
        let mut order = active;
        order.sort_by_key(|&p| (std::cmp::Reverse(points[p]), p));
        let pairs = swiss::pair(&order, &points, &had_bye, &played);
        self.swiss_round += 1;
        let round = self.swiss_round;
        let mut made = Vec::with_capacity(pairs.len());
        for (k, (a, b)) in pairs.into_iter().enumerate() {
            let slots = [Slot::Player(a), b.map_or(Slot::Empty, Slot::Player)];
            let mut m =
                super::graph::Match::new(format!("S{round}-{}", k + 1), Stage::Swiss, round, slots);
            m.draws = true;
            m.phase = true;
            made.push(self.graph.push(m));
        }
        self.graph.phase_open = made.len();
        for m in made {
            if let Some(outcome) = self.graph.automatic(m) {
                self.graph.finish(m, outcome);
            }
        }
        true
    }

    fn draw_knockout(&mut self) {
        self.knockout_drawn = true;
        let ranked: Vec<Vec<usize>> = (0..self.groups.len())
            .map(|g| {
                standings::group_order(self, g)
                    .into_iter()
                    .filter(|&p| !self.graph.withdrawn[p])
                    .take(self.advance)
                    .collect()
            })
            .collect();
        let seeds: Vec<usize> = seeding::knockout_seeds(self.groups.len(), self.advance)
            .into_iter()
            .filter_map(|(place, g)| ranked[g].get(place).copied())
            .collect();
        if seeds.is_empty() {
            return;
        }
        let first = elimination::single(&mut self.graph, &seeds, self.setup.options.third_place);
        self.settle(&first);
    }

    /// The match's index, if it is shown.
    pub(crate) fn lookup(&self, id: &str) -> Result<usize, BracketError> {
        self.graph
            .ids
            .get(id)
            .copied()
            .filter(|&m| !self.graph.matches[m].hidden)
            .ok_or_else(|| BracketError::UnknownMatch(id.to_owned()))
    }

    pub(crate) fn status(&self, m: usize) -> Status {
        let m = &self.graph.matches[m];
        if m.outcome.is_some() {
            Status::Done
        } else if m.ready() {
            Status::Ready
        } else {
            Status::Waiting
        }
    }

    fn player(&self, name: &str, context: &str) -> Result<usize, BracketError> {
        self.index
            .get(name)
            .copied()
            .ok_or_else(|| BracketError::NotInMatch {
                player: name.to_owned(),
                context: context.to_owned(),
            })
    }

    fn need_ready(&self, m: usize) -> Result<(), BracketError> {
        match self.status(m) {
            Status::Ready => Ok(()),
            status => Err(BracketError::NotReady {
                id: self.graph.matches[m].id.clone(),
                status,
            }),
        }
    }

    /// Checks a result against match `m` (ready or, for a correction, done) and builds its
    /// outcome.
    pub(crate) fn scored(
        &self,
        m: usize,
        s: &Score,
    ) -> Result<super::graph::Outcome, BracketError> {
        let id = &self.graph.matches[m].id;
        let winner = match &s.winner {
            Some(name) => {
                let context = format!("match {id}");
                let p = self.player(name, &context)?;
                let side = self.graph.matches[m]
                    .side(p)
                    .ok_or(BracketError::NotInMatch {
                        player: name.clone(),
                        context,
                    })?;
                let race = self.race_of(m);
                let (mine, theirs) = (s.score[side], s.score[1 - side]);
                let reached = race[side] > 0 && mine >= race[side] && theirs < race[1 - side];
                if mine <= theirs && !reached {
                    return Err(BracketError::Invalid(format!(
                        "the score {:?} does not make {name:?} the winner of {id}",
                        s.score
                    )));
                }
                Some(p)
            }
            None => {
                if !self.graph.matches[m].draws {
                    return Err(BracketError::Invalid(format!(
                        "{id} is an elimination match: a draw is not possible"
                    )));
                }
                if s.score[0] != s.score[1] {
                    return Err(BracketError::Invalid(format!(
                        "a draw needs an equal score, not {:?}",
                        s.score
                    )));
                }
                None
            }
        };
        Ok(self
            .graph
            .outcome(m, winner, Some(s.score), Vec::new(), false))
    }

    pub(crate) fn result(&mut self, s: &Score) -> Result<(), BracketError> {
        let m = self.lookup(&s.match_id)?;
        self.need_ready(m)?;
        let outcome = self.scored(m, s)?;
        if self.graph.finish(m, outcome) {
            self.next_phase();
        }
        Ok(())
    }

    pub(crate) fn forfeit(&mut self, f: &Forfeit) -> Result<(), BracketError> {
        let m = self.lookup(&f.match_id)?;
        let p = self.player(&f.player, "the event")?;
        let status = self.status(m);
        let game = &self.graph.matches[m];
        if game.side(p).is_none() {
            return Err(BracketError::NotInMatch {
                player: f.player.clone(),
                context: format!("match {}", game.id),
            });
        }
        match status {
            Status::Done => Err(BracketError::NotReady {
                id: game.id.clone(),
                status,
            }),
            Status::Waiting if game.pre_forfeit.contains(&p) => Err(BracketError::Invalid(
                format!("{:?} already forfeits {}", f.player, game.id),
            )),
            Status::Waiting => {
                self.graph.matches[m].pre_forfeit.push(p);
                Ok(())
            }
            Status::Ready => {
                let other = game
                    .slots
                    .iter()
                    .filter_map(|s| s.player())
                    .find(|&q| q != p);
                let outcome = self.graph.outcome(m, other, None, vec![p], false);
                if self.graph.finish(m, outcome) {
                    self.next_phase();
                }
                Ok(())
            }
        }
    }

    pub(crate) fn double_forfeit(&mut self, d: &DoubleForfeit) -> Result<(), BracketError> {
        let m = self.lookup(&d.match_id)?;
        self.need_ready(m)?;
        let both = self.graph.matches[m]
            .slots
            .iter()
            .filter_map(|s| s.player())
            .collect();
        let outcome = self.graph.outcome(m, None, None, both, false);
        if self.graph.finish(m, outcome) {
            self.next_phase();
        }
        Ok(())
    }

    pub(crate) fn withdraw(&mut self, name: &str) -> Result<(), BracketError> {
        let p = self.player(name, "the event")?;
        if self.graph.withdrawn[p] {
            return Err(BracketError::Invalid(format!(
                "{name:?} has already withdrawn"
            )));
        }
        if self.graph.withdraw(p) {
            self.next_phase();
        }
        Ok(())
    }

    /// The racks each player of match `m` needs.
    fn race_of(&self, m: usize) -> [u32; 2] {
        let game = &self.graph.matches[m];
        let name = |slot: Slot| slot.player().map(|p| self.setup.players[p].as_str());
        race::race(
            &self.setup.options,
            &game.id,
            game.winner_level == Some(super::graph::CHAMPION),
            [name(game.slots[0]), name(game.slots[1])],
        )
    }

    /// One match as shown.
    pub(crate) fn match_view(&self, index: usize) -> MatchView {
        let m = &self.graph.matches[index];
        let name = |p: usize| self.setup.players[p].clone();
        let players = m.slots.map(|s| s.player().map(name));
        let outcome = m.outcome.as_ref();
        MatchView {
            id: m.id.clone(),
            round: m.round,
            race: self.race_of(index),
            players,
            status: self.status(index),
            winner: outcome.and_then(|o| o.winner).map(name),
            score: outcome.and_then(|o| o.score),
            bye: outcome.is_some_and(|o| o.bye),
            stage: m.stage,
            group: m.group.map(group_letter),
            forfeited: outcome
                .map(|o| o.forfeited.iter().map(|&p| name(p)).collect())
                .unwrap_or_default(),
        }
    }

    /// Every shown match, in draw order (stage, round, k).
    pub(crate) fn match_views(&self) -> Vec<MatchView> {
        (0..self.graph.matches.len())
            .filter(|&m| !self.graph.matches[m].hidden)
            .map(|m| self.match_view(m))
            .collect()
    }

    /// The match's players now (for replays: an entry stands only where they are unchanged).
    pub(crate) fn slots(&self, id: &str) -> Option<[Slot; 2]> {
        self.lookup(id).ok().map(|m| self.graph.matches[m].slots)
    }

    pub(crate) fn complete(&self) -> bool {
        self.graph
            .matches
            .iter()
            .all(|m| m.hidden || m.outcome.is_some())
    }
}

/// `A`, `B`, … for group 0, 1, ….
pub(crate) fn group_letter(g: usize) -> String {
    char::from(b'A' + (g % 26) as u8).to_string()
}
