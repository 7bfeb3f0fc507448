//! The DojoPool domain, shared by every crate: the pool rules engine ([`rules`]), the MQTT wire
//! contract between table devices and the edge agent ([`protocol`]), and the venue → cloud sync
//! contract between edge-agent and cloud-sync ([`sync`]).
//!
//! Nothing here does I/O: it is plain data and pure functions, so the edge agent, the cloud and the
//! `dojo-rules` referee command all rule a shot the same way.

pub mod protocol;
pub mod rules;
pub mod sync;
