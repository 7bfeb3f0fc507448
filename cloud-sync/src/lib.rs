//! cloud-sync: the central service. Venues push their outbox records here; they are stored exactly
//! once in effect into PostgreSQL (the system of record) and acknowledged, then projected into
//! read models (matches, racks and statistics), and results fan out live through Redis to every
//! instance's WebSocket clients.
//!
//! Modules in data-flow order; each bounded context is a folder with its own SQL (no context
//! queries another's tables, except the read-only joins `reads` names) and, where it has them, its
//! routes (`http.rs`) and its projection:
//!
//! - [`config`]: flags and environment → one validated [`Config`];
//! - [`infra`]: PostgreSQL (pool, migrations), Redis (link, cache, rate limits, live fan-out),
//!   metrics, ids: what every context stands on;
//! - [`http`]: what every context's routes share: state, `ApiError`, venue authentication, the
//!   service-wide layers;
//! - [`venues`]: enrollment and venue keys;
//! - [`sync`]: a venue's batch → one short transaction: idempotency, conflicts, the high-water
//!   mark, the acknowledgement;
//! - [`projection`]: stored records → read models, in the background, exactly once, a cursor per
//!   projection;
//! - [`reads`]: the matches projection and the read API over it;
//! - [`players`]: registered players and the change log venues pull;
//! - [`accounts`]: users, roles, access tokens, the one permission policy, the audit log;
//! - [`confirmations`]: results a venue may report: check-ins, confirm or dispute, trusted venues
//!   (a registered player's result counts only when they took part knowingly);
//! - [`notifications`]: how people are told things (in-app, email, Web Push, webhooks);
//! - [`tournaments`]: registration online until a venue starts a tournament, then the mirror of
//!   its bracket from the venue's records, and the reads;
//! - [`portal`]: the people's web pages;
//! - [`startup`]: [`start`] wires them and lists every context's routes and projections.
//!
//! A new context (accounts, tournaments, ratings, billing, …) is one folder here, one line in
//! `startup::routes` and, if it folds venue records, one in `startup::projections`.
//!
//! Nothing here keeps state another instance would need: instances share only PostgreSQL and Redis.

pub mod accounts;
pub mod config;
pub mod confirmations;
pub mod http;
pub mod infra;
pub mod notifications;
pub mod players;
pub mod portal;
pub mod projection;
pub mod reads;
pub mod startup;
pub mod sync;
pub mod tournaments;
pub mod venues;

pub use crate::config::Config;
pub use crate::startup::{Error, Running, start};
