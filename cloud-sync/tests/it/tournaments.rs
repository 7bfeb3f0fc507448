//! Tournaments online: real accounts, real sync batches, real PostgreSQL and Redis. Writers
//! create and run registration (cap, waiting list, check-in, notifications); a venue pulls only
//! its own planned tournaments; once the venue starts one, its records are mirrored (the view is
//! the engine's own for the same entries), the cloud refuses changes, and a venue naming another
//! venue's tournament is refused without touching it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::bracket::{Bracket, Entry, Format, Options, Races, Score, Setup, Status};
use shared::rules::MatchSpec;
use shared::sync::{
    MatchStarted, Record, TournamentCalled, TournamentEntered, TournamentList, TournamentMatch,
    TournamentStarted,
};

use crate::helpers::{Answer, App, Persona, post_raw, spawn_app};
use cloud_sync::accounts::Role;

/// A verified user with a public player profile named `name`.
async fn player(app: &App, name: &str) -> (Persona, String) {
    let player = cloud_sync::players::create_player(&app.pool, name, None)
        .await
        .expect("player");
    let persona = app.persona(name, true, &[]).await;
    sqlx::query("UPDATE users SET player_id = $1 WHERE id = $2")
        .bind(&player.id)
        .bind(&persona.id)
        .execute(&app.pool)
        .await
        .expect("link the player");
    app.make_public(&player.id).await;
    (persona, player.id)
}

async fn call(
    app: &App,
    method: Method,
    path: &str,
    who: Option<&Persona>,
    body: Option<Value>,
) -> Answer {
    app.call(method, path, who.map(|p| p.token.as_str()), body.as_ref())
        .await
}

/// A tournament body starting in a day, registration open now.
fn draft(name: &str, cap: Option<u32>) -> Value {
    json!({"name": name, "format": "single-elimination", "options": {"race": {"to": 3}},
           "starts_at": "2099-01-01T18:00:00Z", "cap": cap})
}

async fn create(app: &App, venue: &str, who: &Persona, body: Value) -> String {
    let answer = call(
        app,
        Method::POST,
        &format!("/api/v1/venues/{venue}/tournaments"),
        Some(who),
        Some(body),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.body["id"].as_str().expect("id").to_owned()
}

/// Notifications of `kind` for `user`, their payloads.
async fn notified(app: &App, user: &str, kind: &str) -> Vec<Value> {
    sqlx::query_scalar("SELECT payload FROM notifications WHERE user_id = $1 AND kind = $2")
        .bind(user)
        .bind(kind)
        .fetch_all(&app.pool)
        .await
        .expect("notifications")
}

/// Posts typed records as `venue` with `key`, seqs from `first`, and waits for the projections.
async fn sync(app: &App, venue: &str, key: &str, first: u64, records: &[Record]) {
    let records: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            json!({"seq": first + i as u64, "kind": record.kind(),
                   "match_id": record.match_id().expect("keyed"),
                   "payload": serde_json::from_str::<Value>(&record.payload_text().expect("json"))
                       .expect("payload")})
        })
        .collect();
    let batch = json!({"venue_id": venue, "epoch": "e1", "records": records});
    let answer = post_raw(
        &app.http,
        &app.base,
        Some(key),
        batch.to_string().into_bytes(),
        false,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    app.projected().await;
}

