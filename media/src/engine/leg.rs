//! One RTP leg's state: latching, the outgoing stream's translation,
//! RFC 3550 statistics and reports, and RFC 4733 digits.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::core::{LegConfig, LegStats};
use super::latch::Latch;
use crate::dtmf::rfc4733::{EventPacket, Receiver, ReceiverConfig};
use crate::dtmf::DtmfEvent;
use crate::rtp::quality::{CodecImpairment, LegQuality};
use crate::rtp::rtcp::{emit_receiver_report, emit_sdes_cname, emit_sender_report, Rtcp, RtcpIter};
use crate::rtp::stats::{NtpTimestamp, ReceiveStats, SendStats};

/// RFC 3550 section 6.2: a minimum interval of 5 s, randomised by 0.5 to 1.5.
const REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// The outgoing stream of a leg: our SSRC, and offsets mapping the sequence
/// numbers and timestamps of whatever feeds it onto one continuous stream.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) ssrc: u32,
    source_ssrc: Option<u32>,
    seq_offset: u16,
    ts_offset: u32,
    last_seq: u16,
    pub(crate) last_ts: u32,
    last_sent: Option<Instant>,
}

impl Outgoing {
    fn new() -> Outgoing {
        Outgoing {
            ssrc: rand::random(),
            source_ssrc: None,
            seq_offset: 0,
            ts_offset: 0,
            last_seq: rand::random(),
            last_ts: rand::random(),
            last_sent: None,
        }
    }

    /// Maps an incoming (seq, ts) onto this stream. A new source continues
    /// where the previous one stopped, its timestamp advanced by the time
    /// elapsed, so the far end sees one stream (RFC 3550 section 7.2 lets a
    /// translator keep the SSRC when it keeps the stream coherent).
    pub(crate) fn translate(&mut self, now: Instant, source: u32, seq: u16, ts: u32, clock_rate: u32) -> (u16, u32) {
        if self.source_ssrc != Some(source) {
            let gap = self.last_sent.map_or(0, |t| {
                let ms = now.saturating_duration_since(t).as_millis().min(60_000) as u64;
                (ms * u64::from(clock_rate) / 1000) as u32
            });
            self.seq_offset = self.last_seq.wrapping_add(1).wrapping_sub(seq);
            self.ts_offset = self.last_ts.wrapping_add(gap.max(1)).wrapping_sub(ts);
            self.source_ssrc = Some(source);
        }
        let out = (seq.wrapping_add(self.seq_offset), ts.wrapping_add(self.ts_offset));
        self.last_seq = out.0;
        self.last_ts = out.1;
        self.last_sent = Some(now);
        out
    }
}

impl Outgoing {
    /// A packet of our own on this stream (an RFC 4733 event): the next
    /// sequence number. Whatever is relayed next re-synchronises after it.
    pub(crate) fn own_packet(&mut self, now: Instant) -> u16 {
        self.last_seq = self.last_seq.wrapping_add(1);
        self.source_ssrc = None;
        self.last_sent = Some(now);
        self.last_seq
    }

    /// This stream's timestamp now: the last one sent, advanced by the time since.
    pub(crate) fn timestamp_now(&self, now: Instant, clock_rate: u32) -> u32 {
        let elapsed = self.last_sent.map_or(0, |t| {
            let ms = now.saturating_duration_since(t).as_millis().min(60_000) as u64;
            (ms * u64::from(clock_rate) / 1000) as u32
        });
        self.last_ts.wrapping_add(elapsed)
    }
}

