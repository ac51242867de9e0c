//! Agent life: wrap-up, ring-no-answer, busy, pause and logout at awkward moments.

mod acd_support;

use acd_support::*;
use queue::acd::{Action, AgentConfig, Event, NoAnswerAction, QueueConfig};
use queue::record::AgentStateKind;

fn one_queue(members: &[&str], wrap: u64) -> QueueConfig {
    QueueConfig {
        wrap_up_secs: wrap,
        ring_timeout_secs: 15,
        retry_secs: 5,
        ..queue("q", members)
    }
}

#[test]
fn wrap_up_lasts_its_time_then_the_agent_takes_the_next_call() {
    let mut sim = Sim::new(vec![one_queue(&["a"], 30)], agents(&["a"]));
    sim.enqueue(1, "q");
    sim.answer(1, "a");
    sim.enqueue(2, "q");
    sim.advance(60.0);
    let out = sim.ev(Event::CallerLeft { call: 1 });
    assert!(out.contains(&Action::AgentState {
        agent: "a".into(),
        state: AgentStateKind::WrapUp,
        reason: None
    }));
    assert_eq!(offers(&sim.advance(29.9)), []);
    assert_eq!(sim.state("a"), AgentStateKind::WrapUp);
    let out = sim.advance(0.2);
    assert_eq!(offers(&out), [(2, "a".to_string())]);
}

#[test]
fn end_wrap_up_early() {
    let mut sim = Sim::new(vec![one_queue(&["a"], 30)], agents(&["a"]));
    sim.enqueue(1, "q");
    sim.answer(1, "a");
    sim.ev(Event::AgentLeft { call: 1 });
    sim.advance(3.0);
    sim.ev(Event::EndWrapUp { agent: "a".into() });
    assert_eq!(sim.state("a"), AgentStateKind::Available);
    // A second EndWrapUp, and the wrap-up timer's old deadline, change nothing.
    sim.ev(Event::EndWrapUp { agent: "a".into() });
    sim.advance(60.0);
    assert_eq!(sim.state("a"), AgentStateKind::Available);
    assert_eq!(sim.acd.poll_timeout(), None);
}

#[test]
fn ring_no_answer_cancels_pauses_and_tries_the_next_agent() {
    let mut sim = Sim::new(vec![one_queue(&["a", "b"], 0)], agents(&["a", "b"]));
    sim.enqueue(1, "q");
    assert_eq!(sim.agent("a").call, Some(1));
    let out = sim.advance(15.0);
    assert_eq!(cancels(&out), [(1, "a".to_string())]);
    assert_eq!(offers(&out), [(1, "b".to_string())]);
    let a = sim.agent("a");
    assert_eq!(a.state, AgentStateKind::Paused);
    assert_eq!(a.reason.as_deref(), Some("no-answer"));
    // The late answer from a is refused.
    let out = sim.answer(1, "a");
    assert_eq!(cancels(&out), [(1, "a".to_string())]);
    sim.answer(1, "b");
    assert_eq!(sim.state("b"), AgentStateKind::OnCall);
}

#[test]
fn ring_no_answer_with_free_keeps_the_agent_available_after_a_retry_pause() {
    let mut sim = Sim::new(
        vec![one_queue(&["a"], 0)],
        vec![AgentConfig {
            no_answer: NoAnswerAction::Free,
            ..AgentConfig::new("a")
        }],
    );
    sim.enqueue(1, "q");
    let out = sim.advance(15.0);
    assert_eq!(cancels(&out), [(1, "a".to_string())]);
    assert_eq!(offers(&out), []);
    assert_eq!(sim.state("a"), AgentStateKind::Available);
    // The retry time passes and the call rings a again.
    let out = sim.advance(5.0);
    assert_eq!(offers(&out), [(1, "a".to_string())]);
}

#[test]
fn busy_agent_is_not_paused() {
    let mut sim = Sim::new(vec![one_queue(&["a", "b"], 0)], agents(&["a", "b"]));
    sim.enqueue(1, "q");
    let out = sim.ev(Event::OfferFailed {
        call: 1,
        agent: "a".into(),
        busy: true,
    });
    assert_eq!(offers(&out), [(1, "b".to_string())]);
    assert_eq!(cancels(&out), [], "the shell already knows the offer failed");
    assert_eq!(sim.state("a"), AgentStateKind::Available);
    // A refusal (not busy) gets the no-answer pause.
    let out = sim.ev(Event::OfferFailed {
        call: 1,
        agent: "b".into(),
        busy: false,
    });
    assert_eq!(offers(&out), []);
    assert_eq!(sim.agent("b").reason.as_deref(), Some("no-answer"));
    let out = sim.advance(5.0);
    assert_eq!(offers(&out), [(1, "a".to_string())]);
}

#[test]
fn caller_hanging_up_while_ringing_frees_the_agent() {
    let mut sim = Sim::new(vec![one_queue(&["a"], 0)], agents(&["a"]));
    sim.enqueue(1, "q");
    sim.advance(4.0);
    let out = sim.hang_up(1);
    assert_eq!(cancels(&out), [(1, "a".to_string())]);
    assert!(out.contains(&Action::Abandoned {
        call: 1,
        queue: "q".into(),
        waited: std::time::Duration::from_secs(4)
    }));
    assert_eq!(sim.state("a"), AgentStateKind::Available);
    assert_eq!(sim.queue("q").waiting, 0);
    // Answers and failures for the gone call are refused or ignored.
    assert_eq!(cancels(&sim.answer(1, "a")), [(1, "a".to_string())]);
    assert_eq!(sim.state("a"), AgentStateKind::Available);
}

