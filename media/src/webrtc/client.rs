//! A WebRTC client that behaves as a browser does towards the gateway: full
//! ICE (it sends the checks), DTLS client, SRTP. It answers the gateway's
//! offer, sends RTP and collects what it receives. Tests and the capacity
//! benchmark use it in place of Chromium where a browser's page is not the
//! point (many legs at once, exact payloads).
//!
//! It owns one UDP socket and is stepped by its caller; nothing waits.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Instant;

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

use super::WebRtcError;

/// An RTP packet the client received (decrypted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRtp {
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// The payload.
    pub payload: Vec<u8>,
}

/// A browser-like WebRTC peer. See the module docs.
pub struct BrowserClient {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    mid: Mid,
    connected: bool,
    disconnected: bool,
    received: Vec<ReceivedRtp>,
    keep_payloads: bool,
    count: u64,
    reception: Reception,
    buf: Vec<u8>,
    pending: Option<SdpPendingOffer>,
    /// The audio codec's RTP clock rate, for counting packets unread.
    clock_rate: u32,
}

impl std::fmt::Debug for BrowserClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserClient")
            .field("local", &self.local)
            .field("connected", &self.connected)
            .field("received", &self.count)
            .finish()
    }
}

impl BrowserClient {
    /// A client on a new socket at `bind` that answers `offer` with Opus
    /// (and PCMU, and telephone-event) as a browser would; returns it with
    /// its SDP answer.
    pub fn answer(offer: &str, bind: IpAddr, now: Instant) -> Result<(BrowserClient, String), WebRtcError> {
        let socket = UdpSocket::bind((bind, 0))?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let mut rtc = Rtc::builder()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_pcmu(true, false)
            .build(now);
        let candidate = Candidate::host(local, "udp").map_err(|e| WebRtcError::Candidate(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| WebRtcError::Sdp(e.to_string()))?;
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| WebRtcError::Sdp(e.to_string()))?
            .to_sdp_string();
        let mid = answer
            .lines()
            .find_map(|l| l.trim().strip_prefix("a=mid:"))
            .map(|m| Mid::from(m.trim()))
            .ok_or(WebRtcError::Sdp("no audio in the answer".into()))?;
        let client = BrowserClient {
            rtc,
            socket,
            local,
            mid,
            connected: false,
            disconnected: false,
            received: Vec::new(),
            keep_payloads: true,
            count: 0,
            reception: Reception::default(),
            buf: vec![0; 2048],
            pending: None,
            clock_rate: super::negotiated(&answer).map_or(48_000, |n| n.clock_rate),
        };
        Ok((client, answer))
    }

