//! The table fold, input by input: shot assembly, sessions, refusals and the log format.

use serde_json::json;
use shared::protocol::{Button, DeviceEvent};
use shared::rules::MatchSpec;

use super::*;

fn spec(game: &str) -> MatchSpec {
    serde_json::from_value(
        json!({"game": game, "players": ["Ann", "Bo"], "race_to": 1, "break": "alternate"}),
    )
    .expect("spec")
}

fn device(seq: u64, event: DeviceEvent) -> TableInput {
    TableInput::Device {
        device: "ctl".into(),
        seq,
        event,
    }
}

/// Table `t1` with a match of `game` started at seq 1.
fn playing(game: &str) -> Table {
    let mut table = Table::new("t1");
    let start = TableInput::StartMatch {
        match_id: "m1".into(),
        spec: spec(game),
        player_ids: Default::default(),
        demo: false,
        by: None,
    };
    table.apply(&start, 1, 0).expect("start");
    table
}

#[test]
fn sessions_start_stop_light_and_come_back_from_the_stored_view() {
    let mut table = Table::new("t1");
    assert!(!table.lit());
    assert!(matches!(
        table.apply(&TableInput::SessionStop { by: None }, 1, 100),
        Err(Refused::NoSession)
    ));
    table
        .apply(&TableInput::SessionStart { by: None }, 1, 1_000)
        .expect("starts");
    assert!(table.lit() && table.session_running());
    assert!(matches!(
        table.apply(&TableInput::SessionStart { by: None }, 2, 2_000),
        Err(Refused::SessionRunning)
    ));
    let start = TableInput::StartMatch {
        match_id: "m1".into(),
        spec: spec("nine-ball"),
        player_ids: Default::default(),
        demo: false,
        by: None,
    };
    table
        .apply(&start, 2, 3_000)
        .expect("a match during a session");
    let concede = TableInput::Staff {
        action: StaffAction::Concede { player: None },
        by: None,
    };
    table.apply(&concede, 3, 4_000).expect("concedes");
    assert!(table.lit(), "the session keeps the light on");
    table
        .apply(&TableInput::SessionStop { by: None }, 4, 61_000)
        .expect("stops");
    assert!(!table.lit());
    let view = table.view();
    assert_eq!(
        view.session,
        Some(SessionView {
            started_ms: 1_000,
            stopped_ms: Some(61_000),
            elapsed_ms: Some(60_000)
        })
    );

    // Replayed from the match start (seq 2) after seeding from the last stored view.
    let stored = serde_json::to_string(&view).expect("json");
    let mut again = Table::new("t1");
    again.seed_session(&stored);
    for (seq, at, input) in [
        (2, 3_000, start),
        (3, 4_000, concede),
        (4, 61_000, TableInput::SessionStop { by: None }),
    ] {
        again.replay(&input, seq, at).expect("replays");
    }
    assert_eq!(again.view(), view);
}

#[test]
fn pockets_then_end_turn_make_one_shot() {
    let mut table = playing("nine-ball");
    table
        .apply(
            &device(1, DeviceEvent::Pocket { ball: 3, pocket: 2 }),
            2,
            10,
        )
        .expect("pocket");
    assert_eq!(table.view().shot.pocketed, vec![3]);
    table
        .apply(
            &device(
                2,
                DeviceEvent::Button {
                    button: Button::EndTurn,
                },
            ),
            3,
            20,
        )
        .expect("end turn");
    let view = table.view();
    assert!(view.shot.pocketed.is_empty());
    let state = view.state.expect("a match");
    assert!(!state.on_table.contains(3));
    assert_eq!(
        state.shooter, 0,
        "a ball made on the break keeps the breaker at the table"
    );
    table
        .apply(
            &device(3, DeviceEvent::Pocket { ball: 9, pocket: 1 }),
            4,
            30,
        )
        .expect("pocket");
    let applied = table
        .apply(&TableInput::QuietClose, 5, 40)
        .expect("quiet close");
    assert_eq!(table.view().state.expect("match").match_winner, Some(0));
    let kinds: Vec<_> = applied.outbox.iter().map(Record::kind).collect();
    assert_eq!(kinds, vec!["rack_finished", "match_finished"]);
}

#[test]
fn a_camera_bracket_observes_first_contact_and_rails() {
    let mut table = playing("nine-ball");
    table
        .apply(&device(1, DeviceEvent::Pocket { ball: 2, pocket: 2 }), 2, 0)
        .expect("break");
    table
        .apply(
            &device(
                2,
                DeviceEvent::Button {
                    button: Button::EndTurn,
                },
            ),
            3,
            0,
        )
        .expect("end");
    for (i, event) in [
        DeviceEvent::ShotStart,
        DeviceEvent::FirstContact { ball: 5 },
        DeviceEvent::ShotEnd { balls: vec![] },
    ]
    .into_iter()
    .enumerate()
    {
        table
            .apply(&device(3 + i as u64, event), 4 + i as u64, 0)
            .expect("camera");
    }
    let state = table.view().state.expect("match");
    assert!(state.foul, "hit the 5 before the 1, and no rail: a foul");
    assert_eq!(state.shooter, 1);
    assert!(state.ball_in_hand);
}

