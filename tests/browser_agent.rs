//! The agent page in a real browser: headless Chromium (Debian's
//! `chromium`, a WAV tone as its fake microphone) opens /agent, logs in with
//! the agent's SIP credentials (the page registers with JsSIP over /ws), and
//! takes a call from a SIPp caller who went through the demo IVR (pressed 1)
//! into `support`: the page shows the call with its context (caller, queue,
//! language, the menu choice, the wait so far), the test clicks Answer, the
//! caller speaks (SIPp's PCMA recording) while the browser sends its tone in
//! Opus through the switch's WebRTC media; the test clicks Hang up.
//! Checked on the server: Chromium sends narrowband Opus as the offer asked
//! (the caller is G.711), RTP on both legs in the call record, the browser
//! agent and its answer time there, and a stereo recording with sound on
//! both channels.
#![allow(clippy::unwrap_used)]

mod browser_cdp;
mod common;
mod ws_phone;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use browser_cdp::{agent_log_in as log_in, agent_page_log as page_log, tone_wav, Browser};
use common::{poll_until, Sipp, Switch, SwitchConfig, Transport};
use ws_phone::record::{ended_call, leg_packets, marks};

fn switch_with_demo_ivr(data: &Path) -> Switch {
    let root = env!("CARGO_MANIFEST_DIR");
    let data = data.display();
    let extra = format!(
        r#"
[[routes]]
number = "100"
flow = "{root}/flows/demo.yaml"

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

[recording.queues.support]
recording = "always"
"#
    );
    Switch::start(SwitchConfig {
        extra_toml: extra,
        // media::webrtc at debug: what the browser's encoder sends.
        log_level: "info,media::webrtc=debug".into(),
        ..SwitchConfig::for_sipp()
    })
}

fn json(switch: &Switch, path: &str) -> serde_json::Value {
    switch.json(path)
}

/// The bytes of a GET with the control token (chunked bodies joined).
fn download(addr: SocketAddr, path: &str) -> Vec<u8> {
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
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let body = raw[end + 4..].to_vec();
    if !head.contains("transfer-encoding: chunked") {
        return body;
    }
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
    out
}

