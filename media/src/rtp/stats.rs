//! Per-stream statistics (RFC 3550 §6.4 and Appendix A) and the NTP timestamps
//! they are exchanged with.
//!
//! [`ReceiveStats`] follows the appendix closely:
//! - A.1: a new source is on probation until [`MIN_SEQUENTIAL`] packets in
//!   sequence have arrived; sequence numbers are extended across wrap-around;
//!   a jump of [`MAX_DROPOUT`] or more is refused unless the next packet follows
//!   it, which is taken as the sender restarting; packets up to
//!   [`MAX_MISORDER`] behind the highest are accepted as reordered.
//! - A.3: expected = highest extended sequence − base + 1; lost = expected −
//!   received; the fraction lost is over the interval since the previous report.
//! - A.8: interarrival jitter, J += (|D| − J) / 16, in timestamp units, kept
//!   in fixed point ×16 like the appendix's integer version. Arrival times are
//!   the caller's `now: Instant`, converted to the stream's clock rate.
//!
//! One refinement over A.1: a window of the last [`HISTORY`] sequence numbers
//! tells duplicates from reordered packets, and duplicates are counted apart
//! instead of as received, so `lost` does not go negative because the network
//! duplicated packets. Reordered packets (arrived after a later one) are
//! counted and do count as received.
//!
//! The round-trip time follows §6.4.1: RTT = A − LSR − DLSR, where A is the
//! arrival time of the report block in NTP middle-32-bit form. Nothing here reads
//! a clock: wall-clock time is passed in as an [`NtpTimestamp`] the caller
//! made, for example with [`NtpTimestamp::from_unix`] on
//! `SystemTime::now().duration_since(UNIX_EPOCH)`.

use std::time::{Duration, Instant};

use super::rtcp::{ReportBlock, SenderInfo};

/// Packets in sequence a new source needs before it counts (A.1).
pub const MIN_SEQUENTIAL: u32 = 2;
/// A forward jump of this many sequence numbers or more is suspicious (A.1).
pub const MAX_DROPOUT: u16 = 3000;
/// Packets this far behind the highest sequence number or less count as
/// reordered; farther back, as a jump (A.1).
pub const MAX_MISORDER: u16 = 100;
/// Sequence numbers remembered to tell duplicates from reordered packets.
pub const HISTORY: u32 = 128;

