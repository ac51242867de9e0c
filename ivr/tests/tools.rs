//! `graph` and `simulate` output on a small flow (snapshot-style).

use std::sync::Arc;

use ivr::{graph, parse_at, parse_flow, simulate, GraphFormat, SimScript};

fn small() -> Arc<ivr::Flow> {
    Arc::new(parse_flow("small.yaml", include_str!("flows/small.yaml")).expect("parses"))
}

#[test]
fn dot_output() {
    let expected = r#"digraph "Small" {
  node [shape=box, style=rounded, fontname="Helvetica"];
  edge [fontname="Helvetica", fontsize=10];
  "__start" [shape=circle, label="start"];
  "__start" -> "hours";
  "hours" [shape=diamond, label="hours\nhours"];
  "menu" [shape=diamond, label="menu\nmenu"];
  "sales" [shape=doubleoctagon, label="sales\nenqueue sales (priority 2)"];
  "closed" [shape=doubleoctagon, label="closed\nhangup"];
  "hours" -> "menu" [label="open"];
  "hours" -> "closed" [label="closed"];
  "menu" -> "sales" [label="1"];
  "menu" -> "closed" [label="invalid"];
}
"#;
    assert_eq!(graph(&small(), GraphFormat::Dot), expected);
}

#[test]
fn mermaid_output() {
    let expected = r#"flowchart TD
  start((start))
  start --> n0
  n0{"hours<br/>hours"}
  n1{"menu<br/>menu"}
  n2(["sales<br/>enqueue sales (priority 2)"])
  n3(["closed<br/>hangup"])
  n0 -->|"open"| n1
  n0 -->|"closed"| n3
  n1 -->|"1"| n2
  n1 -->|"invalid"| n3
"#;
    assert_eq!(graph(&small(), GraphFormat::Mermaid), expected);
}

#[test]
fn graph_escapes_names() {
    let flow = parse_flow(
        "q.yaml",
        "version: 1\nname: 'say \"hi\" | <b>'\ndefault_language: en\nstart: a\nnodes:\n  a: { type: hangup }\n",
    )
    .expect("parses");
    assert!(graph(&flow, GraphFormat::Dot).starts_with("digraph \"say \\\"hi\\\" | <b>\" {"));
    assert!(!graph(&flow, GraphFormat::Mermaid).contains("<b>"));
}

#[test]
fn simulate_on_a_holiday_in_the_flows_time_zone() {
    // 2026-12-24 10:00 in Madrid is a yearly holiday (12-24): closed.
    let at = parse_at("2026-12-24T10:00", small().timezone).expect("time");
    assert_eq!(at.to_rfc3339(), "2026-12-24T09:00:00+00:00");
    let report = simulate(&small(), &SimScript::new(at), None);
    assert_eq!(
        report.to_string(),
        "\
path: hours -> closed
events:
      0.0s  play en/closed.wav
      3.0s  hang up
      3.0s  finished: HungUp
prompts played:
  en/closed.wav
attributes set:
result: HungUp
"
    );
}

#[test]
fn simulate_open_with_digits() {
    let at = parse_at("2026-12-21T10:00", small().timezone).expect("time");
    let mut script = SimScript::new(at);
    script.digits = vec!["1".into()];
    let report = simulate(&small(), &script, None);
    assert_eq!(
        report.to_string(),
        "\
path: hours -> menu -> sales
events:
      0.0s  play en/menu.wav (barge-in)
      3.0s  caller presses 1
      3.3s  chose 1 at menu
      3.3s  enqueue sales priority 2 skills []
      3.3s  finished: Enqueued
prompts played:
  en/menu.wav
attributes set:
result: Enqueued
"
    );
}

#[test]
fn simulate_http_answers_and_survey() {
    let flow = Arc::new(
        parse_flow(
            "h.yaml",
            r#"version: 1
default_language: en
start: dip
nodes:
  dip:
    type: http
    url: https://crm.example/lookup
    store: { vip: vip }
    branches: [{ field: vip, equals: "true", next: vip }]
    next: queue
    fallback: queue
  vip: { type: enqueue, queue: vip, priority: 10, after: survey }
  queue: { type: enqueue, queue: support }
  survey: { type: survey, kind: nps, prompts: [nps], store: nps }
"#,
        )
        .expect("parses"),
    );
    let at = parse_at("2026-01-05T10:00:00Z", None).expect("time");
    let mut script = SimScript::new(at);
    script.http = vec![Ok(serde_json::json!({"vip": true}))];
    script.digits = vec!["9".into()];
    let report = simulate(&flow, &script, None);
    let path: Vec<&str> = report.path.iter().map(|v| v.node.as_str()).collect();
    assert_eq!(path, ["dip", "vip", "survey"]);
    assert_eq!(
        report.attributes,
        [("vip".into(), "true".into()), ("nps".into(), "9".into())]
    );
    // Without an answer the request times out and the fallback is taken.
    let report = simulate(&flow, &SimScript::new(at), None);
    let path: Vec<&str> = report.path.iter().map(|v| v.node.as_str()).collect();
    assert_eq!(path, ["dip", "queue"]);
}

#[test]
fn parse_at_forms() {
    let madrid = Some(chrono_tz::Europe::Madrid);
    let utc = |s: &str, tz| parse_at(s, tz).map(|t| t.to_rfc3339());
    assert_eq!(
        utc("2026-07-01T12:00", madrid).as_deref(),
        Ok("2026-07-01T10:00:00+00:00")
    );
    assert_eq!(
        utc("2026-07-01T12:00Z", madrid).as_deref(),
        Ok("2026-07-01T12:00:00+00:00")
    );
    assert_eq!(
        utc("2026-07-01T12:00+02:00", None).as_deref(),
        Ok("2026-07-01T10:00:00+00:00")
    );
    assert_eq!(
        utc("2026-07-01 12:00:30", None).as_deref(),
        Ok("2026-07-01T12:00:30+00:00")
    );
    assert!(parse_at("tomorrow", None).is_err());
    // 02:30 on the last Sunday of March does not exist in Madrid.
    assert!(matches!(
        parse_at("2026-03-29T02:30", madrid),
        Err(ivr::SimError::NoSuchLocalTime(..))
    ));
}

#[test]
fn schema_is_json_and_lists_every_node_type() {
    let schema: serde_json::Value = serde_json::from_str(ivr::SCHEMA).expect("schema is JSON");
    let types: Vec<&str> = schema["definitions"]["node"]["properties"]["type"]["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    // Every type the schema knows parses (as a minimal node, or with a field error
    // that is not "unknown node type").
    for t in &types {
        let src = format!("version: 1\ndefault_language: en\nstart: a\nnodes:\n  a: {{ type: {t} }}\n");
        if let Err(e) = parse_flow("s.yaml", &src) {
            assert!(!e.to_string().contains("unknown node type"), "{t}: {e}");
        }
    }
    assert_eq!(types.len(), 17);
    assert_eq!(schema["properties"]["version"]["const"], 1);
}
