//! Results a venue may report: real sync batches from two venues, real accounts. Venue B forges a
//! 9–0 loss into a registered player's record: it stays out of public statistics and is shown to
//! the player as unconfirmed until they confirm it; a dispute keeps it out; a check-in or a trusted
//! venue makes results count as they arrive; nobody else can speak for the player.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Answer, App, Persona, post_raw, rec, spawn_app};

/// A registered player with a public profile and an account (verified or not) that holds it.
async fn player_account(app: &App, name: &str, verified: bool) -> (Persona, String) {
    let player = cloud_sync::players::create_player(&app.pool, name, None)
        .await
        .expect("player");
    let persona = app.persona(name, verified, &[]).await;
    sqlx::query("UPDATE users SET player_id = $1 WHERE id = $2")
        .bind(&player.id)
        .bind(&persona.id)
        .execute(&app.pool)
        .await
        .expect("link the player");
    // Public, so anonymous reads show what counts (privacy is tested in `roles`).
    app.make_public(&player.id).await;
    (persona, player.id)
}

/// A second venue and its key.
async fn venue_b(app: &App) -> (String, String) {
    cloud_sync::venues::create_venue(&app.pool, "Other Hall")
        .await
        .expect("venue B")
}

/// Now, in Unix ms (as a venue's clock says when a match starts).
fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms")
}

/// A match `mid` started at `started_ms` with `player` in seat 0, finished `score` (seat 1 wins
/// when it has more).
fn a_match(seq: u64, mid: &str, player: &str, started_ms: u64, score: [i32; 2]) -> Vec<Value> {
    let mut start = rec::started_with(seq, mid, [Some(player), None]);
    start["payload"]["started_ms"] = json!(started_ms);
    let winner = usize::from(score[1] > score[0]);
    vec![start, rec::finished(seq + 1, mid, winner, score)]
}

