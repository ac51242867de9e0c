//! Call-backs dialled by the switch, in virtual time: the ACD reserves the
//! agent, the switch dials the customer through the trunk's dial template,
//! and the agent is rung once the customer answers.

use queue::acd::Event as AcdEvent;
use queue::record::AgentStateKind;

use super::*;
use crate::store::Command;

/// The test config with a dial template on the trunk, the call-back trunk
/// set, and call-backs retried after 1 s in `support`.
fn config() -> String {
    let text = CONFIG
        .replace(
            "addresses = [\"127.0.0.2\"]\n",
            "addresses = [\"127.0.0.2\"]\ndial = \"sip:{number}@127.0.0.4:5090\"\n",
        )
        .replace(
            "agents = [\"1002\", \"1001\"]\n",
            "agents = [\"1002\", \"1001\"]\n[queues.callback]\nretry_after_secs = 1\n",
        );
    format!("{text}\n[callbacks]\ntrunk = \"carrier\"\ncaller_id = \"+15550000\"\nring_timeout_secs = 20\n")
}

fn customer() -> Peer {
    Peer::udp("127.0.0.4:5090".parse::<SocketAddr>().unwrap())
}

/// A call-back for +15550123 due now, and what the switch sent for it.
fn schedule(h: &mut Harness) -> Vec<Sent> {
    let at = h.switch.millis(h.now);
    h.switch.agent_command(
        h.now,
        AcdEvent::ScheduleCallback {
            number: "+15550123".into(),
            queue: "support".into(),
            at,
            attributes: Default::default(),
        },
    );
    h.drain()
}

/// The customer's answer to the switch's INVITE.
fn customer_reply(invite: &Sent, status: &str, to_tag: &str) -> String {
    let h = |n: &str| invite.header(n).unwrap();
    let sdp = if status.starts_with("200") {
        "Content-Type: application/sdp\n\nv=0\no=customer 1 1 IN IP4 127.0.0.4\ns=-\nc=IN IP4 127.0.0.4\nt=0 0\n\
         m=audio 7100 RTP/AVP 0 101\na=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\n"
    } else {
        "Content-Length: 0\n\n"
    };
    format!(
        "SIP/2.0 {status}\nVia: {}\nFrom: {}\nTo: {};tag={to_tag}\nCall-ID: {}\nCSeq: {}\n\
         Contact: <sip:+15550123@127.0.0.4:5090>\n{sdp}",
        h("Via"),
        h("From"),
        h("To"),
        h("Call-ID"),
        h("CSeq")
    )
}

/// The customer hangs up the dialog of the switch's INVITE.
fn customer_bye(invite: &Sent, to_tag: &str) -> String {
    format!(
        "BYE sip:switchboard@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.4:5090;branch=z9hG4bKcbye\n\
         From: {};tag={to_tag}\nTo: {}\nCall-ID: {}\nCSeq: 1 BYE\nContent-Length: 0\n\n",
        invite.header("To").unwrap(),
        invite.header("From").unwrap(),
        invite.header("Call-ID").unwrap()
    )
}

/// The kinds of the marks written so far.
fn mark_kinds(h: &mut Harness) -> Vec<String> {
    std::iter::from_fn(|| h.switch.poll_record())
        .filter_map(|c| match c {
            Command::CallMarked { mark, .. } => serde_json::to_value(&mark.what).ok()?["kind"]
                .as_str()
                .map(str::to_owned),
            _ => None,
        })
        .collect()
}

fn agent_state(h: &Harness) -> AgentStateKind {
    let snapshot = h.switch.acd_snapshot(h.now);
    snapshot.agents.iter().find(|a| a.id == "1001").unwrap().state
}

/// A call-back dialled and answered by the customer: returns the harness,
/// the INVITE to the customer and the INVITE to the agent.
fn customer_answered() -> (Harness, Sent, Sent) {
    let mut h = Harness::with_config(&config());
    h.register_agent("pw1001");
    let out = schedule(&mut h);
    let invite = find(&out, "INVITE ", customer());
    assert_eq!(
        agent_state(&h),
        AgentStateKind::Ringing,
        "reserved while the customer is dialled"
    );
    h.send(customer(), &customer_reply(&invite, "180 Ringing", "k1"));
    let out = h.send(customer(), &customer_reply(&invite, "200 OK", "k1"));
    let ack = find(&out, "ACK ", customer());
    assert_eq!(ack.first_line(), "ACK sip:+15550123@127.0.0.4:5090 SIP/2.0");
    let to_agent = find(&out, "INVITE ", agent());
    (h, invite, to_agent)
}

