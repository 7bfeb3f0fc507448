//! Fixed-window rate limits in Redis, shared by every instance: `INCR` the window's counter and set
//! its expiry in one pipeline (MULTI), so no GET-then-INCR race across instances. When Redis is
//! down the limit is not enforced (fail open, counted): refusing every venue because a cache is
//! down would turn a Redis outage into a sync outage.

use std::time::Duration;

use super::redis_link::RedisLink;

/// Whether a request may go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Under the limit (or no limit, or no Redis).
    Allow,
    /// Over the limit: retry after this long.
    Refuse(Duration),
}

/// Counts one request of `who` (`venue:ID` or `addr:IP`) against `limit` per `window_secs`.
pub async fn check(redis: &RedisLink, who: &str, limit: u64, window_secs: u64) -> Verdict {
    if limit == 0 || window_secs == 0 {
        return Verdict::Allow;
    }
    let now = now_secs();
    let window = now / window_secs;
    let key = redis.key(&format!("rl:{who}:{window}"));
    let count: Option<(u64,)> = redis
        .run("rate_limit", |mut c| async move {
            redis::pipe()
                .atomic()
                .incr(&key, 1)
                .expire(&key, i64::try_from(window_secs * 2).unwrap_or(i64::MAX))
                .ignore()
                .query_async(&mut c)
                .await
        })
        .await;
    match count {
        Some((n,)) if n > limit => {
            let reset = (window + 1) * window_secs;
            Verdict::Refuse(Duration::from_secs(reset.saturating_sub(now).max(1)))
        }
        _ => Verdict::Allow,
    }
}

/// Seconds since the Unix epoch: windows are wall-clock aligned, so every instance counts a window
/// under the same key.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
