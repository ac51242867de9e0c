//! The INVITE client transaction: RFC 3261 section 17.1.1 (figure 5) with the
//! Accepted state of RFC 6026, plus Timer C (section 16.6 step 11).
//!
//! ```text
//!            start: send INVITE, A (UDP), B, C
//!   Calling ──1xx──▶ Proceeding ──300-699──▶ Completed ──D──▶ gone
//!      │  └──300-699 (send ACK)───────────────▲
//!      └──2xx──▶ Accepted ◀──2xx── Proceeding         (M) ──▶ gone
//! ```
//!
//! Timer C starts with the request and restarts on every provisional above
//! 100; when it fires the TU hears [`Timer::C`] and should CANCEL. The
//! transaction stays alive and, if it had left Calling, arms Timer B once more
//! (64*T1) as the limit for the final response to arrive (section 9.1).

use std::time::{Duration, Instant};

use bytes::Bytes;
use rsip::prelude::*;
use rsip::{Header, Method, Request, Response, Uri};

use super::{serialize, status, Effects, Timer, TimerConfig, TransactionEvent};
use crate::transport::Peer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Calling,
    Proceeding,
    Completed,
    Accepted,
}

/// What the ACK for a non-2xx final response copies from the INVITE
/// (section 17.1.1.3).
#[derive(Debug)]
struct AckTemplate {
    uri: Uri,
    top_via: Option<Header>,
    from: Option<Header>,
    call_id: Option<Header>,
    cseq: u32,
    routes: Vec<Header>,
}

impl AckTemplate {
    fn from_invite(request: &Request) -> Self {
        let top_via = super::matching::top_via(request).map(|via| Header::Via(via.into()));
        let mut from = None;
        let mut call_id = None;
        let mut routes = Vec::new();
        for header in request.headers.iter() {
            match header {
                Header::From(_) if from.is_none() => from = Some(header.clone()),
                Header::CallId(_) if call_id.is_none() => call_id = Some(header.clone()),
                Header::Route(_) => routes.push(header.clone()),
                _ => {}
            }
        }
        let cseq = request
            .cseq_header()
            .ok()
            .and_then(|h| h.typed().ok())
            .map_or(0, |c| c.seq);
        AckTemplate {
            uri: request.uri.clone(),
            top_via,
            from,
            call_id,
            cseq,
            routes,
        }
    }

    fn ack_for(&self, response: &Response) -> Request {
        let mut headers = rsip::Headers::default();
        headers.extend(self.top_via.iter().cloned().collect());
        headers.extend(self.routes.clone());
        headers.push(Header::MaxForwards(rsip::headers::MaxForwards::from("70")));
        headers.extend(self.from.iter().cloned().collect());
        if let Ok(to) = response.to_header() {
            headers.push(Header::To(to.clone()));
        }
        headers.extend(self.call_id.iter().cloned().collect());
        let cseq = rsip::typed::CSeq {
            seq: self.cseq,
            method: Method::Ack,
        };
        headers.push(Header::CSeq(cseq.into()));
        headers.push(Header::ContentLength(rsip::headers::ContentLength::from("0")));
        Request {
            method: Method::Ack,
            uri: self.uri.clone(),
            version: rsip::Version::V2,
            headers,
            body: Vec::new(),
        }
    }
}

/// One INVITE client transaction.
#[derive(Debug)]
pub(crate) struct ClientInvite {
    state: State,
    config: TimerConfig,
    destination: Peer,
    request: Bytes,
    template: AckTemplate,
    ack: Option<Bytes>,
    /// The interval Timer A was last armed with.
    interval_a: Duration,
    timer_c_fired: bool,
}

impl ClientInvite {
    pub(crate) fn new(request: &Request, destination: Peer, config: TimerConfig) -> Self {
        ClientInvite {
            state: State::Calling,
            config,
            destination,
            request: serialize(request),
            template: AckTemplate::from_invite(request),
            ack: None,
            interval_a: config.t1,
            timer_c_fired: false,
        }
    }

    fn reliable(&self) -> bool {
        self.destination.transport.is_reliable()
    }

    /// Sends the INVITE and arms A (unreliable transports only), B and C.
    pub(crate) fn start(&mut self, now: Instant, fx: &mut Effects<'_>) {
        fx.send(self.destination, self.request.clone());
        if !self.reliable() {
            fx.arm(Timer::A, now, self.interval_a);
        }
        fx.arm(Timer::B, now, self.config.t1x64());
        fx.arm(Timer::C, now, self.config.timer_c);
    }

    pub(crate) fn on_response(&mut self, now: Instant, response: Response, fx: &mut Effects<'_>) {
        let code = status(&response);
        match (self.state, code) {
            (State::Calling | State::Proceeding, 100..=199) => {
                if self.state == State::Calling {
                    self.state = State::Proceeding;
                    fx.disarm(Timer::A);
                    if !self.timer_c_fired {
                        // B only guards Calling; after Timer C it guards the CANCEL.
                        fx.disarm(Timer::B);
                    }
                }
                if code > 100 {
                    fx.arm(Timer::C, now, self.config.timer_c);
                }
                fx.emit(TransactionEvent::Response { id: fx.id(), response });
            }
            (State::Calling | State::Proceeding, 200..=299) => {
                self.state = State::Accepted;
                for timer in [Timer::A, Timer::B, Timer::C] {
                    fx.disarm(timer);
                }
                fx.arm(Timer::M, now, self.config.t1x64());
                fx.emit(TransactionEvent::Response { id: fx.id(), response });
            }
            (State::Calling | State::Proceeding, 300..=699) => {
                self.state = State::Completed;
                for timer in [Timer::A, Timer::B, Timer::C] {
                    fx.disarm(timer);
                }
                let ack = serialize(&self.template.ack_for(&response));
                fx.send(self.destination, ack.clone());
                self.ack = Some(ack);
                fx.emit(TransactionEvent::Response { id: fx.id(), response });
                if self.reliable() {
                    fx.terminate();
                } else {
                    fx.arm(Timer::D, now, self.config.timer_d());
                }
            }
            (State::Completed, 300..=699) => {
                // A retransmitted final response: ACK again, the TU heard it already.
                if let Some(ack) = &self.ack {
                    fx.send(self.destination, ack.clone());
                }
            }
            (State::Accepted, 200..=299) => {
                fx.emit(TransactionEvent::Response { id: fx.id(), response });
            }
            _ => {
                tracing::debug!(code, state = ?self.state, "response absorbed by INVITE client transaction");
            }
        }
    }

    pub(crate) fn on_timer(&mut self, now: Instant, timer: Timer, fx: &mut Effects<'_>) {
        match (timer, self.state) {
            (Timer::A, State::Calling) => {
                fx.send(self.destination, self.request.clone());
                self.interval_a = self.interval_a.saturating_mul(2);
                fx.arm(Timer::A, now, self.interval_a);
            }
            (Timer::B, State::Calling | State::Proceeding) => {
                fx.emit(TransactionEvent::Timeout {
                    id: fx.id(),
                    timer: Timer::B,
                });
                fx.terminate();
            }
            (Timer::C, State::Calling | State::Proceeding) => {
                fx.emit(TransactionEvent::Timeout {
                    id: fx.id(),
                    timer: Timer::C,
                });
                if self.state == State::Proceeding && !self.timer_c_fired {
                    fx.arm(Timer::B, now, self.config.t1x64());
                }
                self.timer_c_fired = true;
            }
            (Timer::D, State::Completed) | (Timer::M, State::Accepted) => fx.terminate(),
            _ => {}
        }
    }
}
