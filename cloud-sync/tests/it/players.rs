//! Cloud → venue: the registered-player change log, its pages and cursor, the snapshot, and 410
//! once the log is compacted past a venue's cursor.

use reqwest::StatusCode;
use serde_json::json;
use shared::sync::{PlayerChange, PlayerChanges, PlayerSnapshot};

use crate::helpers::spawn_app;

#[tokio::test]
async fn venues_pull_the_change_log_page_by_page() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (name, rating) in [("Ann", Some(1500)), ("Bo", None), ("Cy", Some(1710))] {
        let player = cloud_sync::players::create_player(&app.pool, name, rating)
            .await
            .expect("player");
        ids.push(player.id);
    }
    assert!(
        cloud_sync::players::delete_player(&app.pool, &ids[1])
            .await
            .expect("delete")
    );
    assert!(
        !cloud_sync::players::delete_player(&app.pool, "nobody")
            .await
            .expect("delete")
    );

    let first = app.get("/api/v1/sync/players?cursor=0&limit=3", true).await;
    assert_eq!(first.status, StatusCode::OK);
    let first: PlayerChanges = serde_json::from_value(first.body).expect("a page");
    assert_eq!((first.changes.len(), first.more), (3, true));
    assert!(
        matches!(&first.changes[0], PlayerChange::Upsert { player, .. }
        if player.name == "Ann" && player.rating == Some(1500))
    );
    let rest = app
        .get(
            &format!("/api/v1/sync/players?cursor={}", first.cursor),
            true,
        )
        .await;
    let rest: PlayerChanges = serde_json::from_value(rest.body).expect("a page");
    assert!(!rest.more);
    assert_eq!(rest.changes.len(), 1);
    assert!(matches!(&rest.changes[0], PlayerChange::Delete { id, .. } if *id == ids[1]));
    assert!(rest.cursor > first.cursor);
    // Caught up: an empty page keeps the cursor.
    let idle = app
        .get(
            &format!("/api/v1/sync/players?cursor={}", rest.cursor),
            true,
        )
        .await;
    assert_eq!(
        idle.body,
        json!({"changes": [], "cursor": rest.cursor, "more": false})
    );

    let snapshot = app.get("/api/v1/sync/players/snapshot", true).await;
    let snapshot: PlayerSnapshot = serde_json::from_value(snapshot.body).expect("snapshot");
    assert_eq!(snapshot.players.len(), 2);
    assert_eq!(snapshot.cursor, rest.cursor);
}

#[tokio::test]
async fn a_cursor_below_the_compacted_log_gets_410_and_the_snapshot_resumes() {
    let app = spawn_app().await;
    let ann = cloud_sync::players::create_player(&app.pool, "Ann", None)
        .await
        .expect("player");
    cloud_sync::players::create_player(&app.pool, "Bo", None)
        .await
        .expect("player");
    cloud_sync::players::delete_player(&app.pool, &ann.id)
        .await
        .expect("delete");
    let floor = cloud_sync::players::compact_player_log(&app.pool)
        .await
        .expect("compact");
    assert_eq!(floor, 3);
    let old = app.get("/api/v1/sync/players?cursor=1", true).await;
    assert_eq!(old.status, StatusCode::GONE);
    assert_eq!(old.body["error"], "cursor too old");
    // A cursor from a log this database never had (a restored backup) also resets the venue.
    let ahead = app.get("/api/v1/sync/players?cursor=99", true).await;
    assert_eq!(ahead.status, StatusCode::GONE);
    let snapshot = app.get("/api/v1/sync/players/snapshot", true).await;
    let snapshot: PlayerSnapshot = serde_json::from_value(snapshot.body).expect("snapshot");
    assert_eq!(snapshot.cursor, 3);
    assert_eq!(snapshot.players.len(), 1);
    // From the snapshot's cursor the log continues.
    let cy = cloud_sync::players::create_player(&app.pool, "Cy", None)
        .await
        .expect("player");
    let next = app.get("/api/v1/sync/players?cursor=3", true).await;
    let next: PlayerChanges = serde_json::from_value(next.body).expect("page");
    assert!(
        matches!(&next.changes[..], [PlayerChange::Upsert { version: 4, player }] if player.id == cy.id)
    );
}

#[tokio::test]
async fn the_player_log_needs_a_venue_key() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/sync/players?cursor=0",
        "/api/v1/sync/players/snapshot",
    ] {
        let answer = app.get(path, false).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(answer.body["error"].is_string());
    }
    let answer = app.get("/api/v1/sync/players?cursor=minus", true).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}
