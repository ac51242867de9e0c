use super::*;
use crate::transport::Peer;
use proptest::prelude::*;
use rsip::prelude::HeadersExt;

const AOR: &str = "sip:1001@example.com";

fn peer() -> Peer {
    Peer::udp("203.0.113.7:40000".parse().expect("addr"))
}

fn registrar() -> Registrar {
    Registrar::new(RegistrarConfig {
        min_expires: 60,
        max_expires: 3600,
        default_expires: 1800,
    })
}

/// A REGISTER with `extra` header lines (each ending in CRLF).
fn register(call_id: &str, cseq: u32, extra: &str) -> Request {
    let text = format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:1001@example.com>;tag=f1\r\n\
         To: <sip:1001@example.com>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         User-Agent: TestPhone/1.0\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    );
    Request::try_from(text.as_str()).expect("test request parses")
}

fn contacts_of(response: &Response) -> Vec<String> {
    response
        .headers
        .iter()
        .filter_map(|h| match h {
            Header::Contact(c) => Some(c.value().to_string()),
            _ => None,
        })
        .collect()
}

fn code(response: &Response) -> u16 {
    response.status_code.code()
}

fn uris(reg: &Registrar, now: Instant) -> Vec<String> {
    reg.lookup(now, AOR).into_iter().map(|b| b.contact.clone()).collect()
}

#[test]
fn registers_several_contacts_from_several_headers_and_lines() {
    let t0 = Instant::now();
    let mut reg = registrar();
    let req = register(
        "c1",
        1,
        "Contact: <sip:1001@10.0.0.1:5070;transport=tcp>, <sip:1001@10.0.0.2>\r\n\
         Contact: sip:1001@10.0.0.3\r\n",
    );
    let resp = reg.handle_register(t0, AOR, &req, peer());
    assert_eq!(code(&resp), 200);
    assert_eq!(reg.binding_count(), 3);
    let listed = contacts_of(&resp);
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|c| c.ends_with(";expires=1800")), "{listed:?}");
    assert!(listed.contains(&"<sip:1001@10.0.0.1:5070;transport=tcp>;expires=1800".to_string()));
    let b = &reg.lookup(t0, AOR)[0];
    assert_eq!(b.source, peer());
    assert_eq!(b.user_agent.as_deref(), Some("TestPhone/1.0"));
    assert_eq!(b.call_id, "c1");
    assert_eq!(b.cseq, 1);
}

#[test]
fn response_copies_request_headers_and_tags_to() {
    let t0 = Instant::now();
    let mut reg = registrar();
    let req = register("c1", 1, "Contact: <sip:1001@10.0.0.1>\r\n");
    let resp = reg.handle_register(t0, AOR, &req, peer());
    assert_eq!(resp.call_id_header().expect("call-id").value(), "c1");
    assert_eq!(resp.cseq_header().expect("cseq").value(), "1 REGISTER");
    assert!(resp.via_header().expect("via").value().contains("z9hG4bK1"));
    assert_eq!(
        resp.from_header().expect("from").value(),
        "<sip:1001@example.com>;tag=f1"
    );
    assert!(resp.to_header().expect("to").tag().expect("parse").is_some());
}

#[test]
fn expires_precedence_param_then_header_then_default_and_clamp() {
    let t0 = Instant::now();
    let mut reg = registrar();
    let req = register(
        "c1",
        1,
        "Contact: <sip:a@h1>;expires=120, <sip:b@h2>, <sip:c@h3>;expires=99999\r\nExpires: 300\r\n",
    );
    let resp = reg.handle_register(t0, AOR, &req, peer());
    assert_eq!(code(&resp), 200);
    let by_uri = |reg: &Registrar, u: &str| {
        reg.lookup(t0, AOR)
            .into_iter()
            .find(|b| b.contact == u)
            .map(|b| b.expires_in(t0))
    };
    assert_eq!(by_uri(&reg, "sip:a@h1"), Some(120));
    assert_eq!(by_uri(&reg, "sip:b@h2"), Some(300));
    assert_eq!(by_uri(&reg, "sip:c@h3"), Some(3600), "clamped to max_expires");
    // A malformed Expires header counts as the default.
    let req = register("c2", 1, "Contact: <sip:d@h4>\r\nExpires: soon\r\n");
    reg.handle_register(t0, AOR, &req, peer());
    assert_eq!(by_uri(&reg, "sip:d@h4"), Some(1800));
}

#[test]
fn too_brief_is_423_with_min_expires_and_changes_nothing() {
    let t0 = Instant::now();
    let mut reg = registrar();
    let req = register("c1", 1, "Contact: <sip:a@h1>, <sip:b@h2>;expires=30\r\n");
    let resp = reg.handle_register(t0, AOR, &req, peer());
    assert_eq!(code(&resp), 423);
    assert!(resp
        .headers
        .iter()
        .any(|h| matches!(h, Header::MinExpires(m) if m.value() == "60")));
    assert_eq!(reg.binding_count(), 0);
    assert!(contacts_of(&resp).is_empty());
}

