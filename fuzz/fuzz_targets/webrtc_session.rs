//! A browser leg of the WebRTC gateway (`media::webrtc::Session`) fed
//! arbitrary datagrams from both sides and arbitrary SDP.
//!
//! The session is made as the gateway makes it (an offer to the browser, or
//! an answer to the browser's offer) against an in-process str0m peer that
//! behaves as a browser (full ICE, DTLS client, SRTP). The input says
//! whether the two connect first (ICE and DTLS run for real, so fuzzed
//! SRTP, RTCP and engine RTP meet a session that is up) and then plays
//! operations: raw datagrams from the browser's address or another one,
//! real datagrams of the peer with bytes changed, SRTP the peer sends,
//! plain RTP and junk from the engine, fuzzed SDP as the browser's answer
//! and as a re-offer, and time passing. Nothing may panic; what goes to the
//! engine is valid RTP; every drain ends in a timeout.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use media::rtp::packet::{RtpHeader, RtpPacket};
use media::webrtc::{negotiated, OpusBandwidth, Session, SessionOutput};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::config::DtlsCert;
use str0m::crypto::CryptoProvider;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

#[derive(Debug, Arbitrary)]
enum Op {
    /// Raw bytes from the browser's address.
    Browser(Vec<u8>),
    /// Raw bytes from some other address (a stray or spoofed sender).
    Stranger(u16, Vec<u8>),
    /// One of the peer's real datagrams again, with bytes changed.
    Mutated { index: u8, changes: Vec<(u16, u8)>, cut: Option<u16> },
    /// One of the peer's real datagrams again, unchanged (a replay).
    Replay(u8),
    /// SRTP from the peer: an RTP packet it encrypts and sends.
    PeerRtp { pt: u8, seq: u16, ts: u32, len: u16 },
    /// Plain RTP from the engine leg, well formed.
    EngineRtp { pt: u8, seq: u16, ts: u32, marker: bool, len: u16 },
    /// Anything from the engine leg.
    Engine(Vec<u8>),
    /// SDP text as the browser's answer to our offer.
    Answer(String),
    /// SDP text as a re-offer from the browser (hold, resume).
    Reoffer(String),
    /// A re-offer the peer really makes (direction change).
    PeerReoffer(bool),
    /// Time passes (ms), then both sides run their timers.
    Wait(u16),
}

#[derive(Debug, Arbitrary)]
struct Script {
    /// The browser calls (the session answers) rather than being called.
    browser_offers: bool,
    /// ICE and DTLS run to completion before the operations.
    connect: bool,
    /// Our offer asks for narrowband Opus.
    narrowband: bool,
    ops: Vec<Op>,
}

const SESSION: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)), 40000);
const BROWSER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)), 50000);

/// Certificates are made once: generating one per run would be most of
/// the time spent.
fn setup() -> &'static (Arc<CryptoProvider>, DtlsCert, DtlsCert) {
    static SETUP: OnceLock<(Arc<CryptoProvider>, DtlsCert, DtlsCert)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let crypto = Arc::new(str0m::crypto::from_feature_flags());
        let a = crypto.dtls_provider.generate_certificate().expect("certificate");
        let b = crypto.dtls_provider.generate_certificate().expect("certificate");
        (crypto, a, b)
    })
}

/// The gateway's configuration (`media::webrtc::session::rtc_config`).
fn gateway_config(crypto: &Arc<CryptoProvider>, cert: &DtlsCert) -> RtcConfig {
    let mut config = RtcConfig::new()
        .set_crypto_provider(crypto.clone())
        .set_dtls_cert(cert.clone())
        .set_ice_lite(true)
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_pcmu(true, false);
    add_telephone_events(&mut config);
    config
}

fn add_telephone_events(config: &mut RtcConfig) {
    for (pt, rate) in [(126u8, Frequency::FORTY_EIGHT_KHZ), (101u8, Frequency::EIGHT_KHZ)] {
        config
            .codec_config()
            .add_config(pt.into(), None, Codec::Tele, rate, None, Default::default());
    }
}

