use proptest::prelude::*;

use super::*;
use crate::rtp::NtpTimestamp;

fn block(ssrc: u32, lost: i32) -> ReportBlock {
    ReportBlock {
        ssrc,
        fraction_lost: 25,
        cumulative_lost: lost,
        highest_seq: 0x0001_0017,
        jitter: 80,
        lsr: 0xb705_2000,
        dlsr: 0x0005_4000,
    }
}

fn info() -> SenderInfo {
    SenderInfo {
        ntp: NtpTimestamp(0xe8a1_b2c3_8000_0000),
        rtp_ts: 123_456,
        packet_count: 50,
        octet_count: 8000,
    }
}

/// SR with two blocks, SDES CNAME, BYE with a reason: a full compound.
fn compound() -> Vec<u8> {
    let mut out = Vec::new();
    emit_sender_report(0xaabb_ccdd, &info(), &[block(1, 10), block(2, -3)], &mut out).unwrap();
    emit_sdes_cname(0xaabb_ccdd, "switchboard@10.0.0.1", &mut out).unwrap();
    emit_bye(&[0xaabb_ccdd], Some("hangup"), &mut out).unwrap();
    out
}

#[test]
fn report_block_round_trip_and_sign() {
    for lost in [0, 1, -1, 0x7f_ffff, -0x80_0000] {
        let b = block(9, lost);
        assert_eq!(ReportBlock::from_bytes(&b.to_bytes()), b);
    }
    // Out-of-range counts are clamped to 24 bits.
    assert_eq!(
        ReportBlock::from_bytes(&block(9, 1 << 30).to_bytes()).cumulative_lost,
        0x7f_ffff
    );
    assert_eq!(
        ReportBlock::from_bytes(&block(9, -(1 << 30)).to_bytes()).cumulative_lost,
        -0x80_0000
    );
    let b = block(9, -1).to_bytes();
    assert_eq!(&b[5..8], &[0xff, 0xff, 0xff]);
}

#[test]
fn compound_round_trip() {
    let bytes = compound();
    assert_eq!(bytes.len() % 4, 0);
    let c = RtcpCompound::new_checked(&bytes).unwrap();
    let packets: Vec<_> = c.packets().collect();
    assert_eq!(packets.len(), 3);
    assert_eq!(packets.iter().map(|p| p.len()).sum::<usize>(), bytes.len());

    let Rtcp::SenderReport(sr) = packets[0].parse().unwrap() else {
        panic!("not a SR")
    };
    assert_eq!(sr.ssrc(), 0xaabb_ccdd);
    assert_eq!(sr.sender_info(), info());
    assert_eq!(sr.report_blocks().collect::<Vec<_>>(), vec![block(1, 10), block(2, -3)]);

    let Rtcp::Sdes(sdes) = packets[1].parse().unwrap() else {
        panic!("not a SDES")
    };
    let chunks: Vec<_> = sdes.chunks().collect();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].ssrc, 0xaabb_ccdd);
    assert_eq!(chunks[0].cname(), Some(&b"switchboard@10.0.0.1"[..]));

    let Rtcp::Bye(bye) = packets[2].parse().unwrap() else {
        panic!("not a BYE")
    };
    assert_eq!(bye.ssrcs().collect::<Vec<_>>(), vec![0xaabb_ccdd]);
    assert_eq!(bye.reason(), Some(&b"hangup"[..]));
}

