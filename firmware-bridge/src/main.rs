//! `firmware-bridge`: serial table controllers → MQTT, or `firmware-bridge simulate`: a simulated
//! controller on a pseudo-terminal.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use firmware_bridge::config::{BridgeConfig, FileConfig, Overrides, Password};
use firmware_bridge::simulator::{Controller, SimOptions, pty};

/// Serial table controllers to MQTT (dojo/v1 topics, edge-agent payloads).
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    bridge: BridgeArgs,
}

#[derive(Debug, Args)]
struct BridgeArgs {
    /// A serial port to serve (repeatable), e.g. /dev/serial/by-id/usb-...
    #[arg(long = "port", value_name = "PATH")]
    ports: Vec<PathBuf>,
    /// The MQTT broker, mqtt://host:port (default mqtt://127.0.0.1:1883).
    #[arg(long, env = "DOJO_MQTT_URL")]
    mqtt_url: Option<String>,
    /// Serial speed (default 115200).
    #[arg(long)]
    baud: Option<u32>,
    /// The bridge's id: its status topic and last-will (default firmware-bridge).
    #[arg(long)]
    bridge_id: Option<String>,
    /// Serve Prometheus metrics on http://ADDR/metrics, e.g. 127.0.0.1:9464 (default: off).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<String>,
    /// MQTT username (default: the bridge id, as `edge-agent device add` provisions it).
    #[arg(long, value_name = "NAME")]
    mqtt_username: Option<String>,
    /// MQTT password (the secret `edge-agent device add` printed). On a shared machine prefer
    /// DOJO_MQTT_PASSWORD or the file's `mqtt_password`: a command line shows in `ps`.
    #[arg(
        long,
        env = "DOJO_MQTT_PASSWORD",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    mqtt_password: Option<String>,
    /// A TOML file (ports, mqtt_url, baud, bridge_id, heartbeat_timeout_ms, buffer, metrics_addr,
    /// mqtt_username, mqtt_password); flags win.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Only check the configuration and print it (systemd runs this as ExecStartPre).
    #[arg(long)]
    check_config: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Play a simulated table controller on a new pseudo-terminal and print its path.
    Simulate {
        /// The table id the controller announces.
        #[arg(long)]
        table: String,
        /// Device id (default ctl-TABLE).
        #[arg(long)]
        device: Option<String>,
        /// Race length of the 9-ball match it plays (start the same match on edge-agent).
        #[arg(long, default_value_t = 3)]
        race_to: u32,
        /// Seconds between shots.
        #[arg(long, default_value_t = 3.0)]
        shot_gap: f64,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also make this symlink to the pseudo-terminal (a stable path, like /dev/serial/by-id).
        #[arg(long, value_name = "PATH")]
        link: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match cli.command {
        Some(Command::Simulate {
            table,
            device,
            race_to,
            shot_gap,
            seed,
            link,
        }) => runtime.block_on(simulate(table, device, race_to, shot_gap, seed, link)),
        None => {
            let args = cli.bridge;
            let file = match &args.config {
                Some(path) => {
                    let file = FileConfig::load(path)?;
                    if file.mqtt_password.is_some() {
                        warn_if_world_readable(path);
                    }
                    file
                }
                None => FileConfig::default(),
            };
            let config = BridgeConfig::resolve(
                file,
                Overrides {
                    ports: args.ports,
                    mqtt_url: args.mqtt_url,
                    baud: args.baud,
                    bridge_id: args.bridge_id,
                    metrics_addr: args.metrics_addr,
                    mqtt_username: args.mqtt_username,
                    mqtt_password: args.mqtt_password.map(Password::from),
                },
            )?;
            if args.check_config {
                println!(
                    "firmware-bridge: configuration ok: ports {:?}; MQTT {}:{} as {} ({}); bridge id {}; baud {}; heartbeat timeout {} ms; buffer {}; metrics {}",
                    config.ports,
                    config.mqtt_host,
                    config.mqtt_port,
                    config.username(),
                    if config.mqtt_password.is_some() {
                        "password set"
                    } else {
                        "no password: only a broker open to anonymous devices lets it in"
                    },
                    config.bridge_id,
                    config.baud,
                    config.heartbeat_timeout.as_millis(),
                    config.buffer,
                    config
                        .metrics_addr
                        .map_or_else(|| "off".to_owned(), |addr| addr.to_string()),
                );
                return Ok(());
            }
            runtime.block_on(async {
                tracing::info!(ports = ?config.ports, host = %config.mqtt_host, port = config.mqtt_port, username = config.username(), password = config.mqtt_password.is_some(), "firmware-bridge starting");
                let metrics = match config.metrics_addr {
                    Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.with_context(|| {
                        format!("cannot listen for metrics on {addr}; choose another --metrics-addr")
                    })?),
                    None => None,
                };
                let mut running = firmware_bridge::run(config);
                if let Some(listener) = metrics {
                    tracing::info!(addr = ?listener.local_addr().ok(), "metrics on /metrics");
                    running.serve_metrics(listener);
                }
                wait_for_signal().await?;
                tracing::info!(stats = ?running.bridge.stats(), "stopping");
                running.stop().await;
                Ok(())
            })
        }
    }
}

async fn simulate(
    table: String,
    device: Option<String>,
    race_to: u32,
    shot_gap: f64,
    seed: u64,
    link: Option<PathBuf>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        shared::protocol::valid_id(&table),
        "--table must be 1-32 characters of A-Z a-z 0-9 _ -"
    );
    anyhow::ensure!(
        shot_gap.is_finite() && shot_gap > 0.0,
        "--shot-gap must be a positive number of seconds"
    );
    let mut opts = SimOptions::new(&table);
    if let Some(device) = device {
        opts.device = device;
    }
    opts.race_to = race_to;
    opts.seed = seed;
    opts.shot_gap = Duration::from_secs_f64(shot_gap);
    let pty = pty().context("cannot open a pseudo-terminal")?;
    if let Some(link) = &link {
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(&pty.path, link)
            .with_context(|| format!("cannot create the symlink {}", link.display()))?;
    }
    println!("{}", link.as_ref().unwrap_or(&pty.path).display());
    eprintln!(
        "simulated controller {} for table {table} on {}; start a nine-ball race to {race_to} on edge-agent, then run: firmware-bridge --port {}",
        opts.device,
        pty.path.display(),
        link.as_ref().unwrap_or(&pty.path).display()
    );
    let mut controller = Controller::new(opts);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let result = controller.run(pty.master, stop).await;
    if let Some(link) = &link {
        let _ = std::fs::remove_file(link);
    }
    eprintln!(
        "stats: {:?}, score {:?}, winner {:?}",
        controller.stats(),
        controller.score(),
        controller.winner()
    );
    result.context("the pseudo-terminal failed")
}

/// A configuration file holding the MQTT password should be readable by the bridge's user and
/// group only (systemd/firmware-bridge.service: `root:dojopool`, mode 0640).
fn warn_if_world_readable(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o004 != 0
        {
            tracing::warn!(file = %path.display(), "the configuration file holds mqtt_password and every user can read it: chmod 640 (owner root, group dojopool)");
        }
    }
}

/// Ctrl-C (SIGINT) or SIGTERM (what systemd sends).
async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot wait for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot wait for Ctrl-C"),
        _ = term.recv() => Ok(()),
    }
}
