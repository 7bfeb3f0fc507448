//! The tournament fold: the draft (entries, check-in, seeds), the start, calls, results from
//! tables and by hand, and which match is called to which table.

use shared::bracket::{Entry, Forfeit, Format, Options, Score, Status};
use shared::rules::Game;
use shared::sync::Record;

use super::*;

fn create(players: &[&str]) -> Tournament {
    let input = TournamentInput::Create {
        name: "Friday 8-ball".into(),
        game: Game::EightBall,
        format: Format::DoubleElimination,
        options: Options::default(),
        entrants: Vec::new(),
        tables: Vec::new(),
        imported: false,
        by: None,
    };
    let mut t = Tournament::create("t1", &input, 1_000).expect("created");
    for p in players {
        t.apply(
            &TournamentInput::AddEntrant {
                name: (*p).into(),
                player_id: None,
            },
            1_000,
        )
        .expect("entered");
        t.apply(
            &TournamentInput::CheckIn {
                name: (*p).into(),
                checked_in: true,
            },
            1_000,
        )
        .expect("checked in");
    }
    t
}

fn players(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("P{i:02}")).collect()
}

#[test]
fn a_draft_takes_entries_check_in_and_seeds_until_the_start() {
    let mut t = create(&["Ann", "Bob", "Cy"]);
    let twice = t.apply(
        &TournamentInput::AddEntrant {
            name: " ann ".into(),
            player_id: None,
        },
        0,
    );
    assert!(
        matches!(twice, Err(TournamentError::Conflict(_))),
        "{twice:?}"
    );
    let blank = t.apply(
        &TournamentInput::AddEntrant {
            name: "  ".into(),
            player_id: None,
        },
        0,
    );
    assert!(matches!(blank, Err(TournamentError::Invalid(_))));
    // Checked out players are not seeded; the default order is entry order.
    t.apply(
        &TournamentInput::CheckIn {
            name: "Bob".into(),
            checked_in: false,
        },
        0,
    )
    .expect("check out");
    assert_eq!(t.seed_order(), ["Ann", "Cy"]);
    let unknown = t.apply(
        &TournamentInput::Seed {
            players: vec!["Bob".into()],
        },
        0,
    );
    assert!(
        matches!(unknown, Err(TournamentError::Invalid(_))),
        "{unknown:?}"
    );
    t.apply(
        &TournamentInput::Seed {
            players: vec!["cy".into()],
        },
        0,
    )
    .expect("seeded");
    assert_eq!(
        t.seed_order(),
        ["Cy", "Ann"],
        "seeded first, the rest in entry order"
    );
    t.apply(&TournamentInput::RemoveEntrant { name: "Cy".into() }, 0)
        .expect("removed");
    assert_eq!(t.seed_order(), ["Ann"]);
    assert!(matches!(
        t.apply(&TournamentInput::RemoveEntrant { name: "Zed".into() }, 0),
        Err(TournamentError::NoEntrant(_))
    ));
    assert_eq!(t.status(), TournamentStatus::Draft);
    assert!(t.plan(&["1".into()]).is_empty(), "a draft calls nothing");
}

#[test]
fn a_name_with_control_characters_or_too_long_is_refused() {
    assert!(clean_name("a\u{7}b", "x").is_err());
    assert!(clean_name(&"x".repeat(MAX_NAME + 1), "x").is_err());
    assert_eq!(
        clean_name("  Ann Lee ", "x").ok().as_deref(),
        Some("Ann Lee")
    );
}

#[test]
fn the_start_draws_the_bracket_and_records_it() {
    let names = players(4);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut t = create(&refs);
    let effects = t
        .apply(&TournamentInput::Start { by: None }, 5_000)
        .expect("started");
    let Some(Record::TournamentStarted(started)) = effects.records.first() else {
        panic!("a tournament_started record: {:?}", effects.records);
    };
    assert_eq!(started.setup.players, names);
    assert_eq!(started.started_ms, 5_000);
    assert_eq!(t.status(), TournamentStatus::Running);
    let late = t.apply(
        &TournamentInput::AddEntrant {
            name: "Late".into(),
            player_id: None,
        },
        6_000,
    );
    assert!(matches!(late, Err(TournamentError::Conflict(_))));
}

