//! Band-limited sample-rate conversion.
//!
//! A windowed-sinc (Kaiser) low-pass filter evaluated as a polyphase FIR: for a rate
//! ratio `to/from = L/M` (reduced), output sample `n` sits at input position `n*M/L`,
//! whose fractional part selects one of `L` precomputed coefficient rows. The cutoff
//! is just under the lower of the two Nyquist frequencies, so upsampling removes
//! images and downsampling removes what would alias. Ratios whose `L` is large
//! (e.g. 44101 -> 48000) use a table of [`MAX_EXACT_PHASES`] rows and interpolate
//! linearly between neighbouring rows.
//!
//! [`resample_once`] converts a whole signal with no delay (prompts at load time);
//! [`Resampler`] converts a stream frame by frame with a fixed delay of
//! [`Resampler::delay`] output samples, and gives the same samples whatever the frame
//! sizes, so frame boundaries cannot click.

use super::CodecError;

/// Half the filter length, in samples at the lower of the two rates.
const HALF_ZERO_CROSSINGS: usize = 16;
/// Kaiser window shape: about 80 dB of stopband attenuation.
const KAISER_BETA: f64 = 8.0;
/// The cutoff as a share of the lower Nyquist frequency (the -6 dB point).
const CUTOFF: f64 = 0.92;
/// Rates accepted, in Hz.
const MIN_RATE: u32 = 1_000;
const MAX_RATE: u32 = 384_000;
/// Above this many phases the table is sampled and interpolated instead of exact.
pub const MAX_EXACT_PHASES: usize = 1024;

/// One-shot conversion of a whole signal (prompts at load time).
///
/// The output has `ceil(input.len() * to_hz / from_hz)` samples, aligned with the input
/// (no delay). Equal rates return a copy; a rate outside 1 kHz..=384 kHz returns an empty
/// vector (use [`Resampler::new`] to get the error).
pub fn resample_once(input: &[i16], from_hz: u32, to_hz: u32) -> Vec<i16> {
    let Ok(filter) = Filter::new(from_hz, to_hz) else {
        return Vec::new();
    };
    if from_hz == to_hz {
        return input.to_vec();
    }
    let wanted = (input.len() as u64 * filter.l).div_ceil(filter.m) as usize;
    // Buffer: 2K-1 zeros of history, the input, then K zeros of look-ahead for the tail.
    let k = filter.half_taps;
    let mut buf = vec![0.0f32; 2 * k - 1];
    buf.extend(input.iter().map(|&s| f32::from(s)));
    buf.extend(std::iter::repeat_n(0.0, k + 1));
    // Output 0 is centred on input 0, i.e. buffer index 2K-1; its last tap is K further.
    let mut pos = (3 * k - 1) as u64 * filter.l;
    let mut out = Vec::with_capacity(wanted);
    filter.run(&buf, &mut pos, &mut out, wanted);
    out
}

/// Streaming resampler for a call leg: fixed ratio, keeps filter state across 20 ms frames.
#[derive(Debug, Clone)]
pub struct Resampler {
    filter: Filter,
    /// Input history, oldest first; the newest sample is the latest input.
    buf: Vec<f32>,
    /// Next output's newest tap, in units of 1/L input sample, from `buf[0]`.
    pos: u64,
}

impl Resampler {
    /// A resampler from `from_hz` to `to_hz` (each 1 kHz..=384 kHz).
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Resampler, CodecError> {
        let filter = Filter::new(from_hz, to_hz)?;
        let k = filter.half_taps;
        let buf = vec![0.0f32; 2 * k - 1];
        let pos = (2 * k - 1) as u64 * filter.l;
        Ok(Resampler { filter, buf, pos })
    }

    /// Input rate in Hz.
    pub fn from_hz(&self) -> u32 {
        self.filter.from_hz
    }

    /// Output rate in Hz.
    pub fn to_hz(&self) -> u32 {
        self.filter.to_hz
    }

    /// The delay the filter adds, in output samples (may be fractional for odd ratios).
    pub fn delay(&self) -> f64 {
        if self.filter.from_hz == self.filter.to_hz {
            return 0.0;
        }
        self.filter.half_taps as f64 * self.filter.l as f64 / self.filter.m as f64
    }

