//! The flow model: what a parsed, validated flow file says.
//!
//! Every node and every reference to a node keeps the position it was written at, so
//! later checks ([`crate::check`]) can point at it.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono_tz::Tz;
use regex::Regex;

use crate::hours::Schedule;
use crate::yaml::Pos;

/// The flow format version this crate reads.
pub const FORMAT_VERSION: u64 = 1;

/// Default for [`Flow::max_steps_without_input`].
pub const DEFAULT_MAX_STEPS: u32 = 100;

/// A parsed flow. Immutable once built: calls share it behind an `Arc`, so a reload
/// makes a new `Flow` and calls in progress keep the one they started with.
#[derive(Debug, Clone)]
pub struct Flow {
    /// The file name it was read from (used in diagnostics).
    pub file: String,
    /// Optional human name.
    pub name: Option<String>,
    /// Language of the prompt set used when none is chosen, and the fallback.
    pub default_language: String,
    /// Languages the flow has prompts for (the default language included).
    pub languages: Vec<String>,
    /// Time zone for `--at` times without an offset in the simulator.
    pub timezone: Option<Tz>,
    /// Id of the first node.
    pub start: Ref,
    /// Most nodes run in a row without waiting for the caller or the network.
    pub max_steps_without_input: u32,
    /// Nodes by id, in file order.
    pub nodes: Vec<NodeDef>,
}

impl Flow {
    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&NodeDef> {
        self.index_of(id).and_then(|i| self.nodes.get(i))
    }

    /// Index in [`Flow::nodes`] of the node with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }
}

/// A reference to a node by id, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    /// The node id.
    pub id: String,
    /// Where the reference is.
    pub pos: Pos,
}

/// One node of a flow.
#[derive(Debug, Clone)]
pub struct NodeDef {
    /// Its id (the key under `nodes:`).
    pub id: String,
    /// Where the id is written.
    pub pos: Pos,
    /// What it does.
    pub kind: NodeKind,
}

/// A prompt to play: a name looked up as `prompts/<language>/<name>.wav`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The prompt's name (file stem).
    pub name: String,
    /// A fixed language; `None` means the call's current language.
    pub language: Option<String>,
    /// Where it is written.
    pub pos: Pos,
}

/// Digit collection settings shared by `menu` and `gather`.
#[derive(Debug, Clone)]
pub struct Collect {
    /// Prompts played first.
    pub prompts: Vec<Prompt>,
    /// Whether a digit stops the prompts.
    pub barge_in: bool,
    /// Fewest digits accepted.
    pub min_digits: u32,
    /// Most digits collected; collection ends when reached.
    pub max_digits: u32,
    /// A key that ends collection early (`#` usually); not part of the digits.
    pub terminator: Option<char>,
    /// Wait for the first digit after the prompts end.
    pub first_digit_timeout: Duration,
    /// Wait between digits.
    pub inter_digit_timeout: Duration,
    /// Extra attempts after invalid input or a timeout.
    pub retries: u32,
    /// Played instead of `prompts` on a retry (if not empty).
    pub retry_prompts: Vec<Prompt>,
    /// Played after invalid input, before the retry.
    pub invalid_prompts: Vec<Prompt>,
    /// Played after a timeout, before the retry.
    pub timeout_prompts: Vec<Prompt>,
    /// Where each exact input goes, in file order.
    pub branches: Vec<(String, Ref)>,
    /// After the last invalid attempt (default: hang up).
    pub invalid: Option<Ref>,
    /// After the last timed-out attempt (default: `invalid`, then hang up).
    pub timeout: Option<Ref>,
}

/// What a `switch` case tests.
#[derive(Debug, Clone)]
pub enum Subject {
    /// A call attribute (`language` is the current language).
    Attribute(String),
    /// The caller's number.
    Caller,
    /// The called number.
    Called,
}

/// How a value is compared.
#[derive(Debug, Clone)]
pub enum Test {
    /// Equal to one of these.
    OneOf(Vec<String>),
    /// Starts with this.
    Prefix(String),
    /// Matches this regular expression (anywhere, unless anchored).
    Matches(Regex),
    /// The attribute is set (or not).
    Exists(bool),
}

/// One `switch` case.
#[derive(Debug, Clone)]
pub struct Case {
    /// What is tested.
    pub subject: Subject,
    /// The test.
    pub test: Test,
    /// Where to go when it holds.
    pub next: Ref,
    /// Where the case is written.
    pub pos: Pos,
}

/// One branch on the JSON answer of an `http` node.
#[derive(Debug, Clone)]
pub struct HttpBranch {
    /// Dotted path into the answer (`customer.tier`), or a JSON pointer (`/customer/tier`).
    pub field: String,
    /// The test on the field's text (strings unquoted, other values as JSON).
    pub test: Test,
    /// Where to go when it holds.
    pub next: Ref,
    /// Where the branch is written.
    pub pos: Pos,
}

