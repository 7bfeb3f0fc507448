//! firmware-bridge integration tests: one binary (see ARCHITECTURE.md, "Cross-cutting").

mod codec;
mod credentials;
mod helpers;
mod metrics;
mod mosquitto;