    /// Resamples `input` and appends the result to `output`.
    ///
    /// Over a stream the output count is `floor(total_in * to / from)`, so a 20 ms frame
    /// at 8 kHz (160 samples) always gives 960 samples at 48 kHz and the reverse.
    pub fn process(&mut self, input: &[i16], output: &mut Vec<i16>) {
        if self.filter.from_hz == self.filter.to_hz {
            output.extend_from_slice(input);
            return;
        }
        self.buf.extend(input.iter().map(|&s| f32::from(s)));
        self.filter.run(&self.buf, &mut self.pos, output, usize::MAX);
        // Keep only the history the next output needs.
        let q = (self.pos / self.filter.l) as usize;
        let first_needed = (q + 1).saturating_sub(2 * self.filter.half_taps);
        if first_needed > 0 {
            let drop = first_needed.min(self.buf.len());
            self.buf.drain(..drop);
            self.pos -= drop as u64 * self.filter.l;
        }
    }

    /// Forgets the signal history (e.g. after a long silence or a re-INVITE).
    pub fn reset(&mut self) {
        let k = self.filter.half_taps;
        self.buf.clear();
        self.buf.resize(2 * k - 1, 0.0);
        self.pos = (2 * k - 1) as u64 * self.filter.l;
    }
}

/// The polyphase coefficient table for one ratio.
#[derive(Debug, Clone)]
struct Filter {
    from_hz: u32,
    to_hz: u32,
    /// Output step per input sample, reduced: to/from = l/m.
    l: u64,
    m: u64,
    /// Half the number of taps per output sample, in input samples.
    half_taps: usize,
    /// Number of coefficient rows minus one when interpolating; 0 when exact.
    interp_rows: usize,
    /// Rows of `2*half_taps` coefficients, oldest tap first.
    table: Vec<f32>,
}

impl Filter {
    fn new(from_hz: u32, to_hz: u32) -> Result<Filter, CodecError> {
        for rate in [from_hz, to_hz] {
            if !(MIN_RATE..=MAX_RATE).contains(&rate) {
                return Err(CodecError::UnsupportedRate(rate));
            }
        }
        let g = gcd(u64::from(from_hz), u64::from(to_hz));
        let (l, m) = (u64::from(to_hz) / g, u64::from(from_hz) / g);
        // Cutoff relative to the input Nyquist frequency.
        let c = CUTOFF * (f64::from(to_hz) / f64::from(from_hz)).min(1.0);
        let half_taps = if to_hz >= from_hz {
            HALF_ZERO_CROSSINGS
        } else {
            (HALF_ZERO_CROSSINGS as u64 * m).div_ceil(l) as usize
        };
        let taps = 2 * half_taps;
        let (rows, interp_rows) = if l as usize <= MAX_EXACT_PHASES {
            (l as usize, 0)
        } else {
            (MAX_EXACT_PHASES + 1, MAX_EXACT_PHASES)
        };
        let mut table = Vec::with_capacity(rows * taps);
        for row in 0..rows {
            let frac = if interp_rows == 0 {
                row as f64 / l as f64
            } else {
                row as f64 / interp_rows as f64
            };
            // Tap t (oldest first) is the input sample `newest - (taps-1-t)`; its distance
            // from the output instant (which lies K - frac before the newest tap) is u.
            for t in 0..taps {
                let u = frac + half_taps as f64 - 1.0 - t as f64;
                table.push(kernel(u, c, half_taps as f64) as f32);
            }
        }
        Ok(Filter {
            from_hz,
            to_hz,
            l,
            m,
            half_taps,
            interp_rows,
            table,
        })
    }

    /// Produces outputs while the newest tap is in `buf`, at most `max` of them.
    fn run(&self, buf: &[f32], pos: &mut u64, out: &mut Vec<i16>, max: usize) {
        let taps = 2 * self.half_taps;
        let mut produced = 0;
        while produced < max {
            let q = (*pos / self.l) as usize;
            if q >= buf.len() {
                break;
            }
            let p = (*pos % self.l) as usize;
            let window = &buf[q + 1 - taps..=q];
            let y = if self.interp_rows == 0 {
                dot(window, &self.table[p * taps..(p + 1) * taps])
            } else {
                let scaled = p as u64 * self.interp_rows as u64;
                let row = (scaled / self.l) as usize;
                let a = (scaled % self.l) as f32 / self.l as f32;
                let y0 = dot(window, &self.table[row * taps..(row + 1) * taps]);
                let y1 = dot(window, &self.table[(row + 1) * taps..(row + 2) * taps]);
                y0 + a * (y1 - y0)
            };
            out.push(to_i16(y));
            *pos += self.m;
            produced += 1;
        }
    }
}

