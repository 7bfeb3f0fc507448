//! The serial codec from the outside: round trips of every message, the documented worked example,
//! every refusal reason, and resynchronisation after noise (unit and property tests).

#![allow(clippy::unwrap_used)]

use firmware_bridge::codec::message::{MAX_STR_LEN, code};
use firmware_bridge::codec::{
    BodyError, Capabilities, Decoder, Frame, MAX_FRAME_LEN, MAX_WIRE_LEN, Message, Reject,
    RejectCounts, Sender, Side, cobs, crc, decode_frame, encode,
};
use proptest::prelude::*;
use shared::protocol::Button;

const BUTTONS: [Button; 7] = [
    Button::EndTurn,
    Button::Foul,
    Button::Undo,
    Button::PushOut,
    Button::Pass,
    Button::Safety,
    Button::Concede,
];

fn hello() -> Message {
    Message::Hello {
        device_id: "ctl-t1".into(),
        firmware: "1.4.2+g3c9e".into(),
        table: "t1".into(),
        capabilities: Capabilities::POCKETS | Capabilities::BUTTONS | Capabilities::LIGHT,
    }
}

/// One of every message, with its type code.
fn every_message() -> Vec<(Message, u8)> {
    let mut all = vec![
        (hello(), 0x01),
        (Message::Pocket { ball: 9, pocket: 3 }, 0x02),
        (Message::CueReturn, 0x03),
        (Message::Button(Button::EndTurn), 0x04),
        (Message::RackReady, 0x05),
        (Message::Heartbeat, 0x06),
        (Message::LightState { on: true }, 0x07),
        (Message::Ack { seq: 41 }, 0x08),
        (Message::Light { on: false }, 0x81),
        (
            Message::TimeSync {
                unix_ms: 1_700_000_000_000,
            },
            0x82,
        ),
        (Message::ReplayFrom { seq: 120 }, 0x83),
        (Message::Identify { seconds: 10 }, 0x84),
    ];
    all.extend(BUTTONS.iter().map(|&b| (Message::Button(b), 0x04)));
    all
}

fn side_for(message: &Message) -> Side {
    match message.sender() {
        Sender::Controller | Sender::Either => Side::Host,
        Sender::Host => Side::Controller,
    }
}

fn decode_all(side: Side, bytes: &[u8]) -> (Vec<Frame>, RejectCounts) {
    let mut decoder = Decoder::new(side);
    let mut out = Vec::new();
    decoder.feed(bytes, &mut out);
    (out, *decoder.rejects())
}

/// The raw frame bytes of `(version, type, seq, body)` with a correct CRC, COBS-encoded and
/// delimited: for frames `encode` refuses to make.
fn wire_of(version: u8, type_code: u8, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut raw = vec![version, type_code];
    raw.extend_from_slice(&seq.to_le_bytes());
    raw.extend_from_slice(body);
    let c = crc::crc16(&raw);
    raw.extend_from_slice(&c.to_le_bytes());
    let mut wire = cobs::encode(&raw);
    wire.push(0);
    wire
}

fn reject_of(side: Side, wire: &[u8]) -> Reject {
    let mut decoder = Decoder::new(side);
    let mut results = Vec::new();
    decoder.feed_with(wire, |r| results.push(r));
    assert_eq!(results.len(), 1, "{wire:02x?}");
    let reject = results.pop().unwrap().unwrap_err();
    assert_eq!(decoder.rejects().iter().map(|(_, n)| n).sum::<u64>(), 1);
    let counted: Vec<_> = decoder.rejects().iter().filter(|&(_, n)| n > 0).collect();
    assert_eq!(counted, vec![(reject.reason(), 1)]);
    reject
}

