//! The store's costs: how fast the writer thread takes call records, and
//! what a day's KPI report costs over a day of 100,000 stored records.
//!
//! `cargo bench -p switchboard --bench store`
//!
//! - `write/calls`: calls of about 9 commands each (start, 6 or 7 marks, end), sent
//!   through a [`StoreWriter`] and flushed: the writer thread's sustained
//!   rate, one transaction per batch, on a database that keeps growing.
//! - `write/send only`: the sender's side alone, what the switch's core task
//!   pays per call (the channel; the disk is the writer thread's).
//! - `day/*`: a database of two days of 100,000 calls each (8 marks per answered call, 7 per abandoned one,
//!   a survey on one call in ten, 4 agent state changes per answered call, 5 queues):
//!   reading one day's records; the agent log; and the whole of what
//!   `switchboard report --queue` does for a day: the records from 4 h
//!   before it (and the arrivals of the 24 h repeat window before those), the
//!   agent log, and the KPIs of one queue.
//!
//! The binary has no library target, so the store module is compiled into
//! this benchmark from its source file.

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

#[allow(dead_code, unreachable_pub, unused_imports)]
#[path = "../src/store/mod.rs"]
mod store;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use queue::kpi::{self, Filter, KpiSettings, Window};
use queue::record::{
    AgentStateKind, AgentStateRecord, CallRecord, End, Mark, Milestone, Party, SurveyAnswer, SurveyKind,
};
use queue::Millis;

use store::{Command, Store, StoreWriter, WriterOptions};

/// 2026-11-23T00:00:00Z.
const DAY0: Millis = Millis(1_795_392_000_000);
const DAY_MS: u64 = 86_400_000;
const CALLS_PER_DAY: u64 = 100_000;
const QUEUES: [&str; 5] = ["sales", "support", "billing", "retention", "en-general"];

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One call as the switch sends it: start, marks, end; plus the agent's
/// state changes. Answered (85 %), abandoned (10 %) or short
/// abandon (5 %).
fn call(rng: &mut Rng, n: u64, arrival: Millis) -> (Vec<Command>, Vec<AgentStateRecord>) {
    let id = format!("{}-{n}", arrival.0);
    let caller = format!("+4930{:07}", rng.below(60_000));
    let queue = QUEUES[rng.below(QUEUES.len() as u64) as usize].to_owned();
    let agent = format!("{}", 1000 + rng.below(200));
    let s = |secs: u64| arrival + Duration::from_secs(secs);
    let ivr = 5 + rng.below(40);
    let wait = rng.below(120);
    let talk = 30 + rng.below(400);
    let mut marks = vec![Milestone::IvrExit, Milestone::Enqueued { queue: queue.clone() }];
    let mut times = vec![s(ivr), s(ivr)];
    let mut states = Vec::new();
    let roll = rng.below(100);
    if roll < 85 {
        let answer = ivr + wait;
        let end = answer + talk;
        marks.extend([
            Milestone::Offered { agent: agent.clone() },
            Milestone::AgentAnswered { agent: agent.clone() },
            Milestone::Bridged { agent: agent.clone() },
            Milestone::TalkEnded { agent: agent.clone() },
            Milestone::HungUp { by: Party::Caller },
        ]);
        times.extend([s(answer - 3), s(answer), s(answer), s(end), s(end)]);
        for (at, state) in [
            (s(answer - 3), AgentStateKind::Ringing),
            (s(answer), AgentStateKind::OnCall),
            (s(end), AgentStateKind::WrapUp),
            (s(end + 20), AgentStateKind::Available),
        ] {
            states.push(AgentStateRecord {
                agent: agent.clone(),
                at,
                state,
                reason: None,
            });
        }
    } else {
        let gone = if roll < 95 { wait + 6 } else { rng.below(5) };
        marks.extend([
            Milestone::Offered { agent: agent.clone() },
            Milestone::OfferFailed { agent: agent.clone() },
            Milestone::Abandoned { queue: queue.clone() },
            Milestone::HungUp { by: Party::Caller },
        ]);
        times.extend([s(ivr + 1), s(ivr + 1 + gone / 2), s(ivr + gone), s(ivr + gone)]);
    }
    // With the arrival: 8 marks for an answered call, 7 for an abandoned one.
    let mut commands = vec![Command::CallStarted(CallRecord::arrived(
        id.clone(),
        caller,
        "100".into(),
        arrival,
    ))];
    for (what, at) in marks.into_iter().zip(times) {
        commands.push(Command::CallMarked {
            id: id.clone(),
            mark: Mark { at, what },
        });
    }
    if roll < 10 {
        commands.push(Command::Survey {
            id: id.clone(),
            answer: SurveyAnswer {
                kind: if roll < 5 { SurveyKind::Csat } else { SurveyKind::Nps },
                score: 1 + rng.below(5) as u32,
                agent: Some(agent.clone()),
                at: arrival + Duration::from_secs(ivr + wait + talk + 5),
            },
        });
    }
    commands.push(Command::CallEnded {
        id,
        end: End::Completed,
    });
    (commands, states)
}

fn send_all(writer: &StoreWriter, commands: Vec<Command>) {
    for c in commands {
        // The writer thread runs until the store is dropped.
        let _ = writer.send(c);
    }
}

