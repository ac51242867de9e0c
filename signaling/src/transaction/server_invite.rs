//! The INVITE server transaction: RFC 3261 section 17.2.1 (figure 7) with the
//! Accepted state of RFC 6026.
//!
//! ```text
//!   start: send 100 Trying
//!   Proceeding ──300-699──▶ Completed ──ACK──▶ Confirmed ──I──▶ gone
//!      │                      └──H: Timeout(H)──▶ gone
//!      └──2xx──▶ Accepted ──L──▶ gone
//! ```
//!
//! The transaction never retransmits a 2xx: in Accepted it absorbs INVITE
//! retransmissions and passes on whatever 2xx the UAS core hands it (the core
//! retransmits its 2xx itself, section 13.3.1.4). An ACK that reaches an
//! Accepted transaction (same branch as the INVITE, as RFC 2543 peers do) is
//! the dialog's and goes to the TU.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rsip::{Header, Method, Request, Response, Uri};

use super::{serialize, status, Effects, Timer, TimerConfig, TransactionEvent};
use crate::transport::Peer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
}

/// One INVITE server transaction.
#[derive(Debug)]
pub(crate) struct ServerInvite {
    state: State,
    config: TimerConfig,
    destination: Peer,
    uri: Uri,
    /// The last provisional or non-2xx final response, re-sent on INVITE
    /// retransmissions; starts as the 100 Trying.
    last_response: Bytes,
    /// The interval Timer G was last armed with.
    interval_g: Duration,
}

impl ServerInvite {
    pub(crate) fn new(request: &Request, destination: Peer, config: TimerConfig) -> Self {
        ServerInvite {
            state: State::Proceeding,
            config,
            destination,
            uri: request.uri.clone(),
            last_response: serialize(&trying_for(request)),
            interval_g: config.t1,
        }
    }

    /// The Request-URI of the INVITE, for CANCEL matching.
    pub(crate) fn uri(&self) -> &Uri {
        &self.uri
    }

    fn reliable(&self) -> bool {
        self.destination.transport.is_reliable()
    }

    /// Sends the 100 Trying.
    pub(crate) fn start(&mut self, _now: Instant, fx: &mut Effects<'_>) {
        fx.send(self.destination, self.last_response.clone());
    }

    /// A retransmitted INVITE or an ACK matching this transaction.
    pub(crate) fn on_request(&mut self, now: Instant, request: Request, source: Peer, fx: &mut Effects<'_>) {
        if request.method == Method::Ack {
            match self.state {
                State::Completed => {
                    self.state = State::Confirmed;
                    fx.disarm(Timer::G);
                    fx.disarm(Timer::H);
                    if self.reliable() {
                        fx.terminate();
                    } else {
                        fx.arm(Timer::I, now, self.config.t4);
                    }
                }
                State::Accepted => fx.emit(TransactionEvent::Ack { request, source }),
                State::Confirmed => {}
                State::Proceeding => tracing::debug!("ACK before a final response dropped"),
            }
            return;
        }
        match self.state {
            State::Proceeding | State::Completed => fx.send(self.destination, self.last_response.clone()),
            State::Accepted | State::Confirmed => {}
        }
    }

    /// A response from the TU.
    pub(crate) fn send_response(&mut self, now: Instant, response: Response, fx: &mut Effects<'_>) {
        let code = status(&response);
        match (self.state, code) {
            (State::Proceeding, 100..=199) => {
                self.last_response = serialize(&response);
                fx.send(self.destination, self.last_response.clone());
            }
            (State::Proceeding, 200..=299) => {
                self.state = State::Accepted;
                fx.send(self.destination, serialize(&response));
                fx.arm(Timer::L, now, self.config.t1x64());
            }
            (State::Accepted, 200..=299) => fx.send(self.destination, serialize(&response)),
            (State::Proceeding, 300..=699) => {
                self.state = State::Completed;
                self.last_response = serialize(&response);
                fx.send(self.destination, self.last_response.clone());
                if !self.reliable() {
                    fx.arm(Timer::G, now, self.interval_g);
                }
                fx.arm(Timer::H, now, self.config.t1x64());
            }
            _ => tracing::debug!(code, state = ?self.state, "response refused by INVITE server transaction"),
        }
    }

    pub(crate) fn on_timer(&mut self, now: Instant, timer: Timer, fx: &mut Effects<'_>) {
        match (timer, self.state) {
            (Timer::G, State::Completed) => {
                fx.send(self.destination, self.last_response.clone());
                self.interval_g = self.interval_g.saturating_mul(2).min(self.config.t2);
                fx.arm(Timer::G, now, self.interval_g);
            }
            (Timer::H, State::Completed) => {
                fx.emit(TransactionEvent::Timeout {
                    id: fx.id(),
                    timer: Timer::H,
                });
                fx.terminate();
            }
            (Timer::I, State::Confirmed) | (Timer::L, State::Accepted) => fx.terminate(),
            _ => {}
        }
    }
}

/// Copies the headers a response must echo (section 8.2.6.2) into a new
/// response with no body: used for 100 Trying.
fn trying_for(request: &Request) -> Response {
    let mut headers = rsip::Headers::default();
    for header in request.headers.iter() {
        match header {
            Header::Via(_) | Header::From(_) | Header::To(_) | Header::CallId(_) | Header::CSeq(_) => {
                headers.push(header.clone())
            }
            Header::Other(name, _) if name.eq_ignore_ascii_case("Timestamp") => headers.push(header.clone()),
            Header::Timestamp(_) => headers.push(header.clone()),
            _ => {}
        }
    }
    headers.push(Header::ContentLength(rsip::headers::ContentLength::from("0")));
    Response {
        status_code: rsip::StatusCode::Trying,
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}
