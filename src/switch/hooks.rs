//! The switch's side of the hooks ([`crate::hooks`]): facts for the events
//! that no call-record update carries, overflow decision hooks, and the
//! API's call control (call-backs by id, originate, transfer, hang-up).
//!
//! Facts ([`Occurrence`]) keep their place among the record updates: each
//! is stamped with the number of updates sent before it, and
//! [`Switch::poll_out`] hands both out in that one order, so a call's
//! events follow the order in which things happened.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use queue::acd::{Callback, CallbackId, Event as AcdEvent, OverflowReason};
use queue::record::{Milestone, Party};
use serde_json::{json, Value};

use super::Switch;
use crate::b2bua::Ctx;
use crate::hooks::config::OverflowHook;
use crate::hooks::overflow::Decision;
use crate::hooks::Occurrence;
use crate::store::Command;

/// How many times one call asks an overflow hook; past that the fallback
/// runs (and `wait` hangs up), so a hook that keeps answering `wait` to a
/// rule that fires on entry cannot loop.
const MAX_ASKS: u32 = 3;

/// What the hooks need in the core.
#[derive(Debug, Default)]
pub(crate) struct CoreHooks {
    /// Facts, with the number of record updates sent before each.
    out: VecDeque<(u64, Occurrence)>,
    /// Record updates handed out so far.
    popped: u64,
    /// Overflow hooks by name.
    overflow: HashMap<String, OverflowHook>,
    /// Requests for the shell to make.
    asks: VecDeque<OverflowAsk>,
    /// Calls waiting for a hook's answer: (hook, queue left).
    asking: HashMap<u64, (String, String)>,
    /// Times each call asked.
    asked: HashMap<u64, u32>,
    /// Calls the API placed: where they go once answered, the number
    /// dialled and its media leg.
    originating: HashMap<u64, (Destination, String, media::engine::LegId)>,
    /// The call-back being cancelled through the API.
    cancelling: Option<CallbackId>,
}

impl CoreHooks {
    /// The hooks part of the core for `config`.
    pub(crate) fn new(config: &crate::config::Config) -> CoreHooks {
        CoreHooks {
            overflow: config
                .hooks
                .overflow
                .iter()
                .map(|h| (h.name.clone(), h.clone()))
                .collect(),
            ..CoreHooks::default()
        }
    }
}

/// A record update or a fact, in the order they happened.
#[derive(Debug)]
pub(crate) enum Out {
    /// For the store, the live KPIs and the events.
    Record(Command),
    /// For the events only.
    Hook(Occurrence),
}

