//! The interpreter: one pure state machine per call.
//!
//! Inputs come with the current time (`now`); outputs are [`Action`]s drained with
//! [`Interpreter::poll_action`]; the next deadline is [`Interpreter::poll_timeout`].
//! It never reads a clock, does no I/O and never panics.
//!
//! ```text
//!   shell                                     Interpreter
//!   start(now)                        ──▶     runs nodes until one waits
//!   while let Some(a) = poll_action() ◀──     Play / SetAttribute / HttpRequest / ...
//!   prompt_finished(now)              ──▶     a Play ended (all its prompts)
//!   digit('1', now)                   ──▶     a DTMF key (RFC 4733, INFO or in-band)
//!   handle_timeout(now)               ──▶     when now >= poll_timeout()
//!   http_result(Ok(json) | Err, now)  ──▶     the answer to HttpRequest
//!   record_finished(now)              ──▶     the RecordMessage ended
//!   agent_hung_up(now)                ──▶     after Enqueue, for the survey
//! ```

mod action;
mod collect;
mod eval;

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::model::{expand, Attributes, Flow, NodeKind, Prompt};
use crate::prompts::{resolve, PromptCatalog, ResolvedPrompt};

pub use action::{Action, CallContext, FinishReason, HttpError, Timer, Visit};
use collect::CollectState;

/// Deepest nesting of `call` nodes.
pub const MAX_CALL_DEPTH: usize = 16;

/// Most entries kept in the path (later visits are counted, not stored).
pub const MAX_PATH: usize = 1000;

/// What the interpreter waits for.
#[derive(Debug, Clone)]
enum Wait {
    NotStarted,
    /// A `play` node's prompts.
    Play {
        node: usize,
        barge_in: bool,
    },
    /// A `hangup` node's goodbye.
    Goodbye,
    /// A `record` node's greeting.
    Greeting {
        node: usize,
    },
    /// The recording.
    Recording {
        node: usize,
    },
    /// Digits for a menu, gather or survey.
    Collect(CollectState),
    /// The HTTP answer.
    Http {
        node: usize,
        deadline: DateTime<Utc>,
    },
    /// The call is with an agent; a survey may follow.
    Queued {
        after: usize,
    },
    Done,
}

/// Where running goes next.
enum Step {
    /// Run this node.
    Goto(usize),
    /// Wait for input.
    Wait,
    /// Finished (actions already emitted).
    End,
}

/// The interpreter for one call. See the module docs for the contract.
#[derive(Debug)]
pub struct Interpreter {
    flow: Arc<Flow>,
    catalog: Option<Arc<PromptCatalog>>,
    caller: String,
    called: String,
    attributes: Attributes,
    language: String,
    wait: Wait,
    typeahead: String,
    stack: Vec<usize>,
    steps: u32,
    path: Vec<Visit>,
    visits: u64,
    actions: VecDeque<Action>,
    finished: Option<FinishReason>,
}

impl Interpreter {
    /// A new interpreter for a call. Nothing happens until [`Interpreter::start`].
    pub fn new(flow: Arc<Flow>, context: CallContext) -> Self {
        let language = context
            .language
            .filter(|l| flow.languages.contains(l))
            .unwrap_or_else(|| flow.default_language.clone());
        let mut attributes = context.attributes;
        attributes.insert("language".into(), language.clone());
        Interpreter {
            flow,
            catalog: None,
            caller: context.caller,
            called: context.called,
            attributes,
            language,
            wait: Wait::NotStarted,
            typeahead: String::new(),
            stack: Vec::new(),
            steps: 0,
            path: Vec::new(),
            visits: 0,
            actions: VecDeque::new(),
            finished: None,
        }
    }

    /// Uses a catalogue of prompt files, so prompts missing in the call's language
    /// fall back to the default language.
    pub fn with_prompts(mut self, catalog: Arc<PromptCatalog>) -> Self {
        self.catalog = Some(catalog);
        self
    }

    // ---- getters ----

