//! Overflow rules, rejection, announcements and the estimated wait.

mod acd_support;

use std::time::Duration;

use acd_support::*;
use queue::acd::{
    AcdConfig, Action, Event, OverflowReason, OverflowRule, OverflowTarget, OverflowWhen, QueueConfig, RejectReason,
};

fn rule(when: OverflowWhen, to: &str) -> OverflowRule {
    OverflowRule {
        when,
        target: to.parse().expect("a target"),
    }
}

fn overflowed(actions: &[Action]) -> Vec<(u64, String, OverflowReason)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Overflow {
                call, target, reason, ..
            } => Some((*call, target.to_string(), *reason)),
            _ => None,
        })
        .collect()
}

/// A queue "q" whose one agent is busy on call 100, so new calls wait.
fn busy_queue(cfg: QueueConfig, extra: Vec<QueueConfig>) -> Sim {
    let mut queues = vec![QueueConfig {
        agents: vec!["a".into()],
        ..cfg
    }];
    queues.extend(extra);
    let mut sim = Sim::new(queues, agents(&["a"]));
    sim.enqueue(100, "q");
    sim.answer(100, "a");
    sim
}

#[test]
fn unknown_queue_is_rejected() {
    let mut sim = Sim::new(vec![queue("q", &["a"])], agents(&["a"]));
    let out = sim.enqueue(1, "nope");
    assert_eq!(
        out,
        [Action::Rejected {
            call: 1,
            queue: "nope".into(),
            reason: RejectReason::UnknownQueue
        }]
    );
}

#[test]
fn full_queue_without_a_rule_rejects() {
    let mut sim = busy_queue(
        QueueConfig {
            max_length: Some(2),
            ..QueueConfig::new("q")
        },
        vec![],
    );
    sim.enqueue(1, "q");
    sim.enqueue(2, "q");
    let out = sim.enqueue(3, "q");
    assert!(out.contains(&Action::Rejected {
        call: 3,
        queue: "q".into(),
        reason: RejectReason::Full
    }));
    assert_eq!(sim.queue("q").waiting, 2);
}

#[test]
fn max_length_rule_overflows_instead() {
    let mut sim = busy_queue(
        QueueConfig {
            max_length: Some(1),
            overflow: vec![rule(OverflowWhen::MaxLength { calls: None }, "voicemail:sales")],
            ..QueueConfig::new("q")
        },
        vec![],
    );
    sim.enqueue(1, "q");
    let out = sim.enqueue(2, "q");
    assert_eq!(
        overflowed(&out),
        [(2, "voicemail:sales".to_string(), OverflowReason::MaxLength)]
    );
}

#[test]
fn max_wait_overflows_by_timer_into_another_queue() {
    let mut sim = busy_queue(
        QueueConfig {
            overflow: vec![
                rule(OverflowWhen::MaxWait { secs: 120 }, "queue:backup"),
                rule(OverflowWhen::MaxWait { secs: 300 }, "voicemail:never"),
            ],
            ..QueueConfig::new("q")
        },
        vec![queue("backup", &[])],
    );
    sim.enqueue(1, "q");
    assert_eq!(overflowed(&sim.advance(119.0)), []);
    let out = sim.advance(1.0);
    assert_eq!(
        overflowed(&out),
        [(1, "queue:backup".to_string(), OverflowReason::MaxWait)]
    );
    assert_eq!(sim.queue("q").waiting, 0);
    assert_eq!(sim.queue("backup").waiting, 1);
    // Its wait in the new queue starts again.
    assert_eq!(sim.queue("backup").longest_wait, Some(Duration::ZERO));
    // And it can still leave from there.
    let out = sim.hang_up(1);
    assert!(matches!(&out[..], [Action::Abandoned { queue, .. }] if queue == "backup"));
}

