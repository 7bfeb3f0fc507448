//! The roles pages in headless Chromium ([`dojo_testkit::browser`]): an administrator finds a
//! user and grants them a role; a venue manager lists their venue's keys and adds one. Personas
//! are signed in as portal.js keeps a session (the access token in `sessionStorage`).

use dojo_testkit::browser::{Browser, click};
use serde_json::{Value, json};

use crate::helpers::{App, Persona, spawn_app};
use cloud_sync::accounts::Role;

/// Opens `page` signed in as `persona`, as portal.js keeps a session: the access token is put in
/// `sessionStorage` before any script of the page runs (CDP's script on new documents), then the
/// page is loaded in that tab.
async fn signed_in(browser: &mut Browser, app: &App, persona: &Persona, page: &str) -> String {
    let tab = browser.open("about:blank").await;
    browser.call(Some(&tab), "Page.enable", json!({})).await;
    let source = format!(
        "sessionStorage.setItem('dojo.access', {:?});",
        persona.token
    );
    browser
        .call(
            Some(&tab),
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": source }),
        )
        .await;
    browser
        .call(Some(&tab), "Page.navigate", json!({ "url": app.url(page) }))
        .await;
    // Evaluating while the navigation commits fails (CDP): let it commit first.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let loaded = "location.pathname + ' ' + document.readyState";
    let want = format!("{page} complete");
    browser
        .wait_for(&tab, loaded, "the page", |v| {
            v.as_str() == Some(want.as_str())
        })
        .await;
    tab
}

fn rows(table: &str) -> String {
    format!(
        "[...document.querySelectorAll('#{table} tbody tr')].map((tr) => \
         [...tr.querySelectorAll('td')].map((td) => td.textContent.trim()))"
    )
}

#[tokio::test]
async fn an_admin_finds_a_user_and_grants_a_role() {
    let app = spawn_app().await;
    let root = app.persona("root", true, &[(Role::Admin, None)]).await;
    let kim = app.persona("kimberly", true, &[]).await;
    let mut browser = Browser::launch().await;
    let tab = signed_in(&mut browser, &app, &root, "/portal/admin").await;
    browser
        .wait_for(&tab, &rows("users"), "the users", |v| {
            v.as_array().is_some_and(|r| r.len() == 2)
        })
        .await;
    let search = "document.getElementById('user-q').value = 'kimber'; \
                  document.getElementById('user-search').requestSubmit(); true";
    browser.eval(&tab, search).await;
    browser
        .wait_for(&tab, &rows("users"), "kimberly alone", |v| {
            v.as_array().is_some_and(|r| r.len() == 1) && v[0][0] == "kimberly"
        })
        .await;
    browser
        .wait_for(&tab, &click("#users tbody button"), "Manage", |v| v == true)
        .await;
    browser
        .wait_for(
            &tab,
            "document.getElementById('detail-who').textContent",
            "the user",
            |v| v.as_str().is_some_and(|t| t.contains("kimberly")),
        )
        .await;
    let grant = format!(
        "document.getElementById('grant-role').value = 'venue_manager'; \
         document.getElementById('grant-venue').value = {:?}; \
         document.getElementById('grant-form').requestSubmit(); true",
        app.venue
    );
    browser.eval(&tab, &grant).await;
    let shown = browser
        .wait_for(&tab, &rows("users"), "the role in the list", |v| {
            v[0][2]
                .as_str()
                .is_some_and(|t| t.contains("venue_manager"))
        })
        .await;
    assert!(shown[0][2].as_str().is_some_and(|t| t.contains(&app.venue)));
    let message = browser
        .eval(&tab, "document.getElementById('admin-message').textContent")
        .await;
    assert_eq!(message, "Role granted.");
    let stored: Option<String> = sqlx::query_scalar(
        "SELECT venue_id FROM user_roles WHERE user_id = $1 AND role = 'venue_manager'",
    )
    .bind(&kim.id)
    .fetch_optional(&app.pool)
    .await
    .expect("query");
    assert_eq!(stored.as_deref(), Some(app.venue.as_str()));
    // The audit log on the same page shows the grant.
    browser
        .eval(
            &tab,
            "document.getElementById('audit-filter').requestSubmit(); true",
        )
        .await;
    browser
        .wait_for(&tab, &rows("audit"), "the grant in the audit log", |v| {
            v[0][2] == "role.grant"
        })
        .await;
}

