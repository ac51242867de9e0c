//! The switch's side of the ACD: queued callers hear music and
//! announcements, the ACD's offers ring agents through the B2BUA, the
//! B2BUA's answers, refusals and hang-ups go back to the ACD, and every step
//! is a mark on the call's record (see [`super::records`]); what a queued
//! caller hears is in [`super::hold`].

use std::time::Instant;

use media::engine::LegId;
use queue::acd::{Action as AcdAction, Event as AcdEvent, OverflowTarget};
use queue::record::{AgentStateKind, End, Mark, Milestone, Party};

use super::Switch;
use crate::b2bua::{Ctx, OfferId};
use crate::store::Command;

impl Switch {
    /// A flow hands the call to a queue.
    pub(super) fn enqueue(&mut self, now: Instant, call: u64, queue: String, priority: i32, skills: Vec<String>) {
        let language = self
            .sessions
            .get(&call)
            .map(|s| s.interpreter.language().to_owned())
            .unwrap_or_default();
        let music = self.acd_music.get(&queue).cloned();
        let Some(t) = self.tracked.get_mut(&call) else { return };
        if !language.is_empty() && t.language != language {
            t.language = language.clone();
            self.record_out.push_back(Command::CallLanguage {
                id: t.record.clone(),
                language,
            });
        }
        t.queue = Some(queue.clone());
        t.enqueued_at = Some(now);
        t.music = music;
        let caller = t.caller.clone();
        self.mark(now, call, Milestone::IvrExit);
        let at = self.millis(now);
        self.acd.handle(
            AcdEvent::Enqueue {
                call,
                queue: queue.clone(),
                priority,
                skills,
                caller,
            },
            at,
        );
        // A call the queue refuses never entered it: no queue entry is
        // marked, so it is not an offered call of that queue.
        let actions: Vec<AcdAction> = std::iter::from_fn(|| self.acd.poll_action()).collect();
        let refused = actions
            .iter()
            .any(|a| matches!(a, AcdAction::Rejected { call: c, .. } if *c == call));
        if !refused {
            self.mark(now, call, Milestone::Enqueued { queue: queue.clone() });
            self.hold_music(call);
            metrics::counter!("acd_calls_enqueued_total", "queue" => queue).increment(1);
        }
        for action in actions {
            self.acd_action(now, action);
        }
        self.run_acd(now);
    }

    /// Feeds the ACD and carries out what it asks.
    pub(super) fn acd_event(&mut self, now: Instant, event: AcdEvent) {
        let at = self.millis(now);
        self.acd.handle(event, at);
        self.run_acd(now);
    }

    /// Fires the ACD's due timers.
    pub(super) fn acd_timeout(&mut self, now: Instant) {
        let at = self.millis(now);
        if self.acd.poll_timeout().is_some_and(|due| due <= at) {
            self.acd.handle_timeout(at);
            self.run_acd(now);
        }
    }

    /// When the ACD's next timer is due, on the monotonic clock.
    pub(super) fn acd_deadline(&self) -> Option<Instant> {
        let due = self.acd.poll_timeout()?;
        let utc = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(i64::try_from(due.0).ok()?)?;
        Some(self.clock.instant(utc))
    }

    /// Carries out the ACD's actions; events they give rise to are fed
    /// after, in order, so that handling never recurses.
    pub(super) fn run_acd(&mut self, now: Instant) {
        loop {
            while let Some(action) = self.acd.poll_action() {
                self.acd_action(now, action);
            }
            let Some(event) = self.acd_pending.pop_front() else {
                break;
            };
            let at = self.millis(now);
            self.acd.handle(event, at);
        }
    }

