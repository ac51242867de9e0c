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
mod ws_phone;

use std::time::{Duration, Instant};

use common::{Sipp, Switch, SwitchConfig, Transport};
use media::codec::{Codec, Decoder, Encoder};
use media::webrtc::BrowserClient;
use ws_phone::record::{ended_call, leg_packets, marks};
use ws_phone::{
    answer_with_browser, body, connect, header, next_message, next_request, ok_to, payload_type, register_with_digest,
    response_to, rms, send, talk_until_bye, tone_frame, CONTACT,
};

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
         Contact: {CONTACT}\r\n"
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
    register_with_digest(&mut ws, "1002");

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
            chosen = calls["calls"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|c| marks(c, "menu_choice").first().map(|m| m["what"].clone()));
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
    let record = common::poll_until(Duration::from_secs(10), || ended_call(&switch, 1))
        .expect("the ended call's record with its leg");
    assert!(
        leg_packets(&record, "caller") > 80,
        "the browser's RTP at the switch: {record}"
    );
}

#[test]
fn a_sipp_caller_dials_a_browser_agents_extension() {
    let switch = Switch::start(SwitchConfig::for_sipp());
    let mut ws = connect(&switch);
    register_with_digest(&mut ws, "1001");

    let caller = Sipp::new("caller_plays_media")
        .remote(switch.sip_addr())
        .transport(Transport::Udp)
        .service("1001")
        .timeout_secs(25)
        .spawn();
    let invite = next_request(
        &mut ws,
        "INVITE",
        Duration::from_secs(10),
        "the call's INVITE over the websocket",
    );
    let offer = body(&invite);
    assert!(
        offer.contains("UDP/TLS/RTP/SAVPF"),
        "a WebRTC offer, not plain RTP: {offer}"
    );
    assert!(offer.contains("a=ice-lite"), "{offer}");
    assert!(offer.contains("a=fingerprint:sha-256"), "{offer}");

    send(&mut ws, &response_to(&invite, "180 Ringing", Some("direct"), None));
    let (mut browser, answer) = answer_with_browser(&mut ws, &invite, "direct");
    let opus = payload_type(&answer, "opus/48000").expect("Opus in the browser's answer");

    let talk = talk_until_bye(&mut ws, &mut browser, opus, Duration::from_secs(25));
    let (bye, heard) = (talk.bye, talk.heard);
    ok_to(&mut ws, &bye);
    assert!(browser.is_connected(), "ICE and DTLS came up");
    caller.wait().assert_success(1);

    // The caller's 7.05 s of PCMA speech reached the browser as Opus.
    let seconds = heard.len() as f64 / 48_000.0;
    assert!(seconds > 5.0, "the browser heard {seconds:.1} s of audio");
    assert!(rms(&heard) > 300.0, "the browser heard speech, RMS {}", rms(&heard));
    let record = common::poll_until(Duration::from_secs(10), || ended_call(&switch, 2))
        .expect("the ended call's record with both legs");
    assert!(leg_packets(&record, "caller") >= 200, "caller leg packets: {record}");
    assert!(leg_packets(&record, "agent") > 300, "browser leg packets: {record}");
}
