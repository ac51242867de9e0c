//! Reading each node type.

use std::time::Duration;

use chrono_tz::Tz;
use regex::RegexBuilder;

use crate::hours::{self, Holiday, Schedule, DAYS};
use crate::model::{Case, Collect, HttpBranch, NodeKind, Prompt, Subject, SurveyKind, Test, TransferTarget};
use crate::parse::{Cx, Fields};
use crate::yaml::{Node, Value};

/// Node types, for the "unknown type" message.
const TYPES: &str = "play, menu, gather, set, language, hours, switch, http, enqueue, transfer, \
                     record, voicemail, hangup, survey, goto, call, return";

/// Parses one node; `None` if it has errors (already reported).
pub(crate) fn node(
    cx: &mut Cx<'_>,
    id: &str,
    v: &Node,
    languages: &[String],
    timezone: Option<Tz>,
) -> Option<NodeKind> {
    let entries = cx.map(v, "a node (a mapping with `type`)")?;
    let mut f = Fields::new(entries, v.pos);
    let ty_node = f.required(cx, "type")?;
    let ty = cx.string(ty_node, "a node type")?;
    let before = cx.diags.len();
    let kind = match ty.as_str() {
        "play" => play(cx, &mut f),
        "menu" => collect(cx, &mut f, true).map(NodeKind::Menu),
        "gather" => gather(cx, &mut f),
        "set" => set(cx, &mut f),
        "language" => language(cx, &mut f, languages),
        "hours" => hours_node(cx, &mut f, timezone),
        "switch" => switch(cx, &mut f),
        "http" => http(cx, &mut f),
        "enqueue" => enqueue(cx, &mut f),
        "transfer" => transfer(cx, &mut f, v),
        "record" | "voicemail" => record(cx, &mut f),
        "hangup" => Some(NodeKind::Hangup {
            prompts: opt_prompts(cx, &mut f, "prompts"),
        }),
        "survey" => survey(cx, &mut f),
        "goto" => f
            .required(cx, "target")
            .and_then(|n| cx.node_ref(n))
            .map(|target| NodeKind::Goto { target }),
        "call" => {
            let target = f.required(cx, "target").and_then(|n| cx.node_ref(n));
            let next = f.required(cx, "next").and_then(|n| cx.node_ref(n));
            Some(NodeKind::Call {
                target: target?,
                next: next?,
            })
        }
        "return" => Some(NodeKind::Return),
        other => {
            cx.err(ty_node.pos, format!("unknown node type `{other}` (one of: {TYPES})"));
            return None;
        }
    };
    f.finish(cx, &format!("{ty} node `{id}`"));
    if cx.diags.len() > before {
        return None;
    }
    kind
}

fn opt_prompts(cx: &mut Cx<'_>, f: &mut Fields<'_>, key: &str) -> Vec<Prompt> {
    f.get(key).and_then(|n| cx.prompts(n)).unwrap_or_default()
}

fn required_prompts(cx: &mut Cx<'_>, f: &mut Fields<'_>, key: &str) -> Option<Vec<Prompt>> {
    let node = f.required(cx, key)?;
    let prompts = cx.prompts(node)?;
    if prompts.is_empty() {
        cx.err(node.pos, format!("`{key}` is empty"));
        return None;
    }
    Some(prompts)
}

fn opt_bool(cx: &mut Cx<'_>, f: &mut Fields<'_>, key: &str, default: bool) -> bool {
    f.get(key).and_then(|n| cx.boolean(n)).unwrap_or(default)
}

fn opt_duration(cx: &mut Cx<'_>, f: &mut Fields<'_>, key: &str, default: Duration) -> Duration {
    f.get(key).and_then(|n| cx.duration(n)).unwrap_or(default)
}

