//! The embedded broker under attack, over real sockets (issue 16, defects 1 and 2, devices that
//! authenticate and speak only for themselves): the agent's own link cannot be taken over, a full
//! broker refuses cleanly and recovers, a client id refused once connects later (rumqttd 0.20
//! panicked there for good), and with provisioned devices strangers and impostors are refused at
//! CONNECT and a device's publishes for others are dead-lettered, not applied.
//!
//! The client here speaks MQTT 3.1.1 byte by byte, so that every CONNACK, PUBACK and SUBACK code
//! is seen as sent (a library client would hide a refusal behind its reconnect loop).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use edge_agent::devices::Device as Provisioned;
use edge_agent::mqtt::MqttMode;
use edge_agent::mqtt::embedded::{LINK_ID, MAX_CONNECTIONS};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::helpers::*;

/// CONNACK codes (MQTT 3.1.1).
const ACCEPTED: u8 = 0;
const IDENTIFIER_REJECTED: u8 = 2;
const SERVER_UNAVAILABLE: u8 = 3;
const BAD_CREDENTIALS: u8 = 4;
const NOT_AUTHORIZED: u8 = 5;

/// How long any one answer may take.
const ANSWER: Duration = Duration::from_secs(10);

/// One raw MQTT 3.1.1 client connection.
struct Raw {
    stream: TcpStream,
    next_pkid: u16,
}

/// What a CONNECT carries.
#[derive(Default)]
struct Hello<'a> {
    client_id: &'a str,
    login: Option<(&'a str, &'a str)>,
    will: Option<(&'a str, &'a [u8])>,
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    let len = u16::try_from(s.len()).expect("short string");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s);
}

fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut len = body.len();
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

impl Raw {
    /// Connects and sends CONNECT; the CONNACK code, or `None` if the broker closed the socket
    /// without one (rumqttd 0.20's answer at its connection limit, or a panicked connection task).
    async fn connect(broker: SocketAddr, hello: &Hello<'_>) -> (Raw, Option<u8>) {
        let stream = tokio::time::timeout(ANSWER, TcpStream::connect(broker))
            .await
            .expect("TCP connects in time")
            .expect("TCP connects");
        let mut raw = Raw {
            stream,
            next_pkid: 1,
        };
        let mut flags = 0x02; // clean session
        let mut body = Vec::new();
        put_str(&mut body, b"MQTT");
        body.push(4);
        if hello.will.is_some() {
            flags |= 0x04 | 0x20; // will, QoS 0, retained
        }
        if hello.login.is_some() {
            flags |= 0x80 | 0x40;
        }
        body.push(flags);
        body.extend_from_slice(&300u16.to_be_bytes()); // keep-alive: longer than any test
        put_str(&mut body, hello.client_id.as_bytes());
        if let Some((topic, payload)) = hello.will {
            put_str(&mut body, topic.as_bytes());
            put_str(&mut body, payload);
        }
        if let Some((user, password)) = hello.login {
            put_str(&mut body, user.as_bytes());
            put_str(&mut body, password.as_bytes());
        }
        raw.stream
            .write_all(&packet(0x10, &body))
            .await
            .expect("CONNECT sent");
        let code = match raw.read().await {
            Some((0x20, body)) if body.len() == 2 => Some(body[1]),
            Some((kind, _)) => panic!("expected CONNACK, got packet type {kind:#x}"),
            None => None,
        };
        (raw, code)
    }

    /// Reads one packet: (first byte, body); `None` on close.
    async fn read(&mut self) -> Option<(u8, Vec<u8>)> {
        tokio::time::timeout(ANSWER, async {
            let first = self.stream.read_u8().await.ok()?;
            let (mut len, mut shift) = (0usize, 0);
            loop {
                let byte = self.stream.read_u8().await.ok()?;
                len |= usize::from(byte & 0x7f) << shift;
                shift += 7;
                if byte & 0x80 == 0 || shift > 21 {
                    break;
                }
            }
            let mut body = vec![0; len];
            self.stream.read_exact(&mut body).await.ok()?;
            Some((first, body))
        })
        .await
        .expect("the broker answers or closes in time")
    }