#[test]
fn the_customer_answers_then_the_reserved_agent_is_rung_and_bridged() {
    let (mut h, invite, to_agent) = customer_answered();
    // The customer is dialled through the trunk's template, from our caller id.
    assert_eq!(invite.first_line(), "INVITE sip:+15550123@127.0.0.4:5090 SIP/2.0");
    assert!(
        invite
            .header("From")
            .unwrap()
            .starts_with("<sip:+15550000@127.0.0.1>;tag="),
        "{}",
        invite.text
    );
    assert_eq!(invite.header("To").unwrap(), "<sip:+15550123@127.0.0.4:5090>");
    assert!(
        invite.text.contains("m=audio 20002 RTP/AVP 0 8 111 101\r\n"),
        "our offer: {}",
        invite.text
    );
    // The agent sees the customer as the caller, and is offered the
    // customer's codec first.
    assert!(
        to_agent
            .header("From")
            .unwrap()
            .starts_with("<sip:+15550123@127.0.0.4:5090>;tag="),
        "{}",
        to_agent.text
    );
    assert_eq!(to_agent.header("To").unwrap(), "<sip:1001@127.0.0.1>");
    assert!(to_agent.text.contains("m=audio 20004 RTP/AVP 0 "), "{}", to_agent.text);
    let log = h.media.log();
    assert_eq!(log[0], "allocate 1");
    assert!(
        log.contains(&"configure 1 PCMU pt0 127.0.0.4:7100".to_owned()),
        "{log:?}"
    );
    assert!(
        log.contains(&"play 1 8000".to_owned()),
        "music while the agent rings: {log:?}"
    );
    assert_eq!(
        agent_state(&h),
        AgentStateKind::OnCall,
        "the ACD has the agent on the call-back"
    );

    h.send(agent(), &agent_reply(&to_agent, "180 Ringing", "a1"));
    let out = h.send(agent(), &agent_reply(&to_agent, "200 OK", "a1"));
    find(&out, "ACK ", agent());
    let log = h.media.log();
    assert!(log.contains(&"bridge 1 2".to_owned()), "{log:?}");
    assert!(log.contains(&"stop 1".to_owned()), "the music stops: {log:?}");
    assert_eq!(
        mark_kinds(&mut h),
        ["callback_placed", "offered", "agent_answered", "bridged"]
    );

    // The customer hangs up: the agent gets a BYE, the agent wraps up.
    let out = h.send(customer(), &customer_bye(&invite, "k1"));
    assert_eq!(find(&out, "SIP/2.0 200", customer()).first_line(), "SIP/2.0 200 OK");
    find(&out, "BYE ", agent());
    assert_eq!(h.switch.gauges().2, 0);
    assert_eq!(agent_state(&h), AgentStateKind::WrapUp);
    assert_eq!(mark_kinds(&mut h), ["talk_ended", "hung_up"]);
}