fn write(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(dir.path().join("write.db")).expect("open");
    let (writer, _thread) = store.writer(WriterOptions::default()).expect("writer");
    let mut rng = Rng(0x5eed);
    let mut n = 0_u64;
    let mut group = c.benchmark_group("write");
    group.sample_size(10);
    const CALLS: u64 = 2_000;
    group.throughput(Throughput::Elements(CALLS));
    group.bench_function("calls", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let calls: Vec<Vec<Command>> = (0..CALLS)
                    .map(|_| {
                        n += 1;
                        call(&mut rng, n, DAY0 + Duration::from_millis(n * 40)).0
                    })
                    .collect();
                let start = Instant::now();
                for commands in calls {
                    send_all(&writer, commands);
                }
                writer.flush().expect("flush");
                total += start.elapsed();
            }
            total
        })
    });
    group.bench_function("send only", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let calls: Vec<Vec<Command>> = (0..CALLS)
                    .map(|_| {
                        n += 1;
                        call(&mut rng, n, DAY0 + Duration::from_millis(n * 40)).0
                    })
                    .collect();
                let start = Instant::now();
                for commands in calls {
                    send_all(&writer, commands);
                }
                total += start.elapsed();
                // Not measured: let the writer catch up before the next round.
                writer.flush().expect("flush");
            }
            total
        })
    });
    group.finish();
    let stats = writer.stats();
    eprintln!(
        "writer: {} commands in {} transactions ({:.0} per transaction), {} skipped",
        stats.written,
        stats.batches,
        stats.written as f64 / stats.batches.max(1) as f64,
        stats.skipped
    );
}

/// Two days of calls, written through the writer as the switch would.
fn two_days(path: &std::path::Path) -> Store {
    let store = Store::open(path).expect("open");
    let (writer, thread) = store.writer(WriterOptions::default()).expect("writer");
    let mut rng = Rng(42);
    let start = Instant::now();
    let mut agent_log = Vec::new();
    for n in 0..2 * CALLS_PER_DAY {
        // Evenly over the two days, in arrival order.
        let arrival = DAY0 + Duration::from_millis(n * DAY_MS / CALLS_PER_DAY);
        let (commands, states) = call(&mut rng, n, arrival);
        send_all(&writer, commands);
        agent_log.extend(states);
    }
    agent_log.sort_by_key(|s| s.at);
    for s in agent_log {
        let _ = writer.send(Command::AgentState(s));
    }
    let stats = thread.shutdown(Duration::from_secs(600)).expect("write two days");
    eprintln!(
        "two days of {} calls written in {:.1} s ({} commands, {} transactions)",
        2 * CALLS_PER_DAY,
        start.elapsed().as_secs_f64(),
        stats.written,
        stats.batches
    );
    store
}

/// The records `switchboard report` reads for a window: whole records from
/// 4 hours before it, and before those, the repeat window's arrivals.
fn report_records(store: &Store, window: Window, settings: &KpiSettings) -> Vec<CallRecord> {
    let whole_from = window.from - Duration::from_secs(4 * 3600);
    let mut records = store
        .arrivals(whole_from - settings.repeat_window, whole_from)
        .expect("read");
    records.extend(store.records_arrived(whole_from, window.to).expect("read"));
    records
}

fn day(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("days.db");
    drop(two_days(&path));
    if let Ok(meta) = std::fs::metadata(&path) {
        eprintln!("database: {:.0} MB", meta.len() as f64 / 1e6);
    }
    let store = Store::open_read_only(&path).expect("open read-only");
    // The second day.
    let window = Window {
        from: DAY0 + Duration::from_millis(DAY_MS),
        to: DAY0 + Duration::from_millis(2 * DAY_MS),
    };
    let settings = KpiSettings::default();
    let mut group = c.benchmark_group("day");
    group.sample_size(10);
    group.bench_function("read 100,000 records", |b| {
        b.iter(|| {
            let records = store.records_arrived(window.from, window.to).expect("read");
            assert_eq!(records.len() as u64, CALLS_PER_DAY);
            black_box(records)
        })
    });
    group.bench_function("read agent log", |b| {
        b.iter(|| black_box(store.agent_log(window.from, window.to).expect("read")))
    });
    let records = report_records(&store, window, &settings);
    let agent_log = store.agent_log(window.from, window.to).expect("read");
    let filter = Filter {
        queue: Some("sales".into()),
        ..Filter::default()
    };
    group.bench_function("kpi of one queue (records in memory)", |b| {
        b.iter(|| black_box(kpi::compute(&records, &agent_log, window, &filter, &settings)))
    });
    group.bench_function("report of one queue (read + kpi)", |b| {
        b.iter(|| {
            let records = report_records(&store, window, &settings);
            let agent_log = store.agent_log(window.from, window.to).expect("read");
            black_box(kpi::compute(&records, &agent_log, window, &filter, &settings))
        })
    });
    group.finish();
    let stats = kpi::compute(&records, &agent_log, window, &filter, &settings);
    eprintln!(
        "sales on day 2: offered {}, answered {}, abandoned {}, short {}",
        stats.offered, stats.answered, stats.abandoned, stats.short_abandoned
    );
}

criterion_group!(benches, write, day);
criterion_main!(benches);
