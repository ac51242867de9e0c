//! Call-backs the switch dials (virtual hold, and those asked for through
//! the API): the ACD reserves an agent and asks for a `DialCallback`; the
//! switch dials the customer through the `[callbacks]` trunk's `dial`
//! template. When the customer answers, the ACD hears `CallbackResult
//! { answered: true }` and `CallbackConnected` with the new call, the call
//! gets a record (marked `callback_placed`), the customer hears the queue's
//! music and the reserved agent's phone rings; the agent's answer bridges
//! them like any queued call. A customer who is busy, does not answer or
//! cannot be reached is `CallbackResult { answered: false }`: the ACD
//! retries after the queue's `retry_after_secs`, up to `max_attempts`. An
//! agent who does not answer ends the call (the ACD hears `CallerLeft`, and
//! the agent wraps up).
//!
//! Agent first (`mode = "agent_first"`): the switch rings the reserved
//! agent's registered phone, showing the customer's number as the caller.
//! A phone that cannot be rung or does not answer is `CallbackResult
//! { answered: false }`: the agent is freed and the attempt counts like a
//! customer who did not answer. When the agent answers, the call gets its
//! record (marked `callback_placed` and `offered`), the agent hears the
//! queue's music while the customer is dialled through the trunk's template
//! as an offer of that call. The customer's answer bridges them (marked
//! `agent_answered` and `bridged`; the ACD hears `CallbackResult { answered:
//! true }` and `CallbackConnected`), and the call ends like any other. A
//! customer who is busy, does not answer or cannot be dialled hangs up the
//! agent's leg and is `CallbackResult { answered: false }`. The customer
//! sees the `caller_id` as the caller.
//!
//! The second phone of a call-back (the agent's, customer first; the
//! customer's, agent first) rings at most `ring_timeout_secs` of
//! `[callbacks]` (agent first: the same limit as the first phone); ringing
//! out is handled as a refusal.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use media::engine::LegId;
use queue::acd::{CallStatus, Callback, CallbackId, CallbackMode, Event as AcdEvent};
use queue::record::Milestone;
use signaling::headers;
use signaling::transport::{Peer, Transport};

use super::Switch;
use crate::b2bua::{Ctx, OfferId, Target};
use crate::config::{Config, Trunk};

/// What the switch needs to dial call-backs, and the calls it is dialling.
#[derive(Debug)]
pub(crate) struct Dialler {
    /// The trunk call-backs go through; `None`: none can be dialled.
    trunk: Option<Trunk>,
    /// The user part of our From: the number the customer sees.
    caller_id: String,
    /// Longest ring of the customer's phone.
    ring_timeout: Duration,
    /// Per queue: which side is dialled first, and how long the ACD keeps
    /// the agent reserved for an attempt.
    queues: HashMap<String, (CallbackMode, Duration)>,
    /// Calls placed whose customer (agent first: agent) has not answered yet.
    dialling: HashMap<u64, Attempt>,
    /// Agent first: calls whose agent answered, and the offer dialling the
    /// customer.
    connecting: HashMap<u64, (Attempt, OfferId)>,
    /// (when, call, offer): the longest a call-back's second phone rings
    /// (the agent's, customer first; the customer's, agent first).
    ring_limits: std::collections::BTreeSet<(Instant, u64, OfferId)>,
}

/// One dial attempt of a call-back.
#[derive(Debug)]
struct Attempt {
    callback: Callback,
    agent: String,
    leg: LegId,
    /// The agent's phone was rung first.
    agent_first: bool,
}

impl Dialler {
    /// The dialler for `config`'s `[callbacks]`, trunks and queues.
    pub(crate) fn new(config: &Config) -> Dialler {
        Dialler {
            trunk: config.callback_trunk().cloned(),
            caller_id: config.callbacks.caller_id.clone(),
            ring_timeout: Duration::from_secs(config.callbacks.ring_timeout_secs),
            queues: config
                .queues
                .iter()
                .map(|q| {
                    let cfg = q.callback.clone().unwrap_or_default();
                    (q.name.clone(), (cfg.mode, Duration::from_secs(cfg.dial_timeout_secs)))
                })
                .collect(),
            dialling: HashMap::new(),
            connecting: HashMap::new(),
            ring_limits: std::collections::BTreeSet::new(),
        }
    }

    /// How long to ring the customer for a call-back of `queue`: the
    /// configured ring time, ending a little before the ACD gives up on the
    /// attempt, so that a late answer never finds the agent gone.
    fn ring_for(&self, queue: &str) -> Duration {
        let dial_timeout = self.queues.get(queue).map_or(Duration::from_secs(90), |(_, d)| *d);
        let before_acd = dial_timeout.saturating_sub(Duration::from_secs(2));
        self.ring_timeout.min(before_acd).max(Duration::from_secs(1))
    }

