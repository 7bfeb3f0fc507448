//! The state every task of one bridge process shares: the controllers it has heard (their
//! sessions, recent events and the port that serves them), the outbox of MQTT publishes, and the
//! counters. One `std::sync::Mutex`, never held across an `.await`; the MQTT task is woken through
//! a [`Notify`].
//!
//! **Sequence numbers and boots.** A controller numbers its sequenced frames 1, 2, 3, … from
//! power-up ([`crate::codec::Frame::seq`]); every sequenced frame becomes exactly one MQTT event
//! message (`hello` and `light_state` go out as `heartbeat`, the latter with an extra `"light"`
//! field), with `seq` = serial seq − `base`. Each *session* of a controller — from the first
//! `hello` this bridge process hears, or from a controller restart — is one MQTT *boot*: a random
//! 128-bit `boot` id carried by every event and by the controller's status (with
//! `replay_window` = [`RECENT_EVENTS`]), and `base` = the session's `hello` seq − 1, so every boot
//! numbers its messages from 1 (decision 0014). A restart is a `hello` whose seq is not above the
//! highest seq seen from the device (a retransmitted copy of the session's own `hello` is not a
//! restart); it empties the replay buffer (the old boot's events cannot be numbered in the new
//! one). Retransmitted frames go out again with their original seq, so MQTT shows duplicates and
//! gaps as the controller made them; edge-agent drops the duplicates. A `replay` for another boot
//! than the current one finds nothing.
//!
//! **Acks.** A controller frame is acked on the serial line (cumulative `ack`) once its MQTT
//! publish was acknowledged by the broker (PUBACK), never before; a frame still waiting in the
//! outbox is not queued twice when the controller retransmits it.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;
use shared::protocol::{
    DeviceCommand, DeviceEvent, DeviceMessage, DeviceStatus, Presence, events_topic, status_topic,
};
use tokio::sync::{Notify, mpsc};

use crate::codec::{Message, Reject, RejectCounts};

/// Recent events kept per controller to answer `replay` commands.
pub const RECENT_EVENTS: usize = 4096;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Host messages for the port task that serves a controller.
pub type PortTx = mpsc::Sender<Message>;

/// One MQTT publish waiting in the outbox or in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// An event message, QoS 1, not retained.
    Event {
        /// Controller id.
        device: String,
        /// Its serial seq, to ack once published; `None` for a replayed copy.
        serial: Option<u32>,
        /// MQTT seq (for logs).
        seq: u64,
        /// Topic.
        topic: String,
        /// JSON payload.
        payload: Vec<u8>,
    },
    /// The current retained status of a controller (or of the bridge itself), QoS 1.
    Status {
        /// Device (or bridge) id.
        device: String,
    },
}

/// Counters, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Controller frames turned into events (first copies and retransmissions).
    pub frames: u64,
    /// Events acknowledged by the broker.
    pub published: u64,
    /// Events dropped from a full outbox (oldest first).
    pub dropped: u64,
    /// Retransmitted frames not queued again because their first copy was still queued.
    pub deduplicated: u64,
    /// Events re-published for `replay` commands.
    pub replayed: u64,
    /// Replay requests passed on to a controller as `replay_from`.
    pub replay_from_sent: u64,
    /// Frames received before the controller's `hello` on that connection (ignored, not acked).
    pub before_hello: u64,
    /// Frames the serial decoders refused, by reason (every port, every connection).
    pub rejects: RejectCounts,
    /// Serial ports opened again after they were lost (unplug / re-plug, a reset adapter).
    pub port_reconnects: u64,
    /// Serial connections that ended (hang-up or error) while the bridge ran.
    pub ports_lost: u64,
    /// Successful MQTT connections (CONNACKs), the first included.
    pub mqtt_connects: u64,
}

/// The bridge's state at one instant, for the metrics endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The counters.
    pub stats: Stats,
    /// Events waiting in the outbox (in flight ones excluded).
    pub queued: usize,
    /// Controllers heard since the bridge started.
    pub controllers: usize,
    /// Of those, the ones shown online.
    pub controllers_online: usize,
    /// Whether the MQTT connection is up.
    pub mqtt_connected: bool,
}

