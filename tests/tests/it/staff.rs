//! Staff at the venue, end to end: a venue manager sets a console PIN in cloud-sync, the venue's
//! edge-agent pulls the staff list, and — with the cloud stopped and the agent restarted — the
//! manager signs in at the console by name and PIN, makes a correction, and the record that
//! reaches cloud-sync (once it is back) carries their id.

use std::time::Duration;

use reqwest::header::{COOKIE, RETRY_AFTER, SET_COOKIE};
use serde_json::{Value, json};

use crate::helpers::{Agent, cloud_with_venue, scratch_db, sync_status_within, temp_dir};

/// A user with `role` at `venue`, made in SQL, and an access token minted with cloud-sync's keys.
async fn staff_user(pool: &sqlx::PgPool, name: &str, venue: &str) -> (String, String) {
    use cloud_sync::accounts::token::{Claims, Keys};
    use cloud_sync::accounts::{Grant, Role};
    let id = cloud_sync::infra::ids::new_id();
    sqlx::query(
        "INSERT INTO users (id, email, email_key, display_name, email_verified_at)
         VALUES ($1, $2, lower($2), $3, now())",
    )
    .bind(&id)
    .bind(format!("{name}-{}@example.test", &id[..8]))
    .bind(name)
    .execute(pool)
    .await
    .expect("user");
    sqlx::query(
        "INSERT INTO user_roles (user_id, role, venue_id) VALUES ($1, 'venue_manager', $2)",
    )
    .bind(&id)
    .bind(venue)
    .execute(pool)
    .await
    .expect("role");
    let keys = Keys::load(pool.clone()).await.expect("keys");
    let token = keys
        .issue(Claims {
            iss: String::new(),
            aud: String::new(),
            sub: id.clone(),
            exp: 0,
            iat: 0,
            sid: cloud_sync::infra::ids::new_id(),
            email_verified: true,
            roles: vec![Grant {
                role: Role::VenueManager,
                venue_id: Some(venue.to_owned()),
            }],
        })
        .await
        .expect("token");
    (id, token)
}

async fn set_pin(http: &reqwest::Client, cloud: &str, token: &str, venue: &str, pin: &str) {
    let answer = http
        .put(format!("{cloud}/api/v1/me/staff-pin"))
        .bearer_auth(token)
        .json(&json!({"venue_id": venue, "pin": pin}))
        .send()
        .await
        .expect("answers");
    assert_eq!(answer.status(), 204, "{:?}", answer.text().await);
}