/// The Kaiser-windowed sinc low-pass at distance `u` input samples, cutoff `c` (share of
/// the input Nyquist), support `|u| < half`. Its integral is 1, so DC gain is 1.
fn kernel(u: f64, c: f64, half: f64) -> f64 {
    if u.abs() >= half {
        return 0.0;
    }
    let x = c * u;
    let sinc = if x.abs() < 1e-12 {
        1.0
    } else {
        (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
    };
    let r = u / half;
    let window = bessel_i0(KAISER_BETA * (1.0 - r * r).sqrt()) / bessel_i0(KAISER_BETA);
    c * sinc * window
}

/// Modified Bessel function of the first kind, order 0 (power series).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half_x = x / 2.0;
    for k in 1..50 {
        term *= (half_x / k as f64) * (half_x / k as f64);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// Dot product in four independent lanes, which the compiler vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks_a = a.chunks_exact(8);
    let chunks_b = b.chunks_exact(8);
    let (rest_a, rest_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (x, y) in chunks_a.zip(chunks_b) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in rest_a.iter().zip(rest_b) {
        sum += x * y;
    }
    sum
}

fn to_i16(y: f32) -> i16 {
    // `as` saturates for floats, and NaN cannot arise from finite inputs.
    y.round() as i16
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, len: usize, amp: f64) -> Vec<i16> {
        (0..len)
            .map(|n| (amp * (2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(rate)).sin()).round() as i16)
            .collect()
    }

    /// Amplitude of `freq` in `x` (least-squares fit of a sine and cosine).
    fn amplitude(x: &[i16], freq: f64, rate: u32) -> f64 {
        let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
        let (mut s, mut c) = (0.0, 0.0);
        for (n, &v) in x.iter().enumerate() {
            s += f64::from(v) * (w * n as f64).sin();
            c += f64::from(v) * (w * n as f64).cos();
        }
        2.0 * (s * s + c * c).sqrt() / x.len() as f64
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64).sqrt()
    }

    fn db(ratio: f64) -> f64 {
        20.0 * ratio.log10()
    }

    /// Gain in dB of a tone through `from -> to`, measured away from the edges.
    fn gain_db(freq: f64, from: u32, to: u32) -> f64 {
        let amp = 10_000.0;
        let input = sine(freq, from, from as usize / 2, amp);
        let out = resample_once(&input, from, to);
        let edge = to as usize / 50;
        let mid = &out[edge..out.len() - edge];
        // Any frequency folded back must be counted, so measure the total RMS.
        db(rms(mid) * 2f64.sqrt() / amp)
    }

    #[test]
    fn rejects_bad_rates() {
        assert_eq!(Resampler::new(0, 8000).err(), Some(CodecError::UnsupportedRate(0)));
        assert_eq!(
            Resampler::new(8000, 1_000_000).err(),
            Some(CodecError::UnsupportedRate(1_000_000))
        );
        assert!(resample_once(&[1, 2, 3], 0, 8000).is_empty());
    }

    #[test]
    fn output_lengths() {
        assert_eq!(resample_once(&[0; 160], 8000, 48000).len(), 960);
        assert_eq!(resample_once(&[0; 960], 48000, 8000).len(), 160);
        assert_eq!(resample_once(&[0; 441], 44100, 8000).len(), 80);
        assert_eq!(resample_once(&[0; 100], 22050, 48000).len(), 218);
        assert_eq!(resample_once(&[5; 7], 8000, 8000), vec![5; 7]);
        let mut r = Resampler::new(8000, 48000).expect("valid rates");
        let mut out = Vec::new();
        for _ in 0..10 {
            let before = out.len();
            r.process(&[0; 160], &mut out);
            assert_eq!(out.len() - before, 960);
        }
        let mut r = Resampler::new(48000, 8000).expect("valid rates");
        for _ in 0..10 {
            out.clear();
            r.process(&[0; 960], &mut out);
            assert_eq!(out.len(), 160);
        }
    }

    #[test]
    fn passband_within_one_db() {
        for &(from, to, top) in &[
            (8000, 48000, 3400.0),
            (48000, 8000, 3400.0),
            (16000, 48000, 6800.0),
            (48000, 16000, 6800.0),
            (8000, 16000, 3400.0),
            (16000, 8000, 3400.0),
            (44100, 8000, 3400.0),
            (22050, 48000, 9000.0),
        ] {
            let mut f = 100.0;
            while f <= top {
                let g = gain_db(f, from, to);
                assert!(g.abs() < 1.0, "{from}->{to} at {f} Hz: {g:.2} dB");
                f += 100.0;
            }
        }
    }

    #[test]
    fn stopband_attenuates_aliases() {
        // Downsampling: tones above the output Nyquist must not fold back.
        for &(from, to, freqs) in &[
            (
                48000u32,
                8000u32,
                &[4600.0, 5000.0, 6000.0, 8000.0, 12000.0, 20000.0][..],
            ),
            (16000, 8000, &[4600.0, 6000.0, 7500.0][..]),
            (48000, 16000, &[9000.0, 12000.0, 20000.0][..]),
            (44100, 8000, &[5000.0, 6000.0, 15000.0][..]),
        ] {
            for &f in freqs {
                let g = gain_db(f, from, to);
                assert!(g < -40.0, "{from}->{to}: {f} Hz tone only {g:.1} dB down");
            }
        }
        // Upsampling: no images of a 1 kHz tone at 8k +- 1k, 16k +- 1k ...
        let input = sine(1000.0, 8000, 8000, 10_000.0);
        let out = resample_once(&input, 8000, 48000);
        let mid = &out[960..out.len() - 960];
        for image in [7000.0, 9000.0, 15000.0, 17000.0, 23000.0] {
            let a = amplitude(mid, image, 48000);
            assert!(
                db(a / 10_000.0) < -60.0,
                "image at {image} Hz: {:.1} dB",
                db(a / 10_000.0)
            );
        }
    }

    #[test]
    fn streaming_matches_one_shot_with_fixed_delay() {
        for &(from, to, frame) in &[
            (8000u32, 48000u32, 160usize),
            (48000, 8000, 960),
            (16000, 48000, 320),
            (48000, 16000, 960),
            (8000, 16000, 160),
        ] {
            let input = sine(1234.5, from, from as usize, 12_000.0);
            let once = resample_once(&input, from, to);
            let mut r = Resampler::new(from, to).expect("valid rates");
            let mut streamed = Vec::new();
            for chunk in input.chunks(frame) {
                r.process(chunk, &mut streamed);
            }
            let delay = r.delay();
            assert_eq!(delay.fract(), 0.0);
            let delay = delay as usize;
            for (n, (&a, &b)) in once.iter().zip(&streamed[delay..]).enumerate() {
                assert!(
                    (i32::from(a) - i32::from(b)).abs() <= 1,
                    "{from}->{to} sample {n}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn frame_size_does_not_change_output() {
        let input = sine(440.0, 8000, 4000, 20_000.0);
        let mut whole = Vec::new();
        Resampler::new(8000, 44100)
            .expect("valid rates")
            .process(&input, &mut whole);
        let mut r = Resampler::new(8000, 44100).expect("valid rates");
        let mut pieces = Vec::new();
        let mut rest = &input[..];
        let mut size = 1;
        while !rest.is_empty() {
            let n = size.min(rest.len());
            r.process(&rest[..n], &mut pieces);
            rest = &rest[n..];
            size = size * 3 % 17 + 1;
        }
        assert_eq!(whole, pieces);
    }

    #[test]
    fn interpolated_table_for_awkward_ratios() {
        // 44101 -> 48000 reduces to L = 48000, beyond the exact table.
        let input = sine(1000.0, 44101, 44101 / 2, 10_000.0);
        let out = resample_once(&input, 44101, 48000);
        assert_eq!(out.len(), 24000);
        let mid = &out[1000..out.len() - 1000];
        let a = amplitude(mid, 1000.0, 48000);
        assert!(db(a / 10_000.0).abs() < 0.1, "{}", db(a / 10_000.0));
        let residual: Vec<i16> = mid
            .iter()
            .enumerate()
            .map(|(n, &v)| {
                let t = (n + 1000) as f64 / 48000.0;
                v - (10_000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()).round() as i16
            })
            .collect();
        assert!(
            db(rms(&residual) / rms(mid)) < -50.0,
            "{}",
            db(rms(&residual) / rms(mid))
        );
    }

    #[test]
    fn full_scale_does_not_wrap() {
        let input: Vec<i16> = (0..800)
            .map(|n| if (n / 4) % 2 == 0 { i16::MAX } else { i16::MIN })
            .collect();
        let out = resample_once(&input, 8000, 48000);
        // Gibbs overshoot must saturate, not wrap around to the other sign.
        for w in out.windows(2) {
            assert!((i32::from(w[0]) - i32::from(w[1])).abs() < 40_000);
        }
    }
}
