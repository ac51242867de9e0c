use std::time::Duration;

use proptest::prelude::*;

use super::*;

const MS: Duration = Duration::from_millis(1);

fn frame(channel: Channel, ssrc: u32, ts: u32, pcm: &[i16]) -> Frame<'_> {
    Frame {
        channel,
        ssrc,
        timestamp: ts,
        clock_rate: 8000,
        pcm,
    }
}

/// Runs to `end` and returns (left, right).
fn finish(a: &mut Aligner, end: Duration, out: &mut Vec<i16>) -> (Vec<i16>, Vec<i16>) {
    a.finish(end, out);
    let left = out.iter().step_by(2).copied().collect();
    let right = out.iter().skip(1).step_by(2).copied().collect();
    (left, right)
}

#[test]
fn frames_land_by_timestamp_not_arrival() {
    let mut a = Aligner::new(AlignConfig::new(8000));
    let one = [1i16; 160];
    let two = [2i16; 160];
    let three = [3i16; 160];
    // First packet arrives 100 ms in; the third arrives before the second.
    a.push(frame(Channel::Left, 7, 1000, &one), 100 * MS);
    a.push(frame(Channel::Left, 7, 1320, &three), 140 * MS);
    a.push(frame(Channel::Left, 7, 1160, &two), 150 * MS);
    let mut out = Vec::new();
    let (left, right) = finish(&mut a, 200 * MS, &mut out);
    assert_eq!(left.len(), 1600);
    assert!(left[..800].iter().all(|&s| s == 0));
    assert!(left[800..960].iter().all(|&s| s == 1));
    assert!(left[960..1120].iter().all(|&s| s == 2));
    assert!(left[1120..1280].iter().all(|&s| s == 3));
    assert!(left[1280..].iter().all(|&s| s == 0));
    assert!(right.iter().all(|&s| s == 0));
    assert_eq!(a.stats(Channel::Left).frames, 3);
}

#[test]
fn loss_and_silence_suppression_keep_time() {
    let mut a = Aligner::new(AlignConfig::new(8000));
    let pcm = [5i16; 160];
    // 0, 20 ms, (40 lost), 60 ms, then 1 s of suppressed silence.
    for (ts, at) in [(0u32, 0u32), (160, 20), (480, 60), (8480 + 480, 1060)] {
        a.push(frame(Channel::Right, 1, ts, &pcm), MS * at);
    }
    let mut out = Vec::new();
    let (_, right) = finish(&mut a, 1200 * MS, &mut out);
    assert!(right[320..480].iter().all(|&s| s == 0), "the lost frame is silence");
    assert!(right[480..640].iter().all(|&s| s == 5));
    assert!(
        right[8960..9120].iter().all(|&s| s == 5),
        "after the jump, in its place"
    );
    assert_eq!(a.stats(Channel::Right).resyncs, 0);
}

#[test]
fn too_late_is_dropped_and_counted() {
    let mut a = Aligner::new(AlignConfig::new(8000));
    let pcm = [9i16; 160];
    let mut out = Vec::new();
    a.push(frame(Channel::Left, 1, 0, &pcm), Duration::ZERO);
    a.push(frame(Channel::Left, 1, 320, &pcm), 40 * MS);
    // 20 ms of audio arriving 400 ms late: its place is gone.
    a.advance(420 * MS, &mut out);
    a.push(frame(Channel::Left, 1, 160, &pcm), 420 * MS);
    assert_eq!(a.stats(Channel::Left).late, 1);
    let (left, _) = finish(&mut a, 500 * MS, &mut out);
    assert!(left[160..320].iter().all(|&s| s == 0));
}

#[test]
fn timestamps_wrap() {
    let mut a = Aligner::new(AlignConfig::new(8000));
    let pcm = [4i16; 160];
    a.push(frame(Channel::Left, 1, u32::MAX - 159, &pcm), Duration::ZERO);
    a.push(frame(Channel::Left, 1, 0, &pcm), 20 * MS);
    let mut out = Vec::new();
    let (left, _) = finish(&mut a, 40 * MS, &mut out);
    assert!(left.iter().all(|&s| s == 4));
}

