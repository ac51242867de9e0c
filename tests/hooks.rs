//! Event hooks end to end: a real HTTP receiver on loopback gets every
//! event, signed; while it is down, and across a restart of the switch,
//! nothing is lost: the events arrive later, in order per call.
#![allow(clippy::unwrap_used)]

mod common;
mod hooks_receiver;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use common::{Sipp, Switch, SwitchConfig};
use hooks_receiver::{Delivery, Receiver, SECRET};

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

/// A switch whose route 101 queues into `support` (nobody staffed), with a
/// subscription of every event to `url`, retrying fast.
fn switch_for(url: &str) -> Switch {
    let root = root();
    let extra = format!(
        r#"
[[routes]]
number = "101"
flow = "{root}/tests/flows/queue_now.yaml"

[ivr]
prompts = "{root}/prompts"

[[queues]]
name = "support"
agents = ["1001"]

[[hooks.subscriptions]]
name = "crm"
url = "{url}"
secret = "{SECRET}"
backoff_base_ms = 100
backoff_max_ms = 800
max_attempts = 1000
timeout_ms = 2000
"#
    );
    Switch::start(SwitchConfig {
        extra_toml: extra,
        ..SwitchConfig::for_sipp()
    })
}

/// Callers who queue and hang up after 1.5 s: abandons.
fn abandoning_callers(switch: &Switch, calls: u32) {
    Sipp::new("caller_queued_hangs_up")
        .remote(switch.sip_addr())
        .service("101")
        .calls(calls)
        .arg("-d")
        .arg("1500")
        .timeout_secs(30)
        .run()
        .assert_success(u64::from(calls));
}

