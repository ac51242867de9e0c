//! One browser leg, sans-IO: a str0m [`Rtc`] (ICE-lite, DTLS-SRTP, RTCP
//! feedback) between the browser and a plain RTP stream to the engine.
//!
//! Datagrams from the browser and plain RTP from the engine go in with the
//! time; datagrams for the browser, plain RTP for the engine and events come
//! out of [`Session::poll`], which ends with the next deadline. The media
//! itself is not touched: the Opus or PCMU payload and RFC 4733 events pass
//! with their payload types, sequence numbers and timestamps, so the engine
//! leg sees the browser as one more RTP phone (transcoding, DTMF, recording
//! and quality stats all happen there). RTCP is terminated on each side:
//! str0m reports to the browser (and answers its NACKs from its cache), the
//! engine's reports about its side are not forwarded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

use super::WebRtcError;
use crate::rtp::packet::{RtpHeader, RtpPacket};

/// What the negotiation decided, for configuring the engine leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The audio payload type both sides use.
    pub payload_type: u8,
    /// The codec's encoding name in upper case (`OPUS`, `PCMU`).
    pub codec: String,
    /// Its RTP clock rate.
    pub clock_rate: u32,
    /// The telephone-event payload type at the codec's clock rate, if any.
    pub telephone_event: Option<u8>,
}

impl Negotiated {
    fn opus_payload_type(&self) -> Option<u8> {
        (self.codec == "OPUS").then_some(self.payload_type)
    }
}

/// How much of Opus a browser leg's audio is worth asking for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpusBandwidth {
    /// Whatever the browser sends (fullband voice by default).
    Full,
    /// Narrowband (RFC 7587 `maxplaybackrate=8000`): for a browser whose
    /// other end is G.711, which keeps only 4 kHz of audio anyway. The
    /// browser's encoder then sends SILK narrowband, which costs the engine
    /// a fraction of a fullband decode (docs/performance.md).
    Narrow,
}

/// What a session has to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// ICE and DTLS are up: media can flow.
    Connected,
    /// The browser is gone (ICE failed or timed out, or DTLS closed).
    Disconnected,
}

/// Output of [`Session::poll`].
#[derive(Debug)]
pub enum SessionOutput {
    /// A datagram for the browser, from the browser-facing socket.
    ToBrowser {
        /// The browser's address.
        to: SocketAddr,
        /// The bytes.
        payload: Vec<u8>,
    },
    /// A plain RTP packet for the engine leg.
    ToEngine(Vec<u8>),
    /// Something happened.
    Event(SessionEvent),
    /// Nothing more until this time (or new input).
    Timeout(Instant),
}

/// Payload types offered: Opus first (str0m's 111, the browser's native
/// codec), PCMU (0) so that a call to a G.711 phone can go without
/// transcoding, telephone-event at both clock rates (RFC 4733 events use the
/// audio codec's rate).
const TELE_48K_PT: u8 = 126;
const TELE_8K_PT: u8 = 101;

/// The str0m configuration of every browser leg.
pub(crate) fn rtc_config(crypto: &Arc<str0m::crypto::CryptoProvider>) -> RtcConfig {
    let mut config = RtcConfig::new()
        .set_crypto_provider(crypto.clone())
        .set_ice_lite(true)
        .set_rtp_mode(true)
        // Audio only: the MID and the audio level. No transport-wide
        // sequence numbers: bandwidth estimation is for video, and their
        // feedback reports cost the gateway per packet for nothing.
        .clear_extension_map()
        .set_extension(1, str0m::rtp::Extension::AudioLevel)
        .set_extension(4, str0m::rtp::Extension::RtpMid)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_pcmu(true, false);
    let codecs = config.codec_config();
    for (pt, rate) in [
        (TELE_48K_PT, str0m::media::Frequency::FORTY_EIGHT_KHZ),
        (TELE_8K_PT, str0m::media::Frequency::EIGHT_KHZ),
    ] {
        codecs.add_config(pt.into(), None, Codec::Tele, rate, None, Default::default());
    }
    config
}

/// A browser leg. See the module docs.
pub struct Session {
    rtc: Rtc,
    mid: Option<Mid>,
    pending: Option<SdpPendingOffer>,
    /// The address of our ICE candidate: the browser-facing socket's, or
    /// the public one in front of it.
    local: SocketAddr,
    /// Extends the engine's 16-bit sequence numbers for str0m.
    last_seq: Option<u64>,
    connected: bool,
    gone: bool,
    /// The negotiated Opus payload type, until the browser's first Opus
    /// packet has said what it sends.
    opus_unseen: Option<u8>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("local", &self.local)
            .field("mid", &self.mid)
            .field("connected", &self.connected)
            .finish()
    }
}

