//! What a run tells the user: per file, the changes (rule id, position,
//! before/after, reason), the notes, or the error. One structure feeds both
//! printers: text (reasons and notes on stderr, beside the diff on stdout)
//! and `--format json` (one document on stdout).

use serde::Serialize;

use crate::source::Source;
use crate::vocab::{Change, Note, RuleId};

#[derive(Debug, Serialize)]
pub struct RunReport {
    pub files: Vec<FileReport>,
    pub summary: Summary,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub changed: usize,
    pub unchanged: usize,
    pub errors: usize,
}

#[derive(Debug, Serialize)]
pub struct FileReport {
    pub path: String,
    pub status: FileStatus,
    pub changes: Vec<ChangeReport>,
    pub notes: Vec<NoteReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Changed,
    Unchanged,
    Error,
}

#[derive(Debug, Serialize)]
pub struct ChangeReport {
    pub rule: RuleId,
    pub line: usize,
    pub column: usize,
    pub before: String,
    pub after: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct NoteReport {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl ChangeReport {
    pub fn new(source: &Source, change: &Change) -> ChangeReport {
        let (line, column) = source.line_col(change.edit.range.start);
        ChangeReport {
            rule: change.rule,
            line,
            column,
            before: source.slice(change.edit.range.clone()),
            after: String::from_utf8_lossy(&change.edit.text).into_owned(),
            reason: change.reason.clone(),
        }
    }

    /// `path:line:col: rule-id: reason`
    pub fn text(&self, path: &str) -> String {
        format!(
            "{path}:{}:{}: {}: {}",
            self.line,
            self.column,
            self.rule.as_str(),
            self.reason
        )
    }
}

impl NoteReport {
    pub fn new(source: &Source, note: &Note) -> NoteReport {
        let (line, column) = match note.offset {
            Some(offset) => {
                let (l, c) = source.line_col(offset);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        NoteReport {
            line,
            column,
            message: note.message.clone(),
        }
    }

    pub fn text(&self, path: &str) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{path}:{l}:{c}: note: {}", self.message),
            _ => format!("{path}: note: {}", self.message),
        }
    }
}
