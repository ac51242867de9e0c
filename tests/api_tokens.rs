//! The API's bearer tokens against a running switch: no token or an unknown
//! one is 401, a read token changing something is 403, the pages and the
//! probes stay open.

mod common;

use common::{http_request_as, Switch, SwitchConfig, CONTROL_TOKEN, READ_TOKEN};

fn status(switch: &Switch, method: &str, path: &str, body: Option<&str>, token: Option<&str>) -> (u16, String) {
    let r = http_request_as(switch.http_addr(), method, path, body, token)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    (r.status, r.body)
}

#[test]
fn the_api_needs_a_token_of_the_right_scope() {
    let switch = Switch::start(SwitchConfig::default());
    let state = r#"{"state":"logout"}"#;

    let (code, body) = status(&switch, "GET", "/api/agents", None, None);
    assert_eq!(code, 401, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).expect("a JSON error");
    assert_eq!(error["code"], "unauthorized");
    assert_eq!(
        status(&switch, "GET", "/api/agents", None, Some("not-a-token-at-all")).0,
        401
    );

    assert_eq!(status(&switch, "GET", "/api/agents", None, Some(READ_TOKEN)).0, 200);
    assert_eq!(
        status(
            &switch,
            "GET",
            &format!("/api/agents?access_token={READ_TOKEN}"),
            None,
            None
        )
        .0,
        200,
        "a browser's EventSource passes the token in the query"
    );
    let (code, body) = status(&switch, "POST", "/api/agents/1001/state", Some(state), Some(READ_TOKEN));
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["code"],
        "forbidden"
    );
    let (code, body) = status(
        &switch,
        "POST",
        "/api/agents/1001/state",
        Some(state),
        Some(CONTROL_TOKEN),
    );
    assert_eq!(code, 200, "{body}");

    assert_eq!(status(&switch, "GET", "/health", None, None).0, 200);
    assert_eq!(status(&switch, "GET", "/metrics", None, None).0, 200);
    assert_eq!(
        status(&switch, "GET", "/", None, None).0,
        200,
        "the wallboard page itself is open"
    );
}
