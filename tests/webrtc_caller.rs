//! Browsers calling and called directly, with WebRTC media through the
//! gateway: a WebSocket phone whose media is a str0m client that behaves as
//! a browser (full ICE, DTLS client, SRTP).
//!
//! - The browser calls the demo IVR (100) with a WebRTC offer: the switch
//!   answers it through the gateway (ICE-lite, DTLS fingerprint, Opus), the
//!   browser hears the menu, presses 1 with an RFC 4733 event, the call
//!   record gets the menu choice, and the switch counts the browser's RTP.
//! - A SIPp caller dials a browser agent's extension (no queue): the INVITE
//!   down the WebSocket carries the gateway's offer, not plain RTP, and the
//!   caller's speech reaches the browser in Opus while the browser's tone
//!   reaches the caller's leg.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Sipp, Switch, SwitchConfig, Transport};
use media::codec::{Codec, Decoder, Encoder};
use media::webrtc::BrowserClient;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

type Ws = WebSocket<TcpStream>;

fn connect(switch: &Switch) -> Ws {
    let addr = switch.http_addr();
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "sip".parse().unwrap());
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    tungstenite::client::client(request, stream).unwrap().0
}

/// The next SIP message on the connection, if one comes within `timeout`.
fn next_message(ws: &mut Ws, timeout: Duration) -> Option<String> {
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

fn send(ws: &mut Ws, message: &str) {
    ws.send(Message::Text(message.into())).unwrap();
}

fn header<'a>(message: &'a str, name: &str) -> Vec<&'a str> {
    message
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

