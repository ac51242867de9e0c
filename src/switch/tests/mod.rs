//! The switch core driven through whole call flows with virtual time: a
//! caller on a trunk address, an agent registered with digest, every message
//! written as it would be on the wire.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use signaling::headers;
use signaling::message::{parse_datagram, Limits};
use signaling::transport::Peer;

use std::sync::{Arc, Mutex};

use media::engine::{AllocateError, Leg, LegConfig, LegId};

use super::Switch;
use crate::b2bua::MediaControl;
use crate::config::Config;

/// Records what call control asks of the media engine.
#[derive(Debug, Default, Clone)]
struct FakeMedia {
    log: Arc<Mutex<Vec<String>>>,
    allocated: Arc<Mutex<u16>>,
    /// Every port taken: allocation fails.
    exhausted: Arc<std::sync::atomic::AtomicBool>,
}

impl MediaControl for FakeMedia {
    fn allocate(&mut self, group: u64) -> Result<Leg, AllocateError> {
        if self.exhausted.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(AllocateError::Exhausted(media::engine::PortsExhausted));
        }
        let mut n = self.allocated.lock().unwrap();
        *n += 1;
        let id = (group << 8) | u64::from(*n);
        self.log.lock().unwrap().push(format!("allocate {id}"));
        Ok(Leg {
            id,
            local: SocketAddr::from(([127, 0, 0, 1], 20_000 + 2 * *n)),
        })
    }
    fn configure(&mut self, leg: LegId, config: LegConfig) {
        let remote = config.remote_rtp.map(|a| a.to_string()).unwrap_or_default();
        self.log.lock().unwrap().push(format!(
            "configure {leg} {} pt{} {remote}",
            config.codec, config.payload_type
        ));
    }
    fn bridge(&mut self, a: LegId, b: LegId) {
        self.log.lock().unwrap().push(format!("bridge {a} {b}"));
    }
    fn release(&mut self, leg: LegId) {
        self.log.lock().unwrap().push(format!("release {leg}"));
    }
    fn play(&mut self, leg: LegId, playlist: media::player::Playlist) {
        self.log.lock().unwrap().push(format!("play {leg} {}", playlist.rate()));
    }
    fn stop(&mut self, leg: LegId) {
        self.log.lock().unwrap().push(format!("stop {leg}"));
    }
    fn record(&mut self, leg: LegId, path: std::path::PathBuf, max: Duration) {
        self.log
            .lock()
            .unwrap()
            .push(format!("record {leg} {} {}s", path.display(), max.as_secs()));
    }
    fn stop_recording(&mut self, leg: LegId) {
        self.log.lock().unwrap().push(format!("stop recording {leg}"));
    }
    fn record_call(&mut self, caller: LegId, agent: Option<LegId>, spec: crate::b2bua::CallRecordingSpec) {
        self.log.lock().unwrap().push(format!(
            "record call {caller} {agent:?} {} {}Hz",
            spec.spec.wav.display(),
            spec.spec.sample_rate
        ));
    }
    fn pause_call_recording(&mut self, caller: LegId) {
        self.log.lock().unwrap().push(format!("pause call recording {caller}"));
    }
    fn resume_call_recording(&mut self, caller: LegId) {
        self.log.lock().unwrap().push(format!("resume call recording {caller}"));
    }
    fn stop_call_recording(&mut self, caller: LegId) {
        self.log.lock().unwrap().push(format!("stop call recording {caller}"));
    }
}