/// A browser: full ICE, DTLS client, Opus, PCMU and telephone-event.
fn browser(crypto: &Arc<CryptoProvider>, cert: &DtlsCert, now: Instant) -> Rtc {
    let mut config = Rtc::builder()
        .set_crypto_provider(crypto.clone())
        .set_dtls_cert(cert.clone())
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_pcmu(true, false);
    add_telephone_events(&mut config);
    let mut rtc = config.build(now);
    rtc.add_local_candidate(Candidate::host(BROWSER, "udp").expect("candidate"));
    rtc
}

struct Call {
    session: Session,
    peer: Rtc,
    peer_mid: Option<Mid>,
    peer_pending: Option<SdpPendingOffer>,
    /// The peer's datagrams so far, for replays and mutations.
    sent: Vec<Vec<u8>>,
    now: Instant,
}

impl Call {
    /// Runs the session's output: datagrams to the peer, RTP checked.
    fn drain_session(&mut self) {
        for _ in 0..10_000 {
            match self.session.poll() {
                SessionOutput::ToBrowser { to, payload } => {
                    if to == BROWSER {
                        if let Ok(r) = Receive::new(Protocol::Udp, SESSION, BROWSER, &payload) {
                            let _ = self.peer.handle_input(Input::Receive(self.now, r));
                        }
                    }
                }
                SessionOutput::ToEngine(packet) => {
                    assert!(RtpPacket::new_checked(&packet).is_ok(), "what goes to the engine is RTP");
                }
                SessionOutput::Event(_) => {}
                SessionOutput::Timeout(_) => return,
            }
        }
        panic!("the session's output never ends");
    }

    /// Runs the peer's output: its datagrams go to the session.
    fn drain_peer(&mut self) {
        for _ in 0..10_000 {
            let output = match self.peer.poll_output() {
                Ok(o) => o,
                Err(_) => return,
            };
            match output {
                Output::Timeout(_) => return,
                Output::Transmit(t) => {
                    let payload = t.contents.to_vec();
                    self.session.handle_browser(self.now, BROWSER, &payload);
                    if self.sent.len() < 64 {
                        self.sent.push(payload);
                    }
                }
                Output::Event(Event::MediaAdded(m)) => self.peer_mid = Some(m.mid),
                Output::Event(_) => {}
            }
        }
        panic!("the peer's output never ends");
    }

    fn pump(&mut self) {
        for _ in 0..8 {
            self.drain_session();
            self.drain_peer();
        }
        self.drain_session();
    }

    fn wait(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.session.handle_timeout(self.now);
        let _ = self.peer.handle_input(Input::Timeout(self.now));
        self.pump();
    }
}

fn start(script: &Script) -> Option<Call> {
    let (crypto, gateway_cert, browser_cert) = setup();
    let now = Instant::now();
    let mut peer = browser(crypto, browser_cert, now);
    let (session, peer_mid) = if script.browser_offers {
        let mut change = peer.sdp_api();
        let mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = change.apply()?;
        let (session, answer, agreed) =
            Session::answer(gateway_config(crypto, gateway_cert), now, SESSION, None, &offer.to_sdp_string()).ok()?;
        assert_eq!(negotiated(&answer).ok(), Some(agreed));
        let answer = SdpAnswer::from_sdp_string(&answer).expect("our answer parses");
        peer.sdp_api().accept_answer(pending, answer).expect("the peer takes our answer");
        (session, Some(mid))
    } else {
        let bandwidth = if script.narrowband { OpusBandwidth::Narrow } else { OpusBandwidth::Full };
        let (mut session, offer) =
            Session::offer(gateway_config(crypto, gateway_cert), now, SESSION, None, bandwidth).ok()?;
        let offer = SdpOffer::from_sdp_string(&offer).expect("our offer parses");
        let answer = peer.sdp_api().accept_offer(offer).expect("the peer takes our offer");
        if script.connect {
            session.accept_answer(&answer.to_sdp_string()).expect("the peer's answer is taken");
        }
        (session, None)
    };
    let mut call = Call {
        session,
        peer,
        peer_mid,
        peer_pending: None,
        sent: Vec::new(),
        now,
    };
    if script.connect {
        for _ in 0..40 {
            call.wait(20);
            if call.session.is_connected() {
                break;
            }
        }
    }
    Some(call)
}

