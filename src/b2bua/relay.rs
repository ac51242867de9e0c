//! Requests inside a dialog (re-INVITE, INFO, UPDATE, BYE...) and their
//! responses, mapped from one side of a call to the other.

use rsip::{Method, Request, Response};
use signaling::headers;
use signaling::transaction::TransactionId;

use super::{build, dialog_key, B2bua, ClientRole, Ctx, Side};

impl B2bua {
    /// A request with a To tag. Answers 481 itself when no dialog matches.
    pub(crate) fn in_dialog_request(&mut self, ctx: &mut Ctx<'_>, id: TransactionId, request: Request) {
        let found = dialog_key(&request).and_then(|key| self.dialogs.get(&key).copied());
        let Some((call_id, side)) = found else {
            let response = build::response(&request, 481, None, None, None);
            ctx.txl.send_response(ctx.now, id, response);
            return;
        };
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let Some(dialog) = call.dialogs[side.index()].as_mut() else {
            ctx.txl
                .send_response(ctx.now, id, build::response(&request, 481, None, None, None));
            return;
        };
        if !dialog.accept_remote_cseq(&request) {
            ctx.txl
                .send_response(ctx.now, id, build::response(&request, 500, None, None, None));
            return;
        }
        if request.method == Method::Bye {
            ctx.txl
                .send_response(ctx.now, id, build::response(&request, 200, None, None, None));
            tracing::debug!(call = call_id, ?side, "hang-up");
            if side == Side::Agent && call.keep_caller {
                // A post-call survey: the caller stays with the switch.
                self.agent_left(call_id);
                return;
            }
            if side == Side::Agent {
                self.events.push_back(super::CallEvent::AgentLeft { call: call_id });
            }
            self.hang_up(ctx, call_id, &[side.other()]);
            return;
        }
        if request.method == Method::Info {
            if let Some((content_type, body)) = build::body_of(&request.headers, &request.body) {
                // SIP INFO DTMF (application/dtmf-relay, application/dtmf):
                // the digit is the call's, like an RFC 4733 one.
                if let Ok(event) = ::media::dtmf::info::parse(&content_type, &body) {
                    tracing::debug!(call = call_id, ?side, digit = %event.digit.to_char(), "DTMF by INFO");
                    metrics::counter!("dtmf_digits_total", "source" => "sip_info").increment(1);
                    ctx.txl
                        .send_response(ctx.now, id, build::response(&request, 200, None, None, None));
                    return;
                }
            }
        }
        let offers_media =
            request.method == Method::Invite || (request.method == Method::Update && !request.body.is_empty());
        if offers_media {
            // Media is anchored: a new offer (hold, resume, a new address) is
            // answered for this leg here, and the other side notices nothing.
            if request.method == Method::Invite {
                dialog.refresh_target(&request.headers);
            }
            let peer = dialog.peer;
            let contact = self.local.contact(peer.transport);
            let response = match call
                .media
                .reinvite(self.media.as_mut(), side == Side::Caller, &request.body)
            {
                Ok(sdp) => build::response(
                    &request,
                    200,
                    None,
                    Some(&contact),
                    Some(("application/sdp".into(), sdp)),
                ),
                Err(failure) => build::response(&request, failure.status(), None, None, None),
            };
            let answered = response.status_code.code() == 200;
            if answered && side == Side::Agent && !request.body.is_empty() {
                let held = super::media::offer_holds(&request.body);
                if held != call.agent_held {
                    call.agent_held = held;
                    self.events
                        .push_back(super::CallEvent::AgentHold { call: call_id, held });
                }
            }
            ctx.txl.send_response(ctx.now, id, response.clone());
            if answered && request.method == Method::Invite {
                let cseq = headers::cseq(&request.headers).map(|(n, _)| n).unwrap_or(0);
                self.arm_retransmit(ctx.now, call_id, side, response, peer, cseq);
            }
            return;
        }
        let other = side.other();
        let contact = call.dialogs[other.index()]
            .as_ref()
            .map(|d| self.local.contact(d.peer.transport));
        let Some((other_dialog, contact)) = call.dialogs[other.index()].as_mut().zip(contact) else {
            ctx.txl
                .send_response(ctx.now, id, build::response(&request, 491, None, None, None));
            return;
        };
        let body = build::body_of(&request.headers, &request.body);
        let via = self.local.via(other_dialog.peer.transport);
        let body_ref = body.as_ref().map(|(t, b)| (t.as_str(), b.clone()));
        match other_dialog.request(request.method, &via, &contact, None, body_ref) {
            Ok(relayed) => {
                let peer = other_dialog.peer;
                let client = ctx.txl.send_request(ctx.now, relayed, peer);
                self.clients.insert(
                    client,
                    (
                        call_id,
                        ClientRole::Relay {
                            server: id,
                            request: Box::new(request),
                            answered: false,
                        },
                    ),
                );
            }
            Err(_) => ctx
                .txl
                .send_response(ctx.now, id, build::response(&request, 500, None, None, None)),
        }
    }

    /// A response to a request relayed from one dialog to the other goes back
    /// to the original request's transaction. Only non-INVITE requests are
    /// relayed (offers are answered per leg), so there is no ACK to map.
    pub(super) fn relay_response(&mut self, ctx: &mut Ctx<'_>, id: TransactionId, response: Response) {
        let code = response.status_code.code();
        let Some((
            _,
            ClientRole::Relay {
                server,
                request,
                answered,
                ..
            },
        )) = self.clients.get_mut(&id)
        else {
            return;
        };
        if *answered {
            return;
        }
        *answered = code >= 200;
        let body = build::body_of(&response.headers, &response.body);
        let relayed = build::response(request, code, None, None, body);
        ctx.txl.send_response(ctx.now, *server, relayed);
    }
}