    /// Reads until a packet of `kind` (high nibble) comes; its body.
    async fn expect(&mut self, kind: u8) -> Vec<u8> {
        for _ in 0..100 {
            match self.read().await {
                Some((first, body)) if first & 0xf0 == kind => return body,
                Some(_) => {}
                None => panic!("connection closed while waiting for packet type {kind:#x}"),
            }
        }
        panic!("no packet of type {kind:#x} in 100");
    }

    /// Publishes at QoS 1 and waits for its PUBACK (refused publishes are acknowledged too).
    async fn publish(&mut self, topic: &str, payload: &[u8]) {
        let pkid = self.next_pkid;
        self.next_pkid += 1;
        let mut body = Vec::new();
        put_str(&mut body, topic.as_bytes());
        body.extend_from_slice(&pkid.to_be_bytes());
        body.extend_from_slice(payload);
        self.stream
            .write_all(&packet(0x32, &body))
            .await
            .expect("PUBLISH sent");
        let ack = self.expect(0x40).await;
        assert_eq!(ack[..2], pkid.to_be_bytes(), "PUBACK for our publish");
    }

    /// Publishes a device event on `table` as `device` with `seq`.
    async fn event(&mut self, table: &str, device: &str, seq: u64, event: Value) {
        let mut event = event;
        event["device"] = json!(device);
        event["seq"] = json!(seq);
        let topic = format!("dojo/v1/tables/{table}/events");
        self.publish(&topic, event.to_string().as_bytes()).await;
    }

    /// Subscribes to `filter` at QoS 1; the SUBACK return code.
    async fn subscribe(&mut self, filter: &str) -> u8 {
        let pkid = self.next_pkid;
        self.next_pkid += 1;
        let mut body = pkid.to_be_bytes().to_vec();
        put_str(&mut body, filter.as_bytes());
        body.push(1);
        self.stream
            .write_all(&packet(0x82, &body))
            .await
            .expect("SUBSCRIBE sent");
        let ack = self.expect(0x90).await;
        assert_eq!(ack[..2], pkid.to_be_bytes(), "SUBACK for our subscribe");
        ack[2]
    }
}

