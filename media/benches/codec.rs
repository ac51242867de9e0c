//! Codec costs per 20 ms frame: G.711, Opus, resampling and transcoding.
//!
//! `cargo bench -p media --bench codec`

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use media::codec::{g711, Codec, Decoder, Encoder, Resampler, TranscodeOptions, Transcoder};
use std::hint::black_box;

fn speech_like(rate: u32, len: usize) -> Vec<i16> {
    let mut seed = 12_345u32;
    let mut phase = 0.0f64;
    (0..len)
        .map(|n| {
            let t = n as f64 / f64::from(rate);
            let f0 = 120.0 + 40.0 * (2.0 * std::f64::consts::PI * 3.0 * t).sin();
            phase += 2.0 * std::f64::consts::PI * f0 / f64::from(rate);
            let voiced: f64 = (1..20).map(|h| (f64::from(h) * phase).sin() / f64::from(h)).sum();
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = f64::from(seed >> 16) / 65536.0 - 0.5;
            (4000.0 * voiced + 1500.0 * noise) as i16
        })
        .collect()
}

fn g711_frames(c: &mut Criterion) {
    let pcm = speech_like(8000, 160);
    let mut payload = Vec::with_capacity(160);
    let mut out = Vec::with_capacity(160);
    c.bench_function("pcmu encode 160", |b| {
        b.iter(|| {
            payload.clear();
            g711::ulaw_encode_frame(black_box(&pcm), &mut payload);
        })
    });
    c.bench_function("pcma encode 160", |b| {
        b.iter(|| {
            payload.clear();
            g711::alaw_encode_frame(black_box(&pcm), &mut payload);
        })
    });
    g711::ulaw_encode_frame(&pcm, &mut payload);
    c.bench_function("pcmu decode 160", |b| {
        b.iter(|| {
            out.clear();
            g711::ulaw_decode_frame(black_box(&payload), &mut out);
        })
    });
}

fn opus_frames(c: &mut Criterion) {
    let pcm = speech_like(48000, 48000);
    let frames: Vec<&[i16]> = pcm.chunks_exact(960).collect();
    let mut enc = Encoder::new(Codec::Opus).expect("opus");
    let mut packets = Vec::new();
    for f in &frames {
        let mut p = Vec::new();
        enc.encode(f, &mut p).expect("encode");
        packets.push(p);
    }
    let mut i = 0;
    let mut out = Vec::with_capacity(1500);
    c.bench_function("opus encode 960 (48k, 24 kbit/s, complexity 5)", |b| {
        b.iter(|| {
            out.clear();
            i = (i + 1) % frames.len();
            enc.encode(black_box(frames[i]), &mut out).expect("encode")
        })
    });
    let mut dec = Decoder::new(Codec::Opus).expect("opus");
    let mut pcm_out = Vec::with_capacity(960);
    c.bench_function("opus decode 960", |b| {
        b.iter(|| {
            pcm_out.clear();
            i = (i + 1) % packets.len();
            dec.decode(black_box(&packets[i]), &mut pcm_out).expect("decode")
        })
    });
}

fn resampling(c: &mut Criterion) {
    let mut group = c.benchmark_group("resample 20 ms");
    for (from, to) in [(8000u32, 48000u32), (48000, 8000), (16000, 48000), (48000, 16000)] {
        let input = speech_like(from, (from / 50) as usize);
        let mut r = Resampler::new(from, to).expect("rates");
        let mut out = Vec::with_capacity((to / 50) as usize);
        group.bench_function(BenchmarkId::from_parameter(format!("{from}->{to}")), |b| {
            b.iter(|| {
                out.clear();
                r.process(black_box(&input), &mut out);
            })
        });
    }
    group.finish();
}

fn transcoding(c: &mut Criterion) {
    let pcm = speech_like(48000, 48000);
    let mut enc = Encoder::new(Codec::Opus).expect("opus");
    let packets: Vec<Vec<u8>> = pcm
        .chunks_exact(960)
        .map(|f| {
            let mut p = Vec::new();
            enc.encode(f, &mut p).expect("encode");
            p
        })
        .collect();
    let pcm8 = speech_like(8000, 8000);
    let mut ulaw = Vec::new();
    g711::ulaw_encode_frame(&pcm8, &mut ulaw);
    let ulaw_frames: Vec<&[u8]> = ulaw.chunks_exact(160).collect();
    let mut group = c.benchmark_group("transcode 20 ms");
    for native in [true, false] {
        let options = TranscodeOptions {
            opus_native_rate: native,
            ..TranscodeOptions::default()
        };
        let label = if native {
            "opus at 8k"
        } else {
            "opus at 48k + resampler"
        };
        let mut t = Transcoder::with_options(Codec::Opus, Codec::Pcmu, options).expect("codecs");
        let mut out = Vec::with_capacity(1500);
        let mut i = 0;
        group.bench_function(format!("opus->pcmu ({label})"), |b| {
            b.iter(|| {
                out.clear();
                i = (i + 1) % packets.len();
                t.push(black_box(&packets[i])).expect("push");
                while t.poll_payload(&mut out).expect("poll").is_some() {}
            })
        });
        let mut t = Transcoder::with_options(Codec::Pcmu, Codec::Opus, options).expect("codecs");
        group.bench_function(format!("pcmu->opus ({label})"), |b| {
            b.iter(|| {
                out.clear();
                i = (i + 1) % ulaw_frames.len();
                t.push(black_box(ulaw_frames[i])).expect("push");
                while t.poll_payload(&mut out).expect("poll").is_some() {}
            })
        });
    }
    let mut t = Transcoder::new(Codec::Pcmu, Codec::Pcma).expect("codecs");
    let mut out = Vec::with_capacity(160);
    group.bench_function("pcmu->pcma", |b| {
        b.iter(|| {
            out.clear();
            t.push(black_box(ulaw_frames[0])).expect("push");
            while t.poll_payload(&mut out).expect("poll").is_some() {}
        })
    });
    group.finish();
}

criterion_group!(benches, g711_frames, opus_frames, resampling, transcoding);
criterion_main!(benches);
