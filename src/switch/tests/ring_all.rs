//! A `ring_all` queue in virtual time: every available member is rung at
//! once for a caller the switch answered, each with its own INVITE and media
//! leg; the first 2xx is bridged and the others are withdrawn.

use queue::record::AgentStateKind;

use super::*;
use crate::store::Command;

/// Agent 1002's phone (1001's is [`agent`]).
fn agent2() -> Peer {
    Peer::udp("127.0.0.5:5080".parse::<SocketAddr>().unwrap())
}

/// Registers `ext` from `peer` with its password.
fn register(h: &mut Harness, ext: &str, peer: Peer) {
    let password = format!("pw{ext}");
    let host = peer.addr.ip();
    let register = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\n\
             Via: SIP/2.0/UDP {host}:5080;branch=z9hG4bKra{ext}{cseq};rport\n\
             From: <sip:{ext}@127.0.0.1>;tag=r{ext}\nTo: <sip:{ext}@127.0.0.1>\n\
             Call-ID: reg-{ext}\nCSeq: {cseq} REGISTER\nMax-Forwards: 70\n\
             Contact: <sip:{ext}@{host}:5080>\nExpires: 300\n{auth}Content-Length: 0\n\n"
        )
    };
    let challenge = h.send(peer, &register(1, ""));
    let www = challenge[0].header("WWW-Authenticate").unwrap();
    let auth = signaling::auth::client_response(&www, ext, &password, "REGISTER", "sip:127.0.0.1", 1, "abc").unwrap();
    let ok = h.send(peer, &register(2, &format!("Authorization: {auth}\n")));
    assert_eq!(ok[0].first_line(), "SIP/2.0 200 OK");
}

fn count(out: &[Sent], prefix: &str, to: Peer) -> usize {
    out.iter()
        .filter(|s| s.first_line().starts_with(prefix) && s.to == to)
        .count()
}

/// The media leg our offer in an INVITE belongs to (the fake engine's
/// ports are 20000 + 2n for its n-th leg, group 0).
fn leg_of(invite: &Sent) -> u64 {
    let m = invite.text.lines().find(|l| l.starts_with("m=audio ")).unwrap();
    let port: u64 = m.split_whitespace().nth(1).unwrap().parse().unwrap();
    (port - 20_000) / 2
}

fn state(h: &Harness, agent: &str) -> AgentStateKind {
    let snapshot = h.switch.acd_snapshot(h.now);
    snapshot.agents.iter().find(|a| a.id == agent).unwrap().state
}

/// The kinds and subjects of the marks written so far.
fn marks(h: &mut Harness) -> Vec<String> {
    std::iter::from_fn(|| h.switch.poll_record())
        .filter_map(|c| match c {
            Command::CallMarked { mark, .. } => {
                let v = serde_json::to_value(&mark.what).ok()?;
                let kind = v["kind"].as_str()?.to_owned();
                Some(match v["agent"].as_str() {
                    Some(a) => format!("{kind} {a}"),
                    None => kind,
                })
            }
            _ => None,
        })
        .collect()
}

/// A caller queued in a ring-all queue with 1001 and 1002 registered: both
/// phones rung and ringing. Returns the INVITEs to 1001 and to 1002, and the
/// switch's 200 to the caller.
fn both_ringing() -> (Harness, Sent, Sent, Sent) {
    let config = CONFIG.replace(
        "agents = [\"1002\", \"1001\"]\n",
        "agents = [\"1002\", \"1001\"]\nstrategy = \"ring_all\"\n",
    );
    let mut h = Harness::with_ivr(&config, flow_setup(QUEUE_NOW));
    register(&mut h, "1001", agent());
    register(&mut h, "1002", agent2());
    let mut out = h.invite("100");
    let ok = find(&out, "SIP/2.0 200", caller());
    out.extend(h.send(caller(), &caller_ack(&ok)));
    let to_1001 = find(&out, "INVITE ", agent());
    let to_1002 = find(&out, "INVITE ", agent2());
    assert_eq!(to_1001.first_line(), "INVITE sip:1001@127.0.0.3:5080 SIP/2.0");
    assert_eq!(to_1002.first_line(), "INVITE sip:1002@127.0.0.5:5080 SIP/2.0");
    assert_ne!(to_1001.header("Call-ID"), to_1002.header("Call-ID"), "a dialog each");
    assert_ne!(leg_of(&to_1001), leg_of(&to_1002), "a media leg each");
    assert!(to_1001.text.contains(" RTP/AVP 0 "), "the caller's codec first");
    h.send(agent(), &agent_reply(&to_1001, "180 Ringing", "a1"));
    h.send(agent2(), &agent_reply(&to_1002, "180 Ringing", "b1"));
    assert_eq!(state(&h, "1001"), AgentStateKind::Ringing);
    assert_eq!(state(&h, "1002"), AgentStateKind::Ringing);
    (h, to_1001, to_1002, ok)
}

