//! `queue.service_level_at_risk`: the service level the current interval
//! (e.g. the half hour 14:30-15:00) is heading for, so that other channels
//! can shift staff or open overflow before the interval is lost.
//!
//! The projection counts, for the queue's first service-level threshold T
//! and the configured formula:
//! - the interval's segments so far, exactly as the wallboard counts them;
//! - every caller still waiting as offered; one who has waited at most T can
//!   still make it and counts as answered within T (the best case); one
//!   beyond T cannot any more.
//!
//! So the projection is an upper bound of what the interval can still
//! reach: when even it is below the target, the interval will miss unless
//! something changes (more agents, callers moved elsewhere).
//!
//! [`Watch`] fires once per crossing below the target within an interval,
//! and re-arms only when the projection is back above the target by
//! [`HYSTERESIS`], so a figure that hovers does not fire every second. A
//! new interval starts disarmed.

use std::collections::HashMap;
use std::time::Duration;

use queue::kpi::{SlFormula, Stats};
use queue::Millis;

/// Points above the target the projection must regain to fire again.
pub(crate) const HYSTERESIS: f64 = 0.02;

/// Numerator and denominator of the formula so far, at threshold `t_secs`.
pub(crate) fn parts(stats: &Stats, t_secs: u64) -> (u64, u64) {
    let within = |v: &[(u64, u64)]| v.iter().find(|(t, _)| *t == t_secs).map_or(0, |&(_, n)| n);
    let aw = within(&stats.answered_within);
    let abw = within(&stats.abandoned_within);
    match stats.formula {
        SlFormula::AbandonsIgnored => (aw, stats.offered.saturating_sub(abw)),
        SlFormula::AbandonsNegative => (aw, stats.offered),
        SlFormula::AbandonsPositive => (aw + abw, stats.offered),
        SlFormula::AnsweredOnly => (aw, stats.answered),
        SlFormula::AsteriskSl2 => (aw + abw, stats.answered + stats.abandoned),
    }
}

/// The projected service level (0 to 1): the interval's `(numerator,
/// denominator)` so far and the waits of the callers still in line.
/// `None` when nothing counts yet.
pub(crate) fn project((num, den): (u64, u64), waits: &[Duration], threshold: Duration) -> Option<f64> {
    let can_make = waits.iter().filter(|w| **w <= threshold).count() as u64;
    let den = den + waits.len() as u64;
    (den > 0).then(|| (num + can_make) as f64 / den as f64)
}

/// The start of the interval `now` is in (intervals from midnight UTC).
pub(crate) fn interval_start(now: Millis, minutes: u32) -> Millis {
    let len = u64::from(minutes.max(1)) * 60_000;
    Millis(now.0 - now.0 % len)
}

/// A queue whose projection just crossed below its target.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AtRisk {
    /// The queue.
    pub(crate) queue: String,
    /// When it was seen.
    pub(crate) at: Millis,
    /// The interval.
    pub(crate) interval: (Millis, Millis),
    /// The threshold T, seconds.
    pub(crate) threshold_secs: u64,
    /// The target (0 to 1).
    pub(crate) target: f64,
    /// The projection (0 to 1).
    pub(crate) projected: f64,
    /// The formula's numerator and denominator so far.
    pub(crate) so_far: (u64, u64),
    /// Callers waiting, and those past T already.
    pub(crate) waiting: (usize, usize),
}

/// Per queue: the interval last seen and whether it has fired (armed:
/// `false`).
#[derive(Debug, Default)]
pub(crate) struct Watch {
    fired: HashMap<String, (Millis, bool)>,
}

impl Watch {
    /// Whether `projected` for `queue` in the interval starting `interval`
    /// is a new crossing below `target`.
    pub(crate) fn check(&mut self, queue: &str, interval: Millis, projected: Option<f64>, target: f64) -> bool {
        let entry = self.fired.entry(queue.to_owned()).or_insert((interval, false));
        if entry.0 != interval {
            *entry = (interval, false);
        }
        let Some(p) = projected else { return false };
        if !entry.1 && p < target {
            entry.1 = true;
            return true;
        }
        if entry.1 && p >= target + HYSTERESIS {
            entry.1 = false;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_callers_count_by_whether_they_can_still_make_it() {
        let t = Duration::from_secs(20);
        // 8 of 10 answered within 20 s so far.
        assert_eq!(project((8, 10), &[], t), Some(0.8));
        // Two waiting 5 s and 20 s can still make it: 10/12.
        let can = [Duration::from_secs(5), Duration::from_secs(20)];
        assert_eq!(project((8, 10), &can, t), Some(10.0 / 12.0));
        // Two waiting 21 s and 60 s cannot: 8/12.
        let cannot = [Duration::from_millis(20_001), Duration::from_secs(60)];
        assert_eq!(project((8, 10), &cannot, t), Some(8.0 / 12.0));
        assert_eq!(project((0, 0), &[], t), None);
        assert_eq!(project((0, 0), &[Duration::from_secs(30)], t), Some(0.0));
    }

    #[test]
    fn fires_once_per_crossing_and_per_interval() {
        let mut watch = Watch::default();
        let i1 = Millis(1_800_000);
        assert!(!watch.check("q", i1, Some(0.9), 0.8));
        assert!(watch.check("q", i1, Some(0.7), 0.8));
        // Still below, every second: no more.
        assert!(!watch.check("q", i1, Some(0.6), 0.8));
        // Back just above the target: within the hysteresis, not re-armed.
        assert!(!watch.check("q", i1, Some(0.81), 0.8));
        assert!(!watch.check("q", i1, Some(0.79), 0.8));
        // Well above, then below again: a new crossing.
        assert!(!watch.check("q", i1, Some(0.85), 0.8));
        assert!(watch.check("q", i1, Some(0.7), 0.8));
        // A new interval starts armed.
        let i2 = Millis(3_600_000);
        assert!(watch.check("q", i2, Some(0.7), 0.8));
        // Other queues are their own.
        assert!(watch.check("r", i2, Some(0.1), 0.8));
        assert!(!watch.check("s", i2, None, 0.8));
    }

    #[test]
    fn intervals_start_on_the_boundary() {
        assert_eq!(interval_start(Millis(1_800_000 + 5), 30), Millis(1_800_000));
        assert_eq!(interval_start(Millis(1_799_999), 30), Millis(0));
        assert_eq!(interval_start(Millis(3_600_000), 60), Millis(3_600_000));
    }
}
