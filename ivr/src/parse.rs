//! Reading a flow file: YAML tree to [`Flow`], reporting every error with its position.

use std::time::Duration;

use chrono_tz::Tz;

use crate::diag::{Diagnostic, FlowErrors, Severity};
use crate::model::{Flow, NodeDef, Prompt, Ref, DEFAULT_MAX_STEPS, FORMAT_VERSION};
use crate::yaml::{self, is_null, Node, Pos, Value};

/// Largest flow file accepted, in bytes.
pub const MAX_FILE_SIZE: usize = 1 << 20;

/// Parses and validates a flow file. `file` is the name used in diagnostics.
///
/// Returns every error found (syntax, unknown or missing fields, wrong types, unknown
/// node references, bad time zones, bad patterns...) in file order.
pub fn parse_flow(file: &str, source: &str) -> Result<Flow, FlowErrors> {
    let mut cx = Cx::new(file);
    let flow = if source.len() > MAX_FILE_SIZE {
        cx.err(
            Pos { line: 1, column: 1 },
            format!("file larger than {MAX_FILE_SIZE} bytes"),
        );
        None
    } else {
        let (root, errors) = yaml::parse(source);
        for e in errors {
            cx.err(e.pos, e.message);
        }
        match root {
            Some(root) => top_level(&mut cx, &root),
            None => {
                if cx.diags.is_empty() {
                    cx.err(Pos { line: 1, column: 1 }, "the file is empty".into());
                }
                None
            }
        }
    };
    let mut diags = cx.diags;
    diags.sort();
    diags.dedup();
    match flow {
        Some(flow) if diags.is_empty() => Ok(flow),
        _ => Err(FlowErrors(diags)),
    }
}

/// Parsing context: the file name and the diagnostics so far.
pub(crate) struct Cx<'f> {
    pub(crate) file: &'f str,
    pub(crate) diags: Vec<Diagnostic>,
    /// Every node reference read, even in nodes with other errors.
    refs: Vec<Ref>,
}

impl<'f> Cx<'f> {
    fn new(file: &'f str) -> Self {
        Cx {
            file,
            diags: Vec::new(),
            refs: Vec::new(),
        }
    }

    pub(crate) fn err(&mut self, pos: Pos, message: String) {
        self.diags
            .push(Diagnostic::new(self.file, pos, Severity::Error, message));
    }

    fn expected(&mut self, node: &Node, what: &str) {
        self.err(node.pos, format!("expected {what}, found {}", node.kind()));
    }