    pub(super) fn acd_action(&mut self, now: Instant, action: AcdAction) {
        match action {
            AcdAction::Offer { call, agent, queue } => self.offer(now, call, agent, &queue),
            AcdAction::CancelOffer { call, agent } => {
                let offer = self.tracked.get_mut(&call).and_then(|t| {
                    let at = t.ringing.iter().position(|(a, _)| *a == agent)?;
                    Some(t.ringing.remove(at).1)
                });
                if let Some(offer) = offer {
                    self.b2bua.withdraw_offer(
                        &mut Ctx {
                            now,
                            txl: &mut self.txl,
                        },
                        call,
                        offer,
                    );
                    self.mark(now, call, Milestone::OfferFailed { agent });
                } else {
                    tracing::debug!(call, %agent, "offer already over");
                }
            }
            AcdAction::Announce {
                call,
                position,
                estimated_wait,
            } => self.announce(call, position, estimated_wait),
            AcdAction::OfferCallback { call, .. } => {
                // Only a caller with a number can be called back.
                let Some(t) = self.tracked.get_mut(&call) else { return };
                let dialable =
                    t.caller.len() > 1 && t.caller.trim_start_matches('+').bytes().all(|b| b.is_ascii_digit());
                if dialable {
                    t.callback_offered = true;
                    self.play_then_music(call, &["callback_offer"]);
                }
            }
            AcdAction::Overflow {
                call,
                queue,
                target,
                reason,
            } => self.overflow(now, call, queue, target, reason),
            AcdAction::Rejected { call, queue, reason } => {
                tracing::info!(call, %queue, ?reason, "call not queued");
                metrics::counter!("acd_calls_rejected_total", "queue" => queue).increment(1);
                if let Some(t) = self.tracked.get_mut(&call) {
                    t.queue = None;
                }
                self.play_and_hang_up(call, "queue_full");
            }
            AcdAction::Abandoned { call, queue, waited } => {
                if self.ending_by.is_some_and(|by| by != Party::Caller) {
                    // The switch ended it (dead media, shutdown): not the caller's choice.
                    return;
                }
                metrics::counter!("acd_calls_abandoned_total", "queue" => queue.clone()).increment(1);
                metrics::histogram!("acd_abandon_wait_seconds", "queue" => queue.clone()).record(waited.as_secs_f64());
                self.mark(now, call, Milestone::Abandoned { queue });
            }
            AcdAction::DialCallback { callback, agent } => {
                self.callback_attempted(now, &callback, &agent);
                self.dial_callback(now, callback, agent);
            }
            AcdAction::CallbackStored(callback) => {
                if let Ok(json) = serde_json::to_value(&callback) {
                    self.record_out.push_back(Command::CallbackStored {
                        id: callback.id,
                        due_at: callback.due_at,
                        json,
                    });
                }
            }
            AcdAction::CallbackRemoved { callback, placed } => {
                self.record_out.push_back(Command::CallbackRemoved(callback));
                self.callback_removed(now, callback, placed);
            }
            AcdAction::CallbackRefused { callback, reason } => {
                tracing::info!(number = %callback.number, queue = %callback.queue, ?reason, "call-back refused");
            }
            AcdAction::AgentState { agent, state, reason } => {
                let at = self.millis(now);
                if !matches!(state, AgentStateKind::WrapUp | AgentStateKind::OnCall) {
                    if let Some(record) = self.wrapping_up.remove(&agent) {
                        self.record_out.push_back(Command::CallMarked {
                            id: record.clone(),
                            mark: Mark {
                                at,
                                what: Milestone::WrapUpEnded { agent: agent.clone() },
                            },
                        });
                        if self.ended_in_wrap_up.remove(&record) {
                            self.record_out.push_back(Command::CallEnded {
                                id: record,
                                end: End::Completed,
                            });
                        }
                    }
                }
                tracing::debug!(%agent, state = state.as_str(), ?reason, "agent state");
                self.record_out
                    .push_back(Command::AgentState(queue::record::AgentStateRecord {
                        agent,
                        at,
                        state,
                        reason,
                    }));
            }
            AcdAction::Assigned { call, agent } => {
                tracing::debug!(call, %agent, "call assigned");
            }
            other => tracing::debug!(?other, "ACD action"),
        }
    }

    /// Rings an agent for a queued call; a phone that cannot be rung fails
    /// the offer at once.
    fn offer(&mut self, now: Instant, call: u64, agent: String, queue: &str) {
        if self.busy_elsewhere.contains_key(&agent) {
            // On a call the ACD does not handle (Asterisk's ringinuse=no):
            // busy, tried again after the queue's retry_secs.
            self.acd_pending.push_back(AcdEvent::OfferFailed {
                call,
                agent,
                busy: true,
            });
            return;
        }
        let Some(target) = self.registered_target(now, &agent) else {
            // Registered a moment ago, gone now: not the agent's failure to
            // answer; the phone counts as unreachable until it registers.
            self.reachable.remove(&agent);
            self.acd_pending.push_back(AcdEvent::OfferFailed {
                call,
                agent: agent.clone(),
                busy: true,
            });
            self.acd_pending.push_back(AcdEvent::Reachable {
                agent,
                reachable: false,
            });
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
            // The call is gone, has an agent already, or no media leg is left.
            self.acd_pending.push_back(AcdEvent::OfferFailed {
                call,
                agent,
                busy: true,
            });
            return;
        };
        metrics::counter!("acd_offers_total", "queue" => queue.to_owned()).increment(1);
        if let Some(t) = self.tracked.get_mut(&call) {
            t.ringing.push((agent.clone(), offer));
        }
        self.mark(now, call, Milestone::Offered { agent });
    }

