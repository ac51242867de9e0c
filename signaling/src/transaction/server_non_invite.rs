//! The non-INVITE server transaction: RFC 3261 section 17.2.2 (figure 8).
//!
//! ```text
//!   Trying ──1xx──▶ Proceeding ──200-699──▶ Completed ──J──▶ gone
//!     └──────────────200-699──────────────────▲
//! ```
//!
//! Request retransmissions are absorbed in Trying and answered with the last
//! response in Proceeding and Completed.

use std::time::Instant;

use bytes::Bytes;
use rsip::{Request, Response, Uri};

use super::{serialize, status, Effects, Timer, TimerConfig};
use crate::transport::Peer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Trying,
    Proceeding,
    Completed,
}

/// One non-INVITE server transaction.
#[derive(Debug)]
pub(crate) struct ServerNonInvite {
    state: State,
    config: TimerConfig,
    destination: Peer,
    uri: Uri,
    last_response: Option<Bytes>,
}

impl ServerNonInvite {
    pub(crate) fn new(request: &Request, destination: Peer, config: TimerConfig) -> Self {
        ServerNonInvite {
            state: State::Trying,
            config,
            destination,
            uri: request.uri.clone(),
            last_response: None,
        }
    }

    /// The Request-URI, for CANCEL matching.
    pub(crate) fn uri(&self) -> &Uri {
        &self.uri
    }

    /// A retransmission of the request.
    pub(crate) fn on_request(&mut self, _now: Instant, fx: &mut Effects<'_>) {
        if let Some(last) = &self.last_response {
            fx.send(self.destination, last.clone());
        }
    }

    /// A response from the TU.
    pub(crate) fn send_response(&mut self, now: Instant, response: Response, fx: &mut Effects<'_>) {
        let code = status(&response);
        match (self.state, code) {
            (State::Trying | State::Proceeding, 100..=199) => {
                self.state = State::Proceeding;
            }
            (State::Trying | State::Proceeding, 200..=699) => {
                self.state = State::Completed;
                if self.destination.transport.is_reliable() {
                    fx.terminate();
                } else {
                    fx.arm(Timer::J, now, self.config.t1x64());
                }
            }
            _ => {
                tracing::debug!(code, state = ?self.state, "response refused by non-INVITE server transaction");
                return;
            }
        }
        let bytes = serialize(&response);
        fx.send(self.destination, bytes.clone());
        self.last_response = Some(bytes);
    }

    pub(crate) fn on_timer(&mut self, _now: Instant, timer: Timer, fx: &mut Effects<'_>) {
        if (timer, self.state) == (Timer::J, State::Completed) {
            fx.terminate();
        }
    }
}
