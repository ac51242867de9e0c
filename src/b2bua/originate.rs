//! Calls the switch places itself (call-backs): an INVITE with our SDP offer
//! to the customer, whose side takes the caller's place in the call. Until
//! the customer answers the call is *dialling*: a 1xx only allows a CANCEL, a
//! final refusal (or a timeout) forgets the call with `CustomerFailed`, and
//! a 2xx builds the customer's dialog (we are its UAC), is ACKed at once,
//! configures the customer's media leg and sends `CustomerAnswered`. From
//! then on the call is like one the switch answered: an agent is called in
//! with `connect`, and BYE from either side, `end` and a silent leg end it.
//!
//! The switch stops ringing the customer after the `ring_for` it was given
//! (and at Timer C), and when call control ends the call: the attempt is
//! reported at once (408, or 487 when ended), and the INVITE is CANCELled
//! once it has a provisional response; a 2xx that crosses the CANCEL is
//! ACKed and hung up.

use std::cmp::Reverse;
use std::time::Duration;

use media::engine::LegId;
use rsip::{Method, Response, SipMessage};
use signaling::dialog::Dialog;
use signaling::headers;

use super::media::CallMedia;
use super::{build, send_ack, B2bua, Call, CallEvent, CallState, ClientRole, Ctx, Dialling, Side, Target};

impl B2bua {
    /// Dials `target` (a customer reached through a trunk) from `from_user`
    /// at our domain, ringing at most `ring_for`. Returns the new call and
    /// its customer's media leg; `None` when the call limit is reached, no
    /// media port is left or the target is not a usable URI.
    pub(crate) fn originate(
        &mut self,
        ctx: &mut Ctx<'_>,
        target: Target,
        from_user: &str,
        ring_for: Duration,
    ) -> Option<(u64, LegId)> {
        if self.calls.len() >= self.max_calls {
            return None;
        }
        let call_id = self.next_call;
        let (media, offer) = CallMedia::start_outbound(self.media.as_mut(), call_id, &self.caps).ok()?;
        let transport = target.destination.transport;
        let invite = build::outbound_invite(&target.contact, from_user, &self.local, transport, offer);
        let ids = invite.as_ref().and_then(|invite| {
            let call = headers::call_id(&invite.headers).ok()?.to_owned();
            let tag = headers::from_tag(&invite.headers)?.to_owned();
            Some((call, tag))
        });
        let (Some(invite), Some((sip_call_id, tag))) = (invite, ids) else {
            self.release_media(&media);
            return None;
        };
        self.next_call += 1;
        let leg = media.caller.id;
        self.legs.insert(leg, call_id);
        let tx = ctx.txl.send_request(ctx.now, invite.clone(), target.destination);
        self.clients.insert(tx, (call_id, ClientRole::Originate));
        let key = (sip_call_id, tag.clone());
        self.dialogs.insert(key.clone(), (call_id, Side::Caller));
        let mut call = Call::new(CallState::Trying, invite, tx, target.destination, tag, media, vec![key]);
        call.local = true;
        call.outbound = true;
        call.dialling = Some(Dialling::default());
        self.calls.insert(call_id, call);
        self.ring_limits.push(Reverse((ctx.now + ring_for, call_id)));
        tracing::debug!(call = call_id, to = %target.contact, "dialling");
        Some((call_id, leg))
    }

