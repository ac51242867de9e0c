//! Call quality: a simplified ITU-T G.107 E-model and the per-leg summary that
//! call records keep.
//!
//! The rating is R = 93.2 − Id − Ie,eff (G.107 with default values for
//! everything but delay, codec and loss; 93.2 is the default Ro − Is):
//!
//! - Id, the delay impairment, uses the widely used simplification of G.107's
//!   Idd by Cole and Rosenbluth ("Voice over IP performance monitoring",
//!   ACM SIGCOMM CCR 31(2), 2001): Id = 0.024·d + 0.11·(d − 177.3)·H(d − 177.3),
//!   with d the one-way mouth-to-ear delay in ms and H the step function.
//! - Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl / BurstR + Bpl) (G.107 §3.6), with
//!   Ppl the packet loss in percent and BurstR = 1 (random loss).
//! - MOS = 1 + 0.035·R + R·(R − 60)·(100 − R)·7·10⁻⁶ for 0 < R < 100
//!   (G.107 Annex B), 1 below and 4.5 above; the cubic dips a hair under 1 for
//!   R below about 6.5, so the result is floored at 1 to keep it monotonic.
//!
//! Codec parameters ([`CodecImpairment`]):
//! - G.711: Ie = 0; Bpl = 4.3 without packet-loss concealment and 25.1 with
//!   the G.711 Appendix I concealment (ITU-T G.113 Appendix I, Table I.3).
//! - Opus: the ITU-T tables have no narrowband-scale values for Opus. We use
//!   Ie = 0 at 24 kbit/s and above (wideband Opus is at least as good as
//!   G.711 on the narrowband scale) and Ie = 11 at narrowband bitrates
//!   (around 8–12 kbit/s, taken equal to G.729A's Ie in G.113 Appendix I), with
//!   Bpl = 20, close to G.729A's 19 in the same table: Opus has built-in
//!   concealment. These are engineering estimates, labelled as such, until a
//!   published Opus Bpl replaces them.
//!
//! The one-way delay the estimate uses is what a leg can know: half the RTCP
//! round-trip time, plus the packetization time, plus a jitter-buffer delay
//! of twice the interarrival jitter (see [`LegQuality::estimate`]).

/// E-model parameters of one codec.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CodecImpairment {
    /// Equipment impairment factor Ie, without loss.
    pub ie: f64,
    /// Packet-loss robustness factor Bpl.
    pub bpl: f64,
}

impl CodecImpairment {
    /// G.711 without packet-loss concealment (G.113 Appendix I).
    pub const G711: CodecImpairment = CodecImpairment { ie: 0.0, bpl: 4.3 };
    /// G.711 with Appendix I packet-loss concealment (G.113 Appendix I).
    pub const G711_PLC: CodecImpairment = CodecImpairment { ie: 0.0, bpl: 25.1 };
    /// Opus at 24 kbit/s or more (estimate, see the module docs).
    pub const OPUS: CodecImpairment = CodecImpairment { ie: 0.0, bpl: 20.0 };
    /// Opus at narrowband bitrates, 8–12 kbit/s (estimate, see the module docs).
    pub const OPUS_NARROWBAND: CodecImpairment = CodecImpairment { ie: 11.0, bpl: 20.0 };
}

/// The R factor's starting point with G.107 default values (Ro − Is).
pub const R_DEFAULT: f64 = 93.2;

/// Delay impairment Id for a one-way delay in milliseconds.
pub fn delay_impairment(one_way_ms: f64) -> f64 {
    let d = one_way_ms.max(0.0);
    let mut id = 0.024 * d;
    if d > 177.3 {
        id += 0.11 * (d - 177.3);
    }
    id
}

/// Effective equipment impairment Ie,eff for `loss_percent` random loss.
pub fn effective_equipment_impairment(codec: CodecImpairment, loss_percent: f64) -> f64 {
    let ppl = loss_percent.clamp(0.0, 100.0);
    if ppl == 0.0 {
        return codec.ie;
    }
    codec.ie + (95.0 - codec.ie) * ppl / (ppl + codec.bpl)
}

/// The transmission rating R for a one-way delay and a packet loss.
pub fn r_factor(codec: CodecImpairment, one_way_ms: f64, loss_percent: f64) -> f64 {
    R_DEFAULT - delay_impairment(one_way_ms) - effective_equipment_impairment(codec, loss_percent)
}

/// The mean opinion score (1 to 4.5) for a rating R (G.107 Annex B).
pub fn mos_from_r(r: f64) -> f64 {
    if r.is_nan() || r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        (1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7.0e-6).max(1.0)
    }
}

/// The quality summary of one leg, as a call record stores it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LegQuality {
    /// Packets received on the leg.
    pub packets: u64,
    /// Packets lost (expected less received; RFC 3550 A.3).
    pub lost: i64,
    /// Interarrival jitter, in milliseconds.
    pub jitter_ms: f64,
    /// Round-trip time from RTCP, in milliseconds, when measured.
    pub rtt_ms: Option<f64>,
    /// Estimated listening-conversational MOS, 1 to 4.5.
    pub mos: f64,
}

