//! Transaction layer tests in virtual time: one `Instant` is taken as the base
//! and everything else is an offset from it. Nothing sleeps.
//!
//! Outputs are flattened into a trace of `(milliseconds since base, summary)`
//! where a summary is `send <METHOD|code>` for a transmission and a short word
//! for an event (`request INVITE`, `response 180`, `timeout B`, `terminated`...).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rsip::prelude::*;
use rsip::{Request, Response, SipMessage};

use super::{TimerConfig, TransactionEvent, TransactionId, TransactionLayer};
use crate::transport::{Peer, Transmit};

mod client_invite;
mod client_non_invite;
mod server_invite;
mod server_non_invite;

/// The far end used by most tests: it is also the sent-by of the fixtures, so
/// responses go back to it.
pub(super) fn udp() -> Peer {
    Peer::udp(SocketAddr::from(([192, 0, 2, 1], 5060)))
}

pub(super) fn tcp() -> Peer {
    Peer::tcp(SocketAddr::from(([192, 0, 2, 1], 5060)))
}

pub(super) fn layer() -> TransactionLayer {
    TransactionLayer::new(TimerConfig::default())
}

pub(super) fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

fn parse(text: &str) -> SipMessage {
    let text = text.trim_start().replace('\n', "\r\n");
    SipMessage::try_from(text.as_str()).expect("test fixture parses")
}

/// A request from 192.0.2.1 with the given method, branch and Via transport.
pub(super) fn request_via(method: &str, branch: &str, transport: &str) -> Request {
    let cseq_method = method;
    let text = format!(
        "
{method} sip:bob@example.com SIP/2.0
Via: SIP/2.0/{transport} 192.0.2.1:5060;branch={branch}
Max-Forwards: 70
Route: <sip:proxy.example.com;lr>
From: Alice <sip:alice@example.com>;tag=a1
To: Bob <sip:bob@example.com>
Call-ID: call-1@192.0.2.1
CSeq: 1 {cseq_method}
Contact: <sip:alice@192.0.2.1>
Content-Length: 0

"
    );
    match parse(&text) {
        SipMessage::Request(request) => request,
        SipMessage::Response(_) => panic!("fixture is a request"),
    }
}

pub(super) fn request(method: &str, branch: &str) -> Request {
    request_via(method, branch, "UDP")
}

/// A response to `request` (Via, From, To, Call-ID and CSeq copied), with
/// `to_tag` added to To when given.
pub(super) fn response(request: &Request, code: u16, to_tag: Option<&str>) -> Response {
    let mut text = format!("SIP/2.0 {code} Whatever\n");
    for header in request.headers.iter() {
        let line = header.to_string();
        let name = line.split(':').next().unwrap_or_default();
        match name {
            "Via" | "From" | "Call-ID" | "CSeq" => text.push_str(&format!("{line}\n")),
            "To" => match to_tag {
                Some(tag) => text.push_str(&format!("{line};tag={tag}\n")),
                None => text.push_str(&format!("{line}\n")),
            },
            _ => {}
        }
    }
    text.push_str("Content-Length: 0\n\n");
    match parse(&text) {
        SipMessage::Response(response) => response,
        SipMessage::Request(_) => panic!("fixture is a response"),
    }
}

pub(super) fn summary_of_transmit(transmit: &Transmit) -> String {
    let text = String::from_utf8_lossy(&transmit.payload);
    let first = text.lines().next().unwrap_or_default();
    let mut words = first.split(' ');
    let word = match words.next() {
        Some("SIP/2.0") => words.next().unwrap_or_default(),
        Some(method) => method,
        None => "",
    };
    format!("send {word}")
}

pub(super) fn summary_of_event(event: &TransactionEvent) -> String {
    match event {
        TransactionEvent::Request { request, .. } => format!("request {}", request.method),
        TransactionEvent::Ack { .. } => "ack".to_owned(),
        TransactionEvent::Response { response, .. } => format!("response {}", response.status_code.code()),
        TransactionEvent::StrayResponse { response, .. } => format!("stray {}", response.status_code.code()),
        TransactionEvent::Timeout { timer, .. } => format!("timeout {timer:?}"),
        TransactionEvent::Terminated { .. } => "terminated".to_owned(),
    }
}

/// Drains all output queued at `now`.
pub(super) fn drain(layer: &mut TransactionLayer, t0: Instant, now: Instant) -> Vec<(u64, String)> {
    let ms = u64::try_from(now.duration_since(t0).as_millis()).unwrap_or(u64::MAX);
    let mut out = Vec::new();
    while let Some(transmit) = layer.poll_transmit() {
        out.push((ms, summary_of_transmit(&transmit)));
    }
    while let Some(event) = layer.poll_event() {
        out.push((ms, summary_of_event(&event)));
    }
    out
}

