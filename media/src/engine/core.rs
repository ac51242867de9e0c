//! The media core of one worker, sans-IO: packets and the time in, packets to
//! send, events for the call and the next deadline out.
//!
//! A leg is one RTP stream with one peer. Two legs bridged with the same codec
//! relay: the packet is checked, latched, counted and its header rewritten in
//! place (payload type mapped, SSRC, sequence number and timestamp translated
//! so each outgoing stream stays continuous when its source changes) and sent
//! on with no copy, no decoding and no buffering. Each leg also terminates
//! RTCP (RFC 3550): it reads the peer's reports (round-trip time) and sends its
//! own sender or receiver reports about its side of the call.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::decoded::Transcoding;
use super::latch::Verdict;
use super::leg::Leg;
use crate::dtmf::rfc4733::EventPacket;
use crate::rtp::packet::RtpPacket;
use crate::rtp::quality::LegQuality;
use crate::rtp::stats::NtpTimestamp;

/// Identifies a leg across the engine.
pub type LegId = u64;

/// How a leg's peer sends and receives, from its SDP (RFC 3264 section 6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Direction {
    /// We may send to the peer.
    pub send: bool,
    /// The peer sends to us.
    pub receive: bool,
}

impl Direction {
    /// `a=sendrecv`.
    pub const SENDRECV: Direction = Direction {
        send: true,
        receive: true,
    };
}

/// What the call's negotiation decided for a leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegConfig {
    /// The peer's RTP address from its SDP (before latching).
    pub remote_rtp: Option<SocketAddr>,
    /// The peer's RTCP address from its SDP (`a=rtcp`, or RTP port + 1).
    pub remote_rtcp: Option<SocketAddr>,
    /// RTP and RTCP share the RTP port (RFC 5761).
    pub rtcp_mux: bool,
    /// The audio payload type on this leg.
    pub payload_type: u8,
    /// The audio codec's RTP clock rate.
    pub clock_rate: u32,
    /// The codec's encoding name in upper case (`PCMU`, `OPUS`), to decide
    /// whether two legs can relay and to estimate quality.
    pub codec: String,
    /// The telephone-event payload type, if negotiated.
    pub telephone_event: Option<u8>,
    /// Direction.
    pub direction: Direction,
}

/// Something the call must hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// No RTP for longer than the inactivity timeout: the call is dead.
    Inactive {
        /// The silent leg.
        leg: LegId,
    },
    /// A key pressed on the leg's phone (RFC 4733 telephone-event).
    Digit {
        /// The leg.
        leg: LegId,
        /// `0`-`9`, `*`, `#`, `A`-`D`, or `!` for flash.
        digit: char,
    },
    /// A playlist ended on the leg, or a digit stopped it (barge-in).
    PlaybackFinished {
        /// The leg.
        leg: LegId,
        /// Stopped by a digit rather than played to its end.
        interrupted: bool,
    },
    /// A recording of the leg's audio ended (its length ran out, it was
    /// stopped, or the leg went); its file is complete.
    RecordingFinished {
        /// The leg.
        leg: LegId,
    },
    /// The first audio packet from the leg's phone since it was bridged to
    /// another leg (the moment an answering agent is first heard).
    FirstAudio {
        /// The leg.
        leg: LegId,
    },
    /// A call recording started, stopped or failed.
    CallRecording(super::tap::CallRecordingEvent),
    /// A leg was removed; its counters and quality, for the call record.
    Closed {
        /// The leg.
        leg: LegId,
        /// Its counters.
        stats: LegStats,
        /// RFC 3550 loss and jitter, RTCP round-trip time and estimated MOS.
        quality: LegQuality,
    },
}

/// Counters of one leg.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegStats {
    /// RTP packets accepted from the peer.
    pub received: u64,
    /// RTP packets sent to the peer.
    pub sent: u64,
    /// Packets from an address other than the latched one.
    pub rejected_source: u64,
    /// Packets that are not RTP or RTCP.
    pub malformed: u64,
    /// RTP with a payload type that was not negotiated.
    pub unknown_payload_type: u64,
}

/// A relayed packet: send the buffer from `leg`'s RTP socket to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    /// The leg whose socket sends.
    pub leg: LegId,
    /// Destination.
    pub to: SocketAddr,
}