    /// An agent rung for `call` answered: the legs are bridged with that
    /// agent, and the B2BUA withdrew the call's other offers.
    pub(super) fn agent_answered(&mut self, now: Instant, call: u64, offer: OfferId) {
        let Some(t) = self.tracked.get_mut(&call) else { return };
        let Some(at) = t.ringing.iter().position(|&(_, o)| o == offer) else {
            return;
        };
        let (agent, _) = t.ringing.remove(at);
        let losers: Vec<String> = t.ringing.drain(..).map(|(a, _)| a).collect();
        t.agent = Some(agent.clone());
        t.talking = true;
        let leg = t.leg;
        // Out of the queue: what plays from now on is the call's own (a
        // survey after the agent), not hold music.
        let queue = t.queue.take();
        if queue.is_some() {
            t.answered_queue.clone_from(&queue);
        }
        if let (Some(q), Some(at)) = (&queue, t.enqueued_at) {
            metrics::histogram!("acd_queue_wait_seconds", "queue" => q.clone())
                .record(now.saturating_duration_since(at).as_secs_f64());
        }
        self.b2bua.stop(leg);
        for loser in losers {
            self.mark(now, call, Milestone::OfferFailed { agent: loser });
        }
        self.mark(now, call, Milestone::AgentAnswered { agent: agent.clone() });
        self.mark(now, call, Milestone::Bridged { agent: agent.clone() });
        self.record_agent_leg(call, &agent);
        self.record_on_bridge(now, call, queue.as_deref());
        if queue.is_some() {
            self.acd_event(now, AcdEvent::Answered { call, agent });
        }
    }

    /// The first audio from a leg since it was bridged: on the agent's leg of
    /// a call the agent took, the moment the agent is first heard.
    pub(super) fn first_audio(&mut self, now: Instant, call: u64, leg: LegId) {
        let Some(t) = self.tracked.get(&call) else { return };
        if t.leg == leg || !t.talking {
            return;
        }
        let agent = t.agent.clone().unwrap_or_default();
        self.mark(now, call, Milestone::FirstAgentAudio { agent });
    }

    /// An agent rung for `call` did not take it; others may still ring.
    pub(super) fn agent_failed(&mut self, now: Instant, call: u64, offer: OfferId, code: u16) {
        let Some(t) = self.tracked.get_mut(&call) else { return };
        let queued = t.queue.is_some();
        let agent = t
            .ringing
            .iter()
            .position(|&(_, o)| o == offer)
            .map(|at| t.ringing.remove(at).0);
        let others_ringing = !t.ringing.is_empty();
        if let Some(agent) = &agent {
            self.mark(now, call, Milestone::OfferFailed { agent: agent.clone() });
        }
        match (queued, agent) {
            (true, Some(agent)) => {
                let busy = matches!(code, 486 | 600);
                self.acd_event(now, AcdEvent::OfferFailed { call, agent, busy });
            }
            (true, None) => tracing::debug!(call, code, "a refusal of an offer already over"),
            (false, _) if others_ringing => {}
            (false, _) => {
                // A transfer that failed: nobody else to try.
                tracing::info!(call, code, "the called agent did not take the call");
                self.end_call(now, call);
            }
        }
    }

    /// The agent hung up a talking call.
    pub(super) fn agent_left(&mut self, now: Instant, call: u64) {
        let Some(t) = self.tracked.get_mut(&call) else { return };
        if !t.talking {
            return;
        }
        t.talking = false;
        let agent = t.agent.clone().unwrap_or_default();
        let record = t.record.clone();
        self.end_recording(now, call, crate::recording::State::Complete, None);
        if self.is_acd_talk(call) {
            self.wrapping_up.insert(agent.clone(), record);
        }
        self.mark(now, call, Milestone::TalkEnded { agent });
        self.acd_event(now, AcdEvent::AgentLeft { call });
    }

