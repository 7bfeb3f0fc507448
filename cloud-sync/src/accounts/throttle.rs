//! Slowing password guessing: failed sign-ins are counted per account (`acct:<email>`, whether or
//! not the account exists, so the answer says nothing about existence) and per client address
//! (`addr:<ip>`). Past a free allowance within the quarter hour, each further attempt must wait
//! twice as long as the one before (1 s, 2 s, 4 s, … up to 15 min) after the last failure: 429
//! with `Retry-After`. A success clears the account's count.
//!
//! Counters live in PostgreSQL, not Redis: the service-wide limits fail open when Redis is down,
//! and this one must not.

use std::time::Duration;

use sqlx::PgPool;

/// Failures an account may have in the window before attempts wait.
pub const ACCOUNT_FREE: i32 = 5;
/// Failures an address may have in the window before attempts wait.
pub const ADDRESS_FREE: i32 = 20;
/// The window a count lives in after its last failure.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// The key of an account's counter.
pub fn account(email_key: &str) -> String {
    format!("acct:{email_key}")
}

/// The key of an address's counter.
pub fn address(ip: &str) -> String {
    format!("addr:{ip}")
}

/// How long the next attempt must still wait after `failures` failures (`free` of them free),
/// the last `since` ago.
pub fn wait(failures: i32, free: i32, since: Duration) -> Option<Duration> {
    if failures < free || since >= WINDOW {
        return None;
    }
    let over = u32::try_from(failures - free).unwrap_or(0).min(10);
    let delay = Duration::from_secs(1u64 << over).min(WINDOW);
    delay.checked_sub(since).filter(|left| !left.is_zero())
}

/// The longest wait over `keys` (`(key, free allowance)`), if any.
///
/// # Errors
///
/// PostgreSQL.
pub async fn check(pool: &PgPool, keys: &[(String, i32)]) -> Result<Option<Duration>, sqlx::Error> {
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    let rows: Vec<(String, i32, f64)> = sqlx::query_as(
        "SELECT key, failures, EXTRACT(EPOCH FROM now() - last_failure)::float8
           FROM login_failures WHERE key = ANY($1)",
    )
    .bind(&names)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(key, failures, since)| {
            let free = keys.iter().find(|(k, _)| *k == key)?.1;
            wait(failures, free, Duration::from_secs_f64(since.max(0.0)))
        })
        .max())
}

/// Counts a failure against every key.
///
/// # Errors
///
/// PostgreSQL.
pub async fn fail(pool: &PgPool, keys: &[(String, i32)]) -> Result<(), sqlx::Error> {
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    sqlx::query(
        "INSERT INTO login_failures (key, failures, last_failure)
         SELECT k, 1, now() FROM unnest($1::text[]) AS k
         ON CONFLICT (key) DO UPDATE SET
             failures = CASE WHEN login_failures.last_failure < now() - make_interval(secs => $2)
                             THEN 1 ELSE login_failures.failures + 1 END,
             last_failure = now()",
    )
    .bind(&names)
    .bind(WINDOW.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(())
}

/// Clears `key` (after a success).
///
/// # Errors
///
/// PostgreSQL.
pub async fn clear(pool: &PgPool, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE key = $1")
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_past_the_allowance_and_end_with_the_window() {
        let s = Duration::from_secs;
        assert_eq!(wait(4, 5, s(0)), None);
        assert_eq!(wait(5, 5, s(0)), Some(s(1)));
        assert_eq!(wait(6, 5, s(0)), Some(s(2)));
        assert_eq!(wait(8, 5, s(3)), Some(s(5)));
        assert_eq!(wait(8, 5, s(8)), None);
        assert_eq!(wait(100, 5, s(0)), Some(WINDOW));
        assert_eq!(wait(100, 5, WINDOW), None);
    }
}