fn body(message: &str) -> &str {
    message.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn register(ws: &mut Ws, ext: &str) {
    let request = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/WS br0wser.invalid;branch=z9hG4bKreg{ext}{cseq};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{ext}@127.0.0.1>;tag=reg{ext}\r\n\
             To: <sip:{ext}@127.0.0.1>\r\n\
             Call-ID: register-{ext}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:agent@br0wser.invalid;transport=ws>;expires=300\r\n\
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
fn response_to(request: &str, status: &str, to_tag: Option<&str>, sdp: Option<&str>) -> String {
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
    r += "Contact: <sip:agent@br0wser.invalid;transport=ws>\r\n";
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

/// A request in the browser's dialog to the switch (INVITE, ACK, BYE).
fn browser_request(method: &str, cseq: u32, to_tag: Option<&str>, sdp: Option<&str>) -> String {
    let to_tag = to_tag.map_or(String::new(), |t| format!(";tag={t}"));
    let branch = format!("z9hG4bKcall{method}{cseq}");
    let mut r = format!(
        "{method} sip:100@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/WS br0wser.invalid;branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:1002@127.0.0.1>;tag=browsercall\r\n\
         To: <sip:100@127.0.0.1>{to_tag}\r\n\
         Call-ID: browser-calls-ivr\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:agent@br0wser.invalid;transport=ws>\r\n"
    );
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

fn payload_type(sdp: &str, codec: &str) -> Option<u8> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=rtpmap:").filter(|r| r.contains(codec)))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|pt| pt.parse().ok())
}

fn rms(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt()
}

/// 20 ms of a 440 Hz tone at 48 kHz, frame `n`, in Opus.
fn tone_frame(encoder: &mut Encoder, n: u64) -> Vec<u8> {
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

fn packets(record: &serde_json::Value, side: &str) -> u64 {
    record["legs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["side"] == side)
        .and_then(|l| l["packets"].as_u64())
        .unwrap_or(0)
}

fn demo_switch() -> Switch {
    let root = env!("CARGO_MANIFEST_DIR");
    let extra = format!(
        "\n[[routes]]\nnumber = \"100\"\nflow = \"{root}/flows/demo.yaml\"\n\n[ivr]\nprompts = \"{root}/prompts\"\n\n\
         [[queues]]\nname = \"support\"\nagents = [\"1001\"]\n"
    );
    Switch::start(SwitchConfig {
        extra_toml: extra,
        ..SwitchConfig::for_sipp()
    })
}

#[test]
fn a_browser_calls_the_demo_ivr_and_presses_1() {
    let switch = demo_switch();
    let mut ws = connect(&switch);
    register(&mut ws, "1002");

    let (mut browser, offer) = BrowserClient::offer("127.0.0.1".parse().unwrap(), Instant::now()).unwrap();
    assert!(offer.contains("UDP/TLS/RTP/SAVPF"), "{offer}");
    send(&mut ws, &browser_request("INVITE", 1, None, Some(&offer)));
    let ok = loop {
        let m = next_message(&mut ws, Duration::from_secs(5)).expect("an answer to the browser's INVITE");
        if !m.starts_with("SIP/2.0 1") {
            break m;
        }
    };
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    let answer = body(&ok).to_owned();
    assert!(answer.contains("UDP/TLS/RTP/SAVPF"), "the gateway's answer: {answer}");
    assert!(answer.contains("a=ice-lite"), "{answer}");
    assert!(answer.contains("a=fingerprint:sha-256"), "{answer}");
    let to_tag = header(&ok, "To")[0].split(";tag=").nth(1).expect("a To tag").to_owned();
    send(&mut ws, &browser_request("ACK", 1, Some(&to_tag), None));
    browser.accept_answer(&answer).unwrap();
    let opus = payload_type(&answer, "opus/48000").expect("Opus in the answer");
    let digits = payload_type(&answer, "telephone-event/48000").expect("telephone-event at 48 kHz");

    let mut encoder = Encoder::new(Codec::Opus).unwrap();
    let mut decoder = Decoder::new(Codec::Opus).unwrap();
    let mut heard: Vec<i16> = Vec::new();
    let (mut seq, mut frame) = (0u64, 0u64);
    let mut next_frame = Instant::now();
    let mut connected_at = None;
    let mut pressed = false;
    let mut next_poll = Instant::now();
    let mut chosen = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    while chosen.is_none() {
        assert!(Instant::now() < deadline, "no menu choice in the call record");
        let now = Instant::now();
        browser.step(now).unwrap();
        if browser.is_connected() && connected_at.is_none() {
            connected_at = Some(now);
        }
        if browser.is_connected() && now >= next_frame {
            let timestamp = (frame * 960) as u32;
            let since = connected_at.map_or(Duration::ZERO, |t| now - t);
            if !pressed && since > Duration::from_secs(2) {
                // The digit 1 as a browser sends it (RFC 4733): an event
                // that grows for 100 ms, then its end three times.
                for (i, end) in [(1u16, false), (2, false), (3, false), (5, true), (5, true), (5, true)] {
                    let duration = (i * 960).to_be_bytes();
                    let flags = if end { 0x80 | 10 } else { 10 };
                    browser.send_rtp(now, digits, seq, timestamp, &[1, flags, duration[0], duration[1]]);
                    seq += 1;
                }
                pressed = true;
            } else {
                let payload = tone_frame(&mut encoder, frame);
                browser.send_rtp(now, opus, seq, timestamp, &payload);
                seq += 1;
            }
            frame += 1;
            next_frame += Duration::from_millis(20);
        }
        for packet in browser.take_received() {
            if packet.payload_type == opus {
                let mut pcm = Vec::new();
                decoder.decode(&packet.payload, &mut pcm).unwrap();
                heard.extend_from_slice(&pcm);
            }
        }
        let _ = next_message(&mut ws, Duration::from_millis(1));
        if pressed && now >= next_poll {
            next_poll = now + Duration::from_millis(300);
            let calls = switch.json("/api/calls?window=15m");
            chosen = calls["calls"].as_array().into_iter().flatten().find_map(|c| {
                c["marks"]
                    .as_array()?
                    .iter()
                    .find(|m| m["what"]["kind"] == "menu_choice")
                    .map(|m| m["what"].clone())
            });
        }
    }
    let chosen = chosen.unwrap();
    assert_eq!(
        (&chosen["node"], &chosen["digits"]),
        (&"choose_language".into(), &"1".into()),
        "the browser's digit chose English: {chosen}"
    );
    // The menu prompt reached the browser, in Opus from the switch.
    let seconds = heard.len() as f64 / 48_000.0;
    assert!(seconds > 1.5, "the browser heard {seconds:.1} s of the IVR");
    assert!(rms(&heard) > 100.0, "the browser heard the prompt, RMS {}", rms(&heard));

    // The browser hangs up; the switch counted its RTP on the caller's leg.
    send(&mut ws, &browser_request("BYE", 2, Some(&to_tag), None));
    let ok = loop {
        let m = next_message(&mut ws, Duration::from_secs(5)).expect("an answer to BYE");
        if m.starts_with("SIP/2.0 ") && m.contains("BYE") {
            break m;
        }
    };
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    let record = common::poll_until(Duration::from_secs(10), || {
        let calls = switch.json("/api/calls?window=15m");
        calls["calls"]
            .as_array()?
            .iter()
            .find(|c| !c["end"].is_null() && c["legs"].as_array().is_some_and(|l| !l.is_empty()))
            .cloned()
    })
    .expect("the ended call's record with its leg");
    assert!(
        packets(&record, "caller") > 80,
        "the browser's RTP at the switch: {record}"
    );
}

#[test]
fn a_sipp_caller_dials_a_browser_agents_extension() {
    let switch = Switch::start(SwitchConfig::for_sipp());
    let mut ws = connect(&switch);
    register(&mut ws, "1001");

    let caller = Sipp::new("caller_plays_media")
        .remote(switch.sip_addr())
        .transport(Transport::Udp)
        .service("1001")
        .timeout_secs(25)
        .spawn();
    let invite = loop {
        let m = next_message(&mut ws, Duration::from_secs(10)).expect("the call's INVITE over the websocket");
        if m.starts_with("INVITE ") {
            break m;
        }
    };
    let offer = body(&invite);
    assert!(
        offer.contains("UDP/TLS/RTP/SAVPF"),
        "a WebRTC offer, not plain RTP: {offer}"
    );
    assert!(offer.contains("a=ice-lite"), "{offer}");
    assert!(offer.contains("a=fingerprint:sha-256"), "{offer}");

    send(&mut ws, &response_to(&invite, "180 Ringing", Some("direct"), None));
    let (mut browser, answer) = BrowserClient::answer(offer, "127.0.0.1".parse().unwrap(), Instant::now()).unwrap();
    let opus = payload_type(&answer, "opus/48000").expect("Opus in the browser's answer");
    send(&mut ws, &response_to(&invite, "200 OK", Some("direct"), Some(&answer)));

    let mut encoder = Encoder::new(Codec::Opus).unwrap();
    let mut decoder = Decoder::new(Codec::Opus).unwrap();
    let mut heard: Vec<i16> = Vec::new();
    let mut seq = 0u64;
    let mut next_frame = Instant::now();
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(25);
    let bye = loop {
        assert!(Instant::now() < deadline, "no BYE; saw {messages:?}");
        let now = Instant::now();
        browser.step(now).unwrap();
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
        if let Some(m) = next_message(&mut ws, Duration::from_millis(1)) {
            if m.starts_with("BYE ") {
                break m;
            }
            messages.push(m.lines().next().unwrap_or_default().to_owned());
        }
    };
    send(&mut ws, &response_to(&bye, "200 OK", None, None));
    assert!(browser.is_connected(), "ICE and DTLS came up");
    caller.wait().assert_success(1);

    // The caller's 7.05 s of PCMA speech reached the browser as Opus.
    let seconds = heard.len() as f64 / 48_000.0;
    assert!(seconds > 5.0, "the browser heard {seconds:.1} s of audio");
    assert!(rms(&heard) > 300.0, "the browser heard speech, RMS {}", rms(&heard));
    let record = common::poll_until(Duration::from_secs(10), || {
        let calls = switch.json("/api/calls?window=15m");
        calls["calls"]
            .as_array()?
            .iter()
            .find(|c| !c["end"].is_null() && c["legs"].as_array().is_some_and(|l| l.len() >= 2))
            .cloned()
    })
    .expect("the ended call's record with both legs");
    assert!(packets(&record, "caller") >= 200, "caller leg packets: {record}");
    assert!(packets(&record, "agent") > 300, "browser leg packets: {record}");
}
