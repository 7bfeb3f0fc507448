//! End-to-end tests across the workspace's programs: one binary (see ARCHITECTURE.md,
//! "Cross-cutting"). The agent harness is `dojo-testkit`'s, shared with edge-agent's own tests.

mod bridge;
mod cloud;
mod corrections;
mod delivery;
mod demo;
mod helpers;
mod soak;
mod staff;
mod tournament;
