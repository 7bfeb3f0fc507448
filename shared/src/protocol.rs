//! The MQTT wire contract between table devices (controllers, cameras) and the edge agent.
//!
//! Topics (all under `dojo/v1/`, see [`SUBSCRIBE_ALL`]):
//!
//! - `dojo/v1/tables/{table}/events`: table controllers (via firmware-bridge): pockets, cue return,
//!   buttons, rack, heartbeats;
//! - `dojo/v1/tables/{table}/camera`: camera units: shot start/end, first contact, rail contact,
//!   ball positions, heartbeats;
//! - `dojo/v1/devices/{device}/status`: retained presence ([`DeviceStatus`]), with a last-will of
//!   `offline`;
//! - `dojo/v1/devices/{device}/cmd`: commands to a device ([`DeviceCommand`]).
//!
//! Table and device ids in topics are 1–32 characters of `[A-Za-z0-9_-]` ([`valid_id`]).
//!
//! Every event payload is one JSON object ([`DeviceMessage`]):
//! `{"device":"ctl-1","seq":42,"ts_ms":1700000000000,"type":"pocket","ball":9,"pocket":3}`.
//! [`decode`] validates everything and says why it refused ([`Reject`]); serialising a
//! [`DeviceMessage`] with serde (or [`encode`]) produces exactly the wire JSON.
//!
//! The human-readable version of this contract is `docs/protocol.md`, section `## MQTT`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Subscribe to everything the agent cares about.
pub const SUBSCRIBE_ALL: &str = "dojo/v1/#";

/// Largest accepted payload, in bytes; bigger is [`Reject::Oversize`].
pub const MAX_PAYLOAD: usize = 16 * 1024;

/// Longest table or device id in a topic.
pub const MAX_ID_LEN: usize = 32;

/// Longest `device` field in a payload.
pub const MAX_DEVICE_LEN: usize = 64;

/// Most balls in one `shot_end` or `frame`.
pub const MAX_BALLS: usize = 16;

/// Highest ball number (0 is the cue ball).
pub const MAX_BALL_NUMBER: u8 = 15;

/// Highest pocket number (pockets are 1..=6).
pub const MAX_POCKET_NUMBER: u8 = 6;

// ---------------------------------------------------------------------------------------------
// Topics
// ---------------------------------------------------------------------------------------------

/// Which stream of a table a message came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// `dojo/v1/tables/{table}/events`: the table controller.
    Events,
    /// `dojo/v1/tables/{table}/camera`: a camera unit.
    Camera,
}

impl Channel {
    /// The last topic segment: `events` or `camera`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Events => "events",
            Channel::Camera => "camera",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed `dojo/v1/...` topic, borrowing its ids from the topic string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic<'a> {
    /// `dojo/v1/tables/{table}/{events|camera}`.
    Table {
        /// Table id.
        table: &'a str,
        /// Which stream.
        channel: Channel,
    },
    /// `dojo/v1/devices/{device}/status`.
    DeviceStatus {
        /// Device id.
        device: &'a str,
    },
    /// `dojo/v1/devices/{device}/cmd`.
    DeviceCmd {
        /// Device id.
        device: &'a str,
    },
}

impl fmt::Display for Topic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Table { table, channel } => write!(f, "dojo/v1/tables/{table}/{channel}"),
            Topic::DeviceStatus { device } => write!(f, "dojo/v1/devices/{device}/status"),
            Topic::DeviceCmd { device } => write!(f, "dojo/v1/devices/{device}/cmd"),
        }
    }
}

/// Whether `id` is an acceptable table or device id in a topic: 1–32 characters of
/// `[A-Za-z0-9_-]`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Longest `boot` id.
pub const MAX_BOOT_LEN: usize = 64;

/// Largest `replay_window` a status may announce; a bigger one counts as this.
pub const MAX_REPLAY_WINDOW: u64 = 65_536;

/// Whether `boot` is an acceptable boot id: 1–64 characters of `[A-Za-z0-9_.:-]` (the same
/// alphabet as a device id; 128 random bits in hex are the usual choice).
pub fn valid_boot(boot: &str) -> bool {
    valid_device(boot) && boot.len() <= MAX_BOOT_LEN
}

