//! What recording costs per call-second: the aligner alone, and the aligner
//! with the WAV writer (stereo 16-bit; 50 frames of 20 ms per channel, the
//! output taken every 20 ms as the media engine's writer thread does), at
//! 8 kHz (G.711 calls) and 16 kHz (wideband). The writer writes to a file
//! in the system's temporary directory, so the figure includes the write
//! system calls (page cache; nothing is synced until a file is finished).
//!
//! `cargo bench -p recordings --bench recorder`

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use recordings::{AlignConfig, Aligner, CallRecorder, Channel, ChannelLayout, Frame, RecorderSpec, Sidecar};

/// Where a call-second's frames go.
trait Sink {
    fn push(&mut self, frame: Frame<'_>, at: Duration);
    /// Every 20 ms.
    fn tick(&mut self, now: Duration);
}

/// The aligner, its output taken every 20 ms into a buffer.
struct AlignOnly(Aligner, Vec<i16>);

impl Sink for AlignOnly {
    fn push(&mut self, frame: Frame<'_>, at: Duration) {
        self.0.push(frame, at);
    }
    fn tick(&mut self, now: Duration) {
        self.1.clear();
        self.0.advance(now, &mut self.1);
        black_box(&self.1);
    }
}

impl Sink for CallRecorder {
    fn push(&mut self, frame: Frame<'_>, at: Duration) {
        CallRecorder::push(self, frame, at);
    }
    fn tick(&mut self, now: Duration) {
        self.advance(now).expect("written");
    }
}

/// One call-second: 50 frames per channel, each placed by timestamp, with
/// the agent's frames arriving 7 ms after the caller's.
fn call_second(second: u32, pcm: &[i16], sink: &mut impl Sink) {
    for i in 0..50u32 {
        let k = second * 50 + i;
        let now = Duration::from_millis(u64::from(k) * 20);
        for (channel, ssrc, late) in [(Channel::Left, 1, 0), (Channel::Right, 2, 7)] {
            let frame = Frame {
                channel,
                ssrc,
                timestamp: k * 160,
                clock_rate: 8000,
                pcm,
            };
            sink.push(frame, now + Duration::from_millis(late));
        }
        sink.tick(now);
    }
}

fn recorder(c: &mut Criterion) {
    let mut group = c.benchmark_group("record one call-second");
    group.throughput(Throughput::Elements(1));
    for rate in [8000u32, 16000] {
        let pcm: Vec<i16> = (0..rate / 50)
            .map(|i| ((f64::from(i) * 0.2).sin() * 8000.0) as i16)
            .collect();
        group.bench_with_input(BenchmarkId::new("aligner", rate), &rate, |b, &rate| {
            let mut sink = AlignOnly(Aligner::new(AlignConfig::new(rate)), Vec::with_capacity(4096));
            let mut second = 0;
            b.iter(|| {
                call_second(second, &pcm, &mut sink);
                second += 1;
            })
        });
        group.bench_with_input(BenchmarkId::new("aligner + wav writer", rate), &rate, |b, &rate| {
            let dir = tempfile::tempdir().expect("temporary directory");
            let spec = RecorderSpec {
                wav: dir.path().join("bench.wav"),
                mono_mix: None,
                sample_rate: rate,
                layout: ChannelLayout::CallerLeftAgentRight,
            };
            let mut r = CallRecorder::create(&spec, Sidecar::new("bench", 0)).expect("recorder");
            let mut second = 0;
            b.iter(|| {
                call_second(second, &pcm, &mut r);
                second += 1;
                // A WAV holds 4 GiB: start a new file now and then.
                if second == 3000 {
                    r = CallRecorder::create(&spec, Sidecar::new("bench", 0)).expect("recorder");
                    second = 0;
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, recorder);
criterion_main!(benches);
