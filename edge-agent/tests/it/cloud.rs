//! edge-agent against the real cloud-sync (in process, on its own PostgreSQL database): whatever
//! happens to the venue process, the cloud ends up with every match exactly once and the outbox
//! ends up empty.

use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};
use sqlx::Row;

use crate::helpers::{Process, TOKEN, data_dir};

/// A database of one test on the machine's PostgreSQL, dropped at the end.
struct TestDb {
    url: String,
    name: String,
}

const PG: &str = "postgres://postgres@127.0.0.1:5432";

impl TestDb {
    async fn new() -> TestDb {
        let name = format!("dojo_edge_{:016x}", rand::random::<u64>());
        let admin = cloud_sync::db::connect_with(&format!("{PG}/postgres"), 1)
            .await
            .expect("PostgreSQL reachable on 127.0.0.1:5432");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create database");
        admin.close().await;
        TestDb {
            url: format!("{PG}/{name}"),
            name,
        }
    }

    async fn drop_now(self) {
        if let Ok(admin) = cloud_sync::db::connect_with(&format!("{PG}/postgres"), 1).await {
            let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&admin).await;
            admin.close().await;
        }
    }
}

async fn staff_post(agent: &Process, path: &str, body: Value) -> u16 {
    reqwest::Client::new()
        .post(format!("{}{path}", agent.http))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_during_sync_stores_every_match_exactly_once() {
    let db = TestDb::new().await;
    let cloud = cloud_sync::start(cloud_sync::Config::new(db.url.clone(), None))
        .await
        .expect("cloud-sync starts");
    let pool = cloud_sync::db::connect(&db.url).await.expect("pool");
    let (venue, key) = cloud_sync::admin::create_venue(&pool, "Chaos Hall")
        .await
        .expect("venue");
    let flags = [
        "--cloud-url".to_owned(),
        format!("http://{}", cloud.addr()),
        "--venue-id".to_owned(),
        venue.to_string(),
        "--venue-key".to_owned(),
        key,
    ];
    let dir = data_dir("sync-kill9");
    let mut started = 0u32;
    for round in 0..10 {
        let mut agent = Process::start_with(&dir, &flags).await;
        for _ in 0..4 {
            let table = format!("c{}", started % 4);
            let spec = json!({"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 3});
            let status = staff_post(&agent, &format!("/api/v1/tables/{table}/matches"), spec).await;
            assert_eq!(status, 201, "round {round}: match start");
            started += 1;
            let concede = json!({"action": "concede"});
            let path = format!("/api/v1/tables/{table}/matches/current/actions");
            assert_eq!(staff_post(&agent, &path, concede).await, 200);
        }
        // Kill at a random moment: before the next push, in the middle of one, or between the
        // cloud's ack and the outbox delete.
        let pause = rand::rng().random_range(0..1500);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        agent.child.kill().expect("SIGKILL");
        agent.child.wait().expect("reaped");
    }

    let mut agent = Process::start_with(&dir, &flags).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let status: Value = reqwest::get(format!("{}/api/v1/sync", agent.http))
            .await
            .expect("answers")
            .json()
            .await
            .expect("json");
        if status["pending"] == 0 {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox never drained: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    agent.stop();

    let row = sqlx::query(
        "SELECT count(*) AS n, count(DISTINCT venue_match_id) AS distinct_ids,
                count(*) FILTER (WHERE finished) AS finished
         FROM matches WHERE venue_id = $1",
    )
    .bind(venue.to_string())
    .fetch_one(&pool)
    .await
    .expect("matches");
    let (n, distinct, finished): (i64, i64, i64) =
        (row.get("n"), row.get("distinct_ids"), row.get("finished"));
    assert_eq!(
        (n, distinct, finished),
        (i64::from(started), n, n),
        "each match once, each finished"
    );
    let row =
        sqlx::query("SELECT count(*) AS n, max(seq) AS top FROM sync_records WHERE venue_id = $1")
            .bind(venue.to_string())
            .fetch_one(&pool)
            .await
            .expect("records");
    let (records, top): (i64, Option<i64>) = (row.get("n"), row.get("top"));
    assert_eq!(Some(records), top, "records 1..top, each stored once");
    assert_eq!(
        status["acked_seq"],
        json!(top),
        "the edge knows the cloud's mark: {status}"
    );
    let conflicts: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_conflicts")
        .fetch_one(&pool)
        .await
        .expect("conflicts");
    assert_eq!(conflicts, 0, "a retry is a duplicate, never a conflict");
    pool.close().await;
    cloud.shutdown().await;
    db.drop_now().await;
    std::fs::remove_dir_all(dir).ok();
}
