//! Diagnostics: problems found in a flow, each with its file, line and column.

use std::fmt;

use crate::yaml::Pos;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The flow is refused.
    Error,
    /// The flow works, but probably not as meant.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem in a flow file. Displays as `file:line:column: error: message`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diagnostic {
    /// The file name as given.
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn new(file: &str, pos: Pos, severity: Severity, message: String) -> Diagnostic {
        Diagnostic {
            file: file.to_owned(),
            line: pos.line,
            column: pos.column,
            severity,
            message,
        }
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.severity, self.message
        )
    }
}

/// A flow file that could not be read: every error found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display_all(.0))]
pub struct FlowErrors(pub Vec<Diagnostic>);

fn display_all(diags: &[Diagnostic]) -> String {
    diags.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}
