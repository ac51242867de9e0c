//! Queues end to end with real SIP peers: SIPp callers wait in the `support`
//! queue, SIPp agents registered with the switch answer after ringing, and
//! the answer times the stats API reports are the ones SIPp saw on the wire.
//! Callers who hang up while queued are counted as abandons or, when they
//! leave within 5 s, as short abandons.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{register_sipp_agent, Sipp, SippOutcome, Switch, SwitchConfig, Transport};

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

fn queue_switch(route: &str, flow: &str, queue_toml: &str) -> Switch {
    let root = root();
    let extra = format!(
        "\n[[routes]]\nnumber = \"{route}\"\nflow = \"{root}/{flow}\"\n\n[ivr]\nprompts = \"{root}/prompts\"\n\n{queue_toml}"
    );
    Switch::start(SwitchConfig {
        extra_toml: extra,
        ..SwitchConfig::for_sipp()
    })
}

/// When each caller (by From number) got its 200 OK: the moment it joined
/// the queue, since the flow queues at once.
fn caller_answered(sipp: &SippOutcome) -> BTreeMap<String, f64> {
    sipp.trace()
        .into_iter()
        .filter(|(_, m)| m.contains("message received") && m.contains("SIP/2.0 200 OK") && m.contains(" INVITE"))
        .filter_map(|(t, m)| Some((common::sip_from_user(&m)?, t)))
        .collect()
}

/// When each caller (by From number) last sent its INVITE.
fn caller_invited(sipp: &SippOutcome) -> BTreeMap<String, f64> {
    let mut sent = BTreeMap::new();
    for (t, m) in sipp.trace() {
        if m.contains("message sent") && m.contains("INVITE sip:") {
            if let Some(user) = common::sip_from_user(&m) {
                let at = sent.entry(user).or_insert(t);
                *at = f64::max(*at, t);
            }
        }
    }
    sent
}

/// When the agent sent its 200 OK to the INVITE for each caller.
fn agent_answered(sipp: &SippOutcome) -> BTreeMap<String, f64> {
    sipp.trace()
        .into_iter()
        .filter(|(_, m)| m.contains("message sent") && m.contains("SIP/2.0 200 OK") && m.contains(" INVITE"))
        .filter_map(|(t, m)| Some((common::sip_from_user(&m)?, t)))
        .collect()
}

/// The first mark of `kind` in a record from the API, in milliseconds.
fn mark_at(record: &serde_json::Value, kind: &str) -> Option<u64> {
    record["marks"]
        .as_array()?
        .iter()
        .find(|m| m["what"]["kind"] == kind)
        .and_then(|m| m["at"].as_u64())
}

