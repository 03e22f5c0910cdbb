//! What a run tells the user: per file, the changes (rule id, position,
//! before/after, reason), the notes, or the error. One structure feeds both
//! printers: text (reasons and notes on stderr, beside the diff on stdout)
//! and `--format json` (one document on stdout).

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Serialize;

use crate::cli::Mode;
use crate::rules::api::Change;
use crate::rules::RuleId;
use crate::syntax::source::Source;
use crate::vocab::errors::ExitStatus;
use crate::vocab::{Note, NoteKind, Place};

/// The version of the JSON report's shape (`schemas/report.schema.json`):
/// raised when a field changes meaning or goes away, not when one is added.
pub const REPORT_VERSION: u32 = 1;

/// The JSON report (`--format json`).
#[derive(Debug, Serialize)]
pub struct RunReport {
    pub version: u32,
    pub files: Vec<FileReport>,
    /// Errors about the run rather than a file: a flag value that names
    /// nothing, a write that failed.
    pub errors: Vec<RunError>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunError {
    pub message: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub changed: usize,
    pub unchanged: usize,
    pub errors: usize,
    /// Changes per rule, over every file.
    pub rules: BTreeMap<RuleId, usize>,
    /// What the summary line names beside a rule's count (the new
    /// WebSocket locations), in report order. Not in the JSON summary:
    /// its changes carry the same.
    #[serde(skip)]
    pub named: BTreeMap<RuleId, Vec<String>>,
    /// Directives left alone by `# upkeep:ignore`.
    pub suppressed: usize,
    /// Places upkeep left as they were (notes of kind `left-alone` and
    /// `undecided`); `# upkeep:ignore` is counted in `suppressed`.
    pub left_alone: usize,
    /// Places upkeep could not decide (notes of kind `undecided`): with
    /// `--check`, exit code 2.
    pub undecided: usize,
    /// Warnings said without `-v`: notes of kind `undecided` and
    /// `warning`, and the warnings about the run as a whole (files read
    /// from outside the repository, output for new nginx only).
    pub warnings: usize,
}

impl Summary {
    /// The exit status of a run in `mode` that ends with this summary.
    pub fn status(&self, mode: Mode) -> ExitStatus {
        if self.errors > 0 {
            ExitStatus::Error
        } else if self.changed > 0 && mode == Mode::Check {
            ExitStatus::ChangesFound
        } else {
            ExitStatus::Success
        }
    }

    /// Counts one file's outcome.
    pub fn add(&mut self, report: &FileReport) {
        match report.status {
            FileStatus::Changed => self.changed += 1,
            FileStatus::Unchanged => self.unchanged += 1,
            FileStatus::Error => self.errors += 1,
        }
        for c in &report.changes {
            *self.rules.entry(c.rule).or_default() += 1;
            if let Some(what) = &c.named {
                self.named.entry(c.rule).or_default().push(what.clone());
            }
        }
        self.suppressed += report.suppressed.len();
        for n in &report.notes {
            self.left_alone += usize::from(n.kind.left_alone());
            self.undecided += usize::from(n.kind == NoteKind::Undecided);
            self.warnings += usize::from(n.kind.warns());
        }
    }

    /// A `--write` that failed: its files count as unchanged (nothing was
    /// written), the failure as one error.
    pub fn failed_write(&mut self, files: usize) {
        self.changed = self.changed.saturating_sub(files);
        self.errors += 1;
    }

    /// The one line a run ends with: "3 upstreams added, 4 proxy_pass
    /// targets rewritten in 1 file", or "nothing to change in 2 files";
    /// what was left alone, the warnings and the errors are counted after
    /// semicolons, so that a run that changed nothing is never mistaken for
    /// one that saw nothing to change.
    /// `verbose`: the reasons are printed above it, so the line does not
    /// point to `-v`.
    pub fn line(&self, written: bool, verbose: bool) -> String {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let mut parts = Vec::new();
        if self.changed > 0 {
            let changes: Vec<String> = RuleId::ALL
                .iter()
                .filter_map(|r| {
                    let counted = r.counted(*self.rules.get(r)?);
                    Some(match self.named.get(r) {
                        Some(what) => format!("{counted} ({})", named_list(what)),
                        None => counted,
                    })
                })
                .collect();
            parts.push(format!(
                "{} in {}{}",
                changes.join(", "),
                plural(self.changed, "file"),
                if written { " (written)" } else { "" }
            ));
        } else if self.unchanged > 0 || self.errors == 0 {
            parts.push(format!(
                "nothing to change in {}",
                plural(self.unchanged, "file")
            ));
        }
        if self.suppressed > 0 {
            parts.push(format!(
                "{} left alone by upkeep:ignore",
                plural(self.suppressed, "directive")
            ));
        }
        let mut seen = Vec::new();
        if self.left_alone > 0 {
            seen.push(format!("{} left alone", plural(self.left_alone, "place")));
        }
        if self.warnings > 0 {
            seen.push(plural(self.warnings, "warning"));
        }
        if !seen.is_empty() {
            let hint = if verbose { "" } else { " (-v says why)" };
            parts.push(format!("{}{hint}", seen.join(", ")));
        }
        if self.errors > 0 {
            parts.push(plural(self.errors, "error"));
        }
        parts.join("; ")
    }

