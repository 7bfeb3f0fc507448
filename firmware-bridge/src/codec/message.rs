//! The messages of protocol v1: their type codes, who may send them, and their body layouts.
//!
//! Every multi-byte integer is little-endian. A body has exactly the length its type says (strings
//! carry a one-byte length prefix); trailing bytes are an error, not an extension point: a new field
//! is a new type code or a new protocol version.

use shared::protocol::{Button, MAX_BALL_NUMBER, MAX_POCKET_NUMBER, valid_id};
use thiserror::Error;

/// Longest `device_id`, `firmware` or `table` string in a `hello`, in bytes.
pub const MAX_STR_LEN: usize = 32;

/// Largest body of any v1 message (`hello` with three 32-byte strings).
pub const MAX_BODY_LEN: usize = 3 * (1 + MAX_STR_LEN) + 1;

/// Type codes, fixed for protocol v1. Bit 7 set means "host → controller only".
pub mod code {
    /// `hello`, controller → host.
    pub const HELLO: u8 = 0x01;
    /// `pocket`, controller → host.
    pub const POCKET: u8 = 0x02;
    /// `cue_return`, controller → host.
    pub const CUE_RETURN: u8 = 0x03;
    /// `button`, controller → host.
    pub const BUTTON: u8 = 0x04;
    /// `rack_ready`, controller → host.
    pub const RACK_READY: u8 = 0x05;
    /// `heartbeat`, controller → host.
    pub const HEARTBEAT: u8 = 0x06;
    /// `light_state`, controller → host.
    pub const LIGHT_STATE: u8 = 0x07;
    /// `ack`, both directions.
    pub const ACK: u8 = 0x08;
    /// `light`, host → controller.
    pub const LIGHT: u8 = 0x81;
    /// `time_sync`, host → controller.
    pub const TIME_SYNC: u8 = 0x82;
    /// `replay_from`, host → controller.
    pub const REPLAY_FROM: u8 = 0x83;
    /// `identify`, host → controller.
    pub const IDENTIFY: u8 = 0x84;

    /// Every v1 type code, in the order of the protocol document.
    pub const ALL: [u8; 12] = [
        HELLO,
        POCKET,
        CUE_RETURN,
        BUTTON,
        RACK_READY,
        HEARTBEAT,
        LIGHT_STATE,
        ACK,
        LIGHT,
        TIME_SYNC,
        REPLAY_FROM,
        IDENTIFY,
    ];
}

/// What a controller can do, announced in its `hello`. Bits this version does not name are kept
/// as they came (a newer controller may set them) and mean nothing to this bridge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Capabilities(pub u8);

impl Capabilities {
    /// Bit 0: pocket sensors (sends `pocket`).
    pub const POCKETS: Capabilities = Capabilities(1 << 0);
    /// Bit 1: cue-ball return sensor (sends `cue_return`).
    pub const CUE_RETURN: Capabilities = Capabilities(1 << 1);
    /// Bit 2: player buttons (sends `button`).
    pub const BUTTONS: Capabilities = Capabilities(1 << 2);
    /// Bit 3: rack-ready detection or button (sends `rack_ready`).
    pub const RACK: Capabilities = Capabilities(1 << 3);
    /// Bit 4: switches the table light (obeys `light`, sends `light_state`).
    pub const LIGHT: Capabilities = Capabilities(1 << 4);
    /// Bit 5: keeps a clock set by `time_sync`.
    pub const CLOCK: Capabilities = Capabilities(1 << 5);
    /// Bit 6: can blink or beep (obeys `identify`).
    pub const IDENTIFY: Capabilities = Capabilities(1 << 6);

    /// Whether every bit of `other` is set here.
    pub fn contains(self, other: Capabilities) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Capabilities {
    type Output = Capabilities;

    fn bitor(self, rhs: Capabilities) -> Capabilities {
        Capabilities(self.0 | rhs.0)
    }
}

/// Who may send a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sender {
    /// Only the table controller (controller → host).
    Controller,
    /// Only the host (the bridge; host → controller).
    Host,
    /// Either side (`ack`).
    Either,
}

