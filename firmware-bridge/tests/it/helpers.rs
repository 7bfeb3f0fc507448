//! Test harness: a Mosquitto child process and a rumqttc subscriber; the rest (free ports, temp
//! dirs, bounded waits, simulated controllers on pseudo-terminals) is shared with the other crates'
//! tests in `dojo-testkit`. Every wait is bounded. (Tests with edge-agent live in the workspace's
//! end-to-end crate, `tests/`.)

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) use dojo_testkit::serial::{Plugged, bridge_config, sim_options};
pub(crate) use dojo_testkit::{free_port, temp_dir, wait_for};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

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

    /// A broker with two loopback listeners: `addr` open to anyone (for the tests' subscribers) and
    /// the returned one letting in only `user` with `password` (Mosquitto's own password file,
    /// made with `mosquitto_passwd`).
    pub(crate) async fn start_with_login(
        dir: &Path,
        user: &str,
        password: &str,
    ) -> (Mosquitto, SocketAddr) {
        let (open, locked) = (free_port(), free_port());
        let passwords = dir.join("passwords");
        let made = Command::new("mosquitto_passwd")
            .arg("-c")
            .arg("-b")
            .arg(&passwords)
            .arg(user)
            .arg(password)
            .status()
            .expect("mosquitto_passwd runs (apt-get install mosquitto)");
        assert!(made.success(), "mosquitto_passwd failed");
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "per_listener_settings true\nlistener {open} 127.0.0.1\nallow_anonymous true\nlistener {locked} 127.0.0.1\nallow_anonymous false\npassword_file {}\nuser root\n",
                passwords.display()
            ),
        )
        .expect("mosquitto.conf");
        let mut broker = Mosquitto {
            addr: format!("127.0.0.1:{open}").parse().expect("addr"),
            conf,
            child: None,
        };
        broker.resume().await;
        let locked: SocketAddr = format!("127.0.0.1:{locked}").parse().expect("addr");
        wait_for("the locked listener", 10, || {
            TcpStream::connect(locked).is_ok()
        })
        .await;
        (broker, locked)
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
