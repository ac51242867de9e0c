//! The back-to-back user agent: a call is two dialogs, the caller's (we are
//! its UAS) and the agent's (we are its UAC), and every message on one is
//! mapped onto the other. A call the switch places itself (a call-back, see
//! `originate`) has a customer in the caller's place, whose dialog we are the
//! UAC of.
//!
//! Pure: it drives the transaction layer it is handed and keeps its own timers
//! (2xx retransmission to a UAS peer, section 13.3.1.4) in a queue that the
//! caller polls. Until the media engine lands, bodies (SDP) pass through as they are.

mod answer;
mod build;
mod local;
mod media;
mod originate;
mod relay;
mod retransmit;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use queue::record::Party;
use rsip::{Method, Request, Response, SipMessage};
use signaling::dialog::Dialog;
use signaling::headers;
use signaling::transaction::{Timer, TransactionId, TransactionLayer};
use signaling::transport::Peer;

pub(crate) use build::{Local, ALLOW};
use media::{AgentOffer, CallMedia};
pub(crate) use media::{CallRecordingSpec, MediaControl, MediaFailure};

/// Which dialog of a call: the caller's or the agent's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Side {
    /// The caller: we answer its INVITE.
    Caller,
    /// The agent: we sent the INVITE.
    Agent,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Caller => Side::Agent,
            Side::Agent => Side::Caller,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Where a new call goes: the agent's registered contact.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Contact URI (the Request-URI of the agent leg).
    pub(crate) contact: String,
    /// The agent's address of record.
    pub(crate) aor: String,
    /// Where the contact is reached on the wire.
    pub(crate) destination: Peer,
}

/// What the transaction layer and the clock give a handler.
pub(crate) struct Ctx<'a> {
    pub(crate) now: Instant,
    pub(crate) txl: &'a mut TransactionLayer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// Agent INVITE sent, no dialog yet.
    Trying,
    /// Agent ringing.
    Early,
    /// 2xx relayed to the caller, its ACK awaited.
    Answered,
    /// Both dialogs confirmed.
    Confirmed,
    /// Caller cancelled or went away; waiting for the agent leg to end.
    Ending,
}

/// One agent rung for a call the switch answered, unique in the B2BUA. Several
/// agents may ring at once for one call (ring-all); the first 2xx wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct OfferId(u64);

/// An INVITE to an agent for a call the switch answered, until its final
/// response: its own client transaction, dialog key and media leg.
#[derive(Debug)]
struct Offer {
    id: OfferId,
    invite: Request,
    destination: Peer,
    tx: TransactionId,
    /// (Call-ID, our tag) of the dialog it would make.
    key: (String, String),
    media: AgentOffer,
    /// A provisional response came: a CANCEL may be sent (section 9.1).
    provisional: bool,
    /// Timer C fired before any provisional response: CANCEL on the first.
    cancel_pending: bool,
    /// Timer C fired: the refusal that follows is reported as 408.
    timed_out: bool,
}

/// A 2xx we keep sending to a UAS peer until its ACK (section 13.3.1.4).
#[derive(Debug)]
struct Retransmit {
    response: Response,
    destination: Peer,
    cseq: u32,
    interval: Duration,
    next: Instant,
    give_up: Instant,
}

/// The customer's INVITE of a call the switch places, until its answer.
#[derive(Debug, Default)]
struct Dialling {
    /// A provisional response came: a CANCEL may be sent (section 9.1).
    provisional: bool,
}

