//! IVR flows for Switchboard: the flow language, its checks, a pure interpreter, a
//! simulator and graph export.
//!
//! - [`parse_flow`] reads a flow file (YAML, `version: 1`) into a [`Flow`], reporting
//!   every error with file, line and column ([`Diagnostic`]).
//! - [`check`] adds flow-level problems: unreachable nodes, loops that never wait for
//!   input, missing prompt files per language, unknown queues.
//! - [`Interpreter`] runs one call through a flow: inputs with `now`, [`Action`]s out.
//! - [`simulate`] drives an interpreter through a scripted call in virtual time.
//! - [`graph`] renders a flow as Graphviz DOT or Mermaid.
//!
//! The crate does no I/O and reads no clock: callers pass file contents, the list
//! of prompt files ([`PromptCatalog`]) and the time. The format is documented in
//! `docs/ivr.md`, and `ivr/flow.schema.json` is its JSON Schema.

mod check;
mod diag;
mod graph;
mod hours;
mod interp;
mod model;
mod parse;
mod parse_nodes;
mod prompts;
mod simulate;
mod yaml;

pub use check::{check, CheckOptions};
pub use diag::{Diagnostic, FlowErrors, Severity};
pub use graph::{graph, GraphFormat};
pub use hours::{Holiday, Interval, Schedule};
pub use interp::{Action, CallContext, FinishReason, HttpError, Interpreter, Timer, Visit, MAX_CALL_DEPTH, MAX_PATH};
pub use model::{
    expand, Attributes, Case, Collect, Flow, HttpBranch, NodeDef, NodeKind, Prompt, Ref, Subject, SurveyKind, Test,
    TransferTarget, DEFAULT_MAX_STEPS, FORMAT_VERSION,
};
pub use parse::{is_dtmf, parse_flow, MAX_FILE_SIZE};
pub use prompts::{resolve, PromptCatalog, ResolvedPrompt};
pub use simulate::{parse_at, simulate, SimError, SimReport, SimScript, SimStep};
pub use yaml::Pos;

/// The JSON Schema of the flow format (`ivr/flow.schema.json`).
pub const SCHEMA: &str = include_str!("../flow.schema.json");
