//! Roles (issue 17): granting and revoking (audited, the user notified), service tokens, player
//! profiles (create, claim, give, merge), the privacy of the public read API, audit log reads,
//! and a venue's managers with its staff and keys.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{App, rec, spawn_app};
use cloud_sync::accounts::Role;

async fn admin(app: &App) -> crate::helpers::Persona {
    app.persona("admin", true, &[(Role::Admin, None)]).await
}

#[tokio::test]
async fn grants_are_audited_notified_and_scoped_to_the_managers_venue() {
    let app = spawn_app().await;
    let (venue_b, _) = cloud_sync::venues::create_venue(&app.pool, "Other Hall")
        .await
        .expect("venue B");
    let root = admin(&app).await;
    let kim = app.persona("kim", true, &[]).await;
    let lee = app.persona("lee", true, &[]).await;
    let path = format!("/api/v1/admin/users/{}/roles", kim.id);

    let body = json!({"role": "venue_manager", "venue_id": app.venue});
    let granted = app
        .call(Method::POST, &path, Some(&root.token), Some(&body))
        .await;
    assert_eq!(granted.status, StatusCode::CREATED, "{:?}", granted.body);
    // Granting again changes nothing.
    let again = app
        .call(Method::POST, &path, Some(&root.token), Some(&body))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM user_roles WHERE user_id = '{}'",
            kim.id
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM notifications WHERE user_id = '{}' AND kind = 'role_granted'",
            kim.id
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'role.grant' AND actor_id = '{}'
             AND resource = 'user:{}' AND venue_id = '{}' AND addr = '127.0.0.1'",
            root.id, kim.id, app.venue
        ))
        .await,
        1
    );

    // Kim's next token carries the role: she grants organiser to Lee at her venue, not at B,
    // and not admin.
    let kim = app
        .persona("kim2", true, &[(Role::VenueManager, Some(&app.venue))])
        .await;
    let lee_path = format!("/api/v1/admin/users/{}/roles", lee.id);
    for (body, want) in [
        (
            json!({"role": "organiser", "venue_id": app.venue}),
            StatusCode::CREATED,
        ),
        (
            json!({"role": "organiser", "venue_id": venue_b}),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({"role": "admin", "venue_id": null}),
            StatusCode::FORBIDDEN,
        ),
        (json!({"role": "organiser"}), StatusCode::FORBIDDEN),
    ] {
        let answer = app
            .call(Method::POST, &lee_path, Some(&kim.token), Some(&body))
            .await;
        assert_eq!(answer.status, want, "{body}: {:?}", answer.body);
    }

    // Bad input: a clear 400, nothing stored.
    for body in [
        json!({"role": "wizard", "venue_id": null}),
        json!({"role": "player"}),
        json!({"role": "admin", "venue_id": app.venue}),
        json!({"role": "venue_manager"}),
        json!({"role": "organiser", "venue_id": "x'; DROP TABLE users; --", "extra": 1}),
    ] {
        let answer = app
            .call(Method::POST, &lee_path, Some(&root.token), Some(&body))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(answer.body["error"].is_string());
    }
    let raw = app
        .http
        .post(app.url(&lee_path))
        .bearer_auth(&root.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("answered");
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let nobody = app
        .call(
            Method::POST,
            "/api/v1/admin/users/nobody/roles",
            Some(&root.token),
            Some(&json!({"role": "organiser", "venue_id": null})),
        )
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);

    // Revoking: the same body with DELETE; audited; 404 when not held.
    let revoke = app
        .call(Method::DELETE, &path, Some(&root.token), Some(&body))
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT, "{:?}", revoke.body);
    let revoke = app
        .call(Method::DELETE, &path, Some(&root.token), Some(&body))
        .await;
    assert_eq!(revoke.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'role.revoke'")
            .await,
        1
    );
    // The last administrator cannot be revoked.
    let last = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/users/{}/roles", root.id),
            Some(&root.token),
            Some(&json!({"role": "admin", "venue_id": null})),
        )
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{:?}", last.body);
}

