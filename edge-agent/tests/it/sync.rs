//! The sync client's side of docs/sync.md against a scripted peer: the answers cloud-sync gives
//! under faults (503 with `Retry-After`, 422 naming a record, 413, 410 on the player log) are hard
//! to provoke on demand from the real service, so this peer speaks the contract and answers from a
//! script. The real cloud-sync is exercised end to end in the workspace's `tests/`. The peer itself
//! is in `helpers.rs` (the staff console's browser test uses it too).

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    SharedPeer, agent_syncing_to, data_dir, start_peer, sync_status_until, wait_for,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_retried_and_a_refused_record_is_dead_lettered_not_lost() {
    let peer: SharedPeer = Arc::default();
    {
        let mut script = peer.lock().expect("peer");
        script.batch_answers.push_back((
            StatusCode::SERVICE_UNAVAILABLE,
            vec![("retry-after", "1".into())],
            json!({"error": "database restarting"}),
        ));
        script.batch_answers.push_back((
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![],
            json!({"error": "match_started: bad spec", "seq": 1}),
        ));
    }
    let url = start_peer(peer.clone()).await;
    let dir = data_dir("sync-faults");
    let agent = agent_syncing_to(url, &dir).await;
    agent.start_match("t1", "nine-ball", 2).await;

    wait_for("three batch requests", 20, || {
        peer.lock().expect("peer").batches.len() >= 3
    })
    .await;
    let (sent, bad) = {
        let peer = peer.lock().expect("peer");
        (peer.batches.clone(), peer.bad_requests.clone())
    };
    assert!(
        bad.is_empty(),
        "every request was authenticated gzip JSON: {bad:?}"
    );
    let (first, second, third) = (&sent[0], &sent[1], &sent[2]);
    assert!(
        second.0 - first.0 >= Duration::from_millis(950),
        "Retry-After: 1 was honoured ({:?})",
        second.0 - first.0
    );
    assert_eq!(first.1.venue_id, "venue-1");
    assert_eq!(first.1.records[0].kind, "match_started");
    assert_eq!(first.1.records[0].seq, 1);
    // After the 422 the same seq goes again, as a placeholder: no gap, nothing silently dropped.
    assert_eq!(third.1.records[0].seq, 1);
    assert_eq!(third.1.records[0].kind, "rejected");
    assert_eq!(third.1.records[0].payload["original_kind"], "match_started");
    assert_eq!(third.1.epoch, first.1.epoch);

    let (status, dead) = agent.get("/api/v1/sync/dead-letters").await;
    assert_eq!(status, 401, "dead letters are for staff: {dead}");
    let dead: Value = reqwest::Client::new()
        .get(agent.url("/api/v1/sync/dead-letters"))
        .bearer_auth(crate::helpers::TOKEN)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(dead[0]["seq"], 1);
    assert_eq!(dead[0]["kind"], "match_started");
    assert_eq!(dead[0]["reason"], "match_started: bad spec");
    assert!(
        dead[0]["payload"]
            .as_str()
            .is_some_and(|p| p.contains("nine-ball")),
        "the original record is kept: {dead}"
    );
    let status = sync_status_until(&agent, |s| s["pending"] == 0).await;
    assert_eq!(status["acked_seq"], 1, "{status}");
    assert_eq!(status["dead_letters"], 1, "{status}");
    assert_eq!(status["enabled"], true, "{status}");
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_players_come_down_and_go_up_with_their_match() {
    let peer: SharedPeer = Arc::default();
    peer.lock().expect("peer").player_answers.push_back((
        StatusCode::GONE,
        vec![],
        json!({"error": "cursor too old"}),
    ));
    let url = start_peer(peer.clone()).await;
    let dir = data_dir("sync-players");
    let agent = agent_syncing_to(url, &dir).await;
    // The change log answered 410, so the agent took the snapshot.
    let status = sync_status_until(&agent, |s| s["players_cursor"] == 7).await;
    assert_eq!(status["enabled"], true);
    let (_, players) = agent.get("/api/v1/players").await;
    assert_eq!(
        players,
        json!([{"id": "p-efren", "name": "Efren Reyes", "rating": 820}])
    );

    let spec = json!({"game": "nine-ball", "players": ["", "Walk-in"], "race_to": 2,
                      "player_ids": ["p-efren", null]});
    let (status, view) = agent.post("/api/v1/tables/t2/matches", spec).await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(
        view["match"]["players"],
        json!(["Efren Reyes", "Walk-in"]),
        "{view}"
    );
    let unknown = json!({"game": "nine-ball", "players": ["A", "B"], "race_to": 2,
                         "player_ids": ["nobody", null]});
    let (status, error) = agent.post("/api/v1/tables/t3/matches", unknown).await;
    assert_eq!(status, 422, "{error}");
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("nobody")),
        "{error}"
    );

    wait_for("the match start to reach the cloud", 20, || {
        !peer.lock().expect("peer").batches.is_empty()
    })
    .await;
    let batch = peer.lock().expect("peer").batches[0].1.clone();
    let record = &batch.records[0];
    assert_eq!(record.kind, "match_started");
    assert_eq!(record.payload["player_ids"], json!(["p-efren", null]));
    assert!(
        record.parse().is_ok(),
        "the record fits the contract: {record:?}"
    );
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
