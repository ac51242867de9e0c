//! A browser agent takes a queue call: the agent registers over SIP over
//! WebSocket, a SIPp caller (PCMA, SIPp's recorded speech) is queued and the
//! switch rings the agent with WebRTC media (ICE-lite, DTLS-SRTP, Opus). A
//! WebRTC client that behaves as a browser does (full ICE, DTLS client)
//! answers and speaks an Opus tone. Audio goes both ways through the engine,
//! which transcodes Opus <-> PCMA: the browser decodes the caller's speech,
//! and the call record's RTP figures show both legs carried audio. The
//! caller hangs up, the BYE comes down the WebSocket, and the gateway's
//! session ends with the call.
#![allow(clippy::unwrap_used)]

mod common;
mod ws_phone;

use std::time::{Duration, Instant};

use common::{Sipp, Switch, SwitchConfig, Transport};
use media::webrtc::BrowserClient;
use ws_phone::record::{ended_call, leg_packets, marks};
use ws_phone::{
    answer_with_browser, body, connect, header, next_message, next_request, ok_to, payload_type, register_with_digest,
    response_to, rms, send, talk_until_bye, Ws,
};

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

fn queue_switch() -> Switch {
    let root = root();
    let extra = format!(
        r#"
[[routes]]
number = "101"
flow = "{root}/tests/flows/queue_now.yaml"

[ivr]
prompts = "{root}/prompts"

[[queues]]
name = "support"
agents = ["1001"]
wrap_up_secs = 1
"#
    );
    Switch::start(SwitchConfig {
        extra_toml: extra,
        ..SwitchConfig::for_sipp()
    })
}

/// Agent 1001 registered over the websocket, a SIPp caller (PCMA, SIPp's
/// recorded speech) queued, and the switch's INVITE to the agent over the
/// websocket: the connection, the INVITE and the caller.
fn agent_rung_by_a_queued_caller(switch: &Switch) -> (Ws, String, common::SippRunning) {
    let mut ws = connect(switch);
    register_with_digest(&mut ws, "1001");
    let caller = Sipp::new("caller_queued_plays_audio")
        .remote(switch.sip_addr())
        .transport(Transport::Udp)
        .service("101")
        .calls(1)
        .timeout_secs(30)
        .spawn();
    let invite = next_request(&mut ws, "INVITE", Duration::from_secs(10), "the queue call's INVITE");
    (ws, invite, caller)
}

#[test]
fn browser_agent_answers_a_queue_call_with_audio_both_ways() {
    let switch = queue_switch();
    let (mut ws, invite, caller) = agent_rung_by_a_queued_caller(&switch);
    let offer = body(&invite);
    assert!(offer.contains("UDP/TLS/RTP/SAVPF"), "a WebRTC offer: {offer}");
    assert!(offer.contains("a=ice-lite"), "{offer}");
    assert!(offer.contains("a=fingerprint:sha-256"), "{offer}");

    send(&mut ws, &response_to(&invite, "180 Ringing", Some("rtcagent"), None));
    let (mut browser, answer) = answer_with_browser(&mut ws, &invite, "rtcagent");
    let answered_at = Instant::now();
    let opus_pt = payload_type(&answer, "opus/48000").expect("Opus in the browser's answer");

    // The browser speaks a 440 Hz tone, 20 ms a packet, as its microphone.
    let talk = talk_until_bye(&mut ws, &mut browser, opus_pt, Duration::from_secs(25));
    let (bye, messages, heard) = (talk.bye, talk.messages, talk.heard);
    ok_to(&mut ws, &bye);
    assert!(
        messages.iter().any(|l| l.starts_with("ACK ")),
        "the 200 was ACKed: {messages:?}"
    );
    let connected_after = talk.connected_at.expect("ICE and DTLS came up") - answered_at;
    eprintln!("ICE + DTLS after the answer: {connected_after:?}");
    caller.wait().assert_success(1);

    // The caller's speech reached the browser, transcoded to Opus.
    let seconds = heard.len() as f64 / 48_000.0;
    assert!(seconds > 5.0, "the browser heard {seconds:.1} s of audio");
    assert!(rms(&heard) > 300.0, "the browser heard speech, RMS {}", rms(&heard));

    // The call record: the browser agent answered, and both legs carried RTP.
    let record = common::poll_until(Duration::from_secs(10), || ended_call(&switch, 2))
        .expect("the ended call's record with both legs");
    let text = record.to_string();
    assert!(
        marks(&record, "agent_answered")
            .iter()
            .any(|m| m["what"]["agent"] == "1001"),
        "the browser agent's answer in the record: {text}"
    );
    // The caller's 7.05 s of speech come in 235 packets of 30 ms; the
    // browser sends 50 a second from its answer to the caller's BYE.
    assert!(leg_packets(&record, "caller") >= 200, "caller leg packets: {text}");
    assert!(leg_packets(&record, "agent") > 300, "browser leg packets: {text}");
}

