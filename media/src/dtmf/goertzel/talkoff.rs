//! Talk-off: minutes of synthetic speech and music must yield no digit.
//!
//! No standard talk-off corpus (such as the Bellcore tapes) is freely available,
//! so the signals are synthesised with a seeded RNG:
//! - speech: a formant synthesiser in the Klatt cascade style, a glottal pulse
//!   train with pitch glides (80-380 Hz, rising and falling by up to 40% per
//!   syllable) through four formant resonators gliding between vowels (diphthongs),
//!   voice types scaled from male to child, fricatives and pauses in between, at
//!   -30 to -5 dBm0;
//! - music: chords of three or four notes (C3-F#6) with string, clarinet and
//!   flute-like timbres, plucked or sustained, at -25 to -5 dBm0.

use super::tests::{amplitude, detect_with, gauss, to_pcm};
use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const FS: f32 = 8000.0;

/// A two-pole resonator with unity gain at DC (Klatt's form).
#[derive(Default, Clone, Copy)]
struct Resonator {
    a: f32,
    b: f32,
    c: f32,
    y1: f32,
    y2: f32,
}

impl Resonator {
    fn set(&mut self, freq: f32, bandwidth: f32) {
        let r = (-PI * bandwidth / FS).exp();
        self.c = -r * r;
        self.b = 2.0 * r * (2.0 * PI * freq / FS).cos();
        self.a = 1.0 - self.b - self.c;
    }