/// One message of protocol v1. Which side sends it is [`Message::sender`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// Controller → host, `0x01`: who I am. Sent first after power-up and again when the host asks
    /// with `replay_from` seq 0.
    Hello {
        /// Device id, a valid MQTT topic id: 1–32 bytes of `[A-Za-z0-9_-]`.
        device_id: String,
        /// Firmware version: 1–32 bytes of printable ASCII without space (`0x21..=0x7E`).
        firmware: String,
        /// The table this controller is fitted to, a valid topic id (1–32 of `[A-Za-z0-9_-]`).
        table: String,
        /// What the controller can do.
        capabilities: Capabilities,
    },
    /// Controller → host, `0x02`: a ball dropped into a pocket.
    Pocket {
        /// 0..=15, 0 is the cue ball.
        ball: u8,
        /// 1..=6.
        pocket: u8,
    },
    /// Controller → host, `0x03`: the cue ball came back through the ball return.
    CueReturn,
    /// Controller → host, `0x04`: a table button was pressed.
    Button(Button),
    /// Controller → host, `0x05`: a new rack is ready.
    RackReady,
    /// Controller → host, `0x06`: I am alive.
    Heartbeat,
    /// Controller → host, `0x07`: the table light is now on or off (after a `light`, or switched by
    /// hand).
    LightState {
        /// On.
        on: bool,
    },
    /// Either direction, `0x08`: I hold every sequenced frame you sent up to and including `seq`
    /// (cumulative).
    Ack {
        /// Highest sequence number received without a gap.
        seq: u32,
    },
    /// Host → controller, `0x81`: switch the table light.
    Light {
        /// On.
        on: bool,
    },
    /// Host → controller, `0x82`: the host's wall clock.
    TimeSync {
        /// Milliseconds since the Unix epoch.
        unix_ms: u64,
    },
    /// Host → controller, `0x83`: send again every sequenced frame you still hold from `seq` on;
    /// `seq` 0 asks for a fresh `hello`.
    ReplayFrom {
        /// First sequence number wanted.
        seq: u32,
    },
    /// Host → controller, `0x84`: blink or beep for `seconds` so staff can find the controller; 0
    /// stops.
    Identify {
        /// Duration; 0 stops.
        seconds: u8,
    },
}

