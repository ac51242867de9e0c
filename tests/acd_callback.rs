//! Call-backs end to end with real SIP peers: a SIPp caller waiting behind a
//! busy SIPp agent takes the call-back offer (presses 1) and is hung up; when
//! the agent is free the switch dials the caller's number through the
//! trunk's dial template to a SIPp "customer", and rings the agent once the
//! customer answers. A busy customer is dialled again after the queue's
//! `retry_after_secs`. Agent first, the SIPp agent is rung and answers
//! before the SIPp customer is dialled. A call-back scheduled through the
//! API survives a restart of the switch.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{register_sipp_agent, sip_header, Sipp, Switch, SwitchConfig};

/// The number the switch dials back, and what the customer sees calling.
const CALLER_ID: &str = "+15550000";

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

/// A switch whose route 101 queues at once in `support` (agent 1001, 3 s of
/// wrap-up, call-backs offered above 1 s of estimated wait and retried after
/// 1 s), dialling call-backs to 127.0.0.1:`customer_port`. `extra` is more TOML.
fn callback_switch(customer_port: u16, extra: &str) -> Switch {
    callback_switch_in_mode(customer_port, "customer_first", extra)
}

/// As [`callback_switch`], with the queue's call-backs in `mode`.
fn callback_switch_in_mode(customer_port: u16, mode: &str, extra: &str) -> Switch {
    let root = root();
    let toml = format!(
        r#"
[[routes]]
number = "101"
flow = "{root}/tests/flows/queue_now.yaml"

[ivr]
prompts = "{root}/prompts"

[[queues]]
name = "support"
agents = ["1001"]
wrap_up_secs = 3

[queues.callback]
offer_above_wait_secs = 1
retry_after_secs = 1
mode = "{mode}"

[[trunks]]
name = "carrier"
addresses = ["127.0.0.1"]
dial = "sip:{{number}}@127.0.0.1:{customer_port}"

[callbacks]
trunk = "carrier"
caller_id = "{CALLER_ID}"
{extra}
"#
    );
    Switch::start(SwitchConfig {
        trunk_addresses: Vec::new(),
        extra_toml: toml,
        ..SwitchConfig::for_sipp()
    })
}

fn post(switch: &Switch, path: &str, body: &str) -> serde_json::Value {
    let response = common::http_post(switch.http_addr(), path, body).unwrap();
    assert_eq!(response.status, 202, "POST {path}: {}", response.body);
    serde_json::from_str(&response.body).unwrap()
}

fn has_mark(record: &serde_json::Value, kind: &str) -> bool {
    record["marks"]
        .as_array()
        .is_some_and(|marks| marks.iter().any(|m| m["what"]["kind"] == kind))
}

/// The closed record of the call-back to `number` (marked `callback_placed`),
/// once the API has it.
fn callback_record(switch: &Switch, number: &str) -> serde_json::Value {
    common::poll_until(Duration::from_secs(3), || {
        let calls = switch.json("/api/calls?window=15m");
        calls["calls"]
            .as_array()?
            .iter()
            .find(|r| r["caller"] == number && has_mark(r, "callback_placed") && has_mark(r, "hung_up"))
            .cloned()
    })
    .unwrap_or_else(|| {
        panic!(
            "no call-back record for {number}: {:#}",
            switch.json("/api/calls?window=15m")
        )
    })
}

