//! The API's call control: call-backs by id, originate, transfer and
//! hang-up. Each checks what it names before it changes anything and
//! answers with a [`ControlRefused`] the API maps to a status.

use std::collections::BTreeMap;
use std::time::Instant;

use queue::acd::{Callback, CallbackId, Event as AcdEvent};
use queue::record::{Milestone, Party};

use super::Switch;
use crate::b2bua::Ctx;
use crate::hooks::Occurrence;

/// Where an API call goes: `queue:NAME`, `flow:NUMBER` or `agent:ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    /// A queue.
    Queue(String),
    /// The flow answering a number.
    Flow(String),
    /// An agent's phone.
    Agent(String),
}

impl Destination {
    /// Parses `queue:NAME`, `flow:NUMBER` or `agent:ID`.
    pub(crate) fn parse(text: &str) -> Option<Destination> {
        let (kind, name) = text.split_once(':')?;
        if name.is_empty() || name.len() > 128 {
            return None;
        }
        Some(match kind {
            "queue" => Destination::Queue(name.to_owned()),
            "flow" => Destination::Flow(name.to_owned()),
            "agent" => Destination::Agent(name.to_owned()),
            _ => return None,
        })
    }
}

/// Why the API's call control was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ControlRefused {
    /// No such call, call-back, queue, flow or agent.
    #[error("{0}")]
    NotFound(String),
    /// Not in a state that allows it.
    #[error("{0}")]
    Conflict(&'static str),
    /// The switch cannot do it now (no trunk, no capacity).
    #[error("{0}")]
    Unavailable(&'static str),
    /// Not the asker's to change (an agent's token, another's call).
    #[error("{0}")]
    Forbidden(String),
}

impl Switch {
    /// A call-back asked for from outside (the API, an overflow hook).
    /// Returns it as stored.
    pub(crate) fn request_callback(
        &mut self,
        now: Instant,
        number: String,
        queue: String,
        at: queue::Millis,
        attributes: BTreeMap<String, String>,
        source: &'static str,
    ) -> Result<Callback, ControlRefused> {
        let id = self.acd.next_callback_id();
        let position = self.hooks.popped + self.record_out.len() as u64;
        let before = self.hooks.out.len();
        self.acd_event(
            now,
            AcdEvent::ScheduleCallback {
                number,
                queue: queue.clone(),
                at,
                attributes: attributes.clone(),
            },
        );
        let Some((callback, _)) = self.acd.callback(id) else {
            return Err(ControlRefused::NotFound(format!("no queue `{queue}`")));
        };
        let callback = callback.clone();
        // Requested comes before what the request caused (scheduled, dialled).
        let requested = Occurrence::CallbackRequested {
            callback: callback.clone(),
            source,
            attributes,
            at: self.millis(now),
        };
        self.hooks.out.insert(before, (position, requested));
        Ok(callback)
    }

    /// A call-back and where it is (`scheduled`, `waiting`, `dialling`).
    pub(crate) fn callback_status(&self, id: CallbackId) -> Option<(Callback, &'static str)> {
        self.acd.callback(id).map(|(c, s)| (c.clone(), s))
    }

    /// Cancels a call-back not being dialled.
    pub(crate) fn cancel_callback(&mut self, now: Instant, id: CallbackId) -> Result<(), ControlRefused> {
        match self.acd.callback(id) {
            None => return Err(ControlRefused::NotFound(format!("no call-back {id} waiting"))),
            Some((_, "dialling")) => return Err(ControlRefused::Conflict("the call-back is being dialled")),
            Some(_) => {}
        }
        self.hooks.cancelling = Some(id);
        self.acd_event(now, AcdEvent::CancelCallback { callback: id });
        self.hooks.cancelling = None;
        self.process_events(now);
        Ok(())
    }

    /// The ACD dropped a call-back from storage: placed or given up.
    pub(super) fn callback_removed(&mut self, now: Instant, callback: CallbackId, placed: bool) {
        let outcome = match (placed, self.hooks.cancelling == Some(callback)) {
            (true, _) => "placed",
            (false, true) => "cancelled",
            (false, false) => "given_up",
        };
        let at = self.millis(now);
        self.occur(Occurrence::CallbackCompleted { callback, outcome, at });
    }

    /// The ACD reserved `agent` to dial `callback`.
    pub(super) fn callback_attempted(&mut self, now: Instant, callback: &Callback, agent: &str) {
        let at = self.millis(now);
        self.occur(Occurrence::CallbackAttempted {
            callback: callback.clone(),
            agent: agent.to_owned(),
            at,
        });
    }

    /// The call of a call-back has its record: offers carry its attributes.
    pub(super) fn callback_call(&mut self, call: u64, callback: &Callback) {
        let Some(record) = self.tracked.get(&call).map(|t| t.record.clone()) else {
            return;
        };
        self.occur(Occurrence::CallbackCall {
            record,
            callback: callback.id,
            queue: callback.queue.clone(),
            attributes: callback.attributes.clone(),
        });
    }

    /// The API places a call to `number` through the call-back trunk; when
    /// the customer answers, the call goes to `to`. Returns the id its call
    /// record will have.
    pub(crate) fn originate(&mut self, now: Instant, number: &str, to: Destination) -> Result<String, ControlRefused> {
        self.check_destination(&to)?;
        let (target, caller_id, ring_for) = self.dialler.dial_target(number).map_err(ControlRefused::Unavailable)?;
        let placed = self.b2bua.originate(
            &mut Ctx {
                now,
                txl: &mut self.txl,
            },
            target,
            &caller_id,
            ring_for,
        );
        let Some((call, leg)) = placed else {
            return Err(ControlRefused::Unavailable("no call or media port is free"));
        };
        tracing::info!(call, %number, ?to, "originating a call");
        metrics::counter!("api_originated_calls_total").increment(1);
        self.hooks.originating.insert(call, (to, number.to_owned(), leg));
        self.process_events(now);
        Ok(format!("{}-{call}", self.records_epoch))
    }

    /// Refuses a destination that names no configured queue, flow or agent.
    fn check_destination(&self, to: &Destination) -> Result<(), ControlRefused> {
        match to {
            Destination::Queue(q) if !self.acd_knows_queue(q) => {
                Err(ControlRefused::NotFound(format!("no queue `{q}`")))
            }
            Destination::Flow(n) if !self.ivr.flows.contains_key(n) => {
                Err(ControlRefused::NotFound(format!("no flow answers `{n}`")))
            }
            Destination::Agent(a) if !self.accounts.contains_key(a) => {
                Err(ControlRefused::NotFound(format!("no agent `{a}`")))
            }
            _ => Ok(()),
        }
    }

    fn acd_knows_queue(&self, queue: &str) -> bool {
        self.acd
            .snapshot(queue::Millis(0))
            .queues
            .iter()
            .any(|q| q.name == queue)
    }

    /// A call the API placed was answered: it goes where it was asked to.
    /// Returns whether the call was one.
    pub(super) fn originated_answered(&mut self, now: Instant, call: u64) -> bool {
        let Some((to, number, leg)) = self.hooks.originating.remove(&call) else {
            return false;
        };
        let rate = self.b2bua.caller_rate(call);
        let called = self.dialler.caller_id().to_owned();
        self.track(now, call, leg, rate, (&number, &called));
        match to {
            Destination::Queue(queue) => self.enqueue(now, call, queue, 0, Vec::new()),
            Destination::Flow(number) => match self.ivr.flows.get(&number).cloned() {
                Some(flow) => self.restart_flow(now, call, flow, &number),
                None => self.end_call(now, call),
            },
            Destination::Agent(agent) => self.ring_agent(now, call, &agent),
        }
        true
    }

    /// A call the API placed was not answered. Returns whether it was one.
    pub(super) fn originated_failed(&mut self, call: u64, code: u16) -> bool {
        let placed = self.hooks.originating.remove(&call).is_some();
        if placed {
            tracing::info!(call, code, "an originated call was not answered");
        }
        placed
    }

    /// Rings `agent` for `call` outside the ACD (a direct transfer).
    fn ring_agent(&mut self, now: Instant, call: u64, agent: &str) {
        let Some(target) = self.registered_target(now, agent) else {
            tracing::info!(call, %agent, "the agent's phone is not registered");
            self.play_and_hang_up(call, "goodbye");
            return;
        };
        let offer = self.b2bua.connect(
            &mut Ctx {
                now,
                txl: &mut self.txl,
            },
            call,
            target,
        );
        let Some(offer) = offer else {
            self.end_call(now, call);
            return;
        };
        if let Some(t) = self.tracked.get_mut(&call) {
            t.ringing.push((agent.to_owned(), offer));
        }
        self.keep_busy(call, agent);
        self.record_agent_leg(call, agent);
        self.mark(
            now,
            call,
            Milestone::Offered {
                agent: agent.to_owned(),
            },
        );
    }

    /// The API moves a call that is in a flow, a queue or with an agent
    /// (a blind transfer) to `to`.
    pub(crate) fn transfer(
        &mut self,
        now: Instant,
        record: &str,
        to: Destination,
        by_agent: Option<&str>,
    ) -> Result<(), ControlRefused> {
        let call = self.call_of_record(record);
        if let Some(agent) = by_agent {
            // An agent moves only the call it is talking to.
            let own = call
                .and_then(|c| self.tracked.get(&c))
                .is_some_and(|t| t.talking && t.agent.as_deref() == Some(agent));
            if !own {
                return Err(ControlRefused::Forbidden(format!(
                    "agent {agent} transfers only its own current call"
                )));
            }
        }
        let call = call.ok_or_else(|| ControlRefused::NotFound(format!("no call `{record}` in progress")))?;
        // The destination is checked before anything moves, so a refused
        // transfer leaves the call where it was.
        self.check_destination(&to)?;
        if self.tracked.get(&call).is_some_and(|t| t.talking && t.agent.is_some()) {
            // A blind transfer (by the agent, or a supervisor for it): the
            // agent's leg goes (BYE), its talk ends into wrap-up, and the
            // caller moves on below.
            self.b2bua.release_agent(
                &mut Ctx {
                    now,
                    txl: &mut self.txl,
                },
                call,
            );
            self.agent_left(now, call);
            if let Some(t) = self.tracked.get_mut(&call) {
                t.agent = None;
            }
        }
        let Some(t) = self.tracked.get(&call) else {
            return Err(ControlRefused::NotFound(format!("no call `{record}` in progress")));
        };
        if t.talking || t.agent.is_some() || !t.ringing.is_empty() {
            return Err(ControlRefused::Conflict(
                "the call is ringing an agent; transfer it once answered or while it waits",
            ));
        }
        // Out of the ACD's line without counting as an abandon.
        self.ending_by = Some(Party::Switch);
        self.acd_event(now, AcdEvent::CallerLeft { call });
        self.ending_by = None;
        self.remove_session(call);
        self.leave_queue(call);
        let label = match &to {
            Destination::Queue(q) => format!("queue:{q}"),
            Destination::Flow(n) => format!("flow:{n}"),
            Destination::Agent(a) => format!("agent:{a}"),
        };
        self.mark(now, call, Milestone::Transferred { to: label });
        match to {
            Destination::Queue(queue) => self.rejoin(now, call, &queue),
            Destination::Flow(number) => {
                if let Some(flow) = self.ivr.flows.get(&number).cloned() {
                    self.restart_flow(now, call, flow, &number);
                }
            }
            Destination::Agent(agent) => self.ring_agent(now, call, &agent),
        }
        self.process_events(now);
        Ok(())
    }

    /// The API hangs up a call.
    pub(crate) fn hang_up(&mut self, now: Instant, record: &str) -> Result<(), ControlRefused> {
        let call = self
            .call_of_record(record)
            .ok_or_else(|| ControlRefused::NotFound(format!("no call `{record}` in progress")))?;
        self.end_call(now, call);
        self.process_events(now);
        Ok(())
    }
}

/// A number the trunk can dial back.
pub(super) fn dialable(number: &str) -> bool {
    number.len() > 1 && number.trim_start_matches('+').bytes().all(|b| b.is_ascii_digit())
}