#[test]
fn both_agents_ring_the_second_answers_and_the_first_is_cancelled() {
    let (mut h, to_1001, to_1002, _) = both_ringing();
    let out = h.send(agent2(), &agent_reply(&to_1002, "200 OK", "b1"));
    find(&out, "ACK ", agent2());
    let cancel = find(&out, "CANCEL ", agent());
    assert_eq!(
        headers::first_list_value(&cancel.header("Via").unwrap()),
        to_1001.header("Via").unwrap(),
        "the CANCEL matches the INVITE to 1001"
    );
    let (loser, winner) = (leg_of(&to_1001), leg_of(&to_1002));
    let log = h.media.log();
    assert!(log.contains(&format!("bridge 1 {winner}")), "{log:?}");
    assert!(log.contains(&format!("release {loser}")), "{log:?}");
    assert!(!log.contains(&format!("release {winner}")), "{log:?}");
    assert_eq!(
        state(&h, "1002"),
        AgentStateKind::OnCall,
        "assigned to the one who answered"
    );
    assert_eq!(state(&h, "1001"), AgentStateKind::Available, "the other is free again");
    let marks = marks(&mut h);
    assert!(marks.contains(&"offered 1001".to_owned()), "{marks:?}");
    assert!(marks.contains(&"offered 1002".to_owned()), "{marks:?}");
    assert!(marks.contains(&"offer_failed 1001".to_owned()), "{marks:?}");
    assert!(
        marks.ends_with(&["agent_answered 1002".to_owned(), "bridged 1002".to_owned()]),
        "{marks:?}"
    );
    // 1001's phone ends its INVITE with 487 and gets its ACK; nothing else.
    let out = h.send(agent(), &agent_reply(&to_1001, "487 Request Terminated", "a1"));
    assert_eq!(out.len(), 1, "{out:#?}");
    assert!(out[0].first_line().starts_with("ACK "));
    // The call is 1002's: its BYE ends the call.
    let out = h.send(agent2(), &agent_bye(&to_1002));
    find(&out, "BYE ", caller());
    assert_eq!(h.switch.gauges().2, 0);
}

#[test]
fn one_agent_refusing_leaves_the_other_ringing() {
    let (mut h, to_1001, to_1002, _) = both_ringing();
    let out = h.send(agent(), &agent_reply(&to_1001, "486 Busy Here", "a1"));
    find(&out, "ACK ", agent());
    assert_eq!(count(&out, "CANCEL ", agent2()), 0, "1002 rings on: {out:#?}");
    assert_eq!(state(&h, "1002"), AgentStateKind::Ringing);
    assert_ne!(state(&h, "1001"), AgentStateKind::Ringing);
    let log = h.media.log();
    assert!(log.contains(&format!("release {}", leg_of(&to_1001))), "{log:?}");
    assert!(marks(&mut h).contains(&"offer_failed 1001".to_owned()));
    let out = h.send(agent2(), &agent_reply(&to_1002, "200 OK", "b1"));
    find(&out, "ACK ", agent2());
    assert!(
        h.media.log().contains(&format!("bridge 1 {}", leg_of(&to_1002))),
        "{:?}",
        h.media.log()
    );
    assert_eq!(state(&h, "1002"), AgentStateKind::OnCall);
}

#[test]
fn the_caller_hanging_up_while_both_ring_cancels_both() {
    let (mut h, to_1001, to_1002, ok) = both_ringing();
    let bye = format!(
        "BYE sip:switchboard@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKcbye\n\
         From: \"Customer\" <sip:+15550100@127.0.0.2>;tag=c1\nTo: {}\nCall-ID: call-1\nCSeq: 2 BYE\n\
         Content-Length: 0\n\n",
        ok.header("To").unwrap()
    );
    let out = h.send(caller(), &bye);
    assert_eq!(find(&out, "SIP/2.0 200", caller()).first_line(), "SIP/2.0 200 OK");
    find(&out, "CANCEL ", agent());
    find(&out, "CANCEL ", agent2());
    assert_eq!(h.switch.gauges().2, 0, "the call is gone");
    let log = h.media.log();
    for leg in [1, leg_of(&to_1001), leg_of(&to_1002)] {
        assert!(log.contains(&format!("release {leg}")), "{log:?}");
    }
    assert_eq!(state(&h, "1001"), AgentStateKind::Available);
    assert_eq!(state(&h, "1002"), AgentStateKind::Available);
    for (peer, invite) in [(agent(), &to_1001), (agent2(), &to_1002)] {
        let out = h.send(peer, &agent_reply(invite, "487 Request Terminated", "x"));
        assert_eq!(out.len(), 1, "{out:#?}");
        assert!(out[0].first_line().starts_with("ACK "));
    }
}

#[test]
fn a_2xx_from_the_loser_crossing_the_cancel_is_acked_and_hung_up() {
    let (mut h, to_1001, to_1002, _) = both_ringing();
    let out = h.send(agent2(), &agent_reply(&to_1002, "200 OK", "b1"));
    find(&out, "CANCEL ", agent());
    // 1001 answered before it saw the CANCEL.
    let out = h.send(agent(), &agent_reply(&to_1001, "200 OK", "a1"));
    let ack = find(&out, "ACK ", agent());
    let bye = find(&out, "BYE ", agent());
    assert_eq!(ack.header("Call-ID"), to_1001.header("Call-ID"));
    assert_eq!(bye.header("Call-ID"), to_1001.header("Call-ID"));
    assert!(bye.header("To").unwrap().ends_with(";tag=a1"), "{}", bye.text);
    assert_eq!(
        count(&out, "BYE ", agent2()) + count(&out, "BYE ", caller()),
        0,
        "{out:#?}"
    );
    let log = h.media.log();
    assert_eq!(
        log.iter().filter(|l| l.starts_with("bridge ")).count(),
        1,
        "only the winner is bridged: {log:?}"
    );
    assert_eq!(state(&h, "1002"), AgentStateKind::OnCall);
    assert_eq!(state(&h, "1001"), AgentStateKind::Available);
    assert_eq!(h.switch.gauges().2, 1, "the call goes on with 1002");
}
