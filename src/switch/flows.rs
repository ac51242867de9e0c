//! The switch's side of IVR flows: starting a flow for a call, feeding it
//! digits, prompt ends, timers and data-dip answers, and carrying out the
//! steps it asks for on the B2BUA and the media engine.

use std::sync::Arc;
use std::time::Instant;

use ivr::Flow;

use rsip::Request;
use signaling::headers;
use signaling::transaction::TransactionId;
use signaling::transport::Peer;

use super::ivr::{IvrSetup, Session, Step};
use super::{HttpCall, Switch};
use crate::b2bua::{Ctx, Target};
use queue::record::Milestone;

impl Switch {
    /// The next data dip a flow asked for.
    pub(crate) fn poll_http(&mut self) -> Option<HttpCall> {
        self.http_out.pop_front()
    }

    /// The answer to a data dip.
    pub(crate) fn handle_http_result(
        &mut self,
        now: Instant,
        call: u64,
        result: Result<serde_json::Value, ::ivr::HttpError>,
    ) {
        let utc = self.clock.utc(now);
        if let Some(session) = self.sessions.get_mut(&call) {
            session.interpreter.http_result(result, utc);
            self.drive(now, call);
        }
        self.process_events(now);
    }

    /// New flows and prompts; calls in a flow keep the version they started with.
    pub(crate) fn replace_ivr(&mut self, ivr: IvrSetup) {
        self.ivr = ivr;
    }

