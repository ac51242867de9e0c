//! INVITE server transaction: 100 Trying, timers G, H, I, L, ACK absorption.

use std::time::Instant;

use rsip::prelude::*;
use rsip::{Header, SipMessage};

use super::{
    advance, at, drain, layer, next_request_id, next_transmit, parse_payload, request, request_via, response, tcp,
    trace, udp,
};
use crate::transaction::TransactionEvent;

#[test]
fn new_invite_is_answered_with_100_trying_and_reported() {
    let t0 = Instant::now();
    let mut l = layer();
    let mut invite = request("INVITE", "z9hG4bKs");
    invite
        .headers
        .push(Header::Timestamp(rsip::headers::Timestamp::new("54")));
    l.handle_message(t0, invite.clone().into(), udp());
    let trying = next_transmit(&mut l);
    assert_eq!(trying.destination, udp());
    let SipMessage::Response(parsed) = parse_payload(&trying.payload) else {
        panic!("100 is a response")
    };
    assert_eq!(parsed.status_code.code(), 100);
    assert_eq!(parsed.via_header().expect("Via"), invite.via_header().expect("Via"));
    assert_eq!(parsed.from_header().expect("From"), invite.from_header().expect("From"));
    assert_eq!(parsed.to_header().expect("To"), invite.to_header().expect("To"));
    assert_eq!(
        parsed.call_id_header().expect("Call-ID"),
        invite.call_id_header().expect("Call-ID")
    );
    assert_eq!(parsed.cseq_header().expect("CSeq"), invite.cseq_header().expect("CSeq"));
    let names: Vec<String> = parsed
        .headers
        .iter()
        .map(|h| h.to_string().split(':').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        names,
        ["Via", "From", "To", "Call-ID", "CSeq", "Timestamp", "Content-Length"]
    );
    assert!(parsed.headers.iter().any(|h| h.to_string() == "Content-Length: 0"));
    match l.poll_event() {
        Some(TransactionEvent::Request { request, source, .. }) => {
            assert_eq!(request, invite);
            assert_eq!(source, udp());
        }
        other => panic!("expected the INVITE, got {other:?}"),
    }
    assert_eq!(l.len(), 1);
    assert_eq!(l.poll_timeout(), None, "no timer runs in Proceeding");
}

#[test]
fn retransmitted_invite_resends_the_last_provisional() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = request("INVITE", "z9hG4bKs");
    l.handle_message(t0, invite.clone().into(), udp());
    let id = next_request_id(&mut l);
    drain(&mut l, t0, t0);
    l.handle_message(at(t0, 500), invite.clone().into(), udp());
    assert_eq!(
        drain(&mut l, t0, at(t0, 500)),
        trace(&[(500, "send 100")]),
        "absorbed, not reported"
    );
    l.send_response(at(t0, 600), id, response(&invite, 180, Some("b1")));
    assert_eq!(drain(&mut l, t0, at(t0, 600)), trace(&[(600, "send 180")]));
    l.handle_message(at(t0, 1_500), invite.into(), udp());
    assert_eq!(drain(&mut l, t0, at(t0, 1_500)), trace(&[(1_500, "send 180")]));
}

#[test]
fn error_response_is_retransmitted_with_timer_g_until_timer_h() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = request("INVITE", "z9hG4bKs");
    l.handle_message(t0, invite.clone().into(), udp());
    let id = next_request_id(&mut l);
    drain(&mut l, t0, t0);
    l.send_response(t0, id, response(&invite, 486, Some("b1")));
    assert_eq!(drain(&mut l, t0, t0), trace(&[(0, "send 486")]));
    let expected = trace(&[
        (500, "send 486"),
        (1_500, "send 486"),
        (3_500, "send 486"),
        (7_500, "send 486"),
        (11_500, "send 486"),
        (15_500, "send 486"),
        (19_500, "send 486"),
        (23_500, "send 486"),
        (27_500, "send 486"),
        (31_500, "send 486"),
        (32_000, "timeout H"),
        (32_000, "terminated"),
    ]);
    assert_eq!(advance(&mut l, t0, 100_000), expected);
    assert!(l.is_empty());
}

