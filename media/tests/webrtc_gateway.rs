//! A browser leg end to end over loopback: a WebRTC client (str0m, full
//! ICE, as a browser is) takes the ICE-lite offer of an engine leg, connects
//! through ICE and DTLS-SRTP on the leg's socket, and audio flows both ways
//! between it and a plain RTP phone bridged to it in the engine: PCMU
//! payloads pass unchanged, SRTP on one side and plain RTP on the other.
#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::engine::{Direction, EngineConfig, LegConfig, MediaEngine};
use media::rtp::packet::{RtpHeader, RtpPacket};
use media::webrtc::{engine_leg_config, OpusBandwidth, SessionEvent, WebRtcConfig, WebRtcGateway};
use str0m::change::SdpOffer;
use str0m::media::Mid;
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc};

struct Browser {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    mid: Mid,
    connected: bool,
    received: Vec<(u8, u16, Vec<u8>)>,
}

impl Browser {
    fn answering(offer: &str) -> (Browser, String) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(2))).unwrap();
        let local = socket.local_addr().unwrap();
        let mut rtc = Rtc::builder()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_pcmu(true, false)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        let answer = rtc
            .sdp_api()
            .accept_offer(SdpOffer::from_sdp_string(offer).unwrap())
            .unwrap()
            .to_sdp_string();
        let mid = answer
            .lines()
            .find_map(|l| l.strip_prefix("a=mid:"))
            .map(|m| Mid::from(m.trim()))
            .unwrap();
        let browser = Browser {
            rtc,
            socket,
            local,
            mid,
            connected: false,
            received: Vec::new(),
        };
        (browser, answer)
    }

    /// Runs the client for one step: drains its output, reads one datagram.
    fn step(&mut self) {
        loop {
            match self.rtc.poll_output().unwrap() {
                Output::Timeout(_) => break,
                Output::Transmit(t) => {
                    self.socket.send_to(&t.contents, t.destination).unwrap();
                }
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::RtpPacket(p)) => {
                    self.received
                        .push((*p.header.payload_type, p.header.sequence_number, p.payload.to_vec()))
                }
                Output::Event(_) => {}
            }
        }
        let mut buf = [0u8; 2048];
        let input = match self.socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                let receive = Receive::new(Protocol::Udp, from, self.local, &buf[..n]).unwrap();
                self.rtc.handle_input(Input::Receive(Instant::now(), receive))
            }
            Err(_) => self.rtc.handle_input(Input::Timeout(Instant::now())),
        };
        input.unwrap();
    }

    fn send(&mut self, pt: u8, seq: u64, payload: &[u8]) {
        let mut direct = self.rtc.direct_api();
        let stream = direct
            .stream_tx_by_mid(self.mid, None)
            .expect("a send stream for the audio");
        stream.write_rtp(RtpWrite::new(
            pt.into(),
            SeqNo::from(seq),
            (seq * 160) as u32,
            Instant::now(),
            payload,
        ));
    }
}

fn engine() -> Arc<MediaEngine> {
    let first = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port() & !1;
    let (engine, _events) = MediaEngine::start(&EngineConfig {
        bind: "127.0.0.1".parse().unwrap(),
        port_first: first,
        port_last: first.saturating_add(40),
        workers: 1,
        inactivity: Duration::from_secs(60),
    })
    .unwrap();
    Arc::new(engine)
}

