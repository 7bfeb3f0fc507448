//! How fast the bracket engine takes results: a 1,024-player double elimination created and
//! played to the end (target ≤ 10 µs per result), and the pairing of a 1,024-player Swiss round
//! (target ≤ 50 ms).
//!
//! Run: `cargo bench -p shared --bench bracket`. The floors, measured in the same run, are parsing
//! the same results from their JSON lines (the least `dojo-bracket` or the edge agent must do per
//! result) and cloning the Swiss bracket the pairing is measured on.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shared::bracket::{Bracket, Entry, Format, Options, Score, Setup, Status};

fn setup(format: Format, n: usize) -> Setup {
    Setup {
        format,
        players: (1..=n).map(|i| format!("Player {i}")).collect(),
        options: Options::default(),
    }
}

/// Plays every ready match of `bracket`, round after round, until `stop` says so or nothing is
/// ready; the better seed (the first listed) wins two times in three.
fn play(bracket: &mut Bracket, stop: impl Fn(&Bracket) -> bool) -> Vec<Entry> {
    let mut entries = Vec::new();
    for _ in 0..10_000 {
        if stop(bracket) {
            break;
        }
        let ready: Vec<_> = bracket
            .view()
            .matches
            .into_iter()
            .filter(|m| m.status == Status::Ready)
            .collect();
        if ready.is_empty() {
            break;
        }
        for m in ready {
            let side = usize::from(entries.len() % 3 == 2);
            let mut score = [1, 1];
            score[side] = 3;
            let entry = Entry::Result(Score {
                match_id: m.id,
                winner: m.players[side].clone(),
                score,
            });
            if bracket.apply(&entry).is_ok() {
                entries.push(entry);
            }
        }
    }
    entries
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("bracket");
    group.sample_size(10);
    group.measurement_time(std::time::Duration::from_secs(3));

    let de = setup(Format::DoubleElimination, 1024);
    let mut played = Bracket::new(de.clone()).expect("valid setup");
    let entries = play(&mut played, |_| false);
    assert!(played.view().complete, "the bench plays to the end");
    let lines: Vec<String> = entries
        .iter()
        .map(|e| serde_json::to_string(e).expect("serialises"))
        .collect();
    group.throughput(Throughput::Elements(entries.len() as u64));
    group.bench_function("double-elimination-1024/parse-json-floor", |b| {
        b.iter(|| {
            lines
                .iter()
                .filter(|line| serde_json::from_str::<Entry>(black_box(line)).is_ok())
                .count()
        });
    });
    group.bench_function("double-elimination-1024/new-and-play", |b| {
        b.iter(|| {
            let mut bracket = Bracket::new(de.clone()).expect("valid setup");
            for entry in &entries {
                let _ = black_box(bracket.apply(entry));
            }
            bracket
        });
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("double-elimination-1024/new", |b| {
        b.iter(|| Bracket::new(black_box(de.clone())).expect("valid setup"));
    });

    // A Swiss event of 1,024 players four rounds in, one result short of round 5's end: the
    // last result pairs round 6.
    let mut swiss = Bracket::new(setup(Format::Swiss, 1024)).expect("valid setup");
    let round_five = |b: &Bracket| b.view().matches.iter().any(|m| m.round == 5);
    play(&mut swiss, round_five);
    let mut last = None;
    for m in swiss.view().matches {
        if m.status == Status::Ready {
            let entry = Entry::Result(Score {
                match_id: m.id,
                winner: m.players[0].clone(),
                score: [3, 1],
            });
            match &last {
                None => last = Some(entry),
                Some(_) => {
                    let previous = last.replace(entry).expect("set");
                    swiss.apply(&previous).expect("accepted");
                }
            }
        }
    }
    let last = last.expect("a ready match in round 5");
    group.bench_function("swiss-1024/clone-floor", |b| {
        b.iter(|| black_box(swiss.clone()));
    });
    group.bench_function("swiss-1024/pair-a-round", |b| {
        b.iter(|| {
            let mut bracket = swiss.clone();
            bracket.apply(black_box(&last)).expect("accepted");
            bracket
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
