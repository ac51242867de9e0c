//! Calls the switch answers itself (IVR, prompts) before an agent joins: the
//! caller's leg alone, answered here, and later INVITEs to agents (offers),
//! one or several at once (ring-all), each with its own client transaction,
//! dialog key and media leg. The first 2xx is bridged and the other offers
//! are withdrawn; a refusal ends that offer alone. The caller's dialog is
//! confirmed already, so the agent's 2xx is ACKed at once.

use rsip::{Request, Response, SipMessage};
use signaling::dialog::Dialog;
use signaling::headers;
use signaling::transaction::TransactionId;
use signaling::transport::Peer;

use super::media::CallMedia;
use super::{
    build, send_ack, Admission, B2bua, Call, CallEvent, CallState, ClientRole, Ctx, Offer, OfferId, Side, Target,
};

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
    /// customer answered): an INVITE of its own, with its own media leg.
    /// Other agents may be ringing for the call already (ring-all): the
    /// first to answer takes it. `None` when the call is gone, an agent
    /// answered already, it is still dialling, or no media leg is left.
    pub(crate) fn connect(&mut self, ctx: &mut Ctx<'_>, call_id: u64, target: Target) -> Option<OfferId> {
        self.connect_as(ctx, call_id, target, None)
    }

    /// [`B2bua::connect`], with the From the called phone sees (a URI, e.g.
    /// the call-back caller id) instead of the call's caller.
    pub(crate) fn connect_as(
        &mut self,
        ctx: &mut Ctx<'_>,
        call_id: u64,
        target: Target,
        from: Option<String>,
    ) -> Option<OfferId> {
        let call = self.calls.get_mut(&call_id)?;
        if !call.local || call.agent_invite.is_some() || call.dialling.is_some() {
            return None;
        }
        // Browser agents (registered over /ws, or flagged in the config)
        // get WebRTC media.
        let browser = target.destination.transport == signaling::transport::Transport::Ws
            || self.media.browser_agent(&target.aor);
        let (media, offer) = call.media.connect_agent(self.media.as_mut(), call_id, browser).ok()?;
        // The agent of a call we placed sees the customer we dialled (the
        // To of our INVITE) as the caller.
        let from = match (from, call.outbound) {
            (Some(from), _) => Some(from),
            (None, true) => headers::to_value(&call.caller_invite.headers).ok().map(str::to_owned),
            (None, false) => None,
        };
        let invite = build::AgentInvite {
            incoming: &call.caller_invite,
            from: from.as_deref(),
            contact: &target.contact,
            aor: target.aor.clone(),
            destination: target.destination,
            local: &self.local,
            sdp: offer,
        }
        .build();
        let key = invite.as_ref().and_then(|invite| {
            let call_id = headers::call_id(&invite.headers).ok()?.to_owned();
            let tag = headers::from_tag(&invite.headers)?.to_owned();
            Some((call_id, tag))
        });
        let (Some(invite), Some(key)) = (invite, key) else {
            self.media.release(media.leg.id);
            return None;
        };
        let id = OfferId(self.next_offer);
        self.next_offer += 1;
        let tx = ctx.txl.send_request(ctx.now, invite.clone(), target.destination);
        self.clients.insert(tx, (call_id, ClientRole::Invite));
        self.dialogs.insert(key.clone(), (call_id, Side::Agent));
        self.legs.insert(media.leg.id, call_id);
        call.offers.push(Offer {
            id,
            invite,
            destination: target.destination,
            tx,
            key,
            media,
            provisional: false,
            cancel_pending: false,
            timed_out: false,
        });
        tracing::debug!(call = call_id, agent = %target.aor, ringing = call.offers.len(), "calling an agent in");
        Some(id)
    }

    /// An agent's answer to a call the switch answered: on the first 2xx
    /// the legs are bridged, the 2xx ACKed and every other offer withdrawn;
    /// after a refusal the caller stays with the switch and call control
    /// decides (another agent, or the end) while other offers ring on.
    pub(super) fn local_agent_response(
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
        let Some(at) = call.offers.iter().position(|o| o.tx == tx) else {
            // The answered agent's 2xx again: our ACK was lost.
            if call.agent_tx == Some(tx) && (200..300).contains(&code) {
                if let (Some(ack), Some(destination)) =
                    (call.ack_sent[Side::Agent.index()].clone(), call.agent_destination)
                {
                    ctx.txl.send_stateless(SipMessage::Request(ack), destination);
                }
            }
            return;
        };
        if code < 200 {
            let offer = &mut call.offers[at];
            offer.provisional = true;
            if offer.cancel_pending && code > 100 {
                offer.cancel_pending = false;
                let cancel = ctx
                    .txl
                    .send_request(ctx.now, build::cancel(&offer.invite), offer.destination);
                self.clients.insert(cancel, (call_id, ClientRole::Cancel));
            }
            return;
        }
        if code >= 300 {
            tracing::info!(call = call_id, code, "agent did not take the call");
            let code = if call.offers[at].timed_out { 408 } else { code };
            self.offer_failed(call_id, tx, code);
            return;
        }
        let offer = call.offers.remove(at);
        let others: Vec<OfferId> = call.offers.iter().map(|o| o.id).collect();
        let Offer {
            id,
            invite,
            destination,
            tx,
            key,
            media,
            ..
        } = offer;
        call.keys.truncate(1);
        call.keys.push(key);
        call.agent_tx = Some(tx);
        call.agent_destination = Some(destination);
        call.media.adopt_agent(media);
        call.dialogs[Side::Agent.index()] = Dialog::as_uac(&invite, &response, destination).ok();
        let cseq = headers::cseq(&invite.headers).map(|(n, _)| n).unwrap_or(1);
        call.agent_invite = Some(invite);
        send_ack(ctx, &self.local, call, Side::Agent, cseq, None);
        let answered = call.media.agent_answered(self.media.as_mut(), &response.body);
        for other in others {
            self.withdraw_offer(ctx, call_id, other);
        }
        if let Err(failure) = answered {
            tracing::info!(call = call_id, ?failure, "agent answer unusable");
            self.hang_up(ctx, call_id, &[Side::Caller, Side::Agent]);
            return;
        }
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.state = CallState::Confirmed;
        }
        tracing::debug!(call = call_id, "agent joined");
        self.events.push_back(CallEvent::AgentAnswered {
            call: call_id,
            offer: id,
        });
    }

    /// Timer C for an offer: CANCELled now if it rang, else on its first
    /// provisional response; its refusal is reported as 408.
    pub(super) fn offer_timed_out(&mut self, ctx: &mut Ctx<'_>, call_id: u64, tx: TransactionId) {
        let Some(offer) = self
            .calls
            .get_mut(&call_id)
            .and_then(|c| c.offers.iter_mut().find(|o| o.tx == tx))
        else {
            return;
        };
        offer.timed_out = true;
        if !offer.provisional {
            offer.cancel_pending = true;
            return;
        }
        let cancel = ctx
            .txl
            .send_request(ctx.now, build::cancel(&offer.invite), offer.destination);
        self.clients.insert(cancel, (call_id, ClientRole::Cancel));
    }

    /// An offer ended without an answer: it is forgotten and call control
    /// hears; the call's other offers ring on.
    pub(super) fn offer_failed(&mut self, call_id: u64, tx: TransactionId, code: u16) {
        let Some(offer) = self.take_offer(call_id, |o| o.tx == tx) else {
            return;
        };
        self.events.push_back(CallEvent::AgentFailed {
            call: call_id,
            offer: offer.id,
            code,
        });
    }

    /// Removes an offer from its call and frees its dialog key and media leg.
    fn take_offer(&mut self, call_id: u64, which: impl Fn(&Offer) -> bool) -> Option<Offer> {
        let call = self.calls.get_mut(&call_id)?;
        let at = call.offers.iter().position(which)?;
        let offer = call.offers.remove(at);
        self.dialogs.remove(&offer.key);
        self.legs.remove(&offer.media.leg.id);
        self.media.release(offer.media.leg.id);
        Some(offer)
    }

    /// Stops ringing one agent of a call the switch answered (another agent
    /// took it, or nobody answered in time); the caller stays. The INVITE is
    /// CANCELled once it rings, and a 2xx that crosses the CANCEL is ACKed
    /// and hung up. Nothing happens when the offer is over already.
    pub(crate) fn withdraw_offer(&mut self, ctx: &mut Ctx<'_>, call_id: u64, offer: OfferId) {
        let Some(offer) = self.take_offer(call_id, |o| o.id == offer) else {
            return;
        };
        let Offer {
            invite,
            destination,
            tx,
            provisional,
            ..
        } = offer;
        self.withdraw_invite(ctx, call_id, tx, invite, destination, provisional);
    }

    /// Stops ringing every agent of a call (the call ends, or it goes
    /// elsewhere).
    pub(crate) fn withdraw_offers(&mut self, ctx: &mut Ctx<'_>, call_id: u64) {
        let offers: Vec<OfferId> = self
            .calls
            .get(&call_id)
            .map(|c| c.offers.iter().map(|o| o.id).collect())
            .unwrap_or_default();
        for offer in offers {
            self.withdraw_offer(ctx, call_id, offer);
        }
    }

    /// Gives up an INVITE the switch sent for `call_id`: CANCEL now if it
    /// rang, else at its first provisional; its responses are then handled
    /// by [`B2bua::withdrawn_response`].
    pub(super) fn withdraw_invite(
        &mut self,
        ctx: &mut Ctx<'_>,
        call_id: u64,
        tx: TransactionId,
        invite: Request,
        destination: Peer,
        provisional: bool,
    ) {
        if provisional {
            let cancel = ctx.txl.send_request(ctx.now, build::cancel(&invite), destination);
            self.clients.insert(cancel, (call_id, ClientRole::Cancel));
        }
        let role = ClientRole::Withdrawn {
            invite: Box::new(invite),
            destination,
            provisional,
        };
        self.clients.insert(tx, (call_id, role));
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

    /// Hangs up the agent of a call the switch answered, keeping the caller
    /// (a blind transfer by the agent): BYE to the agent, its leg goes.
    pub(crate) fn release_agent(&mut self, ctx: &mut Ctx<'_>, call_id: u64) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if let Some(owed) = call.ack_owed[Side::Agent.index()].take() {
            super::send_ack(ctx, &self.local, call, Side::Agent, owed, None);
        }
        if let Some(dialog) = call.dialogs[Side::Agent.index()].as_mut() {
            let via = self.local.via(dialog.peer.transport);
            let contact = self.local.contact(dialog.peer.transport);
            if let Ok(bye) = dialog.request(rsip::Method::Bye, &via, &contact, None, None) {
                let tx = ctx.txl.send_request(ctx.now, bye, dialog.peer);
                self.clients.insert(tx, (call_id, ClientRole::Bye));
            }
        }
        call.agent_held = false;
        self.drop_agent(call_id);
    }

    /// Forgets the agent who answered a call the switch answered: its
    /// INVITE, dialog key and media leg. The caller's leg stays as it is.
    pub(super) fn drop_agent(&mut self, call_id: u64) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        call.agent_invite = None;
        call.agent_destination = None;
        call.agent_tx = None;
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

    /// The media leg of the agent a call is with, once one is.
    pub(crate) fn agent_leg(&self, call_id: u64) -> Option<::media::engine::LegId> {
        self.calls.get(&call_id)?.media.agent.map(|a| a.id)
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

    /// The codecs of a call's legs: the caller's, then the agent's.
    pub(crate) fn codecs(&self, call_id: u64) -> Vec<String> {
        self.calls.get(&call_id).map(|c| c.media.codecs()).unwrap_or_default()
    }

    /// The media engine, to record calls.
    pub(crate) fn media(&mut self) -> &mut dyn super::MediaControl {
        self.media.as_mut()
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