#[test]
fn answer_times_in_the_stats_api_are_the_ones_sipp_saw() {
    let switch = queue_switch(
        "101",
        "tests/flows/queue_now.yaml",
        "[[queues]]\nname = \"support\"\nagents = [\"1001\"]\nwrap_up_secs = 1\n",
    );
    let agent_port = common::free_port();
    register_sipp_agent(&switch, "1001", agent_port, Transport::Udp);
    let agent = Sipp::new("agent_answers_after_delay")
        .local_port(agent_port)
        .key("ext", "1001")
        .calls(3)
        .timeout_secs(30)
        .spawn();
    // Three callers 100 ms apart for one agent who rings 0.8 s, talks 1 s
    // and wraps up 1 s: they wait about 0.8 s, 3.5 s and 6.2 s.
    let callers = Sipp::new("caller_queued_waits_bye")
        .remote(switch.sip_addr())
        .service("101")
        .calls(3)
        .timeout_secs(30)
        .run();
    let agent = agent.wait();
    callers.assert_success(3);
    agent.assert_success(3);

    let invited = caller_invited(&callers);
    let entered = caller_answered(&callers);
    let answered = agent_answered(&agent);
    assert_eq!(
        entered.len(),
        3,
        "three callers answered by the switch:\n{}",
        callers.messages
    );
    assert_eq!(
        answered.len(),
        3,
        "three calls answered by the agent:\n{}",
        agent.messages
    );

    let calls = switch.json("/api/calls?window=15m");
    let records = calls["calls"].as_array().unwrap();
    let (mut waits, mut api_waits) = (Vec::new(), Vec::new());
    for (caller, joined) in &entered {
        let seen_ms = (answered[caller] - joined) * 1000.0;
        // The `enqueued` mark is the moment the switch read the INVITE: it
        // lies between the caller's INVITE and the 200 OK the caller got,
        // and `bridged` follows the agent's 200 by its trip to the switch.
        // So the API's wait is SIPp's plus at most the caller's set-up time.
        let set_up_ms = (joined - invited[caller]) * 1000.0;
        let record = records
            .iter()
            .find(|r| r["caller"] == caller.as_str())
            .unwrap_or_else(|| panic!("no record for {caller}: {calls:#}"));
        let enqueued = mark_at(record, "enqueued").unwrap();
        let bridged = mark_at(record, "bridged").unwrap();
        let api_ms = (bridged - enqueued) as f64;
        assert!(
            api_ms >= seen_ms - 2.0 && api_ms <= seen_ms + set_up_ms + 5.0,
            "{caller}: the API says {api_ms} ms in the queue, SIPp saw {seen_ms:.1} ms after a set-up of \
             {set_up_ms:.1} ms ({invited:?} {entered:?} {answered:?})"
        );
        waits.push(seen_ms);
        api_waits.push(api_ms);
    }
    waits.sort_by(f64::total_cmp);
    assert!(
        waits[0] >= 700.0 && waits[2] >= 5000.0,
        "callers queued behind each other: {waits:?}"
    );

    let stats = switch.json("/api/queues/support/stats?window=15m");
    let stats = &stats["stats"];
    assert_eq!(stats["offered"], 3, "{stats:#}");
    assert_eq!(stats["answered"], 3, "{stats:#}");
    assert_eq!(stats["abandoned"], 0, "{stats:#}");
    // ASA is the mean of the records' waits (each checked against the
    // wire above), so anyone can recompute it from the records.
    let asa_ms = stats["asa_secs"].as_f64().unwrap() * 1000.0;
    let mean = api_waits.iter().sum::<f64>() / 3.0;
    assert!(
        (asa_ms - mean).abs() <= 1.0,
        "ASA {asa_ms} ms, the records' mean {mean:.1} ms"
    );
    // 20 s threshold: all three; the wait histogram has the SL buckets.
    assert_eq!(stats["service_level"][0]["threshold_secs"], 20);
    assert_eq!(stats["service_level"][0]["value"], 1.0);
    let metrics = switch.metrics();
    assert!(
        metrics.contains("acd_queue_wait_seconds_bucket{queue=\"support\",le=\"20\"}"),
        "{metrics}"
    );

    // Each call's record has the quality of both of its media legs.
    let legs = common::poll_until(Duration::from_secs(3), || {
        let calls = switch.json("/api/calls?window=15m");
        let all = calls["calls"].as_array()?.iter().all(|r| {
            let sides: Vec<&str> = r["legs"]
                .as_array()
                .map(|l| l.iter().filter_map(|l| l["side"].as_str()).collect())
                .unwrap_or_default();
            sides.contains(&"caller") && sides.contains(&"agent")
        });
        all.then_some(calls)
    });
    let calls = legs.unwrap_or_else(|| panic!("legs in every record: {:#}", switch.json("/api/calls?window=15m")));
    let agent_leg = calls["calls"][0]["legs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["side"] == "agent")
        .unwrap()
        .clone();
    assert_eq!(agent_leg["agent"], "1001", "{agent_leg:#}");
    assert!(
        agent_leg["mos"].as_f64().is_some_and(|m| (1.0..=4.5).contains(&m)),
        "{agent_leg:#}"
    );

    // `switchboard report` recomputes the same figures from the stored records.
    let to = stats_window_end(&switch);
    let from = to - 15 * 60 * 1000;
    let live = switch.json(&format!("/api/queues/support/stats?from={from}&to={to}"));
    let stored = common::poll_until(Duration::from_secs(3), || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["report", "--queue", "support", "--json"])
            .args(["--from", &from.to_string(), "--to", &to.to_string()])
            .arg("--config")
            .arg(switch.dir().join("switchboard.toml"))
            .current_dir(switch.dir())
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        (report["stats"]["answered"] == 3).then_some(report)
    })
    .expect("the report sees the three calls");
    assert_eq!(stored, live, "report and API agree");
}

