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
enum Deadline {
    Inactivity,
    Report,
}

/// The core: legs, bridges and timers of one worker.
#[derive(Debug)]
pub struct MediaCore {
    legs: HashMap<LegId, Leg>,
    timers: BinaryHeap<Reverse<(Instant, LegId, Deadline)>>,
    events: VecDeque<MediaEvent>,
    transmits: VecDeque<MediaTransmit>,
    inactivity: Duration,
    /// The wall clock at one instant, for NTP timestamps in reports.
    epoch: (Instant, NtpTimestamp),
    digits: Vec<char>,
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
            inactivity,
            epoch,
            digits: Vec::new(),
        }
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
    pub fn configure(&mut self, leg: LegId, config: LegConfig) {
        if let Some(l) = self.legs.get_mut(&leg) {
            l.latch.set_signalled(config.remote_rtp);
            l.config = Some(config);
        }
    }

    /// Connects two legs both ways.
    pub fn bridge(&mut self, a: LegId, b: LegId) {
        if self.legs.contains_key(&a) && self.legs.contains_key(&b) {
            for (x, y) in [(a, b), (b, a)] {
                if let Some(l) = self.legs.get_mut(&x) {
                    l.peer = Some(y);
                }
            }
        }
    }

    /// Disconnects a leg from its peer (both ways).
    pub fn unbridge(&mut self, leg: LegId) {
        let peer = self.legs.get_mut(&leg).and_then(|l| l.peer.take());
        if let Some(p) = peer.and_then(|p| self.legs.get_mut(&p)) {
            p.peer = None;
        }
    }

    /// Removes a leg and reports its counters and quality.
    pub fn remove_leg(&mut self, leg: LegId) {
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
        let (ssrc, seq, ts, pt, marker) = match RtpPacket::new_checked(packet) {
            Ok(p) => (p.ssrc(), p.sequence(), p.timestamp(), p.payload_type(), p.marker()),
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
        if is_event {
            let payload = RtpPacket::new_checked(packet).map(|p| p.payload()).unwrap_or_default();
            let event = EventPacket {
                timestamp: ts,
                marker,
                sequence: seq,
                payload,
            };
            l.on_event(now, event, &mut self.digits);
            for digit in self.digits.drain(..) {
                self.events.push_back(MediaEvent::Digit { leg, digit });
            }
        }
        let peer_id = l.peer?;
        if !receive {
            return None;
        }
        let peer = self.legs.get_mut(&peer_id)?;
        let peer_config = peer.config.as_ref()?;
        if !peer_config.direction.send {
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
        let payload_len = view.payload_mut().len();
        peer.sent.on_sent(payload_len);
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
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn config(pt: u8, event: Option<u8>, remote: &str) -> LegConfig {
        LegConfig {
            remote_rtp: Some(addr(remote)),
            remote_rtcp: None,
            rtcp_mux: false,
            payload_type: pt,
            clock_rate: 8000,
            codec: "PCMU".into(),
            telephone_event: event,
            direction: Direction::SENDRECV,
        }
    }

    fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut p = vec![0x80, pt, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p[4..8].copy_from_slice(&ts.to_be_bytes());
        p[8..12].copy_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[0xff; 160]);
        p
    }

    fn fields(p: &[u8]) -> (u8, u16, u32, u32) {
        let v = RtpPacket::new_checked(p).unwrap();
        (v.payload_type(), v.sequence(), v.timestamp(), v.ssrc())
    }

    fn bridged() -> (MediaCore, Instant) {
        let now = Instant::now();
        let mut core = MediaCore::new(Duration::from_secs(30), (now, NtpTimestamp(0)));
        core.add_leg(now, 1);
        core.add_leg(now, 2);
        core.configure(1, config(0, Some(101), "10.0.0.1:4000"));
        core.configure(2, config(0, Some(96), "10.0.0.2:5000"));
        core.bridge(1, 2);
        (core, now)
    }

    #[test]
    fn same_codec_relays_in_place_with_a_continuous_outgoing_stream() {
        let (mut core, now) = bridged();
        let mut first = packet(0, 100, 8000, 0xaaaa);
        let fwd = core.handle_rtp(now, 1, addr("192.0.2.1:4000"), &mut first).unwrap();
        assert_eq!(
            fwd,
            Forward {
                leg: 2,
                to: addr("10.0.0.2:5000")
            }
        );
        let (pt, seq0, ts0, ssrc) = fields(&first);
        assert_eq!(pt, 0);
        assert_ne!(ssrc, 0xaaaa, "our SSRC on the outgoing leg");
        assert_eq!(&first[12..], &[0xff; 160][..], "payload untouched");
        let mut next = packet(0, 101, 8160, 0xaaaa);
        core.handle_rtp(now + Duration::from_millis(20), 1, addr("192.0.2.1:4000"), &mut next)
            .unwrap();
        let (_, seq1, ts1, ssrc1) = fields(&next);
        assert_eq!((seq1, ts1.wrapping_sub(ts0), ssrc1), (seq0.wrapping_add(1), 160, ssrc));
        // A new source on the same leg (e.g. the caller's phone restarts its
        // stream) continues the outgoing sequence.
        let mut other = packet(0, 7, 123, 0xbbbb);
        core.handle_rtp(now + Duration::from_millis(40), 1, addr("192.0.2.1:4000"), &mut other)
            .unwrap();
        let (_, seq2, ts2, ssrc2) = fields(&other);
        assert_eq!((seq2, ssrc2), (seq1.wrapping_add(1), ssrc));
        assert_eq!(ts2.wrapping_sub(ts1), 160, "timestamp advanced by the 20 ms elapsed");
    }

    #[test]
    fn telephone_events_are_mapped_to_the_peer_payload_type() {
        let (mut core, now) = bridged();
        let mut event = packet(101, 1, 0, 9);
        core.handle_rtp(now, 1, addr("192.0.2.1:4000"), &mut event).unwrap();
        assert_eq!(fields(&event).0, 96);
    }

    #[test]
    fn bad_packets_are_counted_never_relayed() {
        let (mut core, now) = bridged();
        let from = addr("192.0.2.1:4000");
        assert!(core.handle_rtp(now, 1, from, &mut [0u8; 5]).is_none());
        assert!(
            core.handle_rtp(now, 1, from, &mut packet(18, 1, 0, 9)).is_none(),
            "G.729 not negotiated"
        );
        assert!(core.handle_rtp(now, 1, from, &mut packet(0, 1, 0, 9)).is_some());
        assert!(
            core.handle_rtp(now, 1, addr("203.0.113.66:1"), &mut packet(0, 900, 0, 66))
                .is_none(),
            "hijack"
        );
        assert!(
            core.handle_rtp(now, 99, from, &mut packet(0, 1, 0, 9)).is_none(),
            "unknown leg"
        );
        core.remove_leg(1);
        let Some(MediaEvent::Closed { stats, .. }) = core.poll_event() else {
            panic!()
        };
        assert_eq!(
            (
                stats.received,
                stats.malformed,
                stats.unknown_payload_type,
                stats.rejected_source
            ),
            (1, 1, 1, 1)
        );
    }

    #[test]
    fn the_latched_source_receives_the_peer_media() {
        let (mut core, now) = bridged();
        // Leg 2's phone is behind NAT: its SDP says 10.0.0.2:5000, packets come from elsewhere.
        core.handle_rtp(now, 2, addr("198.51.100.7:31000"), &mut packet(0, 1, 0, 5))
            .unwrap();
        let fwd = core
            .handle_rtp(now, 1, addr("192.0.2.1:4000"), &mut packet(0, 1, 0, 9))
            .unwrap();
        assert_eq!(fwd.to, addr("198.51.100.7:31000"));
    }

    #[test]
    fn hold_stops_the_relay_and_the_inactivity_timer() {
        let (mut core, now) = bridged();
        let mut held = config(0, None, "10.0.0.2:5000");
        held.direction = Direction {
            send: false,
            receive: false,
        };
        core.configure(2, held);
        assert!(core
            .handle_rtp(now, 1, addr("192.0.2.1:4000"), &mut packet(0, 1, 0, 9))
            .is_none());
        core.handle_timeout(now + Duration::from_secs(31));
        while core.poll_transmit().is_some() {} // the RTCP reports due meanwhile
        let events: Vec<_> = std::iter::from_fn(|| core.poll_event()).collect();
        assert_eq!(
            events,
            [MediaEvent::Inactive { leg: 1 }],
            "leg 2 is on hold, leg 1 went silent"
        );
    }

    #[test]
    fn telephone_events_become_digits_once() {
        let (mut core, now) = bridged();
        let from = addr("192.0.2.1:4000");
        // RFC 4733: digit 5, marker on the first packet, three end packets.
        let event = |seq: u16, end: bool, duration: u16, marker: bool| {
            let mut p = packet(101, seq, 8000, 9);
            p.truncate(12);
            p[1] |= if marker { 0x80 } else { 0 };
            p.extend_from_slice(&[5, if end { 0x80 | 10 } else { 10 }]);
            p.extend_from_slice(&duration.to_be_bytes());
            p
        };
        for (seq, end, duration, marker) in [(1, false, 160, true), (2, false, 320, false), (3, true, 480, false)] {
            core.handle_rtp(now, 1, from, &mut event(seq, end, duration, marker));
        }
        for _ in 0..2 {
            core.handle_rtp(now, 1, from, &mut event(3, true, 480, false));
        }
        let digits: Vec<_> = std::iter::from_fn(|| core.poll_event()).collect();
        assert_eq!(digits, [MediaEvent::Digit { leg: 1, digit: '5' }]);
    }

    #[test]
    fn each_leg_reports_and_reads_rtcp() {
        let (mut core, now) = bridged();
        core.handle_rtp(now, 1, addr("192.0.2.1:4000"), &mut packet(0, 1, 0, 9))
            .unwrap();
        core.handle_timeout(now + Duration::from_secs(8));
        let reports: Vec<_> = std::iter::from_fn(|| core.poll_transmit()).collect();
        let to_caller = reports.iter().find(|t| t.leg == 1).expect("leg 1 reports");
        assert_eq!(to_caller.to, addr("192.0.2.1:4001"), "RTP source port + 1");
        assert!(to_caller.rtcp);
        assert_eq!(to_caller.payload[1], 201, "a receiver report: leg 1 has sent nothing");
        let to_agent = reports.iter().find(|t| t.leg == 2).expect("leg 2 reports");
        assert_eq!(to_agent.payload[1], 200, "a sender report: leg 2 relayed a packet");
        // A report from the agent's phone about our stream gives the RTT.
        let sr = &to_agent.payload;
        let our_ssrc = u32::from_be_bytes([sr[4], sr[5], sr[6], sr[7]]);
        let lsr = (u64::from_be_bytes(sr[8..16].try_into().unwrap()) >> 16) as u32;
        let block = crate::rtp::rtcp::ReportBlock {
            ssrc: our_ssrc,
            fraction_lost: 0,
            cumulative_lost: 0,
            highest_seq: 1,
            jitter: 0,
            lsr,
            dlsr: 65536 / 10, // held 100 ms
        };
        let mut rr = Vec::new();
        crate::rtp::rtcp::emit_receiver_report(77, &[block], &mut rr).unwrap();
        let sent_at = now + Duration::from_secs(8);
        core.handle_rtcp(sent_at + Duration::from_millis(150), 2, addr("10.0.0.2:5001"), &rr);
        core.remove_leg(2);
        let closed = std::iter::from_fn(|| core.poll_event()).find_map(|e| match e {
            MediaEvent::Closed { leg: 2, quality, .. } => Some(quality),
            _ => None,
        });
        let rtt = closed.unwrap().rtt_ms.expect("RTT measured");
        assert!(
            (49.0..=51.0).contains(&rtt),
            "150 ms after the SR less 100 ms held: {rtt}"
        );
    }
}
