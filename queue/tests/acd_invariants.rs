//! Random event sequences against the ACD, with every invariant checked after
//! every step: agents log in and out, pause, lose their phones, ring out,
//! answer (early, late, twice), callers abandon at any moment, call-backs are
//! taken, dialled, fail and are restored, and stray events name calls and
//! agents that do not exist.
//!
//! The oracle follows the actions: it knows which offers are out, which calls
//! are queued or talking, and how each call ended, and compares that with
//! the snapshot and `call_status` after every step. At the end every caller
//! leaves and time runs past every timer: nothing may be left ringing, talking
//! or queued. `PROPTEST_CASES` raises the number of sequences.

mod acd_support;

use std::collections::{HashMap, HashSet};

use acd_support::*;
use proptest::prelude::*;
use queue::acd::{
    AcdConfig, Action, AgentConfig, CallStatus, Callback, CallbackConfig, CallbackId, Event, NoAnswerAction,
    OverflowRule, OverflowTarget, OverflowWhen, QueueConfig, Strategy as Routing,
};
use queue::record::AgentStateKind;

const AGENTS: [&str; 6] = ["a1", "a2", "a3", "a4", "a5", "a6"];
const QUEUES: [&str; 3] = ["q0", "q1", "q2"];
const SKILLS: [&[&str]; 5] = [
    &[],
    &["language:es"],
    &["language:en>=7"],
    &["language:fr"],
    &["language:es", "product:tv>=3"],
];

#[derive(Debug, Clone)]
enum Op {
    Login(u8),
    Logout(u8),
    Pause(u8, bool),
    Resume(u8),
    Reach(u8, bool),
    Enqueue { queue: u8, priority: i8, skills: u8 },
    EnqueueAgain(u16),
    Answer(u16),
    AnswerStray(u16, u8),
    Fail(u16, bool),
    FailStray(u16, u8, bool),
    CallerLeft(u16),
    AgentLeft(u16),
    StrayLeft(u16),
    EndWrapUp(u8),
    AcceptCallback(u16),
    Schedule(u8, u16),
    CallbackResult(u16, bool),
    CallbackConnected(u16),
    CallbackStray(u16, bool),
    Restore(u16),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    let a = 0u8..7; // index 6 is an agent nobody configured
    prop_oneof![
        3 => a.clone().prop_map(Op::Login),
        2 => a.clone().prop_map(Op::Logout),
        2 => (a.clone(), any::<bool>()).prop_map(|(a, b)| Op::Pause(a, b)),
        3 => a.clone().prop_map(Op::Resume),
        3 => (a.clone(), prop::bool::weighted(0.7)).prop_map(|(a, r)| Op::Reach(a, r)),
        10 => (0u8..4, -2i8..3, 0u8..5).prop_map(|(queue, priority, skills)| Op::Enqueue { queue, priority, skills }),
        1 => any::<u16>().prop_map(Op::EnqueueAgain),
        8 => any::<u16>().prop_map(Op::Answer),
        2 => (any::<u16>(), a.clone()).prop_map(|(c, a)| Op::AnswerStray(c, a)),
        3 => (any::<u16>(), any::<bool>()).prop_map(|(c, b)| Op::Fail(c, b)),
        1 => (any::<u16>(), a.clone(), any::<bool>()).prop_map(|(c, a, b)| Op::FailStray(c, a, b)),
        4 => any::<u16>().prop_map(Op::CallerLeft),
        4 => any::<u16>().prop_map(Op::AgentLeft),
        1 => any::<u16>().prop_map(Op::StrayLeft),
        2 => a.clone().prop_map(Op::EndWrapUp),
        2 => any::<u16>().prop_map(Op::AcceptCallback),
        1 => (0u8..4, any::<u16>()).prop_map(|(q, d)| Op::Schedule(q, d)),
        2 => (any::<u16>(), any::<bool>()).prop_map(|(c, b)| Op::CallbackResult(c, b)),
        2 => any::<u16>().prop_map(Op::CallbackConnected),
        1 => (any::<u16>(), any::<bool>()).prop_map(|(c, b)| Op::CallbackStray(c, b)),
        1 => any::<u16>().prop_map(Op::Restore),
        8 => any::<u16>().prop_map(Op::Advance),
    ]
}

