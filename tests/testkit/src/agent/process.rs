//! The agent as a separate process, so that a test can kill it with SIGKILL and start it again on
//! the same data directory.
//!
//! Which program runs is a [`Program`]: edge-agent's own binary where cargo builds it for the test
//! (its own integration tests: `CARGO_BIN_EXE_edge-agent`), or else the test binary itself started
//! again as an agent. A crate's tests only get the binaries of their own package, so `dojo-e2e`
//! runs one of its own tests, which calls [`serve_if_child`], with edge-agent's command line in
//! [`AGENT_ARGS`]; that test returns at once in a normal run.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clap::Parser as _;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::TOKEN;
use crate::free_port;

/// Set in a re-started test binary's environment: edge-agent's arguments, one a line.
pub const AGENT_ARGS: &str = "DOJO_TESTKIT_AGENT_ARGS";

/// The program that runs edge-agent's command line.
#[derive(Debug, Clone, Copy)]
pub enum Program {
    /// An edge-agent binary at this path.
    Binary(&'static str),
    /// This test binary again, running only the test of this name (its full path in the binary,
    /// e.g. `delivery::edge_agent_child`), which calls [`serve_if_child`].
    TestChild(&'static str),
}

impl Program {
    fn command(self, args: &[String]) -> Command {
        match self {
            Program::Binary(path) => {
                let mut command = Command::new(path);
                command.args(args);
                command
            }
            Program::TestChild(test) => {
                let mut command =
                    Command::new(std::env::current_exe().expect("the test binary's path"));
                // Its test harness's own lines ("running 1 test") would mix into the parent's.
                command
                    .args([test, "--exact", "--nocapture", "--test-threads=1"])
                    .env(AGENT_ARGS, args.join("\n"))
                    .stdout(Stdio::null());
                command
            }
        }
    }
}

impl Program {
    /// Runs `edge-agent device add DEVICE --table T… --data-dir DIR` with this program (the real
    /// command line, in a process of its own) and returns the secret it printed.
    ///
    /// # Panics
    ///
    /// When the command fails or prints no secret.
    #[must_use]
    pub fn provision(self, dir: &Path, device: &str, tables: &[&str]) -> String {
        let mut args = vec![
            "device".to_owned(),
            "add".to_owned(),
            device.to_owned(),
            "--data-dir".to_owned(),
            dir.display().to_string(),
        ];
        for table in tables {
            args.extend(["--table".to_owned(), (*table).to_owned()]);
        }
        let mut command = self.command(&args);
        let output = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("RUST_LOG", "warn")
            .output()
            .expect("edge-agent device add runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "device add failed: {stdout} {}",
            String::from_utf8_lossy(&output.stderr)
        );
        secret_in(&stdout).unwrap_or_else(|| panic!("no secret printed: {stdout}"))
    }
}

/// The secret `device add` printed: its last line (a re-started test binary's harness adds lines of
/// its own around it, so the last line that looks like a secret).
#[must_use]
pub fn secret_in(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .rev()
        .find(|line| line.starts_with(edge_agent::devices::secret::PREFIX))
        .map(str::to_owned)
}

/// An agent process on free ports, killed when dropped (a failing test must not leave one
/// running).
#[derive(Debug)]
pub struct Process {
    /// The process (`kill` it for a crash).
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub http: String,
    /// Its embedded broker.
    pub mqtt: SocketAddr,
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Process {
    /// Starts `program` on `dir` with the staff [`TOKEN`], `--allow-anonymous-devices` (so devices
    /// connect without credentials) and more `flags` (e.g. `--cloud-url`), and waits (at most
    /// 10 s) until `/healthz` answers.
    ///
    /// # Panics
    ///
    /// When it does not start or does not become healthy.
    pub async fn start(program: Program, dir: &Path, flags: &[String]) -> Process {
        let mut all = vec!["--allow-anonymous-devices".to_owned()];
        all.extend_from_slice(flags);
        Process::launch(program, dir, &all).await
    }

    /// Like [`Process::start`] without `--allow-anonymous-devices`: only devices provisioned with
    /// [`Program::provision`] get in.
    ///
    /// # Panics
    ///
    /// When it does not start or does not become healthy.
    pub async fn start_authenticated(program: Program, dir: &Path, flags: &[String]) -> Process {
        Process::launch(program, dir, flags).await
    }

    async fn launch(program: Program, dir: &Path, flags: &[String]) -> Process {
        // A free port is free when picked, not necessarily when the agent binds it (tests run in
        // parallel): an agent that exits at once is started again on other ports.
        for _ in 0..3 {
            if let Some(process) = Process::try_launch(program, dir, flags).await {
                return process;
            }
        }
        panic!("edge-agent did not become healthy");
    }

    /// Starts `program` again on `dir` after a crash, on the ports of `before` (devices and
    /// bridges that knew its broker reconnect by themselves), with the same `flags` as
    /// [`Process::start`].
    ///
    /// # Panics
    ///
    /// When it does not become healthy on those ports.
    pub async fn restart(
        before: &Process,
        program: Program,
        dir: &Path,
        flags: &[String],
    ) -> Process {
        let http: u16 = before
            .http
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the HTTP port");
        let mut all = vec!["--allow-anonymous-devices".to_owned()];
        all.extend_from_slice(flags);
        // The old listeners close with the process; a port still held for a moment is retried.
        for _ in 0..20 {
            if let Some(process) =
                Process::try_launch_on(program, dir, &all, http, before.mqtt.port()).await
            {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("edge-agent did not become healthy again on its ports");
    }

    /// One start on fresh ports: `None` when the agent exited before becoming healthy.
    async fn try_launch(program: Program, dir: &Path, flags: &[String]) -> Option<Process> {
        Process::try_launch_on(program, dir, flags, free_port(), free_port()).await
    }

    /// One start on `http` and `mqtt`: `None` when the agent exited before becoming healthy.
    async fn try_launch_on(
        program: Program,
        dir: &Path,
        flags: &[String],
        http: u16,
        mqtt: u16,
    ) -> Option<Process> {
        let mut args = vec![
            "--data-dir".to_owned(),
            dir.display().to_string(),
            "--http-addr".to_owned(),
            format!("127.0.0.1:{http}"),
            "--mqtt-addr".to_owned(),
            format!("127.0.0.1:{mqtt}"),
            "--staff-token".to_owned(),
            TOKEN.to_owned(),
            "--tables".to_owned(),
            super::test_tables().join(","),
        ];
        args.extend_from_slice(flags);
        let mut child = program
            .command(&args)
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("edge-agent starts");
        let http = format!("http://127.0.0.1:{http}");
        for _ in 0..100 {
            if reqwest::get(format!("{http}/healthz"))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Some(Process {
                    child,
                    http,
                    mqtt: format!("127.0.0.1:{mqtt}").parse().expect("addr"),
                });
            }
            if child.try_wait().ok().flatten().is_some() {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        child.kill().ok();
        child.wait().ok();
        panic!("edge-agent did not become healthy");
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn stop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    /// `GET /api/v1/tables/{table}`.
    ///
    /// # Panics
    ///
    /// When it does not answer JSON.
    pub async fn table(&self, table: &str) -> Value {
        reqwest::get(format!("{}/api/v1/tables/{table}", self.http))
            .await
            .expect("answers")
            .json()
            .await
            .expect("JSON")
    }
}

/// In a test binary started by [`Program::TestChild`]: runs edge-agent's command line from
/// [`AGENT_ARGS`] until it is killed. Anywhere else: returns at once.
///
/// # Panics
///
/// When the agent does not start.
pub fn serve_if_child() {
    let Ok(args) = std::env::var(AGENT_ARGS) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let args = std::iter::once("edge-agent").chain(args.lines());
    runtime
        .block_on(run_command_line(args))
        .expect("the agent runs");
}

/// edge-agent's own command line (`edge_agent::config::Flags`) and start-up in this process, until
/// SIGTERM; then a graceful stop.
///
/// # Errors
///
/// When the flags or the configuration are wrong, or the agent does not start.
pub async fn run_command_line<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut flags = edge_agent::config::Flags::try_parse_from(args)?;
    let command = flags.command.take();
    let config = edge_agent::config::Config::load(flags)?;
    if let Some(edge_agent::devices::cli::Command::Device(command)) = command {
        edge_agent::devices::cli::run(&command, &config.data_dir, &mut std::io::stdout().lock())?;
        return Ok(());
    }
    let shutdown = CancellationToken::new();
    let running = edge_agent::start(config, shutdown.clone()).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    term.recv().await;
    shutdown.cancel();
    let _ = running.stopped.await;
    Ok(())
}