#[test]
fn ack_confirms_and_timer_i_ends_the_transaction() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = request("INVITE", "z9hG4bKs");
    l.handle_message(t0, invite.clone().into(), udp());
    let id = next_request_id(&mut l);
    drain(&mut l, t0, t0);
    l.send_response(t0, id, response(&invite, 603, Some("b1")));
    assert_eq!(drain(&mut l, t0, t0), trace(&[(0, "send 603")]));
    assert_eq!(advance(&mut l, t0, 1_000), trace(&[(500, "send 603")]));
    // An INVITE retransmission in Completed gets the final response again.
    l.handle_message(at(t0, 1_000), invite.into(), udp());
    assert_eq!(drain(&mut l, t0, at(t0, 1_000)), trace(&[(1_000, "send 603")]));
    l.handle_message(at(t0, 1_200), request("ACK", "z9hG4bKs").into(), udp());
    assert_eq!(
        drain(&mut l, t0, at(t0, 1_200)),
        trace(&[]),
        "ACK absorbed, not passed to the TU"
    );
    l.handle_message(at(t0, 1_300), request("ACK", "z9hG4bKs").into(), udp());
    assert_eq!(
        drain(&mut l, t0, at(t0, 1_300)),
        trace(&[]),
        "retransmitted ACK absorbed"
    );
    // No more G, no H; I = T4.
    assert_eq!(advance(&mut l, t0, 100_000), trace(&[(6_200, "terminated")]));
    // Later ACKs match nothing and go to the TU.
    l.handle_message(at(t0, 7_000), request("ACK", "z9hG4bKs").into(), udp());
    assert_eq!(drain(&mut l, t0, at(t0, 7_000)), trace(&[(7_000, "ack")]));
}

#[test]
fn success_goes_to_accepted_without_retransmission_until_timer_l() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = request("INVITE", "z9hG4bKs");
    l.handle_message(t0, invite.clone().into(), udp());
    let id = next_request_id(&mut l);
    drain(&mut l, t0, t0);
    let ok = response(&invite, 200, Some("b1"));
    l.send_response(at(t0, 100), id, ok.clone());
    assert_eq!(drain(&mut l, t0, at(t0, 100)), trace(&[(100, "send 200")]));
    // The INVITE retransmission is absorbed silently: the UAS core owns the 2xx.
    l.handle_message(at(t0, 600), invite.into(), udp());
    assert_eq!(drain(&mut l, t0, at(t0, 600)), trace(&[]));
    // The core's own 2xx retransmission is passed to the transport.
    l.send_response(at(t0, 600), id, ok);
    assert_eq!(drain(&mut l, t0, at(t0, 600)), trace(&[(600, "send 200")]));
    // Non-2xx after 2xx is refused.
    l.send_response(
        at(t0, 700),
        id,
        response(&request("INVITE", "z9hG4bKs"), 500, Some("b1")),
    );
    // The 2xx ACK (new branch) goes to the TU.
    l.handle_message(at(t0, 800), request("ACK", "z9hG4bKnew").into(), udp());
    assert_eq!(drain(&mut l, t0, at(t0, 800)), trace(&[(800, "ack")]));
    // An ACK reusing the INVITE branch reaches the TU as well.
    l.handle_message(at(t0, 900), request("ACK", "z9hG4bKs").into(), udp());
    assert_eq!(drain(&mut l, t0, at(t0, 900)), trace(&[(900, "ack")]));
    assert_eq!(advance(&mut l, t0, 100_000), trace(&[(32_100, "terminated")]));
}

#[test]
fn reliable_transport_has_no_timer_g_and_i_is_zero() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = request_via("INVITE", "z9hG4bKt", "TCP");
    l.handle_message(t0, invite.clone().into(), tcp());
    let id = next_request_id(&mut l);
    drain(&mut l, t0, t0);
    l.send_response(t0, id, response(&invite, 480, Some("b1")));
    assert_eq!(drain(&mut l, t0, t0), trace(&[(0, "send 480")]));
    assert_eq!(advance(&mut l, t0, 10_000), trace(&[]));
    l.handle_message(at(t0, 10_000), request_via("ACK", "z9hG4bKt", "TCP").into(), tcp());
    assert_eq!(drain(&mut l, t0, at(t0, 10_000)), trace(&[(10_000, "terminated")]));
    assert!(l.is_empty());
}

#[test]
fn reliable_transport_still_waits_for_ack_with_timer_h() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = request_via("INVITE", "z9hG4bKt", "TCP");
    l.handle_message(t0, invite.clone().into(), tcp());
    let id = next_request_id(&mut l);
    drain(&mut l, t0, t0);
    l.send_response(t0, id, response(&invite, 480, Some("b1")));
    assert_eq!(drain(&mut l, t0, t0), trace(&[(0, "send 480")]));
    let expected = trace(&[(32_000, "timeout H"), (32_000, "terminated")]);
    assert_eq!(advance(&mut l, t0, 100_000), expected);
}