#[test]
fn receiver_report_round_trip() {
    let mut out = Vec::new();
    emit_receiver_report(77, &[], &mut out).unwrap();
    assert_eq!(out, [0x80, 201, 0, 1, 0, 0, 0, 77]);
    emit_receiver_report(77, &[block(5, 2)], &mut out).unwrap();
    let c = RtcpCompound::new_checked(&out).unwrap();
    let rrs: Vec<_> = c
        .packets()
        .map(|p| match p.parse().unwrap() {
            Rtcp::ReceiverReport(rr) => (rr.ssrc(), rr.report_blocks().collect::<Vec<_>>()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(rrs, vec![(77, vec![]), (77, vec![block(5, 2)])]);
}

#[test]
fn sdes_padding_for_every_cname_length() {
    for len in 0..12 {
        let cname = "x".repeat(len);
        let mut out = Vec::new();
        emit_receiver_report(1, &[], &mut out).unwrap();
        emit_sdes_cname(3, &cname, &mut out).unwrap();
        assert_eq!(out.len() % 4, 0);
        let c = RtcpCompound::new_checked(&out).unwrap();
        let Some(Ok(Rtcp::Sdes(s))) = c.packets().nth(1).map(|p| p.parse()) else {
            panic!()
        };
        assert_eq!(s.chunks().next().and_then(|c| c.cname()), Some(cname.as_bytes()));
    }
    assert_eq!(
        emit_sdes_cname(1, &"x".repeat(256), &mut Vec::new()),
        Err(RtpError::TooLarge)
    );
}

#[test]
fn bye_without_reason_and_limits() {
    let mut out = Vec::new();
    emit_bye(&[1, 2, 3], None, &mut out).unwrap();
    let p = RtcpPacket::new_checked(&out).unwrap();
    let bye = Bye::new_checked(p).unwrap();
    assert_eq!(bye.ssrcs().collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(bye.reason(), None);
    assert_eq!(emit_bye(&[0; 32], None, &mut out), Err(RtpError::TooLarge));
    assert_eq!(
        emit_receiver_report(1, &[ReportBlock::default(); 32], &mut out),
        Err(RtpError::TooLarge)
    );
    assert_eq!(
        emit_sender_report(1, &info(), &[ReportBlock::default(); 32], &mut out),
        Err(RtpError::TooLarge)
    );
}

#[test]
fn compound_validity_checks() {
    let good = compound();
    // Empty, truncated, trailing garbage.
    assert!(matches!(
        RtcpCompound::new_checked(&[]),
        Err(RtpError::Truncated { .. })
    ));
    assert_eq!(
        RtcpCompound::new_checked(&good[..good.len() - 4]),
        Err(RtpError::BadLength)
    );
    let mut extra = good.clone();
    extra.extend_from_slice(&[0x80, 200]);
    assert_eq!(RtcpCompound::new_checked(&extra), Err(RtpError::BadLength));
    // First packet not SR/RR.
    let mut sdes_first = Vec::new();
    emit_sdes_cname(1, "a", &mut sdes_first).unwrap();
    assert_eq!(
        RtcpCompound::new_checked(&sdes_first),
        Err(RtpError::BadFirstPacket(PT_SDES))
    );
    // ... but the plain iterator accepts it (reduced-size RTCP).
    assert_eq!(RtcpIter::new(&sdes_first).count(), 1);
    // Version 1 in a later packet.
    let mut bad_version = good.clone();
    let second = RtcpPacket::new_checked(&good).unwrap().len();
    bad_version[second] = 0x40 | (bad_version[second] & 0x3f);
    assert_eq!(RtcpCompound::new_checked(&bad_version), Err(RtpError::BadVersion(1)));
    // Padding on the first packet.
    let mut padded_first = good.clone();
    padded_first[0] |= 0x20;
    assert!(RtcpCompound::new_checked(&padded_first).is_err());
}

#[test]
fn padding_on_the_last_packet_is_allowed() {
    let mut out = Vec::new();
    emit_receiver_report(1, &[], &mut out).unwrap();
    // An RR with 4 bytes of padding: length 2 words, P bit, count byte 4.
    out.extend_from_slice(&[0xa0, 201, 0, 2, 0, 0, 0, 2, 0, 0, 0, 4]);
    let c = RtcpCompound::new_checked(&out).unwrap();
    let last = c.packets().last().unwrap();
    assert!(last.has_padding());
    assert_eq!(last.body(), &[0, 0, 0, 2]);
    // Zero or oversized padding counts are refused.
    let n = out.len();
    out[n - 1] = 0;
    assert_eq!(RtcpCompound::new_checked(&out), Err(RtpError::BadPadding(0)));
    out[n - 1] = 9;
    assert_eq!(RtcpCompound::new_checked(&out), Err(RtpError::BadPadding(9)));
}

#[test]
fn typed_views_check_counts() {
    // SR claiming two blocks with room for one.
    let mut out = Vec::new();
    emit_sender_report(1, &info(), &[block(1, 0)], &mut out).unwrap();
    out[0] = (out[0] & !0x1f) | 2;
    let p = RtcpPacket::new_checked(&out).unwrap();
    assert_eq!(p.parse(), Err(RtpError::BadCount));
    assert_eq!(ReceiverReport::new_checked(p), Err(RtpError::WrongType(PT_SR)));
    // SDES claiming two chunks.
    let mut out = Vec::new();
    emit_sdes_cname(1, "abc", &mut out).unwrap();
    out[0] = (out[0] & !0x1f) | 2;
    assert_eq!(RtcpPacket::new_checked(&out).unwrap().parse(), Err(RtpError::BadCount));
    // SDES item running past the packet.
    let mut out = Vec::new();
    emit_sdes_cname(1, "abc", &mut out).unwrap();
    out[9] = 200;
    assert_eq!(RtcpPacket::new_checked(&out).unwrap().parse(), Err(RtpError::BadCount));
    // BYE reason longer than the packet.
    let mut out = Vec::new();
    emit_bye(&[1], Some("bye"), &mut out).unwrap();
    out[8] = 50;
    assert_eq!(RtcpPacket::new_checked(&out).unwrap().parse(), Err(RtpError::BadLength));
    // Unknown types are passed through.
    let app = [0x80, PT_APP, 0, 0];
    assert!(matches!(
        RtcpPacket::new_checked(&app).unwrap().parse(),
        Ok(Rtcp::Other(_))
    ));
}

#[test]
fn iterator_stops_after_an_error() {
    let mut bytes = compound();
    bytes.extend_from_slice(&[0x80, 201, 0, 9]);
    let items: Vec<_> = RtcpIter::new(&bytes).collect();
    assert_eq!(items.len(), 4);
    assert!(items[..3].iter().all(Result::is_ok));
    assert!(matches!(items[3], Err(RtpError::Truncated { .. })));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = RtcpCompound::new_checked(&bytes).map(|c| c.packets().count());
        for p in RtcpIter::new(&bytes).flatten() {
            match p.parse() {
                Ok(Rtcp::SenderReport(sr)) => { let _ = (sr.ssrc(), sr.sender_info(), sr.report_blocks().count()); }
                Ok(Rtcp::ReceiverReport(rr)) => { let _ = (rr.ssrc(), rr.report_blocks().count()); }
                Ok(Rtcp::Sdes(s)) => { for c in s.chunks() { let _ = (c.cname(), c.items().count()); } }
                Ok(Rtcp::Bye(b)) => { let _ = (b.ssrcs().count(), b.reason()); }
                _ => {}
            }
        }
    }

    #[test]
    fn mutated_compounds_never_panic(flip in 0usize..96, value in any::<u8>()) {
        let mut bytes = compound();
        let i = flip % bytes.len();
        bytes[i] = value;
        if let Ok(c) = RtcpCompound::new_checked(&bytes) {
            for p in c.packets() {
                let _ = p.parse();
            }
        }
    }
}
