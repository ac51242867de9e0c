//! In-band DTMF detection on 8 kHz 16-bit linear PCM (Goertzel filters).
//!
//! # Analysis
//!
//! Eight Goertzel filters, one per DTMF frequency, run over **half-blocks of
//! 51 samples** (6.375 ms). Two adjacent half-blocks make a **102-sample block**
//! (12.75 ms; the bins are 78 Hz wide, narrow enough to separate 697 from 770 Hz
//! and short enough to follow 40 ms tones), so a block is evaluated every
//! 6.375 ms, each overlapping the previous one by half. From two consecutive
//! blocks we get, per tone, its power (mean square), and from the phase advance
//! of its filter between the blocks its exact frequency: unambiguous within
//! ±78 Hz of the nominal frequency and accurate to a few Hz even at 20 dB SNR.
//! That is what makes the ITU-T Q.24 frequency tolerance possible with blocks
//! this short, where a magnitude-only detector cannot tell 1.5% from 3.5% off.
//!
//! # Acceptance of one evaluation (three half-blocks, 19 ms)
//!
//! With `l` the strongest low-group filter and `h` the strongest high-group one:
//! 1. **in-group dominance**: `l` and `h` are each at least 8 dB above the other
//!    filters of their group;
//! 2. **frequency**: each measured frequency is within ±2.5% of nominal, halfway
//!    between Q.24's "accept ±1.5%" and "reject ±3.5%"; the powers are then
//!    corrected for the filter's roll-off at the measured offset;
//! 3. **level**: each tone at least -35 dBm0 (a -25 dBm0 pair with 8 dB twist
//!    still passes; 0 dBm0 is a sine 3.17 dB below full scale, as in G.711);
//! 4. **twist**: normal (low tone stronger) at most 8 dB, reverse at most 4 dB;
//! 5. **tones to total energy**: the two tones hold at least 80% of the block's
//!    energy. This is the main talk-off guard: speech and music are harmonic, so
//!    a pair of partials landing on DTMF frequencies brings their other
//!    harmonics (second harmonics included, which makes dedicated second-harmonic
//!    filters unnecessary) and formant energy along, which lowers the share;
//! 6. **steadiness**: the weakest of the three half-blocks' energies is at least
//!    half the strongest (3 dB), so a block straddling a tone's start or end
//!    counts only if the tone fills most of it. (A steady DTMF pair itself varies
//!    by up to ±19% between half-blocks, from the beat of its two tones.)
//!
//! # Timing
//!
//! A digit is **pressed** after 3 consecutive accepted evaluations of the same
//! key (five half-blocks, 32 ms, of which the outer two may be partly filled):
//! whatever their alignment with the half-blocks, tones of 34 ms or more are
//! always accepted and tones of 26 ms or less never (Q.24 asks to accept 40 ms
//! and, depending on the administration, to reject below 20-24 ms); the press is
//! reported 30-40 ms after the tone starts. It is **released** after 5 consecutive
//! evaluations without it: a pause of about 25 ms or more ends the digit (Q.24
//! pauses of 40 ms always do), while a dropout of 10 ms is bridged. The same key
//! pressed again after a pause counts again. The reported duration is measured to
//! within one half-block.
//!
//! The detector keeps its state across calls, so any frame size works (the
//! engine's 20 ms frames of 160 samples are typical); it never allocates after
//! construction unless events go unpolled.

use std::collections::VecDeque;
use std::f32::consts::PI;
use std::time::Duration;

use super::{Digit, DigitEvent, DigitSource, DtmfEvent};

/// The sample rate the detector expects.
pub const SAMPLE_RATE: u32 = 8000;
/// Samples per half-block: one evaluation every this many samples.
pub const HALF_BLOCK: usize = 51;
/// Samples per analysis block (two half-blocks).
pub const BLOCK: usize = 2 * HALF_BLOCK;
/// Mean square of a 0 dBm0 sine in 16-bit PCM (amplitude 22 700, 3.17 dB below full scale).
const DBM0_MEAN_SQUARE: f32 = 22_700.0 * 22_700.0 / 2.0;
/// The DTMF frequencies: four low (rows) then four high (columns), in Hz.
const FREQUENCIES: [f32; 8] = [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0];
/// Bound of the event queue.
const QUEUE: usize = 8;

/// Acceptance thresholds and timing; the defaults are explained in the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Minimum level of each tone, dBm0.
    pub min_level_dbm0: f32,
    /// Maximum normal twist (low tone louder than high), dB.
    pub max_normal_twist_db: f32,
    /// Maximum reverse twist (high tone louder than low), dB.
    pub max_reverse_twist_db: f32,
    /// Minimum share of the block's energy in the two tones (0-1).
    pub min_tone_to_total: f32,
    /// Minimum margin of each tone over the other filters of its group, dB.
    pub min_in_group_margin_db: f32,
    /// Maximum relative frequency deviation of each tone (0.025 = 2.5%).
    pub max_frequency_deviation: f32,
    /// Minimum ratio of the weakest to the strongest of the three half-blocks' energies (0-1).
    pub min_steadiness: f32,
    /// Consecutive accepted evaluations needed to report a press.
    pub press_evaluations: u32,
    /// Consecutive evaluations without the digit that end it.
    pub release_evaluations: u32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            min_level_dbm0: -35.0,
            max_normal_twist_db: 8.0,
            max_reverse_twist_db: 4.0,
            min_tone_to_total: 0.8,
            min_in_group_margin_db: 8.0,
            max_frequency_deviation: 0.025,
            min_steadiness: 0.5,
            press_evaluations: 3,
            release_evaluations: 5,
        }
    }
}

