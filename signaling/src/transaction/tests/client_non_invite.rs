//! Non-INVITE client transaction: timers E, F and K.

use std::time::Instant;

use super::{advance, at, drain, layer, request, request_via, response, tcp, trace, udp};
use crate::transaction::TransactionEvent;

#[test]
fn timer_e_doubles_up_to_t2_until_timer_f() {
    let t0 = Instant::now();
    let mut l = layer();
    l.send_request(t0, request("OPTIONS", "z9hG4bKe"), udp());
    assert_eq!(drain(&mut l, t0, t0), trace(&[(0, "send OPTIONS")]));
    let expected = trace(&[
        (500, "send OPTIONS"),
        (1_500, "send OPTIONS"),
        (3_500, "send OPTIONS"),
        (7_500, "send OPTIONS"),
        (11_500, "send OPTIONS"),
        (15_500, "send OPTIONS"),
        (19_500, "send OPTIONS"),
        (23_500, "send OPTIONS"),
        (27_500, "send OPTIONS"),
        (31_500, "send OPTIONS"),
        (32_000, "timeout F"),
        (32_000, "terminated"),
    ]);
    assert_eq!(advance(&mut l, t0, 100_000), expected);
    assert!(l.is_empty());
}

#[test]
fn after_a_provisional_timer_e_is_t2() {
    let t0 = Instant::now();
    let mut l = layer();
    let register = request("REGISTER", "z9hG4bKe");
    l.send_request(t0, register.clone(), udp());
    drain(&mut l, t0, t0);
    l.handle_message(at(t0, 200), response(&register, 100, None).into(), udp());
    assert_eq!(drain(&mut l, t0, at(t0, 200)), trace(&[(200, "response 100")]));
    let out = advance(&mut l, t0, 13_000);
    assert_eq!(
        out,
        trace(&[
            (500, "send REGISTER"),
            (4_500, "send REGISTER"),
            (8_500, "send REGISTER"),
            (12_500, "send REGISTER")
        ])
    );
}

#[test]
fn final_response_completes_and_timer_k_absorbs_retransmissions() {
    let t0 = Instant::now();
    let mut l = layer();
    let bye = request("BYE", "z9hG4bKk");
    let id = l.send_request(t0, bye.clone(), udp());
    drain(&mut l, t0, t0);
    assert_eq!(advance(&mut l, t0, 700), trace(&[(500, "send BYE")]));
    l.handle_message(at(t0, 700), response(&bye, 200, Some("b1")).into(), udp());
    match l.poll_event() {
        Some(TransactionEvent::Response { id: got, response }) => {
            assert_eq!(got, id);
            assert_eq!(response.status_code.code(), 200);
        }
        other => panic!("expected the 200, got {other:?}"),
    }
    // A retransmitted 200 is absorbed; the request is not sent again.
    l.handle_message(at(t0, 900), response(&bye, 200, Some("b1")).into(), udp());
    assert_eq!(drain(&mut l, t0, at(t0, 900)), trace(&[]));
    // K = T4 = 5 s.
    assert_eq!(advance(&mut l, t0, 100_000), trace(&[(5_700, "terminated")]));
}

#[test]
fn reliable_transport_has_no_timer_e_and_k_is_zero() {
    let t0 = Instant::now();
    let mut l = layer();
    let options = request_via("OPTIONS", "z9hG4bKt", "TCP");
    l.send_request(t0, options.clone(), tcp());
    drain(&mut l, t0, t0);
    assert_eq!(advance(&mut l, t0, 10_000), trace(&[]));
    l.handle_message(at(t0, 10_000), response(&options, 404, Some("b")).into(), tcp());
    assert_eq!(
        drain(&mut l, t0, at(t0, 10_000)),
        trace(&[(10_000, "response 404"), (10_000, "terminated")])
    );
    assert!(l.is_empty());
}

#[test]
fn reliable_transport_times_out_with_timer_f() {
    let t0 = Instant::now();
    let mut l = layer();
    l.send_request(t0, request_via("MESSAGE", "z9hG4bKt", "TCP"), tcp());
    drain(&mut l, t0, t0);
    assert_eq!(
        advance(&mut l, t0, 100_000),
        trace(&[(32_000, "timeout F"), (32_000, "terminated")])
    );
}

#[test]
fn cancel_and_invite_with_one_branch_are_matched_by_cseq_method() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = request("INVITE", "z9hG4bKboth");
    let cancel = request("CANCEL", "z9hG4bKboth");
    let invite_id = l.send_request(t0, invite.clone(), udp());
    let cancel_id = l.send_request(t0, cancel.clone(), udp());
    assert_ne!(invite_id, cancel_id);
    drain(&mut l, t0, t0);
    l.handle_message(at(t0, 100), response(&cancel, 200, Some("b")).into(), udp());
    l.handle_message(at(t0, 110), response(&invite, 487, Some("b")).into(), udp());
    let ids: Vec<_> = std::iter::from_fn(|| l.poll_event())
        .filter_map(|e| match e {
            TransactionEvent::Response { id, response } => Some((id, response.status_code.code())),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec![(cancel_id, 200), (invite_id, 487)]);
}
