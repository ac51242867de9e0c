//! One simulated agent: registers with digest authentication, answers an
//! offer after a drawn ring time, talks (with audio) for a drawn handle
//! time, hangs up, and refuses offers with 486 while busy or in wrap-up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rsip::{Method, Request, Response, SipMessage};
use signaling::dialog::Dialog;
use signaling::headers;
use signaling::transaction::TransactionId;
use signaling::transport::Peer;
use tokio::sync::{mpsc, watch};

use crate::rtp::{Stream, AGENT, FRAME};
use crate::sipmsg;
use crate::ua::SipIn;
use crate::Shared;

/// RFC 3261 T1 and T2, for our 2xx retransmissions.
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);

/// One offer, from ringing to the end of talk.
struct Leg {
    call_id: String,
    invite: Request,
    invite_id: TransactionId,
    source: Peer,
    to_tag: String,
    caller: Option<String>,
    stream: Stream,
    sdp: String,
    answer_at: Instant,
    /// Once answered: the dialog, when to hang up, the 2xx retransmission.
    dialog: Option<Dialog>,
    hang_up_at: Option<Instant>,
    ok: Option<Response>,
    resend: Option<(Instant, Duration, Instant)>,
}

struct Registration {
    call_id: String,
    tag: String,
    cseq: u32,
    /// Authorization attempts for the current refresh.
    tries: u32,
    refresh_at: Option<Instant>,
    expires: u32,
    /// The un-REGISTER was answered 2xx.
    removed: bool,
}

/// Runs agent `ext` until `stop` turns true; `ready` hears once whether it registered.
pub(crate) async fn agent(
    shared: Arc<Shared>,
    ext: String,
    password: String,
    ready: tokio::sync::oneshot::Sender<Result<(), String>>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(config) = shared.scenario.agents.clone() else {
        return;
    };
    let ua = &shared.ua;
    let (tx, mut rx) = mpsc::unbounded_channel();
    ua.agent(&ext, tx.clone());
    let mut reg = Registration {
        call_id: headers::new_call_id(&ua.local.ip().to_string()),
        tag: headers::new_tag(),
        cseq: 0,
        tries: 0,
        refresh_at: None,
        expires: config.expires_secs,
        removed: false,
    };
    let mut stop_deadline: Option<Instant> = None;
    ua.route(&reg.call_id, tx);
    send_register(&shared, &ext, &mut reg, None);
    let mut ready = Some(ready);
    let mut leg: Option<Leg> = None;
    let mut wrap_up_until: Option<Instant> = None;
    let mut tick = tokio::time::interval(FRAME);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rng = rand::rngs::StdRng::from_entropy();
    let contact = format!("<sip:{ext}@{}>", ua.local);
    let mut stopping = false;
    loop {
        let now = Instant::now();
        // Timers.
        if let Some(l) = leg.as_mut() {
            if l.dialog.is_none() && l.answer_at <= now {
                answer(ua, l, &contact, now, config.handle_secs.draw(&mut rng));
            }
            if let Some((at, interval, give_up)) = l.resend {
                if at <= now && l.ok.is_some() {
                    if now >= give_up {
                        l.resend = None;
                    } else if let Some(ok) = l.ok.clone() {
                        ua.stateless(SipMessage::Response(ok), l.source);
                        let next = (interval * 2).min(T2);
                        l.resend = Some((now + next, next, give_up));
                    }
                }
            }
            if l.hang_up_at.is_some_and(|at| at <= now) {
                if let Some(d) = l.dialog.as_mut() {
                    if let Ok(bye) = d.request(Method::Bye, &ua.via(), &contact, None, None) {
                        ua.request(bye);
                    }
                }
                end_leg(&shared, &ext, &mut leg);
                wrap_up_until = Some(now + Duration::from_secs_f64(config.wrap_up_secs.max(0.0)));
            }
        }
        if wrap_up_until.is_some_and(|w| w <= now) {
            wrap_up_until = None;
        }
        if reg.refresh_at.is_some_and(|r| r <= now) && !stopping {
            reg.refresh_at = None;
            reg.tries = 0;
            send_register(&shared, &ext, &mut reg, None);
        }
        if stopping && leg.is_none() && (reg.removed || stop_deadline.is_some_and(|d| d <= now)) {
            break;
        }
        let next = next_deadline(&leg, wrap_up_until, reg.refresh_at)
            .into_iter()
            .chain(stop_deadline)
            .min();
        tokio::select! {
            _ = tick.tick(), if leg.as_ref().is_some_and(|l| l.dialog.is_some()) => {
                if let Some(l) = leg.as_mut() {
                    l.stream.tick(Instant::now());
                }
            }
            r = readable(&leg) => {
                if r && leg.is_some() {
                    if let Some(l) = leg.as_mut() {
                        l.stream.receive_ready();
                    }
                }
            }
            () = sleep_until(next) => {}
            changed = stop.changed(), if !stopping => {
                if changed.is_err() || *stop.borrow() {
                    stopping = true;
                    stop_deadline = Some(Instant::now() + Duration::from_secs(3));
                    // Unregister; calls in progress end on their own.
                    reg.expires = 0;
                    reg.tries = 0;
                    send_register(&shared, &ext, &mut reg, None);
                }
            }
            m = rx.recv() => {
                let Some(m) = m else { break };
                match m {
                    SipIn::Request { at, id, request, source } => {
                        on_request(&shared, &ext, &config, &mut leg, &mut wrap_up_until, &mut rng, at, id, request, source, stopping).await;
                    }
                    SipIn::Ack => {
                        if let Some(l) = leg.as_mut() {
                            l.resend = None;
                        }
                    }
                    SipIn::Response { response, .. } => {
                        if sipmsg::cseq_method(&response) == Some(Method::Register) {
                            on_register_response(&shared, &ext, &password, &mut reg, &response, &mut ready);
                        }
                    }
                    SipIn::Timeout => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(Err(format!("{ext}: REGISTER timed out")));
                        }
                    }
                }
            }
        }
    }
    ua.unroute(&reg.call_id);
}

