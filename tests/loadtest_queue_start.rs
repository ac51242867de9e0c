//! The load tester hears where the IVR ends: in a flow that plays the welcome
//! after the key and then queues, the caller recognises the start of the
//! queue's audio (the built-in melody's first tone, or the queue's music
//! file). The switch starts that audio on the leg's next 20 ms tick after
//! the queue entry (the welcome's end comes on a tick), so with
//! `lead_ms = 20` the answer time the tester measures agrees with the
//! switch's record (queue entry to the agent's first audio) within a few ms;
//! the check allows 13 (whole-ms marks, scheduling on a busy machine).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use clap::Parser;
use common::{Switch, SwitchConfig};

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

/// The switch with the welcome-then-queue flow on 100; `music`: the queue's
/// music file (none: the built-in melody).
fn switch(music: Option<&str>) -> Switch {
    let root = root();
    let music = music.map_or(String::new(), |m| format!("music_on_hold = \"{m}\"\n"));
    let extra = format!(
        "\n[[routes]]\nnumber = \"100\"\nflow = \"{root}/tests/flows/loadtest_welcome_queue.yaml\"\n\n[ivr]\nprompts = \"{root}/prompts\"\n\n\
         [[queues]]\nname = \"support\"\nagents = [\"1001\", \"1002\"]\nstrategy = \"longest_idle\"\nwrap_up_secs = 1\n{music}"
    );
    Switch::start(SwitchConfig {
        extra_toml: extra,
        log_level: "info".into(),
        ..SwitchConfig::default()
    })
}

/// Four callers at 2/s press 1 after 300 ms; the queue's start is heard by
/// `queue_audio` (a TOML inline table); agents answer after 0.2-0.5 s.
fn write_scenario(switch: &Switch, dir: &Path, queue_audio: &str) -> PathBuf {
    let root = root();
    let text = format!(
        "name = \"queue start\"\n\
         [target]\nsip = \"{sip}\"\n\
         [load]\nnumber = \"100\"\ncaller_prefix = \"888\"\nphases = [{{ rate = 2, secs = 2.5 }}]\nmax_calls = 4\nmax_concurrent = 10\ndrain_secs = 30\n\
         [caller]\naudio = \"{root}/prompts/en/queue_wait.wav\"\nivr = [{{ wait_ms = 300, digits = \"1\" }}]\n\
         queue_after_ms = 3566\nqueue_audio = {queue_audio}\ntalk_secs = 1.0\npatience_secs = 20.0\n\
         [agents]\nextensions = [\"1001\", \"1002\"]\npassword = \"secret{{ext}}\"\naudio = \"{root}/prompts/en/welcome.wav\"\n\
         ring_secs = {{ uniform = {{ min = 0.2, max = 0.5 }} }}\nhandle_secs = 1.5\nwrap_up_secs = 0.8\n",
        sip = switch.sip_addr(),
    );
    let path = dir.join("scenario.toml");
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

fn mark_at(record: &serde_json::Value, kind: &str) -> Option<f64> {
    record["marks"]
        .as_array()?
        .iter()
        .find(|m| m["what"]["kind"] == kind)
        .and_then(|m| m["at"].as_f64())
}

/// Runs four calls and checks every one against the switch's record.
fn answer_times_agree(music: Option<&str>, queue_audio: &str) {
    let switch = switch(music);
    let dir = switch.dir().to_path_buf();
    let scenario = write_scenario(&switch, &dir, queue_audio);
    let json_path = dir.join("results.json");
    let code = run(&[
        scenario.to_str().unwrap(),
        "--quiet",
        "--json",
        json_path.to_str().unwrap(),
        "--max-failed",
        "0%",
    ]);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(code, 0, "every limit held: {:#}", json["checks"]);
    assert_eq!(json["summary"]["completed"], 4, "{:#}", json["summary"]);
    let records = common::poll_until(std::time::Duration::from_secs(5), || {
        let all = switch.json("/api/calls?window=15m")["calls"].as_array()?.clone();
        (all.iter().filter(|r| mark_at(r, "first_agent_audio").is_some()).count() == 4).then_some(all)
    })
    .unwrap_or_else(|| panic!("four answered records: {:#}", switch.json("/api/calls?window=15m")));
    let mut diffs = Vec::new();
    for call in json["calls"].as_array().unwrap() {
        let caller = call["caller"].as_str().unwrap();
        let record = records.iter().find(|r| r["caller"] == caller).unwrap();
        assert_eq!(
            call["ivr_end_heard"], true,
            "{caller}: the queue's start was heard: {call:#}"
        );
        let enqueued = mark_at(record, "enqueued").unwrap();
        let heard = mark_at(record, "first_agent_audio").unwrap();
        let switch_ms = heard - enqueued;
        let tester_ms = call["answer_ms"].as_f64().unwrap();
        assert!(
            (tester_ms - switch_ms).abs() <= 13.0,
            "{caller}: the tester measured {tester_ms} ms, the switch recorded {switch_ms} ms: {call:#} {record:#}"
        );
        diffs.push(tester_ms - switch_ms);
    }
    eprintln!("answer time, tester minus switch, per call (ms): {diffs:?}");
}

#[test]
fn the_built_in_melody_s_first_tone_marks_the_queue_entry() {
    answer_times_agree(None, "{ tone_hz = 523.3, lead_ms = 20 }");
}

#[test]
fn the_queue_s_music_file_marks_the_queue_entry() {
    answer_times_agree(
        Some("en/queue_wait.wav"),
        &format!("{{ file = \"{}/prompts/en/queue_wait.wav\", lead_ms = 20 }}", root()),
    );
}
