//! `--format github`: GitHub Actions workflow commands on stdout, which the
//! runner shows as annotations on the pull request's lines, and, when
//! `GITHUB_STEP_SUMMARY` names a file, a Markdown summary appended to it.
//!
//! GitHub shows at most 10 annotations of each level (error, warning,
//! notice) per step and 50 per job (actions/toolkit,
//! `docs/problem-matchers.md`, "Limitations"); the rest are dropped without
//! a word. So upkeep says each thing once and the most important first:
//!
//! - one `::warning` per changed location, on its `*_pass` line, with the
//!   rules that change it folded into one message (a change in no location,
//!   such as an `upstream` that only gains `keepalive`, is its own);
//! - a `::warning` per note said without `-v` (undecided, a risk) and per
//!   warning about the run, ahead of the changes;
//! - a `::notice` per place left alone (and per `# upkeep:ignore`);
//!   background notes (`-v` in text mode) are log lines with `-v` only;
//! - an `::error` per error.
//!
//! Annotations are held until the end of the run. When a level has more
//! than GitHub shows, the first [`SHOWN`]` - 1` are annotations, the last
//! one says how many more there are, and those follow as plain log lines,
//! so the job log always has everything. The summary line goes to stderr
//! as in text mode.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::cli::{Config, Mode};
use crate::output::emitter::{
    error_line, recovered_lines, summary_lines, warn, write_failed, Emitter, Output,
};
use crate::output::report::{ChangeReport, FileReport, NoteReport, Span, Summary};
use crate::output::write;
use crate::rules::RuleId;
use crate::vocab::errors::ExitStatus;
use crate::vocab::NoteWeight;

/// Annotations of one level GitHub shows per step.
pub const SHOWN: usize = 10;

/// Bytes a step summary may hold: GitHub refuses more than 1 MiB per step.
const SUMMARY_BYTES: usize = 1024 * 1024;

/// Rows per table of the step summary; the rest are counted.
const SUMMARY_ROWS: usize = 200;

/// Where an annotation points: nowhere (the run), a line and column, or a
/// whole span.
#[derive(Debug, Clone, Copy)]
enum At {
    Nowhere,
    Point(usize, usize),
    Span(Span),
}

impl At {
    fn line_col(self) -> Option<(usize, usize)> {
        match self {
            At::Nowhere => None,
            At::Point(line, column) => Some((line, column)),
            At::Span(s) => Some((s.line, s.column)),
        }
    }
}

/// One annotation, held until the end of the run.
#[derive(Debug, Clone)]
struct Annotation {
    file: Option<String>,
    at: At,
    title: String,
    message: String,
}

impl Annotation {
    /// The workflow command:
    /// `::LEVEL file=…,line=…,col=…[,endLine=…,endColumn=…],title=…::MESSAGE`
    fn command(&self, level: &str) -> String {
        let mut properties = Vec::new();
        if let Some(file) = &self.file {
            properties.push(format!("file={}", escape_property(file)));
        }
        match self.at {
            At::Nowhere => {}
            At::Point(line, col) => properties.push(format!("line={line},col={col}")),
            At::Span(s) => properties.push(format!(
                "line={},col={},endLine={},endColumn={}",
                s.line, s.column, s.end_line, s.end_column
            )),
        }
        properties.push(format!("title={}", escape_property(&self.title)));
        format!(
            "::{level} {}::{}",
            properties.join(","),
            escape_data(&self.message)
        )
    }

    /// The same as a plain log line: `file:line:col: title: message`.
    fn log_line(&self) -> String {
        let mut place = String::new();
        if let Some(file) = &self.file {
            place.push_str(file);
            if let Some((line, col)) = self.at.line_col() {
                let _ = write!(place, ":{line}:{col}");
            }
            place.push_str(": ");
        }
        format!(
            "{place}{}: {}",
            self.title,
            self.message.replace('\n', "; ")
        )
    }
}

