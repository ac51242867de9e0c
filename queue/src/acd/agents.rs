//! Agents: their events, their state changes, and their place in the indexes.

use super::events::{Action, CallId};
use super::state::{AState, AgentTimer, AvailKey, Ax, EntryId, Qx, Status, Talk};
use super::{Acd, NoAnswerAction, Work};

/// How an offer to an agent ended, for what happens to the agent next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OfferEnd {
    /// Withdrawn through no fault of the agent's (e.g. it logged out).
    Withdrawn,
    /// The phone was busy: the agent sits out the queue's retry time.
    Busy,
    /// Rang out, refused, failed or went unreachable: the no-answer treatment.
    NoAnswer,
}

/// The pause reason given to agents who do not answer.
pub(super) const NO_ANSWER_REASON: &str = "no-answer";

impl Acd {
    pub(super) fn emit_state(&mut self, ax: Ax) {
        let a = self.agent(ax);
        let reason = match &a.state {
            AState::Paused(r) => Some(r.clone()),
            _ => None,
        };
        self.emit(Action::AgentState {
            agent: a.id.clone(),
            state: a.state.kind(),
            reason,
        });
    }

    /// Every state change goes through here: indexes, timer, log, staffing.
    pub(super) fn set_state(&mut self, ax: Ax, state: AState) {
        self.unindex(ax);
        self.clear_agent_timer(ax);
        let now = self.now;
        let a = &mut self.agents[ax as usize];
        a.blocked = false;
        a.state = state;
        a.since = now;
        let available = a.state == AState::Available;
        self.emit_state(ax);
        self.update_staffed(ax);
        if available {
            self.work.push_back(Work::Agent(ax));
        }
    }

    /// Files the agent in its queues' available indexes.
    pub(super) fn index(&mut self, ax: Ax) {
        let a = &self.agents[ax as usize];
        if a.indexed.is_some() {
            return;
        }
        for &(qx, pos) in &a.queues {
            self.queues[qx as usize].avail.insert(&AvailKey {
                ax,
                pos,
                idle: a.idle_since,
                calls: a.calls,
                skills: &a.skills,
            });
        }
        let key = (a.idle_since, a.calls);
        self.agents[ax as usize].indexed = Some(key);
    }

    pub(super) fn unindex(&mut self, ax: Ax) {
        let a = &self.agents[ax as usize];
        let Some((idle, calls)) = a.indexed else { return };
        for &(qx, pos) in &a.queues {
            self.queues[qx as usize].avail.remove(&AvailKey {
                ax,
                pos,
                idle,
                calls,
                skills: &a.skills,
            });
        }
        self.agents[ax as usize].indexed = None;
    }

    fn update_staffed(&mut self, ax: Ax) {
        let a = &mut self.agents[ax as usize];
        let staffed = a.reachable && !matches!(a.state, AState::LoggedOut | AState::Paused(_));
        if staffed == a.staffed {
            return;
        }
        a.staffed = staffed;
        for &(qx, _) in &a.queues {
            let q = &mut self.queues[qx as usize];
            if staffed {
                q.staffed += 1;
            } else {
                q.staffed = q.staffed.saturating_sub(1);
                if q.staffed == 0 && q.calls > 0 {
                    self.work.push_back(Work::Empty(qx));
                }
            }
        }
    }

    /// The agent is done with a call, an offer or a wrap-up: a pending logout
    /// or pause applies, or it is available.
    pub(super) fn settle(&mut self, ax: Ax) {
        let a = &mut self.agents[ax as usize];
        if a.logout_pending {
            a.logout_pending = false;
            a.pause_pending = None;
            self.set_state(ax, AState::LoggedOut);
        } else if let Some(reason) = a.pause_pending.take() {
            self.set_state(ax, AState::Paused(reason));
        } else {
            self.set_state(ax, AState::Available);
        }
    }

    /// Frees an agent ringing or reserved for an entry that is going away.
    pub(super) fn release(&mut self, ax: Ax) {
        if matches!(self.agent(ax).state, AState::Ringing(_) | AState::Reserved(_)) {
            self.settle(ax);
        }
    }

    /// Keeps an available agent from offers for the queue's retry time.
    fn block(&mut self, ax: Ax, qx: Qx) {
        let retry = self.queue(qx).retry;
        if self.agent(ax).state != AState::Available || retry.is_zero() {
            return;
        }
        self.unindex(ax);
        self.agents[ax as usize].blocked = true;
        let at = self.now + retry;
        self.set_agent_timer(ax, at, AgentTimer::Retry);
    }

