//! Call progress tones: a small table of national plans and a phase-continuous generator.
//!
//! The table follows ITU-T E.180 Supplement 2 (the tones each country notified) for the
//! frequencies and cadences: the CEPT 425 Hz plan most of Europe uses, North America
//! (ANSI T1.401 precise tones) and the United Kingdom (BT SIN 350). Levels are set to
//! -13 dBm0 per frequency for all tones, a middle value of the plans' -10 to -24 dBm0.

use super::{check_rate, PlayerError};

/// One on/off step of a cadence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToneStep {
    /// Tone on, in milliseconds.
    pub on_ms: u32,
    /// Silence after it, in milliseconds.
    pub off_ms: u32,
}

/// A tone: frequencies played together, a level and a cadence.
#[derive(Debug, Clone, PartialEq)]
pub struct ToneSpec {
    /// Frequencies in Hz, summed (one for 425 Hz, two for 440+480 Hz).
    pub frequencies: Vec<f32>,
    /// Level of each frequency in dBm0 (0 dBm0 is 3.17 dB below a full-scale sine).
    pub level_dbm0: f32,
    /// Steps played in order; empty means continuous.
    pub cadence: Vec<ToneStep>,
    /// Whether the cadence repeats; if not, the tone ends after the last step.
    pub repeat: bool,
}

/// The tones a plan defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToneKind {
    /// Dial tone (continuous).
    Dial,
    /// Ringback: the called side is being alerted.
    Ringback,
    /// Busy.
    Busy,
    /// Congestion (North America's "reorder"): the network cannot complete the call.
    Congestion,
    /// Call waiting beep, heard by an agent with a second call.
    CallWaiting,
    /// Recording warning: 1400 Hz, 0.5 s every 15 s (E.180 recorder warning tone).
    RecordBeep,
}

/// A national tone plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TonePlan {
    /// CEPT / ETSI plan on 425 Hz (most of continental Europe).
    Europe,
    /// North America (precise tone plan).
    NorthAmerica,
    /// United Kingdom.
    UnitedKingdom,
}

const LEVEL_DBM0: f32 = -13.0;

fn step(on_ms: u32, off_ms: u32) -> ToneStep {
    ToneStep { on_ms, off_ms }
}

fn spec(frequencies: &[f32], cadence: &[ToneStep]) -> ToneSpec {
    ToneSpec {
        frequencies: frequencies.to_vec(),
        level_dbm0: LEVEL_DBM0,
        cadence: cadence.to_vec(),
        repeat: true,
    }
}

impl TonePlan {
    /// The plan for a configuration name: `eu`/`europe`/`cept`, `us`/`ca`/`na`, `uk`/`gb`.
    pub fn from_name(name: &str) -> Option<TonePlan> {
        match name.to_ascii_lowercase().as_str() {
            "eu" | "europe" | "cept" | "de" | "fr" | "es" | "it" | "nl" => Some(TonePlan::Europe),
            "us" | "ca" | "na" | "north-america" => Some(TonePlan::NorthAmerica),
            "uk" | "gb" => Some(TonePlan::UnitedKingdom),
            _ => None,
        }
    }

    /// The tone of a kind in this plan.
    pub fn tone(self, kind: ToneKind) -> ToneSpec {
        use {ToneKind as K, TonePlan as P};
        match (self, kind) {
            (_, K::RecordBeep) => spec(&[1400.0], &[step(500, 15_000)]),
            (P::Europe, K::Dial) => spec(&[425.0], &[]),
            (P::Europe, K::Ringback) => spec(&[425.0], &[step(1000, 4000)]),
            (P::Europe, K::Busy) => spec(&[425.0], &[step(500, 500)]),
            (P::Europe, K::Congestion) => spec(&[425.0], &[step(250, 250)]),
            (P::Europe, K::CallWaiting) => spec(&[425.0], &[step(200, 200), step(200, 4400)]),
            (P::NorthAmerica, K::Dial) => spec(&[350.0, 440.0], &[]),
            (P::NorthAmerica, K::Ringback) => spec(&[440.0, 480.0], &[step(2000, 4000)]),
            (P::NorthAmerica, K::Busy) => spec(&[480.0, 620.0], &[step(500, 500)]),
            (P::NorthAmerica, K::Congestion) => spec(&[480.0, 620.0], &[step(250, 250)]),
            (P::NorthAmerica, K::CallWaiting) => spec(&[440.0], &[step(300, 9700)]),
            (P::UnitedKingdom, K::Dial) => spec(&[350.0, 440.0], &[]),
            (P::UnitedKingdom, K::Ringback) => spec(&[400.0, 450.0], &[step(400, 200), step(400, 2000)]),
            (P::UnitedKingdom, K::Busy) => spec(&[400.0], &[step(375, 375)]),
            (P::UnitedKingdom, K::Congestion) => spec(&[400.0], &[step(400, 350), step(225, 525)]),
            (P::UnitedKingdom, K::CallWaiting) => spec(&[400.0], &[step(100, 3000)]),
        }
    }
}

impl ToneSpec {
    /// A continuous tone.
    pub fn continuous(frequencies: &[f32], level_dbm0: f32) -> ToneSpec {
        ToneSpec {
            frequencies: frequencies.to_vec(),
            level_dbm0,
            cadence: Vec::new(),
            repeat: true,
        }
    }

