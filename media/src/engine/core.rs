//! The media core of one worker, sans-IO: packets and the time in, packets to
//! send, events for the call and the next deadline out.
//!
//! A leg is one RTP stream with one peer. Two legs bridged with the same codec
//! relay: the packet is checked, latched, counted and its header rewritten in
//! place (payload type mapped, SSRC, sequence number and timestamp translated
//! so each outgoing stream stays continuous when its source changes) and sent
//! on with no copy, no decoding and no buffering.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::latch::{Latch, Verdict};
use crate::rtp::packet::RtpPacket;

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
    /// The audio payload type on this leg.
    pub payload_type: u8,
    /// The audio codec's RTP clock rate.
    pub clock_rate: u32,
    /// A name for the codec, to decide whether two legs can relay.
    pub codec: String,
    /// The telephone-event payload type, if negotiated.
    pub telephone_event: Option<u8>,
    /// Direction.
    pub direction: Direction,
}

/// Something the call must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// No RTP for longer than the inactivity timeout: the call is dead.
    Inactive {
        /// The silent leg.
        leg: LegId,
    },
    /// A leg was removed; its counters, for the call record.
    Closed {
        /// The leg.
        leg: LegId,
        /// Its counters.
        stats: LegStats,
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
    /// Packets that are not RTP.
    pub malformed: u64,
    /// RTP with a payload type that was not negotiated.
    pub unknown_payload_type: u64,
}

/// A relayed packet: send `len` bytes of the buffer from `leg`'s socket to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    /// The leg whose socket sends.
    pub leg: LegId,
    /// Destination.
    pub to: SocketAddr,
}

/// The outgoing stream of a leg: our SSRC, and offsets mapping the sequence
/// numbers and timestamps of whatever feeds it onto one continuous stream.
#[derive(Debug, Clone)]
struct Outgoing {
    ssrc: u32,
    source_ssrc: Option<u32>,
    seq_offset: u16,
    ts_offset: u32,
    last_seq: u16,
    last_ts: u32,
    last_sent: Option<Instant>,
}

