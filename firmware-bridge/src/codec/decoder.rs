//! The streaming decoder: bytes from the serial port in, frames out, every refusal counted.
//!
//! It keeps at most [`MAX_WIRE_LEN`] bytes of an unfinished frame in a fixed buffer; a longer run
//! without a delimiter is dropped up to the next `0x00` and counted once as `too_long`. Whatever goes
//! wrong with one frame (noise, a cut-off frame, a bad CRC), decoding starts afresh after the next
//! `0x00`, so the frame after it is not lost. It never panics and allocates only the strings of a
//! `hello` (at most 3 × 32 bytes) and what the caller's `out` vector grows by.

use super::frame::{Frame, MAX_WIRE_LEN, Reject, decode_frame};
use super::message::Sender;

/// The side of the serial link a decoder runs on; it refuses messages that side never receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The bridge: receives controller messages (and `ack`).
    Host,
    /// The table controller (or a simulator of one): receives host messages (and `ack`).
    Controller,
}

impl Side {
    /// Whether a message from `sender` may arrive on this side.
    pub fn receives(self, sender: Sender) -> bool {
        matches!(
            (self, sender),
            (_, Sender::Either)
                | (Side::Host, Sender::Controller)
                | (Side::Controller, Sender::Host)
        )
    }
}

/// Refused frames, by reason (the labels of [`Reject::reason`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RejectCounts {
    /// Nothing between two delimiters (not an error: a sender may flush with a lone `0x00`).
    pub empty: u64,
    /// Longer than the maximum frame.
    pub too_long: u64,
    /// Not valid COBS.
    pub bad_cobs: u64,
    /// Shorter than header + CRC.
    pub too_short: u64,
    /// CRC mismatch.
    pub bad_crc: u64,
    /// Unknown protocol version.
    pub bad_version: u64,
    /// Unknown message type.
    pub unknown_type: u64,
    /// Malformed or out-of-range body.
    pub bad_body: u64,
    /// A message this side never receives.
    pub wrong_direction: u64,
}

impl RejectCounts {
    /// Counts one refusal.
    pub fn record(&mut self, reject: &Reject) {
        *self.slot(reject.reason()) += 1;
    }

    fn slot(&mut self, reason: &str) -> &mut u64 {
        match reason {
            "empty" => &mut self.empty,
            "too_long" => &mut self.too_long,
            "bad_cobs" => &mut self.bad_cobs,
            "too_short" => &mut self.too_short,
            "bad_crc" => &mut self.bad_crc,
            "bad_version" => &mut self.bad_version,
            "unknown_type" => &mut self.unknown_type,
            "bad_body" => &mut self.bad_body,
            _ => &mut self.wrong_direction,
        }
    }

    /// `(reason, count)` for every reason, in [`Reject::REASONS`] order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        let c = *self;
        let counts = [
            c.empty,
            c.too_long,
            c.bad_cobs,
            c.too_short,
            c.bad_crc,
            c.bad_version,
            c.unknown_type,
            c.bad_body,
            c.wrong_direction,
        ];
        Reject::REASONS.into_iter().zip(counts)
    }

    /// Every refusal but `empty` (which is not an error).
    pub fn errors(&self) -> u64 {
        self.iter()
            .filter(|&(reason, _)| reason != "empty")
            .map(|(_, n)| n)
            .sum()
    }
}

/// Turns a byte stream into frames. See the module documentation.
#[derive(Clone, Debug)]
pub struct Decoder {
    side: Side,
    buf: [u8; MAX_WIRE_LEN],
    len: usize,
    /// Dropping bytes until the next delimiter (the current frame is too long).
    discarding: bool,
    frames: u64,
    rejects: RejectCounts,
}

impl Decoder {
    /// A decoder for the given side of the link.
    pub fn new(side: Side) -> Decoder {
        Decoder {
            side,
            buf: [0; MAX_WIRE_LEN],
            len: 0,
            discarding: false,
            frames: 0,
            rejects: RejectCounts::default(),
        }
    }

    /// Feeds bytes; appends every complete valid frame to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Frame>) {
        self.feed_with(bytes, |r| {
            if let Ok(frame) = r {
                out.push(frame);
            }
        });
    }

    /// Feeds bytes; calls `each` with every complete frame or refusal, in stream order (refusals
    /// are also counted in [`rejects`](Decoder::rejects)).
    pub fn feed_with(&mut self, bytes: &[u8], mut each: impl FnMut(Result<Frame, Reject>)) {
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == 0) {
            let (chunk, tail) = (&rest[..end], &rest[end + 1..]);
            rest = tail;
            let result = if self.len == 0 && !self.discarding {
                // The whole frame is in this input: decode it in place.
                self.check(chunk)
            } else {
                self.absorb(chunk);
                let result = if self.discarding {
                    Err(Reject::TooLong)
                } else {
                    self.check(&self.buf[..self.len])
                };
                self.len = 0;
                self.discarding = false;
                result
            };
            match &result {
                Ok(_) => self.frames += 1,
                Err(reject) => self.rejects.record(reject),
            }
            each(result);
        }
        self.absorb(rest);
    }

    fn check(&self, encoded: &[u8]) -> Result<Frame, Reject> {
        let frame = decode_frame(encoded)?;
        if self.side.receives(frame.message.sender()) {
            Ok(frame)
        } else {
            Err(Reject::WrongDirection(frame.message.type_code()))
        }
    }

    /// Adds bytes of an unfinished frame (no delimiter among them).
    fn absorb(&mut self, chunk: &[u8]) {
        if self.discarding || chunk.is_empty() {
            return;
        }
        match self.buf.get_mut(self.len..self.len + chunk.len()) {
            Some(dst) => {
                dst.copy_from_slice(chunk);
                self.len += chunk.len();
            }
            None => {
                self.discarding = true;
                self.len = 0;
            }
        }
    }

    /// Bytes of an unfinished frame held (at most [`MAX_WIRE_LEN`]).
    pub fn buffered(&self) -> usize {
        self.len
    }

    /// Frames decoded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Refusals so far, by reason.
    pub fn rejects(&self) -> &RejectCounts {
        &self.rejects
    }

    /// Forgets an unfinished frame (after the port was closed and reopened); keeps the counts.
    pub fn reset(&mut self) {
        self.len = 0;
        self.discarding = false;
    }
}