/// A leg. See the module docs.
#[derive(Debug)]
pub(crate) struct Leg {
    pub(crate) config: Option<LegConfig>,
    pub(crate) latch: Latch,
    rtcp_source: Option<SocketAddr>,
    pub(crate) peer: Option<super::core::LegId>,
    /// An audio packet came since the last bridge ([`super::core::MediaEvent::FirstAudio`]).
    pub(crate) heard_since_bridge: bool,
    pub(crate) outgoing: Outgoing,
    pub(crate) counters: LegStats,
    pub(crate) last_received: Instant,
    received: Option<ReceiveStats>,
    /// Packets received and lost in streams (SSRCs) that ended before this one.
    earlier: (u64, i64),
    pub(crate) sent: SendStats,
    dtmf: Receiver,
    pub(crate) next_report: Instant,
    /// Set when the peer uses another codec: this leg's audio is decoded.
    pub(crate) transcoding: Option<super::decoded::Transcoding>,
    /// A playlist playing to this leg's phone.
    pub(crate) playback: Option<super::decoded::Playback>,
    /// When the next 20 ms tick of generated audio is due, if one is armed.
    pub(crate) next_tick: Option<Instant>,
    /// In-band DTMF detection, for a G.711 peer that negotiated no
    /// telephone-event and so sends its key tones as audio.
    inband: Option<(crate::codec::Decoder, crate::dtmf::goertzel::Detector, Vec<i16>)>,
    /// RFC 4733 packets of digits we send, with when each is due, and the
    /// counters of that generated stream.
    pub(crate) digits_out: std::collections::VecDeque<(Instant, crate::dtmf::rfc4733::SenderPacket)>,
    /// The timestamp of the event being sent (all its packets carry it).
    pub(crate) event_ts: u32,
    /// Recording the peer's audio: its decoder, and when it must stop.
    pub(crate) recording: Option<(crate::codec::Decoder, Instant)>,
    /// This leg's part in a call recording.
    pub(crate) tap: Option<super::tap::Tap>,
}

impl Leg {
    /// The audio codec its configuration names, once configured.
    pub(crate) fn audio_codec(&self) -> Option<crate::codec::Codec> {
        self.config.as_ref().and_then(|c| super::decoded::codec_of(&c.codec))
    }

    pub(crate) fn new(now: Instant) -> Leg {
        Leg {
            config: None,
            latch: Latch::new(None),
            rtcp_source: None,
            peer: None,
            heard_since_bridge: false,
            outgoing: Outgoing::new(),
            counters: LegStats::default(),
            last_received: now,
            received: None,
            earlier: (0, 0),
            sent: SendStats::new(),
            dtmf: Receiver::new(ReceiverConfig::default()),
            next_report: now + REPORT_INTERVAL.mul_f64(0.5 + rand::random::<f64>()),
            transcoding: None,
            playback: None,
            next_tick: None,
            inband: None,
            digits_out: std::collections::VecDeque::new(),
            event_ts: 0,
            recording: None,
            tap: None,
        }
    }

    /// Counts an accepted packet; audio goes into the RFC 3550 statistics
    /// of its stream. Telephone-events stay out: an event keeps its start
    /// timestamp for its whole length, which would read as jitter.
    pub(crate) fn on_rtp(&mut self, now: Instant, ssrc: u32, seq: u16, ts: u32, audio: bool) {
        self.counters.received += 1;
        self.last_received = now;
        if !audio {
            return;
        }
        let clock_rate = self.config.as_ref().map_or(8000, |c| c.clock_rate);
        if let Some(old) = self.received.as_ref().filter(|s| s.ssrc() != ssrc) {
            self.earlier.0 += old.received();
            self.earlier.1 += old.lost();
            self.received = None;
        }
        let stats = self.received.get_or_insert_with(|| ReceiveStats::new(ssrc, clock_rate));
        stats.on_packet(now, seq, ts);
    }

    /// Applies a new configuration: in-band detection runs when the peer
    /// has no telephone-event and speaks G.711 (decoding it costs little).
    pub(crate) fn set_config(&mut self, config: super::core::LegConfig) {
        self.latch.set_signalled(config.remote_rtp);
        let g711 = matches!(config.codec.as_str(), "PCMU" | "PCMA");
        self.inband = match (config.telephone_event, g711) {
            (None, true) => super::decoded::codec_of(&config.codec)
                .and_then(|c| crate::codec::Decoder::new(c).ok())
                .map(|d| {
                    (
                        d,
                        crate::dtmf::goertzel::Detector::new(Default::default()),
                        Vec::with_capacity(160),
                    )
                }),
            _ => None,
        };
        self.config = Some(config);
    }

    /// Audio from the peer, for in-band key tones.
    pub(crate) fn on_audio(&mut self, payload: &[u8], digits: &mut Vec<char>) {
        let Some((decoder, detector, pcm)) = self.inband.as_mut() else {
            return;
        };
        pcm.clear();
        if decoder.decode(payload, pcm).is_err() {
            return;
        }
        detector.push(pcm);
        while let Some(event) = detector.poll_event() {
            if let DtmfEvent::Pressed(e) = event {
                digits.push(e.digit.to_char());
            }
        }
    }