fn config(strategy: Routing, seed: u64) -> AcdConfig {
    let rule = |when, to: &str| OverflowRule {
        when,
        target: to.parse::<OverflowTarget>().expect("a target"),
    };
    let callback = Some(CallbackConfig {
        offer_above_wait_secs: 30,
        max_attempts: 2,
        retry_after_secs: 20,
        dial_timeout_secs: 25,
        ..CallbackConfig::default()
    });
    let q0 = QueueConfig {
        strategy,
        wrap_up_secs: 3,
        ring_timeout_secs: 8,
        retry_secs: 2,
        max_length: Some(6),
        announce_every_secs: Some(10),
        relax_skills_after_secs: Some(40),
        overflow: vec![
            rule(OverflowWhen::MaxWait { secs: 90 }, "queue:q1"),
            rule(OverflowWhen::MaxLength { calls: None }, "queue:q2"),
        ],
        callback: callback.clone(),
        default_handle_secs: 20,
        ..queue("q0", &["a1", "a2", "a3", "a4"])
    };
    let q1 = QueueConfig {
        strategy: Routing::RingAll,
        wrap_up_secs: 0,
        ring_timeout_secs: 5,
        max_length: Some(4),
        overflow: vec![
            rule(OverflowWhen::NoAgents, "voicemail:q1"),
            rule(OverflowWhen::MaxWait { secs: 60 }, "queue:q0"),
        ],
        ..queue("q1", &["a3", "a4", "a5"])
    };
    let q2 = QueueConfig {
        strategy: Routing::Skills,
        wrap_up_secs: 1,
        ring_timeout_secs: 6,
        relax_skills_after_secs: Some(25),
        overflow: vec![rule(OverflowWhen::EstimatedWait { secs: 200 }, "hook:busy")],
        callback,
        ..queue("q2", &["a1", "a5", "a6"])
    };
    let skilled = |id: &str, skills: &[&str], no_answer| AgentConfig {
        skills: skills.iter().map(|s| s.to_string()).collect(),
        no_answer,
        ..AgentConfig::new(id)
    };
    AcdConfig {
        queues: vec![q0, q1, q2],
        agents: vec![
            skilled("a1", &["language:es=9", "product:tv=5"], NoAnswerAction::Pause),
            skilled("a2", &["language:en=8"], NoAnswerAction::Free),
            skilled("a3", &["language:es=4", "language:en=7"], NoAnswerAction::Pause),
            skilled("a4", &[], NoAnswerAction::Free),
            skilled("a5", &["language:fr", "product:tv=2"], NoAnswerAction::Pause),
            skilled("a6", &["language:es=6", "product:tv=8"], NoAnswerAction::Free),
        ],
        seed,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Assigned,
    Abandoned,
    Overflowed,
    Rejected,
    Callback,
}

/// What the actions say the ACD holds.
#[derive(Default)]
struct Oracle {
    queued: HashSet<u64>,
    talking: HashMap<u64, String>,
    offers: HashSet<(u64, String)>,
    gone_offers: Vec<(u64, String)>,
    outcomes: HashMap<u64, Outcome>,
    enqueued: Vec<u64>,
    dialled: HashMap<CallbackId, String>,
    cb_talking: HashMap<CallbackId, String>,
    stored: HashMap<CallbackId, Callback>,
    seen_callbacks: Vec<Callback>,
    /// Calls that ended since the last check.
    just_ended: Vec<u64>,
    next_call: u64,
}

fn pick<T: Clone>(items: &[T], i: u16) -> Option<T> {
    (!items.is_empty()).then(|| items[usize::from(i) % items.len()].clone())
}

fn sorted<T: Ord + Clone>(it: impl Iterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = it.collect();
    v.sort();
    v
}

fn agent_name(i: u8) -> String {
    AGENTS
        .get(usize::from(i))
        .map_or_else(|| "ghost".to_string(), |s| s.to_string())
}

impl Oracle {
    fn end(&mut self, call: u64, outcome: Outcome) {
        assert!(
            self.queued.remove(&call),
            "call {call} ended ({outcome:?}) but was not queued"
        );
        self.just_ended.push(call);
        let before = self.outcomes.insert(call, outcome);
        assert_eq!(before, None, "call {call} ended twice");
    }

    /// Turns an op into an event, from what is live now.
    fn event(&mut self, op: &Op, now: queue::Millis) -> Option<Event> {
        let offers = sorted(self.offers.iter().cloned());
        let talking = sorted(self.talking.keys().copied());
        let queued = sorted(self.queued.iter().copied());
        let dialled = sorted(self.dialled.keys().copied());
        Some(match op.clone() {
            Op::Login(a) => Event::Login { agent: agent_name(a) },
            Op::Logout(a) => Event::Logout { agent: agent_name(a) },
            Op::Pause(a, lunch) => Event::Pause {
                agent: agent_name(a),
                reason: if lunch { "lunch" } else { "training" }.into(),
            },
            Op::Resume(a) => Event::Resume { agent: agent_name(a) },
            Op::Reach(a, reachable) => Event::Reachable {
                agent: agent_name(a),
                reachable,
            },
            Op::Enqueue {
                queue,
                priority,
                skills,
            } => {
                self.next_call += 1;
                let call = self.next_call;
                self.queued.insert(call);
                self.enqueued.push(call);
                Event::Enqueue {
                    call,
                    queue: QUEUES.get(usize::from(queue)).unwrap_or(&"nowhere").to_string(),
                    priority: i32::from(priority),
                    skills: SKILLS[usize::from(skills)].iter().map(|s| s.to_string()).collect(),
                    caller: format!("caller{call}"),
                }
            }
            Op::EnqueueAgain(i) => {
                let live: Vec<u64> = queued.iter().chain(talking.iter()).copied().collect();
                Event::Enqueue {
                    call: pick(&live, i)?,
                    queue: "q0".into(),
                    priority: 9,
                    skills: vec![],
                    caller: "again".into(),
                }
            }
            Op::Answer(i) => {
                let (call, agent) = pick(&offers, i).or_else(|| pick(&self.gone_offers, i))?;
                Event::Answered { call, agent }
            }
            Op::AnswerStray(c, a) => Event::Answered {
                call: u64::from(c) % (self.next_call + 3),
                agent: agent_name(a),
            },
            Op::Fail(i, busy) => {
                let (call, agent) = pick(&offers, i)?;
                self.offers.remove(&(call, agent.clone()));
                self.gone_offers.push((call, agent.clone()));
                Event::OfferFailed { call, agent, busy }
            }
            Op::FailStray(c, a, busy) => {
                let (call, agent) = (u64::from(c) % (self.next_call + 3), agent_name(a));
                if self.offers.contains(&(call, agent.clone())) {
                    return None;
                }
                Event::OfferFailed { call, agent, busy }
            }
            Op::CallerLeft(i) => {
                let call = pick(&queued, i).or_else(|| pick(&talking, i))?;
                if self.talking.remove(&call).is_some() {
                    self.just_ended.push(call);
                }
                Event::CallerLeft { call }
            }
            Op::AgentLeft(i) => {
                let call = pick(&talking, i)?;
                self.talking.remove(&call);
                self.just_ended.push(call);
                Event::AgentLeft { call }
            }
            Op::StrayLeft(c) => {
                let call = u64::from(c) % (self.next_call + 3) + 1_000_000;
                Event::CallerLeft { call }
            }
            Op::EndWrapUp(a) => Event::EndWrapUp { agent: agent_name(a) },
            Op::AcceptCallback(i) => Event::AcceptCallback {
                call: pick(&queued, i).or_else(|| pick(&talking, i))?,
            },
            Op::Schedule(q, delay) => Event::ScheduleCallback {
                number: format!("sched{delay}"),
                queue: QUEUES.get(usize::from(q)).unwrap_or(&"nowhere").to_string(),
                at: now + std::time::Duration::from_millis(u64::from(delay) * 2),
                attributes: Default::default(),
            },
            Op::CallbackResult(i, answered) => {
                let callback = pick(&dialled, i).or_else(|| pick(&sorted(self.cb_talking.keys().copied()), i))?;
                Event::CallbackResult { callback, answered }
            }
            Op::CallbackConnected(i) => {
                let callback = pick(&dialled, i).or_else(|| pick(&sorted(self.cb_talking.keys().copied()), i))?;
                Event::CallbackConnected {
                    callback,
                    call: 5_000_000 + u64::from(i),
                }
            }
            Op::CallbackStray(i, answered) => Event::CallbackResult {
                callback: u64::from(i),
                answered,
            },
            Op::Restore(i) => Event::RestoreCallback(pick(&self.seen_callbacks, i)?),
            Op::Advance(_) => return None,
        })
    }

    /// Follows the actions of one step.
    fn follow(&mut self, event: Option<&Event>, actions: &[Action]) {
        for action in actions {
            match action {
                Action::Offer { call, agent, .. } => {
                    assert!(self.queued.contains(call), "offer of call {call}, not queued");
                    assert!(
                        !self.offers.iter().any(|(_, a)| a == agent) && !self.talking.values().any(|a| a == agent),
                        "{agent} offered {call} while busy"
                    );
                    self.offers.insert((*call, agent.clone()));
                }
                Action::CancelOffer { call, agent } => {
                    if self.offers.remove(&(*call, agent.clone())) {
                        self.gone_offers.push((*call, agent.clone()));
                    } else {
                        let late_answer = matches!(event,
                            Some(Event::Answered { call: c, agent: a }) if c == call && a == agent);
                        assert!(late_answer, "cancel of {call}/{agent}, which was not ringing");
                    }
                }
                Action::Assigned { call, agent } => {
                    if self.queued.contains(call) {
                        assert!(
                            matches!(event, Some(Event::Answered { call: c, agent: a }) if c == call && a == agent),
                            "assigned without the answer"
                        );
                        assert!(self.offers.remove(&(*call, agent.clone())), "assigned an offer not out");
                        self.end(*call, Outcome::Assigned);
                    } else {
                        assert!(matches!(event, Some(Event::CallbackConnected { call: c, .. }) if c == call));
                        self.cb_talking.retain(|_, a| a != agent);
                    }
                    assert!(
                        self.talking.insert(*call, agent.clone()).is_none(),
                        "call {call} assigned twice"
                    );
                }
                Action::Abandoned { call, .. } => {
                    assert!(matches!(event, Some(Event::CallerLeft { call: c }) if c == call));
                    self.end(*call, Outcome::Abandoned);
                }
                Action::Overflow { call, target, .. } => {
                    assert!(self.queued.contains(call), "overflow of call {call}, not queued");
                    if !matches!(target, OverflowTarget::Queue(_)) {
                        self.end(*call, Outcome::Overflowed);
                    }
                }
                Action::Rejected { call, .. } => {
                    if self.queued.contains(call) {
                        self.end(*call, Outcome::Rejected);
                    } else {
                        assert!(self.talking.contains_key(call), "rejection of unknown call {call}");
                    }
                }
                Action::Announce { call, position, .. } => {
                    assert!(self.queued.contains(call) && *position >= 1);
                }
                Action::OfferCallback { call, .. } => assert!(self.queued.contains(call)),
                Action::CallbackStored(cb) => {
                    if let Some(Event::AcceptCallback { call }) = event {
                        if self.queued.contains(call) && cb.number == format!("caller{call}") {
                            self.end(*call, Outcome::Callback);
                        }
                    }
                    self.dialled.remove(&cb.id);
                    self.stored.insert(cb.id, cb.clone());
                    self.seen_callbacks.push(cb.clone());
                }
                Action::CallbackRemoved { callback, placed } => {
                    self.stored.remove(callback);
                    let agent = self.dialled.remove(callback);
                    if *placed {
                        let agent = agent.expect("placed a call-back that was not dialled");
                        if !matches!(event, Some(Event::CallbackConnected { .. })) {
                            self.cb_talking.insert(*callback, agent);
                        }
                    }
                }
                Action::DialCallback { callback, agent } => {
                    assert!(
                        !self.offers.iter().any(|(_, a)| a == agent) && !self.talking.values().any(|a| a == agent),
                        "{agent} reserved while busy"
                    );
                    self.dialled.insert(callback.id, agent.clone());
                }
                Action::CallbackRefused { .. } | Action::AgentState { .. } => {}
                other => panic!("unexpected action {other:?}"),
            }
        }
        if let Some(Event::CallbackResult {
            callback,
            answered: false,
        }) = event
        {
            self.cb_talking.remove(callback);
        }
    }

    /// Compares the oracle with the ACD.
    fn check(&mut self, sim: &Sim) {
        let snap = sim.acd.snapshot(sim.now);
        let mut ringing_calls = 0;
        for a in &snap.agents {
            match a.state {
                AgentStateKind::Ringing => match (a.call, a.callback) {
                    (Some(c), None) => {
                        assert!(
                            self.offers.contains(&(c, a.id.clone())),
                            "{} rings for {c}, no offer out",
                            a.id
                        );
                        ringing_calls += 1;
                    }
                    (None, Some(id)) => assert_eq!(self.dialled.get(&id), Some(&a.id)),
                    other => panic!("{} ringing for {other:?}", a.id),
                },
                AgentStateKind::OnCall => match (a.call, a.callback) {
                    (Some(c), None) => assert_eq!(self.talking.get(&c), Some(&a.id), "{} on {c}", a.id),
                    (None, Some(id)) => assert_eq!(self.cb_talking.get(&id), Some(&a.id)),
                    other => panic!("{} on call with {other:?}", a.id),
                },
                _ => assert_eq!((a.call, a.callback), (None, None), "{} idle with a call", a.id),
            }
        }
        assert_eq!(ringing_calls, self.offers.len(), "offers out vs agents ringing");
        let on_calls = snap
            .agents
            .iter()
            .filter(|a| a.state == AgentStateKind::OnCall && a.call.is_some());
        assert_eq!(on_calls.count(), self.talking.len());
        let waiting: usize = snap.queues.iter().map(|q| q.waiting).sum();
        assert_eq!(waiting, self.queued.len(), "calls in line");
        // The calls alive, and those that just ended (the rest were checked when they ended).
        let mut calls: Vec<u64> = std::mem::take(&mut self.just_ended);
        calls.extend(self.queued.iter().chain(self.talking.keys()));
        for call in calls {
            let status = sim.acd.call_status(call);
            if self.queued.contains(&call) {
                assert!(
                    matches!(status, Some(CallStatus::Waiting { .. } | CallStatus::Ringing { .. })),
                    "{call}"
                );
            } else if let Some(agent) = self.talking.get(&call) {
                assert_eq!(status, Some(CallStatus::Talking { agent: agent.clone() }));
            } else {
                assert_eq!(status, None, "call {call} should be gone");
                let from_callback = call >= 5_000_000;
                assert!(from_callback || self.outcomes.contains_key(&call), "call {call} lost");
            }
        }
    }
}

fn run(strategy: Routing, seed: u64, ops: &[Op]) {
    let mut sim = Sim::with_config(config(strategy, seed));
    let mut oracle = Oracle::default();
    for op in ops {
        if let Op::Advance(n) = op {
            // Mostly short steps, sometimes a long quiet spell.
            let secs = if n % 16 == 0 {
                f64::from(*n % 200)
            } else {
                f64::from(n % 40) / 4.0
            };
            let end = sim.now + std::time::Duration::from_secs_f64(secs);
            while let Some(t) = sim.acd.poll_timeout().filter(|&t| t <= end) {
                let out = sim.advance((t.0 - sim.now.0) as f64 / 1000.0);
                oracle.follow(None, &out);
                oracle.check(&sim);
            }
            sim.now = end;
            continue;
        }
        let Some(event) = oracle.event(op, sim.now) else {
            continue;
        };
        let out = sim.ev(event.clone());
        oracle.follow(Some(&event), &out);
        oracle.check(&sim);
    }

    // Everyone hangs up, call-backs fail, and time runs out.
    for call in sorted(oracle.queued.iter().copied()) {
        let out = sim.ev(Event::CallerLeft { call });
        oracle.follow(Some(&Event::CallerLeft { call }), &out);
        oracle.check(&sim);
    }
    for call in sorted(oracle.talking.keys().copied()) {
        oracle.talking.remove(&call);
        let out = sim.ev(Event::CallerLeft { call });
        oracle.follow(Some(&Event::CallerLeft { call }), &out);
        oracle.check(&sim);
    }
    for callback in sorted(oracle.cb_talking.keys().copied()) {
        let e = Event::CallbackResult {
            callback,
            answered: false,
        };
        let out = sim.ev(e.clone());
        oracle.follow(Some(&e), &out);
        oracle.check(&sim);
    }
    let mut rounds = 0;
    while let Some(t) = sim.acd.poll_timeout() {
        rounds += 1;
        assert!(rounds < 10_000, "timers never run out");
        let out = sim.advance((t.0.saturating_sub(sim.now.0)) as f64 / 1000.0);
        oracle.follow(None, &out);
        oracle.check(&sim);
    }
    let snap = sim.acd.snapshot(sim.now);
    for a in &snap.agents {
        assert!(
            matches!(
                a.state,
                AgentStateKind::Available | AgentStateKind::Paused | AgentStateKind::LoggedOut
            ),
            "{} left {:?}",
            a.id,
            a.state
        );
    }
    for q in &snap.queues {
        assert_eq!((q.waiting, q.ringing), (0, 0), "queue {} still holds calls", q.name);
    }
    assert!(oracle.queued.is_empty() && oracle.offers.is_empty() && oracle.talking.is_empty());
    for &call in &oracle.enqueued {
        assert!(oracle.outcomes.contains_key(&call), "call {call} has no outcome");
        assert_eq!(sim.acd.call_status(call), None);
    }
}

const STRATEGIES: [Routing; 6] = [
    Routing::LongestIdle,
    Routing::RoundRobin,
    Routing::RingAll,
    Routing::FewestCalls,
    Routing::Random,
    Routing::Skills,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_every_invariant(
        strategy in 0usize..6,
        seed in any::<u64>(),
        ops in prop::collection::vec(op(), 1..250),
    ) {
        run(STRATEGIES[strategy], seed, &ops);
    }
}

/// A few long runs, seeded, for the states short sequences do not reach.
#[test]
fn long_seeded_runs_keep_every_invariant() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    for seed in 0..12u64 {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
        let mut runner = TestRunner::new_with_rng(Config::default(), rng);
        let ops = prop::collection::vec(op(), 5000)
            .new_tree(&mut runner)
            .expect("a sequence")
            .current();
        run(STRATEGIES[(seed % 6) as usize], seed, &ops);
    }
}
