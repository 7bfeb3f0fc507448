//! Notifications end to end: each channel against a real peer on loopback (the SMTP sink, a Web
//! Push service that checks VAPID and decrypts, a webhook receiver that verifies signatures),
//! retries then success, a final failure recorded, two instances sharing the outbox without a
//! double delivery, preferences, who may read deliveries, and the live WebSocket.

use std::time::{Duration, Instant};

use cloud_sync::accounts::Role;
use cloud_sync::notifications::outbox::RetryPolicy;
use cloud_sync::notifications::{Kind, notify};
use dojo_testkit::mail::SmtpSink;
use dojo_testkit::push::{PushEndpoint, WebhookReceiver};
use futures_util::{SinkExt as _, StreamExt as _};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{App, PG, Persona, config, spawn_with, test_db};

const WAIT: Duration = Duration::from_secs(10);

/// An instance that may send to loopback peers, with fast retries.
async fn app_with(smtp: Option<&SmtpSink>, max_attempts: i32) -> App {
    let db = test_db(PG).await;
    let mut config = config(&db);
    config.notifications.smtp_url = smtp.map(SmtpSink::url);
    config.notifications.smtp_from = "DojoPool <no-reply@dojo.test>".into();
    config.notifications.allow_private = true;
    config.notifications.retry = RetryPolicy {
        max_attempts,
        base: Duration::from_millis(50),
        cap: Duration::from_millis(200),
    };
    spawn_with(db, config).await
}

/// Tells `user` about `kind` as a context would: in its own transaction.
async fn tell(app: &App, user: &str, kind: Kind, payload: Value) -> i64 {
    let mut tx = app.pool.begin().await.expect("tx");
    let id = notify(&mut tx, user, kind, &payload).await.expect("notify");
    tx.commit().await.expect("commit");
    id
}

async fn email_of(app: &App, user: &str) -> String {
    sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(&app.pool)
        .await
        .expect("email")
}