    /// Feeds an input to the flow of the call that owns `leg`, then acts on it.
    pub(super) fn with_session(&mut self, now: Instant, leg: media::engine::LegId, input: impl FnOnce(&mut Session)) {
        let Some(call) = self.b2bua.call_of_leg(leg) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&call) else {
            return;
        };
        input(session);
        self.drive(now, call);
    }

    /// Carries out what a call's flow asks for, then files its next timer.
    pub(super) fn drive(&mut self, now: Instant, call: u64) {
        self.run_steps(now, call);
        let Some(session) = self.sessions.get_mut(&call) else {
            return;
        };
        let next = session.interpreter.poll_timeout().map(|t| self.clock.instant(t));
        if next != session.deadline {
            if let Some(old) = session.deadline {
                self.session_timers.remove(&(old, call));
            }
            if let Some(at) = next {
                self.session_timers.insert((at, call));
            }
            session.deadline = next;
        }
    }

    /// Forgets a call's flow and its timer.
    pub(super) fn remove_session(&mut self, call: u64) -> Option<Session> {
        let session = self.sessions.remove(&call)?;
        if let Some(at) = session.deadline {
            self.session_timers.remove(&(at, call));
        }
        Some(session)
    }

    fn run_steps(&mut self, now: Instant, call: u64) {
        loop {
            let Some(session) = self.sessions.get_mut(&call) else {
                return;
            };
            let leg = session.leg;
            let utc = self.clock.utc(now);
            let Some(step) = self.ivr.next_step(session, utc) else {
                return;
            };
            let mut ctx = Ctx {
                now,
                txl: &mut self.txl,
            };
            match step {
                Step::Play(playlist) => self.b2bua.play(leg, playlist),
                Step::Stop => self.b2bua.stop(leg),
                Step::Connect(extension) => {
                    let target = self.registered_target(now, &extension);
                    let offer = target.and_then(|t| {
                        self.b2bua.connect(
                            &mut Ctx {
                                now,
                                txl: &mut self.txl,
                            },
                            call,
                            t,
                        )
                    });
                    let connected = offer.is_some();
                    if let Some(offer) = offer {
                        if let Some(t) = self.tracked.get_mut(&call) {
                            t.ringing.push((extension.clone(), offer));
                            self.keep_busy(call, &extension);
                        }
                        self.mark(now, call, Milestone::Transferred { to: extension.clone() });
                    }
                    // Until the flow says it is done, it may want the caller
                    // back when the agent hangs up (a post-call survey).
                    self.b2bua.keep_caller(call, connected);
                    if !connected {
                        tracing::info!(call, %extension, "the extension cannot take the call");
                        self.end_call(now, call);
                    }
                }
                Step::Enqueue {
                    queue,
                    priority,
                    skills,
                } => {
                    // The caller stays for the flow's survey after the agent.
                    self.b2bua.keep_caller(call, true);
                    self.enqueue(now, call, queue, priority, skills);
                }
                Step::ConnectUri(uri) => {
                    let connected = self.connect_uri(now, call, &uri);
                    self.b2bua.keep_caller(call, connected);
                    if !connected {
                        tracing::info!(call, %uri, "cannot transfer (only IP-address URIs are reached yet)");
                        self.end_call(now, call);
                    }
                }
                Step::Choice { node, digits } => self.mark(now, call, Milestone::MenuChoice { node, digits }),
                Step::Survey { kind, score } => self.survey(now, call, kind, score),
                Step::HangUp => self.b2bua.end(&mut ctx, call),
                Step::Record { path, max, beep } => {
                    if beep {
                        // The beep plays while the recording starts: the
                        // caller hears the cue, the message loses nothing.
                        if let Some(s) = self.sessions.get_mut(&call) {
                            s.beeping = true;
                        }
                        self.beep(call);
                    }
                    self.voicemail_started(now, call, leg, &path);
                    self.b2bua.record(leg, path, max);
                }
                Step::Http { url, body, timeout } => self.http_out.push_back(HttpCall {
                    call,
                    url,
                    body,
                    timeout,
                }),
                Step::Done => {
                    self.b2bua.keep_caller(call, false);
                    self.remove_session(call);
                    return;
                }
            }
        }
    }

    /// A call to a number a flow answers: the switch answers it and the flow runs.
    pub(super) fn start_flow(
        &mut self,
        now: Instant,
        id: TransactionId,
        request: Request,
        source: Peer,
        flow: Arc<Flow>,
        (number, caller): (&str, &str),
    ) {
        let started = self.b2bua.start_local(
            &mut Ctx {
                now,
                txl: &mut self.txl,
            },
            id,
            request,
            source,
        );
        let Ok((call, leg)) = started else { return };
        let rate = self.b2bua.caller_rate(call);
        self.track(now, call, leg, rate, (caller, number));
        self.record_flow(now, call, number);
        self.run_flow(now, call, flow, number, caller);
    }

    /// Runs `flow` for a call the switch answered already (an overflow to a flow).
    pub(super) fn restart_flow(&mut self, now: Instant, call: u64, flow: Arc<Flow>, number: &str) {
        self.remove_session(call);
        let caller = self.tracked.get(&call).map(|t| t.caller.clone()).unwrap_or_default();
        self.run_flow(now, call, flow, number, &caller);
    }

    fn run_flow(&mut self, now: Instant, call: u64, flow: Arc<Flow>, number: &str, caller: &str) {
        let Some((leg, rate)) = self.tracked.get(&call).map(|t| (t.leg, t.rate)) else {
            return;
        };
        let mut session = self.ivr.session(flow, number, caller, leg, rate);
        metrics::counter!("ivr_calls_total").increment(1);
        session.interpreter.start(self.clock.utc(now));
        self.sessions.insert(call, session);
        self.drive(now, call);
    }

    /// Calls a SIP URI (an IP address) into a call the switch answered.
    pub(super) fn connect_uri(&mut self, now: Instant, call: u64, uri: &str) -> bool {
        let destination = headers::socket_addr_of(uri).map(|addr| match headers::transport_of(uri) {
            Some(signaling::transport::Transport::Tcp) => Peer::tcp(addr),
            _ => Peer::udp(addr),
        });
        let Some(destination) = destination else { return false };
        let target = Target {
            contact: uri.to_owned(),
            aor: uri.to_owned(),
            destination,
        };
        let connected = self
            .b2bua
            .connect(
                &mut Ctx {
                    now,
                    txl: &mut self.txl,
                },
                call,
                target,
            )
            .is_some();
        if connected {
            self.mark(now, call, Milestone::Transferred { to: uri.to_owned() });
        }
        connected
    }
}
