//! Check-in that opens by itself: a small task per instance finds the tournaments whose
//! `check_in_opens_at` has passed and were never opened, and opens each as an organiser's
//! `open-check-in` would (the registered players are told). Rows are claimed `FOR UPDATE SKIP
//! LOCKED`, so instances never open (and notify) one tournament twice.

use std::time::Duration;

use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{TournamentError, registration};
use crate::infra::live::Live;
use crate::infra::redis_link::RedisLink;

/// How often the task looks.
pub const EVERY: Duration = Duration::from_secs(15);

/// Most tournaments one pass opens.
const BATCH: i64 = 50;

/// Opens check-in for the tournaments due now (at most [`BATCH`]); returns their ids.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn open_due(pool: &PgPool) -> Result<Vec<String>, TournamentError> {
    let mut tx = pool.begin().await?;
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM tournaments
          WHERE check_in_opens_at <= now() AND check_in_opened_at IS NULL
            AND cancelled_at IS NULL AND started_at IS NULL
          ORDER BY check_in_opens_at LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    for id in &due {
        registration::open_check_in(&mut tx, None, id).await?;
    }
    tx.commit().await?;
    Ok(due)
}

/// Runs [`open_due`] every [`EVERY`] until `shutdown`, telling live clients of each opened one.
pub fn spawn(
    pool: PgPool,
    redis: RedisLink,
    live: Live,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match open_due(&pool).await {
                Ok(opened) => {
                    let messages = opened.iter().map(|id| super::live_message(id)).collect();
                    live.publish(&redis, messages).await;
                }
                Err(error) => tracing::warn!(%error, "opening due tournament check-ins failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(EVERY) => {}
            }
        }
    })
}
