//! Non-INVITE server transaction: absorption and Timer J.

use std::time::Instant;

use super::{advance, at, drain, layer, next_request_id, request, request_via, response, tcp, trace, udp};

#[test]
fn retransmissions_get_the_last_response_until_timer_j() {
    let t0 = Instant::now();
    let mut l = layer();
    let register = request("REGISTER", "z9hG4bKn");
    l.handle_message(t0, register.clone().into(), udp());
    let id = next_request_id(&mut l);
    assert_eq!(drain(&mut l, t0, t0), trace(&[]), "no 100 for non-INVITE");
    // Trying: nothing to re-send yet.
    l.handle_message(at(t0, 500), register.clone().into(), udp());
    assert_eq!(drain(&mut l, t0, at(t0, 500)), trace(&[]));
    // Proceeding: the provisional is re-sent.
    l.send_response(at(t0, 600), id, response(&register, 100, None));
    assert_eq!(drain(&mut l, t0, at(t0, 600)), trace(&[(600, "send 100")]));
    l.handle_message(at(t0, 1_500), register.clone().into(), udp());
    assert_eq!(drain(&mut l, t0, at(t0, 1_500)), trace(&[(1_500, "send 100")]));
    // Completed: the final is re-sent, further answers from the TU are ignored.
    l.send_response(at(t0, 2_000), id, response(&register, 200, Some("r1")));
    l.send_response(at(t0, 2_000), id, response(&register, 500, Some("r1")));
    assert_eq!(drain(&mut l, t0, at(t0, 2_000)), trace(&[(2_000, "send 200")]));
    l.handle_message(at(t0, 3_500), register.into(), udp());
    assert_eq!(drain(&mut l, t0, at(t0, 3_500)), trace(&[(3_500, "send 200")]));
    // J = 64*T1 over UDP; the server never retransmits on its own.
    assert_eq!(advance(&mut l, t0, 100_000), trace(&[(34_000, "terminated")]));
    assert!(l.is_empty());
}

#[test]
fn final_response_straight_from_trying() {
    let t0 = Instant::now();
    let mut l = layer();
    let options = request("OPTIONS", "z9hG4bKn");
    l.handle_message(t0, options.clone().into(), udp());
    let id = next_request_id(&mut l);
    l.send_response(at(t0, 10), id, response(&options, 200, Some("o1")));
    l.handle_message(at(t0, 20), options.into(), udp());
    assert_eq!(
        drain(&mut l, t0, at(t0, 20)),
        trace(&[(20, "send 200"), (20, "send 200")])
    );
}

#[test]
fn reliable_transport_terminates_on_the_final_response() {
    let t0 = Instant::now();
    let mut l = layer();
    let options = request_via("OPTIONS", "z9hG4bKt", "TCP");
    l.handle_message(t0, options.clone().into(), tcp());
    let id = next_request_id(&mut l);
    l.send_response(at(t0, 10), id, response(&options, 200, Some("o1")));
    assert_eq!(
        drain(&mut l, t0, at(t0, 10)),
        trace(&[(10, "send 200"), (10, "terminated")])
    );
    assert!(l.is_empty());
    // A late retransmission is a new request for the TU.
    l.handle_message(at(t0, 20), options.into(), tcp());
    assert_eq!(drain(&mut l, t0, at(t0, 20)), trace(&[(20, "request OPTIONS")]));
}
