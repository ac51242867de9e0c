use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Amplitude of a sine at `dbm0`.
pub(super) fn amplitude(dbm0: f32) -> f32 {
    22_700.0 * 10f32.powf(dbm0 / 20.0)
}

/// A standard normal sample (Box-Muller).
pub(super) fn gauss(rng: &mut StdRng) -> f32 {
    let u1: f32 = rng.gen_range(1e-7..1.0);
    let u2: f32 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// Rounds to 16-bit PCM, clipping like a codec would.
pub(super) fn to_pcm(signal: &[f32]) -> Vec<i16> {
    signal
        .iter()
        .map(|&x| x.round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// Runs a signal through a detector in frames of `frame` samples.
pub(super) fn detect_with(config: DetectorConfig, pcm: &[i16], frame: usize) -> Vec<DtmfEvent> {
    let mut det = Detector::new(config);
    let mut out = Vec::new();
    for chunk in pcm.chunks(frame) {
        det.push(chunk);
        out.extend(std::iter::from_fn(|| det.poll_event()));
    }
    out
}

fn presses(pcm: &[i16]) -> Vec<Digit> {
    detect_with(DetectorConfig::default(), pcm, 160)
        .iter()
        .filter_map(DtmfEvent::pressed)
        .collect()
}

/// How a test tone is made.
#[derive(Clone, Copy)]
struct Tone {
    digit: Digit,
    /// Level of the pair, dBm0.
    level: f32,
    /// Low minus high tone level, dB (positive: normal twist).
    twist: f32,
    /// Relative frequency errors of the low and high tones.
    low_err: f32,
    high_err: f32,
    millis: u32,
}

impl Tone {
    fn new(digit: Digit) -> Self {
        Tone {
            digit,
            level: -10.0,
            twist: 0.0,
            low_err: 0.0,
            high_err: 0.0,
            millis: 100,
        }
    }
}

/// Silence, the tones, silence, then white noise at `snr` dB below the tone level
/// (`None`: no noise) over everything.
struct Signal {
    samples: Vec<f32>,
}

impl Signal {
    fn new() -> Self {
        Signal { samples: Vec::new() }
    }

    fn silence(mut self, millis: u32) -> Self {
        self.samples.extend(std::iter::repeat_n(0.0, millis as usize * 8));
        self
    }

    fn tone(mut self, t: Tone, rng: &mut StdRng) -> Self {
        let (fl, fh) = t.digit.tones().unwrap();
        let (fl, fh) = (fl * (1.0 + t.low_err), fh * (1.0 + t.high_err));
        // Split the pair's power between the tones according to the twist.
        let total = amplitude(t.level).powi(2);
        let ratio = 10f32.powf(t.twist / 10.0);
        let (al, ah) = ((total * ratio / (1.0 + ratio)).sqrt(), (total / (1.0 + ratio)).sqrt());
        let (pl, ph): (f32, f32) = (rng.gen_range(0.0..2.0 * PI), rng.gen_range(0.0..2.0 * PI));
        for n in 0..t.millis as usize * 8 {
            let time = n as f32 / 8000.0;
            self.samples
                .push(al * (2.0 * PI * fl * time + pl).sin() + ah * (2.0 * PI * fh * time + ph).sin());
        }
        self
    }

    fn noise(mut self, dbm0: f32, rng: &mut StdRng) -> Vec<i16> {
        let sigma = amplitude(dbm0) / 2f32.sqrt();
        for x in &mut self.samples {
            *x += sigma * gauss(rng);
        }
        to_pcm(&self.samples)
    }

    fn clean(self) -> Vec<i16> {
        to_pcm(&self.samples)
    }
}

fn single(t: Tone, rng: &mut StdRng) -> Vec<Digit> {
    presses(
        &Signal::new()
            .silence(60)
            .tone(t, rng)
            .silence(100)
            .noise(t.level - 20.0, rng),
    )
}

#[test]
fn dtmf_inband_every_digit_every_level_at_20db_snr() {
    let mut rng = StdRng::seed_from_u64(1);
    for digit in Digit::KEYS {
        for level in [-25.0, -20.0, -10.0, -3.0, 0.0] {
            let t = Tone {
                level,
                ..Tone::new(digit)
            };
            assert_eq!(single(t, &mut rng), [digit], "{digit} at {level} dBm0");
        }
    }
}

#[test]
fn dtmf_inband_press_then_release_with_duration() {
    let mut rng = StdRng::seed_from_u64(2);
    let t = Tone {
        millis: 250,
        ..Tone::new(Digit::D7)
    };
    let pcm = Signal::new()
        .silence(50)
        .tone(t, &mut rng)
        .silence(100)
        .noise(-30.0, &mut rng);
    let events = detect_with(DetectorConfig::default(), &pcm, 160);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].pressed(), Some(Digit::D7));
    assert_eq!(events[0].event().source, DigitSource::InBand);
    let DtmfEvent::Released(release) = events[1] else {
        panic!("{events:?}")
    };
    let held = release.duration.unwrap().as_millis() as i64;
    assert!((held - 250).abs() <= 10, "measured {held} ms");
}

#[test]
fn dtmf_inband_frame_size_does_not_matter() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut s = Signal::new().silence(30);
    for d in [Digit::D1, Digit::D2, Digit::Pound] {
        s = s.tone(Tone::new(d), &mut rng).silence(60);
    }
    let pcm = s.noise(-35.0, &mut rng);
    let reference = detect_with(DetectorConfig::default(), &pcm, 160);
    assert_eq!(
        reference.iter().filter_map(DtmfEvent::pressed).collect::<Vec<_>>(),
        [Digit::D1, Digit::D2, Digit::Pound]
    );
    for frame in [1, 7, 51, 80, 333, 4000] {
        assert_eq!(
            detect_with(DetectorConfig::default(), &pcm, frame),
            reference,
            "frame {frame}"
        );
    }
}

