//! How a run ends and why a file was not rewritten: the errors every stage
//! may return, in one place.

use crate::syntax::parse::SyntaxError;
use serde::Serialize;

/// Exit codes, one place: 0 nothing to report, 1 `--check` found changes,
/// 2 any error (unreadable file, syntax error, bad flag, internal error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success = 0,
    ChangesFound = 1,
    Error = 2,
}

/// Why a file was not rewritten.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0}")]
    Syntax(#[from] SyntaxError),
    #[error("{path}: {error}")]
    Plan {
        /// `file:line:column` when the error has a place, else the file.
        path: String,
        place: Option<Place>,
        error: PlanError,
    },
    #[error(
        "{path}: internal error, nothing was changed: {message} (please report this with the file)"
    )]
    Internal { path: String, message: String },
    /// The behaviour check refused the rewrite: it would have changed what
    /// a client or backend sees. A bug in a rule, caught before any output.
    #[error(
        "{path}: internal error, nothing was changed: the rewrite would change more than connection reuse: {message} (please report this with the file)"
    )]
    Unsafe { path: String, message: String },
}

impl FileError {
    /// Where the error is in a file, when it is at a place.
    pub fn place(&self) -> Option<Place> {
        match self {
            FileError::Syntax(e) => Some(Place {
                path: e.path.clone(),
                line: e.line,
                column: e.column,
            }),
            FileError::Plan { place, .. } => place.clone(),
            FileError::Internal { .. } | FileError::Unsafe { .. } => None,
        }
    }
}

/// A file upkeep cannot plan for as asked (e.g. a `--name` that clashes).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PlanError {
    pub offset: Option<usize>,
    pub message: String,
}

/// A point in a file: 1-based line and byte column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Place {
    pub path: String,
    pub line: usize,
    pub column: usize,
}