/// The deliveries of notification `id` as its owner sees them, once every one is settled
/// (delivered or failed), waiting at most [`WAIT`].
async fn settled(app: &App, who: &Persona, id: i64) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = app
            .call(
                Method::GET,
                &format!("/api/v1/me/notifications/{id}/deliveries"),
                Some(&who.token),
                None,
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        let items = answer.body["items"].as_array().cloned().unwrap_or_default();
        let done = items
            .iter()
            .all(|d| d["status"] == "delivered" || d["status"] == "failed");
        if (done && !items.is_empty()) || Instant::now() > deadline {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn set_prefs(app: &App, who: &Persona, prefs: Value) {
    let answer = app
        .call(
            Method::PUT,
            "/api/v1/me/notification-preferences",
            Some(&who.token),
            Some(&prefs),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
}

#[tokio::test]
async fn a_sign_in_email_reaches_the_smtp_sink_within_a_second() {
    let sink = SmtpSink::start().await;
    let app = app_with(Some(&sink), 3).await;
    let ann = app.persona("ann", true, &[]).await;
    let address = email_of(&app, &ann.id).await;
    let started = Instant::now();
    let id = tell(
        &app,
        &ann.id,
        Kind::NewSignIn,
        json!({"addr": "203.0.113.9", "user_agent": "<b>Firefox</b>"}),
    )
    .await;
    let mail = sink
        .wait_for(&address, WAIT)
        .await
        .expect("the email arrives");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a sign-in email should leave within about a second, took {:?}",
        started.elapsed()
    );
    let text = mail.text();
    assert!(
        text.contains("Subject: New sign-in to your account"),
        "{text}"
    );
    assert!(text.contains("203.0.113.9"), "{text}");
    assert!(
        text.contains("&lt;b&gt;Firefox&lt;/b&gt;"),
        "HTML escaped: {text}"
    );
    assert!(
        text.contains("text/plain") && text.contains("text/html"),
        "{text}"
    );
    let deliveries = settled(&app, &ann, id).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["channel"], "email");
    assert_eq!(deliveries[0]["status"], "delivered");
    assert_eq!(deliveries[0]["attempt_log"][0]["outcome"], "delivered");
}

#[tokio::test]
async fn the_verify_link_goes_by_email_even_when_email_is_turned_off() {
    let sink = SmtpSink::start().await;
    let app = app_with(Some(&sink), 3).await;
    let bo = app.persona("bo", false, &[]).await;
    let address = email_of(&app, &bo.id).await;
    set_prefs(
        &app,
        &bo,
        json!({"verify_email": {"email": false, "push": false, "webhook": false},
               "new_sign_in": {"email": false, "push": false, "webhook": false}}),
    )
    .await;
    let quiet = tell(
        &app,
        &bo.id,
        Kind::NewSignIn,
        json!({"addr": "198.51.100.1"}),
    )
    .await;
    let id = tell(
        &app,
        &bo.id,
        Kind::VerifyEmail,
        json!({"token": "tok_abc-123"}),
    )
    .await;
    let mail = sink
        .wait_for(&address, WAIT)
        .await
        .expect("the email arrives");
    assert!(
        mail.text()
            .contains("http://127.0.0.1:8090/portal/verify?token=tok_abc-123"),
        "{}",
        mail.text()
    );
    assert_eq!(settled(&app, &bo, id).await.len(), 1);
    // The sign-in notice stayed in-app only: no delivery, no second email.
    let none = app
        .call(
            Method::GET,
            &format!("/api/v1/me/notifications/{quiet}/deliveries"),
            Some(&bo.token),
            None,
        )
        .await;
    assert_eq!(none.body["items"], json!([]));
    assert_eq!(sink.mails().len(), 1);
    let prefs = app
        .call(
            Method::GET,
            "/api/v1/me/notification-preferences",
            Some(&bo.token),
            None,
        )
        .await;
    assert_eq!(prefs.body["verify_email"]["email"], true);
    assert_eq!(prefs.body["verify_email"]["email_required"], true);
    assert_eq!(prefs.body["new_sign_in"]["email"], false);
    assert_eq!(prefs.body["role_granted"]["email"], true);
    let bad = app
        .call(
            Method::PUT,
            "/api/v1/me/notification-preferences",
            Some(&bo.token),
            Some(
                &json!({"'; DROP TABLE users; --": {"email": true, "push": true, "webhook": true}}),
            ),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad = app
        .call(
            Method::PUT,
            "/api/v1/me/notification-preferences",
            Some(&bo.token),
            Some(&json!({"new_sign_in": {"email": "yes"}})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_temporary_smtp_failure_is_retried_then_delivered() {
    let sink = SmtpSink::start().await;
    sink.fail_next(2);
    let app = app_with(Some(&sink), 5).await;
    let cy = app.persona("cy", true, &[]).await;
    let address = email_of(&app, &cy.id).await;
    let id = tell(
        &app,
        &cy.id,
        Kind::RoleGranted,
        json!({"role": "organiser"}),
    )
    .await;
    sink.wait_for(&address, WAIT)
        .await
        .expect("delivered after retries");
    let deliveries = settled(&app, &cy, id).await;
    assert_eq!(deliveries[0]["status"], "delivered");
    let outcomes: Vec<&str> = deliveries[0]["attempt_log"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["outcome"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(outcomes, ["retry", "retry", "delivered"]);
    assert!(
        deliveries[0]["attempt_log"][0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("451")
    );
}

#[tokio::test]
async fn webhooks_are_signed_retried_and_a_final_failure_is_recorded() {
    let app = app_with(None, 3).await;
    let receiver = WebhookReceiver::start().await;
    let dee = app.persona("dee", true, &[]).await;
    let admin = app.persona("root", true, &[(Role::Admin, None)]).await;
    let eve = app.persona("eve", true, &[]).await;
    let made = app
        .call(
            Method::POST,
            "/api/v1/me/webhooks",
            Some(&dee.token),
            Some(&json!({"url": receiver.url()})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let secret = made.body["secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    let listed = app
        .call(Method::GET, "/api/v1/me/webhooks", Some(&dee.token), None)
        .await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));
    assert!(
        !listed.body.to_string().contains(&secret),
        "the secret is never listed"
    );
    set_prefs(
        &app,
        &dee,
        json!({"role_granted": {"email": false, "push": false, "webhook": true}}),
    )
    .await;
    // Retried once after a 503, then delivered, signed.
    receiver.respond_next(&[503]);
    let id = tell(
        &app,
        &dee.id,
        Kind::RoleGranted,
        json!({"role": "organiser"}),
    )
    .await;
    let hooks = receiver.hooks(&secret, 1, WAIT).await;
    assert_eq!(hooks.len(), 1);
    assert!(hooks[0].verified, "Dojo-Signature verifies with the secret");
    assert_eq!(hooks[0].body["kind"], "role_granted");
    assert_eq!(hooks[0].body["payload"]["role"], "organiser");
    let deliveries = settled(&app, &dee, id).await;
    assert_eq!(deliveries[0]["status"], "delivered");
    assert_eq!(deliveries[0]["attempts"], 2);
    assert_eq!(hooks[0].delivery, deliveries[0]["id"].to_string());
    // Failing every time: three attempts, then failed for good, with the last error.
    receiver.respond_next(&[500, 500, 500]);
    let id = tell(
        &app,
        &dee.id,
        Kind::RoleGranted,
        json!({"role": "venue_manager"}),
    )
    .await;
    let deliveries = settled(&app, &dee, id).await;
    assert_eq!(deliveries[0]["status"], "failed");
    assert_eq!(deliveries[0]["attempts"], 3);
    assert_eq!(deliveries[0]["last_error"], "HTTP 500");
    assert_eq!(
        deliveries[0]["attempt_log"].as_array().map(Vec::len),
        Some(3)
    );
    // Administrators see it among the failed; others may not look.
    let failed = app
        .call(
            Method::GET,
            "/api/v1/admin/deliveries?status=failed",
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(failed.status, StatusCode::OK);
    assert!(
        failed.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|d| d["notification_id"] == id)
    );
    let path = format!("/api/v1/me/notifications/{id}/deliveries");
    let other = app.call(Method::GET, &path, Some(&eve.token), None).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let admin_reads = app.call(Method::GET, &path, Some(&admin.token), None).await;
    assert_eq!(admin_reads.status, StatusCode::OK);
    let player = app
        .call(
            Method::GET,
            "/api/v1/admin/deliveries?status=failed",
            Some(&eve.token),
            None,
        )
        .await;
    assert_eq!(player.status, StatusCode::FORBIDDEN);
    let bad = app
        .call(
            Method::GET,
            "/api/v1/admin/deliveries?status=lost",
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn webhook_urls_must_be_public_http() {
    let app = crate::helpers::spawn_app().await;
    let fay = app.persona("fay", true, &[]).await;
    for url in [
        "ftp://hooks.example.com/x",
        "javascript:alert(1)",
        "http://127.0.0.1:9/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://localhost/x",
    ] {
        let answer = app
            .call(
                Method::POST,
                "/api/v1/me/webhooks",
                Some(&fay.token),
                Some(&json!({"url": url})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{url}");
    }
    assert_eq!(app.count("SELECT count(*) FROM webhooks").await, 0);
}

#[tokio::test]
async fn web_push_arrives_encrypted_and_a_gone_subscription_is_removed() {
    let app = app_with(None, 3).await;
    let gus = app.persona("gus", true, &[]).await;
    let none = app
        .call(Method::GET, "/api/v1/push/vapid-public-key", None, None)
        .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    let (public_key, new) = cloud_sync::notifications::push::keygen(&app.pool, false)
        .await
        .expect("keygen");
    assert!(new);
    let key = app
        .call(Method::GET, "/api/v1/push/vapid-public-key", None, None)
        .await;
    assert_eq!(key.body["public_key"], public_key.as_str());
    let endpoint = PushEndpoint::start().await;
    let made = app
        .call(
            Method::POST,
            "/api/v1/me/push-subscriptions",
            Some(&gus.token),
            Some(&endpoint.subscription()),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let bad = app
        .call(
            Method::POST,
            "/api/v1/me/push-subscriptions",
            Some(&gus.token),
            Some(&json!({"endpoint": "http://127.0.0.1:9/x", "keys": {"p256dh": "AAAA", "auth": "x"}})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    set_prefs(
        &app,
        &gus,
        json!({"new_sign_in": {"email": false, "push": true, "webhook": false}}),
    )
    .await;
    let id = tell(&app, &gus.id, Kind::NewSignIn, json!({"addr": "192.0.2.7"})).await;
    let messages = endpoint.messages(1, WAIT).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].vapid_key, public_key);
    let shown: Value = serde_json::from_str(&messages[0].text).expect("JSON");
    assert_eq!(
        shown["body"],
        "New sign-in to your DojoPool account from 192.0.2.7."
    );
    assert_eq!(shown["notification_id"], id);
    assert_eq!(settled(&app, &gus, id).await[0]["status"], "delivered");
    // The browser dropped the subscription: 410, recorded, and the subscription removed.
    endpoint.respond_next(&[410]);
    let id = tell(&app, &gus.id, Kind::NewSignIn, json!({"addr": "192.0.2.8"})).await;
    let deliveries = settled(&app, &gus, id).await;
    assert_eq!(deliveries[0]["status"], "failed");
    assert_eq!(deliveries[0]["attempts"], 1);
    assert_eq!(
        app.count("SELECT count(*) FROM push_subscriptions").await,
        0
    );
}

#[tokio::test]
async fn two_instances_share_the_outbox_without_double_delivery() {
    let db = test_db(PG).await;
    let mut second = config(&db);
    second.notifications.allow_private = true;
    second.notifications.workers = 3;
    let other = cloud_sync::start(second.clone())
        .await
        .expect("second instance");
    let mut first = second.clone();
    first.redis_prefix = second.redis_prefix.clone();
    let app = spawn_with(db, first).await;
    let receiver = WebhookReceiver::start().await;
    let hal = app.persona("hal", true, &[]).await;
    let made = app
        .call(
            Method::POST,
            "/api/v1/me/webhooks",
            Some(&hal.token),
            Some(&json!({"url": receiver.url()})),
        )
        .await;
    let secret = made.body["secret"].as_str().expect("secret").to_owned();
    set_prefs(
        &app,
        &hal,
        json!({"new_sign_in": {"email": false, "push": false, "webhook": true}}),
    )
    .await;
    const N: usize = 60;
    for i in 0..N {
        tell(
            &app,
            &hal.id,
            Kind::NewSignIn,
            json!({"addr": format!("192.0.2.{i}")}),
        )
        .await;
    }
    let hooks = receiver.hooks(&secret, N, WAIT).await;
    // Give a double delivery the time to show up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let hooks_after = receiver.hooks(&secret, N, Duration::ZERO).await;
    assert_eq!(hooks.len(), N);
    assert_eq!(hooks_after.len(), N, "no delivery twice");
    let mut ids: Vec<&str> = hooks_after.iter().map(|h| h.delivery.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), N);
    assert!(hooks_after.iter().all(|h| h.verified));
    assert_eq!(
        app.count("SELECT count(*) FROM delivery_attempts").await,
        i64::try_from(N).expect("small")
    );
    other.shutdown().await;
}

#[tokio::test]
async fn the_in_app_list_counts_and_marks_read() {
    let app = crate::helpers::spawn_app().await;
    let ida = app.persona("ida", true, &[]).await;
    let jo = app.persona("jo", true, &[]).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            tell(
                &app,
                &ida.id,
                Kind::RoleGranted,
                json!({"role": "organiser", "n": i}),
            )
            .await,
        );
    }
    let theirs = tell(&app, &jo.id, Kind::NewSignIn, json!({})).await;
    let page = app
        .call(
            Method::GET,
            "/api/v1/me/notifications?limit=2",
            Some(&ida.token),
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body["items"][0]["id"], ids[2]);
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(2));
    let next = page.body["next_before"].as_i64().expect("more");
    let rest = app
        .call(
            Method::GET,
            &format!("/api/v1/me/notifications?limit=2&before={next}"),
            Some(&ida.token),
            None,
        )
        .await;
    assert_eq!(rest.body["items"][0]["id"], ids[0]);
    assert_eq!(rest.body["next_before"], Value::Null);
    let unread = |who: &Persona| {
        let token = who.token.clone();
        let app = &app;
        async move {
            app.call(
                Method::GET,
                "/api/v1/me/notifications/unread",
                Some(&token),
                None,
            )
            .await
            .body["count"]
                .clone()
        }
    };
    assert_eq!(unread(&ida).await, 3);
    let read = app
        .call(
            Method::POST,
            &format!("/api/v1/me/notifications/{}/read", ids[1]),
            Some(&ida.token),
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::NO_CONTENT);
    assert_eq!(unread(&ida).await, 2);
    // Another's notification is not found, and stays unread.
    let read = app
        .call(
            Method::POST,
            &format!("/api/v1/me/notifications/{theirs}/read"),
            Some(&ida.token),
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::NOT_FOUND);
    assert_eq!(unread(&jo).await, 1);
    let bad = app
        .call(
            Method::GET,
            "/api/v1/me/notifications?before=1%20OR%201=1",
            Some(&ida.token),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let all = app
        .call(
            Method::POST,
            "/api/v1/me/notifications/read-all",
            Some(&ida.token),
            None,
        )
        .await;
    assert_eq!(all.body["marked"], 2);
    assert_eq!(unread(&ida).await, 0);
    let anonymous = app
        .call(Method::GET, "/api/v1/me/notifications", None, None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_live_websocket_gets_a_new_notification_made_on_another_instance() {
    let db = test_db(PG).await;
    let base = config(&db);
    let other = cloud_sync::start(base.clone())
        .await
        .expect("second instance");
    let app = spawn_with(db, base).await;
    let kim = app.persona("kim", true, &[]).await;
    let lee = app.persona("lee", true, &[]).await;
    let url = format!("ws://{}/api/v1/me/notifications/live", other.addr());
    // A bad token is refused.
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("connects");
    socket
        .send(Message::Text(json!({"token": "forged"}).to_string().into()))
        .await
        .expect("send");
    let refused = next_json(&mut socket).await;
    assert_eq!(refused["type"], "error");
    // A good one: ready, then the user's notifications and nobody else's.
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("connects");
    socket
        .send(Message::Text(
            json!({"token": kim.token}).to_string().into(),
        ))
        .await
        .expect("send");
    assert_eq!(next_json(&mut socket).await["type"], "ready");
    tell(&app, &lee.id, Kind::NewSignIn, json!({"addr": "192.0.2.1"})).await;
    let id = tell(
        &app,
        &kim.id,
        Kind::RoleGranted,
        json!({"role": "organiser"}),
    )
    .await;
    let pushed = next_json(&mut socket).await;
    assert_eq!(pushed["type"], "notification");
    assert_eq!(pushed["notification"]["id"], id);
    assert_eq!(pushed["notification"]["payload"]["role"], "organiser");
    other.shutdown().await;
}

async fn next_json<S>(socket: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("ok");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("JSON");
        }
    }
}

/// What the notifications page shows, read off the rendered DOM.
const PAGE: &str = r##"(() => {
  const text = (el) => el ? el.textContent.trim() : null;
  return {
    page: location.pathname,
    ready: document.readyState === "complete" && !!document.getElementById("prefs-rows"),
    unread: text(document.getElementById("unread")),
    live: text(document.getElementById("live")),
    items: [...document.querySelectorAll("#list li.notification")].map((li) => ({
      id: Number(li.dataset.id), unread: li.classList.contains("unread"), text: text(li.querySelector("p")),
    })),
    deliveries: [...document.querySelectorAll("#list tr.delivery")].map((tr) => tr.dataset.status),
    prefs: document.querySelectorAll("#prefs-rows input[type=checkbox]").length,
    saved: text(document.getElementById("prefs-message")),
  };
})()"##;

#[tokio::test]
async fn the_notifications_page_lists_marks_read_updates_live_and_saves_preferences() {
    use dojo_testkit::browser::{Browser, click};

    let sink = SmtpSink::start().await;
    let app = app_with(Some(&sink), 3).await;
    let max = app.persona("max", true, &[]).await;
    let first = tell(
        &app,
        &max.id,
        Kind::NewSignIn,
        json!({"addr": "<img src=x onerror=alert(1)>"}),
    )
    .await;
    tell(
        &app,
        &max.id,
        Kind::RoleGranted,
        json!({"role": "organiser"}),
    )
    .await;
    settled(&app, &max, first).await;

    let mut browser = Browser::launch().await;
    // Signed in on the home page (which needs no account), then to the page under test.
    let page = browser.open(&app.url("/portal/")).await;
    browser
        .wait_for(
            &page,
            "location.pathname + ' ' + document.readyState",
            "the home page",
            |v| v == "/portal/ complete",
        )
        .await;
    browser
        .eval(
            &page,
            &format!(
                "sessionStorage.setItem('dojo.access', {:?}); location.assign('/portal/notifications'); true",
                max.token
            ),
        )
        .await;
    let shown = browser
        .wait_for(&page, PAGE, "two notifications, live", |v| {
            v["items"].as_array().map(Vec::len) == Some(2)
                && v["live"] == "Live updates on."
                // Three channels for every kind.
                && v["prefs"] == 3 * cloud_sync::notifications::Kind::ALL.len()
        })
        .await;
    assert_eq!(shown["unread"], "2 unread notifications.");
    assert_eq!(shown["items"][1]["id"], first);
    // The payload is shown as text, never as markup.
    assert_eq!(
        shown["items"][1]["text"],
        "New sign-in to your account from <img src=x onerror=alert(1)>."
    );
    // Live: a notification made now appears on top without a reload.
    let third = tell(
        &app,
        &max.id,
        Kind::RoleGranted,
        json!({"role": "venue_manager"}),
    )
    .await;
    browser
        .wait_for(&page, PAGE, "the live notification", |v| {
            v["items"][0]["id"] == third && v["unread"] == "3 unread notifications."
        })
        .await;
    // Mark the oldest read; see its email delivery.
    browser
        .wait_for(
            &page,
            &click(&format!("li[data-id='{first}'] .mark-read")),
            "mark read",
            |v| v == true,
        )
        .await;
    browser
        .wait_for(&page, PAGE, "one fewer unread", |v| {
            v["unread"] == "2 unread notifications."
        })
        .await;
    browser
        .wait_for(
            &page,
            &click(&format!("li[data-id='{first}'] .show-deliveries")),
            "deliveries",
            |v| v == true,
        )
        .await;
    browser
        .wait_for(&page, PAGE, "the delivery's status", |v| {
            v["deliveries"] == json!(["delivered"])
        })
        .await;
    // Preferences: no email for new sign-ins.
    browser
        .eval(
            &page,
            "document.getElementById('pref-new_sign_in-email').click(); \
             document.getElementById('prefs').requestSubmit(); true",
        )
        .await;
    browser
        .wait_for(&page, PAGE, "saved", |v| v["saved"] == "Preferences saved.")
        .await;
    let prefs = app
        .call(
            Method::GET,
            "/api/v1/me/notification-preferences",
            Some(&max.token),
            None,
        )
        .await;
    assert_eq!(prefs.body["new_sign_in"]["email"], false);
    assert_eq!(prefs.body["role_granted"]["email"], true);
    // Mark all read.
    browser
        .wait_for(&page, &click("#read-all"), "read all", |v| v == true)
        .await;
    browser
        .wait_for(&page, PAGE, "nothing unread", |v| {
            v["unread"] == "0 unread notifications."
        })
        .await;
}
