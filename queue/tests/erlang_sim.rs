//! A seeded simulation of a centre against Erlang C: Poisson arrivals,
//! exponential handle times, no abandons, one queue of `n` agents who answer
//! at once and have no wrap-up, 100,000 calls per load level, in virtual
//! time. The calls go through the real ACD ([`queue::acd::Acd`]); their call
//! records (enqueue, bridge, talk end, hang-up) are built from its offers,
//! and the service level is computed from them by [`queue::kpi::compute`],
//! the code the wallboard and `switchboard report` run.
//!
//! How precise 100,000 calls are depends on the load, because waits come in
//! congested stretches, not one call at a time. Over 12 seeds per level, the
//! measured SL(20 s) spread around Erlang C with these standard deviations:
//!
//! | agents | occupancy | Erlang C SL(20 s) | sd of the measured SL | sd, load-adjusted |
//! |---|---|---|---|---|
//! | 20 | 60% | 99.0% | 0.13 pp | 0.15 pp |
//! | 20 | 70% | 95.2% | 0.30 pp | 0.29 pp |
//! | 50 | 75% | 99.2% | 0.23 pp | 0.22 pp |
//! | 20 | 85% | 72.4% | 1.1 pp | 0.89 pp |
//! | 20 | 92% | 47.4% | 2.6 pp | 0.74 pp |
//!
//! So the first three levels are held to 1 percentage point (three standard
//! deviations or more). At 85% and 92% a 1-point check would pass or fail by
//! the seed; there the measured SL is corrected for the load the run
//! actually drew (its arrival count and handle times, which are inputs the
//! ACD cannot influence): measured minus the change Erlang C predicts from
//! the nominal to the drawn load, held to 3 points (over three standard
//! deviations), and the raw figure is printed beside it.
#![allow(clippy::unwrap_used)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use queue::acd::{Acd, AcdConfig, Action, AgentConfig, Event, QueueConfig};
use queue::erlang::{ErlangC, Load};
use queue::kpi::{compute, Filter, KpiSettings, Window};
use queue::record::{CallRecord, End, Milestone, Party};
use queue::Millis;

const CALLS: usize = 100_000;
const AHT: Duration = Duration::from_secs(180);
const T: Duration = Duration::from_secs(20);
const QUEUE: &str = "q";

/// A time `mean` long on average, exponentially distributed, in milliseconds.
fn exponential(rng: &mut StdRng, mean_ms: f64) -> u64 {
    let u: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
    (-u.ln() * mean_ms).round() as u64
}

/// The records of `CALLS` calls at `calls_per_hour` through an ACD with
/// `n` agents, and the offered load in Erlangs the run drew.
fn simulate(n: u32, calls_per_hour: f64, seed: u64) -> (Vec<CallRecord>, f64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let agents: Vec<String> = (0..n).map(|i| format!("{}", 1001 + i)).collect();
    let mut queue = QueueConfig::new(QUEUE);
    queue.agents = agents.clone();
    queue.wrap_up_secs = 0;
    let config = AcdConfig {
        queues: vec![queue],
        agents: agents.iter().map(AgentConfig::new).collect(),
        ..AcdConfig::default()
    };
    let start = Millis(1_000_000);
    let mut now = start;
    let mut acd = Acd::new(config, now);
    for agent in &agents {
        acd.handle(
            Event::Reachable {
                agent: agent.clone(),
                reachable: true,
            },
            now,
        );
    }
    let mean_gap_ms = 3_600_000.0 / calls_per_hour;
    let aht_ms = AHT.as_secs_f64() * 1000.0;
    let mut records: Vec<CallRecord> = Vec::with_capacity(CALLS);
    let mut next_arrival = Some(now + Duration::from_millis(exponential(&mut rng, mean_gap_ms)));
    // Talks in progress: (end, call, agent).
    let (mut handle_ms, mut last_arrival) = (0u64, start);
    let mut talks: BinaryHeap<Reverse<(Millis, u64, usize)>> = BinaryHeap::new();
    loop {
        // Answer every offer at once; an answer starts the talk.
        while let Some(action) = acd.poll_action() {
            if let Action::Offer { call, agent, .. } = action {
                let record = &mut records[call as usize];
                record.mark(now, Milestone::Bridged { agent: agent.clone() });
                let talk = exponential(&mut rng, aht_ms);
                handle_ms += talk;
                let end = now + Duration::from_millis(talk);
                let ax = agents.iter().position(|a| *a == agent).unwrap();
                acd.handle(Event::Answered { call, agent }, now);
                talks.push(Reverse((end, call, ax)));
            }
        }
        let talk_end = talks.peek().map(|Reverse((end, _, _))| *end);
        let timeout = acd.poll_timeout();
        let next = [next_arrival, talk_end, timeout].into_iter().flatten().min();
        let Some(next) = next else { break };
        now = next;
        if talk_end == Some(now) {
            let Some(Reverse((_, call, ax))) = talks.pop() else {
                unreachable!()
            };
            let record = &mut records[call as usize];
            record.mark(
                now,
                Milestone::TalkEnded {
                    agent: agents[ax].clone(),
                },
            );
            record.mark(now, Milestone::HungUp { by: Party::Agent });
            record.end = Some(End::Completed);
            acd.handle(Event::AgentLeft { call }, now);
        } else if next_arrival == Some(now) {
            let call = records.len() as u64;
            last_arrival = now;
            let mut record = CallRecord::arrived(format!("sim-{call}"), format!("+1{call:09}"), "100".into(), now);
            record.mark(now, Milestone::Enqueued { queue: QUEUE.into() });
            records.push(record);
            acd.handle(
                Event::Enqueue {
                    call,
                    queue: QUEUE.into(),
                    priority: 0,
                    skills: Vec::new(),
                    caller: String::new(),
                },
                now,
            );
            next_arrival =
                (records.len() < CALLS).then(|| now + Duration::from_millis(exponential(&mut rng, mean_gap_ms)));
        } else {
            acd.handle_timeout(now);
        }
    }
    // Arrivals per millisecond over the arrival span, times the mean handle time.
    let drawn = CALLS as f64 / (last_arrival.0 - start.0) as f64 * (handle_ms as f64 / CALLS as f64);
    (records, drawn)
}

