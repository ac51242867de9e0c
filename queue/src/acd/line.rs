//! Lines: calls joining, waiting, being announced, overflowing and leaving.

use std::cmp::Reverse;
use std::time::Duration;

use super::events::{Action, CallId, OverflowReason, RejectReason};
use super::state::{AState, Entry, EntryId, EntryTimer, EntryTimers, OrderKey, Qx, Status, What};
use super::{Acd, OverflowTarget, OverflowWhen, Strategy, Work, MAX_QUEUE_HOPS};

/// A call on its way into a queue.
pub(super) struct Joining {
    pub(super) call: CallId,
    pub(super) priority: i32,
    pub(super) skills: Vec<String>,
    pub(super) caller: String,
    /// Queue moves so far.
    pub(super) hops: u8,
}

impl Acd {
    pub(super) fn new_entry_id(&mut self) -> EntryId {
        let id = self.next_entry;
        self.next_entry += 1;
        id
    }

    /// Makes the entry routable (it may be offered).
    pub(super) fn group_insert(&mut self, eid: EntryId) {
        let Some(e) = self.entries.get_mut(&eid) else { return };
        if e.in_group {
            return;
        }
        e.in_group = true;
        let q = &mut self.queues[e.queue as usize];
        q.groups.entry(e.reqs.clone()).or_default().insert(e.key);
    }

    pub(super) fn group_remove(&mut self, eid: EntryId) {
        let Some(e) = self.entries.get_mut(&eid) else { return };
        if !e.in_group {
            return;
        }
        e.in_group = false;
        let q = &mut self.queues[e.queue as usize];
        if let Some(set) = q.groups.get_mut(&e.reqs) {
            set.remove(&e.key);
            if set.is_empty() {
                q.groups.remove(&e.reqs);
            }
        }
    }

    pub(super) fn line_insert(&mut self, eid: EntryId) {
        let Some(e) = self.entries.get_mut(&eid) else { return };
        if e.in_line {
            return;
        }
        e.in_line = true;
        let q = &mut self.queues[e.queue as usize];
        q.line.insert(e.key);
        if e.call().is_some() {
            q.calls += 1;
            q.by_arrival.insert((e.key.1, eid));
        }
    }

    pub(super) fn line_remove(&mut self, eid: EntryId) {
        let Some(e) = self.entries.get_mut(&eid) else { return };
        if !e.in_line {
            return;
        }
        e.in_line = false;
        let q = &mut self.queues[e.queue as usize];
        q.line.remove(&e.key);
        if e.call().is_some() {
            q.calls = q.calls.saturating_sub(1);
            q.by_arrival.remove(&(e.key.1, eid));
        }
    }

    /// The 1-based place `key` has (or would have) in the queue's line. Counts
    /// from both ends at once, so it costs the shorter distance to an end.
    pub(super) fn position_of(&self, qx: Qx, key: &OrderKey) -> usize {
        let line = &self.queue(qx).line;
        if line.last().is_none_or(|last| last < key) {
            return line.len() + 1;
        }
        let mut front = line.range(..*key);
        let mut back = line.range(*key..);
        let mut n = 0;
        loop {
            if front.next().is_none() {
                return n + 1;
            }
            if back.next_back().is_none() {
                return line.len() - n + 1;
            }
            n += 1;
        }
    }

    /// The wait a caller at `position` would be told (see the module docs).
    pub(super) fn ewt(&self, qx: Qx, position: usize) -> Option<Duration> {
        let q = self.queue(qx);
        if q.staffed == 0 {
            return None;
        }
        if position <= q.avail.len() {
            return Some(Duration::ZERO);
        }
        let ms = position as f64 * q.aht_ms / q.staffed as f64;
        Some(Duration::from_millis(ms.max(0.0) as u64))
    }

    pub(super) fn on_enqueue(&mut self, call: CallId, queue: &str, priority: i32, skills: Vec<String>, caller: String) {
        if self.calls.contains_key(&call) || self.talking.contains_key(&call) {
            return;
        }
        let Some(&qx) = self.queue_ix.get(queue) else {
            self.emit(Action::Rejected {
                call,
                queue: queue.to_string(),
                reason: RejectReason::UnknownQueue,
            });
            return;
        };
        let joining = Joining {
            call,
            priority,
            skills,
            caller,
            hops: 0,
        };
        self.enqueue(qx, joining);
    }

