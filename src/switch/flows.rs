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
                Step::Connect(agents) => {
                    let target = agents.iter().find_map(|ext| {
                        let binding = self
                            .registrar
                            .lookup(now, ext)
                            .first()
                            .map(|b| (b.contact.clone(), b.source))?;
                        Some(Target {
                            contact: binding.0,
                            aor: format!("sip:{ext}@{}", self.domain),
                            destination: binding.1,
                        })
                    });
                    let connected = target.is_some_and(|t| self.b2bua.connect(&mut ctx, call, t));
                    // Until the flow says it is done, it may want the caller
                    // back when the agent hangs up (a post-call survey).
                    self.b2bua.keep_caller(call, connected);
                    if !connected {
                        tracing::info!(call, ?agents, "no agent can take the call");
                        self.b2bua.end(&mut ctx, call);
                    }
                }
                Step::ConnectUri(uri) => {
                    let destination = headers::socket_addr_of(&uri).map(|addr| match headers::transport_of(&uri) {
                        Some(signaling::transport::Transport::Tcp) => Peer::tcp(addr),
                        _ => Peer::udp(addr),
                    });
                    let connected = destination.is_some_and(|destination| {
                        let target = Target {
                            contact: uri.clone(),
                            aor: uri.clone(),
                            destination,
                        };
                        self.b2bua.connect(&mut ctx, call, target)
                    });
                    self.b2bua.keep_caller(call, connected);
                    if !connected {
                        tracing::info!(call, %uri, "cannot transfer (only IP-address URIs are reached yet)");
                        self.b2bua.end(&mut ctx, call);
                    }
                }
                Step::HangUp => self.b2bua.end(&mut ctx, call),
                Step::Record { path, max } => self.b2bua.record(leg, path, max),
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
        let mut session = self.ivr.session(flow, number, caller, leg, rate);
        metrics::counter!("ivr_calls_total").increment(1);
        session.interpreter.start(self.clock.utc(now));
        self.sessions.insert(call, session);
        self.drive(now, call);
    }
}
