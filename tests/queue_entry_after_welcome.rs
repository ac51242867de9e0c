//! A menu, a welcome, a queue: the call record's queue entry comes when the
//! welcome has played out, for a caller who presses 1 while the menu prompt
//! plays (barge-in) as for one who presses it after the prompt ended. Queue
//! waits (service level, ASA) are measured from that mark, so an early mark
//! is a wrong KPI. SIPp callers press 1 with RFC 4733 events (onset, the
//! key's duration updates, the end packet and its retransmissions) and hang
//! up in the queue; the flow is tests/flows/loadtest_welcome_queue.yaml.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::UdpSocket;

use common::{Sipp, Switch, SwitchConfig};

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

fn switch() -> Switch {
    let root = root();
    let extra = format!(
        "\n[[routes]]\nnumber = \"100\"\nflow = \"{root}/tests/flows/loadtest_welcome_queue.yaml\"\n\n[ivr]\nprompts = \"{root}/prompts\"\n\n\
         [[queues]]\nname = \"support\"\nagents = [\"1001\"]\n"
    );
    Switch::start(SwitchConfig {
        extra_toml: extra,
        ..SwitchConfig::for_sipp()
    })
}

/// Length of a 16-bit mono 8 kHz WAV prompt, in ms.
fn prompt_ms(name: &str) -> f64 {
    let bytes = std::fs::read(format!("{}/prompts/en/{name}.wav", root())).unwrap();
    let at = bytes.windows(4).position(|w| w == b"data").unwrap();
    let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
    f64::from(size) / 2.0 / 8.0
}

fn mark_at(record: &serde_json::Value, kind: &str) -> Option<f64> {
    record["marks"]
        .as_array()?
        .iter()
        .find(|m| m["what"]["kind"] == kind)
        .and_then(|m| m["at"].as_f64())
}

/// A caller who waits `key_after_ms` after the answer, presses 1 and stays 6 s.
fn caller(switch: &Switch, key_after_ms: u32) -> (common::SippRunning, UdpSocket) {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    let running = Sipp::new("caller_ivr_key_after_pause")
        .remote(switch.sip_addr())
        .service("100")
        .key("sink_port", &sink_port.to_string())
        .arg("-d")
        .arg(&key_after_ms.to_string())
        .timeout_secs(20)
        .spawn();
    (running, sink)
}

#[test]
fn the_queue_entry_comes_after_the_welcome_whether_the_key_barged_in_or_not() {
    let menu_ms = prompt_ms("choose_language");
    let welcome_ms = prompt_ms("welcome");
    let switch = switch();
    // 300 ms: during the menu prompt; 2,600 ms: after it ended.
    let (barging, _sink_a) = caller(&switch, 300);
    let (after, _sink_b) = caller(&switch, 2_600);
    barging.wait().assert_success(1);
    after.wait().assert_success(1);
    let records = common::poll_until(std::time::Duration::from_secs(5), || {
        let all = switch.json("/api/calls?window=15m")["calls"].as_array()?.clone();
        (all.iter().filter(|r| mark_at(r, "enqueued").is_some()).count() == 2).then_some(all)
    })
    .unwrap_or_else(|| panic!("two queued records: {:#}", switch.json("/api/calls?window=15m")));
    let mut keys = Vec::new();
    for record in &records {
        let arrival = mark_at(record, "arrival").unwrap();
        let key = mark_at(record, "menu_choice").unwrap_or_else(|| panic!("the key: {record:#}"));
        let enqueued = mark_at(record, "enqueued").unwrap();
        let key_after = key - arrival;
        let delay = if key_after < menu_ms { 300.0 } else { 2_600.0 };
        // The switch answers at once, so the caller's pause runs from about
        // the arrival: the key cannot come before it.
        assert!(
            key_after >= delay,
            "the key {key_after} ms after the arrival: {record:#}"
        );
        // The welcome starts on the leg's next 20 ms tick after the key, is
        // sent in whole packets, and its end is noticed on the tick after.
        let welcome_end = key + welcome_ms;
        assert!(
            enqueued >= welcome_end,
            "key at +{key_after} ms: queued {} ms before the {welcome_ms} ms welcome could end: {record:#}",
            welcome_end - enqueued
        );
        assert!(
            enqueued <= welcome_end + 100.0,
            "key at +{key_after} ms: queued {} ms after the welcome's end: {record:#}",
            enqueued - welcome_end
        );
        assert!(enqueued >= arrival + delay + welcome_ms, "{record:#}");
        keys.push((key_after, enqueued - key));
    }
    keys.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(
        keys[0].0 < menu_ms && keys[1].0 > menu_ms,
        "one barge-in, one after the prompt: {keys:?}"
    );
    eprintln!("(key after arrival, queue entry after key) in ms: {keys:?}; welcome {welcome_ms} ms");
}