/// A packet the core made (an RTCP report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaTransmit {
    /// The leg whose socket sends.
    pub leg: LegId,
    /// Destination.
    pub to: SocketAddr,
    /// Send from the RTCP socket (else the RTP socket).
    pub rtcp: bool,
    /// The bytes.
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Deadline {
    Inactivity,
    Report,
    /// 20 ms of generated audio: transcoding or playback.
    Tick,
    /// The next RFC 4733 packet of a digit we send.
    Digit,
    /// A recording's longest length.
    RecordEnd,
}

/// Generated audio goes out every 20 ms.
pub(super) const FRAME: Duration = Duration::from_millis(20);

/// The core: legs, bridges and timers of one worker.
#[derive(Debug)]
pub struct MediaCore {
    pub(super) legs: HashMap<LegId, Leg>,
    pub(super) timers: BinaryHeap<Reverse<(Instant, LegId, Deadline)>>,
    pub(super) events: VecDeque<MediaEvent>,
    pub(super) transmits: VecDeque<MediaTransmit>,
    /// Decoded audio of recorded legs, for the worker's writer.
    pub(super) recorded: VecDeque<(LegId, Vec<i16>)>,
    /// Audio packets copied for call recordings, and recordings ended.
    pub(super) taps: super::tap::Taps,
    inactivity: Duration,
    /// The wall clock at one instant, for NTP timestamps in reports.
    epoch: (Instant, NtpTimestamp),
    digits: Vec<char>,
    tick_lateness: std::sync::Arc<super::lateness::TickLateness>,
}

/// RFC 5761 section 4: with rtcp-mux, the second byte tells RTCP (192-223)
/// from RTP.
fn is_rtcp(packet: &[u8]) -> bool {
    packet.get(1).is_some_and(|b| (192..=223).contains(b))
}

impl MediaCore {
    /// A core that hangs up legs silent for `inactivity`; `epoch` pairs an
    /// instant with the wall-clock time then, so reports carry NTP time
    /// without the core reading a clock.
    pub fn new(inactivity: Duration, epoch: (Instant, NtpTimestamp)) -> MediaCore {
        MediaCore {
            legs: HashMap::new(),
            timers: BinaryHeap::new(),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            recorded: VecDeque::new(),
            taps: super::tap::Taps::default(),
            inactivity,
            epoch,
            digits: Vec::new(),
            tick_lateness: Default::default(),
        }
    }

    /// How late this core's 20 ms ticks ran, counted as they run.
    pub fn tick_lateness(&self) -> std::sync::Arc<super::lateness::TickLateness> {
        self.tick_lateness.clone()
    }

    fn ntp(&self, now: Instant) -> NtpTimestamp {
        let elapsed = now.saturating_duration_since(self.epoch.0);
        let fraction = (elapsed.subsec_nanos() as u64) * (1u64 << 32) / 1_000_000_000;
        NtpTimestamp(self.epoch.1 .0.wrapping_add((elapsed.as_secs() << 32) + fraction))
    }

    /// Adds a leg; media flows once it is configured and bridged.
    pub fn add_leg(&mut self, now: Instant, leg: LegId) {
        let state = Leg::new(now);
        self.timers.push(Reverse((state.next_report, leg, Deadline::Report)));
        self.timers
            .push(Reverse((now + self.inactivity, leg, Deadline::Inactivity)));
        self.legs.insert(leg, state);
    }

    /// Applies the negotiated parameters (again on every re-INVITE).
    pub fn configure(&mut self, now: Instant, leg: LegId, config: LegConfig) {
        let Some(l) = self.legs.get_mut(&leg) else { return };
        l.set_config(config);
        let codec = l.audio_codec();
        if let Some(tap) = l.tap.as_mut() {
            tap.codec = codec;
        }
        if let Some(peer) = l.peer {
            self.setup_transcoding(now, leg, peer);
        }
    }