#[tokio::test]
async fn writers_create_and_change_tournaments_and_nobody_else_can() {
    let app = spawn_app().await;
    let venue = app.venue.clone();
    let (venue_b, _) = cloud_sync::venues::create_venue(&app.pool, "Other Hall")
        .await
        .expect("venue B");
    let organiser = app
        .persona("org", true, &[(Role::Organiser, Some(&venue))])
        .await;
    let manager_b = app
        .persona("mgr-b", true, &[(Role::VenueManager, Some(&venue_b))])
        .await;
    let (someone, _) = player(&app, "Someone").await;
    let path = format!("/api/v1/venues/{venue}/tournaments");
    for (who, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(&someone), StatusCode::FORBIDDEN),
        (Some(&manager_b), StatusCode::FORBIDDEN),
    ] {
        let answer = call(&app, Method::POST, &path, who, Some(draft("Nope", None))).await;
        assert_eq!(answer.status, status, "{}", answer.body);
        assert!(answer.body["error"].is_string());
    }
    for bad in [
        json!({"name": "x"}),
        json!({"name": "x", "format": "single-elimination", "starts_at": "soon"}),
        json!({"name": "x", "format": "single-elimination", "starts_at": "2099-01-01T18:00:00Z",
               "registration_closes_at": "2099-01-02T18:00:00Z"}),
    ] {
        let answer = call(&app, Method::POST, &path, Some(&organiser), Some(bad)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    }
    let id = create(&app, &venue, &organiser, draft("Friday 9-ball", Some(8))).await;
    let mut private = draft("Staff cup", None);
    private["public"] = json!(false);
    let hidden = create(&app, &venue, &organiser, private).await;

    let listed = call(&app, Method::GET, &path, None, None).await;
    assert_eq!(listed.status, StatusCode::OK);
    let names: Vec<&str> = listed.body["tournaments"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["Friday 9-ball"]);
    let summary = &listed.body["tournaments"][0];
    assert_eq!(summary["status"], "registration");
    assert_eq!(summary["venue_name"], "Test Hall");
    assert_eq!(summary["starts_at"], "2099-01-01T18:00:00.000Z");
    assert_eq!(
        (summary["cap"].clone(), summary["registered"].clone()),
        (json!(8), json!(0))
    );
    let as_writer = call(&app, Method::GET, &path, Some(&organiser), None).await;
    assert_eq!(
        as_writer.body["tournaments"].as_array().map(Vec::len),
        Some(2)
    );
    let one = format!("/api/v1/tournaments/{hidden}");
    assert_eq!(
        call(&app, Method::GET, &one, None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, Method::GET, &one, Some(&someone), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, Method::GET, &one, Some(&organiser), None)
            .await
            .status,
        StatusCode::OK
    );

    let one = format!("/api/v1/tournaments/{id}");
    let patch = Some(json!({"name": "Friday 9-ball open", "cap": null}));
    assert_eq!(
        call(&app, Method::PATCH, &one, Some(&manager_b), patch.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let changed = call(&app, Method::PATCH, &one, Some(&organiser), patch).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["name"], "Friday 9-ball open");
    assert_eq!(changed.body["cap"], Value::Null);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action LIKE 'tournament.%'")
            .await,
        3
    );

    // Cancelling tells the registrants; afterwards it is in the past and refuses changes.
    let (ann, _) = player(&app, "Ann").await;
    let registered = call(
        &app,
        Method::POST,
        &format!("{one}/registrations"),
        Some(&ann),
        None,
    )
    .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    assert_eq!(
        call(&app, Method::DELETE, &one, Some(&someone), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, Method::DELETE, &one, Some(&organiser), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        notified(&app, &ann.id, "tournament_cancelled").await.len(),
        1
    );
    assert_eq!(
        call(&app, Method::DELETE, &one, Some(&organiser), None)
            .await
            .status,
        StatusCode::CONFLICT
    );
    let past = call(&app, Method::GET, &format!("{path}?when=past"), None, None).await;
    assert_eq!(past.body["tournaments"][0]["status"], "cancelled");
    let bad = call(&app, Method::GET, &format!("{path}?when=soon"), None, None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn registration_fills_the_cap_then_waits_and_a_withdrawal_moves_the_first_up() {
    let app = spawn_app().await;
    let venue = app.venue.clone();
    let organiser = app
        .persona("org", true, &[(Role::Organiser, Some(&venue))])
        .await;
    let id = create(&app, &venue, &organiser, draft("Cup", Some(2))).await;
    let one = format!("/api/v1/tournaments/{id}");
    let register = format!("{one}/registrations");
    let unverified = app.persona("unverified", false, &[]).await;
    let answer = call(&app, Method::POST, &register, Some(&unverified), None).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert_eq!(
        call(&app, Method::POST, &register, None, None).await.status,
        StatusCode::UNAUTHORIZED
    );

    let (ann, _) = player(&app, "Ann").await;
    let (bo, _) = player(&app, "Bo").await;
    // Cy has no player profile yet: registering makes one.
    let cy = app.persona("Cy", true, &[]).await;
    let mut places = Vec::new();
    for who in [&ann, &bo, &cy] {
        let answer = call(&app, Method::POST, &register, Some(who), None).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        places.push(answer.body);
    }
    assert_eq!(
        places,
        [
            json!({"status": "registered", "position": 1}),
            json!({"status": "registered", "position": 2}),
            json!({"status": "waitlisted", "position": 1}),
        ]
    );
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE display_name = 'Cy' AND player_id IS NOT NULL")
            .await,
        1
    );
    let again = call(&app, Method::POST, &register, Some(&ann), None).await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    // Check-in is not open yet; the waiting list cannot check in.
    let check_in = format!("{one}/check-in");
    assert_eq!(
        call(&app, Method::POST, &check_in, Some(&bo), None)
            .await
            .status,
        StatusCode::CONFLICT
    );

    // Ann withdraws: Cy moves up and is told.
    let mine = format!("{register}/me");
    assert_eq!(
        call(&app, Method::DELETE, &mine, Some(&ann), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, Method::DELETE, &mine, Some(&ann), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let promoted = notified(&app, &cy.id, "tournament_promoted").await;
    assert_eq!(promoted.len(), 1);
    assert_eq!(promoted[0]["tournament_id"], json!(id));
    assert!(
        notified(&app, &bo.id, "tournament_promoted")
            .await
            .is_empty()
    );

    // Only writers open check-in; the players with a place are told, once.
    let open = format!("{one}/open-check-in");
    assert_eq!(
        call(&app, Method::POST, &open, Some(&bo), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let opened = call(&app, Method::POST, &open, Some(&organiser), None).await;
    assert_eq!(opened.body, json!({"opened": true}));
    let reopened = call(&app, Method::POST, &open, Some(&organiser), None).await;
    assert_eq!(reopened.body, json!({"opened": false}));
    for who in [&bo, &cy] {
        assert_eq!(
            notified(&app, &who.id, "tournament_check_in").await.len(),
            1
        );
    }
    assert!(
        notified(&app, &ann.id, "tournament_check_in")
            .await
            .is_empty()
    );
    let checked = call(&app, Method::POST, &check_in, Some(&bo), None).await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);
    assert_eq!(checked.body, json!({"status": "checked_in"}));
    assert_eq!(
        call(&app, Method::POST, &check_in, Some(&ann), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let detail = call(&app, Method::GET, &one, Some(&cy), None).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert_eq!(detail.body["status"], "check_in");
    assert_eq!(detail.body["registered"], 2);
    let entrants: Vec<(String, String)> = detail.body["entrants"]
        .as_array()
        .expect("entrants")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or("?").to_owned(),
                e["status"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    // Cy's new profile is private: masked for others, but Cy sees their own name.
    assert_eq!(
        entrants,
        [
            ("Bo".into(), "checked_in".into()),
            ("Cy".into(), "registered".into())
        ]
    );
    assert_eq!(
        detail.body["you"],
        json!({"status": "registered", "position": 2})
    );
    let public = call(&app, Method::GET, &one, None, None).await;
    assert_eq!(public.body["entrants"][1]["name"], "Private player 2");
    assert_eq!(public.body["entrants"][1]["player_id"], Value::Null);
    assert_eq!(public.body["you"], Value::Null);
    assert_eq!(public.body["bracket"], Value::Null);
}

#[tokio::test]
async fn a_venue_pulls_only_its_own_planned_tournaments() {
    let app = spawn_app().await;
    let venue = app.venue.clone();
    let (venue_b, key_b) = cloud_sync::venues::create_venue(&app.pool, "Other Hall")
        .await
        .expect("venue B");
    let admin = app.persona("admin", true, &[(Role::Admin, None)]).await;
    let mine = create(&app, &venue, &admin, draft("Ours", None)).await;
    let theirs = create(&app, &venue_b, &admin, draft("Theirs", None)).await;
    let (ann, ann_player) = player(&app, "Ann").await;
    call(
        &app,
        Method::POST,
        &format!("/api/v1/tournaments/{mine}/registrations"),
        Some(&ann),
        None,
    )
    .await;

    let pulled = app.get("/api/v1/sync/tournaments", true).await;
    assert_eq!(pulled.status, StatusCode::OK, "{}", pulled.body);
    let list: TournamentList = serde_json::from_value(pulled.body).expect("a TournamentList");
    assert_eq!(list.tournaments.len(), 1);
    let planned = &list.tournaments[0];
    assert_eq!(
        (planned.id.as_str(), planned.name.as_str()),
        (mine.as_str(), "Ours")
    );
    assert_eq!(planned.format, Format::SingleElimination);
    assert_eq!(planned.options.race.to, Some(3));
    assert_eq!(planned.entrants.len(), 1);
    assert_eq!(
        planned.entrants[0].player_id.as_deref(),
        Some(ann_player.as_str())
    );
    let b = app
        .call(Method::GET, "/api/v1/sync/tournaments", Some(&key_b), None)
        .await;
    let ids: Vec<&str> = b.body["tournaments"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(ids, [theirs.as_str()]);
    let person = call(
        &app,
        Method::GET,
        "/api/v1/sync/tournaments",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(person.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/v1/sync/tournaments", false).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// The setup a venue starts: Ann and Bo registered online, two walk-ins.
fn setup() -> Setup {
    Setup {
        format: Format::SingleElimination,
        players: ["Ann", "Bo", "Cy", "Di"].map(str::to_owned).to_vec(),
        options: Options {
            race: Races {
                to: Some(3),
                ..Races::default()
            },
            ..Options::default()
        },
    }
}

/// The first ready match of `bracket` won 3–1 by its first player.
fn next_result(bracket: &Bracket) -> Entry {
    let ready = bracket
        .view()
        .matches
        .into_iter()
        .find(|m| m.status == Status::Ready)
        .expect("a ready match");
    Entry::Result(Score {
        match_id: ready.id,
        winner: ready.players[0].clone(),
        score: [3, 1],
    })
}

#[tokio::test]
async fn a_started_tournament_is_mirrored_from_the_venue_and_owned_by_it() {
    let app = spawn_app().await;
    let venue = app.venue.clone();
    let organiser = app
        .persona("org", true, &[(Role::Organiser, Some(&venue))])
        .await;
    let manager = app
        .persona("mgr", true, &[(Role::VenueManager, Some(&venue))])
        .await;
    let id = create(&app, &venue, &organiser, draft("Cup", None)).await;
    let (ann, ann_player) = player(&app, "Ann").await;
    let (bo, bo_player) = player(&app, "Bo").await;
    let one = format!("/api/v1/tournaments/{id}");
    for who in [&ann, &bo] {
        call(
            &app,
            Method::POST,
            &format!("{one}/registrations"),
            Some(who),
            None,
        )
        .await;
    }

    // The venue starts it and plays two results, calls the final and starts its table match.
    let mut bracket = Bracket::new(setup()).expect("a bracket");
    let mut records = vec![Record::TournamentStarted(TournamentStarted {
        tournament_id: id.clone(),
        name: "Cup".into(),
        setup: setup(),
        player_ids: vec![
            Some(ann_player.clone()),
            Some(bo_player.clone()),
            None,
            None,
        ],
        started_ms: 1_795_000_000_000,
        by: None,
    })];
    for ordinal in 1..=2 {
        let entry = next_result(&bracket);
        bracket.apply(&entry).expect("the engine takes it");
        records.push(Record::TournamentEntered(TournamentEntered {
            tournament_id: id.clone(),
            ordinal,
            entry,
            table_match: None,
            at_ms: 1_795_000_100_000,
            by: None,
        }));
    }
    let fin = bracket
        .view()
        .matches
        .into_iter()
        .find(|m| m.status == Status::Ready)
        .expect("the final");
    let finalists = [
        fin.players[0].clone().expect("a finalist"),
        fin.players[1].clone().expect("a finalist"),
    ];
    records.push(Record::TournamentCalled(TournamentCalled {
        tournament_id: id.clone(),
        bracket_match: fin.id.clone(),
        table: "t7".into(),
        players: finalists.clone(),
        called_ms: 1_795_000_200_000,
    }));
    records.push(Record::MatchStarted(MatchStarted {
        match_id: "m-final".into(),
        table: "t7".into(),
        spec: serde_json::from_value(json!({"game": "nine-ball",
            "players": finalists, "race_to": 3}))
        .map(|s: MatchSpec| s)
        .expect("spec"),
        player_ids: [None, None],
        started_ms: 1_795_000_210_000,
        by: None,
        tournament: Some(TournamentMatch {
            tournament_id: id.clone(),
            bracket_match: fin.id.clone(),
        }),
    }));
    sync(&app, &venue, &app.key.clone(), 1, &records).await;

    // The venue's full-data readers see the engine's own view.
    let detail = call(&app, Method::GET, &one, Some(&manager), None).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert_eq!(detail.body["status"], "running");
    assert_eq!(
        detail.body["bracket"],
        serde_json::to_value(bracket.view()).expect("view")
    );
    assert_eq!(detail.body["registered"], 4);
    assert_eq!(
        detail.body["entrants"][2],
        json!({"name": "Cy", "player_id": null,
                                                   "status": "checked_in", "position": 3})
    );
    let cloud_match: i64 = sqlx::query_scalar(
        "SELECT id FROM matches WHERE venue_id = $1 AND venue_match_id = 'm-final'",
    )
    .bind(&venue)
    .fetch_one(&app.pool)
    .await
    .expect("the table match");
    assert_eq!(
        detail.body["links"],
        json!({ fin.id.clone(): cloud_match.to_string() })
    );
    assert_eq!(detail.body["calls"][0]["table"], "t7");
    assert_eq!(detail.body["calls"][0]["match"], json!(fin.id));
    // The public sees walk-ins as guests.
    let public = call(&app, Method::GET, &one, None, None).await;
    assert_eq!(public.body["entrants"][2]["name"], "Guest 3");
    assert!(!public.body["bracket"].to_string().contains("\"Cy\""));

    // "You are up on table 7" for the finalists with accounts.
    for (persona, name) in [(&ann, "Ann"), (&bo, "Bo")] {
        let calls = notified(&app, &persona.id, "tournament_called").await;
        assert_eq!(
            calls.len(),
            usize::from(finalists.iter().any(|f| f == name)),
            "{name}"
        );
        if let Some(payload) = calls.first() {
            assert_eq!(payload["table"], "t7");
        }
    }

    // The venue owns it now.
    let patch = call(
        &app,
        Method::PATCH,
        &one,
        Some(&organiser),
        Some(json!({"name": "X"})),
    )
    .await;
    assert_eq!(patch.status, StatusCode::CONFLICT, "{}", patch.body);
    let (cy, _) = player(&app, "Cy").await;
    let late = call(
        &app,
        Method::POST,
        &format!("{one}/registrations"),
        Some(&cy),
        None,
    )
    .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(
        call(&app, Method::DELETE, &one, Some(&organiser), None)
            .await
            .status,
        StatusCode::CONFLICT
    );
    let pulled = app.get("/api/v1/sync/tournaments", true).await;
    assert_eq!(pulled.body["tournaments"], json!([]));

    // The final, then the players' histories.
    let entry = next_result(&bracket);
    bracket.apply(&entry).expect("the final");
    let last = Record::TournamentEntered(TournamentEntered {
        tournament_id: id.clone(),
        ordinal: 3,
        entry,
        table_match: Some("m-final".into()),
        at_ms: 1_795_000_900_000,
        by: None,
    });
    sync(&app, &venue, &app.key.clone(), 6, &[last]).await;
    let detail = call(&app, Method::GET, &one, Some(&manager), None).await;
    assert_eq!(detail.body["status"], "complete");
    assert_eq!(
        detail.body["bracket"],
        serde_json::to_value(bracket.view()).expect("view")
    );
    let standings = bracket.view().standings;
    let history = app
        .get(&format!("/api/v1/players/{ann_player}/tournaments"), false)
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    let row = &history.body["tournaments"][0];
    let ann_standing = standings.iter().find(|s| s.player == "Ann").expect("Ann");
    assert_eq!(row["id"], json!(id));
    assert_eq!(row["rank"], json!(ann_standing.rank));
    assert_eq!(row["wins"], json!(ann_standing.wins));
    assert_eq!(row["losses"], json!(ann_standing.losses));
    assert_eq!(row["status"], "complete");
    let nobody = app.get("/api/v1/players/nobody/tournaments", false).await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_venue_cannot_start_another_venues_tournament() {
    let app = spawn_app().await;
    let venue = app.venue.clone();
    let (venue_b, key_b) = cloud_sync::venues::create_venue(&app.pool, "Other Hall")
        .await
        .expect("venue B");
    let organiser = app
        .persona("org", true, &[(Role::Organiser, Some(&venue))])
        .await;
    let id = create(&app, &venue, &organiser, draft("Ours", None)).await;
    let hijack = [
        Record::TournamentStarted(TournamentStarted {
            tournament_id: id.clone(),
            name: "Hijacked".into(),
            setup: setup(),
            player_ids: Vec::new(),
            started_ms: 1_795_000_000_000,
            by: None,
        }),
        Record::TournamentEntered(TournamentEntered {
            tournament_id: id.clone(),
            ordinal: 1,
            entry: Entry::Withdraw("Ann".into()),
            table_match: None,
            at_ms: 1_795_000_100_000,
            by: None,
        }),
    ];
    sync(&app, &venue_b, &key_b, 1, &hijack).await;
    let detail = call(
        &app,
        Method::GET,
        &format!("/api/v1/tournaments/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(detail.body["name"], "Ours");
    assert_eq!(detail.body["venue_id"], json!(venue));
    assert_eq!(detail.body["status"], "registration");
    assert_eq!(detail.body["bracket"], Value::Null);
    assert_eq!(
        app.count("SELECT count(*) FROM tournament_entries").await,
        0
    );
    let refused: Vec<String> =
        sqlx::query_scalar("SELECT venue_id FROM tournament_refusals ORDER BY seq")
            .fetch_all(&app.pool)
            .await
            .expect("refusals");
    assert_eq!(refused, [venue_b.clone(), venue_b]);
    // Still planned for its own venue.
    let pulled = app.get("/api/v1/sync/tournaments", true).await;
    assert_eq!(pulled.body["tournaments"][0]["id"], json!(id));
}
