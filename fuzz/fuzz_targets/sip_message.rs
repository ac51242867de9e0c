//! Arbitrary bytes through the SIP framing: `parse_datagram` (default and small
//! limits) and a `StreamFramer` fed the same bytes in pseudo-random chunks; every
//! message that comes out goes through validation, the 400 builder, the Via
//! helpers, dialog identification and a serialize/re-parse round (no panics; no
//! round-trip equality is required).
#![no_main]

use std::net::{Ipv4Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use signaling::dialog::DialogId;
use signaling::headers;
use signaling::message::{self, Framed, Limits, MessageError, StreamFramer};
use signaling::response::{response_for, status};
use signaling::rsip::SipMessage;
use signaling::transport::Peer;

const SMALL: Limits = Limits {
    max_message_size: 300,
    max_headers: 6,
    socket_buffer: 0,
};

fn peers() -> [Peer; 2] {
    let addr = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 7), 40_000));
    [Peer::udp(addr), Peer::tcp(addr)]
}

/// Exercises everything the core does with a framed message.
fn exercise(message: SipMessage) {
    let [udp, tcp] = peers();
    match message {
        SipMessage::Request(mut request) => {
            if let Err(error) = message::validate_request(&request) {
                // What the switch does with a request that fails validation.
                let raw = request.to_string().into_bytes();
                if let Some(answer) = message::bad_request(&raw, &error) {
                    let _ = message::parse_datagram(&answer, &Limits::default());
                }
            }
            let _ = headers::top_via(&request.headers);
            let _ = headers::call_id(&request.headers);
            let _ = headers::cseq(&request.headers);
            let _ = headers::from_tag(&request.headers);
            if let Ok(to) = headers::to_value(&request.headers) {
                let uri = headers::uri_of(to);
                let _ = headers::user_of(uri);
                let _ = headers::socket_addr_of(uri);
                let _ = headers::transport_of(uri);
            }
            let _ = DialogId::of_incoming_request(&request);
            let _ = headers::response_destination(&request.headers, udp);
            let _ = headers::response_destination(&request.headers, tcp);
            let mut tcp_copy = request.headers.clone();
            headers::stamp_received(&mut tcp_copy, tcp);
            headers::stamp_received(&mut request.headers, udp);
            // Stamping twice must be harmless (the layer relies on it).
            headers::stamp_received(&mut request.headers, udp);
            let _ = headers::top_via(&request.headers);
            let _ = headers::response_destination(&request.headers, udp);
            let response = response_for(&request, status(200), Some("fuzztag"));
            reparse(&response.to_string());
            reparse(&request.to_string());
        }
        SipMessage::Response(response) => {
            let _ = message::validate_response(&response);
            let _ = headers::top_via(&response.headers);
            let _ = headers::cseq(&response.headers);
            let _ = headers::response_destination(&response.headers, udp);
            let _ = DialogId::of_incoming_response(&response);
            reparse(&response.to_string());
        }
    }
}

/// Serialized output must be safe to parse again (it need not be identical).
fn reparse(text: &str) {
    if let Ok(Some(again)) = message::parse_datagram(text.as_bytes(), &Limits::default()) {
        let _ = again.to_string();
    }
}

fn datagram(data: &[u8], limits: &Limits) {
    match message::parse_datagram(data, limits) {
        Ok(Some(message)) => exercise(message),
        Ok(None) => {}
        Err(error) => {
            if let Some(answer) = message::bad_request(data, &error) {
                // The 400 must itself be a readable message.
                let _ = message::parse_datagram(&answer, &Limits::default());
            }
        }
    }
}

/// A small deterministic generator seeded from the input, so the corpus stays
/// plain SIP text while the chunking still varies with it.
struct Chunks(u64);

impl Chunks {
    fn new(data: &[u8]) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in data {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Chunks(h | 1)
    }

    fn next_len(&mut self) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        // Mostly tiny chunks (splits inside CRLFs and headers), sometimes large.
        match x % 8 {
            0..=4 => 1 + (x >> 8) as usize % 4,
            5 | 6 => 1 + (x >> 8) as usize % 64,
            _ => 1 + (x >> 8) as usize % 4096,
        }
    }
}

/// Drains the framer; false once it reported an error (the stream is closed).
fn drain(framer: &mut StreamFramer) -> bool {
    loop {
        match framer.next_message() {
            Ok(Some(Framed::Message(message))) => exercise(message),
            Ok(Some(Framed::KeepAlive)) => {}
            Ok(Some(Framed::Malformed(raw, error))) => {
                let _ = message::bad_request(&raw, &error);
            }
            Ok(None) => return true,
            Err(error) => {
                let rest = framer.take_buffered();
                let _ = message::bad_request(&rest, &error);
                let _: MessageError = error;
                return false;
            }
        }
    }
}

fn stream(data: &[u8], limits: Limits) {
    let mut framer = StreamFramer::new(limits);
    let mut chunks = Chunks::new(data);
    let mut rest = data;
    while !rest.is_empty() {
        let n = chunks.next_len().min(rest.len());
        framer.push(&rest[..n]);
        rest = &rest[n..];
        if !drain(&mut framer) {
            return;
        }
    }
    let _ = framer.buffered();
    let left = framer.take_buffered();
    assert_eq!(framer.buffered(), 0);
    if !left.is_empty() {
        let _ = message::bad_request(&left, &MessageError::Truncated);
    }
}

fuzz_target!(|data: &[u8]| {
    datagram(data, &Limits::default());
    datagram(data, &SMALL);
    stream(data, Limits::default());
    stream(data, SMALL);
});
