//! The SIP core of the switch, sans-IO: messages and the time in, transmits
//! and the next deadline out. It owns the transaction layer, the registrar,
//! digest authentication and the B2BUA, and routes each request to them.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use rsip::headers::{self as h, Header, UntypedHeader};
use rsip::{Method, Request, SipMessage};
use signaling::auth::{AuthOutcome, DigestAuthenticator, DigestConfig};
use signaling::message::{self, MessageError};
use signaling::registrar::{Registrar, RegistrarConfig, Registration};
use signaling::transaction::{TransactionEvent, TransactionId, TransactionLayer};
use signaling::transport::{Peer, Transmit};
use signaling::{headers, response::response_for};

use crate::b2bua::{self, Admission, B2bua, CallEvent, Ctx, Local, MediaControl, Target, ALLOW};
use crate::config::Config;

mod acd;
mod callback;
mod control;
mod flows;
mod hold;
mod hooks;
mod ivr;
mod recording;
mod records;
pub(crate) use self::acd::publish_gauges;
pub(crate) use self::control::{ControlRefused, Destination};
pub(crate) use self::hooks::{CoreHooks, Out, OverflowAsk};
pub(crate) use self::ivr::IvrSetup;
use self::ivr::{Session, WallClock};

/// An agent account as the core needs it.
#[derive(Debug, Clone)]
struct Account {
    password: String,
    name: String,
}

/// Which header carries credentials: registrars challenge with 401, a UAS
/// taking calls acts like a proxy and challenges with 407.
#[derive(Debug, Clone, Copy)]
enum Challenge {
    Www,
    Proxy,
}

/// The SIP core. See the module docs.
pub(crate) struct Switch {
    txl: TransactionLayer,
    registrar: Registrar,
    auth: DigestAuthenticator,
    b2bua: B2bua,
    accounts: HashMap<String, Account>,
    /// Trusted source addresses and the trunk each belongs to.
    trunks: Vec<(IpAddr, String)>,
    domain: String,
    /// Stateless answers built outside the transaction layer.
    outbox: VecDeque<Transmit>,
    /// IVR flows and prompts, and the calls in a flow.
    ivr: IvrSetup,
    sessions: HashMap<u64, Session>,
    /// (next timer, call) of the sessions, so the next deadline is a lookup.
    session_timers: std::collections::BTreeSet<(Instant, u64)>,
    clock: WallClock,
    /// Data dips of flows, for the shell to make.
    http_out: VecDeque<HttpCall>,
    /// The ACD: every queue and agent.
    acd: queue::acd::Acd,
    /// Calls with a record, and where they are with the ACD.
    tracked: HashMap<u64, records::Tracked>,
    /// Record updates for the store and the live KPIs.
    record_out: VecDeque<crate::store::Command>,
    /// Prefix of record ids: the start time, so ids stay unique across restarts.
    records_epoch: u64,
    /// Agents whose phone is registered, as the ACD was told.
    reachable: std::collections::HashSet<String>,
    /// Queue name -> its music-on-hold prompt path.
    acd_music: HashMap<String, String>,
    /// Call-backs being dialled.
    dialler: callback::Dialler,
    /// Agent -> the record of the call whose wrap-up it is doing.
    wrapping_up: HashMap<String, String>,
    /// Records of calls that ended and wait for their wrap-up to end.
    ended_in_wrap_up: std::collections::HashSet<String>,
    /// Events for the ACD that arose while carrying out its actions; fed
    /// after them, never from inside them.
    acd_pending: VecDeque<queue::acd::Event>,
    /// Who ended the call being reported to the ACD.
    ending_by: Option<queue::record::Party>,
    /// Agents on calls the ACD does not handle, and how many such calls.
    busy_elsewhere: HashMap<String, u32>,
    /// Media legs of recorded calls: (record, side, agent), for the leg's
    /// quality when the engine reports it closed (after the B2BUA forgot it).
    leg_records: HashMap<media::engine::LegId, (String, queue::record::LegSide, Option<String>)>,
    /// Facts for the events, overflow hooks, the API's call control.
    hooks: CoreHooks,
    /// Call recordings in progress and the decisions about them.
    recordings: crate::recording::Book,
}

