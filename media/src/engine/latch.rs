//! Symmetric RTP (RFC 4961 behaviour for peers behind NAT): send to where the
//! peer's packets come from, not to the address in its SDP, which behind NAT
//! is private. Latching on the first packet alone would let anyone who guesses
//! the port take the call over, so once latched:
//! - packets from any other address are dropped and counted;
//! - the latch moves only when the same stream (same SSRC, sequence number
//!   continuing) shows up from a new address, which is a NAT rebinding, or when
//!   the latched source has been silent for [`Latch::RELATCH_AFTER`] and the new
//!   source has sent [`Latch::PROBATION`] packets in sequence with one SSRC.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// From the latched source (or it latched or moved the latch).
    Accept,
    /// From another address: dropped.
    Reject,
}

#[derive(Debug, Clone, Copy)]
struct Source {
    addr: SocketAddr,
    ssrc: u32,
    seq: u16,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    source: Source,
    count: u8,
}

/// Latching state of one leg.
#[derive(Debug, Clone)]
pub struct Latch {
    signalled: Option<SocketAddr>,
    latched: Option<Source>,
    last_accepted: Option<Instant>,
    candidate: Option<Candidate>,
    rejected: u64,
}

fn in_sequence(previous: u16, next: u16) -> bool {
    let step = next.wrapping_sub(previous);
    (1..=100).contains(&step)
}

impl Latch {
    /// Silence after which another source may take over.
    pub const RELATCH_AFTER: Duration = Duration::from_secs(2);
    /// Packets in sequence a new source must send before it takes over.
    pub const PROBATION: u8 = 3;

    /// A leg whose peer's SDP named `signalled` (None before any SDP).
    pub fn new(signalled: Option<SocketAddr>) -> Latch {
        Latch {
            signalled,
            latched: None,
            last_accepted: None,
            candidate: None,
            rejected: 0,
        }
    }

    /// The peer sent new SDP (re-INVITE): the signalled address changes; the
    /// latch stays, media keeps flowing where it flows.
    pub fn set_signalled(&mut self, addr: Option<SocketAddr>) {
        self.signalled = addr;
    }

    /// Judges a packet from `from` carrying `ssrc` and sequence number `seq`.
    pub fn check(&mut self, now: Instant, from: SocketAddr, ssrc: u32, seq: u16) -> Verdict {
        let Some(latched) = self.latched.as_mut() else {
            self.latched = Some(Source { addr: from, ssrc, seq });
            self.last_accepted = Some(now);
            return Verdict::Accept;
        };
        if latched.addr == from {
            latched.ssrc = ssrc;
            latched.seq = seq;
            self.last_accepted = Some(now);
            self.candidate = None;
            return Verdict::Accept;
        }
        if latched.ssrc == ssrc && in_sequence(latched.seq, seq) {
            // The same stream from a new address: the NAT rebound.
            *latched = Source { addr: from, ssrc, seq };
            self.last_accepted = Some(now);
            self.candidate = None;
            return Verdict::Accept;
        }
        let silent = self
            .last_accepted
            .is_none_or(|t| now.saturating_duration_since(t) >= Self::RELATCH_AFTER);
        let count = match self.candidate {
            Some(c) if c.source.addr == from && c.source.ssrc == ssrc && in_sequence(c.source.seq, seq) => c.count + 1,
            _ => 1,
        };
        self.candidate = Some(Candidate {
            source: Source { addr: from, ssrc, seq },
            count,
        });
        if silent && count >= Self::PROBATION {
            self.latched = Some(Source { addr: from, ssrc, seq });
            self.last_accepted = Some(now);
            self.candidate = None;
            return Verdict::Accept;
        }
        self.rejected += 1;
        Verdict::Reject
    }

    /// Where to send: the latched source, else the signalled address.
    pub fn destination(&self) -> Option<SocketAddr> {
        self.latched.map(|s| s.addr).or(self.signalled)
    }

    /// Whether a packet has been latched on.
    pub fn is_latched(&self) -> bool {
        self.latched.is_some()
    }

    /// Packets dropped because they came from elsewhere.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// When a packet was last accepted.
    pub fn last_accepted(&self) -> Option<Instant> {
        self.last_accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn latches_on_the_first_packet_and_sends_there() {
        let t = Instant::now();
        let mut latch = Latch::new(Some(addr("10.0.0.5:4000")));
        assert_eq!(latch.destination(), Some(addr("10.0.0.5:4000")));
        assert_eq!(latch.check(t, addr("203.0.113.9:31000"), 7, 100), Verdict::Accept);
        assert_eq!(
            latch.destination(),
            Some(addr("203.0.113.9:31000")),
            "NAT: the source wins over SDP"
        );
    }

    #[test]
    fn a_third_party_cannot_take_over_a_live_stream() {
        let t = Instant::now();
        let mut latch = Latch::new(None);
        latch.check(t, addr("198.51.100.1:4000"), 7, 1);
        for i in 0..10u16 {
            let now = t + Duration::from_millis(20 * u64::from(i));
            assert_eq!(latch.check(now, addr("192.0.2.66:6666"), 99, i), Verdict::Reject);
            assert_eq!(latch.check(now, addr("198.51.100.1:4000"), 7, 2 + i), Verdict::Accept);
        }
        assert_eq!(latch.rejected(), 10);
        assert_eq!(latch.destination(), Some(addr("198.51.100.1:4000")));
    }

    #[test]
    fn nat_rebinding_of_the_same_stream_moves_the_latch() {
        let t = Instant::now();
        let mut latch = Latch::new(None);
        latch.check(t, addr("198.51.100.1:4000"), 7, 10);
        assert_eq!(latch.check(t, addr("198.51.100.1:4100"), 7, 11), Verdict::Accept);
        assert_eq!(latch.destination(), Some(addr("198.51.100.1:4100")));
        assert_eq!(
            latch.check(t, addr("198.51.100.1:4200"), 7, 5000),
            Verdict::Reject,
            "not a continuation"
        );
    }

    #[test]
    fn after_silence_a_new_source_takes_over_after_probation() {
        let t = Instant::now();
        let mut latch = Latch::new(None);
        latch.check(t, addr("198.51.100.1:4000"), 7, 10);
        let later = t + Latch::RELATCH_AFTER;
        let new = addr("198.51.100.2:5000");
        assert_eq!(latch.check(later, new, 8, 1), Verdict::Reject);
        assert_eq!(latch.check(later, new, 8, 2), Verdict::Reject);
        assert_eq!(latch.check(later, new, 8, 3), Verdict::Accept);
        assert_eq!(latch.destination(), Some(new));
    }
}
