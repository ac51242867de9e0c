//! A real softphone as a queue agent: SIPp callers wait in the `support`
//! queue, baresip registered as agent 1002 (and, in the second test, a SIPp
//! agent 1001 beside it) answers after ringing, and the answer times in
//! GET /api/calls and /api/queues/support/stats are the ones seen on the wire,
//! each within 5 ms.
//!
//! What is compared, per call: the wait the API reports (the `bridged` mark
//! minus the `enqueued` mark) against
//! - the moment the caller's SIPp received the switch's 200 OK (the flow
//!   queues at once, so this is queue entry), from SIPp's message trace, to
//! - the moment the agent's 200 OK left: for the SIPp agent the time of the
//!   sent 200 in its message trace; for baresip, which logs SIP without
//!   times, the moment its 200 passed a UDP relay of the test's that baresip
//!   registers through (so the switch calls it through the relay). The test
//!   answers on baresip with ctrl_tcp's `accept`, 700 ms after its
//!   `CALL_INCOMING` event, and checks that the 200 followed the `accept`.
//!
//! For baresip's calls the switch's `bridged` mark must also fall within
//! 5 ms after the 200 passed the relay, on the same clock, and the switch
//! must have heard baresip's tone (`first_agent_audio`) soon after. (SIPp's
//! stamps of the messages it sends were seen up to 2 ms after the switch had
//! handled them, so they only serve for durations.)
//!
//! The queue's stats must count every call as offered and answered, none
//! abandoned, with an ASA within 5 ms of the mean wait seen on the wire.
//!
//! SIPp writes local times in its trace; they are turned into Unix time with
//! the offset SIPp itself prints on its statistics screen (local and Unix
//! start time), so both sides are on the same clock.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{register_sipp_agent, BaresipPhone, BaresipReply, Sipp, SippOutcome, Switch, SwitchConfig, Transport};

/// How long baresip rings before the test accepts, and talks before hanging up.
const RING: Duration = Duration::from_millis(700);
/// The tolerance between the API's and the observed waits.
const TOLERANCE_MS: f64 = 5.0;

fn queue_switch(agents: &[&str]) -> Switch {
    let root = env!("CARGO_MANIFEST_DIR");
    let agents = agents.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ");
    let extra = format!(
        "\n[[routes]]\nnumber = \"101\"\nflow = \"{root}/tests/flows/queue_now.yaml\"\n\n\
         [ivr]\nprompts = \"{root}/prompts\"\n\n\
         [[queues]]\nname = \"support\"\nagents = [{agents}]\nwrap_up_secs = 1\n"
    );
    // RTP ports of its own: the default range (20000-29999) is shared with
    // every other switch a parallel test starts, and when the first 8 ports
    // the switch tries are all taken it answers the caller 503.
    let rtp = common::free_ports(32);
    Switch::start(SwitchConfig {
        extra_toml: extra,
        media_ports: Some((rtp, rtp + 31)),
        ..SwitchConfig::for_sipp()
    })
}

fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// When the first 200 OK to an INVITE was received (`received`) or sent, by
/// the caller's number in From (retransmissions come later).
fn invite_200s(outcome: &SippOutcome, received: bool) -> BTreeMap<String, f64> {
    let direction = if received { "message received" } else { "message sent" };
    let mut first = BTreeMap::new();
    for (t, m) in outcome.trace() {
        if m.contains(direction) && m.contains("SIP/2.0 200 ") && m.contains(" INVITE") {
            if let Some(user) = common::sip_from_user(&m) {
                first.entry(user).or_insert(t);
            }
        }
    }
    first
}

/// Who answered a call and when the agent's 200 OK left, in Unix seconds;
/// `tapped`: seen passing the test's relay (baresip) rather than stamped by
/// SIPp.
#[derive(Debug, Clone)]
struct Answer {
    agent: &'static str,
    at: f64,
    tapped: bool,
}

/// Plays the agent on baresip for `calls` calls: waits for each call to ring,
/// accepts it after [`RING`], talks for `talk` and hangs up. Returns the
/// `accept` command and baresip's reply per caller.
fn baresip_answers(phone: &mut BaresipPhone, calls: usize, talk: Duration) -> BTreeMap<String, BaresipReply> {
    let mut answered = BTreeMap::new();
    for n in 1..=calls {
        let ringing = phone
            .event("CALL_INCOMING", Duration::from_secs(20))
            .unwrap_or_else(|| panic!("call {n} never rang on baresip"));
        let caller = ringing.peer_user().unwrap_or_default().to_owned();
        std::thread::sleep((ringing.instant + RING).saturating_duration_since(std::time::Instant::now()));
        let accept = phone.command("accept", "");
        assert!(accept.ok(), "baresip refused to accept: {}", accept.json);
        phone
            .event("CALL_ESTABLISHED", Duration::from_secs(5))
            .unwrap_or_else(|| panic!("the call from {caller} was not established on baresip"));
        std::thread::sleep(talk);
        let hangup = phone.command("hangup", "");
        assert!(hangup.ok(), "baresip could not hang up: {}", hangup.json);
        phone
            .event("CALL_CLOSED", Duration::from_secs(5))
            .unwrap_or_else(|| panic!("the call from {caller} did not close on baresip"));
        answered.insert(caller, accept);
    }
    answered
}

