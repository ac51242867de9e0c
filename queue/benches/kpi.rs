//! KPI computation over a day of 100,000 call records.
//!
//! The day is generated deterministically (seeded): arrivals peaking at
//! midday over 8 queues in 3 languages, 750 agents taking calls in order of
//! who is free first, full timelines (arrival, IVR exit, queue entry, offer,
//! answer, bridge, first audio, talk end, hang-up, wrap-up end), 6%
//! abandons (a third of them short), 3% overflows into another queue, 2%
//! call-back requests, a survey on a quarter of the answered calls, callers
//! drawn from 60,000 numbers (so some call again), and the agents' state log.
//!
//! Run with `cargo bench -p queue --bench kpi`.

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use queue::kpi::{compute, compute_by, Filter, GroupBy, KpiSettings, Window};
use queue::record::{
    AgentStateKind, AgentStateRecord, CallRecord, End, Mark, Milestone, Party, SurveyAnswer, SurveyKind,
};
use queue::Millis;

const CALLS: usize = 100_000;
const AGENTS: usize = 750;
const QUEUES: [&str; 8] = [
    "sales", "support", "billing", "returns", "vip", "business", "tech", "general",
];
const LANGUAGES: [&str; 3] = ["en", "es", "fr"];
const DAY_MS: u64 = 24 * 3600 * 1000;

/// One day of call records and the agents' state log, both in time order.
fn day() -> (Vec<CallRecord>, Vec<AgentStateRecord>) {
    let mut rng = StdRng::seed_from_u64(2026);
    // Arrival times: a day-shaped density (more at midday), sorted.
    let mut arrivals: Vec<u64> = (0..CALLS)
        .map(|_| {
            let a: u64 = rng.gen_range(0..DAY_MS);
            let b: u64 = rng.gen_range(0..DAY_MS);
            (a + b) / 2
        })
        .collect();
    arrivals.sort_unstable();
    let agents: Vec<String> = (0..AGENTS).map(|i| format!("{}", 1000 + i)).collect();
    let mut free: BinaryHeap<Reverse<(u64, usize)>> = (0..AGENTS).map(|i| Reverse((0, i))).collect();
    let mut records = Vec::with_capacity(CALLS);
    let mut log = Vec::with_capacity(CALLS * 4);
    for (i, &arrival) in arrivals.iter().enumerate() {
        let mut marks = Vec::with_capacity(12);
        let mut mark = |at: u64, what: Milestone| marks.push(Mark { at: Millis(at), what });
        mark(arrival, Milestone::Arrival);
        let ivr_exit = arrival + rng.gen_range(5_000..40_000);
        mark(ivr_exit, Milestone::IvrExit);
        let mut queue = QUEUES[rng.gen_range(0..QUEUES.len())];
        let mut enqueued = ivr_exit + 50;
        mark(enqueued, Milestone::Enqueued { queue: queue.into() });
        let fate: u32 = rng.gen_range(0..100);
        let mut surveys = Vec::new();
        if fate < 3 {
            // Overflow to another queue after a while, then handled there.
            let at = enqueued + rng.gen_range(30_000..120_000);
            let to = QUEUES[rng.gen_range(0..QUEUES.len())];
            mark(
                at,
                Milestone::Overflowed {
                    queue: queue.into(),
                    to: format!("queue:{to}"),
                },
            );
            queue = to;
            enqueued = at + 10;
            mark(enqueued, Milestone::Enqueued { queue: queue.into() });
        }
        if (3..9).contains(&fate) {
            let wait = if fate < 5 {
                rng.gen_range(0..5_000)
            } else {
                rng.gen_range(5_000..180_000)
            };
            mark(enqueued + wait, Milestone::Abandoned { queue: queue.into() });
            mark(enqueued + wait, Milestone::HungUp { by: Party::Caller });
        } else if (9..11).contains(&fate) {
            let at = enqueued + rng.gen_range(20_000..90_000);
            mark(at, Milestone::CallbackRequested { queue: queue.into() });
            mark(at + 8_000, Milestone::HungUp { by: Party::Caller });
        } else {
            // The agent free first takes it.
            let Some(Reverse((free_at, agent))) = free.pop() else {
                unreachable!("there are agents")
            };
            let id = &agents[agent];
            let offered = enqueued.max(free_at);
            let answered = offered + rng.gen_range(1_500..8_000);
            let bridged = answered + rng.gen_range(20..200);
            let audio = bridged + rng.gen_range(20..300);
            let talk_end = bridged + rng.gen_range(60_000..480_000);
            let wrap_end = talk_end + rng.gen_range(5_000..60_000);
            mark(offered, Milestone::Offered { agent: id.clone() });
            mark(answered, Milestone::AgentAnswered { agent: id.clone() });
            mark(bridged, Milestone::Bridged { agent: id.clone() });
            mark(audio, Milestone::FirstAgentAudio { agent: id.clone() });
            mark(talk_end, Milestone::TalkEnded { agent: id.clone() });
            mark(
                talk_end,
                Milestone::HungUp {
                    by: if rng.gen_bool(0.5) { Party::Caller } else { Party::Agent },
                },
            );
            mark(wrap_end, Milestone::WrapUpEnded { agent: id.clone() });
            for (at, state) in [
                (offered, AgentStateKind::Ringing),
                (answered, AgentStateKind::OnCall),
                (talk_end, AgentStateKind::WrapUp),
                (wrap_end, AgentStateKind::Available),
            ] {
                log.push(AgentStateRecord {
                    agent: id.clone(),
                    at: Millis(at),
                    state,
                    reason: None,
                });
            }
            free.push(Reverse((wrap_end, agent)));
            if rng.gen_bool(0.25) {
                let (kind, score) = if rng.gen_bool(0.5) {
                    (SurveyKind::Csat, rng.gen_range(1..=5))
                } else {
                    (SurveyKind::Nps, rng.gen_range(0..=10))
                };
                surveys.push(SurveyAnswer {
                    kind,
                    score,
                    agent: Some(id.clone()),
                    at: Millis(wrap_end),
                });
            }
        }
        records.push(CallRecord {
            id: format!("c{i}"),
            caller: format!("+3460{:07}", rng.gen_range(0..60_000)),
            called: "100".into(),
            language: Some(LANGUAGES[rng.gen_range(0..LANGUAGES.len())].into()),
            marks,
            surveys,
            legs: Vec::new(),
            evaluations: Vec::new(),
            end: Some(End::Completed),
        });
    }
    log.sort_by_key(|r| r.at);
    // Copied in time order, as a store reading the log back would allocate it.
    let log = log.to_vec();
    (records, log)
}

