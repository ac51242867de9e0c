//! Cost per packet of the relay decision in [`MediaCore::handle_rtp`]: check
//! the header, find the leg, latch, translate and rewrite for the bridged peer,
//! on a 172-byte G.711 packet. Sockets are not involved (see the media soak,
//! `media/examples/soak.rs`, for the whole path).
//!
//! "1 call" relays both directions of one bridged pair (hot caches); "3000
//! calls" cycles over 6000 legs in one core, as a worker would under load,
//! so the leg lookups miss the caches more. Both with telephone-event 101
//! negotiated; "in-band DTMF detection" negotiates none, so the engine decodes
//! each G.711 packet and runs the Goertzel detector on it.
//!
//! `cargo bench -p media --bench relay -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use media::engine::core::MediaCore;
use media::engine::{Direction, LegConfig};
use media::rtp::RtpHeader;

fn g711_packet(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut out = Vec::new();
    RtpHeader {
        pt: 0,
        marker: false,
        seq,
        ts: u32::from(seq) * 160,
        ssrc,
    }
    .emit(&[0xd5; 160], &mut out);
    out
}

fn phone(call: usize, side: usize) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        10_000 + (call * 2 + side) as u16,
    )
}

/// A core with `calls` bridged PCMU pairs; legs are (call << 8 | side).
fn core_with(calls: usize, now: Instant, telephone_event: Option<u8>) -> MediaCore {
    let mut core = MediaCore::new(Duration::from_secs(30), (now, media::rtp::NtpTimestamp(0)));
    for call in 0..calls {
        let (a, b) = ((call as u64) << 8, (call as u64) << 8 | 1);
        for (leg, side) in [(a, 0), (b, 1)] {
            core.add_leg(now, leg);
            core.configure(
                now,
                leg,
                LegConfig {
                    remote_rtp: Some(phone(call, side)),
                    remote_rtcp: None,
                    rtcp_mux: false,
                    payload_type: 0,
                    clock_rate: 8000,
                    codec: "PCMU".into(),
                    telephone_event,
                    direction: Direction::SENDRECV,
                },
            );
        }
        core.bridge(now, a, b);
    }
    core
}

fn relay(c: &mut Criterion) {
    let mut group = c.benchmark_group("relay");
    group.throughput(Throughput::Elements(1));
    for (calls, te, label) in [
        (1usize, Some(101), "1 call"),
        (3000, Some(101), "3000 calls"),
        (1, None, "1 call, in-band DTMF detection"),
    ] {
        let now = Instant::now();
        let mut core = core_with(calls, now, te);
        let legs = calls * 2;
        let mut packets: Vec<Vec<u8>> = (0..legs).map(|l| g711_packet(1, l as u32)).collect();
        let mut next = 0usize;
        let mut seq = 1u16;
        group.bench_function(format!("handle_rtp, {label}"), |b| {
            b.iter(|| {
                let (call, side) = (next / 2, next % 2);
                let buf = &mut packets[next];
                // A fresh sequence number, as the phone would send.
                buf[2..4].copy_from_slice(&seq.to_be_bytes());
                buf[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
                let leg = (call as u64) << 8 | side as u64;
                let fwd = core.handle_rtp(now, leg, phone(call, side), black_box(buf));
                black_box(fwd).expect("relayed");
                next += 1;
                if next == legs {
                    next = 0;
                    seq = seq.wrapping_add(1);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, relay);
criterion_main!(benches);
