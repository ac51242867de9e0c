//! Routing: the next entry for a freed agent, the next agent for an entry.

use std::cmp::Reverse;
use std::collections::HashMap;

use super::events::Action;
use super::skills::{Req, SkillId, MAX_LEVEL};
use super::state::{AState, Agent, AgentTimer, Avail, Ax, EntryId, OrderKey, Qx, SkillSet, Status, What};
use super::{Acd, Strategy};
use crate::Millis;

impl Acd {
    /// A routable agent takes the best entry it can serve in any of its queues
    /// (priority, then entry time); with none, it is filed as available.
    pub(super) fn dispatch_agent(&mut self, ax: Ax) {
        let a = self.agent(ax);
        if !a.routable() || a.indexed.is_some() {
            return;
        }
        let mut best: Option<OrderKey> = None;
        for &(qx, _) in &a.queues {
            for (reqs, set) in &self.queue(qx).groups {
                let Some(&k) = set.first() else { continue };
                if best.is_none_or(|b| k < b) && (reqs.is_empty() || a.skills.score(reqs).is_some()) {
                    best = Some(k);
                }
            }
        }
        match best {
            Some(k) => self.offer(k.2, ax),
            None => self.index(ax),
        }
    }

    /// A routable entry gets an agent (every available member, for a ring-all call).
    pub(super) fn dispatch_entry(&mut self, eid: EntryId) {
        let Some(e) = self.entries.get(&eid) else { return };
        if !e.in_group {
            return;
        }
        let qx = e.queue;
        let q = self.queue(qx);
        if q.cfg.strategy == Strategy::RingAll && e.call().is_some() {
            for ax in q.avail.all() {
                self.offer(eid, ax);
            }
            return;
        }
        if e.status != Status::Waiting {
            return;
        }
        if let Some(ax) = self.pick_agent(qx, eid) {
            self.offer(eid, ax);
        }
    }

    /// The queue's strategy picks one available member for the entry.
    fn pick_agent(&mut self, qx: Qx, eid: EntryId) -> Option<Ax> {
        let q = &self.queues[qx as usize];
        let reqs = self.entries.get(&eid).map(|e| e.reqs.as_slice()).unwrap_or_default();
        match &q.avail {
            Avail::Idle(s) => s.first().map(|&(_, a)| a),
            Avail::Fewest(s) => s.first().map(|&(_, _, a)| a),
            Avail::RoundRobin(s) => {
                let after = q.rr_last.map_or(0, |p| p.saturating_add(1));
                s.range((after, 0)..).next().or_else(|| s.first()).map(|&(_, a)| a)
            }
            Avail::Random(v, _) => {
                if v.is_empty() {
                    None
                } else {
                    v.get(self.rng.below(v.len())).copied()
                }
            }
            Avail::Skills { idle, by_skill } => {
                if reqs.is_empty() {
                    idle.first().map(|&(_, a)| a)
                } else {
                    best_skilled(reqs, by_skill, &self.agents)
                }
            }
        }
    }

    /// Rings the agent for a call, or reserves it for a call-back and asks
    /// the shell to dial.
    pub(super) fn offer(&mut self, eid: EntryId, ax: Ax) {
        let Some(e) = self.entries.get_mut(&eid) else { return };
        let qx = e.queue;
        let q = &self.queues[qx as usize];
        let ring_all = q.cfg.strategy == Strategy::RingAll;
        let agent = self.agents[ax as usize].id.clone();
        let queue = q.cfg.name.clone();
        let what = match &e.what {
            What::Call { call, .. } => Ok(*call),
            What::Callback(cb) => Err(cb.clone()),
        };
        match what {
            Ok(call) => {
                match &mut e.status {
                    Status::Waiting => e.status = Status::Offered(vec![ax]),
                    Status::Offered(v) => v.push(ax),
                    _ => return,
                }
                if !ring_all {
                    self.group_remove(eid);
                }
                self.note_offered(qx, ax);
                self.set_state(ax, AState::Ringing(eid));
                let at = self.now + self.queue(qx).ring_timeout;
                self.set_agent_timer(ax, at, AgentTimer::Ring);
                self.emit(Action::Offer { call, agent, queue });
            }
            Err(callback) => {
                if e.status != Status::Waiting {
                    return;
                }
                e.status = Status::Reserved(ax);
                self.group_remove(eid);
                self.note_offered(qx, ax);
                self.set_state(ax, AState::Reserved(eid));
                let cfg = self.queue(qx).cfg.callback.clone().unwrap_or_default();
                let at = self.now + std::time::Duration::from_secs(cfg.dial_timeout_secs.max(1));
                self.set_agent_timer(ax, at, AgentTimer::Dial);
                self.emit(Action::DialCallback { callback, agent });
            }
        }
    }

    /// Moves the round-robin pointer to the agent just offered.
    fn note_offered(&mut self, qx: Qx, ax: Ax) {
        let pos = self.agents[ax as usize]
            .queues
            .iter()
            .find(|&&(q, _)| q == qx)
            .map(|&(_, p)| p);
        if pos.is_some() {
            self.queues[qx as usize].rr_last = pos;
        }
    }
}

/// Among available agents meeting every requirement, the highest sum of levels
/// in the required skills, then the longest idle. Walks the agents of the
/// rarest required skill from the highest level down, and stops as soon as no
/// later agent can beat the best found.
fn best_skilled(reqs: &[Req], by_skill: &HashMap<SkillId, SkillSet>, agents: &[Agent]) -> Option<Ax> {
    let mut primary: Option<(&Req, &SkillSet)> = None;
    for r in reqs {
        let set = by_skill.get(&r.skill)?;
        if primary.is_none_or(|(_, p)| set.len() < p.len()) {
            primary = Some((r, set));
        }
    }
    let (r0, set) = primary?;
    let others = u32::try_from(reqs.len().saturating_sub(1)).unwrap_or(u32::MAX);
    let headroom = others.saturating_mul(u32::from(MAX_LEVEL));
    let mut best: Option<(u32, Millis, Ax)> = None;
    for &(Reverse(level), idle, ax) in set {
        if level < r0.min {
            break;
        }
        let bound = u32::from(level) + headroom;
        if let Some((total, ..)) = best {
            // Equal totals go to the longest idle, and agents of one level come
            // in idle order, so with one requirement an equal bound cannot win.
            if bound < total || (others == 0 && bound <= total) {
                break;
            }
        }
        let total = if others == 0 {
            u32::from(level)
        } else {
            match agents.get(ax as usize).and_then(|a| a.skills.score(reqs)) {
                Some(t) => t,
                None => continue,
            }
        };
        if best.is_none_or(|(t, i, _)| total > t || (total == t && idle < i)) {
            best = Some((total, idle, ax));
        }
    }
    best.map(|(_, _, ax)| ax)
}
