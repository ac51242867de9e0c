//! The ACD's routing decision at contact-centre scale.
//!
//! - `agent_freed/*`: 1,000 agents all on calls, 10,000 calls waiting over 4
//!   queues (each agent a member of 2); an agent hangs up (no wrap-up) and the
//!   ACD picks its next call across its queues and offers it. Timed: the
//!   `AgentLeft` event and nothing else (answering the offer and topping the
//!   line back up to 10,000 are done between timings).
//! - `call_enqueued/*`: 1,000 available agents in one queue; a call arrives
//!   and is offered to one of them. Timed: the `Enqueue` event; the caller
//!   then hangs up, untimed, which frees the agent again.
//!
//! The `skills` cases use 6 languages and 3 products: each agent has 3
//! languages and a product at random levels, each call one or two
//! requirements (a language, sometimes with a minimum level, sometimes a
//! product too).
//!
//! Run with `cargo bench -p queue --bench routing`.

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

use queue::acd::{Acd, AcdConfig, Action, AgentConfig, CallId, Event, QueueConfig, Strategy};
use queue::Millis;

const AGENTS: usize = 1_000;
const WAITING: usize = 10_000;
const QUEUES: usize = 4;
const LANGUAGES: [&str; 6] = ["en", "es", "fr", "de", "it", "pt"];
const PRODUCTS: [&str; 3] = ["tv", "mobile", "broadband"];
const T0: Millis = Millis(1_700_000_000_000);

/// A small seeded generator (xorshift64*), so runs repeat.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

fn agent_skills(rng: &mut Rng) -> Vec<String> {
    let mut skills = Vec::new();
    let first = rng.below(LANGUAGES.len());
    for k in 0..3 {
        let lang = LANGUAGES[(first + k * 2) % LANGUAGES.len()];
        skills.push(format!("language:{lang}={}", 1 + rng.below(10)));
    }
    skills.push(format!(
        "product:{}={}",
        PRODUCTS[rng.below(PRODUCTS.len())],
        1 + rng.below(10)
    ));
    skills
}

fn call_skills(rng: &mut Rng) -> Vec<String> {
    let lang = LANGUAGES[rng.below(LANGUAGES.len())];
    let mut reqs = vec![match rng.below(3) {
        0 => format!("language:{lang}>=5"),
        _ => format!("language:{lang}"),
    }];
    if rng.below(4) == 0 {
        reqs.push(format!("product:{}", PRODUCTS[rng.below(PRODUCTS.len())]));
    }
    reqs
}

/// An ACD with `queues` queues of `strategy`; agent i is a member of queues
/// i % queues and (i + 1) % queues. Every agent is logged in and reachable.
fn acd(strategy: Strategy, queues: usize, rng: &mut Rng) -> Acd {
    let skills = strategy == Strategy::Skills;
    let agents: Vec<AgentConfig> = (0..AGENTS)
        .map(|i| AgentConfig {
            skills: if skills { agent_skills(rng) } else { Vec::new() },
            ..AgentConfig::new(format!("{}", 1000 + i))
        })
        .collect();
    let queues: Vec<QueueConfig> = (0..queues)
        .map(|q| QueueConfig {
            strategy,
            wrap_up_secs: 0,
            agents: (0..AGENTS)
                .filter(|i| i % queues == q || (i + 1) % queues == q)
                .map(|i| format!("{}", 1000 + i))
                .collect(),
            ..QueueConfig::new(format!("q{q}"))
        })
        .collect();
    let mut acd = Acd::new(
        AcdConfig {
            queues,
            agents,
            ..AcdConfig::default()
        },
        T0,
    );
    for i in 0..AGENTS {
        acd.handle(
            Event::Reachable {
                agent: format!("{}", 1000 + i),
                reachable: true,
            },
            T0,
        );
    }
    while acd.poll_action().is_some() {}
    acd
}

/// Answers every offer in the actions; returns how many calls were answered.
fn answer_offers(acd: &mut Acd, now: Millis, talking: &mut Vec<CallId>) {
    let mut offers = Vec::new();
    while let Some(a) = acd.poll_action() {
        if let Action::Offer { call, agent, .. } = a {
            offers.push((call, agent));
        }
    }
    for (call, agent) in offers {
        acd.handle(Event::Answered { call, agent }, now);
        talking.push(call);
        while acd.poll_action().is_some() {}
    }
}

