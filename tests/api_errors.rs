//! Bad API requests get the right 4xx with a JSON error: no token 401, a
//! read token on a change 403, a body that is not JSON 400, JSON of the
//! wrong shape 422 naming the field, no JSON content type 415, a body over
//! the limit 413, unknown things 404, a wrong method 405.
#![allow(clippy::unwrap_used)]

mod common;

use common::{http_request_as, HttpResponse, Switch, SwitchConfig, CONTROL_TOKEN, READ_TOKEN};

fn switch() -> Switch {
    Switch::start(SwitchConfig {
        extra_toml: "\n[[queues]]\nname = \"support\"\nagents = [\"1001\"]\n".into(),
        ..SwitchConfig::for_sipp()
    })
}

fn error(r: &HttpResponse) -> serde_json::Value {
    let body: serde_json::Value =
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not a JSON error ({e}): {} {}", r.status, r.body));
    assert!(body["code"].is_string() && body["message"].is_string(), "{body}");
    body
}

fn raw(switch: &Switch, request: &str) -> HttpResponse {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(switch.http_addr()).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    HttpResponse {
        status,
        headers: Vec::new(),
        body,
    }
}

#[test]
fn tokens_are_checked_first() {
    let switch = switch();
    let addr = switch.http_addr();
    let body = r#"{"number": "555", "queue": "support"}"#;
    let r = http_request_as(addr, "POST", "/api/callbacks", Some(body), None).unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    error(&r);
    let r = http_request_as(addr, "POST", "/api/callbacks", Some(body), Some("not-a-token-at-all")).unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    let r = http_request_as(addr, "POST", "/api/callbacks", Some(body), Some(READ_TOKEN)).unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    error(&r);
    let r = http_request_as(addr, "GET", "/api/hooks/dead-letters", None, Some(READ_TOKEN)).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = http_request_as(addr, "POST", "/api/hooks/dead-letters/1/retry", None, Some(READ_TOKEN)).unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    let r = http_request_as(addr, "GET", "/api/events", None, None).unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
}

#[test]
fn malformed_bodies_are_refused_naming_the_field() {
    let switch = switch();
    let addr = switch.http_addr();
    let post = |path: &str, body: &str| http_request_as(addr, "POST", path, Some(body), Some(CONTROL_TOKEN)).unwrap();

    let r = post("/api/callbacks", r#"{"number": "555", "queue": "#);
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(error(&r)["code"], "malformed_json");

    let r = post("/api/callbacks", r#"{"number": 555, "queue": "support"}"#);
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(error(&r)["field"], "number");

    let r = post(
        "/api/callbacks",
        r#"{"number": "555", "queue": "support", "attributes": {"a": 1}}"#,
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(error(&r)["field"], "attributes.a");

    let r = post("/api/callbacks", r#"{"number": "call me", "queue": "support"}"#);
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(error(&r)["field"], "number");

    let r = post(
        "/api/callbacks",
        r#"{"number": "555", "queue": "support", "at": "tomorrow"}"#,
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(error(&r)["field"], "at");

    let r = post(
        "/api/callbacks",
        r#"{"number": "555", "queue": "support", "colour": "red"}"#,
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(error(&r)["message"].as_str().unwrap().contains("colour"));

    let r = post("/api/callbacks", r#"{"queue": "support"}"#);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(error(&r)["message"].as_str().unwrap().contains("number"));

    let r = post("/api/callbacks", r#"{"number": "555", "queue": "nowhere"}"#);
    assert_eq!(r.status, 404, "{}", r.body);

    let r = post("/api/calls", r#"{"number": "555", "to": "somewhere"}"#);
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(error(&r)["field"], "to");

    let r = post("/api/calls/no-such-call/transfer", r#"{"to": "queue:support"}"#);
    assert_eq!(r.status, 404, "{}", r.body);
    let r = post("/api/calls/no-such-call/hangup", "");
    assert_eq!(r.status, 404, "{}", r.body);

    let r = http_request_as(
        addr,
        "PUT",
        "/api/agents/1001/state",
        Some(r#"{"state": 7}"#),
        Some(CONTROL_TOKEN),
    )
    .unwrap();
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(error(&r)["field"], "state");

    // Not JSON at all.
    let r = raw(
        &switch,
        &format!(
            "POST /api/callbacks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CONTROL_TOKEN}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
        ),
    );
    assert_eq!(r.status, 415, "{}", r.body);
    error(&r);
    // Over the limit.
    let big = format!(
        r#"{{"number": "555", "queue": "support", "attributes": {{"x": "{}"}}}}"#,
        "a".repeat(100_000)
    );
    let r = post("/api/callbacks", &big);
    assert_eq!(r.status, 413, "{}", r.body);
    error(&r);
}

#[test]
fn unknown_things_and_methods() {
    let switch = switch();
    let addr = switch.http_addr();
    let ask = |method: &str, path: &str| http_request_as(addr, method, path, None, Some(CONTROL_TOKEN)).unwrap();
    for path in ["/api/callbacks/12345", "/api/callbacks/not-a-number"] {
        let r = ask("GET", path);
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        error(&r);
        let r = ask("DELETE", path);
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    let r = ask("POST", "/api/hooks/dead-letters/77/retry");
    assert_eq!(r.status, 404, "{}", r.body);
    let r = ask("DELETE", "/api/hooks/dead-letters");
    assert_eq!(r.status, 405, "{}", r.body);
    error(&r);
    let r = ask("GET", "/api/nothing-here");
    assert_eq!(r.status, 404, "{}", r.body);
    error(&r);
    // The document describing all this.
    let r = ask("GET", "/api/openapi.json");
    assert_eq!(r.status, 200);
    let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
}

#[test]
fn a_call_back_by_id_can_be_read_and_cancelled() {
    let switch = switch();
    let addr = switch.http_addr();
    let r = common::http_post(
        addr,
        "/api/callbacks",
        r#"{"number": "+34600111222", "queue": "support", "at": "2099-01-01T10:00:00Z", "attributes": {"order": "A-17"}}"#,
    )
    .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let made: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let id = made["id"].as_u64().unwrap();
    let r = common::http_get(addr, &format!("/api/callbacks/{id}")).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let got: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(got["state"], "scheduled");
    assert_eq!(got["attributes"]["order"], "A-17");
    assert_eq!(got["due_at"], "2099-01-01T10:00:00.000Z");
    let r = http_request_as(addr, "DELETE", &format!("/api/callbacks/{id}"), None, Some(READ_TOKEN)).unwrap();
    assert_eq!(r.status, 403);
    let r = http_request_as(
        addr,
        "DELETE",
        &format!("/api/callbacks/{id}"),
        None,
        Some(CONTROL_TOKEN),
    )
    .unwrap();
    assert_eq!(r.status, 204, "{}", r.body);
    let r = common::http_get(addr, &format!("/api/callbacks/{id}")).unwrap();
    assert_eq!(r.status, 404, "{}", r.body);
}
