//! The serial protocol between a table controller and the bridge, version 1: binary frames,
//! COBS-encoded, each ended by `0x00`, each with a version, a type, the sender's sequence number, a
//! body and a CRC-16/CCITT-FALSE. The document a firmware author works from is
//! `docs/protocol.md`, section "Table controller protocol v1 (serial)".
//!
//! - [`crc`] — CRC-16/CCITT-FALSE;
//! - [`cobs`] — byte stuffing, so that `0x00` only ever ends a frame;
//! - [`message`] — [`Message`]: type codes, directions and body layouts;
//! - [`frame`] — [`Frame`]: the envelope, [`encode`] and [`decode_frame`], and why a frame is
//!   refused ([`Reject`]);
//! - [`decoder`] — [`Decoder`]: the streaming decoder with resynchronisation and [`RejectCounts`].

pub mod cobs;
pub mod crc;
pub mod decoder;
pub mod frame;
pub mod message;

pub use decoder::{Decoder, RejectCounts, Side};
pub use frame::{
    DELIMITER, Frame, MAX_FRAME_LEN, MAX_WIRE_LEN, Reject, VERSION, decode_frame, encode,
    encode_into,
};
pub use message::{BodyError, Capabilities, Message, Sender};