impl FakeMedia {
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

const CONFIG: &str = r#"
[sip]
listen_udp = ["127.0.0.1:5060"]
domain = "127.0.0.1"
[registrar]
algorithms = ["MD5"]
[[agents]]
extension = "1001"
password = "pw1001"
[[agents]]
extension = "1002"
password = "pw1002"
[[trunks]]
name = "carrier"
addresses = ["127.0.0.2"]
[[queues]]
name = "support"
agents = ["1002", "1001"]
[storage]
path = ":memory:"
"#;

/// Monday 2026-11-23 10:00 UTC, for flows with business hours.
/// A flow on number 100 that queues every caller in `support` at once.
const QUEUE_NOW: &str = "version: 1
name: queue now
default_language: en
languages: [en]
start: support
nodes:
  support:
    type: enqueue
    queue: support
";

/// The IVR set-up of one flow (YAML) on number 100, without prompts.
fn flow_setup(yaml: &str) -> crate::switch::IvrSetup {
    let flow = ::ivr::parse_flow("flow.yaml", yaml).unwrap();
    crate::switch::IvrSetup {
        flows: [("100".to_owned(), Arc::new(flow))].into(),
        catalog: Arc::new(::ivr::PromptCatalog::new()),
        prompts: std::collections::HashMap::new(),
        by_caller: Vec::new(),
        prompts_48k: std::collections::HashMap::new(),
        voicemail: "vm".into(),
    }
}

fn wall() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn caller() -> Peer {
    Peer::udp("127.0.0.2:5070".parse::<SocketAddr>().unwrap())
}

fn agent() -> Peer {
    Peer::udp("127.0.0.3:5080".parse::<SocketAddr>().unwrap())
}

struct Harness {
    switch: Switch,
    media: FakeMedia,
    now: Instant,
    start: Instant,
}

/// A message the switch sent, with when and where.
#[derive(Debug, Clone)]
struct Sent {
    at: Duration,
    to: Peer,
    text: String,
}

impl Sent {
    fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }

