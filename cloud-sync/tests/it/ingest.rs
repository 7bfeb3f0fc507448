//! `POST /api/v1/sync/batches` against the real PostgreSQL, answer by answer of docs/sync.md.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{App, rec, spawn_app};

async fn stored(app: &App) -> i64 {
    app.count("SELECT count(*) FROM sync_records").await
}

/// The match as projected (waits for the projection first).
async fn match_row(app: &App, mid: &str) -> Value {
    app.projected().await;
    sqlx::query_scalar(
        "SELECT jsonb_build_object('score', score, 'winner', winner, 'finished', finished,
            'racks', (SELECT count(*) FROM racks r WHERE r.match_id = m.id),
            'players', players, 'table', table_id, 'game', game)
         FROM matches m WHERE venue_id = $1 AND venue_match_id = $2",
    )
    .bind(&app.venue)
    .bind(mid)
    .fetch_one(&app.pool)
    .await
    .expect("match stored")
}

#[tokio::test]
async fn a_batch_is_applied_and_acknowledged() {
    let app = spawn_app().await;
    let answer = app.post(&app.batch("e1", rec::whole_match(1, "m-1"))).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(
        answer.body,
        json!({"acked_seq": 4, "applied": 4, "duplicates": 0, "conflicts": []})
    );
    assert_eq!(stored(&app).await, 4);
    let row = match_row(&app, "m-1").await;
    assert_eq!(
        row,
        json!({"score": [2, 0], "winner": 0, "finished": true, "racks": 2,
               "players": ["Ann", "Bo"], "table": "t3", "game": "nine-ball"})
    );
    assert_eq!(
        app.count("SELECT count(*) FROM venue_tables WHERE table_id = 't3'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT sum(racks_won) FROM match_player_stats")
            .await,
        2
    );
}

#[tokio::test]
async fn a_repeated_batch_is_acknowledged_again_and_stores_nothing_twice() {
    let app = spawn_app().await;
    let batch = app.batch("e1", rec::whole_match(1, "m-1"));
    assert_eq!(app.post(&batch).await.status, StatusCode::OK);
    let again = app.post(&batch).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.body,
        json!({"acked_seq": 4, "applied": 0, "duplicates": 4, "conflicts": []})
    );
    assert_eq!(stored(&app).await, 4);
    app.projected().await;
    assert_eq!(app.count("SELECT count(*) FROM racks").await, 2);
    assert_eq!(app.count("SELECT count(*) FROM matches").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM sync_conflicts").await, 0);
}

#[tokio::test]
async fn an_overlapping_batch_applies_only_what_is_new() {
    let app = spawn_app().await;
    let records = rec::whole_match(1, "m-1");
    let first = app.post(&app.batch("e1", records[..2].to_vec())).await;
    assert_eq!(first.body["acked_seq"], 2);
    let overlap = app.post(&app.batch("e1", records[1..].to_vec())).await;
    assert_eq!(
        overlap.body,
        json!({"acked_seq": 4, "applied": 2, "duplicates": 1, "conflicts": []})
    );
    assert_eq!(stored(&app).await, 4);
    assert_eq!(match_row(&app, "m-1").await["racks"], 2);
}

#[tokio::test]
async fn a_known_seq_with_other_content_is_a_flagged_conflict() {
    let app = spawn_app().await;
    let first = app
        .post(&app.batch(
            "e1",
            vec![rec::started(1, "m-1"), rec::rack(2, "m-1", 1, 0, [1, 0])],
        ))
        .await;
    assert_eq!(first.status, StatusCode::OK);
    // Record 2 again, but Bo won the rack this time; record 3 is new.
    let answer = app
        .post(&app.batch(
            "e1",
            vec![
                rec::rack(2, "m-1", 1, 1, [0, 1]),
                rec::rack(3, "m-1", 2, 0, [2, 0]),
            ],
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body,
        json!({"acked_seq": 3, "applied": 1, "duplicates": 0, "conflicts": [2]})
    );
    assert_eq!(
        app.count("SELECT count(*) FROM sync_conflicts WHERE seq = 2")
            .await,
        1
    );
    // The first version of record 2 stands.
    app.projected().await;
    assert_eq!(
        app.count("SELECT winner::int8 FROM racks WHERE ordinal = 1")
            .await,
        0
    );
}

/// `value` with every object's keys in reverse order (serde_json keeps insertion order here).
fn keys_reversed(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .rev()
                .map(|(k, v)| (k.clone(), keys_reversed(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(keys_reversed).collect()),
        other => other.clone(),
    }
}

/// `records` as another sender might format them: payload keys reversed, pretty-printed.
fn reformatted(app: &App, records: &[Value]) -> Vec<u8> {
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r["payload"] = keys_reversed(&r["payload"]);
            r
        })
        .collect();
    serde_json::to_string_pretty(&app.batch("e1", records))
        .expect("JSON")
        .into_bytes()
}

