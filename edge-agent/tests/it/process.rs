//! The agent as an operator runs it, as a process: one agent per data folder, SIGTERM even with a
//! stuck store writer, `--demo` on taken ports without syncing a thing, and what it prints where
//! (logs on standard error without colour codes or errors, only URLs on standard output).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

/// An agent process whose standard output and error go to files; killed when dropped.
struct Run {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Drop for Run {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Run {
    /// Starts edge-agent with `args`, its output in `logs`, `RUST_LOG` unset (the default filter).
    fn start(args: &[String], logs: &Path) -> Run {
        std::fs::create_dir_all(logs).expect("log dir");
        let (stdout, stderr) = (logs.join("stdout"), logs.join("stderr"));
        let child = Command::new(env!("CARGO_BIN_EXE_edge-agent"))
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("edge-agent starts");
        Run {
            child,
            stdout,
            stderr,
        }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The URL the agent printed (`edge-agent: open http://…/`), within 30 s.
    async fn url(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let printed = self.stdout();
            if let Some(url) = printed
                .lines()
                .find_map(|l| l.strip_prefix("edge-agent: open "))
                .and_then(|l| l.split_whitespace().next())
            {
                return url.trim_end_matches('/').to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no URL printed; stderr: {}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the standard error holds `text`, within `secs`.
    async fn logged(&self, text: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.stderr().contains(text) {
            assert!(
                Instant::now() < deadline,
                "never logged {text:?}: {}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends SIGTERM.
    fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
    }

    /// Waits (at most `secs`) for the process to exit; its status.
    async fn exited(&mut self, secs: u64) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {secs} s later; stderr: {}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn args(dir: &Path, http: u16, mqtt: u16, more: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--data-dir".into(),
        dir.display().to_string(),
        "--http-addr".into(),
        format!("127.0.0.1:{http}"),
        "--mqtt-addr".into(),
        format!("127.0.0.1:{mqtt}"),
        "--staff-token".into(),
        TOKEN.into(),
    ];
    args.extend(more.iter().map(|s| (*s).to_owned()));
    args
}

#[tokio::test]
async fn a_second_agent_on_the_same_data_folder_refuses_to_start_and_says_why() {
    let dir = data_dir("lock-twice");
    let first = Process::start(EDGE_AGENT, &dir, &[]).await;
    let second = Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .args(args(&dir, free_port(), free_port(), &[]))
        .env("RUST_LOG", "off")
        .output()
        .expect("runs");
    assert_eq!(second.status.code(), Some(1));
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains("is in use by another edge-agent")
            && said.contains(&format!("pid {}", first.child.id()))
            && said.contains(&dir.display().to_string()),
        "{said}"
    );
    let health = reqwest::get(format!("{}/healthz", first.http))
        .await
        .expect("the first still answers");
    assert!(health.status().is_success());
    drop(first);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn sigterm_stops_the_agent_even_when_its_store_writer_is_stuck() {
    let dir = data_dir("stuck-writer");
    let logs = data_dir("stuck-writer-logs");
    let mut agent = Run::start(
        &args(&dir, free_port(), free_port(), &["--tables", "t1"]),
        &logs,
    );
    let url = agent.url().await;
    // Another process holds SQLite's write lock: every commit of the agent's writer now fails
    // after its busy timeout and is retried, for ever.
    let lock = rusqlite::Connection::open(edge_agent::store::db_path(&dir)).expect("open");
    lock.execute_batch("BEGIN EXCLUSIVE").expect("write lock");
    let request = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{url}/api/v1/tables/t1/matches"))
            .bearer_auth(TOKEN)
            .json(&json!({"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 3}))
            .timeout(Duration::from_secs(30))
            .send()
            .await
    });
    agent.logged("SQLite commit failed; retrying", 20).await;

    agent.terminate();
    let status = agent.exited(30).await;
    assert_eq!(status.code(), Some(1), "a stop that timed out is a failure");
    let said = agent.stderr();
    assert!(
        said.contains("did not stop within the grace period"),
        "{said}"
    );
    lock.execute_batch("ROLLBACK").expect("release");
    request.abort();
    drop(agent);
    std::fs::remove_dir_all(dir).ok();
    std::fs::remove_dir_all(logs).ok();
}

#[tokio::test]
async fn demo_moves_off_taken_ports_syncs_nothing_and_logs_only_to_stderr() {
    let dir = data_dir("demo-ports");
    let logs = data_dir("demo-ports-logs");
    let taken_http = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_mqtt = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let http_port = taken_http.local_addr().expect("addr").port();
    let mqtt_port = taken_mqtt.local_addr().expect("addr").port();
    let peer = Arc::new(Mutex::new(Peer::default()));
    let cloud = start_peer(peer.clone()).await;
    let mut agent = Run::start(
        &args(
            &dir,
            http_port,
            mqtt_port,
            &[
                "--demo",
                "--cloud-url",
                &cloud,
                "--venue-id",
                "venue-1",
                "--venue-key",
                KEY,
            ],
        ),
        &logs,
    );
    let url = agent.url().await;
    assert_ne!(url, format!("http://127.0.0.1:{http_port}"), "moved");
    let said = agent.stderr();
    assert!(said.contains("--demo: the HTTP port is taken"), "{said}");
    assert!(said.contains("--demo: the MQTT port is taken"), "{said}");
    assert!(said.contains("demo data never syncs"), "{said}");
    assert!(
        said.contains("--http-addr 0.0.0.0:"),
        "how to serve the venue: {said}"
    );

    // The demo plays its registered tables; its matches are marked and leave nothing to sync.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let tables: Value = reqwest::get(format!("{url}/api/v1/tables"))
            .await
            .expect("answers")
            .json()
            .await
            .expect("JSON");
        let demo_match = tables
            .as_array()
            .is_some_and(|t| t.iter().any(|v| v["match"]["demo"] == true));
        if demo_match {
            break;
        }
        assert!(Instant::now() < deadline, "no demo match: {tables}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sql_count(&dir, "SELECT COUNT(*) FROM outbox"), 0);
    let (_, status) = get_json(&format!("{url}/api/v1/sync")).await;
    assert_eq!(status["enabled"], false, "{status}");

    agent.terminate();
    assert_eq!(agent.exited(20).await.code(), Some(0));
    {
        let peer = peer.lock().expect("peer");
        assert!(peer.batches.is_empty() && peer.bad_requests.is_empty());
    }
    let (out, err) = (agent.stdout(), agent.stderr());
    assert!(
        out.lines().all(|l| l.starts_with("edge-agent: ")),
        "no logs on standard output: {out}"
    );
    assert!(!err.contains("ERROR"), "no error logged: {err}");
    assert!(
        !err.contains('\u{1b}'),
        "no colour codes off a terminal: {err}"
    );
    assert!(err.contains(" INFO "), "logs on standard error: {err}");
    drop((taken_http, taken_mqtt, agent));
    std::fs::remove_dir_all(dir).ok();
    std::fs::remove_dir_all(logs).ok();
}

async fn get_json(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.expect("answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