impl Session {
    fn new(
        config: RtcConfig,
        now: Instant,
        local: SocketAddr,
        public: Option<SocketAddr>,
    ) -> Result<Session, WebRtcError> {
        let mut rtc = config.build(now);
        // ICE-lite: our candidates are known, nothing is gathered.
        // Behind a 1:1 NAT the public address is the one candidate: browsers
        // reach us only there, and str0m must see it as the destination of
        // what arrives (see `handle_browser`).
        let candidate = public.unwrap_or(local);
        let host = Candidate::host(candidate, "udp").map_err(|e| WebRtcError::Candidate(e.to_string()))?;
        rtc.add_local_candidate(host);
        Ok(Session {
            rtc,
            mid: None,
            pending: None,
            local: candidate,
            last_seq: None,
            connected: false,
            gone: false,
            opus_unseen: None,
        })
    }

    /// A session that offers audio; the browser's answer goes to
    /// [`Session::accept_answer`].
    pub fn offer(
        config: RtcConfig,
        now: Instant,
        local: SocketAddr,
        public: Option<SocketAddr>,
        bandwidth: OpusBandwidth,
    ) -> Result<(Session, String), WebRtcError> {
        let mut session = Session::new(config, now, local, public)?;
        let mut change = session.rtc.sdp_api();
        let mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = change.apply().ok_or(WebRtcError::Sdp("nothing to offer".into()))?;
        session.mid = Some(mid);
        session.pending = Some(pending);
        let sdp = offer.to_sdp_string();
        let sdp = match bandwidth {
            OpusBandwidth::Full => sdp,
            OpusBandwidth::Narrow => narrowband_opus(&sdp),
        };
        Ok((session, sdp))
    }

