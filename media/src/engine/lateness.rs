//! How late the workers' 20 ms ticks run: the engine's own measure of
//! keeping time under load. A tick that runs late sends its audio late
//! (or, beyond the catch-up limit, skips it), whatever the network did.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in milliseconds; the last bucket has none.
pub const BUCKET_BOUNDS_MS: [u64; 7] = [1, 2, 5, 10, 20, 40, 100];

/// Counts of ticks by lateness, shared between a worker and the engine
/// handle (relaxed counters: a reading may miss the ticks of that instant).
#[derive(Debug, Default)]
pub struct TickLateness {
    buckets: [AtomicU64; BUCKET_BOUNDS_MS.len() + 1],
}

impl TickLateness {
    /// A tick ran `late` after it was due.
    pub fn record(&self, late: Duration) {
        let ms = late.as_millis();
        let bucket = BUCKET_BOUNDS_MS
            .iter()
            .position(|&bound| ms < u128::from(bound))
            .unwrap_or(BUCKET_BOUNDS_MS.len());
        if let Some(b) = self.buckets.get(bucket) {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts so far.
    pub fn snapshot(&self) -> Lateness {
        Lateness {
            counts: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
        }
    }
}

/// Ticks counted by lateness: `counts[i]` ran less than
/// `BUCKET_BOUNDS_MS[i]` late (and not less than the bound before); the
/// last count, 100 ms or later.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lateness {
    /// Ticks per bucket.
    pub counts: [u64; BUCKET_BOUNDS_MS.len() + 1],
}

impl Lateness {
    /// Ticks counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Ticks that ran `ms` or more late; `ms` must be one of the bounds.
    pub fn at_least(&self, ms: u64) -> u64 {
        match BUCKET_BOUNDS_MS.iter().position(|&b| b == ms) {
            Some(i) => self.counts[i + 1..].iter().sum(),
            None => 0,
        }
    }

    /// The counts since `earlier` (a measuring window).
    pub fn since(&self, earlier: &Lateness) -> Lateness {
        Lateness {
            counts: std::array::from_fn(|i| self.counts[i].saturating_sub(earlier.counts[i])),
        }
    }

    /// These counts and `other`'s together.
    pub fn add(&mut self, other: &Lateness) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_into_their_buckets() {
        let t = TickLateness::default();
        for ms in [0, 0, 1, 4, 9, 19, 39, 99, 100, 2000] {
            t.record(Duration::from_millis(ms));
        }
        let s = t.snapshot();
        assert_eq!(s.counts, [2, 1, 1, 1, 1, 1, 1, 2]);
        assert_eq!(s.total(), 10);
        assert_eq!(s.at_least(40), 3);
        assert_eq!(s.at_least(5), 6);
        assert_eq!(s.since(&s).total(), 0);
    }
}