    /// A call joins a queue: the entry overflow rules, then the line.
    pub(super) fn enqueue(&mut self, qx: Qx, j: Joining) {
        let eid = self.new_entry_id();
        let key = (Reverse(j.priority), self.now, eid);
        let q = self.queue(qx);
        let mut fired = None;
        for rule in &q.cfg.overflow {
            let hit = match rule.when {
                OverflowWhen::MaxLength { calls } => calls
                    .or(q.cfg.max_length)
                    .is_some_and(|l| q.calls >= l)
                    .then_some(OverflowReason::MaxLength),
                OverflowWhen::NoAgents => (q.staffed == 0).then_some(OverflowReason::NoAgents),
                OverflowWhen::EstimatedWait { secs } => self
                    .ewt(qx, self.position_of(qx, &key))
                    .is_some_and(|w| w >= Duration::from_secs(secs))
                    .then_some(OverflowReason::EstimatedWait),
                OverflowWhen::MaxWait { .. } => None,
            };
            if let Some(reason) = hit {
                fired = Some((rule.target.clone(), reason));
                break;
            }
        }
        if let Some((target, reason)) = fired {
            self.overflow_out(qx, j, target, reason);
            return;
        }
        if q.cfg.max_length.is_some_and(|l| q.calls >= l) {
            let queue = q.cfg.name.clone();
            self.emit(Action::Rejected {
                call: j.call,
                queue,
                reason: RejectReason::Full,
            });
            return;
        }
        let relax = q.relax;
        let mut reqs = Vec::new();
        if q.cfg.strategy == Strategy::Skills && relax.is_none_or(|d| !d.is_zero()) {
            reqs = self.interner.requirements(&j.skills);
        }
        let q = self.queue(qx);
        let (max_wait, announce) = (q.max_wait, q.announce);
        let has_reqs = !reqs.is_empty();
        self.entries.insert(
            eid,
            Entry {
                queue: qx,
                key,
                reqs,
                what: What::Call {
                    call: j.call,
                    caller: j.caller,
                    skills: j.skills,
                    callback_offered: false,
                    hops: j.hops,
                },
                status: Status::Waiting,
                timers: EntryTimers::default(),
                in_line: false,
                in_group: false,
            },
        );
        self.calls.insert(j.call, eid);
        self.line_insert(eid);
        self.group_insert(eid);
        let now = self.now;
        if let Some((d, _)) = max_wait {
            self.set_entry_timer(eid, EntryTimer::MaxWait, now + d);
        }
        if let (Some(d), true) = (relax, has_reqs) {
            self.set_entry_timer(eid, EntryTimer::Relax, now + d);
        }
        if let Some(d) = announce {
            self.set_entry_timer(eid, EntryTimer::Announce, now + d);
        }
        self.dispatch_entry(eid);
        self.maybe_offer_callback(eid);
    }

    /// Reports the overflow, and carries out a `queue:` target.
    fn overflow_out(&mut self, from: Qx, j: Joining, target: OverflowTarget, reason: OverflowReason) {
        self.emit(Action::Overflow {
            call: j.call,
            queue: self.queue(from).cfg.name.clone(),
            target: target.clone(),
            reason,
        });
        let OverflowTarget::Queue(name) = target else { return };
        let reject = match self.queue_ix.get(&name) {
            None => RejectReason::UnknownQueue,
            Some(_) if j.hops >= MAX_QUEUE_HOPS => RejectReason::OverflowLoop,
            Some(&tx) => {
                let hops = j.hops + 1;
                self.enqueue(tx, Joining { hops, ..j });
                return;
            }
        };
        self.emit(Action::Rejected {
            call: j.call,
            queue: name,
            reason: reject,
        });
    }

    /// Takes a waiting call out of its queue by the rule at `rule` of its queue.
    fn overflow_entry(&mut self, eid: EntryId, rule: usize, reason: OverflowReason) {
        let Some(e) = self.remove_entry(eid) else { return };
        let Some(target) = self.queue(e.queue).cfg.overflow.get(rule).map(|r| r.target.clone()) else {
            return;
        };
        let What::Call {
            call,
            caller,
            skills,
            hops,
            ..
        } = e.what
        else {
            return;
        };
        let joining = Joining {
            call,
            priority: e.key.0 .0,
            skills,
            caller,
            hops,
        };
        self.overflow_out(e.queue, joining, target, reason);
    }

