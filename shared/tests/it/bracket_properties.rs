//! Invariants of the bracket engine over random fields played to the end with random winners
//! (proptest): losses per player, the number of matches, completion, no avoidable Swiss rematch,
//! and a correction followed by its undoing and the re-entry of what it reset.

use std::collections::BTreeSet;

use proptest::prelude::*;
use shared::bracket::{Bracket, Entry, Format, GrandFinal, Options, Score, Setup, Status, View};

fn setup(format: Format, n: usize, options: Options) -> Setup {
    Setup {
        format,
        players: (1..=n).map(|i| format!("P{i}")).collect(),
        options,
    }
}

/// Plays every ready match, first listed first, the winner picked by `choices` (cycled).
fn play(bracket: &mut Bracket, choices: &[u8]) -> Vec<Entry> {
    let mut played = Vec::new();
    for step in 0..10_000 {
        let view = bracket.view();
        let Some(m) = view.matches.iter().find(|m| m.status == Status::Ready) else {
            break;
        };
        let choice = choices[step % choices.len()];
        let side = usize::from(choice % 2);
        let mut score = [u32::from(choice / 2 % 3); 2];
        score[side] = 3;
        let entry = Entry::Result(Score {
            match_id: m.id.clone(),
            winner: m.players[side].clone(),
            score,
        });
        bracket
            .apply(&entry)
            .unwrap_or_else(|e| panic!("{entry:?} refused: {e}"));
        played.push(entry);
    }
    played
}

fn real_matches(view: &View) -> usize {
    view.matches.iter().filter(|m| !m.bye).count()
}

