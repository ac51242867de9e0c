use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::conceal::pitch_period;
use super::*;

const MS: Duration = Duration::from_millis(1);
const SSRC: u32 = 0x5151;

/// What a tick played, with the sequence number carried in the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Audio(u16),
    Lost,
    Empty,
}

/// A packet arriving at `at` ms after the start.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    at: u64,
    seq: u16,
    ts: u32,
    marker: bool,
}

/// Packet `seq` of a 20 ms G.711 stream, sent on time, delayed by `delay` ms.
fn on_time(seq: u16, delay: u64) -> Arrival {
    Arrival {
        at: 20 * u64::from(seq) + delay,
        seq,
        ts: 160 * u32::from(seq),
        marker: seq == 0,
    }
}

/// Runs the buffer over `arrivals` with a tick every 20 ms (ticks at 20k + 10
/// ms, between packet arrivals), for `ticks` ticks.
fn run(jb: &mut JitterBuffer, t0: Instant, mut arrivals: Vec<Arrival>, ticks: u64) -> Vec<Out> {
    arrivals.sort_by_key(|a| a.at);
    let mut i = 0;
    let mut out = Vec::new();
    for k in 0..ticks {
        let tick = 20 * k + 10;
        while i < arrivals.len() && arrivals[i].at <= tick {
            let a = arrivals[i];
            jb.insert(t0 + MS * a.at as u32, SSRC, a.seq, a.ts, a.marker, &a.seq.to_be_bytes());
            i += 1;
        }
        out.push(match jb.pop(t0 + MS * tick as u32) {
            Frame::Audio(p) => Out::Audio(u16::from_be_bytes([p[0], p[1]])),
            Frame::Lost => Out::Lost,
            Frame::Empty => Out::Empty,
        });
    }
    out
}

fn audio(out: &[Out]) -> Vec<u16> {
    out.iter()
        .filter_map(|o| if let Out::Audio(s) = o { Some(*s) } else { None })
        .collect()
}

#[test]
fn steady_stream_plays_in_order_after_the_minimum_delay() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::new(8000));
    let out = run(&mut jb, t0, (0..50).map(|s| on_time(s, 0)).collect(), 52);
    // Packet 0 arrives at 0 ms, is ready at 20 ms: plays at the 30 ms tick.
    assert_eq!(&out[..2], &[Out::Empty, Out::Audio(0)]);
    assert_eq!(audio(&out), (0..50).collect::<Vec<_>>());
    assert!(out[1..51].iter().all(|o| matches!(o, Out::Audio(_))));
    assert_eq!(jb.target_delay(), 20 * MS);
    let s = jb.stats();
    assert_eq!((s.played, s.lost, s.late, s.duplicates), (50, 0, 0, 0));
}

#[test]
fn reordered_packets_play_in_order() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::new(8000));
    let mut arrivals: Vec<_> = (0..30).map(|s| on_time(s, 0)).collect();
    // 6 overtakes 5; 11 arrives before 9 and 10.
    arrivals[5].at = 20 * 6 + 2;
    arrivals[9].at = 20 * 11 + 3;
    arrivals[10].at = 20 * 11 + 4;
    let out = run(&mut jb, t0, arrivals, 35);
    assert_eq!(audio(&out), (0..30).collect::<Vec<_>>());
    assert!(!out.contains(&Out::Lost));
    assert_eq!(jb.stats().lost, 0);
}

#[test]
fn a_lost_packet_is_signalled_once_in_its_slot() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::new(8000));
    let arrivals: Vec<_> = (0..30)
        .filter(|s| *s != 7 && *s != 12 && *s != 13)
        .map(|s| on_time(s, 0))
        .collect();
    let out = run(&mut jb, t0, arrivals, 32);
    let lost: Vec<usize> = out
        .iter()
        .enumerate()
        .filter(|(_, o)| **o == Out::Lost)
        .map(|(i, _)| i)
        .collect();
    // Packet n plays at tick n + 1. When two losses in a row empty the
    // buffer, the first tick cannot tell loss from the end of a talkspurt.
    assert_eq!(lost, vec![8, 14]);
    assert_eq!(out[13], Out::Empty);
    assert_eq!((out[9], out[15]), (Out::Audio(8), Out::Audio(14)));
    assert_eq!(jb.stats().lost, 3);
}