/// Survey question kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SurveyKind {
    /// Customer satisfaction, 1 to 5.
    Csat,
    /// Net promoter score, 0 to 10.
    Nps,
}

impl SurveyKind {
    /// Lowest and highest valid score.
    pub fn range(self) -> (u32, u32) {
        match self {
            SurveyKind::Csat => (1, 5),
            SurveyKind::Nps => (0, 10),
        }
    }

    /// The name used in flow files.
    pub fn as_str(self) -> &'static str {
        match self {
            SurveyKind::Csat => "csat",
            SurveyKind::Nps => "nps",
        }
    }
}

/// Where a call is transferred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    /// A SIP URI (`sip:` or `sips:`).
    Uri(String),
    /// An extension of this switch.
    Extension(String),
}

/// What a node does.
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// Plays prompts, then goes on.
    Play {
        /// The prompts.
        prompts: Vec<Prompt>,
        /// A digit stops playback and is kept for the next collection.
        barge_in: bool,
        /// Next node.
        next: Ref,
    },
    /// Collects one choice (max 1 digit by default) and branches on it.
    Menu(Collect),
    /// Collects digits, optionally stores them, branches or goes on.
    Gather {
        /// Collection settings.
        collect: Collect,
        /// Attribute the digits are stored in.
        store: Option<String>,
        /// Next node for input that matches no branch.
        next: Option<Ref>,
    },
    /// Sets call attributes (values may use `${name}`).
    Set {
        /// Key and value template, in file order.
        attributes: Vec<(String, String)>,
        /// Next node.
        next: Ref,
    },
    /// Switches the prompt language.
    Language {
        /// The new language.
        language: String,
        /// Next node.
        next: Ref,
    },
    /// Branches on business hours.
    Hours {
        /// The schedule.
        schedule: Schedule,
        /// When open.
        open: Ref,
        /// When closed.
        closed: Ref,
    },
    /// Branches on attributes, caller and called number.
    Switch {
        /// Cases, first match wins.
        cases: Vec<Case>,
        /// When no case matches.
        default: Ref,
    },
    /// Posts attributes to a URL and branches on the answer.
    Http {
        /// The URL.
        url: String,
        /// How long to wait for the answer.
        timeout: Duration,
        /// Attributes sent (all when `None`).
        send: Option<Vec<String>>,
        /// Answer fields stored as attributes: attribute name, field path.
        store: Vec<(String, String)>,
        /// Branches on answer fields, first match wins.
        branches: Vec<HttpBranch>,
        /// When the answer matches no branch.
        next: Ref,
        /// When the request fails or times out.
        fallback: Ref,
    },
    /// Puts the call in a queue.
    Enqueue {
        /// Queue name.
        queue: String,
        /// Priority (higher is served first).
        priority: i32,
        /// Required skills (templates).
        skills: Vec<String>,
        /// Node run after the agent hangs up (a survey).
        after: Option<Ref>,
        /// Where the queue name is written.
        queue_pos: Pos,
    },
    /// Transfers the call.
    Transfer {
        /// Where to.
        target: TransferTarget,
    },
    /// Records a message (voicemail).
    Record {
        /// Greeting played first.
        prompts: Vec<Prompt>,
        /// Mailbox the message is stored in.
        mailbox: String,
        /// Longest message.
        max_duration: Duration,
        /// Beep before recording.
        beep: bool,
        /// Key that ends recording.
        terminator: Option<char>,
        /// After recording (default: hang up).
        next: Option<Ref>,
    },
    /// Hangs up, after optional goodbye prompts.
    Hangup {
        /// Played before hanging up.
        prompts: Vec<Prompt>,
    },
    /// Asks a CSAT or NPS question by DTMF.
    Survey {
        /// Which scale.
        kind: SurveyKind,
        /// The question.
        prompts: Vec<Prompt>,
        /// Attribute the score is stored in.
        store: String,
        /// Wait for the answer.
        timeout: Duration,
        /// Extra attempts.
        retries: u32,
        /// Played after an invalid answer.
        invalid_prompts: Vec<Prompt>,
        /// After an answer, or after the last failed attempt.
        next: Option<Ref>,
    },
    /// Continues at another node.
    Goto {
        /// The node.
        target: Ref,
    },
    /// Runs a sub-flow starting at `target` until `return`, then goes to `next`.
    Call {
        /// First node of the sub-flow.
        target: Ref,
        /// Where to continue after `return`.
        next: Ref,
    },
    /// Returns from a sub-flow.
    Return,
}

