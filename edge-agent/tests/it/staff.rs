//! Staff-only reads: the dead letters, produced the real way (a device publishing payloads the
//! agent refuses over MQTT) and read back page by page over HTTP.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::helpers::*;

const DEAD: &str = "/api/v1/dead-letters";

async fn get_as(agent: &Agent, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(agent.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("HTTP answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until the agent has kept `total` dead letters (the engine hands them to the writer
/// asynchronously); returns the counts-only answer.
async fn wait_for_total(agent: &Agent, total: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = get_as(agent, &format!("{DEAD}?limit=0"), Some(TOKEN)).await;
        assert_eq!(status, 200, "{body}");
        if body["total"] == total {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{total} dead letters not kept within 15 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Follows `next_before` from the newest page to the oldest with pages of `limit` rows.
async fn every_page(agent: &Agent, limit: usize) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let path = match before {
            Some(id) => format!("{DEAD}?limit={limit}&before={id}"),
            None => format!("{DEAD}?limit={limit}"),
        };
        let (status, page) = get_as(agent, &path, Some(TOKEN)).await;
        assert_eq!(status, 200, "{page}");
        let page_rows = page["dead_letters"].as_array().cloned().unwrap_or_default();
        assert!(page_rows.len() <= limit, "{page}");
        rows.extend(page_rows);
        match page["next_before"].as_u64() {
            Some(id) => {
                assert_eq!(rows.last().map(|r| &r["id"]), Some(&json!(id)), "{page}");
                before = Some(id);
            }
            None => return rows,
        }
    }
}

#[tokio::test]
async fn dead_letters_are_paged_newest_first_for_staff_only() {
    let dir = data_dir("dead-letters");
    let agent = Agent::start(&dir).await;
    let ctl = Device::connect(agent.mqtt, "ctl-dl").await;
    let events = "dojo/v1/tables/dl1/events";

    // What the device sends, oldest first; one client at QoS 1, so the agent refuses them in order.
    let mut sent: Vec<(String, Vec<u8>, &str)> = Vec::new();
    for i in 0..100 {
        sent.push((
            events.to_owned(),
            format!("garbage #{i}").into_bytes(),
            "not_json",
        ));
    }
    sent.push((events.to_owned(), vec![0xff, 0xfe, 0x00, 0x7b], "not_json"));
    sent.push((
        events.to_owned(),
        br#"{"device":"ctl-dl","seq":1,"type":"pocket","ball":16,"pocket":1}"#.to_vec(),
        "invalid",
    ));
    sent.push((
        events.to_owned(),
        br#"{"device":"ctl-dl","seq":2,"type":"teleport"}"#.to_vec(),
        "unknown_type",
    ));
    sent.push((
        "dojo/v1/elsewhere/dl1".to_owned(),
        b"{}".to_vec(),
        "unknown_topic",
    ));
    sent.push((events.to_owned(), vec![b' '; 20_000], "oversize"));
    for (topic, payload, _) in &sent {
        ctl.raw(topic, payload.clone()).await;
    }
    let counts = wait_for_total(&agent, sent.len() as u64).await;
    let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, _, reason) in &sent {
        *expected.entry(reason).or_default() += 1;
    }
    assert_eq!(counts["counts"], json!(expected), "{counts}");
    assert_eq!(counts["dead_letters"], json!([]), "limit=0: counts only");

    // Staff only: no token, a wrong token.
    let (status, body) = get_as(&agent, DEAD, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("Bearer")));
    let (status, body) = get_as(&agent, DEAD, Some("not-the-token")).await;
    assert_eq!((status, &body["error"]), (401, &json!("wrong staff token")));

    // The default page is 50 rows and a page is capped at 100.
    let (_, page) = get_as(&agent, DEAD, Some(TOKEN)).await;
    assert_eq!(page["dead_letters"].as_array().map(Vec::len), Some(50));
    let (_, page) = get_as(&agent, &format!("{DEAD}?limit=1000"), Some(TOKEN)).await;
    assert_eq!(page["dead_letters"].as_array().map(Vec::len), Some(100));
    assert!(page["next_before"].is_u64(), "{page}");

    // Every page, followed to the end, is everything sent, newest first, once each.
    let rows = every_page(&agent, 7).await;
    assert_eq!(rows.len(), sent.len());
    let ids: Vec<u64> = rows.iter().filter_map(|r| r["id"].as_u64()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "ids strictly decrease: {ids:?}"
    );
    for (row, (topic, payload, reason)) in rows.iter().zip(sent.iter().rev()) {
        assert_eq!(row["topic"], json!(topic), "{row}");
        assert_eq!(row["reason"], json!(reason), "{row}");
        // A dead letter keeps the first 1 KiB of its payload (docs/decisions/0015).
        let kept = &payload[..payload.len().min(1024)];
        assert_eq!(row["payload_bytes"], json!(kept.len()), "{row}");
        assert!(
            row["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{row}"
        );
        assert!(
            row["received_ms"]
                .as_u64()
                .is_some_and(|t| t > 1_700_000_000_000),
            "{row}"
        );
        let text = row["payload"].as_str().expect("payload is a string");
        let bytes = match row["payload_encoding"].as_str() {
            Some("utf8") => text.as_bytes().to_vec(),
            Some("base64") => base64::engine::general_purpose::STANDARD
                .decode(text)
                .expect("valid base64"),
            other => panic!("unknown payload_encoding {other:?}"),
        };
        assert_eq!(bytes, kept, "{row}");
    }
    let binary = rows
        .iter()
        .find(|r| r["payload_bytes"] == 4)
        .expect("the binary payload");
    assert_eq!(
        (&binary["payload_encoding"], &binary["payload"]),
        (&json!("base64"), &json!("//4Aew=="))
    );

    // Keyset pages do not shift when new letters arrive between two requests.
    let (_, first) = get_as(&agent, &format!("{DEAD}?limit=10"), Some(TOKEN)).await;
    let before = first["next_before"].as_u64().expect("more pages");
    ctl.raw(events, b"late arrival".to_vec()).await;
    wait_for_total(&agent, sent.len() as u64 + 1).await;
    let (_, second) = get_as(
        &agent,
        &format!("{DEAD}?limit=10&before={before}"),
        Some(TOKEN),
    )
    .await;
    let second_ids: Vec<u64> = second["dead_letters"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["id"].as_u64())
        .collect();
    assert_eq!(second_ids, ids[10..20], "the second page is unchanged");
    let (_, newest) = get_as(&agent, &format!("{DEAD}?limit=1"), Some(TOKEN)).await;
    assert_eq!(newest["dead_letters"][0]["payload"], "late arrival");

    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