/// Why a body is not valid for its type (the `bad_body` refusal, or an encode error).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum BodyError {
    /// The body has the wrong length for its type.
    #[error("type {type_code:#04x} body is {len} bytes, expected {expected}")]
    Length {
        /// The type code.
        type_code: u8,
        /// What the frame had.
        len: usize,
        /// What the type needs (for `hello`: what its length prefixes add up to).
        expected: usize,
    },
    /// A `hello` string's length prefix runs past the body.
    #[error("hello: {0} runs past the end of the body")]
    StringTruncated(&'static str),
    /// A `hello` string that is empty, too long or has a character it may not.
    #[error("hello: bad {0}")]
    BadString(&'static str),
    /// A ball number above 15.
    #[error("ball {0} does not exist (0 = cue ball, 1..15)")]
    Ball(u8),
    /// A pocket number outside 1..=6.
    #[error("pocket {0} does not exist (1..6)")]
    Pocket(u8),
    /// A button code outside 1..=7.
    #[error("button code {0} is not 1..7")]
    Button(u8),
    /// A boolean byte that is neither 0 nor 1.
    #[error("boolean byte {0:#04x} is neither 0 nor 1")]
    Bool(u8),
}

/// The wire code of a button (`button` body byte).
pub fn button_code(button: Button) -> u8 {
    match button {
        Button::EndTurn => 1,
        Button::Foul => 2,
        Button::Undo => 3,
        Button::PushOut => 4,
        Button::Pass => 5,
        Button::Safety => 6,
        Button::Concede => 7,
    }
}

/// The button for a wire code, if it is one.
pub fn button_from_code(code: u8) -> Option<Button> {
    Some(match code {
        1 => Button::EndTurn,
        2 => Button::Foul,
        3 => Button::Undo,
        4 => Button::PushOut,
        5 => Button::Pass,
        6 => Button::Safety,
        7 => Button::Concede,
        _ => return None,
    })
}

/// Whether `firmware` is an acceptable firmware version: 1–32 bytes of `0x21..=0x7E`.
pub fn valid_firmware(firmware: &str) -> bool {
    (1..=MAX_STR_LEN).contains(&firmware.len()) && firmware.bytes().all(|b| b.is_ascii_graphic())
}

/// The sender of a type code, `None` for a code v1 does not define.
pub fn sender_of(type_code: u8) -> Option<Sender> {
    match type_code {
        code::HELLO..=code::LIGHT_STATE => Some(Sender::Controller),
        code::ACK => Some(Sender::Either),
        code::LIGHT..=code::IDENTIFY => Some(Sender::Host),
        _ => None,
    }
}

impl Message {
    /// The type code.
    pub fn type_code(&self) -> u8 {
        match self {
            Message::Hello { .. } => code::HELLO,
            Message::Pocket { .. } => code::POCKET,
            Message::CueReturn => code::CUE_RETURN,
            Message::Button(_) => code::BUTTON,
            Message::RackReady => code::RACK_READY,
            Message::Heartbeat => code::HEARTBEAT,
            Message::LightState { .. } => code::LIGHT_STATE,
            Message::Ack { .. } => code::ACK,
            Message::Light { .. } => code::LIGHT,
            Message::TimeSync { .. } => code::TIME_SYNC,
            Message::ReplayFrom { .. } => code::REPLAY_FROM,
            Message::Identify { .. } => code::IDENTIFY,
        }
    }

    /// A short stable name (for logs and metrics), as in the protocol document.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Hello { .. } => "hello",
            Message::Pocket { .. } => "pocket",
            Message::CueReturn => "cue_return",
            Message::Button(_) => "button",
            Message::RackReady => "rack_ready",
            Message::Heartbeat => "heartbeat",
            Message::LightState { .. } => "light_state",
            Message::Ack { .. } => "ack",
            Message::Light { .. } => "light",
            Message::TimeSync { .. } => "time_sync",
            Message::ReplayFrom { .. } => "replay_from",
            Message::Identify { .. } => "identify",
        }
    }

    /// Who may send it.
    pub fn sender(&self) -> Sender {
        match self {
            Message::Hello { .. }
            | Message::Pocket { .. }
            | Message::CueReturn
            | Message::Button(_)
            | Message::RackReady
            | Message::Heartbeat
            | Message::LightState { .. } => Sender::Controller,
            Message::Ack { .. } => Sender::Either,
            Message::Light { .. }
            | Message::TimeSync { .. }
            | Message::ReplayFrom { .. }
            | Message::Identify { .. } => Sender::Host,
        }
    }

    /// Whether the frame carrying it takes a sequence number (everything but `ack`).
    pub fn is_sequenced(&self) -> bool {
        !matches!(self, Message::Ack { .. })
    }

    /// Checks the fields' ranges: what [`encode_body`](Message::encode_body) refuses and a decoder
    /// would reject as `bad_body`.
    pub fn validate(&self) -> Result<(), BodyError> {
        match self {
            Message::Hello {
                device_id,
                firmware,
                table,
                ..
            } => {
                if !valid_id(device_id) {
                    return Err(BodyError::BadString("device_id"));
                }
                if !valid_firmware(firmware) {
                    return Err(BodyError::BadString("firmware"));
                }
                if !valid_id(table) {
                    return Err(BodyError::BadString("table"));
                }
                Ok(())
            }
            &Message::Pocket { ball, pocket } => {
                if ball > MAX_BALL_NUMBER {
                    Err(BodyError::Ball(ball))
                } else if !(1..=MAX_POCKET_NUMBER).contains(&pocket) {
                    Err(BodyError::Pocket(pocket))
                } else {
                    Ok(())
                }
            }
            Message::CueReturn
            | Message::Button(_)
            | Message::RackReady
            | Message::Heartbeat
            | Message::LightState { .. }
            | Message::Ack { .. }
            | Message::Light { .. }
            | Message::TimeSync { .. }
            | Message::ReplayFrom { .. }
            | Message::Identify { .. } => Ok(()),
        }
    }

    /// Appends the body (without type code) to `out`, after [`validate`](Message::validate).
    pub fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), BodyError> {
        self.validate()?;
        match self {
            Message::Hello {
                device_id,
                firmware,
                table,
                capabilities,
            } => {
                for s in [device_id, firmware, table] {
                    // validate() bounds every string to MAX_STR_LEN bytes.
                    out.push(s.len() as u8);
                    out.extend_from_slice(s.as_bytes());
                }
                out.push(capabilities.0);
            }
            Message::Pocket { ball, pocket } => out.extend_from_slice(&[*ball, *pocket]),
            Message::CueReturn | Message::RackReady | Message::Heartbeat => {}
            Message::Button(b) => out.push(button_code(*b)),
            Message::LightState { on } | Message::Light { on } => out.push(u8::from(*on)),
            Message::Ack { seq } | Message::ReplayFrom { seq } => {
                out.extend_from_slice(&seq.to_le_bytes());
            }
            Message::TimeSync { unix_ms } => out.extend_from_slice(&unix_ms.to_le_bytes()),
            Message::Identify { seconds } => out.push(*seconds),
        }
        Ok(())
    }

    /// Decodes the body of a message of type `type_code`. `Ok(None)` for a type code v1 does not
    /// define.
    pub fn decode_body(type_code: u8, body: &[u8]) -> Result<Option<Message>, BodyError> {
        let fixed = |expected: usize| -> Result<(), BodyError> {
            if body.len() == expected {
                Ok(())
            } else {
                Err(BodyError::Length {
                    type_code,
                    len: body.len(),
                    expected,
                })
            }
        };
        let msg = match type_code {
            code::HELLO => return decode_hello(body).map(Some),
            code::POCKET => {
                fixed(2)?;
                Message::Pocket {
                    ball: body[0],
                    pocket: body[1],
                }
            }
            code::CUE_RETURN => {
                fixed(0)?;
                Message::CueReturn
            }
            code::BUTTON => {
                fixed(1)?;
                Message::Button(button_from_code(body[0]).ok_or(BodyError::Button(body[0]))?)
            }
            code::RACK_READY => {
                fixed(0)?;
                Message::RackReady
            }
            code::HEARTBEAT => {
                fixed(0)?;
                Message::Heartbeat
            }
            code::LIGHT_STATE => {
                fixed(1)?;
                Message::LightState {
                    on: bool_byte(body[0])?,
                }
            }
            code::ACK => {
                fixed(4)?;
                Message::Ack { seq: le_u32(body) }
            }
            code::LIGHT => {
                fixed(1)?;
                Message::Light {
                    on: bool_byte(body[0])?,
                }
            }
            code::TIME_SYNC => {
                fixed(8)?;
                let mut b = [0u8; 8];
                b.copy_from_slice(body);
                Message::TimeSync {
                    unix_ms: u64::from_le_bytes(b),
                }
            }
            code::REPLAY_FROM => {
                fixed(4)?;
                Message::ReplayFrom { seq: le_u32(body) }
            }
            code::IDENTIFY => {
                fixed(1)?;
                Message::Identify { seconds: body[0] }
            }
            _ => return Ok(None),
        };
        msg.validate()?;
        Ok(Some(msg))
    }
}