/// Steps virtual time from deadline to deadline up to `until_ms`, as an I/O
/// shell would, and returns everything the layer put out on the way.
pub(super) fn advance(layer: &mut TransactionLayer, t0: Instant, until_ms: u64) -> Vec<(u64, String)> {
    let until = at(t0, until_ms);
    let mut out = Vec::new();
    while let Some(deadline) = layer.poll_timeout().filter(|d| *d <= until) {
        layer.handle_timeout(deadline);
        out.extend(drain(layer, t0, deadline));
    }
    out
}

/// Shorthand for building expected traces.
pub(super) fn trace(items: &[(u64, &str)]) -> Vec<(u64, String)> {
    items.iter().map(|(ms, s)| (*ms, (*s).to_owned())).collect()
}

/// Takes the next transmission, failing the test if there is none.
pub(super) fn next_transmit(layer: &mut TransactionLayer) -> Transmit {
    layer.poll_transmit().expect("a transmission was queued")
}

pub(super) fn parse_payload(payload: &Bytes) -> SipMessage {
    SipMessage::try_from(payload.as_ref()).expect("the layer emits parseable SIP")
}

/// The id carried by the next `Request` event.
pub(super) fn next_request_id(layer: &mut TransactionLayer) -> TransactionId {
    loop {
        match layer.poll_event() {
            Some(TransactionEvent::Request { id, .. }) => return id,
            Some(_) => continue,
            None => panic!("no Request event queued"),
        }
    }
}

#[test]
fn empty_layer_has_no_deadline() {
    let l = layer();
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn response_without_transaction_is_stray() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = request("INVITE", "z9hG4bKnone");
    l.handle_message(t0, response(&invite, 200, Some("b1")).into(), udp());
    assert_eq!(drain(&mut l, t0, t0), trace(&[(0, "stray 200")]));
}

#[test]
fn ack_without_transaction_goes_to_the_tu() {
    let t0 = Instant::now();
    let mut l = layer();
    l.handle_message(t0, request("ACK", "z9hG4bKack2xx").into(), udp());
    assert_eq!(drain(&mut l, t0, t0), trace(&[(0, "ack")]));
    assert!(l.is_empty());
}

#[test]
fn cancel_finds_its_invite() {
    let t0 = Instant::now();
    let mut l = layer();
    l.handle_message(t0, request("INVITE", "z9hG4bKinv").into(), udp());
    let invite = next_request_id(&mut l);
    l.handle_message(t0, request("CANCEL", "z9hG4bKinv").into(), udp());
    let cancel = next_request_id(&mut l);
    assert_ne!(invite, cancel, "CANCEL is its own transaction");
    assert_eq!(l.len(), 2);
    assert_eq!(l.invite_for_cancel(cancel), Some(invite));
    // Not a CANCEL, or a CANCEL for another branch.
    assert_eq!(l.invite_for_cancel(invite), None);
    l.handle_message(t0, request("CANCEL", "z9hG4bKother").into(), udp());
    let orphan = next_request_id(&mut l);
    assert_eq!(l.invite_for_cancel(orphan), None);
    assert_eq!(l.invite_for_cancel(TransactionId(999)), None);
}

#[test]
fn cancel_from_another_sent_by_does_not_match() {
    let t0 = Instant::now();
    let mut l = layer();
    l.handle_message(t0, request("INVITE", "z9hG4bKinv").into(), udp());
    let _invite = next_request_id(&mut l);
    let mut cancel = request("CANCEL", "z9hG4bKinv");
    let via = rsip::headers::Via::new("SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKinv");
    cancel.headers.retain(|h| !matches!(h, rsip::Header::Via(_)));
    cancel.headers.push(rsip::Header::Via(via));
    l.handle_message(t0, cancel.into(), udp());
    let cancel = next_request_id(&mut l);
    assert_eq!(l.invite_for_cancel(cancel), None);
}

#[test]
fn cancel_after_invite_ended_matches_nothing() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = request("INVITE", "z9hG4bKinv");
    l.handle_message(t0, invite.clone().into(), udp());
    let id = next_request_id(&mut l);
    l.send_response(t0, id, response(&invite, 200, Some("b1")));
    advance(&mut l, t0, 40_000); // Timer L
    l.handle_message(at(t0, 40_000), request("CANCEL", "z9hG4bKinv").into(), udp());
    let cancel = next_request_id(&mut l);
    assert_eq!(l.invite_for_cancel(cancel), None);
}