/// An overflow hook's request, for the shell to POST off the core.
#[derive(Debug, Clone)]
pub(crate) struct OverflowAsk {
    /// The call waiting for the answer.
    pub(crate) call: u64,
    /// Where.
    pub(crate) url: String,
    /// Signs the request when set.
    pub(crate) secret: Option<String>,
    /// The call's context (JSON).
    pub(crate) body: Vec<u8>,
    /// How long the caller waits.
    pub(crate) timeout: Duration,
}

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
    /// A fact for the events, after the record updates sent so far.
    pub(super) fn occur(&mut self, occurrence: Occurrence) {
        let at = self.hooks.popped + self.record_out.len() as u64;
        self.hooks.out.push_back((at, occurrence));
    }

    /// The next record update or fact, in order.
    pub(crate) fn poll_out(&mut self) -> Option<Out> {
        if self.hooks.out.front().is_some_and(|(at, _)| *at <= self.hooks.popped) {
            return self.hooks.out.pop_front().map(|(_, o)| Out::Hook(o));
        }
        if let Some(command) = self.record_out.pop_front() {
            self.hooks.popped += 1;
            return Some(Out::Record(command));
        }
        self.hooks.out.pop_front().map(|(_, o)| Out::Hook(o))
    }

    /// The next overflow hook request to make.
    pub(crate) fn poll_overflow_ask(&mut self) -> Option<OverflowAsk> {
        self.hooks.asks.pop_front()
    }

    /// The call a record id names, while it is live.
    fn call_of_record(&self, record: &str) -> Option<u64> {
        self.tracked
            .iter()
            .find(|(_, t)| !t.record.is_empty() && t.record == record)
            .map(|(call, _)| *call)
    }

    /// An overflow rule sent `call` to hook `name`: the caller keeps hearing
    /// the queue's music while the hook is asked.
    pub(super) fn ask_overflow_hook(
        &mut self,
        now: Instant,
        call: u64,
        queue: String,
        name: &str,
        reason: OverflowReason,
    ) {
        self.hooks.asked.retain(|c, _| self.tracked.contains_key(c));
        let asked = self.hooks.asked.entry(call).or_default();
        *asked += 1;
        let asked = *asked;
        let Some(hook) = self.hooks.overflow.get(name).cloned() else {
            tracing::warn!(call, hook = %name, "overflow to a hook that is not configured");
            return self.decide(now, call, &queue, Decision::HangUp, None);
        };
        if asked > MAX_ASKS {
            tracing::info!(call, hook = %name, "the hook was asked for this call too often: its fallback runs");
            let fallback = match hook.fallback() {
                Decision::Wait => Decision::HangUp,
                other => other,
            };
            return self.decide(now, call, &queue, fallback, Some(&hook));
        }
        let Some(t) = self.tracked.get_mut(&call) else { return };
        // Out of the ACD: no virtual-hold key while the hook decides.
        t.callback_offered = false;
        let waited = t.enqueued_at.map(|e| now.saturating_duration_since(e).as_secs_f64());
        let body = json!({
            "hook": name,
            "call_id": t.record,
            "caller": t.caller,
            "queue": queue,
            "reason": reason,
            "waited_secs": waited,
            "language": (!t.language.is_empty()).then(|| t.language.clone()),
            "attempt": asked,
        });
        self.hooks.asking.insert(call, (name.to_owned(), queue));
        metrics::counter!("hook_overflow_requests_total", "hook" => name.to_owned()).increment(1);
        self.hooks.asks.push_back(OverflowAsk {
            call,
            url: hook.url.clone(),
            secret: hook.secret.clone(),
            body: serde_json::to_vec(&body).unwrap_or_default(),
            timeout: Duration::from_millis(hook.timeout_ms),
        });
    }

    /// The hook's answer for `call` (or why there is none).
    pub(crate) fn handle_overflow_answer(&mut self, now: Instant, call: u64, answer: Result<Value, String>) {
        let Some((name, queue)) = self.hooks.asking.remove(&call) else {
            return;
        };
        if !self.tracked.contains_key(&call) {
            return; // The caller hung up meanwhile.
        }
        let hook = self.hooks.overflow.get(&name).cloned();
        let decision = match &answer {
            Ok(value) => Decision::from_answer(value),
            Err(_) => None,
        };
        let outcome = if decision.is_some() { "answered" } else { "fallback" };
        metrics::counter!("hook_overflow_answers_total", "hook" => name.clone(), "outcome" => outcome).increment(1);
        let decision = decision.unwrap_or_else(|| {
            tracing::info!(call, hook = %name, ?answer, "no usable answer from the overflow hook: its fallback runs");
            hook.as_ref().map_or(Decision::HangUp, OverflowHook::fallback)
        });
        tracing::info!(call, hook = %name, ?decision, "overflow hook decision");
        self.decide(now, call, &queue, decision, hook.as_ref());
        self.process_events(now);
    }

    fn decide(&mut self, now: Instant, call: u64, queue: &str, decision: Decision, hook: Option<&OverflowHook>) {
        match decision {
            Decision::Wait => self.rejoin(now, call, queue),
            Decision::Queue(next) => self.rejoin(now, call, &next),
            Decision::Flow(number) => {
                self.leave_queue(call);
                match self.ivr.flows.get(&number).cloned() {
                    Some(flow) => self.restart_flow(now, call, flow, &number),
                    None => {
                        tracing::warn!(call, %number, "overflow hook: no flow answers that number");
                        self.play_and_hang_up(call, "queue_full");
                    }
                }
            }
            Decision::Callback => {
                let caller = self.tracked.get(&call).map(|t| (t.caller.clone(), t.record.clone()));
                let Some((number, record)) = caller.filter(|(n, _)| dialable(n)) else {
                    return self.decide(now, call, queue, Decision::HangUp, hook);
                };
                self.mark(
                    now,
                    call,
                    Milestone::CallbackRequested {
                        queue: queue.to_owned(),
                    },
                );
                let attributes = BTreeMap::from([("call_id".to_owned(), record)]);
                let at = self.millis(now);
                if let Err(e) = self.request_callback(now, number, queue.to_owned(), at, attributes, "overflow_hook") {
                    tracing::warn!(call, %e, "overflow hook: the call-back was refused");
                }
                self.leave_queue(call);
                self.play_and_hang_up(call, "callback_confirmed");
            }
            Decision::Message(prompt) => {
                let prompt = prompt
                    .or_else(|| hook.map(|h| h.message_prompt.clone()))
                    .unwrap_or_else(|| "goodbye".to_owned());
                self.leave_queue(call);
                self.play_and_hang_up(call, &prompt);
            }
            Decision::HangUp => {
                self.leave_queue(call);
                self.play_and_hang_up(call, "queue_full");
            }
        }
    }

    /// The caller is no longer queued: the music stops.
    fn leave_queue(&mut self, call: u64) {
        if let Some(t) = self.tracked.get_mut(&call) {
            t.queue = None;
            let leg = t.leg;
            self.b2bua.stop(leg);
        }
    }

    /// The call joins `queue` again (at the end of its priority), as a new
    /// entry: the queue's entry rules apply to it.
    fn rejoin(&mut self, now: Instant, call: u64, queue: &str) {
        let music = self.acd_music.get(queue).cloned();
        let Some(t) = self.tracked.get_mut(&call) else { return };
        t.queue = Some(queue.to_owned());
        t.enqueued_at = Some(now);
        t.music = music;
        let caller = t.caller.clone();
        let at = self.millis(now);
        self.acd.handle(
            AcdEvent::Enqueue {
                call,
                queue: queue.to_owned(),
                priority: 0,
                skills: Vec::new(),
                caller,
            },
            at,
        );
        let actions: Vec<_> = std::iter::from_fn(|| self.acd.poll_action()).collect();
        let refused = actions
            .iter()
            .any(|a| matches!(a, queue::acd::Action::Rejected { call: c, .. } if *c == call));
        if !refused {
            self.mark(
                now,
                call,
                Milestone::Enqueued {
                    queue: queue.to_owned(),
                },
            );
            self.hold_music(call);
        }
        for action in actions {
            self.acd_action(now, action);
        }
        self.run_acd(now);
    }

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
        match &to {
            Destination::Queue(q) if !self.acd_knows_queue(q) => {
                return Err(ControlRefused::NotFound(format!("no queue `{q}`")))
            }
            Destination::Flow(n) if !self.ivr.flows.contains_key(n) => {
                return Err(ControlRefused::NotFound(format!("no flow answers `{n}`")))
            }
            Destination::Agent(a) if !self.accounts.contains_key(a) => {
                return Err(ControlRefused::NotFound(format!("no agent `{a}`")))
            }
            _ => {}
        }
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
        match &to {
            Destination::Flow(n) if !self.ivr.flows.contains_key(n) => {
                return Err(ControlRefused::NotFound(format!("no flow answers `{n}`")))
            }
            Destination::Agent(a) if !self.accounts.contains_key(a) => {
                return Err(ControlRefused::NotFound(format!("no agent `{a}`")))
            }
            Destination::Queue(q) if !self.acd_knows_queue(q) => {
                return Err(ControlRefused::NotFound(format!("no queue `{q}`")))
            }
            _ => {}
        }
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
fn dialable(number: &str) -> bool {
    number.len() > 1 && number.trim_start_matches('+').bytes().all(|b| b.is_ascii_digit())
}

impl Switch {
    /// Now on the records' clock.
    pub(crate) fn wall_now(&self, now: Instant) -> queue::Millis {
        self.millis(now)
    }

    /// The waits of the callers in each configured queue (every queue is
    /// listed, with no waits when nobody waits), for the service-level watch.
    pub(crate) fn queue_waits(&self, now: Instant) -> HashMap<String, Vec<Duration>> {
        let mut waits: HashMap<String, Vec<Duration>> = self
            .acd
            .snapshot(self.millis(now))
            .queues
            .into_iter()
            .map(|q| (q.name, Vec::new()))
            .collect();
        for (call, t) in &self.tracked {
            if let (Some(queue), Some(at), false) = (&t.queue, t.enqueued_at, t.talking) {
                if self.hooks.asking.contains_key(call) {
                    // Out of the queue while a hook decides.
                    continue;
                }
                if let Some(list) = waits.get_mut(queue) {
                    list.push(now.saturating_duration_since(at));
                }
            }
        }
        waits
    }
}