#[test]
fn every_message_round_trips_with_its_type_code() {
    for (i, (message, type_code)) in every_message().into_iter().enumerate() {
        assert_eq!(message.type_code(), type_code, "{message:?}");
        let seq = if message.is_sequenced() {
            i as u32 + 1
        } else {
            0
        };
        let frame = Frame::new(seq, message);
        let wire = encode(&frame).unwrap();
        assert_eq!(wire.iter().filter(|&&b| b == 0).count(), 1);
        assert_eq!(wire.last(), Some(&0));
        assert!(wire.len() <= MAX_WIRE_LEN + 1);
        let raw = frame.to_raw().unwrap();
        assert_eq!(&raw[..2], &[1, type_code]);
        assert_eq!(raw[2..6], seq.to_le_bytes());
        let (frames, rejects) = decode_all(side_for(&frame.message), &wire);
        assert_eq!(frames, vec![frame], "{wire:02x?}");
        assert_eq!(rejects, RejectCounts::default());
    }
    assert_eq!(code::ALL.len(), 12);
}

#[test]
fn body_layouts_are_as_documented() {
    let body = |m: Message| {
        let raw = Frame::new(7, m).to_raw().unwrap();
        raw[6..raw.len() - 2].to_vec()
    };
    assert_eq!(
        body(hello()),
        b"\x06ctl-t1\x0b1.4.2+g3c9e\x02t1\x15".to_vec()
    );
    // The hello body example in docs/protocol.md.
    assert_eq!(
        body(hello()),
        hex("06 63 74 6c 2d 74 31  0b 31 2e 34 2e 32 2b 67 33 63 39 65  02 74 31  15")
    );
    assert_eq!(body(Message::Pocket { ball: 0, pocket: 6 }), [0, 6]);
    assert_eq!(body(Message::CueReturn), [0u8; 0]);
    assert_eq!(body(Message::Button(Button::Concede)), [7]);
    assert_eq!(body(Message::LightState { on: false }), [0]);
    assert_eq!(
        body(Message::Ack { seq: 0x0102_0304 }),
        [0x04, 0x03, 0x02, 0x01]
    );
    assert_eq!(body(Message::Light { on: true }), [1]);
    assert_eq!(
        body(Message::TimeSync {
            unix_ms: 1_700_000_000_000
        }),
        [0x00, 0x68, 0xE5, 0xCF, 0x8B, 0x01, 0x00, 0x00]
    );
    assert_eq!(
        body(Message::ReplayFrom { seq: 0 }),
        [0x00, 0x00, 0x00, 0x00]
    );
    assert_eq!(body(Message::Identify { seconds: 0 }), [0]);
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

const EXAMPLE_FRAME: [u8; 10] = [0x01, 0x02, 0x2A, 0x00, 0x00, 0x00, 0x09, 0x03, 0xFF, 0x2F];
const EXAMPLE_COBS: [u8; 11] = [
    0x04, 0x01, 0x02, 0x2A, 0x01, 0x01, 0x05, 0x09, 0x03, 0xFF, 0x2F,
];

/// The worked example of docs/protocol.md: pocket, ball 9, pocket 3, seq 42.
#[test]
fn worked_example_bytes_are_exact() {
    let frame = Frame::new(42, Message::Pocket { ball: 9, pocket: 3 });
    assert_eq!(frame.to_raw().unwrap(), EXAMPLE_FRAME);
    assert_eq!(crc::crc16(&EXAMPLE_FRAME[..8]), 0x2FFF);
    assert_eq!(cobs::encode(&EXAMPLE_FRAME), EXAMPLE_COBS);
    let mut wire = EXAMPLE_COBS.to_vec();
    wire.push(0);
    assert_eq!(encode(&frame).unwrap(), wire);
    assert_eq!(decode_frame(&EXAMPLE_COBS), Ok(frame));
}

/// The hex lines of the worked example in docs/protocol.md are the bytes the codec produces, so
/// the document cannot drift from the code.
#[test]
fn worked_example_in_the_document_matches() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let section = doc
        .split("## Table controller protocol v1 (serial)")
        .nth(1)
        .expect("docs/protocol.md has the serial section");
    let hex_line = |label: &str| -> Vec<u8> {
        let line = section
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no line starting {label:?} in the serial section"));
        hex(line)
    };
    let frame = Frame::new(42, Message::Pocket { ball: 9, pocket: 3 });
    let raw = frame.to_raw().unwrap();
    assert_eq!(hex_line("header + body: "), raw[..8]);
    assert_eq!(hex_line("crc (LE):      "), raw[8..]);
    assert_eq!(hex_line("frame:         "), raw);
    assert_eq!(hex_line("cobs:          "), cobs::encode(&raw));
    assert_eq!(hex_line("wire:          "), encode(&frame).unwrap());
    let ack = Frame::new(0, Message::Ack { seq: 42 });
    assert_eq!(hex_line("ack frame:     "), ack.to_raw().unwrap());
    assert_eq!(hex_line("ack wire:      "), encode(&ack).unwrap());
}

