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

/// Runs `cloud-sync args` with `stdin` on standard input.
fn cloud_sync_with_stdin(args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloud-sync"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cloud-sync runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("written");
    child.wait_with_output().expect("exits")
}

#[tokio::test]
async fn create_admin_makes_a_verified_admin_who_signs_in_and_keys_rotate() {
    let db = test_db(PG).await;
    let url = db.url.clone();
    let (weak, made, again) = tokio::task::spawn_blocking(move || {
        let args = [
            "user",
            "create-admin",
            "Root@Example.test",
            "--database-url",
            &url,
        ];
        (
            cloud_sync_with_stdin(&args, "password123\n"),
            cloud_sync_with_stdin(&args, "the long admin phrase\n"),
            cloud_sync_with_stdin(&args, "ignored for an existing account\n"),
        )
    })
    .await
    .expect("join");
    assert_eq!(weak.status.code(), Some(1), "a common password is refused");
    assert!(String::from_utf8_lossy(&weak.stderr).contains("too common"));
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let id = String::from_utf8_lossy(&made.stdout)
        .trim()
        .strip_prefix("user_id: ")
        .expect("the id")
        .to_owned();
    let pool = cloud_sync::infra::db::connect_with(&db.url, 1)
        .await
        .expect("pool");
    let (verified, admins, audits): (bool, i64, i64) = sqlx::query_as(
        "SELECT (SELECT email_verified_at IS NOT NULL FROM users WHERE id = $1),
                (SELECT count(*) FROM user_roles WHERE user_id = $1 AND role = 'admin'),
                (SELECT count(*) FROM audit_log WHERE action = 'user.create_admin'
                    AND resource = 'user:' || $1)",
    )
    .bind(&id)
    .fetch_one(&pool)
    .await
    .expect("row");
    assert_eq!((verified, admins, audits), (true, 1, 2));
    let phc: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .expect("hash");
    assert!(cloud_sync::accounts::password::verify(
        "the long admin phrase",
        &phc
    ));

    // Rotate twice then retire: two keys, then the newest, each step with an audit entry.
    let url = db.url.clone();
    let (rotated, retired) = tokio::task::spawn_blocking(move || {
        let first = cloud_sync(&["keys", "rotate", "--database-url", &url]);
        assert!(first.status.success());
        (
            cloud_sync(&["keys", "rotate", "--database-url", &url]),
            cloud_sync(&["keys", "retire", "--database-url", &url]),
        )
    })
    .await
    .expect("join");
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let kid = String::from_utf8_lossy(&rotated.stdout)
        .trim()
        .strip_prefix("kid: ")
        .expect("kid")
        .to_owned();
    assert!(retired.status.success());
    assert_eq!(
        String::from_utf8_lossy(&retired.stdout).trim(),
        "retired: 1"
    );
    let live: Vec<String> =
        sqlx::query_scalar("SELECT kid FROM signing_keys WHERE retired_at IS NULL")
            .fetch_all(&pool)
            .await
            .expect("keys");
    assert_eq!(live, vec![kid]);
    let key_audits: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action IN ('keys.rotate', 'keys.retire')",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(key_audits, 3);
    pool.close().await;
}

#[tokio::test]
async fn service_tokens_are_made_listed_and_revoked_from_the_command_line() {
    let db = test_db(PG).await;
    let url = db.url.clone();
    let run = move |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cloud_sync(&args)
        })
    };
    let args = |words: &[&str]| -> Vec<String> {
        words
            .iter()
            .map(|w| (*w).to_owned())
            .chain(["--database-url".to_owned(), url.clone()])
            .collect()
    };
    let made = run(args(&["service-token", "create", "league-export"]))
        .await
        .expect("join");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let stdout = String::from_utf8_lossy(&made.stdout);
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("service_token:"))
        .map(str::trim)
        .expect("the token")
        .to_owned();
    assert!(token.starts_with("dps_"));
    let taken = run(args(&["service-token", "create", "league-export"]))
        .await
        .expect("join");
    assert_eq!(taken.status.code(), Some(1), "one live token per name");
    let bad = run(args(&["service-token", "create", "no spaces"]))
        .await
        .expect("join");
    assert_eq!(bad.status.code(), Some(1));
    let listed = run(args(&["service-token", "list"])).await.expect("join");
    let listing = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listing.contains("league-export") && listing.contains("live"),
        "{listing}"
    );
    assert!(!listing.contains(&token), "the token is never shown again");
    let pool = cloud_sync::infra::db::connect_with(&db.url, 1)
        .await
        .expect("pool");
    assert!(
        cloud_sync::accounts::service_tokens::name_of(&pool, &token)
            .await
            .expect("lookup")
            .is_some()
    );
    let revoked = run(args(&["service-token", "revoke", "league-export"]))
        .await
        .expect("join");
    assert!(revoked.status.success());
    assert!(
        cloud_sync::accounts::service_tokens::name_of(&pool, &token)
            .await
            .expect("lookup")
            .is_none()
    );
    let again = run(args(&["service-token", "revoke", "league-export"]))
        .await
        .expect("join");
    assert_eq!(again.status.code(), Some(1));
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
