//! edge-agent against the real cloud-sync (in process, on its own PostgreSQL database): whatever
//! happens to the venue process, the cloud ends up with every match exactly once and the outbox
//! ends up empty. (They were edge-agent's tests; here, edge-agent needs no cloud-sync to test.)

use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};
use sqlx::Row;

use crate::helpers::{
    Agent, Device, EDGE_AGENT, Process, TOKEN, cloud_with_venue, free_port, scratch_db,
    sync_status_until, sync_status_within, temp_dir,
};

/// A database of this test on the machine's PostgreSQL, dropped at the end.
async fn test_db() -> dojo_testkit::postgres::ScratchDb {
    scratch_db("dojo_edge").await
}

/// The venue's matches in the cloud: all, finished, distinct venue ids.
async fn match_counts(pool: &sqlx::PgPool, venue: &str) -> (i64, i64, i64) {
    let row = sqlx::query(
        "SELECT count(*) AS n, count(*) FILTER (WHERE finished) AS finished,
                count(DISTINCT venue_match_id) AS distinct_ids
         FROM matches WHERE venue_id = $1",
    )
    .bind(venue)
    .fetch_one(pool)
    .await
    .expect("matches");
    (row.get("n"), row.get("finished"), row.get("distinct_ids"))
}

/// The venue's records in the cloud: how many, and the highest seq.
async fn record_range(pool: &sqlx::PgPool, venue: &str) -> (i64, Option<i64>) {
    let row =
        sqlx::query("SELECT count(*) AS n, max(seq) AS top FROM sync_records WHERE venue_id = $1")
            .bind(venue)
            .fetch_one(pool)
            .await
            .expect("records");
    (row.get("n"), row.get("top"))
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
    let db = test_db().await;
    let (cloud, pool, venue, key) = cloud_with_venue(&db, "Chaos Hall").await;
    let flags = [
        "--cloud-url".to_owned(),
        format!("http://{}", cloud.addr()),
        "--venue-id".to_owned(),
        venue.clone(),
        "--venue-key".to_owned(),
        key,
    ];
    let dir = temp_dir("sync-kill9");
    let mut started = 0u32;
    for round in 0..10 {
        let mut agent = Process::start(EDGE_AGENT, &dir, &flags).await;
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

    let mut agent = Process::start(EDGE_AGENT, &dir, &flags).await;
    let status = sync_status_within(&agent.http, 60, |s| s["pending"] == 0).await;
    agent.stop();

    // The cloud acknowledges stored records; its matches follow by the projection's lag.
    assert!(
        cloud_sync::projection::wait_caught_up(&pool, Duration::from_secs(10))
            .await
            .expect("projection lag"),
        "the cloud's projection never caught up"
    );
    let (n, finished, distinct) = match_counts(&pool, &venue).await;
    assert_eq!(
        (n, distinct, finished),
        (i64::from(started), n, n),
        "each match once, each finished"
    );
    let (records, top) = record_range(&pool, &venue).await;
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
    drop(db);
    std::fs::remove_dir_all(dir).ok();
}

/// Sum of the `/metrics` lines that start with `prefix` (a name, or a name and its labels).
async fn metric_sum(agent: &Agent, prefix: &str) -> u64 {
    let text = reqwest::get(agent.url("/metrics"))
        .await
        .expect("answers")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Device events accepted, over every kind.
async fn accepted(agent: &Agent) -> u64 {
    metric_sum(agent, "dojo_events_accepted_total").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_venue_offline_for_a_week_catches_up_with_nothing_lost() {
    // 50 tables each play a 9-ball match to 1000: every rack is the 9 made on the break by the winner of the last, two
    // device events (pocket, end_turn), so 100,000 events and 50,000 finished racks, all while the
    // cloud is unreachable.
    const TABLES: usize = 50;
    const RACE: u32 = 1000;
    let db = test_db().await;
    let pool = {
        let pool = cloud_sync::infra::db::connect(&db.url).await.expect("pool");
        cloud_sync::infra::db::migrate(&pool)
            .await
            .expect("migrate");
        pool
    };
    let (venue, key) = cloud_sync::venues::create_venue(&pool, "Week Off Hall")
        .await
        .expect("venue");
    let cloud_port = free_port();
    let dir = temp_dir("sync-week");
    let url = format!("http://127.0.0.1:{cloud_port}");
    let agent = Agent::start_syncing(&dir, url, &venue.to_string(), &key, 2000).await;
    for t in 0..TABLES {
        let spec = json!({"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": RACE,
                          "break": "winner"});
        let (status, body) = agent
            .post(&format!("/api/v1/tables/w{t}/matches"), spec)
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let mut device = Device::connect(agent.mqtt, "ctl-week").await;
    let publishing = Instant::now();
    let mut sent = 0u64;
    for _ in 0..RACE {
        for t in 0..TABLES {
            let table = format!("w{t}");
            device.pocket(&table, 9, 1).await;
            device.button(&table, "end_turn").await;
            sent += 2;
        }
        // Keep at most a few thousand events in flight: the point is the outbox, not the broker.
        while sent > accepted(&agent).await + 4000 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while accepted(&agent).await < sent {
        if Instant::now() > deadline {
            let metrics = reqwest::get(agent.url("/metrics"))
                .await
                .expect("answers")
                .text()
                .await
                .expect("text");
            panic!("the agent never took every event: sent {sent}\n{metrics}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("{sent} events in {:?}", publishing.elapsed());
    // Everything is kept while offline: a start, every rack and the result of each match.
    let expected_records = TABLES as u64 * (2 + u64::from(RACE));
    loop {
        let (_, offline) = agent.get("/api/v1/sync").await;
        if offline["pending"] == expected_records {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not all kept while offline: {offline}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The cloud comes back; the agent catches up by itself.
    let mut cloud_config = cloud_sync::Config::new(db.url.clone(), None);
    cloud_config.http_addr = format!("127.0.0.1:{cloud_port}").parse().expect("addr");
    let cloud = cloud_sync::start(cloud_config)
        .await
        .expect("cloud-sync starts");
    let caught_up = Instant::now();
    let deadline = caught_up + Duration::from_secs(180);
    loop {
        let (_, status) = agent.get("/api/v1/sync").await;
        if status["pending"] == 0 {
            assert_eq!(status["acked_seq"], expected_records, "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "catch-up stalled: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "caught up {expected_records} records in {:?}",
        caught_up.elapsed()
    );
    agent.stop().await;

    assert!(
        cloud_sync::projection::wait_caught_up(&pool, Duration::from_secs(30))
            .await
            .expect("projection lag"),
        "the cloud's projection never caught up"
    );
    let racks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM racks r JOIN matches m ON m.id = r.match_id WHERE m.venue_id = $1",
    )
    .bind(venue.to_string())
    .fetch_one(&pool)
    .await
    .expect("racks");
    assert_eq!(racks, i64::from(RACE) * TABLES as i64, "every rack once");
    let finished: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM matches WHERE venue_id = $1 AND finished AND score = ARRAY[$2::int, 0]",
    )
    .bind(venue.to_string())
    .bind(i32::try_from(RACE).expect("race"))
    .fetch_one(&pool)
    .await
    .expect("matches");
    assert_eq!(finished, TABLES as i64, "every match finished, {RACE}-0");
    pool.close().await;
    cloud.shutdown().await;
    drop(db);
    std::fs::remove_dir_all(dir).ok();
}

/// Starts cloud-sync on `database_url` at `addr` (a fixed port, so the venue's `--cloud-url` stays
/// right across restarts).
async fn cloud_at(database_url: &str, addr: std::net::SocketAddr) -> cloud_sync::Running {
    let mut config = cloud_sync::Config::new(database_url, None);
    config.http_addr = addr;
    cloud_sync::start(config).await.expect("cloud-sync starts")
}

/// Plays `n` matches to the end (start, then a concession) on table `r1`.
async fn play_matches(agent: &Agent, n: usize) {
    for _ in 0..n {
        let spec = json!({"game": "eight-ball", "players": ["Ann", "Bo"], "race_to": 2});
        let (status, body) = agent.post("/api/v1/tables/r1/matches", spec).await;
        assert_eq!(status, 201, "{body}");
        let concede = json!({"action": "concede"});
        let (status, body) = agent
            .post("/api/v1/tables/r1/matches/current/actions", concede)
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_restored_from_a_backup_is_sent_again_what_it_lost() {
    let db = test_db().await;
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let cloud = cloud_at(&db.url, addr).await;
    let pool = cloud_sync::infra::db::connect(&db.url).await.expect("pool");
    let (venue, key) = cloud_sync::venues::create_venue(&pool, "Backup Hall")
        .await
        .expect("venue");
    pool.close().await;
    let dir = temp_dir("sync-restore");
    let url = format!("http://{addr}");
    let agent = Agent::start_syncing(&dir, url, &venue.to_string(), &key, 1000).await;
    let drained = |s: &Value| s["pending"] == 0 && s["acked_seq"].as_u64() > Some(0);

    // Two matches synced, then the cloud's database is backed up.
    play_matches(&agent, 2).await;
    let at_backup = sync_status_until(&agent, drained).await["acked_seq"].clone();
    cloud.shutdown().await;
    let backup = db.copy("dojo_edge_backup").await.expect("backup");

    // Two more matches reach the cloud after the backup: the venue lets go of their outbox rows.
    let cloud = cloud_at(&db.url, addr).await;
    play_matches(&agent, 2).await;
    let before_restore = sync_status_until(&agent, |s| {
        s["pending"] == 0 && s["acked_seq"].as_u64() > at_backup.as_u64()
    })
    .await["acked_seq"]
        .clone();
    cloud.shutdown().await;

    // The cloud comes back from the backup and a fifth match is played: the cloud asks for the
    // seq after the backup's mark, and the venue sends everything from there again.
    let cloud = cloud_at(&backup.url, addr).await;
    play_matches(&agent, 1).await;
    let status = sync_status_until(&agent, |s| {
        s["pending"] == 0 && s["acked_seq"].as_u64() > before_restore.as_u64()
    })
    .await;

    let pool = cloud_sync::infra::db::connect(&backup.url)
        .await
        .expect("pool");
    assert!(
        cloud_sync::projection::wait_caught_up(&pool, Duration::from_secs(10))
            .await
            .expect("projection lag"),
        "the cloud's projection never caught up"
    );
    assert_eq!(
        match_counts(&pool, &venue.to_string()).await,
        (5, 5, 5),
        "the restored cloud holds every match once"
    );
    let (records, top) = record_range(&pool, &venue.to_string()).await;
    assert_eq!(Some(records), top, "records 1..top, none missing");
    assert_eq!(status["acked_seq"], json!(top), "{status}");
    let resent = metric_sum(&agent, "dojo_sync_records_total{outcome=\"resent\"}").await;
    let lost = before_restore.as_u64().unwrap_or(0) - at_backup.as_u64().unwrap_or(0);
    assert_eq!(
        resent, lost,
        "exactly the records the backup lacked were sent again"
    );
    pool.close().await;
    agent.stop().await;
    cloud.shutdown().await;
    drop((db, backup));
    std::fs::remove_dir_all(dir).ok();
}