#[test]
fn an_agent_logs_in_for_a_token_that_changes_only_its_own_state() {
    let switch = queue_switch();
    let addr = switch.http_addr();
    let post = |path: &str, body: &str, token: Option<&str>| {
        common::http_request_as(addr, "POST", path, Some(body), token).unwrap()
    };
    let refused = post("/api/agent/login", r#"{"extension":"1001","password":"wrong"}"#, None);
    assert_eq!(refused.status, 401, "{}", refused.body);
    let unknown = post(
        "/api/agent/login",
        r#"{"extension":"9999","password":"secret1001"}"#,
        None,
    );
    assert_eq!(unknown.status, 401, "{}", unknown.body);
    let bad = post("/api/agent/login", r#"{"extension":"1001"}"#, None);
    assert_eq!(bad.status, 422, "{}", bad.body);

    let ok = post(
        "/api/agent/login",
        r#"{"extension":"1001","password":"secret1001"}"#,
        None,
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    let session: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    let token = session["token"].as_str().unwrap().to_owned();
    assert_eq!(session["domain"], "127.0.0.1");
    assert_eq!(session["expires_in_secs"], 3600);

    let agents = common::http_request_as(addr, "GET", "/api/agents", None, Some(&token)).unwrap();
    assert_eq!(agents.status, 200, "an agent reads: {}", agents.body);
    let own = post(
        "/api/agents/1001/state",
        r#"{"state":"pause","reason":"lunch"}"#,
        Some(&token),
    );
    assert_eq!(own.status, 200, "its own state: {}", own.body);
    let other = post("/api/agents/1002/state", r#"{"state":"pause"}"#, Some(&token));
    assert_eq!(other.status, 403, "another agent's state: {}", other.body);
    let originate = post("/api/calls", r#"{"number":"123","queue":"support"}"#, Some(&token));
    assert_eq!(
        originate.status, 403,
        "calls are not an agent's to place: {}",
        originate.body
    );
    let reload = post("/api/flows/reload", "{}", Some(&token));
    assert_eq!(reload.status, 403, "{}", reload.body);

    // The page and its scripts need no token.
    for path in ["/agent", "/agent/agent.js", "/agent/jssip.min.js"] {
        let page = common::http_request_as(addr, "GET", path, None, None).unwrap();
        assert_eq!(page.status, 200, "{path}");
    }
    let page = common::http_request_as(addr, "GET", "/agent", None, None).unwrap();
    assert!(page.body.contains("/agent/jssip.min.js"), "{}", page.body);
}

/// A request from the browser inside the dialog of the switch's `invite`
/// (the browser answered it with To tag `rtcagent`).
fn in_dialog(invite: &str, method: &str, cseq: u32, branch: &str, sdp: Option<&str>) -> String {
    let target = header(invite, "Contact")[0]
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    let (content, len) = match sdp {
        Some(sdp) => ("Content-Type: application/sdp\r\n", sdp.len()),
        None => ("", 0),
    };
    format!(
        "{method} {target} SIP/2.0\r\n\
         Via: SIP/2.0/WS br0wser.invalid;branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\n\
         From: {};tag=rtcagent\r\n\
         To: {}\r\n\
         Call-ID: {}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:agent@br0wser.invalid;transport=ws>\r\n\
         {content}Content-Length: {len}\r\n\r\n{}",
        header(invite, "To")[0],
        header(invite, "From")[0],
        header(invite, "Call-ID")[0],
        sdp.unwrap_or_default()
    )
}

fn sdp_attribute<'a>(sdp: &'a str, name: &str) -> Option<&'a str> {
    sdp.lines().find_map(|l| l.trim().strip_prefix(name))
}

#[test]
fn a_browser_agent_holds_and_resumes_the_caller_over_the_same_session() {
    use media::webrtc::MediaDirection;
    let switch = queue_switch();
    let (mut ws, invite, caller) = agent_rung_by_a_queued_caller(&switch);
    let offer = body(&invite).to_owned();
    let (mut browser, _) = answer_with_browser(&mut ws, &invite, "rtcagent");

    // Steps the client for `span`; returns the RTP packets it received and
    // the SIP messages that came meanwhile.
    let pump = |browser: &mut BrowserClient, ws: &mut Ws, span: Duration| {
        let until = Instant::now() + span;
        let mut packets = 0usize;
        let mut messages = Vec::new();
        while Instant::now() < until {
            browser.step(Instant::now()).unwrap();
            packets += browser.take_received().len();
            if let Some(m) = next_message(ws, Duration::from_millis(1)) {
                messages.push(m);
            }
        }
        (packets, messages)
    };
    // The caller's speech starts 1.5 s after its ACK.
    let (talking, _) = pump(&mut browser, &mut ws, Duration::from_millis(2500));
    assert!(browser.is_connected(), "ICE and DTLS came up");
    assert!(
        talking > 20,
        "the browser hears the caller before hold: {talking} packets"
    );

    // Hold: JsSIP's session.hold() sends a re-INVITE with a=sendonly.
    let hold = browser.reoffer(MediaDirection::SendOnly).unwrap();
    send(&mut ws, &in_dialog(&invite, "INVITE", 1, "rtchold", Some(&hold)));
    let (_, messages) = pump(&mut browser, &mut ws, Duration::from_millis(300));
    let ok = messages
        .iter()
        .find(|m| m.starts_with("SIP/2.0 ") && !m.starts_with("SIP/2.0 1") && m.contains("CSeq: 1 INVITE"))
        .unwrap_or_else(|| panic!("an answer to the hold re-INVITE: {messages:?}"));
    assert!(ok.starts_with("SIP/2.0 200"), "hold answered: {ok}");
    let held = body(ok);
    assert!(held.contains("a=recvonly"), "answered recvonly: {held}");
    for same in ["a=fingerprint:", "a=ice-ufrag:", "a=ice-pwd:"] {
        assert_eq!(
            sdp_attribute(held, same),
            sdp_attribute(&offer, same),
            "the same session: {same}"
        );
    }
    browser.accept_answer(held).unwrap();
    send(&mut ws, &in_dialog(&invite, "ACK", 1, "rtcholdack", None));
    let _ = pump(&mut browser, &mut ws, Duration::from_millis(300));
    let (on_hold, _) = pump(&mut browser, &mut ws, Duration::from_millis(1200));
    assert!(on_hold <= 2, "nothing reaches the held browser: {on_hold} packets");
    // The switch put the caller on the queue's music for the hold.
    assert_eq!(switch.metric_sum("agent_holds_total"), 1.0, "{}", switch.metrics());

    // Resume: a=sendrecv again, and the caller is heard again.
    let resume = browser.reoffer(MediaDirection::SendRecv).unwrap();
    send(&mut ws, &in_dialog(&invite, "INVITE", 2, "rtcresume", Some(&resume)));
    let (_, messages) = pump(&mut browser, &mut ws, Duration::from_millis(300));
    let ok = messages
        .iter()
        .find(|m| m.starts_with("SIP/2.0 ") && !m.starts_with("SIP/2.0 1") && m.contains("CSeq: 2 INVITE"))
        .unwrap_or_else(|| panic!("an answer to the resume re-INVITE: {messages:?}"));
    assert!(ok.starts_with("SIP/2.0 200"), "resume answered: {ok}");
    assert!(body(ok).contains("a=sendrecv"), "{}", body(ok));
    browser.accept_answer(body(ok)).unwrap();
    send(&mut ws, &in_dialog(&invite, "ACK", 2, "rtcresumeack", None));
    let (resumed, _) = pump(&mut browser, &mut ws, Duration::from_millis(1500));
    assert!(resumed > 20, "the caller is heard again: {resumed} packets");
    assert!(
        browser.is_connected() && !browser.is_disconnected(),
        "ICE and DTLS went on"
    );

    // The caller hangs up; the BYE comes down the websocket.
    let deadline = Instant::now() + Duration::from_secs(15);
    let bye = loop {
        assert!(Instant::now() < deadline, "no BYE");
        let (_, messages) = pump(&mut browser, &mut ws, Duration::from_millis(100));
        if let Some(bye) = messages.into_iter().find(|m| m.starts_with("BYE ")) {
            break bye;
        }
    };
    ok_to(&mut ws, &bye);
    caller.wait().assert_success(1);
}

fn agent_token(addr: std::net::SocketAddr, extension: &str) -> String {
    let body = format!(r#"{{"extension":"{extension}","password":"secret{extension}"}}"#);
    let ok = common::http_request_as(addr, "POST", "/api/agent/login", Some(&body), None).unwrap();
    assert_eq!(ok.status, 200, "{}", ok.body);
    let session: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    session["token"].as_str().unwrap().to_owned()
}

#[test]
fn an_agent_transfers_its_own_call_but_not_another_agents() {
    let switch = queue_switch();
    let addr = switch.http_addr();
    let (mut ws, invite, caller) = agent_rung_by_a_queued_caller(&switch);
    let (mut browser, _) = answer_with_browser(&mut ws, &invite, "rtcagent");
    let record = common::poll_until(Duration::from_secs(10), || {
        browser.step(Instant::now()).unwrap();
        let calls = switch.json("/api/calls?window=15m");
        calls["calls"]
            .as_array()?
            .iter()
            .find(|c| c["end"].is_null() && !marks(c, "agent_answered").is_empty())
            .and_then(|c| c["id"].as_str().map(str::to_owned))
    })
    .expect("the call with the browser agent");
    let path = format!("/api/calls/{record}/transfer");
    let to_queue = r#"{"to":"queue:support"}"#;

    // Another agent's token may not move 1001's call.
    let other = agent_token(addr, "1002");
    let refused = common::http_request_as(addr, "POST", &path, Some(to_queue), Some(&other)).unwrap();
    assert_eq!(refused.status, 403, "{}", refused.body);
    let own = agent_token(addr, "1001");
    let elsewhere = common::http_request_as(
        addr,
        "POST",
        "/api/calls/nosuchcall/transfer",
        Some(to_queue),
        Some(&own),
    )
    .unwrap();
    assert_eq!(elsewhere.status, 403, "{}", elsewhere.body);

    // Its own call: the agent's leg gets a BYE, the caller goes back to the queue.
    let moved = common::http_request_as(addr, "POST", &path, Some(to_queue), Some(&own)).unwrap();
    assert_eq!(moved.status, 200, "{}", moved.body);
    let deadline = Instant::now() + Duration::from_secs(5);
    let bye = loop {
        assert!(Instant::now() < deadline, "no BYE to the transferring agent");
        browser.step(Instant::now()).unwrap();
        if let Some(m) = next_message(&mut ws, Duration::from_millis(5)) {
            if m.starts_with("BYE ") {
                break m;
            }
        }
    };
    assert_eq!(header(&bye, "Call-ID"), header(&invite, "Call-ID"), "{bye}");
    ok_to(&mut ws, &bye);
    // The agent is in wrap-up: /api/agents says when it ends (the queue's
    // one second after it began), for the page's countdown.
    let wrapping = common::poll_until(Duration::from_secs(2), || {
        let agents = switch.json("/api/agents");
        agents["agents"]
            .as_array()?
            .iter()
            .find(|a| a["id"] == "1001" && a["state"] == "wrap_up")
            .cloned()
    })
    .expect("1001 in wrap-up after the transfer");
    assert_eq!(
        wrapping["wrap_up_ends"].as_u64().unwrap() - wrapping["since"].as_u64().unwrap(),
        1000,
        "{wrapping}"
    );
    // Back in the queue the call may ring the agent again after its wrap-up:
    // it is busy now.
    let ended = |switch: &Switch| {
        let calls = switch.json("/api/calls?window=15m");
        calls["calls"]
            .as_array()?
            .iter()
            .find(|c| c["id"] == record.as_str() && !c["end"].is_null())
            .cloned()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let record = loop {
        assert!(Instant::now() < deadline, "the call did not end");
        if let Some(m) = next_message(&mut ws, Duration::from_millis(200)) {
            if m.starts_with("INVITE ") {
                send(&mut ws, &response_to(&m, "486 Busy Here", Some("busy"), None));
            } else if m.starts_with("BYE ") || m.starts_with("CANCEL ") {
                ok_to(&mut ws, &m);
            }
        }
        if let Some(call) = ended(&switch) {
            break call;
        }
    };
    caller.wait().assert_success(1);
    let text = record.to_string();
    assert!(
        marks(&record, "transferred")
            .iter()
            .any(|m| m["what"]["to"] == "queue:support"),
        "the transfer in the record: {text}"
    );
}
