//! Standings, pool convention: tied players share the best place of the tie.
//!
//! Elimination formats rank by placing level (how far a player got; players still in share the
//! best place still open), round robin and Swiss by wins (a draw is half a win) and then the
//! tie-breaks in order, groups-knockout by knockout placing and then group place.

use super::engine::{State, group_letter};
use super::graph::{ALIVE, Match};
use super::{Format, Stage, Standing, Tiebreak};

/// The tie-breaks a format uses when the options name none (docs/tournaments.md).
pub fn default_tiebreaks(format: Format) -> Vec<Tiebreak> {
    match format {
        Format::Swiss => vec![
            Tiebreak::Buchholz,
            Tiebreak::MedianBuchholz,
            Tiebreak::HeadToHead,
            Tiebreak::RackDifference,
            Tiebreak::RacksWon,
        ],
        _ => vec![
            Tiebreak::HeadToHead,
            Tiebreak::RackDifference,
            Tiebreak::RacksWon,
        ],
    }
}

/// One player's record over some matches.
#[derive(Clone, Debug, Default)]
struct Tally {
    wins: u32,
    losses: u32,
    draws: u32,
    racks_won: u32,
    racks_lost: u32,
    opponents: Vec<usize>,
    level: Option<u32>,
    out: bool,
}

impl Tally {
    /// Half points: a win is 2, a draw 1.
    fn points(&self) -> u32 {
        2 * self.wins + self.draws
    }
}

fn tally<'a>(n: usize, matches: impl Iterator<Item = &'a Match>) -> Vec<Tally> {
    let mut t = vec![Tally::default(); n];
    for m in matches {
        let Some(o) = &m.outcome else { continue };
        let players: Vec<usize> = m.slots.iter().filter_map(|s| s.player()).collect();
        if let [a, b] = players[..] {
            t[a].opponents.push(b);
            t[b].opponents.push(a);
            if let Some(score) = o.score {
                // Saturating: a score is outside input, and a sum must not overflow.
                t[a].racks_won = t[a].racks_won.saturating_add(score[0]);
                t[a].racks_lost = t[a].racks_lost.saturating_add(score[1]);
                t[b].racks_won = t[b].racks_won.saturating_add(score[1]);
                t[b].racks_lost = t[b].racks_lost.saturating_add(score[0]);
            }
        }
        if let Some(w) = o.winner {
            t[w].wins += 1;
            if let Some(level) = o.winner_level {
                t[w].level = t[w].level.max(Some(level));
            }
        } else if o.losses.is_empty() && !o.bye {
            for &p in &players {
                t[p].draws += 1;
            }
        }
        for loss in &o.losses {
            let p = &mut t[loss.player];
            p.losses += 1;
            p.out |= loss.out;
            p.level = p.level.max(loss.level);
        }
    }
    t
}

/// Context for the tie-breaks: the records and the matches they come from.
struct Ranker<'a> {
    tallies: &'a [Tally],
    matches: Vec<&'a Match>,
    tiebreaks: &'a [Tiebreak],
}

impl Ranker<'_> {
    /// Orders `players` by points then the tie-breaks; returns the classes of still-tied players,
    /// best first, each in seed order.
    fn classes(&self, players: &[usize]) -> Vec<Vec<usize>> {
        let by_points = split(players, |p| i64::from(self.tallies[p].points()));
        by_points
            .into_iter()
            .flat_map(|class| self.refine(class, 0))
            .collect()
    }

    fn refine(&self, class: Vec<usize>, at: usize) -> Vec<Vec<usize>> {
        if class.len() <= 1 || at >= self.tiebreaks.len() {
            return vec![class];
        }
        let values: Vec<(usize, i64)> = class
            .iter()
            .map(|&p| (p, self.value(self.tiebreaks[at], p, &class)))
            .collect();
        let value = |p: usize| values.iter().find(|(q, _)| *q == p).map_or(0, |(_, v)| *v);
        split(&class, value)
            .into_iter()
            .flat_map(|sub| self.refine(sub, at + 1))
            .collect()
    }

    /// A tie-break's value for `p` (higher is better) among the tied `class`.
    fn value(&self, tiebreak: Tiebreak, p: usize, class: &[usize]) -> i64 {
        let t = &self.tallies[p];
        match tiebreak {
            Tiebreak::HeadToHead => self
                .matches
                .iter()
                .filter_map(|m| {
                    let o = m.outcome.as_ref()?;
                    let side = m.side(p)?;
                    let other = m.slots[1 - side].player()?;
                    if !class.contains(&other) {
                        return None;
                    }
                    Some(match o.winner {
                        Some(w) if w == p => 2,
                        None if o.losses.is_empty() => 1,
                        _ => 0,
                    })
                })
                .sum(),
            Tiebreak::RackDifference => i64::from(t.racks_won) - i64::from(t.racks_lost),
            Tiebreak::RacksWon => i64::from(t.racks_won),
            Tiebreak::Buchholz => i64::from(buchholz(self.tallies, p).0),
            Tiebreak::MedianBuchholz => i64::from(buchholz(self.tallies, p).1),
            Tiebreak::Seed => -(p as i64),
        }
    }
}