#[derive(Debug)]
struct Device {
    /// The current session's MQTT boot id.
    boot: String,
    table: String,
    firmware: String,
    online: bool,
    last_seen_ms: u64,
    /// MQTT seq = serial seq − base.
    base: u64,
    /// Seq of the session's `hello`.
    hello_seq: u32,
    /// Highest serial seq seen this session.
    highest: u32,
    /// Cumulative serial ack: every frame up to here is published.
    acked: u32,
    /// Published frames above `acked`.
    done_above: BTreeSet<u32>,
    /// Serial seqs queued or in flight, not yet published.
    queued: HashSet<u32>,
    /// `(MQTT seq, topic, payload)`, oldest first.
    recent: VecDeque<(u64, String, Vec<u8>)>,
    /// The port task serving it now, with that task's id.
    port: Option<(u64, PortTx)>,
}

#[derive(Debug, Default)]
struct Inner {
    devices: HashMap<String, Device>,
    outbox: VecDeque<Item>,
    /// Devices whose status must be (re-)published.
    dirty: BTreeSet<String>,
    stats: Stats,
    bridge_online: bool,
    mqtt_connected: bool,
}

/// The shared state. See the module documentation.
#[derive(Debug)]
pub struct Bridge {
    bridge_id: String,
    buffer: usize,
    inner: Mutex<Inner>,
    /// Wakes the MQTT task when the outbox or a status changed.
    pub wake: Notify,
}

/// What the port task must do after a frame.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FrameOutcome {
    /// Host messages to write to the controller.
    pub reply: Vec<Message>,
}

impl Bridge {
    /// Empty state for bridge `bridge_id`, keeping at most `buffer` events while the broker is away.
    pub fn new(bridge_id: &str, buffer: usize) -> Bridge {
        Bridge {
            bridge_id: bridge_id.to_owned(),
            buffer: buffer.max(1),
            inner: Mutex::new(Inner::default()),
            wake: Notify::new(),
        }
    }

    /// The bridge's own id.
    pub fn bridge_id(&self) -> &str {
        &self.bridge_id
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent-enough counters; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.lock().stats
    }

    /// The counters and gauges, read under one lock so they agree with each other.
    pub fn snapshot(&self) -> Snapshot {
        let inner = self.lock();
        Snapshot {
            stats: inner.stats,
            queued: inner.outbox.len(),
            controllers: inner.devices.len(),
            controllers_online: inner.devices.values().filter(|d| d.online).count(),
            mqtt_connected: inner.mqtt_connected,
        }
    }

    /// Counts a frame a port's decoder refused.
    pub fn rejected(&self, reject: &Reject) {
        self.lock().stats.rejects.record(reject);
    }

    /// A port task opened its port; `again` if it had been open before (a reconnect).
    pub fn port_opened(&self, again: bool) {
        if again {
            self.lock().stats.port_reconnects += 1;
        }
    }

    /// The MQTT connection came up (`true`) or went down.
    pub fn mqtt_connected(&self, up: bool) {
        let mut inner = self.lock();
        if up {
            inner.stats.mqtt_connects += 1;
        }
        inner.mqtt_connected = up;
    }

    /// Events waiting for the broker.
    pub fn queued(&self) -> usize {
        self.lock().outbox.len()
    }

    /// The MQTT seq serial frame `serial` of controller `device` goes out as in its current boot
    /// (serial seq − the session's base); `None` for an unknown controller or a frame older than
    /// the session's `hello`.
    pub fn mqtt_seq(&self, device: &str, serial: u32) -> Option<u64> {
        let inner = self.lock();
        let base = inner.devices.get(device)?.base;
        u64::from(serial).checked_sub(base).filter(|&seq| seq > 0)
    }

    /// Whether a controller is shown online.
    pub fn online(&self, device: &str) -> Option<bool> {
        self.lock().devices.get(device).map(|d| d.online)
    }