#[test]
fn impossible_sensor_facts_are_repaired_not_dropped() {
    let mut table = playing("nine-ball");
    table
        .apply(
            &device(
                1,
                DeviceEvent::Pocket {
                    ball: 12,
                    pocket: 2,
                },
            ),
            2,
            0,
        )
        .expect("ghost ball");
    table
        .apply(&device(2, DeviceEvent::Pocket { ball: 4, pocket: 2 }), 3, 0)
        .expect("pocket");
    let applied = table
        .apply(
            &device(
                3,
                DeviceEvent::Button {
                    button: Button::EndTurn,
                },
            ),
            4,
            0,
        )
        .expect("end");
    assert!(applied.repaired.is_some_and(|note| note.contains("12")));
    assert!(
        !table.view().state.expect("match").on_table.contains(4),
        "the real ball still counts"
    );
}

#[test]
fn staff_requests_the_rules_refuse_change_nothing() {
    let mut table = Table::new("t1");
    assert!(matches!(
        table.apply(
            &TableInput::Staff {
                action: StaffAction::Pass {},
                by: None,
            },
            1,
            0
        ),
        Err(Refused::NoMatch)
    ));
    table
        .apply(
            &TableInput::StartMatch {
                match_id: "m1".into(),
                spec: spec("eight-ball"),
                player_ids: Default::default(),
                demo: false,
                by: None,
            },
            2,
            0,
        )
        .expect("start");
    let before = table.view();
    assert!(
        table
            .apply(
                &TableInput::Staff {
                    action: StaffAction::Pass {},
                    by: None,
                },
                3,
                0
            )
            .is_err()
    );
    assert!(
        table
            .apply(
                &TableInput::Staff {
                    action: StaffAction::PushOut {},
                    by: None,
                },
                3,
                0
            )
            .is_err()
    );
    assert_eq!(table.view(), before);
    let start = TableInput::StartMatch {
        match_id: "m2".into(),
        spec: spec("nine-ball"),
        player_ids: Default::default(),
        demo: false,
        by: None,
    };
    assert!(matches!(table.apply(&start, 3, 0), Err(Refused::Busy)));
}