    fn step(&mut self, x: f32) -> f32 {
        let y = self.a * x + self.b * self.y1 + self.c * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// Vowel formants F1-F3 (Hz), adult male averages.
const VOWELS: [[f32; 3]; 10] = [
    [270.0, 2290.0, 3010.0],
    [390.0, 1990.0, 2550.0],
    [530.0, 1840.0, 2480.0],
    [660.0, 1720.0, 2410.0],
    [730.0, 1090.0, 2440.0],
    [570.0, 840.0, 2410.0],
    [440.0, 1020.0, 2240.0],
    [300.0, 870.0, 2240.0],
    [640.0, 1190.0, 2390.0],
    [490.0, 1350.0, 1690.0],
];

/// Scales a buffer to a mean level of `dbm0` and appends it.
fn append_at_level(out: &mut Vec<f32>, buf: &[f32], dbm0: f32) {
    let rms = (buf.iter().map(|x| x * x).sum::<f32>() / buf.len().max(1) as f32).sqrt();
    if rms > 0.0 {
        let k = amplitude(dbm0) / 2f32.sqrt() / rms;
        out.extend(buf.iter().map(|x| x * k));
    }
}

/// One voiced syllable: pitch glide, formant glide, raised-cosine envelope.
fn syllable(rng: &mut StdRng, voice: f32) -> Vec<f32> {
    let n = rng.gen_range(120..450) * 8;
    let f0_start = rng.gen_range(80.0..200.0) * voice.sqrt();
    let f0_end = f0_start * rng.gen_range(0.6..1.4);
    let (from, to) = (
        VOWELS[rng.gen_range(0..VOWELS.len())],
        VOWELS[rng.gen_range(0..VOWELS.len())],
    );
    let mut glottal = Resonator::default();
    glottal.set(0.0, 100.0);
    let mut formants = [Resonator::default(); 4];
    let (mut phase, mut last) = (0.0f32, 0.0f32);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = i as f32 / n as f32;
        if i % 40 == 0 {
            for (k, r) in formants.iter_mut().enumerate() {
                let (freq, bw) = match k {
                    3 => (3500.0 * voice, 250.0),
                    _ => ((from[k] + (to[k] - from[k]) * t) * voice, [60.0, 90.0, 150.0][k]),
                };
                r.set(freq.min(3800.0), bw);
            }
        }
        phase += (f0_start + (f0_end - f0_start) * t) / FS;
        let pulse = if phase >= 1.0 {
            phase -= 1.0;
            1.0
        } else {
            0.0
        };
        let source = glottal.step(pulse) + 0.02 * gauss(rng);
        let radiated = source - last;
        last = source;
        let voiced = formants.iter_mut().fold(radiated, |x, r| r.step(x));
        let envelope = (PI * t).sin().powf(0.5);
        out.push(voiced * envelope);
    }
    out
}

/// A fricative: noise through a broad high resonator.
fn fricative(rng: &mut StdRng) -> Vec<f32> {
    let mut r = Resonator::default();
    r.set(rng.gen_range(2500.0..3800.0), 1200.0);
    let n = rng.gen_range(50..160) * 8;
    (0..n)
        .map(|i| r.step(gauss(rng)) * (PI * i as f32 / n as f32).sin())
        .collect()
}

fn speech(rng: &mut StdRng, seconds: usize) -> Vec<i16> {
    let mut out = Vec::new();
    let mut voice = 1.0;
    while out.len() < seconds * 8000 {
        if rng.gen_bool(0.05) {
            voice = *[1.0, 1.15, 1.3, 1.45].get(rng.gen_range(0..4)).unwrap_or(&1.0);
        }
        let level = rng.gen_range(-30.0..-5.0);
        append_at_level(&mut out, &syllable(rng, voice), level);
        if rng.gen_bool(0.3) {
            append_at_level(&mut out, &fricative(rng), level - 10.0);
        }
        out.extend(std::iter::repeat_n(0.0, rng.gen_range(0..300) * 8));
    }
    let floor = amplitude(-55.0);
    out.iter_mut().for_each(|x| *x += floor * gauss(rng));
    to_pcm(&out)
}

fn music(rng: &mut StdRng, seconds: usize) -> Vec<i16> {
    const TIMBRES: [&[f32]; 3] = [
        &[1.0, 0.5, 0.33, 0.25, 0.2, 0.17, 0.14, 0.12],
        &[1.0, 0.0, 0.33, 0.0, 0.2, 0.0, 0.14],
        &[1.0, 0.25, 0.1, 0.05],
    ];
    let mut out = Vec::new();
    while out.len() < seconds * 8000 {
        let root = rng.gen_range(48..80);
        let third = if rng.gen_bool(0.5) { 4 } else { 3 };
        let mut notes = vec![root, root + third, root + 7];
        if rng.gen_bool(0.5) {
            notes.push(root + if rng.gen_bool(0.5) { 10 } else { 12 });
        }
        let timbre = TIMBRES[rng.gen_range(0..TIMBRES.len())];
        let plucked = rng.gen_bool(0.5);
        let n = rng.gen_range(250..1000) * 8;
        let mut buf = vec![0.0f32; n];
        for &note in &notes {
            let f = 440.0 * 2f32.powf((note as f32 - 69.0) / 12.0);
            let phase0: f32 = rng.gen_range(0.0..2.0 * PI);
            for (k, &a) in timbre.iter().enumerate() {
                let fk = f * (k + 1) as f32;
                if a == 0.0 || fk >= 3900.0 {
                    continue;
                }
                for (i, x) in buf.iter_mut().enumerate() {
                    *x += a * (2.0 * PI * fk * i as f32 / FS + phase0 * (k + 1) as f32).sin();
                }
            }
        }
        for (i, x) in buf.iter_mut().enumerate() {
            let t = i as f32 / FS;
            let attack = (t / 0.01).min(1.0);
            *x *= attack * if plucked { (-3.0 * t).exp() } else { 1.0 };
        }
        append_at_level(&mut out, &buf, rng.gen_range(-25.0..-5.0));
    }
    to_pcm(&out)
}

/// Presses found, and evaluations that passed every per-block test (a measure of margin).
fn false_digits(pcm: &[i16]) -> (usize, usize) {
    let presses = detect_with(DetectorConfig::default(), pcm, 160)
        .iter()
        .filter(|e| e.pressed().is_some())
        .count();
    let single = DetectorConfig {
        press_evaluations: 1,
        release_evaluations: 1,
        ..DetectorConfig::default()
    };
    let blocks = detect_with(single, pcm, 160)
        .iter()
        .filter(|e| e.pressed().is_some())
        .count();
    (presses, blocks)
}

#[test]
fn dtmf_inband_talk_off_speech_six_minutes() {
    let mut total = (0, 0);
    for seed in 0..6 {
        let pcm = speech(&mut StdRng::seed_from_u64(100 + seed), 60);
        let (presses, blocks) = false_digits(&pcm);
        total = (total.0 + presses, total.1 + blocks);
    }
    eprintln!(
        "talk-off speech: 6 min, {} false digits, {} single accepted evaluations",
        total.0, total.1
    );
    assert_eq!(total.0, 0);
}

#[test]
fn dtmf_inband_talk_off_music_four_minutes() {
    let mut total = (0, 0);
    for seed in 0..4 {
        let pcm = music(&mut StdRng::seed_from_u64(200 + seed), 60);
        let (presses, blocks) = false_digits(&pcm);
        total = (total.0 + presses, total.1 + blocks);
    }
    eprintln!(
        "talk-off music: 4 min, {} false digits, {} single accepted evaluations",
        total.0, total.1
    );
    assert_eq!(total.0, 0);
}

#[test]
fn dtmf_inband_digits_survive_over_speech_pauses() {
    // Digits typed between words are still found, and nothing else.
    let mut rng = StdRng::seed_from_u64(300);
    let mut pcm = speech(&mut rng, 3);
    let keys = [Digit::D4, Digit::D2, Digit::Pound];
    for d in keys {
        let (fl, fh) = d.tones().unwrap_or_default();
        pcm.extend(std::iter::repeat_n(0, 400));
        pcm.extend(to_pcm(
            &(0..640)
                .map(|n| {
                    let t = n as f32 / FS;
                    amplitude(-13.0) * ((2.0 * PI * fl * t).sin() + (2.0 * PI * fh * t).sin())
                })
                .collect::<Vec<_>>(),
        ));
        pcm.extend(speech(&mut rng, 2));
    }
    let presses: Vec<Digit> = detect_with(DetectorConfig::default(), &pcm, 160)
        .iter()
        .filter_map(DtmfEvent::pressed)
        .collect();
    assert_eq!(presses, keys);
}

/// How far the defaults are from talk-off: the same corpus through loosened
/// detectors. A looser acceptance ratio still reports no digit (the defaults
/// have margin), while loosening everything does (the corpus is not trivially
/// easy). `--nocapture` prints the counts per setting.
#[test]
fn dtmf_inband_talk_off_margin() {
    let speech_pcm: Vec<i16> = (0..3)
        .flat_map(|seed| speech(&mut StdRng::seed_from_u64(100 + seed), 60))
        .collect();
    let music_pcm: Vec<i16> = (0..2)
        .flat_map(|seed| music(&mut StdRng::seed_from_u64(200 + seed), 60))
        .collect();
    let base = DetectorConfig {
        press_evaluations: 1,
        release_evaluations: 1,
        ..DetectorConfig::default()
    };
    let configs = [
        (
            "ratio 0.6",
            DetectorConfig {
                min_tone_to_total: 0.6,
                ..base
            },
        ),
        (
            "ratio 0.4",
            DetectorConfig {
                min_tone_to_total: 0.4,
                ..base
            },
        ),
        (
            "ratio 0.4 group 3dB",
            DetectorConfig {
                min_tone_to_total: 0.4,
                min_in_group_margin_db: 3.0,
                ..base
            },
        ),
        (
            "ratio 0.4 freq 5%",
            DetectorConfig {
                min_tone_to_total: 0.4,
                max_frequency_deviation: 0.05,
                ..base
            },
        ),
        (
            "ratio 0.4 twist 12/12",
            DetectorConfig {
                min_tone_to_total: 0.4,
                max_normal_twist_db: 12.0,
                max_reverse_twist_db: 12.0,
                ..base
            },
        ),
        (
            "ratio 0.4 steady 0",
            DetectorConfig {
                min_tone_to_total: 0.4,
                min_steadiness: 0.0,
                ..base
            },
        ),
        (
            "all loose",
            DetectorConfig {
                min_tone_to_total: 0.3,
                min_steadiness: 0.0,
                min_in_group_margin_db: 3.0,
                max_frequency_deviation: 0.05,
                max_normal_twist_db: 12.0,
                max_reverse_twist_db: 12.0,
                ..base
            },
        ),
    ];
    let count = |c, pcm: &[i16]| {
        detect_with(c, pcm, 160)
            .iter()
            .filter(|e| e.pressed().is_some())
            .count()
    };
    let mut digits = std::collections::HashMap::new();
    for (name, c) in configs {
        let full = DetectorConfig {
            press_evaluations: 3,
            release_evaluations: 5,
            ..c
        };
        let (s, s3) = (count(c, &speech_pcm), count(full, &speech_pcm));
        let (m, m3) = (count(c, &music_pcm), count(full, &music_pcm));
        eprintln!("{name}: speech 3 min: {s} single evaluations, {s3} digits; music 2 min: {m} single, {m3} digits");
        digits.insert(name, s3 + m3);
    }
    assert_eq!(
        digits["ratio 0.6"], 0,
        "margin: a looser energy ratio still reports nothing"
    );
    assert!(digits["all loose"] > 0, "the corpus would fool a loose detector");
}
