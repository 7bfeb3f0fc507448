//! The shot clock at a table, as data: logged inputs (the event log's JSON) at their receive times,
//! and after each what the view must show (a subset of its JSON). Every scenario is then replayed
//! from its log into a fresh table, which must end in the same view: replay is exact.

use serde_json::{Value, json};

use super::*;

/// `(received_ms, logged input, expected ⊆ view)`; an expectation `{"refused": true}` means the
/// input must be refused (and change nothing).
type Step = (u64, Value, Value);

fn subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| subset(v, av))),
        _ => expected == actual,
    }
}

fn start(game: &str, clock: Value) -> Value {
    json!({"input": "start_match", "match_id": "m1",
           "spec": {"game": game, "players": ["Ann", "Bo"], "race_to": 3, "rules": {"shot_clock": clock}}})
}

fn pocket(seq: u64, ball: u8) -> Value {
    json!({"input": "device", "device": "ctl", "seq": seq, "event": {"type": "pocket", "ball": ball, "pocket": 2}})
}

fn camera(seq: u64, event: Value) -> Value {
    json!({"input": "device", "device": "cam", "seq": seq, "event": event})
}

fn staff(action: Value) -> Value {
    json!({"input": "staff", "action": action, "by": {"role": "staff"}})
}

fn tick(event: &str) -> Value {
    json!({"input": "shot_clock", "event": event})
}

fn check(name: &str, steps: &[Step]) {
    let mut table = Table::new("t1");
    let mut log = Vec::new();
    for (n, (at, input, expect)) in steps.iter().enumerate() {
        let input: TableInput = serde_json::from_value(input.clone())
            .unwrap_or_else(|error| panic!("{name} step {n}: not a logged input: {error}"));
        let seq = n as u64 + 1;
        let before = serde_json::to_value(table.view()).expect("view");
        let result = table.apply(&input, seq, *at);
        let view = serde_json::to_value(table.view()).expect("view");
        if expect.get("refused") == Some(&json!(true)) {
            assert!(result.is_err(), "{name} step {n}: must be refused");
            let (mut was, mut now) = (before.clone(), view.clone());
            was["seq"] = json!(0);
            now["seq"] = json!(0);
            assert_eq!(was, now, "{name} step {n}: a refused input changes nothing");
            continue;
        }
        assert!(result.is_ok(), "{name} step {n}: refused: {result:?}");
        log.push((seq, *at, input));
        assert!(
            subset(expect, &view),
            "{name}, step {n} at {at} ms: expected {expect}, got {view:#}"
        );
    }
    let mut replayed = Table::new("t1");
    for (seq, at, input) in &log {
        replayed.replay(input, *seq, *at).expect("replays");
    }
    let (mut a, mut b) = (
        serde_json::to_value(table.view()).expect("view"),
        serde_json::to_value(replayed.view()).expect("view"),
    );
    a["seq"] = json!(0);
    b["seq"] = json!(0);
    assert_eq!(a, b, "{name}: the replay ends in the same view");
}

fn wpa() -> Value {
    json!({"seconds": 35, "first_shot_seconds": 60, "extension_seconds": 25, "warning_seconds": 10})
}

#[test]
#[rustfmt::skip] // a table of steps, one per line
fn on_a_table_without_a_camera_the_clock_runs_from_the_end_of_the_last_shot() {
    check(
        "sensors only: expiry is a time foul with ball in hand",
        &[
            (0, start("nine-ball", wpa()), json!({"shot_clock": {"running": false, "shooter": null, "extensions_left": [1, 1]}})),
            // The break is not timed.
            (1_000, pocket(1, 1), json!({"shot_clock": {"running": false}})),
            (2_000, staff(json!({"action": "end_turn"})),
                json!({"shooter": 0, "shot_clock": {"running": true, "shooter": 0, "first_shot": true, "deadline_ms": 62_000, "remaining_ms": 60_000}})),
            (52_000, tick("warning"), json!({"shot_clock": {"warning": true, "remaining_ms": 10_000}})),
            (62_000, tick("expired"),
                json!({"shooter": 1, "ball_in_hand": true, "foul": true, "foul_reasons": ["shot_clock"],
                       "consecutive_fouls": [1, 0],
                       "shot_clock": {"running": true, "shooter": 1, "first_shot": false, "deadline_ms": 97_000, "warning": false}})),
            // A ball dropping is the stroke: the clock stops until the shot is ruled.
            (70_000, pocket(2, 2), json!({"shot_clock": {"running": false, "shooter": null}})),
            // Staff take the shot in progress back: Bo is to shoot again, on a fresh 35 s.
            (80_000, staff(json!({"action": "undo"})), json!({"shooter": 1, "shot_clock": {"running": true, "deadline_ms": 115_000}})),
            (90_000, pocket(3, 3), json!({"shot_clock": {"running": false}})),
            (200_000, staff(json!({"action": "end_turn"})), json!({"shooter": 1, "shot_clock": {"running": true, "deadline_ms": 235_000}})),
        ],
    );
}