fn bench(c: &mut Criterion) {
    let (records, log) = day();
    let window = Window {
        from: Millis(0),
        to: Millis(DAY_MS),
    };
    let settings = KpiSettings::default();
    let one = Filter {
        queue: Some("support".into()),
        ..Filter::default()
    };
    let mut group = c.benchmark_group("kpi_day_100k");
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    group.bench_function("compute_one_queue", |b| {
        b.iter(|| compute(black_box(&records), black_box(&log), window, &one, &settings))
    });
    group.bench_function("compute_all", |b| {
        b.iter(|| {
            compute(
                black_box(&records),
                black_box(&log),
                window,
                &Filter::default(),
                &settings,
            )
        })
    });
    group.bench_function("compute_by_queue", |b| {
        b.iter(|| compute_by(black_box(&records), black_box(&log), window, &settings, GroupBy::Queue))
    });
    group.bench_function("compute_by_agent", |b| {
        b.iter(|| compute_by(black_box(&records), black_box(&log), window, &settings, GroupBy::Agent))
    });
    group.finish();
    let all = compute(&records, &log, window, &Filter::default(), &settings);
    println!(
        "day: offered {} answered {} abandoned {} short {} SL {:?} ASA {:?} s occupancy {:?} repeat {:?}",
        all.offered,
        all.answered,
        all.abandoned,
        all.short_abandoned,
        all.service_level.iter().map(|s| s.value).collect::<Vec<_>>(),
        all.asa_secs,
        all.occupancy,
        all.repeat_rate
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
