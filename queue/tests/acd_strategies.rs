//! Routing strategies, priority, skills and their relaxation, in virtual time.

mod acd_support;

use acd_support::*;
use queue::acd::{AcdConfig, Action, AgentConfig, Event, Strategy};
use queue::record::AgentStateKind;

fn strategy_queue(strategy: Strategy, members: &[&str]) -> queue::acd::QueueConfig {
    queue::acd::QueueConfig {
        strategy,
        wrap_up_secs: 0,
        ..queue("q", members)
    }
}

/// Takes `call` on `agent` and hangs it up at once (no wrap-up in these queues).
fn take_and_end(sim: &mut Sim, call: u64, agent: &str) {
    sim.answer(call, agent);
    assert_eq!(sim.state(agent), AgentStateKind::OnCall);
    sim.ev(Event::AgentLeft { call });
}

#[test]
fn longest_idle_goes_to_the_agent_idle_longest() {
    let mut sim = Sim::new(
        vec![strategy_queue(Strategy::LongestIdle, &["a", "b", "c"])],
        agents(&["a", "b", "c"]),
    );
    // All idle since start: the first configured breaks the tie.
    let out = sim.enqueue(1, "q");
    assert_eq!(offered_to(&out, 1).as_deref(), Some("a"));
    sim.advance(10.0);
    take_and_end(&mut sim, 1, "a");
    // a is now the most recently idle, so b, then c, then a.
    sim.advance(1.0);
    let out = sim.enqueue(2, "q");
    assert_eq!(offered_to(&out, 2).as_deref(), Some("b"));
    let out = sim.enqueue(3, "q");
    assert_eq!(offered_to(&out, 3).as_deref(), Some("c"));
    let out = sim.enqueue(4, "q");
    assert_eq!(offered_to(&out, 4).as_deref(), Some("a"));
}

#[test]
fn round_robin_rotates_through_members() {
    let mut sim = Sim::new(
        vec![strategy_queue(Strategy::RoundRobin, &["a", "b", "c"])],
        agents(&["a", "b", "c"]),
    );
    let mut order = Vec::new();
    for call in 1..=7 {
        let out = sim.enqueue(call, "q");
        let agent = offered_to(&out, call).expect("an offer");
        take_and_end(&mut sim, call, &agent);
        order.push(agent);
    }
    assert_eq!(order, ["a", "b", "c", "a", "b", "c", "a"]);
}

#[test]
fn round_robin_skips_unavailable_members() {
    let mut sim = Sim::new(
        vec![strategy_queue(Strategy::RoundRobin, &["a", "b", "c"])],
        agents(&["a", "b", "c"]),
    );
    sim.ev(Event::Pause {
        agent: "b".into(),
        reason: "lunch".into(),
    });
    let mut order = Vec::new();
    for call in 1..=4 {
        let out = sim.enqueue(call, "q");
        let agent = offered_to(&out, call).expect("an offer");
        take_and_end(&mut sim, call, &agent);
        order.push(agent);
    }
    assert_eq!(order, ["a", "c", "a", "c"]);
}

#[test]
fn ring_all_first_answer_wins_and_late_answers_are_cancelled() {
    let mut sim = Sim::new(
        vec![strategy_queue(Strategy::RingAll, &["a", "b", "c"])],
        agents(&["a", "b", "c"]),
    );
    let out = sim.enqueue(1, "q");
    let mut rung: Vec<String> = offers(&out).into_iter().map(|(_, a)| a).collect();
    rung.sort();
    assert_eq!(rung, ["a", "b", "c"]);
    let out = sim.answer(1, "b");
    assert!(out.contains(&Action::Assigned {
        call: 1,
        agent: "b".into()
    }));
    let mut cancelled: Vec<String> = cancels(&out).into_iter().map(|(_, a)| a).collect();
    cancelled.sort();
    assert_eq!(cancelled, ["a", "c"]);
    // c's answer crossed the cancel: it is refused, b keeps the call.
    let out = sim.answer(1, "c");
    assert_eq!(cancels(&out), [(1, "c".to_string())]);
    assert!(!out.iter().any(|a| matches!(a, Action::Assigned { .. })));
    assert_eq!(sim.state("b"), AgentStateKind::OnCall);
    assert_eq!(sim.state("c"), AgentStateKind::Available);
    assert_eq!(sim.agent("b").call, Some(1));
}

