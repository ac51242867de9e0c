//! Erlang C and Erlang A: how many agents a load needs, and what service a
//! number of agents gives.
//!
//! - **Erlang C** (M/M/n): Poisson arrivals, exponential handle times, `n`
//!   agents, an unlimited queue, callers who never give up. Computed from the
//!   Erlang B recursion `B(k) = A·B(k-1) / (k + A·B(k-1))` carried in logarithms,
//!   so it is stable for any load (no factorials, no powers, no underflow):
//!   `C = n·B / (n - A·(1 - B))`, `SL(T) = 1 - C·e^-(n-A)·T/AHT`,
//!   `ASA = C·AHT / (n - A)`, occupancy `A / n`.
//! - **Erlang A** (M/M/n+M): the same with exponential patience (mean
//!   `patience`): callers still waiting when their patience runs out abandon.
//!   Solved numerically as a birth-death chain (stationary distribution in
//!   logarithms, truncated where the tail is below 1e-17 of the total), and
//!   a tagged caller's wait from each queue position through uniformisation,
//!   which gives the shares answered and abandoned within `T` exactly enough
//!   for every service-level formula of [`crate::kpi::SlFormula`].
//!
//! Traffic in Erlangs is calls per hour × AHT in hours: 900 calls/h at 240 s
//! is 60 Erlangs.

mod a;

use std::time::Duration;

pub use a::ErlangA;

/// Why a figure cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErlangError {
    /// The call rate or handle time is not a positive finite number.
    #[error("the load must be positive: {0}")]
    InvalidLoad(&'static str),
    /// A service-level target outside (0, 1).
    #[error("the service-level target must be above 0% and below 100%")]
    InvalidTarget,
    /// The patience is zero.
    #[error("the mean patience must be above zero")]
    InvalidPatience,
    /// The queue the model would need is too long to solve (a load far above
    /// the agents with very patient callers).
    #[error("the queue of this load is too long to solve ({0} positions)")]
    TooLarge(usize),
}

/// An offered load: a call rate and a mean handle time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    calls_per_hour: f64,
    aht: Duration,
}

impl Load {
    /// A load of `calls_per_hour` calls with a mean handle time `aht`.
    pub fn new(calls_per_hour: f64, aht: Duration) -> Result<Load, ErlangError> {
        if !(calls_per_hour.is_finite() && calls_per_hour > 0.0) {
            return Err(ErlangError::InvalidLoad("calls per hour"));
        }
        if aht.is_zero() {
            return Err(ErlangError::InvalidLoad("handle time"));
        }
        Ok(Load { calls_per_hour, aht })
    }

    /// Calls per hour.
    pub fn calls_per_hour(&self) -> f64 {
        self.calls_per_hour
    }

    /// Mean handle time.
    pub fn aht(&self) -> Duration {
        self.aht
    }

    /// The traffic in Erlangs: calls per hour × AHT in hours.
    pub fn erlangs(&self) -> f64 {
        self.calls_per_hour * self.aht.as_secs_f64() / 3600.0
    }

    fn arrivals_per_sec(&self) -> f64 {
        self.calls_per_hour / 3600.0
    }

    fn services_per_sec(&self) -> f64 {
        1.0 / self.aht.as_secs_f64()
    }
}

/// `ln B(n, A)`: the logarithm of the Erlang B blocking probability, by the
/// recursion `B(k) = A·B(k-1) / (k + A·B(k-1))` in logarithms.
fn ln_erlang_b(erlangs: f64, agents: u32) -> f64 {
    let ln_a = erlangs.ln();
    let mut ln_b = 0.0f64;
    for k in 1..=agents {
        // B(k) = A·B / (k + A·B): ln B(k) = ln A + ln B - ln(k + A·B).
        ln_b = ln_a + ln_b - (f64::from(k) + (ln_a + ln_b).exp()).ln();
    }
    ln_b
}

/// Erlang B: the share of calls blocked with `agents` servers and no queue.
pub fn erlang_b(erlangs: f64, agents: u32) -> f64 {
    if erlangs <= 0.0 {
        return if agents == 0 { 1.0 } else { 0.0 };
    }
    ln_erlang_b(erlangs, agents).exp()
}

