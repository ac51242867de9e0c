//! The driver: registers the agents, starts calls on the rate plan up to the
//! concurrency cap, samples the load every second (printing a progress line),
//! drains, and summarises; or, in a capacity search, steps the rate up until
//! a threshold breaks.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::measure::{round3, CallRecord, Collector, Percentiles, Second};
use crate::scenario::{Phase, Scenario};
use crate::thresholds::{Check, Thresholds};
use crate::{agent, caller, ua, Audio, Shared};

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// An audio file could not be loaded.
    #[error("audio {0}: {1}")]
    Audio(String, String),
    /// The SIP socket could not be bound.
    #[error("SIP socket: {0}")]
    Bind(std::io::Error),
    /// Agents did not register.
    #[error("agents did not register: {0}")]
    Register(String),
}

/// A capacity search: rates `start`, `start + step`, ... each held for
/// `step_secs`, until a threshold breaks or `max` is passed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Search {
    /// First rate (calls/s).
    pub start: f64,
    /// Increment (calls/s).
    pub step: f64,
    /// Duration of each step.
    pub step_secs: f64,
    /// Highest rate tried.
    pub max: f64,
}

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Print a progress line every second (to stderr).
    pub progress: bool,
    /// Pass/fail limits.
    pub thresholds: Thresholds,
    /// Run a capacity search instead of the scenario's phases.
    pub search: Option<Search>,
}

/// Totals of one measurement.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Seconds from the first call to the last end.
    pub duration_secs: f64,
    /// Calls started.
    pub started: u64,
    /// Calls completed.
    pub completed: u64,
    /// Calls abandoned by their caller's patience.
    pub abandoned: u64,
    /// Calls failed.
    pub failed: u64,
    /// failed / started, in percent.
    pub failed_percent: f64,
    /// Failures by reason (a SIP code, `timeout`...).
    pub failures: BTreeMap<String, u64>,
    /// Most calls in progress at once.
    pub peak_concurrent: i64,
    /// Calls started per second over the starting period.
    pub achieved_cps: f64,
    /// INVITE to 180.
    pub setup_180_ms: Percentiles,
    /// INVITE to 200.
    pub setup_200_ms: Percentiles,
    /// The IVR's end to the agent's first audio at the caller.
    pub answer_ms: Percentiles,
    /// One-way latency of the agent's audio to the caller.
    pub latency_to_caller_ms: Percentiles,
    /// One-way latency of the caller's audio to the agent.
    pub latency_to_agent_ms: Percentiles,
    /// RFC 3550 jitter at each stream's end.
    pub jitter_ms: Percentiles,
    /// RTP packets expected, all streams received.
    pub rtp_expected: u64,
    /// RTP packets lost.
    pub rtp_lost: i64,
    /// lost / expected, in percent.
    pub rtp_loss_percent: f64,
    /// RTP packets the tester's phones sent (callers and agents).
    #[serde(default)]
    pub rtp_sent: u64,
    /// Packets they should have sent, one per 20 ms of each stream; sent
    /// below it means the tester itself fell behind (short of CPU).
    #[serde(default)]
    pub rtp_scheduled: u64,
}

/// One histogram bar.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Bucket {
    /// Lower edge, ms.
    pub from_ms: f64,
    /// Upper edge, ms.
    pub to_ms: f64,
    /// Samples in it.
    pub count: u64,
}

/// One step of a capacity search.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Step {
    /// The rate offered.
    pub rate: f64,
    /// What it gave.
    pub summary: Summary,
    /// The limits against it.
    pub checks: Vec<Check>,
    /// Whether every limit held.
    pub passed: bool,
}

/// Everything a run found; written as JSON and shown in the report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Results {
    /// The scenario's name.
    pub scenario: String,
    /// The run's start, Unix ms.
    pub started_unix_ms: f64,
    /// The whole run (a search: its last step).
    pub summary: Summary,
    /// The answer-time distribution.
    pub answer_histogram: Vec<Bucket>,
    /// One sample per second.
    pub timeline: Vec<Second>,
    /// The limits against the summary.
    pub checks: Vec<Check>,
    /// Whether every limit held (in a search: whether a knee was found).
    pub passed: bool,
    /// A capacity search's steps.
    pub steps: Vec<Step>,
    /// The highest rate of a search that kept every limit.
    pub knee_cps: Option<f64>,
    /// Every call (of the summary's measurement).
    pub calls: Vec<CallRecord>,
}

