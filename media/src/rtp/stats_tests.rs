use std::time::{Duration, Instant};

use super::*;

const MS: Duration = Duration::from_millis(1);

/// Feeds `seqs` as 20 ms G.711 packets arriving exactly on time.
fn feed(stats: &mut ReceiveStats, t0: Instant, seqs: impl IntoIterator<Item = u16>) -> Vec<SeqVerdict> {
    seqs.into_iter()
        .map(|seq| {
            let n = u32::from(seq);
            stats.on_packet(t0 + 20 * MS * n, seq, 160 * n)
        })
        .collect()
}

#[test]
fn probation_then_counting() {
    let t0 = Instant::now();
    let mut s = ReceiveStats::new(7, 8000);
    assert_eq!(
        feed(&mut s, t0, [100, 101, 102]),
        [SeqVerdict::Probation, SeqVerdict::Valid, SeqVerdict::Valid]
    );
    assert_eq!(s.received(), 2);
    assert_eq!(s.expected(), 2);
    assert_eq!(s.lost(), 0);
    assert_eq!(s.extended_max(), 102);
}

#[test]
fn probation_restarts_on_a_gap() {
    let t0 = Instant::now();
    let mut s = ReceiveStats::new(7, 8000);
    assert_eq!(
        feed(&mut s, t0, [5, 9, 10]),
        [SeqVerdict::Probation, SeqVerdict::Probation, SeqVerdict::Valid]
    );
    assert_eq!(s.expected(), 1);
    assert_eq!(s.received(), 1);
}

#[test]
fn loss_and_fraction_lost_per_interval() {
    let t0 = Instant::now();
    let mut s = ReceiveStats::new(0x1234, 8000);
    // 0 is probation; 1..=100 expected; 10..20 lost.
    feed(&mut s, t0, (0..=100).filter(|q| !(10..20).contains(q)));
    assert_eq!((s.expected(), s.received(), s.lost()), (100, 90, 10));
    let b = s.report_block(t0 + 2 * Duration::from_secs(1));
    assert_eq!(b.ssrc, 0x1234);
    assert_eq!(b.fraction_lost, 25); // 10/100 · 256 = 25.6
    assert_eq!(b.cumulative_lost, 10);
    assert_eq!(b.highest_seq, 100);
    assert_eq!((b.lsr, b.dlsr), (0, 0));
    // Next interval: 101..=200 with 5 lost.
    feed(&mut s, t0, (101..=200).filter(|q| !(150..155).contains(q)));
    let b = s.report_block(t0 + 4 * Duration::from_secs(1));
    assert_eq!(b.fraction_lost, 12); // 5/100 · 256 = 12.8
    assert_eq!(b.cumulative_lost, 15);
    // An interval with nothing new reports no loss.
    let b = s.report_block(t0 + 5 * Duration::from_secs(1));
    assert_eq!(b.fraction_lost, 0);
}

#[test]
fn sequence_wraps_at_65535() {
    let t0 = Instant::now();
    let mut s = ReceiveStats::new(1, 8000);
    let seqs: Vec<u16> = (0..40u16).map(|i| 65_520u16.wrapping_add(i)).collect();
    for (i, seq) in seqs.iter().enumerate() {
        s.on_packet(t0 + 20 * MS * i as u32, *seq, 160 * i as u32);
    }
    assert_eq!(s.extended_max(), 65_536 + 23);
    assert_eq!((s.expected(), s.received(), s.lost()), (39, 39, 0));
    assert_eq!(s.report_block(t0).highest_seq, 0x0001_0017);
}

#[test]
fn reorder_across_the_wrap() {
    let t0 = Instant::now();
    let mut s = ReceiveStats::new(1, 8000);
    let v = feed(&mut s, t0, [65_533, 65_534, 0, 65_535, 1]);
    assert_eq!(v[3], SeqVerdict::Reordered);
    assert_eq!((s.expected(), s.received(), s.lost(), s.reordered()), (4, 4, 0, 1));
    assert_eq!(s.extended_max(), 65_537);
}

#[test]
fn reordered_and_duplicated_packets() {
    let t0 = Instant::now();
    let mut s = ReceiveStats::new(1, 8000);
    let v = feed(&mut s, t0, [0, 1, 2, 4, 3, 5, 5, 3, 1]);
    use SeqVerdict::*;
    assert_eq!(
        v,
        [Probation, Valid, Valid, Valid, Reordered, Valid, Duplicate, Duplicate, Duplicate]
    );
    assert_eq!(s.reordered(), 1);
    assert_eq!(s.duplicates(), 3);
    assert_eq!((s.expected(), s.received(), s.lost()), (5, 5, 0));
}

#[test]
fn far_behind_packets_are_refused_as_jumps() {
    let t0 = Instant::now();
    let mut s = ReceiveStats::new(1, 8000);
    feed(&mut s, t0, 0..=500);
    // 200 behind: more than MAX_MISORDER, treated as a jump.
    assert_eq!(feed(&mut s, t0, [300]), [SeqVerdict::Refused]);
    assert_eq!(s.refused(), 1);
    assert_eq!(s.received(), 500);
}

#[test]
fn a_confirmed_jump_restarts_the_statistics() {
    let t0 = Instant::now();
    let mut s = ReceiveStats::new(1, 8000);
    feed(&mut s, t0, 0..=10);
    assert_eq!(
        feed(&mut s, t0, [20_000, 20_001, 20_002]),
        [SeqVerdict::Refused, SeqVerdict::Restarted, SeqVerdict::Valid]
    );
    assert_eq!((s.expected(), s.received(), s.lost()), (2, 2, 0));
    // A single stray packet is refused and forgotten.
    assert_eq!(
        feed(&mut s, t0, [40_000, 20_003]),
        [SeqVerdict::Refused, SeqVerdict::Valid]
    );
    assert_eq!(s.lost(), 0);
}

