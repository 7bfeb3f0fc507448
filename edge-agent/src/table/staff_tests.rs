//! Staff running a table by hand: balls entered by hand, undo of every kind of input (last in,
//! first out), score corrections and void with who and why, and their replay.

use serde_json::json;
use shared::protocol::DeviceEvent;
use shared::rules::{MatchSpec, Rejected};
use shared::sync::{Author, Record};

use super::*;

fn spec(game: &str, race_to: u32) -> MatchSpec {
    serde_json::from_value(json!({"game": game, "players": ["Ann", "Bo"], "race_to": race_to}))
        .expect("spec")
}

fn kim() -> Actor {
    Actor::Staff {
        name: Some("Kim".into()),
        id: None,
    }
}

/// A table that keeps every input it accepted, so a test can replay them into a fresh one.
struct Logged {
    table: Table,
    log: Vec<(TableInput, u64, u64)>,
}

impl Logged {
    fn new(game: &str, race_to: u32) -> Logged {
        let mut logged = Logged {
            table: Table::new("t1"),
            log: Vec::new(),
        };
        let start = TableInput::StartMatch {
            match_id: "m1".into(),
            spec: spec(game, race_to),
            player_ids: Default::default(),
            demo: false,
            by: None,
        };
        logged.input(start).expect("starts");
        logged
    }

    fn input(&mut self, input: TableInput) -> Result<Applied, Refused> {
        let seq = self.log.len() as u64 + 1;
        let at = seq * 1_000;
        let applied = self.table.apply(&input, seq, at)?;
        self.log.push((input, seq, at));
        Ok(applied)
    }

    fn staff(&mut self, action: serde_json::Value) -> Result<Applied, Refused> {
        let action: StaffAction = serde_json::from_value(action).expect("a staff action");
        self.input(TableInput::Staff {
            action,
            by: Some(kim()),
        })
    }

    fn ok(&mut self, action: serde_json::Value) -> Applied {
        let shown = action.to_string();
        self.staff(action)
            .unwrap_or_else(|error| panic!("{shown}: {error}"))
    }

    fn replayed(&self) -> Table {
        let mut again = Table::new("t1");
        for (input, seq, at) in &self.log {
            again.replay(input, *seq, *at).expect("replays");
        }
        again
    }

    fn state(&self) -> shared::rules::Report {
        self.table.view().state.expect("a match")
    }
}

#[test]
fn a_rack_scored_by_hand_is_ruled_like_one_from_the_sensors() {
    let mut t = Logged::new("nine-ball", 2);
    t.ok(json!({"action": "pocket", "ball": 1, "pocket": 2}));
    t.ok(json!({"action": "pocket", "ball": 1}));
    assert_eq!(
        t.table.view().shot.pocketed,
        vec![1],
        "a ball entered twice counts once"
    );
    t.ok(json!({"action": "end_turn"}));
    assert_eq!(
        t.state().shooter,
        0,
        "a ball made on the break keeps the breaker on"
    );
    t.ok(json!({"action": "pocket", "ball": 2}));
    t.ok(json!({"action": "cue_ball"}));
    assert!(t.table.view().shot.cue_ball_pocketed);
    t.ok(json!({"action": "end_turn"}));
    let state = t.state();
    assert!(
        state.foul && state.ball_in_hand && state.shooter == 1,
        "a scratch"
    );
    t.ok(json!({"action": "pocket", "ball": 9, "pocket": 4}));
    let applied = t.ok(json!({"action": "end_turn"}));
    assert_eq!(t.state().score, [0, 1]);
    let kinds: Vec<_> = applied.outbox.iter().map(Record::kind).collect();
    assert_eq!(kinds, ["rack_finished"]);

    for (action, why) in [
        (
            json!({"action": "pocket", "ball": 1, "pocket": 7}),
            "no pocket 7",
        ),
        (json!({"action": "pocket", "ball": 12}), "not in 9-ball"),
        (json!({"action": "pocket", "ball": 16}), "no ball 16"),
    ] {
        assert!(
            matches!(t.staff(action), Err(Refused::Rules(_))),
            "{why} is refused"
        );
    }
    // The next rack is racked: every ball of the game can drop again.
    t.ok(json!({"action": "pocket", "ball": 1}));
    assert_eq!(t.replayed().view(), t.table.view());
}