    /// A telephone-event packet: the key presses it starts.
    pub(crate) fn on_event(&mut self, now: Instant, packet: EventPacket<'_>, digits: &mut Vec<char>) {
        if self.dtmf.handle_packet(now, packet).is_err() {
            self.counters.malformed += 1;
        }
        while let Some(event) = self.dtmf.poll_event() {
            if let DtmfEvent::Pressed(e) = event {
                digits.push(e.digit.to_char());
            }
        }
    }

    /// Reads a compound RTCP packet from the peer: the sender's clock for our
    /// next report block, and blocks about our stream for the round-trip time.
    pub(crate) fn on_rtcp(&mut self, now: Instant, ntp: NtpTimestamp, from: SocketAddr, packet: &[u8]) {
        let mut valid = false;
        for item in RtcpIter::new(packet) {
            let Ok(rtcp) = item.and_then(|p| p.parse()) else {
                self.counters.malformed += 1;
                return;
            };
            valid = true;
            let blocks: Vec<_> = match rtcp {
                Rtcp::SenderReport(sr) => {
                    if let Some(stats) = self.received.as_mut().filter(|s| s.ssrc() == sr.ssrc()) {
                        stats.on_sender_report(now, sr.sender_info().ntp);
                    }
                    sr.report_blocks().collect()
                }
                Rtcp::ReceiverReport(rr) => rr.report_blocks().collect(),
                _ => Vec::new(),
            };
            for block in blocks.iter().filter(|b| b.ssrc == self.outgoing.ssrc) {
                self.sent.on_report_block(block, ntp);
            }
        }
        if valid {
            self.rtcp_source = Some(from);
        }
    }

    /// Where reports go: where the peer's reports come from, else its SDP's
    /// RTCP address, else the RTP destination (`+1` unless multiplexed).
    fn report_destination(&self) -> Option<(SocketAddr, bool)> {
        let config = self.config.as_ref()?;
        if config.rtcp_mux {
            return Some((self.latch.destination()?, true));
        }
        let addr = self.rtcp_source.or(config.remote_rtcp).or_else(|| {
            let rtp = self.latch.destination()?;
            Some(SocketAddr::new(rtp.ip(), rtp.port().checked_add(1)?))
        })?;
        Some((addr, false))
    }

    /// The compound report due now: a sender report when we sent since the
    /// last one, else a receiver report, and our CNAME. Returns the
    /// destination, whether it goes out of the RTP socket (rtcp-mux), and the bytes.
    pub(crate) fn report(&mut self, now: Instant, ntp: NtpTimestamp) -> Option<(SocketAddr, bool, Vec<u8>)> {
        self.next_report = now + REPORT_INTERVAL.mul_f64(0.5 + rand::random::<f64>());
        let (to, mux) = self.report_destination()?;
        let blocks: Vec<_> = self
            .received
            .as_mut()
            .map(|s| s.report_block(now))
            .into_iter()
            .collect();
        let mut out = Vec::with_capacity(128);
        let ssrc = self.outgoing.ssrc;
        let sent_since = self.sent.packets > 0;
        let written = if sent_since {
            let info = self.sent.sender_info(ntp, self.outgoing.last_ts);
            emit_sender_report(ssrc, &info, &blocks, &mut out)
        } else {
            emit_receiver_report(ssrc, &blocks, &mut out)
        };
        written
            .and_then(|()| emit_sdes_cname(ssrc, "switchboard", &mut out))
            .ok()?;
        Some((to, mux, out))
    }

    /// The quality summary for the call record.
    pub(crate) fn quality(&self) -> LegQuality {
        let codec = match self.config.as_ref().map(|c| c.codec.as_str()) {
            Some("OPUS") => CodecImpairment::OPUS,
            _ => CodecImpairment::G711_PLC,
        };
        let rtt_ms = self.sent.rtt.map(|d| d.as_secs_f64() * 1000.0);
        let (packets, lost) = self.received.as_ref().map_or((0, 0), |s| (s.received(), s.lost()));
        let jitter_ms = self
            .received
            .as_ref()
            .map_or(0.0, |s| s.jitter_duration().as_secs_f64() * 1000.0);
        LegQuality::estimate(
            codec,
            self.earlier.0 + packets,
            self.earlier.1 + lost,
            jitter_ms,
            rtt_ms,
            20.0,
        )
    }
}