    /// A response to the INVITE of a call we placed.
    pub(super) fn originate_response(&mut self, ctx: &mut Ctx<'_>, call_id: u64, response: Response) {
        let code = response.status_code.code();
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let Some(dialling) = call.dialling.as_mut() else {
            if (200..300).contains(&code) {
                // A retransmitted 2xx: our ACK was lost.
                if let (Some(ack), Some(dialog)) = (
                    &call.ack_sent[Side::Caller.index()],
                    &call.dialogs[Side::Caller.index()],
                ) {
                    ctx.txl.send_stateless(SipMessage::Request(ack.clone()), dialog.peer);
                }
            }
            return;
        };
        if code < 200 {
            dialling.provisional = true;
            if code > 100 {
                tracing::debug!(call = call_id, code, "customer ringing");
                if !response.body.is_empty() {
                    // Early media: the answer to our offer; the 2xx repeats it.
                    let _ = call.media.outbound_answered(self.media.as_mut(), &response.body);
                }
            }
            return;
        }
        if code >= 300 {
            tracing::info!(call = call_id, code, "customer not reached");
            self.dialling_failed(call_id, code);
            return;
        }
        call.dialling = None;
        let destination = call.caller_source;
        call.dialogs[Side::Caller.index()] = Dialog::as_uac(&call.caller_invite, &response, destination).ok();
        if call.dialogs[Side::Caller.index()].is_none() {
            // A 2xx we cannot build a dialog from cannot be ACKed either.
            tracing::info!(call = call_id, "customer's 2xx unusable");
            self.dialling_failed(call_id, 502);
            return;
        }
        let cseq = headers::cseq(&call.caller_invite.headers).map(|(n, _)| n).unwrap_or(1);
        send_ack(ctx, &self.local, call, Side::Caller, cseq, None);
        let media = call.media.outbound_answered(self.media.as_mut(), &response.body);
        if let Err(failure) = media {
            tracing::info!(call = call_id, ?failure, "customer's answer unusable");
            // Confirmed, then ended at once.
            if let Some(dialog) = call.dialogs[Side::Caller.index()].as_mut() {
                let via = self.local.via(dialog.peer.transport);
                let contact = self.local.contact(dialog.peer.transport);
                if let Ok(bye) = dialog.request(Method::Bye, &via, &contact, None, None) {
                    let tx = ctx.txl.send_request(ctx.now, bye, dialog.peer);
                    self.clients.insert(tx, (call_id, ClientRole::Bye));
                }
            }
            self.dialling_failed(call_id, failure.status());
            return;
        }
        call.state = CallState::Confirmed;
        tracing::debug!(call = call_id, "customer answered");
        self.events.push_back(CallEvent::CustomerAnswered { call: call_id });
    }

    /// The customer was not reached: the call goes, and call control hears.
    pub(super) fn dialling_failed(&mut self, call_id: u64, code: u16) {
        let dialling = self
            .calls
            .get(&call_id)
            .is_some_and(|c| c.outbound && c.state != CallState::Confirmed);
        if dialling && self.discard_call(call_id).is_some() {
            self.events.push_back(CallEvent::CustomerFailed { call: call_id, code });
        }
    }

    /// The switch stops dialling (ring limit or Timer C: 408; call control
    /// ended the call: 487) and reports the attempt now. The INVITE is
    /// CANCELled once it has a provisional response, and a 2xx that crosses
    /// the CANCEL is ACKed and hung up (see `withdrawn_response`).
    pub(super) fn abandon_dialling(&mut self, ctx: &mut Ctx<'_>, call_id: u64, code: u16) {
        let Some(call) = self.calls.get(&call_id) else {
            return;
        };
        let Some(dialling) = &call.dialling else {
            return;
        };
        let provisional = dialling.provisional;
        let (invite, destination, tx) = (call.caller_invite.clone(), call.caller_source, call.caller_tx);
        self.withdraw_invite(ctx, call_id, tx, invite, destination, provisional);
        tracing::debug!(call = call_id, code, "dialling given up");
        self.dialling_failed(call_id, code);
    }

    /// Ring limits due now: those customers are given up on.
    pub(super) fn ring_limits_due(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(&Reverse((at, call_id))) = self.ring_limits.peek() {
            if at > ctx.now {
                break;
            }
            self.ring_limits.pop();
            self.abandon_dialling(ctx, call_id, 408);
        }
    }

    /// When the next ring limit is due.
    pub(super) fn next_ring_limit(&self) -> Option<std::time::Instant> {
        self.ring_limits.peek().map(|Reverse((at, _))| *at)
    }
}