/// An HTTP request a flow asked for (the `http` node).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HttpCall {
    /// The call whose flow waits for the answer.
    pub(crate) call: u64,
    /// Where to POST.
    pub(crate) url: String,
    /// The JSON body.
    pub(crate) body: serde_json::Value,
    /// How long the flow waits.
    pub(crate) timeout: std::time::Duration,
}

impl Switch {
    /// A core for `config` (passwords filled in), whose sockets are `local`.
    pub(crate) fn new(
        config: &Config,
        udp: Option<std::net::SocketAddr>,
        tcp: Option<std::net::SocketAddr>,
        media: Box<dyn MediaControl>,
        ivr: IvrSetup,
        now: Instant,
        wall: chrono::DateTime<chrono::Utc>,
    ) -> Switch {
        let timers = config.timer_config();
        let r = &config.registrar;
        let digest = DigestConfig {
            realm: config.sip.domain.clone(),
            algorithms: r.algorithms.iter().map(|&a| a.into()).collect(),
            nonce_lifetime: Duration::from_secs(r.nonce_lifetime_secs),
        };
        let local = Local {
            udp,
            tcp,
            domain: config.sip.domain.clone(),
        };
        let mut switch = Switch {
            txl: TransactionLayer::new(timers),
            registrar: Registrar::new(RegistrarConfig {
                min_expires: r.min_expires,
                max_expires: r.max_expires,
                default_expires: r.default_expires,
            }),
            auth: DigestAuthenticator::new(digest, now),
            b2bua: B2bua::new(local, media, timers.t1, timers.t2, config.sip.max_calls),
            accounts: config
                .agents
                .iter()
                .map(|a| {
                    (
                        a.extension.clone(),
                        Account {
                            password: a.password.clone().unwrap_or_default(),
                            name: a.name.clone(),
                        },
                    )
                })
                .collect(),
            trunks: config
                .trunks
                .iter()
                .flat_map(|t| t.addresses.iter().map(|a| (*a, t.name.clone())))
                .collect(),
            domain: config.sip.domain.clone(),
            outbox: VecDeque::new(),
            ivr,
            sessions: HashMap::new(),
            session_timers: std::collections::BTreeSet::new(),
            clock: WallClock {
                instant: now,
                utc: wall,
            },
            http_out: VecDeque::new(),
            acd: queue::acd::Acd::new(config.acd_config(), Self::wall_millis(wall)),
            tracked: HashMap::new(),
            record_out: VecDeque::new(),
            records_epoch: Self::wall_millis(wall).0,
            reachable: std::collections::HashSet::new(),
            dialler: callback::Dialler::new(config),
            wrapping_up: HashMap::new(),
            ended_in_wrap_up: std::collections::HashSet::new(),
            acd_pending: VecDeque::new(),
            ending_by: None,
            busy_elsewhere: HashMap::new(),
            leg_records: HashMap::new(),
            hooks: CoreHooks::new(config),
            recordings: crate::recording::Book::new(config.recording.clone()),
            acd_music: config
                .queues
                .iter()
                .filter_map(|q| Some((q.name.clone(), q.music_on_hold.clone()?)))
                .collect(),
        };
        // The agents' starting states open the agent log.
        switch.run_acd(now);
        switch
    }

    fn wall_millis(wall: chrono::DateTime<chrono::Utc>) -> queue::Millis {
        queue::Millis(u64::try_from(wall.timestamp_millis()).unwrap_or(0))
    }

    /// A parsed message from the network.
    pub(crate) fn handle_message(&mut self, now: Instant, message: SipMessage, source: Peer) {
        match message {
            SipMessage::Request(request) => {
                if let Err(error) = message::validate_request(&request) {
                    let raw = request.to_string().into_bytes();
                    self.handle_malformed(&raw, &error, source);
                    return;
                }
                self.txl.handle_message(now, SipMessage::Request(request), source);
            }
            SipMessage::Response(response) => {
                if message::validate_response(&response).is_err() {
                    metrics::counter!("sip_messages_malformed_total", "kind" => "response").increment(1);
                    return;
                }
                self.txl.handle_message(now, SipMessage::Response(response), source);
            }
        }
        self.process_events(now);
    }

