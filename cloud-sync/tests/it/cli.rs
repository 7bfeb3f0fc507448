//! The binary as operators run it: exit status 2 and a sentence for a bad flag; enrollment prints
//! the venue id and its key once, and the key works.

use std::process::Command;

use crate::helpers::{PG, test_db};

fn cloud_sync(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cloud-sync"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .output()
        .expect("cloud-sync runs")
}

#[test]
fn bad_flags_exit_with_status_2_and_say_why() {
    for args in [
        &["serve", "--bogus"][..],
        &["serve"][..],
        &["serve", "--database-url", "mysql://db"][..],
        &[
            "serve",
            "--database-url",
            "postgres://x/db",
            "--http-addr",
            "nowhere",
        ][..],
        &[
            "serve",
            "--database-url",
            "postgres://x/db",
            "--redis-url",
            "http://r",
        ][..],
    ] {
        let out = cloud_sync(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.trim().is_empty(), "{args:?}");
    }
    let out = cloud_sync(&[
        "serve",
        "--database-url",
        "postgres://x/db",
        "--http-addr",
        "nowhere",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--http-addr"));
}

#[tokio::test]
async fn venue_create_prints_the_id_and_a_key_that_only_hashes_are_kept_of() {
    let db = test_db(PG).await;
    let url = db.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        cloud_sync(&["venue", "create", "Cue Club", "--database-url", &url])
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .map(str::to_owned)
            .expect(name)
    };
    let (venue, key) = (field("venue_id:"), field("venue_key:"));
    assert!(key.starts_with("dpv_"));
    let pool = cloud_sync::infra::db::connect_with(&db.url, 1)
        .await
        .expect("pool");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT key_hash FROM venue_keys WHERE venue_id = $1")
        .bind(&venue)
        .fetch_one(&pool)
        .await
        .expect("a key row");
    assert_eq!(stored, cloud_sync::venues::keys::hash(&key));
    let plain: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM venue_keys WHERE position(convert_to($1, 'UTF8') IN key_hash) > 0",
    )
    .bind(&key)
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(plain, 0, "the key itself is not stored");
    assert_eq!(
        cloud_sync::venues::keys::venue_of(&pool, &key)
            .await
            .expect("lookup"),
        Some(venue)
    );
    pool.close().await;
}

#[tokio::test]
async fn push_keygen_stores_one_vapid_key_that_every_instance_serves() {
    let db = test_db(PG).await;
    let url = db.url.clone();
    let run = move |rotate: bool| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut args = vec!["push", "keygen", "--database-url", url.as_str()];
            if rotate {
                args.push("--rotate");
            }
            cloud_sync(&args)
        })
    };
    let first = run(false).await.expect("runs");
    assert!(first.status.success(), "{first:?}");
    let stdout = String::from_utf8_lossy(&first.stdout).into_owned();
    let key = stdout
        .trim()
        .strip_prefix("vapid_public_key: ")
        .expect("the public key line")
        .to_owned();
    assert_eq!(key.len(), 87, "a base64url uncompressed P-256 point: {key}");
    let again = run(false).await.expect("runs");
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(&key),
        "kept"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("--rotate"));
    let rotated = run(true).await.expect("runs");
    assert!(
        !String::from_utf8_lossy(&rotated.stdout).contains(&key),
        "replaced"
    );
    let pool = cloud_sync::infra::db::connect_with(&db.url, 1)
        .await
        .expect("pool");
    let stored = cloud_sync::notifications::push::load(&pool)
        .await
        .expect("load")
        .expect("a key");
    assert!(String::from_utf8_lossy(&rotated.stdout).contains(&stored.public_key));
    pool.close().await;
}
