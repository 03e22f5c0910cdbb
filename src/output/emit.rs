//! Emitters: how a run's outcome reaches the user, one per output mode.
//! The run hands every emitter the same events (a file's report with its
//! diff or rewritten text, an error, the end); what goes to stdout and
//! stderr is decided here and nowhere else.
//!
//! - [`Text`]: the unified diff on stdout (colored when asked) and one
//!   summary line on stderr (none with `--quiet`; per-rule counts after it
//!   with `--statistics`); reasons and notes, each note once, with `-v`;
//!   with `--write`, one line per written file; standard input under
//!   `--write` gets the rewritten text.
//! - [`Json`]: nothing until the end, then one JSON document on stdout
//!   ([`RunReport`], shape in `schemas/report.schema.json`); errors still go
//!   to stderr as they happen.
//! - [`Github`] (`github.rs`): GitHub Actions workflow commands on stdout,
//!   one per changed location, place left alone and error, within what
//!   GitHub shows per step, and a Markdown step summary.
//! - `gitlab`: one GitLab Code Quality report at the end (`gitlab.rs`),
//!   printed by the JSON emitter; errors on stderr as in JSON mode.
//! - [`Sarif`]: one SARIF 2.1.0 log at the end (`sarif.rs`), for code
//!   scanning; errors on stderr as in JSON mode.
//!
//! Colors (`crate::output::style`) are used on a stream only when the run decided
//! that stream gets them (`Config::color`, `Config::err_color`).

use std::collections::HashSet;
use std::io::{self, Write};

use crate::cli::{Config, Format};
use crate::output::emitter::{error_line, recovered_lines, summary_lines, warn, write_failed};
use crate::output::emitter::{Emitter, Output};
use crate::output::github::Github;
use crate::output::report::{
    FileReport, FileStatus, NoteReport, RunError, RunReport, Summary, REPORT_VERSION,
};
use crate::output::style::{self, paint};
use crate::output::{diff, gitlab, sarif};

/// The emitter `config` asks for.
pub fn for_config<'w>(
    config: &'w Config,
    out: &'w mut dyn Write,
    err: &'w mut dyn Write,
) -> Box<dyn Emitter + 'w> {
    match config.format {
        Format::Text => Box::new(Text {
            config,
            out,
            err,
            diffs: Vec::new(),
            summary: Summary::default(),
            notes_seen: HashSet::new(),
        }),
        Format::Github => Box::new(Github::new(config, out, err)),
        Format::Json | Format::Sarif | Format::Gitlab => Box::new(Json {
            config,
            err,
            out,
            files: Vec::new(),
            errors: Vec::new(),
            warnings: 0,
        }),
    }
}

impl Text<'_> {
    /// `path:line:col: note: message` (`warning:` for what warns), each
    /// once: a shared file's note is said once.
    fn note_line(&mut self, path: &str, n: &NoteReport) -> io::Result<()> {
        if !self.notes_seen.insert(n.text(path)) {
            return Ok(());
        }
        let color = self.config.err_color;
        let place = match (n.line, n.column) {
            (Some(l), Some(c)) => format!("{path}:{l}:{c}:"),
            _ => format!("{path}:"),
        };
        let style = if n.kind.warns() {
            style::WARNING
        } else {
            style::NOTE
        };
        let label = paint(color, style, &format!("{}:", n.label()));
        writeln!(
            self.err,
            "{} {label} {}",
            paint(color, style::PLACE, &place),
            n.message
        )
    }
}

pub struct Text<'w> {
    config: &'w Config,
    out: &'w mut dyn Write,
    err: &'w mut dyn Write,
    /// Every file's diff, printed at the end as one patch.
    diffs: Vec<u8>,
    summary: Summary,
    /// Notes already printed: a shared file's note is said once.
    notes_seen: HashSet<String>,
}

