//! A simulated browser agent: registers over SIP over WebSocket (digest),
//! answers an offer after a drawn ring time with a browser-like WebRTC peer
//! (full ICE, DTLS client, SRTP; str0m through `media::webrtc`), sends a
//! tone in Opus for a drawn handle time, hangs up and wraps up; 486 while
//! busy. It runs on a thread of its own (the WebSocket and the WebRTC peer
//! are stepped, nothing waits long), so use tens of these, not thousands.
//!
//! The platform transcodes Opus for a G.711 caller, so the payload stamp
//! cannot pass: callers hear the agent by its tone (see `caller`), and no
//! one-way latency is measured on these calls.

use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::codec::opus::{OpusConfig, OpusEncoder};
use media::webrtc::BrowserClient;
use rand::SeedableRng;
use tokio::sync::{oneshot, watch};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

use crate::rtp::{Received, FRAME};
use crate::Shared;

type Ws = WebSocket<TcpStream>;

/// One offer, from ringing to the end of talk.
struct Call {
    invite: String,
    call_id: String,
    caller: Option<String>,
    answer_at: Instant,
    /// The browser's media, its Opus payload type, and whether the offer
    /// asked for narrowband.
    peer: Option<(BrowserClient, u8, bool)>,
    hang_up_at: Option<Instant>,
    first_sent: Option<Instant>,
    next_frame: Instant,
    sent: u64,
}

/// The header values of `name` in a SIP message.
fn header<'a>(message: &'a str, name: &str) -> Vec<&'a str> {
    message
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

fn first_header<'a>(message: &'a str, name: &str) -> &'a str {
    header(message, name).first().copied().unwrap_or_default()
}

fn body(message: &str) -> &str {
    message.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// A response to `request`, echoing its Via, From, To (tagged), Call-ID, CSeq.
fn response_to(request: &str, status: &str, ext: &str, sdp: Option<&str>) -> String {
    let mut r = format!("SIP/2.0 {status}\r\n");
    for via in header(request, "Via") {
        r += &format!("Via: {via}\r\n");
    }
    for name in ["From", "Call-ID", "CSeq"] {
        r += &format!("{name}: {}\r\n", first_header(request, name));
    }
    let to = first_header(request, "To");
    if to.contains("tag=") {
        r += &format!("To: {to}\r\n");
    } else {
        r += &format!("To: {to};tag=rtc{ext}\r\n");
    }
    r += &format!("Contact: <sip:{ext}@{ext}.invalid;transport=ws>\r\n");
    match sdp {
        Some(sdp) => {
            r += &format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            )
        }
        None => r += "Content-Length: 0\r\n\r\n",
    }
    r
}

/// Our BYE in the dialog of the switch's `invite`, which we answered.
fn bye_for(invite: &str, ext: &str) -> String {
    let target = first_header(invite, "Contact")
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap_or_default()
        .to_owned();
    format!(
        "BYE {target} SIP/2.0\r\n\
         Via: SIP/2.0/WS {ext}.invalid;branch=z9hG4bK{:016x}\r\n\
         Max-Forwards: 70\r\n\
         From: {};tag=rtc{ext}\r\n\
         To: {}\r\n\
         Call-ID: {}\r\n\
         CSeq: 1 BYE\r\n\
         Content-Length: 0\r\n\r\n",
        rand::random::<u64>(),
        first_header(invite, "To"),
        first_header(invite, "From"),
        first_header(invite, "Call-ID"),
    )
}

fn register(ws: &mut Ws, domain: &str, ext: &str, cseq: u32, expires: u32, authorization: Option<&str>) -> bool {
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    let m = format!(
        "REGISTER sip:{domain} SIP/2.0\r\n\
         Via: SIP/2.0/WS {ext}.invalid;branch=z9hG4bK{:016x};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{ext}@{domain}>;tag=reg{ext}\r\n\
         To: <sip:{ext}@{domain}>\r\n\
         Call-ID: reg-{ext}-{domain}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{ext}@{ext}.invalid;transport=ws>;expires={expires}\r\n\
         {auth}Content-Length: 0\r\n\r\n",
        rand::random::<u64>(),
    );
    ws.send(Message::Text(m.into())).is_ok()
}

/// The next message, if one is waiting (the socket's read timeout is short).
fn poll(ws: &mut Ws) -> Result<Option<String>, String> {
    match ws.read() {
        Ok(Message::Text(t)) => Ok(Some(t.to_string())),
        Ok(Message::Binary(b)) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Ok(_) => Ok(None),
        Err(tungstenite::Error::Io(e))
            if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
        {
            Ok(None)
        }
        Err(e) => Err(e.to_string()),
    }
}

