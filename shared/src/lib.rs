//! The DojoPool domain, shared by every crate: the pool rules engine now; ids and the wire protocol
//! join it as the services that speak them arrive.
//!
//! Nothing here does I/O: it is plain data and pure functions, so the edge agent, the cloud and the
//! `dojo-rules` referee command all rule a shot the same way.

pub mod protocol;
pub mod rules;
