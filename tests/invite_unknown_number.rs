//! INVITE to a number nobody has (from a trunk address, so no digest auth):
//! 404, ACKed in the INVITE transaction; the switch stops retransmitting.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Sipp, Switch, SwitchConfig, Transport};

fn unknown_number(transport: Transport) {
    let switch = Switch::start(SwitchConfig::for_sipp());
    let outcome = Sipp::new("invite_unknown")
        .remote(switch.sip_addr())
        .transport(transport)
        .service("4999")
        .calls(3)
        .timeout_secs(8)
        .run();
    outcome.assert_success(3);
    let not_found = outcome.received(|m| m.starts_with("SIP/2.0 404"));
    // One 404 per call; a retransmitted 404 would mean our ACK was not matched.
    assert_eq!(
        not_found.len(),
        3,
        "expected exactly one 404 per call\n{}",
        outcome.report()
    );
    assert!(
        outcome.received(|m| m.starts_with("SIP/2.0 2")).is_empty(),
        "a 2xx for an unknown number\n{}",
        outcome.report()
    );
}

#[test]
fn invite_unknown_number_gets_404_udp() {
    unknown_number(Transport::Udp);
}

#[test]
fn invite_unknown_number_gets_404_tcp() {
    unknown_number(Transport::Tcp);
}
