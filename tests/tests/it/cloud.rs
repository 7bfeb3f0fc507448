//! Simulated tables → firmware-bridge → edge-agent → cloud-sync: every match the venue finished
//! arrives in the cloud exactly once, with the venue's winner and score, read back through the
//! cloud's own read API.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use edge_agent::demo::{DemoBroker, DemoOptions, run_with};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::helpers::{Agent, cloud_with_venue, scratch_db, sync_status_within, temp_dir};

/// The venue's finished matches, from its SQLite: match id → (winner, score).
fn finished_at_the_venue(dir: &std::path::Path) -> BTreeMap<String, (u64, Value)> {
    let path = edge_agent::store::db_path(dir);
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return BTreeMap::new();
    };
    let Ok(mut stmt) =
        conn.prepare("SELECT match_id, result FROM matches WHERE finished_seq IS NOT NULL")
    else {
        return BTreeMap::new();
    };
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)));
    rows.into_iter()
        .flatten()
        .flatten()
        .filter_map(|(id, result)| {
            let result: Value = serde_json::from_str(&result).ok()?;
            Some((id, (result["winner"].as_u64()?, result["score"].clone())))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_match_the_venue_finishes_arrives_in_the_cloud_once() {
    let db = scratch_db("dojo_e2e").await;
    let (cloud, pool, venue, key) = cloud_with_venue(&db, "End To End Hall").await;
    let cloud_url = format!("http://{}", cloud.addr());
    let dir = temp_dir("e2e-cloud");
    let agent = Agent::start_syncing(&dir, cloud_url.clone(), &venue, &key, 2000).await;
    let stop = CancellationToken::new();
    let demo = tokio::spawn(run_with(
        DemoBroker::from(agent.mqtt),
        agent.running.engine.clone(),
        vec!["e1".into(), "e2".into(), "e3".into()],
        DemoOptions { speed: 100.0 },
        stop.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(180);
    while finished_at_the_venue(&dir).len() < 4 {
        assert!(
            Instant::now() < deadline,
            "the demo never finished four matches"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), demo)
        .await
        .expect("the demo stops")
        .expect("the demo task");
    sync_status_within(&agent.url(""), 60, |s| s["pending"] == 0).await;
    let venue_finished = finished_at_the_venue(&dir);
    // Acknowledged means stored; the cloud's matches follow by the projection's lag.
    assert!(
        cloud_sync::projection::wait_caught_up(&pool, Duration::from_secs(10))
            .await
            .expect("projection lag"),
        "the cloud's projection never caught up"
    );
    pool.close().await;

    // Every match the cloud holds for the venue, through its read API, page by page.
    let http = reqwest::Client::new();
    let mut in_cloud: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = format!("{cloud_url}/api/v1/venues/{venue}/matches?limit=200");
        if let Some(next) = &after {
            url.push_str(&format!("&after={next}"));
        }
        let page: Value = http
            .get(url)
            .send()
            .await
            .expect("answers")
            .json()
            .await
            .expect("json");
        in_cloud.extend(page["matches"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    let mut cloud_finished = BTreeMap::new();
    for m in &in_cloud {
        if m["finished"] == true {
            let id = m["venue_match_id"].as_str().expect("venue id").to_owned();
            let entry = (m["winner"].as_u64().expect("winner"), m["score"].clone());
            assert!(
                cloud_finished.insert(id.clone(), entry).is_none(),
                "{id} is in the cloud twice"
            );
        }
    }
    assert_eq!(
        cloud_finished, venue_finished,
        "the cloud holds exactly the venue's finished matches, same winners and scores"
    );
    agent.stop().await;
    cloud.shutdown().await;
    std::fs::remove_dir_all(dir).ok();
}
