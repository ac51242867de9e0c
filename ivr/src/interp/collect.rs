//! Digit collection for `menu`, `gather` and `survey` nodes: prompts with barge-in,
//! type-ahead, first-digit and inter-digit timeouts, terminator, retries.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::eval::add;
use super::{Action, Interpreter, Step, Timer, Wait};
use crate::model::{Collect, NodeKind, Prompt};

/// Collection in progress.
#[derive(Debug, Clone)]
pub(super) struct CollectState {
    node: usize,
    /// Failed attempts so far.
    failures: u32,
    digits: String,
    phase: Phase,
}

#[derive(Debug, Clone)]
enum Phase {
    /// Prompts playing.
    Prompting { barge_in: bool },
    /// Waiting for a digit until the deadline.
    Waiting { timer: Timer, deadline: DateTime<Utc> },
}

impl CollectState {
    pub(super) fn deadline(&self) -> Option<(Timer, DateTime<Utc>)> {
        match self.phase {
            Phase::Waiting { timer, deadline } => Some((timer, deadline)),
            Phase::Prompting { .. } => None,
        }
    }
}

/// The settings of a collecting node, whatever its type.
struct Spec {
    prompts: Vec<Prompt>,
    barge_in: bool,
    min: usize,
    max: usize,
    terminator: Option<char>,
    first: Duration,
    inter: Duration,
    retries: u32,
    retry_prompts: Vec<Prompt>,
    invalid_prompts: Vec<Prompt>,
    timeout_prompts: Vec<Prompt>,
}

fn spec(kind: &NodeKind) -> Option<Spec> {
    let from = |c: &Collect| Spec {
        prompts: c.prompts.clone(),
        barge_in: c.barge_in,
        min: c.min_digits as usize,
        max: c.max_digits as usize,
        terminator: c.terminator,
        first: c.first_digit_timeout,
        inter: c.inter_digit_timeout,
        retries: c.retries,
        retry_prompts: c.retry_prompts.clone(),
        invalid_prompts: c.invalid_prompts.clone(),
        timeout_prompts: c.timeout_prompts.clone(),
    };
    match kind {
        NodeKind::Menu(c) | NodeKind::Gather { collect: c, .. } => Some(from(c)),
        NodeKind::Survey {
            kind,
            prompts,
            timeout,
            retries,
            invalid_prompts,
            ..
        } => Some(Spec {
            prompts: prompts.clone(),
            barge_in: true,
            min: 1,
            max: kind.range().1.to_string().len(),
            terminator: Some('#'),
            first: *timeout,
            inter: Duration::from_secs(2),
            retries: *retries,
            retry_prompts: Vec::new(),
            invalid_prompts: invalid_prompts.clone(),
            timeout_prompts: invalid_prompts.clone(),
        }),
        _ => None,
    }
}

/// Why an attempt failed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Failure {
    Invalid,
    Timeout,
}

impl Interpreter {
    fn state(&mut self) -> Option<&mut CollectState> {
        match &mut self.wait {
            Wait::Collect(c) => Some(c),
            _ => None,
        }
    }

    fn current_spec(&self) -> Option<(usize, Spec)> {
        let Wait::Collect(c) = &self.wait else {
            return None;
        };
        let node = c.node;
        self.flow.nodes.get(node).and_then(|n| spec(&n.kind)).map(|s| (node, s))
    }

    /// Enters a collecting node: plays its prompts, or uses type-ahead digits.
    pub(super) fn enter_collect(&mut self, node: usize, now: DateTime<Utc>) -> Step {
        let Some(s) = self.flow.nodes.get(node).and_then(|n| spec(&n.kind)) else {
            return self.hang_up();
        };
        self.wait = Wait::Collect(CollectState {
            node,
            failures: 0,
            digits: String::new(),
            phase: Phase::Prompting { barge_in: s.barge_in },
        });
        if self.typeahead.is_empty() || !s.barge_in {
            self.typeahead.clear();
            self.play(&s.prompts, s.barge_in);
            return Step::Wait;
        }
        // Type-ahead: the caller already answered; skip the prompts.
        let deadline = add(now, s.inter);
        if let Some(c) = self.state() {
            c.phase = Phase::Waiting {
                timer: Timer::InterDigit,
                deadline,
            };
        }
        let buffered: Vec<char> = self.typeahead.drain(..).collect();
        let mut rest = buffered.into_iter();
        for key in rest.by_ref() {
            match self.collect_digit(key, now) {
                Step::Wait if matches!(self.wait, Wait::Collect(ref c) if c.node == node) => {}
                step => {
                    // Keys beyond this input stay for the next collection.
                    self.typeahead = rest.collect();
                    return step;
                }
            }
        }
        Step::Wait
    }

