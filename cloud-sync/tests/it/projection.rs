//! The projector (cloud-sync/src/projection, cloud-sync/src/reads/projection): acknowledged records become matches, racks and
//! statistics exactly once, after a crash between the acknowledgement and the projection, and with
//! two instances projecting the same database at once.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{App, PG, config, metric, rec, spawn_with, test_db};

/// The matches projection's records (each record also passes the tournaments projection).
const MATCHES_PROJECTED: &str = "dojo_sync_projected_records_total{projection=\"matches\"}";

/// What the projection holds: matches, finished ones, racks, stat rows, seat 0's racks won.
async fn projected_rows(app: &App) -> Value {
    sqlx::query_scalar(
        "SELECT jsonb_build_object(
            'matches', (SELECT count(*) FROM matches),
            'finished', (SELECT count(*) FROM matches WHERE finished AND winner = 0
                                                         AND score = ARRAY[2, 0]),
            'racks', (SELECT count(*) FROM racks),
            'stats', (SELECT count(*) FROM match_player_stats),
            'racks_won', (SELECT COALESCE(sum(racks_won), 0) FROM match_player_stats))",
    )
    .fetch_one(&app.pool)
    .await
    .expect("counts")
}

fn matches(epoch: &str, n: u64) -> Vec<Value> {
    (0..n)
        .flat_map(|m| rec::whole_match(1 + 4 * m, &format!("{epoch}-m{m}")))
        .collect()
}

#[tokio::test]
async fn a_projection_cut_off_after_the_ack_resumes_and_applies_each_record_once() {
    // An instance that acknowledges but never projects: as if it died right after each commit.
    let db = test_db(PG).await;
    let mut cfg = config(&db);
    cfg.project = false;
    let mut app = spawn_with(db, cfg).await;
    let answer = app.post(&app.batch("e1", matches("e1", 3))).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["acked_seq"], 12);
    assert_eq!(
        cloud_sync::projection::behind(&app.pool)
            .await
            .expect("lag"),
        12
    );
    assert_eq!(
        projected_rows(&app).await,
        json!({"matches": 0, "finished": 0, "racks": 0, "stats": 0, "racks_won": 0})
    );
    app.stop().await;

    // The next instance picks the records up from the projection cursor, at start-up.
    let restarted = cloud_sync::start(config(&app.db)).await.expect("starts");
    assert!(
        cloud_sync::projection::wait_caught_up(&app.pool, Duration::from_secs(5))
            .await
            .expect("lag")
    );
    let expected = json!({"matches": 3, "finished": 3, "racks": 6, "stats": 6, "racks_won": 6});
    assert_eq!(projected_rows(&app).await, expected);
    let base = format!("http://{}", restarted.addr());
    assert_eq!(metric(&app.http, &base, MATCHES_PROJECTED).await, 12.0);
    restarted.shutdown().await;

    // Another restart finds nothing to do: nothing is applied twice.
    let again = cloud_sync::start(config(&app.db)).await.expect("starts");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(projected_rows(&app).await, expected);
    let base = format!("http://{}", again.addr());
    assert_eq!(metric(&app.http, &base, MATCHES_PROJECTED).await, 0.0);
    assert_eq!(
        metric(&app.http, &base, "dojo_sync_projection_lag_records").await,
        0.0
    );
    again.shutdown().await;
}

#[tokio::test]
async fn two_instances_projecting_at_once_build_each_match_once() {
    let app = crate::helpers::spawn_app().await;
    let mut second = config(&app.db);
    second.redis_prefix = app.prefix.clone();
    let b = cloud_sync::start(second).await.expect("second instance");
    let b_base = format!("http://{}", b.addr());

    // Four venue databases (epochs), each pushing 2 matches per batch, alternately through A and
    // B, all at once: both projectors are woken for every epoch.
    const PER_EPOCH: u64 = 24;
    let mut pushes = Vec::new();
    for e in 0..4 {
        let epoch = format!("e{e}");
        let records = matches(&epoch, PER_EPOCH);
        let batches: Vec<Value> = records
            .chunks(8)
            .map(|chunk| app.batch(&epoch, chunk.to_vec()))
            .collect();
        let (http, key) = (app.http.clone(), app.key.clone());
        let bases = [app.base.clone(), b_base.clone()];
        pushes.push(tokio::spawn(async move {
            for (i, batch) in batches.iter().enumerate() {
                let base = &bases[(i + e) % 2];
                let answer = crate::helpers::post_raw(
                    &http,
                    base,
                    Some(&key),
                    batch.to_string().into_bytes(),
                    false,
                )
                .await;
                assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
            }
        }));
    }
    for push in pushes {
        push.await.expect("push");
    }
    app.projected().await;
    let n = 4 * PER_EPOCH;
    assert_eq!(
        projected_rows(&app).await,
        json!({"matches": n, "finished": n, "racks": 2 * n, "stats": 2 * n, "racks_won": 2 * n})
    );
    let a_done = metric(&app.http, &app.base, MATCHES_PROJECTED).await;
    let b_done = metric(&app.http, &b_base, MATCHES_PROJECTED).await;
    assert_eq!(
        a_done + b_done,
        (4 * n) as f64,
        "every record projected by exactly one instance (A {a_done}, B {b_done})"
    );
    b.shutdown().await;
}