/// `POST /api/v1/staff/session`: status, `Set-Cookie`, `Retry-After`, body.
async fn sign_in(
    http: &reqwest::Client,
    agent: &Agent,
    body: Value,
) -> (u16, Option<String>, Option<String>, Value) {
    let answer = http
        .post(agent.url("/api/v1/staff/session"))
        .json(&body)
        .send()
        .await
        .expect("answers");
    let header = |name| {
        answer
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (cookie, retry) = (header(SET_COOKIE), header(RETRY_AFTER));
    let status = answer.status().as_u16();
    (
        status,
        cookie,
        retry,
        answer.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_with_a_pin_offline_and_their_correction_reaches_the_cloud_with_their_id() {
    let db = scratch_db("dojo_e2e_staff").await;
    let (cloud, pool, venue, key) = cloud_with_venue(&db, "Staff Hall").await;
    let cloud_addr = cloud.addr();
    let cloud_url = format!("http://{cloud_addr}");
    let http = reqwest::Client::new();
    let (kim, kim_token) = staff_user(&pool, "Kim", &venue).await;
    let (lee, lee_token) = staff_user(&pool, "Lee", &venue).await;
    set_pin(&http, &cloud_url, &kim_token, &venue, "482913").await;
    set_pin(&http, &cloud_url, &lee_token, &venue, "730519").await;

    // The agent pulls the staff list beside the players.
    let dir = temp_dir("e2e-staff");
    let agent = Agent::start_syncing(&dir, cloud_url.clone(), &venue, &key, 500).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, members) = agent.get("/api/v1/staff/members").await;
        if members["staff"].as_array().is_some_and(|s| s.len() == 2) {
            assert_eq!(members["staff"][0]["display_name"], "Kim", "{members}");
            assert!(members["staff"][0].get("pin_hash").is_none(), "never sent");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "staff never pulled: {members}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The cloud goes away; the agent restarts without it and signs staff in from SQLite.
    agent.stop().await;
    cloud.shutdown().await;
    let agent = Agent::start_syncing(&dir, cloud_url.clone(), &venue, &key, 500).await;
    let (status, cookie, _, me) =
        sign_in(&http, &agent, json!({"name": "kim", "pin": "482913"})).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], json!(kim));
    let cookie = cookie.expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "served over http on the LAN: {cookie}"
    );
    let session = cookie.split(';').next().expect("name=value").to_owned();
    let who: Value = http
        .get(agent.url("/api/v1/staff/session"))
        .header(COOKIE, &session)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(who["staff"]["display_name"], "Kim", "{who}");

    // Wrong PINs are slowed: Lee's member budget runs out, then 429 with Retry-After, even for
    // the right PIN.
    let mut limited = None;
    for _ in 0..8 {
        let (status, _, retry, body) =
            sign_in(&http, &agent, json!({"staff_id": lee, "pin": "111111"})).await;
        if status == 429 {
            limited = retry;
            break;
        }
        assert_eq!(status, 401, "{body}");
    }
    assert!(limited.is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1)));
    let (status, _, _, _) = sign_in(&http, &agent, json!({"staff_id": lee, "pin": "730519"})).await;
    assert_eq!(status, 429, "refused before the PIN is checked");

    // Kim runs a match with the session cookie alone and corrects the score.
    let post = |path: &'static str, body: Value| {
        let (http, url, session) = (http.clone(), agent.url(path), session.clone());
        async move {
            let answer = http
                .post(url)
                .header(COOKIE, session)
                .json(&body)
                .send()
                .await
                .expect("answers");
            (
                answer.status().as_u16(),
                answer.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, view) = post(
        "/api/v1/tables/s1/matches",
        json!({"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 3}),
    )
    .await;
    assert_eq!(status, 201, "{view}");
    let (status, view) = post(
        "/api/v1/tables/s1/matches/current/actions",
        json!({"action": "adjust_rack", "player": 1, "delta": 1, "reason": "sensor missed the 9"}),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    // Without the cookie or a token: 401.
    let bare = http
        .post(agent.url("/api/v1/tables/s1/matches/current/actions"))
        .json(&json!({"action": "undo"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(bare.status(), 401);

    // The event log says who.
    let logged: String = rusqlite::Connection::open(dir.join("edge.sqlite3"))
        .expect("db")
        .query_row(
            "SELECT input FROM events WHERE input LIKE '%adjust_rack%' ORDER BY seq DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .expect("the correction is logged");
    let logged: Value = serde_json::from_str(&logged).expect("json");
    assert_eq!(
        logged["by"],
        json!({"role": "staff", "name": "Kim", "id": kim}),
        "{logged}"
    );

    // The cloud comes back on the same address; the correction's record carries Kim's id.
    let mut config = cloud_sync::Config::new(db.url.clone(), None);
    config.http_addr = cloud_addr;
    let cloud = cloud_sync::start(config)
        .await
        .expect("cloud-sync starts again");
    sync_status_within(&agent.url(""), 60, |s| s["pending"] == 0).await;
    let by: Value = sqlx::query_scalar(
        "SELECT payload::jsonb -> 'by' FROM sync_records
          WHERE venue_id = $1 AND kind = 'result_corrected'",
    )
    .bind(&venue)
    .fetch_one(&pool)
    .await
    .expect("the correction reached the cloud");
    assert_eq!(by, json!({"role": "staff", "name": "Kim", "id": kim}));
    pool.close().await;
    agent.stop().await;
    cloud.shutdown().await;
    std::fs::remove_dir_all(dir).ok();
}