#[test]
fn ring_all_adds_agents_freed_while_ringing() {
    let mut sim = Sim::new(
        vec![strategy_queue(Strategy::RingAll, &["a", "b"])],
        agents(&["a", "b"]),
    );
    sim.enqueue(1, "q");
    sim.answer(1, "a");
    sim.ev(Event::Logout { agent: "b".into() });
    let out = sim.enqueue(2, "q");
    assert_eq!(offers(&out), []);
    // b comes back while nobody rings: offered alone; then a frees and joins.
    let out = sim.ev(Event::Login { agent: "b".into() });
    assert_eq!(offers(&out), [(2, "b".to_string())]);
    let out = sim.ev(Event::AgentLeft { call: 1 });
    assert_eq!(offers(&out), [(2, "a".to_string())]);
    // Both ring out: the call waits for the next free agent.
    let out = sim.ev(Event::OfferFailed {
        call: 2,
        agent: "a".into(),
        busy: true,
    });
    assert_eq!(offers(&out), []);
    let out = sim.answer(2, "b");
    assert!(out.contains(&Action::Assigned {
        call: 2,
        agent: "b".into()
    }));
}

#[test]
fn fewest_calls_prefers_the_least_busy_agent_today() {
    let mut sim = Sim::new(
        vec![strategy_queue(Strategy::FewestCalls, &["a", "b", "c"])],
        agents(&["a", "b", "c"]),
    );
    // One call each, in configuration order (all idle alike at first).
    for (call, agent) in [(1, "a"), (2, "b"), (3, "c")] {
        let out = sim.enqueue(call, "q");
        assert_eq!(offered_to(&out, call).as_deref(), Some(agent));
        take_and_end(&mut sim, call, agent);
    }
    // Now all have one; c took its call last, so a then b by idle time.
    let out = sim.enqueue(4, "q");
    assert_eq!(offered_to(&out, 4).as_deref(), Some("a"));
    take_and_end(&mut sim, 4, "a");
    let out = sim.enqueue(5, "q");
    assert_eq!(offered_to(&out, 5).as_deref(), Some("b"));
    take_and_end(&mut sim, 5, "b");
    let out = sim.enqueue(6, "q");
    assert_eq!(offered_to(&out, 6).as_deref(), Some("c"));
    take_and_end(&mut sim, 6, "c");
    assert_eq!(sim.agent("a").calls_taken, 2);
    // A new UTC day starts everyone from zero.
    sim.advance(86_400.0);
    assert_eq!(sim.agent("a").calls_taken, 0);
    sim.ev(Event::Logout { agent: "a".into() });
    sim.ev(Event::Login { agent: "a".into() });
    assert_eq!(sim.agent("a").calls_taken, 0);
}

#[test]
fn random_is_seeded_and_spreads_calls() {
    let run = |seed: u64| {
        let mut sim = Sim::with_config(AcdConfig {
            queues: vec![strategy_queue(Strategy::Random, &["a", "b", "c", "d"])],
            agents: agents(&["a", "b", "c", "d"]),
            seed,
        });
        for id in ["a", "b", "c", "d"] {
            sim.ev(Event::Reachable {
                agent: id.into(),
                reachable: true,
            });
        }
        let mut picks = Vec::new();
        for call in 1..=200 {
            let out = sim.enqueue(call, "q");
            let agent = offered_to(&out, call).expect("an offer");
            take_and_end(&mut sim, call, &agent);
            picks.push(agent);
        }
        picks
    };
    let a = run(7);
    assert_eq!(a, run(7), "same seed, same picks");
    assert_ne!(a, run(8), "another seed, other picks");
    for id in ["a", "b", "c", "d"] {
        let n = a.iter().filter(|p| *p == id).count();
        assert!((20..=80).contains(&n), "{id} got {n} of 200");
    }
}

fn skilled(id: &str, skills: &[&str]) -> AgentConfig {
    AgentConfig {
        skills: skills.iter().map(|s| s.to_string()).collect(),
        ..AgentConfig::new(id)
    }
}

#[test]
fn skills_must_be_met_and_the_best_match_wins() {
    let mut sim = Sim::new(
        vec![strategy_queue(Strategy::Skills, &["en", "es5", "es9", "es9tv"])],
        vec![
            skilled("en", &["language:en=9"]),
            skilled("es5", &["language:es"]),
            skilled("es9", &["language:es=9"]),
            skilled("es9tv", &["language:es=9", "product:tv=4"]),
        ],
    );
    // Requirement at level 7: es9 and es9tv qualify with 9; es9 has been
    // idle as long and comes first in the configuration.
    let out = sim.enqueue_with(1, "q", 0, &["language:es>=7"]);
    assert_eq!(offered_to(&out, 1).as_deref(), Some("es9"));
    // Two requirements: only es9tv has both.
    let out = sim.enqueue_with(2, "q", 0, &["language:es", "product:tv"]);
    assert_eq!(offered_to(&out, 2).as_deref(), Some("es9tv"));
    // Plain "language:es": es5 is the only one left with it.
    let out = sim.enqueue_with(3, "q", 0, &["language:es"]);
    assert_eq!(offered_to(&out, 3).as_deref(), Some("es5"));
    // Nobody free speaks French: the call waits, and en stays available.
    let out = sim.enqueue_with(4, "q", 0, &["language:fr"]);
    assert_eq!(offers(&out), []);
    assert_eq!(sim.state("en"), AgentStateKind::Available);
    // No requirement: anyone.
    let out = sim.enqueue_with(5, "q", 0, &[]);
    assert_eq!(offered_to(&out, 5).as_deref(), Some("en"));
}

