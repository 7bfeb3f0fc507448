//! The outbox of deliveries: one row per notification and channel target, made by
//! [`fan_out`] in the notifying transaction; claimed by workers in short transactions with
//! `FOR UPDATE SKIP LOCKED` (so several workers and instances share the work, none twice) and a
//! lease (a worker that dies mid-send leaves the row to be claimed again when the lease ends);
//! each attempt recorded, retried with exponential backoff and jitter up to the last attempt,
//! then marked `failed` with its error — never dropped.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::prefs::Channels;

/// How long a claimed delivery stays with its worker before another may take it.
pub const LEASE: Duration = Duration::from_secs(60);

/// A channel beyond in-app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// SMTP.
    Email,
    /// Web Push.
    Push,
    /// A signed webhook.
    Webhook,
}

impl Channel {
    /// From the stored name.
    pub fn parse(name: &str) -> Option<Channel> {
        match name {
            "email" => Some(Channel::Email),
            "push" => Some(Channel::Push),
            "webhook" => Some(Channel::Webhook),
            _ => None,
        }
    }
}

/// A delivery a worker holds.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The delivery id.
    pub id: i64,
    /// The notification it carries.
    pub notification_id: i64,
    /// Whose.
    pub user_id: String,
    /// How.
    pub channel: Channel,
    /// The push subscription or webhook id.
    pub target: Option<String>,
    /// This attempt's number (1 for the first).
    pub attempt: i32,
    /// The notification's kind (stored name).
    pub kind: String,
    /// The notification's payload.
    pub payload: Value,
    /// When the notification was made (RFC 3339).
    pub created_at: String,
}

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Delivered,
    /// Try again later (a transient failure).
    Retry(String),
    /// Will never work (recorded, not retried).
    Failed(String),
}

/// Makes the deliveries of notification `id` for `user` on `channels`: one email, one per push
/// subscription, one per webhook.
///
/// # Errors
///
/// PostgreSQL.
pub async fn fan_out(
    conn: &mut sqlx::PgConnection,
    id: i64,
    user: &str,
    channels: Channels,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO deliveries (notification_id, user_id, channel, target)
         SELECT $1, $2, 'email', NULL WHERE $3
         UNION ALL
         SELECT $1, $2, 'push', id FROM push_subscriptions WHERE user_id = $2 AND $4
         UNION ALL
         SELECT $1, $2, 'webhook', id FROM webhooks WHERE user_id = $2 AND $5",
    )
    .bind(id)
    .bind(user)
    .bind(channels.email)
    .bind(channels.push)
    .bind(channels.webhook)
    .execute(conn)
    .await?;
    Ok(())
}

type ClaimRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    i32,
    String,
    Value,
    String,
);

/// Claims up to `limit` due deliveries (pending and due, or leased by a worker whose lease ran
/// out) in one short transaction, counting the attempt.
///
/// # Errors
///
/// PostgreSQL.
pub async fn claim(pool: &sqlx::PgPool, limit: i64) -> Result<Vec<Delivery>, sqlx::Error> {
    let rows: Vec<ClaimRow> = sqlx::query_as(
        "WITH due AS (
             SELECT id FROM deliveries
             WHERE (status = 'pending' AND next_at <= now())
                OR (status = 'sending' AND lease_until < now())
             ORDER BY next_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED
         )
         UPDATE deliveries d
         SET status = 'sending', attempts = d.attempts + 1,
             lease_until = now() + make_interval(secs => $2)
         FROM due, notifications n
         WHERE d.id = due.id AND n.id = d.notification_id
         RETURNING d.id, d.notification_id, d.user_id, d.channel, d.target, d.attempts,
                   n.kind, n.payload,
                   to_char(n.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
    )
    .bind(limit)
    .bind(LEASE.as_secs_f64())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(
                id,
                notification_id,
                user_id,
                channel,
                target,
                attempt,
                kind,
                payload,
                created_at,
            )| {
                Some(Delivery {
                    id,
                    notification_id,
                    user_id,
                    channel: Channel::parse(&channel)?,
                    target,
                    attempt,
                    kind,
                    payload,
                    created_at,
                })
            },
        )
        .collect())
}

/// How retries are spaced and when they stop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: i32,
    /// The wait after the first failure; doubled after each.
    pub base: Duration,
    /// The longest wait.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_secs(5),
            cap: Duration::from_secs(3600),
        }
    }
}

/// The wait after failed attempt number `attempt` (1-based): `base · 2^(attempt-1)`, capped, then
/// scaled by `jitter` in [0, 1] into its upper half ("equal jitter": never less than half the
/// exponential step, so retries spread out without bunching at zero).
pub fn backoff(policy: &RetryPolicy, attempt: i32, jitter: f64) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(30);
    let step = policy
        .base
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(policy.cap);
    step.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// Records the attempt and what follows: delivered, retried after [`backoff`], or failed for
/// good (also when the last attempt was a retry). Ignored if the lease was lost meanwhile.
///
/// # Errors
///
/// PostgreSQL.
pub async fn record(
    pool: &sqlx::PgPool,
    delivery: &Delivery,
    outcome: &Outcome,
    policy: &RetryPolicy,
) -> Result<(), sqlx::Error> {
    let (label, error) = match outcome {
        Outcome::Delivered => ("delivered", None),
        Outcome::Retry(error) => ("retry", Some(error.as_str())),
        Outcome::Failed(error) => ("failed", Some(error.as_str())),
    };
    let (status, wait) = match outcome {
        Outcome::Delivered => ("delivered", Duration::ZERO),
        Outcome::Retry(_) if delivery.attempt < policy.max_attempts => (
            "pending",
            backoff(policy, delivery.attempt, rand::random::<f64>()),
        ),
        Outcome::Retry(_) | Outcome::Failed(_) => ("failed", Duration::ZERO),
    };
    let mut tx = pool.begin().await?;
    let updated = sqlx::query(
        "UPDATE deliveries
         SET status = $3, last_error = COALESCE($4, last_error), lease_until = NULL,
             next_at = now() + make_interval(secs => $5),
             finished_at = CASE WHEN $3 IN ('delivered', 'failed') THEN now() END
         WHERE id = $1 AND attempts = $2 AND status = 'sending'",
    )
    .bind(delivery.id)
    .bind(delivery.attempt)
    .bind(status)
    .bind(error)
    .bind(wait.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 1 {
        sqlx::query(
            "INSERT INTO delivery_attempts (delivery_id, attempt, outcome, error)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(delivery.id)
        .bind(delivery.attempt)
        .bind(label)
        .bind(error)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(10),
        };
        assert_eq!(backoff(&policy, 1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(&policy, 1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(&policy, 3, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(&policy, 9, 1.0), Duration::from_secs(10));
        assert_eq!(backoff(&policy, 1000, 1.0), Duration::from_secs(10));
    }
}
