//! Bad flow files: every error at once, each with its line and column, never a panic.

use ivr::{check, parse_flow, CheckOptions, Diagnostic};

fn errors(src: &str) -> Vec<String> {
    match parse_flow("f.yaml", src) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

const HEAD: &str = "version: 1\ndefault_language: en\nstart: a\nnodes:\n";

#[test]
fn a_file_with_every_kind_of_mistake_reports_them_all() {
    let src = include_str!("flows/bad_everything.yaml");
    let got = errors(src).join("\n").replace("f.yaml", "bad.yaml");
    let expected = "\
bad.yaml:1:10: error: unsupported version 2: this switchboard reads version 1
bad.yaml:4:8: error: unknown node `welcom` (did you mean `welcome`?)
bad.yaml:5:1: error: unknown field `colour` in the flow (top level)
bad.yaml:9:22: error: `../etc/passwd` is not a prompt name (a file name without `.wav`: letters, digits, `_`, `-`, `.`)
bad.yaml:10:15: error: expected true or false, found `maybe`
bad.yaml:15:26: error: `5 parsecs`: unknown unit `parsecs` (use ms, s or m)
bad.yaml:17:29: error: branch `12` can never be chosen: input is 1 to 1 keys long
bad.yaml:17:44: error: `x` is not a key sequence (0-9, *, #, A-D, not the terminator)
bad.yaml:18:14: error: unknown node `nowhere`
bad.yaml:22:15: error: expected a whole number, found `high`
bad.yaml:25:15: error: unknown time zone `Europe/Madird` (use an IANA name like `Europe/Madrid`)
bad.yaml:26:37: error: unknown field `funday` in `weekly` (days are mon, tue, wed, thu, fri, sat, sun)
bad.yaml:26:68: error: interval `18:00-09:00` ends before it starts
bad.yaml:27:16: error: `2026-02-30` is not a date like `2026-12-25` or `12-25`
bad.yaml:33:34: error: bad pattern `+34(`: repetition operator missing expression
bad.yaml:34:9: error: missing a test: one of `equals`, `one_of`, `prefix`, `matches`, `exists`
bad.yaml:36:37: error: language `fr` is not in the flow's `languages` (en, es)
bad.yaml:37:14: error: unknown node type `teleport` (one of: play, menu, gather, set, language, hours, switch, http, enqueue, transfer, record, voicemail, hangup, survey, goto, call, return)
bad.yaml:38:6: error: missing field `fallback`
bad.yaml:38:25: error: `ftp://x` is not an http:// or https:// URL";
    assert_eq!(got, expected);
}

#[test]
fn yaml_syntax_errors_have_positions() {
    assert_eq!(
        errors("version: 1\nnodes: [\n"),
        ["f.yaml:3:1: error: YAML syntax: while parsing a node, did not find expected node content"]
    );
    let e = errors("version: 1\nstart: \"unterminated\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("f.yaml:2:8: error: YAML syntax"), "{e:?}");
    let e = errors("a: b: c\n");
    assert!(e[0].starts_with("f.yaml:1:5: error: YAML syntax"), "{e:?}");
}

#[test]
fn empty_and_non_mapping_files() {
    assert_eq!(errors(""), ["f.yaml:1:1: error: the file is empty"]);
    assert_eq!(errors("# only a comment\n"), ["f.yaml:1:1: error: the file is empty"]);
    assert_eq!(
        errors("- a\n"),
        ["f.yaml:1:1: error: expected a mapping with `version`, `start` and `nodes`, found a list"]
    );
    assert_eq!(
        errors("just text"),
        ["f.yaml:1:1: error: expected a mapping with `version`, `start` and `nodes`, found a scalar"]
    );
}

#[test]
fn missing_top_level_fields() {
    assert_eq!(
        errors("name: x\n"),
        [
            "f.yaml:1:1: error: missing field `default_language`",
            "f.yaml:1:1: error: missing field `nodes`",
            "f.yaml:1:1: error: missing field `start`",
            "f.yaml:1:1: error: missing field `version`",
        ]
    );
}

#[test]
fn duplicate_keys_anchors_and_second_documents() {
    let src = format!("{HEAD}  a: {{ type: hangup }}\n  a: {{ type: hangup }}\n");
    assert_eq!(errors(&src), ["f.yaml:6:3: error: duplicate key `a`"]);
    let src = format!("{HEAD}  a: &x {{ type: hangup }}\n  b: *x\n");
    assert_eq!(
        errors(&src),
        [
            "f.yaml:5:9: error: YAML anchors (`&name`) are not supported in flow files",
            "f.yaml:6:6: error: YAML aliases (`*name`) are not supported in flow files",
            "f.yaml:6:6: error: expected a node (a mapping with `type`), found null",
        ]
    );
    let src = format!("{HEAD}  a: {{ type: hangup }}\n---\nx: 1\n");
    assert_eq!(
        errors(&src),
        ["f.yaml:6:1: error: a flow file holds one YAML document; this is a second one"]
    );
}

#[test]
fn wrong_types_name_what_was_expected() {
    let src = format!(
        "{HEAD}  a: {{ type: play, prompts: hello, next: [b] }}\n  b: {{ type: menu, prompts: [x], branches: [1, 2] }}\n"
    );
    assert_eq!(
        errors(&src),
        [
            "f.yaml:5:29: error: expected a list of prompts, found a scalar",
            "f.yaml:5:42: error: expected a node id, found a list",
            "f.yaml:6:44: error: expected a mapping of inputs to node ids, found a list",
        ]
    );
}

#[test]
fn node_level_rules() {
    let src = format!(
        "{HEAD}  a: {{ type: transfer }}\n  b: {{ type: gather, prompts: [x], min_digits: 4, max_digits: 2 }}\n  c: {{ type: survey, kind: ces, prompts: [q], store: s }}\n  d: {{ type: transfer, uri: \"tel:123\" }}\n  e: {{ type: play, prompts: [], next: a, extra: 1 }}\n"
    );
    assert_eq!(
        errors(&src),
        [
            "f.yaml:5:6: error: a transfer needs exactly one of `uri` and `extension`",
            "f.yaml:6:6: error: a gather needs `next` or `branches` (where to go with the digits)",
            "f.yaml:6:63: error: max_digits (2) is less than min_digits (4)",
            "f.yaml:7:28: error: unknown survey kind `ces` (csat or nps)",
            "f.yaml:8:29: error: `tel:123` is not a sip: or sips: URI",
            "f.yaml:9:29: error: `prompts` is empty",
            "f.yaml:9:42: error: unknown field `extra` in play node `e`",
        ]
    );
}

#[test]
fn hours_need_a_time_zone_somewhere() {
    let src = format!("{HEAD}  a: {{ type: hours, weekly: {{}}, open: a, closed: a }}\n");
    assert_eq!(
        errors(&src),
        ["f.yaml:5:6: error: missing field `timezone` (here or at the top of the flow)"]
    );
    let src = format!("timezone: Europe/Lisbon\n{HEAD}  a: {{ type: hours, weekly: {{}}, open: a, closed: a }}\n");
    assert!(errors(&src).is_empty());
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let src = format!("{HEAD}  a: {}\n", "[".repeat(5000));
    assert!(!errors(&src).is_empty());
    let src = format!("{HEAD}  a: {}{}\n", "[".repeat(200), "]".repeat(200));
    assert!(errors(&src).iter().any(|e| e.contains("nesting deeper than 64")));
}

#[test]
fn huge_files_are_refused() {
    let src = format!("{HEAD}# {}\n", "x".repeat(ivr::MAX_FILE_SIZE));
    assert_eq!(errors(&src), ["f.yaml:1:1: error: file larger than 1048576 bytes"]);
}

#[test]
fn check_reports_flow_level_problems() {
    let src = include_str!("flows/check_problems.yaml");
    let mut catalog = ivr::PromptCatalog::new();
    catalog.insert("en", "main_menu");
    catalog.insert("es", "bye");
    let queues = vec!["sales".to_owned(), "support".to_owned()];
    let diags = check(
        "c.yaml",
        src,
        &CheckOptions {
            prompts: Some(&catalog),
            queues: Some(&queues),
        },
    );
    let got: Vec<String> = diags.iter().map(Diagnostic::to_string).collect();
    assert_eq!(
        got,
        [
            "c.yaml:8:15: warning: prompt `main_menu` has no `es/main_menu.wav`; callers in `es` hear the `en` one",
            "c.yaml:14:12: error: unknown queue `salez` (known: sales, support)",
            "c.yaml:15:3: error: loop with no exit that never waits for input: `spin` -> `spin2`",
            "c.yaml:22:3: warning: node `orphan` is never reached from `main`",
            "c.yaml:24:15: error: missing prompt file `en/bye.wav`",
            "c.yaml:25:3: warning: node `guarded` is never reached from `main`",
            "c.yaml:25:3: warning: nodes `guarded` -> `guarded2` can loop without waiting for input (the call is hung up after 100 steps)",
            "c.yaml:30:3: warning: node `guarded2` is never reached from `main`",
        ]
    );
    let d = &diags[1];
    assert_eq!((d.line, d.column, d.is_error()), (14, 12, true));
    // Without a catalogue or queue list those checks are skipped.
    let diags = check("c.yaml", src, &CheckOptions::default());
    assert_eq!(diags.iter().filter(|d| d.is_error()).count(), 1);
}

#[test]
fn check_returns_parse_errors_too() {
    let diags = check("x.yaml", "version: 1\n", &CheckOptions::default());
    assert_eq!(diags.len(), 3);
    assert!(diags.iter().all(Diagnostic::is_error));
}
