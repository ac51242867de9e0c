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
//!   for every service-level formula of [`SlFormula`].
//!
//! Traffic in Erlangs is calls per hour × AHT in hours: 900 calls/h at 240 s
//! is 60 Erlangs.

use std::time::Duration;

use crate::kpi::SlFormula;

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

/// What a number of agents gives under Erlang A (callers with exponential
/// patience). Shares are of offered calls unless named otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErlangA {
    /// Agents.
    pub agents: u32,
    /// Probability that a call waits (finds every agent busy).
    pub p_wait: f64,
    /// Probability that a call abandons.
    pub p_abandon: f64,
    /// Share of offered calls answered within the threshold (waiting 0 included).
    pub answered_within: f64,
    /// Share of offered calls that abandon within the threshold.
    pub abandoned_within: f64,
    /// Mean wait of answered calls, in seconds.
    pub asa_secs: f64,
    /// Mean number of callers waiting.
    pub mean_queue: f64,
    /// Share of the agents' time on calls (answered load / agents).
    pub occupancy: f64,
}

impl ErlangA {
    /// The figures of `agents` for `load` with mean `patience`, at `threshold`.
    pub fn new(load: &Load, agents: u32, patience: Duration, threshold: Duration) -> Result<ErlangA, ErlangError> {
        if patience.is_zero() {
            return Err(ErlangError::InvalidPatience);
        }
        let lambda = load.arrivals_per_sec();
        let mu = load.services_per_sec();
        let theta = 1.0 / patience.as_secs_f64();
        let a = load.erlangs();
        let n = f64::from(agents);
        let service = n * mu;

        // Stationary distribution relative to state n (all agents busy, nobody
        // waiting): states below n sum to 1/B(n, A) (Erlang B), states n + j
        // have weight t_j = prod_{i=1..j} lambda / (n mu + i theta).
        let ln_head = if agents == 0 { 0.0 } else { -ln_erlang_b(a, agents) };
        let mut ln_tail: Vec<f64> = vec![0.0]; // j = 0: state n itself
        let mut ln_t = 0.0f64;
        let mut ln_max = 0.0f64;
        const LIMIT: usize = 4_000_000;
        loop {
            let j = ln_tail.len();
            let rate = service + j as f64 * theta;
            ln_t += (lambda / rate).ln();
            ln_tail.push(ln_t);
            ln_max = ln_max.max(ln_t);
            // Past the mode and 40 nats (1e-17) below it: the rest is negligible.
            if rate > lambda && ln_t < ln_max.max(ln_head) - 40.0 {
                break;
            }
            if j >= LIMIT {
                return Err(ErlangError::TooLarge(j));
            }
        }
        // Normalise: Z = head + sum of tail weights minus state n counted twice.
        let scale = ln_max.max(ln_head);
        let tail: Vec<f64> = ln_tail.iter().map(|l| (l - scale).exp()).collect();
        let tail_sum: f64 = tail.iter().sum();
        let head = (ln_head - scale).exp(); // includes state n
        let z = head + tail_sum - tail[0];
        // Arrivals see time averages (PASTA): q_j = P(arrive and wait at position j).
        let q: Vec<f64> = tail.iter().map(|t| t / z).collect();
        let p_wait: f64 = q.iter().sum();
        let mean_queue: f64 = q.iter().enumerate().map(|(j, p)| j as f64 * p).sum();

        // Per position j (j callers ahead): served with probability s_j, and
        // the expected wait counted over served calls m_j = E[W; served].
        let (mut s, mut m) = (1.0f64, 0.0f64);
        let (mut p_served_waiting, mut wait_served) = (0.0f64, 0.0f64);
        for (j, p) in q.iter().enumerate() {
            let r = service + j as f64 * theta;
            let out = r + theta;
            m = r / out * (s / out + m);
            s *= r / out;
            p_served_waiting += p * s;
            wait_served += p * m;
        }
        let p_abandon = (p_wait - p_served_waiting).max(0.0);
        let p_answered = 1.0 - p_abandon;
        let (served_t, abandoned_t) = within(&q, service, theta, threshold.as_secs_f64());
        Ok(ErlangA {
            agents,
            p_wait,
            p_abandon,
            answered_within: ((1.0 - p_wait) + served_t).clamp(0.0, 1.0),
            abandoned_within: abandoned_t.clamp(0.0, 1.0),
            asa_secs: if p_answered > 0.0 {
                wait_served / p_answered
            } else {
                0.0
            },
            mean_queue,
            occupancy: if agents == 0 {
                1.0
            } else {
                (a * p_answered / n).min(1.0)
            },
        })
    }