#[test]
fn jitter_is_zero_for_a_perfect_stream() {
    let t0 = Instant::now();
    let mut s = ReceiveStats::new(1, 8000);
    feed(&mut s, t0, 0..200);
    assert_eq!(s.jitter(), 0);
}

#[test]
fn jitter_follows_rfc3550_a8_on_a_synthetic_stream() {
    // Every other packet arrives 10 ms late: |D| is 80 timestamp units (10 ms
    // at 8 kHz) for every packet, so J converges to 80.
    let t0 = Instant::now();
    let mut s = ReceiveStats::new(1, 8000);
    let mut reference = 0.0f64;
    let mut prev_transit: Option<f64> = None;
    for n in 0..400u32 {
        let late = if n % 2 == 1 { 10 * MS } else { Duration::ZERO };
        let arrival = 20 * MS * n + late;
        s.on_packet(t0 + arrival, n as u16, 160 * n);
        // Floating-point reference of A.8, skipping the probation packet.
        if n >= 1 {
            let transit = arrival.as_secs_f64() * 8000.0 - f64::from(160 * n);
            if let Some(p) = prev_transit {
                reference += ((transit - p).abs() - reference) / 16.0;
            }
            prev_transit = Some(transit);
        }
    }
    assert!((78..=80).contains(&s.jitter()), "jitter {}", s.jitter());
    assert!(
        (f64::from(s.jitter()) - reference).abs() <= 1.0,
        "{} vs {reference}",
        s.jitter()
    );
    let ms = s.jitter_duration().as_secs_f64() * 1000.0;
    assert!((9.7..=10.0).contains(&ms), "{ms}");
}

#[test]
fn jitter_uses_the_clock_rate() {
    // Opus at 48 kHz, uniform ±5 ms alternation: J → 5 ms = 240 units.
    let t0 = Instant::now();
    let mut s = ReceiveStats::new(1, 48_000);
    for n in 0..400u32 {
        let late = if n % 2 == 1 { 5 * MS } else { Duration::ZERO };
        s.on_packet(t0 + 20 * MS * n + late, n as u16, 960 * n);
    }
    assert!((235..=240).contains(&s.jitter()), "{}", s.jitter());
}

#[test]
fn lsr_and_dlsr_in_report_blocks() {
    let t0 = Instant::now();
    let mut s = ReceiveStats::new(1, 8000);
    feed(&mut s, t0, 0..10);
    let ntp = NtpTimestamp(0xb705_2000_1234_0000);
    s.on_sender_report(t0, ntp);
    let b = s.report_block(t0 + Duration::from_millis(1500));
    assert_eq!(b.lsr, 0x2000_1234);
    assert_eq!(b.dlsr, 98_304); // 1.5 · 65536
}

#[test]
fn rtt_from_the_rfc3550_example() {
    // RFC 3550 §6.4.1, Figure 2: A = 0xb710:8000, LSR = 0xb705:2000,
    // DLSR = 0x0005:4000 (5.25 s): RTT = 0x0006:2000 = 6.125 s.
    let block = ReportBlock {
        lsr: 0xb705_2000,
        dlsr: 0x0005_4000,
        ..ReportBlock::default()
    };
    let arrival = NtpTimestamp(0xb710_8000u64 << 16);
    assert_eq!(round_trip_time(&block, arrival), Some(Duration::from_millis(6125)));
    let mut send = SendStats::new();
    assert_eq!(send.on_report_block(&block, arrival), Some(Duration::from_millis(6125)));
    assert_eq!(send.rtt, Some(Duration::from_millis(6125)));
    // No SR heard yet, or an impossible (negative) result.
    assert_eq!(round_trip_time(&ReportBlock { lsr: 0, ..block }, arrival), None);
    assert_eq!(round_trip_time(&block, NtpTimestamp(0xb705_2000u64 << 16)), None);
}

#[test]
fn ntp_conversions() {
    let epoch = NtpTimestamp::from_unix(Duration::ZERO);
    assert_eq!(epoch.seconds(), 2_208_988_800);
    assert_eq!(epoch.fraction(), 0);
    let half = NtpTimestamp::from_unix(Duration::from_millis(1500));
    assert_eq!(half.seconds(), 2_208_988_801);
    assert_eq!(half.fraction(), 0x8000_0000);
    assert_eq!(half.middle32(), (2_208_988_801u32 << 16) | 0x8000);
    assert_eq!(epoch + Duration::from_millis(1500), half);
    assert_eq!(from_ntp_short(0x0006_2000), Duration::from_millis(6125));
    assert_eq!(to_ntp_short(Duration::from_millis(6125)), 0x0006_2000);
    assert_eq!(to_ntp_short(Duration::from_secs(1 << 20)), u32::MAX);
}

#[test]
fn send_stats_fill_sender_info() {
    let mut s = SendStats::new();
    for _ in 0..50 {
        s.on_sent(160);
    }
    let ntp = NtpTimestamp::from_unix(Duration::from_secs(1_700_000_000));
    let info = s.sender_info(ntp, 8000);
    assert_eq!(
        (info.packet_count, info.octet_count, info.rtp_ts, info.ntp),
        (50, 8000, 8000, ntp)
    );
    assert_eq!(s.last_sr, Some(ntp));
}