/// A workflow command's message: `%`, CR and LF escaped as GitHub reads them.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The changes of one file folded per location: for each place a report
/// puts them (`ChangeReport::fold_at`), the changes there, in the order
/// the file has them. A change in no location goes with the first
/// location that has a change of its rule (the `map` a WebSocket location
/// needs goes with that location); else it is a group of its own, at the
/// directive it is about.
fn folded(changes: &[ChangeReport]) -> Vec<(Span, Vec<&ChangeReport>)> {
    let mut groups: Vec<(Span, Vec<&ChangeReport>)> = Vec::new();
    let mut alone = Vec::new();
    for c in changes {
        let Some(at) = c.fold_at else {
            alone.push(c);
            continue;
        };
        match groups.iter_mut().find(|(g, _)| *g == at) {
            Some((_, members)) => members.push(c),
            None => groups.push((at, vec![c])),
        }
    }
    groups.sort_by_key(|(at, _)| (at.line, at.column));
    let located = groups.len();
    for c in alone {
        let same_rule = groups[..located]
            .iter()
            .position(|(_, members)| members.iter().any(|m| m.rule == c.rule));
        match same_rule.or_else(|| groups.iter().position(|(g, _)| *g == c.at)) {
            Some(i) => groups[i].1.push(c),
            None => groups.push((c.at, vec![c])),
        }
    }
    groups.sort_by_key(|(at, _)| (at.line, at.column));
    groups
}

/// The rules of a group, each once, in the order reports list rules.
fn rules_of(members: &[&ChangeReport]) -> Vec<RuleId> {
    RuleId::ALL
        .into_iter()
        .filter(|r| members.iter().any(|c| c.rule == *r))
        .collect()
}

/// A group's message: `rule: reason`, a line per distinct pair, in the
/// order reports list rules.
fn message_of(members: &[&ChangeReport]) -> String {
    let rank = |r: RuleId| RuleId::ALL.iter().position(|x| *x == r);
    let mut members = members.to_vec();
    members.sort_by_key(|c| rank(c.rule));
    let mut lines: Vec<String> = Vec::new();
    for c in members {
        let line = format!("{}: {}", c.rule.as_str(), c.reason);
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines.join("\n")
}

/// A row of the step summary's tables.
struct Row {
    place: String,
    what: String,
    why: String,
}

pub struct Github<'w> {
    config: &'w Config,
    out: &'w mut dyn Write,
    err: &'w mut dyn Write,
    summary: Summary,
    errors: Vec<Annotation>,
    /// What is said without `-v` and the run's warnings: shown before the
    /// changes.
    warnings: Vec<Annotation>,
    changes: Vec<Annotation>,
    notices: Vec<Annotation>,
    /// Background notes, printed at the end with `-v`.
    background: Vec<String>,
    /// For the step summary: the changed locations, the places left
    /// alone, and the diff.
    changed_rows: Vec<Row>,
    left_rows: Vec<Row>,
    diff: Vec<u8>,
}

impl<'w> Github<'w> {
    pub fn new(config: &'w Config, out: &'w mut dyn Write, err: &'w mut dyn Write) -> Self {
        Github {
            config,
            out,
            err,
            summary: Summary::default(),
            errors: Vec::new(),
            warnings: Vec::new(),
            changes: Vec::new(),
            notices: Vec::new(),
            background: Vec::new(),
            changed_rows: Vec::new(),
            left_rows: Vec::new(),
            diff: Vec::new(),
        }
    }

    fn note(&mut self, path: &str, n: &NoteReport, suppressed: bool) {
        let at = match (n.line, n.column) {
            (Some(l), Some(c)) => At::Point(l, c),
            _ => At::Nowhere,
        };
        let annotation = |title: &str| Annotation {
            file: Some(path.to_string()),
            at,
            title: title.to_string(),
            message: n.message.clone(),
        };
        let weight = if suppressed {
            NoteWeight::Notice
        } else {
            n.kind.weight()
        };
        match weight {
            NoteWeight::Warning => self.warnings.push(annotation("upkeep warning")),
            NoteWeight::Notice => {
                let title = if suppressed {
                    "upkeep:ignore"
                } else {
                    "upkeep note"
                };
                if suppressed || n.kind.left_alone() {
                    self.left_rows.push(Row {
                        place: place(path, at),
                        what: title.to_string(),
                        why: n.message.clone(),
                    });
                }
                self.notices.push(annotation(title));
            }
            NoteWeight::Background if self.config.verbose => {
                self.background.push(annotation("upkeep note").log_line());
            }
            NoteWeight::Background => {}
        }
    }