#[test]
fn every_reject_reason() {
    use Side::{Controller, Host};
    let pocket = |ball: u8, pocket: u8| wire_of(1, code::POCKET, 5, &[ball, pocket]);

    assert_eq!(reject_of(Host, &[0]), Reject::Empty);
    let mut long = vec![0x55; MAX_WIRE_LEN + 1];
    long.push(0);
    assert_eq!(reject_of(Host, &long), Reject::TooLong);
    // Exactly MAX_WIRE_LEN bytes is not too long: it fails later (COBS).
    let mut max = vec![0xFF; MAX_WIRE_LEN];
    max.push(0);
    assert_eq!(reject_of(Host, &max).reason(), "bad_cobs");
    assert_eq!(reject_of(Host, &[0x05, 1, 2, 0]).reason(), "bad_cobs");
    assert_eq!(reject_of(Host, &[0x03, 1, 2, 0]), Reject::TooShort(2));
    let mut bad_crc = encode(&Frame::new(1, Message::Heartbeat)).unwrap();
    bad_crc[3] ^= 0x40;
    assert_eq!(reject_of(Host, &bad_crc).reason(), "bad_crc");
    assert_eq!(
        reject_of(Host, &wire_of(2, code::HEARTBEAT, 1, &[])),
        Reject::BadVersion(2)
    );
    assert_eq!(
        reject_of(Host, &wire_of(0, code::HEARTBEAT, 1, &[])),
        Reject::BadVersion(0)
    );
    for t in [0x00, 0x09, 0x7F, 0x80, 0x85, 0xFF] {
        assert_eq!(
            reject_of(Host, &wire_of(1, t, 1, &[])),
            Reject::UnknownType(t)
        );
    }
    assert_eq!(
        reject_of(Host, &pocket(16, 1)),
        Reject::BadBody(BodyError::Ball(16))
    );
    assert_eq!(
        reject_of(Host, &pocket(1, 0)),
        Reject::BadBody(BodyError::Pocket(0))
    );
    assert_eq!(
        reject_of(Host, &pocket(1, 7)),
        Reject::BadBody(BodyError::Pocket(7))
    );
    assert_eq!(
        reject_of(Host, &wire_of(1, code::POCKET, 5, &[1, 2, 3])).reason(),
        "bad_body"
    );
    assert_eq!(
        reject_of(Host, &wire_of(1, code::HEARTBEAT, 5, &[0])).reason(),
        "bad_body"
    );
    for b in [0, 8, 0xFF] {
        assert_eq!(
            reject_of(Host, &wire_of(1, code::BUTTON, 5, &[b])),
            Reject::BadBody(BodyError::Button(b))
        );
    }
    assert_eq!(
        reject_of(Host, &wire_of(1, code::LIGHT_STATE, 5, &[2])),
        Reject::BadBody(BodyError::Bool(2))
    );
    assert_eq!(
        reject_of(Controller, &wire_of(1, code::ACK, 0, &[1, 2, 3])).reason(),
        "bad_body"
    );
    assert_eq!(
        reject_of(Controller, &wire_of(1, code::TIME_SYNC, 1, &[0; 7])).reason(),
        "bad_body"
    );
    // Direction: a host command arriving at the host, a controller event at the controller.
    assert_eq!(
        reject_of(
            Host,
            &encode(&Frame::new(1, Message::Light { on: true })).unwrap()
        ),
        Reject::WrongDirection(0x81)
    );
    assert_eq!(
        reject_of(
            Controller,
            &encode(&Frame::new(1, Message::Heartbeat)).unwrap()
        ),
        Reject::WrongDirection(0x06)
    );
    assert_eq!((MAX_FRAME_LEN, MAX_WIRE_LEN), (253, 254));
    let labels: Vec<_> = RejectCounts::default().iter().map(|(r, _)| r).collect();
    assert_eq!(labels, Reject::REASONS);
}