/// Whether `device` is an acceptable `device` field in a payload: 1–64 characters of
/// `[A-Za-z0-9_.:-]`.
pub fn valid_device(device: &str) -> bool {
    !device.is_empty()
        && device.len() <= MAX_DEVICE_LEN
        && device
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// Parses a topic; `None` for anything that is not exactly one of the four shapes with valid ids.
pub fn parse_topic(topic: &str) -> Option<Topic<'_>> {
    let rest = topic.strip_prefix("dojo/v1/")?;
    let mut parts = rest.split('/');
    let kind = parts.next()?;
    let id = parts.next()?;
    let leaf = parts.next()?;
    if parts.next().is_some() || !valid_id(id) {
        return None;
    }
    match (kind, leaf) {
        ("tables", "events") => Some(Topic::Table {
            table: id,
            channel: Channel::Events,
        }),
        ("tables", "camera") => Some(Topic::Table {
            table: id,
            channel: Channel::Camera,
        }),
        ("devices", "status") => Some(Topic::DeviceStatus { device: id }),
        ("devices", "cmd") => Some(Topic::DeviceCmd { device: id }),
        _ => None,
    }
}

/// `dojo/v1/tables/{table}/events`.
pub fn events_topic(table: &str) -> String {
    format!("dojo/v1/tables/{table}/events")
}

/// `dojo/v1/tables/{table}/camera`.
pub fn camera_topic(table: &str) -> String {
    format!("dojo/v1/tables/{table}/camera")
}

/// `dojo/v1/devices/{device}/status`.
pub fn status_topic(device: &str) -> String {
    format!("dojo/v1/devices/{device}/status")
}

/// `dojo/v1/devices/{device}/cmd`.
pub fn cmd_topic(device: &str) -> String {
    format!("dojo/v1/devices/{device}/cmd")
}

// ---------------------------------------------------------------------------------------------
// Event payloads
// ---------------------------------------------------------------------------------------------

/// One message from a device on a table channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceMessage {
    /// The sending device: 1–64 characters of `[A-Za-z0-9_.:-]`.
    pub device: String,
    /// Per-device sequence number, increasing by one per message (gaps are detected and replayed).
    pub seq: u64,
    /// The device's own clock, ms since the Unix epoch, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts_ms: Option<u64>,
    /// Which boot of the device numbered this message ([`valid_boot`]): a device picks a new
    /// random boot id each time it starts numbering from 1 again, and announces it in its
    /// [`DeviceStatus`]. Absent from devices that predate it (see `docs/protocol.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
    /// What happened (`type` and its fields, inline in the same object).
    #[serde(flatten)]
    pub event: DeviceEvent,
}

/// What a device reports. Serialised inline in [`DeviceMessage`] with a `type` tag.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeviceEvent {
    /// Controller: a ball dropped into a pocket. `ball` 0..=15 (0 = cue ball), `pocket` 1..=6.
    Pocket {
        /// Ball number, 0 = cue ball.
        ball: u8,
        /// Pocket number, 1..=6.
        pocket: u8,
    },
    /// Controller: the cue ball came back through the return (a scratch).
    CueReturn,
    /// Controller: a table button was pressed.
    Button {
        /// Which button.
        button: Button,
    },
    /// Controller: a new rack is ready.
    Rack,
    /// Controller or camera: I am alive.
    Heartbeat,
    /// Camera: the cue stick struck the cue ball.
    ShotStart,
    /// Camera: the first ball the cue ball touched, 1..=15.
    FirstContact {
        /// Object ball number.
        ball: u8,
    },
    /// Camera: a ball touched a rail after first contact.
    RailContact,
    /// Camera: everything stopped; the balls still on the table.
    ShotEnd {
        /// Positions of the balls on the table (at most 16, distinct numbers).
        balls: Vec<BallPosition>,
    },
    /// Camera: a position snapshot (not a rules event).
    Frame {
        /// Positions of the balls on the table (at most 16, distinct numbers).
        balls: Vec<BallPosition>,
    },
}

/// Every `type` a table channel accepts.
pub const EVENT_TYPES: [&str; 10] = [
    "pocket",
    "cue_return",
    "button",
    "rack",
    "heartbeat",
    "shot_start",
    "first_contact",
    "rail_contact",
    "shot_end",
    "frame",
];

