//! The UAS core's 2xx retransmission (RFC 3261 section 13.3.1.4): a 2xx we
//! sent is repeated, T1 doubling to T2, until its ACK; after 64*T1 the call
//! is ended. The ring limits of calls the switch places are due here too.

use std::cmp::Reverse;
use std::time::Instant;

use rsip::{Response, SipMessage};
use signaling::transport::Peer;

use super::{B2bua, Ctx, Retransmit, Side};

impl B2bua {
    pub(super) fn arm_retransmit(
        &mut self,
        now: Instant,
        call_id: u64,
        side: Side,
        response: Response,
        to: Peer,
        cseq: u32,
    ) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if to.transport.is_reliable() {
            // Reliable transports carry the 2xx; Timer H-like wait only.
            call.retransmit[side.index()] = Some(Retransmit {
                response,
                destination: to,
                cseq,
                interval: 64 * self.t1,
                next: now + 64 * self.t1,
                give_up: now + 64 * self.t1,
            });
        } else {
            call.retransmit[side.index()] = Some(Retransmit {
                response,
                destination: to,
                cseq,
                interval: self.t1,
                next: now + self.t1,
                give_up: now + 64 * self.t1,
            });
        }
        let next = now
            + if to.transport.is_reliable() {
                64 * self.t1
            } else {
                self.t1
            };
        self.timers.push(Reverse((next, call_id, side)));
    }

    /// Fires due 2xx retransmissions; gives up after 64*T1 without an ACK
    /// and ends the call, as section 13.3.1.4 says.
    pub(crate) fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        self.ring_limits_due(ctx);
        while let Some(&Reverse((at, call_id, side))) = self.timers.peek() {
            if at > ctx.now {
                break;
            }
            self.timers.pop();
            let Some(call) = self.calls.get_mut(&call_id) else {
                continue;
            };
            let Some(r) = call.retransmit[side.index()].as_mut() else {
                continue;
            };
            if r.next > ctx.now {
                continue;
            }
            if ctx.now >= r.give_up {
                call.retransmit[side.index()] = None;
                tracing::info!(call = call_id, ?side, "no ACK for 2xx: ending the call");
                // Section 13.3.1.4: confirm, then end, the dialog that never
                // got its ACK, and the other one with it.
                self.hang_up(ctx, call_id, &[side, side.other()]);
                continue;
            }
            ctx.txl
                .send_stateless(SipMessage::Response(r.response.clone()), r.destination);
            r.interval = (r.interval * 2).min(self.t2);
            r.next = (ctx.now + r.interval).min(r.give_up);
            self.timers.push(Reverse((r.next, call_id, side)));
        }
    }

    /// When [`B2bua::handle_timeout`] is due next.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let retransmit = self.timers.peek().map(|Reverse((at, _, _))| *at);
        retransmit.into_iter().chain(self.next_ring_limit()).min()
    }
}