#[test]
fn skills_highest_total_level_wins_then_longest_idle() {
    let mut sim = Sim::new(
        vec![strategy_queue(Strategy::Skills, &["x", "y", "z"])],
        vec![
            skilled("x", &["language:es=6", "product:tv=6"]),
            skilled("y", &["language:es=9", "product:tv=5"]),
            skilled("z", &["language:es=10", "product:tv=1"]),
        ],
    );
    let out = sim.enqueue_with(1, "q", 0, &["language:es", "product:tv"]);
    assert_eq!(offered_to(&out, 1).as_deref(), Some("y"), "14 beats 12 and 11");
    sim.ev(Event::OfferFailed {
        call: 1,
        agent: "y".into(),
        busy: true,
    });
    // y sits out its retry time; x (12) beats z (11).
    assert_eq!(sim.agent("x").call, Some(1));
}

#[test]
fn freed_agent_takes_the_oldest_call_it_can_serve() {
    let mut sim = Sim::new(
        vec![strategy_queue(Strategy::Skills, &["es", "en"])],
        vec![skilled("es", &["language:es"]), skilled("en", &["language:en"])],
    );
    sim.enqueue_with(1, "q", 0, &["language:es"]);
    sim.answer(1, "es");
    sim.enqueue_with(2, "q", 0, &["language:en"]);
    sim.answer(2, "en");
    sim.advance(1.0);
    sim.enqueue_with(3, "q", 0, &["language:en"]);
    sim.advance(1.0);
    sim.enqueue_with(4, "q", 0, &["language:es"]);
    sim.advance(1.0);
    sim.enqueue_with(5, "q", 0, &["language:es"]);
    let out = sim.ev(Event::AgentLeft { call: 1 });
    assert_eq!(offers(&out), [(4, "es".to_string())], "not call 3, which needs English");
}

#[test]
fn skill_requirements_relax_after_the_configured_wait() {
    let mut q = strategy_queue(Strategy::Skills, &["en"]);
    q.relax_skills_after_secs = Some(30);
    let mut sim = Sim::new(vec![q], vec![skilled("en", &["language:en"])]);
    assert_eq!(offers(&sim.enqueue_with(1, "q", 0, &["language:es"])), []);
    assert_eq!(offers(&sim.advance(29.9)), []);
    let out = sim.advance(0.2);
    assert_eq!(offers(&out), [(1, "en".to_string())]);
}

#[test]
fn higher_priority_first_then_first_come_first_served() {
    let mut sim = Sim::new(vec![strategy_queue(Strategy::LongestIdle, &["a"])], agents(&["a"]));
    sim.enqueue(1, "q");
    sim.answer(1, "a");
    for (call, prio) in [(2, 0), (3, 0), (4, 5), (5, 5), (6, -1), (7, 0)] {
        sim.advance(1.0);
        sim.enqueue_with(call, "q", prio, &[]);
    }
    let mut served = Vec::new();
    let mut current = 1;
    for _ in 0..6 {
        let out = sim.ev(Event::AgentLeft { call: current });
        let (call, _) = offers(&out)[0].clone();
        sim.answer(call, "a");
        served.push(call);
        current = call;
    }
    assert_eq!(served, [4, 5, 2, 3, 7, 6]);
}

#[test]
fn across_queues_the_longest_waiting_call_wins() {
    let mut sim = Sim::new(
        vec![strategy_queue(Strategy::LongestIdle, &["a"]), {
            let mut q = strategy_queue(Strategy::LongestIdle, &["a"]);
            q.name = "other".into();
            q
        }],
        agents(&["a"]),
    );
    sim.enqueue(1, "q");
    sim.answer(1, "a");
    sim.enqueue(2, "q");
    sim.advance(1.0);
    sim.enqueue(3, "other");
    sim.advance(1.0);
    sim.enqueue_with(4, "q", 0, &[]);
    let out = sim.ev(Event::AgentLeft { call: 1 });
    assert_eq!(offers(&out), [(2, "a".to_string())]);
    sim.answer(2, "a");
    let out = sim.ev(Event::AgentLeft { call: 2 });
    assert_eq!(offers(&out), [(3, "a".to_string())]);
    sim.answer(3, "a");
    let out = sim.ev(Event::AgentLeft { call: 3 });
    assert_eq!(offers(&out), [(4, "a".to_string())]);
}
