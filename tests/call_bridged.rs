//! A caller (SIPp UAC, from a trunk address) calls agent 1001 (SIPp, digest
//! registered first) through the switch: 180 and 200 reach the caller, each
//! side gets the switch's own SDP (media is anchored; the scenarios check the
//! `o=switchboard` origin), the agent leg has its own Call-ID, and the call is
//! torn down by the caller in one test and by the agent in another. A
//! re-INVITE putting the agent on hold is answered by the switch for the
//! caller's leg alone.
#![allow(clippy::unwrap_used)]

mod common;

use common::{bridged_call, Switch, SwitchConfig, Transport};

fn check_ringing_and_sdp(call: &common::BridgedCall) {
    let ringing = call.caller.received(|m| m.starts_with("SIP/2.0 180"));
    assert!(
        !ringing.is_empty(),
        "the agent's 180 was not passed to the caller\n{}",
        call.report()
    );
    let ok = call.caller.received(|m| common::is_response(m, 200, "INVITE"));
    assert!(!ok.is_empty(), "{}", call.report());
    let ct = common::sip_header(&ok[0], "Content-Type").unwrap_or_default();
    assert!(ct.starts_with("application/sdp"), "200 Content-Type {ct:?}");
    let invites = call.agent.received(|m| m.starts_with("INVITE "));
    assert!(!invites.is_empty(), "{}", call.report());
    let ruri = invites[0].lines().next().unwrap_or_default();
    assert!(
        ruri.contains(&format!("127.0.0.1:{}", call.agent_port)),
        "agent INVITE not sent to the registered contact: {ruri}"
    );
}

#[test]
fn call_bridged_caller_hangs_up_udp() {
    let switch = Switch::start(SwitchConfig::for_sipp());
    let call = bridged_call(
        &switch,
        "1001",
        Transport::Udp,
        "agent_answer_wait_bye",
        "caller_hangs_up",
    );
    call.assert_both_succeeded();
    call.assert_new_call_id();
    check_ringing_and_sdp(&call);
}

#[test]
fn call_bridged_agent_hangs_up_udp() {
    let switch = Switch::start(SwitchConfig::for_sipp());
    let call = bridged_call(
        &switch,
        "1001",
        Transport::Udp,
        "agent_answer_send_bye",
        "caller_waits_bye",
    );
    call.assert_both_succeeded();
    call.assert_new_call_id();
    check_ringing_and_sdp(&call);
}

#[test]
fn call_bridged_caller_hangs_up_tcp() {
    let switch = Switch::start(SwitchConfig::for_sipp());
    let call = bridged_call(
        &switch,
        "1001",
        Transport::Tcp,
        "agent_answer_wait_bye",
        "caller_hangs_up",
    );
    call.assert_both_succeeded();
    call.assert_new_call_id();
    check_ringing_and_sdp(&call);
}

#[test]
fn re_invite_hold_is_answered_by_the_switch_udp() {
    let switch = Switch::start(SwitchConfig::for_sipp());
    let call = bridged_call(
        &switch,
        "1001",
        Transport::Udp,
        "agent_answer_wait_bye",
        "caller_reinvite_hold",
    );
    call.assert_both_succeeded();
    let oks = call.caller.received(|m| common::is_response(m, 200, "INVITE"));
    assert_eq!(oks.len(), 2, "{}", call.report());
    assert!(
        oks[1].contains("a=recvonly"),
        "hold (sendonly) is answered recvonly: {}",
        oks[1]
    );
    let invites = call.agent.received(|m| m.starts_with("INVITE "));
    assert_eq!(
        invites.len(),
        1,
        "the agent's leg is not disturbed by the caller's hold\n{}",
        call.report()
    );
}
