//! What the run measures, independently of the platform: HDR histograms of
//! set-up, answer time, one-way latency and jitter; counts by outcome and by
//! failure; one record per call; a sample of the load every second.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// How a call ended, as the caller saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered (by an agent when agents are simulated) and ended normally.
    Completed,
    /// The caller hung up waiting for an agent (patience ran out).
    Abandoned,
    /// Anything else: see the call's `failure`.
    Failed,
}

/// One call, as the tester saw it. Times are in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallRecord {
    /// The caller's number (From user).
    pub caller: String,
    /// When the INVITE went out, since the run's start.
    pub started_ms: f64,
    /// INVITE to the first 180.
    pub setup_180_ms: Option<f64>,
    /// INVITE to the 200.
    pub setup_200_ms: Option<f64>,
    /// The IVR's end, in Unix time (see docs/loadtest.md).
    pub ivr_end_unix_ms: Option<f64>,
    /// Whether the IVR's end was heard (the queue's audio, `queue_audio`)
    /// rather than taken from the last key.
    #[serde(default)]
    pub ivr_end_heard: bool,
    /// The agent's first audio at the caller, in Unix time.
    pub agent_audio_unix_ms: Option<f64>,
    /// Answer time: the IVR's end to the agent's first audio.
    pub answer_ms: Option<f64>,
    /// The agent who answered (the one that received this caller's call).
    pub agent: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it failed: a SIP code (`"503"`), `timeout`, `no_audio`, `bye_timeout`...
    pub failure: Option<String>,
    /// RTP lost / expected, caller's side (what the platform sent the caller).
    pub caller_lost: i64,
    /// RTP expected at the caller.
    pub caller_expected: u64,
}

/// Percentiles of one measure, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Smallest.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th.
    pub p95: f64,
    /// 99th.
    pub p99: f64,
    /// 99.9th.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

fn ms(micros: u64) -> f64 {
    // Three decimals: what the report prints, so JSON and HTML agree exactly.
    (micros as f64 / 1000.0 * 1000.0).round() / 1000.0
}

/// Rounds to three decimals.
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Percentiles {
    /// From a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            min: ms(h.min()),
            mean: round3(h.mean() / 1000.0),
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// One second of the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Second {
    /// Seconds since the start.
    pub t: f64,
    /// Calls started in this second.
    pub started: u64,
    /// Calls in progress at its end.
    pub concurrent: i64,
    /// Calls failed in this second.
    pub failed: u64,
    /// Calls ended (any outcome) in this second.
    pub ended: u64,
    /// p99 set-up (INVITE to 200) so far, ms.
    pub p99_setup_ms: f64,
    /// p99 answer time so far, ms.
    pub p99_answer_ms: f64,
}

pub(crate) fn histogram() -> Histogram<u64> {
    // 1 µs to 1 hour, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable_histogram()))
}

fn unreachable_histogram() -> Histogram<u64> {
    // new(3) cannot fail (3 significant digits are in range); satisfy the types.
    Histogram::new(2).unwrap_or_else(|e| panic!("hdrhistogram refused 2 significant digits: {e}"))
}

fn record(h: &mut Histogram<u64>, d: Duration) {
    let _ = h.record((d.as_micros() as u64).clamp(1, 3_600_000_000));
}

/// The histograms and counts, behind one lock taken once per call and once
/// per flush of latencies.
#[derive(Debug)]
pub(crate) struct Tallies {
    pub(crate) setup_180: Histogram<u64>,
    pub(crate) setup_200: Histogram<u64>,
    pub(crate) answer: Histogram<u64>,
    pub(crate) latency_to_caller: Histogram<u64>,
    pub(crate) latency_to_agent: Histogram<u64>,
    pub(crate) jitter: Histogram<u64>,
    pub(crate) failures: BTreeMap<String, u64>,
    pub(crate) completed: u64,
    pub(crate) abandoned: u64,
    pub(crate) failed: u64,
    pub(crate) rtp_expected: u64,
    pub(crate) rtp_sent: u64,
    pub(crate) rtp_scheduled: u64,
    pub(crate) rtp_lost: i64,
    pub(crate) calls: Vec<CallRecord>,
    /// Which agent took which caller's call.
    pub(crate) agent_of: BTreeMap<String, String>,
}