/// Now on the switch's clock, in Unix milliseconds (from the board).
fn stats_window_end(switch: &Switch) -> u64 {
    switch.json("/api/queues")["at_ms"].as_u64().unwrap() + 1
}

/// When the agent received each INVITE (the offer), by caller number.
fn agent_offered(sipp: &SippOutcome) -> BTreeMap<String, f64> {
    sipp.trace()
        .into_iter()
        .filter(|(_, m)| m.contains("message received") && m.contains("INVITE sip:"))
        .filter_map(|(t, m)| Some((common::sip_from_user(&m)?, t)))
        .collect()
}

#[test]
fn through_the_demo_ivr_the_answer_time_is_the_one_the_agent_saw() {
    let switch = queue_switch(
        "100",
        "flows/demo.yaml",
        "[[queues]]\nname = \"support\"\nagents = [\"1001\"]\n",
    );
    let agent_port = common::free_port();
    register_sipp_agent(&switch, "1001", agent_port, Transport::Udp);
    let agent = Sipp::new("agent_answer_wait_bye")
        .local_port(agent_port)
        .key("ext", "1001")
        .timeout_secs(25)
        .spawn();
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port().to_string();
    // Presses 1 (English), hears the welcome, joins `support`; the agent is
    // free, so the offer goes out at queue entry and the wait is its ring.
    let caller = Sipp::new("caller_ivr_english")
        .remote(switch.sip_addr())
        .service("100")
        .key("sink_port", &sink_port)
        .timeout_secs(25)
        .run();
    let agent = agent.wait();
    caller.assert_success(1);
    agent.assert_success(1);
    let offered = agent_offered(&agent);
    let answered = agent_answered(&agent);
    let (number, rung) = offered.iter().next().expect("the agent was rung");
    let seen_ms = (answered[number] - rung) * 1000.0;

    let calls = switch.json("/api/calls?window=15m");
    let record = &calls["calls"][0];
    assert_eq!(record["language"], "en", "{calls:#}");
    let wait_ms = (mark_at(record, "bridged").unwrap() - mark_at(record, "enqueued").unwrap()) as f64;
    assert!(
        (wait_ms - seen_ms).abs() <= 5.0,
        "the API says {wait_ms} ms in the queue, the agent rang for {seen_ms:.1} ms"
    );
    let stats = switch.json("/api/queues/support/stats?window=15m");
    let asa_ms = stats["stats"]["asa_secs"].as_f64().unwrap() * 1000.0;
    assert!((asa_ms - seen_ms).abs() <= 5.0, "ASA {asa_ms} ms, SIPp {seen_ms:.1} ms");
}