#[derive(Debug)]
struct Call {
    state: CallState,
    caller_invite: Request,
    caller_tx: TransactionId,
    caller_source: Peer,
    caller_tag: String,
    /// The INVITE to the agent and where it went; `None` while the switch
    /// itself answers the caller (IVR) and no agent answered yet.
    agent_invite: Option<Request>,
    agent_destination: Option<Peer>,
    /// The caller was answered by the switch, not by the agent (or the
    /// switch placed the call: see `dialling`).
    local: bool,
    /// The switch placed this call: `caller_invite` is the INVITE we sent
    /// the customer, `caller_tx` its client transaction, `caller_source`
    /// where it went and `caller_tag` our From tag.
    outbound: bool,
    /// The customer of a call the switch placed has not answered yet.
    dialling: Option<Dialling>,
    /// When the agent hangs up, the caller stays (a post-call survey).
    keep_caller: bool,
    agent_provisional: bool,
    cancel_pending: bool,
    timed_out: bool,
    dialogs: [Option<Dialog>; 2],
    retransmit: [Option<Retransmit>; 2],
    /// CSeq of an INVITE on that side whose 2xx we have not ACKed yet: the
    /// ACK waits for the other side's, which may carry the SDP answer.
    ack_owed: [Option<u32>; 2],
    /// The last ACK sent on that side, re-sent when a 2xx is retransmitted.
    ack_sent: [Option<Request>; 2],
    media: CallMedia,
    /// (Call-ID, our tag) of the caller's and the agent's dialog.
    keys: Vec<(String, String)>,
    /// The client transaction of the INVITE to the agent.
    agent_tx: Option<TransactionId>,
    /// Who ended the call, once known.
    ended_by: Option<Party>,
    /// Agents ringing for a call the switch answered, none answered yet.
    offers: Vec<Offer>,
    /// The agent's phone put the call on hold (its last offer was
    /// `sendonly` or `inactive`).
    agent_held: bool,
}

impl Call {
    /// A call on the caller's side; the agent's side is filled in when the
    /// agent is called.
    fn new(
        state: CallState,
        caller_invite: Request,
        caller_tx: TransactionId,
        caller_source: Peer,
        caller_tag: String,
        media: CallMedia,
        keys: Vec<(String, String)>,
    ) -> Call {
        Call {
            state,
            caller_invite,
            caller_tx,
            caller_source,
            caller_tag,
            agent_invite: None,
            agent_destination: None,
            local: false,
            outbound: false,
            dialling: None,
            keep_caller: false,
            agent_provisional: false,
            cancel_pending: false,
            timed_out: false,
            dialogs: [None, None],
            retransmit: [None, None],
            ack_owed: [None, None],
            ack_sent: [None, None],
            media,
            keys,
            agent_tx: None,
            ended_by: None,
            offers: Vec::new(),
            agent_held: false,
        }
    }
}

#[derive(Debug)]
enum ClientRole {
    Invite,
    /// The INVITE of a call the switch places, to the customer.
    Originate,
    Cancel,
    Bye,
    Relay {
        server: TransactionId,
        request: Box<Request>,
        answered: bool,
    },
    /// An INVITE to an agent the switch no longer wants (the offer was
    /// withdrawn): CANCELled once it rings, and a 2xx that crosses the
    /// CANCEL is ACKed and hung up.
    Withdrawn {
        invite: Box<Request>,
        destination: Peer,
        provisional: bool,
    },
}

/// All calls in progress.
pub(crate) struct B2bua {
    local: Local,
    media: Box<dyn MediaControl>,
    caps: ::media::sdp::LocalCapabilities,
    /// Media legs of each call, for engine events.
    legs: HashMap<::media::engine::LegId, u64>,
    t1: Duration,
    t2: Duration,
    max_calls: usize,
    next_call: u64,
    next_offer: u64,
    calls: HashMap<u64, Call>,
    invites: HashMap<TransactionId, u64>,
    clients: HashMap<TransactionId, (u64, ClientRole)>,
    /// (Call-ID, our tag) of each dialog.
    dialogs: HashMap<(String, String), (u64, Side)>,
    timers: BinaryHeap<Reverse<(Instant, u64, Side)>>,
    /// When the switch stops ringing the customer of a call it placed.
    ring_limits: BinaryHeap<Reverse<(Instant, u64)>>,
    /// What happened to calls, for [`B2bua::poll_event`].
    events: VecDeque<CallEvent>,
}