#[test]
fn same_branch_from_two_hosts_is_two_transactions() {
    let t0 = Instant::now();
    let mut l = layer();
    let a = request("OPTIONS", "z9hG4bKsame");
    let mut b = a.clone();
    b.headers.retain(|h| !matches!(h, rsip::Header::Via(_)));
    b.headers.push(rsip::Header::Via(rsip::headers::Via::new(
        "SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKsame",
    )));
    l.handle_message(t0, a.into(), udp());
    l.handle_message(t0, b.into(), udp());
    assert_eq!(l.len(), 2);
}

#[test]
fn rfc2543_invite_is_matched_without_magic_cookie() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = request("INVITE", "old-style-1");
    l.handle_message(t0, invite.clone().into(), udp());
    let id = next_request_id(&mut l);
    drain(&mut l, t0, t0);
    // The retransmission is absorbed and answered with the 100.
    l.handle_message(at(t0, 500), invite.clone().into(), udp());
    assert_eq!(drain(&mut l, t0, at(t0, 500)), trace(&[(500, "send 100")]));
    l.send_response(at(t0, 600), id, response(&invite, 486, Some("b1")));
    drain(&mut l, t0, at(t0, 600));
    // The ACK carries the To tag the INVITE lacked, and still matches.
    let mut ack = request("ACK", "old-style-1");
    ack.headers.retain(|h| !matches!(h, rsip::Header::To(_)));
    ack.headers.push(rsip::Header::To(rsip::headers::To::new(
        "Bob <sip:bob@example.com>;tag=b1",
    )));
    l.handle_message(at(t0, 700), ack.into(), udp());
    assert_eq!(drain(&mut l, t0, at(t0, 700)), trace(&[]), "ACK absorbed");
    assert_eq!(advance(&mut l, t0, 60_000), trace(&[(5_700, "terminated")]));
}

#[test]
fn requests_without_branch_are_matched_by_rfc2543_rule() {
    let t0 = Instant::now();
    let mut l = layer();
    let mut invite = request("OPTIONS", "x");
    invite.headers.retain(|h| !matches!(h, rsip::Header::Via(_)));
    invite
        .headers
        .push(rsip::Header::Via(rsip::headers::Via::new("SIP/2.0/UDP 192.0.2.1:5060")));
    l.handle_message(t0, invite.clone().into(), udp());
    l.handle_message(t0, invite.into(), udp());
    assert_eq!(l.len(), 1);
    assert_eq!(drain(&mut l, t0, t0), trace(&[(0, "request OPTIONS")]));
}

#[test]
fn malformed_requests_are_dropped_and_counted() {
    let t0 = Instant::now();
    let mut l = layer();
    let mut no_via = request("OPTIONS", "z9hG4bK1");
    no_via.headers.retain(|h| !matches!(h, rsip::Header::Via(_)));
    l.handle_message(t0, no_via.into(), udp());
    let mut bad_via = request("OPTIONS", "z9hG4bK1");
    bad_via.headers.retain(|h| !matches!(h, rsip::Header::Via(_)));
    bad_via
        .headers
        .push(rsip::Header::Via(rsip::headers::Via::new("garbage")));
    l.handle_message(t0, bad_via.into(), udp());
    assert_eq!(l.dropped(), 2);
    assert!(l.is_empty());
    assert_eq!(drain(&mut l, t0, t0), trace(&[]));
}

#[test]
fn malformed_response_is_stray() {
    let t0 = Instant::now();
    let mut l = layer();
    let options = request("OPTIONS", "z9hG4bK1");
    l.send_request(t0, options.clone(), udp());
    drain(&mut l, t0, t0);
    let mut no_cseq = response(&options, 200, Some("b"));
    no_cseq.headers.retain(|h| !matches!(h, rsip::Header::CSeq(_)));
    l.handle_message(t0, no_cseq.into(), udp());
    assert_eq!(drain(&mut l, t0, t0), trace(&[(0, "stray 200")]));
    assert_eq!(l.len(), 1);
}