    /// A controller said `hello` on port task `port_id`. Returns what to send it back.
    pub fn hello(
        &self,
        port_id: u64,
        tx: &PortTx,
        seq: u32,
        device_id: &str,
        firmware: &str,
        table: &str,
    ) -> FrameOutcome {
        let now = now_ms();
        let mut inner = self.lock();
        let device = inner
            .devices
            .entry(device_id.to_owned())
            .or_insert_with(|| Device {
                boot: new_boot_id(),
                table: table.to_owned(),
                firmware: firmware.to_owned(),
                online: false,
                last_seen_ms: now,
                base: u64::from(seq.saturating_sub(1)),
                hello_seq: seq,
                highest: seq.saturating_sub(1),
                acked: seq.saturating_sub(1),
                done_above: BTreeSet::new(),
                queued: HashSet::new(),
                recent: VecDeque::new(),
                port: None,
            });
        if seq <= device.highest && seq != device.hello_seq {
            // The controller restarted: a new session, a new boot.
            device.boot = new_boot_id();
            device.base = u64::from(seq) - 1;
            device.acked = seq - 1;
            device.highest = seq - 1;
            device.done_above.clear();
            device.queued.clear();
            device.recent.clear();
            tracing::info!(device = device_id, seq, boot = %device.boot, "controller restarted: new session");
        }
        device.hello_seq = seq;
        device.table = table.to_owned();
        device.firmware = firmware.to_owned();
        device.port = Some((port_id, tx.clone()));
        inner.dirty.insert(device_id.to_owned());
        drop(inner);
        self.wake.notify_one();
        FrameOutcome {
            reply: vec![Message::TimeSync { unix_ms: now }],
        }
    }

    /// A sequenced frame from controller `device_id` (after its `hello`), as an MQTT event. Returns
    /// what to send back (`replay_from` when a gap appears).
    pub fn event(
        &self,
        device_id: &str,
        serial: u32,
        event: DeviceEvent,
        light: Option<bool>,
    ) -> FrameOutcome {
        let now = now_ms();
        let mut inner = self.lock();
        let Inner {
            devices,
            outbox,
            dirty,
            stats,
            ..
        } = &mut *inner;
        let Some(device) = devices.get_mut(device_id) else {
            return FrameOutcome::default();
        };
        device.last_seen_ms = now;
        if !device.online {
            device.online = true;
            dirty.insert(device_id.to_owned());
        }
        let mut reply = Vec::new();
        if u64::from(serial) <= device.base {
            // Older than this session's hello: cannot be numbered.
            return FrameOutcome::default();
        }
        if serial > device.highest.saturating_add(1) {
            // A gap on the serial line: ask for it again at once.
            reply.push(Message::ReplayFrom {
                seq: device.highest + 1,
            });
            stats.replay_from_sent += 1;
        }
        device.highest = device.highest.max(serial);
        if device.queued.contains(&serial) {
            stats.deduplicated += 1;
            return FrameOutcome { reply };
        }
        // A frame published before (the controller missed our ack) goes out again: duplicates
        // stay visible upstream, and its PUBACK acks it again.
        let seq = u64::from(serial) - device.base;
        let mut json = serde_json::to_value(DeviceMessage {
            device: device_id.to_owned(),
            seq,
            ts_ms: Some(now),
            boot: Some(device.boot.clone()),
            event,
        })
        .unwrap_or(Value::Null);
        if let (Some(on), Value::Object(map)) = (light, &mut json) {
            map.insert("light".into(), Value::Bool(on));
        }
        let payload = serde_json::to_vec(&json).unwrap_or_default();
        let topic = events_topic(&device.table);
        if !device
            .recent
            .iter()
            .rev()
            .take(64)
            .any(|(s, _, _)| *s == seq)
        {
            if device.recent.len() == RECENT_EVENTS {
                device.recent.pop_front();
            }
            device
                .recent
                .push_back((seq, topic.clone(), payload.clone()));
        }
        device.queued.insert(serial);
        stats.frames += 1;
        push_bounded(
            outbox,
            self.buffer,
            stats,
            devices,
            Item::Event {
                device: device_id.to_owned(),
                serial: Some(serial),
                seq,
                topic,
                payload,
            },
        );
        drop(inner);
        self.wake.notify_one();
        FrameOutcome { reply }
    }

    /// Counts a frame that came before the controller's `hello`.
    pub fn count_before_hello(&self) {
        self.lock().stats.before_hello += 1;
    }

    /// The controller has been silent for the heartbeat timeout (port still open).
    pub fn silent(&self, device_id: &str) {
        let mut inner = self.lock();
        if let Some(device) = inner.devices.get_mut(device_id)
            && device.online
        {
            device.online = false;
            tracing::warn!(device = device_id, "controller silent: reported offline");
            inner.dirty.insert(device_id.to_owned());
            drop(inner);
            self.wake.notify_one();
        }
    }

