//! A tournament at the venue end to end: edge-agent as a process, four simulated controllers on
//! pseudo-terminals behind firmware-bridge, a 16-player double elimination called to the tables
//! and scored by their sensors with nobody typing a score, and a kill -9 of the agent mid-event:
//! after the restart the bracket and its calls are what was committed, and play goes on to a
//! champion. The outbox holds the tournament's records, their ordinals without gaps.

use std::path::Path;
use std::time::Duration;

use edge_agent::tournament::{Tournament, TournamentInput};
use firmware_bridge::simulator::{Controller, Players};
use serde_json::{Value, json};
use shared::rules::MatchSpec;
use tokio_util::sync::CancellationToken;

use crate::helpers::{
    EDGE_AGENT, Plugged, Process, TOKEN, bridge_config, sim_options, sql_count, temp_dir,
};

const TABLES: [&str; 4] = ["k1", "k2", "k3", "k4"];

async fn get(base: &str, path: &str) -> Option<Value> {
    let response = reqwest::get(format!("{base}{path}")).await.ok()?;
    response.json().await.ok()
}

async fn staff(base: &str, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(TOKEN);
    if !body.is_null() {
        request = request.json(&body);
    }
    let response = request.send().await.expect("HTTP answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The table's players: each tournament match started on `table` is played on its controller,
/// once, until `stop`. Reads the table through `base` (the agent keeps its ports on restart).
async fn referee(base: String, table: &'static str, players: Players, stop: CancellationToken) {
    let mut played: Vec<Value> = Vec::new();
    while !stop.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Some(view) = get(&base, &format!("/api/v1/tables/{table}")).await else {
            continue; // the agent is down for a moment
        };
        let info = &view["match"];
        if view["status"] != "playing"
            || info["tournament"].is_null()
            || played.contains(&info["match_id"])
        {
            continue;
        }
        played.push(info["match_id"].clone());
        let spec: MatchSpec = serde_json::from_value(json!({
            "game": info["game"], "players": info["players"], "race_to": info["race_to"],
            "break": info["break"],
        }))
        .expect("a match spec");
        tokio::select! {
            () = stop.cancelled() => return,
            _ = players.play(spec) => {}
        }
    }
}

/// The tournament as its log on disk says (read while the agent is down).
fn replayed_from_disk(dir: &Path, id: &str) -> Tournament {
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("edge.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("database opens");
    let mut rows = conn
        .prepare("SELECT at_ms, input FROM tournament_events WHERE tournament_id = ?1 ORDER BY seq")
        .expect("query");
    let inputs: Vec<(i64, String)> = rows
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows read");
    let mut tournament: Option<Tournament> = None;
    for (at_ms, input) in inputs {
        let input: TournamentInput = serde_json::from_str(&input).expect("a logged input");
        let at_ms = u64::try_from(at_ms).unwrap_or(0);
        match &mut tournament {
            None => tournament = Some(Tournament::create(id, &input, at_ms).expect("created")),
            Some(t) => {
                t.apply(&input, at_ms).expect("applies");
            }
        }
    }
    tournament.expect("the tournament is on disk")
}

fn done_matches(view: &Value) -> Vec<Value> {
    view["matches"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter(|m| m["status"] == "done")
                .map(|m| json!([m["id"], m["winner"], m["score"]]))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_players_double_elimination_plays_itself_on_four_tables_through_a_kill_dash_nine() {
    let dir = temp_dir("tournament-e2e");
    let flags: Vec<String> = Vec::new();
    let mut agent = Process::start(EDGE_AGENT, &dir, &flags).await;
    let base = agent.http.clone();

    let stop = CancellationToken::new();
    let mut plugged = Vec::new();
    let mut links = Vec::new();
    let mut referees = Vec::new();
    for (n, table) in TABLES.iter().enumerate() {
        let (controller, players) = Controller::idle(sim_options(table, 40 + n as u64));
        let link = dir.join(format!("tty-{table}"));
        plugged.push(Plugged::plug(controller, &link));
        links.push(link);
        referees.push(tokio::spawn(referee(
            base.clone(),
            table,
            players,
            stop.clone(),
        )));
    }
    let bridge = firmware_bridge::run(bridge_config(links, agent.mqtt));

    let names: Vec<String> = (1..=16).map(|n| format!("Player {n:02}")).collect();
    let (status, created) = staff(
        &base,
        reqwest::Method::POST,
        "/api/v1/tournaments",
        json!({"name": "Sunday double", "format": "double-elimination", "game": "nine-ball",
               "options": {"race": {"to": 1}}, "entrants": names, "tables": TABLES}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("an id").to_owned();
    for name in &names {
        let path = format!("/api/v1/tournaments/{id}/check-in");
        let (status, body) =
            staff(&base, reqwest::Method::POST, &path, json!({"name": name})).await;
        assert_eq!(status, 200, "{body}");
    }
    let path = format!("/api/v1/tournaments/{id}/start");
    let (status, started) = staff(&base, reqwest::Method::POST, &path, Value::Null).await;
    assert_eq!(status, 200, "{started}");

    // Mid-event: once a third of the matches are decided, kill -9.
    let view_path = format!("/api/v1/tournaments/{id}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let view = get(&base, &view_path).await.expect("the tournament");
        if done_matches(&view["bracket"]).len() >= 12
            && !view["calls"].as_array().is_none_or(Vec::is_empty)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "12 matches within 120 s: {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    agent.child.kill().expect("SIGKILL");
    agent.child.wait().expect("reaped");
    let on_disk = replayed_from_disk(&dir, &id).view(600_000);
    let on_disk = serde_json::to_value(&on_disk).expect("json");
    let agent = Process::restart(&agent, EDGE_AGENT, &dir, &flags).await;
    let after = get(&base, &view_path)
        .await
        .expect("the tournament after the restart");
    // Nothing committed is lost: every decided match is decided the same, every call still open
    // (or decided since).
    let decided = done_matches(&after["bracket"]);
    for done in done_matches(&on_disk["bracket"]) {
        assert!(
            decided.contains(&done),
            "{done} kept after the restart: {after}"
        );
    }
    for call in on_disk["calls"].as_array().cloned().unwrap_or_default() {
        let open = after["calls"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["table_match"] == call["table_match"]));
        let since = decided.iter().any(|d| d[0] == call["bracket_match"]);
        assert!(open || since, "call {call} kept after the restart: {after}");
    }

    // Play goes on to the end.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    let done = loop {
        let view = get(&base, &view_path).await.expect("the tournament");
        if view["status"] == "complete" {
            break view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the end within 240 s: {view}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let champion = done["champion"].as_str().expect("a champion");
    assert!(names.iter().any(|n| n == champion), "{done}");
    assert!(
        done["calls"].as_array().is_some_and(Vec::is_empty),
        "{done}"
    );

    stop.cancel();
    for referee in referees {
        let _ = referee.await;
    }
    bridge.stop().await;
    for plug in plugged {
        let _ = plug.unplug().await;
    }
    drop(agent);

    // The outbox: the start, every call, every result, ordinals 1.. without gaps, every result
    // from a table (nobody typed one).
    let q = |sql: &str| sql_count(&dir, sql);
    assert_eq!(
        q("SELECT COUNT(*) FROM outbox WHERE kind = 'tournament_started'"),
        1
    );
    let entered = q("SELECT COUNT(*) FROM outbox WHERE kind = 'tournament_entered'");
    assert!(entered >= 30, "{entered} results");
    assert_eq!(
        q(
            "SELECT COUNT(DISTINCT json_extract(payload, '$.ordinal')) FROM outbox WHERE kind = 'tournament_entered'"
        ),
        entered
    );
    assert_eq!(
        q(
            "SELECT MAX(json_extract(payload, '$.ordinal')) FROM outbox WHERE kind = 'tournament_entered'"
        ),
        entered
    );
    assert_eq!(
        q(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'tournament_entered' AND json_extract(payload, '$.table_match') IS NULL"
        ),
        0,
        "every result came from a table"
    );
    assert!(q("SELECT COUNT(*) FROM outbox WHERE kind = 'tournament_called'") >= entered);
    assert_eq!(
        q(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'match_started' AND json_extract(payload, '$.tournament.tournament_id') IS NULL"
        ),
        0,
        "every table match played the tournament"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
