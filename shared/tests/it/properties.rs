//! Invariants of the rules engine over random matches.
//!
//! Random "genes" are turned into inputs that fit the current table (mostly possible shots, some
//! impossible ones on purpose), so shrinking still works and every rule path gets exercised.

use proptest::prelude::*;
use shared::rules::{
    ActionKind, BallSet, BreakRule, Call, Concede, Game, HouseRules, Input, Match, MatchSpec,
    Pocketed, Rejected, Shot, State,
};

/// One random input, interpreted against the table it meets.
#[derive(Clone, Copy, Debug)]
struct Gene {
    kind: u8,
    mask: u16,
    pick: u8,
    flags: u8,
}

fn gene() -> impl Strategy<Value = Gene> {
    (any::<u8>(), any::<u16>(), any::<u8>(), any::<u8>()).prop_map(|(kind, mask, pick, flags)| {
        Gene {
            kind,
            mask,
            pick,
            flags,
        }
    })
}

fn spec() -> impl Strategy<Value = MatchSpec> {
    let game = prop_oneof![
        Just(Game::EightBall),
        Just(Game::NineBall),
        Just(Game::TenBall),
        Just(Game::StraightPool)
    ];
    (game, 1u32..4, any::<bool>()).prop_map(|(game, race, winner_breaks)| MatchSpec {
        game,
        players: ["A".into(), "B".into()],
        race_to: if game == Game::StraightPool {
            race * 8
        } else {
            race
        },
        break_rule: if winner_breaks {
            BreakRule::Winner
        } else {
            BreakRule::Alternate
        },
        // Concede gives away only the rack, so "the race ends exactly at N" holds for every input.
        rules: HouseRules {
            concede: Concede::Rack,
            ..HouseRules::default()
        },
    })
}

/// The table a new input meets (the next rack's, if the last input ended one).
fn table_before(spec: &MatchSpec, state: &State) -> BallSet {
    if state.rack_over() {
        spec.game.full_rack()
    } else {
        state.on_table
    }
}

fn nth(set: BallSet, n: u8) -> Option<u8> {
    let balls: Vec<u8> = set.iter().collect();
    (!balls.is_empty()).then(|| balls[usize::from(n) % balls.len()])
}

fn input_for(spec: &MatchSpec, state: &State, g: Gene) -> Input {
    let table = table_before(spec, state);
    match g.kind % 24 {
        0 => return Input::action(ActionKind::Undo),
        1 => return Input::action(ActionKind::Foul),
        2 | 3 => return Input::action(ActionKind::Pass),
        4 => return Input::action(ActionKind::Rerack),
        5 => return Input::action(ActionKind::Concede),
        _ => {}
    }
    // Mostly one or two balls, sometimes a big run, rarely a ball that is already down.
    let wanted = BallSet::from_iter((1..=15).filter(|b| g.mask & (1 << b) != 0));
    let mut pocketed = match g.flags % 4 {
        0 => BallSet::EMPTY,
        1 => nth(table, g.pick).into_iter().collect(),
        2 => table.intersect(wanted).iter().take(2).collect(),
        _ => table.intersect(wanted),
    };
    if g.flags & 0x80 != 0 && g.kind.is_multiple_of(5) {
        pocketed = pocketed.union(spec.game.full_rack().minus(table).iter().take(1).collect());
    }
    let money = spec.game.full_rack().iter().last();
    Input::shot(Shot {
        first_contact: match g.flags & 0x30 {
            0x10 => table.lowest(),
            0x20 => nth(table, g.pick.wrapping_add(3)),
            _ => None,
        },
        pocketed: pocketed
            .iter()
            .map(|ball| Pocketed {
                ball,
                pocket: Some(1 + ball.wrapping_add(g.pick) % 6),
            })
            .collect(),
        cue_ball_pocketed: g.kind.is_multiple_of(7),
        object_off_table: if g.kind.is_multiple_of(31) {
            nth(table.minus(pocketed), g.pick).into_iter().collect()
        } else {
            vec![]
        },
        rail_after_contact: g.kind.is_multiple_of(11).then_some(false),
        called: (g.flags & 0x40 != 0)
            .then(|| {
                nth(table, g.pick).or(money).map(|ball| Call {
                    ball,
                    pocket: Some(1 + g.pick % 6),
                })
            })
            .flatten(),
        push_out: g.kind.is_multiple_of(9),
        safety: g.kind.is_multiple_of(13),
        break_rails: g.kind.is_multiple_of(6).then_some(g.pick % 5),
        cue_ball_off_table: g.kind.is_multiple_of(37),
        foul: g.kind.is_multiple_of(17),
    })
}

fn racks_won(state: &State) -> u32 {
    state.stats.iter().map(|s| s.racks_won).sum()
}