    /// The queue has no staffed member left: its calls go by the `no_agents` rule.
    pub(super) fn queue_emptied(&mut self, qx: Qx) {
        let q = self.queue(qx);
        if q.staffed > 0 {
            return;
        }
        let Some(rule) = q.cfg.overflow.iter().position(|r| r.when == OverflowWhen::NoAgents) else {
            return;
        };
        let calls: Vec<EntryId> = q
            .line
            .iter()
            .map(|k| k.2)
            .filter(|id| self.entries.get(id).is_some_and(|e| e.call().is_some()))
            .collect();
        for eid in calls {
            self.overflow_entry(eid, rule, OverflowReason::NoAgents);
        }
    }

    /// Offers a call-back to a waiting caller (once) if the wait warrants it.
    fn maybe_offer_callback(&mut self, eid: EntryId) {
        let Some(e) = self.entries.get(&eid) else { return };
        let What::Call {
            call,
            callback_offered: false,
            ..
        } = e.what
        else {
            return;
        };
        if e.status != Status::Waiting {
            return;
        }
        let Some(cfg) = &self.queue(e.queue).cfg.callback else {
            return;
        };
        let above = Duration::from_secs(cfg.offer_above_wait_secs);
        let Some(wait) = self.ewt(e.queue, self.position_of(e.queue, &e.key)) else {
            return;
        };
        if wait < above {
            return;
        }
        if let Some(Entry {
            what: What::Call { callback_offered, .. },
            ..
        }) = self.entries.get_mut(&eid)
        {
            *callback_offered = true;
        }
        self.emit(Action::OfferCallback {
            call,
            estimated_wait: wait,
        });
    }

    /// Takes an entry out of its queue for good, stopping any agent ringing
    /// or reserved for it.
    pub(super) fn remove_entry(&mut self, eid: EntryId) -> Option<Entry> {
        let e = self.entries.get(&eid)?;
        let qx = e.queue;
        match e.status.clone() {
            Status::Waiting => {}
            Status::Offered(agents) => {
                for ax in agents {
                    if self.agent(ax).state == AState::Ringing(eid) {
                        self.cancel_offer_action(eid, ax);
                        self.release(ax);
                    }
                }
            }
            Status::Reserved(ax) => {
                if self.agent(ax).state == AState::Reserved(eid) {
                    self.release(ax);
                }
            }
            Status::Later => {
                let q = &mut self.queues[qx as usize];
                q.later = q.later.saturating_sub(1);
            }
        }
        self.group_remove(eid);
        self.line_remove(eid);
        for t in [
            EntryTimer::Announce,
            EntryTimer::MaxWait,
            EntryTimer::Relax,
            EntryTimer::Due,
        ] {
            self.clear_entry_timer(eid, t);
        }
        let e = self.entries.remove(&eid)?;
        match &e.what {
            What::Call { call, .. } => {
                self.calls.remove(call);
            }
            What::Callback(cb) => {
                self.callbacks.remove(&cb.id);
            }
        }
        Some(e)
    }

    pub(super) fn entry_timer(&mut self, eid: EntryId, kind: EntryTimer) {
        let Some(e) = self.entries.get(&eid) else { return };
        let qx = e.queue;
        match kind {
            EntryTimer::Announce => {
                if let (Some(call), Status::Waiting) = (e.call(), &e.status) {
                    let position = self.position_of(qx, &e.key);
                    let estimated_wait = self.ewt(qx, position);
                    self.emit(Action::Announce {
                        call,
                        position,
                        estimated_wait,
                    });
                    self.maybe_offer_callback(eid);
                }
                if let Some(d) = self.queue(qx).announce {
                    let at = self.now + d;
                    self.set_entry_timer(eid, EntryTimer::Announce, at);
                }
            }
            EntryTimer::MaxWait => {
                if let Some((_, rule)) = self.queue(qx).max_wait {
                    self.overflow_entry(eid, rule, OverflowReason::MaxWait);
                }
            }
            EntryTimer::Relax => self.relax(eid),
            EntryTimer::Due => self.callback_due(eid),
        }
    }

    /// Drops the entry's skill requirements: any member may take it now.
    pub(super) fn relax(&mut self, eid: EntryId) {
        let Some(e) = self.entries.get(&eid) else { return };
        if e.reqs.is_empty() {
            return;
        }
        let routable = e.in_group;
        self.group_remove(eid);
        if let Some(e) = self.entries.get_mut(&eid) {
            e.reqs.clear();
        }
        if routable {
            self.group_insert(eid);
            self.work.push_back(Work::Entry(eid));
        }
    }
}