    /// The call is over: the ACD is told (an abandon is marked), then the
    /// record is closed.
    pub(super) fn call_ended(&mut self, now: Instant, call: u64, by: Party) {
        let Some(t) = self.tracked.get(&call) else { return };
        let talking = t.talking;
        let agent = t.agent.clone().unwrap_or_default();
        let record = t.record.clone();
        if talking {
            if self.is_acd_talk(call) {
                self.wrapping_up.insert(agent.clone(), record.clone());
            }
            self.mark(now, call, Milestone::TalkEnded { agent: agent.clone() });
        }
        self.recording_call_ended(now, call, &record);
        self.ending_by = Some(by);
        self.acd_event(now, AcdEvent::CallerLeft { call });
        self.ending_by = None;
        self.mark(now, call, Milestone::HungUp { by });
        if let Some(t) = self.tracked.remove(&call) {
            self.release_busy(&t.busy_agents);
        }
        // The record closes when the agent's wrap-up for it ends, so that
        // its handle time is whole.
        if record.is_empty() {
            // A service call, not recorded.
        } else if self.wrapping_up.get(&agent) == Some(&record) {
            self.ended_in_wrap_up.insert(record);
        } else {
            self.record_out.push_back(Command::CallEnded {
                id: record,
                end: End::Completed,
            });
        }
    }

    /// Whether the ACD has the call with an agent talking (rather than a
    /// direct call or a transfer it knows nothing of).
    fn is_acd_talk(&self, call: u64) -> bool {
        matches!(self.acd.call_status(call), Some(queue::acd::CallStatus::Talking { .. }))
    }

    /// A digit from a queued caller: `1` takes the virtual-hold offer.
    /// Returns whether the queue used it.
    pub(super) fn queue_digit(&mut self, now: Instant, call: u64, digit: char) -> bool {
        let Some(t) = self.tracked.get(&call) else { return false };
        if t.queue.is_none() || t.talking || t.agent.is_some() || !t.ringing.is_empty() {
            return false;
        }
        if digit == '1' && t.callback_offered {
            let queue = t.queue.clone().unwrap_or_default();
            self.mark(now, call, Milestone::CallbackRequested { queue });
            self.acd_event(now, AcdEvent::AcceptCallback { call });
            if let Some(t) = self.tracked.get_mut(&call) {
                t.queue = None;
            }
            self.play_and_hang_up(call, "callback_confirmed");
        }
        true
    }

    fn overflow(
        &mut self,
        now: Instant,
        call: u64,
        queue: String,
        target: OverflowTarget,
        reason: queue::acd::OverflowReason,
    ) {
        tracing::info!(call, %queue, ?target, ?reason, "overflow");
        metrics::counter!("acd_overflows_total", "queue" => queue.clone()).increment(1);
        let to = target.to_string();
        self.mark(
            now,
            call,
            Milestone::Overflowed {
                queue: queue.clone(),
                to,
            },
        );
        if let OverflowTarget::Hook(name) = &target {
            // The caller keeps the queue's music while the hook decides.
            metrics::counter!("acd_overflow_hooks_total", "hook" => name.clone()).increment(1);
            return self.ask_overflow_hook(now, call, queue, name, reason);
        }
        if let OverflowTarget::Queue(next) = &target {
            let music = self.acd_music.get(next).cloned();
            if let Some(t) = self.tracked.get_mut(&call) {
                t.queue = Some(next.clone());
                t.enqueued_at = Some(now);
                t.music = music;
            }
            self.mark(now, call, Milestone::Enqueued { queue: next.clone() });
            return;
        }
        let Some(t) = self.tracked.get_mut(&call) else { return };
        t.queue = None;
        let leg = t.leg;
        self.b2bua.stop(leg);
        match target {
            OverflowTarget::Queue(_) => {}
            OverflowTarget::Flow(number) => match self.ivr.flows.get(&number).cloned() {
                Some(flow) => self.restart_flow(now, call, flow, &number),
                None => {
                    tracing::warn!(call, %number, "overflow to a number no flow answers");
                    self.end_call(now, call);
                }
            },
            OverflowTarget::Voicemail(mailbox) => {
                if let Some(t) = self.tracked.get_mut(&call) {
                    t.voicemail = true;
                }
                let path = self.ivr.voicemail_path(&mailbox, self.clock.utc(now), leg);
                // A beep tells the caller to speak; the recording starts with it.
                self.beep(call);
                self.voicemail_started(now, call, leg, &path);
                self.b2bua.record(leg, path, std::time::Duration::from_secs(120));
            }
            OverflowTarget::Uri(uri) => {
                if !self.connect_uri(now, call, &uri) {
                    self.end_call(now, call);
                }
            }
            // Asked above, before the music stops.
            OverflowTarget::Hook(_) => {}
        }
    }

