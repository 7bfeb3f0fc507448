//! Staff corrections and a void at the venue reach the cloud: edge-agent → cloud-sync, read back
//! through the cloud's own read API with who made them and why.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Agent, cloud_with_venue, scratch_db, sync_status_within, temp_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_and_a_void_at_the_venue_reach_the_cloud_with_who_and_why() {
    let db = scratch_db("dojo_e2e_void").await;
    let (cloud, pool, venue, key) = cloud_with_venue(&db, "Void Hall").await;
    let cloud_url = format!("http://{}", cloud.addr());
    let dir = temp_dir("e2e-void");
    let agent = Agent::start_syncing(&dir, cloud_url.clone(), &venue, &key, 2000).await;
    agent.start_match("v1", "nine-ball", 3).await;
    let actions = "/api/v1/tables/v1/matches/current/actions";
    for body in [
        json!({"action": "adjust_rack", "player": 1, "delta": 1, "reason": "sensor missed the 9"}),
        json!({"action": "void", "reason": "players left"}),
    ] {
        let (status, view) = agent.post(actions, body).await;
        assert_eq!(status, 200, "{view}");
    }
    sync_status_within(&agent.url(""), 60, |s| s["pending"] == 0).await;
    assert!(
        cloud_sync::projection::wait_caught_up(&pool, Duration::from_secs(10))
            .await
            .expect("projection lag"),
        "the cloud's projection never caught up"
    );
    pool.close().await;

    // Who corrected and voided is the venue's full data (the public sees it masked): read with
    // the venue's key.
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let key = key.clone();
        async move {
            let answer: Value = http
                .get(path)
                .bearer_auth(key)
                .send()
                .await
                .expect("answers")
                .json()
                .await
                .expect("json");
            answer
        }
    };
    let list = get(format!("{cloud_url}/api/v1/venues/{venue}/matches")).await;
    let m = &list["matches"][0];
    assert_eq!(
        (&m["voided"], &m["finished"], &m["winner"], &m["score"]),
        (&json!(true), &json!(true), &Value::Null, &json!([0, 1])),
        "{list}"
    );
    let detail = get(format!("{cloud_url}/api/v1/matches/{}", m["id"])).await;
    assert_eq!(detail["void"]["reason"], "players left", "{detail}");
    assert_eq!(detail["void"]["by"], json!({"role": "staff"}), "{detail}");
    assert_eq!(
        detail["corrections"][0]["reason"], "sensor missed the 9",
        "{detail}"
    );
    agent.stop().await;
    cloud.shutdown().await;
    std::fs::remove_dir_all(dir).ok();
}