/// An app that has stored one whole match (`m-1`, seqs 1..=4), and that match's records.
async fn app_with_a_match() -> (App, Vec<Value>) {
    let app = spawn_app().await;
    let records = rec::whole_match(1, "m-1");
    assert_eq!(
        app.post(&app.batch("e1", records.clone())).await.status,
        StatusCode::OK
    );
    (app, records)
}

#[tokio::test]
async fn a_resend_formatted_differently_is_a_duplicate_and_a_changed_value_a_conflict() {
    let (app, records) = app_with_a_match().await;
    // Same content, other bytes (key order, whitespace): other hashes, equal as jsonb.
    let body = reformatted(&app, &records);
    assert!(body.contains(&b'\n'), "pretty-printed");
    let answer = app.post_raw(Some(&app.key), body, false).await;
    assert_eq!(
        answer.body,
        json!({"acked_seq": 4, "applied": 0, "duplicates": 4, "conflicts": []})
    );
    // A changed value stays a conflict, in either form.
    let mut changed = records[1].clone();
    changed["payload"]["stats"][0]["fouls"] = json!(2);
    let answer = app
        .post_raw(Some(&app.key), reformatted(&app, &[changed.clone()]), false)
        .await;
    assert_eq!(
        answer.body,
        json!({"acked_seq": 4, "applied": 0, "duplicates": 0, "conflicts": [2]})
    );
    let answer = app
        .post(&app.batch("e1", vec![changed, records[2].clone()]))
        .await;
    assert_eq!(
        answer.body,
        json!({"acked_seq": 4, "applied": 0, "duplicates": 1, "conflicts": [2]})
    );
    assert_eq!(app.count("SELECT count(*) FROM sync_conflicts").await, 2);
    assert_eq!(stored(&app).await, 4);
}

#[tokio::test]
async fn records_stored_with_another_hash_are_compared_by_content() {
    let (app, records) = app_with_a_match().await;
    // As if stored under another hashing of the payload (an older cloud-sync, another form).
    sqlx::query("UPDATE sync_records SET content_hash = '\\x00'::bytea")
        .execute(&app.pool)
        .await
        .expect("update");
    let answer = app.post(&app.batch("e1", records.clone())).await;
    assert_eq!(
        answer.body,
        json!({"acked_seq": 4, "applied": 0, "duplicates": 4, "conflicts": []})
    );
    // The kind counts too, not only the payload.
    let mut other_kind = records[0].clone();
    other_kind["kind"] = json!("rejected");
    other_kind["payload"] = json!({"original_kind": "match_started", "reason": "test"});
    let mut other_score = records[3].clone();
    other_score["payload"]["score"] = json!([2, 1]);
    let answer = app
        .post(&app.batch(
            "e1",
            vec![
                other_kind,
                records[1].clone(),
                records[2].clone(),
                other_score,
            ],
        ))
        .await;
    assert_eq!(
        answer.body,
        json!({"acked_seq": 4, "applied": 0, "duplicates": 2, "conflicts": [1, 4]})
    );
    assert_eq!(app.count("SELECT count(*) FROM sync_conflicts").await, 2);
}

#[tokio::test]
async fn a_gap_is_answered_with_the_expected_seq_and_nothing_is_stored() {
    let app = spawn_app().await;
    let records = rec::whole_match(1, "m-1");
    app.post(&app.batch("e1", records[..2].to_vec())).await;
    let gap = app.post(&app.batch("e1", rec::whole_match(5, "m-2"))).await;
    assert_eq!(gap.status, StatusCode::CONFLICT);
    assert_eq!(gap.body["expected_seq"], 3);
    assert!(gap.body["error"].is_string());
    assert_eq!(stored(&app).await, 2);
    app.projected().await;
    assert_eq!(app.count("SELECT count(*) FROM matches").await, 1);
    // A first batch must start at 1.
    let late = app.post(&app.batch("e2", rec::whole_match(2, "m-3"))).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(late.body["expected_seq"], 1);
}