#[test]
fn undo_takes_back_each_entry_last_in_first_out_then_ruled_inputs() {
    let mut t = Logged::new("nine-ball", 3);
    t.ok(json!({"action": "end_turn"}));
    assert!(t.state().push_out_available);
    t.ok(json!({"action": "push_out"}));
    t.ok(json!({"action": "call", "ball": 1, "pocket": 3}));
    t.input(TableInput::Device {
        device: "ctl".into(),
        seq: 1,
        event: DeviceEvent::Pocket { ball: 4, pocket: 1 },
    })
    .expect("a sensor's pocket");
    t.ok(json!({"action": "pocket", "ball": 5}));
    t.ok(json!({"action": "cue_ball"}));
    let shot = |t: &Logged| {
        let s = t.table.view().shot;
        (
            s.push_out,
            s.called.map(|c| c.ball),
            s.pocketed,
            s.cue_ball_pocketed,
        )
    };
    assert_eq!(shot(&t), (true, Some(1), vec![4, 5], true));
    t.ok(json!({"action": "undo"}));
    assert_eq!(shot(&t), (true, Some(1), vec![4, 5], false));
    t.ok(json!({"action": "undo"}));
    assert_eq!(shot(&t), (true, Some(1), vec![4], false));
    t.ok(json!({"action": "undo"}));
    assert_eq!(
        shot(&t),
        (true, Some(1), vec![], false),
        "the sensor's ball too"
    );
    t.ok(json!({"action": "undo"}));
    assert_eq!(shot(&t), (true, None, vec![], false), "a call alone");
    t.ok(json!({"action": "undo"}));
    assert_eq!(shot(&t), (false, None, vec![], false), "a push-out alone");
    assert_eq!(t.state().shooter, 1);
    t.ok(json!({"action": "undo"}));
    assert_eq!(
        (t.state().shooter, t.state().break_shot),
        (0, true),
        "then the last ruled input: the break"
    );
    assert!(matches!(
        t.staff(json!({"action": "undo"})),
        Err(Refused::Rules(Rejected::NothingToUndo))
    ));
    t.ok(json!({"action": "safety"}));
    assert!(t.table.view().shot.safety);
    t.ok(json!({"action": "undo"}));
    assert!(!t.table.view().shot.safety, "a safety alone");
    assert_eq!(t.replayed().view(), t.table.view());
}

#[test]
fn corrections_are_ruled_recorded_with_who_and_why_and_undone() {
    let mut t = Logged::new("nine-ball", 3);
    let applied = t.ok(json!({"action": "adjust_rack", "player": 1, "delta": 1,
        "reason": "sensor missed the 9"}));
    assert_eq!(t.state().score, [0, 1]);
    let [Record::ResultCorrected(corrected)] = applied.outbox.as_slice() else {
        panic!("one correction: {:?}", applied.outbox);
    };
    assert_eq!(corrected.score, [0, 1]);
    assert_eq!(
        corrected.by,
        Some(Author::Staff {
            name: Some("Kim".into()),
            id: None,
        })
    );
    assert_eq!(corrected.reason.as_deref(), Some("sensor missed the 9"));

    for bad in [
        json!({"action": "adjust_rack", "player": 0, "delta": 1, "reason": " "}),
        json!({"action": "adjust_rack", "player": 0, "delta": -1, "reason": "below zero"}),
        json!({"action": "adjust_rack", "player": 3, "delta": 1, "reason": "no seat 3"}),
        json!({"action": "set_score", "score": [3, 3], "reason": "both at the race"}),
    ] {
        let shown = bad.to_string();
        assert!(matches!(t.staff(bad), Err(Refused::Rules(_))), "{shown}");
    }
    assert!(
        serde_json::from_value::<StaffAction>(json!({"action": "void"})).is_err(),
        "a reason is required"
    );

    let applied = t.ok(json!({"action": "set_score", "score": [3, 1], "reason": "paper sheet"}));
    let kinds: Vec<_> = applied.outbox.iter().map(Record::kind).collect();
    assert_eq!(kinds, ["result_corrected", "match_finished"]);
    assert_eq!(t.table.view().status, TableStatus::Finished);
    assert_eq!(t.state().match_winner, Some(0));

    let applied = t.ok(json!({"action": "undo"}));
    let [Record::ResultCorrected(undone)] = applied.outbox.as_slice() else {
        panic!("the undo is one correction: {:?}", applied.outbox);
    };
    assert_eq!(
        (undone.score, undone.match_finished),
        ([0, 1], false),
        "the result before the correction"
    );
    assert_eq!(
        undone.reason.as_deref(),
        Some("undo of a correction: paper sheet")
    );
    assert!(undone.by.is_some());
    assert_eq!(t.table.view().status, TableStatus::Playing);

    let applied = t.ok(json!({"action": "undo"}));
    let [Record::ResultCorrected(undone)] = applied.outbox.as_slice() else {
        panic!("{:?}", applied.outbox);
    };
    assert_eq!(undone.score, [0, 0]);
    assert_eq!(t.replayed().view(), t.table.view());
}