    /// Bytes that did not make a valid message: a 400 where one can be
    /// addressed, and always a count.
    pub(crate) fn handle_malformed(&mut self, bytes: &[u8], error: &MessageError, source: Peer) {
        metrics::counter!("sip_messages_malformed_total", "kind" => "request").increment(1);
        tracing::debug!(%source, %error, "malformed message");
        if let Some(answer) = message::bad_request(bytes, error) {
            self.outbox.push_back(Transmit {
                destination: source,
                payload: answer.into(),
            });
        }
    }

    /// An event from the media engine.
    pub(crate) fn handle_media_event(&mut self, now: Instant, event: media::engine::MediaEvent) {
        match event {
            media::engine::MediaEvent::Inactive { leg } => {
                self.b2bua.media_inactive(
                    &mut Ctx {
                        now,
                        txl: &mut self.txl,
                    },
                    leg,
                );
            }
            media::engine::MediaEvent::Digit { leg, digit } => {
                tracing::debug!(leg, %digit, "DTMF");
                metrics::counter!("dtmf_digits_total", "source" => "rfc4733").increment(1);
                let utc = self.clock.utc(now);
                // A terminator key ends a recording; other keys go to the flow.
                let call = self.b2bua.call_of_leg(leg);
                let ends_recording = call
                    .and_then(|call| self.sessions.get(&call))
                    .is_some_and(|s| s.recording == Some(Some(digit)));
                if call.is_some_and(|call| self.queue_digit(now, call, digit)) {
                    // A queued caller's key is the queue's.
                } else if ends_recording {
                    self.b2bua.stop_recording(leg);
                } else {
                    self.with_session(now, leg, |s| s.interpreter.digit(digit, utc));
                }
            }
            media::engine::MediaEvent::RecordingFinished { leg } => {
                tracing::debug!(leg, "recording finished");
                self.voicemail_finished(now, leg);
                let utc = self.clock.utc(now);
                let call = self.b2bua.call_of_leg(leg);
                if call.is_some_and(|call| self.queue_recording_finished(now, call)) {
                    self.process_events(now);
                    return;
                }
                self.with_session(now, leg, |s| {
                    s.recording = None;
                    s.interpreter.record_finished(utc);
                });
            }
            media::engine::MediaEvent::PlaybackFinished { leg, interrupted } => {
                tracing::debug!(leg, interrupted, "playback finished");
                if interrupted {
                    // Stopped on purpose (barge-in, or a new playlist): the
                    // flow asked for it and expects no end of prompt.
                    self.process_events(now);
                    return;
                }
                let utc = self.clock.utc(now);
                let call = self.b2bua.call_of_leg(leg);
                if !call.is_some_and(|call| self.queue_playback_finished(now, call)) {
                    self.with_session(now, leg, |s| {
                        if std::mem::take(&mut s.beeping) {
                            return;
                        }
                        s.interpreter.prompt_finished(utc);
                    });
                }
            }
            media::engine::MediaEvent::FirstAudio { leg } => {
                if let Some(call) = self.b2bua.call_of_leg(leg) {
                    self.first_audio(now, call, leg);
                }
            }
            media::engine::MediaEvent::CallRecording(event) => self.call_recording_event(now, event),
            media::engine::MediaEvent::Closed { leg, stats, quality } => {
                self.leg_closed(leg, &quality);
                tracing::debug!(leg, ?stats, ?quality, "media leg closed");
            }
        }
        self.process_events(now);
    }

