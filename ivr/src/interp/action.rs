//! The interpreter's inputs and outputs: call context, actions, timers, errors.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::{Attributes, SurveyKind, TransferTarget};
use crate::prompts::ResolvedPrompt;

/// What the call has when the flow starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallContext {
    /// The caller's number (From user part).
    pub caller: String,
    /// The called number (Request-URI user part).
    pub called: String,
    /// Attributes set before the flow (from the routing rule, for example).
    pub attributes: Attributes,
    /// Initial prompt language; the flow's default if `None` or not one of its languages.
    pub language: Option<String>,
}

/// The HTTP request of an `http` node failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// No answer within the node's timeout.
    #[error("timed out")]
    Timeout,
    /// The server answered with a non-2xx status.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The answer was not JSON.
    #[error("answer is not JSON")]
    NotJson,
    /// The connection failed.
    #[error("connection failed: {0}")]
    Connection(String),
}

/// Why the flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FinishReason {
    /// A `hangup` node (or the end of a `record` or `survey` without `next`).
    HungUp,
    /// The call went to a queue (and there is no survey after it, or it was done).
    Enqueued,
    /// The call was transferred.
    Transferred,
    /// `max_steps_without_input` nodes ran without waiting: a loop.
    LoopGuard,
    /// `return` without `call`, or `call` nested deeper than [`MAX_CALL_DEPTH`].
    CallStack,
    /// The caller hung up during the flow.
    CallerHungUp,
}

/// Something the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Play these prompts in order; answer with `prompt_finished` when the last ends.
    Play {
        /// Files to play, resolved for the language.
        prompts: Vec<ResolvedPrompt>,
        /// Whether a digit should stop them (the interpreter sends `StopPlayback`).
        barge_in: bool,
    },
    /// Stop the prompts being played (barge-in); no `prompt_finished` is expected.
    StopPlayback,
    /// The caller chose a menu branch (for the call record and the agent's
    /// screen-pop: which options led the caller where).
    MenuChoice {
        /// The menu node's id.
        node: String,
        /// The digits keyed.
        digits: String,
    },
    /// A call attribute changed.
    SetAttribute {
        /// Name.
        key: String,
        /// New value.
        value: String,
    },
    /// The prompt language changed.
    SetLanguage {
        /// The new language.
        language: String,
    },
    /// POST `body` as JSON to `url`; answer with `http_result` (the interpreter also
    /// times out by itself after `timeout`).
    HttpRequest {
        /// URL.
        url: String,
        /// JSON body: `{"caller", "called", "language", "attributes": {...}}`.
        body: serde_json::Value,
        /// How long the node waits.
        timeout: Duration,
    },
    /// Put the call in a queue.
    Enqueue {
        /// Queue name.
        queue: String,
        /// Priority, higher first.
        priority: i32,
        /// Required skills, expanded.
        skills: Vec<String>,
    },
    /// Transfer the call.
    Transfer {
        /// Where to.
        target: TransferTarget,
    },
    /// Record a message; answer with `record_finished`.
    RecordMessage {
        /// Mailbox.
        mailbox: String,
        /// Longest message.
        max_duration: Duration,
        /// Beep first.
        beep: bool,
        /// Key that ends the recording.
        terminator: Option<char>,
    },
    /// A survey answer (also set as an attribute).
    SurveyScore {
        /// The scale.
        kind: SurveyKind,
        /// The score.
        score: u32,
    },
    /// Hang the call up.
    Hangup,
    /// The flow is over; no more actions will come.
    Finished {
        /// Why.
        reason: FinishReason,
    },
}

/// The interpreter's named timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Waiting for the first digit after the prompts.
    FirstDigit,
    /// Waiting for the next digit.
    InterDigit,
    /// Waiting for the HTTP answer.
    Http,
}

/// One node visited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    /// Node id.
    pub node: String,
    /// When.
    pub at: DateTime<Utc>,
}
