//! The shot clock as data: each scenario is a list of timed events and, after each, what the
//! clock's report must show (a subset of its JSON). `tick` stands for the caller's timer: it asks
//! `due` and applies what is due, as edge-agent's engine does (and logs) every 250 ms.

use serde_json::{Value, json};
use shared::rules::shot_clock::{ClockEvent, Outcome, ShotClock, ShotClockRules};

/// One step: at `at` ms, `event` (a `ClockEvent` as JSON, or `"tick"`), then `expect` ⊆ the report
/// (plus `"outcome"`: `"expired:N"`, `"refused"` or `"ok"`, and `"due"` for a tick).
type Step = (u64, &'static str, Value);

fn wpa() -> ShotClockRules {
    ShotClockRules::default()
}

fn subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| subset(v, av))),
        _ => expected == actual,
    }
}

fn check(name: &str, rules: ShotClockRules, steps: &[Step]) {
    let mut clock = ShotClock::new(rules);
    for (n, (at, event, expect)) in steps.iter().enumerate() {
        let (outcome, due) = if *event == "tick" {
            match clock.due(*at) {
                Some(due) => {
                    let outcome = clock.apply(*at, due.into());
                    (outcome, json!(due))
                }
                None => (Ok(Outcome::Nothing), Value::Null),
            }
        } else {
            let event: ClockEvent = serde_json::from_str(event)
                .unwrap_or_else(|error| panic!("{name} step {n}: bad event {event}: {error}"));
            (clock.apply(*at, event), Value::Null)
        };
        let mut actual = serde_json::to_value(clock.report()).expect("a report");
        actual["outcome"] = match outcome {
            Ok(Outcome::Nothing) => json!("ok"),
            Ok(Outcome::Expired { shooter }) => json!(format!("expired:{shooter}")),
            Err(_) => json!("refused"),
        };
        actual["due"] = due;
        assert!(
            subset(expect, &actual),
            "{name}, step {n} ({event} at {at} ms): expected {expect}, got {actual:#}"
        );
    }
}

const REST_A: &str = r#"{"event":"at_rest","shooter":0,"rack":1}"#;
const REST_B: &str = r#"{"event":"at_rest","shooter":1,"rack":1}"#;