    /// Prints one level's annotations: all of them when GitHub shows them
    /// all, else the first `SHOWN - 1`, one that counts the rest, and the
    /// rest as log lines.
    fn print_level(
        out: &mut dyn Write,
        level: &str,
        annotations: &[Annotation],
        summary_file: bool,
    ) -> io::Result<()> {
        let shown = if annotations.len() > SHOWN {
            SHOWN - 1
        } else {
            annotations.len()
        };
        for a in &annotations[..shown] {
            writeln!(out, "{}", a.command(level))?;
        }
        let rest = &annotations[shown..];
        if rest.is_empty() {
            return Ok(());
        }
        let also = if summary_file {
            " and in the step summary"
        } else {
            ""
        };
        let count = Annotation {
            file: None,
            at: At::Nowhere,
            title: "upkeep".into(),
            message: format!(
                "{} more {level}s are not shown as annotations (GitHub shows {SHOWN} of a kind per step): they are in the job log{also}",
                rest.len()
            ),
        };
        writeln!(out, "{}", count.command(level))?;
        for a in rest {
            writeln!(out, "{}", a.log_line())?;
        }
        Ok(())
    }

    /// The Markdown the step summary gets: what happened, the changed
    /// locations, the places left alone, the errors and warnings, and the
    /// diff (cut to fit GitHub's limit).
    fn step_summary(&self, status: ExitStatus, written: bool) -> String {
        let mut md = String::from("## upkeep\n\n");
        let files = self.summary.changed;
        let headline = match status {
            ExitStatus::Error => format!(
                "upkeep failed (exit {}): see the messages below.",
                status as i32
            ),
            _ if files > 0 && written => format!("{files} file(s) changed and written."),
            _ if files > 0 => {
                format!("{files} file(s) need changes: `upkeep --write` applies the diff below.")
            }
            _ => "No change needed.".to_string(),
        };
        let _ = write!(
            md,
            "**{headline}**\n\n{}\n",
            cell(&self.summary.line(written, true))
        );
        let said: Vec<&Annotation> = self.errors.iter().chain(&self.warnings).collect();
        if !said.is_empty() {
            md.push_str("\n### Errors and warnings\n\n");
            for a in said.iter().take(SUMMARY_ROWS) {
                let _ = writeln!(md, "- {}", cell(&a.log_line()));
            }
            more(&mut md, said.len());
        }
        table(&mut md, "Changed locations", "Rules", &self.changed_rows);
        table(&mut md, "Left alone", "Note", &self.left_rows);
        if !self.diff.is_empty() {
            let diff = String::from_utf8_lossy(&self.diff);
            let fence = fence_for(&diff);
            let head = format!(
                "\n<details><summary>Diff ({} file(s))</summary>\n\n{fence}diff\n",
                files
            );
            let tail = format!("{fence}\n\n</details>\n");
            let note_room = 200;
            let room = SUMMARY_BYTES.saturating_sub(md.len() + head.len() + tail.len() + note_room);
            md.push_str(&head);
            if diff.len() <= room {
                md.push_str(&diff);
                if !diff.ends_with('\n') {
                    md.push('\n');
                }
                md.push_str(&tail);
            } else {
                // Cut at a line end, so that no line is shown half.
                let cut = diff[..floor_char_boundary(&diff, room)]
                    .rfind('\n')
                    .map_or(0, |i| i + 1);
                md.push_str(&diff[..cut]);
                md.push_str(&tail);
                let _ = writeln!(
                    md,
                    "\n*The diff is cut at {cut} of {} bytes (GitHub takes 1 MiB of summary per step): the whole diff is in the job log, or run upkeep locally.*",
                    diff.len()
                );
            }
        }
        md
    }
}

