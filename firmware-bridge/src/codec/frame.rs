//! One frame: the envelope around a [`Message`], its CRC, and its COBS form on the wire.
//!
//! Before COBS (all integers little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | protocol version, `1` |
//! | 1 | 1 | message type code |
//! | 2 | 4 | sender's sequence number (u32) |
//! | 6 | n | body (its layout depends on the type) |
//! | 6 + n | 2 | CRC-16/CCITT-FALSE of bytes `0 .. 6 + n` (u16) |
//!
//! On the wire: the COBS encoding of those bytes, then one `0x00`.

use thiserror::Error;

use super::cobs::{self, CobsError};
use super::crc;
use super::message::{BodyError, Message};

/// The protocol version this crate speaks.
pub const VERSION: u8 = 1;

/// Bytes before the body: version, type, seq.
pub const HEADER_LEN: usize = 6;

/// Bytes of the CRC trailer.
pub const CRC_LEN: usize = 2;

/// The shortest possible frame before COBS (no body).
pub const MIN_FRAME_LEN: usize = HEADER_LEN + CRC_LEN;

/// Longest frame before COBS, in every protocol version: 253 bytes, so that its COBS form is a
/// single block of at most 254 bytes (with any COBS encoder).
pub const MAX_FRAME_LEN: usize = 253;

/// Longest COBS-encoded frame, without its delimiter (254). A receiver drops anything longer.
pub const MAX_WIRE_LEN: usize = cobs::max_encoded_len(MAX_FRAME_LEN);

/// The frame delimiter.
pub const DELIMITER: u8 = 0x00;

/// A decoded frame.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// Protocol version; [`VERSION`] for every frame this crate encodes or accepts.
    pub version: u8,
    /// The sender's sequence number: 1, 2, 3, … per sequenced frame after power-up, wrapping from
    /// `u32::MAX` to 1; 0 in `ack` frames, which are not sequenced.
    pub seq: u32,
    /// What it says.
    pub message: Message,
}

impl Frame {
    /// A version-1 frame.
    pub fn new(seq: u32, message: Message) -> Frame {
        Frame {
            version: VERSION,
            seq,
            message,
        }
    }

    /// The frame's bytes before COBS: header, body and CRC.
    pub fn to_raw(&self) -> Result<Vec<u8>, BodyError> {
        let mut raw = Vec::with_capacity(MIN_FRAME_LEN + 8);
        self.raw_into(&mut raw)?;
        Ok(raw)
    }

    fn raw_into(&self, raw: &mut Vec<u8>) -> Result<(), BodyError> {
        raw.push(self.version);
        raw.push(self.message.type_code());
        raw.extend_from_slice(&self.seq.to_le_bytes());
        self.message.encode_body(raw)?;
        let crc = crc::crc16(raw);
        raw.extend_from_slice(&crc.to_le_bytes());
        Ok(())
    }
}

/// The wire bytes of `frame`: COBS, then the `0x00` delimiter. Refuses a message whose fields are
/// out of range (what a receiver would reject as `bad_body`).
pub fn encode(frame: &Frame) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::with_capacity(MIN_FRAME_LEN + 10);
    encode_into(frame, &mut out)?;
    Ok(out)
}

/// Appends the wire bytes of `frame` to `out` (see [`encode`]); on error `out` is unchanged.
pub fn encode_into(frame: &Frame, out: &mut Vec<u8>) -> Result<(), BodyError> {
    let raw = frame.to_raw()?;
    cobs::encode_into(&raw, out);
    out.push(DELIMITER);
    Ok(())
}