#[test]
#[rustfmt::skip] // a table of steps, one per line
fn a_shot_is_timed_from_rest_to_the_stroke() {
    check(
        "35 s from rest, stopped by the stroke",
        wpa(),
        &[
            (0, r#"{"event":"off"}"#, json!({"running": false, "shooter": null, "remaining_ms": null})),
            (1_000, REST_A, json!({"running": true, "shooter": 0, "remaining_ms": 35_000, "deadline_ms": 36_000, "allowance_ms": 35_000, "first_shot": false})),
            (20_000, "tick", json!({"due": null, "running": true, "warning": false})),
            (21_000, r#"{"event":"stroke"}"#, json!({"running": false, "shooter": null, "deadline_ms": null})),
            // Nothing is due while the balls roll, however long.
            (90_000, "tick", json!({"due": null, "outcome": "ok"})),
            (95_000, REST_B, json!({"running": true, "shooter": 1, "deadline_ms": 130_000})),
        ],
    );
}

#[test]
#[rustfmt::skip] // a table of steps, one per line
fn the_warning_comes_at_ten_seconds_left_and_the_time_runs_out_at_zero() {
    check(
        "warning, then expiry",
        wpa(),
        &[
            (0, REST_A, json!({"deadline_ms": 35_000, "warning_ms": 10_000})),
            (24_999, "tick", json!({"due": null, "warning": false})),
            (25_000, "tick", json!({"due": "warning", "warning": true, "remaining_ms": 10_000})),
            // Given once.
            (25_250, "tick", json!({"due": null, "warning": true})),
            (34_999, "tick", json!({"due": null, "running": true})),
            (35_000, "tick", json!({"due": "expired", "outcome": "expired:0", "running": false, "shooter": null})),
            // Once expired, nothing more is due until the next shot comes to rest.
            (35_250, "tick", json!({"due": null})),
        ],
    );
}

#[test]
#[rustfmt::skip] // a table of steps, one per line
fn the_first_shot_after_the_break_has_sixty_seconds_and_no_extension() {
    check(
        "first shot after the break",
        wpa(),
        &[
            (0, r#"{"event":"at_rest","shooter":1,"first_after_break":true,"rack":1}"#,
                json!({"first_shot": true, "remaining_ms": 60_000, "deadline_ms": 60_000})),
            (10_000, r#"{"event":"extend"}"#, json!({"outcome": "refused", "deadline_ms": 60_000, "extensions_left": [1, 1]})),
            (49_999, "tick", json!({"due": null})),
            (50_000, "tick", json!({"due": "warning"})),
            (60_000, "tick", json!({"outcome": "expired:1"})),
        ],
    );
}

#[test]
#[rustfmt::skip] // a table of steps, one per line
fn one_extension_per_player_per_rack() {
    check(
        "extensions",
        wpa(),
        &[
            (0, REST_A, json!({"extensions_left": [1, 1]})),
            (30_000, "tick", json!({"due": "warning", "warning": true})),
            // 5 s left + 25 s: 30 s from now, and the warning is given again at 10 s left.
            (30_000, r#"{"event":"extend"}"#,
                json!({"outcome": "ok", "remaining_ms": 30_000, "deadline_ms": 60_000, "allowance_ms": 60_000, "warning": false, "extensions_left": [0, 1]})),
            (50_000, "tick", json!({"due": "warning"})),
            (55_000, r#"{"event":"stroke"}"#, json!({"running": false})),
            (60_000, REST_A, json!({"deadline_ms": 95_000, "extensions_left": [0, 1]})),
            (61_000, r#"{"event":"extend","player":0}"#, json!({"outcome": "refused", "deadline_ms": 95_000})),
            // Only the shooter takes an extension.
            (61_000, r#"{"event":"extend","player":1}"#, json!({"outcome": "refused", "extensions_left": [0, 1]})),
            (70_000, REST_B, json!({"shooter": 1})),
            (71_000, r#"{"event":"extend","player":1}"#, json!({"outcome": "ok", "deadline_ms": 130_000, "extensions_left": [0, 0]})),
            // A new rack gives both their extension back.
            (80_000, r#"{"event":"at_rest","shooter":0,"first_after_break":true,"rack":2}"#, json!({"extensions_left": [1, 1]})),
        ],
    );
}

#[test]
#[rustfmt::skip] // a table of steps, one per line
fn staff_pause_holds_the_time_left_and_resume_counts_on() {
    check(
        "pause and resume",
        wpa(),
        &[
            (0, REST_A, json!({"deadline_ms": 35_000})),
            (20_000, r#"{"event":"pause"}"#, json!({"paused": true, "running": false, "remaining_ms": 15_000, "deadline_ms": null})),
            (20_000, r#"{"event":"pause"}"#, json!({"outcome": "refused"})),
            // Held: nothing is due, however long.
            (200_000, "tick", json!({"due": null, "remaining_ms": 15_000})),
            (200_000, r#"{"event":"resume"}"#, json!({"paused": false, "running": true, "deadline_ms": 215_000})),
            (200_000, r#"{"event":"resume"}"#, json!({"outcome": "refused"})),
            (215_000, "tick", json!({"outcome": "expired:0"})),
        ],
    );
    check(
        "a shot that comes to rest while paused waits, in full",
        wpa(),
        &[
            (0, r#"{"event":"pause"}"#, json!({"paused": true, "shooter": null})),
            (5_000, REST_B, json!({"running": false, "paused": true, "remaining_ms": 35_000})),
            (9_000, r#"{"event":"resume"}"#, json!({"running": true, "deadline_ms": 44_000})),
        ],
    );
}

#[test]
#[rustfmt::skip] // a table of steps, one per line
fn events_out_of_turn_are_refused_and_change_nothing() {
    check(
        "refusals",
        wpa(),
        &[
            (0, r#"{"event":"expire"}"#, json!({"outcome": "refused"})),
            (0, r#"{"event":"extend"}"#, json!({"outcome": "refused"})),
            (0, REST_A, json!({"deadline_ms": 35_000})),
            // An expiry or a warning logged before its time is refused (a replay stays exact).
            (34_000, r#"{"event":"expire"}"#, json!({"outcome": "refused", "running": true})),
            (10_000, r#"{"event":"warn"}"#, json!({"outcome": "refused", "warning": false})),
        ],
    );
}

#[test]
#[rustfmt::skip] // a table of steps, one per line
fn a_deadline_long_past_restarts_the_shot_instead_of_a_foul() {
    check(
        "nobody kept time (the agent was stopped)",
        wpa(),
        &[
            (0, REST_A, json!({"deadline_ms": 35_000})),
            (38_000, "tick", json!({"due": "restart", "outcome": "ok", "running": true, "deadline_ms": 73_000, "warning": false})),
        ],
    );
}

#[test]
#[rustfmt::skip] // a table of steps, one per line
fn house_numbers_and_no_extensions() {
    let rules = ShotClockRules {
        seconds: 30,
        first_shot_seconds: 45,
        extension_seconds: 0,
        warning_seconds: 0,
    };
    check(
        "Matchroom-like numbers, no extension, no warning",
        rules,
        &[
            (0, REST_A, json!({"deadline_ms": 30_000, "extensions_left": [0, 0], "warning_ms": 0})),
            (1_000, r#"{"event":"extend"}"#, json!({"outcome": "refused"})),
            (29_999, "tick", json!({"due": null})),
            (30_000, "tick", json!({"due": "expired"})),
        ],
    );
}

#[test]
fn options_are_checked() {
    let bad = [
        json!({"seconds": 0}),
        json!({"seconds": 601}),
        json!({"seconds": 20, "warning_seconds": 20}),
        json!({"first_shot_seconds": 0}),
    ];
    for options in bad {
        let rules: ShotClockRules = serde_json::from_value(options.clone()).expect("parses");
        assert!(rules.validate().is_err(), "{options} must be refused");
    }
    let rules: ShotClockRules = serde_json::from_value(json!({})).expect("parses");
    assert_eq!(rules, ShotClockRules::default());
    assert!(rules.validate().is_ok());
    assert!(serde_json::from_value::<ShotClockRules>(json!({"secs": 3})).is_err());
}