#[test]
fn callers_who_hang_up_in_the_queue_are_abandons_or_short_abandons() {
    let switch = queue_switch(
        "100",
        "flows/demo.yaml",
        "[[queues]]\nname = \"support\"\nagents = [\"1001\"]\n",
    );
    // Nobody is registered: the callers wait until they give up.
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port().to_string();
    let early = Sipp::new("caller_ivr_abandons_early")
        .remote(switch.sip_addr())
        .service("100")
        .key("sink_port", &sink_port)
        .timeout_secs(25)
        .spawn();
    let late = Sipp::new("caller_ivr_abandons")
        .remote(switch.sip_addr())
        .service("100")
        .key("sink_port", &sink_port)
        .timeout_secs(25)
        .spawn();
    early.wait().assert_success(1);
    late.wait().assert_success(1);

    let stats = switch.json("/api/queues/support/stats?window=15m");
    let stats = &stats["stats"];
    let calls = switch.json("/api/calls?window=15m");
    assert_eq!(stats["short_abandoned"], 1, "left within 5 s: {stats:#} {calls:#}");
    assert_eq!(stats["abandoned"], 1, "{stats:#}");
    assert_eq!(stats["offered"], 1, "short abandons are not offered calls: {stats:#}");
    assert_eq!(stats["abandon_rate"], 1.0, "{stats:#}");
    let abandons = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| mark_at(r, "abandoned").is_some())
        .count();
    assert_eq!(abandons, 2, "both records say abandoned: {calls:#}");
    // The board is published every second.
    let emptied = common::poll_until(Duration::from_secs(3), || {
        let board = switch.json("/api/queues");
        let waiting = board["queues"].as_array()?.iter().find(|q| q["name"] == "support")?["waiting"].as_u64();
        (waiting == Some(0)).then_some(())
    });
    assert!(emptied.is_some(), "the queue is empty again");
}

fn agent_state(switch: &Switch, agent: &str) -> serde_json::Value {
    let agents = switch.json("/api/agents");
    agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == agent)
        .cloned()
        .unwrap_or_else(|| panic!("no agent {agent}: {agents:#}"))
}

fn feature_code(switch: &Switch, code: &str) {
    Sipp::new("agent_feature_code")
        .remote(switch.sip_addr())
        .service(code)
        .key("ext", "1001")
        .auth("1001", switch.config.password_of("1001"))
        .timeout_secs(10)
        .run()
        .assert_success(1);
}

#[test]
fn agents_pause_and_resume_with_feature_codes_and_the_api() {
    let switch = queue_switch(
        "101",
        "tests/flows/queue_now.yaml",
        "[[queues]]\nname = \"support\"\nagents = [\"1001\"]\n",
    );
    register_sipp_agent(&switch, "1001", common::free_port(), Transport::Udp);
    assert_eq!(agent_state(&switch, "1001")["state"], "available");

    feature_code(&switch, "*47");
    let paused = agent_state(&switch, "1001");
    assert_eq!(paused["state"], "paused", "{paused:#}");
    assert_eq!(paused["reason"], "break", "{paused:#}");
    feature_code(&switch, "*48");
    assert_eq!(agent_state(&switch, "1001")["state"], "available");
    feature_code(&switch, "*46");
    assert_eq!(agent_state(&switch, "1001")["state"], "logged_out");
    let calls = switch.json("/api/calls?window=15m");
    assert_eq!(
        calls["calls"].as_array().map(Vec::len),
        Some(0),
        "feature codes are no customer calls: {calls:#}"
    );

    let post = |body: &str, agent: &str| {
        common::http_post(switch.http_addr(), &format!("/api/agents/{agent}/state"), body).unwrap()
    };
    let answer = post(r#"{"state": "login"}"#, "1001");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = post(r#"{"state": "pause", "reason": "lunch"}"#, "1001");
    let agent: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(
        (agent["state"].as_str(), agent["reason"].as_str()),
        (Some("paused"), Some("lunch"))
    );
    assert_eq!(post(r#"{"state": "asleep"}"#, "1001").status, 422);
    assert_eq!(post(r#"{"state": "login"}"#, "9999").status, 404);
    assert_eq!(post("not json", "1001").status, 400);
    // Gauges of agents by state, refreshed every second.
    let gauge = common::poll_until(Duration::from_secs(3), || {
        let metrics = switch.metrics();
        metrics
            .contains("acd_agents{queue=\"support\",state=\"paused\"} 1")
            .then_some(())
    });
    assert!(gauge.is_some(), "{}", switch.metrics());
}