impl Outgoing {
    fn new(ssrc: u32) -> Outgoing {
        Outgoing {
            ssrc,
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
    fn translate(&mut self, now: Instant, source: u32, seq: u16, ts: u32, clock_rate: u32) -> (u16, u32) {
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

#[derive(Debug)]
struct Leg {
    config: Option<LegConfig>,
    latch: Latch,
    peer: Option<LegId>,
    outgoing: Outgoing,
    stats: LegStats,
    last_received: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Deadline {
    Inactivity,
}

/// The core: legs, bridges and timers of one worker.
#[derive(Debug)]
pub struct MediaCore {
    legs: HashMap<LegId, Leg>,
    timers: BinaryHeap<Reverse<(Instant, LegId, Deadline)>>,
    events: VecDeque<MediaEvent>,
    inactivity: Duration,
}

/// Rewrites the translated header fields of a checked RTP packet in place.
fn rewrite_header(packet: &mut [u8], pt: u8, seq: u16, ts: u32, ssrc: u32) {
    if packet.len() < 12 {
        return;
    }
    packet[1] = (packet[1] & 0x80) | (pt & 0x7f);
    packet[2..4].copy_from_slice(&seq.to_be_bytes());
    packet[4..8].copy_from_slice(&ts.to_be_bytes());
    packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

impl MediaCore {
    /// A core that hangs up legs silent for `inactivity`.
    pub fn new(inactivity: Duration) -> MediaCore {
        MediaCore {
            legs: HashMap::new(),
            timers: BinaryHeap::new(),
            events: VecDeque::new(),
            inactivity,
        }
    }

    /// Adds a leg; media flows once it is configured and bridged.
    pub fn add_leg(&mut self, now: Instant, leg: LegId) {
        self.legs.insert(
            leg,
            Leg {
                config: None,
                latch: Latch::new(None),
                peer: None,
                outgoing: Outgoing::new(rand::random()),
                stats: LegStats::default(),
                last_received: now,
            },
        );
        self.timers
            .push(Reverse((now + self.inactivity, leg, Deadline::Inactivity)));
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

    /// Removes a leg and reports its counters.
    pub fn remove_leg(&mut self, leg: LegId) {
        self.unbridge(leg);
        if let Some(l) = self.legs.remove(&leg) {
            let mut stats = l.stats;
            stats.rejected_source = l.latch.rejected();
            self.events.push_back(MediaEvent::Closed { leg, stats });
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

    /// An RTP packet arrived on `leg`'s socket from `from`. The buffer may be
    /// rewritten in place; when the result is `Some`, the caller sends the
    /// buffer from the named leg's socket to the named address.
    pub fn handle_rtp(&mut self, now: Instant, leg: LegId, from: SocketAddr, packet: &mut [u8]) -> Option<Forward> {
        let (ssrc, seq, ts, pt) = match RtpPacket::new_checked(packet) {
            Ok(p) => (p.ssrc(), p.sequence(), p.timestamp(), p.payload_type()),
            Err(_) => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.stats.malformed += 1;
                }
                return None;
            }
        };
        let l = self.legs.get_mut(&leg)?;
        let config = l.config.as_ref()?;
        if pt != config.payload_type && Some(pt) != config.telephone_event {
            l.stats.unknown_payload_type += 1;
            return None;
        }
        if l.latch.check(now, from, ssrc, seq) == Verdict::Reject {
            return None;
        }
        l.stats.received += 1;
        l.last_received = now;
        let is_event = Some(pt) == config.telephone_event;
        let receive = config.direction.receive;
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
        rewrite_header(packet, out_pt, out_seq, out_ts, peer.outgoing.ssrc);
        peer.stats.sent += 1;
        Some(Forward { leg: peer_id, to })
    }

    /// Fires due deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, leg, deadline))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(l) = self.legs.get(&leg) else { continue };
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
            }
        }
    }

    /// When [`MediaCore::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _, _))| *at)
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
        let mut core = MediaCore::new(Duration::from_secs(30));
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
        assert_eq!(fwd, Forward { leg: 2, to: addr("10.0.0.2:5000") });
        let (pt, seq0, ts0, ssrc) = fields(&first);
        assert_eq!(pt, 0);
        assert_ne!(ssrc, 0xaaaa, "our SSRC on the outgoing leg");
        assert_eq!(&first[12..], &[0xff; 160][..], "payload untouched");
        let mut next = packet(0, 101, 8160, 0xaaaa);
        core.handle_rtp(now + Duration::from_millis(20), 1, addr("192.0.2.1:4000"), &mut next).unwrap();
        let (_, seq1, ts1, ssrc1) = fields(&next);
        assert_eq!((seq1, ts1.wrapping_sub(ts0), ssrc1), (seq0.wrapping_add(1), 160, ssrc));
        // A new source on the same leg (e.g. the caller's phone restarts its
        // stream) continues the outgoing sequence.
        let mut other = packet(0, 7, 123, 0xbbbb);
        core.handle_rtp(now + Duration::from_millis(40), 1, addr("192.0.2.1:4000"), &mut other).unwrap();
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
        assert!(core.handle_rtp(now, 1, from, &mut packet(18, 1, 0, 9)).is_none(), "G.729 not negotiated");
        assert!(core.handle_rtp(now, 1, from, &mut packet(0, 1, 0, 9)).is_some());
        assert!(core.handle_rtp(now, 1, addr("203.0.113.66:1"), &mut packet(0, 900, 0, 66)).is_none(), "hijack");
        assert!(core.handle_rtp(now, 99, from, &mut packet(0, 1, 0, 9)).is_none(), "unknown leg");
        core.remove_leg(1);
        let Some(MediaEvent::Closed { stats, .. }) = core.poll_event() else { panic!() };
        assert_eq!((stats.received, stats.malformed, stats.unknown_payload_type, stats.rejected_source), (1, 1, 1, 1));
    }

    #[test]
    fn the_latched_source_receives_the_peer_media() {
        let (mut core, now) = bridged();
        // Leg 2's phone is behind NAT: its SDP says 10.0.0.2:5000, packets come from elsewhere.
        core.handle_rtp(now, 2, addr("198.51.100.7:31000"), &mut packet(0, 1, 0, 5)).unwrap();
        let fwd = core.handle_rtp(now, 1, addr("192.0.2.1:4000"), &mut packet(0, 1, 0, 9)).unwrap();
        assert_eq!(fwd.to, addr("198.51.100.7:31000"));
    }

    #[test]
    fn hold_stops_the_relay_and_the_inactivity_timer() {
        let (mut core, now) = bridged();
        let mut held = config(0, None, "10.0.0.2:5000");
        held.direction = Direction { send: false, receive: false };
        core.configure(2, held);
        assert!(core.handle_rtp(now, 1, addr("192.0.2.1:4000"), &mut packet(0, 1, 0, 9)).is_none());
        core.handle_timeout(now + Duration::from_secs(31));
        let events: Vec<_> = std::iter::from_fn(|| core.poll_event()).collect();
        assert_eq!(events, [MediaEvent::Inactive { leg: 1 }], "leg 2 is on hold, leg 1 went silent");
    }
}
