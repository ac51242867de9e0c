//! A YAML document as a tree whose every node knows its line and column.
//!
//! Built from the events of `yaml-rust2`'s parser (which marks every event with its
//! position), so that every error in a flow file can name where it is. Anchors and
//! aliases are refused (they are not needed by hand-written flows and would let a
//! small file expand without bound); nesting is limited to [`MAX_DEPTH`].

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting of sequences and mappings accepted.
pub(crate) const MAX_DEPTH: usize = 64;

/// A position in a source file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1 (in characters).
    pub column: u32,
}

impl Pos {
    fn of(mark: &Marker) -> Pos {
        Pos {
            line: u32::try_from(mark.line()).unwrap_or(u32::MAX).max(1),
            column: u32::try_from(mark.col().saturating_add(1)).unwrap_or(u32::MAX),
        }
    }
}

/// A YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) pos: Pos,
    pub(crate) value: Value,
}

/// The kinds of YAML values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A scalar: its text and whether it was plain (unquoted).
    Scalar { text: String, plain: bool },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order (duplicates are reported by the builder).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A short name of the node's kind for "expected X, found Y" messages.
    pub(crate) fn kind(&self) -> &'static str {
        match &self.value {
            Value::Scalar { text, plain } => {
                if *plain && is_null(text) {
                    "null"
                } else {
                    "a scalar"
                }
            }
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The scalar text, if this is a scalar.
    pub(crate) fn scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// Whether a plain scalar is YAML's null.
pub(crate) fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// A problem found while building the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YamlError {
    pub(crate) pos: Pos,
    pub(crate) message: String,
}

enum Frame {
    Seq(Pos, Vec<Node>),
    Map(Pos, Vec<(Node, Node)>, Option<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    documents: usize,
    errors: Vec<YamlError>,
    /// Depth beyond MAX_DEPTH that is being skipped.
    skipping: usize,
}

impl Builder {
    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, entries, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    if let Some(name) = k.scalar() {
                        if entries.iter().any(|(e, _)| e.scalar() == Some(name)) {
                            self.errors.push(YamlError {
                                pos: k.pos,
                                message: format!("duplicate key `{name}`"),
                            });
                        }
                    }
                    entries.push((k, node));
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::of(&mark);
        if self.skipping > 0 {
            match ev {
                Event::SequenceStart(..) | Event::MappingStart(..) => self.skipping += 1,
                Event::SequenceEnd | Event::MappingEnd => self.skipping -= 1,
                _ => {}
            }
            return;
        }
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents == 2 {
                    self.errors.push(YamlError {
                        pos,
                        message: "a flow file holds one YAML document; this is a second one".into(),
                    });
                }
            }
            Event::Scalar(text, style, anchor, _tag) => {
                if anchor != 0 {
                    self.anchor_error(pos);
                }
                let plain = style == TScalarStyle::Plain;
                self.push_value(Node {
                    pos,
                    value: Value::Scalar { text, plain },
                });
            }
            Event::Alias(_) => {
                self.errors.push(YamlError {
                    pos,
                    message: "YAML aliases (`*name`) are not supported in flow files".into(),
                });
                self.push_value(Node {
                    pos,
                    value: Value::Scalar {
                        text: String::new(),
                        plain: true,
                    },
                });
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if anchor != 0 {
                    self.anchor_error(pos);
                }
                if self.stack.len() >= MAX_DEPTH {
                    self.errors.push(YamlError {
                        pos,
                        message: format!("nesting deeper than {MAX_DEPTH} levels"),
                    });
                    self.skipping = 1;
                    return;
                }
                if matches!(ev, Event::SequenceStart(..)) {
                    self.stack.push(Frame::Seq(pos, Vec::new()));
                } else {
                    self.stack.push(Frame::Map(pos, Vec::new(), None));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                // A block collection's start mark can come after its first entry;
                // report it where its first entry is.
                let node = match self.stack.pop() {
                    Some(Frame::Seq(pos, items)) => Node {
                        pos: items.first().map_or(pos, |i| i.pos.min(pos)),
                        value: Value::Seq(items),
                    },
                    Some(Frame::Map(pos, entries, _)) => Node {
                        pos: entries.first().map_or(pos, |(k, _)| k.pos.min(pos)),
                        value: Value::Map(entries),
                    },
                    None => return,
                };
                self.push_value(node);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

impl Builder {
    fn anchor_error(&mut self, pos: Pos) {
        self.errors.push(YamlError {
            pos,
            message: "YAML anchors (`&name`) are not supported in flow files".into(),
        });
    }
}

/// Parses YAML text into a positioned tree.
///
/// A syntax error stops parsing (YAML cannot be resumed reliably) and is returned with
/// the other problems found before it; `None` means there was no usable document.
pub(crate) fn parse(source: &str) -> (Option<Node>, Vec<YamlError>) {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(source);
    if let Err(e) = parser.load(&mut builder, true) {
        let pos = Pos::of(e.marker());
        builder.errors.push(YamlError {
            pos,
            message: format!("YAML syntax: {}", e.info()),
        });
        return (None, builder.errors);
    }
    (builder.root, builder.errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let (root, errors) = parse("a: 1\nb:\n  - x\n");
        assert!(errors.is_empty());
        let Some(Node {
            value: Value::Map(entries),
            ..
        }) = root
        else {
            panic!("not a map")
        };
        assert_eq!(entries[0].0.pos, Pos { line: 1, column: 1 });
        assert_eq!(entries[1].0.pos, Pos { line: 2, column: 1 });
        let Value::Seq(items) = &entries[1].1.value else {
            panic!("not a seq")
        };
        assert_eq!(items[0].pos, Pos { line: 3, column: 5 });
    }

    #[test]
    fn duplicate_keys_and_aliases_are_reported() {
        let (_, errors) = parse("a: &x 1\na: *x\n");
        let messages: Vec<_> = errors.iter().map(|e| (e.pos.line, e.message.clone())).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
    }

    #[test]
    fn deep_nesting_is_refused_without_overflow() {
        let text = "[".repeat(10_000);
        let (_, errors) = parse(&text);
        assert!(!errors.is_empty());
        let text = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let (_, errors) = parse(&text);
        assert!(errors.iter().any(|e| e.message.contains("nesting")));
    }
}