#[test]
fn unusable_client_requests_terminate_at_once() {
    let t0 = Instant::now();
    let mut l = layer();
    let ack = l.send_request(t0, request("ACK", "z9hG4bKa"), udp());
    let mut no_branch = request("OPTIONS", "x");
    no_branch.headers.retain(|h| !matches!(h, rsip::Header::Via(_)));
    no_branch
        .headers
        .push(rsip::Header::Via(rsip::headers::Via::new("SIP/2.0/UDP 192.0.2.9")));
    let other = l.send_request(t0, no_branch, udp());
    assert_ne!(ack, other);
    // A branch already in use for the same method.
    l.send_request(t0, request("OPTIONS", "z9hG4bKdup"), udp());
    l.send_request(t0, request("OPTIONS", "z9hG4bKdup"), udp());
    assert_eq!(l.len(), 1);
    assert_eq!(l.dropped(), 3);
    let out = drain(&mut l, t0, t0);
    assert_eq!(
        out,
        trace(&[
            (0, "send OPTIONS"),
            (0, "terminated"),
            (0, "terminated"),
            (0, "terminated")
        ])
    );
}

#[test]
fn responses_follow_rport_and_sent_by() {
    let t0 = Instant::now();
    let mut l = layer();
    let nat = Peer::udp(SocketAddr::from(([203, 0, 113, 5], 40_000)));
    // rport: back to the source address and port.
    let mut with_rport = request("OPTIONS", "z9hG4bKr");
    with_rport.headers.retain(|h| !matches!(h, rsip::Header::Via(_)));
    with_rport.headers.push(rsip::Header::Via(rsip::headers::Via::new(
        "SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKr;rport",
    )));
    l.handle_message(t0, with_rport.clone().into(), nat);
    let id = next_request_id(&mut l);
    l.send_response(t0, id, response(&with_rport, 200, Some("b")));
    assert_eq!(next_transmit(&mut l).destination, nat);
    // No rport: the source address with the sent-by port.
    let mut plain = with_rport.clone();
    plain.headers.retain(|h| !matches!(h, rsip::Header::Via(_)));
    plain.headers.push(rsip::Header::Via(rsip::headers::Via::new(
        "SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKp",
    )));
    l.handle_message(t0, plain.clone().into(), nat);
    let id = next_request_id(&mut l);
    l.send_response(t0, id, response(&plain, 200, Some("b")));
    let expected = Peer::udp(SocketAddr::from(([203, 0, 113, 5], 5062)));
    assert_eq!(next_transmit(&mut l).destination, expected);
}

#[test]
fn incoming_request_via_gets_received() {
    let t0 = Instant::now();
    let mut l = layer();
    let nat = Peer::udp(SocketAddr::from(([203, 0, 113, 5], 40_000)));
    l.handle_message(t0, request("OPTIONS", "z9hG4bKr").into(), nat);
    match l.poll_event() {
        Some(TransactionEvent::Request { request, .. }) => {
            let via = request.via_header().expect("Via").to_string();
            assert!(via.contains("received=203.0.113.5"), "{via}");
        }
        other => panic!("expected a request, got {other:?}"),
    }
}

#[test]
fn send_response_to_unknown_or_client_id_is_ignored() {
    let t0 = Instant::now();
    let mut l = layer();
    let options = request("OPTIONS", "z9hG4bK1");
    let id = l.send_request(t0, options.clone(), udp());
    drain(&mut l, t0, t0);
    l.send_response(t0, id, response(&options, 200, None));
    l.send_response(t0, TransactionId(77), response(&options, 200, None));
    assert_eq!(drain(&mut l, t0, t0), trace(&[]));
}

#[test]
fn send_stateless_queues_the_message() {
    let mut l = layer();
    let ack = request("ACK", "z9hG4bKack");
    l.send_stateless(ack.clone().into(), udp());
    let transmit = next_transmit(&mut l);
    assert_eq!(transmit.destination, udp());
    assert_eq!(parse_payload(&transmit.payload), SipMessage::from(ack));
    assert!(l.is_empty());
}

#[test]
fn poll_timeout_skips_cancelled_timers() {
    let t0 = Instant::now();
    let mut l = layer();
    let options = request("OPTIONS", "z9hG4bK1");
    l.send_request(t0, options.clone(), udp());
    assert_eq!(l.poll_timeout(), Some(at(t0, 500)), "Timer E");
    l.handle_message(at(t0, 100), response(&options, 200, Some("b")).into(), udp());
    // E and F are cancelled; only K (T4) is left.
    assert_eq!(l.poll_timeout(), Some(at(t0, 5_100)));
}

mod sequences {
    //! Random sequences of operations: nothing panics, and once time runs far
    //! enough every transaction has ended with exactly one `Terminated`.

    use std::collections::HashMap;
    use std::time::Instant;

    use proptest::prelude::*;

    use super::{at, layer, request_via, response, tcp, udp};
    use crate::transaction::{TransactionEvent, TransactionId, TransactionLayer};

    const METHODS: [&str; 5] = ["INVITE", "ACK", "CANCEL", "OPTIONS", "BYE"];
    const CODES: [u16; 9] = [100, 101, 180, 200, 202, 300, 486, 603, 699];

