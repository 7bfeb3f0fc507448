//! `edge-agent`: parses the configuration, starts the agent and waits for Ctrl-C or SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use edge_agent::config::{Config, Flags};
use edge_agent::start;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,rumqttd=warn")),
        )
        .init();
    let flags = Flags::parse();
    let check_only = flags.check_config;
    let config = match Config::load(flags) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("edge-agent: {error}");
            return ExitCode::from(2);
        }
    };
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
    runtime.block_on(async move {
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
        wait_for_signal().await;
        tracing::info!("shutting down");
        shutdown.cancel();
        let _ = running.stopped.await;
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
