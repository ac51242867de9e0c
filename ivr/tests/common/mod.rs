//! Helpers shared by the interpreter tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use ivr::{parse_flow, Action, CallContext, Interpreter};

pub fn t0() -> DateTime<Utc> {
    // Monday 2026-01-05 10:00 UTC.
    Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).single().expect("valid")
}

pub fn secs(n: u64) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(Duration::from_secs(n)).expect("small")
}

pub fn flow(nodes: &str) -> Arc<ivr::Flow> {
    let src = format!("version: 1\ndefault_language: en\nlanguages: [en, es]\nstart: start\nnodes:\n{nodes}");
    Arc::new(parse_flow("t.yaml", &src).unwrap_or_else(|e| panic!("{e}")))
}

pub fn interp(nodes: &str) -> Interpreter {
    Interpreter::new(
        flow(nodes),
        CallContext {
            caller: "+34600111222".into(),
            called: "100".into(),
            ..CallContext::default()
        },
    )
}

pub fn drain(i: &mut Interpreter) -> Vec<Action> {
    std::iter::from_fn(|| i.poll_action()).collect()
}

pub fn played(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Play { prompts, .. } => Some(
                prompts
                    .iter()
                    .map(|p| p.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join("+"),
            ),
            _ => None,
        })
        .collect()
}

pub fn path(i: &Interpreter) -> Vec<&str> {
    i.path().iter().map(|v| v.node.as_str()).collect()
}
