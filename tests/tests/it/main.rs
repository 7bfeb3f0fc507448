//! End-to-end tests across the workspace's programs: one binary (see ARCHITECTURE.md,
//! "Cross-cutting").

mod bridge;
mod demo;
mod helpers;