#[test]
fn dtmf_inband_twist_limits() {
    let mut rng = StdRng::seed_from_u64(4);
    for digit in [Digit::D1, Digit::D5, Digit::D9, Digit::D, Digit::D0] {
        let with = |twist| Tone {
            twist,
            ..Tone::new(digit)
        };
        assert_eq!(single(with(7.5), &mut rng), [digit], "normal twist 7.5 dB");
        assert_eq!(single(with(-3.5), &mut rng), [digit], "reverse twist 3.5 dB");
        assert_eq!(single(with(10.0), &mut rng), [], "normal twist 10 dB");
        assert_eq!(single(with(-6.0), &mut rng), [], "reverse twist 6 dB");
    }
}

#[test]
fn dtmf_inband_frequency_tolerance() {
    let mut rng = StdRng::seed_from_u64(5);
    for digit in Digit::KEYS {
        for (low_err, high_err) in [(0.015, 0.015), (-0.015, -0.015), (0.015, -0.015), (-0.015, 0.015)] {
            let t = Tone {
                low_err,
                high_err,
                ..Tone::new(digit)
            };
            assert_eq!(single(t, &mut rng), [digit], "{digit} off by {low_err}/{high_err}");
        }
        for (low_err, high_err) in [(0.035, 0.0), (-0.035, 0.0), (0.0, 0.035), (0.0, -0.035), (0.05, 0.05)] {
            let t = Tone {
                low_err,
                high_err,
                ..Tone::new(digit)
            };
            assert_eq!(single(t, &mut rng), [], "{digit} off by {low_err}/{high_err}");
        }
    }
}

#[test]
fn dtmf_inband_minimum_duration() {
    let mut rng = StdRng::seed_from_u64(6);
    // Every alignment of the tone with the half-blocks.
    for lead in 0..HALF_BLOCK {
        for (millis, expected) in [(40, vec![Digit::D8]), (35, vec![Digit::D8]), (25, vec![]), (20, vec![])] {
            let t = Tone {
                millis,
                ..Tone::new(Digit::D8)
            };
            let mut s = Signal::new().silence(20);
            s.samples.extend(std::iter::repeat_n(0.0, lead));
            let pcm = s.tone(t, &mut rng).silence(80).clean();
            assert_eq!(presses(&pcm), expected, "{millis} ms after {lead} samples");
        }
    }
}

#[test]
fn dtmf_inband_pauses_between_digits() {
    let mut rng = StdRng::seed_from_u64(7);
    let t = Tone {
        millis: 60,
        ..Tone::new(Digit::D3)
    };
    for lead in [0, 17, 34] {
        let mut s = Signal::new();
        s.samples.extend(std::iter::repeat_n(0.0, lead));
        // The same key twice after a 40 ms pause counts twice.
        let pcm = s
            .tone(t, &mut rng)
            .silence(40)
            .tone(t, &mut rng)
            .silence(60)
            .noise(-30.0, &mut rng);
        assert_eq!(presses(&pcm), [Digit::D3, Digit::D3], "40 ms pause, lead {lead}");
        // A 10 ms dropout is bridged.
        let pcm = Signal::new()
            .tone(t, &mut rng)
            .silence(10)
            .tone(t, &mut rng)
            .silence(60)
            .noise(-30.0, &mut rng);
        assert_eq!(presses(&pcm), [Digit::D3], "10 ms dropout");
        // Different keys back to back with a 40 ms pause.
        let u = Tone {
            millis: 50,
            ..Tone::new(Digit::Star)
        };
        let pcm = Signal::new()
            .tone(t, &mut rng)
            .silence(40)
            .tone(u, &mut rng)
            .silence(60)
            .clean();
        assert_eq!(presses(&pcm), [Digit::D3, Digit::Star]);
    }
}

#[test]
fn dtmf_inband_single_tones_noise_and_silence_are_not_digits() {
    let mut rng = StdRng::seed_from_u64(8);
    let mut samples = vec![0.0f32; 8000];
    for f in FREQUENCIES {
        samples.extend((0..1600).map(|n| amplitude(-10.0) * (2.0 * PI * f * n as f32 / 8000.0).sin()));
    }
    let pcm = Signal { samples }.noise(-40.0, &mut rng);
    assert_eq!(presses(&pcm), []);
    let pcm = Signal::new().silence(2000).noise(-10.0, &mut rng);
    assert_eq!(presses(&pcm), []);
    assert_eq!(presses(&[i16::MAX; 8000]), []);
    assert_eq!(presses(&[0; 8000]), []);
}

#[test]
fn dtmf_inband_reset_forgets_state() {
    let mut rng = StdRng::seed_from_u64(9);
    let pcm = Signal::new()
        .tone(
            Tone {
                millis: 200,
                ..Tone::new(Digit::A)
            },
            &mut rng,
        )
        .clean();
    let mut det = Detector::default();
    det.push(&pcm);
    assert_eq!(det.active_digit(), Some(Digit::A));
    assert_eq!(det.poll_event().and_then(|e| e.pressed()), Some(Digit::A));
    det.reset();
    assert_eq!(det.active_digit(), None);
    assert_eq!(det.push_frame(&[0; 160]), None);
}
