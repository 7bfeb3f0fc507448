//! Staff running a match by hand over HTTP, against the real agent: balls entered by hand,
//! corrections with who and why, a void, who may do them (the staff token only), what is
//! refused (422 with the API's sentence), and the same table back after a restart.

use serde_json::{Value, json};

use crate::helpers::*;

const ACTIONS: &str = "/api/v1/tables/hand1/matches/current/actions";

/// `POST` an action with an optional token and staff name; status and body.
async fn act_as(
    agent: &Agent,
    token: Option<&str>,
    name: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(agent.url(ACTIONS)).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(name) = name {
        request = request.header("X-Dojo-Staff", name);
    }
    let response = request.send().await.expect("HTTP answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn ok(agent: &Agent, body: Value) -> Value {
    let (status, view) = act_as(agent, Some(TOKEN), Some("Kim%20O%E2%80%99Neil"), &body).await;
    assert_eq!(status, 200, "{body}: {view}");
    view
}

async fn refused(agent: &Agent, body: Value, status: u16, says: &str) {
    let (got, answer) = act_as(agent, Some(TOKEN), None, &body).await;
    assert_eq!(got, status, "{body}: {answer}");
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(says),
        "{body}: {error:?} should say {says:?}"
    );
}

#[tokio::test]
async fn staff_score_correct_and_void_by_hand_and_a_restart_replays_it_exactly() {
    let dir = data_dir("corrections");
    let agent = Agent::start(&dir).await;

    // Two players, not the same one twice.
    let same = json!({"game": "nine-ball", "players": ["Ann", " ANN "], "race_to": 3});
    let (status, body) = agent.post("/api/v1/tables/hand1/matches", same).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("twice")),
        "{body}"
    );
    let (status, body) = agent
        .post(
            "/api/v1/tables/hand1/matches",
            json!({"game": "nine-ball", "players": ["Ann", ""], "race_to": 3}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    agent.start_match("hand1", "nine-ball", 3).await;

    // Every new action is staff-only: no token and a wrong one get 401, and change nothing.
    let new_actions = [
        json!({"action": "pocket", "ball": 1, "pocket": 2}),
        json!({"action": "cue_ball"}),
        json!({"action": "adjust_rack", "player": 0, "delta": 1, "reason": "r"}),
        json!({"action": "set_score", "score": [1, 0], "reason": "r"}),
        json!({"action": "void", "reason": "r"}),
    ];
    for action in &new_actions {
        for token in [None, Some("guess")] {
            let (status, body) = act_as(&agent, token, None, action).await;
            assert_eq!(status, 401, "{action} with {token:?}: {body}");
        }
    }
    let (_, view) = agent.get("/api/v1/tables/hand1").await;
    assert_eq!(view["status"], "playing");
    assert_eq!(view["score"], json!([0, 0]), "{view}");

    // Bad values are 422s that say what is wrong.
    refused(&agent, json!({"action": "void"}), 422, "reason").await;
    refused(
        &agent,
        json!({"action": "void", "reason": "  "}),
        422,
        "needs a reason",
    )
    .await;
    let long = "x".repeat(201);
    refused(
        &agent,
        json!({"action": "void", "reason": long}),
        422,
        "longer than",
    )
    .await;
    refused(
        &agent,
        json!({"action": "adjust_rack", "player": 0, "delta": 1}),
        422,
        "reason",
    )
    .await;
    refused(
        &agent,
        json!({"action": "adjust_rack", "player": 0, "delta": 2, "reason": "r"}),
        422,
        "delta",
    )
    .await;
    refused(
        &agent,
        json!({"action": "adjust_rack", "player": 5, "delta": 1, "reason": "r"}),
        422,
        "player 5",
    )
    .await;
    refused(
        &agent,
        json!({"action": "set_score", "score": [9, 0], "reason": "r"}),
        422,
        "between 0 and the race",
    )
    .await;
    refused(
        &agent,
        json!({"action": "pocket", "ball": 12}),
        422,
        "ball 12",
    )
    .await;
    refused(
        &agent,
        json!({"action": "pocket", "ball": 2, "pocket": 9}),
        422,
        "pocket 9",
    )
    .await;
    refused(
        &agent,
        json!({"action": "cue_ball", "ball": 0}),
        422,
        "unknown field",
    )
    .await;
    let (status, body) = act_as(
        &agent,
        Some(TOKEN),
        Some("%ZZ"),
        &json!({"action": "end_turn"}),
    )
    .await;
    assert_eq!(status, 422, "a broken staff name: {body}");

    // A rack scored by hand: Ann breaks and makes the 1, scratches on the next shot; Bo runs
    // the 9 with ball in hand.
    ok(&agent, json!({"action": "pocket", "ball": 1, "pocket": 2})).await;
    ok(&agent, json!({"action": "end_turn"})).await;
    ok(&agent, json!({"action": "pocket", "ball": 2})).await;
    let view = ok(&agent, json!({"action": "cue_ball"})).await;
    assert_eq!(view["shot"]["pocketed"], json!([2]), "{view}");
    assert_eq!(view["shot"]["cue_ball_pocketed"], true, "{view}");
    let view = ok(&agent, json!({"action": "undo"})).await;
    assert_eq!(
        view["shot"]["cue_ball_pocketed"], false,
        "undo takes the cue ball back only"
    );
    assert_eq!(view["shot"]["pocketed"], json!([2]), "{view}");
    ok(&agent, json!({"action": "cue_ball"})).await;
    let view = ok(&agent, json!({"action": "end_turn"})).await;
    assert_eq!(
        (view["shooter"].clone(), view["ball_in_hand"].clone()),
        (json!(1), json!(true))
    );
    ok(&agent, json!({"action": "pocket", "ball": 9, "pocket": 5})).await;
    let view = ok(&agent, json!({"action": "end_turn"})).await;
    assert_eq!(view["score"], json!([0, 1]), "{view}");

    // Corrections: a rack more for Ann, then the score set.
    let view = ok(
        &agent,
        json!({"action": "adjust_rack", "player": 0, "delta": 1, "reason": "rack 1 was Ann's"}),
    )
    .await;
    assert_eq!(view["score"], json!([1, 1]), "{view}");
    let view = ok(
        &agent,
        json!({"action": "set_score", "score": [2, 1], "reason": "paper sheet"}),
    )
    .await;
    assert_eq!(view["score"], json!([2, 1]), "{view}");
    let view = ok(&agent, json!({"action": "undo"})).await;
    assert_eq!(
        view["score"],
        json!([1, 1]),
        "undo takes back the correction: {view}"
    );

    // Void: over, no winner, and nothing more is taken.
    let view = ok(&agent, json!({"action": "void", "reason": "players left"})).await;
    assert_eq!(view["status"], "finished", "{view}");
    assert_eq!(view["match_winner"], Value::Null, "{view}");
    assert_eq!(view["match"]["voided"]["reason"], "players left", "{view}");
    assert_eq!(
        view["match"]["voided"]["by"],
        json!({"role": "staff", "name": "Kim O’Neil"}),
        "{view}"
    );
    refused(
        &agent,
        json!({"action": "end_turn"}),
        422,
        "the match is over",
    )
    .await;

    // Logged with who made them, and the cloud's records are in the outbox.
    let logged = sql_count(
        &dir,
        "SELECT count(*) FROM events WHERE input LIKE '%\"name\":\"Kim O’Neil\"%'",
    );
    assert!(logged >= 10, "every staff input names Kim: {logged}");
    assert_eq!(
        sql_count(
            &dir,
            "SELECT count(*) FROM outbox WHERE kind = 'match_voided'"
        ),
        1
    );
    assert_eq!(
        sql_count(
            &dir,
            "SELECT count(*) FROM outbox WHERE kind = 'result_corrected' \
             AND payload LIKE '%\"reason\":\"paper sheet\"%'"
        ),
        1
    );
    assert_eq!(
        sql_count(
            &dir,
            "SELECT count(*) FROM outbox WHERE kind = 'result_corrected' \
             AND payload LIKE '%undo of a correction: paper sheet%'"
        ),
        1
    );

    let (_, before) = agent.get("/api/v1/tables/hand1").await;
    agent.stop().await;
    let agent = Agent::start(&dir).await;
    let (status, after) = agent.get("/api/v1/tables/hand1").await;
    assert_eq!(status, 200);
    assert_eq!(after, before, "the replayed table is the same");
    // A new match can start on the table.
    agent.start_match("hand1", "nine-ball", 3).await;
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
