//! edge-agent: the venue daemon. It hears the tables over MQTT, rules every shot with the engine in
//! `shared`, keeps everything in SQLite and pushes each committed change to the venue's screens.
//!
//! This file is the map. Data flows one way, in this module order:
//!
//! - [`config`]: flags, `DOJO_*` environment, TOML file → one validated `Config`;
//! - [`mqtt`]: the inbound stream of `dojo/v1/...` messages and the command path, from the embedded
//!   broker (rumqttd, on its own threads) or an external one;
//! - [`devices`]: provisioned devices (MQTT username and secret hash), who may speak for which table;
//! - [`ingest`]: validation, dead letters, per-device dedupe and gap detection;
//! - [`registry`]: the venue's tables: which ids take writes, their names and their order;
//! - [`staff`]: the venue's staff (pulled from the cloud), PIN sign-in offline, their sessions;
//! - [`table`]: one table's runtime: shot assembly and the match, a pure fold of its inputs;
//! - [`tournament`]: a tournament at the venue (draft, bracket, calls to tables), a pure fold too;
//! - [`engine`]: the single owner of every table; turns inputs into commits;
//! - [`store`]: SQLite, one writer thread, group commit: event log + state + outbox in one transaction;
//! - [`hub`]: after commit, fan-out to WebSocket clients with per-table conflation;
//! - [`api`]: REST, WebSocket, pages, `/metrics`, `/healthz`;
//! - [`sync`]: drains the outbox to cloud-sync and pulls registered players (when configured).
//!
//! Used along the way, depending on none of the above:
//!
//! - [`view`]: the committed view of a table, as screens, the API and the event log see it;
//! - [`metrics`]: the Prometheus registry every stage counts into;
//! - [`clock`]: the wall clock, read only at the edges;
//! - [`qr`]: QR codes as SVG, for pairing links and LAN addresses;
//! - [`pairing`]: players' phones paired with a table's match (codes, tokens, seats);
//! - [`notices`]: announcements, requests to undo and players' messages, kept for a while;
//! - [`limit`]: rate limits per address or phone;
//! - [`network`]: the URLs the venue's phones and TVs can open the agent at;
//! - [`health`]: whether the agent can do its job, part by part, in words (`/healthz`).
//!
//! Around the flow:
//!
//! - [`startup`]: the composition root: [`start`] wires the stages together into a [`Running`] agent;
//! - [`lock`]: one agent per data folder;
//! - [`logging`]: logs on standard error, coloured on a terminal only, the broker's benign noise out;
//! - `demo` (cargo feature `demo`, on by default): simulated tables played by firmware-bridge's
//!   simulator over pseudo-terminals and its bridge, the same serial → MQTT path as a venue's.

pub mod api;
pub mod config;
pub mod devices;
pub mod engine;
pub mod hub;
pub mod ingest;
pub mod mqtt;
pub mod registry;
pub mod staff;
pub mod store;
pub mod sync;
pub mod table;
pub mod tournament;

pub mod clock;
pub mod health;
pub mod limit;
pub mod metrics;
pub mod network;
pub mod notices;
pub mod pairing;
pub mod qr;
pub mod view;

#[cfg(feature = "demo")]
pub mod demo;
pub mod lock;
pub mod logging;
pub mod startup;

pub use startup::{Running, StartError, start, start_with_devices};
