//! Read-only views: snapshot, estimated wait, where a call is, self-check.

use std::collections::HashSet;
use std::time::Duration;

use super::events::{AgentId, CallId};
use super::snapshot::{AgentCounts, AgentSnapshot, QueueSnapshot, Snapshot};
use super::state::{AState, Status, Talk, What};
use super::{Acd, Strategy, DAY_MS};
use crate::Millis;

/// Where a call the ACD holds is, from [`Acd::call_status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallStatus {
    /// In line, no agent ringing.
    Waiting {
        /// Queue name.
        queue: String,
        /// 1-based place in line.
        position: usize,
    },
    /// Ringing these agents.
    Ringing {
        /// Queue name.
        queue: String,
        /// The agents being rung.
        agents: Vec<AgentId>,
    },
    /// Answered by this agent, talking.
    Talking {
        /// The agent.
        agent: AgentId,
    },
}

impl Acd {
    /// Queues and agents now, for the API and the wallboard.
    pub fn snapshot(&self, now: Millis) -> Snapshot {
        let now = now.max(self.now);
        let queues = (0..self.queues.len())
            .map(|qx| {
                let qx = qx as u32;
                let q = self.queue(qx);
                let mut agents = AgentCounts::default();
                let mut ringing = HashSet::new();
                for &ax in &q.members {
                    let a = self.agent(ax);
                    agents.add(a.state.kind());
                    if let AState::Ringing(eid) = a.state {
                        if self.entries.get(&eid).is_some_and(|e| e.queue == qx) {
                            ringing.insert(eid);
                        }
                    }
                }
                QueueSnapshot {
                    name: q.cfg.name.clone(),
                    waiting: q.calls,
                    ringing: ringing.len(),
                    callbacks: q.line.len().saturating_sub(q.calls),
                    callbacks_later: q.later,
                    longest_wait: q.by_arrival.first().map(|&(t, _)| now.since(t)),
                    estimated_wait: self.ewt(qx, q.line.len() + 1),
                    handle_time: Duration::from_millis(q.aht_ms.max(0.0) as u64),
                    staffed: q.staffed,
                    agents,
                }
            })
            .collect();
        let agents = self
            .agents
            .iter()
            .map(|a| {
                let (mut call, mut callback, mut queue) = (None, None, None);
                match &a.state {
                    AState::Ringing(eid) | AState::Reserved(eid) => {
                        if let Some(e) = self.entries.get(eid) {
                            queue = Some(e.queue);
                            match &e.what {
                                What::Call { call: c, .. } => call = Some(*c),
                                What::Callback(cb) => callback = Some(cb.id),
                            }
                        }
                    }
                    AState::OnCall { talk, queue: q, .. } => {
                        queue = Some(*q);
                        match talk {
                            Talk::Call(c) => call = Some(*c),
                            Talk::Callback(id) => callback = Some(*id),
                        }
                    }
                    AState::WrapUp { queue: q, .. } => queue = Some(*q),
                    _ => {}
                }
                AgentSnapshot {
                    id: a.id.clone(),
                    state: a.state.kind(),
                    since: a.since,
                    reason: match &a.state {
                        AState::Paused(r) => Some(r.clone()),
                        _ => None,
                    },
                    call,
                    callback,
                    queue: queue.map(|q| self.queue(q).cfg.name.clone()),
                    calls_taken: if now.0 / DAY_MS == self.day { a.calls } else { 0 },
                    reachable: a.reachable,
                    logout_pending: a.logout_pending,
                    pause_pending: a.pause_pending.clone(),
                    wrap_up_ends: match &a.state {
                        AState::WrapUp { queue: q, .. } => {
                            let wrap = u64::try_from(self.queue(*q).wrap_up.as_millis()).unwrap_or(u64::MAX);
                            Some(Millis(a.since.0.saturating_add(wrap)))
                        }
                        _ => None,
                    },
                }
            })
            .collect();
        Snapshot {
            at: now,
            queues,
            agents,
        }
    }

    /// What a caller joining `queue` now would wait (see the module docs for
    /// the formula); `None` for an unknown queue or when no member is staffed.
    pub fn estimated_wait(&self, queue: &str, _now: Millis) -> Option<Duration> {
        let &qx = self.queue_ix.get(queue)?;
        self.ewt(qx, self.queue(qx).line.len() + 1)
    }

    /// Where a call is, if the ACD holds it (queued, ringing or talking).
    pub fn call_status(&self, call: CallId) -> Option<CallStatus> {
        if let Some(&ax) = self.talking.get(&call) {
            return Some(CallStatus::Talking {
                agent: self.agent(ax).id.clone(),
            });
        }
        let e = self.entries.get(self.calls.get(&call)?)?;
        let queue = self.queue(e.queue).cfg.name.clone();
        Some(match &e.status {
            Status::Offered(v) => CallStatus::Ringing {
                queue,
                agents: v.iter().map(|&ax| self.agent(ax).id.clone()).collect(),
            },
            _ => CallStatus::Waiting {
                queue,
                position: self.position_of(e.queue, &e.key),
            },
        })
    }

