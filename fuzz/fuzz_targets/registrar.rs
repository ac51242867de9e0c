//! Arbitrary bytes that parse as a REGISTER go to `Registrar::handle_register`
//! (fixed source and time), twice (the second time is out of order or a
//! refresh), and the bindings are then looked up, listed and expired.
//!
//! Checks: no panic; responses serialize; no more than `MAX_BINDINGS_PER_AOR`
//! bindings per AOR; nothing outlives `max_expires`.
#![no_main]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use signaling::headers;
use signaling::message::{self, Limits};
use signaling::registrar::{Registrar, RegistrarConfig, MAX_BINDINGS_PER_AOR};
use signaling::rsip::{Method, SipMessage};
use signaling::transport::Peer;

static BASE: OnceLock<Instant> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(Some(SipMessage::Request(request))) = message::parse_datagram(data, &Limits::default()) else {
        return;
    };
    if request.method != Method::Register {
        return;
    }
    let now = *BASE.get_or_init(Instant::now);
    let source = Peer::udp(SocketAddr::from((Ipv4Addr::new(192, 0, 2, 33), 5062)));
    // The AOR as the switch derives it: the user part of the To URI.
    let aor = headers::to_value(&request.headers)
        .ok()
        .and_then(|to| headers::user_of(headers::uri_of(to)))
        .unwrap_or("alice")
        .to_owned();
    let config = RegistrarConfig::default();
    let mut registrar = Registrar::new(config);

    for at in [now, now + Duration::from_secs(30)] {
        let response = registrar.handle_register(at, &aor, &request, source);
        let _ = response.to_string();
        assert!(registrar.lookup(at, &aor).len() <= MAX_BINDINGS_PER_AOR);
        for binding in registrar.lookup(at, &aor) {
            assert!(binding.expires_in(at) <= config.max_expires);
        }
        let _ = registrar.registrations(at);
        let _ = registrar.aors().count();
    }
    if let Some(deadline) = registrar.poll_timeout() {
        assert!(deadline > now);
    }
    let end = now + Duration::from_secs(u64::from(config.max_expires) + 60);
    registrar.expire(end);
    assert_eq!(registrar.binding_count(), 0, "bindings outlive max_expires");
});
