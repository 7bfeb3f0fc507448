//! Round robin by the circle method: the first player stays, the others turn one place per round,
//! so everyone meets everyone once in n − 1 rounds (n rounds for an odd field, where the player
//! facing the empty seat has a bye that round).

use super::Stage;
use super::graph::{Graph, Match, Slot};

/// The pairings of each round for `n` players (0-based positions): `None` is the bye.
pub(crate) fn circle(n: usize) -> Vec<Vec<(usize, Option<usize>)>> {
    let m = n + n % 2;
    let mut ring: Vec<usize> = (0..m).collect();
    let mut rounds = Vec::with_capacity(m.saturating_sub(1));
    for _ in 1..m {
        let mut pairs = Vec::with_capacity(m / 2);
        let mut bye = None;
        for i in 0..m / 2 {
            let (a, b) = (ring[i], ring[m - 1 - i]);
            match (a < n, b < n) {
                (true, true) => pairs.push((a.min(b), Some(a.max(b)))),
                (true, false) => bye = Some(a),
                (false, true) => bye = Some(b),
                (false, false) => {}
            }
        }
        if let Some(p) = bye {
            pairs.push((p, None));
        }
        rounds.push(pairs);
        // Turn every place but the first one step.
        if m > 2 {
            ring[1..].rotate_right(1);
        }
    }
    rounds
}

/// Draws a round robin among `players` (indices in seed order); ids `{prefix}R{round}-{k}`.
/// Returns the matches (byes included, which the caller resolves).
pub(crate) fn draw(
    graph: &mut Graph,
    players: &[usize],
    prefix: &str,
    stage: Stage,
    group: Option<usize>,
) -> Vec<usize> {
    let mut made = Vec::new();
    for (r, pairs) in circle(players.len()).into_iter().enumerate() {
        for (k, (a, b)) in pairs.into_iter().enumerate() {
            let slots = [
                Slot::Player(players[a]),
                b.map_or(Slot::Empty, |b| Slot::Player(players[b])),
            ];
            let mut m = Match::new(
                format!("{prefix}R{}-{}", r + 1, k + 1),
                stage,
                r as u32 + 1,
                slots,
            );
            m.group = group;
            m.draws = true;
            made.push(graph.push(m));
        }
    }
    made
}

#[cfg(test)]
mod tests {
    use super::circle;

    #[test]
    fn everyone_meets_everyone_once() {
        for n in 2..12 {
            let mut met = std::collections::BTreeSet::new();
            let mut byes = vec![0; n];
            for round in circle(n) {
                for (a, b) in round {
                    match b {
                        Some(b) => assert!(met.insert((a, b)), "rematch {a} {b} in {n}"),
                        None => byes[a] += 1,
                    }
                }
            }
            assert_eq!(met.len(), n * (n - 1) / 2);
            assert!(byes.iter().all(|&b| b == n % 2));
        }
    }
}
