//! Simulated table controllers on real pseudo-terminals, and the bridge settings the tests use.
//!
//! A controller is reached through a symlink (as `/dev/serial/by-id/…` names a real one), so a
//! test can unplug it and plug the same controller, state and all, into a new pseudo-terminal
//! behind the same path: what a loose USB cable does.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use firmware_bridge::config::BridgeConfig;
use firmware_bridge::simulator::{Controller, SimOptions, pty};
use tokio::sync::oneshot;

use crate::free_port;

/// Simulator options with test timings: short racks, quick shots, fast heartbeats and retransmits.
#[must_use]
pub fn sim_options(table: &str, seed: u64) -> SimOptions {
    let mut opts = SimOptions::new(table);
    opts.seed = seed;
    opts.race_to = 2;
    opts.shot_gap = Duration::from_millis(40);
    opts.heartbeat = Duration::from_millis(200);
    opts.retransmit_after = Duration::from_millis(300);
    opts
}

/// A bridge configuration for `ports` and the broker at `broker`, with a unique bridge id and a
/// heartbeat timeout that suits [`sim_options`].
#[must_use]
pub fn bridge_config(ports: Vec<PathBuf>, broker: SocketAddr) -> BridgeConfig {
    let mut config = BridgeConfig::new(ports, &broker.ip().to_string(), broker.port());
    config.bridge_id = format!("bridge-{}", free_port());
    config.heartbeat_timeout = Duration::from_millis(1500);
    config
}

/// A simulated controller playing on a pseudo-terminal reached through a symlink.
#[derive(Debug)]
pub struct Plugged {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<(Controller, std::io::Result<()>)>,
}

impl Plugged {
    /// Opens a new pseudo-terminal, points `link` at it (atomically, by rename) and runs
    /// `controller` on it in a task.
    ///
    /// # Panics
    ///
    /// When no pseudo-terminal or symlink can be made.
    #[must_use]
    pub fn plug(mut controller: Controller, link: &Path) -> Plugged {
        let pty = pty().expect("a pseudo-terminal");
        let tmp = link.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&pty.path, &tmp).expect("symlink");
        std::fs::rename(&tmp, link).expect("symlink in place");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let slave = pty.slave;
            let result = controller
                .run(pty.master, async {
                    let _ = stopped.await;
                })
                .await;
            // Unplugging closes both ends.
            drop(slave);
            (controller, result)
        });
        Plugged { stop, task }
    }

    /// Unplugs: closes the pseudo-terminal (master and the simulator's slave handle) and returns
    /// the controller, whose state carries on.
    ///
    /// # Panics
    ///
    /// When the simulator does not stop within 5 s.
    pub async fn unplug(self) -> Controller {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the simulator stops")
            .expect("the simulator task")
            .0
    }
}
