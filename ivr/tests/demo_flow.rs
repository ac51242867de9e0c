//! The demo flow on extension 100: parse, check against the committed prompts, simulate.

use std::path::Path;
use std::sync::Arc;

use ivr::{check, parse_at, parse_flow, simulate, CheckOptions, PromptCatalog, SimScript};

fn demo() -> (String, PromptCatalog) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let source = std::fs::read_to_string(root.join("flows/demo.yaml")).expect("demo flow");
    let mut catalog = PromptCatalog::new();
    for lang in ["en", "es"] {
        for entry in std::fs::read_dir(root.join("prompts").join(lang)).expect("prompts dir") {
            let path = entry.expect("entry").path();
            let name = path.file_stem().and_then(|s| s.to_str()).expect("name");
            catalog.insert(lang, name);
        }
    }
    (source, catalog)
}

#[test]
fn demo_flow_checks_clean_with_its_prompts() {
    let (source, catalog) = demo();
    let queues = vec!["support".to_owned()];
    let diags = check(
        "flows/demo.yaml",
        &source,
        &CheckOptions {
            prompts: Some(&catalog),
            queues: Some(&queues),
        },
    );
    assert!(diags.is_empty(), "{diags:#?}");
}

#[test]
fn demo_flow_spanish() {
    let (source, catalog) = demo();
    let flow = Arc::new(parse_flow("flows/demo.yaml", &source).expect("parses"));
    let mut script = SimScript::new(parse_at("2026-12-24T20:00", None).expect("time"));
    script.digits = vec!["2".into()];
    let report = simulate(&flow, &script, Some(Arc::new(catalog)));
    let text = report.to_string();
    assert!(
        text.starts_with("path: choose_language -> spanish -> welcome -> support\n"),
        "{text}"
    );
    assert!(text.contains("es/welcome.wav"), "{text}");
    assert!(
        text.contains("enqueue support priority 0 skills [language:es]"),
        "{text}"
    );
    assert!(text.contains("result: Enqueued"), "{text}");
}

#[test]
fn demo_flow_no_input_retries_twice_then_says_goodbye() {
    let (source, _) = demo();
    let flow = Arc::new(parse_flow("flows/demo.yaml", &source).expect("parses"));
    let script = SimScript::new(parse_at("2026-12-24T20:00Z", None).expect("time"));
    let report = simulate(&flow, &script, None);
    let path: Vec<&str> = report.path.iter().map(|v| v.node.as_str()).collect();
    assert_eq!(path, ["choose_language", "goodbye"]);
    let played: Vec<String> = report.prompts.iter().map(|p| p.path.display().to_string()).collect();
    assert_eq!(
        played,
        [
            "en/choose_language.wav",
            "es/choose_language.wav",
            "en/no_input.wav",
            "es/no_input.wav",
            "en/choose_language.wav",
            "es/choose_language.wav",
            "en/no_input.wav",
            "es/no_input.wav",
            "en/choose_language.wav",
            "es/choose_language.wav",
            "en/goodbye.wav",
            "es/goodbye.wav",
        ]
    );
    assert_eq!(report.finished, Some(ivr::FinishReason::HungUp));
}
