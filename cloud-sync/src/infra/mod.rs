//! What every context stands on and none owns: PostgreSQL and Redis, and what the service uses
//! Redis for. Nothing here knows a route, a record kind or a read model.
//!
//! - [`db`]: the PostgreSQL pool, the migrations, which failures are transient (503);
//! - [`ids`]: ids and names of what operators register;
//! - [`redis_link`]: the one lazily (re)connecting Redis connection and its health;
//! - [`cache`], [`rate_limit`], [`live`]: what Redis is used for: hot reads, fixed-window limits,
//!   the pub/sub fan-out of results to WebSocket clients;
//! - [`metrics`]: the instance's Prometheus registry.

pub mod cache;
pub mod db;
pub mod ids;
pub mod live;
pub mod metrics;
pub mod rate_limit;
pub mod redis_link;