    /// Fires due timers.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.txl.handle_timeout(now);
        self.b2bua.handle_timeout(&mut Ctx {
            now,
            txl: &mut self.txl,
        });
        if self.registrar.poll_timeout().is_some_and(|t| t <= now) {
            self.registrar.expire(now);
            self.check_reachable(now, None);
        }
        self.acd_timeout(now);
        self.callback_ring_limits(now);
        if self.auth.poll_timeout().is_some_and(|t| t <= now) {
            self.auth.purge(now);
        }
        let utc = self.clock.utc(now);
        while let Some(&(at, call)) = self.session_timers.first() {
            if at > now {
                break;
            }
            self.session_timers.remove(&(at, call));
            if let Some(session) = self.sessions.get_mut(&call) {
                session.deadline = None;
                session.interpreter.handle_timeout(utc);
            }
            self.drive(now, call);
        }
        self.process_events(now);
    }

    /// When [`Switch::handle_timeout`] is due next.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [
            self.txl.poll_timeout(),
            self.b2bua.poll_timeout(),
            self.registrar.poll_timeout(),
            self.auth.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .chain(self.session_timers.first().map(|(at, _)| *at))
        .chain(self.acd_deadline())
        .chain(self.next_callback_ring_limit())
        .min()
    }

    /// The next message to send.
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop_front().or_else(|| self.txl.poll_transmit())
    }

    /// Current registrations, for the API.
    pub(crate) fn registrations(&self, now: Instant) -> Vec<Registration> {
        self.registrar.registrations(now)
    }

    /// Gauges for /metrics.
    pub(crate) fn gauges(&self) -> (usize, usize, usize) {
        (self.txl.len(), self.registrar.binding_count(), self.b2bua.len())
    }

    fn process_events(&mut self, now: Instant) {
        while let Some(event) = self.txl.poll_event() {
            let mut ctx = Ctx {
                now,
                txl: &mut self.txl,
            };
            match event {
                TransactionEvent::Request { id, request, source } => self.request(now, id, request, source),
                TransactionEvent::Ack { request, .. } => self.b2bua.ack(&mut ctx, request),
                TransactionEvent::Response { id, response } => self.b2bua.response(&mut ctx, id, response),
                TransactionEvent::StrayResponse { response, .. } => self.b2bua.stray_response(&mut ctx, response),
                TransactionEvent::Timeout { id, timer } => self.b2bua.transaction_timeout(&mut ctx, id, timer),
                TransactionEvent::Terminated { id } => self.b2bua.transaction_terminated(id),
            }
        }
        let utc = self.clock.utc(now);
        while let Some(event) = self.b2bua.poll_event() {
            match event {
                CallEvent::AgentLeft { call } => {
                    self.agent_left(now, call);
                    if let Some(session) = self.sessions.get_mut(&call) {
                        session.interpreter.agent_hung_up(utc);
                        self.drive(now, call);
                    }
                }
                CallEvent::Ended { call, by, .. } => {
                    if let Some(mut session) = self.remove_session(call) {
                        session.interpreter.caller_hung_up(self.clock.utc(now));
                    }
                    self.callback_call_ended(now, call);
                    self.call_ended(now, call, by);
                }
                CallEvent::AgentFailed { call, offer, code } => {
                    if !self.callback_offer_failed(now, call, offer, code) {
                        self.agent_failed(now, call, offer, code);
                    }
                }
                CallEvent::AgentAnswered { call, offer } => {
                    if !self.callback_offer_answered(now, call, offer) {
                        self.agent_answered(now, call, offer);
                    }
                }
                CallEvent::AgentHold { call, held } => self.agent_hold(call, held),
                CallEvent::CustomerAnswered { call } => {
                    if !self.originated_answered(now, call) {
                        self.customer_answered(now, call);
                    }
                }
                CallEvent::CustomerFailed { call, code } => {
                    if !self.originated_failed(call, code) {
                        self.customer_failed(now, call, code);
                    }
                }
            }
        }
    }

    fn respond(&mut self, now: Instant, id: TransactionId, request: &Request, code: u16) {
        let tag = headers::to_tag(&request.headers).is_none().then(headers::new_tag);
        let response = response_for(request, signaling::response::status(code), tag.as_deref());
        self.txl.send_response(now, id, response);
    }

    fn request(&mut self, now: Instant, id: TransactionId, request: Request, source: Peer) {
        metrics::counter!("sip_requests_total", "method" => request.method.to_string()).increment(1);
        let in_dialog = headers::to_tag(&request.headers).is_some();
        match request.method {
            Method::Register => self.register(now, id, request, source),
            Method::Cancel => {
                let invite = self.txl.invite_for_cancel(id);
                self.respond(now, id, &request, if invite.is_some() { 200 } else { 481 });
                if let Some(invite) = invite {
                    self.b2bua.cancel(
                        &mut Ctx {
                            now,
                            txl: &mut self.txl,
                        },
                        invite,
                    );
                }
            }
            _ if in_dialog => self.b2bua.in_dialog_request(
                &mut Ctx {
                    now,
                    txl: &mut self.txl,
                },
                id,
                request,
            ),
            Method::Options => {
                let mut response = response_for(&request, signaling::response::status(200), Some(&headers::new_tag()));
                response.headers.push(Header::Allow(h::Allow::new(ALLOW)));
                response.headers.push(Header::Accept(h::Accept::new("application/sdp")));
                response.headers.push(Header::Supported(h::Supported::new("")));
                self.txl.send_response(now, id, response);
            }
            Method::Invite => self.invite(now, id, request, source),
            Method::Bye | Method::Info | Method::Update | Method::PRack => self.respond(now, id, &request, 481),
            _ => {
                let mut response = response_for(&request, signaling::response::status(405), Some(&headers::new_tag()));
                response.headers.push(Header::Allow(h::Allow::new(ALLOW)));
                self.txl.send_response(now, id, response);
            }
        }
    }

    /// Digest check; answers the challenge itself and returns `None` when
    /// the request is not authenticated.
    fn authenticate(&mut self, now: Instant, id: TransactionId, request: &Request, kind: Challenge) -> Option<String> {
        let credentials = request.headers.iter().find_map(|x| match (kind, x) {
            (Challenge::Www, Header::Authorization(a)) => Some(a.value().to_owned()),
            (Challenge::Proxy, Header::ProxyAuthorization(a)) => Some(a.value().to_owned()),
            _ => None,
        });
        let stale = match credentials {
            None => false,
            Some(value) => {
                let accounts = &self.accounts;
                let method = request.method.to_string();
                match self.auth.verify(now, &method, &value, |user| {
                    accounts.get(user).map(|a| a.password.clone())
                }) {
                    AuthOutcome::Authenticated { username } => return Some(username),
                    AuthOutcome::Stale => true,
                    AuthOutcome::Rejected(reason) => {
                        metrics::counter!("sip_auth_failures_total").increment(1);
                        tracing::info!(%reason, "authentication failed");
                        false
                    }
                }
            }
        };
        let code = match kind {
            Challenge::Www => 401,
            Challenge::Proxy => 407,
        };
        let mut response = response_for(request, signaling::response::status(code), Some(&headers::new_tag()));
        for value in self.auth.challenge(now, stale) {
            response.headers.push(match kind {
                Challenge::Www => Header::WwwAuthenticate(h::WwwAuthenticate::new(value)),
                Challenge::Proxy => Header::ProxyAuthenticate(h::ProxyAuthenticate::new(value)),
            });
        }
        self.txl.send_response(now, id, response);
        None
    }

    fn register(&mut self, now: Instant, id: TransactionId, request: Request, source: Peer) {
        let to = headers::to_value(&request.headers)
            .map(headers::uri_of)
            .unwrap_or_default();
        let Some(user) = headers::user_of(to).map(str::to_owned) else {
            return self.respond(now, id, &request, 404);
        };
        if !self.accounts.contains_key(&user) {
            return self.respond(now, id, &request, 404);
        }
        let Some(username) = self.authenticate(now, id, &request, Challenge::Www) else {
            return;
        };
        if username != user {
            // Section 10.3 step 3: the authenticated user may not bind another's AOR.
            return self.respond(now, id, &request, 403);
        }
        let response = self.registrar.handle_register(now, &user, &request, source);
        let name = self.accounts.get(&user).map_or("", |a| a.name.as_str());
        tracing::debug!(aor = %user, %name, %source, code = response.status_code.code(), "register");
        self.txl.send_response(now, id, response);
        self.check_reachable(now, Some(&user));
    }

    fn invite(&mut self, now: Instant, id: TransactionId, request: Request, source: Peer) {
        let trunk = self
            .trunks
            .iter()
            .find(|(ip, _)| *ip == source.addr.ip())
            .map(|(_, name)| name.clone());
        let uri = request.uri.to_string();
        let Some(number) = headers::user_of(&uri).map(str::to_owned) else {
            return self.respond(now, id, &request, 404);
        };
        // Feature codes change an agent's state: always the agent's own
        // credentials, even from a trusted address.
        if Self::feature_code("", &number).is_some() {
            let Some(agent) = self.authenticate(now, id, &request, Challenge::Proxy) else {
                return;
            };
            if let Some(event) = Self::feature_code(&agent, &number) {
                return self.feature(now, id, request, source, event);
            }
        }
        let caller = match trunk {
            Some(trunk) => format!("trunk {trunk}"),
            None => match self.authenticate(now, id, &request, Challenge::Proxy) {
                Some(user) => format!("agent {user}"),
                None => return,
            },
        };
        let caller_number = caller_number(&request);
        if let Some(flow) = self.ivr.flow_for(&number, &caller_number) {
            return self.start_flow(now, id, request, source, flow, (&number, &caller_number));
        }
        if !self.accounts.contains_key(&number) {
            metrics::counter!("sip_calls_rejected_total", "reason" => "unknown_number").increment(1);
            return self.respond(now, id, &request, 404);
        }
        let Some(target) = self.registered_target(now, &number) else {
            metrics::counter!("sip_calls_rejected_total", "reason" => "not_registered").increment(1);
            return self.respond(now, id, &request, 480);
        };
        tracing::debug!(%caller, %number, "call");
        let admission = self.b2bua.start_call(
            &mut Ctx {
                now,
                txl: &mut self.txl,
            },
            id,
            request,
            source,
            target,
        );
        match admission {
            Admission::Refused(code) => {
                metrics::counter!("sip_calls_rejected_total", "reason" => code.to_string()).increment(1);
            }
            Admission::Started { call, leg } => {
                metrics::counter!("sip_calls_total").increment(1);
                self.track(now, call, leg, 8000, (&caller_number, &number));
                if let Some(t) = self.tracked.get_mut(&call) {
                    t.agent = Some(number.clone());
                }
                self.record_agent_leg(call, &number);
                // Both agents of an agent-to-agent call are busy.
                self.keep_busy(call, &number);
                if let Some(agent) = caller.strip_prefix("agent ") {
                    self.keep_busy(call, agent);
                }
            }
        }
    }

    /// Where an agent's phone is rung: its most recent, highest-q
    /// registration (several devices of one agent are not forked to yet).
    fn registered_target(&self, now: Instant, agent: &str) -> Option<Target> {
        self.registrar.lookup(now, agent).first().map(|b| Target {
            contact: b.contact.clone(),
            aor: format!("sip:{agent}@{}", self.domain),
            destination: b.source,
        })
    }

    /// An agent dialled a feature code: the ACD hears of it, the phone
    /// hears a beep.
    fn feature(&mut self, now: Instant, id: TransactionId, request: Request, source: Peer, event: queue::acd::Event) {
        tracing::info!(?event, "feature code");
        metrics::counter!("acd_feature_codes_total").increment(1);
        let caller = caller_number(&request);
        let started = self.b2bua.start_local(
            &mut Ctx {
                now,
                txl: &mut self.txl,
            },
            id,
            request,
            source,
        );
        self.acd_event(now, event);
        if let Ok((call, leg)) = started {
            let rate = self.b2bua.caller_rate(call);
            self.track_unrecorded(call, leg, rate, &caller);
            self.beep_and_hang_up(call);
        }
    }
}

/// The caller's number: the user part of the From URI (empty if none).
fn caller_number(request: &Request) -> String {
    headers::from_value(&request.headers)
        .ok()
        .and_then(|f| headers::user_of(headers::uri_of(f)))
        .unwrap_or_default()
        .to_owned()
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>() {}
    is_send::<Switch>();
    is_send::<b2bua::Side>();
}

#[cfg(test)]
mod tests;