#[test]
fn a_new_ssrc_anchors_at_its_arrival() {
    let mut a = Aligner::new(AlignConfig::new(8000));
    let pcm = [3i16; 160];
    a.push(frame(Channel::Left, 1, 0, &pcm), Duration::ZERO);
    a.push(frame(Channel::Left, 2, 999_999, &pcm), 100 * MS);
    let mut out = Vec::new();
    let (left, _) = finish(&mut a, 200 * MS, &mut out);
    assert!(left[800..960].iter().all(|&s| s == 3));
    assert_eq!(a.stats(Channel::Left).new_streams, 1);
}

#[test]
fn a_clock_rate_change_anchors_again() {
    let mut a = Aligner::new(AlignConfig::new(16000));
    let pcm = [2i16; 320];
    a.push(
        Frame {
            clock_rate: 8000,
            ..frame(Channel::Left, 1, 0, &pcm)
        },
        Duration::ZERO,
    );
    // The same SSRC now at 48 kHz (an Opus re-INVITE), 20 ms later.
    a.push(
        Frame {
            clock_rate: 48000,
            ..frame(Channel::Left, 1, 77_000, &pcm)
        },
        20 * MS,
    );
    let mut out = Vec::new();
    let (left, _) = finish(&mut a, 40 * MS, &mut out);
    assert!(left.iter().all(|&s| s == 2));
}

#[test]
fn a_jump_far_ahead_resyncs() {
    let mut a = Aligner::new(AlignConfig::new(8000));
    let pcm = [6i16; 160];
    a.push(frame(Channel::Left, 1, 0, &pcm), Duration::ZERO);
    // 10 s ahead in timestamp, arriving 20 ms later.
    a.push(frame(Channel::Left, 1, 80_160, &pcm), 20 * MS);
    let mut out = Vec::new();
    let (left, _) = finish(&mut a, 40 * MS, &mut out);
    assert!(left.iter().all(|&s| s == 6));
    assert_eq!(a.stats(Channel::Left).resyncs, 1);
}

#[test]
fn a_jump_backwards_resyncs_after_half_a_second() {
    let mut a = Aligner::new(AlignConfig::new(8000));
    let pcm = [6i16; 160];
    let mut out = Vec::new();
    for i in 0..50u32 {
        a.push(frame(Channel::Left, 1, 100_000 + i * 160, &pcm), MS * 20 * i);
        a.advance(MS * 20 * i, &mut out);
    }
    // The sender restarts its timestamps without a new SSRC.
    for i in 50..150u32 {
        a.push(frame(Channel::Left, 1, (i - 50) * 160, &pcm), MS * 20 * i);
        a.advance(MS * 20 * i, &mut out);
    }
    assert_eq!(a.stats(Channel::Left).resyncs, 1);
    let (left, _) = finish(&mut a, 3000 * MS, &mut out);
    // Half a second lost to the jump, then audio again.
    assert!(left[16_000..24_000].iter().all(|&s| s == 6));
}

#[test]
fn a_pause_is_silence_whatever_arrives() {
    let mut a = Aligner::new(AlignConfig::new(8000));
    let pcm = [8i16; 160];
    let mut out = Vec::new();
    for i in 0..50u32 {
        let now = MS * 20 * i;
        if i == 10 {
            a.pause(now);
        }
        if i == 30 {
            a.resume(now);
        }
        a.push(frame(Channel::Right, 1, i * 160, &pcm), now);
        a.advance(now, &mut out);
    }
    assert_eq!(a.pauses(), vec![(200 * MS, Some(600 * MS))]);
    let (_, right) = finish(&mut a, 1000 * MS, &mut out);
    assert!(right[..1600].iter().all(|&s| s == 8));
    assert!(right[1600..4800].iter().all(|&s| s == 0));
    assert!(right[4800..8000].iter().all(|&s| s == 8));
}

