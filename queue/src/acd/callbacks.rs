//! Call-backs (virtual hold): taking a caller's place, dialling, retrying.

use std::cmp::Reverse;
use std::time::Duration;

use super::events::{Action, CallId, Callback, CallbackId, RejectReason};
use super::state::{AState, Ax, Entry, EntryId, EntryTimer, EntryTimers, Qx, Status, Talk, What};
use super::{Acd, Strategy, Work};

impl Acd {
    fn fresh_callback_id(&mut self) -> CallbackId {
        let id = self.next_callback;
        self.next_callback += 1;
        id
    }

    /// The caller pressed the key: the call leaves the line and a call-back
    /// takes its exact place.
    pub(super) fn on_accept_callback(&mut self, call: CallId) {
        let Some(&eid) = self.calls.get(&call) else { return };
        let Some(e) = self.entries.get(&eid) else { return };
        if self.queue(e.queue).cfg.callback.is_none() {
            return;
        }
        let agents = match &e.status {
            Status::Offered(v) => v.clone(),
            _ => Vec::new(),
        };
        for ax in agents {
            if self.agent(ax).state == AState::Ringing(eid) {
                self.cancel_offer_action(eid, ax);
                self.release(ax);
            }
        }
        self.clear_entry_timer(eid, EntryTimer::Announce);
        self.clear_entry_timer(eid, EntryTimer::MaxWait);
        self.group_remove(eid);
        self.line_remove(eid);
        self.calls.remove(&call);
        let id = self.fresh_callback_id();
        let Some(e) = self.entries.get_mut(&eid) else { return };
        let What::Call { caller, skills, .. } = &e.what else {
            return;
        };
        let cb = Callback {
            id,
            number: caller.clone(),
            queue: self.queues[e.queue as usize].cfg.name.clone(),
            requested_at: e.key.1,
            due_at: self.now,
            attempts: 0,
            priority: e.key.0 .0,
            skills: skills.clone(),
            attributes: Default::default(),
        };
        e.what = What::Callback(cb.clone());
        e.status = Status::Waiting;
        self.callbacks.insert(id, eid);
        self.emit(Action::CallbackStored(cb));
        self.line_insert(eid);
        self.group_insert(eid);
        self.work.push_back(Work::Entry(eid));
    }

    pub(super) fn on_schedule_callback(
        &mut self,
        number: String,
        queue: String,
        at: crate::Millis,
        attributes: std::collections::BTreeMap<String, String>,
    ) {
        let when = at.max(self.now);
        let cb = Callback {
            id: self.fresh_callback_id(),
            number,
            queue,
            requested_at: when,
            due_at: when,
            attempts: 0,
            priority: 0,
            skills: Vec::new(),
            attributes,
        };
        let Some(&qx) = self.queue_ix.get(&cb.queue) else {
            self.emit(Action::CallbackRefused {
                callback: cb,
                reason: RejectReason::UnknownQueue,
            });
            return;
        };
        self.emit(Action::CallbackStored(cb.clone()));
        self.add_callback(qx, cb);
    }

    pub(super) fn on_cancel_callback(&mut self, id: CallbackId) {
        let Some(&eid) = self.callbacks.get(&id) else { return };
        if matches!(
            self.entries.get(&eid).map(|e| &e.status),
            Some(Status::Reserved(_)) | None
        ) {
            return;
        }
        self.remove_entry(eid);
        self.emit(Action::CallbackRemoved {
            callback: id,
            placed: false,
        });
    }

    /// The id the next call-back will get (so that a requester can be told
    /// it before the ACD takes the request).
    pub fn next_callback_id(&self) -> CallbackId {
        self.next_callback
    }

    /// A call-back still to be placed, and where it is: `scheduled` (not
    /// due yet), `waiting` (in line) or `dialling`.
    pub fn callback(&self, id: CallbackId) -> Option<(&Callback, &'static str)> {
        let e = self.entries.get(self.callbacks.get(&id)?)?;
        let What::Callback(cb) = &e.what else { return None };
        let state = match e.status {
            Status::Later => "scheduled",
            Status::Reserved(_) => "dialling",
            Status::Waiting | Status::Offered(_) => "waiting",
        };
        Some((cb, state))
    }

    pub(super) fn on_restore_callback(&mut self, cb: Callback) {
        if self.callbacks.contains_key(&cb.id) || self.cb_talking.contains_key(&cb.id) {
            return;
        }
        self.next_callback = self.next_callback.max(cb.id.saturating_add(1));
        let Some(&qx) = self.queue_ix.get(&cb.queue) else {
            self.emit(Action::CallbackRefused {
                callback: cb,
                reason: RejectReason::UnknownQueue,
            });
            return;
        };
        self.add_callback(qx, cb);
    }

    /// Puts a call-back in its queue: in line if due, else out of line until due.
    fn add_callback(&mut self, qx: Qx, cb: Callback) {
        let eid = self.new_entry_id();
        let q = self.queue(qx);
        let reqs = if q.cfg.strategy == Strategy::Skills {
            self.interner.requirements(&cb.skills)
        } else {
            Vec::new()
        };
        let (id, due) = (cb.id, cb.due_at);
        self.entries.insert(
            eid,
            Entry {
                queue: qx,
                key: (Reverse(cb.priority), cb.requested_at, eid),
                reqs,
                what: What::Callback(cb),
                status: Status::Later,
                timers: EntryTimers::default(),
                in_line: false,
                in_group: false,
            },
        );
        self.callbacks.insert(id, eid);
        self.queues[qx as usize].later += 1;
        if due > self.now {
            self.set_entry_timer(eid, EntryTimer::Due, due);
        } else {
            self.callback_due(eid);
        }
    }