    /// How long to ring the agent of an agent-first call-back of `queue`:
    /// at most half of what the ACD allows for the attempt, leaving the rest
    /// for the customer.
    fn agent_ring_for(&self, queue: &str) -> Duration {
        let dial_timeout = self.queues.get(queue).map_or(Duration::from_secs(90), |(_, d)| *d);
        let half = dial_timeout.saturating_sub(Duration::from_secs(2)) / 2;
        self.ring_timeout.min(half).max(Duration::from_secs(1))
    }

    /// Where `number` is dialled, or why it cannot be.
    fn target(&self, number: &str) -> Result<Target, &'static str> {
        let trunk = self.trunk.as_ref().ok_or("no [callbacks] trunk is configured")?;
        let uri = trunk.dial_uri(number).ok_or("the number cannot be dialled")?;
        let addr = headers::socket_addr_of(&uri).ok_or("the trunk's dial URI has no IP address")?;
        let destination = match headers::transport_of(&uri) {
            Some(Transport::Tcp) => Peer::tcp(addr),
            _ => Peer::udp(addr),
        };
        Ok(Target {
            contact: uri.clone(),
            aor: uri,
            destination,
        })
    }

    /// Where the API's originated calls to `number` go, as whom, and how
    /// long they ring.
    pub(super) fn dial_target(&self, number: &str) -> Result<(Target, String, Duration), &'static str> {
        let target = self.target(number)?;
        Ok((target, self.caller_id.clone(), self.ring_timeout))
    }

    /// The number customers see when the centre calls.
    pub(super) fn caller_id(&self) -> &str {
        &self.caller_id
    }

    /// The call dialling for call-back `id`, if any.
    fn call_of(&self, id: CallbackId) -> Option<u64> {
        self.dialling
            .iter()
            .find_map(|(&call, a)| (a.callback.id == id).then_some(call))
            .or_else(|| {
                self.connecting
                    .iter()
                    .find_map(|(&call, (a, _))| (a.callback.id == id).then_some(call))
            })
    }
}

impl Switch {
    /// The ACD reserved `agent` for `callback`: the customer is dialled.
    pub(super) fn dial_callback(&mut self, now: Instant, callback: Callback, agent: String) {
        let id = callback.id;
        if let Some(old) = self.dialler.call_of(id) {
            // The ACD gave up on an earlier attempt that still rings.
            self.dialler.dialling.remove(&old);
            self.dialler.connecting.remove(&old);
            self.end_call(now, old);
        }
        let mode = self.dialler.queues.get(&callback.queue).map(|(m, _)| *m);
        let agent_first = mode == Some(CallbackMode::AgentFirst);
        let target = match self.dialler.target(&callback.number) {
            Ok(target) => target,
            Err(why) => {
                tracing::warn!(callback = id, number = %callback.number, why, "call-back not dialled");
                self.attempt_failed(now, id, "not_dialled");
                return;
            }
        };
        let placed = if agent_first {
            // The agent's phone rings first, showing the customer's number;
            // the customer is dialled once the agent answers.
            let agent_target = self.registered_target(now, &agent);
            let ring_for = self.dialler.agent_ring_for(&callback.queue);
            agent_target.and_then(|target| {
                self.b2bua.originate(
                    &mut Ctx {
                        now,
                        txl: &mut self.txl,
                    },
                    target,
                    &callback.number,
                    ring_for,
                )
            })
        } else {
            let ring_for = self.dialler.ring_for(&callback.queue);
            self.b2bua.originate(
                &mut Ctx {
                    now,
                    txl: &mut self.txl,
                },
                target,
                &self.dialler.caller_id,
                ring_for,
            )
        };
        let Some((call, leg)) = placed else {
            tracing::warn!(
                callback = id,
                agent_first,
                "call-back not dialled: no call or media port left, or the agent's phone is not registered"
            );
            self.attempt_failed(now, id, "not_dialled");
            return;
        };
        tracing::info!(callback = id, call, %agent, number = %callback.number, attempt = callback.attempts + 1, agent_first, "dialling a call-back");
        self.dialler.dialling.insert(
            call,
            Attempt {
                callback,
                agent,
                leg,
                agent_first,
            },
        );
    }

