//! `dojo-e2e`: the workspace's end-to-end tests, where more than one of its programs take part
//! (a simulated table controller on a real pseudo-terminal, firmware-bridge, edge-agent with its
//! embedded broker, cloud-sync on PostgreSQL). They live here rather than in any one of those
//! crates so that none needs another service as a dev-dependency: edge-agent depends on
//! firmware-bridge (its demo), firmware-bridge stays a program that knows nothing of the agent,
//! and edge-agent's tests need neither cloud-sync nor PostgreSQL.
//!
//! The tests are one integration binary, `tests/it` (`cargo test -p dojo-e2e --test it`).
