//! edge-agent end to end, one test binary: the real agent on ephemeral ports with its own data
//! directory, driven the way devices and screens drive it (MQTT publishes, HTTP, WebSocket, a real
//! headless browser).

mod broker;
mod browser;
mod cli;
mod corrections;
mod devices;
mod fallback;
mod health;
mod helpers;
mod ingest;
mod manual_console;
mod outbox;
mod phone;
mod pipeline;
mod process;
mod registry;
mod restart;
mod results;
mod session;
mod shot_clock;
mod staff;
mod staff_ids;
mod staff_pin;
mod sync;
mod tournament;
mod tv;
mod venue;
mod web;
