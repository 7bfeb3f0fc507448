//! firmware-bridge: the link between a pool table's controller (pocket sensors, cue-ball return,
//! player buttons, the table light) on a serial port and the venue's MQTT broker.
//!
//! Module map, in data-flow order:
//!
//! - [`codec`] — the serial protocol v1: [`codec::Decoder`] turns the bytes read from the port into
//!   [`codec::Frame`]s (COBS framing, CRC-16/CCITT-FALSE, resynchronisation after noise, every
//!   refusal counted by reason), and [`codec::encode`] makes the bytes the host writes back.
//!
//! The bridge process itself (port hot-plug, MQTT publishing, acks and replay) and a controller
//! simulator build on [`codec`] and come next. The wire format is specified for firmware authors in
//! `docs/protocol.md`, section "Table controller protocol v1 (serial)".

pub mod codec;
