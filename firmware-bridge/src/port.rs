//! One task per serial port: open, read frames, publish them through [`Bridge`], write host frames,
//! and survive the port going away.
//!
//! - **Open**: exclusive (another process holding the port is an open error), the configured baud,
//!   8N1, stale input discarded, then a lone `0x00` (so line noise cannot merge with the first
//!   frame) and `replay_from` 0, which asks the controller for a fresh `hello`.
//! - **Disconnect**: on Linux an unplugged USB adapter or a closed pseudo-terminal makes `read`
//!   return `Ok(0)` at once and forever, or fail with `EIO`. Either ends the connection on the spot
//!   (never a busy loop): the controller is reported offline, the port is closed and opened again
//!   after 100 ms doubling to 5 s (±25 % jitter), for as long as it takes. Other ports are not
//!   touched: each has its own task.
//! - **Silence**: a controller that sends nothing (heartbeats included) for the heartbeat timeout
//!   is reported offline while the port stays open; its next frame brings it back.
//! - Frames before the controller's `hello` on this connection are not published (nor acked; the
//!   controller sends them again): the bridge asks for a `hello` and waits for it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shared::protocol::DeviceEvent;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_serial::{SerialPort, SerialPortBuilderExt};

use crate::bridge::Bridge;
use crate::codec::{Decoder, Frame, Message, Side, encode};
use crate::mqtt::jitter;

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

static NEXT_PORT_ID: AtomicU64 = AtomicU64::new(1);

/// Why a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// `read` returned `Ok(0)` (hang-up: unplugged, or the other end of a pty closed).
    Eof,
    /// A read or write error (`EIO` after an unplug).
    Error(String),
    /// Asked to stop.
    Stopped,
}

/// Opens a serial port as the bridge does.
pub fn open(path: &Path, baud: u32) -> std::io::Result<tokio_serial::SerialStream> {
    let port = tokio_serial::new(path.to_string_lossy(), baud)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(tokio_serial::Parity::None)
        .stop_bits(tokio_serial::StopBits::One)
        .flow_control(tokio_serial::FlowControl::None)
        .open_native_async()
        .map_err(std::io::Error::from)?;
    let _ = port.clear(tokio_serial::ClearBuffer::Input);
    Ok(port)
}

