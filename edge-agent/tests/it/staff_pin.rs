//! Staff sign in at the console with their name and PIN in headless Chromium
//! ([`dojo_testkit::browser`]): the staff list comes from the (scripted) cloud with an Argon2id
//! PIN hash, the console signs in without the staff token, a correction made there is logged with
//! the member's id, and signing out locks the console.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher as _, SaltString};
use serde_json::{Value, json};

use crate::helpers::*;
use dojo_testkit::browser::{Browser, click};

const PAGE: &str = r##"(() => {
  const text = (el) => el ? el.textContent.trim() : null;
  const byId = (id) => document.getElementById(id);
  const shown = (id) => !!byId(id) && !byId(id).hidden && !byId(id).closest("[hidden]");
  return {
    ready: document.readyState === "complete" && !!byId("signin-form"),
    signin_form: shown("signin-form"),
    names: [...document.querySelectorAll("#signin-member option")].map(text),
    signin_error: shown("signin-error") ? text(byId("signin-error")) : null,
    unlocked: shown("console"),
    signed_in: shown("signed-in") ? text(byId("signed-in")) : null,
    lock: text(byId("lock")),
    corrections: shown("corrections"),
    staff_name: byId("staff-name") ? byId("staff-name").value : null,
    notice: shown("notice") ? { kind: byId("notice").className, text: text(byId("notice-text")) } : null,
    cookie_visible: document.cookie.includes("dojo_staff"),
  };
})()"##;

/// An Argon2id PHC string of `pin` at OWASP's parameters, as cloud-sync stores it.
fn pin_hash(pin: &str) -> String {
    let params = argon2::Params::new(19 * 1024, 2, 1, None).expect("params");
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
    argon
        .hash_password(pin.as_bytes(), &salt)
        .expect("hash")
        .to_string()
}

fn sign_in_with(pin: &str) -> String {
    format!(
        "document.getElementById('signin-pin').value = {pin:?}; \
         document.getElementById('signin-form').requestSubmit(); true"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_with_a_pin_and_their_correction_is_logged_with_their_id_in_chromium() {
    let peer: SharedPeer = Arc::default();
    peer.lock().expect("peer").staff = Some(json!({
        "staff": [
            {"id": "u-kim", "display_name": "Kim <b>", "roles": ["venue_manager"],
             "pin_hash": pin_hash("482913")},
        ],
        "version": "v1",
    }));
    let url = start_peer(peer.clone()).await;
    let dir = data_dir("staff-pin-console");
    let agent = agent_syncing_to(url, &dir).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while agent.get("/api/v1/staff/members").await.1["staff"][0]["id"] != "u-kim" {
        assert!(
            std::time::Instant::now() < deadline,
            "the staff list never pulled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut feed = ws(&agent, "?tables=p7").await;
    agent.start_match("p7", "nine-ball", 3).await;

    let mut browser = Browser::launch().await;
    let page = browser.open(&agent.url("/staff#p7")).await;
    let shown = browser
        .wait_for(&page, PAGE, "the sign-in form", |v| {
            v["ready"] == true && v["signin_form"] == true
        })
        .await;
    assert_eq!(shown["names"], json!(["Kim <b>"]), "as text: {shown:#}");
    assert_eq!(shown["unlocked"], false);

    // A wrong PIN: refused, the console stays locked.
    browser.eval(&page, &sign_in_with("111111")).await;
    let shown = browser
        .wait_for(&page, PAGE, "the wrong-PIN error", |v| {
            v["signin_error"].is_string()
        })
        .await;
    assert_eq!(
        shown["signin_error"], "wrong name or PIN (HTTP 401)",
        "{shown:#}"
    );
    assert_eq!(shown["unlocked"], false);

    // The right PIN: the console opens, says who, and the cookie is out of the script's reach.
    browser.eval(&page, &sign_in_with("482913")).await;
    let shown = browser
        .wait_for(&page, PAGE, "the console signed in", |v| {
            v["unlocked"] == true && v["corrections"] == true
        })
        .await;
    assert_eq!(shown["signed_in"], "Signed in: Kim <b>", "{shown:#}");
    assert_eq!(shown["lock"], "Sign out");
    assert_eq!(shown["staff_name"], "Kim <b>");
    assert_eq!(shown["cookie_visible"], false, "HttpOnly");

    // A correction from the console: logged with Kim's id and name, and in the outbox record.
    browser
        .eval(
            &page,
            "(() => { const el = document.getElementById('reason'); el.value = 'sensor missed the 9'; \
             el.dispatchEvent(new Event('input')); return true; })()",
        )
        .await;
    browser
        .wait_for(
            &page,
            &click("[data-adjust='1'][data-delta='1']"),
            "+1",
            |v| v == true,
        )
        .await;
    until(&mut feed, "p7", |v| v["score"] == json!([0, 1])).await;
    let kim = json!({"role": "staff", "name": "Kim <b>", "id": "u-kim"});
    let conn = rusqlite::Connection::open(dir.join("edge.sqlite3")).expect("db");
    let logged: String = conn
        .query_row(
            "SELECT input FROM events WHERE input LIKE '%adjust_rack%' ORDER BY seq DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .expect("logged");
    let logged: Value = serde_json::from_str(&logged).expect("json");
    assert_eq!(logged["by"], kim, "{logged}");
    wait_for(
        "the correction's record with Kim's id at the cloud",
        20,
        || {
            peer.lock().expect("peer").batches.iter().any(|(_, batch)| {
                batch
                    .records
                    .iter()
                    .any(|r| r.kind == "result_corrected" && r.payload["by"] == kim)
            })
        },
    )
    .await;

    // Signing out locks the console, and the session no longer opens staff routes.
    browser
        .wait_for(&page, &click("#lock"), "Sign out", |v| v == true)
        .await;
    let shown = browser
        .wait_for(&page, PAGE, "the console locked", |v| {
            v["unlocked"] == false && v["signin_form"] == true
        })
        .await;
    assert_eq!(shown["signed_in"], Value::Null, "{shown:#}");
    // A new tab of the same browser (same cookies) finds no session: the sign-in form again.
    let again = browser.open(&agent.url("/staff")).await;
    let shown = browser
        .wait_for(&again, PAGE, "the sign-in form in a new tab", |v| {
            v["ready"] == true && v["signin_form"] == true
        })
        .await;
    assert_eq!(shown["unlocked"], false, "{shown:#}");
    agent.stop().await;
}