/// What the B2BUA tells call control about a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallEvent {
    /// An agent called into a call the switch answered took it (its 2xx,
    /// the first of the call's offers): the legs are bridged, and every
    /// other offer of the call is withdrawn.
    AgentAnswered {
        /// The call.
        call: u64,
        /// The offer that was answered.
        offer: OfferId,
    },
    /// An agent called into a call the switch answered did not take it
    /// (refused, busy, no answer, unreachable); the caller stays, and the
    /// call's other offers ring on.
    AgentFailed {
        /// The call.
        call: u64,
        /// The offer that failed.
        offer: OfferId,
        /// The agent's final status (408 for a timeout).
        code: u16,
    },
    /// The agent hung up and the caller stays with the switch.
    AgentLeft {
        /// The call.
        call: u64,
    },
    /// The customer of a call the switch placed answered: the call is like
    /// one the switch answered (an agent can be connected in).
    CustomerAnswered {
        /// The call.
        call: u64,
    },
    /// The customer of a call the switch placed was not reached (busy 486
    /// or 600, no answer 408, 480 or 487, or any other final status); the
    /// call is gone, with no `Ended`.
    CustomerFailed {
        /// The call.
        call: u64,
        /// The customer's final status (408 when the switch gave up).
        code: u16,
    },
    /// The agent's phone put the call on hold (`held`) or resumed it with
    /// a re-INVITE: the caller hears music on hold meanwhile.
    AgentHold {
        /// The call.
        call: u64,
        /// On hold now.
        held: bool,
    },
    /// The call is over.
    Ended {
        /// The call.
        call: u64,
        /// Who ended it.
        by: Party,
        /// An agent was in the call at the end (talking, not ringing).
        with_agent: bool,
    },
}

/// What became of a new INVITE.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Relayed to the agent.
    Started {
        /// The new call.
        call: u64,
        /// Its caller's media leg.
        leg: ::media::engine::LegId,
    },
    /// Refused with this status (already answered).
    Refused(u16),
}

impl B2bua {
    pub(crate) fn new(
        local: Local,
        media: Box<dyn MediaControl>,
        t1: Duration,
        t2: Duration,
        max_calls: usize,
    ) -> B2bua {
        B2bua {
            local,
            media,
            caps: ::media::sdp::LocalCapabilities::default(),
            legs: HashMap::new(),
            t1,
            t2,
            max_calls,
            next_call: 0,
            next_offer: 0,
            calls: HashMap::new(),
            invites: HashMap::new(),
            clients: HashMap::new(),
            dialogs: HashMap::new(),
            timers: BinaryHeap::new(),
            ring_limits: BinaryHeap::new(),
            events: VecDeque::new(),
        }
    }