fn enqueue(call: CallId, queue: usize, skills: Vec<String>) -> Event {
    Event::Enqueue {
        call,
        queue: format!("q{queue}"),
        priority: 0,
        skills,
        caller: "+34600000000".to_string(),
    }
}

fn agent_freed(c: &mut Criterion, name: &str, strategy: Strategy) {
    let mut rng = Rng(0x5EED_0001);
    let mut acd = acd(strategy, QUEUES, &mut rng);
    let skills = strategy == Strategy::Skills;
    let mut now = T0;
    let mut next_call: CallId = 1;
    let mut talking = Vec::new();
    // Every agent on a call, then 10,000 calls in line.
    while talking.len() < AGENTS {
        let reqs = if skills { call_skills(&mut rng) } else { Vec::new() };
        acd.handle(enqueue(next_call, rng.below(QUEUES), reqs), now);
        next_call += 1;
        answer_offers(&mut acd, now, &mut talking);
    }
    for _ in 0..WAITING {
        now = now + Duration::from_millis(1);
        let reqs = if skills { call_skills(&mut rng) } else { Vec::new() };
        acd.handle(enqueue(next_call, rng.below(QUEUES), reqs), now);
        next_call += 1;
        while acd.poll_action().is_some() {}
    }
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                now = now + Duration::from_millis(1);
                let i = rng.below(talking.len());
                let call = talking.swap_remove(i);
                let event = Event::AgentLeft { call };
                let start = Instant::now();
                acd.handle(black_box(event), now);
                total += start.elapsed();
                answer_offers(&mut acd, now, &mut talking);
                // Keep the line at 10,000.
                let reqs = if skills { call_skills(&mut rng) } else { Vec::new() };
                acd.handle(enqueue(next_call, rng.below(QUEUES), reqs), now);
                next_call += 1;
                answer_offers(&mut acd, now, &mut talking);
            }
            total
        })
    });
    let snap = acd.snapshot(now);
    let waiting: usize = snap.queues.iter().map(|q| q.waiting).sum();
    assert!(waiting + 5 >= WAITING, "the line stayed full ({waiting})");
}

fn call_enqueued(c: &mut Criterion, name: &str, strategy: Strategy) {
    let mut rng = Rng(0x5EED_0002);
    let mut acd = acd(strategy, 1, &mut rng);
    let skills = strategy == Strategy::Skills;
    let mut now = T0;
    let mut next_call: CallId = 1;
    let mut missed = 0u64;
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                now = now + Duration::from_millis(1);
                let reqs = if skills { call_skills(&mut rng) } else { Vec::new() };
                let event = enqueue(next_call, 0, reqs);
                let start = Instant::now();
                acd.handle(black_box(event), now);
                total += start.elapsed();
                let mut offered = false;
                while let Some(a) = acd.poll_action() {
                    offered |= matches!(a, Action::Offer { .. });
                }
                missed += u64::from(!offered);
                acd.handle(Event::CallerLeft { call: next_call }, now);
                while acd.poll_action().is_some() {}
                next_call += 1;
            }
            total
        })
    });
    assert!(
        missed * 20 < next_call,
        "most calls found an agent ({missed} of {next_call} did not)"
    );
}

fn routing(c: &mut Criterion) {
    agent_freed(c, "agent_freed/longest_idle", Strategy::LongestIdle);
    agent_freed(c, "agent_freed/skills", Strategy::Skills);
    call_enqueued(c, "call_enqueued/longest_idle", Strategy::LongestIdle);
    call_enqueued(c, "call_enqueued/round_robin", Strategy::RoundRobin);
    call_enqueued(c, "call_enqueued/fewest_calls", Strategy::FewestCalls);
    call_enqueued(c, "call_enqueued/random", Strategy::Random);
    call_enqueued(c, "call_enqueued/skills", Strategy::Skills);
}

criterion_group!(benches, routing);
criterion_main!(benches);
