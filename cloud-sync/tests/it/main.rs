//! cloud-sync's integration tests: one binary (see the style notes), each test with its own
//! PostgreSQL database and Redis key prefix, on ephemeral loopback ports.

mod accounts;
mod cli;
mod confirmations;
mod corrections;
mod faults;
mod helpers;
mod ingest;
mod live;
mod notifications;
mod players;
mod policy;
mod portal_auth;
mod portal_roles;
mod portal_tournaments;
mod projection;
mod reads;
mod roles;
mod staff;
mod tokens;
mod tournaments;
