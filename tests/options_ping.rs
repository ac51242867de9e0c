//! OPTIONS ping over UDP and TCP: 200 with Allow (listing INVITE), Accept and
//! Supported, for every one of several pings.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Sipp, Switch, SwitchConfig, Transport};

fn options_ping(transport: Transport) {
    let switch = Switch::start(SwitchConfig::for_sipp());
    let outcome = Sipp::new("options")
        .remote(switch.sip_addr())
        .transport(transport)
        .calls(5)
        .timeout_secs(8)
        .run();
    outcome.assert_success(5);
    let oks = outcome.received(|m| common::is_response(m, 200, "OPTIONS"));
    assert_eq!(oks.len(), 5, "expected 5 answers 200 to OPTIONS\n{}", outcome.report());
    for ok in &oks {
        let allow = common::sip_header(ok, "Allow").unwrap_or_default();
        for method in ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER"] {
            assert!(allow.contains(method), "Allow lacks {method}: {allow:?}\n{ok}");
        }
    }
}

#[test]
fn options_ping_udp() {
    options_ping(Transport::Udp);
}

#[test]
fn options_ping_tcp() {
    options_ping(Transport::Tcp);
}