    /// The service level by a KPI formula, as the model's counterpart of
    /// [`crate::kpi`]'s figure (the model has no short abandons).
    pub fn service_level(&self, formula: SlFormula) -> f64 {
        let (aw, abw) = (self.answered_within, self.abandoned_within);
        let value = match formula {
            SlFormula::AbandonsIgnored => ratio(aw, 1.0 - abw),
            SlFormula::AbandonsNegative => aw,
            SlFormula::AbandonsPositive => aw + abw,
            SlFormula::AnsweredOnly => ratio(aw, 1.0 - self.p_abandon),
            // Every offered call is answered or abandons in the model.
            SlFormula::AsteriskSl2 => aw + abw,
        };
        value.clamp(0.0, 1.0)
    }

    /// The fewest agents whose service level at `threshold` by `formula`
    /// reaches `target` (a share).
    pub fn agents_for(
        load: &Load,
        patience: Duration,
        target: f64,
        threshold: Duration,
        formula: SlFormula,
    ) -> Result<u32, ErlangError> {
        let meets = |n: u32| -> Result<bool, ErlangError> {
            Ok(ErlangA::new(load, n, patience, threshold)?.service_level(formula) >= target)
        };
        // Erlang C's answer is nearly always enough; search below it, and
        // walk up in the rare case it is not.
        let mut hi = ErlangC::agents_for(load, target, threshold)?;
        while !meets(hi)? {
            hi = hi.checked_add(1).ok_or(ErlangError::InvalidLoad("too many Erlangs"))?;
        }
        let mut lo = 0u32; // does not meet (no agents, nothing answered)
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if meets(mid)? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(hi)
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// The shares of offered calls that a waiting caller ends as answered, and as
/// abandoned, within `t` seconds, from the arrival distribution `q` over queue
/// positions. A caller at position j moves up at rate `service + j·theta` (the
/// head is answered at `service`) and abandons at `theta`; uniformisation at
/// rate Λ turns that into a Poisson number of jumps of a discrete chain.
fn within(q: &[f64], service: f64, theta: f64, t: f64) -> (f64, f64) {
    // Positions whose arrival mass is negligible are dropped from the chain.
    let total: f64 = q.iter().sum();
    let mut len = q.len();
    let mut dropped = 0.0;
    while len > 1 && dropped + q[len - 1] < total * 1e-15 {
        dropped += q[len - 1];
        len -= 1;
    }
    if total <= 0.0 || t <= 0.0 {
        return (0.0, 0.0);
    }
    let big = service + len as f64 * theta; // rate out of the last position, at most
    let lt = big * t;
    let mut p: Vec<f64> = q[..len].to_vec();
    let mut next = vec![0.0; len];
    let (mut served, mut abandoned) = (0.0f64, 0.0f64);
    let (mut served_t, mut abandoned_t) = (0.0f64, 0.0f64);
    let mut ln_w = -lt; // ln of the Poisson(lt) weight of m jumps
    let mut cumulative = 0.0f64;
    let max_jumps = (lt + 12.0 * lt.sqrt() + 60.0) as usize;
    for jumps in 0..=max_jumps {
        if jumps > 0 {
            ln_w += lt.ln() - (jumps as f64).ln();
            // One jump of the discrete chain.
            for j in 0..len {
                let r = service + j as f64 * theta;
                let stay = 1.0 - (r + theta) / big;
                let from_behind = if j + 1 < len {
                    p[j + 1] * (service + (j + 1) as f64 * theta) / big
                } else {
                    0.0
                };
                next[j] = p[j] * stay + from_behind;
                abandoned += p[j] * theta / big;
            }
            served += p[0] * service / big;
            std::mem::swap(&mut p, &mut next);
        }
        let w = ln_w.exp();
        served_t += w * served;
        abandoned_t += w * abandoned;
        cumulative += w;
        if jumps as f64 > lt && cumulative >= 1.0 - 1e-14 {
            break;
        }
    }
    (served_t, abandoned_t)
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
    fn erlang_a_tends_to_erlang_c_with_endless_patience() {
        let l = load(900.0, 240);
        let t = Duration::from_secs(20);
        let c = ErlangC::new(&l, 64, t);
        let a = ErlangA::new(&l, 64, Duration::from_secs(100_000_000), t).expect("solvable");
        assert!(close(a.p_wait, c.p_wait, 1e-4), "{} {}", a.p_wait, c.p_wait);
        assert!(close(a.answered_within, c.service_level, 1e-4));
        assert!(a.p_abandon < 1e-5);
        let asa_all = c.asa_secs.expect("stable");
        assert!(close(a.asa_secs, asa_all, 0.01), "{} {}", a.asa_secs, asa_all);
    }

    /// With patience equal to the handle time every caller in the system
    /// leaves at the same rate, so the number in the system is Poisson(A)
    /// like an infinite-server queue: an exact, independent check.
    #[test]
    fn erlang_a_with_patience_equal_to_aht_is_poisson() {
        let l = load(600.0, 180); // 30 Erlangs
        let n = 28u32;
        let f = ErlangA::new(&l, n, Duration::from_secs(180), Duration::from_secs(20)).expect("solvable");
        let a = l.erlangs();
        let mut pk = (-a).exp();
        let (mut below, mut mean_excess) = (0.0, 0.0);
        for k in 0..2000u32 {
            if k < n {
                below += pk;
            } else {
                mean_excess += f64::from(k - n) * pk;
            }
            pk *= a / f64::from(k + 1);
        }
        assert!(close(f.p_wait, 1.0 - below, 1e-10), "{} {}", f.p_wait, 1.0 - below);
        assert!(close(f.mean_queue, mean_excess, 1e-9));
        // Abandonment: theta E[queue] / lambda = E[excess] / A.
        assert!(close(f.p_abandon, mean_excess / a, 1e-10));
    }

    /// The shares within T against a direct simulation of the tagged
    /// caller's position chain with tiny time steps.
    #[test]
    fn erlang_a_within_t_matches_time_stepping() {
        let l = load(900.0, 240);
        let (n, patience, t) = (58u32, 60.0, 20.0);
        let f = ErlangA::new(&l, n, Duration::from_secs(60), Duration::from_secs(20)).expect("solvable");
        // Recompute the arrival distribution over positions the plain way.
        let (lambda, mu, theta) = (0.25, 1.0 / 240.0, 1.0 / patience);
        let mut w = vec![1.0f64];
        for k in 1..400u32 {
            let rate = f64::from(k.min(n)) * mu + f64::from(k.saturating_sub(n)) * theta;
            let prev = w[w.len() - 1];
            w.push(prev * lambda / rate);
        }
        let z: f64 = w.iter().sum();
        let mut p: Vec<f64> = w[n as usize..].iter().map(|x| x / z).collect();
        assert!(close(p.iter().sum::<f64>(), f.p_wait, 1e-9));
        let (mut served, mut abandoned) = (0.0, 0.0);
        let dt = 1e-3;
        let steps = (t / dt) as usize;
        let service = f64::from(n) * mu;
        for _ in 0..steps {
            // Heun's method on dp/dt.
            let deriv = |p: &[f64]| -> (Vec<f64>, f64, f64) {
                let mut d = vec![0.0; p.len()];
                let mut ab = 0.0;
                for j in 0..p.len() {
                    let r = service + j as f64 * theta;
                    d[j] -= p[j] * (r + theta);
                    if j + 1 < p.len() {
                        d[j] += p[j + 1] * (service + (j + 1) as f64 * theta);
                    }
                    ab += p[j] * theta;
                }
                (d, p[0] * service, ab)
            };
            let (d1, s1, a1) = deriv(&p);
            let guess: Vec<f64> = p.iter().zip(&d1).map(|(x, d)| x + dt * d).collect();
            let (d2, s2, a2) = deriv(&guess);
            for j in 0..p.len() {
                p[j] += dt / 2.0 * (d1[j] + d2[j]);
            }
            served += dt / 2.0 * (s1 + s2);
            abandoned += dt / 2.0 * (a1 + a2);
        }
        assert!(close(f.answered_within, 1.0 - f.p_wait + served, 1e-6));
        assert!(close(f.abandoned_within, abandoned, 1e-6));
    }

    #[test]
    fn erlang_a_needs_fewer_agents_than_erlang_c() {
        let l = load(900.0, 240);
        let t = Duration::from_secs(20);
        let c = ErlangC::agents_for(&l, 0.8, t).expect("agents");
        let a = ErlangA::agents_for(&l, Duration::from_secs(60), 0.8, t, SlFormula::AbandonsIgnored).expect("agents");
        assert!(a < c, "{a} {c}");
        let f = ErlangA::new(&l, a, Duration::from_secs(60), t).expect("solvable");
        assert!(f.service_level(SlFormula::AbandonsIgnored) >= 0.8);
        let below = ErlangA::new(&l, a - 1, Duration::from_secs(60), t).expect("solvable");
        assert!(below.service_level(SlFormula::AbandonsIgnored) < 0.8);
        // Overloaded: still solvable, most callers abandon.
        let over = ErlangA::new(&l, 40, Duration::from_secs(60), t).expect("solvable");
        assert!(over.p_abandon > 0.2 && over.p_abandon < 0.5, "{}", over.p_abandon);
        assert!(over.occupancy > 0.99);
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
