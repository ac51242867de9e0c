//! `check`: every problem in a flow file, not only the parse errors.

use std::collections::BTreeSet;

use crate::diag::{Diagnostic, Severity};
use crate::model::{Flow, NodeKind};
use crate::parse::parse_flow;
use crate::prompts::PromptCatalog;

/// What `check` checks against besides the file itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions<'a> {
    /// The prompt files that exist; `None` skips the prompt check.
    pub prompts: Option<&'a PromptCatalog>,
    /// The queues that exist; `None` skips the queue check.
    pub queues: Option<&'a [String]>,
}

/// Checks a flow file and returns every problem found, errors and warnings, sorted by
/// position. The flow is usable if none is an error.
pub fn check(file: &str, source: &str, options: &CheckOptions<'_>) -> Vec<Diagnostic> {
    let flow = match parse_flow(file, source) {
        Ok(flow) => flow,
        Err(errors) => return errors.0,
    };
    check_flow(&flow, options)
}

/// Checks a parsed flow (everything beyond parsing).
pub(crate) fn check_flow(flow: &Flow, options: &CheckOptions<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut say = |pos, severity, message: String| {
        out.push(Diagnostic::new(&flow.file, pos, severity, message));
    };
    let edges = edges(flow);

    // Unreachable nodes.
    let reached = reachable(&edges, flow.index_of(&flow.start.id), |_| true);
    for (i, n) in flow.nodes.iter().enumerate() {
        if !reached.contains(&i) {
            say(
                n.pos,
                Severity::Warning,
                format!("node `{}` is never reached from `{}`", n.id, flow.start.id),
            );
        }
    }

    // Loops that never wait for input.
    let passes = |i: usize| flow.nodes.get(i).is_some_and(|n| !n.kind.waits());
    let mut seen: BTreeSet<usize> = BTreeSet::new();
    let from: Vec<BTreeSet<usize>> = (0..flow.nodes.len())
        .map(|i| {
            if passes(i) {
                let starts = edges[i].iter().copied().filter(|&j| passes(j));
                reachable(&edges, starts, passes)
            } else {
                BTreeSet::new()
            }
        })
        .collect();
    for i in 0..flow.nodes.len() {
        if seen.contains(&i) || !from[i].contains(&i) {
            continue;
        }
        let scc: Vec<usize> = from[i]
            .iter()
            .copied()
            .filter(|&j| j == i || from[j].contains(&i))
            .collect();
        seen.extend(&scc);
        let names: Vec<&str> = scc.iter().map(|&j| flow.nodes[j].id.as_str()).collect();
        let exits = scc.iter().any(|&j| edges[j].iter().any(|k| !scc.contains(k)));
        let first = &flow.nodes[scc[0]];
        if exits {
            say(
                first.pos,
                Severity::Warning,
                format!(
                    "nodes {} can loop without waiting for input (the call is hung up after {} steps)",
                    quote(&names),
                    flow.max_steps_without_input
                ),
            );
        } else {
            say(
                first.pos,
                Severity::Error,
                format!("loop with no exit that never waits for input: {}", quote(&names)),
            );
        }
    }

    // Prompt files per language.
    if let Some(catalog) = options.prompts {
        for n in &flow.nodes {
            for p in n.kind.prompts() {
                let languages: Vec<&String> = match &p.language {
                    Some(l) => vec![l],
                    None => flow.languages.iter().collect(),
                };
                for l in languages {
                    if catalog.contains(l, &p.name) {
                        continue;
                    }
                    if *l != flow.default_language && catalog.contains(&flow.default_language, &p.name) {
                        say(
                            p.pos,
                            Severity::Warning,
                            format!(
                                "prompt `{}` has no `{l}/{}.wav`; callers in `{l}` hear the `{}` one",
                                p.name, p.name, flow.default_language
                            ),
                        );
                    } else {
                        say(
                            p.pos,
                            Severity::Error,
                            format!("missing prompt file `{l}/{}.wav`", p.name),
                        );
                    }
                }
            }
        }
    }

    // Queues.
    if let Some(queues) = options.queues {
        for n in &flow.nodes {
            if let NodeKind::Enqueue { queue, queue_pos, .. } = &n.kind {
                if !queues.iter().any(|q| q == queue) {
                    say(
                        *queue_pos,
                        Severity::Error,
                        format!(
                            "unknown queue `{queue}` (known: {})",
                            if queues.is_empty() {
                                "none".to_owned()
                            } else {
                                queues.join(", ")
                            }
                        ),
                    );
                }
            }
        }
    }

    out.sort_by_key(|d| (d.line, d.column, d.severity));
    out.dedup();
    out
}

fn quote(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" -> ")
}

/// Successor indices of every node.
fn edges(flow: &Flow) -> Vec<Vec<usize>> {
    flow.nodes
        .iter()
        .map(|n| {
            n.kind
                .edges()
                .into_iter()
                .filter_map(|(_, r)| flow.index_of(&r.id))
                .collect()
        })
        .collect()
}

/// Nodes reachable from `start` (included) through nodes for which `through` holds.
fn reachable(
    edges: &[Vec<usize>],
    start: impl IntoIterator<Item = usize>,
    through: impl Fn(usize) -> bool,
) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<usize> = start.into_iter().collect();
    while let Some(i) = todo.pop() {
        if !seen.insert(i) {
            continue;
        }
        if let Some(next) = edges.get(i) {
            todo.extend(next.iter().copied().filter(|&j| through(j)));
        }
    }
    seen
}
