//! A virtual-time harness for ACD tests.
#![allow(dead_code)]

use std::time::Duration;

use queue::acd::{Acd, AcdConfig, Action, AgentConfig, AgentSnapshot, CallId, Event, QueueConfig, QueueSnapshot};
use queue::record::AgentStateKind;
use queue::Millis;

/// Where every test starts: a plausible epoch time, not midnight.
pub(crate) const T0: Millis = Millis(1_700_000_000_000);

pub(crate) struct Sim {
    pub(crate) acd: Acd,
    pub(crate) now: Millis,
    /// Every action so far.
    pub(crate) log: Vec<Action>,
}

impl Sim {
    /// An ACD with these queues and agents (agents logged in and reachable).
    pub(crate) fn new(queues: Vec<QueueConfig>, agents: Vec<AgentConfig>) -> Sim {
        let ids: Vec<String> = agents.iter().map(|a| a.id.clone()).collect();
        let mut sim = Sim::with_config(AcdConfig {
            queues,
            agents,
            ..AcdConfig::default()
        });
        for id in ids {
            sim.ev(Event::Reachable {
                agent: id,
                reachable: true,
            });
        }
        sim
    }

    pub(crate) fn with_config(config: AcdConfig) -> Sim {
        let mut sim = Sim {
            acd: Acd::new(config, T0),
            now: T0,
            log: Vec::new(),
        };
        sim.drain();
        sim
    }

    fn drain(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        while let Some(a) = self.acd.poll_action() {
            out.push(a);
        }
        self.log.extend(out.iter().cloned());
        let bad = self.acd.check_consistency();
        assert!(bad.is_empty(), "inconsistent ACD: {bad:#?}");
        out
    }

    /// Feeds an event now and returns the actions.
    pub(crate) fn ev(&mut self, e: Event) -> Vec<Action> {
        self.acd.handle(e, self.now);
        self.drain()
    }

    /// Lets `secs` of virtual time pass, running the timers on their deadlines.
    pub(crate) fn advance(&mut self, secs: f64) -> Vec<Action> {
        let end = self.now + Duration::from_secs_f64(secs);
        let mut out = Vec::new();
        while let Some(t) = self.acd.poll_timeout() {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            self.acd.handle_timeout(self.now);
            out.extend(self.drain());
        }
        self.now = end;
        out
    }

    pub(crate) fn enqueue(&mut self, call: CallId, queue: &str) -> Vec<Action> {
        self.enqueue_with(call, queue, 0, &[])
    }

    pub(crate) fn enqueue_with(&mut self, call: CallId, queue: &str, priority: i32, skills: &[&str]) -> Vec<Action> {
        self.ev(Event::Enqueue {
            call,
            queue: queue.to_string(),
            priority,
            skills: skills.iter().map(|s| s.to_string()).collect(),
            caller: format!("+3460000{call:04}"),
        })
    }

    pub(crate) fn answer(&mut self, call: CallId, agent: &str) -> Vec<Action> {
        self.ev(Event::Answered {
            call,
            agent: agent.to_string(),
        })
    }

    pub(crate) fn hang_up(&mut self, call: CallId) -> Vec<Action> {
        self.ev(Event::CallerLeft { call })
    }

    pub(crate) fn agent(&self, id: &str) -> AgentSnapshot {
        self.acd
            .snapshot(self.now)
            .agents
            .into_iter()
            .find(|a| a.id == id)
            .expect("agent in snapshot")
    }

    pub(crate) fn state(&self, id: &str) -> AgentStateKind {
        self.agent(id).state
    }

    pub(crate) fn queue(&self, name: &str) -> QueueSnapshot {
        self.acd
            .snapshot(self.now)
            .queues
            .into_iter()
            .find(|q| q.name == name)
            .expect("queue in snapshot")
    }
}

/// The (call, agent) pairs offered.
pub(crate) fn offers(actions: &[Action]) -> Vec<(CallId, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Offer { call, agent, .. } => Some((*call, agent.clone())),
            _ => None,
        })
        .collect()
}

/// The (call, agent) pairs cancelled.
pub(crate) fn cancels(actions: &[Action]) -> Vec<(CallId, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::CancelOffer { call, agent } => Some((*call, agent.clone())),
            _ => None,
        })
        .collect()
}

/// The one agent offered `call` in `actions`.
pub(crate) fn offered_to(actions: &[Action], call: CallId) -> Option<String> {
    offers(actions).into_iter().find(|(c, _)| *c == call).map(|(_, a)| a)
}

pub(crate) fn agents(ids: &[&str]) -> Vec<AgentConfig> {
    ids.iter().map(|id| AgentConfig::new(*id)).collect()
}

pub(crate) fn queue(name: &str, members: &[&str]) -> QueueConfig {
    QueueConfig {
        agents: members.iter().map(|s| s.to_string()).collect(),
        ..QueueConfig::new(name)
    }
}
