//! The switch's side of the hooks ([`crate::hooks`]): facts for the events
//! that no call-record update carries, and overflow decision hooks. The
//! API's call control is in [`super::control`].
//!
//! Facts ([`Occurrence`]) keep their place among the record updates: each
//! is stamped with the number of updates sent before it, and
//! [`Switch::poll_out`] hands both out in that one order, so a call's
//! events follow the order in which things happened.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use queue::acd::{CallbackId, Event as AcdEvent, OverflowReason};
use queue::record::Milestone;
use serde_json::{json, Value};

use super::control::{dialable, Destination};
use super::Switch;
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
    pub(super) out: VecDeque<(u64, Occurrence)>,
    /// Record updates handed out so far.
    pub(super) popped: u64,
    /// Overflow hooks by name.
    pub(super) overflow: HashMap<String, OverflowHook>,
    /// Requests for the shell to make.
    pub(super) asks: VecDeque<OverflowAsk>,
    /// Calls waiting for a hook's answer: (hook, queue left).
    pub(super) asking: HashMap<u64, (String, String)>,
    /// Times each call asked.
    pub(super) asked: HashMap<u64, u32>,
    /// Calls the API placed: where they go once answered, the number
    /// dialled and its media leg.
    pub(super) originating: HashMap<u64, (Destination, String, media::engine::LegId)>,
    /// The call-back being cancelled through the API.
    pub(super) cancelling: Option<CallbackId>,
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
    pub(super) fn call_of_record(&self, record: &str) -> Option<u64> {
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
    pub(super) fn leave_queue(&mut self, call: u64) {
        if let Some(t) = self.tracked.get_mut(&call) {
            t.queue = None;
            let leg = t.leg;
            self.b2bua.stop(leg);
        }
    }

    /// The call joins `queue` again (at the end of its priority), as a new
    /// entry: the queue's entry rules apply to it.
    pub(super) fn rejoin(&mut self, now: Instant, call: u64, queue: &str) {
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