    /// The flow this call runs (the version it started with).
    pub fn flow(&self) -> &Arc<Flow> {
        &self.flow
    }

    /// The call's attributes now (`language` included).
    pub fn attributes(&self) -> &Attributes {
        &self.attributes
    }

    /// The prompt language now.
    pub fn language(&self) -> &str {
        &self.language
    }

    /// Nodes visited so far, in order (at most [`MAX_PATH`]).
    pub fn path(&self) -> &[Visit] {
        &self.path
    }

    /// Why the flow ended, once it has.
    pub fn finished(&self) -> Option<FinishReason> {
        self.finished
    }

    // ---- inputs ----

    /// Starts the flow at its `start` node.
    pub fn start(&mut self, now: DateTime<Utc>) {
        if !matches!(self.wait, Wait::NotStarted) {
            return;
        }
        match self.flow.index_of(&self.flow.start.id) {
            Some(i) => self.advance(Step::Goto(i), now),
            None => self.finish(FinishReason::HungUp, true),
        }
    }

    /// A DTMF key (`0-9`, `*`, `#`, `A-D`; anything else is ignored).
    pub fn digit(&mut self, key: char, now: DateTime<Utc>) {
        if !crate::parse::is_dtmf(key) {
            return;
        }
        let step = match &mut self.wait {
            Wait::Play { node, barge_in } => {
                if !*barge_in {
                    return;
                }
                let node = *node;
                self.actions.push_back(Action::StopPlayback);
                self.typeahead.push(key);
                self.next_of(node)
            }
            Wait::Collect(_) => self.collect_digit(key, now),
            _ => return,
        };
        self.advance(step, now);
    }

    /// The prompts of the last `Play` finished.
    pub fn prompt_finished(&mut self, now: DateTime<Utc>) {
        let step = match &self.wait {
            Wait::Play { node, .. } => self.next_of(*node),
            Wait::Goodbye => {
                self.actions.push_back(Action::Hangup);
                self.finish(FinishReason::HungUp, false);
                Step::End
            }
            Wait::Greeting { node } => {
                let node = *node;
                self.start_recording(node)
            }
            Wait::Collect(_) => self.collect_prompt_finished(now),
            _ => return,
        };
        self.advance(step, now);
    }

    /// The recording of a `RecordMessage` ended.
    pub fn record_finished(&mut self, now: DateTime<Utc>) {
        if let Wait::Recording { node } = self.wait {
            let step = match self.node_kind(node) {
                Some(NodeKind::Record { next: Some(n), .. }) => self.goto(&n.id.clone()),
                _ => self.hang_up(),
            };
            self.advance(step, now);
        }
    }

    /// Time passed; call when `now >= poll_timeout()`.
    pub fn handle_timeout(&mut self, now: DateTime<Utc>) {
        let step = match &self.wait {
            Wait::Collect(_) => self.collect_timeout(now),
            Wait::Http { node, deadline } if now >= *deadline => {
                let node = *node;
                self.http_done(node, Err(HttpError::Timeout))
            }
            _ => return,
        };
        self.advance(step, now);
    }

    /// The answer to the last `HttpRequest`. Ignored if the node already timed out.
    pub fn http_result(&mut self, result: Result<serde_json::Value, HttpError>, now: DateTime<Utc>) {
        if let Wait::Http { node, .. } = self.wait {
            let step = self.http_done(node, result);
            self.advance(step, now);
        }
    }

    /// The agent hung up: runs the enqueue node's `after` node (a survey), if any.
    pub fn agent_hung_up(&mut self, now: DateTime<Utc>) {
        if let Wait::Queued { after } = self.wait {
            self.advance(Step::Goto(after), now);
        }
    }

    /// The caller hung up: the flow ends, with no `Hangup` action.
    pub fn caller_hung_up(&mut self, _now: DateTime<Utc>) {
        if self.finished.is_none() {
            self.finish(FinishReason::CallerHungUp, true);
        }
    }

    // ---- outputs ----