    /// The offer ringing this agent ended without an answer: the call goes back
    /// to the line (and to the next agent) unless other agents still ring.
    pub(super) fn end_offer(&mut self, ax: Ax, how: OfferEnd) {
        let AState::Ringing(eid) = self.agent(ax).state else {
            return;
        };
        self.clear_agent_timer(ax);
        let mut qx = None;
        if let Some(e) = self.entries.get_mut(&eid) {
            qx = Some(e.queue);
            if let Status::Offered(v) = &mut e.status {
                v.retain(|&a| a != ax);
                if v.is_empty() {
                    e.status = Status::Waiting;
                    self.group_insert(eid);
                    self.work.push_back(Work::Entry(eid));
                }
            }
        }
        let a = self.agent(ax);
        if how == OfferEnd::NoAnswer && !a.logout_pending && a.no_answer == NoAnswerAction::Pause {
            self.agents[ax as usize].pause_pending = None;
            self.set_state(ax, AState::Paused(NO_ANSWER_REASON.to_string()));
            return;
        }
        self.settle(ax);
        if let (Some(qx), true) = (qx, how != OfferEnd::Withdrawn) {
            self.block(ax, qx);
        }
    }

    /// The talk ended: wrap-up, or straight on if there is none (or a logout waits).
    pub(super) fn end_talk(&mut self, ax: Ax) {
        let AState::OnCall {
            talk,
            queue,
            answered_at,
        } = self.agent(ax).state
        else {
            return;
        };
        match talk {
            Talk::Call(c) => {
                self.talking.remove(&c);
            }
            Talk::Callback(id) => {
                self.cb_talking.remove(&id);
            }
        }
        let wrap = self.queue(queue).wrap_up;
        if self.agent(ax).logout_pending || wrap.is_zero() {
            self.record_handle(queue, answered_at);
            self.agents[ax as usize].idle_since = self.now;
            self.settle(ax);
        } else {
            self.set_state(ax, AState::WrapUp { queue, answered_at });
            let at = self.now + wrap;
            self.set_agent_timer(ax, at, AgentTimer::WrapUp);
        }
    }

    fn end_wrap_up(&mut self, ax: Ax) {
        let AState::WrapUp { queue, answered_at } = self.agent(ax).state else {
            return;
        };
        self.record_handle(queue, answered_at);
        self.agents[ax as usize].idle_since = self.now;
        self.settle(ax);
    }

    /// One more handle time (answer to end of wrap-up) into the queue's mean.
    fn record_handle(&mut self, qx: Qx, answered_at: crate::Millis) {
        let ms = self.now.since(answered_at).as_millis() as f64;
        let q = &mut self.queues[qx as usize];
        q.aht_ms += (ms - q.aht_ms) * 0.1;
    }

    pub(super) fn agent_timer(&mut self, ax: Ax, kind: AgentTimer) {
        match kind {
            AgentTimer::Ring => {
                if let AState::Ringing(eid) = self.agent(ax).state {
                    self.cancel_offer_action(eid, ax);
                    self.end_offer(ax, OfferEnd::NoAnswer);
                }
            }
            AgentTimer::Dial => {
                if let AState::Reserved(eid) = self.agent(ax).state {
                    self.callback_failed(eid);
                }
            }
            AgentTimer::WrapUp => self.end_wrap_up(ax),
            AgentTimer::Retry => {
                self.agents[ax as usize].blocked = false;
                self.work.push_back(Work::Agent(ax));
            }
        }
    }

    /// Tells the shell to stop ringing `ax` for entry `eid`.
    pub(super) fn cancel_offer_action(&mut self, eid: EntryId, ax: Ax) {
        if let Some(call) = self.entries.get(&eid).and_then(|e| e.call()) {
            let agent = self.agent(ax).id.clone();
            self.emit(Action::CancelOffer { call, agent });
        }
    }

    pub(super) fn on_login(&mut self, agent: &str) {
        let Some(ax) = self.agent_by_id(agent) else { return };
        if self.agent(ax).state == AState::LoggedOut {
            self.agents[ax as usize].idle_since = self.now;
            self.set_state(ax, AState::Available);
        } else {
            self.agents[ax as usize].logout_pending = false;
        }
    }

    pub(super) fn on_logout(&mut self, agent: &str) {
        let Some(ax) = self.agent_by_id(agent) else { return };
        match self.agent(ax).state.clone() {
            AState::LoggedOut => {}
            AState::Available | AState::Paused(_) => {
                self.agents[ax as usize].pause_pending = None;
                self.set_state(ax, AState::LoggedOut);
            }
            AState::WrapUp { queue, answered_at } => {
                self.record_handle(queue, answered_at);
                self.agents[ax as usize].pause_pending = None;
                self.set_state(ax, AState::LoggedOut);
            }
            AState::Ringing(eid) => {
                self.agents[ax as usize].logout_pending = true;
                self.cancel_offer_action(eid, ax);
                self.end_offer(ax, OfferEnd::Withdrawn);
            }
            AState::Reserved(_) | AState::OnCall { .. } => self.agents[ax as usize].logout_pending = true,
        }
    }