/// The board's entry for `support`.
fn support_board(switch: &Switch) -> serde_json::Value {
    let board = switch.json("/api/queues");
    board["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "support")
        .cloned()
        .unwrap()
}

#[test]
fn a_caller_who_takes_the_offer_is_called_back_and_put_through_to_the_agent() {
    let customer_port = common::free_port();
    let switch = callback_switch(customer_port, "");
    let agent_port = common::free_port();
    register_sipp_agent(&switch, "1001", agent_port, common::Transport::Udp);
    // The agent takes a first caller's call (rings 0.8 s, talks 1 s, hangs
    // up), then, after its wrap-up, the call-back's.
    let agent = Sipp::new("agent_answers_after_delay")
        .local_port(agent_port)
        .key("ext", "1001")
        .calls(2)
        .timeout_secs(20)
        .spawn();
    let customer = Sipp::new("customer_answers_waits_bye")
        .local_port(customer_port)
        .key("number", "+4930123456")
        .calls(1)
        .timeout_secs(20)
        .spawn();
    let first = Sipp::new("caller_queued_waits_bye")
        .remote(switch.sip_addr())
        .service("101")
        .calls(1)
        .timeout_secs(20)
        .spawn();
    // Once the first caller has the agent (ringing 0.8 s, talking 1 s, then
    // 3 s of wrap-up) the agent is busy: the estimated wait is 180 s (the default handle
    // time), above the 1 s threshold, so the second caller is offered a
    // call-back and presses 1.
    let busy = common::poll_until(Duration::from_secs(5), || {
        let agents = switch.json("/api/agents");
        let state = agents["agents"].as_array()?.iter().find(|a| a["id"] == "1001")?["state"].clone();
        (state == "ringing" || state == "on_call").then_some(())
    });
    assert!(
        busy.is_some(),
        "the first caller reaches the agent: {:#}",
        switch.json("/api/agents")
    );
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port().to_string();
    let caller = Sipp::new("caller_takes_callback")
        .remote(switch.sip_addr())
        .service("101")
        .key("number", "+4930123456")
        .key("sink_port", &sink_port)
        .calls(1)
        .timeout_secs(15)
        .run();
    let first = first.wait();
    let customer = customer.wait();
    let agent = agent.wait();
    caller.assert_success(1);
    first.assert_success(1);
    customer.assert_success(1);
    agent.assert_success(2);

    // The customer was dialled through the template, from our caller id.
    let invite = customer.received(|m| m.starts_with("INVITE "));
    assert_eq!(invite.len(), 1, "{}", customer.report());
    assert!(
        invite[0].starts_with(&format!("INVITE sip:+4930123456@127.0.0.1:{customer_port} SIP/2.0")),
        "{}",
        invite[0]
    );
    let from = sip_header(&invite[0], "From").unwrap();
    assert!(from.starts_with(&format!("<sip:{CALLER_ID}@127.0.0.1>;tag=")), "{from}");
    // The agent sees the customer as the caller of the call-back.
    let to_agent = agent.received(|m| m.starts_with("INVITE "));
    assert_eq!(to_agent.len(), 2, "{}", agent.report());
    let from = sip_header(&to_agent[1], "From").unwrap();
    assert!(from.starts_with("<sip:+4930123456@"), "{from}");

    // The call-back's record: placed, offered to the agent, bridged.
    let record = callback_record(&switch, "+4930123456");
    for kind in ["callback_placed", "offered", "agent_answered", "bridged", "talk_ended"] {
        assert!(has_mark(&record, kind), "{kind}: {record:#}");
    }
    let calls = switch.json("/api/calls?window=15m");
    let requested = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["caller"] == "+4930123456" && has_mark(r, "callback_requested"))
        .count();
    assert_eq!(requested, 1, "the caller's own record says it asked: {calls:#}");
    assert_eq!(support_board(&switch)["callbacks"], 0, "placed: none left");
}

#[test]
fn a_busy_customer_is_dialled_again_after_retry_after_secs() {
    let customer_port = common::free_port();
    let switch = callback_switch(customer_port, "");
    let agent_port = common::free_port();
    register_sipp_agent(&switch, "1001", agent_port, common::Transport::Udp);
    let agent = Sipp::new("agent_answers_after_delay")
        .local_port(agent_port)
        .key("ext", "1001")
        .calls(1)
        .timeout_secs(15)
        .spawn();
    let customer = Sipp::new("customer_busy_then_answers")
        .local_port(customer_port)
        .key("number", "+4930777000")
        .calls(2)
        .timeout_secs(15)
        .spawn();
    post(
        &switch,
        "/api/callbacks",
        r#"{"number": "+4930777000", "queue": "support"}"#,
    );
    let customer = customer.wait();
    let agent = agent.wait();
    customer.assert_success(2);
    agent.assert_success(1);

    // 486, then the second INVITE a retry_after_secs later.
    let entries = customer.trace();
    let busy = entries
        .iter()
        .find(|(_, m)| m.contains("message sent") && m.contains("SIP/2.0 486 Busy Here"))
        .map(|(t, _)| *t)
        .unwrap_or_else(|| panic!("no 486 sent\n{}", customer.report()));
    let invites: Vec<f64> = entries
        .iter()
        .filter(|(_, m)| m.contains("message received") && m.contains("INVITE sip:+4930777000@"))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(invites.len(), 2, "{}", customer.report());
    let gap = invites[1] - busy;
    assert!((0.9..3.0).contains(&gap), "retried {gap:.3} s after the 486");

    let record = callback_record(&switch, "+4930777000");
    assert!(has_mark(&record, "bridged"), "{record:#}");
    let metrics = switch.metrics();
    for outcome in ["busy", "answered"] {
        assert!(
            metrics.contains(&format!("callback_attempts_total{{outcome=\"{outcome}\"}} 1")),
            "{outcome}: {metrics}"
        );
    }
}