/// Serves one port until `stop` turns true: opens it, runs [`serve`], and re-opens it with backoff
/// whenever it fails or disappears.
pub async fn run(
    bridge: Arc<Bridge>,
    path: PathBuf,
    baud: u32,
    heartbeat_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = BACKOFF_MIN;
    let mut host_seq = 0u32;
    let mut logged_missing = false;
    let mut opened_before = false;
    while !*stop.borrow() {
        match open(&path, baud) {
            Ok(port) => {
                tracing::info!(port = %path.display(), baud, "serial port open");
                bridge.port_opened(opened_before);
                opened_before = true;
                logged_missing = false;
                let started = Instant::now();
                let ended = serve(
                    &bridge,
                    port,
                    &mut host_seq,
                    heartbeat_timeout,
                    &path.display().to_string(),
                    stop.clone(),
                )
                .await;
                if ended == Ended::Stopped {
                    return;
                }
                bridge.connection_lost();
                tracing::warn!(port = %path.display(), ?ended, "serial port lost; reopening");
                if started.elapsed() > Duration::from_secs(10) {
                    backoff = BACKOFF_MIN;
                }
            }
            Err(error) => {
                if !logged_missing {
                    tracing::warn!(port = %path.display(), %error, "cannot open serial port; retrying");
                    logged_missing = true;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(jitter(backoff)) => {}
            r = stop.changed() => if r.is_err() { return },
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Runs one connection on an open port (any byte stream) until it ends. `host_seq` numbers the
/// host's sequenced frames and carries over to the next connection.
pub async fn serve<P: AsyncRead + AsyncWrite + Unpin>(
    bridge: &Bridge,
    mut port: P,
    host_seq: &mut u32,
    heartbeat_timeout: Duration,
    name: &str,
    mut stop: watch::Receiver<bool>,
) -> Ended {
    let port_id = NEXT_PORT_ID.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel::<Message>(256);
    let mut decoder = Decoder::new(Side::Host);
    let mut frames = Vec::new();
    let mut buf = [0u8; 1024];
    let mut device: Option<String> = None;
    let mut last_heard = Instant::now();
    let mut asked_hello = Instant::now();
    let mut out = vec![0u8];
    push_frame(&mut out, host_seq, Message::ReplayFrom { seq: 0 });
    let mut ended = match port.write_all(&out).await {
        Ok(()) => None,
        Err(e) => Some(Ended::Error(e.to_string())),
    };
    let mut tick = tokio::time::interval((heartbeat_timeout / 4).max(Duration::from_millis(25)));
    while ended.is_none() {
        out.clear();
        tokio::select! {
            read = port.read(&mut buf) => match read {
                Ok(0) => ended = Some(Ended::Eof),
                Err(e) => ended = Some(Ended::Error(e.to_string())),
                Ok(n) => {
                    last_heard = Instant::now();
                    decoder.feed_with(&buf[..n], |result| match result {
                        Ok(frame) => frames.push(frame),
                        Err(reject) => {
                            tracing::debug!(port = name, %reject, "frame refused");
                            bridge.rejected(&reject);
                        }
                    });
                    for frame in frames.drain(..) {
                        handle(bridge, port_id, &tx, &mut device, frame, &mut out, host_seq, name, &mut asked_hello);
                    }
                }
            },
            Some(message) = rx.recv() => push_frame(&mut out, host_seq, message),
            _ = tick.tick() => {
                if last_heard.elapsed() >= heartbeat_timeout
                    && let Some(device) = &device {
                        bridge.silent(device);
                    }
            }
            r = stop.changed() => if r.is_err() || *stop.borrow() { ended = Some(Ended::Stopped) },
        }
        while let Ok(message) = rx.try_recv() {
            push_frame(&mut out, host_seq, message);
        }
        if !out.is_empty()
            && ended.is_none()
            && let Err(e) = port.write_all(&out).await
        {
            ended = Some(Ended::Error(e.to_string()));
        }
    }
    if let Some(device) = &device {
        bridge.port_lost(port_id, device);
    }
    ended.unwrap_or(Ended::Stopped)
}

/// Appends a host frame; `ack` is not sequenced (seq 0).
fn push_frame(out: &mut Vec<u8>, host_seq: &mut u32, message: Message) {
    let seq = if message.is_sequenced() {
        *host_seq = host_seq.checked_add(1).unwrap_or(1);
        *host_seq
    } else {
        0
    };
    match encode(&Frame::new(seq, message)) {
        Ok(bytes) => out.extend_from_slice(&bytes),
        Err(error) => tracing::error!(%error, "cannot encode a host frame"),
    }
}

#[allow(clippy::too_many_arguments)]
fn handle(
    bridge: &Bridge,
    port_id: u64,
    tx: &mpsc::Sender<Message>,
    device: &mut Option<String>,
    frame: Frame,
    out: &mut Vec<u8>,
    host_seq: &mut u32,
    name: &str,
    asked_hello: &mut Instant,
) {
    let seq = frame.seq;
    let (event, light) = match frame.message {
        Message::Hello {
            device_id,
            firmware,
            table,
            ..
        } => {
            tracing::info!(port = name, device = %device_id, %table, %firmware, seq, "controller hello");
            let outcome = bridge.hello(port_id, tx, seq, &device_id, &firmware, &table);
            for message in outcome.reply {
                push_frame(out, host_seq, message);
            }
            if let Some(previous) = device.replace(device_id.clone())
                && previous != device_id
            {
                bridge.port_lost(port_id, &previous);
            }
            (DeviceEvent::Heartbeat, None)
        }
        Message::Pocket { ball, pocket } => (DeviceEvent::Pocket { ball, pocket }, None),
        Message::CueReturn => (DeviceEvent::CueReturn, None),
        Message::Button(button) => (DeviceEvent::Button { button }, None),
        Message::RackReady => (DeviceEvent::Rack, None),
        Message::Heartbeat => (DeviceEvent::Heartbeat, None),
        Message::LightState { on } => (DeviceEvent::Heartbeat, Some(on)),
        // The controller acking our frames: we do not retransmit host frames, nothing to do.
        Message::Ack { .. } => return,
        // The decoder refuses host messages on this side.
        Message::Light { .. }
        | Message::TimeSync { .. }
        | Message::ReplayFrom { .. }
        | Message::Identify { .. } => return,
    };
    let Some(id) = device.as_deref() else {
        bridge.count_before_hello();
        if asked_hello.elapsed() >= Duration::from_millis(500) {
            *asked_hello = Instant::now();
            push_frame(out, host_seq, Message::ReplayFrom { seq: 0 });
        }
        return;
    };
    let outcome = bridge.event(id, seq, event, light);
    for message in outcome.reply {
        push_frame(out, host_seq, message);
    }
}