/// Erlang C: the probability that a call waits (1 when `agents <= erlangs`,
/// where the queue grows without bound).
pub fn erlang_c(erlangs: f64, agents: u32) -> f64 {
    erlang_c_from_b(erlangs, agents, erlang_b(erlangs, agents))
}

fn erlang_c_from_b(erlangs: f64, agents: u32, b: f64) -> f64 {
    let n = f64::from(agents);
    if n <= erlangs {
        return 1.0;
    }
    (n * b / (n - erlangs * (1.0 - b))).clamp(0.0, 1.0)
}

/// What a number of agents gives under Erlang C.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErlangC {
    /// Agents.
    pub agents: u32,
    /// Probability that a call waits.
    pub p_wait: f64,
    /// Share of calls answered within the threshold (0 to 1).
    pub service_level: f64,
    /// Mean wait of all calls, in seconds; `None` when the queue grows
    /// without bound (agents <= Erlangs).
    pub asa_secs: Option<f64>,
    /// Share of the agents' time on calls (1 when overloaded).
    pub occupancy: f64,
}

impl ErlangC {
    /// The figures of `agents` for `load`, service level at `threshold`.
    pub fn new(load: &Load, agents: u32, threshold: Duration) -> ErlangC {
        let a = load.erlangs();
        Self::from_b(load, agents, threshold, erlang_b(a, agents))
    }

    fn from_b(load: &Load, agents: u32, threshold: Duration, b: f64) -> ErlangC {
        let a = load.erlangs();
        let n = f64::from(agents);
        let p_wait = erlang_c_from_b(a, agents, b);
        let aht = load.aht.as_secs_f64();
        let (service_level, asa_secs) = if n > a {
            let sl = 1.0 - p_wait * (-(n - a) * threshold.as_secs_f64() / aht).exp();
            (sl.clamp(0.0, 1.0), Some(p_wait * aht / (n - a)))
        } else {
            (0.0, None)
        };
        ErlangC {
            agents,
            p_wait,
            service_level,
            asa_secs,
            occupancy: if agents == 0 { 1.0 } else { (a / n).min(1.0) },
        }
    }