impl DeviceEvent {
    /// The wire `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            DeviceEvent::Pocket { .. } => "pocket",
            DeviceEvent::CueReturn => "cue_return",
            DeviceEvent::Button { .. } => "button",
            DeviceEvent::Rack => "rack",
            DeviceEvent::Heartbeat => "heartbeat",
            DeviceEvent::ShotStart => "shot_start",
            DeviceEvent::FirstContact { .. } => "first_contact",
            DeviceEvent::RailContact => "rail_contact",
            DeviceEvent::ShotEnd { .. } => "shot_end",
            DeviceEvent::Frame { .. } => "frame",
        }
    }

    /// Whether this event may arrive on `channel`: controller events on `events`, camera events
    /// on `camera`, heartbeats on both.
    pub fn allowed_on(&self, channel: Channel) -> bool {
        match self {
            DeviceEvent::Heartbeat => true,
            DeviceEvent::Pocket { .. }
            | DeviceEvent::CueReturn
            | DeviceEvent::Button { .. }
            | DeviceEvent::Rack => channel == Channel::Events,
            DeviceEvent::ShotStart
            | DeviceEvent::FirstContact { .. }
            | DeviceEvent::RailContact
            | DeviceEvent::ShotEnd { .. }
            | DeviceEvent::Frame { .. } => channel == Channel::Camera,
        }
    }

    fn validate(&self) -> Result<(), String> {
        match self {
            DeviceEvent::Pocket { ball, pocket } => {
                if *ball > MAX_BALL_NUMBER {
                    return Err(format!("ball {ball} does not exist (0 = cue ball, 1..15)"));
                }
                if !(1..=MAX_POCKET_NUMBER).contains(pocket) {
                    return Err(format!("pocket {pocket} does not exist (pockets are 1..6)"));
                }
                Ok(())
            }
            DeviceEvent::FirstContact { ball } => {
                if !(1..=MAX_BALL_NUMBER).contains(ball) {
                    return Err(format!(
                        "first contact ball {ball} does not exist (object balls are 1..15)"
                    ));
                }
                Ok(())
            }
            DeviceEvent::ShotEnd { balls } | DeviceEvent::Frame { balls } => validate_balls(balls),
            DeviceEvent::CueReturn
            | DeviceEvent::Button { .. }
            | DeviceEvent::Rack
            | DeviceEvent::Heartbeat
            | DeviceEvent::ShotStart
            | DeviceEvent::RailContact => Ok(()),
        }
    }
}

fn validate_balls(balls: &[BallPosition]) -> Result<(), String> {
    if balls.len() > MAX_BALLS {
        return Err(format!(
            "{} balls listed (at most {MAX_BALLS})",
            balls.len()
        ));
    }
    let mut seen = 0u16;
    for b in balls {
        if b.n > MAX_BALL_NUMBER {
            return Err(format!("ball {} does not exist (0 = cue ball, 1..15)", b.n));
        }
        if seen & (1 << b.n) != 0 {
            return Err(format!("ball {} is listed twice", b.n));
        }
        seen |= 1 << b.n;
        for (axis, v) in [("x", b.x), ("y", b.y)] {
            if !v.is_finite() || !(0.0..=1.0).contains(&v) {
                return Err(format!("ball {} {axis} = {v} is outside 0..1", b.n));
            }
        }
    }
    Ok(())
}

/// A table button.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Button {
    /// Close the shot in progress: it goes to the rules.
    EndTurn,
    /// Referee-called foul on the shooter.
    Foul,
    /// Take back the last input.
    Undo,
    /// Declare the next shot a push-out (9-/10-ball, after the break).
    PushOut,
    /// Hand the table back (after a push-out, or a pass option).
    Pass,
    /// Declare the next shot a safety.
    Safety,
    /// The shooter concedes.
    Concede,
}

impl Button {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Button::EndTurn => "end_turn",
            Button::Foul => "foul",
            Button::Undo => "undo",
            Button::PushOut => "push_out",
            Button::Pass => "pass",
            Button::Safety => "safety",
            Button::Concede => "concede",
        }
    }
}

/// A ball's position as a camera sees it.
///
/// `x` and `y` are normalised table units, each `0.0..=1.0`, measured on the playing surface
/// (cushion nose to cushion nose), looking down with the head end at the bottom as in
/// `docs/rules.md`: `(0,0)` is the corner pocket 1, `x` runs across the table along the head rail
/// towards pocket 6 `(1,0)`, `y` runs up the long rail towards the foot end, pocket 3 `(0,1)`;
/// pocket 4 is `(1,1)` and the side pockets 2 and 5 are `(0,0.5)` and `(1,0.5)`. The axes are not to
/// scale (a table is twice as long as it is wide).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BallPosition {
    /// Ball number, 0 = cue ball, 1..=15.
    pub n: u8,
    /// Across the table (along the head rail, pocket 1 → 6), 0..=1.
    pub x: f32,
    /// Along the table (along the long rail, head → foot), 0..=1.
    pub y: f32,
}

/// Why a message was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// The payload is bigger than [`MAX_PAYLOAD`].
    #[error("payload larger than {MAX_PAYLOAD} bytes")]
    Oversize,
    /// The payload is not a JSON object.
    #[error("not a JSON object: {0}")]
    NotJson(String),
    /// The `type` is not one this protocol knows.
    #[error("unknown type {0:?}")]
    UnknownType(String),
    /// The JSON is well formed but a field is missing, mistyped or out of range.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// The topic is not one of the `dojo/v1/...` shapes.
    #[error("unknown topic")]
    UnknownTopic,
    /// A known type on the wrong channel (camera type on `events` or the reverse).
    #[error("type {0:?} is not accepted on this channel")]
    WrongChannel(String),
}

