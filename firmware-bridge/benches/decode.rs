//! How fast the host decodes controller frames: `Decoder::feed` over a realistic stream, in MB/s and
//! frames/s.
//!
//! Run: `cargo bench -p firmware-bridge --bench decode`. The stream is 10,000 frames (pockets,
//! buttons, heartbeats, cue returns, rack-ready, light state, a hello every 1,000), 11.1 bytes each
//! on average, fed in 64-byte reads as a serial port delivers them, and in one piece. The floors,
//! measured in the same run over the same bytes: finding the `0x00` delimiters (the least any
//! framing must do) and the CRC-16 over every byte (the least any checked framing must do).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use firmware_bridge::codec::{Capabilities, Decoder, Frame, Message, Side, crc, encode_into};
use shared::protocol::Button;

const FRAMES: usize = 10_000;

fn stream() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..FRAMES {
        let n = i as u8;
        let message = match i % 10 {
            _ if i % 1000 == 0 => Message::Hello {
                device_id: "ctl-t1".into(),
                firmware: "1.4.2".into(),
                table: "t1".into(),
                capabilities: Capabilities::POCKETS | Capabilities::BUTTONS,
            },
            0..=3 => Message::Pocket {
                ball: n % 16,
                pocket: n % 6 + 1,
            },
            4 | 5 => Message::Button(Button::EndTurn),
            6 => Message::Heartbeat,
            7 => Message::CueReturn,
            8 => Message::RackReady,
            _ => Message::LightState { on: i % 2 == 0 },
        };
        encode_into(&Frame::new(i as u32 + 1, message), &mut out).expect("valid frame");
    }
    out
}

fn decode(bytes: &[u8], read: usize, out: &mut Vec<Frame>) -> usize {
    let mut decoder = Decoder::new(Side::Host);
    out.clear();
    for chunk in bytes.chunks(read) {
        decoder.feed(chunk, out);
    }
    assert_eq!(out.len(), FRAMES);
    out.len()
}

fn bench(c: &mut Criterion) {
    let bytes = stream();
    eprintln!(
        "stream: {} frames, {} bytes ({:.1} bytes/frame)",
        FRAMES,
        bytes.len(),
        bytes.len() as f64 / FRAMES as f64
    );
    let mut out = Vec::with_capacity(FRAMES);

    let mut g = c.benchmark_group("decode_bytes");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("decoder_64B_reads", |b| {
        b.iter(|| decode(black_box(&bytes), 64, &mut out));
    });
    g.bench_function("decoder_one_read", |b| {
        b.iter(|| decode(black_box(&bytes), bytes.len(), &mut out));
    });
    g.bench_function("floor_find_delimiters", |b| {
        b.iter(|| black_box(&bytes).iter().filter(|&&x| x == 0).count());
    });
    g.bench_function("floor_crc16", |b| b.iter(|| crc::crc16(black_box(&bytes))));
    g.finish();

    let mut g = c.benchmark_group("decode_frames");
    g.throughput(Throughput::Elements(FRAMES as u64));
    g.bench_function("decoder_64B_reads", |b| {
        b.iter(|| decode(black_box(&bytes), 64, &mut out));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