    /// A serial connection ended (hang-up or error), whether or not a controller had said hello.
    pub fn connection_lost(&self) {
        self.lock().stats.ports_lost += 1;
    }

    /// Port task `port_id` lost the port that served `device_id`.
    pub fn port_lost(&self, port_id: u64, device_id: &str) {
        let mut inner = self.lock();
        if let Some(device) = inner.devices.get_mut(device_id)
            && device.port.as_ref().is_some_and(|(id, _)| *id == port_id)
        {
            device.port = None;
            device.online = false;
            inner.dirty.insert(device_id.to_owned());
            drop(inner);
            self.wake.notify_one();
        }
    }

    /// A command from `dojo/v1/devices/{device}/cmd`; ignored for devices this bridge does not
    /// serve.
    pub fn command(&self, device_id: &str, command: DeviceCommand) {
        let mut inner = self.lock();
        let Inner {
            devices,
            outbox,
            stats,
            ..
        } = &mut *inner;
        let Some(device) = devices.get_mut(device_id) else {
            return;
        };
        let port = device.port.as_ref().map(|(_, tx)| tx.clone());
        match command {
            DeviceCommand::Replay {
                from_seq,
                to_seq,
                boot,
            } => {
                if boot.as_ref().is_some_and(|boot| *boot != device.boot) {
                    tracing::info!(
                        device = device_id,
                        from_seq,
                        to_seq,
                        "replay request for an earlier boot: nothing to send"
                    );
                    return;
                }
                // A request spans at most the buffer: nothing older is kept.
                let to_seq = to_seq.min(from_seq.saturating_add(RECENT_EVENTS as u64));
                let mut found = HashSet::new();
                let mut items = Vec::new();
                for (seq, topic, payload) in &device.recent {
                    if (from_seq..=to_seq).contains(seq) && found.insert(*seq) {
                        items.push(Item::Event {
                            device: device_id.to_owned(),
                            serial: None,
                            seq: *seq,
                            topic: topic.clone(),
                            payload: payload.clone(),
                        });
                    }
                }
                stats.replayed += items.len() as u64;
                let missing = (from_seq..=to_seq).find(|s| !found.contains(s));
                tracing::info!(
                    device = device_id,
                    from_seq,
                    to_seq,
                    republished = items.len(),
                    "replay request"
                );
                if let (Some(first), Some(tx)) = (missing, &port) {
                    // Not in our buffer: ask the controller, in its own numbering.
                    if let Ok(serial) = u32::try_from(first + device.base)
                        && tx.try_send(Message::ReplayFrom { seq: serial }).is_ok()
                    {
                        stats.replay_from_sent += 1;
                    }
                }
                for item in items {
                    push_bounded(outbox, self.buffer, stats, devices, item);
                }
            }
            DeviceCommand::Light { on } => {
                if let Some(tx) = &port {
                    let _ = tx.try_send(Message::Light { on });
                }
            }
            DeviceCommand::Identify => {
                if let Some(tx) = &port {
                    let _ = tx.try_send(Message::Identify { seconds: 10 });
                }
            }
        }
        drop(inner);
        self.wake.notify_one();
    }

    /// The next publish for the MQTT task: statuses first, then events in order.
    pub fn next_item(&self) -> Option<Item> {
        let mut inner = self.lock();
        if let Some(device) = inner.dirty.pop_first() {
            return Some(Item::Status { device });
        }
        inner.outbox.pop_front()
    }

    /// Whether nothing waits to be published.
    pub fn next_item_is_none(&self) -> bool {
        let inner = self.lock();
        inner.dirty.is_empty() && inner.outbox.is_empty()
    }

    /// Puts unacknowledged publishes back (the connection dropped), in their original order.
    pub fn requeue(&self, items: Vec<Item>) {
        let mut inner = self.lock();
        for item in items.into_iter().rev() {
            match item {
                Item::Status { device } => {
                    inner.dirty.insert(device);
                }
                event @ Item::Event { .. } => inner.outbox.push_front(event),
            }
        }
        let Inner {
            devices,
            outbox,
            stats,
            ..
        } = &mut *inner;
        trim(outbox, self.buffer, stats, devices);
    }