#[test]
fn duplicates_are_dropped_whether_buffered_or_played() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::new(8000));
    let mut arrivals: Vec<_> = (0..20).map(|s| on_time(s, 0)).collect();
    arrivals.push(on_time(5, 1)); // buffered duplicate
    arrivals.push(on_time(2, 100)); // duplicate of a played packet
    let out = run(&mut jb, t0, arrivals, 22);
    assert_eq!(audio(&out), (0..20).collect::<Vec<_>>());
    let s = jb.stats();
    assert_eq!((s.duplicates, s.late, s.lost), (2, 0, 0));
}

#[test]
fn a_late_packet_is_dropped_after_its_slot_was_concealed() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::new(8000));
    let mut arrivals: Vec<_> = (0..20).map(|s| on_time(s, 0)).collect();
    arrivals[6].at = 20 * 6 + 60; // due at the 7th tick, comes after it
    let out = run(&mut jb, t0, arrivals, 22);
    assert_eq!(out[7], Out::Lost);
    assert!(!audio(&out).contains(&6));
    let s = jb.stats();
    assert_eq!((s.late, s.lost), (1, 1));
    // The late arrival raised the target.
    assert!(jb.target_delay() >= 55 * MS, "{:?}", jb.target_delay());
}

#[test]
fn delay_adapts_up_to_jitter_and_back_down() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::new(8000));
    // 300 jittery packets: delays cycle through 0, 35, 70, 15, 50 ms.
    let pattern = [0u64, 35, 70, 15, 50];
    let mut arrivals: Vec<_> = (0..300).map(|s| on_time(s, pattern[s as usize % 5])).collect();
    // Then 500 calm packets.
    arrivals.extend((300..800).map(|s| on_time(s, 0)));
    let mut jitter_phase_lost = 0;
    let mut i = 0;
    arrivals.sort_by_key(|a| a.at);
    for k in 0..820u64 {
        let tick = 20 * k + 10;
        while i < arrivals.len() && arrivals[i].at <= tick {
            let a = arrivals[i];
            jb.insert(t0 + MS * a.at as u32, SSRC, a.seq, a.ts, false, &[0; 160]);
            i += 1;
        }
        let _ = jb.pop(t0 + MS * tick as u32);
        if k == 290 {
            assert!(
                jb.target_delay() >= 70 * MS && jb.target_delay() <= 75 * MS,
                "{:?}",
                jb.target_delay()
            );
            jitter_phase_lost = jb.stats().lost + jb.stats().late;
        }
    }
    // Once the buffer adapted, the jitter cost at most the first few packets.
    assert!(
        jitter_phase_lost <= 4,
        "lost or late during jitter: {jitter_phase_lost}"
    );
    // Calm: back to the minimum target, and the delay follows by skipping.
    assert_eq!(jb.target_delay(), 20 * MS);
    assert!(jb.stats().discarded >= 2, "{:?}", jb.stats());
    assert!(jb.len() <= 3, "still buffering {} packets", jb.len());
}

#[test]
fn talkspurt_gaps_are_not_loss() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::new(8000));
    // Talkspurt 1: seq 0..25; 1 s of silence; talkspurt 2: seq 25..50 with
    // the marker on its first packet and the timestamp 1 s further on.
    let mut arrivals: Vec<_> = (0..25).map(|s| on_time(s, 0)).collect();
    for (i, seq) in (25..50u16).enumerate() {
        let n = 25 + 50 + i as u64; // 50 frames of silence
        arrivals.push(Arrival {
            at: 20 * n,
            seq,
            ts: 160 * n as u32,
            marker: i == 0,
        });
    }
    let out = run(&mut jb, t0, arrivals, 105);
    assert_eq!(audio(&out), (0..50).collect::<Vec<_>>());
    assert!(!out.contains(&Out::Lost));
    assert_eq!(jb.stats().lost, 0);
    // The second talkspurt starts after its own playout delay.
    let start = out.iter().position(|o| *o == Out::Audio(25)).unwrap();
    assert_eq!(start, 76);
    assert!(out[26..76].iter().all(|o| *o == Out::Empty));
}

