//! Arbitrary bytes into the streaming decoder, on both sides of the link, cut into reads of varying
//! sizes. Checks: no panic; the unfinished-frame buffer never exceeds `MAX_WIRE_LEN`; one outcome
//! (frame or refusal) per delimiter; every accepted frame re-encodes to bytes that decode to the
//! same frame. Then, so that the fuzzer reaches the body decoders without having to guess CRCs, the
//! same bytes wrapped in a valid envelope (CRC appended, COBS-encoded): a refusal can then only be
//! about length, version, type or body, and an accepted frame re-encodes to exactly those bytes
//! (the encoding is canonical).
//!
//! Run from `firmware-bridge/`: `cargo install cargo-fuzz`, then
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run decoder -- -max_total_time=60`.

#![no_main]

use firmware_bridge::codec::{
    Decoder, MAX_FRAME_LEN, MAX_WIRE_LEN, Side, cobs, crc, decode_frame, encode,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the read size, so reads split frames at every possible place.
    let (chunk, bytes) = match data.split_first() {
        Some((&c, rest)) => (usize::from(c % 64) + 1, rest),
        None => (1, data),
    };
    let delimiters = bytes.iter().filter(|&&b| b == 0).count() as u64;
    for side in [Side::Host, Side::Controller] {
        let mut decoder = Decoder::new(side);
        let mut outcomes = 0u64;
        for read in bytes.chunks(chunk) {
            decoder.feed_with(read, |result| {
                outcomes += 1;
                if let Ok(frame) = result {
                    let wire = encode(&frame).expect("a decoded frame re-encodes");
                    let again = decode_frame(&wire[..wire.len() - 1]).expect("and decodes again");
                    assert_eq!(again, frame);
                }
            });
            assert!(decoder.buffered() <= MAX_WIRE_LEN);
        }
        assert_eq!(outcomes, delimiters);
        let refused: u64 = decoder.rejects().iter().map(|(_, n)| n).sum();
        assert_eq!(decoder.frames() + refused, outcomes);
    }

    let mut raw = bytes[..bytes.len().min(MAX_FRAME_LEN - 2)].to_vec();
    let sum = crc::crc16(&raw);
    raw.extend_from_slice(&sum.to_le_bytes());
    match decode_frame(&cobs::encode(&raw)) {
        Ok(frame) => assert_eq!(frame.to_raw().expect("re-encodes"), raw),
        Err(reject) => assert!(
            ["too_short", "bad_version", "unknown_type", "bad_body"].contains(&reject.reason()),
            "{reject}"
        ),
    }
});
