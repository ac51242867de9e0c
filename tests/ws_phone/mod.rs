//! A phone on SIP over WebSocket (RFC 7118), as a browser is one: it connects
//! to /ws with the `sip` subprotocol, registers with digest authentication
//! and reads and writes SIP messages on that one connection, for the tests
//! where the switch rings or is called by a browser. Its media, where a test
//! needs it, is a `media::webrtc::BrowserClient`.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

pub mod record;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use media::codec::{Codec, Decoder, Encoder};
use media::webrtc::BrowserClient;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

use crate::common::Switch;

pub type Ws = WebSocket<TcpStream>;

/// The Contact a browser phone gives in its REGISTER and its answers.
pub const CONTACT: &str = "<sip:agent@br0wser.invalid;transport=ws>";

/// A WebSocket upgrade at the switch's /ws, offering `subprotocol` if any;
/// the connection and the subprotocol the switch chose, or why it refused.
/// Reads wait at most `read_timeout` each, so `next_message` can give up.
pub fn open(
    switch: &Switch,
    subprotocol: Option<&str>,
    read_timeout: Duration,
) -> Result<(Ws, Option<String>), String> {
    let addr = switch.http_addr();
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    if let Some(p) = subprotocol {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
    }
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(read_timeout)).unwrap();
    match tungstenite::client::client(request, stream) {
        Ok((ws, response)) => {
            let chosen = response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap().to_owned());
            Ok((ws, chosen))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// A SIP connection to the switch's /ws, polled in 5 ms steps.
pub fn connect(switch: &Switch) -> Ws {
    open(switch, Some("sip"), Duration::from_millis(5)).unwrap().0
}

/// The next SIP message on the connection, if one comes within `timeout`
/// (the connection is read at least once).
pub fn next_message<S: Read + Write>(ws: &mut WebSocket<S>, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => return Some(t.to_string()),
            Ok(Message::Binary(b)) => return Some(String::from_utf8_lossy(&b).into_owned()),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("websocket read: {e}"),
        }
        if Instant::now() >= deadline {
            return None;
        }
    }
}

/// The next `method` request on the connection, passing over other
/// messages; each message must come within `timeout`, or the test fails
/// with `what`.
pub fn next_request<S: Read + Write>(ws: &mut WebSocket<S>, method: &str, timeout: Duration, what: &str) -> String {
    let start = format!("{method} ");
    loop {
        let m = next_message(ws, timeout).expect(what);
        if m.starts_with(&start) {
            return m;
        }
    }
}

pub fn send<S: Read + Write>(ws: &mut WebSocket<S>, message: &str) {
    ws.send(Message::Text(message.into())).unwrap();
}

/// The values of header `name` in `message`, in order.
pub fn header<'a>(message: &'a str, name: &str) -> Vec<&'a str> {
    message
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

pub fn body(message: &str) -> &str {
    message.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// Registers extension `ext` (password `secret{ext}`) at 127.0.0.1: the
/// switch's 401 challenge is answered with digest credentials and the
/// REGISTER must then be accepted.
pub fn register_with_digest<S: Read + Write>(ws: &mut WebSocket<S>, ext: &str) {
    let request = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/WS br0wser.invalid;branch=z9hG4bKreg{ext}{cseq};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{ext}@127.0.0.1>;tag=reg{ext}\r\n\
             To: <sip:{ext}@127.0.0.1>\r\n\
             Call-ID: register-{ext}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: {CONTACT};expires=300\r\n\
             {auth}Content-Length: 0\r\n\r\n"
        )
    };
    send(ws, &request(1, ""));
    let challenge = next_message(ws, Duration::from_secs(3)).expect("an answer to REGISTER");
    assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
    let www = header(&challenge, "WWW-Authenticate")[0].to_owned();
    let password = format!("secret{ext}");
    let authorization =
        signaling::auth::client_response(&www, ext, &password, "REGISTER", "sip:127.0.0.1", 1, "0a4f113b").unwrap();
    send(ws, &request(2, &format!("Authorization: {authorization}\r\n")));
    let ok = next_message(ws, Duration::from_secs(3)).expect("an answer to the authorised REGISTER");
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
}

