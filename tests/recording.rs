//! Call recording end to end with real SIP peers: a SIPp caller queued in
//! `support` and a SIPp agent both play speech (SIPp's g711a.pcap) through
//! the switch, which records the bridged call as a stereo WAV with a
//! sidecar. Pause and resume through the API leave silence and a pause in
//! the sidecar; a switch killed with SIGKILL mid-call leaves a file that
//! hound and sox read after the next start, and the call record points to
//! it; the API refuses recordings without a token and deletion with a read
//! token; deletion is audited; a QA evaluation shows in the agent's and the
//! queue's quality rate.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{http_request_as, register_sipp_agent, Sipp, Switch, SwitchConfig, Transport, READ_TOKEN};

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

/// A switch whose queue `support` records every call, with its database and
/// recordings in `data` (so a second switch can start on them).
fn recording_switch(data: &Path) -> Switch {
    let root = root();
    let data = data.display();
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
wrap_up_secs = 1

[storage]
path = "{data}/switchboard.db"

[recording]
dir = "{data}/recordings"
default = "never"
retention_days = 30

[recording.queues.support]
recording = "always"

[qa]
criteria = [
    {{ name = "greeting", weight = 1 }},
    {{ name = "resolution", weight = 3 }},
]
"#
    );
    Switch::start(SwitchConfig {
        extra_toml: extra,
        ..SwitchConfig::for_sipp()
    })
}

fn json(response: &common::HttpResponse) -> serde_json::Value {
    serde_json::from_str(&response.body).unwrap_or_else(|e| panic!("{e}: {}", response.body))
}

fn api(switch: &Switch, method: &str, path: &str, body: Option<&str>) -> common::HttpResponse {
    http_request_as(switch.http_addr(), method, path, body, Some(common::CONTROL_TOKEN)).unwrap()
}

/// The bytes of a GET (the harness's client reads text).
fn download(addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        common::CONTROL_TOKEN
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = raw[end + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap().trim(), 16).unwrap();
            rest = &rest[nl + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = out;
    }
    (status, head, body)
}

/// The live record of the one call in progress (its id).
fn live_call(switch: &Switch) -> String {
    common::poll_until(Duration::from_secs(10), || {
        let calls = json(&api(switch, "GET", "/api/calls?window=15m", None));
        calls["calls"]
            .as_array()?
            .iter()
            .find(|c| c["end"].is_null())
            .and_then(|c| c["id"].as_str().map(str::to_owned))
    })
    .expect("a live call")
}

/// The recordings of the index (deleted ones too).
fn recordings(switch: &Switch) -> Vec<serde_json::Value> {
    json(&api(switch, "GET", "/api/recordings?deleted=true", None))["recordings"]
        .as_array()
        .unwrap()
        .clone()
}

/// RMS of each channel of interleaved stereo samples in `[from, to)` seconds.
fn rms(samples: &[i16], rate: u32, from: f64, to: f64) -> (f64, f64) {
    let frames = samples.len() / 2;
    let a = ((from * f64::from(rate)) as usize).min(frames);
    let b = ((to * f64::from(rate)) as usize).min(frames);
    let (mut l, mut r) = (0.0, 0.0);
    for f in a..b {
        l += f64::from(samples[2 * f]).powi(2);
        r += f64::from(samples[2 * f + 1]).powi(2);
    }
    let n = (b - a).max(1) as f64;
    ((l / n).sqrt(), (r / n).sqrt())
}

fn start_call(switch: &Switch) -> (common::SippRunning, common::SippRunning) {
    let agent_port = common::free_port();
    register_sipp_agent(switch, "1001", agent_port, Transport::Udp);
    let agent = Sipp::new("agent_answers_plays_audio")
        .local_port(agent_port)
        .key("ext", "1001")
        .timeout_secs(60)
        .spawn();
    let caller = Sipp::new("caller_queued_plays_audio")
        .remote(switch.sip_addr())
        .service("101")
        .timeout_secs(60)
        .spawn();
    (agent, caller)
}

