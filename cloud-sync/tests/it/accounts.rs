//! Accounts end to end over HTTP: sign-up (and a taken address answering alike), verification by
//! the link in the notification, sign-in (the same answer and time for a wrong address and a
//! wrong password; throttling), refresh rotation (the grace window, reuse revoking the family),
//! sign-out, sessions, password change and reset, deletion, and bad input of every kind getting a
//! clear 4xx and changing nothing.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Answer, App, PG, config, spawn_app, spawn_with, test_db};

const PASSWORD: &str = "velvet cue ball 42";

/// Registers `email`; returns the id.
async fn register(app: &App, email: &str) -> String {
    let answer = post(
        app,
        "/api/v1/auth/register",
        None,
        json!({"email": email, "password": PASSWORD, "display_name": "Ann Lee"}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.body["id"].as_str().expect("id").to_owned()
}

async fn post(app: &App, path: &str, bearer: Option<&str>, body: Value) -> Answer {
    app.call(Method::POST, path, bearer, Some(&body)).await
}

async fn login(app: &App, email: &str, password: &str) -> Answer {
    post(
        app,
        "/api/v1/auth/login",
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

async fn signed_in(app: &App, email: &str) -> (String, String) {
    let answer = login(app, email, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["expires_in"], 600);
    (
        answer.body["access_token"].as_str().expect("access").into(),
        answer.body["refresh_token"]
            .as_str()
            .expect("refresh")
            .into(),
    )
}

async fn refresh(app: &App, token: &str) -> Answer {
    post(
        app,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": token}),
    )
    .await
}

/// The newest notification of `kind` for `user` (waits up to 5 s: some are sent in the
/// background).
async fn notification(app: &App, user: &str, kind: &str) -> Option<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let payload: Option<Value> = sqlx::query_scalar(
            "SELECT payload FROM notifications WHERE user_id = $1 AND kind = $2
              ORDER BY id DESC LIMIT 1",
        )
        .bind(user)
        .bind(kind)
        .fetch_optional(&app.pool)
        .await
        .expect("notifications");
        if payload.is_some() || Instant::now() > deadline {
            return payload;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `token` of a link in a notification.
fn link_token(payload: &Value, page: &str) -> String {
    let link = payload["link"].as_str().expect("link");
    assert!(
        link.starts_with(&format!("http://127.0.0.1:8090/portal/{page}?token=dpl_")),
        "{link}"
    );
    link.split("token=").nth(1).expect("token").to_owned()
}

/// The claims of an access token (not checked: the service checks).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}

#[tokio::test]
async fn sign_up_verify_by_the_link_sign_in_and_read_me() {
    let app = spawn_app().await;
    let id = register(&app, "Ann@Example.test").await;
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .expect("user");
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    let verify = notification(&app, &id, "verify_email").await.expect("sent");
    let token = link_token(&verify, "verify");

    // Unverified: signs in, the token says so.
    let (access, refresh_token) = signed_in(&app, "ann@example.TEST").await;
    assert_eq!(claims(&access)["email_verified"], false);
    assert_eq!(claims(&access)["sub"], id.as_str());
    let me = app
        .call(Method::GET, "/api/v1/me", Some(&access), None)
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        me.body,
        json!({"id": id, "email": "Ann@Example.test", "display_name": "Ann Lee",
               "email_verified": false, "roles": [{"role": "player", "venue_id": null}],
               "player_id": null})
    );
    assert!(notification(&app, &id, "new_sign_in").await.is_some());

    let verified = post(&app, "/api/v1/auth/verify", None, json!({"token": token})).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    let again = post(&app, "/api/v1/auth/verify", None, json!({"token": token})).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "one use only");
    // The next refresh carries the verification (and roles) into the access token.
    let pair = refresh(&app, &refresh_token).await;
    assert_eq!(pair.status, StatusCode::OK, "{}", pair.body);
    assert_eq!(
        claims(pair.body["access_token"].as_str().expect("access"))["email_verified"],
        true
    );

    let renamed = app
        .call(
            Method::PATCH,
            "/api/v1/me",
            Some(&access),
            Some(&json!({"display_name": "  Ann L. "})),
        )
        .await;
    assert_eq!(renamed.body["display_name"], "Ann L.");
}

#[tokio::test]
async fn a_taken_address_answers_like_a_new_one_and_tells_its_owner() {
    let app = spawn_app().await;
    let owner = register(&app, "bo@example.test").await;
    let other = register(&app, "BO@example.test").await;
    assert_ne!(owner, other);
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
    let told = notification(&app, &owner, "reset_password")
        .await
        .expect("told");
    assert_eq!(told["reason"], "register_attempt");
    // The id answered names nothing.
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM users WHERE id = '{other}'"))
            .await,
        0
    );
}

#[tokio::test]
async fn a_wrong_address_and_a_wrong_password_answer_alike_in_the_same_time() {
    let app = spawn_app().await;
    register(&app, "cy@example.test").await;
    let mut times = [Duration::ZERO; 2];
    let mut bodies = Vec::new();
    for round in 0..3 {
        for (i, email) in ["cy@example.test", "nobody@example.test"]
            .iter()
            .enumerate()
        {
            let start = Instant::now();
            let answer = login(&app, email, &format!("wrong password {round}")).await;
            times[i] += start.elapsed();
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
            bodies.push(answer.body);
        }
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    let ratio = times[0].as_secs_f64() / times[1].as_secs_f64();
    assert!((0.5..2.0).contains(&ratio), "{times:?}");
    // The decoy costs what a real hash costs: at least a few milliseconds each.
    assert!(times[1] > Duration::from_millis(3 * 5), "{times:?}");
}

#[tokio::test]
async fn repeated_failures_are_slowed_per_account_known_or_not() {
    let app = spawn_app().await;
    register(&app, "di@example.test").await;
    for email in ["di@example.test", "ghost@example.test"] {
        for _ in 0..5 {
            assert_eq!(
                login(&app, email, "not the password").await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        let slowed = login(&app, email, PASSWORD).await;
        assert_eq!(slowed.status, StatusCode::TOO_MANY_REQUESTS, "{email}");
        let wait: u64 = slowed.headers["retry-after"]
            .to_str()
            .expect("text")
            .parse()
            .expect("seconds");
        assert!((1..=900).contains(&wait));
        assert!(slowed.body["error"].is_string());
    }
    // After the wait, the right password gets in and clears the count.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        login(&app, "di@example.test", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn refresh_rotates_answers_the_lost_answer_and_revokes_on_reuse() {
    let app = spawn_app().await;
    register(&app, "ed@example.test").await;
    let (_, r1) = signed_in(&app, "ed@example.test").await;
    let first = refresh(&app, &r1).await;
    assert_eq!(first.status, StatusCode::OK);
    let r2 = first.body["refresh_token"].as_str().expect("r2").to_owned();
    assert_ne!(r1, r2);
    // The answer was lost: r1 again within the grace window gets the current pair, not a new one.
    let lost = refresh(&app, &r1).await;
    assert_eq!(lost.status, StatusCode::OK, "{}", lost.body);
    assert_eq!(lost.body["refresh_token"], r2.as_str());
    let me = app
        .call(
            Method::GET,
            "/api/v1/me",
            lost.body["access_token"].as_str(),
            None,
        )
        .await;
    assert_eq!(me.status, StatusCode::OK);
    let r3 = refresh(&app, &r2).await.body["refresh_token"]
        .as_str()
        .expect("r3")
        .to_owned();
    // r1 is two back now: someone copied it. The family is revoked, r3 with it.
    let reused = refresh(&app, &r1).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    assert!(
        reused.body["error"]
            .as_str()
            .expect("error")
            .contains("already used")
    );
    assert_eq!(refresh(&app, &r3).await.status, StatusCode::UNAUTHORIZED);

    // The previous token after the grace window revokes too.
    let (_, s1) = signed_in(&app, "ed@example.test").await;
    let s2 = refresh(&app, &s1).await.body["refresh_token"]
        .as_str()
        .expect("s2")
        .to_owned();
    sqlx::query("UPDATE sessions SET rotated_at = now() - interval '31 seconds'")
        .execute(&app.pool)
        .await
        .expect("age");
    assert_eq!(refresh(&app, &s1).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(&app, &s2).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.count("SELECT count(*) FROM sessions WHERE revoked_why = 'reused'")
            .await,
        2
    );
}

#[tokio::test]
async fn sessions_are_listed_revoked_by_their_owner_only_and_end_at_logout() {
    let app = spawn_app().await;
    register(&app, "fa@example.test").await;
    register(&app, "gu@example.test").await;
    let (a1, ar1) = signed_in(&app, "fa@example.test").await;
    let (_, ar2) = signed_in(&app, "fa@example.test").await;
    let (b1, _) = signed_in(&app, "gu@example.test").await;
    let list = app
        .call(Method::GET, "/api/v1/me/sessions", Some(&a1), None)
        .await;
    let sessions = list.body["sessions"].as_array().expect("list").clone();
    assert_eq!(sessions.len(), 2, "{}", list.body);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert_eq!(sessions[0]["addr"], "127.0.0.1");
    let other = sessions
        .iter()
        .find(|s| s["current"] == false)
        .expect("other")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Someone else's session is not there for them.
    let theirs = app
        .call(
            Method::DELETE,
            &format!("/api/v1/me/sessions/{other}"),
            Some(&b1),
            None,
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let mine = app
        .call(
            Method::DELETE,
            &format!("/api/v1/me/sessions/{other}"),
            Some(&a1),
            None,
        )
        .await;
    assert_eq!(mine.status, StatusCode::NO_CONTENT);
    assert_eq!(refresh(&app, &ar2).await.status, StatusCode::UNAUTHORIZED);
    let out = app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&a1),
            Some(&json!({})),
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(refresh(&app, &ar1).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions() {
    let app = spawn_app().await;
    register(&app, "ha@example.test").await;
    let (a1, r1) = signed_in(&app, "ha@example.test").await;
    let (_, r2) = signed_in(&app, "ha@example.test").await;
    let wrong = post(
        &app,
        "/api/v1/me/password",
        Some(&a1),
        json!({"current_password": "guess guess guess", "new_password": "a new long phrase"}),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let weak = post(
        &app,
        "/api/v1/me/password",
        Some(&a1),
        json!({"current_password": PASSWORD, "new_password": "password123"}),
    )
    .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    let changed = post(
        &app,
        "/api/v1/me/password",
        Some(&a1),
        json!({"current_password": PASSWORD, "new_password": "a new long phrase"}),
    )
    .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    assert_eq!(refresh(&app, &r2).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(&app, &r1).await.status, StatusCode::OK);
    assert_eq!(
        login(&app, "ha@example.test", "a new long phrase")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn forgot_answers_202_always_and_the_reset_link_works_once() {
    let app = spawn_app().await;
    let id = register(&app, "io@example.test").await;
    let (_, r1) = signed_in(&app, "io@example.test").await;
    for email in [
        "io@example.test",
        "nobody@example.test",
        "'; DROP TABLE users; --",
    ] {
        let answer = post(
            &app,
            "/api/v1/auth/password/forgot",
            None,
            json!({"email": email}),
        )
        .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{email}");
    }
    let sent = notification(&app, &id, "reset_password")
        .await
        .expect("sent");
    assert_eq!(sent["reason"], "forgot");
    let token = link_token(&sent, "reset");
    let weak = post(
        &app,
        "/api/v1/auth/password/reset",
        None,
        json!({"token": token, "password": "short"}),
    )
    .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    let reset = post(
        &app,
        "/api/v1/auth/password/reset",
        None,
        json!({"token": token, "password": "brand new phrase 7"}),
    )
    .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
    let again = post(
        &app,
        "/api/v1/auth/password/reset",
        None,
        json!({"token": token, "password": "another new phrase"}),
    )
    .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(refresh(&app, &r1).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        login(&app, "io@example.test", "brand new phrase 7")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
}

#[tokio::test]
async fn deleting_an_account_anonymises_it_and_ends_its_sessions() {
    let app = spawn_app().await;
    let id = register(&app, "jo@example.test").await;
    let (access, refresh_token) = signed_in(&app, "jo@example.test").await;
    let wrong = app
        .call(
            Method::DELETE,
            "/api/v1/me",
            Some(&access),
            Some(&json!({"password": "not it at all"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    // Jo holds a public player profile with her name.
    let made = app
        .call(
            Method::POST,
            "/api/v1/me/player",
            Some(&access),
            Some(&json!({})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let player = made.body["player"]["id"].as_str().expect("id").to_owned();
    app.make_public(&player).await;
    let gone = app
        .call(
            Method::DELETE,
            "/api/v1/me",
            Some(&access),
            Some(&json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
    let row: (Option<String>, Option<String>, String, bool) = sqlx::query_as(
        "SELECT email, password_hash, display_name, deleted_at IS NOT NULL FROM users
          WHERE id = $1",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .expect("row kept");
    assert_eq!(row, (None, None, "Deleted user".into(), true));
    assert_eq!(
        refresh(&app, &refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "jo@example.test", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'user.delete'")
            .await,
        1
    );
    // Her results stay, under a profile that is no one's name: still held by the deleted row (so
    // nothing new counts without a word nobody can give), private, renamed for venues too.
    let profile: (String, bool, Option<String>) = sqlx::query_as(
        "SELECT p.name, p.public, u.player_id FROM players p, users u
          WHERE p.id = $1 AND u.id = $2",
    )
    .bind(&player)
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .expect("profile kept");
    assert_eq!(
        profile,
        ("Deleted player".into(), false, Some(player.clone()))
    );
    let logged: String = sqlx::query_scalar(
        "SELECT name FROM player_changes WHERE player_id = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(&player)
    .fetch_one(&app.pool)
    .await
    .expect("change logged");
    assert_eq!(logged, "Deleted player");
    // The address is free again.
    register(&app, "jo@example.test").await;
    assert_eq!(app.count("SELECT count(*) FROM users").await, 2);
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let app = spawn_app().await;
    register(&app, "ka@example.test").await;
    let (access, _) = signed_in(&app, "ka@example.test").await;
    let sql = "'; DROP TABLE users; --";
    let long = "x".repeat(5000);
    let cases: Vec<(&str, Value)> = vec![
        (
            "/api/v1/auth/register",
            json!({"email": sql, "password": PASSWORD, "display_name": "A"}),
        ),
        (
            "/api/v1/auth/register",
            json!({"email": "z@example.test", "password": "';--", "display_name": "A"}),
        ),
        (
            "/api/v1/auth/register",
            json!({"email": "z@example.test", "password": PASSWORD, "display_name": long}),
        ),
        (
            "/api/v1/auth/register",
            json!({"email": "z@example.test", "password": long, "display_name": "A"}),
        ),
        (
            "/api/v1/auth/register",
            json!({"email": "z@example.test", "password": PASSWORD, "display_name": ""}),
        ),
        (
            "/api/v1/auth/register",
            json!({"email": "z@example.test", "password": PASSWORD}),
        ),
        (
            "/api/v1/auth/register",
            json!({"email": 7, "password": PASSWORD, "display_name": "A"}),
        ),
        ("/api/v1/auth/login", json!({"email": sql, "password": sql})),
        (
            "/api/v1/auth/login",
            json!({"email": long, "password": PASSWORD}),
        ),
        ("/api/v1/auth/login", json!({"email": "ka@example.test"})),
        ("/api/v1/auth/refresh", json!({"refresh_token": sql})),
        (
            "/api/v1/auth/refresh",
            json!({"refresh_token": format!("dpr_{}", "A".repeat(43))}),
        ),
        ("/api/v1/auth/verify", json!({"token": sql})),
        ("/api/v1/auth/verify", json!({"token": null})),
        (
            "/api/v1/auth/password/reset",
            json!({"token": sql, "password": "fine long phrase"}),
        ),
        ("/api/v1/auth/password/forgot", json!({"email": long})),
    ];
    for (path, body) in &cases {
        let answer = post(&app, path, None, body.clone()).await;
        assert!(
            answer.status.is_client_error() && answer.body["error"].is_string(),
            "{path} {body}: {} {}",
            answer.status,
            answer.body
        );
    }
    // Malformed and oversized bodies.
    for (path, bytes) in [
        ("/api/v1/auth/login", b"{\"email\": ".to_vec()),
        ("/api/v1/auth/register", b"not json".to_vec()),
        ("/api/v1/auth/register", vec![b' '; 20 * 1024]),
    ] {
        let answer = crate::helpers::answer(
            app.http
                .post(app.url(path))
                .header("content-type", "application/json")
                .body(bytes)
                .send()
                .await
                .expect("answered"),
        )
        .await;
        assert!(answer.status.is_client_error(), "{path}: {}", answer.status);
        assert!(answer.body["error"].is_string(), "{path}");
    }
    for (method, path, body) in [
        (
            Method::PATCH,
            "/api/v1/me",
            json!({"display_name": sql.repeat(10)}),
        ),
        (
            Method::PATCH,
            "/api/v1/me",
            json!({"display_name": "\u{0}"}),
        ),
        (Method::DELETE, "/api/v1/me", json!({"password": sql})),
        (Method::DELETE, "/api/v1/me/sessions/' OR '1'='1", json!({})),
        (
            Method::POST,
            "/api/v1/me/password",
            json!({"current_password": sql, "new_password": sql}),
        ),
    ] {
        let answer = app
            .call(method.clone(), path, Some(&access), Some(&body))
            .await;
        assert!(
            answer.status.is_client_error() && answer.body["error"].is_string(),
            "{method} {path}: {} {}",
            answer.status,
            answer.body
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM users WHERE deleted_at IS NULL AND display_name = 'Ann Lee'"
        )
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM sessions WHERE revoked_at IS NULL")
            .await,
        1
    );
    // SQL that is a valid value is stored as the text it is.
    let made = post(
        &app,
        "/api/v1/auth/register",
        None,
        json!({"email": "o'brien@example.test", "password": sql,
               "display_name": "Robert'); DROP TABLE users;--"}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let name: String = sqlx::query_scalar(
        "SELECT display_name FROM users WHERE email_key = 'o''brien@example.test'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("stored");
    assert_eq!(name, "Robert'); DROP TABLE users;--");
    assert_eq!(
        login(&app, "o'brien@example.test", sql).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn forged_expired_and_foreign_access_tokens_are_refused() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let app = spawn_app().await;
    register(&app, "li@example.test").await;
    let (access, _) = signed_in(&app, "li@example.test").await;
    let parts: Vec<&str> = access.split('.').collect();
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
    let kid = header["kid"].as_str().expect("kid").to_owned();
    let secret: Vec<u8> = sqlx::query_scalar("SELECT secret FROM signing_keys WHERE kid = $1")
        .bind(&kid)
        .fetch_one(&app.pool)
        .await
        .expect("key");
    let mut good = claims(&access);
    let sign = |typ: Option<&str>, claims: &Value, key: &[u8]| {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = typ.map(str::to_owned);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_secret(key).expect("key"),
        )
        .expect("sign")
    };
    // The control: the real key, the right typ, valid claims → accepted.
    assert_eq!(
        app.call(
            Method::GET,
            "/api/v1/me",
            Some(&sign(Some("at+jwt"), &good, &secret)),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "at+jwt", "kid": kid}).to_string()),
        parts[1]
    );
    let tampered = {
        let mut c = good.clone();
        c["roles"] = json!([{"role": "admin", "venue_id": null}]);
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(c.to_string()),
            parts[2]
        )
    };
    let wrong_typ = sign(Some("JWT"), &good, &secret);
    let wrong_key = sign(Some("at+jwt"), &good, &[7u8; 32]);
    let mut other_aud = good.clone();
    other_aud["aud"] = json!("someone-else");
    let other_aud = sign(Some("at+jwt"), &other_aud, &secret);
    good["exp"] = json!(1_000_000_000u64);
    good["iat"] = json!(999_999_000u64);
    let expired = sign(Some("at+jwt"), &good, &secret);
    for (what, token) in [
        ("alg none", none),
        ("tampered", tampered),
        ("wrong typ", wrong_typ),
        ("wrong key", wrong_key),
        ("other audience", other_aud),
        ("expired", expired),
        ("garbage", "not.a.jwt".to_owned()),
    ] {
        let answer = app
            .call(Method::GET, "/api/v1/me", Some(&token), None)
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{what}");
        assert!(answer.body["error"].is_string(), "{what}");
    }
}

#[tokio::test]
async fn account_routes_are_rate_limited_per_address() {
    let db = test_db(PG).await;
    let mut config = config(&db);
    config.limits.auth_per_window = 3;
    let app = spawn_with(db, config).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            post(
                &app,
                "/api/v1/auth/password/forgot",
                None,
                json!({"email": "x@example.test"}),
            )
            .await,
        );
    }
    assert_eq!(statuses[2].status, StatusCode::ACCEPTED);
    assert_eq!(statuses[3].status, StatusCode::TOO_MANY_REQUESTS);
    assert!(statuses[4].headers.contains_key("retry-after"));
}

#[tokio::test]
async fn two_refreshes_racing_with_one_token_get_the_same_pair() {
    let app = spawn_app().await;
    register(&app, "mo@example.test").await;
    let (_, r1) = signed_in(&app, "mo@example.test").await;
    let (a, b) = tokio::join!(refresh(&app, &r1), refresh(&app, &r1));
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(a.body["refresh_token"], b.body["refresh_token"]);
    assert_eq!(
        app.count("SELECT count(*) FROM sessions WHERE revoked_at IS NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn refresh_reloads_roles_and_idle_sessions_end() {
    let app = spawn_app().await;
    let id = register(&app, "ny@example.test").await;
    let (access, r1) = signed_in(&app, "ny@example.test").await;
    assert_eq!(claims(&access)["roles"], json!([]));
    sqlx::query(
        "INSERT INTO user_roles (user_id, role, venue_id) VALUES ($1, 'venue_manager', $2)",
    )
    .bind(&id)
    .bind(&app.venue)
    .execute(&app.pool)
    .await
    .expect("grant");
    let pair = refresh(&app, &r1).await;
    let access = pair.body["access_token"].as_str().expect("access");
    assert_eq!(
        claims(access)["roles"],
        json!([{"role": "venue_manager", "venue_id": app.venue}])
    );
    let me = app
        .call(Method::GET, "/api/v1/me", Some(access), None)
        .await;
    assert_eq!(
        me.body["roles"],
        json!([{"role": "player", "venue_id": null},
               {"role": "venue_manager", "venue_id": app.venue}])
    );
    // The sign-in notice says from where.
    let notice = notification(&app, &id, "new_sign_in")
        .await
        .expect("notice");
    assert_eq!(notice["addr"], "127.0.0.1");
    assert!(notice["session"].is_string());
    // Thirty days unused: the session is over.
    sqlx::query("UPDATE sessions SET last_used_at = now() - interval '31 days'")
        .execute(&app.pool)
        .await
        .expect("age");
    let r2 = pair.body["refresh_token"].as_str().expect("r2");
    assert_eq!(refresh(&app, r2).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn resending_the_verification_voids_the_older_link() {
    let app = spawn_app().await;
    let id = register(&app, "ol@example.test").await;
    let first = link_token(
        &notification(&app, &id, "verify_email")
            .await
            .expect("first"),
        "verify",
    );
    let (access, _) = signed_in(&app, "ol@example.test").await;
    let resent = post(&app, "/api/v1/auth/verify/resend", Some(&access), json!({})).await;
    assert_eq!(resent.status, StatusCode::ACCEPTED);
    let second = link_token(
        &notification(&app, &id, "verify_email")
            .await
            .expect("second"),
        "verify",
    );
    assert_ne!(first, second);
    let old = post(&app, "/api/v1/auth/verify", None, json!({"token": first})).await;
    assert_eq!(old.status, StatusCode::BAD_REQUEST);
    let new = post(&app, "/api/v1/auth/verify", None, json!({"token": second})).await;
    assert_eq!(new.status, StatusCode::OK);
    // An expired link is refused like a used one.
    sqlx::query("UPDATE users SET email_verified_at = NULL")
        .execute(&app.pool)
        .await
        .expect("unverify");
    let (access, _) = signed_in(&app, "ol@example.test").await;
    post(&app, "/api/v1/auth/verify/resend", Some(&access), json!({})).await;
    let third = link_token(
        &notification(&app, &id, "verify_email")
            .await
            .expect("third"),
        "verify",
    );
    sqlx::query("UPDATE email_tokens SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .expect("expire");
    let expired = post(&app, "/api/v1/auth/verify", None, json!({"token": third})).await;
    assert_eq!(expired.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn one_address_guessing_many_accounts_is_slowed_too() {
    let app = spawn_app().await;
    for i in 0..20 {
        let answer = login(&app, &format!("guess{i}@example.test"), "some guess here").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{i}");
    }
    let slowed = login(&app, "guess99@example.test", "some guess here").await;
    assert_eq!(slowed.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(slowed.headers.contains_key("retry-after"));
}