fn max_losses(view: &View) -> u32 {
    view.standings.iter().map(|s| s.losses).max().unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn single_elimination_runs_to_the_end(n in 2usize..=64, third in any::<bool>(), choices in prop::collection::vec(any::<u8>(), 1..64)) {
        let options = Options { third_place: third, ..Options::default() };
        let mut bracket = Bracket::new(setup(Format::SingleElimination, n, options)).expect("setup");
        play(&mut bracket, &choices);
        let view = bracket.view();
        prop_assert!(view.complete);
        prop_assert_eq!(real_matches(&view), n - 1 + usize::from(third && n >= 4));
        // Only a third-place match gives a second loss.
        prop_assert!(max_losses(&view) <= 1 + u32::from(third));
        prop_assert_eq!(view.standings.iter().filter(|s| s.rank == 1).count(), 1);
        prop_assert_eq!(view.standings.iter().filter(|s| s.rank == 2).count(), 1);
    }

    #[test]
    fn double_elimination_runs_to_the_end(n in 2usize..=64, single in any::<bool>(), choices in prop::collection::vec(any::<u8>(), 1..64)) {
        let grand_final = if single { GrandFinal::Single } else { GrandFinal::Reset };
        let options = Options { grand_final, ..Options::default() };
        let mut bracket = Bracket::new(setup(Format::DoubleElimination, n, options)).expect("setup");
        play(&mut bracket, &choices);
        let view = bracket.view();
        prop_assert!(view.complete);
        let real = real_matches(&view);
        prop_assert!(real == 2 * n - 2 || (!single && real == 2 * n - 1), "{} matches for {}", real, n);
        prop_assert!(max_losses(&view) <= 2);
        prop_assert_eq!(view.standings.iter().filter(|s| s.rank == 1).count(), 1);
        prop_assert!(view.standings.iter().filter(|s| s.losses == 2).count() >= n - 2);
    }

    #[test]
    fn round_robin_pairs_everyone_once(n in 2usize..=24, choices in prop::collection::vec(any::<u8>(), 1..64)) {
        let mut bracket = Bracket::new(setup(Format::RoundRobin, n, Options::default())).expect("setup");
        play(&mut bracket, &choices);
        let view = bracket.view();
        prop_assert!(view.complete);
        prop_assert_eq!(real_matches(&view), n * (n - 1) / 2);
        let pairs: BTreeSet<(String, String)> = view.matches.iter().filter(|m| !m.bye).filter_map(|m| {
            let (a, b) = (m.players[0].clone()?, m.players[1].clone()?);
            Some((a.clone().min(b.clone()), a.max(b)))
        }).collect();
        prop_assert_eq!(pairs.len(), n * (n - 1) / 2);
    }

    #[test]
    fn swiss_never_rematches_while_avoidable(n in 2usize..=64, choices in prop::collection::vec(any::<u8>(), 1..64)) {
        let mut bracket = Bracket::new(setup(Format::Swiss, n, Options::default())).expect("setup");
        play(&mut bracket, &choices);
        let view = bracket.view();
        prop_assert!(view.complete);
        let rounds = usize::BITS - (n - 1).leading_zeros();
        prop_assert_eq!(view.matches.iter().map(|m| m.round).max(), Some(rounds));
        if n >= 2 * rounds as usize {
            let mut seen = BTreeSet::new();
            for m in view.matches.iter().filter(|m| !m.bye) {
                let (a, b) = (m.players[0].clone(), m.players[1].clone());
                prop_assert!(seen.insert((a.clone().min(b.clone()), a.max(b))), "rematch in {}", m.id);
            }
        }
    }

    #[test]
    fn a_correction_undone_and_re_entered_restores_the_bracket(
        format in prop::sample::select(vec![Format::SingleElimination, Format::DoubleElimination, Format::RoundRobin, Format::Swiss, Format::GroupsKnockout]),
        n in 4usize..=24,
        choices in prop::collection::vec(any::<u8>(), 1..64),
        pick in any::<prop::sample::Index>(),
    ) {
        let mut bracket = Bracket::new(setup(format, n, Options::default())).expect("setup");
        let entries = play(&mut bracket, &choices);
        let original = bracket.view();
        let Entry::Result(chosen) = pick.get(&entries).clone() else { unreachable!() };
        let view = bracket.match_view(&chosen.match_id).expect("played match");
        let side = view.players.iter().position(|p| *p == chosen.winner).expect("winner plays");
        let other = Score {
            match_id: chosen.match_id.clone(),
            winner: view.players[1 - side].clone(),
            score: [chosen.score[1], chosen.score[0]],
        };
        let mut reset: BTreeSet<String> = bracket.apply(&Entry::Correct(other)).expect("correction").into_iter().collect();
        reset.extend(bracket.apply(&Entry::Correct(chosen)).expect("correction back"));
        for entry in &entries {
            if let Entry::Result(score) = entry
                && reset.contains(&score.match_id)
                && bracket.match_view(&score.match_id).is_some_and(|m| m.status == Status::Ready)
            {
                bracket.apply(entry).unwrap_or_else(|e| panic!("{entry:?} refused: {e}"));
            }
        }
        prop_assert_eq!(bracket.view(), original);
    }

    #[test]
    fn any_entry_is_applied_or_refused_without_change(
        format in prop::sample::select(vec![Format::SingleElimination, Format::DoubleElimination, Format::RoundRobin, Format::Swiss, Format::GroupsKnockout]),
        n in 2usize..=12,
        third in any::<bool>(),
        ops in prop::collection::vec((0u8..6, any::<prop::sample::Index>(), 0usize..14, 0u32..6, 0u32..6), 1..80),
    ) {
        let options = Options { third_place: third, ..Options::default() };
        let Ok(mut bracket) = Bracket::new(setup(format, n, options)) else { return Ok(()) };
        for (kind, pick, who, a, b) in ops {
            let view = bracket.view();
            let m = pick.get(&view.matches);
            let player = if who < n { format!("P{}", who + 1) } else { "Nobody".to_owned() };
            let winner = match a.cmp(&b) {
                std::cmp::Ordering::Greater => m.players[0].clone(),
                std::cmp::Ordering::Less => m.players[1].clone(),
                std::cmp::Ordering::Equal => None,
            };
            let score = Score { match_id: m.id.clone(), winner, score: [a, b] };
            let entry = match kind {
                0 | 1 => Entry::Result(score),
                2 => Entry::Forfeit(shared::bracket::Forfeit { match_id: m.id.clone(), player }),
                3 => Entry::DoubleForfeit(shared::bracket::DoubleForfeit { match_id: m.id.clone() }),
                4 => Entry::Withdraw(player),
                _ => Entry::Correct(score),
            };
            let before = bracket.entries().len();
            if bracket.apply(&entry).is_err() {
                prop_assert_eq!(bracket.view(), view.clone(), "a refused {:?} changed the bracket", entry);
                prop_assert_eq!(bracket.entries().len(), before);
            }
        }
        // Whatever happened, the bracket can still be played to the end.
        play(&mut bracket, &[0, 1, 2]);
        prop_assert!(bracket.view().complete, "{:?}", bracket.view());
    }
}