impl NodeKind {
    /// The `type:` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            NodeKind::Play { .. } => "play",
            NodeKind::Menu(_) => "menu",
            NodeKind::Gather { .. } => "gather",
            NodeKind::Set { .. } => "set",
            NodeKind::Language { .. } => "language",
            NodeKind::Hours { .. } => "hours",
            NodeKind::Switch { .. } => "switch",
            NodeKind::Http { .. } => "http",
            NodeKind::Enqueue { .. } => "enqueue",
            NodeKind::Transfer { .. } => "transfer",
            NodeKind::Record { .. } => "record",
            NodeKind::Hangup { .. } => "hangup",
            NodeKind::Survey { .. } => "survey",
            NodeKind::Goto { .. } => "goto",
            NodeKind::Call { .. } => "call",
            NodeKind::Return => "return",
        }
    }

    /// Whether running this node waits for the caller or the network (ends a run of
    /// steps for the loop guard).
    pub fn waits(&self) -> bool {
        match self {
            NodeKind::Play { prompts, .. } => !prompts.is_empty(),
            NodeKind::Menu(_)
            | NodeKind::Gather { .. }
            | NodeKind::Http { .. }
            | NodeKind::Record { .. }
            | NodeKind::Survey { .. } => true,
            NodeKind::Hangup { prompts } => !prompts.is_empty(),
            _ => false,
        }
    }

    /// Every node this one can go to, with a label for graphs.
    pub fn edges(&self) -> Vec<(String, &Ref)> {
        let mut out: Vec<(String, &Ref)> = Vec::new();
        match self {
            NodeKind::Play { next, .. } | NodeKind::Set { next, .. } | NodeKind::Language { next, .. } => {
                out.push(("next".into(), next))
            }
            NodeKind::Menu(c) => push_collect(c, &mut out),
            NodeKind::Gather { collect, next, .. } => {
                push_collect(collect, &mut out);
                if let Some(n) = next {
                    out.push(("next".into(), n));
                }
            }
            NodeKind::Hours { open, closed, .. } => {
                out.push(("open".into(), open));
                out.push(("closed".into(), closed));
            }
            NodeKind::Switch { cases, default } => {
                for c in cases {
                    out.push((case_label(&c.subject, &c.test), &c.next));
                }
                out.push(("default".into(), default));
            }
            NodeKind::Http {
                branches,
                next,
                fallback,
                ..
            } => {
                for b in branches {
                    out.push((case_label(&Subject::Attribute(b.field.clone()), &b.test), &b.next));
                }
                out.push(("next".into(), next));
                out.push(("fallback".into(), fallback));
            }
            NodeKind::Enqueue { after, .. } => {
                if let Some(a) = after {
                    out.push(("after agent".into(), a));
                }
            }
            NodeKind::Record { next, .. } | NodeKind::Survey { next, .. } => {
                if let Some(n) = next {
                    out.push(("next".into(), n));
                }
            }
            NodeKind::Goto { target } => out.push(("goto".into(), target)),
            NodeKind::Call { target, next } => {
                out.push(("call".into(), target));
                out.push(("return".into(), next));
            }
            NodeKind::Transfer { .. } | NodeKind::Hangup { .. } | NodeKind::Return => {}
        }
        out
    }

    /// Every prompt the node may play.
    pub fn prompts(&self) -> Vec<&Prompt> {
        match self {
            NodeKind::Play { prompts, .. } | NodeKind::Hangup { prompts } | NodeKind::Record { prompts, .. } => {
                prompts.iter().collect()
            }
            NodeKind::Menu(c) | NodeKind::Gather { collect: c, .. } => c
                .prompts
                .iter()
                .chain(&c.retry_prompts)
                .chain(&c.invalid_prompts)
                .chain(&c.timeout_prompts)
                .collect(),
            NodeKind::Survey {
                prompts,
                invalid_prompts,
                ..
            } => prompts.iter().chain(invalid_prompts).collect(),
            _ => Vec::new(),
        }
    }
}

fn push_collect<'a>(c: &'a Collect, out: &mut Vec<(String, &'a Ref)>) {
    for (digits, r) in &c.branches {
        out.push((digits.clone(), r));
    }
    if let Some(r) = &c.invalid {
        out.push(("invalid".into(), r));
    }
    if let Some(r) = &c.timeout {
        out.push(("timeout".into(), r));
    }
}

fn case_label(subject: &Subject, test: &Test) -> String {
    let s = match subject {
        Subject::Attribute(a) => a.clone(),
        Subject::Caller => "caller".into(),
        Subject::Called => "called".into(),
    };
    match test {
        Test::OneOf(v) => format!("{s} = {}", v.join("|")),
        Test::Prefix(p) => format!("{s} starts {p}"),
        Test::Matches(r) => format!("{s} ~ {}", r.as_str()),
        Test::Exists(true) => format!("{s} set"),
        Test::Exists(false) => format!("{s} unset"),
    }
}

/// Expands `${name}` in a template from a lookup; unknown names expand to nothing.
pub fn expand(template: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                if let Some(v) = lookup(&after[..end]) {
                    out.push_str(&v);
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Attributes as the interpreter keeps them.
pub type Attributes = BTreeMap<String, String>;
