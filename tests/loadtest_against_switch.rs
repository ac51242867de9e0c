//! The load tester against the switch, small numbers: callers press 1 in a
//! menu that queues at once, two simulated agents answer. The tester's own
//! measures must agree with the switch's call records (answer time within
//! 5 ms per call), the HTML report must carry the JSON's numbers, and the
//! thresholds must turn into the exit code.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use clap::Parser;
use common::{Switch, SwitchConfig};

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

fn switch() -> Switch {
    let root = root();
    let extra = format!(
        "\n[[routes]]\nnumber = \"100\"\nflow = \"{root}/tests/flows/loadtest_press1.yaml\"\n\n[ivr]\nprompts = \"{root}/prompts\"\n\n\
         [[queues]]\nname = \"support\"\nagents = [\"1001\", \"1002\"]\nstrategy = \"longest_idle\"\nwrap_up_secs = 1\n"
    );
    Switch::start(SwitchConfig {
        extra_toml: extra,
        log_level: "info".into(),
        ..SwitchConfig::default()
    })
}

/// A scenario: `calls` callers at 2/s who press 1 after 300 ms and talk 1 s;
/// agents 1001 and 1002 ring 0.2-0.5 s, talk 1.5 s and wrap up 0.8 s (the
/// switch's 1 s wrap-up keeps them from offers longer).
fn write_scenario(switch: &Switch, dir: &Path, calls: u32) -> PathBuf {
    let root = root();
    let text = format!(
        "name = \"end-to-end\"\n\
         [target]\nsip = \"{sip}\"\n\
         [load]\nnumber = \"100\"\ncaller_prefix = \"777{calls}\"\nphases = [{{ rate = 2, secs = {secs} }}]\nmax_calls = {calls}\nmax_concurrent = 10\ndrain_secs = 30\n\
         [caller]\naudio = \"{root}/prompts/en/queue_wait.wav\"\nivr = [{{ wait_ms = 300, digits = \"1\" }}]\nqueue_after_ms = 0\ntalk_secs = 1.0\npatience_secs = 20.0\n\
         [agents]\nextensions = [\"1001\", \"1002\"]\npassword = \"secret{{ext}}\"\naudio = \"{root}/prompts/en/welcome.wav\"\n\
         ring_secs = {{ uniform = {{ min = 0.2, max = 0.5 }} }}\nhandle_secs = 1.5\nwrap_up_secs = 0.8\n",
        sip = switch.sip_addr(),
        secs = f64::from(calls) / 2.0 + 0.5,
    );
    let path = dir.join(format!("scenario-{calls}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str]) -> i32 {
    let args = loadtest::cli::Args::parse_from(std::iter::once("switchboard-loadtest").chain(args.iter().copied()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(loadtest::cli::main_with(args))
}

/// A JSON number as the report prints it (Rust's `Display` of the value).
fn number(v: &serde_json::Value) -> String {
    match (v.as_i64(), v.as_f64()) {
        (Some(i), _) => i.to_string(),
        (None, Some(f)) => f.to_string(),
        _ => panic!("not a number: {v}"),
    }
}

fn mark_at(record: &serde_json::Value, kind: &str) -> Option<f64> {
    record["marks"]
        .as_array()?
        .iter()
        .find(|m| m["what"]["kind"] == kind)
        .and_then(|m| m["at"].as_f64())
}

#[test]
fn a_short_run_measures_what_the_switch_recorded_and_reports_it() {
    let switch = switch();
    let dir = switch.dir().to_path_buf();
    let scenario = write_scenario(&switch, &dir, 6);
    let (json_path, html_path) = (dir.join("results.json"), dir.join("report.html"));
    let code = run(&[
        scenario.to_str().unwrap(),
        "--quiet",
        "--json",
        json_path.to_str().unwrap(),
        "--html",
        html_path.to_str().unwrap(),
        "--max-failed",
        "0%",
        "--max-p99-setup",
        "2s",
    ]);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let s = &json["summary"];
    assert_eq!(code, 0, "every limit held: {:#}", json["checks"]);
    assert_eq!(s["started"], 6, "{s:#}");
    assert_eq!(s["completed"], 6, "{s:#}");
    assert_eq!(s["failed"], 0, "{s:#}");
    assert_eq!(s["setup_200_ms"]["count"], 6, "{s:#}");
    assert_eq!(s["answer_ms"]["count"], 6, "{s:#}");
    assert!(s["setup_200_ms"]["p99"].as_f64().unwrap() > 0.0, "{s:#}");
    // Audio both ways went through the switch, stamped.
    assert!(s["latency_to_caller_ms"]["count"].as_u64().unwrap() > 100, "{s:#}");
    assert!(s["latency_to_agent_ms"]["count"].as_u64().unwrap() > 100, "{s:#}");
    assert!(s["rtp_expected"].as_u64().unwrap() > 500, "{s:#}");
    assert!(s["rtp_loss_percent"].as_f64().unwrap() < 1.0, "{s:#}");

    // Per call: the answer time the tester measured (the key's first packet
    // to the agent's first audio at the caller) is the switch's record of
    // queue entry to the agent's first audio, within 5 ms.
    let records = common::poll_until(std::time::Duration::from_secs(5), || {
        let calls = switch.json("/api/calls?window=15m");
        let all = calls["calls"].as_array()?.clone();
        (all.iter()
            .filter(|r| r["caller"].as_str().is_some_and(|c| c.starts_with("7776")))
            .count()
            == 6)
            .then_some(all)
    })
    .unwrap_or_else(|| panic!("six records: {:#}", switch.json("/api/calls?window=15m")));
    let calls = json["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 6);
    for call in calls {
        let caller = call["caller"].as_str().unwrap();
        let record = records
            .iter()
            .find(|r| r["caller"] == caller)
            .unwrap_or_else(|| panic!("no record for {caller}"));
        let enqueued = mark_at(record, "enqueued").unwrap();
        let heard = mark_at(record, "first_agent_audio").unwrap();
        let switch_ms = heard - enqueued;
        let tester_ms = call["answer_ms"].as_f64().unwrap();
        assert!(
            (tester_ms - switch_ms).abs() <= 5.0,
            "{caller}: the tester measured {tester_ms} ms, the switch recorded {switch_ms} ms: {call:#} {record:#}"
        );
        let agent = call["agent"].as_str().unwrap();
        assert!(
            record["marks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["what"]["agent"] == agent),
            "{caller} was answered by {agent}: {record:#}"
        );
    }

    // The report exists, embeds the same results and prints the same numbers.
    let html = std::fs::read_to_string(&html_path).unwrap();
    let start = html.find("<script type=\"application/json\" id=\"results\">").unwrap();
    let embedded = &html[start..];
    let embedded = &embedded[embedded.find('>').unwrap() + 1..embedded.find("</script>").unwrap()];
    let embedded: serde_json::Value = serde_json::from_str(&embedded.replace("<\\/", "</")).unwrap();
    assert_eq!(embedded, json, "the report embeds the JSON results");
    for key in [
        "started",
        "completed",
        "failed",
        "failed_percent",
        "rtp_expected",
        "rtp_lost",
    ] {
        let cell = format!("<td id=\"{key}\">{}</td>", number(&s[key]));
        assert!(html.contains(&cell), "report shows {cell}");
    }
    for measure in ["setup_200_ms", "answer_ms", "latency_to_caller_ms"] {
        let p = &s[measure];
        let row = format!(
            "<tr id=\"{measure}\"><th>{measure}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            number(&p["count"]),
            number(&p["min"]),
            number(&p["mean"]),
            number(&p["p50"]),
            number(&p["p90"]),
            number(&p["p95"]),
            number(&p["p99"]),
            number(&p["p999"]),
            number(&p["max"])
        );
        assert!(html.contains(&row), "report shows {row}");
    }
    assert!(html.matches("<svg").count() >= 3, "plots are inline SVG");

    // A limit the run cannot keep turns into exit code 1.
    let scenario = write_scenario(&switch, &dir, 2);
    let code = run(&[scenario.to_str().unwrap(), "--quiet", "--max-p99-setup", "0.001ms"]);
    assert_eq!(code, 1, "a broken limit fails the run");
}