impl Reject {
    /// A short stable label, for metrics: `oversize`, `not_json`, `unknown_type`, `invalid`,
    /// `unknown_topic`, `wrong_channel`.
    pub fn reason(&self) -> &'static str {
        match self {
            Reject::Oversize => "oversize",
            Reject::NotJson(_) => "not_json",
            Reject::UnknownType(_) => "unknown_type",
            Reject::Invalid(_) => "invalid",
            Reject::UnknownTopic => "unknown_topic",
            Reject::WrongChannel(_) => "wrong_channel",
        }
    }
}

/// Parses `payload` into a JSON object, or says why not.
fn json_object(payload: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, Reject> {
    if payload.len() > MAX_PAYLOAD {
        return Err(Reject::Oversize);
    }
    match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(other) => Err(Reject::NotJson(format!(
            "expected an object, got {}",
            json_kind(&other)
        ))),
        Err(e) => Err(Reject::NotJson(e.to_string())),
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Decodes and validates one table-channel payload.
///
/// Checks, in order: size ([`Reject::Oversize`]), JSON object ([`Reject::NotJson`]), a known
/// string `type` ([`Reject::UnknownType`]; a missing or non-string `type` is
/// [`Reject::Invalid`]), the type belongs on `channel` ([`Reject::WrongChannel`]), then fields and
/// ranges ([`Reject::Invalid`]): `device` 1–64 of `[A-Za-z0-9_.:-]`, `seq` and `ts_ms` u64, balls
/// and pockets in range, at most 16 distinct positions with finite `x`,`y` in 0..=1. Unknown extra
/// fields are ignored (devices may add fields).
pub fn decode(channel: Channel, payload: &[u8]) -> Result<DeviceMessage, Reject> {
    let map = json_object(payload)?;
    let kind = match map.get("type") {
        Some(serde_json::Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(Reject::Invalid(format!(
                "\"type\" must be a string, got {}",
                json_kind(other)
            )));
        }
        None => return Err(Reject::Invalid("missing field \"type\"".into())),
    };
    if !EVENT_TYPES.contains(&kind) {
        return Err(Reject::UnknownType(truncate(kind, 64)));
    }
    let msg: DeviceMessage = serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| Reject::Invalid(e.to_string()))?;
    if !msg.event.allowed_on(channel) {
        return Err(Reject::WrongChannel(msg.event.type_name().to_owned()));
    }
    if !valid_device(&msg.device) {
        return Err(Reject::Invalid(format!(
            "device {:?} must be 1-{MAX_DEVICE_LEN} characters of A-Z a-z 0-9 _ - . :",
            truncate(&msg.device, 80)
        )));
    }
    if let Some(boot) = &msg.boot
        && !valid_boot(boot)
    {
        return Err(Reject::Invalid(format!(
            "boot {:?} must be 1-{MAX_BOOT_LEN} characters of A-Z a-z 0-9 _ - . :",
            truncate(boot, 80)
        )));
    }
    msg.event.validate().map_err(Reject::Invalid)?;
    Ok(msg)
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// The wire JSON of a message (what devices publish).
pub fn encode(msg: &DeviceMessage) -> Vec<u8> {
    to_json(msg)
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // These types have string keys and no maps, so serialising cannot fail; an empty payload
    // (refused by every decoder) is the safe answer if it ever did.
    serde_json::to_vec(value).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Presence
// ---------------------------------------------------------------------------------------------

/// Online or offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Connected.
    Online,
    /// Disconnected (said on purpose, or the broker's last-will).
    Offline,
}

/// A device's retained presence on `dojo/v1/devices/{device}/status`; the device also sets an
/// `{"status":"offline"}` last-will on the same topic, retained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStatus {
    /// Online or offline.
    pub status: Presence,
    /// Firmware version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    /// The table the device serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// `controller` or `camera`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// When the device last saw itself working, ms since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_ms: Option<u64>,
    /// The device's current boot ([`DeviceMessage::boot`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
    /// How many of its latest events the device keeps to answer [`DeviceCommand::Replay`]
    /// (0: it cannot replay). Absent: the agent assumes its default (`docs/protocol.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_window: Option<u64>,
}

impl DeviceStatus {
    /// The wire JSON.
    pub fn encode(&self) -> Vec<u8> {
        to_json(self)
    }

    /// Decodes a status payload. An empty payload (a cleared retained message) is
    /// [`Reject::NotJson`]; callers may treat it as "forget this device".
    pub fn decode(payload: &[u8]) -> Result<DeviceStatus, Reject> {
        let map = json_object(payload)?;
        let status: DeviceStatus = serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| Reject::Invalid(e.to_string()))?;
        if let Some(table) = &status.table
            && !valid_id(table)
        {
            return Err(Reject::Invalid(format!(
                "table {:?} must be 1-{MAX_ID_LEN} characters of A-Z a-z 0-9 _ -",
                truncate(table, 80)
            )));
        }
        if let Some(kind) = &status.kind
            && kind.len() > 32
        {
            return Err(Reject::Invalid("kind longer than 32 characters".into()));
        }
        if let Some(fw) = &status.firmware
            && fw.len() > 64
        {
            return Err(Reject::Invalid("firmware longer than 64 characters".into()));
        }
        if let Some(boot) = &status.boot
            && !valid_boot(boot)
        {
            return Err(Reject::Invalid(format!(
                "boot {:?} must be 1-{MAX_BOOT_LEN} characters of A-Z a-z 0-9 _ - . :",
                truncate(boot, 80)
            )));
        }
        Ok(status)
    }
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/// A command to a device on `dojo/v1/devices/{device}/cmd` (not retained, QoS 1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeviceCommand {
    /// Re-publish messages `from_seq..=to_seq` (gap repair); the device re-sends what it still has
    /// with the original `seq` (and `boot`). The agent asks again, less and less often, until the
    /// gap is filled or the device can no longer have the messages.
    Replay {
        /// First missing seq.
        from_seq: u64,
        /// Last missing seq (inclusive).
        to_seq: u64,
        /// The boot the seqs belong to; a device whose current boot differs has nothing to send.
        /// Absent: the device's current boot.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        boot: Option<String>,
    },
    /// Table light on or off.
    Light {
        /// On.
        on: bool,
    },
    /// Blink or beep so staff can find the device.
    Identify,
}

