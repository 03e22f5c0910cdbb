//! upkeep: a codemod that gives nginx reverse proxies pooled, keep-alive
//! upstream connections.
//!
//! The pipeline, per file: read → parse (`parse`, the project's tree-sitter
//! grammar; a file with a syntax error is reported and never touched) →
//! model (`model`: levels, directives, inheritance) → plan (`plan` and the
//! rules in `rules/`: a list of [`edit::Edit`]s with reasons) → apply once,
//! in order (`edit`) → verify (re-parse the output and plan it again: it
//! must parse and need no further change) → emit (`diff`, `write`, or the
//! JSON report). Everything before emit is pure and testable without
//! spawning the binary; [`process`] is that part for one file.

pub mod behaviour;
pub mod cli;
pub mod diff;
pub mod edit;
pub mod headers;
pub mod layout;
pub mod model;
pub mod naming;
pub mod parse;
pub mod plan;
pub mod query;
pub mod report;
pub mod rules;
pub mod source;
pub mod target;
pub mod variables;
pub mod write;

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use cli::{Config, Format, Mode};
use plan::{Change, Note, Options};
use report::{ChangeReport, FileReport, NoteReport, RunReport, Summary};
use source::Source;

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
    Syntax(#[from] parse::SyntaxError),
    #[error("{path}: {error}")]
    Plan {
        path: String,
        error: plan::PlanError,
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

/// The verified result of planning one file.
#[derive(Debug)]
pub struct Rewrite {
    pub new_text: Vec<u8>,
    /// The applied edits, normalized (sorted, distinct).
    pub edits: Vec<edit::Edit>,
    pub changes: Vec<Change>,
    pub notes: Vec<Note>,
}

/// Largest file upkeep reads: nginx configs are kilobytes; this bounds
/// memory for a wrong path.
pub const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// Parses, plans, applies and verifies one file. Pure: no I/O.
pub fn process(source: &Source, opts: &Options) -> Result<Rewrite, FileError> {
    let (new_text, edits, mut changes, notes, tree) = plan_and_apply(source, opts, None)?;
    if new_text != source.text {
        verify(source, &tree, &edits, &new_text, opts)?;
    }
    changes.sort_by_key(|c| (c.edit.range.start, c.edit.order));
    Ok(Rewrite {
        new_text,
        edits,
        changes,
        notes,
    })
}

/// New text, the edits that made it, the changes with reasons, the notes,
/// and the syntax tree of the input.
type Applied = (
    Vec<u8>,
    Vec<edit::Edit>,
    Vec<Change>,
    Vec<Note>,
    tree_sitter::Tree,
);

/// `previous`: the tree of the text this one was made from, already told
/// about the edits, so that tree-sitter re-parses only what changed.
fn plan_and_apply(
    source: &Source,
    opts: &Options,
    previous: Option<&tree_sitter::Tree>,
) -> Result<Applied, FileError> {
    let tree = parse::parse_incremental(source, previous)?;
    let model = model::Model::build(source, &tree);
    let planned = plan::plan(&model, opts).map_err(|error| FileError::Plan {
        path: source.path.clone(),
        error,
    })?;
    let mut edits: Vec<edit::Edit> = planned.changes.iter().map(|c| c.edit.clone()).collect();
    edit::normalize(&mut edits).map_err(|e| FileError::Internal {
        path: source.path.clone(),
        message: e.to_string(),
    })?;
    // One change per distinct edit (a shared outer-level edit is planned once
    // per location that needs it).
    let mut distinct = std::collections::HashSet::new();
    let changes: Vec<Change> = planned
        .changes
        .into_iter()
        .filter(|c| distinct.insert(c.edit.clone()))
        .collect();
    Ok((
        edit::apply(&source.text, &edits),
        edits,
        changes,
        planned.notes,
        tree,
    ))
}

/// The output must parse, and planning it again must change nothing.
fn verify(
    source: &Source,
    tree: &tree_sitter::Tree,
    edits: &[edit::Edit],
    new_text: &[u8],
    opts: &Options,
) -> Result<(), FileError> {
    let internal = |message: String| FileError::Internal {
        path: source.path.clone(),
        message,
    };
    let again = Source::new(source.path.clone(), new_text.to_vec());
    let edited = parse::edited_tree(source, tree, edits);
    match plan_and_apply(&again, opts, Some(&edited)) {
        Ok((_, _, changes, _, new_tree)) if changes.is_empty() => {
            let problems = check_behaviour(source, tree, &again, &new_tree, opts);
            if problems.is_empty() {
                Ok(())
            } else {
                Err(FileError::Unsafe {
                    path: source.path.clone(),
                    message: problems.join("; "),
                })
            }
        }
        Ok((_, _, changes_again, _, _)) => Err(internal(format!(
            "the rewritten file is not stable: a second run would change it again ({})",
            changes_again
                .iter()
                .map(|c| format!(
                    "{} at line {}",
                    c.rule.as_str(),
                    again.line_col(c.edit.range.start).0
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        Err(FileError::Syntax(e)) => Err(internal(format!(
            "the rewritten file does not parse: {}",
            e.message
        ))),
        Err(e) => Err(internal(format!(
            "the rewritten file cannot be planned again: {e}"
        ))),
    }
}

/// Observes what nginx does with requests before and after (see
/// `behaviour`); each returned line is a change the rules may not make.
pub fn check_behaviour(
    before: &Source,
    before_tree: &tree_sitter::Tree,
    after: &Source,
    after_tree: &tree_sitter::Tree,
    opts: &Options,
) -> Vec<String> {
    let values = match opts.host_header {
        plan::HostHeaderMode::Keep => behaviour::ProxyHostValues::Kept,
        plan::HostHeaderMode::Upstream => behaviour::ProxyHostValues::Accepted,
    };
    let old = model::Model::build(before, before_tree);
    let new = model::Model::build(after, after_tree);
    behaviour::compare(
        &behaviour::observe(&old, values, opts.new_defaults, &opts.external_upstreams),
        &behaviour::observe(&new, values, opts.new_defaults, &opts.external_upstreams),
        behaviour::Allowed {
            move_upgrade: !opts.websocket_paths.is_empty(),
        },
    )
}

/// One input named on the command line.
enum Input {
    Stdin,
    File(PathBuf),
}

/// Expands the PATH arguments: `-`, files, and directories (every `*.conf`
/// below, sorted). Problems are reported to `err` and counted.
fn expand(paths: &[String], err: &mut dyn Write, errors: &mut usize) -> Vec<Input> {
    let mut inputs = Vec::new();
    for p in paths {
        if p == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        let path = Path::new(p);
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let mut found = Vec::new();
                collect_conf(path, &mut found, err, errors);
                found.sort();
                if found.is_empty() {
                    let _ = writeln!(
                        err,
                        "error: {p}: no *.conf files in this directory; name the files to check"
                    );
                    *errors += 1;
                }
                inputs.extend(found.into_iter().map(Input::File));
            }
            Ok(_) => inputs.push(Input::File(path.to_path_buf())),
            Err(e) => {
                let _ = writeln!(err, "error: {p}: {}", describe_io(&e));
                *errors += 1;
            }
        }
    }
    inputs
}

fn collect_conf(dir: &Path, found: &mut Vec<PathBuf>, err: &mut dyn Write, errors: &mut usize) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            let _ = writeln!(err, "error: {}: {}", dir.display(), describe_io(&e));
            *errors += 1;
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            collect_conf(&path, found, err, errors);
        } else if path.extension().is_some_and(|e| e == "conf") {
            found.push(path);
        }
    }
}

fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => {
            "permission denied (check the file's permissions)".into()
        }
        _ => e.to_string(),
    }
}