    /// A client on a new socket at `bind` that calls: it offers audio
    /// (Opus, PCMU and telephone-event at 48 and 8 kHz) as a browser's
    /// `RTCPeerConnection` does; the answer goes to
    /// [`BrowserClient::accept_answer`].
    pub fn offer(bind: IpAddr, now: Instant) -> Result<(BrowserClient, String), WebRtcError> {
        let socket = UdpSocket::bind((bind, 0))?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let mut config = Rtc::builder()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_pcmu(true, false);
        for (pt, rate) in [
            (126u8, str0m::media::Frequency::FORTY_EIGHT_KHZ),
            (101u8, str0m::media::Frequency::EIGHT_KHZ),
        ] {
            config.codec_config().add_config(
                pt.into(),
                None,
                str0m::format::Codec::Tele,
                rate,
                None,
                Default::default(),
            );
        }
        let mut rtc = config.build(now);
        let candidate = Candidate::host(local, "udp").map_err(|e| WebRtcError::Candidate(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        let mut change = rtc.sdp_api();
        let mid = change.add_media(str0m::media::MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = change.apply().ok_or(WebRtcError::Sdp("nothing to offer".into()))?;
        let client = BrowserClient {
            rtc,
            socket,
            local,
            mid,
            connected: false,
            disconnected: false,
            received: Vec::new(),
            keep_payloads: true,
            count: 0,
            reception: Reception::default(),
            buf: vec![0; 2048],
            pending: Some(pending),
            clock_rate: 48_000,
        };
        Ok((client, offer.to_sdp_string()))
    }

    /// A new offer changing the audio direction, as a browser's hold
    /// (`SendOnly`) or resume (`SendRecv`) does; the answer goes to
    /// [`BrowserClient::accept_answer`].
    pub fn reoffer(&mut self, direction: Direction) -> Result<String, WebRtcError> {
        let mut change = self.rtc.sdp_api();
        change.set_direction(self.mid, direction);
        let (offer, pending) = change.apply().ok_or(WebRtcError::Sdp("nothing changed".into()))?;
        self.pending = Some(pending);
        Ok(offer.to_sdp_string())
    }

    /// The answer to the pending offer ([`BrowserClient::offer`]'s or
    /// [`BrowserClient::reoffer`]'s).
    pub fn accept_answer(&mut self, answer: &str) -> Result<(), WebRtcError> {
        let parsed = SdpAnswer::from_sdp_string(answer).map_err(|e| WebRtcError::Sdp(e.to_string()))?;
        let pending = self.pending.take().ok_or(WebRtcError::Sdp("no offer pending".into()))?;
        if let Ok(n) = super::negotiated(answer) {
            self.clock_rate = n.clock_rate;
        }
        self.rtc
            .sdp_api()
            .accept_answer(pending, parsed)
            .map_err(|e| WebRtcError::Sdp(e.to_string()))
    }

    /// Counts received packets without keeping or even decrypting them (a
    /// load test of many legs): once connected, an SRTP packet is counted
    /// from its RTP header, which SRTP leaves in the clear (RFC 3711), and
    /// does not reach str0m. STUN, DTLS and RTCP still do.
    pub fn count_only(&mut self) {
        self.keep_payloads = false;
    }

    /// ICE and DTLS are up.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// ICE failed or the peer closed.
    pub fn is_disconnected(&self) -> bool {
        self.disconnected
    }

    /// RTP packets received so far.
    pub fn received_count(&self) -> u64 {
        self.count
    }

    /// Loss and lateness of what was received since the last
    /// [`BrowserClient::reset_reception`].
    pub fn reception(&self) -> &Reception {
        &self.reception
    }

    /// Starts [`BrowserClient::reception`] afresh (a measuring window).
    pub fn reset_reception(&mut self) {
        self.reception = Reception::default();
    }

    /// The packets received since the last call (when kept).
    pub fn take_received(&mut self) -> Vec<ReceivedRtp> {
        std::mem::take(&mut self.received)
    }

    /// The client's socket, to poll it for reading (it is non-blocking;
    /// [`BrowserClient::step`] reads it to the end).
    pub fn raw_socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// The client's socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sends one RTP packet (str0m encrypts it); the packet leaves on the
    /// next [`BrowserClient::step`].
    pub fn send_rtp(&mut self, now: Instant, payload_type: u8, sequence: u64, timestamp: u32, payload: &[u8]) {
        let mut direct = self.rtc.direct_api();
        if let Some(stream) = direct.stream_tx_by_mid(self.mid, None) {
            stream.write_rtp(RtpWrite::new(
                payload_type.into(),
                SeqNo::from(sequence),
                timestamp,
                now,
                payload,
            ));
        }
    }

    /// Sends what is due and reads every datagram waiting on the socket.
    pub fn step(&mut self, now: Instant) -> io::Result<()> {
        self.poll(now)?;
        let mut buf = std::mem::take(&mut self.buf);
        let result = loop {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if let Err(e) = self.receive(now, now, from, buf.get(..n).unwrap_or_default()) {
                        break Err(e);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.buf = buf;
        result
    }

    /// Runs the client's timers and sends what is due, without reading the
    /// socket (for a caller that reads it, see [`BrowserClient::receive`]).
    pub fn poll(&mut self, now: Instant) -> io::Result<()> {
        let _ = self.rtc.handle_input(Input::Timeout(now));
        self.drain()
    }

    /// A datagram the caller read from the client's socket; `arrival` is
    /// when it reached the socket (the kernel's stamp, say), which counted
    /// packets are timed by.
    pub fn receive(&mut self, now: Instant, arrival: Instant, from: SocketAddr, datagram: &[u8]) -> io::Result<()> {
        if !self.keep_payloads && self.connected {
            if let Some((seq, ts)) = srtp_header(datagram) {
                self.count += 1;
                self.reception.rtp_packet(seq, ts, self.clock_rate, arrival);
                return Ok(());
            }
        }
        if let Ok(receive) = Receive::new(Protocol::Udp, from, self.local, datagram) {
            let _ = self.rtc.handle_input(Input::Receive(now, receive));
        }
        self.drain()
    }

    fn drain(&mut self) -> io::Result<()> {
        loop {
            let output = match self.rtc.poll_output() {
                Ok(o) => o,
                Err(_) => {
                    self.disconnected = true;
                    return Ok(());
                }
            };
            match output {
                Output::Timeout(_) => return Ok(()),
                Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::IceConnectionStateChange(IceConnectionState::Disconnected)) => {
                    self.disconnected = true;
                }
                Output::Event(Event::RtpPacket(p)) => {
                    self.count += 1;
                    self.reception.packet(*p.seq_no, p.time.as_seconds(), p.timestamp);
                    if self.keep_payloads {
                        self.received.push(ReceivedRtp {
                            payload_type: *p.header.payload_type,
                            sequence: p.header.sequence_number,
                            timestamp: p.header.timestamp,
                            payload: p.payload.to_vec(),
                        });
                    }
                }
                Output::Event(_) => {}
            }
        }
    }
}

/// The sequence number and timestamp of an SRTP packet (not RTCP: RFC 5761
/// tells them apart by the payload type byte), read from its clear header.
fn srtp_header(datagram: &[u8]) -> Option<(u16, u32)> {
    let (&first, &second) = (datagram.first()?, datagram.get(1)?);
    if !(128..=191).contains(&first) || (192..=223).contains(&second) {
        return None;
    }
    let seq = u16::from_be_bytes([*datagram.get(2)?, *datagram.get(3)?]);
    let ts = u32::from_be_bytes(datagram.get(4..8)?.try_into().ok()?);
    Some((seq, ts))
}

/// How many packets a stream should have brought and how many came late:
/// a packet is late when it arrives more than [`Reception::LATE`] after
/// its media time says it should, counted from the earliest-arriving
/// packet (the one with the least delay), as a receiver's jitter buffer
/// sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reception {
    /// Packets received.
    pub packets: u64,
    /// Packets the sequence numbers span (first to highest).
    pub expected: u64,
    /// Packets later than [`Reception::LATE`].
    pub late: u64,
    /// The largest delay beyond the earliest-arriving packet.
    pub max_delay: std::time::Duration,
    first_seq: Option<u64>,
    highest_seq: u64,
    /// Arrival minus media time of the least delayed packet.
    base: Option<Instant>,
    /// The last RTP sequence number and timestamp, extended across wraps.
    last_rtp: Option<(u64, u64)>,
}

impl Reception {
    /// Two 20 ms frames beyond the best: a browser's jitter buffer would
    /// have to grow to play it.
    pub const LATE: std::time::Duration = std::time::Duration::from_millis(40);

    /// A delay beyond this is a jump of the sender's timestamps, not
    /// lateness.
    const NEW_TIMELINE: std::time::Duration = std::time::Duration::from_secs(5);

    /// One packet: its extended sequence number, its media time in
    /// seconds (RTP timestamp over the clock rate) and when it arrived.
    pub fn packet(&mut self, seq: u64, media_seconds: f64, arrival: Instant) {
        self.packets += 1;
        let first = *self.first_seq.get_or_insert(seq);
        self.highest_seq = self.highest_seq.max(seq);
        self.expected = self.highest_seq.saturating_sub(first) + 1;
        let offset = std::time::Duration::from_secs_f64(media_seconds.max(0.0));
        let Some(zero) = arrival.checked_sub(offset) else {
            return;
        };
        let base = *self.base.get_or_insert(zero);
        if zero < base {
            self.base = Some(zero);
            return;
        }
        let delay = zero - base;
        if delay > Self::NEW_TIMELINE {
            // The sender's timestamps jumped (a new source): measure from
            // this packet on.
            self.base = Some(zero);
            return;
        }
        self.max_delay = self.max_delay.max(delay);
        if delay > Self::LATE {
            self.late += 1;
        }
    }

    /// One RTP packet as its header has it: the sequence number and
    /// timestamp are extended across their wraps from the last ones seen.
    pub fn rtp_packet(&mut self, seq: u16, ts: u32, clock_rate: u32, arrival: Instant) {
        let (s, t) = self
            .last_rtp
            .unwrap_or((u64::from(seq) + (1 << 20), u64::from(ts) + (1 << 40)));
        let s = s.saturating_add_signed(i64::from(seq.wrapping_sub(s as u16) as i16));
        let t = t.saturating_add_signed(i64::from(ts.wrapping_sub(t as u32) as i32));
        self.last_rtp = Some((s, t));
        self.packet(s, t as f64 / f64::from(clock_rate.max(1)), arrival);
    }

    /// Adds another stream's figures (totals over many calls; the delays
    /// keep the largest).
    pub fn add(&mut self, other: &Reception) {
        self.packets += other.packets;
        self.expected += other.expected;
        self.late += other.late;
        self.max_delay = self.max_delay.max(other.max_delay);
    }

    /// Packets that never came.
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.packets)
    }
}

#[cfg(test)]
mod tests {
    use super::Reception;
    use std::time::{Duration, Instant};

    #[test]
    fn reception_counts_gaps_and_late_packets() {
        let start = Instant::now();
        let mut r = Reception::default();
        // 20 ms packets: one lost (seq 3), one 50 ms late (seq 5), then a
        // jump of the sender's timestamps, which is not lateness.
        for seq in [0u64, 1, 2, 4, 5, 6] {
            let media = seq as f64 * 0.02;
            let late = if seq == 5 {
                Duration::from_millis(50)
            } else {
                Duration::ZERO
            };
            r.packet(seq, media, start + Duration::from_secs_f64(media) + late);
        }
        r.packet(7, 1000.0, start + Duration::from_millis(140));
        assert_eq!((r.packets, r.expected, r.lost(), r.late), (7, 8, 1, 1));
        assert_eq!(r.max_delay, Duration::from_millis(50));
    }
}