#[test]
fn no_agents_on_entry_and_when_the_last_agent_goes() {
    let cfg = QueueConfig {
        overflow: vec![rule(OverflowWhen::NoAgents, "flow:closed")],
        ..QueueConfig::new("q")
    };
    let mut sim = busy_queue(cfg, vec![]);
    sim.enqueue(1, "q");
    sim.enqueue(2, "q");
    assert_eq!(overflowed(&sim.log), []);
    // The only agent logs out during its call: it stops being staffed at the
    // end of the call, and then the waiting calls go.
    sim.ev(Event::Logout { agent: "a".into() });
    let out = sim.ev(Event::AgentLeft { call: 100 });
    assert_eq!(
        overflowed(&out),
        [
            (1, "flow:closed".to_string(), OverflowReason::NoAgents),
            (2, "flow:closed".to_string(), OverflowReason::NoAgents)
        ]
    );
    let out = sim.enqueue(3, "q");
    assert_eq!(
        overflowed(&out),
        [(3, "flow:closed".to_string(), OverflowReason::NoAgents)]
    );
}

#[test]
fn estimated_wait_rule_on_entry() {
    let mut sim = busy_queue(
        QueueConfig {
            default_handle_secs: 100,
            overflow: vec![rule(OverflowWhen::EstimatedWait { secs: 250 }, "hook:busy")],
            ..QueueConfig::new("q")
        },
        vec![],
    );
    // One staffed agent, 100 s per call: positions 1 and 2 are told 100 and 200 s.
    sim.enqueue(1, "q");
    sim.enqueue(2, "q");
    let out = sim.enqueue(3, "q");
    assert_eq!(
        overflowed(&out),
        [(3, "hook:busy".to_string(), OverflowReason::EstimatedWait)]
    );
}

#[test]
fn overflow_loops_end_in_a_rejection() {
    let ping = QueueConfig {
        max_length: Some(0),
        overflow: vec![rule(OverflowWhen::MaxLength { calls: None }, "queue:pong")],
        ..QueueConfig::new("ping")
    };
    let pong = QueueConfig {
        max_length: Some(0),
        overflow: vec![rule(OverflowWhen::MaxLength { calls: None }, "queue:ping")],
        ..QueueConfig::new("pong")
    };
    let mut sim = Sim::new(vec![ping, pong], vec![]);
    let out = sim.enqueue(1, "ping");
    assert_eq!(overflowed(&out).len(), usize::from(queue::acd::MAX_QUEUE_HOPS) + 1);
    assert!(matches!(
        out.last(),
        Some(Action::Rejected {
            reason: RejectReason::OverflowLoop,
            ..
        })
    ));
}

#[test]
fn announcements_give_position_and_estimated_wait() {
    let mut sim = busy_queue(
        QueueConfig {
            announce_every_secs: Some(30),
            default_handle_secs: 120,
            ..QueueConfig::new("q")
        },
        vec![],
    );
    sim.enqueue(1, "q");
    sim.advance(10.0);
    sim.enqueue(2, "q");
    let out = sim.advance(20.0);
    assert_eq!(
        out,
        [Action::Announce {
            call: 1,
            position: 1,
            estimated_wait: Some(Duration::from_secs(120))
        }]
    );
    let out = sim.advance(10.0);
    assert_eq!(
        out,
        [Action::Announce {
            call: 2,
            position: 2,
            estimated_wait: Some(Duration::from_secs(240))
        }]
    );
    // With nobody staffed there is no estimate.
    sim.ev(Event::Reachable {
        agent: "a".into(),
        reachable: false,
    });
    let out = sim.advance(20.0);
    assert_eq!(
        out,
        [Action::Announce {
            call: 1,
            position: 1,
            estimated_wait: None
        }]
    );
    assert_eq!(sim.acd.estimated_wait("q", sim.now), None);
}