    /// Marks every status for publishing (after a (re)connect).
    pub fn all_dirty(&self) {
        let mut inner = self.lock();
        let ids: Vec<String> = inner.devices.keys().cloned().collect();
        inner.dirty.extend(ids);
        inner.dirty.insert(self.bridge_id.clone());
        inner.bridge_online = true;
    }

    /// Marks everything offline (shutting down) and queues the statuses.
    pub fn all_offline(&self) {
        let mut inner = self.lock();
        let mut ids = Vec::new();
        for (id, device) in &mut inner.devices {
            device.online = false;
            ids.push(id.clone());
        }
        inner.dirty.extend(ids);
        inner.dirty.insert(self.bridge_id.clone());
        inner.bridge_online = false;
    }

    /// The broker acknowledged `item`: acks the controller frame (cumulatively).
    pub fn published(&self, item: &Item) {
        let Item::Event {
            device: device_id,
            serial,
            ..
        } = item
        else {
            return;
        };
        let mut inner = self.lock();
        inner.stats.published += 1;
        let Some(serial) = serial else {
            return;
        };
        let Some(device) = inner.devices.get_mut(device_id) else {
            return;
        };
        device.queued.remove(serial);
        if *serial > device.acked {
            device.done_above.insert(*serial);
        }
        let before = device.acked;
        while device.done_above.remove(&(device.acked + 1)) {
            device.acked += 1;
        }
        if (device.acked != before || *serial <= before)
            && let Some((_, tx)) = &device.port
        {
            let _ = tx.try_send(Message::Ack { seq: device.acked });
        }
    }

    /// Topic and retained payload of a status item.
    pub fn status_payload(&self, device_id: &str) -> (String, Vec<u8>) {
        let inner = self.lock();
        let status = match inner.devices.get(device_id) {
            Some(d) => DeviceStatus {
                status: if d.online {
                    Presence::Online
                } else {
                    Presence::Offline
                },
                firmware: Some(d.firmware.clone()),
                table: Some(d.table.clone()),
                kind: Some("controller".into()),
                last_seen_ms: Some(d.last_seen_ms),
                boot: Some(d.boot.clone()),
                replay_window: Some(RECENT_EVENTS as u64),
            },
            None => bridge_status(inner.bridge_online),
        };
        (status_topic(device_id), status.encode())
    }
}

/// The bridge's own status; `{"status":"offline","kind":"bridge"}` is its last-will.
pub fn bridge_status(online: bool) -> DeviceStatus {
    DeviceStatus {
        status: if online {
            Presence::Online
        } else {
            Presence::Offline
        },
        firmware: Some(env!("CARGO_PKG_VERSION").to_owned()),
        table: None,
        kind: Some("bridge".into()),
        last_seen_ms: online.then(now_ms),
        boot: None,
        replay_window: None,
    }
}

/// A fresh MQTT boot id: 128 random bits in hex.
pub fn new_boot_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn push_bounded(
    outbox: &mut VecDeque<Item>,
    bound: usize,
    stats: &mut Stats,
    devices: &mut HashMap<String, Device>,
    item: Item,
) {
    outbox.push_back(item);
    trim(outbox, bound, stats, devices);
}

