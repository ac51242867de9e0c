//! Graph export: Graphviz DOT and Mermaid text of a flow.

use std::fmt::Write as _;

use crate::model::{Flow, NodeKind};

/// Output format of [`graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
    /// Mermaid flowchart (renders in Markdown on most forges).
    Mermaid,
}

/// Renders the flow's nodes and branches.
pub fn graph(flow: &Flow, format: GraphFormat) -> String {
    match format {
        GraphFormat::Dot => dot(flow),
        GraphFormat::Mermaid => mermaid(flow),
    }
}

fn detail(kind: &NodeKind) -> String {
    match kind {
        NodeKind::Enqueue { queue, priority, .. } => format!("enqueue {queue} (priority {priority})"),
        NodeKind::Language { language, .. } => format!("language {language}"),
        NodeKind::Transfer { target } => match target {
            crate::model::TransferTarget::Uri(u) => format!("transfer {u}"),
            crate::model::TransferTarget::Extension(e) => format!("transfer ext {e}"),
        },
        NodeKind::Survey { kind, .. } => format!("survey {}", kind.as_str()),
        NodeKind::Record { mailbox, .. } => format!("record to {mailbox}"),
        other => other.type_name().to_owned(),
    }
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn dot(flow: &Flow) -> String {
    let mut out = String::new();
    let title = flow.name.as_deref().unwrap_or(&flow.file);
    let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(title));
    out.push_str("  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
    out.push_str("  \"__start\" [shape=circle, label=\"start\"];\n");
    let _ = writeln!(out, "  \"__start\" -> \"{}\";", dot_escape(&flow.start.id));
    for n in &flow.nodes {
        let shape = match &n.kind {
            NodeKind::Menu(_)
            | NodeKind::Gather { .. }
            | NodeKind::Survey { .. }
            | NodeKind::Switch { .. }
            | NodeKind::Hours { .. }
            | NodeKind::Http { .. } => "diamond",
            NodeKind::Enqueue { .. } | NodeKind::Transfer { .. } | NodeKind::Hangup { .. } | NodeKind::Return => {
                "doubleoctagon"
            }
            _ => "box",
        };
        let _ = writeln!(
            out,
            "  \"{}\" [shape={shape}, label=\"{}\\n{}\"];",
            dot_escape(&n.id),
            dot_escape(&n.id),
            dot_escape(&detail(&n.kind))
        );
    }
    for n in &flow.nodes {
        for (label, r) in n.kind.edges() {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\" [label=\"{}\"];",
                dot_escape(&n.id),
                dot_escape(&r.id),
                dot_escape(&label)
            );
        }
    }
    out.push_str("}\n");
    out
}

fn mermaid_escape(s: &str) -> String {
    s.replace('"', "#quot;")
        .replace('|', "#124;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

fn mermaid(flow: &Flow) -> String {
    let mut out = String::from("flowchart TD\n");
    let id = |name: &str| match flow.index_of(name) {
        Some(i) => format!("n{i}"),
        None => "missing".to_owned(),
    };
    out.push_str("  start((start))\n");
    let _ = writeln!(out, "  start --> {}", id(&flow.start.id));
    for (i, n) in flow.nodes.iter().enumerate() {
        let label = format!("{}<br/>{}", mermaid_escape(&n.id), mermaid_escape(&detail(&n.kind)));
        let shape = match &n.kind {
            NodeKind::Menu(_)
            | NodeKind::Gather { .. }
            | NodeKind::Survey { .. }
            | NodeKind::Switch { .. }
            | NodeKind::Hours { .. }
            | NodeKind::Http { .. } => format!("{{\"{label}\"}}"),
            NodeKind::Enqueue { .. } | NodeKind::Transfer { .. } | NodeKind::Hangup { .. } | NodeKind::Return => {
                format!("([\"{label}\"])")
            }
            _ => format!("[\"{label}\"]"),
        };
        let _ = writeln!(out, "  n{i}{shape}");
    }
    for (i, n) in flow.nodes.iter().enumerate() {
        for (label, r) in n.kind.edges() {
            let _ = writeln!(out, "  n{i} -->|\"{}\"| {}", mermaid_escape(&label), id(&r.id));
        }
    }
    out
}