/// `body` is exactly 4 bytes (checked by the caller).
fn le_u32(body: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(body);
    u32::from_le_bytes(b)
}

fn bool_byte(b: u8) -> Result<bool, BodyError> {
    match b {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(BodyError::Bool(other)),
    }
}

fn decode_hello(body: &[u8]) -> Result<Message, BodyError> {
    let mut rest = body;
    let mut take = |field: &'static str| -> Result<String, BodyError> {
        let (&len, tail) = rest
            .split_first()
            .ok_or(BodyError::StringTruncated(field))?;
        let len = usize::from(len);
        if len > MAX_STR_LEN {
            return Err(BodyError::BadString(field));
        }
        if len > tail.len() {
            return Err(BodyError::StringTruncated(field));
        }
        let (s, tail) = tail.split_at(len);
        rest = tail;
        // Only ASCII is valid in any of the three; anything else is refused by validate().
        String::from_utf8(s.to_vec()).map_err(|_| BodyError::BadString(field))
    };
    let device_id = take("device_id")?;
    let firmware = take("firmware")?;
    let table = take("table")?;
    let expected = 3 + device_id.len() + firmware.len() + table.len() + 1;
    if rest.len() != 1 {
        return Err(BodyError::Length {
            type_code: code::HELLO,
            len: body.len(),
            expected,
        });
    }
    let msg = Message::Hello {
        device_id,
        firmware,
        table,
        capabilities: Capabilities(rest[0]),
    };
    msg.validate()?;
    Ok(msg)
}
