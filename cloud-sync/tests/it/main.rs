//! cloud-sync's integration tests: one binary (see the style notes), each test with its own
//! PostgreSQL database and Redis key prefix, on ephemeral loopback ports.

mod cli;
mod corrections;
mod faults;
mod helpers;
mod ingest;
mod live;
mod players;
mod policy;
mod projection;
mod reads;
mod staff;