/// Shared by every call of a run.
#[derive(Debug)]
pub struct Collector {
    pub(crate) start: Instant,
    pub(crate) start_unix: Duration,
    pub(crate) tallies: Mutex<Tallies>,
    pub(crate) active: AtomicI64,
    pub(crate) started: AtomicU64,
    pub(crate) ended: AtomicU64,
    pub(crate) peak: AtomicI64,
}

impl Collector {
    pub(crate) fn new() -> Collector {
        Collector {
            start: Instant::now(),
            start_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default(),
            tallies: Mutex::new(Tallies {
                setup_180: histogram(),
                setup_200: histogram(),
                answer: histogram(),
                latency_to_caller: histogram(),
                latency_to_agent: histogram(),
                jitter: histogram(),
                failures: BTreeMap::new(),
                completed: 0,
                abandoned: 0,
                failed: 0,
                rtp_expected: 0,
                rtp_sent: 0,
                rtp_scheduled: 0,
                rtp_lost: 0,
                calls: Vec::new(),
                agent_of: BTreeMap::new(),
            }),
            active: AtomicI64::new(0),
            started: AtomicU64::new(0),
            ended: AtomicU64::new(0),
            peak: AtomicI64::new(0),
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Tallies> {
        self.tallies.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An instant as Unix milliseconds (through the run's start).
    pub(crate) fn unix_ms(&self, at: Instant) -> f64 {
        let since = at.saturating_duration_since(self.start);
        round3((self.start_unix + since).as_secs_f64() * 1000.0)
    }

    pub(crate) fn call_started(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
        let now = self.active.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    /// A caller's call is over.
    pub(crate) fn call_ended(&self, call: CallRecord, received: crate::rtp::Received, latencies: &[u64]) {
        let mut t = self.lock();
        let ms = |x: f64| Duration::from_secs_f64(x.max(0.0) / 1000.0);
        if let Some(x) = call.setup_180_ms {
            record(&mut t.setup_180, ms(x));
        }
        if let Some(x) = call.setup_200_ms {
            record(&mut t.setup_200, ms(x));
        }
        if let Some(x) = call.answer_ms {
            record(&mut t.answer, ms(x));
        }
        for l in latencies {
            let _ = t.latency_to_caller.record((*l).max(1));
        }
        if received.expected > 0 {
            record(&mut t.jitter, received.jitter);
        }
        t.rtp_expected += received.expected;
        t.rtp_lost += received.lost;
        t.rtp_sent += received.sent;
        t.rtp_scheduled += received.scheduled;
        match call.outcome {
            Outcome::Completed => t.completed += 1,
            Outcome::Abandoned => t.abandoned += 1,
            Outcome::Failed => {
                t.failed += 1;
                let why = call.failure.clone().unwrap_or_else(|| "unknown".into());
                *t.failures.entry(why).or_insert(0) += 1;
            }
        }
        t.calls.push(call);
        drop(t);
        self.active.fetch_sub(1, Ordering::Relaxed);
        self.ended.fetch_add(1, Ordering::Relaxed);
    }

    /// An agent's leg of a call is over.
    pub(crate) fn agent_leg_ended(
        &self,
        caller: Option<String>,
        agent: &str,
        received: crate::rtp::Received,
        latencies: &[u64],
    ) {
        let mut t = self.lock();
        for l in latencies {
            let _ = t.latency_to_agent.record((*l).max(1));
        }
        if received.expected > 0 {
            record(&mut t.jitter, received.jitter);
        }
        t.rtp_expected += received.expected;
        t.rtp_lost += received.lost;
        t.rtp_sent += received.sent;
        t.rtp_scheduled += received.scheduled;
        if let Some(caller) = caller {
            t.agent_of.insert(caller, agent.to_string());
        }
    }

    /// An agent's failure that no caller sees as such (registration refused...).
    pub(crate) fn agent_failure(&self, why: String) {
        let mut t = self.lock();
        *t.failures.entry(why).or_insert(0) += 1;
    }
}
