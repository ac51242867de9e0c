//! One simulated caller: INVITE, IVR navigation with RFC 4733 keys, a wait
//! for an agent (or an abandon when patience runs out), talk, BYE; with
//! audio from a WAV the whole time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rsip::{Method, Request, SipMessage};
use signaling::dialog::Dialog;
use signaling::headers;
use tokio::sync::mpsc;

use crate::measure::{round3, CallRecord, Collector, Outcome};
use crate::rtp::{Stream, CALLER, FRAME};
use crate::sipmsg::{self, Invite};
use crate::ua::SipIn;
use crate::Shared;

/// The longest a call may last beyond its drawn times before it is given up.
const STUCK_AFTER: Duration = Duration::from_secs(120);
/// How long a BYE may wait for its answer (64*T1).
const BYE_WAIT: Duration = Duration::from_secs(32);

enum Stage {
    /// Navigating the IVR: the next step and when it is due.
    Ivr { step: usize, at: Instant },
    /// Keys sent; waiting for the last to go out.
    Pressing,
    /// Keys sent; waiting for the queue's audio to mark the IVR's end
    /// (`fallback`: the end by the keys and `queue_after_ms`).
    Queueing {
        fallback: Instant,
        patience: Option<Duration>,
    },
    /// Waiting for an agent since `since` (the IVR's end).
    Waiting { since: Instant, give_up: Option<Instant> },
    /// Talking until `until`.
    Talking { until: Instant },
}

fn ms_between(a: Instant, b: Instant) -> f64 {
    round3(b.saturating_duration_since(a).as_secs_f64() * 1000.0)
}

