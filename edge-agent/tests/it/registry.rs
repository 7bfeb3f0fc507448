//! The table registry as staff and devices meet it: unknown tables refuse writes without making a
//! table, staff register, name, order and retire tables, devices announce theirs, and all of it
//! survives a restart.

use serde_json::{Value, json};

use crate::helpers::*;

/// `method` on `path` with the staff token (or without one); the status and the JSON body.
async fn staff(agent: &Agent, method: &str, path: &str, token: bool, body: Value) -> (u16, Value) {
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client.request(method, agent.url(path));
    if !body.is_null() {
        request = request.json(&body);
    }
    if token {
        request = request.bearer_auth(TOKEN);
    }
    let response = request.send().await.expect("HTTP answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_unknown_table_refuses_staff_writes_and_device_messages_without_making_a_table() {
    let dir = data_dir("registry-unknown");
    let agent = Agent::start(&dir).await;
    let spec = json!({"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 3});
    let (status, body) = agent.post("/api/v1/tables/typo7/matches", spec).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("registry")),
        "{body}"
    );
    let (status, _) = agent.post("/api/v1/tables/typo7/sessions", json!({})).await;
    assert_eq!(status, 404);

    let mut ctl = Device::connect(agent.mqtt, "ctl-typo7").await;
    ctl.pocket("typo7", 3, 1).await;
    ctl.send("typo7", json!({"type": "heartbeat"})).await;
    let metrics = agent.running.metrics.clone();
    wait_for("two unknown_table dead letters", 10, || {
        metrics.rejected_count("unknown_table") >= 2
    })
    .await;
    // Counted when refused, kept once the writer commits them.
    let mut letters = Value::Null;
    for _ in 0..100 {
        letters = staff(&agent, "GET", "/api/v1/dead-letters", true, Value::Null)
            .await
            .1;
        if letters["total"] == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(letters["counts"]["unknown_table"], 2, "{letters}");
    let detail = letters["dead_letters"][0]["detail"].as_str().unwrap_or("");
    assert!(detail.contains("typo7"), "{detail}");

    let (status, _) = agent.get("/api/v1/tables/typo7").await;
    assert_eq!(status, 404, "no table was made");
    let (_, tables) = agent.get("/api/v1/tables").await;
    assert_eq!(tables, json!([]));
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn staff_register_name_order_and_retire_tables() {
    let dir = data_dir("registry-staff");
    let agent = Agent::start(&dir).await;
    let (status, entry) = staff(
        &agent,
        "PUT",
        "/api/v1/registry/bar-9",
        true,
        json!({"name": "Bar 9", "position": 90}),
    )
    .await;
    assert_eq!(status, 201, "{entry}");
    assert_eq!(
        entry,
        json!({"table": "bar-9", "name": "Bar 9", "position": 90, "retired": false})
    );
    // Registering made the table's view, with its name and position.
    let (status, view) = agent.get("/api/v1/tables/bar-9").await;
    assert_eq!(status, 200);
    assert_eq!(
        (&view["name"], &view["position"]),
        (&json!("Bar 9"), &json!(90))
    );

    let mut screen = ws(&agent, "?tables=bar-9").await;
    agent.start_match("bar-9", "nine-ball", 3).await;
    let (status, _) = staff(
        &agent,
        "PUT",
        "/api/v1/registry/bar-9",
        true,
        json!({"name": "Window"}),
    )
    .await;
    assert_eq!(status, 200);
    let renamed = until(&mut screen, "bar-9", |v| v["name"] == "Window").await;
    assert_eq!(renamed["position"], 90, "the position is kept");
    assert_eq!(renamed["status"], "playing", "the match goes on");

    let retire = "/api/v1/registry/bar-9/retire";
    let (status, body) = staff(&agent, "POST", retire, true, json!({})).await;
    assert_eq!(status, 409, "not while a match is in play: {body}");
    let (status, _) = agent
        .post(
            "/api/v1/tables/bar-9/matches/current/actions",
            json!({"action": "concede"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, entry) = staff(&agent, "POST", retire, true, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(entry["retired"], true);
    let (_, tables) = agent.get("/api/v1/tables").await;
    assert!(
        tables
            .as_array()
            .is_some_and(|t| t.iter().all(|v| v["table"] != "bar-9")),
        "a retired table leaves the overview: {tables}"
    );
    let spec = json!({"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 3});
    let (status, _) = agent.post("/api/v1/tables/bar-9/matches", spec).await;
    assert_eq!(status, 404, "a retired table takes no writes");
    let (status, _) = staff(
        &agent,
        "POST",
        "/api/v1/registry/nope/retire",
        true,
        json!({}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = staff(&agent, "PUT", "/api/v1/registry/bad%20id", true, json!({})).await;
    assert_eq!(status, 400);
    let (status, _) = staff(
        &agent,
        "PUT",
        "/api/v1/registry/bar-9",
        true,
        json!({"colour": "red"}),
    )
    .await;
    assert_eq!(status, 422);

    // Brought back, it keeps its name; a restart keeps the registry.
    let (status, entry) = staff(&agent, "PUT", "/api/v1/registry/bar-9", true, json!({})).await;
    assert_eq!((status, &entry["retired"]), (200, &json!(false)));
    agent.stop().await;
    let agent = Agent::start(&dir).await;
    let (status, view) = agent.get("/api/v1/tables/bar-9").await;
    assert_eq!(status, 200);
    assert_eq!(view["name"], "Window");
    assert!(view.get("retired").is_none(), "{view}");
    let (_, listing) = staff(&agent, "GET", "/api/v1/registry", true, Value::Null).await;
    let entry = listing["tables"]
        .as_array()
        .and_then(|t| t.iter().find(|e| e["table"] == "bar-9"))
        .cloned();
    assert_eq!(entry.map(|e| e["name"].clone()), Some(json!("Window")));
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn devices_announce_their_table_and_unregistered_ones_are_listed_for_staff() {
    let dir = data_dir("registry-announce");
    let agent = Agent::start(&dir).await;
    let ctl = Device::connect(agent.mqtt, "ctl-new").await;
    let status = |table: &str| {
        json!({"status": "online", "table": table, "kind": "controller"})
            .to_string()
            .into_bytes()
    };
    ctl.raw("dojo/v1/devices/ctl-new/status", status("lounge-2"))
        .await;
    let listed = |listing: &Value| {
        listing["unknown"]
            .as_array()
            .is_some_and(|u| u.iter().any(|a| a["device"] == "ctl-new"))
    };
    let mut listing = Value::Null;
    for _ in 0..100 {
        listing = staff(&agent, "GET", "/api/v1/registry", true, Value::Null)
            .await
            .1;
        if listed(&listing) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(listed(&listing), "{listing}");
    assert_eq!(listing["unknown"][0]["table"], "lounge-2");
    assert_eq!(listing["unknown"][0]["kind"], "controller");

    // One tap (the console's Register button) registers it; the device is then listed under it.
    let (status, _) = staff(&agent, "PUT", "/api/v1/registry/lounge-2", true, json!({})).await;
    assert_eq!(status, 201);
    let (_, listing) = staff(&agent, "GET", "/api/v1/registry", true, Value::Null).await;
    assert_eq!(listing["unknown"], json!([]));
    let lounge = listing["tables"]
        .as_array()
        .and_then(|t| t.iter().find(|e| e["table"] == "lounge-2"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(lounge["devices"][0]["device"], "ctl-new", "{listing}");
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn registry_routes_need_the_staff_token_and_the_network_is_open() {
    let dir = data_dir("registry-auth");
    let agent = Agent::start(&dir).await;
    for (method, path) in [
        ("GET", "/api/v1/registry"),
        ("PUT", "/api/v1/registry/t1"),
        ("POST", "/api/v1/registry/t1/retire"),
    ] {
        let (status, body) = staff(&agent, method, path, false, json!({})).await;
        assert_eq!(status, 401, "{method} {path}: {body}");
    }
    let (status, network) = agent.get("/api/v1/network").await;
    assert_eq!(status, 200);
    assert_eq!(
        network["serving_lan"], false,
        "the harness listens on loopback"
    );
    assert_eq!(network["lan_urls"], json!([]));
    assert!(
        network["advice"]
            .as_str()
            .is_some_and(|a| a.contains("--http-addr 0.0.0.0:")),
        "{network}"
    );
    let (status, _) = agent
        .get("/api/v1/network/qr?url=http%3A%2F%2Fevil.example%2F")
        .await;
    assert_eq!(status, 404, "no QR code for a URL that is not the agent's");
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn serving_the_venue_network_lists_its_lan_urls_with_qr_codes() {
    let dir = data_dir("registry-lan");
    let agent = Agent::start_with(&dir, |config| {
        config.http_addr = "0.0.0.0:0".parse().expect("addr");
    })
    .await;
    let reach = agent.running.reach.clone();
    assert!(reach.serving_lan);
    let port = agent.running.http_addr.port();
    let base = format!("http://127.0.0.1:{port}");
    let network: Value = reqwest::get(format!("{base}/api/v1/network"))
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(network["lan_urls"], json!(reach.lan_urls));
    for url in &reach.lan_urls {
        assert!(url.ends_with(&format!(":{port}/")), "{url}");
        let response = reqwest::Client::new()
            .get(format!("{base}/api/v1/network/qr"))
            .query(&[("url", url)])
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().ok(),
            Some("image/svg+xml")
        );
        let svg = response.text().await.expect("text");
        assert!(svg.starts_with("<svg"), "{svg}");
    }
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