    /// A call-back's time has come: it takes its place in line.
    pub(super) fn callback_due(&mut self, eid: EntryId) {
        let Some(e) = self.entries.get_mut(&eid) else { return };
        if e.status != Status::Later {
            return;
        }
        e.status = Status::Waiting;
        let (qx, requested_at, has_reqs) = (e.queue, e.key.1, !e.reqs.is_empty());
        let q = &mut self.queues[qx as usize];
        q.later = q.later.saturating_sub(1);
        if let (Some(d), true) = (q.relax, has_reqs) {
            let at = requested_at + d;
            if at <= self.now {
                if let Some(e) = self.entries.get_mut(&eid) {
                    e.reqs.clear();
                }
            } else {
                self.set_entry_timer(eid, EntryTimer::Relax, at);
            }
        }
        self.line_insert(eid);
        self.group_insert(eid);
        self.work.push_back(Work::Entry(eid));
    }

    pub(super) fn on_callback_result(&mut self, id: CallbackId, answered: bool) {
        if let Some(&eid) = self.callbacks.get(&id) {
            let Some(&Status::Reserved(ax)) = self.entries.get(&eid).map(|e| &e.status) else {
                return;
            };
            if answered {
                self.connect(eid, ax, None);
            } else {
                self.callback_failed(eid);
            }
        } else if let Some(&ax) = self.cb_talking.get(&id) {
            if !answered {
                self.end_talk(ax);
            }
        }
    }

    pub(super) fn on_callback_connected(&mut self, id: CallbackId, call: CallId) {
        let call = (!self.calls.contains_key(&call) && !self.talking.contains_key(&call)).then_some(call);
        if let Some(&eid) = self.callbacks.get(&id) {
            if let Some(&Status::Reserved(ax)) = self.entries.get(&eid).map(|e| &e.status) {
                self.connect(eid, ax, call);
            }
        } else if let (Some(&ax), Some(call)) = (self.cb_talking.get(&id), call) {
            let AState::OnCall { queue, answered_at, .. } = self.agent(ax).state else {
                return;
            };
            self.cb_talking.remove(&id);
            self.agents[ax as usize].state = AState::OnCall {
                talk: Talk::Call(call),
                queue,
                answered_at,
            };
            self.talking.insert(call, ax);
            let agent = self.agent(ax).id.clone();
            self.emit(Action::Assigned { call, agent });
        }
    }

    /// The call-back reached the customer: the agent is on it.
    fn connect(&mut self, eid: EntryId, ax: Ax, call: Option<CallId>) {
        if let Some(e) = self.entries.get_mut(&eid) {
            e.status = Status::Waiting;
        }
        let Some(e) = self.remove_entry(eid) else { return };
        let What::Callback(cb) = e.what else { return };
        self.emit(Action::CallbackRemoved {
            callback: cb.id,
            placed: true,
        });
        self.agents[ax as usize].calls += 1;
        let talk = match call {
            Some(c) => Talk::Call(c),
            None => Talk::Callback(cb.id),
        };
        self.set_state(
            ax,
            AState::OnCall {
                talk,
                queue: e.queue,
                answered_at: self.now,
            },
        );
        match call {
            Some(call) => {
                self.talking.insert(call, ax);
                let agent = self.agent(ax).id.clone();
                self.emit(Action::Assigned { call, agent });
            }
            None => {
                self.cb_talking.insert(cb.id, ax);
            }
        }
    }

    /// An attempt did not reach the customer: free the agent, then retry later
    /// or give up.
    pub(super) fn callback_failed(&mut self, eid: EntryId) {
        let Some(e) = self.entries.get_mut(&eid) else { return };
        let Status::Reserved(ax) = e.status else { return };
        e.status = Status::Waiting;
        let qx = e.queue;
        let cfg = self.queue(qx).cfg.callback.clone().unwrap_or_default();
        if self.agent(ax).state == AState::Reserved(eid) {
            self.release(ax);
        }
        let now = self.now;
        let Some(e) = self.entries.get_mut(&eid) else { return };
        let What::Callback(cb) = &mut e.what else { return };
        cb.attempts += 1;
        if cb.attempts >= cfg.max_attempts {
            let id = cb.id;
            self.remove_entry(eid);
            self.emit(Action::CallbackRemoved {
                callback: id,
                placed: false,
            });
            return;
        }
        cb.due_at = now + Duration::from_secs(cfg.retry_after_secs);
        let (stored, due) = (cb.clone(), cb.due_at);
        e.status = Status::Later;
        self.queues[qx as usize].later += 1;
        self.group_remove(eid);
        self.line_remove(eid);
        self.clear_entry_timer(eid, EntryTimer::Relax);
        self.emit(Action::CallbackStored(stored));
        if due > now {
            self.set_entry_timer(eid, EntryTimer::Due, due);
        } else {
            self.callback_due(eid);
        }
    }
}
