//! The demo IVR on extension 100 in a live call: a SIPp caller is answered by
//! the switch, hears the menu prompt (non-silent RTP at the test's socket),
//! presses 1 or 2 as RFC 4733 events, and is put through to the agent of the
//! `support` queue (a SIPp agent registered as 1001), who answers and gets
//! the BYE when the caller hangs up. The flow's branch is checked in the
//! switch's log (the language it switched to) and its metrics.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{register_sipp_agent, Sipp, Switch, SwitchConfig, Transport};

fn demo_switch() -> Switch {
    let root = env!("CARGO_MANIFEST_DIR");
    let extra = format!(
        "\n[[routes]]\nnumber = \"100\"\nflow = \"{root}/flows/demo.yaml\"\n\n[ivr]\nprompts = \"{root}/prompts\"\n\n\
         [[queues]]\nname = \"support\"\nagents = [\"1001\"]\n"
    );
    Switch::start(SwitchConfig {
        extra_toml: extra,
        ..SwitchConfig::for_sipp()
    })
}

/// Packets received on `socket` until it stays quiet for a second.
fn receive_all(socket: &UdpSocket) -> Vec<Vec<u8>> {
    socket.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut packets = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok((n, _)) = socket.recv_from(&mut buf) {
        packets.push(buf[..n].to_vec());
    }
    packets
}

fn ivr_call(scenario: &str) -> (Switch, Vec<Vec<u8>>) {
    let switch = demo_switch();
    let agent_port = common::free_port();
    register_sipp_agent(&switch, "1001", agent_port, Transport::Udp);
    let agent = Sipp::new("agent_answer_wait_bye")
        .local_port(agent_port)
        .key("ext", "1001")
        .timeout_secs(25)
        .spawn();
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    let caller = Sipp::new(scenario)
        .remote(switch.sip_addr())
        .service("100")
        .key("sink_port", &sink_port.to_string())
        .timeout_secs(25)
        .spawn();
    let prompt = receive_all(&sink);
    let caller = caller.wait();
    let agent = agent.wait();
    caller.assert_success(1);
    agent.assert_success(1);
    (switch, prompt)
}

/// The menu prompt reached the caller as PCMU that is not silence.
fn assert_prompt_audio(packets: &[Vec<u8>]) {
    assert!(
        packets.len() >= 40,
        "about 1.5 s of prompt expected, got {} packets",
        packets.len()
    );
    assert!(
        packets.iter().all(|p| p.len() == 172 && p[1] & 0x7f == 0),
        "20 ms PCMU packets"
    );
    let loud = packets
        .iter()
        .filter(|p| p[12..].iter().any(|&b| b != 0xff && b != 0x7f))
        .count();
    assert!(
        loud * 2 > packets.len(),
        "the prompt is speech, not silence: {loud} of {}",
        packets.len()
    );
}

#[test]
fn pressing_1_goes_english_and_reaches_the_agent() {
    let (switch, prompt) = ivr_call("caller_ivr_english");
    assert_prompt_audio(&prompt);
    let log = switch.log();
    assert!(
        log.contains("SetLanguage { language: \"en\" }"),
        "branch 1 sets English:\n{log}"
    );
    assert!(log.contains("agent joined"), "{log}");
    assert_eq!(switch.metric_sum("ivr_calls_total"), 1.0);
    // The prompts were played on the engine's 20 ms ticks, counted.
    assert!(
        switch.metric_sum("media_ticks_total") >= 50.0,
        "media_ticks_total {}",
        switch.metric_sum("media_ticks_total")
    );
    assert!(switch.metric_sum("dtmf_digits_total") >= 1.0);
}

#[test]
fn pressing_2_switches_the_prompts_to_spanish() {
    let (switch, prompt) = ivr_call("caller_ivr_spanish");
    assert_prompt_audio(&prompt);
    let log = switch.log();
    assert!(
        log.contains("SetLanguage { language: \"es\" }"),
        "branch 2 sets Spanish:\n{log}"
    );
    assert!(log.contains("es/welcome.wav"), "the welcome plays in Spanish:\n{log}");
    assert!(log.contains("agent joined"), "{log}");
    // The call record has the branch: Spanish, then the queue and the agent.
    let calls: serde_json::Value = serde_json::from_str(&switch.http_get("/api/calls?window=15m").body).unwrap();
    let record = &calls["calls"][0];
    assert_eq!(record["language"], "es", "{calls:#}");
    let kinds: Vec<&str> = record["marks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["what"]["kind"].as_str())
        .collect();
    assert!(
        kinds.starts_with(&[
            "arrival",
            "menu_choice",
            "ivr_exit",
            "enqueued",
            "offered",
            "agent_answered",
            "bridged"
        ]),
        "{kinds:?}"
    );
    let choice = &record["marks"][1]["what"];
    assert_eq!(
        (&choice["node"], &choice["digits"]),
        (&"choose_language".into(), &"2".into()),
        "the menu and the key pressed: {calls:#}"
    );
}

/// POST with an empty body; the status and the body.
fn post(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        common::CONTROL_TOKEN
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

#[test]
fn a_broken_flow_is_refused_with_its_position_and_the_old_one_keeps_serving() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir().unwrap();
    let flow = dir.path().join("demo.yaml");
    std::fs::copy(format!("{root}/flows/demo.yaml"), &flow).unwrap();
    let extra = format!(
        "\n[[routes]]\nnumber = \"100\"\nflow = \"{}\"\n\n[ivr]\nprompts = \"{root}/prompts\"\n",
        flow.display()
    );
    let switch = Switch::start(SwitchConfig {
        extra_toml: extra,
        ..SwitchConfig::for_sipp()
    });
    let good = std::fs::read_to_string(&flow).unwrap();
    std::fs::write(&flow, good.replace("start: choose_language", "start: nowhere")).unwrap();
    let (status, body) = post(switch.http_port, "/api/flows/reload");
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("demo.yaml:9:8"), "the error names its position: {body}");
    std::fs::write(&flow, &good).unwrap();
    let (status, body) = post(switch.http_port, "/api/flows/reload");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"flows\":1"), "{body}");
    // A change of the file alone reloads it (checked every 2 s).
    std::fs::write(&flow, good.replace("retries: 2", "retries: 1")).unwrap();
    let reloaded = common::poll_until(Duration::from_secs(6), || {
        (switch.metric_sum("ivr_flow_reloads_total") >= 2.0).then_some(())
    });
    assert!(reloaded.is_some(), "{}", switch.log());
}
