//! An IVR `http` node in a live call: the switch POSTs the call's context to
//! a real HTTP server run by the test, branches on its JSON answer and
//! transfers the caller to the agent the answer picked.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::mpsc;

use common::{register_sipp_agent, Sipp, Switch, SwitchConfig, Transport};

const FLOW: &str = "version: 1
name: data dip
default_language: en
languages: [en]
start: lookup
nodes:
  lookup:
    type: http
    url: http://127.0.0.1:PORT/lookup
    timeout: 2s
    branches:
      - { field: customer.tier, equals: gold, next: vip }
    next: bye
    fallback: bye
  vip:
    type: transfer
    extension: \"1001\"
  bye:
    type: hangup
";

/// Answers one POST with `answer` and hands the request body over.
fn crm(answer: &'static str) -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else { return };
        let mut reader = BufReader::new(stream);
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
        let mut stream = reader.into_inner();
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        );
    });
    (port, rx)
}

#[test]
fn a_data_dip_answer_routes_the_caller_to_an_agent() {
    let (port, requests) = crm(r#"{"customer": {"tier": "gold"}}"#);
    let dir = tempfile::tempdir().unwrap();
    let flow = dir.path().join("dip.yaml");
    std::fs::write(&flow, FLOW.replace("PORT", &port.to_string())).unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let extra = format!(
        "\n[[routes]]\nnumber = \"100\"\nflow = \"{}\"\n\n[ivr]\nprompts = \"{root}/prompts\"\n",
        flow.display()
    );
    let switch = Switch::start(SwitchConfig {
        extra_toml: extra,
        ..SwitchConfig::for_sipp()
    });
    let agent_port = common::free_port();
    register_sipp_agent(&switch, "1001", agent_port, Transport::Udp);
    let agent = Sipp::new("agent_answer_wait_bye")
        .local_port(agent_port)
        .key("ext", "1001")
        .timeout_secs(25)
        .spawn();
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let caller = Sipp::new("caller_ivr_english")
        .remote(switch.sip_addr())
        .service("100")
        .key("sink_port", &sink.local_addr().unwrap().port().to_string())
        .timeout_secs(25)
        .run();
    let agent = agent.wait();
    caller.assert_success(1);
    agent.assert_success(1);
    let body = requests.try_recv().expect("the switch POSTed to the CRM");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["called"], "100", "{body}");
    assert!(switch.log().contains("agent joined"), "{}", switch.log());
}