impl DeviceCommand {
    /// The wire JSON.
    pub fn encode(&self) -> Vec<u8> {
        to_json(self)
    }

    /// Decodes a command payload (for devices and the firmware-bridge).
    pub fn decode(payload: &[u8]) -> Result<DeviceCommand, Reject> {
        let map = json_object(payload)?;
        match map.get("type") {
            Some(serde_json::Value::String(s)) => {
                if !["replay", "light", "identify"].contains(&s.as_str()) {
                    return Err(Reject::UnknownType(truncate(s, 64)));
                }
            }
            _ => return Err(Reject::Invalid("missing or non-string \"type\"".into())),
        }
        let cmd: DeviceCommand = serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| Reject::Invalid(e.to_string()))?;
        if let DeviceCommand::Replay {
            from_seq, to_seq, ..
        } = cmd
            && from_seq > to_seq
        {
            return Err(Reject::Invalid(format!(
                "replay from_seq {from_seq} is after to_seq {to_seq}"
            )));
        }
        Ok(cmd)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    fn msg(event: DeviceEvent) -> DeviceMessage {
        DeviceMessage {
            device: "ctl-1".into(),
            seq: 7,
            ts_ms: Some(1_700_000_000_000),
            boot: None,
            event,
        }
    }

    fn json(m: &DeviceMessage) -> String {
        String::from_utf8(encode(m)).unwrap()
    }

    #[test]
    fn wire_json_is_exact() {
        assert_eq!(
            json(&msg(DeviceEvent::Pocket { ball: 9, pocket: 3 })),
            r#"{"device":"ctl-1","seq":7,"ts_ms":1700000000000,"type":"pocket","ball":9,"pocket":3}"#
        );
        let mut m = msg(DeviceEvent::CueReturn);
        m.ts_ms = None;
        assert_eq!(
            json(&m),
            r#"{"device":"ctl-1","seq":7,"type":"cue_return"}"#
        );
        assert_eq!(
            json(&msg(DeviceEvent::Button {
                button: Button::PushOut
            })),
            r#"{"device":"ctl-1","seq":7,"ts_ms":1700000000000,"type":"button","button":"push_out"}"#
        );
        assert_eq!(
            json(&msg(DeviceEvent::ShotEnd {
                balls: vec![BallPosition {
                    n: 0,
                    x: 0.25,
                    y: 0.5
                }]
            })),
            r#"{"device":"ctl-1","seq":7,"ts_ms":1700000000000,"type":"shot_end","balls":[{"n":0,"x":0.25,"y":0.5}]}"#
        );
    }