    #[derive(Debug, Clone)]
    enum Op {
        SendRequest {
            method: usize,
            branch: u8,
            reliable: bool,
        },
        ReceiveRequest {
            method: usize,
            branch: u8,
            reliable: bool,
        },
        ReceiveResponse {
            method: usize,
            branch: u8,
            code: usize,
            reliable: bool,
        },
        Respond {
            pick: usize,
            code: usize,
        },
        Advance {
            ms: u64,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        let method = 0..METHODS.len();
        let code = 0..CODES.len();
        prop_oneof![
            (method.clone(), 0..4u8, any::<bool>()).prop_map(|(method, branch, reliable)| Op::SendRequest {
                method,
                branch,
                reliable
            }),
            (method.clone(), 0..4u8, any::<bool>()).prop_map(|(method, branch, reliable)| Op::ReceiveRequest {
                method,
                branch,
                reliable
            }),
            (method, 0..4u8, code.clone(), any::<bool>()).prop_map(|(method, branch, code, reliable)| {
                Op::ReceiveResponse {
                    method,
                    branch,
                    code,
                    reliable,
                }
            }),
            (any::<usize>(), code).prop_map(|(pick, code)| Op::Respond { pick, code }),
            (0..40_000u64).prop_map(|ms| Op::Advance { ms }),
        ]
    }

    fn collect(l: &mut TransactionLayer, servers: &mut Vec<TransactionId>, ends: &mut HashMap<TransactionId, u32>) {
        while l.poll_transmit().is_some() {}
        while let Some(event) = l.poll_event() {
            match event {
                TransactionEvent::Request { id, .. } => servers.push(id),
                TransactionEvent::Terminated { id } => *ends.entry(id).or_default() += 1,
                _ => {}
            }
        }
    }

    fn run_timers(l: &mut TransactionLayer, now: Instant) {
        while let Some(deadline) = l.poll_timeout().filter(|d| *d <= now) {
            l.handle_timeout(deadline);
        }
    }

    proptest! {
        #[test]
        fn every_transaction_terminates_once(ops in prop::collection::vec(op(), 1..60)) {
            let t0 = Instant::now();
            let mut l = layer();
            let mut now_ms = 0;
            let mut created = Vec::new();
            let mut servers = Vec::new();
            let mut ends = HashMap::new();
            for op in ops {
                let now = at(t0, now_ms);
                let peer = |reliable: bool| if reliable { tcp() } else { udp() };
                let via = |reliable: bool| if reliable { "TCP" } else { "UDP" };
                match op {
                    Op::SendRequest { method, branch, reliable } => {
                        let request = request_via(METHODS[method], &format!("z9hG4bKc{branch}"), via(reliable));
                        created.push(l.send_request(now, request, peer(reliable)));
                    }
                    Op::ReceiveRequest { method, branch, reliable } => {
                        let request = request_via(METHODS[method], &format!("z9hG4bKs{branch}"), via(reliable));
                        l.handle_message(now, request.into(), peer(reliable));
                    }
                    Op::ReceiveResponse { method, branch, code, reliable } => {
                        let request = request_via(METHODS[method], &format!("z9hG4bKc{branch}"), via(reliable));
                        l.handle_message(now, response(&request, CODES[code], Some("t")).into(), peer(reliable));
                    }
                    Op::Respond { pick, code } => {
                        if !servers.is_empty() {
                            let id = servers[pick % servers.len()];
                            let request = request_via("INVITE", "z9hG4bKs0", "UDP");
                            l.send_response(now, id, response(&request, CODES[code], Some("t")));
                        }
                    }
                    Op::Advance { ms } => {
                        now_ms += ms;
                        run_timers(&mut l, at(t0, now_ms));
                    }
                }
                collect(&mut l, &mut servers, &mut ends);
            }
            // Answer every server transaction, then let every timer run out.
            for id in servers.clone() {
                let request = request_via("INVITE", "z9hG4bKs0", "UDP");
                l.send_response(at(t0, now_ms), id, response(&request, 486, Some("t")));
            }
            run_timers(&mut l, at(t0, now_ms + 3_600_000));
            collect(&mut l, &mut servers, &mut ends);
            prop_assert!(l.is_empty(), "{} transactions left", l.len());
            prop_assert_eq!(l.poll_timeout(), None);
            created.extend(servers);
            prop_assert_eq!(ends.len(), created.len());
            for id in created {
                prop_assert_eq!(ends.get(&id).copied(), Some(1), "{:?}", id);
            }
        }
    }
}