#[test]
fn ready_matches_go_to_free_tables_and_a_result_frees_the_players() {
    let names = players(8);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut t = create(&refs);
    t.apply(&TournamentInput::Start { by: None }, 0)
        .expect("started");
    let tables: Vec<String> = vec!["1".into(), "2".into()];
    let planned = t.plan(&tables);
    assert_eq!(planned.len(), 2, "two tables, two calls: {planned:?}");
    assert_eq!(planned[0].table, "1");
    assert_eq!(planned[0].race_to, DEFAULT_RACE);
    for (n, plan) in planned.iter().enumerate() {
        let effects = t
            .apply(
                &TournamentInput::Call {
                    bracket_match: plan.bracket_match.clone(),
                    table: plan.table.clone(),
                    table_match: format!("m{n}"),
                },
                100,
            )
            .expect("called");
        assert!(matches!(
            effects.records.first(),
            Some(Record::TournamentCalled(_))
        ));
    }
    // Both tables are called: nothing more to plan on them.
    assert!(t.plan(&tables).is_empty());
    let first = planned[0].clone();
    let twice = t.apply(
        &TournamentInput::Call {
            bracket_match: first.bracket_match.clone(),
            table: "3".into(),
            table_match: "m9".into(),
        },
        100,
    );
    assert!(matches!(twice, Err(TournamentError::Conflict(_))));
    // The table's result enters the bracket: the call ends (not released: its match is over).
    let result = Entry::Result(Score {
        match_id: first.bracket_match.clone(),
        winner: Some(first.players[0].clone()),
        score: [5, 2],
    });
    let effects = t
        .apply(
            &TournamentInput::Entry {
                entry: result,
                table_match: Some("m0".into()),
                by: None,
            },
            200,
        )
        .expect("entered");
    assert!(effects.released.is_empty());
    let Some(Record::TournamentEntered(entered)) = effects.records.first() else {
        panic!("{:?}", effects.records);
    };
    assert_eq!(entered.ordinal, 1);
    assert!(t.call_of("m0").is_none());
    assert!(t.call_of("m1").is_some());
    // Those who have not played wait longest: the next call on table 1 is a first-round match.
    let next = t.plan(&["1".into()]);
    assert_eq!(next.len(), 1);
    assert!(
        next[0].players.iter().all(|p| !first.players.contains(p)),
        "{next:?}"
    );
}

#[test]
fn staff_deciding_a_called_match_releases_its_table() {
    let names = players(4);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut t = create(&refs);
    t.apply(&TournamentInput::Start { by: None }, 0)
        .expect("started");
    let plan = t.plan(&["1".into()]).remove(0);
    t.apply(
        &TournamentInput::Call {
            bracket_match: plan.bracket_match.clone(),
            table: "1".into(),
            table_match: "m1".into(),
        },
        10,
    )
    .expect("called");
    let forfeit = Entry::Forfeit(Forfeit {
        match_id: plan.bracket_match.clone(),
        player: plan.players[1].clone(),
    });
    let effects = t
        .apply(
            &TournamentInput::Entry {
                entry: forfeit,
                table_match: None,
                by: None,
            },
            20,
        )
        .expect("forfeited");
    assert_eq!(effects.released.len(), 1, "the table match is to be voided");
    assert_eq!(effects.released[0].table_match, "m1");
    let done = t
        .bracket()
        .and_then(|b| b.match_view(&plan.bracket_match))
        .expect("the match");
    assert_eq!(done.status, Status::Done);
}

#[test]
fn a_kept_table_takes_only_its_matches_and_they_wait_for_it() {
    let names = players(4);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut t = create(&refs);
    t.apply(&TournamentInput::Start { by: None }, 0)
        .expect("started");
    let queue = t.queue();
    assert_eq!(queue.len(), 2, "{queue:?}");
    let kept = queue[1].0.id.clone();
    t.apply(
        &TournamentInput::Reserve {
            table: "tv".into(),
            matches: vec![kept.clone()],
        },
        0,
    )
    .expect("kept");
    // Only the TV table is free: only its match goes there.
    let planned = t.plan(&["tv".into()]);
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0].bracket_match, kept);
    // Only another table is free: the kept match waits for the TV table.
    let planned = t.plan(&["2".into()]);
    assert_eq!(planned.len(), 1);
    assert_ne!(planned[0].bracket_match, kept);
}

#[test]
fn a_replay_of_the_logged_inputs_gives_the_same_tournament() {
    let names = players(4);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let t = create(&refs);
    let mut log: Vec<TournamentInput> = vec![TournamentInput::Start { by: None }];
    let mut live = t.clone();
    live.apply(&log[0], 0).expect("started");
    let plan = live.plan(&["1".into()]).remove(0);
    let call = TournamentInput::Call {
        bracket_match: plan.bracket_match,
        table: "1".into(),
        table_match: "m1".into(),
    };
    live.apply(&call, 5).expect("called");
    log.push(call);
    let json: Vec<String> = log
        .iter()
        .map(|i| serde_json::to_string(i).expect("json"))
        .collect();
    let mut replayed = t;
    for (n, line) in json.iter().enumerate() {
        let input: TournamentInput = serde_json::from_str(line).expect("read back");
        replayed
            .apply(&input, if n == 0 { 0 } else { 5 })
            .expect("applies");
    }
    assert_eq!(replayed.view(600_000), live.view(600_000));
}