/// baresip's answers: when its 200 OK to each caller passed the tap, which
/// must be after the test's `accept` for that caller.
fn baresip_answers_seen(phone: &BaresipPhone, accepted: &BTreeMap<String, BaresipReply>) -> BTreeMap<String, Answer> {
    let seen = phone.invites_answered();
    accepted
        .iter()
        .map(|(caller, accept)| {
            let at = *seen
                .get(caller)
                .unwrap_or_else(|| panic!("no 200 OK from baresip to {caller} passed the tap: {seen:?}"));
            assert!(
                at >= accept.sent,
                "baresip answered {caller} at {at:?}, before the test's accept at {:?}",
                accept.sent
            );
            (
                caller.clone(),
                Answer {
                    agent: "1002",
                    at: unix_secs(at),
                    tapped: true,
                },
            )
        })
        .collect()
}

/// The first mark of `kind` in a record from the API.
fn mark<'a>(record: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    record["marks"]
        .as_array()
        .and_then(|marks| marks.iter().find(|m| m["what"]["kind"] == kind))
        .unwrap_or_else(|| panic!("no {kind} mark: {record:#}"))
}

/// Compares each call's wait in GET /api/calls with the wait seen on the wire
/// and the queue's stats with the calls; returns the observed waits in ms.
fn assert_waits(switch: &Switch, joined: &BTreeMap<String, f64>, answers: &BTreeMap<String, Answer>) -> Vec<f64> {
    assert_eq!(
        joined.keys().collect::<Vec<_>>(),
        answers.keys().collect::<Vec<_>>(),
        "every caller who was answered by the switch was answered by an agent: {joined:?} {answers:?}"
    );
    // A record closes when its agent's wrap-up (1 s here) ends.
    let calls = common::poll_until(Duration::from_secs(5), || {
        let calls = switch.json("/api/calls?window=15m");
        let closed = calls["calls"].as_array()?.iter().all(|r| r["end"] == "completed");
        closed.then_some(calls)
    })
    .unwrap_or_else(|| switch.json("/api/calls?window=15m"));
    let records = calls["calls"].as_array().unwrap();
    let mut waits = Vec::new();
    for (caller, entered) in joined {
        let answer = &answers[caller];
        let record = records
            .iter()
            .find(|r| r["caller"] == caller.as_str())
            .unwrap_or_else(|| panic!("no record for {caller}: {calls:#}"));
        let enqueued = mark(record, "enqueued")["at"].as_u64().unwrap();
        let bridged = mark(record, "bridged");
        assert_eq!(
            bridged["what"]["agent"], answer.agent,
            "{caller}: bridged with whom? {record:#}"
        );
        let bridged = bridged["at"].as_u64().unwrap();
        assert_eq!(
            mark(record, "offered")["what"]["agent"],
            answer.agent,
            "{caller}: offered to whom? {record:#}"
        );
        assert_eq!(mark(record, "hung_up")["what"]["by"], "agent", "{caller}: {record:#}");
        assert_eq!(record["end"], "completed", "{caller}: {record:#}");

        let api_ms = bridged.saturating_sub(enqueued) as f64;
        let seen_ms = (answer.at - entered) * 1000.0;
        // For failures: where the difference comes from.
        eprintln!(
            "{caller} (agent {}): API {api_ms} ms, wire {seen_ms:.2} ms; the caller's 200 OK arrived \
             {:+.2} ms after the enqueued mark, the bridged mark is {:+.2} ms after the agent's 200 OK",
            answer.agent,
            entered * 1000.0 - enqueued as f64,
            bridged as f64 - answer.at * 1000.0,
        );
        assert!(
            (api_ms - seen_ms).abs() <= TOLERANCE_MS,
            "{caller}: the API says {api_ms} ms in the queue (enqueued {enqueued}, bridged {bridged}), \
             on the wire {seen_ms:.2} ms (caller's 200 OK at {entered:.6}, agent {} answered at {:.6})",
            answer.agent,
            answer.at
        );
        if answer.tapped {
            // On the same clock: the switch bridged as baresip's 200 OK
            // passed (`at` is truncated to the millisecond, hence -1 ms).
            let after_ms = bridged as f64 - answer.at * 1000.0;
            assert!(
                (-1.0..=TOLERANCE_MS).contains(&after_ms),
                "{caller}: bridged at {bridged}, {after_ms:.2} ms after {} answered at {:.6}",
                answer.agent,
                answer.at
            );
            // baresip sends its tone from the answer on.
            let heard = mark(record, "first_agent_audio");
            assert_eq!(heard["what"]["agent"], answer.agent, "{caller}: {record:#}");
            let heard_after = heard["at"].as_u64().unwrap().saturating_sub(bridged);
            assert!(
                heard_after <= 500,
                "{caller}: the agent heard {heard_after} ms after the bridge: {record:#}"
            );
        }
        waits.push(seen_ms);
    }

    let stats = switch.json("/api/queues/support/stats?window=15m");
    let stats = &stats["stats"];
    let n = joined.len();
    assert_eq!(stats["offered"], n, "{stats:#}");
    assert_eq!(stats["answered"], n, "{stats:#}");
    assert_eq!(stats["abandoned"], 0, "{stats:#}");
    let asa_ms = stats["asa_secs"].as_f64().unwrap() * 1000.0;
    let mean = waits.iter().sum::<f64>() / n as f64;
    assert!(
        (asa_ms - mean).abs() <= TOLERANCE_MS,
        "ASA {asa_ms} ms, mean wait on the wire {mean:.2} ms ({waits:?})"
    );
    waits.sort_by(f64::total_cmp);
    waits
}