    /// Bridged legs whose codecs differ decode each other's audio; legs with
    /// one codec relay.
    fn setup_transcoding(&mut self, now: Instant, a: LegId, b: LegId) {
        let codec = |core: &Self, leg| core.legs.get(&leg)?.audio_codec();
        let (Some(ca), Some(cb)) = (codec(self, a), codec(self, b)) else {
            return;
        };
        for (from, leg, to) in [(ca, a, cb), (cb, b, ca)] {
            let Some(l) = self.legs.get_mut(&leg) else { continue };
            l.transcoding = if from == to {
                None
            } else {
                Transcoding::new(from, to).ok()
            };
            if l.transcoding.is_some() {
                self.arm_tick(now, leg);
            }
        }
    }

    /// Connects two legs both ways.
    pub fn bridge(&mut self, now: Instant, a: LegId, b: LegId) {
        if self.legs.contains_key(&a) && self.legs.contains_key(&b) {
            for (x, y) in [(a, b), (b, a)] {
                if let Some(l) = self.legs.get_mut(&x) {
                    l.peer = Some(y);
                    l.heard_since_bridge = false;
                }
            }
            self.setup_transcoding(now, a, b);
        }
    }

    /// Disconnects a leg from its peer (both ways).
    pub fn unbridge(&mut self, leg: LegId) {
        let peer = self.legs.get_mut(&leg).and_then(|l| {
            l.transcoding = None;
            l.peer.take()
        });
        if let Some(p) = peer.and_then(|p| self.legs.get_mut(&p)) {
            p.peer = None;
            p.transcoding = None;
        }
    }

    /// A datagram too large for an RTP packet arrived on `leg` (it was cut
    /// short by the read): counted, never relayed.
    pub fn count_oversize(&mut self, leg: LegId) {
        if let Some(l) = self.legs.get_mut(&leg) {
            l.counters.malformed += 1;
        }
    }

    /// Removes a leg and reports its counters and quality.
    pub fn remove_leg(&mut self, leg: LegId) {
        self.stop_recording(leg);
        self.stop_call_recording(leg);
        self.unbridge(leg);
        if let Some(l) = self.legs.remove(&leg) {
            let mut stats = l.counters.clone();
            stats.rejected_source = l.latch.rejected();
            self.events.push_back(MediaEvent::Closed {
                leg,
                stats,
                quality: l.quality(),
            });
        }
    }

    /// Legs held.
    pub fn len(&self) -> usize {
        self.legs.len()
    }

    /// True without legs.
    pub fn is_empty(&self) -> bool {
        self.legs.is_empty()
    }