#[tokio::test]
async fn service_tokens_read_every_venues_full_data_and_nothing_else() {
    let app = spawn_app().await;
    let (_, token) = cloud_sync::accounts::service_tokens::create(&app.pool, "league-export")
        .await
        .expect("token");
    assert!(token.starts_with("dps_"));
    assert_eq!(
        app.count("SELECT count(*) FROM service_tokens WHERE length(token_hash) = 32")
            .await,
        1,
        "only the SHA-256 is stored"
    );
    app.post(&app.batch("e1", rec::whole_match(1, "m-1"))).await;
    app.projected().await;
    let path = format!("/api/v1/venues/{}/matches", app.venue);
    let full = app.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.body["matches"][0]["players"], json!(["Ann", "Bo"]));
    let public = app.get(&path, false).await;
    assert_eq!(
        public.body["matches"][0]["players"],
        json!(["Guest", "Guest"])
    );
    // Read-only: no administration, no sync.
    for (method, path) in [
        (Method::GET, "/api/v1/admin/users".to_owned()),
        (Method::GET, format!("/api/v1/venues/{}/keys", app.venue)),
        (Method::GET, "/api/v1/sync/players".to_owned()),
    ] {
        let answer = app.call(method, &path, Some(&token), None).await;
        assert!(
            matches!(answer.status.as_u16(), 401 | 403),
            "{path}: {}",
            answer.status
        );
    }
    assert!(
        cloud_sync::accounts::service_tokens::revoke(&app.pool, "league-export")
            .await
            .expect("revoke")
    );
    let revoked = app.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
}

/// A match at the test venue: seat 0 is registered player `id`, seat 1 a walk-in ("Bo").
async fn play(app: &App, epoch: &str, mid: &str, id: &str) {
    let mut records = vec![rec::started_with(1, mid, [Some(id), None])];
    records.extend(rec::whole_match(1, mid).into_iter().skip(1));
    let answer = app.post(&app.batch(epoch, records)).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    app.projected().await;
}

