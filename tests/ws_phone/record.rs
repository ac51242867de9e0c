//! Lookups in the switch's call records (/api/calls) that the call tests
//! check: an ended call, its legs' RTP counts and its marks.

use serde_json::Value;

use crate::common::Switch;

/// An ended call from the last 15 minutes with at least `legs` legs, if
/// there is one yet (for `common::poll_until`).
pub fn ended_call(switch: &Switch, legs: usize) -> Option<Value> {
    let calls = switch.json("/api/calls?window=15m");
    calls["calls"]
        .as_array()?
        .iter()
        .find(|c| !c["end"].is_null() && c["legs"].as_array().is_some_and(|l| l.len() >= legs))
        .cloned()
}

/// The RTP packets the switch counted on the record's `side` leg.
pub fn leg_packets(record: &Value, side: &str) -> u64 {
    record["legs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["side"] == side)
        .and_then(|l| l["packets"].as_u64())
        .unwrap_or(0)
}

/// The record's marks of `kind`, in order.
pub fn marks<'a>(record: &'a Value, kind: &str) -> Vec<&'a Value> {
    record["marks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["what"]["kind"] == kind)
        .collect()
}
