//! A lost ACK: the caller receives the 200 but does not ACK it for 1 s. With
//! T1 = 500 ms the switch must retransmit the 200 (RFC 3261 13.3.1.4) at
//! 0.5 s; after the ACK at 1 s no further 200 may come (the next would be
//! due at 1.5 s). Then the call is torn down normally.
#![allow(clippy::unwrap_used)]

mod common;

use common::{bridged_call, Switch, SwitchConfig, Transport};

#[test]
fn lost_ack_makes_the_switch_retransmit_200() {
    let switch = Switch::start(SwitchConfig {
        t1_ms: 500,
        ..SwitchConfig::for_sipp()
    });
    let call = bridged_call(
        &switch,
        "1001",
        Transport::Udp,
        "agent_answer_wait_bye",
        "caller_late_ack",
    );
    call.assert_both_succeeded();
    let oks = call.caller.received(|m| common::is_response(m, 200, "INVITE"));
    assert_eq!(
        oks.len(),
        2,
        "expected the 200 to INVITE twice (original + one retransmission before our ACK at 1 s, none after)\n{}",
        call.report()
    );
    let strip = |m: &str| m.trim().to_string();
    assert_eq!(
        strip(&oks[0]),
        strip(&oks[1]),
        "a retransmitted 200 must be identical to the original"
    );
}