#[test]
fn silence_without_marker_is_detected_by_the_timestamp() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::new(8000));
    let mut arrivals: Vec<_> = (0..10).map(|s| on_time(s, 0)).collect();
    for (i, seq) in (10..20u16).enumerate() {
        let n = 30 + i as u64;
        arrivals.push(Arrival {
            at: 20 * n,
            seq,
            ts: 160 * n as u32,
            marker: false,
        });
    }
    let out = run(&mut jb, t0, arrivals, 45);
    assert_eq!(audio(&out), (0..20).collect::<Vec<_>>());
    assert!(!out.contains(&Out::Lost));
}

#[test]
fn loss_before_a_talkspurt_is_counted_not_concealed() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::new(8000));
    // The last two packets of talkspurt 1 (8, 9) are lost.
    let mut arrivals: Vec<_> = (0..8).map(|s| on_time(s, 0)).collect();
    arrivals.push(Arrival {
        at: 20 * 40,
        seq: 10,
        ts: 160 * 40,
        marker: true,
    });
    arrivals.push(Arrival {
        at: 20 * 41,
        seq: 11,
        ts: 160 * 41,
        marker: false,
    });
    let out = run(&mut jb, t0, arrivals, 45);
    assert_eq!(audio(&out), vec![0, 1, 2, 3, 4, 5, 6, 7, 10, 11]);
    assert_eq!(jb.stats().lost, 2);
}

#[test]
fn ssrc_change_and_timestamp_jump_reset() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::new(8000));
    run(&mut jb, t0, (0..10).map(|s| on_time(s, 0)).collect(), 12);
    let t = t0 + 240 * MS;
    assert_eq!(jb.insert(t, SSRC + 1, 5000, 99, true, &[1]), Inserted::Reset);
    assert_eq!(jb.len(), 1);
    assert_eq!(jb.pop(t + 30 * MS), Frame::Audio(&[1]));
    // Same SSRC, timestamp 10 s ahead of the arrival clock.
    assert_eq!(
        jb.insert(t + 40 * MS, SSRC + 1, 5001, 99 + 80_000, false, &[2]),
        Inserted::Reset
    );
    // Sequence jump.
    assert_eq!(
        jb.insert(t + 60 * MS, SSRC + 1, 9000, 99 + 80_160, false, &[3]),
        Inserted::Reset
    );
    assert_eq!(jb.len(), 1);
    assert_eq!(jb.stats().resets, 3);
}

#[test]
fn memory_is_bounded() {
    let t0 = Instant::now();
    let config = JitterConfig {
        max_packets: 16,
        ..JitterConfig::new(8000)
    };
    let mut jb = JitterBuffer::new(config);
    for seq in 0..1000u16 {
        jb.insert(
            t0 + MS * u32::from(seq),
            SSRC,
            seq,
            160 * u32::from(seq),
            false,
            &[0; 160],
        );
        assert!(jb.len() <= 16);
    }
    assert_eq!(jb.stats().overflow, 1000 - 16);
    assert!(jb.free.len() <= 16);
    assert_eq!(jb.insert(t0, SSRC, 1000, 0, false, &[0; 1501]), Inserted::TooLarge);
    // The newest packets were kept and play in order.
    assert_eq!(jb.pop(t0 + Duration::from_secs(2)), Frame::Audio(&[0; 160]));
    assert_eq!(jb.len(), 15);
}

#[test]
fn sequence_and_timestamp_wrap() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::new(8000));
    let mut out = Vec::new();
    for k in 0..40u32 {
        let seq = 65_520u16.wrapping_add(k as u16);
        let ts = (u32::MAX - 160 * 10).wrapping_add(160 * k);
        jb.insert(t0 + 20 * MS * k, SSRC, seq, ts, k == 0, &seq.to_be_bytes());
        if let Frame::Audio(p) = jb.pop(t0 + 20 * MS * k + 10 * MS) {
            out.push(u16::from_be_bytes([p[0], p[1]]));
        }
    }
    let expected: Vec<u16> = (0..39u16).map(|k| 65_520u16.wrapping_add(k)).collect();
    assert_eq!(out, expected);
    assert_eq!(jb.stats().resets, 0);
}