#[test]
fn browser_leg_connects_and_carries_audio_both_ways() {
    let engine = engine();
    let (gateway, mut events) = WebRtcGateway::new(WebRtcConfig::default(), engine.clone());
    let (browser_leg, phone_leg) = (engine.allocate(7).unwrap(), engine.allocate(7).unwrap());
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    phone.set_nonblocking(true).unwrap();
    engine.configure(
        phone_leg.id,
        LegConfig {
            remote_rtp: Some(phone.local_addr().unwrap()),
            remote_rtcp: None,
            rtcp_mux: false,
            payload_type: 0,
            clock_rate: 8000,
            codec: "PCMU".into(),
            telephone_event: None,
            direction: Direction::SENDRECV,
        },
    );
    let leg = gateway.offer(&browser_leg, OpusBandwidth::Full).unwrap();
    assert!(leg.sdp.contains("a=ice-lite"), "{}", leg.sdp);
    assert!(leg.sdp.contains("UDP/TLS/RTP/SAVPF"), "{}", leg.sdp);
    assert!(leg.sdp.contains("a=fingerprint:sha-256"), "{}", leg.sdp);
    assert_eq!(
        leg.browser_side, browser_leg.local,
        "the leg's own socket faces the browser"
    );
    assert!(
        leg.sdp.contains(&format!("{} typ host", leg.browser_side.port())),
        "{}",
        leg.sdp
    );
    assert!(
        leg.sdp.contains("opus/48000/2") && leg.sdp.contains("PCMU/8000"),
        "{}",
        leg.sdp
    );
    assert!(!leg.sdp.contains("maxplaybackrate"), "{}", leg.sdp);

    let (mut browser, answer) = Browser::answering(&leg.sdp);
    let answered = Instant::now();
    let negotiated = gateway.accept_answer(browser_leg.id, &answer).unwrap();
    assert_eq!(negotiated.codec, "PCMU");
    assert_eq!(negotiated.clock_rate, 8000);
    engine.configure(browser_leg.id, engine_leg_config(&negotiated, &browser_leg));
    engine.bridge(browser_leg.id, phone_leg.id);

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut connected_at = None;
    let mut phone_seq = 1000u16;
    let mut browser_seq = 5000u64;
    let mut at_phone: Vec<Vec<u8>> = Vec::new();
    while Instant::now() < deadline {
        browser.step();
        while let Ok(e) = events.try_recv() {
            assert_eq!(e.session, browser_leg.id);
            if e.event == SessionEvent::Connected {
                connected_at = Some(e.at);
            }
        }
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = phone.recv_from(&mut buf) {
            assert_eq!(from, phone_leg.local);
            at_phone.push(buf[..n].to_vec());
        }
        if connected_at.is_some() && browser.connected {
            // 20 ms of "audio" each way per step.
            let header = RtpHeader {
                pt: 0,
                marker: false,
                seq: phone_seq,
                ts: u32::from(phone_seq) * 160,
                ssrc: 0x1234_5678,
            };
            let mut packet = Vec::new();
            header.emit(&[0xAB; 160], &mut packet);
            phone.send_to(&packet, phone_leg.local).unwrap();
            phone_seq = phone_seq.wrapping_add(1);
            browser.send(negotiated.payload_type, browser_seq, &[0xCD; 160]);
            browser_seq += 1;
        }
        if browser.received.len() >= 10 && at_phone.len() >= 10 {
            break;
        }
    }
    let connected_at = connected_at.expect("the engine reported the browser connected");
    eprintln!("ICE + DTLS after the answer: {:?}", connected_at - answered);

    assert!(
        browser.received.len() >= 10,
        "browser got {} packets",
        browser.received.len()
    );
    for (pt, _, payload) in &browser.received {
        assert_eq!(*pt, negotiated.payload_type);
        assert_eq!(payload, &[0xAB; 160]);
    }
    let seqs: Vec<u16> = browser.received.iter().map(|r| r.1).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)), "{seqs:?}");

    assert!(at_phone.len() >= 10, "phone got {} packets", at_phone.len());
    for packet in &at_phone {
        let rtp = RtpPacket::new_checked(packet).expect("plain RTP towards the phone");
        assert_eq!(rtp.payload_type(), 0);
        assert_eq!(rtp.payload(), &[0xCD; 160]);
    }
    engine.release(browser_leg.id);
    engine.release(phone_leg.id);
}

#[test]
fn garbage_answers_are_refused_and_narrowband_is_asked_for() {
    let engine = engine();
    let (gateway, _events) = WebRtcGateway::new(
        WebRtcConfig {
            public: Some("192.0.2.10".parse().unwrap()),
        },
        engine.clone(),
    );
    let leg = engine.allocate(1).unwrap();
    let offer = gateway.offer(&leg, OpusBandwidth::Narrow).unwrap();
    // Behind NAT the public address is the candidate.
    assert!(offer.sdp.contains("192.0.2.10"), "{}", offer.sdp);
    assert!(
        offer.sdp.contains("maxplaybackrate=8000;sprop-maxcapturerate=8000"),
        "{}",
        offer.sdp
    );
    assert!(gateway.accept_answer(leg.id, "not sdp").is_err());
    assert!(gateway.accept_answer(leg.id, "v=0\r\nm=audio 9 RTP/AVP 8\r\n").is_err());
    engine.release(leg.id);
}
