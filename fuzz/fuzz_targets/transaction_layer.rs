//! Random sequences of operations on one `TransactionLayer`, in virtual time:
//! messages from templates with fuzzed fields (branches from a tiny set, so
//! retransmissions, ACKs, CANCELs and responses really match) or from raw bytes,
//! time steps with `handle_timeout`, answers from the TU, new client requests.
//!
//! Invariants checked:
//! - nothing panics;
//! - after `handle_timeout(t)` no timer due at or before `t` remains;
//! - a transaction id is never mentioned again after its `Terminated` event,
//!   and is no longer `contains`ed;
//! - once the TU has answered every server transaction, at most 10 minutes of
//!   virtual time (timers handled) end every transaction: `len() == 0`.
#![no_main]

use std::collections::HashSet;
use std::sync::OnceLock;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use signaling::message::{self, Limits};
use signaling::response::{response_for, status};
use signaling::rsip::{Request, SipMessage};
use signaling::transaction::{TimerConfig, TransactionEvent, TransactionId, TransactionLayer};
use signaling::transport::Peer;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Config {
    Default,
    /// Short timers: many retransmissions and expiries per run.
    Fast,
    /// Degenerate but legal values: zero T4, T2 below T1, tiny Timer C.
    Odd,
}

impl Config {
    fn timers(self) -> TimerConfig {
        let ms = Duration::from_millis;
        match self {
            Config::Default => TimerConfig::default(),
            Config::Fast => TimerConfig {
                t1: ms(50),
                t2: ms(400),
                t4: ms(500),
                timer_c: ms(5_000),
            },
            Config::Odd => TimerConfig {
                t1: ms(3),
                t2: ms(1),
                t4: Duration::ZERO,
                timer_c: ms(2),
            },
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Info,
}

impl Method {
    fn token(self) -> &'static str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Info => "INFO",
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Branch {
    B0,
    B1,
    B2,
    /// No magic cookie: RFC 2543 matching.
    Old,
    Missing,
}

impl Branch {
    fn param(self) -> &'static str {
        match self {
            Branch::B0 => ";branch=z9hG4bK-b0",
            Branch::B1 => ";branch=z9hG4bK-b1",
            Branch::B2 => ";branch=z9hG4bK-b2",
            Branch::Old => ";branch=1234",
            Branch::Missing => "",
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum PeerSel {
    UdpA,
    UdpB,
    TcpA,
}

impl PeerSel {
    fn peer(self) -> Peer {
        match self {
            PeerSel::UdpA => Peer::udp(SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 5060))),
            PeerSel::UdpB => Peer::udp(SocketAddr::from((Ipv4Addr::new(198, 51, 100, 9), 40_123))),
            PeerSel::TcpA => Peer::tcp(SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 50_000))),
        }
    }
}

/// A message built from a template with fuzzed fields.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Template {
    response: bool,
    method: Method,
    /// CSeq method when it differs from `method` (such requests fail validation).
    cseq_method: Option<Method>,
    code: u16,
    branch: Branch,
    via_tcp: bool,
    /// Which sent-by: 0 the peer's IP, 1 a host name, 2 a host with an odd port.
    sent_by: u8,
    rport: bool,
    second_via: bool,
    uri: bool,
    call_id: bool,
    cseq: u8,
    to_tag: bool,
    body: bool,
    peer: PeerSel,
}