#[test]
fn a_busy_customer_fails_the_attempt_and_it_is_retried() {
    let mut h = Harness::with_config(&config());
    h.register_agent("pw1001");
    let out = schedule(&mut h);
    let invite = find(&out, "INVITE ", customer());
    let out = h.send(customer(), &customer_reply(&invite, "486 Busy Here", "k1"));
    assert!(
        out.iter()
            .any(|s| s.first_line().starts_with("ACK ") && s.to == customer()),
        "the 486 is ACKed: {out:#?}"
    );
    assert_eq!(h.switch.gauges().2, 0, "the call is gone");
    assert!(h.media.log().ends_with(&["release 1".to_owned()]));
    assert_eq!(agent_state(&h), AgentStateKind::Available, "the agent is free again");
    let queue = h.switch.acd_snapshot(h.now).queues.remove(0);
    assert_eq!(
        (queue.callbacks, queue.callbacks_later),
        (0, 1),
        "waiting for its retry"
    );
    assert!(
        !std::iter::from_fn(|| h.switch.poll_record()).any(|c| matches!(c, Command::CallStarted(_))),
        "no call record for an attempt that reached nobody"
    );

    // retry_after_secs = 1: the second attempt is dialled a second later.
    let out = h.advance(Duration::from_millis(900));
    assert!(!out.iter().any(|s| s.first_line().starts_with("INVITE ")), "{out:#?}");
    let out = h.advance(Duration::from_millis(200));
    let again = find(&out, "INVITE ", customer());
    assert_ne!(again.header("Call-ID"), invite.header("Call-ID"));
    assert_eq!(agent_state(&h), AgentStateKind::Ringing);
}

#[test]
fn the_customer_hanging_up_while_the_agent_rings_cancels_the_agent() {
    let (mut h, invite, to_agent) = customer_answered();
    h.send(agent(), &agent_reply(&to_agent, "180 Ringing", "a1"));
    let out = h.send(customer(), &customer_bye(&invite, "k1"));
    find(&out, "SIP/2.0 200", customer());
    let cancel = find(&out, "CANCEL ", agent());
    assert_eq!(cancel.header("Call-ID"), to_agent.header("Call-ID"));
    let out = h.send(agent(), &agent_reply(&to_agent, "487 Request Terminated", "a1"));
    assert!(out[0].first_line().starts_with("ACK "), "{out:#?}");
    assert_eq!(h.switch.gauges().2, 0);
    let kinds = mark_kinds(&mut h);
    assert_eq!(kinds.first().map(String::as_str), Some("callback_placed"), "{kinds:?}");
    assert!(kinds.ends_with(&["hung_up".to_owned()]), "{kinds:?}");
    assert!(!kinds.contains(&"bridged".to_owned()), "{kinds:?}");
    // The ACD had the agent on the call-back: it wraps up.
    assert_eq!(agent_state(&h), AgentStateKind::WrapUp);
}

#[test]
fn an_agent_who_does_not_answer_ends_the_call_back() {
    let (mut h, _invite, to_agent) = customer_answered();
    let out = h.send(agent(), &agent_reply(&to_agent, "486 Busy Here", "a1"));
    find(&out, "BYE ", customer());
    assert_eq!(h.switch.gauges().2, 0);
    assert_eq!(agent_state(&h), AgentStateKind::WrapUp);
}

#[test]
fn an_agent_phone_that_rings_out_ends_the_call_back_at_the_ring_limit() {
    let (mut h, _invite, to_agent) = customer_answered();
    h.send(agent(), &agent_reply(&to_agent, "180 Ringing", "a1"));
    // [callbacks] ring_timeout_secs = 20, not Timer C's 3 minutes.
    let out = h.advance(Duration::from_secs(19));
    assert!(!out.iter().any(|s| s.to == agent()), "{out:#?}");
    let out = h.advance(Duration::from_secs(2));
    let cancel = find(&out, "CANCEL ", agent());
    assert_eq!(cancel.header("Call-ID"), to_agent.header("Call-ID"));
    find(&out, "BYE ", customer());
    assert_ne!(
        agent_state(&h),
        AgentStateKind::Ringing,
        "the agent is not left reserved"
    );
}

#[test]
fn a_customer_who_does_not_answer_is_cancelled_at_the_ring_limit() {
    let mut h = Harness::with_config(&config());
    h.register_agent("pw1001");
    let out = schedule(&mut h);
    let invite = find(&out, "INVITE ", customer());
    h.send(customer(), &customer_reply(&invite, "180 Ringing", "k1"));
    // The dialling leg is not taken for a dead call while it rings.
    assert!(
        h.media.log().iter().any(|l| l.starts_with("configure 1  pt0 ")),
        "{:?}",
        h.media.log()
    );
    let out = h.advance(Duration::from_secs(20));
    let cancel = find(&out, "CANCEL ", customer());
    assert_eq!(cancel.at, Duration::from_secs(20), "ring_timeout_secs");
    assert_eq!(h.switch.gauges().2, 0);
    assert_eq!(
        agent_state(&h),
        AgentStateKind::Available,
        "the attempt failed: the agent is free"
    );
    // The customer picks up as the CANCEL crosses: the 2xx is ACKed and hung up.
    let out = h.send(customer(), &customer_reply(&invite, "200 OK", "k1"));
    find(&out, "ACK ", customer());
    find(&out, "BYE ", customer());
    assert!(!out.iter().any(|s| s.to == agent()), "{out:#?}");
}

