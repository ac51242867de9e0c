use super::*;
use proptest::prelude::*;

fn basic(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    RtpHeader {
        pt: 0,
        marker: true,
        seq: 0x1234,
        ts: 0xdead_beef,
        ssrc: 0x0102_0304,
    }
    .emit(payload, &mut out);
    out
}

#[test]
fn valid_packet_fields() {
    let bytes = basic(&[0xaa; 160]);
    let p = RtpPacket::new_checked(&bytes).unwrap();
    assert_eq!(p.version(), 2);
    assert!(p.marker());
    assert_eq!(p.payload_type(), 0);
    assert_eq!(p.sequence(), 0x1234);
    assert_eq!(p.timestamp(), 0xdead_beef);
    assert_eq!(p.ssrc(), 0x0102_0304);
    assert_eq!(p.csrcs().count(), 0);
    assert_eq!(p.extension(), None);
    assert_eq!(p.payload(), &[0xaa; 160][..]);
    assert_eq!(p.header_len(), 12);
    assert_eq!(p.padding_len(), 0);
    assert_eq!(
        p.header(),
        RtpHeader {
            pt: 0,
            marker: true,
            seq: 0x1234,
            ts: 0xdead_beef,
            ssrc: 0x0102_0304
        }
    );
}

#[test]
fn header_only_packet_has_empty_payload() {
    let bytes = basic(&[]);
    let p = RtpPacket::new_checked(&bytes).unwrap();
    assert!(p.payload().is_empty());
}

#[test]
fn truncated_header_is_refused() {
    let bytes = basic(&[1, 2, 3]);
    for len in 0..12 {
        assert_eq!(
            RtpPacket::new_checked(&bytes[..len]),
            Err(RtpError::Truncated { needed: 12, got: len })
        );
    }
}

#[test]
fn wrong_version_is_refused() {
    let mut bytes = basic(&[1]);
    for v in [0u8, 1, 3] {
        bytes[0] = (bytes[0] & 0x3f) | (v << 6);
        assert_eq!(RtpPacket::new_checked(&bytes), Err(RtpError::BadVersion(v)));
    }
}

#[test]
fn csrc_list_is_read_and_checked() {
    let mut bytes = basic(&[]);
    bytes[0] |= 2;
    bytes.extend_from_slice(&[0, 0, 0, 7, 0xff, 0, 0, 8]);
    bytes.extend_from_slice(&[9, 9]);
    let p = RtpPacket::new_checked(&bytes).unwrap();
    assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![7, 0xff00_0008]);
    assert_eq!(p.payload(), &[9, 9]);
    assert_eq!(
        RtpPacket::new_checked(&bytes[..19]),
        Err(RtpError::Truncated { needed: 20, got: 19 })
    );
    bytes[0] |= 0x0f;
    assert!(matches!(
        RtpPacket::new_checked(&bytes),
        Err(RtpError::Truncated { needed: 72, .. })
    ));
}

#[test]
fn extension_is_read_and_checked() {
    let mut bytes = basic(&[]);
    bytes[0] |= 0x10;
    bytes.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0, 5, 6]);
    let p = RtpPacket::new_checked(&bytes).unwrap();
    assert_eq!(
        p.extension(),
        Some(RtpExtension {
            profile: 0xbede,
            data: &[0x10, 0xff, 0, 0]
        })
    );
    assert_eq!(p.payload(), &[5, 6]);
    assert_eq!(p.header_len(), 20);
    // Missing extension header, missing extension data.
    assert_eq!(
        RtpPacket::new_checked(&bytes[..14]),
        Err(RtpError::Truncated { needed: 16, got: 14 })
    );
    assert_eq!(
        RtpPacket::new_checked(&bytes[..18]),
        Err(RtpError::Truncated { needed: 20, got: 18 })
    );
    bytes[15] = 0xff;
    assert!(matches!(
        RtpPacket::new_checked(&bytes),
        Err(RtpError::Truncated { .. })
    ));
}

#[test]
fn extension_after_csrcs() {
    let mut bytes = basic(&[]);
    bytes[0] |= 0x11;
    bytes.extend_from_slice(&[0, 0, 0, 1, 0x10, 0x00, 0, 0, 1]);
    let p = RtpPacket::new_checked(&bytes).unwrap();
    assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![1]);
    assert_eq!(
        p.extension(),
        Some(RtpExtension {
            profile: 0x1000,
            data: &[]
        })
    );
    assert_eq!(p.payload(), &[1]);
}

