//! edge-agent: the venue daemon. It hears the tables over MQTT, rules every shot with the engine in
//! `shared`, keeps everything in SQLite and pushes each committed change to the venue's screens.
//!
//! Data flows one way, in this module order:
//!
//! - [`config`]: flags, `DOJO_*` environment, TOML file → one validated `Config`;
//! - [`broker`]: the embedded MQTT broker (rumqttd) on its own thread;
//! - [`mqtt`]: the inbound stream of `dojo/v1/...` messages (embedded link or an external broker);
//! - [`ingest`]: validation, dead letters, per-device dedupe and gap detection;
//! - [`table`]: one table's runtime: shot assembly and the match, a pure fold of its inputs;
//! - [`engine`]: the single owner of every table; turns inputs into commits;
//! - [`store`]: SQLite, one writer thread, group commit: event log + state + outbox in one transaction;
//! - [`hub`]: after commit, fan-out to WebSocket clients with per-table conflation;
//! - [`api`]: REST, WebSocket, pages, `/metrics`, `/healthz`;
//! - [`demo`]: simulated tables that play through the same MQTT path as real devices.

pub mod api;
pub mod broker;
pub mod config;
pub mod demo;
pub mod engine;
pub mod hub;
pub mod ingest;
pub mod metrics;
pub mod mqtt;
pub mod store;
pub mod table;
pub mod view;

pub use tokio_util::sync::CancellationToken;

/// Milliseconds since the Unix epoch, the receive time stamped on every event.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
