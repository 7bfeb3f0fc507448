//! The rules and bracket engines' integration tests, one binary (see matklad, "Delete Cargo
//! Integration Tests").
//!
//! - `scenarios`: WPA rulings written as data under `tests/scenarios/`, each citing its rule;
//! - `properties`: invariants over random matches (proptest);
//! - `cli`: the `dojo-rules` command as a referee runs it;
//! - `shot_clock`: the shot clock as timed events and the states they lead to;
//! - `brackets`: tournament brackets written as data under `tests/scenarios/*.brk`;
//! - `bracket_properties`: invariants over random brackets played to the end (proptest);
//! - `bracket_cli`: the `dojo-bracket` command as an organiser runs it.

mod bracket_cli;
mod bracket_properties;
mod brackets;
mod cli;
mod properties;
mod scenarios;
mod shot_clock;