    /// `--statistics`: one line per rule that changed something, most
    /// changes first: count, rule id.
    pub fn statistics(&self) -> Vec<String> {
        let mut rows: Vec<(&RuleId, &usize)> = self.rules.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        rows.into_iter()
            .map(|(rule, n)| format!("{n:>6}  {}", rule.as_str()))
            .collect()
    }
}

/// The named changes of one rule, as the summary line lists them: the
/// first few, then how many more (the line stays one line on a tree that
/// splits off dozens; `-v` and the diff name every one).
fn named_list(what: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut list = what[..what.len().min(SHOWN)].join(", ");
    if what.len() > SHOWN {
        list.push_str(&format!(" and {} more", what.len() - SHOWN));
    }
    list
}

#[derive(Debug, Serialize)]
pub struct FileReport {
    pub path: String,
    /// The file upkeep writes, as the diff names it: symlinks resolved,
    /// relative to its repository's root. Annotations (GitHub, SARIF,
    /// GitLab) point there, the file a pull request changes.
    #[serde(skip)]
    pub written_path: String,
    pub status: FileStatus,
    pub changes: Vec<ChangeReport>,
    pub notes: Vec<NoteReport>,
    /// What `# upkeep:ignore` left alone: at the marked directive, with
    /// the reason given.
    pub suppressed: Vec<NoteReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where the error is, when it is at a place in a file (a syntax
    /// error, a name that clashes): that file (perhaps one the reported
    /// file includes), line and column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_at: Option<Place>,
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Changed,
    Unchanged,
    Error,
}

/// A stretch of a file: 1-based lines and byte columns, the end exclusive
/// (the column just after the last byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

impl Span {
    pub fn of(source: &Source, range: Range<usize>) -> Span {
        let (line, column) = source.line_col(range.start);
        let (end_line, end_column) = source.line_col(range.end);
        Span {
            line,
            column,
            end_line,
            end_column,
        }
    }
}

/// Columns counted in Unicode code points (SARIF's `unicodeCodePoints`),
/// where JSON and text count bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CharColumns {
    pub start: usize,
    pub end: usize,
}

impl CharColumns {
    fn of(source: &Source, range: Range<usize>) -> CharColumns {
        CharColumns {
            start: source.char_column(range.start),
            end: source.char_column(range.end),
        }
    }
}

#[derive(Debug, Serialize)]
/// One change as reports show it.
pub struct ChangeReport {
    /// The rule that made it.
    pub rule: RuleId,
    /// The directive the change is about (`line`, `column`, `end_line`,
    /// `end_column`).
    #[serde(flatten)]
    pub at: Span,
    /// The bytes the edit replaces (empty for an insertion).
    pub edit: Span,
    /// The bytes it replaces, as text.
    pub before: String,
    /// The bytes it writes, as text.
    pub after: String,
    /// Why, in a sentence.
    pub reason: String,
    #[serde(skip)]
    /// Where the directive it is about starts and ends, in characters.
    pub chars: CharColumns,
    /// The bytes the edit replaces, as file offsets (SARIF's fixes).
    #[serde(skip)]
    pub edit_bytes: Range<usize>,
    /// What the summary line names for it (`Change::named`).
    #[serde(skip)]
    pub named: Option<String>,
    /// Where a report that folds each location's changes into one puts
    /// this one (`Change::fold_at`); `None`: at [`ChangeReport::at`].
    #[serde(skip)]
    pub fold_at: Option<Span>,
}

#[derive(Debug, Serialize)]
pub struct NoteReport {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    pub kind: NoteKind,
    #[serde(skip)]
    pub char_column: Option<usize>,
}

impl ChangeReport {
    /// The report of `change`, a change to `source`.
    pub fn new(source: &Source, change: &Change) -> ChangeReport {
        let span = change.span();
        ChangeReport {
            rule: change.rule,
            at: Span::of(source, span.clone()),
            edit: Span::of(source, change.edit.range.clone()),
            before: source.slice(change.edit.range.clone()),
            after: String::from_utf8_lossy(&change.edit.text).into_owned(),
            reason: change.reason.clone(),
            chars: CharColumns::of(source, span),
            edit_bytes: change.edit.range.clone(),
            fold_at: change.fold_at.clone().map(|r| Span::of(source, r)),
            named: change.named.clone(),
        }
    }

    /// `path:line:col: rule-id: reason`
    pub fn text(&self, path: &str) -> String {
        format!(
            "{path}:{}:{}: {}: {}",
            self.at.line,
            self.at.column,
            self.rule.as_str(),
            self.reason
        )
    }
}

impl NoteReport {
    pub fn new(source: &Source, note: &Note) -> NoteReport {
        let (line, column, char_column) = match note.offset {
            Some(offset) => {
                let (l, c) = source.line_col(offset);
                let chars = CharColumns::of(source, offset..offset);
                (Some(l), Some(c), Some(chars.start))
            }
            None => (None, None, None),
        };
        NoteReport {
            line,
            column,
            message: note.message.clone(),
            kind: note.kind,
            char_column,
        }
    }

    pub fn text(&self, path: &str) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{path}:{l}:{c}: note: {}", self.message),
            _ => format!("{path}: note: {}", self.message),
        }
    }

    /// What `-v` calls it: `warning` for what warns, else `note`.
    pub fn label(&self) -> &'static str {
        if self.kind.warns() {
            "warning"
        } else {
            "note"
        }
    }

    /// The line `-v` prints for it (without colors): `path:line:col:
    /// note: message`, `warning:` for what warns.
    pub fn verbose_line(&self, path: &str) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{path}:{l}:{c}: {}: {}", self.label(), self.message),
            _ => format!("{path}: {}: {}", self.label(), self.message),
        }
    }
}
