//! The venue's results API over the real agent: finished matches only, newest first, filtered by
//! table, player and day, paged with a cursor, each with its racks, statistics and shot log; bad
//! parameters are a 422 with a JSON sentence.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::helpers::*;

/// `YYYY-MM-DD` of `ms` in UTC (Howard Hinnant's `civil_from_days`).
pub(crate) fn utc_day(ms: u64) -> String {
    let days = i64::try_from(ms / 86_400_000).expect("a date") + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

pub(crate) fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("ms")
}

/// A match of `players` on `table` that `players[1]` concedes at once: finished, one rack.
pub(crate) async fn conceded(agent: &Agent, table: &str, players: [&str; 2]) -> String {
    let spec = json!({"game": "eight-ball", "players": players, "race_to": 3});
    let view = agent.start_match_spec(table, &spec).await;
    let (status, body) = agent
        .post(
            &format!("/api/v1/tables/{table}/matches/current/actions"),
            json!({"action": "concede", "player": 1}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    view["match"]["match_id"]
        .as_str()
        .expect("a match id")
        .to_owned()
}

fn ids(page: &Value) -> Vec<String> {
    page["matches"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["match_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn results_are_paged_filtered_and_carry_racks_stats_and_the_shot_log() {
    let dir = data_dir("results");
    let agent = Agent::start(&dir).await;
    let mut feed = ws(&agent, "?tables=r1").await;

    // A played match on r1: Ann makes the 9 on two breaks, 2-0.
    agent.start_match("r1", "nine-ball", 2).await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-r1").await;
    ctl.pocket("r1", 9, 3).await;
    ctl.button("r1", "end_turn").await;
    until_within(&mut feed, "r1", 10, |v| v["score"] == json!([1, 0])).await;
    // Bo breaks the second rack (alternate) and misses; Ann runs the 9 in.
    ctl.button("r1", "end_turn").await;
    ctl.pocket("r1", 9, 1).await;
    ctl.button("r1", "end_turn").await;
    let done = until_within(&mut feed, "r1", 10, |v| v["status"] == "finished").await;
    let played = done["match"]["match_id"].as_str().expect("id").to_owned();
    assert_eq!(done["score"], json!([2, 0]), "{done}");

    let mut newest_first = vec![played.clone()];
    for (table, players) in [
        ("r2", ["Cy", "Di"]),
        ("r1", ["Eve", "ANN MARIE"]),
        ("r2", ["Fay", "Gus"]),
        ("r3", ["Hal", "Ivy"]),
    ] {
        newest_first.insert(0, conceded(&agent, table, players).await);
    }
    // A match in play is not a result.
    agent.start_match("r3", "ten-ball", 5).await;

    let (status, all) = agent.get("/api/v1/results").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(ids(&all), newest_first, "{all:#}");
    assert_eq!(all["next_before"], Value::Null, "{all}");
    let first = &all["matches"][4];
    assert_eq!(
        (
            &first["table"],
            &first["game"],
            &first["players"],
            &first["race_to"]
        ),
        (
            &json!("r1"),
            &json!("nine-ball"),
            &json!(["Ann", "Bo"]),
            &json!(2)
        ),
        "{first:#}"
    );
    assert_eq!(
        (&first["score"], &first["winner"]),
        (&json!([2, 0]), &json!(0)),
        "{first:#}"
    );
    assert_eq!(
        first["racks"].as_array().map(|r| r
            .iter()
            .map(|r| (
                r["ordinal"].clone(),
                r["winner"].clone(),
                r["score"].clone()
            ))
            .collect::<Vec<_>>()),
        Some(vec![
            (json!(1), json!(0), json!([1, 0])),
            (json!(2), json!(0), json!([2, 0]))
        ]),
        "{first:#}"
    );
    assert_eq!(first["stats"][0]["racks_won"], 2, "{first:#}");
    assert!(
        first["racks"][0].get("shots").is_none(),
        "no shot log in a list: {first:#}"
    );
    let (started, finished) = (
        first["started_ms"].as_u64().expect("started"),
        first["finished_ms"].as_u64().expect("finished"),
    );
    assert!(started <= finished && finished <= now_ms(), "{first:#}");

    // Pages of two, with the cursor, give the same list.
    let mut paged = Vec::new();
    let mut path = "/api/v1/results?limit=2".to_owned();
    for page_no in 0.. {
        assert!(page_no < 5, "the pages end");
        let (status, page) = agent.get(&path).await;
        assert_eq!(status, 200, "{page}");
        assert!(ids(&page).len() <= 2, "{page}");
        paged.extend(ids(&page));
        match page["next_before"].as_u64() {
            Some(cursor) => path = format!("/api/v1/results?limit=2&before={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, newest_first);

    // Filters: a table, a player (any case, part of a name), a day.
    let (_, r2) = agent.get("/api/v1/results?table=r2").await;
    assert_eq!(
        ids(&r2),
        vec![newest_first[1].clone(), newest_first[3].clone()]
    );
    let (_, ann) = agent.get("/api/v1/results?player=ann").await;
    assert_eq!(
        ids(&ann),
        vec![newest_first[2].clone(), played.clone()],
        "{ann:#}"
    );
    let (_, ann_r1) = agent
        .get("/api/v1/results?player=ann&table=r1&limit=1")
        .await;
    assert_eq!(ids(&ann_r1), vec![newest_first[2].clone()]);
    assert!(ann_r1["next_before"].is_u64(), "{ann_r1}");
    let today = utc_day(started);
    let (_, day) = agent
        .get(&format!("/api/v1/results?day={today}&tz=0"))
        .await;
    assert_eq!(ids(&day), newest_first, "{day}");
    let (_, long_ago) = agent.get("/api/v1/results?day=2001-09-09").await;
    assert_eq!(long_ago, json!({"matches": [], "next_before": null}));

    // One match: its racks' shots and the whole shot log.
    let (status, one) = agent.get(&format!("/api/v1/results/{played}")).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["match_id"], played.as_str());
    let shots = one["racks"][0]["shots"].as_array().map(Vec::len);
    assert_eq!(shots, Some(1), "the 9 on the break: {one:#}");
    assert_eq!(
        one["racks"][0]["shots"][0]["shot"]["pocketed"][0]["ball"], 9,
        "{one:#}"
    );
    assert!(
        one["inputs"].as_array().is_some_and(|i| i.len() == 3),
        "break, miss, run-out: {one:#}"
    );
    let (status, missing) = agent.get("/api/v1/results/no-such-match").await;
    assert_eq!(status, 404, "{missing}");
    assert!(missing["error"].is_string(), "{missing}");

    // Bad parameters: a 422 that says which.
    for (query, says) in [
        ("limit=0", "limit"),
        ("limit=lots", "limit"),
        ("before=-3", "before"),
        ("day=2026-02-30", "day"),
        ("day=2026-02-03&tz=east", "tz"),
        ("table=no%20spaces", "table"),
        ("colour=red", "colour"),
    ] {
        let (status, body) = agent.get(&format!("/api/v1/results?{query}")).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains(says)),
            "{query}: {body}"
        );
    }
    // An open read: nothing to write here.
    let response = reqwest::Client::new()
        .post(agent.url("/api/v1/results"))
        .json(&json!({}))
        .send()
        .await
        .expect("HTTP answers");
    assert_eq!(response.status().as_u16(), 405);

    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
