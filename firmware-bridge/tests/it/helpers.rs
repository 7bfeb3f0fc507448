//! Test harness: free ports, temp dirs, pseudo-terminals behind a stable symlink, a bridge, a
//! simulated controller in a task, a Mosquitto child process and a rumqttc subscriber. Every wait
//! is bounded. (Tests with edge-agent live in the workspace's end-to-end crate, `tests/`.)

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use firmware_bridge::config::BridgeConfig;
use firmware_bridge::simulator::{Controller, SimOptions, pty};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// A port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A fresh temporary directory.
pub(crate) fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "fwbridge-it-{name}-{}-{}",
        std::process::id(),
        firmware_bridge::bridge::now_ms()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Polls `check` every 20 ms for at most `secs` seconds.
pub(crate) async fn wait_for(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Fast simulator options for tests.
pub(crate) fn sim_options(table: &str, seed: u64) -> SimOptions {
    let mut opts = SimOptions::new(table);
    opts.seed = seed;
    opts.race_to = 2;
    opts.shot_gap = Duration::from_millis(40);
    opts.heartbeat = Duration::from_millis(200);
    opts.retransmit_after = Duration::from_millis(300);
    opts
}

/// A bridge configuration with test timings.
pub(crate) fn bridge_config(ports: Vec<PathBuf>, broker: SocketAddr) -> BridgeConfig {
    let mut config = BridgeConfig::new(ports, &broker.ip().to_string(), broker.port());
    config.bridge_id = format!("bridge-{}", free_port());
    config.heartbeat_timeout = Duration::from_millis(1500);
    config
}

/// A simulated controller playing on a pseudo-terminal reached through the symlink `link`.
pub(crate) struct Plugged {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<(Controller, std::io::Result<()>)>,
}

impl Plugged {
    /// Opens a new pseudo-terminal, points `link` at it and runs `controller` on it.
    pub(crate) fn plug(mut controller: Controller, link: &Path) -> Plugged {
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
    pub(crate) async fn unplug(self) -> Controller {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the simulator stops")
            .expect("the simulator task")
            .0
    }
}

/// A Mosquitto child process on a free loopback port, persisting to a temp dir so that a
/// persistent subscriber's session and queue survive a restart. (`user root`: run as root,
/// Mosquitto would switch to its own user and fail to write the temp dir; as anyone else it ignores
/// the option.)
pub(crate) struct Mosquitto {
    pub(crate) addr: SocketAddr,
    conf: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    pub(crate) async fn start(dir: &Path) -> Mosquitto {
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nmax_queued_messages 100000\nuser root\n",
                dir.display()
            ),
        )
        .expect("mosquitto.conf");
        let mut broker = Mosquitto {
            addr: format!("127.0.0.1:{port}").parse().expect("addr"),
            conf,
            child: None,
        };
        broker.resume().await;
        broker
    }

    /// Starts the broker again (same port, same persistence).
    pub(crate) async fn resume(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto runs (apt-get install mosquitto)");
        self.child = Some(child);
        let addr = self.addr;
        wait_for("mosquitto to listen", 10, || {
            TcpStream::connect(addr).is_ok()
        })
        .await;
    }

    /// Stops the broker with SIGTERM (it saves its sessions) and waits for it to exit.
    pub(crate) async fn pause(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A rumqttc subscriber with a persistent session, forwarding `(topic, JSON)` to a channel.
pub(crate) struct Subscriber {
    pub(crate) client: AsyncClient,
    pub(crate) rx: mpsc::UnboundedReceiver<(String, Value)>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    pub(crate) async fn connect(broker: SocketAddr, filter: &str) -> Subscriber {
        let mut options = MqttOptions::new(
            format!("it-sub-{}", free_port()),
            broker.ip().to_string(),
            broker.port(),
        );
        options
            .set_clean_session(false)
            .set_keep_alive(Duration::from_secs(5));
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready) = oneshot::channel();
        let mut ready_tx = Some(ready_tx);
        let sub = client.clone();
        let filter = filter.to_owned();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        if !ack.session_present {
                            let _ = sub.subscribe(filter.clone(), QoS::AtLeastOnce).await;
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(ready) = ready_tx.take() {
                            let _ = ready.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let value = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                        let _ = tx.send((p.topic.clone(), value));
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready)
            .await
            .expect("subscribed in time")
            .expect("subscribed");
        Subscriber { client, rx, task }
    }

    /// The next message on a topic that satisfies `keep`, within `secs` seconds.
    pub(crate) async fn next(
        &mut self,
        secs: u64,
        keep: impl Fn(&str, &Value) -> bool,
    ) -> (String, Value) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let (topic, value) = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no matching MQTT message within {secs} s"))
                .expect("subscriber running");
            if keep(&topic, &value) {
                return (topic, value);
            }
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}