impl Emitter for Text<'_> {
    fn file(&mut self, report: FileReport, output: Output<'_>) -> io::Result<()> {
        if !self.config.verbose && !self.config.quiet {
            // What could fail, was not decided, or decided names on an
            // assumption is said without -v.
            for n in report.notes.iter().filter(|n| n.kind.said_plainly()) {
                self.note_line(&report.path, n)?;
            }
        }
        if self.config.verbose {
            let color = self.config.err_color;
            for c in &report.changes {
                let place = format!("{}:{}:{}:", report.path, c.at.line, c.at.column);
                writeln!(
                    self.err,
                    "{} {} {}",
                    paint(color, style::PLACE, &place),
                    paint(color, style::RULE, &format!("{}:", c.rule.as_str())),
                    c.reason
                )?;
            }
            for n in report.notes.iter().chain(&report.suppressed) {
                self.note_line(&report.path, n)?;
            }
        }
        match output {
            Output::Diff(d) => self.diffs.extend(d),
            Output::Stdout(text) => self.out.write_all(text)?,
            Output::None if report.status == FileStatus::Unchanged && self.config.verbose => {
                writeln!(self.err, "{}: nothing to change", report.path)?;
            }
            Output::None => {}
        }
        self.summary.add(&report);
        Ok(())
    }

    fn error(&mut self, report: FileReport) -> io::Result<()> {
        if let Some(e) = &report.error {
            error_line(self.err, self.config, e)?;
        }
        self.summary.add(&report);
        Ok(())
    }

    fn run_error(&mut self, message: &str) -> io::Result<()> {
        error_line(self.err, self.config, message)?;
        self.summary.errors += 1;
        Ok(())
    }

    fn written(&mut self, files: &[(String, usize)]) -> io::Result<()> {
        for (path, n) in files {
            writeln!(self.out, "{path}: {n} change(s) written")?;
        }
        Ok(())
    }

    fn warning(&mut self, message: &str) -> io::Result<()> {
        self.summary.warnings += 1;
        warn(self.err, self.config, message)
    }

    fn recovered(&mut self, journal: &std::path::Path, done: &[String]) -> io::Result<()> {
        recovered_lines(self.err, self.config, journal, done)
    }

    fn finish(self: Box<Self>, failed: &[String], failure: Option<&str>) -> io::Result<Summary> {
        let Text {
            config,
            out,
            err,
            diffs,
            mut summary,
            ..
        } = *self;
        if !diffs.is_empty() {
            if config.color {
                out.write_all(&diff::colorize(&diffs))?;
            } else {
                out.write_all(&diffs)?;
            }
        }
        if let Some(e) = failure {
            error_line(err, config, &write_failed(e))?;
            summary.failed_write(failed.len());
        }
        out.flush()?;
        summary_lines(config, &summary, failure, err)?;
        Ok(summary)
    }
}

/// `--format json` and `--format sarif`: the same report, collected, then
/// printed as one document in the format asked for.
pub struct Json<'w> {
    config: &'w Config,
    out: &'w mut dyn Write,
    err: &'w mut dyn Write,
    files: Vec<FileReport>,
    errors: Vec<RunError>,
    /// Warnings about the run as a whole, counted in the summary.
    warnings: usize,
}

impl Emitter for Json<'_> {
    fn file(&mut self, report: FileReport, output: Output<'_>) -> io::Result<()> {
        // The document is the output: a rewritten standard input has no
        // place in it, and diffs are not part of it.
        let _ = output;
        self.files.push(report);
        Ok(())
    }

    fn error(&mut self, report: FileReport) -> io::Result<()> {
        if let Some(e) = &report.error {
            error_line(self.err, self.config, e)?;
        }
        self.files.push(report);
        Ok(())
    }

    fn run_error(&mut self, message: &str) -> io::Result<()> {
        error_line(self.err, self.config, message)?;
        self.errors.push(RunError {
            message: message.to_string(),
        });
        Ok(())
    }

    fn warning(&mut self, message: &str) -> io::Result<()> {
        self.warnings += 1;
        warn(self.err, self.config, message)
    }

    fn recovered(&mut self, journal: &std::path::Path, done: &[String]) -> io::Result<()> {
        recovered_lines(self.err, self.config, journal, done)
    }

    fn finish(self: Box<Self>, failed: &[String], failure: Option<&str>) -> io::Result<Summary> {
        let Json {
            config,
            out,
            err,
            mut files,
            mut errors,
            warnings,
        } = *self;
        let mut summary = Summary::default();
        for r in &files {
            summary.add(r);
        }
        summary.errors += errors.len();
        summary.warnings += warnings;
        if let Some(e) = failure {
            let message = write_failed(e);
            error_line(err, config, &message)?;
            for r in files.iter_mut().filter(|r| failed.contains(&r.path)) {
                r.status = FileStatus::Error;
                r.error = Some(format!("not written: {e}"));
            }
            errors.push(RunError { message });
            summary.failed_write(failed.len());
        }
        let report = RunReport {
            version: REPORT_VERSION,
            files,
            errors,
            summary,
        };
        match config.format {
            Format::Sarif => {
                serde_json::to_writer_pretty(&mut *out, &sarif::log(&report))
                    .map_err(io::Error::other)?;
            }
            Format::Gitlab => {
                serde_json::to_writer_pretty(&mut *out, &gitlab::report(&report))
                    .map_err(io::Error::other)?;
            }
            _ => serde_json::to_writer_pretty(&mut *out, &report).map_err(io::Error::other)?,
        }
        writeln!(out)?;
        out.flush()?;
        Ok(report.summary)
    }
}