fn next_deadline(leg: &Option<Leg>, wrap: Option<Instant>, refresh: Option<Instant>) -> Option<Instant> {
    let mut all = vec![wrap, refresh];
    if let Some(l) = leg {
        if l.dialog.is_none() {
            all.push(Some(l.answer_at));
        }
        all.push(l.hang_up_at);
        all.push(l.resend.map(|r| r.0));
    }
    all.into_iter().flatten().min()
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

async fn readable(leg: &Option<Leg>) -> bool {
    match leg {
        Some(l) => l.stream.socket.readable().await.is_ok(),
        None => std::future::pending().await,
    }
}

use rand::SeedableRng;

fn send_register(shared: &Shared, ext: &str, reg: &mut Registration, authorization: Option<&str>) {
    let ua = &shared.ua;
    reg.cseq += 1;
    if let Some(request) = sipmsg::register(
        &ua.via(),
        ua.local,
        ext,
        &shared.scenario.target.domain,
        &reg.call_id,
        &reg.tag,
        reg.cseq,
        reg.expires,
        authorization,
    ) {
        ua.request(request);
    }
}

fn on_register_response(
    shared: &Shared,
    ext: &str,
    password: &str,
    reg: &mut Registration,
    response: &Response,
    ready: &mut Option<tokio::sync::oneshot::Sender<Result<(), String>>>,
) {
    let code = sipmsg::code(response);
    let fail = |ready: &mut Option<tokio::sync::oneshot::Sender<Result<(), String>>>, why: String| {
        if let Some(r) = ready.take() {
            let _ = r.send(Err(why));
        }
    };
    match code {
        200..=299 => {
            reg.removed = reg.expires == 0;
            if reg.expires > 0 {
                reg.refresh_at = Some(Instant::now() + Duration::from_secs(u64::from(reg.expires / 2).max(1)));
            }
            if let Some(r) = ready.take() {
                let _ = r.send(Ok(()));
            }
        }
        401 | 407 => {
            reg.tries += 1;
            let name = if code == 401 {
                "WWW-Authenticate"
            } else {
                "Proxy-Authenticate"
            };
            let Some(challenge) = sipmsg::header_value(response, name) else {
                return fail(ready, format!("{ext}: {code} without a challenge"));
            };
            if reg.tries > 2 {
                shared.collector().agent_failure(format!("register_{code}"));
                return fail(ready, format!("{ext}: credentials refused ({code})"));
            }
            let uri = format!("sip:{}", shared.scenario.target.domain);
            let cnonce = format!("{:016x}", rand::random::<u64>());
            match signaling::auth::client_response(&challenge, ext, password, "REGISTER", &uri, 1, &cnonce) {
                Ok(auth) => send_register(shared, ext, reg, Some(&auth)),
                Err(e) => fail(ready, format!("{ext}: {e}")),
            }
        }
        100..=199 => {}
        _ => {
            shared.collector().agent_failure(format!("register_{code}"));
            fail(ready, format!("{ext}: REGISTER answered {code}"));
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn on_request(
    shared: &Shared,
    ext: &str,
    config: &crate::scenario::Agents,
    leg: &mut Option<Leg>,
    wrap_up_until: &mut Option<Instant>,
    rng: &mut impl rand::Rng,
    at: Instant,
    id: TransactionId,
    request: Request,
    source: Peer,
    stopping: bool,
) {
    let ua = &shared.ua;
    let call_id = headers::call_id(&request.headers)
        .map(str::to_owned)
        .unwrap_or_default();
    let ours = leg.as_ref().is_some_and(|l| l.call_id == call_id);
    let tag = leg
        .as_ref()
        .filter(|_| ours)
        .map_or_else(headers::new_tag, |l| l.to_tag.clone());
    let contact = format!("<sip:{ext}@{}>", ua.local);
    match request.method {
        Method::Invite if !ours => {
            let busy = leg.is_some() || wrap_up_until.is_some() || stopping;
            if busy {
                ua.respond(id, sipmsg::response(&request, 486, &tag, None, None));
                ua.unroute(&call_id);
                return;
            }
            let audio = shared
                .agent_audio
                .clone()
                .unwrap_or_else(|| shared.caller_audio.clone());
            let Ok(stream) = Stream::bind(shared.media_ip, audio, AGENT, shared.epoch).await else {
                ua.respond(id, sipmsg::response(&request, 503, &tag, None, None));
                ua.unroute(&call_id);
                return;
            };
            let Some(dest) = sipmsg::rtp_destination(&request.body) else {
                ua.respond(id, sipmsg::response(&request, 488, &tag, None, None));
                ua.unroute(&call_id);
                return;
            };
            let mut stream = stream;
            stream.set_destination(dest);
            let local = stream.local().unwrap_or(ua.local);
            let sdp = sipmsg::sdp(local, rand::random::<u32>().into(), shared.scenario.codec_pt());
            ua.respond(id, sipmsg::response(&request, 180, &tag, Some(&contact), None));
            let caller = headers::from_value(&request.headers)
                .ok()
                .and_then(|f| headers::user_of(headers::uri_of(f)).map(str::to_owned));
            *leg = Some(Leg {
                call_id,
                invite: request,
                invite_id: id,
                source,
                to_tag: tag,
                caller,
                stream,
                sdp,
                answer_at: at + config.ring_secs.draw(rng),
                dialog: None,
                hang_up_at: None,
                ok: None,
                resend: None,
            });
        }
        Method::Cancel if ours => {
            ua.respond(id, sipmsg::response(&request, 200, &tag, None, None));
            if let Some(l) = leg.as_ref().filter(|l| l.dialog.is_none()) {
                ua.respond(l.invite_id, sipmsg::response(&l.invite, 487, &l.to_tag, None, None));
                ua.unroute(&l.call_id);
                *leg = None;
            }
        }
        Method::Bye if ours => {
            ua.respond(id, sipmsg::response(&request, 200, &tag, None, None));
            end_leg(shared, ext, leg);
            *wrap_up_until = Some(Instant::now() + Duration::from_secs_f64(config.wrap_up_secs.max(0.0)));
        }
        Method::Invite => {
            // A re-INVITE (hold, refresh): same media.
            let sdp = leg.as_ref().map(|l| l.sdp.clone());
            ua.respond(
                id,
                sipmsg::response(&request, 200, &tag, Some(&contact), sdp.as_deref()),
            );
        }
        _ if ours || request.method == Method::Options => {
            ua.respond(id, sipmsg::response(&request, 200, &tag, None, None));
        }
        _ => {
            ua.respond(id, sipmsg::response(&request, 481, &tag, None, None));
        }
    }
}

fn answer(ua: &crate::ua::Ua, l: &mut Leg, contact: &str, now: Instant, handle: Duration) {
    let ok = sipmsg::response(&l.invite, 200, &l.to_tag, Some(contact), Some(&l.sdp));
    ua.respond(l.invite_id, ok.clone());
    l.dialog = Dialog::as_uas(&l.invite, &l.to_tag, l.source).ok();
    // Media starts with the answer, as a phone's does.
    l.stream.tick(now);
    l.hang_up_at = Some(now + handle);
    l.ok = Some(ok);
    l.resend = Some((now + T1, T1, now + T1 * 64));
}

fn end_leg(shared: &Shared, ext: &str, leg: &mut Option<Leg>) {
    let Some(mut l) = leg.take() else { return };
    l.stream.receive_ready();
    let received = l.stream.finish();
    shared.ua.unroute(&l.call_id);
    shared
        .collector()
        .agent_leg_ended(l.caller.clone(), ext, received, &l.stream.latencies);
}