#[test]
fn without_a_callback_trunk_an_attempt_fails_at_once() {
    let mut h = Harness::new();
    h.register_agent("pw1001");
    let out = schedule(&mut h);
    assert!(!out.iter().any(|s| s.first_line().starts_with("INVITE ")), "{out:#?}");
    assert_eq!(agent_state(&h), AgentStateKind::Available);
}

/// The test config with the `support` queue's call-backs agent first.
fn agent_first_config() -> String {
    config().replace(
        "[queues.callback]\nretry_after_secs = 1\n",
        "[queues.callback]\nretry_after_secs = 1\nmode = \"agent_first\"\n",
    )
}

/// An agent-first call-back whose agent answered: returns the harness, the
/// INVITE to the agent and the INVITE to the customer.
fn agent_first_answered() -> (Harness, Sent, Sent) {
    let mut h = Harness::with_config(&agent_first_config());
    h.register_agent("pw1001");
    let out = schedule(&mut h);
    let to_agent = find(&out, "INVITE ", agent());
    assert!(
        !out.iter().any(|s| s.to == customer()),
        "the customer waits for the agent: {out:#?}"
    );
    assert_eq!(agent_state(&h), AgentStateKind::Ringing, "reserved while rung");
    h.send(agent(), &agent_reply(&to_agent, "180 Ringing", "a1"));
    let out = h.send(agent(), &agent_reply(&to_agent, "200 OK", "a1"));
    find(&out, "ACK ", agent());
    let to_customer = find(&out, "INVITE ", customer());
    (h, to_agent, to_customer)
}

#[test]
fn agent_first_rings_the_agent_then_dials_the_customer_and_bridges_them() {
    let (mut h, to_agent, to_customer) = agent_first_answered();
    // The agent's registered phone is rung, showing the customer's number.
    assert_eq!(to_agent.first_line(), "INVITE sip:1001@192.168.1.10:5080 SIP/2.0");
    assert!(
        to_agent
            .header("From")
            .unwrap()
            .starts_with("<sip:+15550123@127.0.0.1>;tag="),
        "{}",
        to_agent.text
    );
    // The customer is dialled through the trunk's template and sees the
    // centre's caller id, not the agent's phone.
    assert_eq!(to_customer.first_line(), "INVITE sip:+15550123@127.0.0.4:5090 SIP/2.0");
    let from = to_customer.header("From").unwrap();
    assert!(
        from.starts_with("<sip:+15550000@127.0.0.1>;tag="),
        "{}",
        to_customer.text
    );
    let log = h.media.log();
    assert!(log.contains(&"play 1 8000".to_owned()), "music for the agent: {log:?}");
    assert_eq!(mark_kinds(&mut h), ["callback_placed", "offered"]);
    assert_eq!(agent_state(&h), AgentStateKind::Ringing, "not on the call yet");

    h.send(customer(), &customer_reply(&to_customer, "180 Ringing", "k1"));
    let out = h.send(customer(), &customer_reply(&to_customer, "200 OK", "k1"));
    find(&out, "ACK ", customer());
    let log = h.media.log();
    assert!(log.contains(&"bridge 1 2".to_owned()), "{log:?}");
    assert!(log.contains(&"stop 1".to_owned()), "the music stops: {log:?}");
    assert_eq!(mark_kinds(&mut h), ["agent_answered", "bridged"]);
    assert_eq!(agent_state(&h), AgentStateKind::OnCall);
    let snapshot = h.switch.acd_snapshot(h.now);
    let queue = &snapshot.queues[0];
    assert_eq!(
        (queue.callbacks, queue.callbacks_later),
        (0, 0),
        "the call-back was placed"
    );
    let call = *h.switch.tracked.keys().next().unwrap();
    assert!(
        matches!(h.switch.acd.call_status(call), Some(queue::acd::CallStatus::Talking { agent }) if agent == "1001"),
        "the ACD has the agent on the call"
    );

    // The customer hangs up: the agent gets a BYE and wraps up.
    let out = h.send(customer(), &customer_bye(&to_customer, "k1"));
    find(&out, "SIP/2.0 200", customer());
    find(&out, "BYE ", agent());
    assert_eq!(h.switch.gauges().2, 0);
    assert_eq!(agent_state(&h), AgentStateKind::WrapUp);
    assert_eq!(mark_kinds(&mut h), ["talk_ended", "hung_up"]);
}

