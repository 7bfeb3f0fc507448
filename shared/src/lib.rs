//! The DojoPool domain, shared by every crate: the pool rules engine ([`rules`]), the tournament
//! bracket engine ([`bracket`]), the MQTT wire contract between table devices and the edge agent
//! ([`protocol`]), the venue → cloud sync contract between edge-agent and cloud-sync ([`sync`]),
//! and the browser assets that draw them ([`web`]).
//!
//! Nothing here does I/O: it is plain data and pure functions, so the edge agent, the cloud and the
//! `dojo-rules` referee command all rule a shot the same way.

pub mod bracket;
pub mod protocol;
pub mod rules;
pub mod sync;
pub mod web;