/// `path:line` (or the path) for the summary's tables.
fn place(path: &str, at: At) -> String {
    match at.line_col() {
        Some((line, _)) => format!("{path}:{line}"),
        None => path.to_string(),
    }
}

/// A table of the step summary, at most [`SUMMARY_ROWS`] rows.
fn table(md: &mut String, heading: &str, what: &str, rows: &[Row]) {
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        md,
        "\n### {heading}\n\n| Where | {what} | Why |\n|---|---|---|\n"
    );
    for r in rows.iter().take(SUMMARY_ROWS) {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            code(&r.place),
            cell(&r.what),
            cell(&r.why)
        );
    }
    more(md, rows.len());
}

/// "… and N more" after a list cut at [`SUMMARY_ROWS`].
fn more(md: &mut String, total: usize) {
    if total > SUMMARY_ROWS {
        let _ = writeln!(
            md,
            "\n*… and {} more (the job log has them all).*",
            total - SUMMARY_ROWS
        );
    }
}

/// Text safe in a Markdown table cell: no line breaks, no column bars, no
/// HTML.
fn cell(text: &str) -> String {
    text.replace('\r', "")
        .replace('\n', " ")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}

/// A code span for a path, its backticks longer than any inside it.
fn code(text: &str) -> String {
    let ticks = "`".repeat(longest_run(text, '`') + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{}{pad}{ticks}", text.replace('|', "\\|"))
}

/// A code fence longer than any run of backticks in `text` (at least 3).
fn fence_for(text: &str) -> String {
    "`".repeat((longest_run(text, '`') + 1).max(3))
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in text.chars() {
        run = if ch == c { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// The largest char boundary of `text` at or before `at`.
fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut i = at.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl Emitter for Github<'_> {
    fn file(&mut self, report: FileReport, output: Output<'_>) -> io::Result<()> {
        for (at, members) in folded(&report.changes) {
            let rules = rules_of(&members);
            let ids: Vec<&str> = rules.iter().map(|r| r.as_str()).collect();
            self.changed_rows.push(Row {
                place: format!("{}:{}", report.written_path, at.line),
                what: ids.join(", "),
                why: members[0].reason.clone(),
            });
            self.changes.push(Annotation {
                file: Some(report.written_path.clone()),
                at: At::Span(at),
                title: format!("upkeep {}", ids.join(", ")),
                message: message_of(&members),
            });
        }
        // In the file's order, whatever the rule that noted them.
        let mut notes: Vec<(&NoteReport, bool)> = report
            .notes
            .iter()
            .map(|n| (n, false))
            .chain(report.suppressed.iter().map(|n| (n, true)))
            .collect();
        notes.sort_by_key(|(n, _)| (n.line, n.column));
        for (n, suppressed) in notes {
            self.note(&report.written_path, n, suppressed);
        }
        if let Output::Diff(d) = output {
            self.diff.extend(d);
        }
        self.summary.add(&report);
        Ok(())
    }

    fn error(&mut self, report: FileReport) -> io::Result<()> {
        if let Some(e) = &report.error {
            // At the error's own place when it has one (perhaps a file the
            // reported one includes).
            let (file, at) = match &report.error_at {
                Some(p) => (p.path.clone(), At::Point(p.line, p.column)),
                None => (report.path.clone(), At::Nowhere),
            };
            self.errors.push(Annotation {
                file: Some(file),
                at,
                title: "upkeep error".into(),
                message: e.clone(),
            });
            error_line(self.err, self.config, e)?;
        }
        self.summary.add(&report);
        Ok(())
    }

    fn run_error(&mut self, message: &str) -> io::Result<()> {
        self.errors.push(Annotation {
            file: None,
            at: At::Nowhere,
            title: "upkeep error".into(),
            message: message.to_string(),
        });
        error_line(self.err, self.config, message)?;
        self.summary.errors += 1;
        Ok(())
    }

    fn warning(&mut self, message: &str) -> io::Result<()> {
        // On the pull request too, as run-level annotations are.
        self.warnings.push(Annotation {
            file: None,
            at: At::Nowhere,
            title: "upkeep warning".into(),
            message: message.to_string(),
        });
        self.summary.warnings += 1;
        warn(self.err, self.config, message)
    }

    fn recovered(&mut self, journal: &std::path::Path, done: &[String]) -> io::Result<()> {
        recovered_lines(self.err, self.config, journal, done)
    }

    fn finish(
        mut self: Box<Self>,
        failed: &[String],
        failure: Option<&str>,
    ) -> io::Result<Summary> {
        if let Some(e) = failure {
            let message = write_failed(e);
            self.errors.push(Annotation {
                file: None,
                at: At::Nowhere,
                title: "upkeep error".into(),
                message: message.clone(),
            });
            error_line(self.err, self.config, &message)?;
            self.summary.failed_write(failed.len());
        }
        let summary_file = self.config.step_summary.is_some();
        let warnings: Vec<Annotation> =
            self.warnings.iter().chain(&self.changes).cloned().collect();
        Self::print_level(self.out, "error", &self.errors, summary_file)?;
        Self::print_level(self.out, "warning", &warnings, summary_file)?;
        Self::print_level(self.out, "notice", &self.notices, summary_file)?;
        for line in &self.background {
            writeln!(self.out, "{line}")?;
        }
        self.out.flush()?;
        let written = self.config.mode == Mode::Write && failure.is_none();
        summary_lines(self.config, &self.summary, failure, self.err)?;
        if let Some(path) = &self.config.step_summary {
            let status = self.summary.status(self.config.mode);
            let md = self.step_summary(status, written);
            if let Err(e) = write::append(path, md.as_bytes()) {
                // The run's outcome stands; the summary is a courtesy.
                warn(
                    self.err,
                    self.config,
                    &format!(
                        "could not append to the step summary {}: {e}",
                        path.display()
                    ),
                )?;
            }
        }
        Ok(self.summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's runner reads `%25`, `%0D`, `%0A` in messages and also `%3A`,
    /// `%2C` in property values (the Actions toolkit's escaping).
    #[test]
    fn workflow_commands_are_escaped_as_github_reads_them() {
        assert_eq!(
            escape_data("50% done\r\nnext: a, b"),
            "50%25 done%0D%0Anext: a, b"
        );
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
        let a = Annotation {
            file: Some("conf/x,y.conf".into()),
            at: At::Point(3, 7),
            title: "upkeep http-version".into(),
            message: "a\nb".into(),
        };
        assert_eq!(
            a.command("warning"),
            "::warning file=conf/x%2Cy.conf,line=3,col=7,title=upkeep http-version::a%0Ab"
        );
        assert_eq!(a.log_line(), "conf/x,y.conf:3:7: upkeep http-version: a; b");
        let span = Span {
            line: 3,
            column: 5,
            end_line: 3,
            end_column: 33,
        };
        let b = Annotation {
            file: Some("a.conf".into()),
            at: At::Span(span),
            title: "t".into(),
            message: "m".into(),
        };
        assert_eq!(
            b.command("warning"),
            "::warning file=a.conf,line=3,col=5,endLine=3,endColumn=33,title=t::m"
        );
        let run = Annotation {
            file: None,
            at: At::Nowhere,
            title: "upkeep warning".into(),
            message: "m".into(),
        };
        assert_eq!(run.command("warning"), "::warning title=upkeep warning::m");
    }

    #[test]
    fn markdown_cells_and_fences_hold_any_text() {
        assert_eq!(cell("a | b <c>\nd & e"), "a \\| b &lt;c&gt; d &amp; e");
        assert_eq!(code("a.conf:3"), "`a.conf:3`");
        assert_eq!(code("we`ird"), "``we`ird``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(fence_for("no ticks"), "```");
        assert_eq!(fence_for("a ```` b"), "`````");
        assert_eq!(floor_char_boundary("aé", 2), 1);
    }
}