    /// A session that answers the browser's offer.
    pub fn answer(
        config: RtcConfig,
        now: Instant,
        local: SocketAddr,
        public: Option<SocketAddr>,
        offer: &str,
    ) -> Result<(Session, String, Negotiated), WebRtcError> {
        let mut session = Session::new(config, now, local, public)?;
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| WebRtcError::Sdp(e.to_string()))?;
        let answer = session
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| WebRtcError::Sdp(e.to_string()))?;
        let text = answer.to_sdp_string();
        let negotiated = negotiated(&text)?;
        session.mid = session.audio_mid(&text);
        session.opus_unseen = negotiated.opus_payload_type();
        Ok((session, text, negotiated))
    }

    /// Applies the browser's answer to our offer.
    pub fn accept_answer(&mut self, answer: &str) -> Result<Negotiated, WebRtcError> {
        let negotiated = negotiated(answer)?;
        let parsed = SdpAnswer::from_sdp_string(answer).map_err(|e| WebRtcError::Sdp(e.to_string()))?;
        let pending = self.pending.take().ok_or(WebRtcError::Sdp("no offer pending".into()))?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, parsed)
            .map_err(|e| WebRtcError::Sdp(e.to_string()))?;
        self.opus_unseen = negotiated.opus_payload_type();
        Ok(negotiated)
    }

    /// A new offer from the browser on a session that is up (hold, resume):
    /// answered from the same session, so ICE and DTLS go on as they are
    /// and only the media direction changes. Returns our answer.
    pub fn accept_reoffer(&mut self, offer: &str) -> Result<String, WebRtcError> {
        let parsed = SdpOffer::from_sdp_string(offer).map_err(|e| WebRtcError::Sdp(e.to_string()))?;
        // An offer of ours still waiting for its answer gives way (glare is
        // the signalling's business; SIP answered it with the re-INVITE).
        self.pending = None;
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(parsed)
            .map_err(|e| WebRtcError::Sdp(e.to_string()))?;
        Ok(answer.to_sdp_string())
    }

    fn audio_mid(&self, sdp: &str) -> Option<Mid> {
        sdp.lines()
            .find_map(|l| l.trim().strip_prefix("a=mid:"))
            .map(|m| Mid::from(m.trim()))
    }

    /// ICE and DTLS are up.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// A datagram from the browser arrived on the browser-facing socket.
    pub fn handle_browser(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        // Not STUN, DTLS, RTP or RTCP: nothing str0m could use.
        let Ok(receive) = Receive::new(Protocol::Udp, from, self.local, datagram) else {
            return;
        };
        if let Err(e) = self.rtc.handle_input(Input::Receive(now, receive)) {
            tracing::debug!(%e, %from, "browser datagram refused");
        }
    }

    /// A plain RTP packet from the engine leg, for the browser.
    pub fn handle_engine(&mut self, now: Instant, packet: &[u8]) {
        // RFC 5761: the engine's RTCP is about its side; str0m makes ours.
        if packet.get(1).is_some_and(|b| (192..=223).contains(b)) {
            return;
        }
        let Ok(rtp) = RtpPacket::new_checked(packet) else {
            return;
        };
        let Some(mid) = self.mid else { return };
        if !self.connected {
            return;
        }
        let seq = self.extend(rtp.sequence());
        let mut direct = self.rtc.direct_api();
        let Some(stream) = direct.stream_tx_by_mid(mid, None) else {
            return;
        };
        let write = RtpWrite::new(
            rtp.payload_type().into(),
            SeqNo::from(seq),
            rtp.timestamp(),
            now,
            rtp.payload(),
        )
        .marker(rtp.marker());
        stream.write_rtp(write);
    }

    fn extend(&mut self, seq: u16) -> u64 {
        let extended = match self.last_seq {
            // The roll-over counter starts at 0 (RFC 3711 section 3.3.1):
            // the browser's SRTP context assumes so for the first packet.
            None => u64::from(seq),
            Some(last) => {
                let delta = i64::from(seq.wrapping_sub(last as u16) as i16);
                last.saturating_add_signed(delta)
            }
        };
        self.last_seq = Some(self.last_seq.map_or(extended, |l| l.max(extended)));
        extended
    }

    /// The time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            tracing::debug!(%e, "webrtc timeout handling failed");
        }
    }

    /// The next output; call until it is a [`SessionOutput::Timeout`].
    pub fn poll(&mut self) -> SessionOutput {
        loop {
            let output = match self.rtc.poll_output() {
                Ok(o) => o,
                Err(e) => {
                    tracing::debug!(%e, "webrtc session failed");
                    return self.disconnected();
                }
            };
            match output {
                Output::Timeout(at) => {
                    if !self.rtc.is_alive() && !self.gone {
                        return self.disconnected();
                    }
                    return SessionOutput::Timeout(at);
                }
                Output::Transmit(t) => {
                    return SessionOutput::ToBrowser {
                        to: t.destination,
                        payload: t.contents.to_vec(),
                    }
                }
                Output::Event(Event::Connected) => {
                    self.connected = true;
                    return SessionOutput::Event(SessionEvent::Connected);
                }
                Output::Event(Event::IceConnectionStateChange(IceConnectionState::Disconnected)) => {
                    return self.disconnected();
                }
                Output::Event(Event::RtpPacket(packet)) => {
                    if self.opus_unseen == Some(*packet.header.payload_type) {
                        self.opus_unseen = None;
                        if let Some(toc) = packet.payload.first() {
                            // What the browser's encoder chose (a narrowband
                            // offer should bring SILK narrowband).
                            tracing::debug!(configuration = toc >> 3, "browser sends Opus {}", opus_mode(*toc));
                        }
                    }
                    let header = RtpHeader {
                        pt: *packet.header.payload_type,
                        marker: packet.header.marker,
                        seq: packet.header.sequence_number,
                        ts: packet.header.timestamp,
                        ssrc: *packet.header.ssrc,
                    };
                    let mut out = Vec::with_capacity(12 + packet.payload.len());
                    header.emit(&packet.payload, &mut out);
                    return SessionOutput::ToEngine(out);
                }
                Output::Event(_) => continue,
            }
        }
    }

    fn disconnected(&mut self) -> SessionOutput {
        if self.gone {
            // Reported once; from now on the session only waits to be closed.
            return SessionOutput::Timeout(far_future());
        }
        self.gone = true;
        SessionOutput::Event(SessionEvent::Disconnected)
    }
}

fn far_future() -> Instant {
    Instant::now() + std::time::Duration::from_secs(3600)
}