impl LegQuality {
    /// Summarises a leg and estimates its MOS. The one-way delay is half of
    /// `rtt_ms` (0 when unknown) plus `packet_ms` of packetization plus twice
    /// the jitter for the receiver's buffer; the loss is `lost` over
    /// `packets + lost`.
    pub fn estimate(
        codec: CodecImpairment,
        packets: u64,
        lost: i64,
        jitter_ms: f64,
        rtt_ms: Option<f64>,
        packet_ms: f64,
    ) -> Self {
        let expected = packets as f64 + lost.max(0) as f64;
        let loss_percent = if expected > 0.0 {
            100.0 * lost.max(0) as f64 / expected
        } else {
            0.0
        };
        let one_way = rtt_ms.unwrap_or(0.0).max(0.0) / 2.0 + packet_ms.max(0.0) + 2.0 * jitter_ms.max(0.0);
        let mos = mos_from_r(r_factor(codec, one_way, loss_percent));
        LegQuality {
            packets,
            lost,
            jitter_ms,
            rtt_ms,
            mos,
        }
    }

    /// The summary of a received stream's statistics, with the RTT the send
    /// side measured (if any) and 20 ms packets.
    pub fn from_stats(codec: CodecImpairment, stats: &super::ReceiveStats, rtt: Option<std::time::Duration>) -> Self {
        let jitter_ms = stats.jitter_duration().as_secs_f64() * 1000.0;
        let rtt_ms = rtt.map(|d| d.as_secs_f64() * 1000.0);
        LegQuality::estimate(codec, stats.received(), stats.lost(), jitter_ms, rtt_ms, 20.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_without_impairments_is_toll_quality() {
        let r = r_factor(CodecImpairment::G711, 0.0, 0.0);
        assert!((r - 93.2).abs() < 1e-9);
        let mos = mos_from_r(r);
        assert!((4.40..4.42).contains(&mos), "{mos}");
    }

    #[test]
    fn mos_bounds_and_known_points() {
        assert_eq!(mos_from_r(-5.0), 1.0);
        assert_eq!(mos_from_r(f64::NAN), 1.0);
        assert_eq!(mos_from_r(120.0), 4.5);
        // R = 50: 1 + 1.75 + 50·(−10)·50·7e-6 = 2.575.
        assert!((mos_from_r(50.0) - 2.575).abs() < 1e-9);
        // R = 80: 1 + 2.8 + 80·20·20·7e-6 = 4.024.
        assert!((mos_from_r(80.0) - 4.024).abs() < 1e-9);
    }

    #[test]
    fn mos_is_monotonic_in_r() {
        let mut prev = mos_from_r(-1.0);
        for i in 0..=1100 {
            let m = mos_from_r(f64::from(i) / 10.0);
            assert!(m >= prev, "R {} MOS {m} < {prev}", f64::from(i) / 10.0);
            prev = m;
        }
    }

    #[test]
    fn mos_falls_with_loss_and_delay() {
        for codec in [CodecImpairment::G711, CodecImpairment::G711_PLC, CodecImpairment::OPUS] {
            let mut prev = f64::INFINITY;
            for loss in 0..=40 {
                let m = mos_from_r(r_factor(codec, 50.0, f64::from(loss) / 2.0));
                assert!(m <= prev);
                prev = m;
            }
            let mut prev = f64::INFINITY;
            for delay in (0..=800).step_by(10) {
                let m = mos_from_r(r_factor(codec, f64::from(delay), 1.0));
                assert!(m <= prev);
                prev = m;
            }
        }
        // Strictly lower at a few points, too.
        assert!(mos_from_r(r_factor(CodecImpairment::G711, 0.0, 5.0)) < 4.0);
        assert!(mos_from_r(r_factor(CodecImpairment::G711, 400.0, 0.0)) < 3.6);
    }

    #[test]
    fn concealment_makes_loss_hurt_less() {
        let without = r_factor(CodecImpairment::G711, 20.0, 3.0);
        let with = r_factor(CodecImpairment::G711_PLC, 20.0, 3.0);
        assert!(with > without + 10.0, "{with} vs {without}");
        assert!(r_factor(CodecImpairment::OPUS_NARROWBAND, 20.0, 0.0) < r_factor(CodecImpairment::OPUS, 20.0, 0.0));
    }

    #[test]
    fn leg_quality_summary() {
        let clean = LegQuality::estimate(CodecImpairment::G711_PLC, 1000, 0, 1.0, Some(40.0), 20.0);
        assert_eq!(clean.packets, 1000);
        assert!(clean.mos > 4.3, "{}", clean.mos);
        let lossy = LegQuality::estimate(CodecImpairment::G711_PLC, 900, 100, 30.0, Some(300.0), 20.0);
        assert!(lossy.mos < clean.mos - 0.8, "{}", lossy.mos);
        let nothing = LegQuality::estimate(CodecImpairment::G711, 0, 0, 0.0, None, 20.0);
        assert!(nothing.mos > 4.0);
    }
}