    pub(super) fn on_pause(&mut self, agent: &str, reason: String) {
        let Some(ax) = self.agent_by_id(agent) else { return };
        match &self.agent(ax).state {
            AState::LoggedOut => {}
            AState::Available => self.set_state(ax, AState::Paused(reason)),
            AState::Paused(r) => {
                if *r != reason {
                    self.set_state(ax, AState::Paused(reason));
                }
            }
            _ => self.agents[ax as usize].pause_pending = Some(reason),
        }
    }

    pub(super) fn on_resume(&mut self, agent: &str) {
        let Some(ax) = self.agent_by_id(agent) else { return };
        self.agents[ax as usize].pause_pending = None;
        if matches!(self.agent(ax).state, AState::Paused(_)) {
            self.set_state(ax, AState::Available);
        }
    }

    pub(super) fn on_reachable(&mut self, agent: &str, reachable: bool) {
        let Some(ax) = self.agent_by_id(agent) else { return };
        if self.agent(ax).reachable == reachable {
            return;
        }
        self.agents[ax as usize].reachable = reachable;
        if reachable {
            self.update_staffed(ax);
            self.work.push_back(Work::Agent(ax));
            return;
        }
        self.unindex(ax);
        if let AState::Ringing(eid) = self.agent(ax).state {
            self.cancel_offer_action(eid, ax);
            self.end_offer(ax, OfferEnd::NoAnswer);
        }
        self.update_staffed(ax);
    }

    pub(super) fn on_end_wrap_up(&mut self, agent: &str) {
        if let Some(ax) = self.agent_by_id(agent) {
            self.end_wrap_up(ax);
        }
    }

    pub(super) fn on_answered(&mut self, call: CallId, agent: String) {
        let Some(ax) = self.agent_by_id(&agent) else {
            self.emit(Action::CancelOffer { call, agent });
            return;
        };
        match self.agent(ax).state {
            AState::Ringing(eid) if self.entries.get(&eid).and_then(|e| e.call()) == Some(call) => {
                self.assign(eid, ax);
            }
            AState::OnCall {
                talk: Talk::Call(c), ..
            } if c == call => {}
            _ => self.emit(Action::CancelOffer { call, agent }),
        }
    }

    /// The agent answered: the call is its; every other ringing agent is stopped.
    fn assign(&mut self, eid: EntryId, ax: Ax) {
        let Some(e) = self.entries.get_mut(&eid) else { return };
        let others = match std::mem::replace(&mut e.status, Status::Waiting) {
            Status::Offered(v) => v.into_iter().filter(|&a| a != ax).collect(),
            _ => Vec::new(),
        };
        let Some(e) = self.remove_entry(eid) else { return };
        let Some(call) = e.call() else { return };
        let a = &mut self.agents[ax as usize];
        a.calls += 1;
        let agent = a.id.clone();
        self.set_state(
            ax,
            AState::OnCall {
                talk: Talk::Call(call),
                queue: e.queue,
                answered_at: self.now,
            },
        );
        self.talking.insert(call, ax);
        self.emit(Action::Assigned { call, agent });
        for o in others {
            if self.agent(o).state == AState::Ringing(eid) {
                let agent = self.agent(o).id.clone();
                self.emit(Action::CancelOffer { call, agent });
                self.release(o);
            }
        }
    }

    pub(super) fn on_offer_failed(&mut self, call: CallId, agent: &str, busy: bool) {
        let Some(ax) = self.agent_by_id(agent) else { return };
        if let AState::Ringing(eid) = self.agent(ax).state {
            if self.entries.get(&eid).and_then(|e| e.call()) == Some(call) {
                self.end_offer(ax, if busy { OfferEnd::Busy } else { OfferEnd::NoAnswer });
            }
        }
    }

    pub(super) fn on_caller_left(&mut self, call: CallId) {
        if let Some(&eid) = self.calls.get(&call) {
            if let Some(e) = self.remove_entry(eid) {
                let queue = self.queue(e.queue).cfg.name.clone();
                let waited = self.now.since(e.key.1);
                self.emit(Action::Abandoned { call, queue, waited });
            }
        } else if let Some(&ax) = self.talking.get(&call) {
            self.end_talk(ax);
        }
    }

    pub(super) fn on_agent_left(&mut self, call: CallId) {
        if let Some(&ax) = self.talking.get(&call) {
            self.end_talk(ax);
        }
    }
}