#[tokio::test]
async fn an_invalid_record_is_named_and_nothing_of_its_batch_is_stored() {
    let app = spawn_app().await;
    let mut records = rec::whole_match(1, "m-1");
    records[2]["payload"]["winner"] = json!(7);
    let answer = app.post(&app.batch("e1", records)).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["seq"], 3, "{:?}", answer.body);
    assert_eq!(stored(&app).await, 0);
    assert_eq!(app.count("SELECT count(*) FROM matches").await, 0);
    // An unknown kind, and a record whose seq breaks the run, are named too.
    let mut records = rec::whole_match(1, "m-1");
    records[1]["kind"] = json!("teleport");
    assert_eq!(app.post(&app.batch("e1", records)).await.body["seq"], 2);
    let mut records = rec::whole_match(1, "m-1");
    records[3]["seq"] = json!(9);
    let answer = app.post(&app.batch("e1", records)).await;
    assert_eq!(
        (answer.status, answer.body["seq"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(9))
    );
    // A `rejected` placeholder keeps the sequence and changes nothing else.
    let answer = app
        .post(&app.batch(
            "e1",
            vec![json!({"seq": 1, "kind": "rejected", "match_id": "m-1",
                        "payload": {"original_kind": "rack_finished", "reason": "bad winner"}})],
        ))
        .await;
    assert_eq!(answer.body["acked_seq"], 1);
    app.projected().await;
    assert_eq!(app.count("SELECT count(*) FROM matches").await, 0);
}

#[tokio::test]
async fn oversized_batches_get_413() {
    let app = spawn_app().await;
    let records: Vec<Value> = (1..=1001)
        .map(|seq| rec::rack(seq, "m-1", 1, 0, [1, 0]))
        .collect();
    let answer = app.post(&app.batch("e1", records)).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    // More than 8 MiB of body.
    let mut big = app.batch("e1", vec![rec::started(1, "m-1")]);
    big["records"][0]["payload"]["note"] = json!("x".repeat(9 << 20));
    let answer = app.post(&big).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    // A gzip bomb: a small body that inflates past the bound.
    let mut bomb = app.batch("e1", vec![rec::started(1, "m-1")]);
    bomb["records"][0]["payload"]["note"] = json!(" ".repeat(9 << 20));
    let compressed = crate::helpers::gzip_bytes(bomb.to_string().as_bytes());
    assert!(compressed.len() < 200_000);
    let answer =
        crate::helpers::post_raw(&app.http, &app.base, Some(&app.key), compressed, false).await;
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "gzip bytes sent as JSON"
    );
    let answer = app
        .post_raw(Some(&app.key), bomb.to_string().into_bytes(), true)
        .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(stored(&app).await, 0);
}

#[tokio::test]
async fn missing_and_unknown_keys_get_401() {
    let app = spawn_app().await;
    let body = app.batch("e1", rec::whole_match(1, "m-1")).to_string();
    let answer = app.post_raw(None, body.clone().into_bytes(), false).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.body["error"].is_string());
    let forged = cloud_sync::venues::keys::generate();
    let answer = app.post_raw(Some(&forged), body.into_bytes(), false).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(stored(&app).await, 0);
}

#[tokio::test]
async fn a_key_cannot_write_another_venues_data() {
    let app = spawn_app().await;
    let (other, _) = cloud_sync::venues::create_venue(&app.pool, "Other Hall")
        .await
        .expect("venue");
    let mut batch = app.batch("e1", rec::whole_match(1, "m-1"));
    batch["venue_id"] = json!(other);
    let answer = app.post(&batch).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.body["error"].is_string());
    assert_eq!(stored(&app).await, 0);
    assert_eq!(app.count("SELECT count(*) FROM sync_cursors").await, 0);
}

#[tokio::test]
async fn gzip_bodies_are_accepted_and_garbage_gets_400() {
    let app = spawn_app().await;
    let body = app.batch("e1", rec::whole_match(1, "m-1")).to_string();
    let answer = app.post_raw(Some(&app.key), body.into_bytes(), true).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["applied"], 4);
    let answer = app
        .post_raw(Some(&app.key), b"{not json".to_vec(), false)
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let answer = app
        .post_raw(Some(&app.key), b"\x1f\x8b garbage".to_vec(), false)
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn two_epochs_of_one_venue_are_independent() {
    let app = spawn_app().await;
    let a = app
        .post(&app.batch("epochA", rec::whole_match(1, "a-1")))
        .await;
    let b = app
        .post(&app.batch("epochB", rec::whole_match(1, "b-1")[..2].to_vec()))
        .await;
    assert_eq!(
        (a.body["acked_seq"].clone(), b.body["acked_seq"].clone()),
        (json!(4), json!(2))
    );
    let a2 = app
        .post(&app.batch("epochA", rec::whole_match(5, "a-2")))
        .await;
    assert_eq!(a2.body["acked_seq"], 8);
    assert_eq!(stored(&app).await, 10);
    app.projected().await;
    assert_eq!(app.count("SELECT count(*) FROM matches").await, 3);
}