    pub(super) fn collect_digit(&mut self, key: char, now: DateTime<Utc>) -> Step {
        let Some((_, s)) = self.current_spec() else {
            return Step::Wait;
        };
        let Some(c) = self.state() else {
            return Step::Wait;
        };
        if let Phase::Prompting { barge_in } = c.phase {
            if !barge_in {
                return Step::Wait;
            }
            self.actions.push_back(Action::StopPlayback);
        }
        let Some(c) = self.state() else {
            return Step::Wait;
        };
        if Some(key) == s.terminator {
            return self.complete(now);
        }
        c.digits.push(key);
        if c.digits.chars().count() >= s.max {
            return self.complete(now);
        }
        c.phase = Phase::Waiting {
            timer: Timer::InterDigit,
            deadline: add(now, s.inter),
        };
        Step::Wait
    }

    pub(super) fn collect_prompt_finished(&mut self, now: DateTime<Utc>) -> Step {
        let Some((_, s)) = self.current_spec() else {
            return Step::Wait;
        };
        if let Some(c) = self.state() {
            if matches!(c.phase, Phase::Prompting { .. }) {
                c.phase = Phase::Waiting {
                    timer: Timer::FirstDigit,
                    deadline: add(now, s.first),
                };
            }
        }
        Step::Wait
    }

    pub(super) fn collect_timeout(&mut self, now: DateTime<Utc>) -> Step {
        let Some((_, s)) = self.current_spec() else {
            return Step::Wait;
        };
        let Some(c) = self.state() else {
            return Step::Wait;
        };
        match c.phase {
            Phase::Waiting { deadline, .. } if now >= deadline => {}
            _ => return Step::Wait,
        }
        let n = c.digits.chars().count();
        if n == 0 {
            self.fail(Failure::Timeout, now)
        } else if n >= s.min {
            self.complete(now)
        } else {
            self.fail(Failure::Invalid, now)
        }
    }

    /// Input is complete: decide where it goes.
    fn complete(&mut self, now: DateTime<Utc>) -> Step {
        let Some(c) = self.state() else {
            return Step::Wait;
        };
        let digits = std::mem::take(&mut c.digits);
        let node = c.node;
        let Some(kind) = self.node_kind(node) else {
            return self.hang_up();
        };
        let count = digits.chars().count();
        match kind {
            NodeKind::Menu(col) => match col.branches.iter().find(|(d, _)| *d == digits) {
                Some((_, r)) => {
                    let node = self.flow.nodes.get(node).map(|n| n.id.clone()).unwrap_or_default();
                    self.actions.push_back(Action::MenuChoice { node, digits });
                    self.goto(&r.id)
                }
                None => self.fail(Failure::Invalid, now),
            },
            NodeKind::Gather {
                collect: col,
                store,
                next,
            } => {
                if count < col.min_digits as usize {
                    return self.fail(Failure::Invalid, now);
                }
                let target = col
                    .branches
                    .iter()
                    .find(|(d, _)| *d == digits)
                    .map(|(_, r)| r)
                    .or(next.as_ref());
                match target {
                    Some(r) => {
                        if let Some(key) = &store {
                            self.set_attribute(key, digits);
                        }
                        self.goto(&r.id)
                    }
                    None => self.fail(Failure::Invalid, now),
                }
            }
            NodeKind::Survey { kind, store, next, .. } => {
                let (lo, hi) = kind.range();
                match digits.parse::<u32>() {
                    Ok(score) if (lo..=hi).contains(&score) => {
                        self.set_attribute(&store, score.to_string());
                        self.actions.push_back(Action::SurveyScore { kind, score });
                        match next {
                            Some(n) => self.goto(&n.id),
                            None => self.hang_up(),
                        }
                    }
                    _ => self.fail(Failure::Invalid, now),
                }
            }
            _ => self.hang_up(),
        }
    }

    /// An attempt failed: retry with prompts, or take the invalid/timeout branch.
    fn fail(&mut self, failure: Failure, _now: DateTime<Utc>) -> Step {
        let Some((node, s)) = self.current_spec() else {
            return self.hang_up();
        };
        let Some(c) = self.state() else {
            return Step::Wait;
        };
        c.failures += 1;
        c.digits.clear();
        if c.failures <= s.retries {
            c.phase = Phase::Prompting { barge_in: s.barge_in };
            let mut prompts = match failure {
                Failure::Invalid => s.invalid_prompts.clone(),
                Failure::Timeout => s.timeout_prompts.clone(),
            };
            if s.retry_prompts.is_empty() {
                prompts.extend(s.prompts.iter().cloned());
            } else {
                prompts.extend(s.retry_prompts.iter().cloned());
            }
            self.typeahead.clear();
            self.play(&prompts, s.barge_in);
            return Step::Wait;
        }
        let target = match self.node_kind(node) {
            Some(NodeKind::Menu(col)) | Some(NodeKind::Gather { collect: col, .. }) => match failure {
                Failure::Timeout => col.timeout.or(col.invalid),
                Failure::Invalid => col.invalid,
            },
            Some(NodeKind::Survey { next, .. }) => next,
            _ => None,
        };
        match target {
            Some(r) => self.goto(&r.id),
            None => self.hang_up(),
        }
    }
}