#[test]
fn the_agent_page_answers_a_queue_call_with_audio_both_ways_and_hangs_up() {
    let data = tempfile::tempdir().unwrap();
    let switch = switch_with_demo_ivr(data.path());
    let microphone = data.path().join("microphone.wav");
    tone_wav(&microphone, 30);
    let mut browser = Browser::open(&format!("http://{}/agent", switch.http_addr()), Some(&microphone));

    log_in(&mut browser, "1001", "secret1001");
    if !browser.wait_for("window.agentPage.registered", Duration::from_secs(10)) {
        panic!("the page's phone did not register:\n{}", page_log(&mut browser));
    }
    // JsSIP in the browser registered through /ws: the binding is a WebSocket flow.
    let binding = switch
        .wait_for_registration("1001", Duration::from_secs(2), |r| r.source.starts_with("WS:"))
        .unwrap_or_else(|| panic!("no WS binding: {:?}", switch.registrations()));
    assert!(binding.contact.contains("transport=ws"), "{:?}", binding.raw);
    let ready = poll_until(Duration::from_secs(5), || {
        let agents = json(&switch, "/api/agents");
        let me = agents["agents"].as_array()?.iter().find(|a| a["id"] == "1001")?.clone();
        (me["state"] == "available" && me["reachable"] == true).then_some(me)
    });
    assert!(
        ready.is_some(),
        "agent 1001 available and reachable: {}",
        json(&switch, "/api/agents")
    );
    assert!(
        browser.wait_for(
            "document.getElementById('state').textContent === 'available'",
            Duration::from_secs(5)
        ),
        "the page shows the state:\n{}",
        page_log(&mut browser)
    );

    let caller = Sipp::new("caller_ivr_speaks_waits_bye")
        .remote(switch.sip_addr())
        .transport(Transport::Udp)
        .service("100")
        .timeout_secs(45)
        .spawn();
    if !browser.wait_for("!document.getElementById('answer').disabled", Duration::from_secs(15)) {
        panic!(
            "no call rang on the page:\n{}\n{}",
            page_log(&mut browser),
            switch.log()
        );
    }
    // The screen-pop while it rings, from the offer's event on the page's
    // stream (/api/events?agent=, its token in the query): the caller, the
    // queue, the language and the menu choice made in the demo IVR, the
    // wait so far.
    let popped = browser.wait_for(
        "window.agentPage.log.some((l) => l.endsWith('event call.offered')) \
         && document.getElementById('choices').textContent === 'choose_language: 1' \
         && document.getElementById('queue').textContent === 'support' \
         && document.getElementById('language').textContent === 'en' \
         && / s so far$/.test(document.getElementById('waited').textContent)",
        Duration::from_secs(5),
    );
    let context = browser.eval(
        "['caller', 'queue', 'language', 'choices', 'waited', 'attributes'] \
         .map((id) => `${id}=${document.getElementById(id).textContent}`).join('; ')",
    );
    assert!(popped, "the call's context: {context}\n{}", page_log(&mut browser));
    let ringing_caller = browser.eval("document.getElementById('caller').textContent");
    assert!(
        ringing_caller.as_str().unwrap_or_default().contains("4930123456"),
        "{context}"
    );
    assert_eq!(
        browser.eval("document.getElementById('attributes').textContent"),
        "-",
        "no call-back, no attributes: {context}"
    );
    let clicked = Instant::now();
    browser.eval("document.getElementById('answer').click(); true");
    assert!(
        browser.wait_for("window.agentPage.confirmedAt", Duration::from_secs(10)),
        "the call was set up:\n{}",
        page_log(&mut browser)
    );
    let set_up_ms = browser.eval("window.agentPage.confirmedAt - window.agentPage.answeredAt");
    eprintln!(
        "answer click to the ACK (page): {set_up_ms} ms; test side {:?}",
        clicked.elapsed()
    );
    // The caller's context reached the page.
    assert!(
        browser.wait_for(
            "document.getElementById('queue').textContent === 'support'",
            Duration::from_secs(5)
        ),
        "the queue is shown:\n{}",
        page_log(&mut browser)
    );
    // Answered: the wait is the one the queue measured.
    assert!(
        browser.wait_for(
            "/^[0-9.]+ s$/.test(document.getElementById('waited').textContent)",
            Duration::from_secs(5)
        ),
        "the wait until the answer: {}",
        page_log(&mut browser)
    );
    let shown_caller = browser.eval("document.getElementById('caller').textContent");
    assert!(
        shown_caller.as_str().unwrap_or_default().contains("4930123456"),
        "{shown_caller}"
    );

    // The caller's 7 s of speech start about 6.5 s after its call was
    // answered; the browser talks all along. Hang up once they are over.
    std::thread::sleep(Duration::from_secs(13));
    // The caller is G.711, so the offer asked the browser for narrowband
    // Opus (maxplaybackrate=8000), and Chromium's encoder obliged.
    let log = switch.log();
    assert!(
        log.contains("browser sends Opus SILK narrowband"),
        "what the browser sent: {}",
        log.lines()
            .filter(|l| l.contains("browser sends Opus"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    browser.eval("document.getElementById('hangup').click(); true");
    caller.wait().assert_success(1);
    assert!(
        browser.wait_for(
            "document.getElementById('call-state').textContent.startsWith('ended')",
            Duration::from_secs(5)
        ),
        "{}",
        page_log(&mut browser)
    );

    // The call record: the browser agent answered, both legs carried RTP.
    let record = poll_until(Duration::from_secs(10), || ended_call(&switch, 2)).unwrap_or_else(|| {
        panic!(
            "the ended call's record with both legs: {}",
            json(&switch, "/api/calls?window=15m")
        )
    });
    let text = record.to_string();
    let answered = marks(&record, "agent_answered")
        .into_iter()
        .find(|m| m["what"]["agent"] == "1001");
    assert!(answered.is_some_and(|m| m["at"].as_u64().is_some()), "{text}");
    assert!(
        marks(&record, "hung_up").iter().any(|m| m["what"]["by"] == "agent"),
        "the page hung up: {text}"
    );
    assert!(
        leg_packets(&record, "caller") >= 200,
        "the caller's speech (235 packets): {text}"
    );
    assert!(
        leg_packets(&record, "agent") >= 500,
        "the browser's Opus, 50 a second: {text}"
    );

    // The recording: the caller's speech and the browser's tone.
    let id = record["id"].as_str().unwrap().to_owned();
    let done = poll_until(Duration::from_secs(10), || {
        let list = json(&switch, "/api/recordings");
        list["recordings"]
            .as_array()?
            .iter()
            .find(|r| r["call_id"] == id.as_str() && r["state"] == "complete")
            .cloned()
    })
    .unwrap_or_else(|| panic!("a complete recording of {id}: {}", json(&switch, "/api/recordings")));
    let wav = download(
        switch.http_addr(),
        &format!("/api/recordings/{}/audio", done["id"].as_str().unwrap()),
    );
    let file = data.path().join("downloaded.wav");
    std::fs::write(&file, wav).unwrap();
    let mut reader = hound::WavReader::open(&file).unwrap();
    let spec = reader.spec();
    assert_eq!(spec.channels, 2, "{spec:?}");
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let (mut left, mut right) = (0.0f64, 0.0f64);
    for frame in samples.chunks_exact(2) {
        left += f64::from(frame[0]).powi(2);
        right += f64::from(frame[1]).powi(2);
    }
    let frames = (samples.len() / 2).max(1) as f64;
    let (left, right) = ((left / frames).sqrt(), (right / frames).sqrt());
    eprintln!(
        "recording RMS: caller {left:.0}, agent {right:.0}, {:.1} s",
        frames / f64::from(spec.sample_rate)
    );
    assert!(left > 200.0, "the caller's channel has sound: {left}");
    assert!(right > 200.0, "the browser's channel has sound: {right}");
}
