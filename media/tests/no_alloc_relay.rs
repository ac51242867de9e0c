//! Guard: checking, reading and translating a relayed RTP packet allocates
//! nothing. `allocation-counter` installs a counting global allocator in this
//! test binary alone and counts per thread, so parallel tests do not interfere
//! (the workspace forbids unsafe code, which a hand-written `GlobalAlloc` needs).

use media::rtp::{RtpHeader, RtpPacket, RtpPacketMut};

/// One relay step as the engine does it: check, read, translate.
fn relay(buf: &mut [u8], out_seq: u16) -> u32 {
    let p = RtpPacket::new_checked(buf).expect("valid packet");
    let ts = p.timestamp().wrapping_add(160);
    let sum = p.ssrc() ^ u32::from(p.sequence()) ^ u32::from(p.payload_type()) ^ p.payload().len() as u32;
    let csrcs: u32 = p.csrcs().sum();
    let ext = p.extension().map_or(0, |e| e.data.len() as u32);
    let mut m = RtpPacketMut::new_checked(buf).expect("valid packet");
    m.translate(8, out_seq, ts, 0x5eed);
    sum ^ csrcs ^ ext
}

#[test]
fn parsing_and_rewriting_a_packet_does_not_allocate() {
    let mut plain = Vec::new();
    RtpHeader {
        pt: 0,
        marker: false,
        seq: 1,
        ts: 160,
        ssrc: 42,
    }
    .emit(&[0xd5; 160], &mut plain);
    let mut rich = plain.clone();
    rich[0] |= 0x31; // padding, extension, one CSRC
    rich.splice(12..12, [0, 0, 0, 7, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0]);
    rich.extend_from_slice(&[0, 0, 0, 4]);

    let mut acc = 0u32;
    let info = allocation_counter::measure(|| {
        for i in 0..10_000u16 {
            acc ^= relay(&mut plain, i);
            acc ^= relay(&mut rich, i);
        }
    });
    assert_eq!(info.count_total, 0, "relaying allocated: {info:?}");
    assert_ne!(std::hint::black_box(acc), 1);
    assert_eq!(RtpPacket::new_checked(&rich).expect("valid").sequence(), 9_999);
}

#[test]
fn the_counter_sees_allocations() {
    let info = allocation_counter::measure(|| {
        std::hint::black_box(vec![0u8; 64]);
    });
    assert_eq!(info.count_total, 1);
}
