//! How a table is being scored right now, derived from the devices it has and whether each shows
//! online: `camera` (a camera brackets shots; pocket sensors report balls), `sensors` (pocket
//! sensors and end-turn buttons only) or `manual` (nothing working: staff and phones score). Pure:
//! the mode is a function of the device presence the table already keeps, so it needs no input of
//! its own and a replay derives the same mode.
//!
//! What staff must know about the scoring ([`ScoringFlag`]) is either derived here from presence
//! (a camera or controller known on the table but offline) or kept by the table as it happened
//! (a shot handed to the pocket sensors, a camera layout that disagrees with them; see
//! `fallback` and `layout`).

use serde::Serialize;

use crate::view::DevicePresence;

/// How a table is scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoringMode {
    /// A camera brackets each shot (first contact, rails, the layout at rest); pocket sensors, if
    /// any, report the balls.
    Camera,
    /// Pocket sensors and the controller's buttons only; a shot closes on `end_turn` or after the
    /// quiet period.
    Sensors,
    /// No working device: staff (and phones) score.
    Manual,
}

impl ScoringMode {
    /// The wire name (`camera`, `sensors`, `manual`), also the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            ScoringMode::Camera => "camera",
            ScoringMode::Sensors => "sensors",
            ScoringMode::Manual => "manual",
        }
    }
}

/// Something staff should see about how a table is scored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScoringFlag {
    /// `camera_offline`, `controller_offline`, `shot_handed_over` or `layout_mismatch`.
    pub kind: &'static str,
    /// The device concerned, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The event-log seq where it happened (kept flags only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// `layout_mismatch`: balls a pocket sensor reported that the camera still sees at rest.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub still_seen: Vec<u8>,
    /// `layout_mismatch`: balls gone from the camera's layout that no pocket sensor reported.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreported: Vec<u8>,
    /// One line for staff, in plain words.
    pub detail: String,
}

/// The `scoring` part of a table's view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScoringView {
    /// The mode.
    pub mode: ScoringMode,
    /// Device trouble (derived from presence) first, then what happened, oldest first.
    pub flags: Vec<ScoringFlag>,
}

/// The mode that the devices' presence allows: a camera online scores with the camera; else a
/// controller online scores with the sensors; else staff score by hand.
pub(super) fn derive(devices: &[DevicePresence]) -> ScoringMode {
    let online = |kind: &str| devices.iter().any(|d| d.kind == kind && d.online);
    if online("camera") {
        ScoringMode::Camera
    } else if online("controller") {
        ScoringMode::Sensors
    } else {
        ScoringMode::Manual
    }
}

/// Device trouble: a kind of device that the table has had but none of which is online now (a
/// replaced device that is back online through its successor is no trouble).
pub(super) fn device_flags(devices: &[DevicePresence]) -> Vec<ScoringFlag> {
    let mut flags = Vec::new();
    for (kind, flag, consequence) in [
        (
            "controller",
            "controller_offline",
            "pocket sensors and buttons are not reporting: score this table from the console",
        ),
        (
            "camera",
            "camera_offline",
            "shots are closed by the pocket sensors (end turn or the quiet period)",
        ),
    ] {
        let any_online = devices.iter().any(|d| d.kind == kind && d.online);
        let offline = devices.iter().find(|d| d.kind == kind && !d.online);
        if let (false, Some(device)) = (any_online, offline) {
            flags.push(ScoringFlag {
                kind: flag,
                device: Some(device.device.clone()),
                seq: None,
                still_seen: Vec::new(),
                unreported: Vec::new(),
                detail: format!("{kind} {} offline: {consequence}", device.device),
            });
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(device: &str, kind: &'static str, online: bool) -> DevicePresence {
        DevicePresence {
            device: device.into(),
            kind,
            online,
            last_seen_ms: 0,
        }
    }

    fn check(devices: &[DevicePresence], mode: ScoringMode, flags: &[&str]) {
        assert_eq!(derive(devices), mode, "{devices:?}");
        let kinds: Vec<&str> = device_flags(devices).iter().map(|f| f.kind).collect();
        assert_eq!(kinds, flags, "{devices:?}");
    }

    #[test]
    fn the_mode_follows_what_is_online() {
        use ScoringMode::{Camera, Manual, Sensors};
        check(&[], Manual, &[]);
        check(&[device("ctl", "controller", true)], Sensors, &[]);
        check(
            &[
                device("ctl", "controller", true),
                device("cam", "camera", true),
            ],
            Camera,
            &[],
        );
        // A camera alone still brackets shots; staff enter the balls.
        check(
            &[
                device("ctl", "controller", false),
                device("cam", "camera", true),
            ],
            Camera,
            &["controller_offline"],
        );
        check(
            &[
                device("ctl", "controller", true),
                device("cam", "camera", false),
            ],
            Sensors,
            &["camera_offline"],
        );
        check(
            &[
                device("ctl", "controller", false),
                device("cam", "camera", false),
            ],
            Manual,
            &["controller_offline", "camera_offline"],
        );
        // A replaced controller: the old one offline, its successor online.
        check(
            &[
                device("ctl-old", "controller", false),
                device("ctl-new", "controller", true),
            ],
            Sensors,
            &[],
        );
    }

    #[test]
    fn mode_names_are_the_wire_names() {
        for mode in [
            ScoringMode::Camera,
            ScoringMode::Sensors,
            ScoringMode::Manual,
        ] {
            assert_eq!(
                serde_json::to_value(mode).ok(),
                Some(serde_json::json!(mode.as_str()))
            );
        }
    }
}