    /// This tone played through its cadence once, then ended (a single beep).
    pub fn once(mut self) -> ToneSpec {
        self.repeat = false;
        self
    }

    /// Length of one cadence cycle in milliseconds (0 for a continuous tone).
    pub fn period_ms(&self) -> u64 {
        self.cadence
            .iter()
            .map(|s| u64::from(s.on_ms) + u64::from(s.off_ms))
            .sum()
    }
}

/// A sine oscillator whose phase carries over from one frame to the next, so frame
/// boundaries never click.
#[derive(Debug, Clone, Copy)]
struct Oscillator {
    /// Phase in cycles, in [0, 1).
    phase: f64,
    /// Cycles per sample.
    increment: f64,
}

impl Oscillator {
    fn next(&mut self) -> f64 {
        let value = (self.phase * std::f64::consts::TAU).sin();
        self.phase = (self.phase + self.increment).fract();
        value
    }
}

/// Edges of each burst are ramped over this long, so bursts start and stop without a click.
const RAMP_MS: u64 = 4;

/// Generates a [`ToneSpec`] at one sample rate.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    oscillators: Vec<Oscillator>,
    amplitude: f64,
    /// (on, off) in samples.
    steps: Vec<(u64, u64)>,
    repeat: bool,
    step: usize,
    /// Position in the current step, in samples.
    position: u64,
    ramp: u64,
    done: bool,
}

impl ToneGenerator {
    /// A generator at `rate` Hz. Frequencies must lie strictly between 0 and half the rate.
    pub fn new(spec: &ToneSpec, rate: u32) -> Result<ToneGenerator, PlayerError> {
        check_rate(rate)?;
        let nyquist = f64::from(rate) / 2.0;
        if spec.frequencies.is_empty() || spec.frequencies.len() > 8 {
            return Err(PlayerError::InvalidTone("a tone needs one to eight frequencies"));
        }
        if spec
            .frequencies
            .iter()
            .any(|f| !(f64::from(*f) > 0.0 && f64::from(*f) < nyquist))
        {
            return Err(PlayerError::InvalidTone(
                "frequency outside 0 Hz to half the sample rate",
            ));
        }
        if !(-60.0..=3.17).contains(&spec.level_dbm0) {
            return Err(PlayerError::InvalidTone("level outside -60 to +3.17 dBm0"));
        }
        let samples = |ms: u32| u64::from(ms) * u64::from(rate) / 1000;
        let steps: Vec<(u64, u64)> = spec
            .cadence
            .iter()
            .map(|s| (samples(s.on_ms), samples(s.off_ms)))
            .collect();
        let oscillators = spec.frequencies.iter().map(|f| Oscillator {
            phase: 0.0,
            increment: f64::from(*f) / f64::from(rate),
        });
        Ok(ToneGenerator {
            oscillators: oscillators.collect(),
            amplitude: 32767.0 * 10f64.powf((f64::from(spec.level_dbm0) - 3.17) / 20.0),
            // A cadence of zero length would never advance: treat it as continuous.
            steps: if steps.iter().all(|(on, off)| on + off == 0) {
                Vec::new()
            } else {
                steps
            },
            repeat: spec.repeat,
            step: 0,
            position: 0,
            ramp: (RAMP_MS * u64::from(rate) / 1000).max(1),
            done: false,
        })
    }

    /// Whether a tone that does not repeat has ended.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Fills `out` and returns how many samples were written: all of them, unless a
    /// non-repeating tone ended (the rest of `out` is left untouched).
    pub fn fill(&mut self, out: &mut [i16]) -> usize {
        for (written, slot) in out.iter_mut().enumerate() {
            let Some(gain) = self.advance() else {
                return written;
            };
            *slot = if gain > 0.0 { self.sample(gain) } else { 0 };
        }
        out.len()
    }

    fn sample(&mut self, gain: f64) -> i16 {
        let sum: f64 = self.oscillators.iter_mut().map(Oscillator::next).sum();
        let value = (sum * self.amplitude * gain)
            .round()
            .clamp(f64::from(i16::MIN), f64::from(i16::MAX));
        // Clamped to the i16 range just above.
        value as i16
    }

    /// The gain of the next sample (0 in the silent part), or `None` once done.
    fn advance(&mut self) -> Option<f64> {
        if self.done {
            return None;
        }
        if self.steps.is_empty() {
            let gain = ramp_gain(self.position, None, self.ramp);
            self.position = self.position.saturating_add(1);
            return Some(gain);
        }
        loop {
            let (on, off) = *self.steps.get(self.step)?;
            if self.position < on + off {
                let gain = if self.position < on {
                    ramp_gain(self.position, Some(on), self.ramp)
                } else {
                    0.0
                };
                self.position += 1;
                return Some(gain);
            }
            self.position = 0;
            self.step += 1;
            if self.step >= self.steps.len() {
                if !self.repeat {
                    self.done = true;
                    return None;
                }
                self.step = 0;
            }
        }
    }
}

/// Linear fade in over `ramp` samples at the start of a burst and out at its end.
fn ramp_gain(position: u64, length: Option<u64>, ramp: u64) -> f64 {
    let ramp = length.map_or(ramp, |len| ramp.min(len / 2).max(1));
    let from_start = position + 1;
    let to_end = length.map_or(u64::MAX, |len| len - position);
    let edge = from_start.min(to_end);
    if edge >= ramp {
        1.0
    } else {
        edge as f64 / ramp as f64
    }
}