#[test]
fn a_scheduled_callback_survives_a_restart() {
    let db = tempfile::Builder::new()
        .prefix("switchboard-callbacks-")
        .tempdir()
        .unwrap();
    let path = db.path().join("switchboard.db");
    let storage = format!("\n[storage]\npath = {:?}\n", path.display().to_string());
    let customer_port = common::free_port();
    let in_an_hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 3_600_000;
    {
        let switch = callback_switch(customer_port, &storage);
        let body = format!(r#"{{"number": "+4930888000", "queue": "support", "at": "{in_an_hour}"}}"#);
        let answer = post(&switch, "/api/callbacks", &body);
        assert_eq!(answer["scheduled_at_ms"].as_u64(), u64::try_from(in_an_hour).ok());
        let later = common::poll_until(Duration::from_secs(3), || {
            (support_board(&switch)["callbacks_later"] == 1).then_some(())
        });
        assert!(later.is_some(), "{:#}", support_board(&switch));
        // The store's writer commits every 100 ms; then the switch is killed.
        std::thread::sleep(Duration::from_millis(300));
    }
    let switch = callback_switch(customer_port, &storage);
    let restored = common::poll_until(Duration::from_secs(3), || {
        (support_board(&switch)["callbacks_later"] == 1).then_some(())
    });
    assert!(
        restored.is_some(),
        "the call-back is back after the restart: {:#}\n{}",
        support_board(&switch),
        switch.log()
    );
    assert!(switch.log().contains("call-backs restored"), "{}", switch.log());
}

#[test]
fn agent_first_rings_the_agent_then_dials_the_customer() {
    let customer_port = common::free_port();
    let switch = callback_switch_in_mode(customer_port, "agent_first", "");
    let agent_port = common::free_port();
    register_sipp_agent(&switch, "1001", agent_port, common::Transport::Udp);
    // The agent answers after 0.8 s, talks a second and hangs up; the
    // customer answers 0.2 s after it is dialled and waits for the BYE.
    let agent = Sipp::new("agent_answers_after_delay")
        .local_port(agent_port)
        .key("ext", "1001")
        .calls(1)
        .timeout_secs(15)
        .spawn();
    let customer = Sipp::new("customer_answers_waits_bye")
        .local_port(customer_port)
        .key("number", "+4930555000")
        .calls(1)
        .timeout_secs(15)
        .spawn();
    post(
        &switch,
        "/api/callbacks",
        r#"{"number": "+4930555000", "queue": "support"}"#,
    );
    let customer = customer.wait();
    let agent = agent.wait();
    customer.assert_success(1);
    agent.assert_success(1);

    // The agent's phone rang first, showing the customer's number; the
    // customer was dialled through the template once the agent answered.
    let to_agent = agent.received(|m| m.starts_with("INVITE "));
    assert_eq!(to_agent.len(), 1, "{}", agent.report());
    let from = sip_header(&to_agent[0], "From").unwrap();
    assert!(from.starts_with("<sip:+4930555000@"), "{from}");
    let entries = customer.trace();
    let dialled = entries
        .iter()
        .find(|(_, m)| m.contains("message received") && m.contains("INVITE sip:+4930555000@"))
        .map(|(t, _)| *t)
        .unwrap_or_else(|| panic!("the customer was not dialled\n{}", customer.report()));
    let answered = agent
        .trace()
        .iter()
        .find(|(_, m)| m.contains("message sent") && m.contains("SIP/2.0 200 OK"))
        .map(|(t, _)| *t)
        .unwrap_or_else(|| panic!("the agent did not answer\n{}", agent.report()));
    assert!(
        dialled >= answered,
        "the customer was dialled at {dialled}, the agent answered at {answered}"
    );

    // The record: placed and offered to the agent, then bridged when the
    // customer answered, and the agent's hang-up ends the talk.
    let record = callback_record(&switch, "+4930555000");
    for kind in ["callback_placed", "offered", "agent_answered", "bridged", "talk_ended"] {
        assert!(has_mark(&record, kind), "{kind}: {record:#}");
    }
    assert_eq!(support_board(&switch)["callbacks"], 0, "placed: none left");
    let metrics = switch.metrics();
    assert!(
        metrics.contains("callback_attempts_total{outcome=\"answered\"} 1"),
        "{metrics}"
    );
}