    /// The next action to carry out; drain after every input.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When `handle_timeout` is due next.
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        self.pending_timer().map(|(_, at)| at)
    }

    /// The pending timer and its deadline.
    pub fn pending_timer(&self) -> Option<(Timer, DateTime<Utc>)> {
        match &self.wait {
            Wait::Collect(c) => c.deadline(),
            Wait::Http { deadline, .. } => Some((Timer::Http, *deadline)),
            _ => None,
        }
    }

    // ---- running ----

    fn advance(&mut self, mut step: Step, now: DateTime<Utc>) {
        loop {
            match step {
                Step::Goto(i) => {
                    self.steps = self.steps.saturating_add(1);
                    if self.steps > self.flow.max_steps_without_input {
                        self.finish(FinishReason::LoopGuard, true);
                        return;
                    }
                    self.visit(i, now);
                    step = self.run(i, now);
                }
                Step::Wait => {
                    self.steps = 0;
                    return;
                }
                Step::End => return,
            }
        }
    }

    fn visit(&mut self, i: usize, now: DateTime<Utc>) {
        self.visits += 1;
        if self.path.len() < MAX_PATH {
            if let Some(n) = self.flow.nodes.get(i) {
                self.path.push(Visit {
                    node: n.id.clone(),
                    at: now,
                });
            }
        }
    }

    fn node_kind(&self, i: usize) -> Option<NodeKind> {
        self.flow.nodes.get(i).map(|n| n.kind.clone())
    }

    /// Runs one node.
    fn run(&mut self, i: usize, now: DateTime<Utc>) -> Step {
        let flow = Arc::clone(&self.flow);
        let Some(node) = flow.nodes.get(i) else {
            return self.hang_up();
        };
        match &node.kind {
            NodeKind::Play { prompts, barge_in, .. } => {
                self.play(prompts, *barge_in);
                self.wait = Wait::Play {
                    node: i,
                    barge_in: *barge_in,
                };
                Step::Wait
            }
            NodeKind::Menu(_) | NodeKind::Gather { .. } | NodeKind::Survey { .. } => self.enter_collect(i, now),
            NodeKind::Set { attributes, next } => {
                for (k, template) in attributes {
                    let value = self.expand(template);
                    self.set_attribute(k, value);
                }
                self.goto(&next.id)
            }
            NodeKind::Language { language, next } => {
                self.set_language(language);
                self.goto(&next.id)
            }
            NodeKind::Hours { schedule, open, closed } => {
                if schedule.is_open(now) {
                    self.goto(&open.id)
                } else {
                    self.goto(&closed.id)
                }
            }
            NodeKind::Switch { cases, default } => {
                let hit = cases.iter().find(|c| {
                    let value = self.subject(&c.subject);
                    eval::test_holds(&c.test, value.as_deref())
                });
                self.goto(&hit.map_or(default, |c| &c.next).id)
            }
            NodeKind::Http { url, timeout, send, .. } => {
                let body = self.http_body(send.as_deref());
                self.actions.push_back(Action::HttpRequest {
                    url: url.clone(),
                    body,
                    timeout: *timeout,
                });
                let deadline = eval::add(now, *timeout);
                self.wait = Wait::Http { node: i, deadline };
                Step::Wait
            }
            NodeKind::Enqueue {
                queue,
                priority,
                skills,
                after,
                ..
            } => {
                let skills = skills.iter().map(|s| self.expand(s)).collect();
                self.actions.push_back(Action::Enqueue {
                    queue: queue.clone(),
                    priority: *priority,
                    skills,
                });
                match after.as_ref().and_then(|a| flow.index_of(&a.id)) {
                    Some(after) => {
                        self.wait = Wait::Queued { after };
                        Step::Wait
                    }
                    None => {
                        self.finish(FinishReason::Enqueued, false);
                        Step::End
                    }
                }
            }
            NodeKind::Transfer { target } => {
                self.actions.push_back(Action::Transfer { target: target.clone() });
                self.finish(FinishReason::Transferred, false);
                Step::End
            }
            NodeKind::Record { prompts, .. } => {
                if prompts.is_empty() {
                    self.start_recording(i)
                } else {
                    self.play(prompts, false);
                    self.wait = Wait::Greeting { node: i };
                    Step::Wait
                }
            }
            NodeKind::Hangup { prompts } => {
                if prompts.is_empty() {
                    self.hang_up()
                } else {
                    self.play(prompts, false);
                    self.wait = Wait::Goodbye;
                    Step::Wait
                }
            }
            NodeKind::Goto { target } => self.goto(&target.id),
            NodeKind::Call { target, next } => {
                if self.stack.len() >= MAX_CALL_DEPTH {
                    self.finish(FinishReason::CallStack, true);
                    return Step::End;
                }
                match flow.index_of(&next.id) {
                    Some(n) => self.stack.push(n),
                    None => return self.hang_up(),
                }
                self.goto(&target.id)
            }
            NodeKind::Return => match self.stack.pop() {
                Some(n) => Step::Goto(n),
                None => {
                    self.finish(FinishReason::CallStack, true);
                    Step::End
                }
            },
        }
    }

    fn goto(&mut self, id: &str) -> Step {
        match self.flow.index_of(id) {
            Some(i) => Step::Goto(i),
            // Cannot happen for a parsed flow; end the call rather than panic.
            None => self.hang_up(),
        }
    }

    fn next_of(&mut self, node: usize) -> Step {
        match self.node_kind(node) {
            Some(NodeKind::Play { next, .. }) => self.goto(&next.id),
            _ => self.hang_up(),
        }
    }

    fn hang_up(&mut self) -> Step {
        self.actions.push_back(Action::Hangup);
        self.finish(FinishReason::HungUp, false);
        Step::End
    }

    /// Ends the flow; `hangup` also emits `Hangup` first.
    fn finish(&mut self, reason: FinishReason, hangup: bool) {
        if hangup && reason != FinishReason::CallerHungUp {
            self.actions.push_back(Action::Hangup);
        }
        self.actions.push_back(Action::Finished { reason });
        self.finished = Some(reason);
        self.wait = Wait::Done;
    }

    fn start_recording(&mut self, node: usize) -> Step {
        if let Some(NodeKind::Record {
            mailbox,
            max_duration,
            beep,
            terminator,
            ..
        }) = self.node_kind(node)
        {
            self.actions.push_back(Action::RecordMessage {
                mailbox,
                max_duration,
                beep,
                terminator,
            });
            self.wait = Wait::Recording { node };
            Step::Wait
        } else {
            self.hang_up()
        }
    }

    fn play(&mut self, prompts: &[Prompt], barge_in: bool) {
        let prompts = self.resolve_prompts(prompts);
        self.actions.push_back(Action::Play { prompts, barge_in });
    }

    fn resolve_prompts(&self, prompts: &[Prompt]) -> Vec<ResolvedPrompt> {
        prompts
            .iter()
            .map(|p| {
                let language = p.language.as_deref().unwrap_or(&self.language);
                resolve(&p.name, language, &self.flow.default_language, self.catalog.as_deref())
            })
            .collect()
    }

    fn set_attribute(&mut self, key: &str, value: String) {
        if key == "language" && self.flow.languages.contains(&value) {
            self.set_language(&value.clone());
            return;
        }
        self.attributes.insert(key.to_owned(), value.clone());
        self.actions.push_back(Action::SetAttribute {
            key: key.to_owned(),
            value,
        });
    }

    fn set_language(&mut self, language: &str) {
        self.language = language.to_owned();
        self.attributes.insert("language".into(), language.to_owned());
        self.actions.push_back(Action::SetLanguage {
            language: language.to_owned(),
        });
    }

    fn expand(&self, template: &str) -> String {
        expand(template, |name| match name {
            "caller" => Some(self.caller.clone()),
            "called" => Some(self.called.clone()),
            _ => self.attributes.get(name).cloned(),
        })
    }
}
