//! Staff console PINs and the staff list venues pull: who may set a PIN, what is stored (only the
//! Argon2id hash), and that a venue's key gets its own staff and nobody else's.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::spawn_app;
use cloud_sync::accounts::{Role, password};

fn ids(list: &Value) -> Vec<String> {
    list["staff"]
        .as_array()
        .map(|staff| {
            staff
                .iter()
                .filter_map(|m| m["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_venue_key_gets_only_its_own_staff_with_their_pin_hashes() {
    let app = spawn_app().await;
    let (venue_b, key_b) = cloud_sync::venues::create_venue(&app.pool, "Other Hall")
        .await
        .expect("venue B");
    let venue_a = app.venue.clone();
    let kim = app
        .persona("Kim", true, &[(Role::VenueManager, Some(&venue_a))])
        .await;
    let lee = app
        .persona("Lee", true, &[(Role::Organiser, Some(&venue_b))])
        .await;
    // Staff at A without a PIN: not listed (cannot sign in).
    app.persona("NoPin", true, &[(Role::Organiser, Some(&venue_a))])
        .await;

    let empty = app.get("/api/v1/sync/staff", true).await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(ids(&empty.body), Vec::<String>::new());

    for (persona, venue, pin) in [(&kim, &venue_a, "482913"), (&lee, &venue_b, "730519")] {
        let set = app
            .call(
                Method::PUT,
                "/api/v1/me/staff-pin",
                Some(&persona.token),
                Some(&json!({"venue_id": venue, "pin": pin})),
            )
            .await;
        assert_eq!(set.status, 204, "{}", set.body);
    }
    let stored: String = sqlx::query_scalar("SELECT pin_hash FROM staff_pins WHERE user_id = $1")
        .bind(&kim.id)
        .fetch_one(&app.pool)
        .await
        .expect("stored");
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains("482913"));

    let list_a = app.get("/api/v1/sync/staff", true).await;
    assert_eq!(list_a.status, 200, "{}", list_a.body);
    assert_eq!(ids(&list_a.body), vec![kim.id.clone()]);
    let member = &list_a.body["staff"][0];
    assert_eq!(member["display_name"], "Kim");
    assert_eq!(member["roles"], json!(["venue_manager"]));
    let hash = member["pin_hash"].as_str().expect("hash");
    assert!(password::verify("482913", hash));
    assert!(!password::verify("482914", hash));
    assert_ne!(list_a.body["version"], empty.body["version"]);

    let list_b = app
        .call(Method::GET, "/api/v1/sync/staff", Some(&key_b), None)
        .await;
    assert_eq!(ids(&list_b.body), vec![lee.id.clone()]);

    // A new PIN changes the version; a revoked role drops the member at once.
    let again = app
        .call(
            Method::PUT,
            "/api/v1/me/staff-pin",
            Some(&kim.token),
            Some(&json!({"venue_id": venue_a, "pin": "583920"})),
        )
        .await;
    assert_eq!(again.status, 204);
    let changed = app.get("/api/v1/sync/staff", true).await;
    assert_ne!(changed.body["version"], list_a.body["version"]);
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
        .bind(&kim.id)
        .execute(&app.pool)
        .await
        .expect("revoke");
    let revoked = app.get("/api/v1/sync/staff", true).await;
    assert_eq!(ids(&revoked.body), Vec::<String>::new());
    // …and their still-valid access token can no longer set a PIN there.
    let stale = app
        .call(
            Method::PUT,
            "/api/v1/me/staff-pin",
            Some(&kim.token),
            Some(&json!({"venue_id": venue_a, "pin": "583921"})),
        )
        .await;
    assert_eq!(stale.status, 403, "{}", stale.body);

    // A person's token on the venue route: 403, never the list.
    let person = app
        .call(Method::GET, "/api/v1/sync/staff", Some(&lee.token), None)
        .await;
    assert_eq!(person.status, 403);
}

#[tokio::test]
async fn pins_are_checked_and_only_staff_of_the_venue_set_one() {
    let app = spawn_app().await;
    let venue = app.venue.clone();
    let kim = app
        .persona("Kim", true, &[(Role::VenueManager, Some(&venue))])
        .await;
    let player = app.persona("Pat", true, &[]).await;
    let admin = app.persona("Ada", true, &[(Role::Admin, None)]).await;
    let put = |token: String, body: Value| {
        let app = &app;
        async move {
            app.call(
                Method::PUT,
                "/api/v1/me/staff-pin",
                Some(&token),
                Some(&body),
            )
            .await
        }
    };
    for weak in [
        "123456",
        "000000",
        "12345",
        "abcdef",
        "1234567890123",
        "121212",
    ] {
        let answer = put(kim.token.clone(), json!({"venue_id": venue, "pin": weak})).await;
        assert_eq!(answer.status, 400, "{weak}: {}", answer.body);
        assert!(answer.body["error"].is_string());
    }
    for body in [
        json!({"venue_id": venue}),
        json!({"venue_id": venue, "pin": 482913}),
        json!({"venue_id": venue, "pin": "482913", "extra": 1}),
    ] {
        let answer = put(kim.token.clone(), body).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
    }
    for who in [&player, &admin] {
        let answer = put(
            who.token.clone(),
            json!({"venue_id": venue, "pin": "482913"}),
        )
        .await;
        assert_eq!(answer.status, 403, "{}", answer.body);
    }
    let anonymous = app
        .call(
            Method::PUT,
            "/api/v1/me/staff-pin",
            None,
            Some(&json!({"venue_id": venue, "pin": "482913"})),
        )
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        app.count("SELECT count(*) FROM staff_pins").await,
        0,
        "nothing stored"
    );

    let set = put(
        kim.token.clone(),
        json!({"venue_id": venue, "pin": "482913"}),
    )
    .await;
    assert_eq!(set.status, 204);
    let removed = app
        .call(
            Method::DELETE,
            "/api/v1/me/staff-pin",
            Some(&kim.token),
            Some(&json!({"venue_id": venue})),
        )
        .await;
    assert_eq!(removed.status, 204);
    assert_eq!(app.count("SELECT count(*) FROM staff_pins").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action LIKE 'staff_pin.%'")
            .await,
        2,
        "set and removed, audited"
    );
}