/// Events by id, first arrival kept, in the order they arrived.
fn unique(got: &[Delivery]) -> Vec<serde_json::Value> {
    let mut seen = HashSet::new();
    got.iter()
        .map(Delivery::json)
        .filter(|e| seen.insert(e["id"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

/// The counter of an event id (`evt_<start>_<n>`): its place in its run.
fn seq(event: &serde_json::Value) -> (u64, u64) {
    let id = event["id"].as_str().unwrap();
    let mut parts = id.trim_start_matches("evt_").split('_');
    (
        parts.next().unwrap().parse().unwrap(),
        parts.next().unwrap().parse().unwrap(),
    )
}

fn calls_ended(got: &[Delivery]) -> usize {
    unique(got).iter().filter(|e| e["type"] == "call.ended").count()
}

#[test]
fn events_reach_the_receiver_signed_in_order_through_an_outage_and_a_restart() {
    let mut receiver = Receiver::start();
    let mut switch = switch_for(&receiver.url("/events"));

    // Up: two calls, every event at once.
    abandoning_callers(&switch, 2);
    receiver.wait_for(Duration::from_secs(10), |got| calls_ended(got) == 2);

    // Down: two more calls and a call-back request; nothing gets through.
    receiver.down();
    abandoning_callers(&switch, 2);
    let answer = common::http_post(
        switch.http_addr(),
        "/api/callbacks",
        r#"{"number": "+34600111222", "queue": "support", "at": "2099-01-01T00:00:00Z", "attributes": {"order": "A-17"}}"#,
    )
    .unwrap();
    assert_eq!(answer.status, 202, "{}", answer.body);
    // Some attempts fail meanwhile, then the switch restarts with the
    // deliveries still owed.
    std::thread::sleep(Duration::from_secs(2));
    switch.restart();
    std::thread::sleep(Duration::from_secs(1));
    receiver.up();
    let got = receiver.wait_for(Duration::from_secs(20), |got| {
        let events = unique(got);
        let runs: HashSet<u64> = events
            .iter()
            .filter(|e| e["type"] == "agent.state_changed")
            .map(|e| seq(e).0)
            .collect();
        calls_ended(got) == 4 && events.iter().any(|e| e["type"] == "callback.scheduled") && runs.len() == 2
    });

    // Every delivery is signed, and carries its event's id as the
    // idempotency key.
    for d in &got {
        assert_eq!(d.signature, Ok(()), "bad signature on {}", d.body);
        let event = d.json();
        assert_eq!(d.header("Idempotency-Key"), event["id"].as_str());
        assert_eq!(d.header("Switchboard-Event-Type"), event["type"].as_str());
        assert_eq!(event["version"], 1);
        assert_eq!(d.path, "/events");
    }
    let events = unique(&got);
    // Per call: all of its events, in the order they happened.
    let mut by_call: BTreeMap<String, Vec<&serde_json::Value>> = BTreeMap::new();
    for e in &events {
        if let Some(call) = e["call_id"].as_str() {
            by_call.entry(call.to_owned()).or_default().push(e);
        }
    }
    assert_eq!(by_call.len(), 4, "four calls: {:#?}", by_call.keys());
    for (call, list) in &by_call {
        let kinds: Vec<&str> = list.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "call.started",
                "ivr.completed",
                "call.queued",
                "call.abandoned",
                "call.ended"
            ],
            "call {call}"
        );
        let seqs: Vec<(u64, u64)> = list.iter().map(|e| seq(e)).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "call {call} out of order: {seqs:?}"
        );
        let ended = list.last().unwrap();
        assert_eq!(ended["queue"], "support");
        // Gone after 1.5 s: a short abandon, by the reports' own rules.
        assert_eq!(ended["data"]["queues"]["support"]["short_abandoned"], true, "{ended:#}");
        let timeline = ended["data"]["timeline"].as_array().unwrap();
        assert_eq!(timeline.first().unwrap()["kind"], "arrival");
        assert_eq!(timeline.last().unwrap()["kind"], "hung_up");
    }
    // The call-back's events, with its attributes.
    let scheduled = events.iter().find(|e| e["type"] == "callback.scheduled").unwrap();
    assert_eq!(scheduled["data"]["attributes"]["order"], "A-17");
    assert_eq!(scheduled["queue"], "support");
    let requested = events.iter().find(|e| e["type"] == "callback.requested").unwrap();
    assert!(seq(requested) < seq(scheduled));
    // The agent's states at start and stop are events too (two runs).
    let runs: HashSet<u64> = events
        .iter()
        .filter(|e| e["type"] == "agent.state_changed")
        .map(|e| seq(e).0)
        .collect();
    assert_eq!(runs.len(), 2, "both runs' agent states");
    // Retried deliveries said so.
    assert!(
        got.iter()
            .any(|d| d.header("Switchboard-Delivery-Attempt").is_some_and(|a| a != "1")),
        "deliveries during the outage were retried"
    );
    // Nothing is left owed.
    let metrics = switch.metrics();
    let pending = common::poll_until(Duration::from_secs(5), || {
        (common::metric_sum(&switch.metrics(), "hook_deliveries_pending") == 0.0).then_some(())
    });
    assert!(pending.is_some(), "{metrics}");
    let dead = switch.json("/api/hooks/dead-letters");
    assert_eq!(dead["dead_letters"], serde_json::json!([]));
}

#[test]
fn a_receiver_that_keeps_failing_gets_a_dead_letter_that_can_be_retried() {
    let receiver = Receiver::start();
    receiver.answer_status(500);
    let root = root();
    let url = receiver.url("/events");
    let extra = format!(
        r#"
[[queues]]
name = "support"
agents = ["1001"]

[[hooks.subscriptions]]
name = "flaky"
url = "{url}"
secret = "{SECRET}"
events = ["callback.*"]
backoff_base_ms = 50
backoff_max_ms = 100
max_attempts = 3
"#
    );
    let _ = root;
    let switch = Switch::start(SwitchConfig {
        extra_toml: extra,
        ..SwitchConfig::for_sipp()
    });
    let answer = common::http_post(
        switch.http_addr(),
        "/api/callbacks",
        r#"{"number": "5550100", "queue": "support", "at": "2099-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    assert_eq!(answer.status, 202, "{}", answer.body);
    // Two events (requested, scheduled), three attempts each.
    receiver.wait_for(Duration::from_secs(10), |got| got.len() >= 6);
    let dead = common::poll_until(Duration::from_secs(5), || {
        let dead = switch.json("/api/hooks/dead-letters");
        (dead["dead_letters"].as_array().map(Vec::len) == Some(2)).then_some(dead)
    })
    .expect("two dead letters");
    let letters = dead["dead_letters"].as_array().unwrap();
    let kinds: HashSet<&str> = letters.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, HashSet::from(["callback.requested", "callback.scheduled"]));
    assert!(letters
        .iter()
        .all(|l| l["attempts"] == 3 && l["last_error"] == "HTTP 500" && l["subscription"] == "flaky"));
    // The receiver is fixed; one letter is retried and delivered.
    receiver.answer_status(200);
    let id = letters[0]["id"].as_i64().unwrap();
    let event_id = letters[0]["event_id"].as_str().unwrap().to_owned();
    let retry = common::http_post(switch.http_addr(), &format!("/api/hooks/dead-letters/{id}/retry"), "").unwrap();
    assert_eq!(retry.status, 202, "{}", retry.body);
    receiver.wait_for(Duration::from_secs(5), |got| {
        got.iter()
            .any(|d| d.json()["id"] == event_id.as_str() && d.header("Switchboard-Delivery-Attempt") == Some("1"))
    });
    let left = common::poll_until(Duration::from_secs(5), || {
        let dead = switch.json("/api/hooks/dead-letters");
        (dead["dead_letters"].as_array().map(Vec::len) == Some(1)).then_some(())
    });
    assert!(left.is_some());
    let again = common::http_post(switch.http_addr(), &format!("/api/hooks/dead-letters/{id}/retry"), "").unwrap();
    assert_eq!(again.status, 404, "{}", again.body);
    let by_type: HashMap<String, usize> = receiver.got().iter().fold(HashMap::new(), |mut m, d| {
        *m.entry(d.json()["type"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
        m
    });
    assert!(by_type.keys().all(|k| k.starts_with("callback.")), "{by_type:?}");
}

#[test]
fn events_stored_before_a_crash_are_delivered_after_the_restart() {
    let mut receiver = Receiver::start();
    let mut switch = switch_for(&receiver.url("/events"));
    receiver.down();
    abandoning_callers(&switch, 2);
    // The outbox thread writes within milliseconds of the record updates;
    // then the process is killed outright.
    std::thread::sleep(Duration::from_millis(500));
    switch.crash_and_restart();
    receiver.up();
    let got = receiver.wait_for(Duration::from_secs(20), |got| calls_ended(got) == 2);
    let events = unique(&got);
    let mut by_call: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &events {
        if let Some(call) = e["call_id"].as_str() {
            by_call
                .entry(call.to_owned())
                .or_default()
                .push(e["type"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(by_call.len(), 2, "{by_call:#?}");
    for (call, kinds) in &by_call {
        assert_eq!(
            kinds,
            &[
                "call.started",
                "ivr.completed",
                "call.queued",
                "call.abandoned",
                "call.ended"
            ],
            "call {call}"
        );
    }
    assert!(got.iter().all(|d| d.signature.is_ok()));
}