#[test]
fn a_bridged_call_is_recorded_in_stereo_with_a_pause_a_sidecar_an_audit_and_a_score() {
    common::require_tool("sox", "sox");
    let data = tempfile::tempdir().unwrap();
    let switch = recording_switch(data.path());
    let (agent, caller) = start_call(&switch);
    let call = live_call(&switch);
    // The agent is bridged 1.5 s into the call at the latest; the caller's
    // speech starts then. Pause 3 s in, resume 5 s in.
    let recording = common::poll_until(Duration::from_secs(5), || {
        recordings(&switch).into_iter().find(|r| r["call_id"] == call.as_str())
    })
    .expect("a recording of the call");
    std::thread::sleep(Duration::from_millis(1500));
    let paused = api(
        &switch,
        "POST",
        &format!("/api/calls/{call}/recording/pause"),
        Some("{}"),
    );
    assert_eq!(paused.status, 200, "{}", paused.body);
    let again = api(
        &switch,
        "POST",
        &format!("/api/calls/{call}/recording/pause"),
        Some("{}"),
    );
    assert_eq!(again.status, 409, "paused already: {}", again.body);
    std::thread::sleep(Duration::from_secs(2));
    let resumed = api(
        &switch,
        "POST",
        &format!("/api/calls/{call}/recording/resume"),
        Some("{}"),
    );
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    caller.wait().assert_success(1);
    agent.wait().assert_success(1);

    let id = recording["id"].as_str().unwrap().to_owned();
    let done = common::poll_until(Duration::from_secs(10), || {
        let r = json(&api(&switch, "GET", &format!("/api/recordings/{id}"), None));
        (r["recording"]["state"] == "complete" && !r["sidecar"].is_null()).then_some(r)
    })
    .unwrap_or_else(|| panic!("recording {id} not complete with a sidecar:\n{}", switch.log()));
    let row = &done["recording"];
    assert_eq!(row["queue"], "support");
    assert_eq!(row["agent"], "1001");
    assert_eq!(row["caller"], "+4930123456");
    let pauses = row["pauses"].as_array().unwrap();
    assert_eq!(pauses.len(), 1, "{row}");
    let started = row["started_ms"].as_u64().unwrap();
    let pause_from = (pauses[0]["from_ms"].as_u64().unwrap() - started) as f64 / 1000.0;
    let pause_to = (pauses[0]["to_ms"].as_u64().unwrap() - started) as f64 / 1000.0;
    assert!(
        (1.9..2.8).contains(&(pause_to - pause_from)),
        "{pause_from} to {pause_to}"
    );
    let sidecar = &done["sidecar"];
    assert_eq!(sidecar["call_id"], call.as_str());
    assert_eq!(sidecar["pauses"].as_array().map(Vec::len), Some(1), "{sidecar}");
    assert_eq!(sidecar["layout"], "caller_left_agent_right");

    // The WAV, streamed: stereo 8 kHz, speech on both channels, silence
    // while paused.
    let (status, head, wav) = download(switch.http_addr(), &format!("/api/recordings/{id}/audio"));
    assert_eq!(status, 200, "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: audio/wav"), "{head}");
    let file = data.path().join("audio.wav");
    std::fs::write(&file, &wav).unwrap();
    let mut reader = hound::WavReader::open(&file).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (2, 8000, 16));
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let (caller_speech, agent_speech) = rms(&samples, 8000, pause_to + 0.3, pause_to + 2.0);
    assert!(
        caller_speech > 300.0 && agent_speech > 300.0,
        "speech after resume: {caller_speech} {agent_speech}"
    );
    let (caller_paused, agent_paused) = rms(&samples, 8000, pause_from + 0.1, pause_to - 0.1);
    assert!(
        caller_paused < 1.0 && agent_paused < 1.0,
        "while paused: {caller_paused} {agent_paused}"
    );
    let sox = std::process::Command::new("sox")
        .arg("--i")
        .arg(&file)
        .output()
        .unwrap();
    assert!(sox.status.success(), "{}", String::from_utf8_lossy(&sox.stderr));

    // The call record points to the file.
    let calls = json(&api(&switch, "GET", "/api/calls?window=15m", None));
    let record = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == call.as_str())
        .unwrap()
        .clone();
    let mark = record["marks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["what"]["kind"] == "recorded")
        .unwrap_or_else(|| panic!("no recorded mark: {record}"));
    assert_eq!(mark["what"]["recording"], id.as_str());
    assert_eq!(mark["what"]["path"], row["path"]);

    // Tokens: none, 401; read may list but not delete.
    let addr = switch.http_addr();
    for path in ["/api/recordings", &format!("/api/recordings/{id}/audio")] {
        let r = http_request_as(addr, "GET", path, None, None).unwrap();
        assert_eq!(r.status, 401, "{path} without a token");
    }
    assert_eq!(
        http_request_as(addr, "GET", "/api/recordings", None, Some(READ_TOKEN))
            .unwrap()
            .status,
        200
    );
    let path = format!("/api/recordings/{id}");
    assert_eq!(http_request_as(addr, "DELETE", &path, None, None).unwrap().status, 401);
    assert_eq!(
        http_request_as(addr, "DELETE", &path, None, Some(READ_TOKEN))
            .unwrap()
            .status,
        403
    );

    // A QA evaluation: (8 * 1 + 6 * 3) / 4 = 6.5 of 10.
    let posted = api(
        &switch,
        "POST",
        &format!("/api/recordings/{id}/evaluations"),
        Some(r#"{"evaluator": "qa-lead", "scores": {"greeting": 8, "resolution": 6}, "comment": "ok"}"#),
    );
    assert_eq!(posted.status, 201, "{}", posted.body);
    assert!((json(&posted)["total"].as_f64().unwrap() - 6.5).abs() < 1e-9);
    let listed = json(&api(&switch, "GET", &format!("/api/recordings/{id}/evaluations"), None));
    assert_eq!(listed["evaluations"].as_array().map(Vec::len), Some(1));
    for path in [
        "/api/queues/support/stats?window=15m",
        "/api/queues/support/stats?window=15m&agent=1001",
        "/api/agents/1001/stats?window=15m",
    ] {
        let stats = json(&api(&switch, "GET", path, None));
        assert_eq!(stats["stats"]["qa_evaluations"], 1, "{stats}");
        assert!(
            (stats["stats"]["quality_rate"].as_f64().unwrap() - 0.65).abs() < 1e-9,
            "{stats}"
        );
    }

    // Deleted with the control token: files gone, row kept, audited.
    let deleted = api(
        &switch,
        "DELETE",
        &format!("/api/recordings/{id}?why=customer%20request"),
        None,
    );
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let wav_path = PathBuf::from(row["path"].as_str().unwrap());
    assert!(!wav_path.exists() && !wav_path.with_extension("json").exists());
    let after = json(&api(&switch, "GET", &format!("/api/recordings/{id}"), None));
    assert_eq!(after["recording"]["deleted_by"], "test-controller");
    assert_eq!(after["recording"]["deleted_why"], "customer request");
    assert_eq!(after["audit"][0]["who"], "test-controller");
    assert_eq!(after["audit"][0]["action"], "delete_recording");
    let (status, _, _) = download(addr, &format!("/api/recordings/{id}/audio"));
    assert_eq!(status, 410);
}

#[test]
fn a_switch_killed_mid_call_leaves_a_recording_that_plays_after_the_next_start() {
    common::require_tool("sox", "sox");
    let data = tempfile::tempdir().unwrap();
    let switch = recording_switch(data.path());
    let (agent, caller) = start_call(&switch);
    let call = live_call(&switch);
    let recording = common::poll_until(Duration::from_secs(5), || {
        recordings(&switch).into_iter().find(|r| r["call_id"] == call.as_str())
    })
    .expect("a recording of the call");
    let wav = PathBuf::from(recording["path"].as_str().unwrap());
    let busy = api(
        &switch,
        "DELETE",
        &format!("/api/recordings/{}", recording["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(busy.status, 409, "not while it is written: {}", busy.body);
    // Let a few seconds of audio reach the disk, then SIGKILL.
    std::thread::sleep(Duration::from_secs(3));
    drop(switch);
    drop(caller);
    drop(agent);
    assert!(wav.exists(), "{} was written", wav.display());

    let switch = recording_switch(data.path());
    let id = recording["id"].as_str().unwrap();
    let row = json(&api(&switch, "GET", &format!("/api/recordings/{id}"), None));
    assert_eq!(row["recording"]["state"], "interrupted", "{row}");
    let duration = row["recording"]["duration_ms"].as_u64().unwrap();
    assert!(duration >= 1000, "{duration} ms kept");
    let mut reader = hound::WavReader::open(&wav).unwrap();
    assert_eq!(reader.spec().channels, 2);
    let samples = reader.samples::<i16>().count();
    assert!(samples >= 2 * 8000, "{samples} samples");
    let sox = std::process::Command::new("sox")
        .arg(&wav)
        .arg("-n")
        .arg("stat")
        .output()
        .unwrap();
    assert!(sox.status.success(), "sox: {}", String::from_utf8_lossy(&sox.stderr));
    // The call record (closed as interrupted) points to the file.
    let calls = json(&api(&switch, "GET", "/api/calls?window=15m", None));
    let record = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == call.as_str())
        .unwrap()
        .clone();
    assert_eq!(record["end"], "interrupted");
    assert!(
        record["marks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["what"]["kind"] == "recorded" && m["what"]["path"] == wav.display().to_string().as_str()),
        "{record}"
    );
}
