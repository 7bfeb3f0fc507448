//! Single and double elimination drawn as a match graph: the winners' bracket in standard seed
//! order (byes to the top seeds), the losers' bracket fed by the winners' losers, the grand final
//! and its reset, the third-place match.
//!
//! Placing levels (higher is better) give the pool standings: in single elimination a loser of
//! round r gets 2r (the third-place winner one more), in double elimination a loser of losers'
//! round j gets j and the grand-final loser one more; the champion gets the top level.

use super::Stage;
use super::graph::{CHAMPION, Feed, Graph, Match, Slot};
use super::seeding::{bracket_order, bracket_size};

/// The first-round slot of bracket position seed (1-based) among `seeds`.
fn seat(seeds: &[usize], seed: usize) -> Slot {
    seeds
        .get(seed - 1)
        .map_or(Slot::Empty, |&p| Slot::Player(p))
}

/// Draws the winners' bracket; returns the match indices by round (`rounds[0]` = round 1).
fn winners_bracket(graph: &mut Graph, seeds: &[usize]) -> Vec<Vec<usize>> {
    let (rounds, size) = bracket_size(seeds.len());
    let order = bracket_order(size);
    let mut by_round: Vec<Vec<usize>> = Vec::new();
    for round in 1..=rounds {
        let count = size >> round;
        let mut this = Vec::with_capacity(count);
        for k in 0..count {
            let slots = if round == 1 {
                [seat(seeds, order[2 * k]), seat(seeds, order[2 * k + 1])]
            } else {
                [Slot::Pending, Slot::Pending]
            };
            let mut m = Match::new(format!("W{round}-{}", k + 1), Stage::Winners, round, slots);
            m.out_level = 2 * round;
            let index = graph.push(m);
            if let Some(previous) = by_round.last() {
                graph.link(previous[2 * k], Feed::Winner, index, 0);
                graph.link(previous[2 * k + 1], Feed::Winner, index, 1);
            }
            this.push(index);
        }
        by_round.push(this);
    }
    by_round
}

/// Single elimination (also the knockout stage of groups-knockout). Returns the first-round
/// matches, whose byes the caller resolves.
pub(crate) fn single(graph: &mut Graph, seeds: &[usize], third_place: bool) -> Vec<usize> {
    let rounds = winners_bracket(graph, seeds);
    let last = rounds.len();
    if let Some(&fin) = rounds.last().and_then(|r| r.first()) {
        graph.matches[fin].winner_level = Some(CHAMPION);
    }
    if third_place && last >= 2 {
        let semis = rounds[last - 2].clone();
        let level = 2 * (last as u32 - 1);
        let mut m = Match::new("3P".into(), Stage::ThirdPlace, 1, [Slot::Pending; 2]);
        m.out_level = level;
        m.winner_level = Some(level + 1);
        let index = graph.push(m);
        for (slot, &semi) in semis.iter().enumerate() {
            graph.matches[semi].loser_level = Some(level);
            graph.link(semi, Feed::Loser, index, slot);
        }
    }
    rounds.into_iter().next().unwrap_or_default()
}

/// Double elimination. Returns the first-round matches.
pub(crate) fn double(graph: &mut Graph, seeds: &[usize], reset: bool) -> Vec<usize> {
    let winners = winners_bracket(graph, seeds);
    let r = winners.len();
    let lb_rounds = 2 * (r as u32 - 1);
    // Losers' bracket: odd rounds pair survivors, even rounds take the winners' bracket losers
    // (in reverse order every other time, so the first meetings are not rematches).
    let mut losers: Vec<Vec<usize>> = Vec::new();
    for j in 1..=lb_rounds {
        let previous = losers.last().cloned();
        let mut this = Vec::new();
        if j == 1 {
            for (k, pair) in winners[0].chunks(2).enumerate() {
                let index = lb_match(graph, j, k);
                graph.link(pair[0], Feed::Loser, index, 0);
                graph.link(pair[1], Feed::Loser, index, 1);
                this.push(index);
            }
        } else if j % 2 == 0 {
            let drop = &winners[j as usize / 2];
            let m = drop.len();
            for k in 0..m {
                let index = lb_match(graph, j, k);
                if let Some(prev) = &previous {
                    graph.link(prev[k], Feed::Winner, index, 0);
                }
                let from = if (j / 2) % 2 == 1 { m - 1 - k } else { k };
                graph.link(drop[from], Feed::Loser, index, 1);
                this.push(index);
            }
        } else if let Some(prev) = &previous {
            for (k, pair) in prev.chunks(2).enumerate() {
                let index = lb_match(graph, j, k);
                graph.link(pair[0], Feed::Winner, index, 0);
                graph.link(pair[1], Feed::Winner, index, 1);
                this.push(index);
            }
        }
        losers.push(this);
    }
    // A winners'-bracket loser who cannot drop (a double forfeit) is out where they would have
    // entered the losers' bracket.
    for (i, round) in winners.iter().enumerate() {
        let level = if i == 0 { 1 } else { 2 * i as u32 };
        for &index in round {
            graph.matches[index].out_level = level.min(lb_rounds.max(1));
        }
    }
    let mut gf1 = Match::new("GF1".into(), Stage::GrandFinal, 1, [Slot::Pending; 2]);
    gf1.out_level = lb_rounds + 1;
    gf1.winner_level = Some(CHAMPION);
    let gf1 = graph.push(gf1);
    if let Some(&wf) = winners.last().and_then(|r| r.first()) {
        graph.link(wf, Feed::Winner, gf1, 0);
        match losers.last().and_then(|r| r.first()) {
            Some(&lf) => graph.link(lf, Feed::Winner, gf1, 1),
            None => graph.link(wf, Feed::Loser, gf1, 1),
        }
    }
    if reset {
        let mut gf2 = Match::new("GF2".into(), Stage::GrandFinal, 2, [Slot::Pending; 2]);
        gf2.out_level = lb_rounds + 1;
        gf2.winner_level = Some(CHAMPION);
        gf2.hidden = true;
        let gf2 = graph.push(gf2);
        graph.reset = Some((gf1, gf2));
    }
    winners.into_iter().next().unwrap_or_default()
}

fn lb_match(graph: &mut Graph, round: u32, k: usize) -> usize {
    let mut m = Match::new(
        format!("L{round}-{}", k + 1),
        Stage::Losers,
        round,
        [Slot::Pending; 2],
    );
    m.out_level = round;
    graph.push(m)
}
