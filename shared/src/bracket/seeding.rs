//! Seeding: where each seed sits in an elimination bracket, and how a field is split into groups.
//!
//! The standard bracket order (1 v 8, 4 v 5, 2 v 7, 3 v 6 for eight) keeps the top seeds apart
//! until the late rounds: seeds 1 and 2 can only meet in the final, 1–4 only in the semifinals.
//! Seeds beyond the field are byes, so byes fall to the top seeds.

/// The seeds (1-based) in bracket order for a bracket of `size` positions (a power of two):
/// positions `2k` and `2k + 1` meet in the first round.
pub(crate) fn bracket_order(size: usize) -> Vec<usize> {
    let mut order = vec![1];
    while order.len() < size {
        let next = order.len() * 2;
        order = order.iter().flat_map(|&s| [s, next + 1 - s]).collect();
    }
    order
}

/// The number of rounds of an elimination bracket for `n` players (⌈log2 n⌉) and its size.
pub(crate) fn bracket_size(n: usize) -> (u32, usize) {
    let size = n.max(2).next_power_of_two();
    (size.trailing_zeros(), size)
}

/// Splits seeds `0..n` into `groups` groups by snake seeding (A B C C B A A B C …), so every
/// group gets a similar spread of strength. Each group lists its players best seed first.
pub(crate) fn snake_groups(n: usize, groups: usize) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); groups];
    for seed in 0..n {
        let lap = seed / groups;
        let pos = seed % groups;
        let group = if lap.is_multiple_of(2) {
            pos
        } else {
            groups - 1 - pos
        };
        out[group].push(seed);
    }
    out
}

/// The order in which group qualifiers are seeded into the knockout: all group winners (A1, B1,
/// …), then the runners-up arranged so that in the standard bracket order each winner meets the
/// runner-up of the next group (A1 v B2, B1 v C2, …, last v A2), then further places in group
/// order. Returns `(place, group)` pairs, both 0-based.
pub(crate) fn knockout_seeds(groups: usize, advance: usize) -> Vec<(usize, usize)> {
    let mut seeds: Vec<(usize, usize)> = (0..groups).map(|g| (0, g)).collect();
    if advance >= 2 {
        // Runner-up seed G + j (j = 1..=G) meets winner seed G + 1 - j when 2G is a power of two.
        for j in 1..=groups {
            let winner = groups + 1 - j; // 1-based group of the winner it meets
            seeds.push((1, winner % groups));
        }
    }
    for place in 2..advance {
        seeds.extend((0..groups).map(|g| (place, g)));
    }
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_order_of_eight_and_sixteen() {
        assert_eq!(bracket_order(8), vec![1, 8, 4, 5, 2, 7, 3, 6]);
        assert_eq!(
            bracket_order(16),
            vec![1, 16, 8, 9, 4, 13, 5, 12, 2, 15, 7, 10, 3, 14, 6, 11]
        );
        assert_eq!(bracket_size(5), (3, 8));
        assert_eq!(bracket_size(2), (1, 2));
    }

    #[test]
    fn snake_and_crossing() {
        assert_eq!(snake_groups(8, 2), vec![vec![0, 3, 4, 7], vec![1, 2, 5, 6]]);
        assert_eq!(knockout_seeds(2, 2), vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
        // Seeds 1..8 = A1 B1 C1 D1 A2 D2 C2 B2: 1 v 8 is A1 v B2.
        assert_eq!(knockout_seeds(4, 2)[4..], [(1, 0), (1, 3), (1, 2), (1, 1)]);
    }
}
