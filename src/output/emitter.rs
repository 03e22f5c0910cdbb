//! What every emitter is and shares: the [`Emitter`] trait (the events a
//! run hands its printer), the [`Output`] that comes with a file's report,
//! and the lines every mode writes on stderr the same way (errors,
//! warnings, the summary line, `--recover`). The emitters themselves are
//! in `emit` (text, JSON, SARIF and GitLab reports), `github` and
//! `explain`; this file imports none of them.

use std::io::{self, Write};

use crate::cli::{Config, Mode};
use crate::output::report::{FileReport, Summary};
use crate::output::style::{self, paint};

/// What the run produced for one file, beside its report.
pub enum Output<'a> {
    /// A diff to show (diff and check modes).
    Diff(Vec<u8>),
    /// The rewritten text of standard input (write mode).
    Stdout(&'a [u8]),
    /// Nothing to print for this file.
    None,
}

pub trait Emitter {
    /// One file's outcome (its report names the path to print).
    fn file(&mut self, report: FileReport, output: Output<'_>) -> io::Result<()>;
    /// A file that could not be processed (its report holds the error).
    fn error(&mut self, report: FileReport) -> io::Result<()>;
    /// An error about the run rather than a file (a flag value that names
    /// nothing); counted like a file's.
    fn run_error(&mut self, message: &str) -> io::Result<()>;
    /// Files written by `--write`: `(path, number of changes)`. Only the
    /// text mode says so; a report is the whole output of the others.
    fn written(&mut self, _files: &[(String, usize)]) -> io::Result<()> {
        Ok(())
    }
    /// A warning about the run as a whole.
    fn warning(&mut self, message: &str) -> io::Result<()>;
    /// `--recover` completed the interrupted write of `journal`: a line per
    /// file. Said on stderr in every format (it is not a report).
    fn recovered(&mut self, journal: &std::path::Path, done: &[String]) -> io::Result<()>;
    /// The end of the run; `failed` marks files whose write failed.
    fn finish(self: Box<Self>, failed: &[String], failure: Option<&str>) -> io::Result<Summary>;
}

/// What the text and GitHub modes end with on stderr: the summary line
/// and, with `--statistics`, the changes per rule (nothing with `--quiet`).
pub(crate) fn summary_lines(
    config: &Config,
    summary: &Summary,
    failure: Option<&str>,
    err: &mut dyn Write,
) -> io::Result<()> {
    if config.quiet {
        return Ok(());
    }
    let written = config.mode == Mode::Write && failure.is_none();
    writeln!(err, "{}", summary.line(written, config.verbose))?;
    if config.statistics {
        for row in summary.statistics() {
            writeln!(err, "{row}")?;
        }
    }
    Ok(())
}

/// A warning about the run, on stderr unless `--quiet` (every mode).
pub(crate) fn warn(err: &mut dyn Write, config: &Config, message: &str) -> io::Result<()> {
    if !config.quiet {
        let label = paint(config.err_color, style::WARNING, "warning:");
        writeln!(err, "{label} {message}")?;
    }
    Ok(())
}

/// What `--recover` did, on stderr (even with `--quiet`: it changed files).
pub(crate) fn recovered_lines(
    err: &mut dyn Write,
    config: &Config,
    journal: &std::path::Path,
    done: &[String],
) -> io::Result<()> {
    let how = match config.recover {
        Some(crate::vocab::Recovery::Finish) => "finished",
        _ => "rolled back",
    };
    writeln!(
        err,
        "{}: the interrupted write is {how}",
        crate::model::paths::shown_path(journal)
    )?;
    for line in done {
        writeln!(err, "  {line}")?;
    }
    Ok(())
}

/// The error of a `--write` that failed: its first line says that no file
/// was changed; what follows it (the output of `--nginx-test`'s command)
/// stays below, as that command printed it.
pub(crate) fn write_failed(failure: &str) -> String {
    match failure.split_once('\n') {
        Some((first, rest)) => format!("{first}; no file was changed\n{rest}"),
        None => format!("{failure}; no file was changed"),
    }
}

/// An error on stderr, in every mode and even with `--quiet`.
pub(crate) fn error_line(err: &mut dyn Write, config: &Config, message: &str) -> io::Result<()> {
    let label = paint(config.err_color, style::ERROR, "error:");
    writeln!(err, "{label} {message}")
}
