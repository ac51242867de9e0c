//! The agent's answer to the INVITE of a call whose caller waits: provisional
//! responses (and early media) go to the caller, a refusal ends the call with
//! the agent's status, and a 2xx confirms the agent's dialog and answers the
//! caller with the switch's SDP, retransmitted until the caller's ACK.

use rsip::{Response, SipMessage};
use signaling::dialog::Dialog;
use signaling::headers;
use signaling::transaction::TransactionId;

use super::{build, send_ack, B2bua, CallState, Ctx, Side};

impl B2bua {
    pub(super) fn agent_invite_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        call_id: u64,
        tx: TransactionId,
        response: Response,
    ) {
        let code = response.status_code.code();
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if call.local {
            self.local_agent_response(ctx, call_id, tx, response);
            return;
        }
        let (Some(agent_invite), Some(agent_destination)) = (call.agent_invite.clone(), call.agent_destination) else {
            return;
        };
        if code < 200 {
            call.agent_provisional = true;
            if call.cancel_pending {
                self.cancel_agent(ctx, call_id);
                return;
            }
            if code == 100 || !matches!(call.state, CallState::Trying | CallState::Early) {
                return;
            }
            if headers::to_tag(&response.headers).is_some() && call.dialogs[Side::Agent.index()].is_none() {
                call.dialogs[Side::Agent.index()] = Dialog::as_uac(&agent_invite, &response, agent_destination).ok();
            }
            call.state = CallState::Early;
            let contact = self.local.contact(call.caller_source.transport);
            // Early media (a 183 with SDP) is anchored like the answer; SDP we
            // cannot use only costs the early media, not the call.
            let body = match response.body.is_empty() {
                true => None,
                false => call.media.agent_answered(self.media.as_mut(), &response.body).ok(),
            };
            let body = body.map(|sdp| ("application/sdp".to_owned(), sdp));
            let relayed = build::response(&call.caller_invite, code, Some(&call.caller_tag), Some(&contact), body);
            ctx.txl.send_response(ctx.now, call.caller_tx, relayed);
            return;
        }
        if code >= 300 {
            if matches!(call.state, CallState::Trying | CallState::Early) {
                let code = if call.timed_out { 408 } else { code };
                let relayed = build::response(&call.caller_invite, code, Some(&call.caller_tag), None, None);
                ctx.txl.send_response(ctx.now, call.caller_tx, relayed);
            }
            tracing::debug!(call = call_id, code, "agent refused");
            self.remove_call(call_id);
            return;
        }
        // 2xx: the agent's dialog is confirmed (a retransmission re-sends our ACK).
        if let Some(ack) = call.ack_sent[Side::Agent.index()].clone() {
            ctx.txl.send_stateless(SipMessage::Request(ack), agent_destination);
            return;
        }
        if call.ack_owed[Side::Agent.index()].is_some() {
            return; // still waiting for the caller's ACK
        }
        let agent_dialog = Dialog::as_uac(&agent_invite, &response, agent_destination).ok();
        call.dialogs[Side::Agent.index()] = agent_dialog;
        call.ack_owed[Side::Agent.index()] = Some(1);
        if call.state == CallState::Ending {
            // The caller is gone: confirm and end the agent's dialog.
            send_ack(ctx, &self.local, call, Side::Agent, 1, None);
            self.hang_up(ctx, call_id, &[Side::Agent]);
            return;
        }
        let sdp = match call.media.agent_answered(self.media.as_mut(), &response.body) {
            Ok(sdp) => sdp,
            Err(failure) => {
                // The agent accepted with SDP we cannot use: confirm and end
                // its dialog, and refuse the caller.
                tracing::info!(call = call_id, ?failure, "agent answer unusable");
                let refusal = build::response(
                    &call.caller_invite,
                    failure.status(),
                    Some(&call.caller_tag),
                    None,
                    None,
                );
                ctx.txl.send_response(ctx.now, call.caller_tx, refusal);
                self.hang_up(ctx, call_id, &[Side::Agent]);
                return;
            }
        };
        let contact = self.local.contact(call.caller_source.transport);
        let body = Some(("application/sdp".to_owned(), sdp));
        let answer = build::response(&call.caller_invite, code, Some(&call.caller_tag), Some(&contact), body);
        call.dialogs[Side::Caller.index()] =
            Dialog::as_uas(&call.caller_invite, &call.caller_tag, call.caller_source).ok();
        call.state = CallState::Answered;
        ctx.txl.send_response(ctx.now, call.caller_tx, answer.clone());
        let destination = signaling::headers::response_destination(&call.caller_invite.headers, call.caller_source);
        let cseq = headers::cseq(&call.caller_invite.headers).map(|(n, _)| n).unwrap_or(0);
        tracing::debug!(call = call_id, "answered");
        self.arm_retransmit(ctx.now, call_id, Side::Caller, answer, destination, cseq);
    }
}