const SEQ_MOD: u32 = 1 << 16;
/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01 (Unix epoch).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A 64-bit NTP timestamp: seconds since 1900 in the high 32 bits, the
/// fraction of a second in the low 32 bits (RFC 3550 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    /// From a duration since the Unix epoch, as `SystemTime::duration_since`
    /// gives it. Seconds wrap into the next NTP era in 2036, as on the wire.
    pub fn from_unix(since_epoch: Duration) -> Self {
        let secs = since_epoch.as_secs().wrapping_add(NTP_UNIX_OFFSET) & 0xffff_ffff;
        let frac = (u64::from(since_epoch.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTimestamp((secs << 32) | frac)
    }

    /// The whole seconds (since 1900, modulo the era).
    pub fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The fraction of a second, in units of 2^-32 s.
    pub fn fraction(self) -> u32 {
        self.0 as u32
    }

    /// The middle 32 bits: what LSR and DLSR and the RTT are computed in
    /// (units of 1/65536 s).
    pub fn middle32(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

impl std::ops::Add<Duration> for NtpTimestamp {
    type Output = NtpTimestamp;

    /// This timestamp plus a duration (wrapping like the wire format).
    fn add(self, d: Duration) -> NtpTimestamp {
        let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTimestamp(self.0.wrapping_add(d.as_secs() << 32).wrapping_add(frac))
    }
}

/// Converts a duration in units of 1/65536 s (DLSR, RTT) to a [`Duration`].
pub fn from_ntp_short(units: u32) -> Duration {
    Duration::from_secs(u64::from(units >> 16))
        + Duration::from_nanos((u64::from(units & 0xffff) * 1_000_000_000) >> 16)
}

/// Converts a duration to units of 1/65536 s, saturating at `u32::MAX`.
pub fn to_ntp_short(d: Duration) -> u32 {
    let units = (d.as_nanos() << 16) / 1_000_000_000;
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// Round-trip time from a report block about our stream (§6.4.1): the block's
/// arrival time `arrival` less its LSR and DLSR. `None` when the peer has not
/// heard a sender report from us yet (LSR 0) or the result would be negative
/// (clocks or a stale block).
pub fn round_trip_time(block: &ReportBlock, arrival: NtpTimestamp) -> Option<Duration> {
    if block.lsr == 0 {
        return None;
    }
    let rtt = arrival.middle32().wrapping_sub(block.lsr).wrapping_sub(block.dlsr);
    if rtt > u32::MAX / 2 {
        return None;
    }
    Some(from_ntp_short(rtt))
}

/// How [`ReceiveStats::on_packet`] classified a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// In order or after a gap: counted.
    Valid,
    /// Arrived after a later packet, within [`MAX_MISORDER`]: counted.
    Reordered,
    /// Already received: not counted again.
    Duplicate,
    /// The source is still on probation (A.1): not counted yet.
    Probation,
    /// A large jump, refused until the next packet confirms it as a restart.
    Refused,
    /// The packet confirmed a jump: the statistics restarted from it.
    Restarted,
}

/// Statistics of one received RTP stream (one SSRC), per RFC 3550 A.1, A.3
/// and A.8. A new SSRC gets a new `ReceiveStats`.
#[derive(Debug, Clone)]
pub struct ReceiveStats {
    ssrc: u32,
    clock_rate: u32,
    started: bool,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u32,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Bit i: extended sequence number `highest - i` was received.
    history: u128,
    duplicates: u64,
    reordered: u64,
    refused: u64,
    epoch: Option<Instant>,
    transit: Option<u32>,
    jitter_q4: u32,
    last_sr: Option<(u32, Instant)>,
}

impl ReceiveStats {
    /// Statistics for the stream `ssrc` whose RTP clock runs at `clock_rate` Hz.
    pub fn new(ssrc: u32, clock_rate: u32) -> Self {
        ReceiveStats {
            ssrc,
            clock_rate: clock_rate.max(1),
            started: false,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: SEQ_MOD + 1,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            history: 0,
            duplicates: 0,
            reordered: 0,
            refused: 0,
            epoch: None,
            transit: None,
            jitter_q4: 0,
            last_sr: None,
        }
    }

    /// The stream's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
        self.history = 1;
        self.transit = None;
    }

    /// A packet of this stream arrived at `now` with sequence number `seq` and
    /// RTP timestamp `ts`.
    pub fn on_packet(&mut self, now: Instant, seq: u16, ts: u32) -> SeqVerdict {
        let verdict = self.update_seq(seq);
        match verdict {
            SeqVerdict::Valid | SeqVerdict::Reordered | SeqVerdict::Restarted => {
                self.received += 1;
                self.update_jitter(now, ts);
            }
            SeqVerdict::Duplicate => self.duplicates += 1,
            SeqVerdict::Refused => self.refused += 1,
            SeqVerdict::Probation => {}
        }
        if verdict == SeqVerdict::Reordered {
            self.reordered += 1;
        }
        verdict
    }

    /// RFC 3550 A.1 `update_seq`, with the duplicate window.
    fn update_seq(&mut self, seq: u16) -> SeqVerdict {
        if !self.started {
            self.started = true;
            self.init_seq(seq);
            self.max_seq = seq.wrapping_sub(1);
            self.probation = MIN_SEQUENTIAL;
        }
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    return SeqVerdict::Valid;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SeqVerdict::Probation;
        }
        if udelta < MAX_DROPOUT {
            if udelta == 0 {
                return SeqVerdict::Duplicate;
            }
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(SEQ_MOD);
            }
            self.max_seq = seq;
            self.history = if u32::from(udelta) >= HISTORY {
                1
            } else {
                (self.history << udelta) | 1
            };
            SeqVerdict::Valid
        } else if u32::from(udelta) <= SEQ_MOD - u32::from(MAX_MISORDER) {
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets after a jump: the sender restarted.
                self.init_seq(seq);
                SeqVerdict::Restarted
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (SEQ_MOD - 1);
                SeqVerdict::Refused
            }
        } else {
            let behind = u32::from(self.max_seq.wrapping_sub(seq));
            if behind < HISTORY {
                let bit = 1u128 << behind;
                if self.history & bit != 0 {
                    return SeqVerdict::Duplicate;
                }
                self.history |= bit;
            }
            SeqVerdict::Reordered
        }
    }

    /// RFC 3550 A.8.
    fn update_jitter(&mut self, now: Instant, ts: u32) {
        let epoch = *self.epoch.get_or_insert(now);
        let elapsed = now.saturating_duration_since(epoch).as_nanos();
        let arrival = (elapsed * u128::from(self.clock_rate) / 1_000_000_000) as u32;
        let transit = arrival.wrapping_sub(ts);
        if let Some(prev) = self.transit {
            let d = (transit.wrapping_sub(prev) as i32).unsigned_abs();
            // J(i) = J(i-1) + (|D| - J(i-1)) / 16, with J kept ×16.
            self.jitter_q4 = self.jitter_q4.wrapping_add(d).wrapping_sub((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// A sender report from this source arrived at `now`; `ntp` is its NTP
    /// timestamp. Feeds LSR and DLSR of the next report block.
    pub fn on_sender_report(&mut self, now: Instant, ntp: NtpTimestamp) {
        self.last_sr = Some((ntp.middle32(), now));
    }

    /// The highest sequence number received, extended with the wrap count.
    pub fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected since the stream was validated (A.3).
    pub fn expected(&self) -> u64 {
        if !self.started || self.probation > 0 {
            return 0;
        }
        u64::from(self.extended_max().wrapping_sub(self.base_seq)) + 1
    }

    /// Packets received and counted (duplicates excluded).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Packets lost: expected less received (A.3).
    pub fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Duplicated packets dropped from the counts.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Packets that arrived after a later one.
    pub fn reordered(&self) -> u64 {
        self.reordered
    }

    /// Packets refused as a jump in sequence numbers.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Interarrival jitter in timestamp units (A.8).
    pub fn jitter(&self) -> u32 {
        self.jitter_q4 >> 4
    }

    /// Interarrival jitter as a duration.
    pub fn jitter_duration(&self) -> Duration {
        Duration::from_nanos(u64::from(self.jitter_q4) * 1_000_000_000 / 16 / u64::from(self.clock_rate))
    }

    /// The report block about this stream for an RTCP report sent at `now`,
    /// and the start of a new interval for the fraction lost (A.3).
    pub fn report_block(&mut self, now: Instant) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval as u64) << 8)
                .checked_div(expected_interval)
                .unwrap_or(0)
                .min(255) as u8
        };
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => (lsr, to_ntp_short(now.saturating_duration_since(at))),
            None => (0, 0),
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.lost().clamp(-0x80_0000, 0x7f_ffff) as i32,
            highest_seq: self.extended_max(),
            jitter: self.jitter(),
            lsr,
            dlsr,
        }
    }
}