    /// Hangs up both sides of a call from the switch.
    pub(super) fn end_call(&mut self, now: Instant, call: u64) {
        self.b2bua.end(
            &mut Ctx {
                now,
                txl: &mut self.txl,
            },
            call,
        );
    }

    /// A REGISTER or an expiry may have changed whether an agent can be rung.
    pub(super) fn check_reachable(&mut self, now: Instant, agent: Option<&str>) {
        let candidates: Vec<String> = match agent {
            Some(a) => vec![a.to_owned()],
            None => self.reachable.iter().cloned().collect(),
        };
        for agent in candidates {
            if !self.accounts.contains_key(&agent) {
                continue;
            }
            let reachable = !self.registrar.lookup(now, &agent).is_empty();
            let known = self.reachable.contains(&agent);
            if reachable != known {
                if reachable {
                    self.reachable.insert(agent.clone());
                } else {
                    self.reachable.remove(&agent);
                }
                self.acd_event(now, AcdEvent::Reachable { agent, reachable });
            }
        }
    }

    /// The feature code an agent dialled, as an ACD event; `None` when
    /// `number` is no feature code. `*45` login, `*46` logout, `*47` pause
    /// (`*47NN`: with reason `NN`, else `break`), `*48` resume, `*49` ready.
    pub(super) fn feature_code(agent: &str, number: &str) -> Option<AcdEvent> {
        let agent = agent.to_owned();
        Some(match number {
            "*45" => AcdEvent::Login { agent },
            "*46" => AcdEvent::Logout { agent },
            "*48" => AcdEvent::Resume { agent },
            "*49" => AcdEvent::EndWrapUp { agent },
            _ => {
                let reason = number.strip_prefix("*47")?;
                AcdEvent::Pause {
                    agent,
                    reason: if reason.is_empty() { "break" } else { reason }.to_owned(),
                }
            }
        })
    }

    /// The ACD now, for the API.
    pub(crate) fn acd_snapshot(&self, now: Instant) -> queue::acd::Snapshot {
        self.acd.snapshot(self.millis(now))
    }

    /// An agent state change asked for through the API.
    pub(crate) fn agent_command(&mut self, now: Instant, event: AcdEvent) {
        self.acd_event(now, event);
        self.process_events(now);
    }

    /// Call-backs read back from the store at start.
    pub(crate) fn restore_callbacks(&mut self, now: Instant, callbacks: Vec<queue::acd::Callback>) {
        for callback in callbacks {
            self.acd_event(now, AcdEvent::RestoreCallback(callback));
        }
    }
}

/// Gauges of agents by state and calls waiting, per queue.
pub(crate) fn publish_gauges(snapshot: &queue::acd::Snapshot) {
    for q in &snapshot.queues {
        let name = q.name.clone();
        metrics::gauge!("acd_calls_waiting", "queue" => name.clone()).set(q.waiting as f64);
        metrics::gauge!("acd_longest_wait_seconds", "queue" => name.clone())
            .set(q.longest_wait.map_or(0.0, |w| w.as_secs_f64()));
        let a = q.agents;
        for (state, n) in [
            (AgentStateKind::LoggedOut, a.logged_out),
            (AgentStateKind::Available, a.available),
            (AgentStateKind::Ringing, a.ringing),
            (AgentStateKind::OnCall, a.on_call),
            (AgentStateKind::WrapUp, a.wrap_up),
            (AgentStateKind::Paused, a.paused),
        ] {
            metrics::gauge!("acd_agents", "queue" => name.clone(), "state" => state.as_str()).set(n as f64);
        }
    }
}
