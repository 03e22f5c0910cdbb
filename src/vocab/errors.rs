//! How a run ends and why a file was not rewritten: the errors every stage
//! may return, in one place.

use crate::syntax::parse::SyntaxError;
use serde::Serialize;

/// Exit codes, one place: 0 nothing to report, 1 `--check` found changes,
/// 2 any error (unreadable file, syntax error, bad flag, internal error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Nothing to change, or the changes were written or shown.
    Success = 0,
    /// `--check` found changes to make.
    ChangesFound = 1,
    /// A file could not be read, parsed or planned, a flag was wrong, or
    /// upkeep failed: nothing of the failing file was written.
    Error = 2,
}

/// Why a file was not rewritten.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0}")]
    /// The file does not parse.
    Syntax(#[from] SyntaxError),
    #[error("{path}: {error}")]
    /// The file cannot be planned as asked (a name that clashes, a file
    /// nginx refuses).
    Plan {
        /// `file:line:column` when the error has a place, else the file.
        path: String,
        /// `file:line:column` of the error, when it has a place.
        place: Option<Place>,
        /// What is wrong.
        error: PlanError,
    },
    #[error(
        "{path}: internal error, nothing was changed: {message} (please report this with the file)"
    )]
    /// A bug: the output would not parse, or needs another change.
    Internal {
        /// The unit's first file, as messages show it.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The behaviour check refused the rewrite: it would have changed what
    /// a client or backend sees. A bug in a rule, caught before any output.
    #[error(
        "{path}: internal error, nothing was changed: the rewrite would change more than connection reuse: {message} (please report this with the file)"
    )]
    Unsafe {
        /// The unit's first file, as messages show it.
        path: String,
        /// What the rewrite would have changed.
        message: String,
    },
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
    /// Where, as an offset into the planned text, when the error has a place.
    pub offset: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

/// A point in a file: 1-based line and byte column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Place {
    /// The file, as messages show it.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based byte column.
    pub column: usize,
}
