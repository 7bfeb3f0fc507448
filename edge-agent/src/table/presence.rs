//! Which devices a table has heard, and whether each shows online: device presence outlives
//! matches, comes back from the stored view after a restart (heartbeats are not logged), and tells
//! the engine which controllers switch the table light.

use shared::protocol::DeviceEvent;

use std::collections::BTreeMap;

use super::Table;
use crate::view::DevicePresence;

/// The most devices a table shows (and keeps in its view). Anyone on the network may speak under a
/// new device id; each one used to be stored again in every later view of the table, so the
/// database grew with the square of their number (issue 16, defect 5). A real table has a
/// controller and a camera or two; beyond this bound the device heard least recently is forgotten
/// (offline ones first) and shows again when it speaks.
pub(crate) const MAX_DEVICES: usize = 16;

/// Makes room for `device` among `devices` if it is new and the table is at [`MAX_DEVICES`].
fn make_room(devices: &mut BTreeMap<String, DevicePresence>, device: &str) {
    if devices.len() < MAX_DEVICES || devices.contains_key(device) {
        return;
    }
    let forgotten = devices
        .values()
        .min_by_key(|d| (d.online, d.last_seen_ms))
        .map(|d| d.device.clone());
    if let Some(forgotten) = forgotten {
        devices.remove(&forgotten);
    }
}

impl Table {
    /// A device's presence changed (its status topic, or silence past the timeout).
    pub(super) fn presence(&mut self, device: &str, online: bool, at_ms: u64) {
        make_room(&mut self.devices, device);
        let entry = self
            .devices
            .entry(device.to_owned())
            .or_insert_with(|| DevicePresence {
                device: device.to_owned(),
                kind: "controller",
                online,
                last_seen_ms: at_ms,
            });
        entry.online = online;
    }

    pub(super) fn heard(&mut self, device: &str, at_ms: u64, kind: &'static str) {
        make_room(&mut self.devices, device);
        let entry = self
            .devices
            .entry(device.to_owned())
            .or_insert_with(|| DevicePresence {
                device: device.to_owned(),
                kind,
                online: true,
                last_seen_ms: at_ms,
            });
        entry.online = true;
        entry.last_seen_ms = at_ms;
        // A device first known from its status (taken for a controller) shows what it is once it
        // speaks: the scoring mode depends on it.
        entry.kind = kind;
    }

    /// Restores device presence from the last stored view before a replay: heartbeats are not
    /// logged, and devices heard before the current match started are not in the replayed part of
    /// the log.
    pub fn seed_devices(&mut self, stored_view: &str) {
        let Ok(view) = serde_json::from_str::<serde_json::Value>(stored_view) else {
            return;
        };
        for seen in view["devices"].as_array().into_iter().flatten() {
            let (Some(device), Some(online), Some(last_seen_ms)) = (
                seen["device"].as_str(),
                seen["online"].as_bool(),
                seen["last_seen_ms"].as_u64(),
            ) else {
                continue;
            };
            let kind = if seen["kind"] == "camera" {
                "camera"
            } else {
                "controller"
            };
            let presence = DevicePresence {
                device: device.to_owned(),
                kind,
                online,
                last_seen_ms,
            };
            make_room(&mut self.devices, device);
            self.devices.insert(device.to_owned(), presence);
        }
    }

    /// The table controllers heard here (they switch the table light).
    pub fn controllers(&self) -> Vec<String> {
        self.devices
            .values()
            .filter(|d| d.kind == "controller")
            .map(|d| d.device.clone())
            .collect()
    }

    /// Whether a device is shown online here, if it is known at all.
    pub fn device_online(&self, device: &str) -> Option<bool> {
        self.devices.get(device).map(|d| d.online)
    }

    /// Marks a device as heard without logging (heartbeats); true if that brought it back online.
    pub fn heartbeat(&mut self, device: &str, at_ms: u64, kind: &'static str) -> bool {
        let was_online = self.devices.get(device).is_some_and(|d| d.online);
        self.heard(device, at_ms, kind);
        !was_online
    }

    /// Devices shown online but silent for `timeout_ms`.
    pub fn silent_devices(&self, now_ms: u64, timeout_ms: u64) -> Vec<String> {
        self.devices
            .values()
            .filter(|d| d.online && now_ms.saturating_sub(d.last_seen_ms) >= timeout_ms)
            .map(|d| d.device.clone())
            .collect()
    }
}

/// What kind of device sends `event`.
pub(super) fn kind_of(event: &DeviceEvent) -> &'static str {
    match event {
        DeviceEvent::ShotStart
        | DeviceEvent::FirstContact { .. }
        | DeviceEvent::RailContact
        | DeviceEvent::ShotEnd { .. }
        | DeviceEvent::Frame { .. } => "camera",
        _ => "controller",
    }
}

impl Table {
    /// A device of `kind` known on this table (the first by id), if any.
    pub fn device_of_kind(&self, kind: &str) -> Option<String> {
        self.devices
            .values()
            .find(|d| d.kind == kind)
            .map(|d| d.device.clone())
    }
}