    /// Calls in progress.
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    /// A new INVITE from an authorised caller to an agent's contact.
    pub(crate) fn start_call(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: TransactionId,
        invite: Request,
        source: Peer,
        target: Target,
    ) -> Admission {
        let refuse = |ctx: &mut Ctx<'_>, code: u16, extra: Option<(rsip::Header,)>| {
            let mut response = build::response(&invite, code, Some(&headers::new_tag()), None, None);
            if let Some((header,)) = extra {
                response.headers.push(header);
            }
            ctx.txl.send_response(ctx.now, id, response);
            Admission::Refused(code)
        };
        if self.calls.len() >= self.max_calls {
            let retry = rsip::Header::RetryAfter(<rsip::headers::RetryAfter as rsip::headers::UntypedHeader>::new("5"));
            return refuse(ctx, 503, Some((retry,)));
        }
        if build::max_forwards(&invite) == 0 {
            return refuse(ctx, 483, None);
        }
        let call_id = self.next_call;
        // A browser agent (registered over /ws, or flagged in the config)
        // is offered WebRTC media, as when a queue rings it.
        let browser = target.destination.transport == signaling::transport::Transport::Ws
            || self.media.browser_agent(&target.aor);
        let started = CallMedia::start(self.media.as_mut(), call_id, &invite.body, &self.caps, browser);
        let (media, offer) = match started {
            Ok(started) => started,
            Err(failure) => {
                metrics::counter!("media_setup_failures_total", "status" => failure.status().to_string()).increment(1);
                let retry = (failure.status() == 503).then(|| {
                    (rsip::Header::RetryAfter(
                        <rsip::headers::RetryAfter as rsip::headers::UntypedHeader>::new("5"),
                    ),)
                });
                return refuse(ctx, failure.status(), retry);
            }
        };
        let agent_invite = build::AgentInvite {
            incoming: &invite,
            from: None,
            contact: &target.contact,
            aor: target.aor.clone(),
            destination: target.destination,
            local: &self.local,
            sdp: offer,
        }
        .build();
        let Some(agent_invite) = agent_invite else {
            self.release_media(&media);
            return refuse(ctx, 480, None);
        };
        let (Ok(caller_call_id), Ok(agent_call_id), Some(agent_tag)) = (
            headers::call_id(&invite.headers).map(str::to_owned),
            headers::call_id(&agent_invite.headers).map(str::to_owned),
            headers::from_tag(&agent_invite.headers).map(str::to_owned),
        ) else {
            self.release_media(&media);
            return refuse(ctx, 400, None);
        };
        self.next_call += 1;
        for leg in media.legs() {
            self.legs.insert(leg, call_id);
        }
        let caller_tag = headers::new_tag();
        let agent_tx = ctx.txl.send_request(ctx.now, agent_invite.clone(), target.destination);
        self.invites.insert(id, call_id);
        self.clients.insert(agent_tx, (call_id, ClientRole::Invite));
        let keys = vec![(caller_call_id, caller_tag.clone()), (agent_call_id, agent_tag)];
        self.dialogs.insert(keys[0].clone(), (call_id, Side::Caller));
        self.dialogs.insert(keys[1].clone(), (call_id, Side::Agent));
        let mut call = Call::new(CallState::Trying, invite, id, source, caller_tag, media, keys);
        call.agent_invite = Some(agent_invite);
        call.agent_destination = Some(target.destination);
        let leg = call.media.caller.id;
        self.calls.insert(call_id, call);
        tracing::debug!(call = call_id, agent = %target.aor, "call started");
        Admission::Started { call: call_id, leg }
    }

    /// A CANCEL for the caller's INVITE `invite` (the CANCEL itself is answered
    /// by the caller of this method).
    pub(crate) fn cancel(&mut self, ctx: &mut Ctx<'_>, invite: TransactionId) {
        let Some(&call_id) = self.invites.get(&invite) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if !matches!(call.state, CallState::Trying | CallState::Early) {
            return;
        }
        let response = build::response(&call.caller_invite, 487, Some(&call.caller_tag), None, None);
        ctx.txl.send_response(ctx.now, call.caller_tx, response);
        call.state = CallState::Ending;
        call.ended_by = Some(Party::Caller);
        tracing::debug!(call = call_id, "cancelled by the caller");
        self.cancel_agent(ctx, call_id);
    }

    fn cancel_agent(&mut self, ctx: &mut Ctx<'_>, call_id: u64) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        // Section 9.1: no CANCEL before a provisional response.
        if !call.agent_provisional {
            call.cancel_pending = true;
            return;
        }
        call.cancel_pending = false;
        let (Some(invite), Some(destination)) = (&call.agent_invite, call.agent_destination) else {
            return;
        };
        let cancel = build::cancel(invite);
        let tx = ctx.txl.send_request(ctx.now, cancel, destination);
        self.clients.insert(tx, (call_id, ClientRole::Cancel));
    }

    /// An ACK outside any transaction: for a 2xx we sent.
    pub(crate) fn ack(&mut self, ctx: &mut Ctx<'_>, request: Request) {
        let Some((call_id, side)) = dialog_key(&request).and_then(|key| self.dialogs.get(&key).copied()) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let cseq = headers::cseq(&request.headers).map(|(n, _)| n).ok();
        if call.retransmit[side.index()]
            .as_ref()
            .is_some_and(|r| Some(r.cseq) == cseq)
        {
            call.retransmit[side.index()] = None;
        } else {
            return; // a retransmitted or stray ACK
        }
        if call.state == CallState::Answered {
            call.state = CallState::Confirmed;
        }
        let other = side.other();
        let Some(owed) = call.ack_owed[other.index()].take() else {
            return;
        };
        if side == Side::Caller && !request.body.is_empty() {
            if let Err(failure) = call.media.caller_acked(self.media.as_mut(), &request.body) {
                tracing::info!(call = call_id, ?failure, "caller's answer in ACK unusable");
            }
        }
        send_ack(ctx, &self.local, call, other, owed, None);
    }

    /// A response to one of our client transactions.
    pub(crate) fn response(&mut self, ctx: &mut Ctx<'_>, id: TransactionId, response: Response) {
        let code = response.status_code.code();
        let Some((call_id, role)) = self.clients.get(&id) else {
            return;
        };
        let call_id = *call_id;
        match role {
            ClientRole::Invite => self.agent_invite_response(ctx, call_id, id, response),
            ClientRole::Originate => self.originate_response(ctx, call_id, response),
            ClientRole::Cancel | ClientRole::Bye => {}
            ClientRole::Withdrawn { .. } => self.withdrawn_response(ctx, id, response),
            ClientRole::Relay { .. } if code == 100 => {}
            ClientRole::Relay { .. } => self.relay_response(ctx, id, response),
        }
    }

    /// A response that matched no transaction: a 2xx retransmitted after our
    /// INVITE transaction ended needs our ACK again.
    pub(crate) fn stray_response(&mut self, ctx: &mut Ctx<'_>, response: Response) {
        let Some(key) = signaling::dialog::DialogId::of_incoming_response(&response) else {
            return;
        };
        let Some(&(call_id, side)) = self.dialogs.get(&(key.call_id, key.local_tag)) else {
            return;
        };
        let Some(call) = self.calls.get(&call_id) else { return };
        if let (Some(ack), Some(dialog)) = (&call.ack_sent[side.index()], &call.dialogs[side.index()]) {
            ctx.txl.send_stateless(SipMessage::Request(ack.clone()), dialog.peer);
        }
    }

    /// A client transaction timed out.
    pub(crate) fn transaction_timeout(&mut self, ctx: &mut Ctx<'_>, id: TransactionId, timer: Timer) {
        let Some((call_id, role)) = self.clients.get(&id) else {
            return;
        };
        let call_id = *call_id;
        match (role, timer) {
            (ClientRole::Originate, Timer::C) => self.abandon_dialling(ctx, call_id, 408),
            (ClientRole::Originate, _) => self.dialling_failed(call_id, 408),
            (ClientRole::Invite, Timer::C) if self.calls.get(&call_id).is_some_and(|c| c.local) => {
                self.offer_timed_out(ctx, call_id, id);
            }
            (ClientRole::Invite, Timer::C) => {
                if let Some(call) = self.calls.get_mut(&call_id) {
                    call.timed_out = true;
                }
                self.cancel_agent(ctx, call_id);
            }
            (ClientRole::Invite, _) if self.calls.get(&call_id).is_some_and(|c| c.local) => {
                self.offer_failed(call_id, id, 408);
            }
            (ClientRole::Invite, _) => {
                if let Some(call) = self.calls.get(&call_id) {
                    if matches!(call.state, CallState::Trying | CallState::Early) {
                        let r = build::response(&call.caller_invite, 408, Some(&call.caller_tag), None, None);
                        ctx.txl.send_response(ctx.now, call.caller_tx, r);
                    }
                }
                self.remove_call(call_id);
            }
            (ClientRole::Relay { server, request, .. }, _) => {
                let response = build::response(request, 408, None, None, None);
                ctx.txl.send_response(ctx.now, *server, response);
                self.clients.remove(&id);
            }
            (ClientRole::Cancel | ClientRole::Bye | ClientRole::Withdrawn { .. }, _) => {}
        }
    }

    /// A transaction ended: forget its mapping.
    pub(crate) fn transaction_terminated(&mut self, id: TransactionId) {
        self.clients.remove(&id);
        self.invites.remove(&id);
    }

    /// Ends the call: BYE on each of `sides` that has a dialog (ACKing
    /// first a 2xx still owed an ACK), then forgets the call.
    fn hang_up(&mut self, ctx: &mut Ctx<'_>, call_id: u64, sides: &[Side]) {
        // The side that is not sent a BYE is the one that hung up.
        let by = match sides {
            [Side::Caller] => Party::Agent,
            [Side::Agent] => Party::Caller,
            _ => Party::Switch,
        };
        self.hang_up_by(ctx, call_id, sides, by);
    }

    fn hang_up_by(&mut self, ctx: &mut Ctx<'_>, call_id: u64, sides: &[Side], by: Party) {
        if self.calls.get(&call_id).is_some_and(|c| c.dialling.is_some()) {
            // The customer of a call we place has not answered: stop ringing.
            self.abandon_dialling(ctx, call_id, 487);
            return;
        }
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.ended_by.get_or_insert(by);
        }
        if sides.contains(&Side::Agent) {
            // Agents still ringing are CANCELled once they ring; a 2xx that
            // crosses the CANCEL is ACKed and hung up.
            self.withdraw_offers(ctx, call_id);
        }
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        for &to in sides {
            if let Some(owed) = call.ack_owed[to.index()].take() {
                send_ack(ctx, &self.local, call, to, owed, None);
            }
            if let Some(dialog) = call.dialogs[to.index()].as_mut() {
                let via = self.local.via(dialog.peer.transport);
                let contact = self.local.contact(dialog.peer.transport);
                if let Ok(bye) = dialog.request(Method::Bye, &via, &contact, None, None) {
                    let tx = ctx.txl.send_request(ctx.now, bye, dialog.peer);
                    self.clients.insert(tx, (call_id, ClientRole::Bye));
                }
            }
        }
        self.remove_call(call_id);
    }

    fn remove_call(&mut self, call_id: u64) {
        if let Some(call) = self.discard_call(call_id) {
            self.events.push_back(CallEvent::Ended {
                call: call_id,
                by: call.ended_by.unwrap_or(Party::Switch),
                with_agent: call.dialogs[Side::Agent.index()].is_some(),
            });
        }
    }

    /// Forgets a call and frees its media, telling call control nothing.
    fn discard_call(&mut self, call_id: u64) -> Option<Call> {
        let call = self.calls.remove(&call_id)?;
        for key in &call.keys {
            self.dialogs.remove(key);
        }
        for offer in &call.offers {
            self.dialogs.remove(&offer.key);
            self.legs.remove(&offer.media.leg.id);
            self.media.release(offer.media.leg.id);
        }
        self.invites.remove(&call.caller_tx);
        self.release_media(&call.media);
        Some(call)
    }

    fn release_media(&mut self, media: &CallMedia) {
        for leg in media.legs() {
            self.legs.remove(&leg);
            self.media.release(leg);
        }
    }

    /// The media engine reports a leg silent past the inactivity timeout:
    /// the call is dead (a phone that crashed or lost its network), so both
    /// sides get a BYE.
    pub(crate) fn media_inactive(&mut self, ctx: &mut Ctx<'_>, leg: ::media::engine::LegId) {
        let Some(&call_id) = self.legs.get(&leg) else { return };
        tracing::info!(call = call_id, leg, "no RTP: ending the call");
        metrics::counter!("calls_ended_by_rtp_timeout_total").increment(1);
        self.hang_up(ctx, call_id, &[Side::Caller, Side::Agent]);
    }
}

/// ACKs a 2xx on `side` for the INVITE with CSeq `cseq`.
fn send_ack(ctx: &mut Ctx<'_>, local: &Local, call: &mut Call, side: Side, cseq: u32, body: Option<(String, Vec<u8>)>) {
    let Some(dialog) = call.dialogs[side.index()].as_mut() else {
        return;
    };
    let via = local.via(dialog.peer.transport);
    let contact = local.contact(dialog.peer.transport);
    let body_ref = body.as_ref().map(|(t, b)| (t.as_str(), b.clone()));
    if let Ok(ack) = dialog.request(Method::Ack, &via, &contact, Some(cseq), body_ref) {
        ctx.txl.send_stateless(SipMessage::Request(ack.clone()), dialog.peer);
        call.ack_sent[side.index()] = Some(ack);
    }
}

/// (Call-ID, our tag) of a request received in a dialog.
fn dialog_key(request: &Request) -> Option<(String, String)> {
    let call_id = headers::call_id(&request.headers).ok()?;
    let tag = headers::to_tag(&request.headers)?;
    Some((call_id.to_owned(), tag.to_owned()))
}