/// Statistics of one sent RTP stream: the sender information of our sender
/// reports, and the round-trip time from the peer's report blocks.
#[derive(Debug, Clone, Default)]
pub struct SendStats {
    /// Packets sent.
    pub packets: u64,
    /// Payload octets sent (headers and padding excluded, as §6.4.1 says).
    pub octets: u64,
    /// The NTP timestamp of the last sender report we sent.
    pub last_sr: Option<NtpTimestamp>,
    /// The last round-trip time measured.
    pub rtt: Option<Duration>,
}

impl SendStats {
    /// Empty statistics.
    pub fn new() -> Self {
        SendStats::default()
    }

    /// A packet with `payload_len` bytes of payload was sent.
    pub fn on_sent(&mut self, payload_len: usize) {
        self.packets += 1;
        self.octets += payload_len as u64;
    }

    /// The sender information of a sender report sent now: `ntp` is the wall
    /// clock now and `rtp_ts` the same instant on the stream's RTP clock.
    /// Packet and octet counts wrap at 32 bits as on the wire.
    pub fn sender_info(&mut self, ntp: NtpTimestamp, rtp_ts: u32) -> SenderInfo {
        self.last_sr = Some(ntp);
        SenderInfo {
            ntp,
            rtp_ts,
            packet_count: self.packets as u32,
            octet_count: self.octets as u32,
        }
    }

    /// A report block about our stream arrived at wall-clock time `arrival`:
    /// measures the round-trip time (§6.4.1) when the block refers to a
    /// sender report of ours, and returns it.
    pub fn on_report_block(&mut self, block: &ReportBlock, arrival: NtpTimestamp) -> Option<Duration> {
        let rtt = round_trip_time(block, arrival)?;
        self.rtt = Some(rtt);
        Some(rtt)
    }
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