/// Posts `records` as `venue` with `key` and waits until they are projected.
async fn sync(app: &App, venue: &str, key: &str, epoch: &str, records: Vec<Value>) {
    let batch = json!({"venue_id": venue, "epoch": epoch, "records": records});
    let answer = post_raw(
        &app.http,
        &app.base,
        Some(key),
        batch.to_string().into_bytes(),
        false,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    app.projected().await;
}

async fn call(app: &App, method: Method, path: &str, who: &Persona, body: Option<Value>) -> Answer {
    app.call(method, path, Some(&who.token), body.as_ref())
        .await
}

/// The cloud id of `venue`'s match `mid`.
async fn match_id(app: &App, venue: &str, mid: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM matches WHERE venue_id = $1 AND venue_match_id = $2")
        .bind(venue)
        .bind(mid)
        .fetch_one(&app.pool)
        .await
        .expect("match")
}

/// The player's public statistics, once `matches` reaches `expected` (the cache follows the change
/// after its commit).
async fn public_matches(app: &App, player: &str, expected: i64) -> Value {
    let answer = app
        .get_until(&format!("/api/v1/players/{player}"), |a| {
            a.body["stats"]["matches"] == json!(expected)
        })
        .await;
    assert_eq!(
        answer.body["stats"]["matches"],
        json!(expected),
        "{}",
        answer.body
    );
    answer.body["stats"].clone()
}

/// `(venue_match_id, status)` of the player's results with `?status=`.
async fn my_results(app: &App, who: &Persona, status: &str) -> Vec<(String, String)> {
    let answer = call(
        app,
        Method::GET,
        &format!("/api/v1/me/results?status={status}"),
        who,
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            (
                r["venue_match_id"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_forged_loss_stays_out_until_the_player_confirms_it() {
    let app = spawn_app().await;
    let (ann, ann_player) = player_account(&app, "Ann", true).await;
    // Warm the cache with Ann's empty record.
    public_matches(&app, &ann_player, 0).await;
    let (b, b_key) = venue_b(&app).await;
    sync(
        &app,
        &b,
        &b_key,
        "e1",
        a_match(1, "forged", &ann_player, now_ms(), [0, 9]),
    )
    .await;
    let forged = match_id(&app, &b, "forged").await;

    // Not in Ann's public record, not in her history, and withheld in the venue's list.
    let stats = public_matches(&app, &ann_player, 0).await;
    assert_eq!(stats["losses"], 0);
    let history = app
        .get(&format!("/api/v1/players/{ann_player}/matches"), false)
        .await;
    assert_eq!(history.body["matches"], json!([]), "{}", history.body);
    let listed = app.get(&format!("/api/v1/venues/{b}/matches"), false).await;
    let shown = &listed.body["matches"][0];
    assert_eq!(shown["venue_match_id"], "forged", "{}", listed.body);
    assert_eq!(shown["player_ids"], json!([null, null]));
    // The public sees neither the withheld seat nor the walk-in by name (privacy: tests in `roles`).
    assert_eq!(shown["players"], json!(["Guest", "Guest"]));
    assert_eq!(shown["score"], json!([0, 9]));
    let detail = app.get(&format!("/api/v1/matches/{forged}"), false).await;
    assert_eq!(detail.body["stats"][0]["player_id"], Value::Null);
    assert_eq!(detail.body["spec"]["players"], json!(["Guest", "Guest"]));

    // Shown to Ann, unconfirmed.
    assert_eq!(
        my_results(&app, &ann, "unconfirmed").await,
        [("forged".to_owned(), "unconfirmed".to_owned())]
    );
    assert!(my_results(&app, &ann, "confirmed").await.is_empty());

    // Nobody else can confirm it: another player, an account without a player, venue B's
    // manager; an unverified account cannot confirm even its own.
    let (bo, _) = player_account(&app, "Bo", true).await;
    let nobody = app.persona("nobody", true, &[]).await;
    let manager = app
        .persona(
            "manager-b",
            true,
            &[(cloud_sync::accounts::Role::VenueManager, Some(&b))],
        )
        .await;
    let path = format!("/api/v1/me/results/{forged}/confirm");
    for who in [&bo, &nobody, &manager] {
        let answer = call(&app, Method::POST, &path, who, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
    }
    let anonymous = app.call(Method::POST, &path, None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let venue_key = app.call(Method::POST, &path, Some(&b_key), None).await;
    assert_eq!(venue_key.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.count("SELECT count(*) FROM result_confirmations").await,
        0
    );
    public_matches(&app, &ann_player, 0).await;

    // Ann confirms: it counts, publicly and named.
    let confirmed = call(&app, Method::POST, &path, &ann, None).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert_eq!(confirmed.body["status"], "confirmed");
    let stats = public_matches(&app, &ann_player, 1).await;
    assert_eq!(
        (stats["losses"].clone(), stats["wins"].clone()),
        (json!(1), json!(0))
    );
    let listed = app
        .get_until(&format!("/api/v1/venues/{b}/matches"), |a| {
            a.body["matches"][0]["player_ids"][0] == json!(ann_player)
        })
        .await;
    assert_eq!(
        listed.body["matches"][0]["players"],
        json!(["Ann", "Guest"])
    );
    assert_eq!(
        my_results(&app, &ann, "confirmed").await,
        [("forged".to_owned(), "confirmed".to_owned())]
    );
}

#[tokio::test]
async fn a_disputed_result_stays_out_and_its_venue_managers_see_it() {
    let app = spawn_app().await;
    let (ann, ann_player) = player_account(&app, "Ann", false).await;
    let (b, b_key) = venue_b(&app).await;
    // Ann trusts venue B later (verified by then): a dispute still wins.
    sync(
        &app,
        &b,
        &b_key,
        "e1",
        a_match(1, "forged", &ann_player, now_ms(), [0, 9]),
    )
    .await;
    let forged = match_id(&app, &b, "forged").await;
    let path = format!("/api/v1/me/results/{forged}/dispute");

    // Bad input changes nothing.
    for body in [
        json!({}),
        json!({"reason": "   "}),
        json!({"reason": "x".repeat(501)}),
    ] {
        let answer = call(&app, Method::POST, &path, &ann, Some(body)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
        assert!(answer.body["error"].is_string());
    }
    let huge = call(
        &app,
        Method::POST,
        &path,
        &ann,
        Some(json!({"reason": "x".repeat(10_000)})),
    )
    .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    let raw = app
        .http
        .post(app.url(&path))
        .bearer_auth(&ann.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("answered");
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    for bad in ["1%27%3B%20DROP%20TABLE%20matches%3B--", "99999999", "x"] {
        let answer = call(
            &app,
            Method::POST,
            &format!("/api/v1/me/results/{bad}/dispute"),
            &ann,
            Some(json!({"reason": "no"})),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{bad}: {}",
            answer.body
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM result_confirmations").await,
        0
    );

    let manager_b = app
        .persona(
            "manager-b",
            true,
            &[(cloud_sync::accounts::Role::VenueManager, Some(&b))],
        )
        .await;
    // An unverified account may dispute (it keeps a result out), not confirm.
    let confirm = format!("/api/v1/me/results/{forged}/confirm");
    let refused = call(&app, Method::POST, &confirm, &ann, None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let disputed = call(
        &app,
        Method::POST,
        &path,
        &ann,
        Some(json!({"reason": "I was never at that hall"})),
    )
    .await;
    assert_eq!(disputed.status, StatusCode::OK, "{}", disputed.body);
    assert_eq!(disputed.body["status"], "disputed");
    assert_eq!(
        my_results(&app, &ann, "disputed").await,
        [("forged".to_owned(), "disputed".to_owned())]
    );
    assert!(my_results(&app, &ann, "unconfirmed").await.is_empty());

    // Trusting the venue afterwards does not bring a disputed result back.
    sqlx::query("UPDATE users SET email_verified_at = now() WHERE id = $1")
        .bind(&ann.id)
        .execute(&app.pool)
        .await
        .expect("verify");
    let verified = app.persona("ann-again", true, &[]).await;
    sqlx::query("UPDATE users SET player_id = NULL WHERE id = $1")
        .bind(&ann.id)
        .execute(&app.pool)
        .await
        .expect("unlink");
    sqlx::query("UPDATE users SET player_id = $1 WHERE id = $2")
        .bind(&ann_player)
        .bind(&verified.id)
        .execute(&app.pool)
        .await
        .expect("relink");
    let trusted = call(
        &app,
        Method::PUT,
        &format!("/api/v1/me/trusted-venues/{b}"),
        &verified,
        None,
    )
    .await;
    assert_eq!(trusted.status, StatusCode::OK, "{}", trusted.body);
    public_matches(&app, &ann_player, 0).await;
    assert_eq!(
        my_results(&app, &verified, "all").await,
        [("forged".to_owned(), "disputed".to_owned())]
    );

    // Venue B's managers see the dispute; venue A's manager may not look.
    let seen = call(
        &app,
        Method::GET,
        &format!("/api/v1/venues/{b}/disputes"),
        &manager_b,
        None,
    )
    .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    let dispute = &seen.body["disputes"][0];
    assert_eq!(dispute["venue_match_id"], "forged");
    assert_eq!(dispute["player_id"], json!(ann_player));
    assert_eq!(dispute["reason"], "I was never at that hall");
    assert!(dispute.get("email").is_none());
    // …and were told, once, in the dispute's transaction.
    let told: Vec<(String, Value)> =
        sqlx::query_as("SELECT user_id, payload FROM notifications WHERE kind = 'result_disputed'")
            .fetch_all(&app.pool)
            .await
            .expect("notifications");
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].0, manager_b.id);
    assert_eq!(told[0].1["reason"], "I was never at that hall");
    assert_eq!(told[0].1["venue_match_id"], "forged");
    let manager_a = app
        .persona(
            "manager-a",
            true,
            &[(cloud_sync::accounts::Role::VenueManager, Some(&app.venue))],
        )
        .await;
    let refused = call(
        &app,
        Method::GET,
        &format!("/api/v1/venues/{b}/disputes"),
        &manager_a,
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_checkin_makes_that_venues_matches_count_and_no_other() {
    let app = spawn_app().await;
    let (ann, ann_player) = player_account(&app, "Ann", true).await;
    let (b, b_key) = venue_b(&app).await;
    let venue_a = app.venue.clone();

    let checkin = call(
        &app,
        Method::POST,
        "/api/v1/me/checkins",
        &ann,
        Some(json!({"venue_id": venue_a})),
    )
    .await;
    assert_eq!(checkin.status, StatusCode::CREATED, "{}", checkin.body);
    assert_eq!(checkin.body["active"], true);
    // Again at the same venue: the running one is renewed, not doubled.
    let again = call(
        &app,
        Method::POST,
        "/api/v1/me/checkins",
        &ann,
        Some(json!({"venue_id": venue_a})),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["id"], checkin.body["id"]);
    let unknown = call(
        &app,
        Method::POST,
        "/api/v1/me/checkins",
        &ann,
        Some(json!({"venue_id": "no-such-venue"})),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let unverified = app.persona("unverified", false, &[]).await;
    let refused = call(
        &app,
        Method::POST,
        "/api/v1/me/checkins",
        &unverified,
        Some(json!({"venue_id": venue_a})),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // A match started at venue A 10 minutes before the check-in counts; one at venue B at the same
    // time does not, nor one venue A says it started two hours before the check-in.
    let now = now_ms();
    let key = app.key.clone();
    let mut records = a_match(1, "played", &ann_player, now - 600_000, [9, 3]);
    records.extend(a_match(
        3,
        "backdated",
        &ann_player,
        now - 7_200_000,
        [0, 9],
    ));
    sync(&app, &venue_a, &key, "e1", records).await;
    sync(
        &app,
        &b,
        &b_key,
        "e1",
        a_match(1, "elsewhere", &ann_player, now, [0, 9]),
    )
    .await;
    let stats = public_matches(&app, &ann_player, 1).await;
    assert_eq!(stats["wins"], 1);
    let mut unconfirmed = my_results(&app, &ann, "unconfirmed").await;
    unconfirmed.sort();
    assert_eq!(
        unconfirmed,
        [
            ("backdated".to_owned(), "unconfirmed".to_owned()),
            ("elsewhere".to_owned(), "unconfirmed".to_owned())
        ]
    );
    assert_eq!(
        my_results(&app, &ann, "confirmed").await,
        [("played".to_owned(), "checked_in".to_owned())]
    );

    // Ending the check-in keeps what it covered; matches started after it are not covered.
    let id = checkin.body["id"].as_i64().expect("id");
    let ended = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/me/checkins/{id}"),
        &ann,
        None,
    )
    .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    assert_eq!(ended.body["active"], false);
    sync(
        &app,
        &venue_a,
        &key,
        "e2",
        a_match(1, "after", &ann_player, now_ms() + 60_000, [0, 9]),
    )
    .await;
    public_matches(&app, &ann_player, 1).await;
    let listed = call(&app, Method::GET, "/api/v1/me/checkins", &ann, None).await;
    assert_eq!(
        listed.body["checkins"][0]["active"], false,
        "{}",
        listed.body
    );
    // Another account cannot end it.
    let other = app.persona("other", true, &[]).await;
    let not_theirs = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/me/checkins/{id}"),
        &other,
        None,
    )
    .await;
    assert_eq!(not_theirs.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_trusted_venues_results_count_while_it_is_trusted() {
    let app = spawn_app().await;
    let (ann, ann_player) = player_account(&app, "Ann", true).await;
    let venue_a = app.venue.clone();
    let key = app.key.clone();
    sync(
        &app,
        &venue_a,
        &key,
        "e1",
        a_match(1, "home", &ann_player, now_ms(), [9, 5]),
    )
    .await;
    public_matches(&app, &ann_player, 0).await;

    let path = format!("/api/v1/me/trusted-venues/{venue_a}");
    let trusted = call(&app, Method::PUT, &path, &ann, None).await;
    assert_eq!(trusted.status, StatusCode::OK, "{}", trusted.body);
    assert_eq!(trusted.body["venue_name"], "Test Hall");
    let stats = public_matches(&app, &ann_player, 1).await;
    assert_eq!(stats["wins"], 1);
    assert_eq!(
        my_results(&app, &ann, "confirmed").await,
        [("home".to_owned(), "trusted".to_owned())]
    );
    let listed = call(&app, Method::GET, "/api/v1/me/trusted-venues", &ann, None).await;
    assert_eq!(listed.body["venues"][0]["venue_id"], json!(venue_a));
    let unknown = call(
        &app,
        Method::PUT,
        "/api/v1/me/trusted-venues/no-such-venue",
        &ann,
        None,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let removed = call(&app, Method::DELETE, &path, &ann, None).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    public_matches(&app, &ann_player, 0).await;
    assert_eq!(
        my_results(&app, &ann, "unconfirmed").await,
        [("home".to_owned(), "unconfirmed".to_owned())]
    );
}

#[tokio::test]
async fn results_from_before_the_profile_was_claimed_count_as_reported() {
    let app = spawn_app().await;
    let player = cloud_sync::players::create_player(&app.pool, "Cy", None)
        .await
        .expect("player");
    app.make_public(&player.id).await;
    let key = app.key.clone();
    let venue = app.venue.clone();
    // No account holds Cy: the venue's report counts, as before accounts existed.
    sync(
        &app,
        &venue,
        &key,
        "e1",
        a_match(1, "old", &player.id, now_ms(), [9, 2]),
    )
    .await;
    public_matches(&app, &player.id, 1).await;

    // Cy claims the profile: nothing public changes; the old result is listed as reported and can
    // be disputed. A result recorded after the claim waits for Cy's word.
    let cy = app.persona("Cy", true, &[]).await;
    sqlx::query("UPDATE users SET player_id = $1 WHERE id = $2")
        .bind(&player.id)
        .bind(&cy.id)
        .execute(&app.pool)
        .await
        .expect("claim");
    sync(
        &app,
        &venue,
        &key,
        "e2",
        a_match(1, "new", &player.id, now_ms(), [9, 2]),
    )
    .await;
    public_matches(&app, &player.id, 1).await;
    assert_eq!(
        my_results(&app, &cy, "all").await,
        [
            ("new".to_owned(), "unconfirmed".to_owned()),
            ("old".to_owned(), "reported".to_owned())
        ]
    );
    let old = match_id(&app, &venue, "old").await;
    let disputed = call(
        &app,
        Method::POST,
        &format!("/api/v1/me/results/{old}/dispute"),
        &cy,
        Some(json!({"reason": "not me"})),
    )
    .await;
    assert_eq!(disputed.status, StatusCode::OK, "{}", disputed.body);
    public_matches(&app, &player.id, 0).await;

    // An account without a player has no results; a bad filter is a 400.
    let nobody = app.persona("nobody", true, &[]).await;
    assert!(my_results(&app, &nobody, "all").await.is_empty());
    let bad = call(&app, Method::GET, "/api/v1/me/results?status=x", &cy, None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body["error"].is_string());
}

#[tokio::test]
async fn the_results_page_confirms_disputes_checks_in_and_trusts() {
    use dojo_testkit::browser::{Browser, click};
    let app = spawn_app().await;
    let (ann, ann_player) = player_account(&app, "Ann", true).await;
    let (b, b_key) = venue_b(&app).await;
    let mut records = a_match(1, "to-confirm", &ann_player, now_ms(), [9, 4]);
    records.extend(a_match(3, "to-dispute", &ann_player, now_ms(), [0, 9]));
    sync(&app, &b, &b_key, "e1", records).await;
    let confirm_id = match_id(&app, &b, "to-confirm").await;
    let dispute_id = match_id(&app, &b, "to-dispute").await;

    // Signed in as Ann: her access token in the tab's sessionStorage, where portal.js keeps it,
    // set before the page's scripts run (no test hook in the page).
    let mut browser = Browser::launch().await;
    let target = browser
        .call(None, "Target.createTarget", json!({"url": "about:blank"}))
        .await;
    let tab = browser
        .call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        )
        .await["sessionId"]
        .as_str()
        .expect("a session")
        .to_owned();
    browser.call(Some(&tab), "Page.enable", json!({})).await;
    // A phone's screen: the page must fit it (tables scroll inside their own box).
    browser.viewport(&tab, 390, 844, true).await;
    browser
        .call(
            Some(&tab),
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": format!("sessionStorage.setItem('dojo.access', {:?});", ann.token)}),
        )
        .await;
    browser
        .call(
            Some(&tab),
            "Page.navigate",
            json!({"url": app.url("/portal/results")}),
        )
        .await;
    // The new document's context exists once the navigation has committed.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let rows = "document.querySelectorAll('#results tbody tr').length";
    browser
        .wait_for(&tab, rows, "two results to confirm", |v| v == 2)
        .await;

    browser
        .wait_for(
            &tab,
            &click(&format!("button.confirm[data-match=\"{confirm_id}\"]")),
            "the confirm button",
            |v| v == true,
        )
        .await;
    browser
        .wait_for(&tab, rows, "one result left to confirm", |v| v == 1)
        .await;
    browser
        .eval(
            &tab,
            &format!(
                "(() => {{ const f = document.querySelector('form.dispute[data-match=\"{dispute_id}\"]'); \
                 f.querySelector('input').value = 'I was <b>never</b> there'; f.requestSubmit(); return true; }})()"
            ),
        )
        .await;
    browser
        .wait_for(&tab, rows, "no result left to confirm", |v| v == 0)
        .await;
    browser
        .eval(
            &tab,
            "document.getElementById('status').value = 'disputed'; \
             document.getElementById('status').dispatchEvent(new Event('change')); true",
        )
        .await;
    let reason = browser
        .wait_for(
            &tab,
            "(document.querySelector('#results tbody tr .hint') || {}).textContent",
            "the disputed result with its reason",
            |v| v.is_string(),
        )
        .await;
    assert_eq!(reason, "I was <b>never</b> there");

    // Check in at venue B, and trust the test hall.
    browser
        .eval(
            &tab,
            &format!(
                "document.getElementById('checkin-venue').value = {b:?}; \
                 document.getElementById('checkin-form').requestSubmit(); true"
            ),
        )
        .await;
    browser
        .wait_for(
            &tab,
            "document.querySelectorAll('#checkins tbody tr').length",
            "the check-in",
            |v| v == 1,
        )
        .await;
    browser
        .eval(
            &tab,
            &format!(
                "document.getElementById('trust-venue').value = {:?}; \
                 document.getElementById('trust-form').requestSubmit(); true",
                app.venue
            ),
        )
        .await;
    browser
        .wait_for(
            &tab,
            "(document.querySelector('#trusted li') || {}).dataset?.venue",
            "the trusted venue",
            |v| v == &json!(app.venue),
        )
        .await;

    let fits = browser
        .eval(
            &tab,
            "document.documentElement.scrollWidth <= window.innerWidth",
        )
        .await;
    assert_eq!(fits, true, "the page is wider than a phone's screen");

    // What the page did is what the API says.
    let statuses: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.venue_match_id, c.state FROM result_confirmations c
         JOIN matches m ON m.id = c.match_id ORDER BY m.venue_match_id",
    )
    .fetch_all(&app.pool)
    .await
    .expect("confirmations");
    assert_eq!(
        statuses,
        [
            ("to-confirm".to_owned(), "confirmed".to_owned()),
            ("to-dispute".to_owned(), "disputed".to_owned())
        ]
    );
    public_matches(&app, &ann_player, 1).await;
    let checkins = call(&app, Method::GET, "/api/v1/me/checkins", &ann, None).await;
    assert_eq!(checkins.body["checkins"][0]["venue_id"], json!(b));
    let trusted = call(&app, Method::GET, "/api/v1/me/trusted-venues", &ann, None).await;
    assert_eq!(trusted.body["venues"][0]["venue_id"], json!(app.venue));
}

#[tokio::test]
async fn a_players_words_follow_a_profile_merge() {
    let app = spawn_app().await;
    let (ann, ann_player) = player_account(&app, "Ann", true).await;
    let twin = cloud_sync::players::create_player(&app.pool, "Ann twin", None)
        .await
        .expect("player");
    let (b, b_key) = venue_b(&app).await;
    sync(
        &app,
        &b,
        &b_key,
        "e1",
        a_match(1, "forged", &ann_player, now_ms(), [0, 9]),
    )
    .await;
    let forged = match_id(&app, &b, "forged").await;
    let disputed = call(
        &app,
        Method::POST,
        &format!("/api/v1/me/results/{forged}/dispute"),
        &ann,
        Some(json!({"reason": "not me"})),
    )
    .await;
    assert_eq!(disputed.status, StatusCode::OK, "{}", disputed.body);
    let mut tx = app.pool.begin().await.expect("tx");
    cloud_sync::confirmations::merge_players(&mut tx, &ann_player, &twin.id)
        .await
        .expect("merge");
    tx.commit().await.expect("commit");
    let moved: Vec<(String, String)> =
        sqlx::query_as("SELECT player_id, state FROM result_confirmations")
            .fetch_all(&app.pool)
            .await
            .expect("rows");
    assert_eq!(moved, [(twin.id.clone(), "disputed".to_owned())]);
}