/// A response to `request` copying its Via, From, To (with `to_tag`),
/// Call-ID and CSeq.
pub fn response_to(request: &str, status: &str, to_tag: Option<&str>, sdp: Option<&str>) -> String {
    let mut r = format!("SIP/2.0 {status}\r\n");
    for via in header(request, "Via") {
        r += &format!("Via: {via}\r\n");
    }
    for name in ["From", "Call-ID", "CSeq"] {
        r += &format!("{name}: {}\r\n", header(request, name)[0]);
    }
    let to = header(request, "To")[0];
    match to_tag {
        Some(tag) if !to.contains("tag=") => r += &format!("To: {to};tag={tag}\r\n"),
        _ => r += &format!("To: {to}\r\n"),
    }
    r += &format!("Contact: {CONTACT}\r\n");
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

/// Answers `invite` as a browser does: a WebRTC client (full ICE, DTLS
/// client) answers its offer and the 200 OK (To tag `to_tag`) carries that
/// answer. The client and its SDP.
pub fn answer_with_browser(ws: &mut Ws, invite: &str, to_tag: &str) -> (BrowserClient, String) {
    let (browser, answer) = BrowserClient::answer(body(invite), "127.0.0.1".parse().unwrap(), Instant::now()).unwrap();
    send(ws, &response_to(invite, "200 OK", Some(to_tag), Some(&answer)));
    (browser, answer)
}

/// The 200 OK to a BYE (or another request ending something).
pub fn ok_to(ws: &mut Ws, request: &str) {
    send(ws, &response_to(request, "200 OK", None, None));
}

/// The payload type `sdp` maps to `codec` (as "opus/48000").
pub fn payload_type(sdp: &str, codec: &str) -> Option<u8> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=rtpmap:").filter(|r| r.contains(codec)))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|pt| pt.parse().ok())
}

pub fn rms(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt()
}

/// 20 ms of a 440 Hz tone at 48 kHz, frame `n`, in Opus: a browser's
/// microphone.
pub fn tone_frame(encoder: &mut Encoder, n: u64) -> Vec<u8> {
    let pcm: Vec<i16> = (0..960)
        .map(|i| {
            let t = (n * 960 + i) as f64 / 48_000.0;
            (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
        })
        .collect();
    let mut payload = Vec::new();
    encoder.encode(&pcm, &mut payload).unwrap();
    payload
}

/// What a browser heard and saw while it talked until the BYE.
pub struct Conversation {
    /// The BYE that ended the call (not yet answered).
    pub bye: String,
    /// The first lines of the other SIP messages that came meanwhile.
    pub messages: Vec<String>,
    /// The audio the browser decoded, 48 kHz.
    pub heard: Vec<i16>,
    /// When ICE and DTLS came up.
    pub connected_at: Option<Instant>,
}

/// Steps `browser` and speaks a tone (Opus, payload type `opus`) from the
/// moment it is connected, decoding what it hears, until a BYE comes on the
/// connection; the test fails if none comes within `timeout`.
pub fn talk_until_bye(ws: &mut Ws, browser: &mut BrowserClient, opus: u8, timeout: Duration) -> Conversation {
    let mut encoder = Encoder::new(Codec::Opus).unwrap();
    let mut decoder = Decoder::new(Codec::Opus).unwrap();
    let mut heard: Vec<i16> = Vec::new();
    let mut connected_at = None;
    let mut seq = 0u64;
    let mut next_frame = Instant::now();
    let mut messages = Vec::new();
    let deadline = Instant::now() + timeout;
    let bye = loop {
        assert!(Instant::now() < deadline, "no BYE; saw {messages:?}");
        let now = Instant::now();
        browser.step(now).unwrap();
        if browser.is_connected() && connected_at.is_none() {
            connected_at = Some(now);
        }
        if browser.is_connected() && now >= next_frame {
            let payload = tone_frame(&mut encoder, seq);
            browser.send_rtp(now, opus, seq, (seq * 960) as u32, &payload);
            seq += 1;
            next_frame += Duration::from_millis(20);
        }
        for packet in browser.take_received() {
            if packet.payload_type == opus {
                let mut pcm = Vec::new();
                decoder.decode(&packet.payload, &mut pcm).unwrap();
                heard.extend_from_slice(&pcm);
            }
        }
        if let Some(m) = next_message(ws, Duration::from_millis(1)) {
            if m.starts_with("BYE ") {
                break m;
            }
            messages.push(m.lines().next().unwrap_or_default().to_owned());
        }
    };
    Conversation {
        bye,
        messages,
        heard,
        connected_at,
    }
}