/// `sdp` with its Opus format parameters asking for narrowband audio both
/// ways: `maxplaybackrate` (what we decode) and `sprop-maxcapturerate`
/// (what we send), RFC 7587 section 6.1. str0m keeps no such parameters, so
/// they are added to its text; an SDP without Opus comes back unchanged.
pub(crate) fn narrowband_opus(sdp: &str) -> String {
    const NARROW: &str = "maxplaybackrate=8000;sprop-maxcapturerate=8000";
    // `a=<name>:<payload type> <value>`
    fn format_attribute(line: &str) -> Option<(&str, &str, &str)> {
        let (name, rest) = line.strip_prefix("a=")?.split_once(':')?;
        let (pt, value) = rest.split_once(' ')?;
        Some((name, pt, value))
    }
    let attributes = || sdp.lines().filter_map(format_attribute);
    let opus: Vec<&str> = attributes()
        .filter(|(name, _, value)| *name == "rtpmap" && value.to_ascii_lowercase().starts_with("opus/"))
        .map(|(_, pt, _)| pt)
        .collect();
    let with_fmtp: Vec<&str> = attributes()
        .filter(|(name, pt, _)| *name == "fmtp" && opus.contains(pt))
        .map(|(_, pt, _)| pt)
        .collect();
    let mut out = String::with_capacity(sdp.len() + 64);
    for line in sdp.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        match format_attribute(body) {
            Some(("fmtp", pt, _)) if opus.contains(&pt) => {
                out.push_str(body);
                out.push(';');
                out.push_str(NARROW);
                out.push_str(&line[body.len()..]);
            }
            Some(("rtpmap", pt, _)) if opus.contains(&pt) && !with_fmtp.contains(&pt) => {
                out.push_str(body);
                out.push_str(&format!("\r\na=fmtp:{pt} {NARROW}\r\n"));
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// The mode and audio bandwidth an Opus packet's TOC byte names (RFC 6716
/// section 3.1).
fn opus_mode(toc: u8) -> &'static str {
    match toc >> 3 {
        0..=3 => "SILK narrowband",
        4..=7 => "SILK mediumband",
        8..=11 => "SILK wideband",
        12..=13 => "hybrid super-wideband",
        14..=15 => "hybrid fullband",
        16..=19 => "CELT narrowband",
        20..=23 => "CELT wideband",
        24..=27 => "CELT super-wideband",
        _ => "CELT fullband",
    }
}

/// The audio codec and telephone-event of an SDP answer: the first payload
/// type of the first audio line that is not telephone-event.
pub fn negotiated(sdp: &str) -> Result<Negotiated, WebRtcError> {
    let parsed = SdpOffer::from_sdp_string(sdp).map_err(|e| WebRtcError::Sdp(e.to_string()))?;
    let line = parsed
        .media_lines
        .iter()
        .find(|m| m.typ.to_string() == "audio")
        .ok_or(WebRtcError::Sdp("no audio".into()))?;
    let params = line.rtp_params();
    let audio = params
        .iter()
        .find(|p| matches!(p.spec().codec, Codec::Opus | Codec::PCMU))
        .ok_or(WebRtcError::Sdp("neither Opus nor PCMU".into()))?;
    let clock_rate = audio.spec().clock_rate.get();
    let telephone_event = params
        .iter()
        .find(|p| p.spec().codec == Codec::Tele && p.spec().clock_rate.get() == clock_rate)
        .map(|p| *p.pt());
    Ok(Negotiated {
        payload_type: *audio.pt(),
        codec: match audio.spec().codec {
            Codec::Opus => "OPUS".into(),
            _ => "PCMU".into(),
        },
        clock_rate,
        telephone_event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowband_is_asked_for_on_the_opus_format_only() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0 126\r\n\
                   a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
                   a=rtpmap:0 PCMU/8000\r\na=rtpmap:126 telephone-event/48000\r\na=fmtp:126 0-15\r\n";
        let narrow = narrowband_opus(sdp);
        assert!(
            narrow.contains("a=fmtp:111 minptime=10;useinbandfec=1;maxplaybackrate=8000;sprop-maxcapturerate=8000\r\n"),
            "{narrow}"
        );
        assert!(narrow.contains("a=fmtp:126 0-15\r\n"), "{narrow}");
        assert_eq!(
            narrow.len(),
            sdp.len() + ";maxplaybackrate=8000;sprop-maxcapturerate=8000".len()
        );
    }

    #[test]
    fn an_opus_packet_says_its_mode_and_bandwidth() {
        assert_eq!(opus_mode(1 << 3), "SILK narrowband");
        assert_eq!(opus_mode(9 << 3), "SILK wideband");
        assert_eq!(opus_mode(27 << 3 | 0b100), "CELT super-wideband");
        assert_eq!(opus_mode(31 << 3), "CELT fullband");
    }

    #[test]
    fn an_opus_format_without_parameters_gets_them() {
        let sdp = "v=0\r\nm=audio 9 RTP/AVP 96\r\na=rtpmap:96 OPUS/48000/2\r\na=sendrecv\r\n";
        let narrow = narrowband_opus(sdp);
        assert!(
            narrow.contains("a=rtpmap:96 OPUS/48000/2\r\na=fmtp:96 maxplaybackrate=8000;sprop-maxcapturerate=8000\r\n"),
            "{narrow}"
        );
        assert_eq!(
            narrowband_opus("v=0\r\nm=audio 9 RTP/AVP 0\r\n"),
            "v=0\r\nm=audio 9 RTP/AVP 0\r\n"
        );
    }
}
