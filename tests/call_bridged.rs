//! A caller (SIPp UAC, from a trunk address) calls agent 1001 (SIPp, digest
//! registered first) through the switch: 180 and 200 (with the agent's SDP,
//! unchanged) reach the caller, the caller's SDP reaches the agent unchanged,
//! the agent leg has its own Call-ID, and the call is torn down by the caller
//! in one test and by the agent in another.
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
fn re_invite_is_passed_on_udp() {
    let switch = Switch::start(SwitchConfig::for_sipp());
    let call = bridged_call(
        &switch,
        "1001",
        Transport::Udp,
        "agent_answer_reinvite",
        "caller_reinvite_hold",
    );
    call.assert_both_succeeded();
    let invites = call.agent.received(|m| m.starts_with("INVITE "));
    assert_eq!(
        invites.len(),
        2,
        "agent should see the initial INVITE and the re-INVITE\n{}",
        call.report()
    );
    let cseq = |m: &str| common::sip_header(m, "CSeq").unwrap_or_default().to_string();
    assert_ne!(cseq(&invites[0]), cseq(&invites[1]), "re-INVITE must have a new CSeq");
    let call_id = |m: &str| common::sip_header(m, "Call-ID").unwrap_or_default().to_string();
    assert_eq!(
        call_id(&invites[0]),
        call_id(&invites[1]),
        "re-INVITE must stay in the agent-leg dialog"
    );
}
