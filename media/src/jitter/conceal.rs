//! Packet-loss concealment on decoded PCM, after ITU-T G.711 Appendix I:
//! repeat the last pitch period of the good signal, and fade it out.
//!
//! - The pitch period is found by normalised autocorrelation of the end of the
//!   last good frame, between 2.5 ms and 15 ms (66 to 400 Hz), as in
//!   Appendix I.
//! - The synthetic signal repeats the last period from where the good signal
//!   left off, so it continues without a jump; consecutive lost frames carry
//!   on the same waveform (the position follows from `n_lost`).
//! - Attenuation as in Appendix I: none for the first 10 ms of loss, then
//!   20 % per 10 ms, silence from 60 ms on.
//!
//! Simplifications: one period is repeated (Appendix I moves to two and three
//! periods after 10 and 20 ms) and there is no overlap-add at the start or at
//! the first good frame after the loss.

/// Fills `out` (one 20 ms frame) with a concealment of the `n_lost`-th
/// consecutive lost frame (1 for the first), from `last_frame`, the last good
/// decoded frame. The frame duration is taken to be 20 ms, so the sample rate
/// is `out.len() × 50`. With no history, `out` is silence.
pub fn conceal(last_frame: &[i16], out: &mut [i16], n_lost: usize) {
    let n = out.len();
    if last_frame.is_empty() || n == 0 || n_lost == 0 {
        out.fill(0);
        return;
    }
    let period = pitch_period(last_frame, n);
    let start = last_frame.len() - period;
    let offset = (n_lost - 1).saturating_mul(n);
    // Samples per millisecond, with a 20 ms frame.
    let per_ms = n as f64 / 20.0;
    for (i, o) in out.iter_mut().enumerate() {
        let t = offset.saturating_add(i);
        let t_ms = t as f64 / per_ms;
        let gain = if t_ms < 10.0 {
            1.0
        } else {
            (1.0 - 0.02 * (t_ms - 10.0)).max(0.0)
        };
        let s = last_frame.get(start + t % period).copied().unwrap_or(0);
        *o = (f64::from(s) * gain).round() as i16;
    }
}

/// The pitch period of the end of `history`, in samples, for frames of
/// `frame_len` samples (20 ms); at most `history.len()`.
pub(crate) fn pitch_period(history: &[i16], frame_len: usize) -> usize {
    let len = history.len();
    // 2.5 ms and 15 ms at frame_len samples per 20 ms.
    let min_lag = (frame_len / 8).max(1);
    let max_lag = (frame_len * 3 / 4).max(min_lag);
    if len < max_lag + min_lag {
        return len.min(max_lag).max(1);
    }
    let window = len - max_lag;
    let x = |i: usize| f64::from(history.get(i).copied().unwrap_or(0));
    let mut best = (f64::MIN, max_lag);
    for lag in min_lag..=max_lag {
        let mut corr = 0.0;
        let mut energy = 0.0;
        for j in len - window..len {
            let past = x(j - lag);
            corr += x(j) * past;
            energy += past * past;
        }
        let score = if energy > 0.0 { corr / energy.sqrt() } else { 0.0 };
        // Prefer the shortest lag among near-equal peaks (avoid multiples).
        if score > best.0 * 1.0001 + 1e-9 {
            best = (score, lag);
        }
    }
    best.1
}