#[test]
fn a_voided_match_ends_without_a_winner_and_takes_nothing_more() {
    let mut t = Logged::new("eight-ball", 3);
    t.ok(json!({"action": "pocket", "ball": 3}));
    assert!(matches!(
        t.staff(json!({"action": "void", "reason": ""})),
        Err(Refused::Rules(Rejected::InvalidCorrection(_)))
    ));
    let applied = t.ok(json!({"action": "void", "reason": "players left"}));
    let [Record::MatchVoided(voided)] = applied.outbox.as_slice() else {
        panic!("{:?}", applied.outbox);
    };
    assert_eq!(voided.reason, "players left");
    assert_eq!(voided.voided_ms, t.log.last().map_or(0, |l| l.2));
    assert!(voided.by.is_some());

    let view = t.table.view();
    assert_eq!(view.status, TableStatus::Finished);
    assert_eq!(view.state.as_ref().and_then(|s| s.match_winner), None);
    let info = view.match_info.as_ref().and_then(|m| m.voided.clone());
    assert_eq!(
        info.map(|v| (v.reason, v.by)),
        Some(("players left".into(), Some(kim())))
    );
    assert!(
        view.shot.pocketed.is_empty(),
        "the shot in progress is dropped"
    );
    assert!(!t.table.lit());
    for action in [
        json!({"action": "undo"}),
        json!({"action": "end_turn"}),
        json!({"action": "void", "reason": "again"}),
        json!({"action": "set_score", "score": [1, 0], "reason": "x"}),
    ] {
        assert!(
            matches!(t.staff(action), Err(Refused::Rules(Rejected::MatchOver))),
            "a voided match takes no more actions"
        );
    }
    t.input(TableInput::Device {
        device: "ctl".into(),
        seq: 1,
        event: DeviceEvent::Pocket { ball: 5, pocket: 1 },
    })
    .expect("a sensor still reports");
    assert!(t.table.view().shot.pocketed.is_empty(), "and is ignored");
    assert_eq!(t.replayed().view(), t.table.view());

    let next = TableInput::StartMatch {
        match_id: "m2".into(),
        spec: spec("eight-ball", 3),
        player_ids: Default::default(),
        demo: false,
        by: None,
    };
    t.input(next).expect("a new match can start");
    assert_eq!(t.table.view().status, TableStatus::Playing);
}

#[test]
fn the_log_keeps_corrections_and_void_with_who_made_them() {
    let input = TableInput::Staff {
        action: StaffAction::SetScore {
            score: [2, 1],
            reason: "paper".into(),
        },
        by: Some(kim()),
    };
    let text = serde_json::to_string(&input).expect("json");
    assert_eq!(
        text,
        r#"{"input":"staff","action":{"action":"set_score","score":[2,1],"reason":"paper"},"by":{"role":"staff","name":"Kim"}}"#
    );
    let back: TableInput = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, input);
}