#[test]
fn duplicates_fill_once() {
    let mut a = Aligner::new(AlignConfig::new(8000));
    let one = [1i16; 160];
    let two = [2i16; 160];
    a.push(frame(Channel::Left, 1, 0, &one), Duration::ZERO);
    a.push(frame(Channel::Left, 1, 0, &two), 5 * MS);
    let mut out = Vec::new();
    let (left, _) = finish(&mut a, 20 * MS, &mut out);
    assert!(left.iter().all(|&s| s == 1));
    assert_eq!(a.stats(Channel::Left).overlapping_samples, 160);
}

#[test]
fn output_lags_by_the_window_in_whole_chunks() {
    let mut a = Aligner::new(AlignConfig::new(8000));
    let mut out = Vec::new();
    assert_eq!(a.advance(210 * MS, &mut out), 0);
    assert_eq!(a.advance(225 * MS, &mut out), 160);
    assert_eq!(a.advance(1225 * MS, &mut out), 8000);
    assert_eq!(out.len(), 2 * 8160);
    assert_eq!(a.finish(1230 * MS, &mut out), 9840 - 8160);
    assert_eq!(a.flushed(), 9840);
}

#[derive(Debug, Clone)]
enum Op {
    Frame {
        right: bool,
        ssrc: u32,
        ts: u32,
        rate: u32,
        len: usize,
    },
    Advance,
    Pause,
    Resume,
}

fn op() -> impl Strategy<Value = (Op, u64)> {
    let frame = (any::<bool>(), 0u32..3, any::<u32>(), 0usize..4, 0usize..400).prop_map(|(right, ssrc, ts, r, len)| {
        Op::Frame {
            right,
            ssrc,
            ts,
            rate: [8000, 16000, 48000, 0][r],
            len,
        }
    });
    let op = prop_oneof![
        6 => frame,
        2 => Just(Op::Advance),
        1 => Just(Op::Pause),
        1 => Just(Op::Resume),
    ];
    (op, 0u64..80)
}

proptest! {
    /// Whatever arrives: no panic, exactly the span comes out, and every
    /// sample is silence or comes from one frame, of its own channel.
    #[test]
    fn aligner_output_is_the_span_and_each_sample_from_one_frame(
        ops in proptest::collection::vec(op(), 0..200),
        rate in prop_oneof![Just(8000u32), Just(16000), Just(48000)],
        tail in 0u64..500,
    ) {
        let mut a = Aligner::new(AlignConfig::new(rate));
        let mut out = Vec::new();
        let mut now = Duration::ZERO;
        let mut lens = Vec::new();
        for (op, step) in ops {
            now += Duration::from_millis(step);
            match op {
                Op::Frame { right, ssrc, ts, rate: clock, len } => {
                    // Frame k carries the value k + 1 (negative on the right).
                    let id = lens.len() as i16 + 1;
                    lens.push((right, len));
                    let pcm = vec![if right { -id } else { id }; len];
                    let channel = if right { Channel::Right } else { Channel::Left };
                    a.push(Frame { channel, ssrc, timestamp: ts, clock_rate: clock, pcm: &pcm }, now);
                }
                Op::Advance => { a.advance(now, &mut out); }
                Op::Pause => a.pause(now),
                Op::Resume => a.resume(now),
            }
        }
        let end = now + Duration::from_millis(tail);
        a.finish(end, &mut out);
        let span = (end.as_nanos() * u128::from(rate) / 1_000_000_000) as usize;
        prop_assert_eq!(out.len(), 2 * span);
        let mut counts = vec![0usize; lens.len()];
        for (i, &s) in out.iter().enumerate() {
            if s == 0 { continue; }
            let right = i % 2 == 1;
            let k = usize::from(s.unsigned_abs()) - 1;
            prop_assert!(k < lens.len(), "sample {} is no frame's", s);
            prop_assert_eq!(lens[k].0, right, "frame {} on the wrong channel", k);
            prop_assert_eq!(s < 0, right);
            counts[k] += 1;
        }
        for (k, c) in counts.iter().enumerate() {
            prop_assert!(*c <= lens[k].1, "frame {} gave {} samples of {}", k, c, lens[k].1);
        }
    }
}
