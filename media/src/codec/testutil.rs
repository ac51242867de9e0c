//! Signals and measurements shared by the codec tests.

/// A sine of `freq` Hz at `rate`, `len` samples, peak `amp`.
pub(crate) fn sine(freq: f64, rate: u32, len: usize, amp: f64) -> Vec<i16> {
    (0..len)
        .map(|n| (amp * (2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(rate)).sin()).round() as i16)
        .collect()
}

/// The best normalised correlation of `x` with `y` delayed by 0..20 ms, and that delay.
pub(crate) fn best_correlation(x: &[i16], y: &[i16], rate: u32) -> (f64, usize) {
    let max_lag = (rate / 50) as usize;
    let n = x
        .len()
        .min(y.len().saturating_sub(max_lag))
        .max(x.len().min(y.len()) / 2);
    let mut best = (-1.0, 0);
    for lag in 0..=max_lag.min(y.len().saturating_sub(n)) {
        let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let (a, b) = (f64::from(x[i]), f64::from(y[i + lag]));
            xy += a * b;
            xx += a * a;
            yy += b * b;
        }
        let c = xy / (xx * yy).sqrt().max(1e-9);
        if c > best.0 {
            best = (c, lag);
        }
    }
    best
}

/// The frequency (Hz) with the most energy in `x`, searched from 50 Hz to Nyquist in 10 Hz steps.
pub(crate) fn dominant_frequency(x: &[i16], rate: u32) -> f64 {
    let mut best = (0.0, 0.0);
    let mut f = 50.0;
    while f < f64::from(rate) / 2.0 {
        let w = 2.0 * std::f64::consts::PI * f / f64::from(rate);
        let (mut s, mut c) = (0.0, 0.0);
        for (n, &v) in x.iter().enumerate() {
            s += f64::from(v) * (w * n as f64).sin();
            c += f64::from(v) * (w * n as f64).cos();
        }
        let p = s * s + c * c;
        if p > best.1 {
            best = (f, p);
        }
        f += 10.0;
    }
    best.0
}