#[tokio::test]
async fn a_correction_takes_back_racks_and_the_result() {
    let app = spawn_app().await;
    let answer = app.post(&app.batch("e1", rec::whole_match(1, "m-1"))).await;
    assert_eq!(answer.status, StatusCode::OK);
    // Staff undo the last rack: one rack left, the match is on again.
    let answer = app
        .post(&app.batch("e1", vec![rec::corrected(5, "m-1", [1, 0], 1, false)]))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let row = match_row(&app, "m-1").await;
    assert_eq!(
        (
            row["racks"].clone(),
            row["winner"].clone(),
            row["finished"].clone(),
            row["score"].clone()
        ),
        (json!(1), Value::Null, json!(false), json!([1, 0]))
    );
    // Within one batch: rack 2 again, a correction back to 1, then rack 2 for the other player.
    let answer = app
        .post(&app.batch(
            "e1",
            vec![
                rec::rack(6, "m-1", 2, 0, [2, 0]),
                rec::corrected(7, "m-1", [1, 0], 1, false),
                rec::rack(8, "m-1", 2, 1, [1, 1]),
            ],
        ))
        .await;
    assert_eq!(answer.body["applied"], 3);
    assert_eq!(match_row(&app, "m-1").await["racks"], 2);
    assert_eq!(
        app.count("SELECT winner::int8 FROM racks WHERE ordinal = 2")
            .await,
        1
    );
}

#[tokio::test]
async fn a_venue_over_its_rate_limit_gets_429_with_retry_after() {
    let db = crate::helpers::test_db(crate::helpers::PG).await;
    let mut config = crate::helpers::config(&db);
    config.limits.venue_per_window = 2;
    let app = crate::helpers::spawn_with(db, config).await;
    let batch = app.batch("e1", rec::whole_match(1, "m-1"));
    assert_eq!(app.post(&batch).await.status, StatusCode::OK);
    assert_eq!(app.post(&batch).await.status, StatusCode::OK);
    let refused = app.post(&batch).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&wait), "{wait}");
    // Reads are limited by address, not by venue.
    assert_eq!(
        app.get("/api/v1/venues", false).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_client_address_over_its_rate_limit_gets_429() {
    let db = crate::helpers::test_db(crate::helpers::PG).await;
    let mut config = crate::helpers::config(&db);
    config.limits.addr_per_window = 3;
    let app = crate::helpers::spawn_with(db, config).await;
    for _ in 0..3 {
        assert_eq!(
            app.get("/api/v1/venues", false).await.status,
            StatusCode::OK
        );
    }
    let refused = app.get("/api/v1/venues", false).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers.contains_key("retry-after"));
    // Monitoring is never limited.
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.expect("text");
    assert!(
        text.contains("dojo_rate_limited_total{scope=\"addr\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_rotated_key_works_and_a_revoked_one_does_not() {
    let app = spawn_app().await;
    let new_key = cloud_sync::venues::add_venue_key(&app.pool, &app.venue)
        .await
        .expect("add")
        .expect("venue exists");
    assert!(
        cloud_sync::venues::add_venue_key(&app.pool, "nowhere")
            .await
            .expect("add")
            .is_none()
    );
    let body = app.batch("e1", rec::whole_match(1, "m-1")).to_string();
    let answer = app
        .post_raw(Some(&new_key), body.clone().into_bytes(), false)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        cloud_sync::venues::revoke_venue_key(&app.pool, &app.key)
            .await
            .expect("revoke")
    );
    let answer = app.post_raw(Some(&app.key), body.into_bytes(), false).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn concurrent_copies_of_a_batch_are_applied_once() {
    let app = spawn_app().await;
    let batch = app.batch("e1", rec::whole_match(1, "m-1"));
    let answers = futures_util::future::join_all((0..6).map(|_| app.post(&batch))).await;
    let mut applied = 0;
    let mut duplicates = 0;
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        assert_eq!(answer.body["acked_seq"], 4);
        applied += answer.body["applied"].as_u64().unwrap_or(0);
        duplicates += answer.body["duplicates"].as_u64().unwrap_or(0);
    }
    assert_eq!((applied, duplicates), (4, 20));
    assert_eq!(stored(&app).await, 4);
    app.projected().await;
    assert_eq!(app.count("SELECT count(*) FROM racks").await, 2);
}