    /// The customer of a call-back answered: the ACD connects the reserved
    /// agent, whose phone rings while the customer hears music.
    pub(super) fn customer_answered(&mut self, now: Instant, call: u64) {
        let Some(attempt) = self.dialler.dialling.remove(&call) else {
            // Nobody waits for this call any more.
            self.end_call(now, call);
            return;
        };
        if attempt.agent_first {
            return self.agent_first_answered(now, call, attempt);
        }
        let Attempt {
            callback, agent, leg, ..
        } = attempt;
        metrics::counter!("callback_attempts_total", "outcome" => "answered").increment(1);
        let rate = self.b2bua.caller_rate(call);
        let caller_id = self.dialler.caller_id.clone();
        self.track(now, call, leg, rate, (&callback.number, &caller_id));
        self.callback_call(call, &callback);
        let music = self.acd_music.get(&callback.queue).cloned();
        if let Some(t) = self.tracked.get_mut(&call) {
            t.music = music;
        }
        self.mark(now, call, Milestone::CallbackPlaced);
        if !self.callback_connected(now, callback.id, call, &agent) {
            tracing::info!(call, callback = callback.id, %agent, "the call-back's agent is gone: ending the call");
            self.end_call(now, call);
            return;
        }
        let target = self.registered_target(now, &agent);
        let offer = target.and_then(|target| {
            self.b2bua.connect(
                &mut Ctx {
                    now,
                    txl: &mut self.txl,
                },
                call,
                target,
            )
        });
        let Some(offer) = offer else {
            tracing::info!(call, %agent, "the call-back's agent cannot be rung: ending the call");
            self.end_call(now, call);
            return;
        };
        if let Some(t) = self.tracked.get_mut(&call) {
            t.ringing.push((agent.clone(), offer));
        }
        let limit = now + self.dialler.ring_timeout;
        self.dialler.ring_limits.insert((limit, call, offer));
        self.mark(now, call, Milestone::Offered { agent });
        self.hold_music(call);
    }

    /// The customer of a call-back was not reached: the ACD retries or gives up.
    pub(super) fn customer_failed(&mut self, now: Instant, call: u64, code: u16) {
        let Some(attempt) = self.dialler.dialling.remove(&call) else {
            return;
        };
        if attempt.agent_first {
            tracing::info!(
                callback = attempt.callback.id,
                agent = %attempt.agent,
                code,
                "agent-first call-back: the agent's phone did not answer"
            );
            self.attempt_failed(now, attempt.callback.id, "agent_no_answer");
            return;
        }
        let outcome = Self::outcome(code);
        tracing::info!(
            callback = attempt.callback.id,
            number = %attempt.callback.number,
            code,
            outcome,
            "call-back attempt did not reach the customer"
        );
        self.attempt_failed(now, attempt.callback.id, outcome);
    }

    /// A dial attempt of `callback` failed (`outcome` for the metric): the
    /// ACD frees the agent and retries later, or gives up.
    fn attempt_failed(&mut self, now: Instant, callback: CallbackId, outcome: &'static str) {
        metrics::counter!("callback_attempts_total", "outcome" => outcome).increment(1);
        self.acd_event(
            now,
            AcdEvent::CallbackResult {
                callback,
                answered: false,
            },
        );
    }

