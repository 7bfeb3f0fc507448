//! `dojo-e2e`: the workspace's end-to-end tests, where more than one of its programs take part
//! (a simulated table controller on a real pseudo-terminal, firmware-bridge and edge-agent with its
//! embedded broker). They live here rather than in either crate so that neither needs the other as
//! a dev-dependency: edge-agent depends on firmware-bridge (its demo), and firmware-bridge stays a
//! program that knows nothing of the agent.
//!
//! The tests are one integration binary, `tests/it` (`cargo test -p dojo-e2e --test it`).
