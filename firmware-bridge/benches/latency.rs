//! Frame → MQTT latency of the bridge, with its floors, in one bounded run (`cargo bench -p
//! firmware-bridge --bench latency`; needs `mosquitto` on the PATH).
//!
//! - **pty**: a frame written on a pseudo-terminal's master until it is read on the slave (the
//!   serial hop alone).
//! - **mqtt**: a QoS 1 publish with rumqttc until a rumqttc subscriber has it, through the same
//!   Mosquitto broker (the MQTT hop alone).
//! - **bridge**: a controller frame written on the master until the subscriber has the event the
//!   bridge made of it (pty + decode + outbox + publish + broker + subscriber).
//!
//! One message per millisecond (latency, not throughput), 2,000 samples each, everything on
//! loopback; the whole run gives up after 120 s.

use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use firmware_bridge::codec::{Capabilities, Frame, Message, encode};
use firmware_bridge::config::BridgeConfig;
use rumqttc::{AsyncClient, Event, MqttOptions, NetworkOptions, Packet, QoS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

const SAMPLES: usize = 2000;
const PACE: Duration = Duration::from_millis(1);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn percentiles(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99), at(1.0))
}

fn report(name: &str, v: Vec<Duration>) {
    let n = v.len();
    let (p50, p99, max) = percentiles(v);
    println!("{name:<8} n={n:<5} p50 {p50:>7.1} µs   p99 {p99:>7.1} µs   max {max:>8.1} µs");
}

async fn client(port: u16, id: &str) -> (AsyncClient, rumqttc::EventLoop) {
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    let mut network = NetworkOptions::new();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    (client, eventloop)
}

/// A subscriber that reports `(seq, received at)` for every event payload.
async fn subscriber(port: u16, filter: &str) -> mpsc::UnboundedReceiver<(u64, Instant)> {
    let (client, mut eventloop) = client(port, &format!("bench-sub-{}", free_port())).await;
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let mut ready_tx = Some(ready_tx);
    let filter = filter.to_owned();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.subscribe(filter.clone(), QoS::AtLeastOnce).await;
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(r) = ready_tx.take() {
                        let _ = r.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let at = Instant::now();
                    let v: serde_json::Value =
                        serde_json::from_slice(&p.payload).unwrap_or_default();
                    if let Some(seq) = v["seq"].as_u64() {
                        let _ = tx.send((seq, at));
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    let _ = tokio::time::timeout(Duration::from_secs(10), ready_rx).await;
    rx
}

async fn pty_floor() -> Vec<Duration> {
    let pty = firmware_bridge::simulator::pty().expect("pty");
    let mut master = pty.master;
    let mut slave = pty.slave;
    let bytes = encode(&Frame::new(42, Message::Pocket { ball: 9, pocket: 3 })).expect("frame");
    let mut buf = [0u8; 64];
    let mut out = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let start = Instant::now();
        master.write_all(&bytes).await.expect("write");
        let mut got = 0;
        while got < bytes.len() {
            got += slave.read(&mut buf).await.expect("read");
        }
        out.push(start.elapsed());
        tokio::time::sleep(PACE).await;
    }
    out
}

async fn mqtt_floor(port: u16) -> Vec<Duration> {
    let mut rx = subscriber(port, "bench/floor").await;
    let (client, mut eventloop) = client(port, "bench-pub").await;
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let mut out = Vec::with_capacity(SAMPLES);
    for seq in 0..SAMPLES as u64 {
        let payload = format!("{{\"device\":\"bench\",\"seq\":{seq},\"type\":\"heartbeat\"}}");
        let start = Instant::now();
        client
            .publish("bench/floor", QoS::AtLeastOnce, false, payload)
            .await
            .expect("publish");
        while let Some((s, at)) = rx.recv().await {
            if s == seq {
                out.push(at - start);
                break;
            }
        }
        tokio::time::sleep(PACE).await;
    }
    out
}

async fn bridge_latency(port: u16) -> Vec<Duration> {
    let pty = firmware_bridge::simulator::pty().expect("pty");
    let mut rx = subscriber(port, "dojo/v1/tables/bench/events").await;
    let mut config = BridgeConfig::new(vec![pty.path.clone()], "127.0.0.1", port);
    config.bridge_id = "bench-bridge".into();
    let running = firmware_bridge::run(config);
    let (mut reader, mut writer) = tokio::io::split(pty.master);
    // Read (and discard) the bridge's acks so its writes never block.
    tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        while matches!(reader.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    let hello = Message::Hello {
        device_id: "ctl-bench".into(),
        firmware: "1.0".into(),
        table: "bench".into(),
        capabilities: Capabilities::POCKETS,
    };
    // Say hello until the bridge has the port open and published it.
    let mut seq = 1u32;
    loop {
        writer
            .write_all(&encode(&Frame::new(seq, hello.clone())).expect("frame"))
            .await
            .expect("write");
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            break;
        }
        seq += 1;
    }
    while rx.try_recv().is_ok() {}
    let mut out = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        seq += 1;
        let bytes =
            encode(&Frame::new(seq, Message::Pocket { ball: 9, pocket: 3 })).expect("frame");
        let start = Instant::now();
        writer.write_all(&bytes).await.expect("write");
        while let Some((s, at)) = rx.recv().await {
            if s == u64::from(seq) {
                out.push(at - start);
                break;
            }
        }
        tokio::time::sleep(PACE).await;
    }
    running.stop().await;
    out
}

fn main() {
    let dir = std::env::temp_dir().join(format!("fwbridge-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let port = free_port();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
    )
    .expect("conf");
    let mut broker = match Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            println!("latency bench skipped: cannot run mosquitto ({e})");
            return;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let result = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(120), async {
            let pty = pty_floor().await;
            let mqtt = mqtt_floor(port).await;
            let bridge = bridge_latency(port).await;
            (pty, mqtt, bridge)
        })
        .await
    });
    let _ = broker.kill();
    let _ = broker.wait();
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok((pty, mqtt, bridge)) => {
            println!(
                "frame → MQTT latency, {SAMPLES} samples each, one per {PACE:?}, Mosquitto on loopback"
            );
            report("pty", pty);
            report("mqtt", mqtt);
            report("bridge", bridge);
        }
        Err(_) => println!("latency bench gave up after 120 s"),
    }
}