fn connect(url: &str) -> Result<Ws, String> {
    let mut request = url.into_client_request().map_err(|e| format!("{url}: {e}"))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        tungstenite::http::HeaderValue::from_static("sip"),
    );
    let host = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .ok_or_else(|| format!("{url}: no host"))?;
    let stream = TcpStream::connect(host).map_err(|e| format!("{url}: {e}"))?;
    // The handshake waits for its answer; afterwards reads only peek.
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let ws = tungstenite::client::client(request, stream)
        .map(|(ws, _)| ws)
        .map_err(|e| format!("{url}: {e}"))?;
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(2)))
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Registers (answering the digest challenge); the registrar's final code.
fn register_with_digest(shared: &Shared, ws: &mut Ws, ext: &str, password: &str, expires: u32) -> Result<(), String> {
    let domain = &shared.scenario.target.domain;
    let mut cseq = if expires == 0 { 10 } else { 1 };
    if !register(ws, domain, ext, cseq, expires, None) {
        return Err(format!("{ext}: websocket closed"));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut tries = 0;
    while Instant::now() < deadline {
        let Some(m) = poll(ws)? else { continue };
        if !first_header(&m, "CSeq").ends_with("REGISTER") {
            continue;
        }
        let code: u16 = m.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        match code {
            200..=299 => return Ok(()),
            401 if tries < 2 => {
                tries += 1;
                let challenge = first_header(&m, "WWW-Authenticate");
                let cnonce = format!("{:016x}", rand::random::<u64>());
                let auth = signaling::auth::client_response(
                    challenge,
                    ext,
                    password,
                    "REGISTER",
                    &format!("sip:{domain}"),
                    1,
                    &cnonce,
                )
                .map_err(|e| format!("{ext}: {e}"))?;
                cseq += 1;
                register(ws, domain, ext, cseq, expires, Some(&auth));
            }
            100..=199 => {}
            _ => {
                shared.collector().agent_failure(format!("register_{code}"));
                return Err(format!("{ext}: REGISTER answered {code}"));
            }
        }
    }
    Err(format!("{ext}: REGISTER timed out"))
}

/// Runs browser agent `ext` until `stop` turns true; `ready` hears once
/// whether it registered.
pub(crate) fn agent(
    shared: Arc<Shared>,
    ext: String,
    password: String,
    ready: oneshot::Sender<Result<(), String>>,
    stop: watch::Receiver<bool>,
) {
    let Some(config) = shared.scenario.agents.clone() else {
        return;
    };
    let Some(webrtc) = config.webrtc.clone() else { return };
    let mut ws = match connect(&webrtc.ws) {
        Ok(ws) => ws,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if let Err(e) = register_with_digest(&shared, &mut ws, &ext, &password, config.expires_secs) {
        let _ = ready.send(Err(e));
        return;
    }
    let _ = ready.send(Ok(()));
    // As a browser's encoder does: fullband unless the offer asks for
    // narrowband (maxplaybackrate=8000, when the caller is G.711).
    let mut voices = Vec::new();
    for rate in [48_000, 8000] {
        let Ok(encoder) = OpusEncoder::new(OpusConfig {
            sample_rate: rate,
            bitrate: 32_000,
            ..OpusConfig::default()
        }) else {
            return;
        };
        voices.push((encoder, tone_frame(webrtc.tone_hz, rate)));
    }
    let mut payload = Vec::new();
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut call: Option<Call> = None;
    let mut wrap_up_until: Option<Instant> = None;
    loop {
        let stopping = *stop.borrow();
        if stopping && call.is_none() {
            break;
        }
        let now = Instant::now();
        if wrap_up_until.is_some_and(|w| w <= now) {
            wrap_up_until = None;
        }
        // Timers: answer, media, hang-up.
        if let Some(c) = call.as_mut() {
            if c.peer.is_none() && c.answer_at <= now {
                match BrowserClient::answer(body(&c.invite), shared.media_ip, now) {
                    Ok((mut client, sdp)) => {
                        client.count_only();
                        let pt = opus_pt(&sdp).unwrap_or(111);
                        let narrow = body(&c.invite).contains("maxplaybackrate=8000");
                        let _ = ws.send(Message::Text(response_to(&c.invite, "200 OK", &ext, Some(&sdp)).into()));
                        c.peer = Some((client, pt, narrow));
                        c.hang_up_at = Some(now + config.handle_secs.draw(&mut rng));
                        c.next_frame = now;
                    }
                    Err(_) => {
                        let _ = ws.send(Message::Text(
                            response_to(&c.invite, "488 Not Acceptable Here", &ext, None).into(),
                        ));
                        call = None;
                        continue;
                    }
                }
            }
            if let Some((client, pt, narrow)) = c.peer.as_mut() {
                let (encoder, tone) = &mut voices[usize::from(*narrow)];
                let _ = client.step(now);
                if client.is_connected() {
                    // A late thread skips frames, as the UDP phones' ticks do.
                    if now >= c.next_frame {
                        payload.clear();
                        if encoder.encode(tone, &mut payload).is_ok() {
                            client.send_rtp(now, *pt, c.sent, (c.sent * 960) as u32, &payload);
                            c.sent += 1;
                            c.first_sent.get_or_insert(now);
                        }
                        c.next_frame = (c.next_frame + FRAME).max(now);
                        let _ = client.step(now);
                    }
                }
            }
            if c.hang_up_at.is_some_and(|h| h <= now) {
                let _ = ws.send(Message::Text(bye_for(&c.invite, &ext).into()));
                end(&shared, &ext, &mut call);
                wrap_up_until = Some(now + Duration::from_secs_f64(config.wrap_up_secs.max(0.0)));
            }
        }
        let message = match poll(&mut ws) {
            Ok(Some(m)) => m,
            Ok(None) => continue,
            Err(_) => break,
        };
        let call_id = first_header(&message, "Call-ID").to_owned();
        let ours = call.as_ref().is_some_and(|c| c.call_id == call_id);
        let method = message.split_whitespace().next().unwrap_or_default().to_owned();
        let reply = |ws: &mut Ws, status: &str| {
            let _ = ws.send(Message::Text(response_to(&message, status, &ext, None).into()));
        };
        match method.as_str() {
            "INVITE" if !ours => {
                if call.is_some() || wrap_up_until.is_some() || stopping {
                    reply(&mut ws, "486 Busy Here");
                    continue;
                }
                reply(&mut ws, "180 Ringing");
                let caller = first_header(&message, "From")
                    .split("sip:")
                    .nth(1)
                    .and_then(|r| r.split('@').next())
                    .map(str::to_owned);
                call = Some(Call {
                    call_id,
                    caller,
                    answer_at: now + config.ring_secs.draw(&mut rng),
                    invite: message.clone(),
                    peer: None,
                    hang_up_at: None,
                    first_sent: None,
                    next_frame: now,
                    sent: 0,
                });
            }
            "INVITE" => reply(&mut ws, "200 OK"),
            "CANCEL" if ours => {
                reply(&mut ws, "200 OK");
                if let Some(c) = call.as_ref().filter(|c| c.peer.is_none()) {
                    let _ = ws.send(Message::Text(
                        response_to(&c.invite, "487 Request Terminated", &ext, None).into(),
                    ));
                    call = None;
                }
            }
            "BYE" if ours => {
                reply(&mut ws, "200 OK");
                end(&shared, &ext, &mut call);
                wrap_up_until = Some(now + Duration::from_secs_f64(config.wrap_up_secs.max(0.0)));
            }
            "ACK" | "SIP/2.0" => {}
            _ => reply(
                &mut ws,
                if ours || method == "OPTIONS" {
                    "200 OK"
                } else {
                    "481 Call Does Not Exist"
                },
            ),
        }
    }
    // Un-register; the answer is not waited for long.
    let _ = register_with_digest(&shared, &mut ws, &ext, &password, 0);
    let _ = ws.close(None);
}

fn end(shared: &Shared, ext: &str, call: &mut Option<Call>) {
    let Some(c) = call.take() else { return };
    let (received, connected) = c.peer.as_ref().map_or((0, false), |(client, _, _)| {
        (client.received_count(), client.is_connected())
    });
    let scheduled = c
        .first_sent
        .map_or(0, |f| (f.elapsed().as_micros() / FRAME.as_micros()) as u64 + 1);
    let totals = Received {
        // SRTP packets as received (str0m does not report their loss).
        expected: received,
        sent: c.sent,
        scheduled,
        ..Received::default()
    };
    if c.peer.is_some() && !connected {
        shared.collector().agent_failure("webrtc_not_connected".into());
    }
    shared.collector().agent_leg_ended(c.caller, ext, totals, &[]);
}

/// Opus's payload type in our answer, read by the SDP parser the switch uses.
fn opus_pt(sdp: &str) -> Option<u8> {
    let session = media::sdp::Session::parse(sdp).ok()?;
    session.media.iter().find_map(|m| {
        m.payload_types().find(|pt| {
            m.rtpmap(*pt)
                .is_some_and(|map| map.encoding.eq_ignore_ascii_case("opus") && map.clock_rate == 48000)
        })
    })
}

/// 20 ms of a tone at `rate`, about -12 dBFS. A whole number of cycles per
/// frame (any multiple of 50 Hz) repeats without a click.
fn tone_frame(hz: f64, rate: u32) -> Vec<i16> {
    (0..rate / 50)
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * hz * f64::from(i) / f64::from(rate)).sin()) as i16)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn opus_pt_is_read_from_the_answer() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 109 0\r\nc=IN IP4 127.0.0.1\r\n\
                   a=rtpmap:109 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n";
        assert_eq!(super::opus_pt(sdp), Some(109));
        assert_eq!(super::opus_pt("v=0\r\n"), None);
    }
}