fn read_input(input: &Input, stdin: &mut dyn Read) -> Result<(String, Vec<u8>), String> {
    match input {
        Input::Stdin => {
            let mut text = Vec::new();
            stdin
                .take(MAX_FILE_SIZE + 1)
                .read_to_end(&mut text)
                .map_err(|e| format!("-: cannot read standard input: {e}"))?;
            if text.len() as u64 > MAX_FILE_SIZE {
                return Err(format!(
                    "-: input is larger than {} MiB; upkeep reads nginx configs, not this",
                    MAX_FILE_SIZE >> 20
                ));
            }
            Ok(("-".into(), text))
        }
        Input::File(path) => {
            let shown = path.display().to_string();
            let meta =
                std::fs::metadata(path).map_err(|e| format!("{shown}: {}", describe_io(&e)))?;
            if meta.len() > MAX_FILE_SIZE {
                return Err(format!(
                    "{shown}: file is {} MiB, larger than the {} MiB upkeep reads; is this an nginx config?",
                    meta.len() >> 20,
                    MAX_FILE_SIZE >> 20
                ));
            }
            let text = std::fs::read(path).map_err(|e| format!("{shown}: {}", describe_io(&e)))?;
            Ok((shown, text))
        }
    }
}

/// Runs upkeep as configured; `out` gets the diff, JSON or rewritten stdin,
/// `err` the notes and errors.
pub fn run(
    config: &Config,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<ExitStatus> {
    let mut errors = 0usize;
    let inputs = expand(&config.paths, err, &mut errors);
    let mut summary = Summary::default();
    let mut files = Vec::new();
    let text_mode = config.format == Format::Text;
    // Files given together are one http context: each sees the upstreams of
    // the others (as they stand after earlier files were rewritten).
    let mut known: Vec<Vec<plan::ExternalUpstream>> = Vec::new();
    if inputs.len() > 1 {
        for input in &inputs {
            known.push(match input {
                Input::File(p) => std::fs::read(p)
                    .map(|text| upstreams_of(&p.display().to_string(), text))
                    .unwrap_or_default(),
                Input::Stdin => Vec::new(),
            });
        }
    }
    for (index, input) in inputs.iter().enumerate() {
        let mut options = config.options.clone();
        for (other, ups) in known.iter().enumerate() {
            if other != index {
                for up in ups {
                    options
                        .external_upstreams
                        .entry(up.name.to_ascii_lowercase())
                        .or_insert_with(|| up.clone());
                }
            }
        }
        let (path, text) = match read_input(input, stdin) {
            Ok(read) => read,
            Err(message) => {
                writeln!(err, "error: {message}")?;
                errors += 1;
                files.push(error_report(&path_of(input), message));
                continue;
            }
        };
        let source = Source::new(path.clone(), text);
        if config.parse_only {
            if let Err(e) = parse::parse(&source) {
                writeln!(err, "error: {e}")?;
                errors += 1;
            }
            continue;
        }
        let rewrite = match process(&source, &options) {
            Ok(r) => r,
            Err(e) => {
                writeln!(err, "error: {e}")?;
                errors += 1;
                files.push(error_report(&path, e.to_string()));
                continue;
            }
        };
        let changed = rewrite.new_text != source.text;
        let changes: Vec<ChangeReport> = rewrite
            .changes
            .iter()
            .map(|c| ChangeReport::new(&source, c))
            .collect();
        let notes: Vec<NoteReport> = rewrite
            .notes
            .iter()
            .map(|n| NoteReport::new(&source, n))
            .collect();
        if text_mode && !config.quiet {
            for c in &changes {
                writeln!(err, "{}", c.text(&path))?;
            }
            for n in &notes {
                writeln!(err, "{}", n.text(&path))?;
            }
        }
        let mut status = if changed { "changed" } else { "unchanged" };
        if matches!(input, Input::Stdin) && config.mode == Mode::Write {
            out.write_all(&rewrite.new_text)?;
        } else if changed {
            if text_mode {
                let diff = diff::unified(&path, &source, &rewrite.edits);
                if config.mode == Mode::Write {
                    if let Input::File(p) = input {
                        match write::write_atomically(p, &source.text, &rewrite.new_text) {
                            Ok(()) => writeln!(out, "{path}: {} change(s) written", changes.len())?,
                            Err(e) => {
                                writeln!(err, "error: {e}")?;
                                errors += 1;
                                status = "error";
                            }
                        }
                    }
                } else if config.color {
                    out.write_all(&diff::colorize(&diff))?;
                } else {
                    out.write_all(&diff)?;
                }
            } else if config.mode == Mode::Write {
                if let Input::File(p) = input {
                    if let Err(e) = write::write_atomically(p, &source.text, &rewrite.new_text) {
                        writeln!(err, "error: {e}")?;
                        errors += 1;
                        status = "error";
                    }
                }
            }
        } else if config.verbose && text_mode {
            writeln!(err, "{path}: nothing to change")?;
        }
        if status == "changed" && !known.is_empty() {
            known[index] = upstreams_of(&path, rewrite.new_text.clone());
        }
        match status {
            "changed" => summary.changed += 1,
            "unchanged" => summary.unchanged += 1,
            _ => {}
        }
        files.push(FileReport {
            path,
            status,
            changes,
            notes,
            error: None,
        });
    }
    if config.options.new_defaults && summary.changed > 0 && !config.quiet {
        // The output drops what only older nginx needs; run on an older
        // nginx it would open a connection per request again.
        writeln!(
            err,
            "warning: --nginx-version is 1.29.7 or later: this output relies on that nginx's defaults (keepalive in upstream blocks, HTTP/1.1 to backends, no `Connection: close`); on an older nginx it pools no connections — omit --nginx-version for output that works on any version"
        )?;
    }
    summary.errors = errors;
    let any_changed = summary.changed > 0;
    if !text_mode {
        let report = RunReport { files, summary };
        serde_json::to_writer_pretty(&mut *out, &report).map_err(io::Error::other)?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(if errors > 0 {
        ExitStatus::Error
    } else if any_changed && config.mode == Mode::Check {
        ExitStatus::ChangesFound
    } else {
        ExitStatus::Success
    })
}

/// The upstream blocks of a file, for the other files of the run.
fn upstreams_of(path: &str, text: Vec<u8>) -> Vec<plan::ExternalUpstream> {
    let source = Source::new(path, text);
    let Ok(tree) = parse::parse(&source) else {
        return Vec::new();
    };
    let model = model::Model::build(&source, &tree);
    naming::existing_upstreams(&model)
        .into_iter()
        .map(|up| plan::ExternalUpstream {
            backend: (up.servers.len() == 1).then(|| up.servers[0].clone()),
            has_keepalive: up.has_keepalive,
            name: up.name,
            path: path.to_string(),
        })
        .collect()
}

fn path_of(input: &Input) -> String {
    match input {
        Input::Stdin => "-".into(),
        Input::File(p) => p.display().to_string(),
    }
}

fn error_report(path: &str, message: String) -> FileReport {
    FileReport {
        path: path.to_string(),
        status: "error",
        changes: Vec::new(),
        notes: Vec::new(),
        error: Some(message),
    }
}

/// The fuzz target's body (see `fuzz/`), here so that the seed corpus also
/// runs as a regression test: any input must be handled without a panic;
/// an input that parses must give output that re-parses and is stable.
/// An internal error (failed verification, overlapping edits) is a bug and
/// panics.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    let variants = [
        Options {
            keepalive: 32,
            ..Options::default()
        },
        Options {
            keepalive: 8,
            websocket_paths: vec!["/api/ws".into(), "/ws".into(), "/".into()],
            new_defaults: true,
            host_header: plan::HostHeaderMode::Upstream,
            ..Options::default()
        },
    ];
    let source = Source::new("fuzz.conf", data.to_vec());
    for opts in &variants {
        match process(&source, opts) {
            Ok(rewrite) => {
                let _ = diff::unified("fuzz.conf", &source, &rewrite.edits);
            }
            Err(FileError::Internal { message, .. }) => panic!("internal error: {message}"),
            // Refused by the behaviour check: nothing would be written. The
            // inputs known to get here are listed in fuzz/open/README.md.
            Err(FileError::Unsafe { .. }) => {}
            Err(_) => {}
        }
    }
}