/// A complex number, just what the filters need.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Complex {
    re: f32,
    im: f32,
}

impl Complex {
    fn from_angle(angle: f32) -> Self {
        Complex {
            re: angle.cos(),
            im: angle.sin(),
        }
    }

    fn mul(self, o: Complex) -> Complex {
        Complex {
            re: self.re * o.re - self.im * o.im,
            im: self.re * o.im + self.im * o.re,
        }
    }

    fn conj(self) -> Complex {
        Complex {
            re: self.re,
            im: -self.im,
        }
    }

    fn scale(self, k: f32) -> Complex {
        Complex {
            re: self.re * k,
            im: self.im * k,
        }
    }

    fn add(self, o: Complex) -> Complex {
        Complex {
            re: self.re + o.re,
            im: self.im + o.im,
        }
    }

    fn norm_sqr(self) -> f32 {
        self.re * self.re + self.im * self.im
    }

    fn arg(self) -> f32 {
        self.im.atan2(self.re)
    }
}

/// Per-filter constants.
#[derive(Debug, Clone, Copy)]
struct Filter {
    /// Goertzel coefficient `2 cos(w)`.
    coeff: f32,
    /// `e^{-jw(M-1)}` and `e^{-jwM}`: turn the final state into the half-block's DFT value.
    rot_last: Complex,
    rot_half: Complex,
}

/// The key being held.
#[derive(Debug, Clone, Copy)]
struct Active {
    digit: Digit,
    first: u64,
    last: u64,
    misses: u32,
}

/// Finds DTMF digits in audio: see the [module docs](self).
#[derive(Debug)]
pub struct Detector {
    config: DetectorConfig,
    min_power: f32,
    normal_twist: f32,
    reverse_twist: f32,
    group_margin: f32,
    filters: [Filter; 8],
    s1: [f32; 8],
    s2: [f32; 8],
    fill: usize,
    energy: f32,
    /// DFT values and energy of the previous half-block.
    prev_half: Option<([Complex; 8], f32)>,
    /// Block values of the previous evaluation and the energy of the half before it.
    prev_block: Option<([Complex; 8], f32)>,
    /// Evaluations so far.
    evaluations: u64,
    run: Option<(Digit, u32, u64)>,
    active: Option<Active>,
    events: VecDeque<DtmfEvent>,
}

impl Detector {
    /// A detector with the given thresholds.
    pub fn new(config: DetectorConfig) -> Self {
        let db = |d: f32| 10f32.powf(d / 10.0);
        let filters = FREQUENCIES.map(|f| {
            let w = 2.0 * PI * f / SAMPLE_RATE as f32;
            Filter {
                coeff: 2.0 * w.cos(),
                rot_last: Complex::from_angle(-w * (HALF_BLOCK as f32 - 1.0)),
                rot_half: Complex::from_angle(-w * HALF_BLOCK as f32),
            }
        });
        Detector {
            config,
            min_power: DBM0_MEAN_SQUARE * db(config.min_level_dbm0),
            normal_twist: db(config.max_normal_twist_db),
            reverse_twist: db(config.max_reverse_twist_db),
            group_margin: db(config.min_in_group_margin_db),
            filters,
            s1: [0.0; 8],
            s2: [0.0; 8],
            fill: 0,
            energy: 0.0,
            prev_half: None,
            prev_block: None,
            evaluations: 0,
            run: None,
            active: None,
            events: VecDeque::with_capacity(QUEUE),
        }
    }

    /// The thresholds.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// The key currently held down, if any.
    pub fn active_digit(&self) -> Option<Digit> {
        self.active.map(|a| a.digit)
    }

    /// Takes the next samples of the stream (8 kHz, any count); events they
    /// complete are read with [`poll_event`](Self::poll_event).
    pub fn push(&mut self, samples: &[i16]) {
        for &x in samples {
            let x = f32::from(x);
            self.energy += x * x;
            for i in 0..8 {
                let s0 = x + self.filters[i].coeff * self.s1[i] - self.s2[i];
                self.s2[i] = self.s1[i];
                self.s1[i] = s0;
            }
            self.fill += 1;
            if self.fill == HALF_BLOCK {
                self.end_half_block();
            }
        }
    }

    /// Takes a frame and returns the first event it completes (others stay queued).
    pub fn push_frame(&mut self, samples: &[i16]) -> Option<DtmfEvent> {
        self.push(samples);
        self.poll_event()
    }

