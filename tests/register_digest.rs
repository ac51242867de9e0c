//! REGISTER with digest authentication: challenged with 401, accepted with
//! the right password (binding visible in /api/registrations), refused with
//! a wrong one (no binding).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{free_port, Sipp, Switch, SwitchConfig, Transport};

fn register_ok(transport: Transport) {
    let switch = Switch::start(SwitchConfig::for_sipp());
    let port = free_port();
    let outcome = Sipp::new("register")
        .remote(switch.sip_addr())
        .transport(transport)
        .local_port(port)
        .key("ext", "1001")
        .key("expires", "300")
        .auth("1001", "secret1001")
        .timeout_secs(8)
        .run();
    outcome.assert_success(1);

    // The challenge: 401 with a Digest WWW-Authenticate offering MD5 (as configured).
    let challenges = outcome.received(|m| m.starts_with("SIP/2.0 401"));
    assert_eq!(challenges.len(), 1, "expected one 401\n{}", outcome.report());
    let www = common::sip_header(&challenges[0], "WWW-Authenticate").unwrap_or_default();
    assert!(
        www.starts_with("Digest") && www.contains("realm=\"127.0.0.1\"") && www.contains("nonce="),
        "{www}"
    );

    let ok = outcome.received(|m| m.starts_with("SIP/2.0 200"));
    assert_eq!(ok.len(), 1, "{}", outcome.report());
    let contact = common::sip_header(&ok[0], "Contact").unwrap_or_default();
    assert!(
        contact.contains(&format!("127.0.0.1:{port}")),
        "200 Contact does not list our binding: {contact}"
    );

    let reg = switch
        .wait_for_registration("1001", Duration::from_secs(2), |r| {
            r.contact.contains(&format!("127.0.0.1:{port}"))
        })
        .unwrap_or_else(|| panic!("1001 not in /api/registrations: {:?}", switch.registrations()));
    let expires = reg
        .expires
        .unwrap_or_else(|| panic!("no numeric expires: {:?}", reg.raw));
    assert!(
        expires > 0.0 && expires <= 300.0,
        "expires {expires} not in (0, 300]: {:?}",
        reg.raw
    );
    assert!(reg.source.contains("127.0.0.1"), "source {:?}", reg.raw);
    assert!(
        switch.registrations().iter().all(|r| r.aor != "1002"),
        "1002 never registered"
    );
}

#[test]
fn register_with_digest_udp() {
    register_ok(Transport::Udp);
}

#[test]
fn register_with_digest_tcp() {
    register_ok(Transport::Tcp);
}

#[test]
fn register_with_wrong_password_is_refused() {
    let switch = Switch::start(SwitchConfig::for_sipp());
    let outcome = Sipp::new("register_wrong_password")
        .remote(switch.sip_addr())
        .key("ext", "1001")
        .key("expires", "300")
        .auth("1001", "not-the-password")
        .timeout_secs(8)
        .run();
    outcome.assert_success(1);
    assert!(
        outcome.received(|m| m.starts_with("SIP/2.0 200")).is_empty(),
        "{}",
        outcome.report()
    );
    std::thread::sleep(Duration::from_millis(200));
    let regs = switch.registrations();
    assert!(
        regs.iter().all(|r| r.aor != "1001"),
        "1001 registered with a wrong password: {regs:?}"
    );
}
