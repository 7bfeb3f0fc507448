//! A Redis cache of hot reads (a venue's recent matches, a player's statistics).
//!
//! Entries are keyed by a generation per venue or player (`prefix:gen:venue:ID`), and a sync that
//! touches a venue or player bumps its generation after its PostgreSQL commit. A reader takes the
//! generation *before* reading PostgreSQL, so a read that raced with a sync is stored under the old
//! generation, which nobody asks for again: the cache can serve a stale answer only for the length
//! of one request, never until the TTL runs out. Without Redis every read goes to PostgreSQL.

use std::future::Future;
use std::time::Duration;

use redis::AsyncCommands as _;
use serde_json::Value;

use super::metrics::Metrics;
use super::redis_link::RedisLink;

/// How long an entry lives at most (generations make it correct; the TTL only frees memory).
pub const TTL: Duration = Duration::from_secs(300);

/// How long an untouched generation counter lives (a day; far longer than [`TTL`]).
const GENERATION_TTL_SECS: i64 = 86_400;

/// What a cache entry is about: its generation is bumped when a sync touches it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A venue's matches.
    Venue(String),
    /// A player's statistics and history.
    Player(String),
}

impl Scope {
    fn name(&self) -> String {
        match self {
            Scope::Venue(id) => format!("venue:{id}"),
            Scope::Player(id) => format!("player:{id}"),
        }
    }
}

/// Answers from the cache, or loads, stores and answers.
///
/// # Errors
///
/// `load`'s.
pub async fn get_or_load<E, F>(
    redis: &RedisLink,
    metrics: &Metrics,
    scope: &Scope,
    entry: &str,
    load: F,
) -> Result<Value, E>
where
    F: Future<Output = Result<Value, E>>,
{
    let gen_key = redis.key(&format!("gen:{}", scope.name()));
    let generation: Option<Option<u64>> = redis
        .run("cache", |mut c| async move { c.get(gen_key).await })
        .await;
    let Some(generation) = generation else {
        return load.await;
    };
    let key = redis.key(&format!(
        "cache:{}:{}:{entry}",
        scope.name(),
        generation.unwrap_or(0)
    ));
    let read_key = key.clone();
    let cached: Option<Option<String>> = redis
        .run("cache", |mut c| async move { c.get(read_key).await })
        .await;
    if let Some(value) = cached.flatten().and_then(|s| serde_json::from_str(&s).ok()) {
        metrics.cache("hit");
        return Ok(value);
    }
    metrics.cache("miss");
    let value = load.await?;
    let text = value.to_string();
    let _: Option<()> = redis
        .run("cache", |mut c| async move {
            c.set_ex(key, text, TTL.as_secs()).await
        })
        .await;
    Ok(value)
}

/// Bumps the generations of `scopes` (after the commit that changed them).
pub async fn invalidate(redis: &RedisLink, scopes: &[Scope]) {
    if scopes.is_empty() {
        return;
    }
    let mut pipe = redis::pipe();
    for scope in scopes {
        let key = redis.key(&format!("gen:{}", scope.name()));
        pipe.incr(&key, 1).ignore();
        // A generation outlives every entry made under it (TTL), so letting an idle one expire
        // (and restart from 0) can never bring back an old entry; it keeps Redis from filling up
        // with the generations of venues and players nobody reads.
        pipe.expire(&key, GENERATION_TTL_SECS).ignore();
    }
    let _: Option<()> = redis
        .run(
            "cache",
            |mut c| async move { pipe.query_async(&mut c).await },
        )
        .await;
}
