//! `edge-agent`: parses the configuration, starts the agent and waits for Ctrl-C or SIGTERM.
//!
//! Standard output carries only what the program says to whoever started it (where to open it);
//! logs go to standard error ([`edge_agent::logging`]). On the first signal the agent stops
//! gracefully, for at most [`SHUTDOWN_GRACE`]: should something not stop in time (a store writer
//! stuck on a locked or failing disk), the process exits anyway with status 1 and says why. A
//! second signal exits at once.
//!
//! `edge-agent device add|list|revoke` (with the agent's `--data-dir`/`--config`) manages
//! provisioned devices instead and exits: 0, 1 when refused (the reason on standard error), 2 for a
//! bad configuration.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use edge_agent::config::{Config, Flags};
use edge_agent::devices::{self, cli::Command};
use edge_agent::start;
use tokio_util::sync::CancellationToken;

/// How long a graceful stop may take before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    edge_agent::logging::init();
    let mut flags = Flags::parse();
    let check_only = flags.check_config;
    let command = flags.command.take();
    let config = match Config::load(flags) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("edge-agent: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Device(command)) = command {
        return match devices::cli::run(&command, &config.data_dir, &mut std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("edge-agent: {error}");
                ExitCode::FAILURE
            }
        };
    }
    if check_only {
        println!("edge-agent: configuration ok: {config}");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("edge-agent: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(config));
    // A task stuck in a blocking call (the store writer) must not hold the exit up.
    runtime.shutdown_timeout(Duration::from_millis(500));
    code
}

async fn run(config: Config) -> ExitCode {
    let mut signals = match Signals::new() {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("edge-agent: cannot listen for signals: {error}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    let running = match start(config, shutdown.clone()).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("edge-agent: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "edge-agent: open http://{}/ to watch the tables",
        running.http_addr
    );
    for url in &running.reach.lan_urls {
        println!("edge-agent: on the venue's network: {url}");
    }
    signals.next().await;
    tracing::info!("shutting down");
    shutdown.cancel();
    tokio::select! {
        _ = running.stopped => ExitCode::SUCCESS,
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::error!(
                grace_secs = SHUTDOWN_GRACE.as_secs(),
                "did not stop within the grace period: the store writer is stuck (the database locked by another process, or the disk failing); exiting without it, inputs not yet committed are dropped"
            );
            ExitCode::FAILURE
        }
        () = signals.next() => {
            tracing::warn!("second signal: exiting at once");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C and (on Unix) SIGTERM.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        })
    }

    /// The next Ctrl-C or SIGTERM.
    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = self.term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