/// Runs `scenario`.
pub async fn run(scenario: Scenario, options: RunOptions) -> Result<Results, RunError> {
    let caller_audio = Audio::load(&scenario.caller.audio, scenario.codec_pt())
        .map_err(|e| RunError::Audio(scenario.caller.audio.display().to_string(), e))?;
    let agent_audio = match &scenario.agents {
        Some(a) => Some(
            Audio::load(&a.audio, scenario.codec_pt())
                .map_err(|e| RunError::Audio(a.audio.display().to_string(), e))?,
        ),
        None => None,
    };
    let queue_signature = match &scenario.caller.queue_audio {
        Some(q) => {
            let lead = Duration::from_millis(q.lead_ms);
            match (&q.file, q.tone_hz) {
                (Some(file), _) => {
                    let name = file.display().to_string();
                    let audio = Audio::load(file, scenario.codec_pt()).map_err(|e| RunError::Audio(name.clone(), e))?;
                    let signature = crate::queue_start::QueueSignature::of_audio(&audio, lead)
                        .ok_or_else(|| RunError::Audio(name, "no frame above silence in its first 5 s".into()))?;
                    Some(signature)
                }
                (None, Some(hz)) => Some(crate::queue_start::QueueSignature::tone(hz, scenario.codec_pt(), lead)),
                (None, None) => None,
            }
        }
        None => None,
    };
    let agent_tone = scenario
        .agents
        .as_ref()
        .and_then(|a| a.webrtc.as_ref())
        .map(|w| crate::queue_start::QueueSignature::tone(w.tone_hz, scenario.codec_pt(), Duration::ZERO));
    let ua = ua::Ua::start(scenario.target.bind, scenario.target.sip)
        .await
        .map_err(RunError::Bind)?;
    let media_ip = ua.local.ip();
    let first = Arc::new(Collector::new());
    let shared = Arc::new(Shared {
        ua,
        scenario: scenario.clone(),
        caller_audio,
        agent_audio,
        queue_signature,
        agent_tone,
        media_ip,
        epoch: Instant::now(),
        collector: RwLock::new(first.clone()),
        next_caller: std::sync::atomic::AtomicU64::new(0),
    });

    // Agents first: calls need someone to answer.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut agents = Vec::new();
    let mut readies = Vec::new();
    if let Some(a) = &scenario.agents {
        for (ext, password) in a.accounts() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if a.webrtc.is_some() {
                let (shared, stop) = (shared.clone(), stop_rx.clone());
                agents.push(tokio::task::spawn_blocking(move || {
                    crate::webrtc_agent::agent(shared, ext, password, tx, stop)
                }));
            } else {
                agents.push(tokio::spawn(agent::agent(
                    shared.clone(),
                    ext,
                    password,
                    tx,
                    stop_rx.clone(),
                )));
            }
            readies.push(rx);
            // Spread registrations a little: a registrar under test is not the point.
            if agents.len() % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    for r in readies {
        let outcome = tokio::time::timeout(Duration::from_secs(40), r).await;
        let failure = match outcome {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(why))) => Some(why),
            Ok(Err(_)) => Some("agent task ended".into()),
            Err(_) => Some("no answer to REGISTER within 40 s".into()),
        };
        if let Some(why) = failure {
            let _ = stop_tx.send(true);
            return Err(RunError::Register(why));
        }
    }

    let timeline = Arc::new(Mutex::new(Vec::new()));
    let sampler = tokio::spawn(sample(
        shared.clone(),
        timeline.clone(),
        options.progress,
        Instant::now(),
    ));
    let mut results = match options.search {
        None => {
            let summary_of = measure_phases(&shared, first.clone(), &scenario.load.phases).await;
            let checks = options.thresholds.check(&summary_of);
            let passed = checks.iter().all(|c| c.passed);
            finish(&shared, &first, summary_of, checks, passed)
        }
        Some(search) => capacity_search(&shared, &options.thresholds, search).await,
    };
    sampler.abort();
    results.timeline = std::mem::take(&mut *timeline.lock().unwrap_or_else(PoisonError::into_inner));
    let _ = stop_tx.send(true);
    for a in agents {
        let _ = tokio::time::timeout(Duration::from_secs(5), a).await;
    }
    Ok(results)
}

