//! edge-agent end to end, one test binary: the real agent on ephemeral ports with its own data
//! directory, driven the way devices and screens drive it (MQTT publishes, HTTP, WebSocket, a real
//! headless browser).

mod browser;
mod cli;
mod helpers;
mod outbox;
mod pipeline;
mod process;
mod registry;
mod restart;
mod session;
mod staff;
mod sync;
mod venue;
