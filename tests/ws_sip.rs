//! SIP over WebSocket (RFC 7118) at /ws: a WebSocket client registers with
//! digest authentication, its binding names the WebSocket flow, and a SIPp
//! caller's INVITE to it comes down the same connection (no new connection
//! can reach a browser) with the WebRTC gateway's offer; the client answers,
//! the caller hangs up and the BYE arrives on the connection too. An upgrade
//! without the `sip` subprotocol is refused.
#![allow(clippy::unwrap_used)]

mod common;
mod ws_phone;

use std::time::{Duration, Instant};

use common::{Sipp, Switch, SwitchConfig, Transport};
use ws_phone::{header, next_message, send, Ws};

fn connect(switch: &Switch, subprotocol: Option<&str>) -> Result<(Ws, Option<String>), String> {
    ws_phone::open(switch, subprotocol, Duration::from_millis(200))
}

fn register(ws: &mut Ws, domain: &str, cseq: u32, authorization: Option<&str>) {
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    send(
        ws,
        &format!(
            "REGISTER sip:{domain} SIP/2.0\r\n\
             Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws{cseq};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:1001@{domain}>;tag=wsreg\r\n\
             To: <sip:1001@{domain}>\r\n\
             Call-ID: ws-register-1\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:k3l2j@df7jal23ls0d.invalid;transport=ws>;expires=300\r\n\
             {auth}Content-Length: 0\r\n\r\n"
        ),
    );
}

#[test]
fn upgrade_without_the_sip_subprotocol_is_refused() {
    let switch = Switch::start(SwitchConfig::for_sipp());
    let refused = connect(&switch, None);
    assert!(refused.is_err(), "a plain WebSocket must not carry SIP");
    let (_ws, chosen) = connect(&switch, Some("sip")).unwrap();
    assert_eq!(chosen.as_deref(), Some("sip"));
}

#[test]
fn websocket_phone_registers_and_takes_a_call_on_its_connection() {
    let switch = Switch::start(SwitchConfig::for_sipp());
    let (mut ws, _) = connect(&switch, Some("sip")).unwrap();
    let domain = "127.0.0.1";

    register(&mut ws, domain, 1, None);
    let challenge = next_message(&mut ws, Duration::from_secs(3)).expect("an answer to REGISTER");
    assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
    let www = header(&challenge, "WWW-Authenticate")[0].to_owned();
    let uri = format!("sip:{domain}");
    let authorization =
        signaling::auth::client_response(&www, "1001", "secret1001", "REGISTER", &uri, 1, "0a4f113b").unwrap();
    register(&mut ws, domain, 2, Some(&authorization));
    let ok = next_message(&mut ws, Duration::from_secs(3)).expect("an answer to the authorised REGISTER");
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");

    let reg = switch
        .wait_for_registration("1001", Duration::from_secs(2), |r| r.contact.contains("transport=ws"))
        .unwrap_or_else(|| panic!("no WS binding: {:?}", switch.registrations()));
    assert!(reg.source.starts_with("WS:127.0.0.1:"), "source {:?}", reg.raw);

    // A caller dials the agent; the INVITE must come down this connection.
    let caller = Sipp::new("caller_hangs_up")
        .remote(switch.sip_addr())
        .transport(Transport::Udp)
        .service("1001")
        .calls(1)
        .timeout_secs(10)
        .spawn();
    let invite = next_message(&mut ws, Duration::from_secs(5)).expect("the INVITE over the websocket");
    assert!(invite.starts_with("INVITE sip:k3l2j@df7jal23ls0d.invalid"), "{invite}");
    assert!(header(&invite, "Via")[0].starts_with("SIP/2.0/WS "), "{invite}");
    // A phone on a WebSocket is a browser: it is offered WebRTC media and
    // answers as a browser does.
    let offer = ws_phone::body(&invite);
    assert!(offer.contains("UDP/TLS/RTP/SAVPF"), "a WebRTC offer: {offer}");
    let (_browser, sdp) =
        media::webrtc::BrowserClient::answer(offer, "127.0.0.1".parse().unwrap(), Instant::now()).unwrap();
    let mut answer = String::from("SIP/2.0 200 OK\r\n");
    for via in header(&invite, "Via") {
        answer += &format!("Via: {via}\r\n");
    }
    for name in ["From", "Call-ID", "CSeq"] {
        answer += &format!("{name}: {}\r\n", header(&invite, name)[0]);
    }
    answer += &format!("To: {};tag=wsanswer\r\n", header(&invite, "To")[0]);
    answer += "Contact: <sip:k3l2j@df7jal23ls0d.invalid;transport=ws>\r\n";
    answer += &format!(
        "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    send(&mut ws, &answer);

    let mut seen = Vec::new();
    let bye = loop {
        let m = next_message(&mut ws, Duration::from_secs(5)).unwrap_or_else(|| panic!("no BYE; saw {seen:?}"));
        if m.starts_with("BYE ") {
            break m;
        }
        seen.push(m.lines().next().unwrap_or_default().to_owned());
    };
    assert!(seen.iter().any(|l| l.starts_with("ACK ")), "the ACK came too: {seen:?}");
    let mut ok = String::from("SIP/2.0 200 OK\r\n");
    for via in header(&bye, "Via") {
        ok += &format!("Via: {via}\r\n");
    }
    for name in ["From", "To", "Call-ID", "CSeq"] {
        ok += &format!("{name}: {}\r\n", header(&bye, name)[0]);
    }
    ok += "Content-Length: 0\r\n\r\n";
    send(&mut ws, &ok);
    caller.wait().assert_success(1);
}