    /// Checks that the ACD's indexes agree with its records, and returns what
    /// does not. Meant for tests and fuzzing; it costs a walk over everything.
    pub fn check_consistency(&self) -> Vec<String> {
        let mut bad = Vec::new();
        for (ax, a) in self.agents.iter().enumerate() {
            let ax = ax as u32;
            let routable = a.routable();
            if a.indexed.is_some() != routable {
                bad.push(format!("agent {}: indexed {:?}, routable {routable}", a.id, a.indexed));
            }
            let staffed = a.reachable && !matches!(a.state, AState::LoggedOut | AState::Paused(_));
            if staffed != a.staffed {
                bad.push(format!("agent {}: staffed flag {}", a.id, a.staffed));
            }
            match &a.state {
                AState::Ringing(eid) => match self.entries.get(eid).map(|e| &e.status) {
                    Some(Status::Offered(v)) if v.contains(&ax) => {}
                    s => bad.push(format!("agent {} ringing for entry {eid} in {s:?}", a.id)),
                },
                AState::Reserved(eid) => match self.entries.get(eid).map(|e| &e.status) {
                    Some(Status::Reserved(r)) if *r == ax => {}
                    s => bad.push(format!("agent {} reserved for entry {eid} in {s:?}", a.id)),
                },
                AState::OnCall { talk, .. } => {
                    let back = match talk {
                        Talk::Call(c) => self.talking.get(c),
                        Talk::Callback(id) => self.cb_talking.get(id),
                    };
                    if back != Some(&ax) {
                        bad.push(format!("agent {} on {talk:?} not in the talk maps", a.id));
                    }
                }
                _ => {}
            }
            let has_timer = a.timer.is_some();
            let wants_timer = matches!(a.state, AState::Ringing(_) | AState::Reserved(_))
                || matches!(a.state, AState::WrapUp { .. })
                || a.blocked;
            if has_timer != wants_timer {
                bad.push(format!("agent {}: timer {:?} in {:?}", a.id, a.timer, a.state));
            }
        }
        for (qx, q) in self.queues.iter().enumerate() {
            let qx = qx as u32;
            let members_avail = q.members.iter().filter(|&&ax| self.agent(ax).indexed.is_some()).count();
            if members_avail != q.avail.len() {
                bad.push(format!(
                    "queue {}: {} indexed, {members_avail} routable",
                    q.cfg.name,
                    q.avail.len()
                ));
            }
            let staffed = q.members.iter().filter(|&&ax| self.agent(ax).staffed).count();
            if staffed != q.staffed {
                bad.push(format!("queue {}: staffed {} counted {staffed}", q.cfg.name, q.staffed));
            }
            for (reqs, set) in &q.groups {
                for k in set {
                    match self.entries.get(&k.2) {
                        Some(e) if e.in_group && e.key == *k && e.reqs == *reqs && e.queue == qx => {}
                        _ => bad.push(format!("queue {}: stray group key {k:?}", q.cfg.name)),
                    }
                }
            }
            // The routing invariant: no routable agent could take a routable entry.
            for &ax in &q.members {
                let a = self.agent(ax);
                if a.indexed.is_none() {
                    continue;
                }
                for (reqs, set) in &q.groups {
                    if !set.is_empty() && (reqs.is_empty() || a.skills.score(reqs).is_some()) {
                        bad.push(format!(
                            "queue {}: agent {} available with a call it could take",
                            q.cfg.name, a.id
                        ));
                    }
                }
            }
        }
        let mut line = 0;
        for (eid, e) in &self.entries {
            let q = self.queue(e.queue);
            line += usize::from(e.in_line);
            if e.in_line != q.line.contains(&e.key) {
                bad.push(format!("entry {eid}: in_line {}", e.in_line));
            }
            let should_group = match &e.status {
                Status::Waiting => e.in_line,
                Status::Offered(_) => q.cfg.strategy == Strategy::RingAll,
                _ => false,
            };
            if e.in_group != should_group {
                bad.push(format!("entry {eid}: in_group {} in {:?}", e.in_group, e.status));
            }
            if matches!(e.status, Status::Later) == e.in_line {
                bad.push(format!("entry {eid}: {:?} and in_line {}", e.status, e.in_line));
            }
            let mapped = match &e.what {
                What::Call { call, .. } => self.calls.get(call) == Some(eid),
                What::Callback(cb) => self.callbacks.get(&cb.id) == Some(eid),
            };
            if !mapped {
                bad.push(format!("entry {eid} not in its map"));
            }
        }
        let total: usize = self.queues.iter().map(|q| q.line.len()).sum();
        if total != line {
            bad.push(format!("lines hold {total} keys, entries say {line}"));
        }
        if self.calls.len() + self.callbacks.len() != self.entries.len() {
            bad.push("entry maps out of step".to_string());
        }
        bad
    }
}