fn finish(shared: &Shared, collector: &Collector, summary: Summary, checks: Vec<Check>, passed: bool) -> Results {
    let t = collector.lock();
    let answer_histogram = buckets(&t.answer);
    let mut calls = t.calls.clone();
    for c in &mut calls {
        c.agent = t.agent_of.get(&c.caller).cloned();
    }
    Results {
        scenario: shared.scenario.name.clone(),
        started_unix_ms: round3(collector.start_unix.as_secs_f64() * 1000.0),
        summary,
        answer_histogram,
        timeline: Vec::new(),
        checks,
        passed,
        steps: Vec::new(),
        knee_cps: None,
        calls,
    }
}

/// Up to 40 bars of equal width over the answer times.
fn buckets(h: &hdrhistogram::Histogram<u64>) -> Vec<Bucket> {
    if h.is_empty() {
        return Vec::new();
    }
    let (lo, hi) = (h.min(), h.max().max(h.min() + 1));
    let width = (hi - lo).div_ceil(40).max(1);
    let mut out = Vec::new();
    let mut from = lo;
    while from <= hi {
        let to = from + width;
        let count = h.count_between(from, to.saturating_sub(1).max(from));
        out.push(Bucket {
            from_ms: round3(from as f64 / 1000.0),
            to_ms: round3(to as f64 / 1000.0),
            count,
        });
        from = to;
    }
    out
}

