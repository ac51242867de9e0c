//! Random YAML-ish input never panics the parser, the checker or the tools.

use std::sync::Arc;

use proptest::prelude::*;

const GOOD: &str = include_str!("flows/small.yaml");

/// Fragments flow files are made of, so random input often parses as YAML.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("version: 1\n".to_owned()),
        Just("default_language: en\n".to_owned()),
        Just("start: a\n".to_owned()),
        Just("nodes:\n".to_owned()),
        Just("  a:\n".to_owned()),
        Just("    type: menu\n".to_owned()),
        Just("    type: play\n".to_owned()),
        Just("    type: hours\n".to_owned()),
        Just("    prompts: [x, {name: y, language: es}]\n".to_owned()),
        Just("    branches: {\"1\": a}\n".to_owned()),
        Just("    next: a\n".to_owned()),
        Just("    timezone: Europe/Madrid\n".to_owned()),
        Just("    weekly: {mon: [\"09:00-18:00\"]}\n".to_owned()),
        Just("- ".to_owned()),
        Just(": ".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("\t".to_owned()),
        Just("---\n".to_owned()),
        "[ -~\n]{0,12}",
        any::<String>(),
    ]
}

fn exercise(src: &str) {
    let _ = ivr::check("p.yaml", src, &ivr::CheckOptions::default());
    if let Ok(flow) = ivr::parse_flow("p.yaml", src) {
        let flow = Arc::new(flow);
        let _ = ivr::graph(&flow, ivr::GraphFormat::Dot);
        let _ = ivr::graph(&flow, ivr::GraphFormat::Mermaid);
        let at = ivr::parse_at("2026-01-05T10:00Z", None).unwrap_or_default();
        let mut script = ivr::SimScript::new(at);
        script.digits = vec!["1".into(), "".into(), "12#".into()];
        let _ = ivr::simulate(&flow, &script, None);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn fragments_never_panic(parts in prop::collection::vec(fragment(), 0..40)) {
        exercise(&parts.concat());
    }

    #[test]
    fn mutated_good_file_never_panics(cut in 0usize..2000, insert in fragment(), drop in 0usize..20) {
        let mut src = GOOD.to_owned();
        let at = src.char_indices().map(|(i, _)| i).nth(cut % src.chars().count()).unwrap_or(0);
        let end = src[at..].char_indices().map(|(i, _)| at + i).nth(drop).unwrap_or(src.len());
        src.replace_range(at..end, &insert);
        exercise(&src);
    }

    #[test]
    fn arbitrary_text_never_panics(src in any::<String>()) {
        exercise(&src);
    }
}
