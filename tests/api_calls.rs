//! Call control through the API with real SIP peers: a call originated to a
//! SIPp customer joins a queue where a SIPp agent answers; a queued SIPp
//! caller is transferred to another queue and answered there; a queued
//! caller is hung up.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{register_sipp_agent, Sipp, Switch, SwitchConfig};

fn switch(customer_port: u16) -> Switch {
    let root = env!("CARGO_MANIFEST_DIR");
    Switch::start(SwitchConfig {
        extra_toml: format!(
            r#"
[[routes]]
number = "101"
flow = "{root}/tests/flows/queue_now.yaml"

[ivr]
prompts = "{root}/prompts"

[[queues]]
name = "support"
agents = ["1002"]

[[queues]]
name = "sales"
agents = ["1001"]
wrap_up_secs = 1

[[trunks]]
name = "customers"
addresses = ["127.0.0.2"]
dial = "sip:{{number}}@127.0.0.1:{customer_port}"

[callbacks]
trunk = "customers"
caller_id = "+15550000"
"#
        ),
        ..SwitchConfig::for_sipp()
    })
}

fn kinds(record: &serde_json::Value) -> Vec<String> {
    record["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let w = &m["what"];
            let detail = w["to"]
                .as_str()
                .or(w["queue"].as_str())
                .or(w["agent"].as_str())
                .or(w["by"].as_str());
            match detail {
                Some(d) => format!("{}:{d}", w["kind"].as_str().unwrap()),
                None => w["kind"].as_str().unwrap().to_owned(),
            }
        })
        .collect()
}

fn record(switch: &Switch, id: &str) -> serde_json::Value {
    common::poll_until(Duration::from_secs(5), || {
        let calls = switch.json("/api/calls?window=15m");
        calls["calls"]
            .as_array()?
            .iter()
            .find(|r| r["id"] == id && r["end"].is_string())
            .cloned()
    })
    .unwrap_or_else(|| panic!("no closed record {id}: {:#}", switch.json("/api/calls?window=15m")))
}

/// The id of the only live record, once there is one.
fn live_call(switch: &Switch) -> String {
    common::poll_until(Duration::from_secs(5), || {
        let calls = switch.json("/api/calls?window=15m");
        calls["calls"]
            .as_array()?
            .iter()
            .find(|r| r["end"].is_null())
            .and_then(|r| r["id"].as_str().map(str::to_owned))
    })
    .expect("a live call")
}

#[test]
fn an_originated_call_joins_a_queue_and_an_agent_answers() {
    let customer_port = common::free_port();
    let switch = switch(customer_port);
    let agent_port = common::free_port();
    register_sipp_agent(&switch, "1001", agent_port, common::Transport::Udp);
    let agent = Sipp::new("agent_answers_after_delay")
        .local_port(agent_port)
        .key("ext", "1001")
        .calls(1)
        .timeout_secs(20)
        .spawn();
    let customer = Sipp::new("customer_answers_waits_bye")
        .local_port(customer_port)
        .key("number", "+4930555000")
        .calls(1)
        .timeout_secs(20)
        .spawn();
    let answer = common::http_post(
        switch.http_addr(),
        "/api/calls",
        r#"{"number": "+4930555000", "to": "queue:sales"}"#,
    )
    .unwrap();
    assert_eq!(answer.status, 202, "{}", answer.body);
    let made: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let id = made["call_id"].as_str().unwrap().to_owned();
    customer.wait().assert_success(1);
    agent.wait().assert_success(1);
    let marks = kinds(&record(&switch, &id));
    assert!(
        marks.contains(&"enqueued:sales".to_owned()) && marks.contains(&"agent_answered:1001".to_owned()),
        "{marks:?}"
    );
    let r = record(&switch, &id);
    assert_eq!(r["caller"], "+4930555000");
}

#[test]
fn a_queued_caller_is_transferred_to_another_queue_and_answered_there() {
    let switch = switch(common::free_port());
    let agent_port = common::free_port();
    register_sipp_agent(&switch, "1001", agent_port, common::Transport::Udp);
    let agent = Sipp::new("agent_answers_after_delay")
        .local_port(agent_port)
        .key("ext", "1001")
        .calls(1)
        .timeout_secs(20)
        .spawn();
    let caller = Sipp::new("caller_queued_waits_bye")
        .remote(switch.sip_addr())
        .service("101")
        .calls(1)
        .timeout_secs(20)
        .spawn();
    let id = live_call(&switch);
    // Waiting in support, where nobody is staffed.
    std::thread::sleep(Duration::from_millis(500));
    // An unknown destination is refused before anything moves.
    let refused = common::http_post(
        switch.http_addr(),
        &format!("/api/calls/{id}/transfer"),
        r#"{"to": "queue:nowhere"}"#,
    )
    .unwrap();
    assert_eq!(refused.status, 404, "{}", refused.body);
    let answer = common::http_post(
        switch.http_addr(),
        &format!("/api/calls/{id}/transfer"),
        r#"{"to": "queue:sales"}"#,
    )
    .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    caller.wait().assert_success(1);
    agent.wait().assert_success(1);
    let marks = kinds(&record(&switch, &id));
    let support = marks.iter().position(|k| k == "enqueued:support").unwrap();
    let moved = marks.iter().position(|k| k == "transferred:queue:sales").unwrap();
    let sales = marks.iter().position(|k| k == "enqueued:sales").unwrap();
    assert!(support < moved && moved < sales, "{marks:?}");
    assert!(!marks.iter().any(|k| k.starts_with("abandoned")), "{marks:?}");
    assert!(marks.contains(&"agent_answered:1001".to_owned()), "{marks:?}");
    // A finished call is gone.
    let again = common::http_post(
        switch.http_addr(),
        &format!("/api/calls/{id}/transfer"),
        r#"{"to": "queue:sales"}"#,
    )
    .unwrap();
    assert_eq!(again.status, 404, "{}", again.body);
}

#[test]
fn a_queued_caller_is_hung_up_through_the_api() {
    let switch = switch(common::free_port());
    let caller = Sipp::new("caller_queued_waits_bye")
        .remote(switch.sip_addr())
        .service("101")
        .calls(1)
        .timeout_secs(20)
        .spawn();
    let id = live_call(&switch);
    let answer = common::http_post(switch.http_addr(), &format!("/api/calls/{id}/hangup"), "").unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    caller.wait().assert_success(1);
    let marks = kinds(&record(&switch, &id));
    assert_eq!(marks.last().unwrap(), "hung_up:switch", "{marks:?}");
}
