//! Requests inside a dialog (re-INVITE, INFO, UPDATE, BYE...) and their
//! responses, mapped from one side of a call to the other.

use rsip::{Method, Request, Response, SipMessage};
use signaling::headers;
use signaling::transaction::TransactionId;

use super::{build, dialog_key, B2bua, ClientRole, Ctx};

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
            self.hang_up(ctx, call_id, &[side.other()]);
            return;
        }
        if request.method == Method::Invite {
            dialog.refresh_target(&request.headers);
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
                            from: side,
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
    /// to the original request's transaction.
    pub(super) fn relay_response(&mut self, ctx: &mut Ctx<'_>, id: TransactionId, call_id: u64, response: Response) {
        let code = response.status_code.code();
        let Some((
            _,
            ClientRole::Relay {
                server,
                from,
                request,
                answered,
            },
        )) = self.clients.get_mut(&id)
        else {
            return;
        };
        let (server, from, was_answered) = (*server, *from, *answered);
        *answered |= code >= 200;
        let request = (**request).clone();
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let to = from.other();
        let invite_2xx = request.method == Method::Invite && (200..300).contains(&code);
        if was_answered {
            // A retransmitted 2xx of a relayed re-INVITE: our ACK again, if sent.
            if let (true, Some(ack), Some(d)) = (invite_2xx, &call.ack_sent[to.index()], &call.dialogs[to.index()]) {
                ctx.txl.send_stateless(SipMessage::Request(ack.clone()), d.peer);
            }
            return;
        }
        let contact = invite_2xx.then(|| self.local.contact(call.caller_source.transport));
        let body = build::body_of(&response.headers, &response.body);
        let relayed = build::response(&request, code, None, contact.as_deref(), body);
        ctx.txl.send_response(ctx.now, server, relayed.clone());
        if invite_2xx {
            if let Some(d) = call.dialogs[to.index()].as_mut() {
                d.refresh_target(&response.headers);
            }
            call.ack_owed[to.index()] = headers::cseq(&response.headers).map(|(n, _)| n).ok();
            let cseq = headers::cseq(&request.headers).map(|(n, _)| n).unwrap_or(0);
            let destination = call.dialogs[from.index()]
                .as_ref()
                .map_or(call.caller_source, |d| d.peer);
            self.arm_retransmit(ctx.now, call_id, from, relayed, destination, cseq);
        }
    }
}
