//! How fast the engine applies shots: whole realistic racks, per game, and the undo path (a replay).
//!
//! Run: `cargo bench -p shared --bench apply_shots`. Throughput is reported in shots per second.
//! The floor, measured in the same run, is parsing the same inputs from their JSON lines (the
//! least `dojo-rules` or edge-agent must do per shot): the engine should cost about as much.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shared::rules::{ActionKind, Game, Input, Match, MatchSpec, Pocketed, Shot};

fn spec(game: Game) -> MatchSpec {
    serde_json::from_value(serde_json::json!({
        "game": game, "players": ["A", "B"], "race_to": 1000, "break": "alternate"
    }))
    .expect("valid spec")
}

/// Shots of plausible racks: a break that makes a ball, misses, safeties, a foul, then a run out
/// with calls. Generated against the live table so every shot is accepted.
fn play_racks(game: Game, racks: usize) -> Vec<Input> {
    let mut m = Match::new(spec(game)).expect("valid spec");
    let mut inputs = Vec::new();
    let mut n = 0u32;
    while m.state().stats.iter().map(|s| s.racks_won).sum::<u32>() < racks as u32 && n < 100_000 {
        n += 1;
        let state = m.state();
        let table = if state.rack_over() {
            game.full_rack()
        } else {
            state.on_table
        };
        let lowest = table.lowest().unwrap_or(1);
        let target = match (game, state.groups) {
            (Game::EightBall, Some(groups)) => {
                let own = table.intersect(groups[state.shooter].balls());
                own.lowest().unwrap_or(8)
            }
            (Game::EightBall, None) if lowest == 8 => table.iter().nth(1).unwrap_or(8),
            _ => lowest,
        };
        let shot = match n % 7 {
            0 => Shot {
                first_contact: Some(target),
                ..Shot::default()
            },
            3 => Shot {
                first_contact: Some(target),
                safety: game != Game::NineBall,
                ..Shot::default()
            },
            5 => Shot {
                cue_ball_pocketed: true,
                ..Shot::default()
            },
            _ if game == Game::TenBall && target == 10 && table.len() > 1 => Shot {
                first_contact: Some(target),
                ..Shot::default()
            },
            _ => Shot {
                first_contact: Some(target),
                pocketed: vec![Pocketed {
                    ball: target,
                    pocket: Some(1 + target % 6),
                }],
                rail_after_contact: Some(true),
                ..Shot::default()
            },
        };
        let input = Input::shot(shot);
        if m.apply(input.clone()).is_ok() {
            inputs.push(input);
        }
    }
    inputs
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("apply_shots");
    for game in [
        Game::EightBall,
        Game::NineBall,
        Game::TenBall,
        Game::StraightPool,
    ] {
        let inputs = play_racks(game, 20);
        group.throughput(Throughput::Elements(inputs.len() as u64));
        let lines: Vec<String> = inputs
            .iter()
            .map(|i| serde_json::to_string(i).expect("serialises"))
            .collect();
        group.bench_function(format!("{}/parse-json-floor", game.as_str()), |b| {
            b.iter(|| {
                lines
                    .iter()
                    .filter(|line| Input::from_json(black_box(line)).is_ok())
                    .count()
            });
        });
        group.bench_function(format!("{}/apply", game.as_str()), |b| {
            b.iter(|| {
                let mut m = Match::new(spec(game)).expect("valid spec");
                for input in &inputs {
                    let _ = black_box(m.apply(input.clone()));
                }
                m
            });
        });
    }
    let inputs = play_racks(Game::NineBall, 5);
    group.throughput(Throughput::Elements(1));
    group.bench_function("undo (replay of a 5-rack 9-ball match)", |b| {
        let m = Match::replay(spec(Game::NineBall), inputs.clone()).expect("replays");
        b.iter(|| black_box(m.clone().apply(Input::action(ActionKind::Undo)).is_ok()));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