/// Places call number `index` and follows it to its end.
pub(crate) async fn call(shared: Arc<Shared>, collector: Arc<Collector>, index: u64) {
    collector.call_started();
    let scenario = &shared.scenario;
    let caller = format!("{}{index}", scenario.load.caller_prefix);
    let mut record = CallRecord {
        caller: caller.clone(),
        started_ms: ms_between(collector.start, Instant::now()),
        setup_180_ms: None,
        setup_200_ms: None,
        ivr_end_unix_ms: None,
        ivr_end_heard: false,
        agent_audio_unix_ms: None,
        answer_ms: None,
        agent: None,
        outcome: Outcome::Failed,
        failure: None,
        caller_lost: 0,
        caller_expected: 0,
    };
    let mut stream = match Stream::bind(shared.media_ip, shared.caller_audio.clone(), CALLER, shared.epoch).await {
        Ok(s) => s,
        Err(_) => {
            record.failure = Some("local_rtp_port".into());
            collector.call_ended(record, Default::default(), &[]);
            return;
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let ua = &shared.ua;
    let call_id = headers::new_call_id(&ua.local.ip().to_string());
    ua.route(&call_id, tx);
    let outcome = run(&shared, &collector, &mut record, &mut stream, &mut rx, &call_id, index).await;
    ua.unroute(&call_id);
    if let Err(why) = outcome {
        record.outcome = Outcome::Failed;
        record.failure = Some(why);
    }
    let received = stream.finish();
    record.caller_lost = received.lost;
    record.caller_expected = received.expected;
    if record.outcome == Outcome::Completed && received.expected == 0 && shared.scenario.caller.expect_audio {
        record.outcome = Outcome::Failed;
        record.failure = Some("no_audio".into());
    }
    collector.call_ended(record, received, &stream.latencies);
}

async fn run(
    shared: &Shared,
    collector: &Collector,
    record: &mut CallRecord,
    stream: &mut Stream,
    rx: &mut mpsc::UnboundedReceiver<SipIn>,
    call_id: &str,
    index: u64,
) -> Result<(), String> {
    let scenario = &shared.scenario;
    let ua = &shared.ua;
    let local_rtp = stream.local().map_err(|_| "local_rtp_port".to_string())?;
    let number = scenario.load.number_for(index);
    let sdp = sipmsg::sdp(local_rtp, rand::random::<u32>().into(), scenario.codec_pt());
    let via = ua.via();
    let tag = headers::new_tag();
    let invite = Invite {
        via: &via,
        local: ua.local,
        from_user: &record.caller,
        to_user: &number,
        domain: &scenario.target.domain,
        call_id,
        from_tag: &tag,
        sdp: &sdp,
    }
    .build()
    .ok_or("invite_build")?;
    let sent = Instant::now();
    ua.request(invite.clone());

    // Set-up: until a final response.
    let (answered_at, response) = loop {
        match rx.recv().await {
            None => return Err("internal".into()),
            Some(SipIn::Timeout) => return Err("timeout".into()),
            Some(SipIn::Response { at, response }) => {
                if sipmsg::cseq_method(&response) != Some(Method::Invite) {
                    continue;
                }
                let code = sipmsg::code(&response);
                if (180..=183).contains(&code) && record.setup_180_ms.is_none() {
                    record.setup_180_ms = Some(ms_between(sent, at));
                } else if (200..300).contains(&code) {
                    break (at, response);
                } else if code >= 300 {
                    return Err(code.to_string());
                }
            }
            Some(SipIn::Request { id, request, .. }) => {
                ua.respond(id, sipmsg::response(&request, 481, &tag, None, None));
            }
            Some(SipIn::Ack) => {}
        }
    };
    record.setup_200_ms = Some(ms_between(sent, answered_at));
    let mut dialog = Dialog::as_uac(&invite, &response, ua.target).map_err(|_| "bad_2xx")?;
    let contact = format!("<sip:{}@{}>", record.caller, ua.local);
    let ack = |dialog: &mut Dialog| {
        if let Ok(ack) = dialog.request(Method::Ack, &ua.via(), &contact, Some(1), None) {
            ua.stateless(SipMessage::Request(ack), ua.target);
        }
    };
    ack(&mut dialog);
    let Some(dest) = sipmsg::rtp_destination(&response.body) else {
        bye(ua, &mut dialog, &contact, rx).await;
        return Err("no_sdp".into());
    };
    stream.set_destination(dest);

    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_entropy();
    let expect_agent = scenario.caller.expect_agent.unwrap_or(scenario.agents.is_some());
    let first_wait = scenario.caller.ivr.first().map_or(0, |s| s.wait_ms);
    let mut stage = Stage::Ivr {
        step: 0,
        at: answered_at + Duration::from_millis(first_wait),
    };
    let stuck = answered_at
        + STUCK_AFTER
        + scenario
            .caller
            .patience_secs
            .map_or(Duration::from_secs(3600), |p| p.draw(&mut rng))
        + scenario.caller.talk_secs.draw(&mut rng);
    let mut tick = tokio::time::interval(FRAME);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let now = Instant::now();
        if let (Stage::Waiting { .. }, Some(tone)) = (&stage, &shared.agent_tone) {
            stream.watch_agent(tone);
        }
        // Advance the script.
        loop {
            match stage {
                Stage::Ivr { step, at } if at <= now => match scenario.caller.ivr.get(step) {
                    Some(s) => {
                        if !s.digits.is_empty() {
                            stream.press(
                                now,
                                &s.digits,
                                Duration::from_millis(s.digit_ms),
                                Duration::from_millis(s.gap_ms),
                            );
                        }
                        if step + 1 == scenario.caller.ivr.len() {
                            // The queue cannot start before the last key.
                            if let Some(signature) = &shared.queue_signature {
                                stream.watch_queue(signature.clone());
                            }
                        }
                        let next_wait = scenario.caller.ivr.get(step + 1).map_or(0, |n| n.wait_ms);
                        stage = if stream.pressing() {
                            if step + 1 < scenario.caller.ivr.len() {
                                // The next step waits from the end of these keys.
                                Stage::Ivr {
                                    step: step + 1,
                                    at: now + Duration::from_millis(next_wait) + keys_time(s),
                                }
                            } else {
                                Stage::Pressing
                            }
                        } else {
                            Stage::Ivr {
                                step: step + 1,
                                at: now + Duration::from_millis(next_wait),
                            }
                        };
                    }
                    None => {
                        stage = ivr_over(now, stream, shared, expect_agent, &mut rng, record, collector);
                    }
                },
                Stage::Pressing if !stream.pressing() => {
                    stage = ivr_over(now, stream, shared, expect_agent, &mut rng, record, collector);
                }
                Stage::Queueing { fallback, patience } => {
                    // The agent's audio before the queue's: the queue's start
                    // went unheard, so the keys' end stands.
                    let end = stream.queue_heard.or(stream.first_peer_audio.map(|_| fallback));
                    if let Some(end) = end {
                        record.ivr_end_unix_ms = Some(collector.unix_ms(end));
                        record.ivr_end_heard = stream.queue_heard.is_some();
                        stage = Stage::Waiting {
                            since: end,
                            give_up: patience.map(|p| end + p),
                        };
                    } else if patience.is_some_and(|p| fallback + p <= now) {
                        bye(ua, &mut dialog, &contact, rx).await;
                        record.outcome = Outcome::Abandoned;
                        return Ok(());
                    } else {
                        break;
                    }
                }
                Stage::Waiting { since, give_up } => {
                    if let Some(heard) = stream.first_peer_audio {
                        record.agent_audio_unix_ms = Some(collector.unix_ms(heard));
                        record.answer_ms = Some(ms_between(since, heard));
                        stage = Stage::Talking {
                            until: heard + scenario.caller.talk_secs.draw(&mut rng),
                        };
                    } else if give_up.is_some_and(|g| g <= now) {
                        bye(ua, &mut dialog, &contact, rx).await;
                        record.outcome = Outcome::Abandoned;
                        return Ok(());
                    } else {
                        break;
                    }
                }
                Stage::Talking { until } if until <= now => {
                    let answer = bye(ua, &mut dialog, &contact, rx).await;
                    return match answer {
                        Some(code) if (200..300).contains(&code) => {
                            record.outcome = Outcome::Completed;
                            Ok(())
                        }
                        Some(code) => Err(format!("bye_{code}")),
                        None => Err("bye_timeout".into()),
                    };
                }
                _ => break,
            }
        }
        if now >= stuck {
            bye(ua, &mut dialog, &contact, rx).await;
            return Err("stuck".into());
        }
        tokio::select! {
            _ = tick.tick() => stream.tick(Instant::now()),
            r = stream.socket.readable() => {
                if r.is_ok() {
                    stream.receive_ready();
                }
            }
            m = rx.recv() => match m {
                None => return Err("internal".into()),
                Some(SipIn::Request { id, request, .. }) => {
                    let code = if request.method == Method::Bye { 200 } else if request.method == Method::Invite { 488 } else { 200 };
                    ua.respond(id, sipmsg::response(&request, code, &dialog.id.local_tag, None, None));
                    if request.method == Method::Bye {
                        stream.receive_ready();
                        if let Some(heard) = stream.first_peer_audio {
                            if let Stage::Waiting { since, .. } = stage {
                                record.agent_audio_unix_ms = Some(collector.unix_ms(heard));
                                record.answer_ms = Some(ms_between(since, heard));
                            }
                            record.outcome = Outcome::Completed;
                            return Ok(());
                        }
                        return match stage {
                            Stage::Talking { .. } => { record.outcome = Outcome::Completed; Ok(()) }
                            _ => Err("hung_up_by_platform".into()),
                        };
                    }
                }
                Some(SipIn::Response { response, .. }) => {
                    // A retransmitted 2xx: our ACK was lost.
                    if sipmsg::cseq_method(&response) == Some(Method::Invite) && (200..300).contains(&sipmsg::code(&response)) {
                        ack(&mut dialog);
                    }
                }
                Some(SipIn::Ack | SipIn::Timeout) => {}
            }
        }
    }
}

/// How long a step's keys take to send.
fn keys_time(step: &crate::scenario::Step) -> Duration {
    let n = step.digits.chars().count() as u64;
    // Each key: its hold, two more end packets, then the gap.
    Duration::from_millis(n * (step.digit_ms + 2 * FRAME.as_millis() as u64 + step.gap_ms))
}

fn ivr_over(
    now: Instant,
    stream: &mut Stream,
    shared: &Shared,
    expect_agent: bool,
    rng: &mut impl rand::Rng,
    record: &mut CallRecord,
    collector: &Collector,
) -> Stage {
    let scenario = &shared.scenario;
    let end = stream.last_digit_onset.unwrap_or(now) + Duration::from_millis(scenario.caller.queue_after_ms);
    let patience = scenario.caller.patience_secs.map(|p| p.draw(rng));
    if let (Some(signature), true) = (&shared.queue_signature, expect_agent) {
        if stream.queue_heard.is_none() {
            // A flow without keys: watch from its end.
            stream.watch_queue(signature.clone());
        }
        return Stage::Queueing {
            fallback: end,
            patience,
        };
    }
    record.ivr_end_unix_ms = Some(collector.unix_ms(end));
    if expect_agent {
        Stage::Waiting {
            since: end,
            give_up: patience.map(|p| end + p),
        }
    } else {
        Stage::Talking {
            until: end + scenario.caller.talk_secs.draw(rng),
        }
    }
}

/// Sends BYE and waits for its final response (its code; None on timeout).
async fn bye(
    ua: &crate::ua::Ua,
    dialog: &mut Dialog,
    contact: &str,
    rx: &mut mpsc::UnboundedReceiver<SipIn>,
) -> Option<u16> {
    let Ok(request): Result<Request, _> = dialog.request(Method::Bye, &ua.via(), contact, None, None) else {
        return None;
    };
    ua.request(request);
    let deadline = tokio::time::Instant::now() + BYE_WAIT;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) | Ok(None) | Ok(Some(SipIn::Timeout)) => return None,
            Ok(Some(SipIn::Response { response, .. })) => {
                if sipmsg::cseq_method(&response) == Some(Method::Bye) && sipmsg::code(&response) >= 200 {
                    return Some(sipmsg::code(&response));
                }
            }
            Ok(Some(SipIn::Request { id, request, .. })) => {
                // The platform hung up at the same moment.
                ua.respond(id, sipmsg::response(&request, 200, &dialog.id.local_tag, None, None));
                if request.method == Method::Bye {
                    return Some(200);
                }
            }
            Ok(Some(SipIn::Ack)) => {}
        }
    }
}
