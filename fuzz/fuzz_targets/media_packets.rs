//! Bytes from the network on the media side: RTP, RTCP, SDP bodies, RFC 4733
//! payloads and SIP INFO DTMF bodies, and the relay core fed the same bytes
//! as packets on a bridged leg. Nothing may panic; a relayed packet is still
//! a valid RTP packet.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use media::engine::core::{LegConfig, MediaCore};
use media::engine::Direction;
use media::rtp::packet::RtpPacket;
use media::rtp::rtcp::{RtcpCompound, RtcpIter};
use media::rtp::stats::NtpTimestamp;

fuzz_target!(|data: &[u8]| {
    let _ = RtpPacket::new_checked(data).map(|p| (p.payload(), p.csrcs().count(), p.extension()));
    if let Ok(compound) = RtcpCompound::new_checked(data) {
        for packet in compound.packets() {
            let _ = packet.parse();
        }
    }
    for packet in RtcpIter::new(data).flatten() {
        let _ = packet.parse();
    }
    let _ = media::sdp::Session::from_bytes(data).map(|s| s.to_bytes());
    let _ = media::dtmf::rfc4733::EventPayload::parse(data);
    let _ = media::dtmf::info::parse("application/dtmf-relay", data);

    let now = Instant::now();
    let mut core = MediaCore::new(Duration::from_secs(30), (now, NtpTimestamp(0)));
    let config = |port: u16| LegConfig {
        remote_rtp: Some(([127, 0, 0, 1], port).into()),
        remote_rtcp: None,
        rtcp_mux: true,
        payload_type: 0,
        clock_rate: 8000,
        codec: "PCMU".into(),
        telephone_event: Some(101),
        direction: Direction::SENDRECV,
    };
    core.add_leg(now, 1);
    core.add_leg(now, 2);
    core.configure(now, 1, config(4000));
    core.configure(now, 2, config(5000));
    core.bridge(now, 1, 2);
    let mut packet = data.to_vec();
    if core.handle_rtp(now, 1, ([127, 0, 0, 1], 4000).into(), &mut packet).is_some() {
        assert!(RtpPacket::new_checked(&packet).is_ok(), "a relayed packet stays valid RTP");
    }
    core.handle_timeout(now + Duration::from_secs(60));
    while core.poll_transmit().is_some() {}
    while core.poll_event().is_some() {}
});
