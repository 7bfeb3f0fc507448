//! Corrections and voids from a venue (docs/sync.md): a voided match is shown as voided and counts
//! for nobody in players' statistics; a correction keeps who made it and why. Real PostgreSQL.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{rec, spawn_app};

fn corrected_by(seq: u64, mid: &str, score: [i32; 2], reason: &str) -> Value {
    json!({"seq": seq, "kind": "result_corrected", "match_id": mid,
           "payload": {"match_id": mid, "table": "t3", "score": score, "rack": 2,
                       "racks_finished": 1, "match_finished": false,
                       "by": {"role": "staff", "name": "Kim"}, "reason": reason}})
}

fn voided(seq: u64, mid: &str, table: &str) -> Value {
    json!({"seq": seq, "kind": "match_voided", "match_id": mid,
           "payload": {"match_id": mid, "table": table, "reason": "players left",
                       "by": {"role": "staff", "name": "Kim"}, "voided_ms": 1_795_000_360_000u64}})
}

#[tokio::test]
async fn a_voided_match_counts_for_nobody_and_corrections_keep_who_and_why() {
    let app = spawn_app().await;
    let ann = cloud_sync::players::create_player(&app.pool, "Ann", None)
        .await
        .expect("player");
    app.make_public(&ann.id).await;

    // An invalid void is refused by number, like any record.
    let bad = app
        .post(&app.batch("e1", vec![voided(1, "m-0", "no table")]))
        .await;
    assert_eq!(
        bad.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        bad.body
    );
    assert_eq!(bad.body["seq"], 1, "{:?}", bad.body);

    // m-1: Ann wins rack 1, staff give Bo a rack (with why), then void the match.
    // m-2: Ann wins it.
    let mut records = vec![
        rec::started_with(1, "m-1", [Some(&ann.id), None]),
        rec::rack(2, "m-1", 1, 0, [1, 0]),
        corrected_by(3, "m-1", [1, 1], "sensor missed the 9"),
        voided(4, "m-1", "t3"),
        rec::started_with(5, "m-2", [Some(&ann.id), None]),
    ];
    records.extend(rec::whole_match(5, "m-2").into_iter().skip(1));
    let answer = app.post(&app.batch("e1", records)).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["acked_seq"], 8);

    let player = format!("/api/v1/players/{}", ann.id);
    let after = app
        .get_until(&player, |a| a.body["stats"]["wins"] == json!(1))
        .await;
    let stats = &after.body["stats"];
    assert_eq!(
        [
            &stats["matches"],
            &stats["finished"],
            &stats["wins"],
            &stats["losses"]
        ],
        [&json!(1), &json!(1), &json!(1), &json!(0)],
        "the voided match counts for nobody: {stats}"
    );
    assert_eq!(stats["racks_won"], 2, "only m-2's racks: {stats}");

    let list = app
        .get(&format!("/api/v1/venues/{}/matches", app.venue), false)
        .await;
    let matches = list.body["matches"].as_array().cloned().unwrap_or_default();
    let m1 = matches
        .iter()
        .find(|m| m["venue_match_id"] == "m-1")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (&m1["voided"], &m1["finished"], &m1["winner"], &m1["score"]),
        (&json!(true), &json!(true), &Value::Null, &json!([1, 1])),
        "{m1}"
    );
    let m2 = matches.iter().find(|m| m["venue_match_id"] == "m-2");
    assert_eq!(m2.map(|m| m["voided"].clone()), Some(json!(false)));

    let id = m1["id"].as_i64().expect("id");
    // Who corrected and voided is the venue's full data: read with its key.
    let detail = app.get(&format!("/api/v1/matches/{id}"), true).await;
    assert_eq!(detail.status, StatusCode::OK);
    let m = detail.body;
    assert_eq!(
        m["void"],
        json!({"reason": "players left", "by": {"role": "staff", "name": "Kim"},
               "voided_ms": 1_795_000_360_000u64}),
        "{m}"
    );
    assert_eq!(
        m["corrections"],
        json!([{"score": [1, 1], "match_finished": false, "racks_finished": 1,
                "by": {"role": "staff", "name": "Kim"}, "reason": "sensor missed the 9"}]),
        "{m}"
    );
    assert_eq!(
        m["racks"].as_array().map(Vec::len),
        Some(1),
        "the rack played stays"
    );

    let history = app.get(&format!("{player}/matches"), false).await;
    let seen: Vec<(Value, Value, Value)> = history.body["matches"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| {
            (
                m["venue_match_id"].clone(),
                m["voided"].clone(),
                m["won"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (json!("m-2"), json!(false), json!(true)),
            (json!("m-1"), json!(true), json!(false))
        ],
        "listed, marked voided, not won"
    );
}
