//! The caller cancels while agent 1001 is ringing: the caller gets 200 for
//! the CANCEL and 487 for the INVITE; the switch cancels the agent leg (the
//! agent sees CANCEL, answers 487 and gets the ACK).
#![allow(clippy::unwrap_used)]

mod common;

use common::{bridged_call, Switch, SwitchConfig, Transport};

#[test]
fn cancel_before_answer_udp() {
    let switch = Switch::start(SwitchConfig::for_sipp());
    let call = bridged_call(
        &switch,
        "1001",
        Transport::Udp,
        "agent_ring_cancelled",
        "caller_cancels",
    );
    call.assert_both_succeeded();
    call.assert_new_call_id();
    let terminated = call.caller.received(|m| m.starts_with("SIP/2.0 487"));
    assert_eq!(
        terminated.len(),
        1,
        "caller: expected exactly one 487\n{}",
        call.report()
    );
    let cancel_ok = call.caller.received(|m| common::is_response(m, 200, "CANCEL"));
    assert_eq!(
        cancel_ok.len(),
        1,
        "caller: expected 200 for the CANCEL\n{}",
        call.report()
    );
    assert!(call
        .caller
        .received(|m| common::is_response(m, 200, "INVITE"))
        .is_empty());
    let cancels = call.agent.received(|m| m.starts_with("CANCEL "));
    assert!(!cancels.is_empty(), "agent leg not cancelled\n{}", call.report());
}
