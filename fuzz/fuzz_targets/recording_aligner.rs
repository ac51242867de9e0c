//! Recording: frames as the network makes them (any SSRC, RTP timestamp,
//! clock rate, frame length, arrival a little late or not), pauses and
//! resumes, driven as the engine's writer drives them (`advance` on every
//! tick), into an `Aligner` and, with the same operations, a `CallRecorder`
//! writing to a temporary directory. The run ends with `finish`, `fail`, or
//! a crash (the recorder dropped unfinished) followed by `recover`.
//!
//! Checks: no panic; what the aligner holds stays within the reorder
//! window, `max_ahead` and a chunk of the present (memory does not grow
//! with the input); the output is exactly as long as the recording; the
//! files and the sidecar agree with it.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use recordings::{
    recover, AlignConfig, Aligner, CallRecorder, Channel, ChannelLayout, Frame, RecorderSpec, Sidecar, State,
};

#[derive(Debug, Arbitrary)]
enum Op {
    Frame {
        right: bool,
        /// Mostly one of a few SSRCs, so streams continue.
        ssrc: u8,
        timestamp: u32,
        clock: ClockRate,
        len: u16,
        /// How long before `now` it arrived (queued in the engine), ms.
        late_ms: u8,
        /// Fill value, so overlaps are visible in the output.
        value: i16,
    },
    /// A frame following the channel's previous one (timestamp + its length).
    Next { right: bool, len: u16 },
    Pause,
    Resume,
    /// The writer's tick: time passes (ms), then `advance`.
    Tick(u16),
}

#[derive(Debug, Arbitrary, Clone, Copy)]
enum ClockRate {
    G711,
    Wide,
    Opus,
    Any(u32),
}

impl ClockRate {
    fn hz(self) -> u32 {
        match self {
            ClockRate::G711 => 8000,
            ClockRate::Wide => 16000,
            ClockRate::Opus => 48000,
            ClockRate::Any(hz) => hz,
        }
    }
}

#[derive(Debug, Arbitrary)]
enum End {
    Finish,
    Fail,
    Crash,
}

#[derive(Debug, Arbitrary)]
struct Script {
    /// 8, 16 or 48 kHz (what the engine records at).
    rate: u8,
    layout: u8,
    mono_mix: bool,
    ops: Vec<Op>,
    end: End,
}

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("switchboard-fuzz-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        dir
    })
}

fn samples(d: Duration, rate: u32) -> u64 {
    (d.as_nanos() * u128::from(rate) / 1_000_000_000) as u64
}

/// An upper bound on the aligner's buffered samples per channel, read from
/// its debug form (the lanes are private): every buffered sample prints as
/// a number and a `filled` flag.
fn buffered_bound_holds(aligner: &Aligner, bound: u64) -> bool {
    let text = format!("{aligner:?}");
    // "-32768, " and "false, " are the longest a sample and a flag print.
    (text.len() as u64) < 4096 + 2 * bound * (8 + 7) + 64 * 64
}

fuzz_target!(|script: Script| {
    let rate = [8000, 16000, 48000][usize::from(script.rate) % 3];
    let layout = [
        ChannelLayout::CallerLeftAgentRight,
        ChannelLayout::AgentLeftCallerRight,
        ChannelLayout::Mono,
    ][usize::from(script.layout) % 3];
    let config = AlignConfig::new(rate);
    let bound = samples(config.reorder_window + config.max_ahead, rate) + 2 * config.chunk as u64 + 2;
    let mut aligner = Aligner::new(config);
    let wav = dir().join("call.wav");
    let spec = RecorderSpec {
        wav: wav.clone(),
        mono_mix: script.mono_mix.then(|| dir().join("call-mix.wav")),
        sample_rate: rate,
        layout,
    };
    let mut recorder = CallRecorder::create(&spec, Sidecar::new("fuzz", 1_700_000_000_000)).expect("recorder");
    let mut now = Duration::ZERO;
    let mut out = Vec::new();
    let mut emitted = 0u64;
    let mut next = [(0u32, 0u32, 8000u32); 2];
    let pcm = vec![0i16; 6000];
    let mut filled = pcm.clone();
    for op in script.ops.iter().take(512) {
        match *op {
            Op::Frame {
                right,
                ssrc,
                timestamp,
                clock,
                len,
                late_ms,
                value,
            } => {
                let channel = if right { Channel::Right } else { Channel::Left };
                let ssrc = if ssrc < 250 { u32::from(ssrc % 3) } else { u32::from(ssrc) << 24 | timestamp >> 8 };
                let len = usize::from(len) % pcm.len();
                filled[..len].fill(value);
                let frame = Frame {
                    channel,
                    ssrc,
                    timestamp,
                    clock_rate: clock.hz(),
                    pcm: &filled[..len],
                };
                let at = now.saturating_sub(Duration::from_millis(u64::from(late_ms)));
                aligner.push(frame, at);
                recorder.push(frame, at);
                let step = (len as u64 * u64::from(clock.hz()) / u64::from(rate)) as u32;
                next[usize::from(right)] = (ssrc, timestamp.wrapping_add(step), clock.hz());
            }
            Op::Next { right, len } => {
                let (ssrc, timestamp, clock_rate) = next[usize::from(right)];
                let len = usize::from(len) % 2000;
                let frame = Frame {
                    channel: if right { Channel::Right } else { Channel::Left },
                    ssrc,
                    timestamp,
                    clock_rate,
                    pcm: &pcm[..len],
                };
                aligner.push(frame, now);
                recorder.push(frame, now);
                let step = (len as u64 * u64::from(clock_rate) / u64::from(rate)) as u32;
                next[usize::from(right)].1 = timestamp.wrapping_add(step);
            }
            Op::Pause => {
                aligner.pause(now);
                recorder.pause(now);
            }
            Op::Resume => {
                aligner.resume(now);
                recorder.resume(now);
            }
            Op::Tick(ms) => {
                now += Duration::from_millis(u64::from(ms));
                out.clear();
                let n = aligner.advance(now, &mut out);
                assert_eq!(out.len(), 2 * n, "interleaved stereo");
                emitted += n as u64;
                recorder.advance(now).expect("advance");
            }
        }
        assert!(
            buffered_bound_holds(&aligner, bound),
            "the aligner holds more than the window allows"
        );
    }
    out.clear();
    emitted += aligner.finish(now, &mut out) as u64;
    assert_eq!(emitted, samples(now, rate), "the output is exactly as long as the recording");
    assert_eq!(aligner.flushed(), emitted);
    let channels = if layout == ChannelLayout::Mono { 1 } else { 2 };
    match script.end {
        End::Finish => {
            let sidecar = recorder.finish(now).expect("finish");
            assert_eq!(sidecar.state, State::Complete);
            assert_eq!(sidecar.bytes, emitted * 2 * channels);
            let len = std::fs::metadata(&wav).expect("wav").len();
            assert_eq!(len, 44 + sidecar.bytes);
        }
        End::Fail => {
            let sidecar = recorder.fail(now, "disk full".into());
            assert!(sidecar.bytes <= emitted * 2 * channels);
        }
        End::Crash => {
            drop(recorder);
            let sidecar = recover(&wav).expect("recover").expect("a sidecar in state recording");
            assert!(matches!(sidecar.state, State::Interrupted { .. }));
            assert!(sidecar.bytes <= emitted * 2 * channels);
        }
    }
});