/// Starts calls on `phases` into `collector`, then waits for them to end.
async fn measure_phases(shared: &Arc<Shared>, collector: Arc<Collector>, phases: &[Phase]) -> Summary {
    let load = crate::scenario::Load {
        phases: phases.to_vec(),
        ..shared.scenario.load.clone()
    };
    *shared.collector.write().unwrap_or_else(PoisonError::into_inner) = collector.clone();
    let start = Instant::now();
    let end = start + load.duration();
    let mut started = 0u64;
    let max_calls = load.max_calls.unwrap_or(u64::MAX);
    let mut last_start = start;
    while Instant::now() < end && started < max_calls {
        let due = load.calls_due(start.elapsed()).floor() as u64;
        while started < due.min(max_calls) {
            if collector.active.load(Ordering::Relaxed) >= load.max_concurrent as i64 {
                break; // held back until a call ends
            }
            started += 1;
            last_start = Instant::now();
            let index = shared.next_caller.fetch_add(1, Ordering::Relaxed) + 1;
            tokio::spawn(caller::call(shared.clone(), collector.clone(), index));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let starting = last_start.saturating_duration_since(start).as_secs_f64().max(1e-3);
    let drain_until = Instant::now() + Duration::from_secs_f64(load.drain_secs.max(0.0));
    while collector.active.load(Ordering::Relaxed) > 0 && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let agents finish their legs (their BYE answers) before the summary.
    tokio::time::sleep(Duration::from_millis(100)).await;
    summarise(&collector, start, started, starting)
}

fn summarise(collector: &Collector, start: Instant, started: u64, starting_secs: f64) -> Summary {
    let t = collector.lock();
    let failed_percent = if started == 0 {
        0.0
    } else {
        round3(t.failed as f64 * 100.0 / started as f64)
    };
    let rtp_loss_percent = if t.rtp_expected == 0 {
        0.0
    } else {
        round3(t.rtp_lost.max(0) as f64 * 100.0 / t.rtp_expected as f64)
    };
    Summary {
        duration_secs: round3(start.elapsed().as_secs_f64()),
        started,
        completed: t.completed,
        abandoned: t.abandoned,
        failed: t.failed + started.saturating_sub(t.completed + t.abandoned + t.failed),
        failed_percent,
        failures: t.failures.clone(),
        peak_concurrent: collector.peak.load(Ordering::Relaxed),
        achieved_cps: if started <= 1 {
            started as f64
        } else {
            round3((started - 1) as f64 / starting_secs)
        },
        setup_180_ms: Percentiles::of(&t.setup_180),
        setup_200_ms: Percentiles::of(&t.setup_200),
        answer_ms: Percentiles::of(&t.answer),
        latency_to_caller_ms: Percentiles::of(&t.latency_to_caller),
        latency_to_agent_ms: Percentiles::of(&t.latency_to_agent),
        jitter_ms: Percentiles::of(&t.jitter),
        rtp_expected: t.rtp_expected,
        rtp_lost: t.rtp_lost,
        rtp_loss_percent,
        rtp_sent: t.rtp_sent,
        rtp_scheduled: t.rtp_scheduled,
    }
}

async fn capacity_search(shared: &Arc<Shared>, thresholds: &Thresholds, search: Search) -> Results {
    let mut steps = Vec::new();
    let mut rate = search.start.max(0.1);
    let mut last: Option<(Arc<Collector>, Summary, Vec<Check>)> = None;
    let mut knee = None;
    while rate <= search.max + 1e-9 {
        let collector = Arc::new(Collector::new());
        let phase = Phase {
            rate,
            to_rate: None,
            secs: search.step_secs,
        };
        let summary = measure_phases(shared, collector.clone(), &[phase]).await;
        let checks = thresholds.check(&summary);
        let passed = checks.iter().all(|c| c.passed);
        steps.push(Step {
            rate,
            summary: summary.clone(),
            checks: checks.clone(),
            passed,
        });
        last = Some((collector, summary, checks));
        if !passed {
            break;
        }
        knee = Some(rate);
        rate += search.step.max(0.1);
    }
    let Some((collector, summary, checks)) = last else {
        let c = Collector::new();
        let mut r = finish(shared, &c, Summary::default(), Vec::new(), false);
        r.steps = steps;
        return r;
    };
    let mut r = finish(shared, &collector, summary, checks, knee.is_some());
    r.steps = steps;
    r.knee_cps = knee;
    r
}

/// Every second: a sample for the timeline and, if asked, a progress line.
async fn sample(shared: Arc<Shared>, timeline: Arc<Mutex<Vec<Second>>>, progress: bool, start: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut previous: Option<(Arc<Collector>, u64, u64, u64)> = None;
    loop {
        tick.tick().await;
        let c = shared.collector();
        let (started, ended) = (c.started.load(Ordering::Relaxed), c.ended.load(Ordering::Relaxed));
        let (failed, p99_setup, p99_answer, p99_latency) = {
            let t = c.lock();
            let p = |h: &hdrhistogram::Histogram<u64>| {
                if h.is_empty() {
                    0.0
                } else {
                    round3(h.value_at_quantile(0.99) as f64 / 1000.0)
                }
            };
            (t.failed, p(&t.setup_200), p(&t.answer), p(&t.latency_to_caller))
        };
        let (s0, e0, f0) = match &previous {
            Some((pc, s, e, f)) if Arc::ptr_eq(pc, &c) => (*s, *e, *f),
            _ => (0, 0, 0),
        };
        let second = Second {
            t: round3(start.elapsed().as_secs_f64()),
            started: started - s0,
            concurrent: c.active.load(Ordering::Relaxed),
            failed: failed.saturating_sub(f0),
            ended: ended.saturating_sub(e0),
            p99_setup_ms: p99_setup,
            p99_answer_ms: p99_answer,
        };
        if progress {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "{:>6.0}s  rate {:>5}/s  concurrent {:>5}  ended {:>7}  failed {:>5}  p99 set-up {:>8.1} ms  answer {:>9.1} ms  latency {:>6.1} ms",
                second.t, second.started, second.concurrent, ended, failed, p99_setup, p99_answer, p99_latency
            );
        }
        timeline.lock().unwrap_or_else(PoisonError::into_inner).push(second);
        previous = Some((c, started, ended, failed));
    }
}