    /// A non-null scalar as text.
    pub(crate) fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Scalar { text, plain } if !(*plain && is_null(text)) => Some(text.clone()),
            _ => {
                self.expected(node, what);
                None
            }
        }
    }

    /// A non-empty identifier-like string (`[A-Za-z0-9_.:-]+`).
    pub(crate) fn name(&mut self, node: &Node, what: &str) -> Option<String> {
        let article = if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        let s = self.string(node, &format!("{article} {what}"))?;
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c)) {
            self.err(
                node.pos,
                format!("`{s}` is not a valid {what} (letters, digits, `_`, `-`, `.`, `:`)"),
            );
            return None;
        }
        Some(s)
    }

    pub(crate) fn boolean(&mut self, node: &Node) -> Option<bool> {
        match node.value {
            Value::Scalar { ref text, plain: true } => match text.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => {
                    self.err(node.pos, format!("expected true or false, found `{text}`"));
                    None
                }
            },
            _ => {
                self.expected(node, "true or false");
                None
            }
        }
    }

    pub(crate) fn int(&mut self, node: &Node, min: i64, max: i64) -> Option<i64> {
        let text = self.string(node, "a number")?;
        match text.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            Ok(n) => {
                self.err(node.pos, format!("{n} is out of range {min} to {max}"));
                None
            }
            Err(_) => {
                self.err(node.pos, format!("expected a whole number, found `{text}`"));
                None
            }
        }
    }

    pub(crate) fn uint(&mut self, node: &Node, max: u32) -> Option<u32> {
        self.int(node, 0, i64::from(max)).and_then(|n| u32::try_from(n).ok())
    }

    /// `5s`, `500ms`, `2m`, or a plain number of seconds.
    pub(crate) fn duration(&mut self, node: &Node) -> Option<Duration> {
        let text = self.string(node, "a duration like `5s`")?;
        let t = text.trim();
        let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
            Some(i) => {
                let (n, u) = t.split_at(i);
                (n, u.trim())
            }
            None => (t, "s"),
        };
        let n: u64 = match num.parse() {
            Ok(n) => n,
            Err(_) => {
                self.err(
                    node.pos,
                    format!("`{text}` is not a duration like `5s`, `500ms` or `2m`"),
                );
                return None;
            }
        };
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" | "" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
            _ => {
                self.err(node.pos, format!("`{text}`: unknown unit `{unit}` (use ms, s or m)"));
                return None;
            }
        };
        if d > Duration::from_secs(3600) {
            self.err(node.pos, format!("`{text}` is longer than an hour"));
            return None;
        }
        Some(d)
    }

    pub(crate) fn seq<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => {
                self.expected(node, what);
                None
            }
        }
    }

    pub(crate) fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
        match &node.value {
            Value::Map(entries) => Some(entries),
            _ => {
                self.expected(node, what);
                None
            }
        }
    }

    pub(crate) fn string_list(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        let items = self.seq(node, &format!("a list of {what}"))?;
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match self.string(item, what) {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    pub(crate) fn node_ref(&mut self, node: &Node) -> Option<Ref> {
        let id = self.name(node, "node id")?;
        let r = Ref { id, pos: node.pos };
        self.refs.push(r.clone());
        Some(r)
    }

    pub(crate) fn language(&mut self, node: &Node) -> Option<String> {
        let s = self.string(node, "a language code like `en` or `pt-BR`")?;
        if !valid_language(&s) {
            self.err(node.pos, format!("`{s}` is not a language code like `en` or `pt-BR`"));
            return None;
        }
        Some(s)
    }

    /// A list of prompts: names, or `{name, language}` mappings.
    pub(crate) fn prompts(&mut self, node: &Node) -> Option<Vec<Prompt>> {
        let items = self.seq(node, "a list of prompts")?;
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            let p = match &item.value {
                Value::Scalar { .. } => self.prompt_name(item).map(|name| Prompt {
                    name,
                    language: None,
                    pos: item.pos,
                }),
                Value::Map(entries) => {
                    let mut f = Fields::new(entries, item.pos);
                    let name = f.required(self, "name").and_then(|n| self.prompt_name(n));
                    let language = f.get("language").and_then(|n| self.language(n));
                    f.finish(self, "prompt");
                    name.map(|name| Prompt {
                        name,
                        language,
                        pos: item.pos,
                    })
                }
                Value::Seq(_) => {
                    self.expected(item, "a prompt name or {name, language}");
                    None
                }
            };
            match p {
                Some(p) => out.push(p),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn prompt_name(&mut self, node: &Node) -> Option<String> {
        let s = self.string(node, "a prompt name")?;
        if s.is_empty() || s.starts_with('.') || !s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
            self.err(
                node.pos,
                format!("`{s}` is not a prompt name (a file name without `.wav`: letters, digits, `_`, `-`, `.`)"),
            );
            return None;
        }
        Some(s)
    }

    pub(crate) fn timezone(&mut self, node: &Node) -> Option<Tz> {
        let s = self.string(node, "an IANA time zone like `Europe/Madrid`")?;
        match s.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                self.err(
                    node.pos,
                    format!("unknown time zone `{s}` (use an IANA name like `Europe/Madrid`)"),
                );
                None
            }
        }
    }

    /// A DTMF key: one of `0-9`, `*`, `#`, `A-D`.
    pub(crate) fn key(&mut self, node: &Node) -> Option<char> {
        let s = self.string(node, "a key like `#`")?;
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if is_dtmf(c) => Some(c),
            _ => {
                self.err(node.pos, format!("`{s}` is not a single key (0-9, *, #, A-D)"));
                None
            }
        }
    }
}

/// Whether `c` is a DTMF key.
pub fn is_dtmf(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')
}