#[test]
#[rustfmt::skip] // a table of steps, one per line
fn with_a_camera_the_clock_runs_from_shot_end_to_shot_start() {
    check(
        "camera brackets",
        &[
            (0, start("eight-ball", wpa()), json!({"shot_clock": {"running": false}})),
            (100, camera(1, json!({"type": "shot_start"})), json!({"shot_clock": {"running": false}})),
            (900, camera(2, json!({"type": "rail_contact"})), json!({})),
            (3_000, camera(3, json!({"type": "shot_end", "balls": []})),
                json!({"shooter": 1, "shot_clock": {"running": true, "shooter": 1, "first_shot": true, "deadline_ms": 63_000}})),
            (10_000, camera(4, json!({"type": "shot_start"})), json!({"shot_clock": {"running": false, "remaining_ms": null}})),
            // An expiry the clock does not agree with (no shot timed) is refused.
            (70_000, tick("expired"), json!({"refused": true})),
            (12_000, camera(5, json!({"type": "shot_end", "balls": []})),
                json!({"shooter": 0, "shot_clock": {"running": true, "shooter": 0, "first_shot": false, "deadline_ms": 47_000}})),
        ],
    );
}

#[test]
#[rustfmt::skip] // a table of steps, one per line
fn staff_pause_resume_and_grant_extensions() {
    check(
        "staff",
        &[
            (0, start("ten-ball", wpa()), json!({})),
            (1_000, staff(json!({"action": "shot_clock_pause"})), json!({"shot_clock": {"paused": true}})),
            (2_000, staff(json!({"action": "end_turn"})),
                json!({"shooter": 1, "shot_clock": {"running": false, "paused": true, "remaining_ms": 60_000, "deadline_ms": null}})),
            // The first shot after the break has no extension.
            (3_000, staff(json!({"action": "shot_clock_extension"})), json!({"refused": true})),
            (10_000, staff(json!({"action": "shot_clock_resume"})), json!({"shot_clock": {"running": true, "deadline_ms": 70_000}})),
            (11_000, staff(json!({"action": "shot_clock_resume"})), json!({"refused": true})),
            (20_000, staff(json!({"action": "foul"})), json!({"shooter": 0, "shot_clock": {"shooter": 0, "deadline_ms": 55_000}})),
            (30_000, staff(json!({"action": "shot_clock_extension", "player": 0})),
                json!({"shot_clock": {"deadline_ms": 80_000, "extensions_left": [0, 1]}})),
            (31_000, staff(json!({"action": "shot_clock_extension"})), json!({"refused": true})),
            // Undo of the foul: Bo shoots again, and it is the first shot after the break again (60 s).
            (40_000, staff(json!({"action": "undo"})),
                json!({"shooter": 1, "shot_clock": {"shooter": 1, "first_shot": true, "deadline_ms": 100_000}})),
        ],
    );
}

#[test]
fn a_match_without_a_clock_has_none_and_refuses_clock_actions() {
    let mut table = Table::new("t1");
    let spec = json!({"input": "start_match", "match_id": "m1",
                      "spec": {"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 3}});
    let spec: TableInput = serde_json::from_value(spec).expect("input");
    table.apply(&spec, 1, 0).expect("starts");
    assert_eq!(table.view().shot_clock, None);
    assert_eq!(table.clock_due(1_000_000), None);
    let pause: TableInput =
        serde_json::from_value(staff(json!({"action": "shot_clock_pause"}))).expect("input");
    assert!(matches!(table.apply(&pause, 2, 1), Err(Refused::NoClock)));
    let expired: TableInput = serde_json::from_value(tick("expired")).expect("input");
    assert!(matches!(table.apply(&expired, 2, 1), Err(Refused::NoClock)));
}

#[test]
fn the_timer_asks_for_the_warning_then_the_expiry() {
    let mut table = Table::new("t1");
    for (seq, (at, input)) in [
        (0, start("nine-ball", wpa())),
        (1_000, staff(json!({"action": "end_turn"}))),
    ]
    .into_iter()
    .enumerate()
    {
        let input: TableInput = serde_json::from_value(input).expect("input");
        table.apply(&input, seq as u64 + 1, at).expect("applies");
    }
    // Bo's first shot after the (empty) break: 60 s from 1 s.
    assert_eq!(table.clock_due(50_999), None);
    assert_eq!(table.clock_due(51_000), Some(ClockTick::Warning));
    assert_eq!(table.clock_due(61_000), Some(ClockTick::Expired));
    assert_eq!(table.clock_due(64_000), Some(ClockTick::Restart));
}
