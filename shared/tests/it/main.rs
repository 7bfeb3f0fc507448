//! The rules engine's integration tests, one binary (see matklad, "Delete Cargo Integration Tests").
//!
//! - `scenarios`: WPA rulings written as data under `tests/scenarios/`, each citing its rule;
//! - `properties`: invariants over random matches (proptest);
//! - `cli`: the `dojo-rules` command as a referee runs it.

mod cli;
mod properties;
mod scenarios;