#[test]
fn bindings_expire_and_refresh_extends_them() {
    let t0 = Instant::now();
    let mut reg = registrar();
    let req = register(
        "c1",
        1,
        "Contact: <sip:a@h1>;expires=60\r\nContact: <sip:b@h2>;expires=120\r\n",
    );
    reg.handle_register(t0, AOR, &req, peer());
    assert_eq!(reg.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    let t50 = t0 + Duration::from_secs(50);
    let refresh = register("c1", 2, "Contact: <sip:a@h1>;expires=60\r\n");
    let resp = reg.handle_register(t50, AOR, &refresh, peer());
    assert_eq!(code(&resp), 200);
    let mut listed = contacts_of(&resp);
    listed.sort();
    assert_eq!(listed, vec!["<sip:a@h1>;expires=60", "<sip:b@h2>;expires=70"]);
    assert_eq!(reg.poll_timeout(), Some(t0 + Duration::from_secs(110)));

    let t110 = t0 + Duration::from_secs(110);
    assert_eq!(uris(&reg, t110), vec!["sip:b@h2"], "expired ones are not looked up");
    assert_eq!(reg.expire(t110), 1);
    assert_eq!(reg.expire(t0 + Duration::from_secs(120)), 1);
    assert_eq!(reg.binding_count(), 0);
    assert_eq!(reg.aors().count(), 0);
    assert_eq!(reg.poll_timeout(), None);
}

#[test]
fn expires_zero_removes_one_binding() {
    let t0 = Instant::now();
    let mut reg = registrar();
    reg.handle_register(
        t0,
        AOR,
        &register("c1", 1, "Contact: <sip:a@h1>, <sip:b@h2>\r\n"),
        peer(),
    );
    // Another device (another Call-ID) may remove it; URI compared case-insensitively.
    let req = register("other", 1, "Contact: <SIP:a@H1>\r\nExpires: 0\r\n");
    let resp = reg.handle_register(t0, AOR, &req, peer());
    assert_eq!(code(&resp), 200);
    assert_eq!(contacts_of(&resp), vec!["<sip:b@h2>;expires=1800"]);
    let req = register("c1", 2, "Contact: <sip:b@h2>;expires=0\r\n");
    let resp = reg.handle_register(t0, AOR, &req, peer());
    assert!(contacts_of(&resp).is_empty());
    assert_eq!(reg.binding_count(), 0);
}

#[test]
fn star_with_expires_zero_removes_all() {
    let t0 = Instant::now();
    let mut reg = registrar();
    reg.handle_register(
        t0,
        AOR,
        &register("c1", 1, "Contact: <sip:a@h1>, <sip:b@h2>\r\n"),
        peer(),
    );
    reg.handle_register(
        t0,
        "sip:1002@example.com",
        &register("c9", 1, "Contact: <sip:z@h9>\r\n"),
        peer(),
    );
    let resp = reg.handle_register(t0, AOR, &register("c1", 2, "Contact: *\r\nExpires: 0\r\n"), peer());
    assert_eq!(code(&resp), 200);
    assert!(contacts_of(&resp).is_empty());
    assert!(reg.lookup(t0, AOR).is_empty());
    assert_eq!(reg.binding_count(), 1, "other AORs untouched");
}

#[test]
fn star_misuse_is_400() {
    let t0 = Instant::now();
    let mut reg = registrar();
    reg.handle_register(t0, AOR, &register("c1", 1, "Contact: <sip:a@h1>\r\n"), peer());
    for extra in [
        "Contact: *, <sip:b@h2>\r\nExpires: 0\r\n",
        "Contact: *\r\nContact: <sip:b@h2>\r\nExpires: 0\r\n",
        "Contact: *\r\nExpires: 60\r\n",
        "Contact: *\r\n",
    ] {
        let resp = reg.handle_register(t0, AOR, &register("c2", 1, extra), peer());
        assert_eq!(code(&resp), 400, "{extra}");
    }
    assert_eq!(reg.binding_count(), 1);
}

#[test]
fn same_call_id_needs_a_higher_cseq() {
    let t0 = Instant::now();
    let mut reg = registrar();
    reg.handle_register(
        t0,
        AOR,
        &register("c1", 5, "Contact: <sip:a@h1>;expires=100\r\n"),
        peer(),
    );
    for cseq in [5, 4] {
        let req = register("c1", cseq, "Contact: <sip:a@h1>;expires=0, <sip:new@h>\r\n");
        assert_eq!(code(&reg.handle_register(t0, AOR, &req, peer())), 500);
    }
    let star = register("c1", 5, "Contact: *\r\nExpires: 0\r\n");
    assert_eq!(code(&reg.handle_register(t0, AOR, &star, peer())), 500);
    assert_eq!(uris(&reg, t0), vec!["sip:a@h1"], "an aborted request changes nothing");
    // A different Call-ID (a rebooted phone) may update with any CSeq.
    let req = register("c2", 1, "Contact: <sip:a@h1>;expires=200\r\n");
    assert_eq!(code(&reg.handle_register(t0, AOR, &req, peer())), 200);
    assert_eq!(reg.lookup(t0, AOR)[0].expires_in(t0), 200);
    assert_eq!(reg.lookup(t0, AOR)[0].call_id, "c2");
    // And the same Call-ID with a higher CSeq.
    let req = register("c2", 2, "Contact: <sip:a@h1>;expires=300\r\n");
    assert_eq!(code(&reg.handle_register(t0, AOR, &req, peer())), 200);
    assert_eq!(reg.lookup(t0, AOR)[0].expires_in(t0), 300);
}

#[test]
fn lookup_orders_by_q_then_recency() {
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_secs(1);
    let mut reg = registrar();
    reg.handle_register(t0, AOR, &register("c1", 1, "Contact: <sip:old@h>\r\n"), peer());
    reg.handle_register(t0, AOR, &register("c2", 1, "Contact: <sip:low@h>;q=0.1\r\n"), peer());
    reg.handle_register(t1, AOR, &register("c3", 1, "Contact: <sip:new@h>\r\n"), peer());
    reg.handle_register(t1, AOR, &register("c4", 1, "Contact: <sip:high@h>;q=1.0\r\n"), peer());
    reg.handle_register(t1, AOR, &register("c5", 1, "Contact: <sip:mid@h>;q=0.5\r\n"), peer());
    assert_eq!(
        uris(&reg, t1),
        vec!["sip:high@h", "sip:new@h", "sip:old@h", "sip:mid@h", "sip:low@h"]
    );
    let resp = reg.handle_register(t1, AOR, &register("c6", 1, ""), peer());
    assert!(contacts_of(&resp).contains(&"<sip:mid@h>;expires=1800;q=0.5".to_string()));
}

#[test]
fn query_without_contact_lists_bindings() {
    let t0 = Instant::now();
    let mut reg = registrar();
    let resp = reg.handle_register(t0, AOR, &register("c1", 1, ""), peer());
    assert_eq!(code(&resp), 200);
    assert!(contacts_of(&resp).is_empty());
    reg.handle_register(t0, AOR, &register("c1", 2, "Contact: <sip:a@h1>\r\n"), peer());
    let t10 = t0 + Duration::from_secs(10);
    let resp = reg.handle_register(t10, AOR, &register("x", 1, ""), peer());
    assert_eq!(contacts_of(&resp), vec!["<sip:a@h1>;expires=1790"]);
}

#[test]
fn bad_requests_are_400() {
    let t0 = Instant::now();
    let mut reg = registrar();
    for extra in [
        "Contact: <sip:a@h1\r\n",
        "Contact: <mailto:a@h>\r\n",
        "Contact: <sip:a@h1>;q=2\r\n",
    ] {
        let resp = reg.handle_register(t0, AOR, &register("c1", 1, extra), peer());
        assert_eq!(code(&resp), 400, "{extra}");
    }
    let mut req = register("c1", 1, "Contact: <sip:a@h1>\r\n");
    req.headers.retain(|h| !matches!(h, Header::CallId(_)));
    assert_eq!(code(&reg.handle_register(t0, AOR, &req, peer())), 400);
    assert_eq!(reg.binding_count(), 0);
}

#[test]
fn too_many_bindings_is_503_and_changes_nothing() {
    let t0 = Instant::now();
    let mut reg = registrar();
    let many: Vec<String> = (0..MAX_BINDINGS_PER_AOR).map(|i| format!("<sip:u@h{i}>")).collect();
    let req = register("c1", 1, &format!("Contact: {}\r\n", many.join(", ")));
    assert_eq!(code(&reg.handle_register(t0, AOR, &req, peer())), 200);
    let req = register("c2", 1, "Contact: <sip:one@more>\r\n");
    assert_eq!(code(&reg.handle_register(t0, AOR, &req, peer())), 503);
    assert_eq!(reg.binding_count(), MAX_BINDINGS_PER_AOR);
}

#[test]
fn registrations_snapshot() {
    let t0 = Instant::now();
    let mut reg = registrar();
    reg.handle_register(t0, "sip:b@x", &register("c1", 1, "Contact: <sip:b@h>\r\n"), peer());
    reg.handle_register(
        t0,
        "sip:a@x",
        &register("c2", 1, "Contact: <sip:a@h>;expires=60\r\n"),
        peer(),
    );
    let snap = reg.registrations(t0 + Duration::from_millis(500));
    assert_eq!(snap.len(), 2);
    assert_eq!(snap[0].aor, "sip:a@x");
    assert_eq!(snap[0].contact, "sip:a@h");
    assert_eq!(snap[0].expires_in, 60, "rounded up");
    assert_eq!(snap[0].source, peer());
    assert_eq!(snap[1].user_agent.as_deref(), Some("TestPhone/1.0"));
}

proptest! {
    #[test]
    fn random_contact_values_never_panic(s in "\\PC{0,120}") {
        let t0 = Instant::now();
        let mut reg = registrar();
        let mut req = register("c1", 1, "");
        req.headers.push(Header::Contact(rsip::headers::Contact::new(s.clone())));
        req.headers.push(Header::Expires(rsip::headers::Expires::new(s)));
        let resp = reg.handle_register(t0, AOR, &req, peer());
        prop_assert!(matches!(code(&resp), 200 | 400 | 423));
    }
}