/// Checks one accepted step `prev → next` caused by `input`.
fn check_step(
    spec: &MatchSpec,
    prev: &State,
    input: &Input,
    next: &State,
) -> Result<(), TestCaseError> {
    let before = table_before(spec, prev);
    // Exactly one winner per finished rack, and only on a line that ends one.
    match next.last.rack_winner {
        Some(winner) => {
            prop_assert!(winner <= 1);
            prop_assert_eq!(racks_won(next), racks_won(prev) + 1);
            prop_assert_eq!(
                next.stats[winner].racks_won,
                prev.stats[winner].racks_won + 1
            );
        }
        None => prop_assert_eq!(racks_won(next), racks_won(prev)),
    }
    // The race ends exactly at N, never beyond.
    if spec.game != Game::StraightPool {
        let best = next.score.iter().copied().max().unwrap_or(0);
        prop_assert!(best <= spec.race_to as i32);
        prop_assert_eq!(next.match_winner.is_some(), best == spec.race_to as i32);
        prop_assert_eq!(next.score[0] + next.score[1], racks_won(next) as i32);
    } else if *input != Input::action(ActionKind::Concede) {
        // (A 14.1 concession ends the one game there is, whatever the score.)
        prop_assert_eq!(
            next.match_winner.is_some(),
            next.score.iter().any(|&s| s >= spec.race_to as i32)
        );
    }
    // A ball leaves the table only by dropping or jumping and comes back only by being spotted,
    // except when the balls are racked again.
    if let Input::Shot { shot } = input {
        let dropped: BallSet = shot
            .pocketed
            .iter()
            .map(|p| p.ball)
            .filter(|&b| b != 0)
            .collect();
        let jumped: BallSet = shot.object_off_table.iter().copied().collect();
        prop_assert_eq!(
            dropped.minus(before),
            BallSet::EMPTY,
            "a ball not on the table was accepted"
        );
        let reracked = next.rack != prev.rack + u32::from(prev.rack_over()) || next.break_shot;
        if !reracked {
            let kept = before.minus(dropped).minus(jumped);
            prop_assert_eq!(kept.minus(next.on_table), BallSet::EMPTY, "a ball vanished");
            prop_assert_eq!(
                next.on_table.minus(before.union(next.last.spotted)),
                BallSet::EMPTY,
                "a ball came back unspotted"
            );
            prop_assert_eq!(
                dropped.intersect(next.on_table).minus(next.last.spotted),
                BallSet::EMPTY
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_matches_keep_the_invariants(spec in spec(), genes in prop::collection::vec(gene(), 1..120), cut in any::<prop::sample::Index>()) {
        let mut game = Match::new(spec.clone()).expect("valid spec");
        let mut accepted = Vec::new();
        let cut = cut.index(genes.len());
        let mut resumed: Option<Match> = None;
        for (i, g) in genes.iter().enumerate() {
            if i == cut {
                // serialize → deserialize → continue must equal continue.
                let json = serde_json::to_string(&game).expect("a match serialises");
                resumed = Some(serde_json::from_str(&json).expect("and deserialises"));
            }
            let prev = game.state().clone();
            let input = input_for(&spec, &prev, *g);
            let result = game.apply(input.clone()).cloned();
            if let Some(copy) = resumed.as_mut() {
                prop_assert_eq!(copy.apply(input.clone()).cloned(), result.clone());
            }
            match result {
                Ok(next) => {
                    if input == Input::action(ActionKind::Undo) {
                        accepted.pop();
                        continue;
                    }
                    accepted.push(input.clone());
                    check_step(&spec, &prev, &input, &next)?;
                    // undo(apply(x)) equals the state before x.
                    let mut undone = game.clone();
                    prop_assert_eq!(undone.apply(Input::action(ActionKind::Undo)).cloned(), Ok(prev));
                }
                Err(rejected) => {
                    // A refused input changes nothing.
                    prop_assert_eq!(game.state(), &prev);
                    if prev.match_winner.is_some() && input != Input::action(ActionKind::Undo) {
                        prop_assert_eq!(rejected, Rejected::MatchOver);
                    }
                }
            }
        }
        // The state is a pure fold of the accepted inputs.
        let replayed = Match::replay(spec, accepted.clone()).expect("accepted inputs replay");
        prop_assert_eq!(replayed.state(), game.state());
        prop_assert_eq!(game.inputs(), accepted.as_slice());
    }

    #[test]
    fn rack_shot_logs_split_the_match(spec in spec(), genes in prop::collection::vec(gene(), 1..120)) {
        // The shot log taken at each rack's end (what edge-agent sends with `rack_finished`), put
        // end to end, is every input up to that rack's end: no shot lost, none counted twice.
        let mut game = Match::new(spec.clone()).expect("valid spec");
        let mut logged: Vec<Input> = Vec::new();
        for g in genes {
            let input = input_for(&spec, game.state(), g);
            if input == Input::action(ActionKind::Undo) {
                continue;
            }
            if game.apply(input).is_err() {
                continue;
            }
            if game.state().last.rack_winner.is_some() {
                logged.extend_from_slice(game.last_rack_inputs());
                prop_assert_eq!(logged.as_slice(), game.inputs());
            }
        }
    }
}