#[test]
fn baresip_agent_answer_times_are_the_ones_in_the_stats_api() {
    let switch = queue_switch(&["1002"]);
    let mut phone = BaresipPhone::start(&switch, "1002");
    // Two callers 100 ms apart for one phone that rings 0.7 s, talks 1 s and
    // wraps up 1 s: they wait about 0.7 s and 3.4 s.
    let callers = Sipp::new("caller_queued_waits_bye")
        .remote(switch.sip_addr())
        .service("101")
        .calls(2)
        .timeout_secs(30)
        .spawn();
    let accepted = baresip_answers(&mut phone, 2, Duration::from_secs(1));
    let callers = callers.wait();
    callers.assert_success(2);

    let joined = invite_200s(&callers, true);
    let answers = baresip_answers_seen(&phone, &accepted);
    let waits = assert_waits(&switch, &joined, &answers);
    assert!(
        waits[0] >= 650.0 && waits[1] >= 3000.0,
        "the second caller waited for the first call and the wrap-up: {waits:?}"
    );
}

#[test]
fn sipp_and_baresip_agents_answer_and_the_stats_api_agrees() {
    let switch = queue_switch(&["1001", "1002"]);
    let mut phone = BaresipPhone::start(&switch, "1002");
    let agent_port = common::free_port();
    register_sipp_agent(&switch, "1001", agent_port, Transport::Udp);
    // Ring 0.8 s, talk 1 s, hang up (SIPp); wrap-up 1 s.
    let sipp_agent = Sipp::new("agent_answers_after_delay")
        .local_port(agent_port)
        .key("ext", "1001")
        .calls(2)
        .timeout_secs(20)
        .spawn();
    // Three callers 100 ms apart: the first two go one to each agent; baresip
    // talks 3 s, so the SIPp agent is free first (after about 2.9 s) and
    // takes the third.
    let callers = Sipp::new("caller_queued_waits_bye")
        .remote(switch.sip_addr())
        .service("101")
        .calls(3)
        .timeout_secs(30)
        .spawn();
    let accepted = baresip_answers(&mut phone, 1, Duration::from_secs(3));
    let sipp_agent = sipp_agent.wait();
    let callers = callers.wait();
    callers.assert_success(3);
    sipp_agent.assert_success(2);

    let joined = invite_200s(&callers, true);
    let mut answers = baresip_answers_seen(&phone, &accepted);
    for (caller, at) in invite_200s(&sipp_agent, false) {
        let sipp = Answer {
            agent: "1001",
            at,
            tapped: false,
        };
        assert!(
            answers.insert(caller.clone(), sipp).is_none(),
            "{caller} answered twice"
        );
    }
    let waits = assert_waits(&switch, &joined, &answers);
    assert!(
        waits[0] >= 650.0 && waits[1] >= 650.0 && waits[2] >= 2500.0,
        "two callers answered after ringing, the third after a call and its wrap-up: {waits:?}"
    );
}