#[test]
fn staff_actions_refuse_unknown_fields() {
    let parse = |text: &str| serde_json::from_str::<StaffAction>(text);
    assert_eq!(
        parse(r#"{"action":"foul"}"#).ok(),
        Some(StaffAction::Foul {})
    );
    assert!(parse(r#"{"action":"foul","x":1}"#).is_err());
    assert!(parse(r#"{"action":"call","ball":3,"colour":"red"}"#).is_err());
    assert_eq!(
        serde_json::to_string(&StaffAction::EndTurn {})
            .ok()
            .as_deref(),
        Some(r#"{"action":"end_turn"}"#)
    );
}

#[test]
fn inputs_round_trip_through_the_log_format() {
    let inputs = vec![
        TableInput::StartMatch {
            match_id: "m1".into(),
            spec: spec("ten-ball"),
            player_ids: Default::default(),
            demo: false,
            by: None,
        },
        device(1, DeviceEvent::Pocket { ball: 0, pocket: 3 }),
        TableInput::Staff {
            action: StaffAction::Call {
                ball: 4,
                pocket: Some(2),
            },
            by: Some(Actor::Player { seat: 1 }),
        },
        TableInput::Staff {
            action: StaffAction::Safety {},
            by: Some(Actor::staff()),
        },
        TableInput::QuietClose,
        TableInput::Presence {
            device: "cam".into(),
            online: false,
        },
        TableInput::Missing {
            device: "ctl".into(),
            events: 2,
        },
    ];
    for input in inputs {
        let logged = serde_json::to_string(&input).expect("serialises");
        assert_eq!(
            serde_json::from_str::<TableInput>(&logged).expect("parses"),
            input,
            "{logged}"
        );
    }
}

#[test]
fn a_demo_match_leaves_nothing_for_the_outbox_and_says_so_in_its_view_and_log() {
    let mut table = Table::new("t1");
    let start = TableInput::StartMatch {
        match_id: "m1".into(),
        spec: spec("nine-ball"),
        player_ids: Default::default(),
        demo: true,
        by: None,
    };
    let logged = serde_json::to_value(&start).expect("JSON");
    assert_eq!(logged["demo"], true);
    let applied = table.apply(&start, 1, 0).expect("start");
    assert!(applied.outbox.is_empty(), "no match_started record");
    assert_eq!(
        serde_json::to_value(table.view()).expect("JSON")["match"]["demo"],
        true
    );
    let concede = TableInput::Staff {
        action: StaffAction::Concede { player: None },
        by: None,
    };
    let applied = table.apply(&concede, 2, 10).expect("conceded");
    assert!(applied.outbox.is_empty(), "no rack or match record either");
    // A real match after it is synced as ever, and logs without the flag.
    let real = TableInput::StartMatch {
        match_id: "m2".into(),
        spec: spec("nine-ball"),
        player_ids: Default::default(),
        demo: false,
        by: None,
    };
    assert!(
        serde_json::to_value(&real)
            .expect("JSON")
            .get("demo")
            .is_none()
    );
    let applied = table.apply(&real, 3, 20).expect("start");
    assert_eq!(applied.outbox.len(), 1);
}

#[test]
fn the_registry_label_shows_on_the_view_and_a_rename_is_a_logged_input() {
    let mut table = Table::new("t1");
    assert_eq!(
        (table.view().name, table.view().position),
        ("t1".to_owned(), 0)
    );
    let entry = crate::registry::Entry {
        table: "t1".into(),
        name: "Window".into(),
        position: 3,
        retired: false,
    };
    table.seed_label(Some(&entry));
    assert_eq!(table.view().name, "Window");
    let rename = TableInput::Registry {
        name: "Bar".into(),
        position: 1,
        retired: true,
        by: None,
    };
    let logged: TableInput =
        serde_json::from_value(serde_json::to_value(&rename).expect("JSON")).expect("read back");
    table.apply(&logged, 1, 0).expect("applies");
    let view = table.view();
    assert_eq!(
        (view.name.as_str(), view.position, view.retired),
        ("Bar", 1, true)
    );
}

/// Issue 17: who started a match, a session or a registry change is logged with the input, and
/// the match's `match_started` record carries it; logs written before (no `by`) replay as ever.
#[test]
fn staff_writes_log_who_made_them_and_old_logs_without_it_replay() {
    let lee = Actor::Staff {
        name: Some("Lee".into()),
        id: Some("u-lee".into()),
    };
    let mut table = Table::new("t1");
    let inputs = [
        TableInput::SessionStart {
            by: Some(lee.clone()),
        },
        TableInput::StartMatch {
            match_id: "m1".into(),
            spec: spec("nine-ball"),
            player_ids: Default::default(),
            demo: false,
            by: Some(lee.clone()),
        },
        TableInput::SessionStop {
            by: Some(lee.clone()),
        },
        TableInput::Registry {
            name: "Window".into(),
            position: 2,
            retired: false,
            by: Some(lee),
        },
    ];
    for (seq, input) in (1..).zip(&inputs) {
        let logged = serde_json::to_value(input).expect("JSON");
        assert_eq!(
            logged["by"],
            json!({"role": "staff", "name": "Lee", "id": "u-lee"}),
            "{logged}"
        );
        let applied = table.apply(input, seq, seq * 1_000).expect("applies");
        if let TableInput::StartMatch { .. } = input {
            match applied.outbox.as_slice() {
                [shared::sync::Record::MatchStarted(started)] => assert_eq!(
                    started.by,
                    Some(shared::sync::Author::Staff {
                        name: Some("Lee".into()),
                        id: Some("u-lee".into()),
                    })
                ),
                other => panic!("one match_started record, not {other:?}"),
            }
        }
    }

    // The same inputs as logged before `by` existed: read back with no one named, and replayed
    // to the same view (the match_started record then names no one).
    let old = [
        json!({"input": "session_start"}),
        json!({"input": "start_match", "match_id": "m1", "spec": spec("nine-ball")}),
        json!({"input": "session_stop"}),
        json!({"input": "registry", "name": "Window", "position": 2, "retired": false}),
    ];
    let mut replayed = Table::new("t1");
    for (seq, logged) in (1..).zip(old) {
        let input: TableInput = serde_json::from_value(logged.clone()).expect("an old log reads");
        assert_eq!(
            serde_json::to_value(&input).expect("JSON"),
            logged,
            "written as before"
        );
        let applied = replayed.replay(&input, seq, seq * 1_000).expect("replays");
        if let TableInput::StartMatch { by, .. } = &input {
            assert_eq!(by, &None);
            match applied.outbox.as_slice() {
                [shared::sync::Record::MatchStarted(started)] => assert_eq!(started.by, None),
                other => panic!("one match_started record, not {other:?}"),
            }
        }
    }
    assert_eq!(replayed.view(), table.view());
}
