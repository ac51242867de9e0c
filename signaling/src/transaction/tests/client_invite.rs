//! INVITE client transaction: timers A, B, C, D, M and the ACK for non-2xx.

use std::time::Instant;

use rsip::prelude::*;
use rsip::{Header, Method, SipMessage};

use super::{advance, at, drain, layer, next_transmit, parse_payload, request, request_via, response, tcp, trace, udp};
use crate::transaction::{TimerConfig, TransactionEvent, TransactionLayer};

#[test]
fn timer_a_doubles_without_cap_until_timer_b() {
    let t0 = Instant::now();
    let mut l = layer();
    l.send_request(t0, request("INVITE", "z9hG4bKa"), udp());
    assert_eq!(drain(&mut l, t0, t0), trace(&[(0, "send INVITE")]));
    // A: T1, 2T1, 4T1... past T2 (4 s): 8 s and 16 s intervals too. B at 64*T1.
    let expected = trace(&[
        (500, "send INVITE"),
        (1_500, "send INVITE"),
        (3_500, "send INVITE"),
        (7_500, "send INVITE"),
        (15_500, "send INVITE"),
        (31_500, "send INVITE"),
        (32_000, "timeout B"),
        (32_000, "terminated"),
    ]);
    assert_eq!(advance(&mut l, t0, 300_000), expected);
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn provisional_stops_retransmission_and_timer_b() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = request("INVITE", "z9hG4bKa");
    l.send_request(t0, invite.clone(), udp());
    drain(&mut l, t0, t0);
    l.handle_message(at(t0, 100), response(&invite, 100, None).into(), udp());
    assert_eq!(drain(&mut l, t0, at(t0, 100)), trace(&[(100, "response 100")]));
    // 100 does not touch Timer C: it fires 180 s after the INVITE, then B
    // guards the CANCEL for another 64*T1.
    let expected = trace(&[(180_000, "timeout C"), (212_000, "timeout B"), (212_000, "terminated")]);
    assert_eq!(advance(&mut l, t0, 1_000_000), expected);
}

#[test]
fn timer_c_restarts_on_provisionals_above_100_and_keeps_the_transaction() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = request("INVITE", "z9hG4bKa");
    let id = l.send_request(t0, invite.clone(), udp());
    l.handle_message(at(t0, 100), response(&invite, 180, Some("b1")).into(), udp());
    l.handle_message(at(t0, 60_000), response(&invite, 183, Some("b1")).into(), udp());
    drain(&mut l, t0, at(t0, 60_000));
    assert_eq!(advance(&mut l, t0, 239_999), trace(&[]));
    assert_eq!(advance(&mut l, t0, 240_000), trace(&[(240_000, "timeout C")]));
    assert!(l.contains(id), "Timer C leaves the transaction to the TU");
    // The TU CANCELs; the INVITE ends with 487, which is ACKed.
    l.handle_message(at(t0, 241_000), response(&invite, 487, Some("b1")).into(), udp());
    let out = drain(&mut l, t0, at(t0, 241_000));
    assert_eq!(out, trace(&[(241_000, "send ACK"), (241_000, "response 487")]));
    assert_eq!(advance(&mut l, t0, 1_000_000), trace(&[(273_000, "terminated")]));
}

#[test]
fn non_2xx_final_is_acked_in_the_transaction() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = request("INVITE", "z9hG4bKa");
    let id = l.send_request(t0, invite.clone(), udp());
    drain(&mut l, t0, t0);
    l.handle_message(at(t0, 100), response(&invite, 180, Some("b1")).into(), udp());
    l.handle_message(at(t0, 200), response(&invite, 486, Some("b1")).into(), udp());
    let ack = next_transmit(&mut l);
    assert_eq!(ack.destination, udp());
    let events: Vec<_> = std::iter::from_fn(|| l.poll_event()).collect();
    assert!(matches!(&events[..], [
        TransactionEvent::Response { id: a, response: r1 },
        TransactionEvent::Response { id: b, response: r2 },
    ] if *a == id && *b == id && r1.status_code.code() == 180 && r2.status_code.code() == 486));

    let SipMessage::Request(parsed) = parse_payload(&ack.payload) else {
        panic!("ACK is a request")
    };
    assert_eq!(parsed.method, Method::Ack);
    assert_eq!(parsed.uri, invite.uri);
    assert_eq!(parsed.via_header().expect("Via"), invite.via_header().expect("Via"));
    assert_eq!(parsed.from_header().expect("From"), invite.from_header().expect("From"));
    assert_eq!(
        parsed.call_id_header().expect("Call-ID"),
        invite.call_id_header().expect("Call-ID")
    );
    assert_eq!(
        parsed.to_header().expect("To").to_string(),
        "To: Bob <sip:bob@example.com>;tag=b1"
    );
    assert_eq!(parsed.cseq_header().expect("CSeq").to_string(), "CSeq: 1 ACK");
    assert_eq!(
        parsed.max_forwards_header().expect("Max-Forwards").to_string(),
        "Max-Forwards: 70"
    );
    assert_eq!(parsed.route_header(), invite.route_header());
    assert!(parsed.headers.iter().any(|h| h.to_string() == "Content-Length: 0"));
    assert!(!parsed.headers.iter().any(|h| matches!(h, Header::Contact(_))));

    // Each retransmitted final response is ACKed again, with the same bytes,
    // and not reported twice.
    l.handle_message(at(t0, 2_000), response(&invite, 486, Some("b1")).into(), udp());
    let again = next_transmit(&mut l);
    assert_eq!(again.payload, ack.payload);
    assert!(l.poll_event().is_none());
    // Timer D: 32 s over UDP.
    assert_eq!(advance(&mut l, t0, 100_000), trace(&[(32_200, "terminated")]));
}

