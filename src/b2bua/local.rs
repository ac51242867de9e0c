//! Calls the switch answers itself (IVR, prompts) before an agent joins: the
//! caller's leg alone, answered here, and later an INVITE to the agent that is
//! bridged on answer. The caller's dialog is confirmed already, so the
//! agent's 2xx is ACKed at once.

use rsip::{Request, Response, SipMessage};
use signaling::dialog::Dialog;
use signaling::headers;
use signaling::transaction::TransactionId;
use signaling::transport::Peer;

use super::media::CallMedia;
use super::{build, send_ack, Admission, B2bua, Call, CallEvent, CallState, ClientRole, Ctx, Side, Target};

impl B2bua {
    /// Answers a caller's INVITE here (200 with the switch's SDP) and keeps
    /// the call without an agent. Returns the call and its media leg.
    pub(crate) fn start_local(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: TransactionId,
        invite: Request,
        source: Peer,
    ) -> Result<(u64, ::media::engine::LegId), Admission> {
        let refuse = |ctx: &mut Ctx<'_>, code: u16| {
            let mut response = build::response(&invite, code, Some(&headers::new_tag()), None, None);
            if code == 503 {
                // Overload (calls or RTP ports): the caller may try again soon.
                response.headers.push(rsip::Header::RetryAfter(
                    <rsip::headers::RetryAfter as rsip::headers::UntypedHeader>::new("5"),
                ));
            }
            ctx.txl.send_response(ctx.now, id, response);
            Err(Admission::Refused(code))
        };
        if self.calls.len() >= self.max_calls {
            tracing::warn!(calls = self.calls.len(), "call refused: the most calls are up");
            return refuse(ctx, 503);
        }
        let call_id = self.next_call;
        let (media, sdp) = match CallMedia::start_local(self.media.as_mut(), call_id, &invite.body, &self.caps) {
            Ok(started) => started,
            Err(failure) => {
                tracing::warn!(?failure, "call refused: no media for the caller");
                metrics::counter!("media_setup_failures_total", "status" => failure.status().to_string()).increment(1);
                return refuse(ctx, failure.status());
            }
        };
        let Ok(caller_call_id) = headers::call_id(&invite.headers).map(str::to_owned) else {
            self.release_media(&media);
            return refuse(ctx, 400);
        };
        self.next_call += 1;
        let caller_tag = headers::new_tag();
        let contact = self.local.contact(source.transport);
        let answer = build::response(
            &invite,
            200,
            Some(&caller_tag),
            Some(&contact),
            Some(("application/sdp".into(), sdp)),
        );
        ctx.txl.send_response(ctx.now, id, answer.clone());
        let leg = media.caller.id;
        self.legs.insert(leg, call_id);
        let key = (caller_call_id, caller_tag.clone());
        self.dialogs.insert(key.clone(), (call_id, Side::Caller));
        self.invites.insert(id, call_id);
        let dialog = Dialog::as_uas(&invite, &caller_tag, source).ok();
        let cseq = headers::cseq(&invite.headers).map(|(n, _)| n).unwrap_or(0);
        let destination = headers::response_destination(&invite.headers, source);
        let mut call = Call::new(CallState::Answered, invite, id, source, caller_tag, media, vec![key]);
        call.local = true;
        call.dialogs[Side::Caller.index()] = dialog;
        self.calls.insert(call_id, call);
        self.arm_retransmit(ctx.now, call_id, Side::Caller, answer, destination, cseq);
        tracing::debug!(call = call_id, "answered by the switch");
        Ok((call_id, leg))
    }

    /// Calls an agent into a call the switch answered (or placed, once the
    /// customer answered). False when the call is gone, has an agent
    /// already, is still dialling, or no media leg is left.
    pub(crate) fn connect(&mut self, ctx: &mut Ctx<'_>, call_id: u64, target: Target) -> bool {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return false;
        };
        if !call.local || call.agent_invite.is_some() || call.dialling.is_some() {
            return false;
        }
        let Ok(offer) = call.media.connect_agent(self.media.as_mut(), call_id) else {
            return false;
        };
        // The agent of a call we placed sees the customer we dialled (the
        // To of our INVITE) as the caller.
        let from = match call.outbound {
            true => headers::to_value(&call.caller_invite.headers).ok(),
            false => None,
        };
        let invite = build::AgentInvite {
            incoming: &call.caller_invite,
            from,
            contact: &target.contact,
            aor: target.aor.clone(),
            destination: target.destination,
            local: &self.local,
            sdp: offer,
        }
        .build();
        let agent_leg = call.media.agent.map(|a| a.id);
        let Some(invite) = invite else { return false };
        let (Ok(agent_call_id), Some(agent_tag)) = (
            headers::call_id(&invite.headers).map(str::to_owned),
            headers::from_tag(&invite.headers).map(str::to_owned),
        ) else {
            return false;
        };
        let key = (agent_call_id, agent_tag);
        call.keys.push(key.clone());
        call.agent_invite = Some(invite.clone());
        call.agent_destination = Some(target.destination);
        let tx = ctx.txl.send_request(ctx.now, invite, target.destination);
        call.agent_tx = Some(tx);
        call.agent_provisional = false;
        call.cancel_pending = false;
        self.clients.insert(tx, (call_id, ClientRole::Invite));
        self.dialogs.insert(key, (call_id, Side::Agent));
        if let Some(leg) = agent_leg {
            self.legs.insert(leg, call_id);
        }
        tracing::debug!(call = call_id, agent = %target.aor, "calling an agent in");
        true
    }

    /// The agent's answer to a call the switch answered: on 2xx the legs are
    /// bridged and the 2xx ACKed; after a refusal the caller stays with the
    /// switch and call control decides (another agent, or the end).
    pub(super) fn local_agent_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        call_id: u64,
        response: Response,
        agent_invite: &Request,
        destination: Peer,
    ) {
        let code = response.status_code.code();
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if code < 200 {
            call.agent_provisional = true;
            if call.cancel_pending {
                self.cancel_agent(ctx, call_id);
            }
            return;
        }
        if code >= 300 {
            tracing::info!(call = call_id, code, "agent did not take the call");
            let code = if call.timed_out { 408 } else { code };
            self.drop_agent(call_id);
            self.events.push_back(CallEvent::AgentFailed { call: call_id, code });
            return;
        }
        if let Some(ack) = call.ack_sent[Side::Agent.index()].clone() {
            ctx.txl.send_stateless(SipMessage::Request(ack), destination);
            return;
        }
        call.dialogs[Side::Agent.index()] = Dialog::as_uac(agent_invite, &response, destination).ok();
        let cseq = headers::cseq(&agent_invite.headers).map(|(n, _)| n).unwrap_or(1);
        send_ack(ctx, &self.local, call, Side::Agent, cseq, None);
        if let Err(failure) = call.media.agent_answered(self.media.as_mut(), &response.body) {
            tracing::info!(call = call_id, ?failure, "agent answer unusable");
            self.hang_up(ctx, call_id, &[Side::Caller, Side::Agent]);
            return;
        }
        call.state = CallState::Confirmed;
        tracing::debug!(call = call_id, "agent joined");
        self.events.push_back(CallEvent::AgentAnswered { call: call_id });
    }

    /// Stops ringing the agent of a call the switch answered (another agent
    /// took it, or nobody answered in time); the caller stays. The INVITE is
    /// CANCELled once it rings, and a 2xx that crosses the CANCEL is hung up.
    pub(crate) fn withdraw_offer(&mut self, ctx: &mut Ctx<'_>, call_id: u64) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if !call.local || call.dialogs[Side::Agent.index()].is_some() {
            return;
        }
        let (Some(tx), Some(invite), Some(destination)) =
            (call.agent_tx, call.agent_invite.clone(), call.agent_destination)
        else {
            return;
        };
        let provisional = call.agent_provisional;
        if provisional {
            let tx = ctx.txl.send_request(ctx.now, build::cancel(&invite), destination);
            self.clients.insert(tx, (call_id, ClientRole::Cancel));
        }
        self.clients.insert(
            tx,
            (
                call_id,
                ClientRole::Withdrawn {
                    invite: Box::new(invite),
                    destination,
                    provisional,
                },
            ),
        );
        self.drop_agent(call_id);
    }

    /// A response to a withdrawn offer: CANCEL on the first provisional if
    /// none went yet; a 2xx is ACKed and ended at once.
    pub(super) fn withdrawn_response(&mut self, ctx: &mut Ctx<'_>, id: TransactionId, response: Response) {
        let code = response.status_code.code();
        let Some((
            call_id,
            ClientRole::Withdrawn {
                invite,
                destination,
                provisional,
            },
        )) = self.clients.get_mut(&id)
        else {
            return;
        };
        let call_id = *call_id;
        let destination = *destination;
        if code < 200 {
            if code > 100 && !*provisional {
                *provisional = true;
                let tx = ctx.txl.send_request(ctx.now, build::cancel(invite), destination);
                self.clients.insert(tx, (call_id, ClientRole::Cancel));
            }
            return;
        }
        if code >= 300 {
            return;
        }
        let invite = invite.clone();
        let Ok(mut dialog) = Dialog::as_uac(&invite, &response, destination) else {
            return;
        };
        let via = self.local.via(destination.transport);
        let contact = self.local.contact(destination.transport);
        let cseq = headers::cseq(&invite.headers).map(|(n, _)| n).unwrap_or(1);
        if let Ok(ack) = dialog.request(rsip::Method::Ack, &via, &contact, Some(cseq), None) {
            ctx.txl.send_stateless(SipMessage::Request(ack), destination);
        }
        if let Ok(bye) = dialog.request(rsip::Method::Bye, &via, &contact, None, None) {
            let tx = ctx.txl.send_request(ctx.now, bye, destination);
            self.clients.insert(tx, (call_id, ClientRole::Bye));
        }
    }

    /// Forgets the agent side of a call the switch answered: its INVITE,
    /// dialog key and media leg. The caller's leg stays as it is.
    pub(super) fn drop_agent(&mut self, call_id: u64) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        call.agent_invite = None;
        call.agent_destination = None;
        call.agent_tx = None;
        call.agent_provisional = false;
        call.cancel_pending = false;
        call.timed_out = false;
        call.dialogs[Side::Agent.index()] = None;
        call.ack_owed[Side::Agent.index()] = None;
        call.ack_sent[Side::Agent.index()] = None;
        if let Some(key) = call.keys.get(1).cloned() {
            self.dialogs.remove(&key);
            call.keys.truncate(1);
        }
        if let Some(agent) = call.media.agent.take() {
            self.legs.remove(&agent.id);
            self.media.release(agent.id);
        }
    }

    /// PCM rate of the caller leg's codec: 48000 for Opus, else 8000.
    pub(crate) fn caller_rate(&self, call_id: u64) -> u32 {
        let opus = self.calls.get(&call_id).is_some_and(|c| c.media.caller_is_opus());
        if opus {
            48_000
        } else {
            8_000
        }
    }

    /// The call a media leg belongs to.
    pub(crate) fn call_of_leg(&self, leg: ::media::engine::LegId) -> Option<u64> {
        self.legs.get(&leg).copied()
    }

    /// Plays a playlist to a leg's phone.
    pub(crate) fn play(&mut self, leg: ::media::engine::LegId, playlist: ::media::player::Playlist) {
        self.media.play(leg, playlist);
    }

    /// Records what a leg's phone says.
    pub(crate) fn record(&mut self, leg: ::media::engine::LegId, path: std::path::PathBuf, max: std::time::Duration) {
        self.media.record(leg, path, max);
    }

    /// Ends a recording early.
    pub(crate) fn stop_recording(&mut self, leg: ::media::engine::LegId) {
        self.media.stop_recording(leg);
    }

    /// Stops what plays on a leg.
    pub(crate) fn stop(&mut self, leg: ::media::engine::LegId) {
        self.media.stop(leg);
    }

    /// Whether the caller stays with the switch when the agent hangs up.
    pub(crate) fn keep_caller(&mut self, call_id: u64, keep: bool) {
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.keep_caller = keep;
        }
    }

    /// The agent of a call hung up and the caller stays: the agent's dialog
    /// and leg go, the caller's leg is back with the switch.
    pub(super) fn agent_left(&mut self, call_id: u64) {
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.keep_caller = false;
        }
        self.drop_agent(call_id);
        self.events.push_back(CallEvent::AgentLeft { call: call_id });
    }

    /// The next thing that happened to a call, oldest first. Call control
    /// drains this after every input, also of what its own handling caused.
    pub(crate) fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    /// Ends a call from the switch's side (IVR hang-up).
    pub(crate) fn end(&mut self, ctx: &mut Ctx<'_>, call_id: u64) {
        self.hang_up(ctx, call_id, &[Side::Caller, Side::Agent]);
    }
}