fn valid_language(s: &str) -> bool {
    let mut parts = s.split('-');
    let first = parts.next().unwrap_or("");
    (2..=3).contains(&first.len())
        && first.chars().all(|c| c.is_ascii_lowercase())
        && parts.all(|p| !p.is_empty() && p.len() <= 8 && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The fields of a mapping, tracking which were used so unknown ones are reported.
pub(crate) struct Fields<'n> {
    entries: &'n [(Node, Node)],
    used: Vec<bool>,
    pos: Pos,
}

impl<'n> Fields<'n> {
    pub(crate) fn new(entries: &'n [(Node, Node)], pos: Pos) -> Self {
        Fields {
            entries,
            used: vec![false; entries.len()],
            pos,
        }
    }

    /// Position of the mapping.
    pub(crate) fn pos(&self) -> Pos {
        self.pos
    }

    /// The value of `key`, if present.
    pub(crate) fn get(&mut self, key: &str) -> Option<&'n Node> {
        let i = self.entries.iter().position(|(k, _)| k.scalar() == Some(key))?;
        self.used[i] = true;
        self.entries.get(i).map(|(_, v)| v)
    }

    /// The value of `key`, or an error at the mapping if it is missing.
    pub(crate) fn required(&mut self, cx: &mut Cx<'_>, key: &str) -> Option<&'n Node> {
        let v = self.get(key);
        if v.is_none() {
            cx.err(self.pos, format!("missing field `{key}`"));
        }
        v
    }

    /// Reports every key not asked for.
    pub(crate) fn finish(self, cx: &mut Cx<'_>, context: &str) {
        for ((k, _), used) in self.entries.iter().zip(&self.used) {
            if !used {
                match k.scalar() {
                    Some(name) => cx.err(k.pos, format!("unknown field `{name}` in {context}")),
                    None => cx.err(k.pos, format!("expected a field name, found {}", k.kind())),
                }
            }
        }
    }
}

fn top_level(cx: &mut Cx<'_>, root: &Node) -> Option<Flow> {
    let entries = cx.map(root, "a mapping with `version`, `start` and `nodes`")?;
    let mut f = Fields::new(entries, root.pos);
    let version = f.required(cx, "version");
    if let Some(v) = version {
        if let Some(n) = cx.int(v, 0, i64::MAX) {
            if n != FORMAT_VERSION as i64 {
                cx.err(
                    v.pos,
                    format!("unsupported version {n}: this switchboard reads version {FORMAT_VERSION}"),
                );
            }
        }
    }
    // Allowed so editors without the modeline comment can find the schema.
    f.get("$schema");
    let name = f.get("name").and_then(|n| cx.string(n, "a name"));
    let default_language = f.required(cx, "default_language").and_then(|n| cx.language(n));
    let mut languages = Vec::new();
    let languages_node = f.get("languages");
    if let Some(node) = languages_node {
        if let Some(items) = cx.seq(node, "a list of language codes") {
            for item in items {
                if let Some(l) = cx.language(item) {
                    if languages.contains(&l) {
                        cx.err(item.pos, format!("language `{l}` is listed twice"));
                    }
                    languages.push(l);
                }
            }
        }
    }
    if let Some(d) = &default_language {
        if !languages.contains(d) {
            if let Some(node) = languages_node {
                cx.err(node.pos, format!("`languages` must include the default language `{d}`"));
            }
            languages.insert(0, d.clone());
        }
    }
    let tz_node = f.get("timezone");
    let timezone = tz_node.and_then(|n| cx.timezone(n));
    // A bad top-level zone is reported once, not again by every `hours` node.
    let node_tz = timezone.or(tz_node.map(|_| chrono_tz::UTC));
    let start = f.required(cx, "start").and_then(|n| cx.node_ref(n));
    let max_steps = match f.get("max_steps_without_input") {
        Some(n) => cx.uint(n, 100_000).map(|v| v.max(1)),
        None => Some(DEFAULT_MAX_STEPS),
    };
    let mut nodes: Vec<NodeDef> = Vec::new();
    if let Some(nodes_node) = f.required(cx, "nodes") {
        if let Some(entries) = cx.map(nodes_node, "a mapping of node ids to nodes") {
            if entries.is_empty() {
                cx.err(nodes_node.pos, "`nodes` is empty".into());
            }
            for (k, v) in entries {
                let Some(id) = cx.name(k, "node id") else {
                    continue;
                };
                if let Some(kind) = crate::parse_nodes::node(cx, &id, v, &languages, node_tz) {
                    nodes.push(NodeDef { id, pos: k.pos, kind });
                }
            }
        }
    }
    f.finish(cx, "the flow (top level)");

    // Every reference read, also in nodes with other errors, must name a node
    // written under `nodes:` (even one with errors of its own).
    let known: Vec<&str> = entries_ids(root);
    for r in std::mem::take(&mut cx.refs) {
        if !known.contains(&r.id.as_str()) {
            cx.err(r.pos, format!("unknown node `{}`{}", r.id, suggest(&r.id, &known)));
        }
    }
    Some(Flow {
        file: cx.file.to_owned(),
        name,
        default_language: default_language?,
        languages,
        timezone,
        start: start?,
        max_steps_without_input: max_steps?,
        nodes,
    })
}

/// Ids under `nodes:` as written (even of nodes with errors, so one bad node does not
/// make every reference to it an error too).
fn entries_ids(root: &Node) -> Vec<&str> {
    let Value::Map(top) = &root.value else {
        return Vec::new();
    };
    top.iter()
        .find(|(k, _)| k.scalar() == Some("nodes"))
        .and_then(|(_, v)| match &v.value {
            Value::Map(entries) => Some(entries.iter().filter_map(|(k, _)| k.scalar()).collect()),
            _ => None,
        })
        .unwrap_or_default()
}

/// ` (did you mean `x`?)` for a close id.
fn suggest(id: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (distance(id, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