    /// The fewest agents whose service level at `threshold` reaches `target`
    /// (a share, 0.8 for 80%).
    pub fn agents_for(load: &Load, target: f64, threshold: Duration) -> Result<u32, ErlangError> {
        if !(target > 0.0 && target < 1.0) {
            return Err(ErlangError::InvalidTarget);
        }
        let a = load.erlangs();
        // Start at the first stable staffing, floor(A) + 1, carrying the
        // Erlang B recursion on from there.
        let start = a.floor() + 1.0;
        if start > f64::from(u32::MAX - 1) {
            return Err(ErlangError::InvalidLoad("too many Erlangs"));
        }
        let mut n = start as u32;
        let ln_a = a.ln();
        let mut ln_b = ln_erlang_b(a, n);
        loop {
            let figures = Self::from_b(load, n, threshold, ln_b.exp());
            if figures.service_level >= target {
                return Ok(n);
            }
            n = n.checked_add(1).ok_or(ErlangError::InvalidLoad("too many Erlangs"))?;
            ln_b = ln_a + ln_b - (f64::from(n) + (ln_a + ln_b).exp()).ln();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(calls_per_hour: f64, aht_secs: u64) -> Load {
        Load::new(calls_per_hour, Duration::from_secs(aht_secs)).expect("valid load")
    }

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn traffic_in_erlangs() {
        assert!(close(load(900.0, 240).erlangs(), 60.0, 1e-12));
        assert!(close(load(360.0, 100).erlangs(), 10.0, 1e-12));
    }

    #[test]
    fn erlang_b_textbook_values() {
        // B(1, 1) = 1/2, B(2, 1) = 1/5, B(10, 10) = 0.2146.
        assert!(close(erlang_b(1.0, 1), 0.5, 1e-12));
        assert!(close(erlang_b(1.0, 2), 0.2, 1e-12));
        assert!(close(erlang_b(10.0, 10), 0.214_582, 1e-6));
    }

    #[test]
    fn erlang_c_ten_erlangs() {
        // The classic table: A = 10 Erlangs, AHT 180 s, T = 20 s.
        let l = load(200.0, 180);
        let expected = [
            (11, 0.6821, 0.3897),
            (12, 0.4494, 0.6402),
            (13, 0.2853, 0.7955),
            (14, 0.1741, 0.8884),
        ];
        for (n, p_wait, sl) in expected {
            let f = ErlangC::new(&l, n, Duration::from_secs(20));
            assert!(close(f.p_wait, p_wait, 5e-5), "n={n} C={}", f.p_wait);
            assert!(close(f.service_level, sl, 5e-4), "n={n} SL={}", f.service_level);
        }
        assert_eq!(ErlangC::agents_for(&l, 0.8, Duration::from_secs(20)), Ok(14));
    }

    #[test]
    fn sixty_erlangs() {
        // 900 calls/h at 240 s: 60 Erlangs; 80/20 needs 67 agents.
        let l = load(900.0, 240);
        let n = ErlangC::agents_for(&l, 0.8, Duration::from_secs(20)).expect("agents");
        assert_eq!(n, 67);
        let f = ErlangC::new(&l, n, Duration::from_secs(20));
        assert!(f.service_level >= 0.8);
        assert!(ErlangC::new(&l, n - 1, Duration::from_secs(20)).service_level < 0.8);
        assert!(close(f.occupancy, 60.0 / 67.0, 1e-12));
        let asa = f.asa_secs.expect("stable");
        assert!(close(asa, f.p_wait * 240.0 / 7.0, 1e-9));
    }

    #[test]
    fn overloaded_queue_never_clears() {
        let f = ErlangC::new(&load(900.0, 240), 60, Duration::from_secs(20));
        assert_eq!(f.p_wait, 1.0);
        assert_eq!(f.service_level, 0.0);
        assert_eq!(f.asa_secs, None);
        assert_eq!(f.occupancy, 1.0);
    }

    #[test]
    fn stable_for_huge_traffic() {
        // 20,000 Erlangs: factorials would overflow long before this.
        let l = load(300_000.0, 240);
        let n = ErlangC::agents_for(&l, 0.8, Duration::from_secs(20)).expect("agents");
        assert!(n > 20_000 && n < 20_200, "{n}");
        let f = ErlangC::new(&l, n, Duration::from_secs(20));
        assert!(f.p_wait.is_finite() && f.p_wait > 0.0 && f.p_wait < 1.0);
        // With many agents far above the load, B underflows quietly to 0.
        assert_eq!(erlang_c(10.0, 400), 0.0);
    }

    /// Erlang C's probability of waiting from a truncated birth-death chain
    /// solved by plain ratios: an independent check of the recursion.
    #[test]
    fn erlang_c_matches_a_birth_death_chain() {
        for (a, n) in [(10.0, 11u32), (10.0, 14), (60.0, 63), (60.0, 67), (3.5, 4)] {
            let mut p = vec![1.0f64];
            for k in 1..5000u32 {
                let prev = p[p.len() - 1];
                p.push(prev * a / f64::from(k.min(n)));
            }
            let z: f64 = p.iter().sum();
            let waiting: f64 = p[n as usize..].iter().sum::<f64>() / z;
            assert!(close(erlang_c(a, n), waiting, 1e-10), "A={a} n={n}");
        }
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(Load::new(0.0, Duration::from_secs(240)).is_err());
        assert!(Load::new(f64::NAN, Duration::from_secs(240)).is_err());
        assert!(Load::new(900.0, Duration::ZERO).is_err());
        let l = load(900.0, 240);
        assert_eq!(
            ErlangC::agents_for(&l, 1.0, Duration::from_secs(20)),
            Err(ErlangError::InvalidTarget)
        );
        assert_eq!(
            ErlangA::new(&l, 60, Duration::ZERO, Duration::from_secs(20)),
            Err(ErlangError::InvalidPatience)
        );
    }
}
