//! Race lengths: the racks each player needs in a match, from the default, the longer final, the
//! per-round races and the handicap from the players' ratings.

use super::Options;

/// The race of match `id` for its two players (ratings by name), `final_match` when it decides
/// first place. 0 means "the venue's default" (no race given in the options).
pub(crate) fn race(
    options: &Options,
    id: &str,
    final_match: bool,
    players: [Option<&str>; 2],
) -> [u32; 2] {
    let key = id.split('-').next().unwrap_or(id);
    let base = options
        .race
        .rounds
        .get(key)
        .copied()
        .or(if final_match {
            options.race.r#final
        } else {
            None
        })
        .or(options.race.to)
        .unwrap_or(0);
    let mut race = [base, base];
    if let (Some(handicap), [Some(a), Some(b)]) = (&options.handicap, players)
        && base > 0
        && handicap.points_per_rack > 0
        && let (Some(&ra), Some(&rb)) = (handicap.ratings.get(a), handicap.ratings.get(b))
    {
        let racks = ra.abs_diff(rb) / handicap.points_per_rack;
        let weaker = usize::from(rb < ra);
        if ra != rb {
            race[weaker] = base.saturating_sub(racks).max(1);
        }
    }
    race
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bracket::{Handicap, Races};

    #[test]
    fn final_rounds_and_handicap() {
        let mut options = Options {
            race: Races {
                to: Some(5),
                r#final: Some(7),
                rounds: [("W2".to_owned(), 6)].into_iter().collect(),
            },
            ..Options::default()
        };
        assert_eq!(race(&options, "W1-1", false, [None, None]), [5, 5]);
        assert_eq!(race(&options, "W2-1", false, [None, None]), [6, 6]);
        assert_eq!(race(&options, "W3-1", true, [None, None]), [7, 7]);
        options.handicap = Some(Handicap {
            ratings: [("A".to_owned(), 700), ("B".to_owned(), 550)]
                .into_iter()
                .collect(),
            points_per_rack: 50,
        });
        assert_eq!(
            race(&options, "W1-1", false, [Some("A"), Some("B")]),
            [5, 2]
        );
        assert_eq!(
            race(&options, "W1-1", false, [Some("B"), Some("A")]),
            [2, 5]
        );
    }
}
