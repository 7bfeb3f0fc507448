//! Issue 16, defect 5 and "health tells the truth", attacked over real sockets: garbage cannot
//! fill the disk (dead letters keep a prefix and are trimmed), device ids cannot make a table's
//! views grow without bound, a full disk (a small tmpfs under the real agent process) turns
//! health 503 and refuses staff writes without hanging, and the agent recovers by itself when
//! space returns, with every device event committed once.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client")
}

async fn get_status(client: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("answers in time");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The agent's `/metrics` page.
async fn metrics_text(client: &reqwest::Client, url: &str) -> String {
    client
        .get(url)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_keeps_a_prefix_and_is_trimmed_by_size_with_a_counter() {
    let dir = data_dir("health-garbage");
    let agent = Agent::start(&dir).await;
    let attacker = Device::connect(agent.running.mqtt_addr.expect("embedded"), "noise").await;
    // 9,000 messages of 20 KB (oversize): 180 MB of garbage, more than the byte bound's worth of letters.
    let garbage = vec![b'#'; 20_000];
    // Paced a little, as a steady attacker would: a burst faster than the writer is dropped
    // (counted) before it is kept, and this test is about what is kept.
    for n in 0..9_000 {
        attacker
            .raw("dojo/v1/tables/t1/events", garbage.clone())
            .await;
        if n % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
    }
    let client = client();
    let metrics_url = agent.url("/metrics");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = metrics_text(&client, &metrics_url).await;
        let seen = metric(&text, "dojo_events_rejected_total{reason=\"oversize\"}");
        if seen >= 9_000.0 {
            break;
        }
        assert!(Instant::now() < deadline, "only {seen} refused in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The writer may still be committing the last letters.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let text = metrics_text(&client, &metrics_url).await;
    let trimmed = metric(&text, "dojo_dead_letters_trimmed_total");
    assert!(trimmed > 0.0, "retention trimmed and counted it: {text}");
    let longest = sql_count(&dir, "SELECT MAX(length(payload)) FROM dead_letters");
    assert_eq!(longest, 1024, "only a prefix of each payload is kept");
    let bytes = sql_count(
        &dir,
        "SELECT SUM(length(payload) + length(topic) + length(detail)) FROM dead_letters",
    );
    // The byte bound (8 MiB), plus at most one trim interval (256 letters) kept since.
    assert!(
        bytes <= 8 * 1024 * 1024 + 256 * 1200,
        "{bytes} bytes of dead letters kept"
    );
    let rows = sql_count(&dir, "SELECT COUNT(*) FROM dead_letters");
    assert!(rows < 9_000, "{rows} dead letters kept");
    let file = std::fs::metadata(dir.join("edge.sqlite3")).map_or(0, |m| m.len());
    assert!(
        file < 40 * 1024 * 1024,
        "180 MB of garbage left a {file}-byte database"
    );
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_keeps_a_bounded_number_of_devices_in_its_view() {
    let dir = data_dir("health-devices");
    let agent = Agent::start(&dir).await;
    let broker = agent.running.mqtt_addr.expect("embedded");
    // 60 device ids heartbeat on one table, one after another.
    for n in 0..60 {
        let mut device = Device::connect(broker, &format!("spoof{n:02}")).await;
        device.send("t2", json!({"type": "heartbeat"})).await;
        let name = device.name.clone();
        wait_for_device(&agent, "t2", &name).await;
    }
    let (_, view) = agent.get("/api/v1/tables/t2").await;
    let devices = view["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 16, "a table shows at most 16 devices");
    assert!(
        devices.iter().any(|d| d["device"] == "spoof59"),
        "the newest is shown"
    );
    assert!(
        !devices.iter().any(|d| d["device"] == "spoof00"),
        "the one heard least recently is forgotten"
    );
    // Every logged view of the table is bounded too: no quadratic growth.
    let longest = sql_count(
        &dir,
        "SELECT MAX(length(view)) FROM events WHERE table_id = 't2'",
    );
    assert!(longest < 6_000, "a view of {longest} bytes");
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

async fn wait_for_device(agent: &Agent, table: &str, device: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, view) = agent.get(&format!("/api/v1/tables/{table}")).await;
        if view["devices"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["device"] == device))
        {
            return;
        }
        assert!(Instant::now() < deadline, "{device} never shown on {table}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_fails_when_devices_fall_silent_and_staff_read_every_part() {
    let dir = data_dir("health-silence");
    let agent = Agent::start_with(&dir, |c| c.presence_timeout_ms = 1_000).await;
    let client = client();
    let (status, body) = get_status(&client, &agent.url("/healthz"), None).await;
    assert_eq!(
        (status, body),
        (200, json!({"status": "ok"})),
        "no device expected yet"
    );
    let (status, _) = get_status(&client, &agent.url("/api/v1/health"), None).await;
    assert_eq!(status, 401, "the detail is for staff");
    let mut ctl = Device::connect(agent.running.mqtt_addr.expect("embedded"), "ctl-h1").await;
    ctl.send("t3", json!({"type": "heartbeat"})).await;
    wait_for_device(&agent, "t3", "ctl-h1").await;
    let (status, _) = get_status(&client, &agent.url("/healthz"), None).await;
    assert_eq!(status, 200);
    // Silent for 4 presence timeouts (at least 10 s): the agent says it hears no device.
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let (status, body) = get_status(&client, &agent.url("/healthz"), None).await;
        if status == 503 {
            break body;
        }
        assert!(Instant::now() < deadline, "healthz stayed {status}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(body["failing"], json!(["devices"]));
    let (status, report) = get_status(&client, &agent.url("/api/v1/health"), Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(report["status"], "failing");
    assert!(
        report["devices"]["words"]
            .as_str()
            .is_some_and(|w| w.starts_with("No table controller or camera heard")),
        "{report}"
    );
    for part in ["broker", "engine", "writer", "disk", "sync"] {
        assert_eq!(report[part]["status"], "ok", "{part}: {report}");
    }
    assert!(
        report["disk"]["details"]["free_bytes"]
            .as_u64()
            .is_some_and(|b| b > 0)
    );
    assert_eq!(report["writer"]["details"]["can_commit"], true);
    // Heard again: healthy again.
    ctl.send("t3", json!({"type": "heartbeat"})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while get_status(&client, &agent.url("/healthz"), None).await.0 != 200 {
        assert!(Instant::now() < deadline, "healthz never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

// ---- A full disk ---------------------------------------------------------------------------

/// A tmpfs of `size` mounted on `dir` (we run as root); unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "cannot mount a tmpfs on {} (the full-disk test needs root)",
            dir.display()
        );
        Tmpfs(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Writes zeros into `path` until the file system says it is full; returns the bytes written.
fn fill(path: &Path) -> u64 {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path).expect("filler");
    let chunk = vec![0_u8; 64 * 1024];
    let mut written = 0_u64;
    for _ in 0..100_000 {
        match file.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    let _ = file.sync_all();
    written
}

/// The pockets a device sends, ball by ball: each one is a logged event of that device.
fn pocket(ball: u64) -> Value {
    json!({"type": "pocket", "ball": (ball % 7) + 1, "pocket": 1})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_turns_health_503_refuses_staff_and_recovers_by_itself() {
    let root = data_dir("health-full");
    let dir = root.join("data");
    std::fs::create_dir_all(&dir).expect("dir");
    let tmpfs = Tmpfs::mount(&dir, "6m");
    let agent = Process::start(EDGE_AGENT, &dir, &[]).await;
    let client = client();
    let staff = |path: &str| {
        client
            .post(format!("{}{path}", agent.http))
            .bearer_auth(TOKEN)
    };
    let started = staff("/api/v1/tables/t4/matches")
        .json(&json!({"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 5, "break": "alternate"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(started.status().as_u16(), 201);
    let mut commands = Commands::listen(agent.mqtt, "ctl-full").await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-full").await;
    for _ in 0..5 {
        let ball = ctl.seq + 1;
        ctl.send("t4", pocket(ball)).await;
    }
    let committed = |dir: &Path| {
        sql_count(
            dir,
            "SELECT COUNT(DISTINCT device_seq) FROM events WHERE device = 'ctl-full'",
        )
    };
    wait_for("the first events committed", 10, || committed(&dir) == 5).await;

    // Fill the disk, then keep the device talking until the writer cannot commit. Whatever
    // SQLite frees by rolling back is taken again at once, so the disk stays full.
    let mut fillers = Vec::new();
    let top_up = |fillers: &mut Vec<std::path::PathBuf>| {
        let filler = dir.join(format!("filler{}", fillers.len()));
        let written = fill(&filler);
        fillers.push(filler);
        written
    };
    assert!(top_up(&mut fillers) > 0, "the filler took the free space");
    let deadline = Instant::now() + Duration::from_secs(60);
    let failing = loop {
        for _ in 0..10 {
            let ball = ctl.seq + 1;
            ctl.send("t4", pocket(ball)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        top_up(&mut fillers);
        let (status, body) = get_status(&client, &format!("{}/healthz", agent.http), None).await;
        if status == 503
            && body["failing"]
                .as_array()
                .is_some_and(|f| f.contains(&json!("writer")))
        {
            break body;
        }
        assert!(Instant::now() < deadline, "healthz said {status} {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        failing["problems"][0]
            .as_str()
            .is_some_and(|p| p.starts_with("Cannot save: the disk is full")),
        "{failing}"
    );
    let (_, report) = get_status(
        &client,
        &format!("{}/api/v1/health", agent.http),
        Some(TOKEN),
    )
    .await;
    assert_eq!(report["writer"]["details"]["can_commit"], false, "{report}");
    assert!(
        report["writer"]["details"]["last_error"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("disk is full"))
    );
    assert_eq!(report["disk"]["status"], "failing", "{report}");
    // Staff are told at once, not left hanging.
    top_up(&mut fillers);
    let asked = Instant::now();
    let refused = staff("/api/v1/tables/t4/sessions")
        .json(&json!({}))
        .send()
        .await
        .expect("answers");
    assert_eq!(refused.status().as_u16(), 503);
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "answered in {:?}",
        asked.elapsed()
    );
    // The device keeps talking while the disk is full: its events are not taken.
    for _ in 0..5 {
        let ball = ctl.seq + 1;
        ctl.send("t4", pocket(ball)).await;
    }
    let sent = ctl.seq;
    tokio::time::sleep(Duration::from_millis(500)).await;
    top_up(&mut fillers);
    let (status, _) = get_status(&client, &format!("{}/healthz", agent.http), None).await;
    assert_eq!(status, 503, "still failing while the disk is full");

    // Space comes back: the agent commits again by itself, no restart.
    for filler in &fillers {
        std::fs::remove_file(filler).expect("space freed");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while get_status(&client, &format!("{}/healthz", agent.http), None)
        .await
        .0
        != 200
    {
        assert!(Instant::now() < deadline, "healthz never recovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The device's next message shows the gap; it replays what it asked for, as firmware-bridge
    // does, until every event is in.
    ctl.send("t4", json!({"type": "heartbeat"})).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while committed(&dir) < i64::try_from(sent).expect("fits") {
        assert!(
            Instant::now() < deadline,
            "{} of {sent} events committed",
            committed(&dir)
        );
        let Ok(command) = tokio::time::timeout(Duration::from_millis(500), commands.next()).await
        else {
            continue;
        };
        if command["type"] == "replay" {
            let from = command["from_seq"].as_u64().expect("from");
            let to = command["to_seq"].as_u64().expect("to");
            for seq in from..=to.min(sent) {
                ctl.send_seq("t4", seq, pocket(seq)).await;
            }
        }
    }
    let once = sql_count(
        &dir,
        "SELECT COUNT(*) FROM events WHERE device = 'ctl-full'",
    );
    assert_eq!(
        once,
        i64::try_from(sent).expect("fits"),
        "each event committed once"
    );
    let accepted = staff("/api/v1/tables/t4/sessions")
        .json(&json!({}))
        .send()
        .await
        .expect("answers");
    assert!(
        accepted.status().is_success(),
        "staff write again: {}",
        accepted.status()
    );
    drop(agent);
    drop(tmpfs);
    std::fs::remove_dir_all(root).ok();
}

// ---- In words, in a browser ----------------------------------------------------------------

const STAFF_HEALTH: &str = r#"(() => {
  const banner = document.getElementById("health");
  return banner && !banner.hidden ? banner.textContent.replace(/\s+/g, " ").trim() : null;
})()"#;

const TV_HEALTH: &str = r#"(() => {
  const line = document.getElementById("tv-health");
  return line && !line.hidden ? line.textContent.trim() : null;
})()"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_and_the_tv_say_in_words_what_fails() {
    use dojo_testkit::browser::Browser;
    let dir = data_dir("health-words");
    let agent = Agent::start_with(&dir, |c| c.presence_timeout_ms = 1_000).await;
    let mut ctl = Device::connect(agent.running.mqtt_addr.expect("embedded"), "ctl-w5").await;
    ctl.send("t5", json!({"type": "heartbeat"})).await;
    wait_for_device(&agent, "t5", "ctl-w5").await;
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(20);
    while get_status(&client, &agent.url("/healthz"), None).await.0 != 503 {
        assert!(Instant::now() < deadline, "healthz never failed");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut browser = Browser::launch().await;
    let tv = browser.open(&agent.url("/tables/t5")).await;
    let line = browser
        .wait_for(&tv, TV_HEALTH, "the TV's health line", Value::is_string)
        .await;
    assert!(
        line.as_str()
            .is_some_and(|l| l.starts_with("Not hearing the tables")),
        "{line}"
    );
    let staff = browser.open(&agent.url("/staff")).await;
    browser
        .wait_for(
            &staff,
            "document.readyState === 'complete' && !!document.getElementById('unlock-form')",
            "the console",
            |v| v == &json!(true),
        )
        .await;
    browser
        .eval(
            &staff,
            &format!(
                "document.getElementById('token').value = {TOKEN:?}; \
                 document.getElementById('unlock-form').requestSubmit(); true"
            ),
        )
        .await;
    let banner = browser
        .wait_for(
            &staff,
            STAFF_HEALTH,
            "the console's health banner",
            Value::is_string,
        )
        .await;
    assert!(
        banner.as_str().is_some_and(|b| b.contains(
            "The agent cannot do its whole job right now: No table controller or camera heard"
        )),
        "{banner}"
    );
    // Heard again: both clear.
    ctl.send("t5", json!({"type": "heartbeat"})).await;
    browser
        .wait_for(&staff, STAFF_HEALTH, "the banner gone", Value::is_null)
        .await;
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