/// Starts a nine-ball match on `table` of the agent at `base` (`http://…`).
async fn start_match(base: &str, table: &str) {
    let spec =
        json!({"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 3, "break": "alternate"});
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/tables/{table}/matches"))
        .bearer_auth(TOKEN)
        .json(&spec)
        .send()
        .await
        .expect("HTTP answers");
    assert_eq!(response.status().as_u16(), 201);
}

/// Waits (at most 15 s) until the agent's API shows ball `ball` off `table`: the device's pocket
/// event was committed and applied.
async fn pocketed(base: &str, table: &str, ball: u8) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let view: Value = reqwest::get(format!("{base}/api/v1/tables/{table}"))
            .await
            .expect("HTTP answers")
            .json()
            .await
            .unwrap_or(Value::Null);
        if view["on_table"]
            .as_array()
            .is_some_and(|on| !on.is_empty() && !on.contains(&json!(ball)))
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// A pocket of `ball` then `end_turn`, as `device` from `seq` on.
async fn pocket(raw: &mut Raw, table: &str, device: &str, seq: u64, ball: u8) {
    raw.event(
        table,
        device,
        seq,
        json!({"type": "pocket", "ball": ball, "pocket": 1}),
    )
    .await;
    raw.event(
        table,
        device,
        seq + 1,
        json!({"type": "button", "button": "end_turn"}),
    )
    .await;
}

/// The soft limit of open files raised to the hard one, so that this process (and the agent it
/// starts, which inherits it) can hold a full broker's connections.
fn raise_open_files() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        setrlimit(Resource::Nofile, raised).ok();
    }
    let needed = 2 * MAX_CONNECTIONS as u64 + 256;
    let has = getrlimit(Resource::Nofile).current;
    assert!(
        has.is_none_or(|n| n >= needed),
        "this test needs {needed} open files (ulimit -Hn), has {has:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_broker_refuses_cleanly_and_a_refused_client_id_connects_later() {
    raise_open_files();
    let dir = data_dir("broker-full");
    let agent = Process::start(EDGE_AGENT, &dir, &[]).await;
    start_match(&agent.http, "t40").await;
    let (mut honest, code) = Raw::connect(
        agent.mqtt,
        &Hello {
            client_id: "ctl-t40",
            ..Hello::default()
        },
    )
    .await;
    assert_eq!(code, Some(ACCEPTED));

    // Fill the broker: the agent's own link and `honest` hold two of its connections.
    let mut fillers = Vec::new();
    let refused = loop {
        assert!(fillers.len() <= MAX_CONNECTIONS, "the broker never filled");
        let id = format!("filler-{}", fillers.len());
        let (raw, code) = Raw::connect(
            agent.mqtt,
            &Hello {
                client_id: &id,
                ..Hello::default()
            },
        )
        .await;
        match code {
            Some(ACCEPTED) => fillers.push(raw),
            other => break other,
        }
    };
    assert_eq!(
        refused,
        Some(SERVER_UNAVAILABLE),
        "a full broker answers CONNACK 'server unavailable'"
    );
    assert_eq!(fillers.len(), MAX_CONNECTIONS - 2);

    // Refused once at the limit...
    let victim = Hello {
        client_id: "ctl-t41",
        ..Hello::default()
    };
    let (_, code) = Raw::connect(agent.mqtt, &victim).await;
    assert_eq!(code, Some(SERVER_UNAVAILABLE));
    // ...while the connected device is still heard and committed.
    pocket(&mut honest, "t40", "ctl-t40", 1, 2).await;
    assert!(
        pocketed(&agent.http, "t40", 2).await,
        "the agent stopped hearing devices at the connection limit"
    );

    // Free some room: the refused id connects (rumqttd 0.20 panicked here, for good).
    fillers.truncate(fillers.len() - 8);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut victim_link = loop {
        let (raw, code) = Raw::connect(agent.mqtt, &victim).await;
        match code {
            Some(ACCEPTED) => break raw,
            Some(SERVER_UNAVAILABLE) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("the once-refused client id got {other:?} on a broker with room"),
        }
    };
    // And any other client still connects (no poisoned lock).
    let (_, code) = Raw::connect(
        agent.mqtt,
        &Hello {
            client_id: "late-comer",
            ..Hello::default()
        },
    )
    .await;
    assert_eq!(code, Some(ACCEPTED));

    start_match(&agent.http, "t41").await;
    pocket(&mut victim_link, "t41", "ctl-t41", 1, 3).await;
    assert!(
        pocketed(&agent.http, "t41", 3).await,
        "the reconnected device is not heard"
    );
    pocket(&mut honest, "t40", "ctl-t40", 3, 4).await;
    assert!(pocketed(&agent.http, "t40", 4).await);
    drop(fillers);
    drop(agent);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn nobody_takes_over_the_agents_own_link() {
    let dir = data_dir("broker-link");
    let agent = Process::start(EDGE_AGENT, &dir, &[]).await;
    start_match(&agent.http, "t42").await;
    for _ in 0..3 {
        let (_, code) = Raw::connect(
            agent.mqtt,
            &Hello {
                client_id: LINK_ID,
                ..Hello::default()
            },
        )
        .await;
        assert_eq!(code, Some(IDENTIFIER_REJECTED), "CONNECT as {LINK_ID}");
    }
    let (mut ctl, code) = Raw::connect(
        agent.mqtt,
        &Hello {
            client_id: "ctl-t42",
            ..Hello::default()
        },
    )
    .await;
    assert_eq!(code, Some(ACCEPTED));
    pocket(&mut ctl, "t42", "ctl-t42", 1, 5).await;
    assert!(
        pocketed(&agent.http, "t42", 5).await,
        "the agent stopped hearing devices after a CONNECT with its own client id"
    );
    drop(agent);
    std::fs::remove_dir_all(dir).ok();
}

// ---- Authenticated mode ----------------------------------------------------------------------

fn provisioned(id: &str, tables: &[&str], secret: &str) -> Provisioned {
    Provisioned {
        id: id.to_owned(),
        tables: tables.iter().map(|t| (*t).to_owned()).collect(),
        secret_sha256: Sha256::digest(secret.as_bytes()).into(),
    }
}

/// An agent in this process whose broker lets in only `bridge-a` (tables t43, t44, secret
/// `secret-a`) and `bridge-b` (t45, `secret-b`).
async fn authenticated_agent(dir: &std::path::Path) -> Agent {
    let devices = vec![
        provisioned("bridge-a", &["t43", "t44"], "secret-a"),
        provisioned("bridge-b", &["t45"], "secret-b"),
    ];
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let mut config = config(dir, MqttMode::Embedded { listen });
    config.allow_anonymous_devices = false;
    let shutdown = CancellationToken::new();
    let running = edge_agent::start_with_devices(config, devices, shutdown.clone())
        .await
        .expect("the agent starts");
    Agent {
        running,
        shutdown,
        mqtt: listen,
    }
}

#[tokio::test]
async fn authenticated_broker_refuses_strangers_impostors_and_its_own_link_id() {
    let dir = data_dir("broker-auth");
    let agent = authenticated_agent(&dir).await;
    let base = agent.url("");
    start_match(&base, "t43").await;
    let a = Hello {
        client_id: "bridge-a-4242",
        login: Some(("bridge-a", "secret-a")),
        will: Some((
            "dojo/v1/devices/bridge-a/status",
            br#"{"status":"offline"}"#,
        )),
    };
    let (mut bridge_a, code) = Raw::connect(agent.mqtt, &a).await;
    assert_eq!(code, Some(ACCEPTED));

    let refusals: [(Hello<'_>, u8); 7] = [
        (
            Hello {
                client_id: "stranger",
                ..Hello::default()
            },
            NOT_AUTHORIZED,
        ),
        (
            Hello {
                client_id: "bridge-a",
                login: Some(("bridge-a", "guess")),
                ..Hello::default()
            },
            BAD_CREDENTIALS,
        ),
        (
            Hello {
                client_id: "nobody",
                login: Some(("nobody", "secret-a")),
                ..Hello::default()
            },
            BAD_CREDENTIALS,
        ),
        // bridge-b may not take bridge-a's session (the router would drop bridge-a's).
        (
            Hello {
                client_id: "bridge-a-4242",
                login: Some(("bridge-b", "secret-b")),
                ..Hello::default()
            },
            IDENTIFIER_REJECTED,
        ),
        (
            Hello {
                client_id: "bridge-bx",
                login: Some(("bridge-b", "secret-b")),
                ..Hello::default()
            },
            IDENTIFIER_REJECTED,
        ),
        (
            Hello {
                client_id: LINK_ID,
                login: Some(("bridge-b", "secret-b")),
                ..Hello::default()
            },
            IDENTIFIER_REJECTED,
        ),
        // A last-will speaking for another device.
        (
            Hello {
                client_id: "bridge-b",
                login: Some(("bridge-b", "secret-b")),
                will: Some((
                    "dojo/v1/devices/bridge-a/status",
                    br#"{"status":"offline"}"#,
                )),
            },
            NOT_AUTHORIZED,
        ),
    ];
    for (hello, expected) in &refusals {
        let (_, code) = Raw::connect(agent.mqtt, hello).await;
        assert_eq!(code, Some(*expected), "CONNECT as {:?}", hello.client_id);
    }
    let (_, code) = Raw::connect(
        agent.mqtt,
        &Hello {
            client_id: "bridge-b",
            login: Some(("bridge-b", "secret-b")),
            ..Hello::default()
        },
    )
    .await;
    assert_eq!(code, Some(ACCEPTED));

    // bridge-a's session survived all of that and is heard.
    pocket(&mut bridge_a, "t43", "bridge-a", 1, 6).await;
    assert!(
        pocketed(&base, "t43", 6).await,
        "the provisioned device is not heard"
    );
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_device_speaks_only_for_itself_and_its_tables() {
    let dir = data_dir("broker-speak");
    let agent = authenticated_agent(&dir).await;
    let base = agent.url("");
    start_match(&base, "t43").await;
    start_match(&base, "t45").await;
    let (mut a, code) = Raw::connect(
        agent.mqtt,
        &Hello {
            client_id: "bridge-a",
            login: Some(("bridge-a", "secret-a")),
            ..Hello::default()
        },
    )
    .await;
    assert_eq!(code, Some(ACCEPTED));
    let (mut b, code) = Raw::connect(
        agent.mqtt,
        &Hello {
            client_id: "bridge-b-1",
            login: Some(("bridge-b", "secret-b")),
            ..Hello::default()
        },
    )
    .await;
    assert_eq!(code, Some(ACCEPTED));

    // bridge-b's controller is first spoken for by bridge-b.
    pocket(&mut b, "t45", "ctl-t45", 1, 7).await;
    assert!(pocketed(&base, "t45", 7).await);
    // bridge-a for a table not its own (2 publishes), for bridge-b's controller (2), for bridge-b
    // itself (2), a status for bridge-b's table (1) and a command (1): each acknowledged
    // (PUBACK), none applied.
    pocket(&mut a, "t45", "ctl-t45", 3, 8).await;
    pocket(&mut a, "t43", "ctl-t45", 3, 8).await;
    pocket(&mut a, "t43", "bridge-b", 1, 8).await;
    a.publish(
        "dojo/v1/devices/ctl-t45/status",
        br#"{"status":"offline","table":"t45"}"#,
    )
    .await;
    a.publish(
        "dojo/v1/devices/ctl-t45/cmd",
        br#"{"type":"lights","on":false}"#,
    )
    .await;
    // Subscriptions: commands only.
    assert_eq!(a.subscribe("dojo/v1/#").await, 0x80);
    assert_eq!(a.subscribe("dojo/v1/devices/+/cmd").await, 1);
    // Its own controller on its own table is heard.
    pocket(&mut a, "t43", "ctl-t43", 1, 9).await;
    assert!(pocketed(&base, "t43", 9).await);

    let view: Value = reqwest::get(format!("{base}/api/v1/tables/t45"))
        .await
        .expect("HTTP answers")
        .json()
        .await
        .expect("JSON");
    assert!(
        view["on_table"]
            .as_array()
            .is_some_and(|on| on.contains(&json!(8))),
        "bridge-a's pocket on t45 was applied: {view}"
    );
    let metrics = agent.running.metrics.clone();
    wait_for("refused publishes counted", 10, || {
        metrics.rejected_count("unauthorized_table") == 3
            && metrics.rejected_count("not_this_device") == 5
    })
    .await;
    let text = reqwest::get(agent.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(text.contains(r#"reason="unauthorized_table""#), "{text}");
    assert!(text.contains(r#"reason="not_this_device""#), "{text}");
    agent.stop().await;
    assert_eq!(
        sql_count(
            &dir,
            "SELECT COUNT(*) FROM dead_letters WHERE reason IN ('unauthorized_table', 'not_this_device')"
        ),
        8
    );
    assert_eq!(
        sql_count(&dir, "SELECT COUNT(*) FROM events WHERE device = 'ctl-t45'"),
        2,
        "only bridge-b's own events for its controller"
    );
    assert_eq!(
        sql_count(
            &dir,
            "SELECT COUNT(*) FROM events WHERE device = 'bridge-b'"
        ),
        0
    );
    std::fs::remove_dir_all(dir).ok();
}