#[test]
fn final_in_calling_state_is_acked_too() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = request("INVITE", "z9hG4bKa");
    l.send_request(t0, invite.clone(), udp());
    drain(&mut l, t0, t0);
    l.handle_message(at(t0, 50), response(&invite, 503, Some("x")).into(), udp());
    assert_eq!(
        drain(&mut l, t0, at(t0, 50)),
        trace(&[(50, "send ACK"), (50, "response 503")])
    );
    assert_eq!(advance(&mut l, t0, 100_000), trace(&[(32_050, "terminated")]));
}

#[test]
fn success_goes_to_accepted_and_passes_retransmissions_until_timer_m() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = request("INVITE", "z9hG4bKa");
    l.send_request(t0, invite.clone(), udp());
    drain(&mut l, t0, t0);
    let ok = response(&invite, 200, Some("b1"));
    l.handle_message(at(t0, 300), ok.clone().into(), udp());
    assert_eq!(
        drain(&mut l, t0, at(t0, 300)),
        trace(&[(300, "response 200")]),
        "no ACK for a 2xx"
    );
    l.handle_message(at(t0, 800), ok.clone().into(), udp());
    assert_eq!(drain(&mut l, t0, at(t0, 800)), trace(&[(800, "response 200")]));
    // A 200 from another fork is passed on as well.
    l.handle_message(at(t0, 900), response(&invite, 200, Some("b2")).into(), udp());
    assert_eq!(drain(&mut l, t0, at(t0, 900)), trace(&[(900, "response 200")]));
    // No retransmission of the INVITE, no Timer B: only M at 64*T1.
    assert_eq!(advance(&mut l, t0, 100_000), trace(&[(32_300, "terminated")]));
    l.handle_message(at(t0, 40_000), ok.into(), udp());
    assert_eq!(drain(&mut l, t0, at(t0, 40_000)), trace(&[(40_000, "stray 200")]));
}

#[test]
fn reliable_transport_sends_once_and_skips_timer_d() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = request_via("INVITE", "z9hG4bKt", "TCP");
    l.send_request(t0, invite.clone(), tcp());
    assert_eq!(drain(&mut l, t0, t0), trace(&[(0, "send INVITE")]));
    l.handle_message(at(t0, 100), response(&invite, 404, Some("b1")).into(), tcp());
    let out = drain(&mut l, t0, at(t0, 100));
    assert_eq!(
        out,
        trace(&[(100, "send ACK"), (100, "response 404"), (100, "terminated")])
    );
    assert!(l.is_empty());
}

#[test]
fn reliable_transport_still_times_out_with_timer_b() {
    let t0 = Instant::now();
    let mut l = layer();
    l.send_request(t0, request_via("INVITE", "z9hG4bKt", "TCP"), tcp());
    drain(&mut l, t0, t0);
    assert_eq!(
        advance(&mut l, t0, 100_000),
        trace(&[(32_000, "timeout B"), (32_000, "terminated")])
    );
}

#[test]
fn timers_scale_with_t1() {
    let t0 = Instant::now();
    let config = TimerConfig {
        t1: std::time::Duration::from_millis(100),
        ..TimerConfig::default()
    };
    let mut l = TransactionLayer::new(config);
    l.send_request(t0, request("INVITE", "z9hG4bKa"), udp());
    drain(&mut l, t0, t0);
    let out = advance(&mut l, t0, 100_000);
    let sends: Vec<u64> = out
        .iter()
        .filter(|(_, s)| s == "send INVITE")
        .map(|(ms, _)| *ms)
        .collect();
    assert_eq!(sends, vec![100, 300, 700, 1_500, 3_100, 6_300]);
    assert_eq!(out.last(), Some(&(6_400, "terminated".to_owned())));
}
