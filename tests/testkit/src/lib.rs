//! What the integration tests of firmware-bridge, edge-agent and the workspace's end-to-end crate
//! share, so that a fix to a harness lands once. Everything here panics on failure (it is test
//! code) and every wait is bounded, so a broken test fails with a message instead of hanging.
//!
//! - free ports, temp dirs and bounded polls (here);
//! - [`serial`]: simulated controllers on pseudo-terminals, for firmware-bridge;
//! - [`proc`]: a child process's CPU time and peak memory, for benches;
//! - `browser` (feature `browser`): headless Chromium driven over CDP, for the pages;
//! - `postgres` (feature `postgres`): a scratch PostgreSQL database per test or bench, dropped after;
//! - `mail` (feature `mail`): an SMTP sink that keeps the messages, for the notification tests;
//! - `push` (feature `push`): a Web Push service that checks VAPID and decrypts, and a webhook
//!   receiver that verifies signatures;
//! - `agent` (feature `agent`): an edge-agent started and driven as devices, screens and staff
//!   drive it.

#[cfg(feature = "agent")]
pub mod agent;
#[cfg(feature = "browser")]
pub mod browser;
#[cfg(feature = "mail")]
pub mod mail;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod proc;
#[cfg(feature = "push")]
pub mod push;
pub mod serial;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A loopback port nobody listens on right now.
///
/// # Panics
///
/// When the OS has no free port.
#[must_use]
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A fresh directory under the system's temp dir, unique to this process, `name` and moment.
///
/// # Panics
///
/// When it cannot be created.
#[must_use]
pub fn temp_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("dojo-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Polls `check` every 20 ms until it holds.
///
/// # Panics
///
/// After `secs` seconds, naming `what`.
pub async fn wait_for(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