/// Drops the oldest events past `bound`, counting them.
fn trim(
    outbox: &mut VecDeque<Item>,
    bound: usize,
    stats: &mut Stats,
    devices: &mut HashMap<String, Device>,
) {
    while outbox.len() > bound {
        if let Some(Item::Event {
            device,
            serial,
            seq,
            ..
        }) = outbox.pop_front()
        {
            stats.dropped += 1;
            tracing::warn!(%device, seq, dropped = stats.dropped, "outbox full: oldest event dropped");
            if let (Some(serial), Some(d)) = (serial, devices.get_mut(&device)) {
                // Not published, not acked: the controller will send it again.
                d.queued.remove(&serial);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(bridge: &Bridge) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(item) = bridge.next_item() {
            if let Item::Event { seq, .. } = item {
                out.push(seq);
            }
        }
        out
    }

    #[test]
    fn a_full_outbox_drops_the_oldest_and_counts() {
        let bridge = Bridge::new("b", 3);
        let (tx, _rx) = mpsc::channel(16);
        bridge.hello(1, &tx, 1, "d", "1.0", "t");
        for s in 1..=6 {
            bridge.event("d", s, DeviceEvent::Heartbeat, None);
        }
        assert_eq!(bridge.stats().dropped, 3);
        assert_eq!(seqs(&bridge), vec![4, 5, 6]);
    }

    #[test]
    fn a_restart_numbers_the_hello_as_seq_1_and_acks_are_cumulative() {
        let bridge = Bridge::new("b", 100);
        let (tx, mut rx) = mpsc::channel(16);
        bridge.hello(1, &tx, 1, "d", "1.0", "t");
        for s in 1..=10 {
            bridge.event("d", s, DeviceEvent::Heartbeat, None);
        }
        // A retransmitted frame still queued is not queued twice.
        bridge.event("d", 10, DeviceEvent::Heartbeat, None);
        assert_eq!(bridge.stats().deduplicated, 1);
        let items: Vec<Item> = std::iter::from_fn(|| bridge.next_item()).collect();
        // PUBACK of 2 before 1 (not possible in one connection, but the ack must stay cumulative).
        let events: Vec<&Item> = items
            .iter()
            .filter(|i| matches!(i, Item::Event { .. }))
            .collect();
        bridge.published(events[1]);
        assert!(rx.try_recv().is_err(), "2 is not acked before 1");
        bridge.published(events[0]);
        assert_eq!(rx.try_recv().ok(), Some(Message::Ack { seq: 2 }));
        // The controller restarted, and its first frames were lost: hello seq 3 goes out as 1.
        bridge.hello(1, &tx, 3, "d", "1.0", "t");
        bridge.event("d", 3, DeviceEvent::Heartbeat, None);
        bridge.event("d", 4, DeviceEvent::Heartbeat, None);
        assert_eq!(seqs(&bridge), vec![1, 2]);
    }

    fn boots_and_seqs(bridge: &Bridge) -> Vec<(String, u64)> {
        std::iter::from_fn(|| bridge.next_item())
            .filter_map(|item| match item {
                Item::Event { payload, .. } => {
                    let message: DeviceMessage = serde_json::from_slice(&payload).ok()?;
                    Some((message.boot?, message.seq))
                }
                Item::Status { .. } => None,
            })
            .collect()
    }

    #[test]
    fn each_session_is_a_boot_numbered_from_1_and_replays_answer_only_their_boot() {
        let bridge = Bridge::new("b", 100);
        let (tx, _rx) = mpsc::channel(16);
        // A bridge that meets a controller already running: its session still starts at seq 1.
        bridge.hello(1, &tx, 41, "d", "1.0", "t");
        for s in 41..=43 {
            bridge.event("d", s, DeviceEvent::Heartbeat, None);
        }
        let first = boots_and_seqs(&bridge);
        let boot_a = first[0].0.clone();
        assert_eq!(
            first,
            vec![
                (boot_a.clone(), 1),
                (boot_a.clone(), 2),
                (boot_a.clone(), 3)
            ]
        );
        let (_, status) = bridge.status_payload("d");
        let status = DeviceStatus::decode(&status).expect("status");
        assert_eq!(status.boot.as_deref(), Some(boot_a.as_str()));
        assert_eq!(status.replay_window, Some(RECENT_EVENTS as u64));
        // The controller restarts: a new boot, from 1, and the old boot's buffer is gone.
        bridge.hello(1, &tx, 1, "d", "1.0", "t");
        bridge.event("d", 1, DeviceEvent::Heartbeat, None);
        let second = boots_and_seqs(&bridge);
        assert_eq!(second.len(), 1);
        assert_ne!(second[0].0, boot_a);
        assert_eq!(second[0].1, 1);
        let replay = |boot: Option<String>| DeviceCommand::Replay {
            from_seq: 1,
            to_seq: 3,
            boot,
        };
        bridge.command("d", replay(Some(boot_a)));
        assert!(boots_and_seqs(&bridge).is_empty(), "an old boot: nothing");
        bridge.command("d", replay(Some(second[0].0.clone())));
        assert_eq!(boots_and_seqs(&bridge), second, "the current boot's seq 1");
        bridge.command("d", replay(None));
        assert_eq!(boots_and_seqs(&bridge), second);
        // A huge request is bounded by the buffer (no endless scan).
        bridge.command(
            "d",
            DeviceCommand::Replay {
                from_seq: 1,
                to_seq: u64::MAX,
                boot: None,
            },
        );
        assert_eq!(boots_and_seqs(&bridge), second);
    }
}
