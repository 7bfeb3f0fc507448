//! The read API: venues, a venue's matches, a match with its racks, a player's statistics and
//! history; keyset pages; JSON errors; the cache is invalidated by a sync.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{App, rec, spawn_app};

/// Follows `next` until the end; the items in order.
async fn all_pages(app: &App, path: &str, field: &str, limit: u32) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut after: Option<String> = None;
    loop {
        let url = match &after {
            Some(a) => format!("{path}?limit={limit}&after={a}"),
            None => format!("{path}?limit={limit}"),
        };
        let answer = app.get(&url, false).await;
        assert_eq!(answer.status, StatusCode::OK, "{url}: {:?}", answer.body);
        pages += 1;
        items.extend(answer.body[field].as_array().cloned().unwrap_or_default());
        match answer.body["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return (items, pages),
        }
    }
}

#[tokio::test]
async fn venues_and_their_matches_page_by_keyset() {
    let app = spawn_app().await;
    for name in ["B Hall", "C Hall"] {
        cloud_sync::venues::create_venue(&app.pool, name)
            .await
            .expect("venue");
    }
    let (venues, pages) = all_pages(&app, "/api/v1/venues", "venues", 2).await;
    assert_eq!((venues.len(), pages), (3, 2));
    let mut ids: Vec<&str> = venues.iter().filter_map(|v| v["id"].as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);

    let mut records = Vec::new();
    for m in 0..5u64 {
        records.extend(rec::whole_match(1 + 4 * m, &format!("m-{m}")));
    }
    assert_eq!(
        app.post(&app.batch("e1", records)).await.status,
        StatusCode::OK
    );
    app.projected().await;
    let path = format!("/api/v1/venues/{}/matches", app.venue);
    let (matches, pages) = all_pages(&app, &path, "matches", 2).await;
    assert_eq!((matches.len(), pages), (5, 3));
    let order: Vec<&str> = matches
        .iter()
        .filter_map(|m| m["venue_match_id"].as_str())
        .collect();
    assert_eq!(order, ["m-4", "m-3", "m-2", "m-1", "m-0"], "newest first");
    let venues = app.get("/api/v1/venues", false).await;
    let ours = venues.body["venues"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["id"] == json!(app.venue)).cloned())
        .expect("our venue");
    assert_eq!(ours["tables"], json!(["t3"]));
}

#[tokio::test]
async fn a_match_comes_with_its_racks_and_statistics() {
    let app = spawn_app().await;
    app.post(&app.batch("e1", rec::whole_match(1, "m-1"))).await;
    let list = app
        .get_until(&format!("/api/v1/venues/{}/matches", app.venue), |a| {
            a.body["matches"][0]["id"].is_i64()
        })
        .await;
    let id = list.body["matches"][0]["id"].as_i64().expect("id");
    let detail = app.get(&format!("/api/v1/matches/{id}"), false).await;
    assert_eq!(detail.status, StatusCode::OK);
    let m = detail.body;
    assert_eq!(m["venue_match_id"], "m-1");
    assert_eq!(m["venue_id"], json!(app.venue));
    assert_eq!(
        (m["winner"].clone(), m["score"].clone()),
        (json!(0), json!([2, 0]))
    );
    assert_eq!(m["racks"].as_array().map(Vec::len), Some(2));
    assert_eq!(m["racks"][1]["ordinal"], 2);
    assert_eq!(m["racks"][0]["shots"][1], json!({"action": "pass"}));
    assert_eq!(m["stats"][0]["racks_won"], 2);
    assert_eq!(m["spec"]["race_to"], 2);
    assert_eq!(m["inputs"], json!([]));
}

#[tokio::test]
async fn a_players_statistics_and_history_follow_syncs() {
    let app = spawn_app().await;
    let ann = cloud_sync::players::create_player(&app.pool, "Ann", Some(1500))
        .await
        .expect("player");
    app.make_public(&ann.id).await;
    let path = format!("/api/v1/players/{}", ann.id);
    let before = app.get(&path, false).await;
    assert_eq!(before.status, StatusCode::OK);
    assert_eq!(before.body["player"]["rating"], 1500);
    assert_eq!(before.body["stats"]["matches"], 0);
    // Asked again before any sync: served from the Redis cache.
    assert_eq!(app.get(&path, false).await.body, before.body);
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    let metrics = metrics.text().await.expect("text");
    assert!(
        metrics.contains("dojo_cache_total{result=\"hit\"} 1"),
        "{metrics}"
    );

    // Ann (seat 0) wins m-1, loses m-2.
    let mut records = vec![rec::started_with(1, "m-1", [Some(&ann.id), None])];
    records.extend(rec::whole_match(1, "m-1").into_iter().skip(1));
    records.push(rec::started_with(5, "m-2", [Some(&ann.id), None]));
    records.push(rec::finished(6, "m-2", 1, [0, 2]));
    let answer = app.post(&app.batch("e1", records)).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);

    // The cached answer from before the sync is not served again (for longer than the projection
    // takes: entries live 300 s).
    let after = app
        .get_until(&path, |a| a.body["stats"]["matches"] == json!(2))
        .await;
    let stats = &after.body["stats"];
    assert_eq!(
        (
            stats["matches"].clone(),
            stats["wins"].clone(),
            stats["losses"].clone()
        ),
        (json!(2), json!(1), json!(1)),
        "{stats}"
    );
    assert_eq!(stats["racks_won"], 2);
    assert_eq!(stats["high_run"], 4);

    let history = app.get(&format!("{path}/matches"), false).await;
    let matches = history.body["matches"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let seen: Vec<(Value, Value)> = matches
        .iter()
        .map(|m| (m["venue_match_id"].clone(), m["won"].clone()))
        .collect();
    assert_eq!(
        seen,
        [(json!("m-2"), json!(false)), (json!("m-1"), json!(true))]
    );
    assert_eq!(history.body["next"], Value::Null);
}

#[tokio::test]
async fn reads_answer_json_errors() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/matches/999".to_owned(),
        "/api/v1/matches/not-a-number".to_owned(),
        "/api/v1/players/nobody".to_owned(),
        "/api/v1/venues/nowhere/matches".to_owned(),
    ] {
        let answer = app.get(&path, false).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(answer.body["error"].is_string(), "{path}");
    }
    for path in [
        "/api/v1/venues?limit=0".to_owned(),
        "/api/v1/venues?limit=100000".to_owned(),
        format!("/api/v1/venues/{}/matches?after=xyz", app.venue),
    ] {
        let answer = app.get(&path, false).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(answer.body["error"].is_string(), "{path}");
    }
}