#[tokio::test]
async fn a_venue_manager_lists_and_adds_keys() {
    let app = spawn_app().await;
    let manager = app
        .persona("manager", true, &[(Role::VenueManager, Some(&app.venue))])
        .await;
    let mut browser = Browser::launch().await;
    let tab = signed_in(&mut browser, &app, &manager, "/portal/venue").await;
    let keys = browser
        .wait_for(&tab, &rows("keys"), "the venue's key", |v| {
            v.as_array().is_some_and(|r| r.len() == 1)
        })
        .await;
    let venue_name = browser
        .eval(
            &tab,
            "document.getElementById('venue-pick').selectedOptions[0].textContent",
        )
        .await;
    assert_eq!(venue_name, "Test Hall");
    assert!(!keys.to_string().contains("dpv_"), "{keys}");
    browser
        .wait_for(&tab, &click("#key-add"), "Add a key", |v| v == true)
        .await;
    let keys = browser
        .wait_for(&tab, &rows("keys"), "two keys", |v| {
            v.as_array().is_some_and(|r| r.len() == 2)
        })
        .await;
    let shown = browser
        .eval(&tab, "document.getElementById('new-key').textContent")
        .await;
    let key = shown
        .as_str()
        .and_then(|t| t.split_whitespace().find(|w| w.starts_with("dpv_")))
        .expect("the new key, once")
        .to_owned();
    assert!(
        cloud_sync::venues::keys::venue_of(&app.pool, &key)
            .await
            .expect("lookup")
            .is_some_and(|v| v == app.venue)
    );
    let staff = browser
        .wait_for(&tab, &rows("staff"), "the staff", |v| {
            v.as_array().is_some_and(|r| !r.is_empty())
        })
        .await;
    assert_eq!(staff[0][0], Value::from("manager"));
    assert_eq!(keys.as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_player_creates_their_profile_and_makes_it_public() {
    let app = spawn_app().await;
    let ann = app.persona("ann", true, &[]).await;
    let mut browser = Browser::launch().await;
    let tab = signed_in(&mut browser, &app, &ann, "/portal/profile").await;
    browser
        .wait_for(
            &tab,
            &click("#player-create"),
            "Create my player profile",
            |v| v == true,
        )
        .await;
    let shown = "(() => { const p = document.getElementById('has-player'); \
                 return p.hidden ? null : [document.getElementById('player-name').textContent, \
                 document.getElementById('player-id').textContent]; })()";
    let player = browser
        .wait_for(&tab, shown, "my player", |v| v[0] == "ann")
        .await;
    let id = player[1].as_str().expect("id").to_owned();
    browser
        .wait_for(&tab, &click("#profile-public"), "the privacy switch", |v| {
            v == true
        })
        .await;
    browser
        .wait_for(
            &tab,
            "document.getElementById('profile-message').textContent",
            "the switch saved",
            |v| v == "Your profile is public.",
        )
        .await;
    let public: bool = sqlx::query_scalar("SELECT public FROM players WHERE id = $1")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .expect("player");
    assert!(public);
    // Anyone now sees the profile.
    assert_eq!(
        app.get(&format!("/api/v1/players/{id}"), false)
            .await
            .status,
        reqwest::StatusCode::OK
    );
}

#[tokio::test]
async fn staff_set_their_console_pin_on_the_profile_page() {
    let app = spawn_app().await;
    let cy = app
        .persona("cy", true, &[(Role::Organiser, Some(&app.venue))])
        .await;
    let mut browser = Browser::launch().await;
    let tab = signed_in(&mut browser, &app, &cy, "/portal/profile").await;
    browser
        .wait_for(
            &tab,
            "document.getElementById('pin-card').hidden ? null : document.getElementById('pin-venue').value",
            "the console PIN form for the venue",
            |v| *v == json!(app.venue),
        )
        .await;
    let set = |pin: &str| {
        format!(
            "(() => {{ document.getElementById('pin-value').value = '{pin}'; \
             document.getElementById('pin-form').requestSubmit(); return true; }})()"
        )
    };
    let message = "document.getElementById('profile-message').textContent";
    // An easy PIN is refused, with the reason shown; nothing stored.
    browser.eval(&tab, &set("123456")).await;
    browser
        .wait_for(&tab, message, "the refusal", |v| {
            v.as_str().is_some_and(|m| m.contains("PIN"))
                && !v
                    .as_str()
                    .is_some_and(|m| m.starts_with("Console PIN set:"))
        })
        .await;
    assert_eq!(app.count("SELECT count(*) FROM staff_pins").await, 0);
    browser.eval(&tab, &set("731594")).await;
    browser
        .wait_for(&tab, message, "the PIN saved", |v| {
            v.as_str()
                .is_some_and(|m| m.starts_with("Console PIN set:"))
        })
        .await;
    let hash: String =
        sqlx::query_scalar("SELECT pin_hash FROM staff_pins WHERE user_id = $1 AND venue_id = $2")
            .bind(&cy.id)
            .bind(&app.venue)
            .fetch_one(&app.pool)
            .await
            .expect("stored");
    assert!(hash.starts_with("$argon2id$"), "only a hash is stored");
    assert!(cloud_sync::accounts::password::verify("731594", &hash));
}