#[test]
fn estimated_wait_learns_from_handle_times() {
    let mut sim = Sim::new(
        vec![QueueConfig {
            wrap_up_secs: 10,
            default_handle_secs: 180,
            ..queue("q", &["a", "b"])
        }],
        agents(&["a", "b"]),
    );
    assert_eq!(
        sim.acd.estimated_wait("q", sim.now),
        Some(Duration::ZERO),
        "agents free"
    );
    for call in 1..=50 {
        sim.enqueue(call, "q");
        let agent = sim.agent("a").call.map_or("b", |_| "a");
        sim.answer(call, agent);
        sim.advance(50.0);
        sim.ev(Event::AgentLeft { call });
        sim.advance(10.0);
    }
    // Handle time converges on 60 s; two staffed agents, both busy.
    sim.enqueue(98, "q");
    sim.enqueue(99, "q");
    let aht = sim.queue("q").handle_time.as_secs_f64();
    assert!((60.0..61.0).contains(&aht), "{aht}");
    let ewt = sim.acd.estimated_wait("q", sim.now).unwrap().as_secs_f64();
    assert!(
        (90.0..92.0).contains(&ewt),
        "position 3 × 60 s / 2 agents = 90 s, got {ewt}"
    );
}

#[test]
fn overflow_targets_parse_and_print() {
    for s in [
        "queue:sales",
        "flow:closed",
        "voicemail:200",
        "uri:sip:bob@example.com",
        "hook:crm",
    ] {
        let t: OverflowTarget = s.parse().unwrap();
        assert_eq!(t.to_string(), s);
    }
    assert_eq!(
        "uri:sip:bob@example.com".parse::<OverflowTarget>().unwrap(),
        OverflowTarget::Uri("sip:bob@example.com".into())
    );
    for bad in ["sales", "queue:", "mailbox:1", ""] {
        assert!(bad.parse::<OverflowTarget>().is_err(), "{bad}");
    }
}

#[test]
fn config_reads_from_toml() {
    let cfg: AcdConfig = toml::from_str(
        r#"
        [[queues]]
        name = "sales"
        agents = ["1001", "1002"]
        strategy = "skills"
        max_length = 20
        announce_every_secs = 45
        relax_skills_after_secs = 60
        overflow = [
          { when = "max_wait", secs = 300, to = "voicemail:sales" },
          { when = "max_length", to = "queue:support" },
          { when = "no_agents", to = "flow:closed" },
          { when = "estimated_wait", secs = 900, to = "hook:overloaded" },
        ]
        callback = { offer_above_wait_secs = 90, mode = "agent_first" }

        [[queues]]
        name = "support"

        [[agents]]
        id = "1001"
        skills = ["language:es=9", "product:tv"]
        no_answer = "free"

        [[agents]]
        id = "1002"
        logged_in_at_start = false
        "#,
    )
    .unwrap();
    cfg.validate().unwrap();
    let q = &cfg.queues[0];
    assert_eq!(q.wrap_up_secs, 5);
    assert_eq!(q.ring_timeout_secs, 15);
    assert_eq!(q.overflow[0].when, OverflowWhen::MaxWait { secs: 300 });
    assert_eq!(q.overflow[1].target, OverflowTarget::Queue("support".into()));
    let cb = q.callback.as_ref().unwrap();
    assert_eq!((cb.max_attempts, cb.retry_after_secs), (3, 120));
    assert!(cfg.agents[0].logged_in_at_start);
    assert!(!cfg.agents[1].logged_in_at_start);

    let typo = toml::from_str::<AcdConfig>("[[queues]]\nname = \"q\"\nstrategy = \"longest_idle\"\nwrapup = 3\n");
    assert!(typo.is_err(), "unknown fields are refused");
    let no_secs = toml::from_str::<AcdConfig>(
        "[[queues]]\nname = \"q\"\noverflow = [{ when = \"max_wait\", to = \"flow:x\" }]\n",
    );
    assert!(no_secs.is_err());
    let bad = AcdConfig {
        queues: vec![queue("q", &["ghost"])],
        ..AcdConfig::default()
    };
    assert!(bad.validate().is_err());
}
