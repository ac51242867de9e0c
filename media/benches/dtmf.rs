//! DTMF costs: the in-band detector per 20 ms frame, the RFC 4733 receiver per packet.
//!
//! `cargo bench -p media --bench dtmf -- --measurement-time 2 --warm-up-time 1`

#![allow(missing_docs)]

use std::f32::consts::PI;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use media::dtmf::goertzel::Detector;
use media::dtmf::rfc4733::{event_packets, EventPacket, Receiver, SenderConfig};
use media::dtmf::Digit;

/// One second of audio: 500 ms of the pair for `5` at -10 dBm0, then 500 ms of a
/// harmonic speech-like signal, so the bench sees both the accept and reject paths.
fn audio() -> Vec<i16> {
    let a = 22_700.0 * 10f32.powf(-13.0 / 20.0);
    (0..8000)
        .map(|n| {
            let t = n as f32 / 8000.0;
            let x = if n < 4000 {
                a * ((2.0 * PI * 770.0 * t).sin() + (2.0 * PI * 1336.0 * t).sin())
            } else {
                (1..20)
                    .map(|k| a / k as f32 * (2.0 * PI * 137.0 * k as f32 * t).sin())
                    .sum()
            };
            x as i16
        })
        .collect()
}

fn goertzel(c: &mut Criterion) {
    let pcm = audio();
    let frames: Vec<&[i16]> = pcm.chunks(160).collect();
    let mut det = Detector::default();
    let mut i = 0;
    c.bench_function("goertzel detector, 20 ms frame (160 samples)", |b| {
        b.iter(|| {
            det.push(black_box(frames[i % frames.len()]));
            i += 1;
            while let Some(e) = det.poll_event() {
                black_box(e);
            }
        })
    });
}

fn rfc4733(c: &mut Criterion) {
    let config = SenderConfig {
        packet_interval: Duration::from_millis(20),
        ..SenderConfig::default()
    };
    // A stream of digits of 120 ms each with three end packets, as phones send them.
    let mut stream = Vec::new();
    for (k, d) in Digit::KEYS.iter().enumerate() {
        for p in event_packets(*d, Duration::from_millis(120), &config) {
            stream.push((k as u32 * 2000 + p.timestamp_offset, p.marker, p.payload));
        }
    }
    let t0 = Instant::now();
    let mut rx = Receiver::default();
    let mut i = 0usize;
    c.bench_function("rfc4733 receiver, per packet", |b| {
        b.iter(|| {
            let (ts, marker, payload) = &stream[i % stream.len()];
            let lap = ((i / stream.len()) as u32).wrapping_mul(40_000);
            let packet = EventPacket {
                timestamp: ts.wrapping_add(lap),
                marker: *marker,
                sequence: i as u16,
                payload,
            };
            let _ = black_box(rx.handle_packet(t0, packet));
            i += 1;
            while let Some(e) = rx.poll_event() {
                black_box(e);
            }
        })
    });
}

criterion_group!(benches, goertzel, rfc4733);
criterion_main!(benches);