fn run(call: &mut Call, op: &Op) {
    let now = call.now;
    match op {
        Op::Browser(bytes) => call.session.handle_browser(now, BROWSER, bytes),
        Op::Stranger(port, bytes) => {
            let from = SocketAddr::new([127, 0, 0, 2].into(), *port);
            call.session.handle_browser(now, from, bytes);
        }
        Op::Mutated { index, changes, cut } => {
            if call.sent.is_empty() {
                return;
            }
            let mut bytes = call.sent[usize::from(*index) % call.sent.len()].clone();
            if bytes.is_empty() {
                return;
            }
            for &(at, value) in changes {
                let i = usize::from(at) % bytes.len();
                bytes[i] = value;
            }
            if let Some(cut) = cut {
                bytes.truncate(usize::from(*cut) % (bytes.len() + 1));
            }
            call.session.handle_browser(now, BROWSER, &bytes);
        }
        Op::Replay(index) => {
            if !call.sent.is_empty() {
                let bytes = call.sent[usize::from(*index) % call.sent.len()].clone();
                call.session.handle_browser(now, BROWSER, &bytes);
            }
        }
        Op::PeerRtp { pt, seq, ts, len } => {
            let Some(mid) = call.peer_mid else { return };
            let payload = vec![0x55u8; usize::from(*len) % 1200];
            let mut direct = call.peer.direct_api();
            if let Some(stream) = direct.stream_tx_by_mid(mid, None) {
                stream.write_rtp(RtpWrite::new((*pt & 0x7f).into(), SeqNo::from(u64::from(*seq)), *ts, now, &payload[..]));
            }
        }
        Op::EngineRtp { pt, seq, ts, marker, len } => {
            let header = RtpHeader {
                pt: *pt & 0x7f,
                marker: *marker,
                seq: *seq,
                ts: *ts,
                ssrc: 0x1234_5678,
            };
            let mut packet = Vec::new();
            header.emit(&vec![0xd5u8; usize::from(*len) % 1500], &mut packet);
            call.session.handle_engine(now, &packet);
        }
        Op::Engine(bytes) => call.session.handle_engine(now, bytes),
        Op::Answer(sdp) => {
            let _ = negotiated(sdp);
            let _ = call.session.accept_answer(sdp);
        }
        Op::Reoffer(sdp) => {
            let _ = call.session.accept_reoffer(sdp);
        }
        Op::PeerReoffer(hold) => {
            let Some(mid) = call.peer_mid else { return };
            let mut change = call.peer.sdp_api();
            change.set_direction(mid, if *hold { Direction::SendOnly } else { Direction::SendRecv });
            let Some((offer, pending)) = change.apply() else { return };
            call.peer_pending = Some(pending);
            if let Ok(answer) = call.session.accept_reoffer(&offer.to_sdp_string()) {
                if let (Ok(answer), Some(pending)) = (SdpAnswer::from_sdp_string(&answer), call.peer_pending.take()) {
                    let _ = call.peer.sdp_api().accept_answer(pending, answer);
                }
            }
        }
        Op::Wait(ms) => call.wait(u64::from(*ms)),
    }
    call.pump();
}

fuzz_target!(|script: Script| {
    let Some(mut call) = start(&script) else { return };
    for op in script.ops.iter().take(64) {
        run(&mut call, op);
    }
    // Both sides' timers for a minute: whatever state the input left, the
    // session still ends every drain with a timeout.
    for _ in 0..6 {
        call.wait(10_000);
    }
});
