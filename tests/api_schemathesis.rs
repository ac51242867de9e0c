//! The OpenAPI document is true to the code: schemathesis (PyPI) generates
//! requests from /api/openapi.json of a running switch, positive and
//! negative, and checks that no request gets a 5xx, that every status,
//! content type and response body is one the document names, that invalid
//! data is refused and that the token is never ignored. The event streams
//! (which never end) are left out of the run. The run is kept short: a few
//! examples per operation and a fixed seed (no time budget: with one,
//! schemathesis keeps fuzzing until it is spent).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Switch, SwitchConfig, CONTROL_TOKEN};

/// The version scripts/test.sh installs.
const VERSION: &str = "4.32.5";

/// schemathesis: `$SWITCHBOARD_SCHEMATHESIS`, the virtual environment
/// scripts/test.sh makes, or PATH; else the test fails saying how to get it.
fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("SWITCHBOARD_SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let venv = PathBuf::from(home).join(".cache/switchboard-test-tools/venv/bin/schemathesis");
        if venv.is_file() {
            return venv;
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("schemathesis");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "schemathesis is not installed: run scripts/test.sh (it installs it), or \
         python3 -m venv ~/.cache/switchboard-test-tools/venv && \
         ~/.cache/switchboard-test-tools/venv/bin/pip install schemathesis=={VERSION}"
    );
}

#[test]
fn schemathesis_finds_the_api_true_to_its_openapi_document() {
    let bin = schemathesis();
    let dead_port = common::free_port();
    let switch = Switch::start(SwitchConfig {
        trunk_addresses: Vec::new(),
        extra_toml: format!(
            r#"
[[queues]]
name = "support"
agents = ["1001"]

[[trunks]]
name = "carrier"
addresses = ["127.0.0.1"]
dial = "sip:{{number}}@127.0.0.1:{dead_port}"

[callbacks]
trunk = "carrier"
# Calls the run originates ring nowhere: let them go at once.
ring_timeout_secs = 1
"#
        ),
        log_level: "info".into(),
        ..SwitchConfig::for_sipp()
    });
    let report = switch.dir().join("schemathesis");
    let output = Command::new(&bin)
        .arg("run")
        .arg(format!("http://{}/api/openapi.json", switch.http_addr()))
        .arg("--header")
        .arg(format!("Authorization: Bearer {CONTROL_TOKEN}"))
        .arg("--checks")
        .arg(
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,negative_data_rejection,ignored_auth",
        )
        .args([
            "--exclude-path",
            "/api/events",
            "--exclude-path",
            "/api/wallboard/stream",
        ])
        .args(["--max-examples", "20", "--seed", "7", "--request-timeout", "5"])
        .args(["--generation-database", "none", "--no-color"])
        .arg("--report-dir")
        .arg(&report)
        .current_dir(switch.dir())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("passed"), "{stdout}");
}
