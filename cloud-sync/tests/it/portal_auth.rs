//! The sign-up, verification, sign-in, sessions and sign-out pages in headless Chromium, end to
//! end against the real service: the verification link is the one in the notification the
//! sign-up produced (what the email carries).

use dojo_testkit::browser::{Browser, click};
use serde_json::Value;

use crate::helpers::spawn_app;

/// Sets an input's value as typing would.
fn fill(id: &str, value: &str) -> String {
    format!(
        "(() => {{ const el = document.getElementById({id:?}); if (!el) return false; \
         el.value = {value:?}; el.dispatchEvent(new Event('input')); return true; }})()"
    )
}

/// Lets a new document get its execution context (CDP refuses to evaluate in between).
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
}

async fn navigate(browser: &mut Browser, tab: &str, url: &str) {
    browser
        .wait_for(
            tab,
            &format!("location.assign({url:?}); true"),
            "navigation",
            |v| v == &Value::Bool(true),
        )
        .await;
    settle().await;
}

#[tokio::test]
async fn sign_up_verify_sign_in_see_sessions_and_sign_out_in_a_browser() {
    let app = spawn_app().await;
    let mut browser = Browser::launch().await;
    let tab = browser.open(&app.url("/portal/signup")).await;
    settle().await;
    for (id, value) in [
        ("email", "nina@example.test"),
        ("display_name", "Nina <b>Ross</b>"),
        ("password", "a quiet table by the window"),
    ] {
        browser
            .wait_for(&tab, &fill(id, value), id, |v| v == &Value::Bool(true))
            .await;
    }
    browser
        .wait_for(&tab, &click("#signup button[type=submit]"), "submit", |v| {
            v == &Value::Bool(true)
        })
        .await;
    browser
        .wait_for(
            &tab,
            "document.getElementById('message').textContent",
            "the check-your-email message",
            |v| v.as_str().is_some_and(|t| t.contains("Almost done")),
        )
        .await;
    assert_eq!(
        browser
            .eval(
                &tab,
                "document.getElementById('message').getAttribute('role')"
            )
            .await,
        "alert"
    );

    // The link from the notification (what the email says), on this instance's address.
    let (user, payload): (String, Value) = sqlx::query_as(
        "SELECT n.user_id, n.payload FROM notifications n JOIN users u ON u.id = n.user_id
          WHERE u.email_key = 'nina@example.test' AND n.kind = 'verify_email'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("a verification notification");
    let link = payload["link"].as_str().expect("link");
    let path = &link[link.find("/portal/verify?token=").expect("a verify link")..];
    navigate(&mut browser, &tab, &app.url(path)).await;
    browser
        .wait_for(
            &tab,
            "document.getElementById('message').textContent",
            "verified",
            |v| v.as_str() == Some("Your email address is verified."),
        )
        .await;
    let verified: bool =
        sqlx::query_scalar("SELECT email_verified_at IS NOT NULL FROM users WHERE id = $1")
            .bind(&user)
            .fetch_one(&app.pool)
            .await
            .expect("user");
    assert!(verified);

    // `?next=` elsewhere than this site is ignored (no open redirect).
    for next in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let query = format!("?next={}", next.replace('/', "%2F"));
        navigate(
            &mut browser,
            &tab,
            &app.url(&format!("/portal/signin{query}")),
        )
        .await;
        let expected = format!("{query} /portal/profile");
        browser
            .wait_for(
                &tab,
                "location.search + ' ' + nextPage()",
                "the page after sign-in",
                |v| v.as_str() == Some(expected.as_str()),
            )
            .await;
    }

    // Sign in, sent on to the sessions page (`?next=` is a local path).
    navigate(
        &mut browser,
        &tab,
        &app.url("/portal/signin?next=/portal/sessions"),
    )
    .await;
    for (id, value) in [
        ("email", "nina@example.test"),
        ("password", "a quiet table by the window"),
    ] {
        browser
            .wait_for(&tab, &fill(id, value), id, |v| v == &Value::Bool(true))
            .await;
    }
    browser
        .wait_for(&tab, &click("#signin button[type=submit]"), "submit", |v| {
            v == &Value::Bool(true)
        })
        .await;
    settle().await;
    browser
        .wait_for(
            &tab,
            "location.pathname + ' ' + document.querySelectorAll('#sessions tbody tr').length \
             + ' ' + (document.querySelector('#sessions .badge') || {}).textContent",
            "the sessions list with this device",
            |v| v.as_str() == Some("/portal/sessions 1 This device"),
        )
        .await;
    // The nav greets nobody with markup: the name typed with tags is text.
    assert_eq!(
        browser
            .eval(&tab, "document.querySelectorAll('main b, header b').length")
            .await,
        0
    );

    // Sign out from the header: the session ends, the tokens are gone.
    browser
        .wait_for(&tab, &click("#signout"), "the sign-out button", |v| {
            v == &Value::Bool(true)
        })
        .await;
    settle().await;
    browser
        .wait_for(
            &tab,
            "location.pathname + ' ' + localStorage.getItem('dojo.refresh')",
            "signed out",
            |v| v.as_str() == Some("/portal/signin null"),
        )
        .await;
    assert_eq!(
        app.count("SELECT count(*) FROM sessions WHERE revoked_why = 'signed out'")
            .await,
        1
    );
}
