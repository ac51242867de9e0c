//! A call-back asked for through the API (as a web page, a chat or WhatsApp
//! would) is dialled to a SIPp "customer" when the SIPp agent is free; the
//! agent's event stream (/api/events?agent=) pops the call-back's
//! attributes on the offer and the answer, and a subscription hears the
//! call-back's life: requested, scheduled, attempted, completed.
#![allow(clippy::unwrap_used)]

mod common;
mod hooks_receiver;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{register_sipp_agent, Sipp, Switch, SwitchConfig, CONTROL_TOKEN};
use hooks_receiver::{Receiver, SECRET};

/// Reads a server-sent event stream in the background; the `data:` lines
/// as JSON, in order.
struct Stream {
    text: Arc<Mutex<String>>,
}

impl Stream {
    fn open(switch: &Switch, path: &str) -> Stream {
        let mut s = std::net::TcpStream::connect(switch.http_addr()).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CONTROL_TOKEN}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let text = Arc::new(Mutex::new(String::new()));
        let sink = text.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Stream { text }
    }

    fn events(&self) -> Vec<serde_json::Value> {
        self.text
            .lock()
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str(d.trim()).ok())
            .collect()
    }

    fn head(&self) -> String {
        self.text
            .lock()
            .unwrap()
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

#[test]
fn an_api_call_back_is_dialled_and_the_agent_s_screen_pop_carries_its_attributes() {
    let root = env!("CARGO_MANIFEST_DIR");
    let receiver = Receiver::start();
    let customer_port = common::free_port();
    let url = receiver.url("/events");
    let toml = format!(
        r#"
[ivr]
prompts = "{root}/prompts"

[[queues]]
name = "support"
agents = ["1001"]
wrap_up_secs = 1

[[trunks]]
name = "carrier"
addresses = ["127.0.0.1"]
dial = "sip:{{number}}@127.0.0.1:{customer_port}"

[callbacks]
trunk = "carrier"
caller_id = "+15550000"

[[hooks.subscriptions]]
name = "web"
url = "{url}"
secret = "{SECRET}"
events = ["callback.*"]
"#
    );
    let switch = Switch::start(SwitchConfig {
        trunk_addresses: Vec::new(),
        extra_toml: toml,
        ..SwitchConfig::for_sipp()
    });
    let stream = Stream::open(&switch, "/api/events?agent=1001");
    let other = Stream::open(&switch, "/api/events?agent=1002");
    let agent_port = common::free_port();
    register_sipp_agent(&switch, "1001", agent_port, common::Transport::Udp);
    let agent = Sipp::new("agent_answers_after_delay")
        .local_port(agent_port)
        .key("ext", "1001")
        .calls(1)
        .timeout_secs(20)
        .spawn();
    let customer = Sipp::new("customer_answers_waits_bye")
        .local_port(customer_port)
        .key("number", "+4930777000")
        .calls(1)
        .timeout_secs(20)
        .spawn();
    let answer = common::http_post(
        switch.http_addr(),
        "/api/callbacks",
        r#"{"number": "+4930777000", "queue": "support", "attributes": {"order": "A-17", "channel": "whatsapp"}}"#,
    )
    .unwrap();
    assert_eq!(answer.status, 202, "{}", answer.body);
    let made: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let id = made["id"].as_u64().unwrap();
    assert_eq!(made["attributes"]["channel"], "whatsapp");
    customer.wait().assert_success(1);
    agent.wait().assert_success(1);

    assert!(stream.head().contains("text/event-stream"), "{}", stream.head());
    let popped = common::poll_until(Duration::from_secs(5), || {
        let events = stream.events();
        let offered = events.iter().find(|e| e["type"] == "call.offered")?.clone();
        let answered = events.iter().find(|e| e["type"] == "call.answered")?.clone();
        Some((events, offered, answered))
    });
    let (events, offered, answered) = popped.unwrap_or_else(|| panic!("no screen-pop: {:#?}", stream.events()));
    for pop in [&offered, &answered] {
        assert_eq!(pop["agent"], "1001");
        assert_eq!(pop["queue"], "support");
        assert_eq!(pop["data"]["callback_id"], id);
        assert_eq!(pop["data"]["attributes"]["order"], "A-17");
        assert_eq!(pop["data"]["attributes"]["channel"], "whatsapp");
        assert_eq!(pop["data"]["caller"], "+4930777000");
    }
    assert!(
        events.iter().all(|e| e["agent"] == "1001"),
        "only agent 1001's: {events:#?}"
    );
    assert!(
        other.events().iter().all(|e| e["agent"] == "1002"),
        "{:#?}",
        other.events()
    );

    // The call-back's life, in order, for the subscription.
    let got = receiver.wait_for(Duration::from_secs(10), |got| {
        got.iter().any(|d| d.json()["type"] == "callback.completed")
    });
    let kinds: Vec<String> = got
        .iter()
        .map(|d| d.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "callback.requested",
            "callback.scheduled",
            "callback.attempted",
            "callback.completed"
        ]
    );
    assert!(got
        .iter()
        .all(|d| d.json()["data"]["callback_id"] == id && d.signature.is_ok()));
    assert_eq!(got[3].json()["data"]["outcome"], "placed");
    assert_eq!(got[2].json()["agent"], "1001");
    assert_eq!(got[0].json()["data"]["source"], "api");
}
