//! A `ring_all` queue end to end: a SIPp caller queued at once, two SIPp
//! agents registered with the switch. Both phones ring at the same time;
//! 1001 answers after 800 ms and is bridged, 1002 (which never answers) gets
//! CANCEL, answers it 487 and gets the ACK. The call's record shows both
//! offers and one bridge, with 1001.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{register_sipp_agent, Sipp, Switch, SwitchConfig, Transport};

/// The subjects (agents) of the marks of `kind` in a record from the API.
fn marks(record: &serde_json::Value, kind: &str) -> Vec<String> {
    record["marks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["what"]["kind"] == kind)
        .map(|m| m["what"]["agent"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn ring_all_rings_both_agents_and_cancels_the_one_who_did_not_answer() {
    let root = env!("CARGO_MANIFEST_DIR");
    let switch = Switch::start(SwitchConfig {
        extra_toml: format!(
            "\n[[routes]]\nnumber = \"101\"\nflow = \"{root}/tests/flows/queue_now.yaml\"\n\n\
             [ivr]\nprompts = \"{root}/prompts\"\n\n\
             [[queues]]\nname = \"support\"\nagents = [\"1001\", \"1002\"]\nstrategy = \"ring_all\"\n"
        ),
        ..SwitchConfig::for_sipp()
    });
    let answers_port = common::free_port();
    let rings_port = common::free_port();
    register_sipp_agent(&switch, "1001", answers_port, Transport::Udp);
    register_sipp_agent(&switch, "1002", rings_port, Transport::Udp);
    let answers = Sipp::new("agent_answers_after_delay")
        .local_port(answers_port)
        .key("ext", "1001")
        .calls(1)
        .timeout_secs(20)
        .spawn();
    let rings = Sipp::new("agent_ring_cancelled")
        .local_port(rings_port)
        .key("ext", "1002")
        .calls(1)
        .timeout_secs(20)
        .spawn();
    for port in [answers_port, rings_port] {
        assert!(common::wait_until_bound(port, false, Duration::from_secs(5)));
    }
    let caller = Sipp::new("caller_queued_waits_bye")
        .remote(switch.sip_addr())
        .service("101")
        .calls(1)
        .timeout_secs(20)
        .run();
    let answers = answers.wait();
    let rings = rings.wait();
    let report = || format!("{}\n{}\n{}", caller.report(), answers.report(), rings.report());
    caller.assert_success(1);
    answers.assert_success(1);
    rings.assert_success(1);

    // Both phones were rung, each with a dialog of its own.
    let invite_to = |o: &common::SippOutcome| {
        o.received(|m| m.starts_with("INVITE "))
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("no INVITE\n{}", report()))
    };
    let call_id = |m: &str| {
        m.lines()
            .find(|l| l.to_ascii_lowercase().starts_with("call-id:"))
            .map(str::to_owned)
    };
    assert_ne!(call_id(&invite_to(&answers)), call_id(&invite_to(&rings)));
    // The one who did not answer got CANCEL, its 487 was ACKed (the
    // scenario waits for the ACK), and it never got a BYE.
    assert_eq!(rings.received(|m| m.starts_with("CANCEL ")).len(), 1, "{}", report());
    assert!(!rings.sent(|m| m.starts_with("SIP/2.0 487")).is_empty(), "{}", report());
    assert!(rings.received(|m| m.starts_with("BYE ")).is_empty(), "{}", report());
    assert!(
        answers.received(|m| m.starts_with("CANCEL ")).is_empty(),
        "{}",
        report()
    );

    let calls = switch.json("/api/calls?window=15m");
    let records = calls["calls"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{calls:#}");
    let record = &records[0];
    let mut offered = marks(record, "offered");
    offered.sort();
    assert_eq!(offered, ["1001", "1002"], "{record:#}");
    assert_eq!(marks(record, "bridged"), ["1001"], "{record:#}");
    assert_eq!(marks(record, "offer_failed"), ["1002"], "{record:#}");
}