    /// The next digit event, oldest first.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        self.events.pop_front()
    }

    /// Forgets the stream (a new call leg); the key held, if any, is not released.
    pub fn reset(&mut self) {
        *self = Detector::new(self.config);
    }

    fn end_half_block(&mut self) {
        let mut half = [Complex::default(); 8];
        for (i, f) in self.filters.iter().enumerate() {
            half[i] = f.rot_last.scale(self.s1[i]).add(f.rot_half.scale(-self.s2[i]));
        }
        let energy = self.energy;
        self.s1 = [0.0; 8];
        self.s2 = [0.0; 8];
        self.fill = 0;
        self.energy = 0.0;
        let Some((prev_half, prev_energy)) = self.prev_half.replace((half, energy)) else {
            return;
        };
        let mut block = [Complex::default(); 8];
        for i in 0..8 {
            block[i] = prev_half[i].add(self.filters[i].rot_half.mul(half[i]));
        }
        let Some((prev_block, oldest_energy)) = self.prev_block.replace((block, prev_energy)) else {
            return;
        };
        let steady = {
            let (lo, hi) = (
                oldest_energy.min(prev_energy).min(energy),
                oldest_energy.max(prev_energy).max(energy),
            );
            lo >= self.config.min_steadiness * hi
        };
        let found = if steady {
            self.classify(&block, &prev_block, prev_energy + energy)
        } else {
            None
        };
        self.evaluations += 1;
        self.track(found);
    }

    /// Applies the acceptance rules to one block and the one before it.
    fn classify(&self, block: &[Complex; 8], prev: &[Complex; 8], energy: f32) -> Option<Digit> {
        let n = BLOCK as f32;
        let power: [f32; 8] = block.map(|c| 2.0 * c.norm_sqr() / (n * n));
        let strongest = |range: std::ops::Range<usize>| {
            let best = range.clone().max_by(|&a, &b| power[a].total_cmp(&power[b]))?;
            let dominant = range
                .filter(|&i| i != best)
                .all(|i| power[best] >= self.group_margin * power[i]);
            dominant.then_some(best)
        };
        let (low, high) = (strongest(0..4)?, strongest(4..8)?);
        let mut corrected = [0.0f32; 2];
        for (slot, i) in [low, high].into_iter().enumerate() {
            let f = &self.filters[i];
            // Phase advance between the blocks, less the nominal one: the offset in rad/sample.
            let delta = block[i].mul(prev[i].conj()).mul(f.rot_half).arg() / HALF_BLOCK as f32;
            let offset_hz = delta * SAMPLE_RATE as f32 / (2.0 * PI);
            if offset_hz.abs() > self.config.max_frequency_deviation * FREQUENCIES[i] {
                return None;
            }
            corrected[slot] = power[i] / dirichlet_gain(delta).max(0.1);
        }
        let [pl, ph] = corrected;
        if pl < self.min_power || ph < self.min_power {
            return None;
        }
        if pl > self.normal_twist * ph || ph > self.reverse_twist * pl {
            return None;
        }
        if pl + ph < self.config.min_tone_to_total * energy / n {
            return None;
        }
        Digit::from_keypad(low, high - 4)
    }

    /// Steps the press/release state machine with one evaluation's verdict.
    fn track(&mut self, found: Option<Digit>) {
        let now = self.evaluations;
        if let Some(active) = &mut self.active {
            if found == Some(active.digit) {
                active.last = now;
                active.misses = 0;
            } else {
                active.misses += 1;
                if active.misses >= self.config.release_evaluations {
                    let held = (active.last - active.first) * HALF_BLOCK as u64 + 3 * HALF_BLOCK as u64;
                    let duration = Duration::from_micros(held * 1_000_000 / u64::from(SAMPLE_RATE));
                    let event = DigitEvent {
                        digit: active.digit,
                        source: DigitSource::InBand,
                        duration: Some(duration),
                    };
                    self.active = None;
                    self.emit(DtmfEvent::Released(event));
                }
            }
        }
        self.run = match (found, self.run) {
            (Some(d), Some((r, count, first))) if d == r => Some((d, count + 1, first)),
            (Some(d), _) => Some((d, 1, now)),
            (None, _) => None,
        };
        if let (None, Some((digit, count, first))) = (self.active, self.run) {
            if count >= self.config.press_evaluations {
                self.active = Some(Active {
                    digit,
                    first,
                    last: now,
                    misses: 0,
                });
                self.emit(DtmfEvent::Pressed(DigitEvent {
                    digit,
                    source: DigitSource::InBand,
                    duration: None,
                }));
            }
        }
    }

    fn emit(&mut self, event: DtmfEvent) {
        if self.events.len() == QUEUE {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }
}

impl Default for Detector {
    fn default() -> Self {
        Detector::new(DetectorConfig::default())
    }
}

/// Power gain of a `BLOCK`-sample rectangular window for a tone `delta`
/// rad/sample off the filter's frequency (1 on frequency).
fn dirichlet_gain(delta: f32) -> f32 {
    let half = delta / 2.0;
    if half.abs() < 1e-6 {
        return 1.0;
    }
    let gain = ((BLOCK as f32 * half).sin() / (BLOCK as f32 * half.sin())).abs();
    gain * gain
}

#[cfg(test)]
mod talkoff;
#[cfg(test)]
mod tests;