/// What a load level must show.
#[derive(Clone, Copy)]
enum Check {
    /// The measured SL within 1 point of Erlang C.
    Measured,
    /// The SL corrected for the drawn load within 3 points of Erlang C.
    LoadAdjusted,
}

fn level(agents: u32, occupancy: f64, seed: u64, check: Check) {
    let started = Instant::now();
    let erlangs = occupancy * f64::from(agents);
    let calls_per_hour = erlangs * 3600.0 / AHT.as_secs_f64();
    let load = Load::new(calls_per_hour, AHT).unwrap();
    let predicted = ErlangC::new(&load, agents, T);
    let (records, drawn) = simulate(agents, calls_per_hour, seed);
    assert_eq!(records.len(), CALLS);
    let settings = KpiSettings {
        thresholds: vec![T],
        ..KpiSettings::default()
    };
    let window = Window {
        from: Millis(0),
        to: Millis(u64::MAX),
    };
    let stats = compute(&records, &[], window, &Filter::default(), &settings);
    assert_eq!(
        (stats.offered, stats.answered, stats.waiting),
        (CALLS as u64, CALLS as u64, 0)
    );
    assert_eq!(stats.abandoned, 0);
    let measured = stats.service_level[0].value.unwrap();
    let drawn_load = Load::new(drawn * 3600.0 / AHT.as_secs_f64(), AHT).unwrap();
    let adjusted = measured - (ErlangC::new(&drawn_load, agents, T).service_level - predicted.service_level);
    println!(
        "{agents} agents, {erlangs:.1} Erlangs (occupancy {:.0}%, drawn {drawn:.2} Erlangs): SL(20 s) measured \
         {:.2}%, load-adjusted {:.2}%, Erlang C {:.2}%; ASA measured {:.1} s, Erlang C {:.1} s; {:.2} s",
        occupancy * 100.0,
        measured * 100.0,
        adjusted * 100.0,
        predicted.service_level * 100.0,
        stats.asa_secs.unwrap(),
        predicted.asa_secs.unwrap(),
        started.elapsed().as_secs_f64(),
    );
    let (value, tolerance) = match check {
        Check::Measured => (measured, 0.01),
        Check::LoadAdjusted => (adjusted, 0.03),
    };
    assert!(
        (value - predicted.service_level).abs() < tolerance,
        "{agents} agents at {erlangs} Erlangs: SL {value} (measured {measured}), Erlang C {}",
        predicted.service_level
    );
}

#[test]
fn occupancy_60_percent() {
    level(20, 0.60, 1, Check::Measured);
}

#[test]
fn occupancy_70_percent() {
    level(20, 0.70, 2, Check::Measured);
}

#[test]
fn occupancy_75_percent_larger_centre() {
    level(50, 0.75, 3, Check::Measured);
}

#[test]
fn occupancy_85_percent() {
    level(20, 0.85, 4, Check::LoadAdjusted);
}

#[test]
fn occupancy_92_percent() {
    level(20, 0.92, 5, Check::LoadAdjusted);
}