/// Buchholz (the opponents' wins) and median-Buchholz (without the best and the worst opponent,
/// when there are at least three).
fn buchholz(tallies: &[Tally], p: usize) -> (u32, u32) {
    let wins: Vec<u32> = tallies[p]
        .opponents
        .iter()
        .map(|&o| tallies[o].wins)
        .collect();
    let sum: u32 = wins.iter().sum();
    let median = if wins.len() >= 3 {
        sum - wins.iter().max().copied().unwrap_or(0) - wins.iter().min().copied().unwrap_or(0)
    } else {
        sum
    };
    (sum, median)
}

/// Groups `players` by `key`, best (highest) first, stable in seed order.
fn split(players: &[usize], key: impl Fn(usize) -> i64) -> Vec<Vec<usize>> {
    let mut sorted: Vec<(i64, usize)> = players.iter().map(|&p| (key(p), p)).collect();
    sorted.sort_by_key(|&(k, p)| (std::cmp::Reverse(k), p));
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut last = None;
    for (k, p) in sorted {
        match out.last_mut() {
            Some(class) if last == Some(k) => class.push(p),
            _ => out.push(vec![p]),
        }
        last = Some(k);
    }
    out
}

fn tiebreaks(state: &State) -> Vec<Tiebreak> {
    state
        .setup
        .options
        .tiebreaks
        .clone()
        .unwrap_or_else(|| default_tiebreaks(state.setup.format))
}

/// A group's players in finishing order (ties broken by seed), for the knockout draw.
pub(crate) fn group_order(state: &State, g: usize) -> Vec<usize> {
    let n = state.setup.players.len();
    let matches: Vec<&Match> = state
        .graph
        .matches
        .iter()
        .filter(|m| m.stage == Stage::Group && m.group == Some(g))
        .collect();
    let tallies = tally(n, matches.iter().copied());
    let tiebreaks = tiebreaks(state);
    let ranker = Ranker {
        tallies: &tallies,
        matches,
        tiebreaks: &tiebreaks,
    };
    ranker.classes(&state.groups[g]).concat()
}

/// The standings of the whole event, best first.
pub(crate) fn standings(state: &State) -> Vec<Standing> {
    let n = state.setup.players.len();
    let all: Vec<usize> = (0..n).collect();
    let tallies = tally(n, state.graph.matches.iter());
    let level = |p: usize| {
        let t = &tallies[p];
        match t.level {
            Some(level) if t.out || level > ALIVE => level,
            Some(level) if !t.out && t.losses > 0 => level,
            _ => ALIVE,
        }
    };
    let tiebreaks = tiebreaks(state);
    let mut group_of = vec![None; n];
    let classes: Vec<Vec<usize>> = match state.setup.format {
        Format::SingleElimination | Format::DoubleElimination => {
            split(&all, |p| i64::from(level(p)))
        }
        Format::RoundRobin | Format::Swiss => Ranker {
            tallies: &tallies,
            matches: state.graph.matches.iter().collect(),
            tiebreaks: &tiebreaks,
        }
        .classes(&all),
        Format::GroupsKnockout => {
            // Group place (shared by ties), then the knockout level for those who went through.
            let mut place = vec![0usize; n];
            for g in 0..state.groups.len() {
                let matches: Vec<&Match> = state
                    .graph
                    .matches
                    .iter()
                    .filter(|m| m.stage == Stage::Group && m.group == Some(g))
                    .collect();
                let group_tallies = tally(n, matches.iter().copied());
                let ranker = Ranker {
                    tallies: &group_tallies,
                    matches,
                    tiebreaks: &tiebreaks,
                };
                let mut before = 0;
                for class in ranker.classes(&state.groups[g]) {
                    for &p in &class {
                        place[p] = before;
                        group_of[p] = Some(g);
                    }
                    before += class.len();
                }
            }
            let knockout: Vec<&Match> = state
                .graph
                .matches
                .iter()
                .filter(|m| m.stage == Stage::Winners || m.stage == Stage::ThirdPlace)
                .collect();
            let ko = tally(n, knockout.iter().copied());
            let in_knockout: Vec<bool> = (0..n)
                .map(|p| knockout.iter().any(|m| m.side(p).is_some()))
                .collect();
            let ko_level = |p: usize| -> i64 {
                if !in_knockout[p] {
                    return 0;
                }
                let t = &ko[p];
                i64::from(match t.level {
                    Some(level) if t.out || level > ALIVE || t.losses > 0 => level,
                    _ => ALIVE,
                }) + 1
            };
            split(&all, |p| ko_level(p) * 8192 - place[p] as i64)
        }
    };
    let swiss = state.setup.format == Format::Swiss;
    let mut out = Vec::with_capacity(n);
    let mut before = 0u32;
    for class in classes {
        for &p in &class {
            let t = &tallies[p];
            let (b, mb) = buchholz(&tallies, p);
            let withdrawn = state.graph.withdrawn[p];
            out.push(Standing {
                player: state.setup.players[p].clone(),
                rank: before + 1,
                wins: t.wins,
                losses: t.losses,
                draws: t.draws,
                racks_won: t.racks_won,
                racks_lost: t.racks_lost,
                buchholz: swiss.then_some(b),
                median_buchholz: swiss.then_some(mb),
                group: group_of[p].map(group_letter),
                alive: !withdrawn && !t.out,
                withdrawn,
            });
        }
        before += class.len() as u32;
    }
    out
}