fn hello_body(device: &[u8], firmware: &[u8], table: &[u8], caps: u8) -> Vec<u8> {
    let mut body = Vec::new();
    for s in [device, firmware, table] {
        body.push(s.len() as u8);
        body.extend_from_slice(s);
    }
    body.push(caps);
    body
}

#[test]
fn hello_strings_are_validated() {
    let ok = wire_of(
        1,
        code::HELLO,
        1,
        &hello_body(b"ctl-1", b"2.0", b"t1", 0xFF),
    );
    let (frames, _) = decode_all(Side::Host, &ok);
    assert_eq!(
        frames[0].message,
        Message::Hello {
            device_id: "ctl-1".into(),
            firmware: "2.0".into(),
            table: "t1".into(),
            capabilities: Capabilities(0xFF),
        }
    );
    let long = [b'a'; MAX_STR_LEN + 1];
    let bad: [(Vec<u8>, BodyError); 9] = [
        (
            hello_body(b"", b"1", b"t1", 0),
            BodyError::BadString("device_id"),
        ),
        (
            hello_body(b"ctl 1", b"1", b"t1", 0),
            BodyError::BadString("device_id"),
        ),
        (
            hello_body(&long, b"1", b"t1", 0),
            BodyError::BadString("device_id"),
        ),
        (
            hello_body(b"c", b"1 0", b"t1", 0),
            BodyError::BadString("firmware"),
        ),
        (
            hello_body(b"c", b"", b"t1", 0),
            BodyError::BadString("firmware"),
        ),
        (
            hello_body(b"c", b"1", b"t.1", 0),
            BodyError::BadString("table"),
        ),
        (
            hello_body(b"c", b"1", "tö".as_bytes(), 0),
            BodyError::BadString("table"),
        ),
        (vec![5, b'a'], BodyError::StringTruncated("device_id")),
        (
            vec![1, b'a', 1, b'1', 1, b't'],
            BodyError::Length {
                type_code: 1,
                len: 6,
                expected: 7,
            },
        ),
    ];
    for (body, err) in bad {
        assert_eq!(
            reject_of(Side::Host, &wire_of(1, code::HELLO, 1, &body)),
            Reject::BadBody(err),
            "{body:02x?}"
        );
    }
    let mut trailing = hello_body(b"c", b"1", b"t", 0);
    trailing.push(0);
    assert_eq!(
        reject_of(Side::Host, &wire_of(1, code::HELLO, 1, &trailing)).reason(),
        "bad_body"
    );
}

#[test]
fn encode_refuses_what_decode_would_reject() {
    for m in [
        Message::Pocket {
            ball: 16,
            pocket: 1,
        },
        Message::Pocket { ball: 1, pocket: 0 },
        Message::Hello {
            device_id: "a".repeat(33),
            firmware: "1".into(),
            table: "t".into(),
            capabilities: Capabilities::default(),
        },
        Message::Hello {
            device_id: "a".into(),
            firmware: "1".into(),
            table: String::new(),
            capabilities: Capabilities::default(),
        },
    ] {
        assert!(encode(&Frame::new(1, m)).is_err());
    }
}

