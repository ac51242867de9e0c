//! Cost per packet of what the relay does to every RTP packet: check the header,
//! read SSRC, sequence number, timestamp and payload type, and rewrite them for
//! the other leg. Our views ([`media::rtp::RtpPacket`], [`media::rtp::RtpPacketMut`])
//! against webrtc-rs's `rtp` crate (`Packet::unmarshal`, then `marshal_to` after
//! changing the header, since its packets are owned values), on the same
//! 172-byte G.711 packet (12-byte header, 160 bytes of payload).
//!
//! `cargo bench -p media --bench rtp` (add `-- --quick` for a short run).

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use media::rtp::{RtpHeader, RtpPacket, RtpPacketMut};
use webrtc_util::marshal::{Marshal, Unmarshal};

fn g711_packet() -> Vec<u8> {
    let mut out = Vec::new();
    RtpHeader {
        pt: 0,
        marker: false,
        seq: 4711,
        ts: 160_000,
        ssrc: 0x1234_5678,
    }
    .emit(&[0xd5; 160], &mut out);
    out
}

fn ours(c: &mut Criterion) {
    let mut group = c.benchmark_group("rtp");
    group.throughput(Throughput::Elements(1));
    let packet = g711_packet();

    group.bench_function("switchboard/parse", |b| {
        b.iter(|| {
            let p = RtpPacket::new_checked(black_box(&packet)).expect("valid");
            black_box((
                p.ssrc(),
                p.sequence(),
                p.timestamp(),
                p.payload_type(),
                p.payload().len(),
            ))
        })
    });

    let mut buf = packet.clone();
    let mut seq = 0u16;
    group.bench_function("switchboard/parse+rewrite", |b| {
        b.iter(|| {
            let p = RtpPacket::new_checked(black_box(&buf)).expect("valid");
            let (ssrc, ts, pt) = (p.ssrc(), p.timestamp(), p.payload_type());
            seq = seq.wrapping_add(1);
            let mut m = RtpPacketMut::new_checked(black_box(&mut buf)).expect("valid");
            m.translate(pt ^ 8, seq, ts.wrapping_add(160), ssrc ^ 1);
        })
    });

    group.bench_function("webrtc-rtp/unmarshal(&[u8])", |b| {
        b.iter(|| {
            let mut raw: &[u8] = black_box(&packet);
            let p = rtp::packet::Packet::unmarshal(&mut raw).expect("valid");
            black_box((
                p.header.ssrc,
                p.header.sequence_number,
                p.header.timestamp,
                p.payload.len(),
            ))
        })
    });

    let shared = Bytes::from(packet.clone());
    group.bench_function("webrtc-rtp/unmarshal(Bytes)", |b| {
        b.iter(|| {
            let mut raw = black_box(&shared).clone();
            let p = rtp::packet::Packet::unmarshal(&mut raw).expect("valid");
            black_box((
                p.header.ssrc,
                p.header.sequence_number,
                p.header.timestamp,
                p.payload.len(),
            ))
        })
    });

    let mut out = vec![0u8; 1500];
    let mut seq = 0u16;
    group.bench_function("webrtc-rtp/unmarshal+marshal_to", |b| {
        b.iter(|| {
            let mut raw: &[u8] = black_box(&packet);
            let mut p = rtp::packet::Packet::unmarshal(&mut raw).expect("valid");
            seq = seq.wrapping_add(1);
            p.header.sequence_number = seq;
            p.header.timestamp = p.header.timestamp.wrapping_add(160);
            p.header.ssrc ^= 1;
            p.header.payload_type ^= 8;
            black_box(p.marshal_to(&mut out).expect("room"))
        })
    });
    group.finish();
}

criterion_group!(benches, ours);
criterion_main!(benches);
