//! `AppState`: what every handler of every context shares. Cheap to clone (handles only); no
//! state another instance would need.

use std::sync::Arc;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::accounts::token::Keys;
use crate::config::Limits;
use crate::infra::live::Live;
use crate::infra::metrics::Metrics;
use crate::infra::redis_link::RedisLink;
use crate::projection::Projector;

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    /// PostgreSQL.
    pub pool: PgPool,
    /// Redis (maybe none, maybe down).
    pub redis: RedisLink,
    /// The live fan-out.
    pub live: Live,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Wakes this instance's projections after a batch is stored.
    pub projector: Projector,
    /// Rate limits.
    pub limits: Limits,
    /// The access-token signing keys.
    pub keys: Keys,
    /// The address people reach the portal at (links in emails).
    pub public_url: String,
    /// Committed notifications (live clients) and the delivery workers' wake-up.
    pub notifications: crate::notifications::worker::Hub,
    /// Stops WebSocket clients at shutdown.
    pub shutdown: CancellationToken,
}