#[tokio::test]
async fn the_public_sees_public_players_only_and_managers_see_their_venue_in_full() {
    let app = spawn_app().await;
    let (venue_b, _) = cloud_sync::venues::create_venue(&app.pool, "Other Hall")
        .await
        .expect("venue B");
    let ann = app.persona("ann", true, &[]).await;
    let made = app
        .call(
            Method::POST,
            "/api/v1/me/player",
            Some(&ann.token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let player = made.body["player"]["id"].as_str().expect("id").to_owned();
    assert_eq!(made.body["player"]["name"], "ann");
    // Ann trusts the venue, so its result counts for her (tests/it/confirmations.rs): what the
    // public sees of a result that counts is the point here.
    let trusted = app
        .call(
            Method::PUT,
            &format!("/api/v1/me/trusted-venues/{}", app.venue),
            Some(&ann.token),
            None,
        )
        .await;
    assert!(trusted.status.is_success(), "{:?}", trusted.body);
    play(&app, "e1", "m-1", &player).await;

    let list = format!("/api/v1/venues/{}/matches", app.venue);
    let manager_a = app
        .persona("ma", true, &[(Role::VenueManager, Some(&app.venue))])
        .await;
    let manager_b = app
        .persona("mb", true, &[(Role::VenueManager, Some(&venue_b))])
        .await;
    // Private by default: masked for everyone but the venue's managers (cache keyed by audience:
    // the public answer is asked first, so a shared entry would leak to or from it).
    for _ in 0..2 {
        let public = app.get(&list, false).await;
        assert_eq!(public.status, StatusCode::OK);
        let m = &public.body["matches"][0];
        assert_eq!(m["players"], json!(["Private player", "Guest"]), "{m}");
        assert_eq!(m["player_ids"], json!([null, null]));
        let other = app
            .call(Method::GET, &list, Some(&manager_b.token), None)
            .await;
        assert_eq!(other.body["matches"][0]["players"], m["players"]);
        let full = app
            .call(Method::GET, &list, Some(&manager_a.token), None)
            .await;
        assert_eq!(full.body["matches"][0]["players"], json!(["Ann", "Bo"]));
        assert_eq!(full.body["matches"][0]["player_ids"], json!([player, null]));
    }
    let id = app.get(&list, false).await.body["matches"][0]["id"]
        .as_i64()
        .expect("id");
    let detail = app.get(&format!("/api/v1/matches/{id}"), false).await;
    assert!(
        !detail.body.to_string().contains("\"Bo\""),
        "{}",
        detail.body
    );
    assert!(!detail.body.to_string().contains(&player));
    assert_eq!(detail.body["stats"][1]["player_name"], "Guest");
    // A private player's own pages: 404 to the public, full to their owner and admins.
    let stats = format!("/api/v1/players/{player}");
    assert_eq!(app.get(&stats, false).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&format!("{stats}/matches"), false).await.status,
        StatusCode::NOT_FOUND
    );
    let own = app.call(Method::GET, &stats, Some(&ann.token), None).await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.body["stats"]["matches"], 1);
    let own = app
        .call(
            Method::GET,
            &format!("{stats}/matches"),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(own.body["matches"][0]["players"], json!(["Ann", "Guest"]));

    // Made public: the public sees the name (cached answers were invalidated), never an email.
    let switched = app
        .call(
            Method::PATCH,
            "/api/v1/me/privacy",
            Some(&ann.token),
            Some(&json!({"profile_public": true})),
        )
        .await;
    assert_eq!(switched.status, StatusCode::OK, "{:?}", switched.body);
    let public = app.get(&list, false).await;
    assert_eq!(
        public.body["matches"][0]["players"],
        json!(["Ann", "Guest"])
    );
    assert_eq!(
        public.body["matches"][0]["player_ids"],
        json!([player, null])
    );
    let stats_answer = app.get(&stats, false).await;
    assert_eq!(stats_answer.status, StatusCode::OK);
    for body in [&public.body, &stats_answer.body] {
        assert!(!body.to_string().contains("@example.test"), "{body}");
    }
    let bad = app
        .call(
            Method::PATCH,
            "/api/v1/me/privacy",
            Some(&ann.token),
            Some(&json!({"profile_public": "yes"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let nobody = app.persona("nobody", true, &[]).await;
    let none = app
        .call(
            Method::PATCH,
            "/api/v1/me/privacy",
            Some(&nobody.token),
            Some(&json!({"profile_public": true})),
        )
        .await;
    assert_eq!(none.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_claim_is_decided_by_a_manager_of_a_venue_where_the_player_played() {
    let app = spawn_app().await;
    let (venue_b, _) = cloud_sync::venues::create_venue(&app.pool, "Other Hall")
        .await
        .expect("venue B");
    let cy = cloud_sync::players::create_player(&app.pool, "Cy", None)
        .await
        .expect("player");
    play(&app, "e1", "m-1", &cy.id).await;
    let user = app.persona("cy", true, &[]).await;
    let claim = app
        .call(
            Method::POST,
            "/api/v1/me/player",
            Some(&user.token),
            Some(&json!({"player_id": cy.id})),
        )
        .await;
    assert_eq!(claim.status, StatusCode::ACCEPTED, "{:?}", claim.body);
    let claim_id = claim.body["claim_id"].as_i64().expect("claim id");
    let unknown = app
        .call(
            Method::POST,
            "/api/v1/me/player",
            Some(&user.token),
            Some(&json!({"player_id": "nobody"})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    // At most 3 claims wait at once.
    for (n, want) in [
        (1, StatusCode::ACCEPTED),
        (2, StatusCode::ACCEPTED),
        (3, StatusCode::CONFLICT),
    ] {
        let other = cloud_sync::players::create_player(&app.pool, &format!("Other {n}"), None)
            .await
            .expect("player");
        let answer = app
            .call(
                Method::POST,
                "/api/v1/me/player",
                Some(&user.token),
                Some(&json!({"player_id": other.id})),
            )
            .await;
        assert_eq!(answer.status, want, "{:?}", answer.body);
    }

    let manager_b = app
        .persona("mb", true, &[(Role::VenueManager, Some(&venue_b))])
        .await;
    let manager_a = app
        .persona("ma", true, &[(Role::VenueManager, Some(&app.venue))])
        .await;
    let listed_b = app
        .call(
            Method::GET,
            "/api/v1/admin/claims",
            Some(&manager_b.token),
            None,
        )
        .await;
    assert_eq!(listed_b.body["claims"], json!([]), "{:?}", listed_b.body);
    let listed_a = app
        .call(
            Method::GET,
            "/api/v1/admin/claims",
            Some(&manager_a.token),
            None,
        )
        .await;
    assert_eq!(listed_a.body["claims"][0]["id"], claim_id);
    assert_eq!(listed_a.body["claims"][0]["player_name"], "Cy");
    let approve = format!("/api/v1/admin/claims/{claim_id}/approve");
    let refused = app
        .call(Method::POST, &approve, Some(&manager_b.token), None)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let approved = app
        .call(Method::POST, &approve, Some(&manager_a.token), None)
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{:?}", approved.body);
    let twice = app
        .call(Method::POST, &approve, Some(&manager_a.token), None)
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    let mine = app
        .call(Method::GET, "/api/v1/me/player", Some(&user.token), None)
        .await;
    assert_eq!(mine.body["player"]["id"], json!(cy.id), "{:?}", mine.body);
    assert_eq!(mine.body["profile_public"], false);
    // Now theirs: their own statistics, in full.
    let stats = app
        .call(
            Method::GET,
            &format!("/api/v1/players/{}", cy.id),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(stats.body["stats"]["matches"], 1);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'player.claim.approve'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_merge_moves_the_history_and_venues_drop_the_old_profile() {
    let app = spawn_app().await;
    let root = admin(&app).await;
    let old = cloud_sync::players::create_player(&app.pool, "Dee", None)
        .await
        .expect("player");
    let new = cloud_sync::players::create_player(&app.pool, "Dee S.", None)
        .await
        .expect("player");
    play(&app, "e1", "m-1", &old.id).await;
    let dee = app.persona("dee", true, &[]).await;
    let given = app
        .call(
            Method::POST,
            &format!("/api/v1/admin/users/{}/player", dee.id),
            Some(&root.token),
            Some(&json!({"player_id": old.id})),
        )
        .await;
    assert_eq!(given.status, StatusCode::OK, "{:?}", given.body);
    let cursor = app.get("/api/v1/sync/players/snapshot", true).await.body["cursor"]
        .as_u64()
        .expect("cursor");

    let merged = app
        .call(
            Method::POST,
            "/api/v1/admin/players/merge",
            Some(&root.token),
            Some(&json!({"from": old.id, "into": new.id})),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{:?}", merged.body);
    assert_eq!(merged.body["seats"], 1);
    assert_eq!(merged.body["moved_user"], json!(dee.id));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM match_player_stats WHERE player_id = '{}'",
            new.id
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM matches WHERE '{}' = ANY(player_ids)",
            old.id
        ))
        .await,
        0
    );
    let link: Option<String> = sqlx::query_scalar("SELECT player_id FROM users WHERE id = $1")
        .bind(&dee.id)
        .fetch_one(&app.pool)
        .await
        .expect("user");
    assert_eq!(link.as_deref(), Some(new.id.as_str()));
    let changes = app
        .get(&format!("/api/v1/sync/players?cursor={cursor}"), true)
        .await;
    let ops: Vec<(Value, Value)> = changes.body["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| (c["op"].clone(), c["id"].clone()))
        .collect();
    assert!(
        ops.contains(&(json!("delete"), json!(old.id))),
        "{:?}",
        changes.body
    );
    let stats = app
        .call(
            Method::GET,
            &format!("/api/v1/players/{}", new.id),
            Some(&dee.token),
            None,
        )
        .await;
    assert_eq!(stats.body["stats"]["matches"], 1, "{:?}", stats.body);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'player.merge'")
            .await,
        1
    );
    let same = app
        .call(
            Method::POST,
            "/api/v1/admin/players/merge",
            Some(&root.token),
            Some(&json!({"from": new.id, "into": new.id})),
        )
        .await;
    assert_eq!(same.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_manager_lists_adds_and_revokes_their_venues_keys_and_reads_its_audit() {
    let app = spawn_app().await;
    let (venue_b, _) = cloud_sync::venues::create_venue(&app.pool, "Other Hall")
        .await
        .expect("venue B");
    let manager = app
        .persona("ma", true, &[(Role::VenueManager, Some(&app.venue))])
        .await;
    let keys = format!("/api/v1/venues/{}/keys", app.venue);
    let listed = app
        .call(Method::GET, &keys, Some(&manager.token), None)
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["keys"].as_array().map(Vec::len), Some(1));
    assert!(!listed.body.to_string().contains("dpv_"));
    let added = app
        .call(Method::POST, &keys, Some(&manager.token), None)
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    let key = added.body["key"].as_str().expect("key").to_owned();
    let key_id = added.body["id"].as_i64().expect("id");
    // The new key works for the venue's sync.
    let pull = app
        .call(Method::GET, "/api/v1/sync/players", Some(&key), None)
        .await;
    assert_eq!(pull.status, StatusCode::OK);
    // Manager of A cannot touch B.
    let other = app
        .call(
            Method::GET,
            &format!("/api/v1/venues/{venue_b}/keys"),
            Some(&manager.token),
            None,
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let revoked = app
        .call(
            Method::DELETE,
            &format!("{keys}/{key_id}"),
            Some(&manager.token),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let pull = app
        .call(Method::GET, "/api/v1/sync/players", Some(&key), None)
        .await;
    assert_eq!(pull.status, StatusCode::UNAUTHORIZED);
    let again = app
        .call(
            Method::DELETE,
            &format!("{keys}/{key_id}"),
            Some(&manager.token),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    // Staff: grant organiser by email, then list.
    let lee = app.persona("lee", true, &[]).await;
    let email: String = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(&lee.id)
        .fetch_one(&app.pool)
        .await
        .expect("email");
    let staff = format!("/api/v1/venues/{}/staff", app.venue);
    let added = app
        .call(
            Method::POST,
            &staff,
            Some(&manager.token),
            Some(&json!({"email": email.to_uppercase(), "role": "organiser"})),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    let listed = app
        .call(Method::GET, &staff, Some(&manager.token), None)
        .await;
    let names: Vec<Value> = listed.body["staff"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| s["display_name"].clone())
        .collect();
    assert!(
        names.contains(&json!("lee")) && names.contains(&json!("ma")),
        "{names:?}"
    );

    // The venue's audit log: key added, key revoked, role granted; filters.
    let audit = format!("/api/v1/venues/{}/audit", app.venue);
    let entries = app
        .call(Method::GET, &audit, Some(&manager.token), None)
        .await;
    let actions: Vec<Value> = entries.body["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(
        actions,
        [
            json!("role.grant"),
            json!("venue_key.revoke"),
            json!("venue_key.add")
        ]
    );
    let filtered = app
        .call(
            Method::GET,
            &format!("{audit}?action=venue_key.&limit=1"),
            Some(&manager.token),
            None,
        )
        .await;
    assert_eq!(filtered.body["entries"][0]["action"], "venue_key.revoke");
    let next = filtered.body["next"].as_i64().expect("next");
    let page2 = app
        .call(
            Method::GET,
            &format!("{audit}?action=venue_key.&limit=1&before={next}"),
            Some(&manager.token),
            None,
        )
        .await;
    assert_eq!(page2.body["entries"][0]["action"], "venue_key.add");
    let bad = app
        .call(
            Method::GET,
            &format!("{audit}?limit=0"),
            Some(&manager.token),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn admins_search_users_and_read_the_whole_audit_log() {
    let app = spawn_app().await;
    let root = admin(&app).await;
    for name in ["zoe", "zed", "amy"] {
        app.persona(name, true, &[]).await;
    }
    let found = app
        .call(
            Method::GET,
            "/api/v1/admin/users?q=Z&limit=1",
            Some(&root.token),
            None,
        )
        .await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(found.body["users"].as_array().map(Vec::len), Some(1));
    let after = found.body["next"].as_str().expect("next");
    let rest = app
        .call(
            Method::GET,
            &format!("/api/v1/admin/users?q=Z&limit=1&after={after}"),
            Some(&root.token),
            None,
        )
        .await;
    assert_eq!(rest.body["users"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest.body["next"], Value::Null);
    let wild = app
        .call(
            Method::GET,
            "/api/v1/admin/users?q=%25",
            Some(&root.token),
            None,
        )
        .await;
    assert_eq!(
        wild.body["users"],
        json!([]),
        "a % is a character, not a wildcard"
    );
    let id = found.body["users"][0]["id"].as_str().expect("id");
    let one = app
        .call(
            Method::GET,
            &format!("/api/v1/admin/users/{id}"),
            Some(&root.token),
            None,
        )
        .await;
    assert_eq!(one.body["roles"], json!([]));
    app.call(
        Method::POST,
        &format!("/api/v1/admin/users/{id}/roles"),
        Some(&root.token),
        Some(&json!({"role": "organiser", "venue_id": null})),
    )
    .await;
    let audit = app
        .call(
            Method::GET,
            &format!("/api/v1/admin/audit?resource=user:{id}"),
            Some(&root.token),
            None,
        )
        .await;
    assert_eq!(audit.body["entries"][0]["action"], "role.grant");
    assert_eq!(audit.body["entries"][0]["actor_id"], json!(root.id));
    assert_eq!(
        audit.body["entries"][0]["detail"],
        json!({"role": "organiser", "venue_id": null})
    );
}

#[tokio::test]
async fn the_public_live_feed_masks_walk_ins_and_private_players() {
    use std::time::Duration;

    use crate::live::{live_client, next_result};
    let app = spawn_app().await;
    let ann = cloud_sync::players::create_player(&app.pool, "Ann", None)
        .await
        .expect("player");
    let mut socket = live_client(&app.base).await;
    let mut records = vec![rec::started_with(1, "m-1", [Some(&ann.id), None])];
    records.extend(rec::whole_match(1, "m-1").into_iter().skip(1));
    app.post(&app.batch("e1", records)).await;
    let heard = next_result(&mut socket, Duration::from_secs(5))
        .await
        .expect("the result");
    assert_eq!(
        heard["players"],
        json!(["Private player", "Guest"]),
        "{heard}"
    );
    assert_eq!(heard["player_ids"], json!([null, null]));

    app.make_public(&ann.id).await;
    let mut records = vec![rec::started_with(5, "m-2", [Some(&ann.id), None])];
    records.extend(rec::whole_match(5, "m-2").into_iter().skip(1));
    app.post(&app.batch("e1", records)).await;
    let heard = next_result(&mut socket, Duration::from_secs(5))
        .await
        .expect("the result");
    assert_eq!(heard["players"], json!(["Ann", "Guest"]), "{heard}");
    assert_eq!(heard["player_ids"], json!([ann.id, null]));
}