#[test]
fn logout_while_on_call_waits_for_the_end_of_the_call() {
    let mut sim = Sim::new(vec![one_queue(&["a"], 30)], agents(&["a"]));
    sim.enqueue(1, "q");
    sim.answer(1, "a");
    sim.ev(Event::Logout { agent: "a".into() });
    assert_eq!(sim.state("a"), AgentStateKind::OnCall);
    assert!(sim.agent("a").logout_pending);
    sim.ev(Event::CallerLeft { call: 1 });
    assert_eq!(sim.state("a"), AgentStateKind::LoggedOut, "no wrap-up after a logout");
}

#[test]
fn logout_while_ringing_is_a_failed_offer() {
    let mut sim = Sim::new(vec![one_queue(&["a", "b"], 0)], agents(&["a", "b"]));
    sim.enqueue(1, "q");
    let out = sim.ev(Event::Logout { agent: "a".into() });
    assert_eq!(cancels(&out), [(1, "a".to_string())]);
    assert_eq!(offers(&out), [(1, "b".to_string())]);
    assert_eq!(sim.state("a"), AgentStateKind::LoggedOut);
}

#[test]
fn pause_while_on_call_takes_effect_after_wrap_up() {
    let mut sim = Sim::new(vec![one_queue(&["a"], 10)], agents(&["a"]));
    sim.enqueue(1, "q");
    sim.answer(1, "a");
    sim.ev(Event::Pause {
        agent: "a".into(),
        reason: "lunch".into(),
    });
    assert_eq!(sim.state("a"), AgentStateKind::OnCall);
    sim.enqueue(2, "q");
    sim.ev(Event::AgentLeft { call: 1 });
    assert_eq!(sim.state("a"), AgentStateKind::WrapUp);
    let out = sim.advance(10.0);
    assert_eq!(offers(&out), []);
    let a = sim.agent("a");
    assert_eq!((a.state, a.reason.as_deref()), (AgentStateKind::Paused, Some("lunch")));
    let out = sim.ev(Event::Resume { agent: "a".into() });
    assert_eq!(offers(&out), [(2, "a".to_string())]);
}

#[test]
fn unreachable_agents_get_no_offers_and_unregistering_while_ringing_fails_the_offer() {
    let mut sim = Sim::new(vec![one_queue(&["a", "b"], 0)], agents(&["a", "b"]));
    sim.ev(Event::Reachable {
        agent: "b".into(),
        reachable: false,
    });
    sim.enqueue(1, "q");
    assert_eq!(sim.agent("a").call, Some(1));
    let out = sim.ev(Event::Reachable {
        agent: "a".into(),
        reachable: false,
    });
    assert_eq!(cancels(&out), [(1, "a".to_string())]);
    assert_eq!(offers(&out), []);
    assert_eq!(sim.queue("q").staffed, 0);
    let out = sim.ev(Event::Reachable {
        agent: "b".into(),
        reachable: true,
    });
    assert_eq!(offers(&out), [(1, "b".to_string())]);
}

#[test]
fn every_state_change_is_reported() {
    let mut sim = Sim::new(vec![one_queue(&["a"], 5)], agents(&["a"]));
    let start = sim.log.len();
    sim.enqueue(1, "q");
    sim.answer(1, "a");
    sim.ev(Event::AgentLeft { call: 1 });
    sim.advance(5.0);
    sim.ev(Event::Pause {
        agent: "a".into(),
        reason: "training".into(),
    });
    sim.ev(Event::Logout { agent: "a".into() });
    let states: Vec<AgentStateKind> = sim.log[start..]
        .iter()
        .filter_map(|a| match a {
            Action::AgentState { state, .. } => Some(*state),
            _ => None,
        })
        .collect();
    use AgentStateKind::*;
    assert_eq!(states, [Ringing, OnCall, WrapUp, Available, Paused, LoggedOut]);
}

#[test]
fn snapshot_counts_agents_and_the_longest_wait() {
    let mut sim = Sim::new(vec![one_queue(&["a", "b", "c"], 0)], agents(&["a", "b", "c"]));
    sim.ev(Event::Pause {
        agent: "c".into(),
        reason: "break".into(),
    });
    sim.enqueue(1, "q");
    sim.answer(1, "a");
    sim.enqueue(2, "q");
    sim.advance(7.0);
    sim.enqueue(3, "q");
    sim.advance(3.0);
    let q = sim.queue("q");
    assert_eq!((q.waiting, q.ringing), (2, 1));
    assert_eq!(q.longest_wait, Some(std::time::Duration::from_secs(10)));
    assert_eq!(
        (q.agents.on_call, q.agents.ringing, q.agents.paused, q.staffed),
        (1, 1, 1, 2)
    );
    let json = serde_json::to_value(sim.acd.snapshot(sim.now)).unwrap();
    assert_eq!(json["queues"][0]["longest_wait_ms"], 10_000);
    assert_eq!(json["agents"][0]["state"], "on_call");
}