    fn outcome(code: u16) -> &'static str {
        match code {
            486 | 600 => "busy",
            408 | 480 | 487 => "no_answer",
            _ => "failed",
        }
    }

    /// Agent first: the agent answered. The call gets its record, the agent
    /// hears music and the customer is dialled as an offer of the call.
    fn agent_first_answered(&mut self, now: Instant, call: u64, attempt: Attempt) {
        let rate = self.b2bua.caller_rate(call);
        let caller_id = self.dialler.caller_id.clone();
        self.track(now, call, attempt.leg, rate, (&attempt.callback.number, &caller_id));
        self.callback_call(call, &attempt.callback);
        let music = self.acd_music.get(&attempt.callback.queue).cloned();
        if let Some(t) = self.tracked.get_mut(&call) {
            t.music = music;
        }
        self.mark(now, call, Milestone::CallbackPlaced);
        self.mark(
            now,
            call,
            Milestone::Offered {
                agent: attempt.agent.clone(),
            },
        );
        // The customer sees the centre's caller id, never the agent's phone.
        let from = format!("<sip:{caller_id}@{}>", self.domain);
        let offer = self.dialler.target(&attempt.callback.number).ok().and_then(|target| {
            self.b2bua.connect_as(
                &mut Ctx {
                    now,
                    txl: &mut self.txl,
                },
                call,
                target,
                Some(from),
            )
        });
        let Some(offer) = offer else {
            tracing::info!(
                call,
                callback = attempt.callback.id,
                "agent-first call-back: the customer cannot be dialled"
            );
            self.end_call(now, call);
            self.attempt_failed(now, attempt.callback.id, "not_dialled");
            return;
        };
        tracing::info!(call, callback = attempt.callback.id, agent = %attempt.agent, "agent-first call-back: the agent answered, dialling the customer");
        let limit = now + self.dialler.ring_for(&attempt.callback.queue);
        self.dialler.ring_limits.insert((limit, call, offer));
        self.dialler.connecting.insert(call, (attempt, offer));
        self.hold_music(call);
    }

    /// A call-back's second phone rang out: the same as its refusal.
    pub(super) fn callback_ring_limits(&mut self, now: Instant) {
        while let Some(&(at, call, offer)) = self.dialler.ring_limits.first() {
            if at > now {
                break;
            }
            self.dialler.ring_limits.pop_first();
            let agent_rings = self
                .tracked
                .get(&call)
                .is_some_and(|t| t.ringing.iter().any(|&(_, o)| o == offer));
            let customer_rings = self.dialler.connecting.get(&call).is_some_and(|&(_, o)| o == offer);
            if !(agent_rings || customer_rings) {
                continue;
            }
            tracing::info!(call, "call-back: no answer within the ring limit");
            if !self.callback_offer_failed(now, call, offer, 408) {
                self.agent_failed(now, call, offer, 408);
            }
        }
    }

    /// A call ended: an agent-first call-back whose customer had not
    /// answered yet (the agent hung up) is a failed attempt at once, so the
    /// agent is free again without waiting for the ACD's dial timeout.
    pub(super) fn callback_call_ended(&mut self, now: Instant, call: u64) {
        if let Some((attempt, _)) = self.dialler.connecting.remove(&call) {
            tracing::info!(
                call,
                callback = attempt.callback.id,
                "agent-first call-back: ended before the customer answered"
            );
            self.acd_pending.push_back(AcdEvent::CallbackResult {
                callback: attempt.callback.id,
                answered: false,
            });
            self.run_acd(now);
        }
    }

    /// The customer is reached: the ACD hears the attempt answered and
    /// connected to `call`. Returns whether the ACD still has `agent` on the
    /// call; it may have given up on the attempt meanwhile (its dial
    /// timeout, the agent logged out), and then nobody is there to talk.
    fn callback_connected(&mut self, now: Instant, callback: CallbackId, call: u64, agent: &str) -> bool {
        self.acd_event(
            now,
            AcdEvent::CallbackResult {
                callback,
                answered: true,
            },
        );
        self.acd_event(now, AcdEvent::CallbackConnected { callback, call });
        matches!(self.acd.call_status(call), Some(CallStatus::Talking { agent: a }) if a == agent)
    }

    /// When the next call-back ring limit is due.
    pub(super) fn next_callback_ring_limit(&self) -> Option<Instant> {
        self.dialler.ring_limits.first().map(|&(at, _, _)| at)
    }

    /// Agent first: the customer answered `offer` of `call`. The music
    /// stops, the two are bridged and the ACD has the agent on the call.
    /// Returns whether the offer was such a customer's.
    pub(super) fn callback_offer_answered(&mut self, now: Instant, call: u64, offer: OfferId) -> bool {
        if self.dialler.connecting.get(&call).is_none_or(|&(_, o)| o != offer) {
            return false;
        }
        let Some((attempt, _)) = self.dialler.connecting.remove(&call) else {
            return false;
        };
        let Attempt {
            callback, agent, leg, ..
        } = attempt;
        metrics::counter!("callback_attempts_total", "outcome" => "answered").increment(1);
        self.b2bua.stop(leg);
        if let Some(t) = self.tracked.get_mut(&call) {
            t.agent = Some(agent.clone());
            t.talking = true;
        }
        self.mark(now, call, Milestone::AgentAnswered { agent: agent.clone() });
        self.mark(now, call, Milestone::Bridged { agent: agent.clone() });
        if !self.callback_connected(now, callback.id, call, &agent) {
            tracing::info!(call, callback = callback.id, %agent, "the call-back's attempt is over: ending the call");
            if let Some(t) = self.tracked.get_mut(&call) {
                t.talking = false;
            }
            self.end_call(now, call);
        }
        true
    }

    /// Agent first: the customer did not answer `offer` of `call`. The
    /// agent's leg is hung up and the attempt failed. Returns whether the
    /// offer was such a customer's.
    pub(super) fn callback_offer_failed(&mut self, now: Instant, call: u64, offer: OfferId, code: u16) -> bool {
        if self.dialler.connecting.get(&call).is_none_or(|&(_, o)| o != offer) {
            return false;
        }
        let Some((attempt, _)) = self.dialler.connecting.remove(&call) else {
            return false;
        };
        let outcome = Self::outcome(code);
        tracing::info!(
            call,
            callback = attempt.callback.id,
            number = %attempt.callback.number,
            code,
            outcome,
            "agent-first call-back did not reach the customer: hanging up the agent"
        );
        self.end_call(now, call);
        self.attempt_failed(now, attempt.callback.id, outcome);
        true
    }
}
