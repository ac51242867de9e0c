//! Erlang A (M/M/n+M): callers with exponential patience, solved as a
//! birth-death chain (see the parent module).

use std::time::Duration;

use super::{ln_erlang_b, ErlangC, ErlangError, Load};
use crate::kpi::SlFormula;

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
    use crate::erlang::ErlangC;

    fn load(calls_per_hour: f64, aht_secs: u64) -> Load {
        Load::new(calls_per_hour, Duration::from_secs(aht_secs)).expect("valid load")
    }

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
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
}