#[test]
fn resynchronises_after_garbage_truncation_and_overlong_runs() {
    let a = Frame::new(1, Message::Pocket { ball: 1, pocket: 1 });
    let b = Frame::new(2, Message::Button(Button::Foul));
    let wa = encode(&a).unwrap();
    let wb = encode(&b).unwrap();
    let mut stream = Vec::new();
    stream.extend_from_slice(&[0x13, 0x37, 0x00]); // garbage, ended by a delimiter
    stream.extend_from_slice(&wa);
    stream.extend_from_slice(&wb[..4]); // b cut off (the controller reset mid-frame)...
    stream.push(0x00); // ...and the line idles low
    stream.extend_from_slice(&vec![0xAA; 1000]); // a long run of noise
    stream.push(0x00);
    stream.extend_from_slice(&wb);
    stream.extend_from_slice(&wa);
    let (frames, rejects) = decode_all(Side::Host, &stream);
    assert_eq!(frames, vec![a.clone(), b, a]);
    assert_eq!(rejects.too_long, 1);
    assert_eq!(rejects.errors(), 3, "{rejects:?}");
}

fn message() -> impl Strategy<Value = Message> {
    let id = "[A-Za-z0-9_-]{1,32}";
    prop_oneof![
        (id, "[!-~]{1,32}", id, any::<u8>()).prop_map(|(device_id, firmware, table, c)| {
            Message::Hello {
                device_id,
                firmware,
                table,
                capabilities: Capabilities(c),
            }
        }),
        (0u8..=15, 1u8..=6).prop_map(|(ball, pocket)| Message::Pocket { ball, pocket }),
        Just(Message::CueReturn),
        proptest::sample::select(BUTTONS.to_vec()).prop_map(Message::Button),
        Just(Message::RackReady),
        Just(Message::Heartbeat),
        any::<bool>().prop_map(|on| Message::LightState { on }),
        any::<u32>().prop_map(|seq| Message::Ack { seq }),
        any::<bool>().prop_map(|on| Message::Light { on }),
        any::<u64>().prop_map(|unix_ms| Message::TimeSync { unix_ms }),
        any::<u32>().prop_map(|seq| Message::ReplayFrom { seq }),
        any::<u8>().prop_map(|seconds| Message::Identify { seconds }),
    ]
}

/// Frames a controller sends (so one host decoder takes them all).
fn controller_frame() -> impl Strategy<Value = Frame> {
    (
        message().prop_filter("controller message", |m| m.sender() != Sender::Host),
        any::<u32>(),
    )
        .prop_map(|(m, seq)| Frame::new(seq, m))
}

/// Whether `sub` is an in-order subsequence of `all`.
fn is_subsequence(sub: &[Frame], all: &[Frame]) -> bool {
    let mut it = all.iter();
    sub.iter().all(|f| it.any(|g| g == f))
}

