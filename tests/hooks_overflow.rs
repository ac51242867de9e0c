//! Overflow hooks drive real calls: a SIPp caller overflows its queue to
//! `hook:decide`, the switch POSTs the call's context (signed) to a real
//! receiver on loopback and does what it answers: another queue where a
//! SIPp agent answers, a prompt and a polite hang-up, and, when the hook
//! answers too late, the configured fallback (a call-back).
#![allow(clippy::unwrap_used)]

mod common;
mod hooks_receiver;

use std::time::Duration;

use common::{register_sipp_agent, Sipp, Switch, SwitchConfig, Transport};
use hooks_receiver::{Answer, Receiver, SECRET};

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
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

/// The records of the window, oldest first.
fn records(switch: &Switch) -> Vec<serde_json::Value> {
    let calls = switch.json("/api/calls?window=15m");
    let mut list = calls["calls"].as_array().unwrap().clone();
    list.sort_by_key(|r| r["marks"][0]["at"].as_u64());
    list
}

fn caller(switch: &Switch) -> common::SippOutcome {
    Sipp::new("caller_queued_waits_bye")
        .remote(switch.sip_addr())
        .service("101")
        .calls(1)
        .timeout_secs(30)
        .run()
}

#[test]
fn the_hook_s_answers_drive_the_call_and_its_fallback_runs_when_it_is_late() {
    let receiver = Receiver::start();
    let root = root();
    let url = receiver.url("/decide");
    let extra = format!(
        r#"
[[routes]]
number = "101"
flow = "{root}/tests/flows/queue_now.yaml"

[ivr]
prompts = "{root}/prompts"

[[queues]]
name = "support"
agents = ["1002"]
overflow = [{{ when = "no_agents", to = "hook:decide" }}]
callback = {{ offer_above_wait_secs = 600 }}

[[queues]]
name = "sales"
agents = ["1001"]
wrap_up_secs = 1

[[hooks.overflow]]
name = "decide"
url = "{url}"
secret = "{SECRET}"
timeout_ms = 1000
fallback = "callback"
message_prompt = "goodbye"
"#
    );
    let switch = Switch::start(SwitchConfig {
        extra_toml: extra,
        ..SwitchConfig::for_sipp()
    });
    let agent_port = common::free_port();
    register_sipp_agent(&switch, "1001", agent_port, Transport::Udp);
    receiver.script([
        Answer {
            delay: Duration::ZERO,
            status: 200,
            body: r#"{"action": "queue", "target": "sales"}"#.into(),
        },
        Answer {
            delay: Duration::ZERO,
            status: 200,
            body: r#"{"action": "message", "prompt": "goodbye"}"#.into(),
        },
        // Later than the hook's 1 s: the fallback runs.
        Answer {
            delay: Duration::from_secs(3),
            status: 200,
            body: r#"{"action": "wait"}"#.into(),
        },
    ]);

    // 1. Another queue: the agent there answers, talks and hangs up.
    let agent = Sipp::new("agent_answers_after_delay")
        .local_port(agent_port)
        .key("ext", "1001")
        .calls(1)
        .timeout_secs(30)
        .spawn();
    caller(&switch).assert_success(1);
    agent.wait().assert_success(1);
    // 2. A message on another channel: a prompt, then the switch hangs up.
    caller(&switch).assert_success(1);
    // 3. No answer in time: a call-back is booked and the caller told so.
    caller(&switch).assert_success(1);

    let asked = receiver.got();
    assert_eq!(asked.len(), 3);
    for request in &asked {
        assert_eq!(request.signature, Ok(()), "{}", request.body);
        let context = request.json();
        assert_eq!(context["hook"], "decide");
        assert_eq!(context["queue"], "support");
        assert_eq!(context["reason"], "no_agents");
        assert_eq!(context["caller"], "+493010001");
        assert!(context["call_id"].as_str().is_some_and(|id| !id.is_empty()));
    }
    let records = records(&switch);
    assert_eq!(records.len(), 3, "{records:#?}");
    let first = kinds(&records[0]);
    assert!(
        first.contains(&"overflowed:hook:decide".to_owned())
            && first.contains(&"enqueued:sales".to_owned())
            && first.contains(&"agent_answered:1001".to_owned()),
        "{first:?}"
    );
    assert_eq!(records[0]["marks"][0]["what"]["kind"], "arrival");
    assert_eq!(asked[0].json()["call_id"], records[0]["id"]);
    let second = kinds(&records[1]);
    assert!(second.contains(&"overflowed:hook:decide".to_owned()), "{second:?}");
    assert!(!second.iter().any(|k| k.starts_with("enqueued:sales")), "{second:?}");
    assert_eq!(second.last().unwrap(), "hung_up:switch", "{second:?}");
    let third = kinds(&records[2]);
    assert!(third.contains(&"callback_requested:support".to_owned()), "{third:?}");
    assert_eq!(third.last().unwrap(), "hung_up:switch", "{third:?}");
}
