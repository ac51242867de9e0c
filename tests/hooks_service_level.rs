//! queue.service_level_at_risk end to end: a SIPp caller waits beyond the
//! threshold in a queue nobody staffs; the projected service level of the
//! interval drops below the target and the subscription hears it once, not
//! every time the projection runs.
#![allow(clippy::unwrap_used)]

mod common;
mod hooks_receiver;

use std::collections::HashMap;
use std::time::Duration;

use common::{Sipp, Switch, SwitchConfig};
use hooks_receiver::{Receiver, SECRET};

#[test]
fn a_caller_past_the_threshold_puts_the_interval_at_risk_once() {
    let root = env!("CARGO_MANIFEST_DIR");
    let receiver = Receiver::start();
    let url = receiver.url("/sl");
    let switch = Switch::start(SwitchConfig {
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

[kpi]
thresholds_secs = [2]

[wallboard]
service_level_target_percent = 80

[[hooks.subscriptions]]
name = "wfm"
url = "{url}"
secret = "{SECRET}"
events = ["queue.service_level_at_risk"]
"#
        ),
        ..SwitchConfig::for_sipp()
    });
    // Waits 12 s: two projections or more see it past the 2 s threshold.
    Sipp::new("caller_queued_hangs_up")
        .remote(switch.sip_addr())
        .service("101")
        .calls(1)
        .arg("-d")
        .arg("12000")
        .timeout_secs(30)
        .run()
        .assert_success(1);
    // One more projection after the hang-up.
    std::thread::sleep(Duration::from_secs(6));
    let got = receiver.got();
    assert!(!got.is_empty(), "no event");
    let mut per_interval: HashMap<String, usize> = HashMap::new();
    for d in &got {
        assert_eq!(d.signature, Ok(()));
        let e = d.json();
        assert_eq!(e["type"], "queue.service_level_at_risk");
        assert_eq!(e["queue"], "support");
        assert_eq!(e["data"]["threshold_secs"], 2);
        assert_eq!(e["data"]["target"], 0.8);
        assert!(e["data"]["projected"].as_f64().unwrap() < 0.8, "{e:#}");
        assert_eq!(e["data"]["waiting_beyond_threshold"], 1, "{e:#}");
        *per_interval
            .entry(e["data"]["interval_start"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(
        per_interval.values().all(|&n| n == 1),
        "fired more than once: {per_interval:?}"
    );
}
