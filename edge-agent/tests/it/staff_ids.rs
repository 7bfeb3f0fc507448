//! Issue 17: every write a signed-in staff member makes carries their id. A member signs in with
//! their PIN over HTTP (no browser: the console's part is `staff_pin.rs`) and, with the session
//! cookie alone, starts a match, starts and stops table time and renames a table; the event log
//! holds `by.id` on each input, and the `match_started` record the cloud receives holds it too.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher as _, SaltString};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};

use crate::helpers::*;

/// An Argon2id PHC string of `pin` (cheap parameters: only the hash's format matters here).
fn pin_hash(pin: &str) -> String {
    let params = argon2::Params::new(8 * 1024, 1, 1, None).expect("params");
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
    argon
        .hash_password(pin.as_bytes(), &salt)
        .expect("hash")
        .to_string()
}

/// Signs in as `staff_id` with `pin`; the `Cookie` header value of the session.
async fn sign_in(agent: &Agent, staff_id: &str, pin: &str) -> String {
    let response = reqwest::Client::new()
        .post(agent.url("/api/v1/staff/session"))
        .json(&json!({"staff_id": staff_id, "pin": pin}))
        .send()
        .await
        .expect("HTTP answers");
    assert_eq!(response.status().as_u16(), 200, "signed in");
    let set = response
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_owned();
    set.split(';').next().unwrap_or_default().to_owned()
}

/// A staff write with the session cookie only (no token); the status and the JSON body.
async fn send(
    agent: &Agent,
    method: reqwest::Method,
    path: &str,
    cookie: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, agent.url(path))
        .json(&body);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = request.send().await.expect("HTTP answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The `by` of the newest logged input of `table` whose `input` is `kind`.
fn logged_by(dir: &std::path::Path, table: &str, kind: &str) -> Value {
    let conn = rusqlite::Connection::open(dir.join("edge.sqlite3")).expect("db");
    let logged: String = conn
        .query_row(
            "SELECT input FROM events WHERE table_id = ?1 AND json_extract(input, '$.input') = ?2 \
             ORDER BY seq DESC LIMIT 1",
            rusqlite::params![table, kind],
            |row| row.get(0),
        )
        .unwrap_or_else(|e| panic!("no {kind} logged on {table}: {e}"));
    let logged: Value = serde_json::from_str(&logged).expect("json");
    logged["by"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_members_match_start_table_time_and_registry_change_carry_their_id() {
    let peer: SharedPeer = Arc::default();
    peer.lock().expect("peer").staff = Some(json!({
        "staff": [
            {"id": "u-lee", "display_name": "Lee", "roles": ["venue_staff"],
             "pin_hash": pin_hash("730514")},
        ],
        "version": "v1",
    }));
    let url = start_peer(peer.clone()).await;
    let dir = data_dir("staff-ids");
    let agent = agent_syncing_to(url, &dir).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while agent.get("/api/v1/staff/members").await.1["staff"][0]["id"] != "u-lee" {
        assert!(std::time::Instant::now() < deadline, "no staff list");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Without a token or a session, each of these writes is refused (401) and nothing is logged.
    let spec =
        json!({"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 3, "break": "alternate"});
    let post = reqwest::Method::POST;
    let put = reqwest::Method::PUT;
    for (method, path) in [
        (&post, "/api/v1/tables/k3/matches"),
        (&post, "/api/v1/tables/k3/sessions"),
        (&post, "/api/v1/tables/k3/sessions/current/stop"),
        (&put, "/api/v1/registry/k3"),
        (&post, "/api/v1/registry/k3/retire"),
    ] {
        let (status, body) = send(&agent, method.clone(), path, None, spec.clone()).await;
        assert_eq!(status, 401, "{method} {path}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    assert_eq!(
        sql_count(&dir, "SELECT count(*) FROM events WHERE table_id = 'k3'"),
        0
    );

    let cookie = sign_in(&agent, "u-lee", "730514").await;
    let lee = json!({"role": "staff", "name": "Lee", "id": "u-lee"});
    let cookie = Some(cookie.as_str());

    let (status, body) = send(
        &agent,
        post.clone(),
        "/api/v1/tables/k3/sessions",
        cookie,
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(logged_by(&dir, "k3", "session_start"), lee);

    let (status, body) = send(
        &agent,
        post.clone(),
        "/api/v1/tables/k3/matches",
        cookie,
        spec,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(logged_by(&dir, "k3", "start_match"), lee);
    let match_id = body["match"]["match_id"]
        .as_str()
        .expect("match id")
        .to_owned();

    let (status, body) = send(
        &agent,
        post.clone(),
        "/api/v1/tables/k3/sessions/current/stop",
        cookie,
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(logged_by(&dir, "k3", "session_stop"), lee);

    let (status, body) = send(
        &agent,
        put,
        "/api/v1/registry/k3",
        cookie,
        json!({"name": "Window", "position": 2}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Window");
    assert_eq!(logged_by(&dir, "k3", "registry"), lee);

    // The outbox's `match_started` record, as the cloud receives it (acked rows leave the
    // outbox), names who started the match.
    wait_for("match_started with Lee's id at the cloud", 20, || {
        peer.lock().expect("peer").batches.iter().any(|(_, batch)| {
            batch.records.iter().any(|r| {
                r.kind == "match_started"
                    && r.payload["match_id"] == match_id.as_str()
                    && r.payload["by"] == lee
            })
        })
    })
    .await;

    // The staff token without a session stays unnamed staff (no id), as for actions.
    agent
        .post(
            "/api/v1/tables/k3/matches/current/actions",
            json!({"action": "concede"}),
        )
        .await;
    agent.start_match("k3", "nine-ball", 3).await;
    assert_eq!(
        logged_by(&dir, "k3", "start_match"),
        json!({"role": "staff"})
    );
    agent.stop().await;
}