    /// A packet arrived on `leg`'s RTP socket from `from`. The buffer may be
    /// rewritten in place; when the result is `Some`, the caller sends the
    /// buffer from the named leg's socket to the named address.
    pub fn handle_rtp(&mut self, now: Instant, leg: LegId, from: SocketAddr, packet: &mut [u8]) -> Option<Forward> {
        if is_rtcp(packet) {
            self.handle_rtcp(now, leg, from, packet);
            return None;
        }
        // One check of the packet: its fields, and where its payload lies.
        let (ssrc, seq, ts, pt, marker, payload_at) = match RtpPacket::new_checked(packet) {
            Ok(p) => {
                let payload_at = p.header_len()..packet.len() - p.padding_len();
                (
                    p.ssrc(),
                    p.sequence(),
                    p.timestamp(),
                    p.payload_type(),
                    p.marker(),
                    payload_at,
                )
            }
            Err(_) => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.counters.malformed += 1;
                }
                return None;
            }
        };
        let l = self.legs.get_mut(&leg)?;
        let config = l.config.as_ref()?;
        let is_event = Some(pt) == config.telephone_event;
        if pt != config.payload_type && !is_event {
            l.counters.unknown_payload_type += 1;
            return None;
        }
        if l.latch.check(now, from, ssrc, seq) == Verdict::Reject {
            return None;
        }
        let receive = config.direction.receive;
        l.on_rtp(now, ssrc, seq, ts, !is_event);
        let payload = &packet[payload_at.clone()];
        let mut decoded = false;
        if is_event {
            let event = EventPacket {
                timestamp: ts,
                marker,
                sequence: seq,
                payload,
            };
            l.on_event(now, event, &mut self.digits);
        } else {
            if l.peer.is_some() && !l.heard_since_bridge {
                l.heard_since_bridge = true;
                self.events.push_back(MediaEvent::FirstAudio { leg });
            }
            l.on_audio(payload, &mut self.digits);
            if let Some((decoder, _)) = l.recording.as_mut() {
                let mut pcm = Vec::with_capacity(160);
                if decoder.decode(payload, &mut pcm).is_ok() {
                    self.recorded.push_back((leg, pcm));
                }
            }
            if let Some(t) = l.transcoding.as_mut() {
                t.insert(now, ssrc, seq, ts, marker, payload);
                decoded = true;
            }
            if let Some(copy) = l.tap.as_ref().and_then(|t| t.copy(now, ssrc, ts, payload)) {
                self.taps.packets.push_back(copy);
            }
        }
        if !self.digits.is_empty() && l.playback.as_mut().is_some_and(|p| p.interrupt()) {
            // Barge-in: the next tick (now) reports the playlist stopped.
            // It replaces the armed one, whose deadline stays in the heap
            // and is skipped as stale.
            l.next_tick = Some(now);
            self.timers.push(Reverse((now, leg, Deadline::Tick)));
        }
        for digit in self.digits.drain(..) {
            self.events.push_back(MediaEvent::Digit { leg, digit });
        }
        if decoded {
            return None;
        }
        let peer_id = l.peer?;
        if !receive {
            return None;
        }
        let peer = self.legs.get_mut(&peer_id)?;
        let peer_config = peer.config.as_ref()?;
        if !peer_config.direction.send || peer.playback.is_some() {
            return None;
        }
        let out_pt = if is_event {
            peer_config.telephone_event?
        } else {
            peer_config.payload_type
        };
        let to = peer.latch.destination()?;
        let clock_rate = peer_config.clock_rate;
        let (out_seq, out_ts) = peer.outgoing.translate(now, ssrc, seq, ts, clock_rate);
        let ssrc = peer.outgoing.ssrc;
        let mut view = crate::rtp::packet::RtpPacketMut::new_checked(packet).ok()?;
        view.translate(out_pt, out_seq, out_ts, ssrc);
        peer.sent.on_sent(payload_at.len());
        peer.counters.sent += 1;
        Some(Forward { leg: peer_id, to })
    }

    /// A packet arrived on `leg`'s RTCP socket (or multiplexed on RTP).
    pub fn handle_rtcp(&mut self, now: Instant, leg: LegId, from: SocketAddr, packet: &[u8]) {
        let ntp = self.ntp(now);
        if let Some(l) = self.legs.get_mut(&leg) {
            l.on_rtcp(now, ntp, from, packet);
        }
    }

    /// Fires due deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, leg, deadline))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let ntp = self.ntp(now);
            let Some(l) = self.legs.get_mut(&leg) else { continue };
            match deadline {
                Deadline::Inactivity => {
                    let due = l.last_received + self.inactivity;
                    let on_hold = l.config.as_ref().is_some_and(|c| !c.direction.receive);
                    if due <= now && !on_hold {
                        self.events.push_back(MediaEvent::Inactive { leg });
                    } else {
                        let next = if due <= now { now + self.inactivity } else { due };
                        self.timers.push(Reverse((next, leg, Deadline::Inactivity)));
                    }
                }
                Deadline::Tick => {
                    if l.next_tick != Some(at) {
                        // Replaced by an earlier tick (barge-in): running it
                        // too would start a second 20 ms chain, and the next
                        // prompt would play at twice its pace and end early.
                        continue;
                    }
                    l.next_tick = None;
                    self.tick_lateness.record(now.saturating_duration_since(at));
                    self.tick(now, at, leg);
                }
                Deadline::Digit => self.send_due_digits(now, leg),
                Deadline::RecordEnd => {
                    if l.recording.as_ref().is_some_and(|(_, until)| *until <= now) {
                        self.stop_recording(leg);
                    }
                }
                Deadline::Report => {
                    if let Some((to, mux, payload)) = l.report(now, ntp) {
                        self.transmits.push_back(MediaTransmit {
                            leg,
                            to,
                            rtcp: !mux,
                            payload,
                        });
                    }
                    self.timers.push(Reverse((l.next_report, leg, Deadline::Report)));
                }
            }
        }
    }

    /// When [`MediaCore::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The next packet the core made.
    pub fn poll_transmit(&mut self) -> Option<MediaTransmit> {
        self.transmits.pop_front()
    }

    /// The next event for the call.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