    #[test]
    fn topics_parse_and_build() {
        assert_eq!(
            parse_topic(&events_topic("t1")),
            Some(Topic::Table {
                table: "t1",
                channel: Channel::Events
            })
        );
        assert_eq!(
            parse_topic(&camera_topic("T_2-b")),
            Some(Topic::Table {
                table: "T_2-b",
                channel: Channel::Camera
            })
        );
        assert_eq!(
            parse_topic(&status_topic("cam-9")),
            Some(Topic::DeviceStatus { device: "cam-9" })
        );
        assert_eq!(
            parse_topic(&cmd_topic("cam-9")),
            Some(Topic::DeviceCmd { device: "cam-9" })
        );
        for t in ["dojo/v1/tables/t1/events", "dojo/v1/devices/d/cmd"] {
            assert_eq!(parse_topic(t).unwrap().to_string(), t);
        }
        let long = "a".repeat(33);
        for bad in [
            "",
            "dojo/v1/",
            "dojo/v1/tables/t1",
            "dojo/v1/tables/t1/events/x",
            "dojo/v1/tables//events",
            "dojo/v1/tables/t 1/events",
            "dojo/v1/tables/t.1/events",
            "dojo/v1/tables/t1/status",
            "dojo/v1/devices/d/events",
            "dojo/v2/tables/t1/events",
            "/dojo/v1/tables/t1/events",
            "dojo/v1/tables/t+/events",
            "dojo/v1/tables/é/events",
        ] {
            assert_eq!(parse_topic(bad), None, "{bad}");
        }
        assert_eq!(parse_topic(&events_topic(&long)), None);
        assert!(parse_topic(&events_topic(&long[..32])).is_some());
    }

    fn reject(channel: Channel, s: &str) -> Reject {
        decode(channel, s.as_bytes()).unwrap_err()
    }

