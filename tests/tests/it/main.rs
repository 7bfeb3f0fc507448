//! End-to-end tests across the workspace's programs: one binary (see ARCHITECTURE.md,
//! "Cross-cutting").

mod bridge;
mod cloud;
mod demo;
mod helpers;