fn play(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Option<NodeKind> {
    let prompts = required_prompts(cx, f, "prompts");
    let barge_in = opt_bool(cx, f, "barge_in", false);
    let next = f.required(cx, "next").and_then(|n| cx.node_ref(n));
    Some(NodeKind::Play {
        prompts: prompts?,
        barge_in,
        next: next?,
    })
}

fn collect(cx: &mut Cx<'_>, f: &mut Fields<'_>, menu: bool) -> Option<Collect> {
    let prompts = required_prompts(cx, f, "prompts");
    let barge_in = opt_bool(cx, f, "barge_in", true);
    let default_max = if menu { 1 } else { 20 };
    let min_node = f.get("min_digits");
    let min_digits = min_node.and_then(|n| cx.uint(n, 64)).unwrap_or(1).max(1);
    let max_node = f.get("max_digits");
    let max_digits = max_node
        .and_then(|n| cx.uint(n, 64))
        .unwrap_or(default_max.max(min_digits));
    if max_digits < min_digits {
        if let Some(n) = max_node.or(min_node) {
            cx.err(
                n.pos,
                format!("max_digits ({max_digits}) is less than min_digits ({min_digits})"),
            );
        }
    }
    let terminator = f.get("terminator").and_then(|n| cx.key(n));
    let first_digit_timeout = opt_duration(cx, f, "first_digit_timeout", Duration::from_secs(5));
    let inter_digit_timeout = opt_duration(cx, f, "inter_digit_timeout", Duration::from_secs(3));
    let retries = f.get("retries").and_then(|n| cx.uint(n, 10)).unwrap_or(2);
    let retry_prompts = opt_prompts(cx, f, "retry_prompts");
    let invalid_prompts = opt_prompts(cx, f, "invalid_prompts");
    let timeout_prompts = opt_prompts(cx, f, "timeout_prompts");
    let mut branches = Vec::new();
    let branches_node = if menu {
        f.required(cx, "branches")
    } else {
        f.get("branches")
    };
    if let Some(node) = branches_node {
        if let Some(entries) = cx.map(node, "a mapping of inputs to node ids") {
            for (k, v) in entries {
                let Some(input) = cx.string(k, "an input like `1`") else {
                    continue;
                };
                if input.is_empty() || !input.chars().all(|c| is_key(c) && Some(c) != terminator) {
                    cx.err(
                        k.pos,
                        format!("`{input}` is not a key sequence (0-9, *, #, A-D, not the terminator)"),
                    );
                    continue;
                }
                let n = u32::try_from(input.chars().count()).unwrap_or(u32::MAX);
                if n < min_digits || n > max_digits {
                    cx.err(
                        k.pos,
                        format!(
                            "branch `{input}` can never be chosen: input is {min_digits} to {max_digits} keys long"
                        ),
                    );
                }
                if let Some(r) = cx.node_ref(v) {
                    branches.push((input, r));
                }
            }
            if menu && entries.is_empty() {
                cx.err(node.pos, "a menu needs at least one branch".into());
            }
        }
    }
    let invalid = f.get("invalid").and_then(|n| cx.node_ref(n));
    let timeout = f.get("timeout").and_then(|n| cx.node_ref(n));
    Some(Collect {
        prompts: prompts?,
        barge_in,
        min_digits,
        max_digits,
        terminator,
        first_digit_timeout,
        inter_digit_timeout,
        retries,
        retry_prompts,
        invalid_prompts,
        timeout_prompts,
        branches,
        invalid,
        timeout,
    })
}

fn is_key(c: char) -> bool {
    crate::parse::is_dtmf(c)
}

fn gather(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Option<NodeKind> {
    let collect = collect(cx, f, false);
    let store = f.get("store").and_then(|n| cx.name(n, "attribute name"));
    let next = f.get("next").and_then(|n| cx.node_ref(n));
    let collect = collect?;
    if next.is_none() && collect.branches.is_empty() {
        cx.err(
            f_pos(f),
            "a gather needs `next` or `branches` (where to go with the digits)".into(),
        );
    }
    Some(NodeKind::Gather { collect, store, next })
}

fn f_pos(f: &Fields<'_>) -> crate::yaml::Pos {
    f.pos()
}

fn set(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Option<NodeKind> {
    let mut attributes = Vec::new();
    if let Some(node) = f.required(cx, "attributes") {
        if let Some(entries) = cx.map(node, "a mapping of attribute names to values") {
            for (k, v) in entries {
                let key = cx.name(k, "attribute name");
                let value = cx.string(v, "a value");
                if let (Some(k), Some(v)) = (key, value) {
                    attributes.push((k, v));
                }
            }
        }
    }
    let next = f.required(cx, "next").and_then(|n| cx.node_ref(n));
    Some(NodeKind::Set {
        attributes,
        next: next?,
    })
}

fn language(cx: &mut Cx<'_>, f: &mut Fields<'_>, languages: &[String]) -> Option<NodeKind> {
    let node = f.required(cx, "language");
    let language = node.and_then(|n| cx.language(n));
    if let (Some(l), Some(n)) = (&language, node) {
        if !languages.contains(l) {
            cx.err(
                n.pos,
                format!(
                    "language `{l}` is not in the flow's `languages` ({})",
                    languages.join(", ")
                ),
            );
        }
    }
    let next = f.required(cx, "next").and_then(|n| cx.node_ref(n));
    Some(NodeKind::Language {
        language: language?,
        next: next?,
    })
}

fn hours_node(cx: &mut Cx<'_>, f: &mut Fields<'_>, default_tz: Option<Tz>) -> Option<NodeKind> {
    let timezone = match f.get("timezone") {
        Some(n) => cx.timezone(n),
        None => {
            if default_tz.is_none() {
                cx.err(
                    f.pos(),
                    "missing field `timezone` (here or at the top of the flow)".into(),
                );
            }
            default_tz
        }
    };
    let mut weekly: [Vec<hours::Interval>; 7] = Default::default();
    if let Some(node) = f.required(cx, "weekly") {
        if let Some(entries) = cx.map(node, "a mapping of days (mon..sun) to hours") {
            let mut days = Fields::new(entries, node.pos);
            for (i, day) in DAYS.iter().enumerate() {
                if let Some(n) = days.get(day) {
                    weekly[i] = intervals(cx, n);
                }
            }
            days.finish(cx, "`weekly` (days are mon, tue, wed, thu, fri, sat, sun)");
        }
    }
    let mut holidays = Vec::new();
    if let Some(node) = f.get("holidays") {
        if let Some(items) = cx.seq(node, "a list of holidays") {
            for item in items {
                let (date_node, hours) = match &item.value {
                    Value::Map(entries) => {
                        let mut hf = Fields::new(entries, item.pos);
                        let d = hf.required(cx, "date");
                        let h = hf.get("hours").map(|n| intervals(cx, n)).unwrap_or_default();
                        hf.finish(cx, "holiday");
                        (d, h)
                    }
                    _ => (Some(item), Vec::new()),
                };
                let Some(date_node) = date_node else { continue };
                let Some(text) = cx.string(date_node, "a date like `2026-12-25`") else {
                    continue;
                };
                match hours::parse_holiday_date(&text) {
                    Ok((year, month, day)) => holidays.push(Holiday {
                        year,
                        month,
                        day,
                        hours,
                    }),
                    Err(m) => cx.err(date_node.pos, m),
                }
            }
        }
    }
    let open = f.required(cx, "open").and_then(|n| cx.node_ref(n));
    let closed = f.required(cx, "closed").and_then(|n| cx.node_ref(n));
    Some(NodeKind::Hours {
        schedule: Schedule {
            timezone: timezone?,
            weekly,
            holidays,
        },
        open: open?,
        closed: closed?,
    })
}

fn intervals(cx: &mut Cx<'_>, node: &Node) -> Vec<hours::Interval> {
    let mut out = Vec::new();
    let Some(items) = cx.seq(node, "a list of intervals like `09:00-18:00`") else {
        return out;
    };
    for item in items {
        if let Some(text) = cx.string(item, "an interval like `09:00-18:00`") {
            match hours::parse_interval(&text) {
                Ok(i) => out.push(i),
                Err(m) => cx.err(item.pos, m),
            }
        }
    }
    out
}

/// Reads the test of a case (`equals`, `one_of`, `prefix`, `matches`, `exists`).
fn test(cx: &mut Cx<'_>, f: &mut Fields<'_>, pos: crate::yaml::Pos) -> Option<Test> {
    let mut tests = Vec::new();
    if let Some(n) = f.get("equals") {
        tests.push(cx.string(n, "a value").map(|v| Test::OneOf(vec![v])));
    }
    if let Some(n) = f.get("one_of") {
        tests.push(cx.string_list(n, "values").map(Test::OneOf));
    }
    if let Some(n) = f.get("prefix") {
        tests.push(cx.string(n, "a prefix").map(Test::Prefix));
    }
    if let Some(n) = f.get("matches") {
        tests.push(cx.string(n, "a regular expression").and_then(|p| {
            match RegexBuilder::new(&p).size_limit(1 << 20).build() {
                Ok(r) => Some(Test::Matches(r)),
                Err(e) => {
                    let first = e.to_string();
                    let last = first.lines().last().unwrap_or("").trim();
                    let last = last.strip_prefix("error: ").unwrap_or(last).to_owned();
                    cx.err(n.pos, format!("bad pattern `{p}`: {last}"));
                    None
                }
            }
        }));
    }
    if let Some(n) = f.get("exists") {
        tests.push(cx.boolean(n).map(Test::Exists));
    }
    match tests.len() {
        0 => {
            cx.err(
                pos,
                "missing a test: one of `equals`, `one_of`, `prefix`, `matches`, `exists`".into(),
            );
            None
        }
        1 => tests.pop().flatten(),
        _ => {
            cx.err(
                pos,
                "more than one test: use one of `equals`, `one_of`, `prefix`, `matches`, `exists`".into(),
            );
            None
        }
    }
}

fn switch(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Option<NodeKind> {
    let mut cases = Vec::new();
    let mut ok = true;
    if let Some(node) = f.required(cx, "cases") {
        if let Some(items) = cx.seq(node, "a list of cases") {
            for item in items {
                let Some(entries) = cx.map(item, "a case (a mapping)") else {
                    ok = false;
                    continue;
                };
                let mut cf = Fields::new(entries, item.pos);
                let attribute = cf.get("attribute");
                let caller = cf.get("caller");
                let called = cf.get("called");
                let subject = match (attribute, caller, called) {
                    (Some(a), None, None) => cx.name(a, "attribute name").map(Subject::Attribute),
                    (None, Some(c), None) => cx.boolean(c).filter(|b| *b).map(|_| Subject::Caller),
                    (None, None, Some(c)) => cx.boolean(c).filter(|b| *b).map(|_| Subject::Called),
                    _ => {
                        cx.err(
                            item.pos,
                            "a case tests exactly one of `attribute: NAME`, `caller: true`, `called: true`".into(),
                        );
                        None
                    }
                };
                let t = test(cx, &mut cf, item.pos);
                let next = cf.required(cx, "next").and_then(|n| cx.node_ref(n));
                cf.finish(cx, "switch case");
                match (subject, t, next) {
                    (Some(subject), Some(test), Some(next)) => cases.push(Case {
                        subject,
                        test,
                        next,
                        pos: item.pos,
                    }),
                    _ => ok = false,
                }
            }
        }
    }
    let default = f.required(cx, "default").and_then(|n| cx.node_ref(n));
    if !ok {
        return None;
    }
    Some(NodeKind::Switch {
        cases,
        default: default?,
    })
}

fn http(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Option<NodeKind> {
    let url_node = f.required(cx, "url");
    let url = url_node.and_then(|n| cx.string(n, "a URL"));
    if let (Some(u), Some(n)) = (&url, url_node) {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            cx.err(n.pos, format!("`{u}` is not an http:// or https:// URL"));
        }
    }
    let timeout = opt_duration(cx, f, "timeout", Duration::from_secs(3));
    let send = f.get("send").and_then(|n| cx.string_list(n, "attribute names"));
    let mut store = Vec::new();
    if let Some(node) = f.get("store") {
        if let Some(entries) = cx.map(node, "a mapping of attribute names to answer fields") {
            for (k, v) in entries {
                if let (Some(k), Some(v)) = (cx.name(k, "attribute name"), cx.string(v, "a field")) {
                    store.push((k, v));
                }
            }
        }
    }
    let mut branches = Vec::new();
    let mut ok = true;
    if let Some(node) = f.get("branches") {
        if let Some(items) = cx.seq(node, "a list of branches") {
            for item in items {
                let Some(entries) = cx.map(item, "a branch (a mapping)") else {
                    ok = false;
                    continue;
                };
                let mut bf = Fields::new(entries, item.pos);
                let field = bf.required(cx, "field").and_then(|n| cx.string(n, "a field"));
                let t = test(cx, &mut bf, item.pos);
                let next = bf.required(cx, "next").and_then(|n| cx.node_ref(n));
                bf.finish(cx, "http branch");
                match (field, t, next) {
                    (Some(field), Some(test), Some(next)) => branches.push(HttpBranch {
                        field,
                        test,
                        next,
                        pos: item.pos,
                    }),
                    _ => ok = false,
                }
            }
        }
    }
    let next = f.required(cx, "next").and_then(|n| cx.node_ref(n));
    let fallback = f.required(cx, "fallback").and_then(|n| cx.node_ref(n));
    if !ok {
        return None;
    }
    Some(NodeKind::Http {
        url: url?,
        timeout,
        send,
        store,
        branches,
        next: next?,
        fallback: fallback?,
    })
}

fn enqueue(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Option<NodeKind> {
    let queue_node = f.required(cx, "queue");
    let queue = queue_node.and_then(|n| cx.name(n, "queue name"));
    let priority = f
        .get("priority")
        .and_then(|n| cx.int(n, -1000, 1000))
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or(0);
    let skills = f
        .get("skills")
        .and_then(|n| cx.string_list(n, "skills"))
        .unwrap_or_default();
    let after = f.get("after").and_then(|n| cx.node_ref(n));
    Some(NodeKind::Enqueue {
        queue: queue?,
        priority,
        skills,
        after,
        queue_pos: queue_node.map(|n| n.pos).unwrap_or_default(),
    })
}

fn transfer(cx: &mut Cx<'_>, f: &mut Fields<'_>, v: &Node) -> Option<NodeKind> {
    let uri = f.get("uri");
    let ext = f.get("extension");
    match (uri, ext) {
        (Some(n), None) => {
            let u = cx.string(n, "a SIP URI")?;
            if !(u.starts_with("sip:") || u.starts_with("sips:")) || u.len() < 5 {
                cx.err(n.pos, format!("`{u}` is not a sip: or sips: URI"));
                return None;
            }
            Some(NodeKind::Transfer {
                target: TransferTarget::Uri(u),
            })
        }
        (None, Some(n)) => cx.name(n, "extension").map(|e| NodeKind::Transfer {
            target: TransferTarget::Extension(e),
        }),
        _ => {
            cx.err(v.pos, "a transfer needs exactly one of `uri` and `extension`".into());
            None
        }
    }
}

fn record(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Option<NodeKind> {
    let prompts = opt_prompts(cx, f, "prompts");
    let mailbox = f.required(cx, "mailbox").and_then(|n| cx.name(n, "mailbox"));
    let max_duration = opt_duration(cx, f, "max_duration", Duration::from_secs(120));
    let beep = opt_bool(cx, f, "beep", true);
    let terminator = f.get("terminator").and_then(|n| cx.key(n)).or(Some('#'));
    let next = f.get("next").and_then(|n| cx.node_ref(n));
    Some(NodeKind::Record {
        prompts,
        mailbox: mailbox?,
        max_duration,
        beep,
        terminator,
        next,
    })
}

fn survey(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Option<NodeKind> {
    let kind = f
        .required(cx, "kind")
        .and_then(|n| match cx.string(n, "`csat` or `nps`")?.as_str() {
            "csat" => Some(SurveyKind::Csat),
            "nps" => Some(SurveyKind::Nps),
            other => {
                cx.err(n.pos, format!("unknown survey kind `{other}` (csat or nps)"));
                None
            }
        });
    let prompts = required_prompts(cx, f, "prompts");
    let store = f.required(cx, "store").and_then(|n| cx.name(n, "attribute name"));
    let timeout = opt_duration(cx, f, "timeout", Duration::from_secs(5));
    let retries = f.get("retries").and_then(|n| cx.uint(n, 10)).unwrap_or(1);
    let invalid_prompts = opt_prompts(cx, f, "invalid_prompts");
    let next = f.get("next").and_then(|n| cx.node_ref(n));
    Some(NodeKind::Survey {
        kind: kind?,
        prompts: prompts?,
        store: store?,
        timeout,
        retries,
        invalid_prompts,
        next,
    })
}