    fn header(&self, name: &str) -> Option<String> {
        self.text.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

impl Harness {
    fn new() -> Harness {
        Harness::with_config(CONFIG)
    }

    fn with_config(text: &str) -> Harness {
        Harness::with_ivr(text, crate::switch::IvrSetup::default())
    }

    fn with_ivr(text: &str, ivr: crate::switch::IvrSetup) -> Harness {
        let config = Config::parse(text, "test").unwrap();
        let now = Instant::now();
        let media = FakeMedia::default();
        let switch = Switch::new(
            &config,
            Some("127.0.0.1:5060".parse().unwrap()),
            None,
            Box::new(media.clone()),
            ivr,
            now,
            wall(),
        );
        Harness {
            switch,
            media,
            now,
            start: now,
        }
    }

    fn send(&mut self, from: Peer, text: &str) -> Vec<Sent> {
        let text = text.replace('\n', "\r\n");
        let message = parse_datagram(text.as_bytes(), &Limits::default()).unwrap().unwrap();
        self.switch.handle_message(self.now, message, from);
        self.drain()
    }

    fn drain(&mut self) -> Vec<Sent> {
        let mut out = Vec::new();
        while let Some(t) = self.switch.poll_transmit() {
            let text = String::from_utf8(t.payload.to_vec()).unwrap();
            out.push(Sent {
                at: self.now - self.start,
                to: t.destination,
                text,
            });
        }
        out
    }

    /// Runs every timer up to `now + d`, collecting what is sent on the way.
    fn advance(&mut self, d: Duration) -> Vec<Sent> {
        let end = self.now + d;
        let mut out = Vec::new();
        while let Some(at) = self.switch.poll_timeout().filter(|&t| t <= end) {
            self.now = at.max(self.now);
            self.switch.handle_timeout(self.now);
            out.extend(self.drain());
        }
        self.now = end;
        out
    }

    fn register_agent(&mut self, password: &str) -> Vec<Sent> {
        let register = |cseq: u32, auth: &str| {
            format!(
                "REGISTER sip:127.0.0.1 SIP/2.0\n\
                 Via: SIP/2.0/UDP 127.0.0.3:5080;branch=z9hG4bKreg{cseq}{password};rport\n\
                 From: <sip:1001@127.0.0.1>;tag=r1\nTo: <sip:1001@127.0.0.1>\n\
                 Call-ID: reg-1\nCSeq: {cseq} REGISTER\nMax-Forwards: 70\n\
                 Contact: <sip:1001@192.168.1.10:5080>\nExpires: 300\n{auth}Content-Length: 0\n\n"
            )
        };
        let challenge = self.send(agent(), &register(1, ""));
        assert_eq!(challenge[0].first_line(), "SIP/2.0 401 Unauthorized");
        let www = challenge[0].header("WWW-Authenticate").unwrap();
        let auth =
            signaling::auth::client_response(&www, "1001", password, "REGISTER", "sip:127.0.0.1", 1, "abc").unwrap();
        self.send(agent(), &register(2, &format!("Authorization: {auth}\n")))
    }

    /// A caller INVITE from the trunk to `number`, and what it produced.
    fn invite(&mut self, number: &str) -> Vec<Sent> {
        self.send(
            caller(),
            &format!(
                "INVITE sip:{number}@127.0.0.1 SIP/2.0\n\
                 Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKinv1\n\
                 From: \"Customer\" <sip:+15550100@127.0.0.2>;tag=c1\nTo: <sip:{number}@127.0.0.1>\n\
                 Call-ID: call-1\nCSeq: 1 INVITE\nMax-Forwards: 70\n\
                 Contact: <sip:+15550100@127.0.0.2:5070>\nContent-Type: application/sdp\n\n\
                 v=0\no=- 1 1 IN IP4 127.0.0.2\ns=-\nc=IN IP4 127.0.0.2\nt=0 0\nm=audio 6000 RTP/AVP 0\n"
            ),
        )
    }
}

/// The message sent to `to` whose first line starts with `prefix`.
fn find(out: &[Sent], prefix: &str, to: Peer) -> Sent {
    out.iter()
        .find(|s| s.first_line().starts_with(prefix) && s.to == to)
        .unwrap_or_else(|| panic!("no {prefix} to {to}: {out:#?}"))
        .clone()
}

/// The agent's answer to the INVITE the switch sent it.
fn agent_reply(invite: &Sent, status: &str, to_tag: &str) -> String {
    let h = |n: &str| invite.header(n).unwrap();
    // A 200 answers the switch's offer with PCMU.
    let sdp = if status.starts_with("200") {
        "Content-Type: application/sdp\n\nv=0\no=agent 1 1 IN IP4 127.0.0.3\ns=-\nc=IN IP4 127.0.0.3\nt=0 0\n\
         m=audio 7000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n"
    } else {
        "Content-Length: 0\n\n"
    };
    format!(
        "SIP/2.0 {status}\nVia: {}\nFrom: {}\nTo: {};tag={to_tag}\nCall-ID: {}\nCSeq: {}\n\
         Contact: <sip:1001@127.0.0.3:5080>\n{sdp}",
        h("Via"),
        h("From"),
        h("To"),
        h("Call-ID"),
        h("CSeq")
    )
}

/// The agent hangs up the dialog of the INVITE the switch sent it.
fn agent_bye(to_agent: &Sent) -> String {
    format!(
        "BYE sip:switchboard@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.3:5080;branch=z9hG4bKbye\n\
         From: {};tag=a1\nTo: {}\nCall-ID: {}\nCSeq: 2 BYE\nContent-Length: 0\n\n",
        to_agent.header("To").unwrap(),
        to_agent.header("From").unwrap(),
        to_agent.header("Call-ID").unwrap()
    )
}

fn established() -> (Harness, Sent, Sent) {
    let mut h = Harness::new();
    h.register_agent("pw1001");
    let out = h.invite("1001");
    assert_eq!(out[0].first_line(), "SIP/2.0 100 Trying");
    let to_agent = find(&out, "INVITE ", agent());
    let ringing = h.send(agent(), &agent_reply(&to_agent, "180 Ringing", "a1"));
    assert_eq!(ringing[0].first_line(), "SIP/2.0 180 Ringing");
    let answer = h.send(agent(), &agent_reply(&to_agent, "200 OK", "a1"));
    assert_eq!(answer.len(), 1);
    (h, to_agent, answer[0].clone())
}

fn caller_ack(ok: &Sent) -> String {
    format!(
        "ACK sip:switchboard@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKack1\n\
         From: \"Customer\" <sip:+15550100@127.0.0.2>;tag=c1\nTo: {}\nCall-ID: call-1\nCSeq: 1 ACK\n\
         Max-Forwards: 70\nContent-Length: 0\n\n",
        ok.header("To").unwrap()
    )
}

#[test]
fn registration_needs_the_right_password() {
    let mut h = Harness::new();
    let refused = h.register_agent("wrong");
    assert_eq!(refused[0].first_line(), "SIP/2.0 401 Unauthorized");
    assert!(h.switch.registrations(h.now).is_empty());
    let ok = h.register_agent("pw1001");
    assert_eq!(ok[0].first_line(), "SIP/2.0 200 OK");
    let regs = h.switch.registrations(h.now);
    assert_eq!(regs.len(), 1);
    assert_eq!((regs[0].aor.as_str(), regs[0].source), ("1001", agent()));
}

#[test]
fn sha256_is_offered_first_when_configured_and_md5_still_works() {
    for (answer_with, index) in [("SHA-256", 0), ("MD5", 1)] {
        let mut h =
            Harness::with_config(&CONFIG.replace("algorithms = [\"MD5\"]", "algorithms = [\"SHA-256\", \"MD5\"]"));
        let register = |cseq: u32, auth: &str| {
            format!(
                "REGISTER sip:127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.3:5080;branch=z9hG4bKsha{cseq}\n\
                 From: <sip:1001@127.0.0.1>;tag=r1\nTo: <sip:1001@127.0.0.1>\nCall-ID: reg-sha\n\
                 CSeq: {cseq} REGISTER\nContact: <sip:1001@127.0.0.3:5080>\n{auth}Content-Length: 0\n\n"
            )
        };
        let challenge = h.send(agent(), &register(1, ""));
        let offers: Vec<_> = challenge[0]
            .text
            .lines()
            .filter(|l| l.starts_with("WWW-Authenticate:"))
            .collect();
        assert_eq!(offers.len(), 2);
        assert!(offers[0].contains("algorithm=SHA-256") && offers[1].contains("algorithm=MD5"));
        let www = offers[index].trim_start_matches("WWW-Authenticate:").trim();
        let auth =
            signaling::auth::client_response(www, "1001", "pw1001", "REGISTER", "sip:127.0.0.1", 1, "c").unwrap();
        assert!(auth.contains(&format!("algorithm={answer_with}")), "{auth}");
        let ok = h.send(agent(), &register(2, &format!("Authorization: {auth}\n")));
        assert_eq!(ok[0].first_line(), "SIP/2.0 200 OK", "{answer_with}");
    }
}

#[test]
fn a_call_reaches_the_registered_agent_where_it_registered_from() {
    let mut h = Harness::new();
    h.register_agent("pw1001");
    let out = h.invite("1001");
    let to_agent = out.iter().find(|s| s.first_line().starts_with("INVITE ")).unwrap();
    // Behind NAT the Contact is private: the INVITE goes where the REGISTER came from.
    assert_eq!(to_agent.to, agent());
    assert_eq!(to_agent.first_line(), "INVITE sip:1001@192.168.1.10:5080 SIP/2.0");
    assert_ne!(
        to_agent.header("Call-ID").unwrap(),
        "call-1",
        "a B2BUA leg has its own Call-ID"
    );
    assert!(to_agent
        .header("From")
        .unwrap()
        .starts_with("\"Customer\" <sip:+15550100@127.0.0.2>;tag="));
    assert_eq!(to_agent.header("Max-Forwards").unwrap(), "69");
    // Media is anchored: the agent is offered the switch's own RTP port, with
    // only the codecs the caller offered.
    assert!(to_agent.text.contains("c=IN IP4 127.0.0.1\r\n"), "{}", to_agent.text);
    assert!(
        to_agent.text.contains("m=audio 20004 RTP/AVP 0\r\n"),
        "{}",
        to_agent.text
    );
    assert!(!to_agent.text.contains("6000"), "the caller's address is not passed on");
}

#[test]
fn unknown_unregistered_and_unauthenticated_calls_are_refused() {
    let mut h = Harness::new();
    assert_eq!(h.invite("999")[1].first_line(), "SIP/2.0 404 Not Found");
    let mut h = Harness::new();
    assert_eq!(h.invite("1002")[1].first_line(), "SIP/2.0 480 Temporarily Unavailable");
    let mut h = Harness::new();
    let out = h.send(
        Peer::udp("127.0.0.9:5070".parse().unwrap()),
        "INVITE sip:1001@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.9:5070;branch=z9hG4bKx\n\
         From: <sip:x@127.0.0.9>;tag=x\nTo: <sip:1001@127.0.0.1>\nCall-ID: x\nCSeq: 1 INVITE\nContent-Length: 0\n\n",
    );
    assert_eq!(out[1].first_line(), "SIP/2.0 407 Proxy Authentication Required");
    assert!(out[1].header("Proxy-Authenticate").unwrap().starts_with("Digest "));
}

#[test]
fn the_answer_configures_and_bridges_both_legs_and_the_end_releases_them() {
    let (mut h, to_agent, ok) = established();
    assert!(
        ok.text.contains("m=audio 20002 RTP/AVP 0\r\n"),
        "the caller gets our port: {}",
        ok.text
    );
    let log = h.media.log();
    assert_eq!(log[..2], ["allocate 1", "allocate 2"]);
    assert!(
        log.contains(&"configure 2 PCMU pt0 127.0.0.3:7000".to_owned()),
        "{log:?}"
    );
    assert!(
        log.contains(&"configure 1 PCMU pt0 127.0.0.2:6000".to_owned()),
        "{log:?}"
    );
    assert!(log.contains(&"bridge 1 2".to_owned()), "{log:?}");
    h.send(caller(), &caller_ack(&ok));
    let bye = agent_bye(&to_agent);
    h.send(agent(), &bye);
    let log = h.media.log();
    assert!(
        log.ends_with(&["release 1".to_owned(), "release 2".to_owned()]),
        "{log:?}"
    );
}

#[test]
fn a_caller_offer_without_a_common_codec_gets_488() {
    let mut h = Harness::new();
    h.register_agent("pw1001");
    let out = h.send(
        caller(),
        "INVITE sip:1001@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKg729\n\
         From: <sip:+15550100@127.0.0.2>;tag=c1\nTo: <sip:1001@127.0.0.1>\nCall-ID: g729\nCSeq: 1 INVITE\n\
         Contact: <sip:+15550100@127.0.0.2:5070>\nContent-Type: application/sdp\n\n\
         v=0\no=- 1 1 IN IP4 127.0.0.2\ns=-\nc=IN IP4 127.0.0.2\nt=0 0\nm=audio 6000 RTP/AVP 18\n",
    );
    assert_eq!(out[1].first_line(), "SIP/2.0 488 Not Acceptable Here");
    assert!(h.media.log().is_empty(), "no port taken for a call that cannot be");
}

#[test]
fn a_lost_200_is_retransmitted_t1_doubling_to_t2_until_the_ack() {
    let (mut h, _, ok) = established();
    assert_eq!(ok.first_line(), "SIP/2.0 200 OK");
    assert_eq!(ok.to, caller());
    let retransmits = h.advance(Duration::from_millis(7_600));
    let times: Vec<u128> = retransmits.iter().map(|s| s.at.as_millis()).collect();
    assert_eq!(times, [500, 1_500, 3_500, 7_500]);
    assert!(retransmits.iter().all(|s| s.text == ok.text));
    let out = h.send(caller(), &caller_ack(&ok));
    assert_eq!(out.len(), 1);
    assert!(
        out[0].first_line().starts_with("ACK sip:1001@127.0.0.3:5080 "),
        "{}",
        out[0].text
    );
    assert_eq!(out[0].to, agent());
    assert_eq!(
        h.advance(Duration::from_secs(40))
            .iter()
            .filter(|s| s.text == ok.text)
            .count(),
        0
    );
}

#[test]
fn no_ack_in_64_t1_ends_both_legs() {
    let (mut h, _, _) = established();
    let out = h.advance(Duration::from_secs(33));
    let byes: Vec<_> = out.iter().filter(|s| s.first_line().starts_with("BYE ")).collect();
    assert_eq!(byes[0].at, Duration::from_secs(32), "64*T1 after the first 2xx");
    // Later BYEs are their own retransmissions (Timer E), nobody answering.
    let first: Vec<_> = byes.iter().filter(|b| b.at == byes[0].at).collect();
    assert_eq!(first.len(), 2, "{out:#?}");
    assert!(first.iter().any(|b| b.to == caller()) && first.iter().any(|b| b.to == agent()));
    assert!(out
        .iter()
        .any(|s| s.first_line().starts_with("ACK ") && s.to == agent()));
}

#[test]
fn bye_from_either_side_is_answered_and_passed_on() {
    for from_agent in [false, true] {
        let (mut h, to_agent, ok) = established();
        h.send(caller(), &caller_ack(&ok));
        let (peer, bye) = if from_agent {
            let text = agent_bye(&to_agent);
            (agent(), text)
        } else {
            let text = format!(
                "BYE sip:switchboard@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKbye\n\
                 From: \"Customer\" <sip:+15550100@127.0.0.2>;tag=c1\nTo: {}\nCall-ID: call-1\nCSeq: 2 BYE\n\
                 Content-Length: 0\n\n",
                ok.header("To").unwrap()
            );
            (caller(), text)
        };
        let out = h.send(peer, &bye);
        assert_eq!(out[0].first_line(), "SIP/2.0 200 OK");
        assert_eq!(out[0].to, peer);
        let other = if from_agent { caller() } else { agent() };
        assert!(
            out[1].first_line().starts_with("BYE ") && out[1].to == other,
            "{out:#?}"
        );
        let cseq = out[1].header("CSeq").unwrap();
        assert_eq!(cseq, if from_agent { "1 BYE" } else { "2 BYE" });
        assert_eq!(h.switch.gauges().2, 0, "the call is gone");
    }
}

#[test]
fn cancel_before_answer_gives_487_and_cancels_the_agent() {
    let mut h = Harness::new();
    h.register_agent("pw1001");
    let out = h.invite("1001");
    let to_agent = find(&out, "INVITE ", agent());
    h.send(agent(), &agent_reply(&to_agent, "180 Ringing", "a1"));
    let out = h.send(
        caller(),
        "CANCEL sip:1001@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKinv1\n\
         From: \"Customer\" <sip:+15550100@127.0.0.2>;tag=c1\nTo: <sip:1001@127.0.0.1>\n\
         Call-ID: call-1\nCSeq: 1 CANCEL\nMax-Forwards: 70\nContent-Length: 0\n\n",
    );
    let lines: Vec<_> = out.iter().map(|s| (s.first_line().to_owned(), s.to)).collect();
    assert!(lines.contains(&("SIP/2.0 200 OK".into(), caller())), "{lines:?}");
    assert!(
        lines.contains(&("SIP/2.0 487 Request Terminated".into(), caller())),
        "{lines:?}"
    );
    let cancel = out.iter().find(|s| s.first_line().starts_with("CANCEL ")).unwrap();
    assert_eq!(cancel.to, agent());
    assert_eq!(
        headers::first_list_value(&cancel.header("Via").unwrap()),
        to_agent.header("Via").unwrap()
    );
    let out = h.send(agent(), &agent_reply(&to_agent, "487 Request Terminated", "a1"));
    assert!(
        out[0].first_line().starts_with("ACK "),
        "the 487 is ACKed in its transaction"
    );
    assert_eq!(h.switch.gauges().2, 0);
}

#[test]
fn dtmf_by_sip_info_is_taken_by_the_switch() {
    let (mut h, _, ok) = established();
    h.send(caller(), &caller_ack(&ok));
    let info = format!(
        "INFO sip:switchboard@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKinfo\n\
         From: \"Customer\" <sip:+15550100@127.0.0.2>;tag=c1\nTo: {}\nCall-ID: call-1\nCSeq: 2 INFO\n\
         Content-Type: application/dtmf-relay\n\nSignal=5\r\nDuration=160\r\n",
        ok.header("To").unwrap()
    );
    let out = h.send(caller(), &info);
    assert_eq!(out.len(), 1, "answered here, not relayed: {out:#?}");
    assert_eq!(out[0].first_line(), "SIP/2.0 200 OK");
}

#[test]
fn a_call_whose_rtp_stops_is_hung_up_on_both_sides() {
    let (mut h, _, ok) = established();
    h.send(caller(), &caller_ack(&ok));
    h.switch
        .handle_media_event(h.now, media::engine::MediaEvent::Inactive { leg: 1 });
    let out = h.drain();
    let byes: Vec<_> = out
        .iter()
        .filter(|s| s.first_line().starts_with("BYE "))
        .map(|s| s.to)
        .collect();
    assert!(byes.contains(&caller()) && byes.contains(&agent()), "{out:#?}");
    assert_eq!(h.switch.gauges().2, 0);
    assert!(h
        .media
        .log()
        .ends_with(&["release 1".to_owned(), "release 2".to_owned()]));
}

#[test]
fn no_rtp_port_left_gets_503_with_retry_after() {
    let mut h = Harness::new();
    h.register_agent("pw1001");
    h.media.exhausted.store(true, std::sync::atomic::Ordering::Relaxed);
    let out = h.invite("1001");
    assert_eq!(out[1].first_line(), "SIP/2.0 503 Service Unavailable");
    assert_eq!(out[1].header("Retry-After").as_deref(), Some("5"));
}

#[test]
fn a_late_offer_is_answered_in_the_callers_ack() {
    let mut h = Harness::new();
    h.register_agent("pw1001");
    let out = h.send(
        caller(),
        "INVITE sip:1001@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKlate\n\
         From: <sip:+15550100@127.0.0.2>;tag=c1\nTo: <sip:1001@127.0.0.1>\nCall-ID: late\nCSeq: 1 INVITE\n\
         Contact: <sip:+15550100@127.0.0.2:5070>\nContent-Length: 0\n\n",
    );
    let to_agent = find(&out, "INVITE ", agent());
    assert!(
        to_agent.text.contains("m=audio 20004 RTP/AVP 0 8 111 101\r\n"),
        "all our codecs: {}",
        to_agent.text
    );
    let ok = h.send(agent(), &agent_reply(&to_agent, "200 OK", "a1"));
    assert_eq!(ok[0].first_line(), "SIP/2.0 200 OK");
    assert!(
        ok[0].text.contains("m=audio 20002 RTP/AVP 0"),
        "we offer to the caller: {}",
        ok[0].text
    );
    assert!(
        !h.media.log().iter().any(|l| l.starts_with("bridge")),
        "not before the caller's answer"
    );
    let ack = format!(
        "ACK sip:switchboard@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKlateack\n\
         From: <sip:+15550100@127.0.0.2>;tag=c1\nTo: {}\nCall-ID: late\nCSeq: 1 ACK\n\
         Content-Type: application/sdp\n\nv=0\no=- 2 2 IN IP4 127.0.0.2\ns=-\nc=IN IP4 127.0.0.2\nt=0 0\n\
         m=audio 6100 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n",
        ok[0].header("To").unwrap()
    );
    let out = h.send(caller(), &ack);
    assert!(
        out.iter()
            .any(|s| s.first_line().starts_with("ACK ") && s.to == agent()),
        "{out:#?}"
    );
    let log = h.media.log();
    assert!(
        log.contains(&"configure 1 PCMU pt0 127.0.0.2:6100".to_owned()),
        "{log:?}"
    );
    assert!(log.contains(&"bridge 1 2".to_owned()), "{log:?}");
}

#[test]
fn early_media_from_the_agent_is_anchored_and_the_200_repeats_the_answer() {
    let mut h = Harness::new();
    h.register_agent("pw1001");
    let out = h.invite("1001");
    let to_agent = find(&out, "INVITE ", agent());
    // A 183 with the agent's SDP answer (as in a 200).
    let progress = agent_reply(&to_agent, "200 OK", "a1").replacen("SIP/2.0 200 OK", "SIP/2.0 183 Session Progress", 1);
    let early = h.send(agent(), &progress);
    assert_eq!(early[0].first_line(), "SIP/2.0 183 Session Progress");
    assert!(early[0].text.contains("m=audio 20002 RTP/AVP 0"), "{}", early[0].text);
    assert!(h.media.log().contains(&"bridge 1 2".to_owned()), "early media flows");
    let ok = h.send(agent(), &agent_reply(&to_agent, "200 OK", "a1"));
    let body = |t: &str| t.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    assert_eq!(body(&ok[0].text), body(&early[0].text), "the same answer in the 200");
}

mod callback;
mod ivr;
mod recording;
mod ring_all;