    #[test]
    fn decode_refuses_with_reasons() {
        use Channel::{Camera, Events};
        assert_eq!(
            decode(Events, &vec![b' '; MAX_PAYLOAD + 1]).unwrap_err(),
            Reject::Oversize
        );
        assert_eq!(reject(Events, "nope").reason(), "not_json");
        assert_eq!(reject(Events, "[1]").reason(), "not_json");
        assert_eq!(reject(Events, "").reason(), "not_json");
        assert_eq!(
            reject(Events, r#"{"device":"d","seq":1,"type":"bounce"}"#),
            Reject::UnknownType("bounce".into())
        );
        assert_eq!(
            reject(Events, r#"{"device":"d","seq":1}"#).reason(),
            "invalid"
        );
        assert_eq!(
            reject(Events, r#"{"device":"d","seq":1,"type":3}"#).reason(),
            "invalid"
        );
        assert_eq!(
            reject(
                Events,
                r#"{"device":"d","seq":1,"type":"frame","balls":[]}"#
            ),
            Reject::WrongChannel("frame".into())
        );
        assert_eq!(
            reject(Camera, r#"{"device":"d","seq":1,"type":"rack"}"#),
            Reject::WrongChannel("rack".into())
        );
        let invalid = [
            (Events, r#"{"device":"d","seq":-1,"type":"rack"}"#),
            (Events, r#"{"device":"","seq":1,"type":"rack"}"#),
            (Events, r#"{"device":"a b","seq":1,"type":"rack"}"#),
            (Events, r#"{"seq":1,"type":"rack"}"#),
            (Events, r#"{"device":"d","type":"rack"}"#),
            (
                Events,
                r#"{"device":"d","seq":1,"ts_ms":"x","type":"rack"}"#,
            ),
            (
                Events,
                r#"{"device":"d","seq":1,"type":"pocket","ball":16,"pocket":1}"#,
            ),
            (
                Events,
                r#"{"device":"d","seq":1,"type":"pocket","ball":1,"pocket":0}"#,
            ),
            (
                Events,
                r#"{"device":"d","seq":1,"type":"pocket","ball":1,"pocket":7}"#,
            ),
            (
                Events,
                r#"{"device":"d","seq":1,"type":"pocket","ball":300,"pocket":1}"#,
            ),
            (Events, r#"{"device":"d","seq":1,"type":"pocket","ball":1}"#),
            (
                Events,
                r#"{"device":"d","seq":1,"type":"button","button":"jump"}"#,
            ),
            (
                Camera,
                r#"{"device":"d","seq":1,"type":"first_contact","ball":0}"#,
            ),
            (
                Camera,
                r#"{"device":"d","seq":1,"type":"first_contact","ball":16}"#,
            ),
            (
                Camera,
                r#"{"device":"d","seq":1,"type":"frame","balls":[{"n":16,"x":0,"y":0}]}"#,
            ),
            (
                Camera,
                r#"{"device":"d","seq":1,"type":"frame","balls":[{"n":1,"x":1.5,"y":0}]}"#,
            ),
            (
                Camera,
                r#"{"device":"d","seq":1,"type":"frame","balls":[{"n":1,"x":0,"y":-0.1}]}"#,
            ),
            (
                Camera,
                r#"{"device":"d","seq":1,"type":"frame","balls":[{"n":1,"x":1e300,"y":0}]}"#,
            ),
            (
                Camera,
                r#"{"device":"d","seq":1,"type":"frame","balls":[{"n":1,"x":0,"y":0},{"n":1,"x":0,"y":0}]}"#,
            ),
            (Camera, r#"{"device":"d","seq":1,"type":"shot_end"}"#),
            (Events, r#"{"device":"d","seq":1,"boot":"","type":"rack"}"#),
            (
                Events,
                r#"{"device":"d","seq":1,"boot":"a/b","type":"rack"}"#,
            ),
            (Events, r#"{"device":"d","seq":1,"boot":7,"type":"rack"}"#),
        ];
        for (ch, s) in invalid {
            let r = reject(ch, s);
            assert_eq!(r.reason(), "invalid", "{s}: {r}");
        }
        let seventeen: Vec<String> = (0..17)
            .map(|i| format!(r#"{{"n":{},"x":0.5,"y":0.5}}"#, i % 16))
            .collect();
        let s = format!(
            r#"{{"device":"d","seq":1,"type":"frame","balls":[{}]}}"#,
            seventeen.join(",")
        );
        assert!(reject(Camera, &s).to_string().contains("at most 16"));
    }

    #[test]
    fn decode_accepts_the_documented_examples() {
        use Channel::{Camera, Events};
        let ok = [
            (
                Events,
                r#"{"device":"ctl-t1","seq":1,"ts_ms":1700000000000,"type":"pocket","ball":0,"pocket":6}"#,
            ),
            (Events, r#"{"device":"ctl-t1","seq":2,"type":"cue_return"}"#),
            (
                Events,
                r#"{"device":"ctl-t1","seq":3,"type":"button","button":"end_turn"}"#,
            ),
            (Events, r#"{"device":"ctl-t1","seq":4,"type":"rack"}"#),
            (
                Events,
                r#"{"device":"ctl-t1","seq":4,"boot":"5d1e0c2a9b7f4e38","type":"rack"}"#,
            ),
            (
                Events,
                r#"{"device":"ctl-t1","seq":5,"type":"heartbeat","extra":"ignored"}"#,
            ),
            (Camera, r#"{"device":"cam-t1","seq":1,"type":"heartbeat"}"#),
            (Camera, r#"{"device":"cam-t1","seq":2,"type":"shot_start"}"#),
            (
                Camera,
                r#"{"device":"cam-t1","seq":3,"type":"first_contact","ball":1}"#,
            ),
            (
                Camera,
                r#"{"device":"cam-t1","seq":4,"type":"rail_contact"}"#,
            ),
            (
                Camera,
                r#"{"device":"cam-t1","seq":5,"type":"shot_end","balls":[{"n":0,"x":0.5,"y":0.25},{"n":9,"x":1,"y":0}]}"#,
            ),
            (
                Camera,
                r#"{"device":"cam-t1","seq":6,"type":"frame","balls":[]}"#,
            ),
        ];
        for (ch, s) in ok {
            decode(ch, s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    }

    #[test]
    fn status_and_commands() {
        let s = DeviceStatus {
            status: Presence::Online,
            firmware: Some("1.2.0".into()),
            table: Some("t1".into()),
            kind: Some("controller".into()),
            last_seen_ms: None,
            boot: None,
            replay_window: None,
        };
        assert_eq!(
            String::from_utf8(s.encode()).unwrap(),
            r#"{"status":"online","firmware":"1.2.0","table":"t1","kind":"controller"}"#
        );
        let booted = DeviceStatus {
            boot: Some("9f2c".into()),
            replay_window: Some(4096),
            ..s.clone()
        };
        assert_eq!(
            String::from_utf8(booted.encode()).unwrap(),
            r#"{"status":"online","firmware":"1.2.0","table":"t1","kind":"controller","boot":"9f2c","replay_window":4096}"#
        );
        assert_eq!(DeviceStatus::decode(&booted.encode()).unwrap(), booted);
        assert_eq!(
            DeviceStatus::decode(br#"{"status":"online","boot":"a b"}"#)
                .unwrap_err()
                .reason(),
            "invalid"
        );
        assert_eq!(DeviceStatus::decode(&s.encode()).unwrap(), s);
        assert_eq!(
            DeviceStatus::decode(br#"{"status":"offline"}"#)
                .unwrap()
                .status,
            Presence::Offline
        );
        assert!(DeviceStatus::decode(br#"{"status":"away"}"#).is_err());
        assert!(DeviceStatus::decode(b"").is_err());

        for (c, j) in [
            (
                DeviceCommand::Replay {
                    from_seq: 3,
                    to_seq: 9,
                    boot: None,
                },
                r#"{"type":"replay","from_seq":3,"to_seq":9}"#,
            ),
            (
                DeviceCommand::Replay {
                    from_seq: 3,
                    to_seq: 9,
                    boot: Some("b1".into()),
                },
                r#"{"type":"replay","from_seq":3,"to_seq":9,"boot":"b1"}"#,
            ),
            (
                DeviceCommand::Light { on: true },
                r#"{"type":"light","on":true}"#,
            ),
            (DeviceCommand::Identify, r#"{"type":"identify"}"#),
        ] {
            assert_eq!(String::from_utf8(c.encode()).unwrap(), j);
            assert_eq!(DeviceCommand::decode(j.as_bytes()).unwrap(), c);
        }
        assert_eq!(
            DeviceCommand::decode(br#"{"type":"reboot"}"#)
                .unwrap_err()
                .reason(),
            "unknown_type"
        );
        assert_eq!(
            DeviceCommand::decode(br#"{"type":"replay","from_seq":9,"to_seq":3}"#)
                .unwrap_err()
                .reason(),
            "invalid"
        );
    }

    fn button() -> impl Strategy<Value = Button> {
        prop_oneof![
            Just(Button::EndTurn),
            Just(Button::Foul),
            Just(Button::Undo),
            Just(Button::PushOut),
            Just(Button::Pass),
            Just(Button::Safety),
            Just(Button::Concede),
        ]
    }

    fn balls() -> impl Strategy<Value = Vec<BallPosition>> {
        (
            proptest::sample::subsequence((0u8..=15).collect::<Vec<_>>(), 0..=16),
            proptest::collection::vec((0.0f32..=1.0, 0.0f32..=1.0), 16),
        )
            .prop_map(|(ns, xy)| {
                ns.into_iter()
                    .zip(xy)
                    .map(|(n, (x, y))| BallPosition { n, x, y })
                    .collect()
            })
    }

    fn event() -> impl Strategy<Value = DeviceEvent> {
        prop_oneof![
            (0u8..=15, 1u8..=6).prop_map(|(ball, pocket)| DeviceEvent::Pocket { ball, pocket }),
            Just(DeviceEvent::CueReturn),
            button().prop_map(|button| DeviceEvent::Button { button }),
            Just(DeviceEvent::Rack),
            Just(DeviceEvent::Heartbeat),
            Just(DeviceEvent::ShotStart),
            (1u8..=15).prop_map(|ball| DeviceEvent::FirstContact { ball }),
            Just(DeviceEvent::RailContact),
            balls().prop_map(|balls| DeviceEvent::ShotEnd { balls }),
            balls().prop_map(|balls| DeviceEvent::Frame { balls }),
        ]
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(
            event in event(),
            device in "[A-Za-z0-9_.:-]{1,64}",
            seq in any::<u64>(),
            ts_ms in proptest::option::of(any::<u64>()),
            boot in proptest::option::of("[A-Za-z0-9_.:-]{1,64}"),
        ) {
            let m = DeviceMessage { device, seq, ts_ms, boot, event };
            let channel = if m.event.allowed_on(Channel::Events) { Channel::Events } else { Channel::Camera };
            let bytes = encode(&m);
            prop_assert_eq!(decode(channel, &bytes), Ok(m.clone()));
            if m.event != DeviceEvent::Heartbeat {
                let other = if channel == Channel::Events { Channel::Camera } else { Channel::Events };
                prop_assert_eq!(decode(other, &bytes).map_err(|e| e.reason()), Err("wrong_channel"));
            }
        }

        #[test]
        fn decode_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode(Channel::Events, &bytes);
            let _ = decode(Channel::Camera, &bytes);
            let _ = DeviceStatus::decode(&bytes);
            let _ = DeviceCommand::decode(&bytes);
        }

        #[test]
        fn decode_never_panics_on_json_like(s in r#"\{("[a-z_]{1,8}":([0-9.eE+-]{1,12}|"[a-z_0-9]{0,10}"|\[\{"n":[0-9]{1,3},"x":[0-9.e-]{1,6},"y":[0-9.e-]{1,6}\}\]|null|true),?){0,6}\}"#) {
            let _ = decode(Channel::Events, s.as_bytes());
            let _ = decode(Channel::Camera, s.as_bytes());
        }

        #[test]
        fn parse_topic_never_panics(s in "\\PC{0,80}") {
            let _ = parse_topic(&s);
        }
    }
}