#[test]
fn padding_is_stripped_and_checked() {
    let mut bytes = basic(&[1, 2, 3, 0, 0, 3]);
    bytes[0] |= 0x20;
    let p = RtpPacket::new_checked(&bytes).unwrap();
    assert_eq!(p.payload(), &[1, 2, 3]);
    assert_eq!(p.padding_len(), 3);
    // Padding may take the whole payload.
    let last = bytes.len() - 1;
    bytes[last] = 6;
    assert_eq!(RtpPacket::new_checked(&bytes).unwrap().payload(), &[] as &[u8]);
    bytes[last] = 7;
    assert_eq!(RtpPacket::new_checked(&bytes), Err(RtpError::BadPadding(7)));
    bytes[last] = 0;
    assert_eq!(RtpPacket::new_checked(&bytes), Err(RtpError::BadPadding(0)));
    // P bit on a header-only packet: the count would be a header byte.
    let mut empty = basic(&[]);
    empty[0] |= 0x20;
    assert!(matches!(RtpPacket::new_checked(&empty), Err(RtpError::BadPadding(_))));
}

#[test]
fn padding_cannot_reach_into_the_extension() {
    let mut bytes = basic(&[]);
    bytes[0] |= 0x30;
    bytes.extend_from_slice(&[0xbe, 0xde, 0, 1, 0, 0, 0, 8]);
    assert_eq!(RtpPacket::new_checked(&bytes), Err(RtpError::BadPadding(8)));
}

#[test]
fn header_write_to_and_emit_agree() {
    let h = RtpHeader {
        pt: 0xff,
        marker: false,
        seq: 65535,
        ts: 1,
        ssrc: 2,
    };
    let mut buf = [0u8; 20];
    assert_eq!(h.write_to(&mut buf), Ok(12));
    let mut v = Vec::new();
    h.emit(&[], &mut v);
    assert_eq!(&buf[..12], &v[..]);
    let p = RtpPacket::new_checked(&v).unwrap();
    assert_eq!(p.payload_type(), 0x7f);
    assert!(!p.marker());
    assert_eq!(
        h.write_to(&mut buf[..11]),
        Err(RtpError::BufferTooSmall { needed: 12, got: 11 })
    );
}

#[test]
fn mutator_rewrites_in_place_and_keeps_the_rest() {
    let mut bytes = basic(&[7; 10]);
    bytes[0] |= 0x11;
    bytes.splice(12..12, [0, 0, 0, 9, 0xbe, 0xde, 0, 1, 1, 2, 3, 4]);
    let before = bytes.clone();
    let mut m = RtpPacketMut::new_checked(&mut bytes).unwrap();
    m.translate(8, 100, 200, 300);
    let p = m.as_packet();
    assert_eq!(
        (p.payload_type(), p.sequence(), p.timestamp(), p.ssrc()),
        (8, 100, 200, 300)
    );
    assert!(p.marker());
    m.set_marker(false);
    m.set_payload_type(0x81);
    m.set_sequence(1);
    m.set_timestamp(2);
    m.set_ssrc(3);
    m.payload_mut()[0] = 0x55;
    let p = RtpPacket::new_checked(&bytes).unwrap();
    assert_eq!(
        (p.marker(), p.payload_type(), p.sequence(), p.timestamp(), p.ssrc()),
        (false, 1, 1, 2, 3)
    );
    assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![9]);
    assert_eq!(p.extension().unwrap().data, &[1, 2, 3, 4]);
    assert_eq!(p.payload()[0], 0x55);
    assert_eq!(
        &bytes[12..],
        &{
            let mut b = before[12..].to_vec();
            b[12] = 0x55;
            b
        }[..]
    );
    let mut short = [0x80u8; 5];
    assert!(RtpPacketMut::new_checked(&mut short).is_err());
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        if let Ok(p) = RtpPacket::new_checked(&bytes) {
            let _ = (p.marker(), p.payload_type(), p.sequence(), p.timestamp(), p.ssrc(), p.padding_len());
            let csrcs = p.csrcs().count();
            let ext = p.extension().map_or(0, |e| e.data.len() + 4);
            prop_assert_eq!(12 + 4 * csrcs + ext + p.payload().len() + p.padding_len(), bytes.len());
        }
        let mut copy = bytes.clone();
        if let Ok(mut m) = RtpPacketMut::new_checked(&mut copy) {
            m.translate(1, 2, 3, 4);
            let _ = m.payload_mut().len();
        }
    }

    #[test]
    fn random_version_2_headers_never_panic(first in any::<u8>(), rest in proptest::collection::vec(any::<u8>(), 11..80)) {
        let mut bytes = vec![0x80 | (first & 0x3f)];
        bytes.extend_from_slice(&rest);
        if let Ok(p) = RtpPacket::new_checked(&bytes) {
            let _ = (p.csrcs().count(), p.extension(), p.payload());
        }
    }
}