#[test]
fn agent_first_an_agent_who_hangs_up_while_the_customer_rings_frees_the_agent_at_once() {
    let (mut h, to_agent, to_customer) = agent_first_answered();
    h.send(customer(), &customer_reply(&to_customer, "180 Ringing", "k1"));
    let out = h.send(agent(), &agent_bye(&to_agent));
    let cancel = find(&out, "CANCEL ", customer());
    assert_eq!(cancel.header("Call-ID"), to_customer.header("Call-ID"));
    assert_ne!(
        agent_state(&h),
        AgentStateKind::Ringing,
        "not reserved until the dial timeout"
    );
    let snapshot = h.switch.acd_snapshot(h.now);
    assert_eq!(
        snapshot.queues[0].callbacks_later, 1,
        "the call-back waits for its retry"
    );
}

#[test]
fn agent_first_an_agent_who_does_not_answer_fails_the_attempt() {
    let mut h = Harness::with_config(&agent_first_config());
    h.register_agent("pw1001");
    let out = schedule(&mut h);
    let to_agent = find(&out, "INVITE ", agent());
    h.send(agent(), &agent_reply(&to_agent, "180 Ringing", "a1"));
    // ring_timeout_secs (20) is below half of the 90 s the ACD allows.
    let out = h.advance(Duration::from_secs(20));
    let cancel = find(&out, "CANCEL ", agent());
    assert_eq!(cancel.at, Duration::from_secs(20));
    assert!(!out.iter().any(|s| s.to == customer()), "{out:#?}");
    assert_eq!(h.switch.gauges().2, 0);
    assert_eq!(agent_state(&h), AgentStateKind::Available, "the agent is freed");
    let queue = h.switch.acd_snapshot(h.now).queues.remove(0);
    assert_eq!(
        (queue.callbacks, queue.callbacks_later),
        (0, 1),
        "waiting for its retry"
    );
    assert!(mark_kinds(&mut h).is_empty(), "no record for an attempt nobody took");
}

#[test]
fn agent_first_a_busy_customer_hangs_up_the_agent_and_fails_the_attempt() {
    let (mut h, to_agent, to_customer) = agent_first_answered();
    let out = h.send(customer(), &customer_reply(&to_customer, "486 Busy Here", "k1"));
    find(&out, "ACK ", customer());
    let bye = find(&out, "BYE ", agent());
    assert_eq!(bye.header("Call-ID"), to_agent.header("Call-ID"));
    h.send(agent(), &agent_reply(&bye, "200 OK", "a1"));
    assert_eq!(h.switch.gauges().2, 0);
    assert_eq!(agent_state(&h), AgentStateKind::Available, "the agent is freed");
    let queue = h.switch.acd_snapshot(h.now).queues.remove(0);
    assert_eq!(
        (queue.callbacks, queue.callbacks_later),
        (0, 1),
        "waiting for its retry"
    );
    let kinds = mark_kinds(&mut h);
    assert!(!kinds.contains(&"bridged".to_owned()), "{kinds:?}");
    assert!(kinds.ends_with(&["hung_up".to_owned()]), "{kinds:?}");

    // The retry rings the agent again.
    let out = h.advance(Duration::from_millis(1100));
    let again = find(&out, "INVITE ", agent());
    assert_ne!(again.header("Call-ID"), to_agent.header("Call-ID"));
}