#[test]
fn steady_state_reuses_payload_buffers() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::new(8000));
    run(&mut jb, t0, (0..200).map(|s| on_time(s, 0)).collect(), 202);
    // One buffer per packet in flight, plus the one being played.
    assert!(jb.free.len() + jb.len() <= 3, "{} spare buffers", jb.free.len());
}

#[test]
fn conceal_repeats_the_pitch_period_and_fades() {
    // 200 Hz at 8 kHz: a period of 40 samples.
    let last: Vec<i16> = (0..160)
        .map(|i| (8000.0 * (i as f64 * 2.0 * std::f64::consts::PI / 40.0).sin()) as i16)
        .collect();
    assert_eq!(pitch_period(&last, 160), 40);
    let mut out = [0i16; 160];
    conceal(&last, &mut out, 1);
    // Continues the waveform: the first 80 samples (10 ms) are the last
    // period repeated at full level.
    for i in 0..80 {
        assert_eq!(out[i], last[120 + i % 40], "sample {i}");
    }
    // Then fades: 20 ms into the loss the level is down by 20 %.
    let peak = |s: &[i16]| s.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0);
    assert!(peak(&out[..80]) > 7900);
    assert!(
        (6000..=7200).contains(&peak(&out[120..160])),
        "{}",
        peak(&out[120..160])
    );
    let mut second = [0i16; 160];
    conceal(&last, &mut second, 2);
    assert!(peak(&second) < peak(&out));
    // Phase continues across frames.
    // Phase continues across frames: 160 samples on is a whole number of
    // periods, so the second frame starts where the first did.
    assert_eq!(second[0], (f64::from(last[120]) * 0.8).round() as i16);
    let mut third = [1i16; 160];
    conceal(&last, &mut third, 3);
    assert!(peak(&third) <= 3200 && peak(&third[150..]) <= 400);
    let mut fourth = [1i16; 160];
    conceal(&last, &mut fourth, 4);
    assert!(fourth.iter().all(|s| *s == 0));
}

#[test]
fn conceal_edge_cases() {
    let mut out = [7i16; 160];
    conceal(&[], &mut out, 1);
    assert!(out.iter().all(|s| *s == 0));
    let mut out = [7i16; 160];
    conceal(&[100; 10], &mut out, 1);
    assert_eq!(out[0], 100);
    conceal(&[1; 160], &mut [], 1);
    let wide: Vec<i16> = (0..960).map(|i| ((i % 240) as i16 - 120) * 100).collect();
    let mut out = vec![0i16; 960];
    conceal(&wide, &mut out, 1);
    assert_eq!(pitch_period(&wide, 960), 240);
}

#[derive(Debug, Clone)]
enum Op {
    Insert {
        dt: u8,
        seq: u16,
        ts: u32,
        marker: bool,
        ssrc: bool,
        len: u8,
    },
    Pop {
        dt: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            any::<u8>(),
            0u16..40,
            0u32..8000,
            any::<bool>(),
            proptest::bool::weighted(0.02),
            any::<u8>()
        )
            .prop_map(|(dt, seq, ts, marker, ssrc, len)| Op::Insert {
                dt,
                seq,
                ts,
                marker,
                ssrc,
                len
            }),
        any::<u8>().prop_map(|dt| Op::Pop { dt }),
    ]
}

proptest! {
    #[test]
    fn random_operations_keep_the_bounds(ops in proptest::collection::vec(op(), 0..300)) {
        let t0 = Instant::now();
        let mut now = t0;
        let config = JitterConfig { max_packets: 8, max_payload: 200, ..JitterConfig::new(8000) };
        let mut jb = JitterBuffer::new(config);
        for op in ops {
            match op {
                Op::Insert { dt, seq, ts, marker, ssrc, len } => {
                    now += MS * u32::from(dt % 30);
                    let payload = vec![1u8; usize::from(len)];
                    jb.insert(now, if ssrc { 2 } else { 1 }, seq, ts.wrapping_mul(20), marker, &payload);
                }
                Op::Pop { dt } => {
                    now += MS * u32::from(dt % 40);
                    let _ = jb.pop(now);
                }
            }
            prop_assert!(jb.len() <= 8);
            prop_assert!(jb.free.len() + jb.len() <= 9);
            prop_assert!(jb.target_delay() >= 20 * MS && jb.target_delay() <= 200 * MS);
        }
    }
}