proptest! {
    #[test]
    fn encode_decode_round_trip(m in message(), seq in any::<u32>()) {
        let frame = Frame::new(seq, m);
        let wire = encode(&frame).unwrap();
        prop_assert!(wire.len() <= MAX_WIRE_LEN + 1);
        prop_assert_eq!(wire.iter().position(|&b| b == 0), Some(wire.len() - 1));
        let (frames, rejects) = decode_all(side_for(&frame.message), &wire);
        prop_assert_eq!(frames, vec![frame]);
        prop_assert_eq!(rejects, RejectCounts::default());
    }

    /// However the stream is cut into reads, the decoder sees the same frames.
    #[test]
    fn chunking_does_not_matter(
        frames in proptest::collection::vec(controller_frame(), 1..12),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let stream: Vec<u8> = frames.iter().flat_map(|f| encode(f).unwrap()).collect();
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.sort_unstable();
        let mut decoder = Decoder::new(Side::Host);
        let mut out = Vec::new();
        let mut at = 0;
        for cut in cuts.into_iter().chain([stream.len()]) {
            decoder.feed(&stream[at..cut], &mut out);
            at = cut;
        }
        prop_assert_eq!(out, frames);
        prop_assert_eq!(decoder.rejects().errors(), 0);
    }

    /// Noise between frames, ended by a delimiter (a UART break or an idle-low line reads as
    /// `0x00`; senders may also flush with one): every valid frame is still decoded.
    #[test]
    fn noise_then_delimiter_never_loses_a_frame(
        items in proptest::collection::vec(
            (controller_frame(), proptest::collection::vec(any::<u8>(), 0..400)),
            1..10,
        ),
    ) {
        let mut stream = Vec::new();
        for (frame, noise) in &items {
            stream.extend_from_slice(noise);
            stream.push(0);
            stream.extend_from_slice(&encode(frame).unwrap());
        }
        let mut decoder = Decoder::new(Side::Host);
        let mut out = Vec::new();
        decoder.feed(&stream, &mut out);
        // Random noise passing CRC, version, type and body checks is a ~1e-9 event per burst.
        let sent: Vec<Frame> = items.into_iter().map(|(f, _)| f).collect();
        prop_assert!(is_subsequence(&sent, &out), "lost a frame");
        prop_assert!(decoder.buffered() <= MAX_WIRE_LEN);
    }

    /// Arbitrary noise with no delimiter after it merges with the frame that follows, so that one
    /// frame may be lost (no framing can tell where noise ends); nothing else is lost, and what is
    /// decoded is what was sent, in order.
    #[test]
    fn bare_noise_loses_at_most_the_next_frame(
        items in proptest::collection::vec(
            (controller_frame(), proptest::collection::vec(any::<u8>(), 0..400)),
            1..10,
        ),
    ) {
        let mut stream = Vec::new();
        let mut must_arrive = Vec::new();
        for (frame, noise) in &items {
            stream.extend_from_slice(noise);
            stream.extend_from_slice(&encode(frame).unwrap());
            if noise.is_empty() || noise.last() == Some(&0) {
                must_arrive.push(frame.clone());
            }
        }
        let (out, _) = decode_all(Side::Host, &stream);
        let sent: Vec<Frame> = items.into_iter().map(|(f, _)| f).collect();
        prop_assert!(is_subsequence(&out, &sent), "decoded a frame that was not sent");
        prop_assert!(is_subsequence(&must_arrive, &out), "lost a frame not touched by noise");
    }

    #[test]
    fn decoder_never_panics_and_stays_bounded(
        reads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..8),
    ) {
        for side in [Side::Host, Side::Controller] {
            let mut decoder = Decoder::new(side);
            let mut n = 0u64;
            for read in &reads {
                decoder.feed_with(read, |_| n += 1);
                prop_assert!(decoder.buffered() <= MAX_WIRE_LEN);
            }
            let delimiters = reads.iter().flatten().filter(|&&b| b == 0).count() as u64;
            prop_assert_eq!(n, delimiters);
            prop_assert_eq!(decoder.frames() + decoder.rejects().iter().map(|(_, c)| c).sum::<u64>(), n);
        }
    }

    /// Any burst error of up to 16 bits in a frame (a single flipped bit, a garbled byte or two) is
    /// refused: CRC-16/CCITT-FALSE detects every such burst.
    #[test]
    fn a_burst_error_is_never_accepted(
        frame in controller_frame(),
        at in any::<prop::sample::Index>(),
        burst in 1u16..=u16::MAX,
    ) {
        let mut raw = frame.to_raw().unwrap();
        // Bits in the CRC's order: byte 0's most significant bit first. Any error confined to 16
        // consecutive bits of that order is a burst of length <= 16.
        let start = at.index(raw.len() * 8 - 15);
        for j in 0..16 {
            if burst & (0x8000 >> j) != 0 {
                let bit = start + j;
                raw[bit / 8] ^= 0x80 >> (bit % 8);
            }
        }
        let mut wire = cobs::encode(&raw);
        wire.push(0);
        let (out, rejects) = decode_all(Side::Host, &wire);
        prop_assert!(out.is_empty(), "{:?}", out);
        prop_assert_eq!(rejects.errors(), 1);
    }
}
