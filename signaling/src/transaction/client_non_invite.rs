//! The non-INVITE client transaction: RFC 3261 section 17.1.2 (figure 6).
//!
//! ```text
//!          start: send request, E (UDP), F
//!   Trying ──1xx──▶ Proceeding ──200-699──▶ Completed ──K──▶ gone
//!     └──────────────200-699─────────────────▲
//!   F in Trying or Proceeding: Timeout(F), gone
//! ```
//!
//! Timer E doubles from T1 up to T2 in Trying and is T2 once a provisional
//! response has been seen.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rsip::{Request, Response};

use super::{serialize, status, Effects, Timer, TimerConfig, TransactionEvent};
use crate::transport::Peer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Trying,
    Proceeding,
    Completed,
}

/// One non-INVITE client transaction.
#[derive(Debug)]
pub(crate) struct ClientNonInvite {
    state: State,
    config: TimerConfig,
    destination: Peer,
    request: Bytes,
    /// The interval Timer E was last armed with.
    interval_e: Duration,
}

impl ClientNonInvite {
    pub(crate) fn new(request: &Request, destination: Peer, config: TimerConfig) -> Self {
        ClientNonInvite {
            state: State::Trying,
            config,
            destination,
            request: serialize(request),
            interval_e: config.t1,
        }
    }

    fn reliable(&self) -> bool {
        self.destination.transport.is_reliable()
    }

    /// Sends the request and arms E (unreliable transports only) and F.
    pub(crate) fn start(&mut self, now: Instant, fx: &mut Effects<'_>) {
        fx.send(self.destination, self.request.clone());
        if !self.reliable() {
            fx.arm(Timer::E, now, self.interval_e);
        }
        fx.arm(Timer::F, now, self.config.t1x64());
    }

    pub(crate) fn on_response(&mut self, now: Instant, response: Response, fx: &mut Effects<'_>) {
        let code = status(&response);
        match (self.state, code) {
            (State::Trying | State::Proceeding, 100..=199) => {
                self.state = State::Proceeding;
                fx.emit(TransactionEvent::Response { id: fx.id(), response });
            }
            (State::Trying | State::Proceeding, 200..=699) => {
                self.state = State::Completed;
                fx.disarm(Timer::E);
                fx.disarm(Timer::F);
                fx.emit(TransactionEvent::Response { id: fx.id(), response });
                if self.reliable() {
                    fx.terminate();
                } else {
                    fx.arm(Timer::K, now, self.config.t4);
                }
            }
            _ => {
                tracing::debug!(code, state = ?self.state, "response absorbed by non-INVITE client transaction");
            }
        }
    }

    pub(crate) fn on_timer(&mut self, now: Instant, timer: Timer, fx: &mut Effects<'_>) {
        match (timer, self.state) {
            (Timer::E, State::Trying | State::Proceeding) => {
                fx.send(self.destination, self.request.clone());
                self.interval_e = if self.state == State::Proceeding {
                    self.config.t2
                } else {
                    self.interval_e.saturating_mul(2).min(self.config.t2)
                };
                fx.arm(Timer::E, now, self.interval_e);
            }
            (Timer::F, State::Trying | State::Proceeding) => {
                fx.emit(TransactionEvent::Timeout {
                    id: fx.id(),
                    timer: Timer::F,
                });
                fx.terminate();
            }
            (Timer::K, State::Completed) => fx.terminate(),
            _ => {}
        }
    }
}