/// Why a frame was refused. Each has a stable label, [`Reject::reason`].
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Reject {
    /// Two delimiters in a row (or a delimiter first): nothing between them. Harmless: senders may
    /// send a lone `0x00` to flush the line.
    #[error("empty frame")]
    Empty,
    /// More than [`MAX_WIRE_LEN`] bytes without a delimiter; dropped up to the next `0x00`.
    #[error("frame longer than {MAX_WIRE_LEN} bytes")]
    TooLong,
    /// Not valid COBS.
    #[error("bad COBS: {0}")]
    BadCobs(CobsError),
    /// Fewer than [`MIN_FRAME_LEN`] bytes after COBS decoding.
    #[error("frame of {0} bytes is shorter than {MIN_FRAME_LEN}")]
    TooShort(usize),
    /// The CRC trailer does not match the bytes before it.
    #[error("CRC {found:#06x} in the frame, {computed:#06x} computed")]
    BadCrc {
        /// The CRC computed over the frame.
        computed: u16,
        /// The CRC the frame carries.
        found: u16,
    },
    /// A version byte this decoder does not speak.
    #[error("protocol version {0}, expected {VERSION}")]
    BadVersion(u8),
    /// A type code this version does not define.
    #[error("unknown message type {0:#04x}")]
    UnknownType(u8),
    /// A known type whose body is malformed or out of range.
    #[error("bad body: {0}")]
    BadBody(BodyError),
    /// A message this side never receives (a controller's message at a controller, a host's at the
    /// host: usually a loopback or crossed wiring).
    #[error("message type {0:#04x} is not sent to this side")]
    WrongDirection(u8),
}

impl Reject {
    /// Every label [`Reject::reason`] returns, in check order.
    pub const REASONS: [&'static str; 9] = [
        "empty",
        "too_long",
        "bad_cobs",
        "too_short",
        "bad_crc",
        "bad_version",
        "unknown_type",
        "bad_body",
        "wrong_direction",
    ];

    /// A short stable label, for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Reject::Empty => "empty",
            Reject::TooLong => "too_long",
            Reject::BadCobs(_) => "bad_cobs",
            Reject::TooShort(_) => "too_short",
            Reject::BadCrc { .. } => "bad_crc",
            Reject::BadVersion(_) => "bad_version",
            Reject::UnknownType(_) => "unknown_type",
            Reject::BadBody(_) => "bad_body",
            Reject::WrongDirection(_) => "wrong_direction",
        }
    }
}

/// Decodes one frame from its COBS bytes (what lies between two delimiters, excluding them).
///
/// Checks in this order: empty, length, COBS, minimum length, CRC, version, type, body. The CRC is
/// checked before the version so that line noise counts as `bad_crc`; every version keeps the
/// version byte first and the CRC-16 trailer last. Does not check direction (the [`Decoder`] does).
///
/// [`Decoder`]: super::Decoder
pub fn decode_frame(encoded: &[u8]) -> Result<Frame, Reject> {
    if encoded.is_empty() {
        return Err(Reject::Empty);
    }
    if encoded.len() > MAX_WIRE_LEN {
        return Err(Reject::TooLong);
    }
    let mut buf = [0u8; MAX_FRAME_LEN];
    let len = cobs::decode_into(encoded, &mut buf).map_err(|e| match e {
        CobsError::TooLong(_) => Reject::TooLong,
        other => Reject::BadCobs(other),
    })?;
    let raw = &buf[..len];
    if raw.len() < MIN_FRAME_LEN {
        return Err(Reject::TooShort(raw.len()));
    }
    let (covered, trailer) = raw.split_at(raw.len() - CRC_LEN);
    let found = u16::from_le_bytes([trailer[0], trailer[1]]);
    let computed = crc::crc16(covered);
    if found != computed {
        return Err(Reject::BadCrc { computed, found });
    }
    let version = covered[0];
    if version != VERSION {
        return Err(Reject::BadVersion(version));
    }
    let type_code = covered[1];
    let seq = u32::from_le_bytes([covered[2], covered[3], covered[4], covered[5]]);
    let body = &covered[HEADER_LEN..];
    match Message::decode_body(type_code, body) {
        Ok(Some(message)) => Ok(Frame {
            version,
            seq,
            message,
        }),
        Ok(None) => Err(Reject::UnknownType(type_code)),
        Err(e) => Err(Reject::BadBody(e)),
    }
}
