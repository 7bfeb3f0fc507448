//! Provisioned devices (docs/operations.md, "Provisioning devices"): `edge-agent device
//! add|list|revoke` as an operator runs it (the real binary, beside a running agent), the staff API
//! `/api/v1/devices`, and the broker refusing what is not provisioned.

use std::process::Command;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Packet};
use serde_json::{Value, json};

use crate::helpers::{Agent, Device, EDGE_AGENT, TOKEN, data_dir, free_port, provisioned, ws};

fn cli(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .args(args)
        .args(["--data-dir", &dir.display().to_string()])
        .env("RUST_LOG", "off")
        .output()
        .expect("runs")
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn device_add_prints_the_secret_once_alone_on_the_last_line_and_list_never_shows_it() {
    let dir = data_dir("device-cli");
    let added = cli(
        &dir,
        &[
            "device", "add", "bridge-a", "--table", "t1", "--table", "t2",
        ],
    );
    assert!(added.status.success(), "{added:?}");
    let text = stdout(&added);
    let secret = text.lines().last().expect("a last line").to_owned();
    assert!(secret.starts_with("dpd_") && secret.len() == 47, "{text}");
    assert!(!secret.contains(' '), "alone on its line: {text}");
    assert_eq!(text.matches(&secret).count(), 1, "{text}");

    // Again while active: refused, status 1, the reason on standard error, no new secret.
    let again = cli(&dir, &["device", "add", "bridge-a", "--table", "t3"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already provisioned"));
    assert!(!stdout(&again).contains("dpd_"));
    // Bad ids and no table are refused.
    assert_eq!(
        cli(&dir, &["device", "add", "bad id", "--table", "t1"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        cli(&dir, &["device", "add", "cam-1"]).status.code(),
        Some(2)
    );

    let listed = cli(&dir, &["device", "list"]);
    assert!(listed.status.success());
    let list = stdout(&listed);
    assert!(
        list.contains("bridge-a") && list.contains("t1,t2"),
        "{list}"
    );
    // Neither the secret nor its hash (hex or raw) is ever shown.
    let hash: String = edge_agent::devices::secret::hash(&secret)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        !list.contains(&secret) && !list.contains(&hash[..16]),
        "{list}"
    );
    let json: Value =
        serde_json::from_str(&stdout(&cli(&dir, &["device", "list", "--json"]))).expect("JSON");
    assert_eq!(json[0]["device"], "bridge-a");
    assert_eq!(json[0]["tables"], json!(["t1", "t2"]));
    assert_eq!(json[0]["revoked_ms"], Value::Null);
    assert!(json[0].get("secret").is_none() && json[0].get("secret_sha256").is_none());

    let revoked = cli(&dir, &["device", "revoke", "bridge-a"]);
    assert!(revoked.status.success(), "{revoked:?}");
    let json: Value =
        serde_json::from_str(&stdout(&cli(&dir, &["device", "list", "--json"]))).expect("JSON");
    assert!(json[0]["revoked_ms"].as_u64().is_some(), "{json}");
    assert_eq!(
        cli(&dir, &["device", "revoke", "nobody"]).status.code(),
        Some(1)
    );
    // The agent's own flags still run the agent (and the device flags did not break them).
    let checked = cli(&dir, &["--check-config"]);
    assert!(
        stdout(&checked).contains("provisioned devices only"),
        "{checked:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_agent_lets_in_what_the_cli_adds_and_drops_what_it_revokes() {
    let dir = data_dir("device-pickup");
    let agent = Agent::start_authenticated(&dir).await;
    let directory = agent.running.devices.directory().clone();
    let mut withdrawn = directory.withdrawn();
    assert!(!directory.anonymous());

    // The real binary, in another process, beside the agent that holds the data folder.
    let secret = EDGE_AGENT.provision(&dir, "cam-d5", &["d5"]);
    provisioned(&agent, "cam-d5", &secret).await;
    assert_eq!(directory.tables("cam-d5"), Some(vec!["d5".to_owned()]));
    assert!(!directory.login("cam-d5", "dpd_not-the-secret"));

    let revoked = cli(&dir, &["device", "revoke", "cam-d5"]);
    assert!(revoked.status.success(), "{revoked:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while directory.login("cam-d5", &secret) {
        assert!(
            Instant::now() < deadline,
            "still let in 5 s after the revoke"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The broker is told whose connection to cut.
    let gone = tokio::time::timeout(Duration::from_secs(1), withdrawn.recv())
        .await
        .expect("told in time")
        .expect("a withdrawn id");
    assert_eq!(gone, "cam-d5");
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

async fn staff(
    agent: &Agent,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, String) {
    let client = reqwest::Client::new();
    let mut request = match method {
        "POST" => client.post(agent.url(path)),
        "DELETE" => client.delete(agent.url(path)),
        _ => client.get(agent.url(path)),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("HTTP answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_devices_api_needs_the_staff_token_and_shows_a_secret_only_in_the_post_answer() {
    let dir = data_dir("device-api");
    let agent = Agent::start_authenticated(&dir).await;
    let body = json!({"device": "ctl-d6", "tables": ["d6"]});
    for token in [None, Some("wrong-token-123456")] {
        assert_eq!(
            staff(&agent, "GET", "/api/v1/devices", token, None).await.0,
            401
        );
        assert_eq!(
            staff(&agent, "POST", "/api/v1/devices", token, Some(body.clone()))
                .await
                .0,
            401
        );
        assert_eq!(
            staff(&agent, "DELETE", "/api/v1/devices/ctl-d6", token, None)
                .await
                .0,
            401
        );
    }
    assert!(
        !agent
            .running
            .devices
            .directory()
            .ids()
            .contains(&"ctl-d6".to_owned()),
        "a refused POST adds nothing"
    );

    let (status, text) = staff(
        &agent,
        "POST",
        "/api/v1/devices",
        Some(TOKEN),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let added: Value = serde_json::from_str(&text).expect("JSON");
    let secret = added["secret"].as_str().expect("the secret").to_owned();
    assert_eq!(added["username"], "ctl-d6");
    assert_eq!(added["tables"], json!(["d6"]));
    // The broker's directory has it when the answer arrives.
    assert!(agent.running.devices.directory().login("ctl-d6", &secret));
    let (status, text) = staff(&agent, "POST", "/api/v1/devices", Some(TOKEN), Some(body)).await;
    assert_eq!(status, 409, "{text}");
    let (status, text) = staff(
        &agent,
        "POST",
        "/api/v1/devices",
        Some(TOKEN),
        Some(json!({"device": "x y", "tables": ["d6"]})),
    )
    .await;
    assert_eq!(status, 422, "{text}");

    let (status, text) = staff(&agent, "GET", "/api/v1/devices", Some(TOKEN), None).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        !text.contains(&secret) && !text.contains("secret"),
        "{text}"
    );
    let listing: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(listing["anonymous"], false);
    assert_eq!(listing["embedded"], true);
    assert_eq!(listing["devices"][0]["device"], "ctl-d6");

    let (status, text) = staff(
        &agent,
        "DELETE",
        "/api/v1/devices/ctl-d6",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains(&secret));
    assert!(!agent.running.devices.directory().login("ctl-d6", &secret));
    assert_eq!(
        staff(
            &agent,
            "DELETE",
            "/api/v1/devices/nobody",
            Some(TOKEN),
            None
        )
        .await
        .0,
        404
    );
    agent.stop().await;

    // An agent open to anonymous devices says so, for the console's warning.
    let open = Agent::start(&data_dir("device-api-open")).await;
    let (_, text) = staff(&open, "GET", "/api/v1/devices", Some(TOKEN), None).await;
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("JSON")["anonymous"],
        true
    );
    open.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

/// The broker's answer to a CONNECT as `username`/`password` (`None`: no credentials).
async fn connack(agent: &Agent, username: &str, password: Option<&str>) -> Result<(), String> {
    let mut options = MqttOptions::new(
        format!("{username}-{}", free_port()),
        "127.0.0.1",
        agent.mqtt.port(),
    );
    if let Some(password) = password {
        options.set_credentials(username, password);
    }
    let (_client, mut eventloop) = AsyncClient::new(options, 10);
    let answer = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    return if ack.code == ConnectReturnCode::Success {
                        Ok(())
                    } else {
                        Err(format!("{:?}", ack.code))
                    };
                }
                Ok(_) => {}
                Err(ConnectionError::ConnectionRefused(code)) => return Err(format!("{code:?}")),
                Err(error) => return Err(error.to_string()),
            }
        }
    })
    .await;
    answer.unwrap_or_else(|_| Err("no answer".to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unprovisioned_device_or_a_wrong_password_is_refused_at_connect_and_a_provisioned_one_is_heard()
 {
    let dir = data_dir("device-connect");
    let agent = Agent::start_authenticated(&dir).await;
    let secret = EDGE_AGENT.provision(&dir, "ctl-d7", &["d7"]);
    provisioned(&agent, "ctl-d7", &secret).await;

    assert!(
        connack(&agent, "ctl-d7", None).await.is_err(),
        "no password"
    );
    assert!(
        connack(&agent, "ctl-d7", Some("dpd_wrong")).await.is_err(),
        "wrong password"
    );
    assert!(
        connack(&agent, "ctl-d8", Some(&secret)).await.is_err(),
        "unprovisioned device"
    );
    assert!(connack(&agent, "anyone", None).await.is_err(), "anonymous");
    assert_eq!(connack(&agent, "ctl-d7", Some(&secret)).await, Ok(()));

    // Heard: its heartbeat shows it on its table.
    let mut screen = ws(&agent, "?tables=d7").await;
    let mut ctl = Device::connect_as(agent.mqtt, "ctl-d7", &secret).await;
    ctl.send("d7", json!({"type": "heartbeat"})).await;
    crate::helpers::until(&mut screen, "d7", |v| v["devices"][0]["device"] == "ctl-d7").await;

    // Revoked: refused at its next CONNECT.
    let (status, _) = reqwest::Client::new()
        .delete(agent.url("/api/v1/devices/ctl-d7"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .expect("HTTP answers");
    assert_eq!(status, 200);
    assert!(
        connack(&agent, "ctl-d7", Some(&secret)).await.is_err(),
        "revoked"
    );
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

/// What the console's devices panel shows, read off the rendered DOM.
const PANEL: &str = r##"(() => {
  const text = (el) => el ? el.textContent.trim() : null;
  return {
    ready: document.readyState === "complete",
    unlocked: !document.getElementById("console").hidden,
    banner: !document.getElementById("anonymous-devices").hidden,
    rows: [...document.querySelectorAll("#devices-list .registry-row")].map((row) => ({
      device: row.dataset.device,
      revoked: row.classList.contains("revoked"),
      text: text(row),
    })),
    secret_shown: !document.getElementById("device-secret").hidden,
    secret: text(document.getElementById("device-secret-text")),
  };
})()"##;

async fn console(browser: &mut dojo_testkit::browser::Browser, agent: &Agent) -> String {
    let page = browser.open(&agent.url("/staff")).await;
    browser
        .wait_for(&page, PANEL, "the page", |v| v["ready"] == true)
        .await;
    let unlock = format!(
        "document.getElementById('token').value = {TOKEN:?}; \
         document.getElementById('unlock-form').requestSubmit(); true"
    );
    browser.eval(&page, &unlock).await;
    browser
        .wait_for(&page, PANEL, "unlocked", |v| v["unlocked"] == true)
        .await;
    page
}

#[tokio::test]
async fn the_console_adds_a_device_showing_its_secret_once_revokes_it_and_warns_when_anonymous() {
    use dojo_testkit::browser::{Browser, click};
    let dir = data_dir("device-console");
    let agent = Agent::start_authenticated(&dir).await;
    let mut browser = Browser::launch().await;
    let page = console(&mut browser, &agent).await;
    browser.eval(&page, &click("#tab-venue")).await;
    let add = "document.getElementById('device-id').value = 'bridge-bar'; \
               document.getElementById('device-tables').value = 'bar1, bar2'; \
               document.getElementById('device-form').requestSubmit(); true";
    browser.eval(&page, add).await;
    let shown = browser
        .wait_for(&page, PANEL, "the new device and its secret", |v| {
            v["secret_shown"] == true && v["rows"].as_array().is_some_and(|r| r.len() == 1)
        })
        .await;
    let secret = shown["secret"].as_str().expect("the secret").to_owned();
    assert!(
        agent
            .running
            .devices
            .directory()
            .login("bridge-bar", &secret),
        "{shown:#}"
    );
    assert_eq!(
        agent.running.devices.directory().tables("bridge-bar"),
        Some(vec!["bar1".to_owned(), "bar2".to_owned()])
    );
    assert_eq!(shown["banner"], false, "{shown:#}");
    assert!(
        !shown["rows"][0]["text"]
            .as_str()
            .unwrap_or("")
            .contains(&secret)
    );
    browser.eval(&page, &click("#device-secret-done")).await;
    browser
        .wait_for(&page, PANEL, "the secret hidden", |v| {
            v["secret_shown"] == false && v["secret"] == ""
        })
        .await;
    browser
        .eval(&page, "window.confirm = () => true; true")
        .await;
    browser
        .eval(&page, &click("#devices-list [data-revoke=bridge-bar]"))
        .await;
    browser
        .wait_for(&page, PANEL, "revoked", |v| v["rows"][0]["revoked"] == true)
        .await;
    assert!(
        !agent
            .running
            .devices
            .directory()
            .login("bridge-bar", &secret)
    );
    agent.stop().await;

    // An agent open to anonymous devices: the banner over every tab.
    let open = Agent::start(&data_dir("device-console-open")).await;
    let page = console(&mut browser, &open).await;
    browser
        .wait_for(&page, PANEL, "the anonymous banner", |v| {
            v["banner"] == true
        })
        .await;
    open.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