impl Template {
    fn text(&self) -> String {
        let cseq_method = self.cseq_method.unwrap_or(self.method).token();
        let transport = if self.via_tcp { "TCP" } else { "UDP" };
        let sent_by = match self.sent_by % 3 {
            0 => "192.0.2.1",
            1 => "Phone.Example.com",
            _ => "192.0.2.1:5099",
        };
        let mut via = format!("SIP/2.0/{transport} {sent_by}{}", self.branch.param());
        if self.rport {
            via.push_str(";rport");
        }
        let uri = if self.uri { "sip:bob@192.0.2.50" } else { "sip:alice@example.com" };
        let call_id = if self.call_id { "call-1@192.0.2.1" } else { "call-2" };
        let to_tag = if self.to_tag { ";tag=totag" } else { "" };
        let start = if self.response {
            let code = 100 + self.code % 600;
            format!("SIP/2.0 {code} Whatever")
        } else {
            format!("{} {uri} SIP/2.0", self.method.token())
        };
        let body = if self.body {
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
        } else {
            ""
        };
        let mut text = format!("{start}\r\nVia: {via}\r\n");
        if self.second_via {
            text.push_str("Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK-far\r\n");
        }
        text.push_str(&format!(
            "Max-Forwards: 70\r\nFrom: <sip:carol@example.com>;tag=fromtag\r\nTo: <{uri}>{to_tag}\r\n\
             Call-ID: {call_id}\r\nCSeq: {} {cseq_method}\r\nContact: <sip:carol@192.0.2.1>\r\n",
            self.cseq
        ));
        if self.body {
            text.push_str("Content-Type: application/sdp\r\n");
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        text
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// A templated message arrives.
    Receive(Template),
    /// Raw bytes arrive (framed by `parse_datagram`).
    Raw { bytes: Vec<u8>, peer: PeerSel },
    /// Time passes by up to ~65 s and timers are handled.
    Advance { millis: u16 },
    /// Time passes by up to ~4 min and timers are handled.
    AdvanceSecs { secs: u8 },
    /// Jump to the next deadline and handle it.
    NextTimer,
    /// Time passes without the timers being handled (a late shell).
    Stall { millis: u16 },
    /// The TU answers a server transaction it heard of (index into those seen).
    Respond { which: u8, code: u16, tag: bool },
    /// The TU starts a client transaction (sent as the template's request).
    Send { template: Template, destination: PeerSel },
    /// CANCEL matching, as the B2BUA asks it.
    InviteForCancel { which: u8 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    config: Config,
    ops: Vec<Op>,
}

struct Harness {
    layer: TransactionLayer,
    now: Instant,
    /// Server transactions the TU heard of, with their requests.
    servers: Vec<(TransactionId, Request)>,
    terminated: HashSet<TransactionId>,
}

impl Harness {
    fn deliver(&mut self, message: SipMessage, source: Peer) {
        // What the switch does: validate, drop what fails.
        let valid = match &message {
            SipMessage::Request(r) => message::validate_request(r).is_ok(),
            SipMessage::Response(r) => message::validate_response(r).is_ok(),
        };
        if valid {
            self.layer.handle_message(self.now, message, source);
        }
    }

    fn timeout(&mut self, at: Instant) {
        self.now = self.now.max(at);
        self.layer.handle_timeout(self.now);
        if let Some(next) = self.layer.poll_timeout() {
            assert!(
                next > self.now,
                "timer due at {:?} left after handle_timeout({:?})",
                next.duration_since(self.now),
                self.now
            );
        }
    }

    fn check_id(&self, id: TransactionId) {
        assert!(!self.terminated.contains(&id), "event for {id:?} after Terminated");
    }

    fn drain(&mut self) {
        while let Some(transmit) = self.layer.poll_transmit() {
            let _ = message::parse_datagram(&transmit.payload, &Limits::default());
        }
        while let Some(event) = self.layer.poll_event() {
            match event {
                TransactionEvent::Request { id, request, .. } => {
                    self.check_id(id);
                    if self.servers.len() < 64 {
                        self.servers.push((id, request));
                    }
                }
                TransactionEvent::Response { id, .. } => self.check_id(id),
                TransactionEvent::Timeout { id, .. } => self.check_id(id),
                TransactionEvent::Terminated { id } => {
                    self.check_id(id);
                    assert!(!self.layer.contains(id), "{id:?} alive after Terminated");
                    self.terminated.insert(id);
                }
                TransactionEvent::Ack { .. } | TransactionEvent::StrayResponse { .. } => {}
            }
        }
    }

    fn respond(&mut self, index: usize, code: u16, tag: bool) {
        let Some((id, request)) = self.servers.get(index) else {
            return;
        };
        let response = response_for(request, status(code), tag.then_some("uas-tag"));
        self.layer.send_response(self.now, *id, response);
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Receive(template) => {
                if let Ok(Some(message)) = message::parse_datagram(template.text().as_bytes(), &Limits::default()) {
                    self.deliver(message, template.peer.peer());
                }
            }
            Op::Raw { bytes, peer } => {
                if let Ok(Some(message)) = message::parse_datagram(&bytes, &Limits::default()) {
                    self.deliver(message, peer.peer());
                }
            }
            Op::Advance { millis } => self.timeout(self.now + Duration::from_millis(millis.into())),
            Op::AdvanceSecs { secs } => self.timeout(self.now + Duration::from_secs(secs.into())),
            Op::NextTimer => {
                if let Some(at) = self.layer.poll_timeout() {
                    self.timeout(at);
                }
            }
            Op::Stall { millis } => self.now += Duration::from_millis(millis.into()),
            Op::Respond { which, code, tag } => {
                if !self.servers.is_empty() {
                    let index = usize::from(which) % self.servers.len();
                    self.respond(index, 100 + code % 600, tag);
                }
            }
            Op::Send { template, destination } => {
                let template = Template {
                    response: false,
                    ..template
                };
                if let Ok(Some(SipMessage::Request(request))) =
                    message::parse_datagram(template.text().as_bytes(), &Limits::default())
                {
                    let id = self.layer.send_request(self.now, request, destination.peer());
                    self.check_id(id);
                }
            }
            Op::InviteForCancel { which } => {
                if !self.servers.is_empty() {
                    let (id, _) = &self.servers[usize::from(which) % self.servers.len()];
                    let _ = self.layer.invite_for_cancel(*id);
                }
            }
        }
        self.drain();
    }

    /// The TU answers whatever is still open, then 10 minutes pass.
    fn finish(&mut self) {
        for index in 0..self.servers.len() {
            if self.layer.contains(self.servers[index].0) {
                self.respond(index, 486, true);
            }
        }
        self.drain();
        let end = self.now + Duration::from_secs(600);
        let mut steps = 0u32;
        while let Some(at) = self.layer.poll_timeout().filter(|&at| at <= end) {
            self.timeout(at);
            self.drain();
            steps += 1;
            assert!(steps < 1_000_000, "timers keep firing");
        }
        self.timeout(end);
        self.drain();
        assert_eq!(self.layer.len(), 0, "transactions alive 10 minutes after the last input");
        assert!(self.layer.is_empty());
    }
}

/// The virtual clock's origin, read once per process.
static BASE: OnceLock<Instant> = OnceLock::new();

fuzz_target!(|input: Input| {
    let mut harness = Harness {
        layer: TransactionLayer::new(input.config.timers()),
        now: *BASE.get_or_init(Instant::now),
        servers: Vec::new(),
        terminated: HashSet::new(),
    };
    for op in input.ops.into_iter().take(256) {
        harness.apply(op);
    }
    harness.finish();
});
