//! Swiss pairing: round 1 top half against bottom half by seed, later rounds within score groups
//! (top half of a group against its bottom half, odd players floating down), no rematch while one
//! can be avoided, and the bye to the lowest-ranked player who has not had one.
//!
//! The pairing is a depth-first search in preference order with a step budget: the first
//! complete pairing found is the most preferred one without rematches. When the budget runs out
//! (no such pairing, or too costly to find) it pairs again allowing rematches.

use std::collections::HashSet;

/// Steps the search may take before it allows rematches.
const BUDGET: u32 = 200_000;

/// The pairings of a round. `order` lists the players to pair, best-ranked first; `points` and
/// `had_bye` are indexed by player; `played` holds each earlier pairing as (low, high).
pub(crate) fn pair(
    order: &[usize],
    points: &[u32],
    had_bye: &[bool],
    played: &HashSet<(usize, usize)>,
) -> Vec<(usize, Option<usize>)> {
    let mut rest: Vec<usize> = order.to_vec();
    let mut bye = None;
    if rest.len() % 2 == 1 {
        let at = rest
            .iter()
            .rposition(|&p| !had_bye[p])
            .unwrap_or(rest.len() - 1);
        bye = Some(rest.remove(at));
    }
    let mut out = Vec::with_capacity(rest.len() / 2 + 1);
    for allow_rematch in [false, true] {
        let mut search = Search {
            list: &rest,
            points,
            played,
            allow_rematch,
            paired: vec![false; rest.len()],
            budget: BUDGET,
            out: Vec::new(),
        };
        if search.run() {
            out = search.out;
            break;
        }
    }
    let mut pairs: Vec<(usize, Option<usize>)> =
        out.into_iter().map(|(a, b)| (a, Some(b))).collect();
    if let Some(p) = bye {
        pairs.push((p, None));
    }
    pairs
}

struct Search<'a> {
    list: &'a [usize],
    points: &'a [u32],
    played: &'a HashSet<(usize, usize)>,
    allow_rematch: bool,
    paired: Vec<bool>,
    budget: u32,
    out: Vec<(usize, usize)>,
}

impl Search<'_> {
    fn run(&mut self) -> bool {
        let Some(i) = self.paired.iter().position(|&p| !p) else {
            return true;
        };
        let p = self.list[i];
        self.paired[i] = true;
        for j in self.candidates(i) {
            if self.budget == 0 {
                break;
            }
            self.budget -= 1;
            let q = self.list[j];
            if !self.allow_rematch && self.played.contains(&(p.min(q), p.max(q))) {
                continue;
            }
            self.paired[j] = true;
            self.out.push((p, q));
            if self.run() {
                return true;
            }
            self.out.pop();
            self.paired[j] = false;
        }
        self.paired[i] = false;
        false
    }

    /// The opponents of `list[i]` in preference order: its score group from the middle on (top
    /// half against bottom half), then the group's upper part, then lower groups in order.
    fn candidates(&self, i: usize) -> Vec<usize> {
        let score = self.points[self.list[i]];
        let open: Vec<usize> = (i + 1..self.list.len())
            .filter(|&j| !self.paired[j])
            .collect();
        let split = open
            .iter()
            .position(|&j| self.points[self.list[j]] != score)
            .unwrap_or(open.len());
        let (group, lower) = open.split_at(split);
        let half = group.len() / 2;
        group[half..]
            .iter()
            .chain(&group[..half])
            .chain(lower)
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_round_is_top_half_against_bottom_half() {
        let order: Vec<usize> = (0..8).collect();
        let pairs = pair(&order, &[0; 8], &[false; 8], &HashSet::new());
        assert_eq!(
            pairs,
            vec![(0, Some(4)), (1, Some(5)), (2, Some(6)), (3, Some(7))]
        );
    }

    #[test]
    fn the_bye_goes_to_the_lowest_without_one_and_rematches_are_avoided() {
        let order: Vec<usize> = (0..5).collect();
        let mut had = [false; 5];
        had[4] = true;
        let played: HashSet<(usize, usize)> = [(0, 2)].into_iter().collect();
        let pairs = pair(&order, &[0; 5], &had, &played);
        assert_eq!(pairs.last(), Some(&(3, None)));
        assert!(!pairs.contains(&(0, Some(2))));
    }
}
