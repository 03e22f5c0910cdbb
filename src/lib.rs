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
pub mod dump;
pub mod edit;
pub mod emit;
pub mod files;
pub mod headers;
pub mod layout;
pub mod model;
pub mod names;
pub mod naming;
pub mod parse;
pub mod plan;
pub mod query;
pub mod report;
pub mod resolve;
pub mod roots;
pub mod rules;
pub mod run;
pub mod sarif;
pub mod settings;
pub mod shape;
pub mod siblings;
pub mod source;
pub mod style;
pub mod target;
pub mod tuning;
pub mod variables;
pub mod vocab;
pub mod workspace;
pub mod write;

use std::collections::{BTreeMap, HashMap};

use model::Model;
use workspace::{FileId, SegmentId, Unit, UnitKind, Workspace};

pub use run::run;

// The public API: what the binary, the tests, the benchmarks and the fuzz
// target use. Everything else is the crate's own.
pub use parse::{parse, parse_tree, SyntaxError, MAX_DEPTH};
pub use report::Place;
pub use source::Source;
pub use tuning::{parse_count, parse_count_flag, parse_msec, parse_time_flag, Tuning};
pub use vocab::{HostHeaderMode, Options, PlanError};

/// The [`Options`] that upkeep's command line `ARGS` gives (as if a
/// standard-input run: `upkeep ARGS -`), checked together as the binary
/// checks them, or the message the binary would print.
pub fn options_for<I, S>(args: I) -> Result<Options, String>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let argv = std::iter::once(std::ffi::OsString::from("upkeep"))
        .chain(args.into_iter().map(Into::into))
        .chain(std::iter::once(std::ffi::OsString::from("-")));
    <cli::Args as clap::Parser>::try_parse_from(argv)
        .map_err(|e| e.to_string())?
        .checked()
        .map(|a| a.into_config(cli::Colors::default()).options)
}

use vocab::{Change, Note};

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
        /// `file:line:column` when the error has a place, else the file.
        path: String,
        place: Option<report::Place>,
        error: vocab::PlanError,
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
    pub fn place(&self) -> Option<report::Place> {
        match self {
            FileError::Syntax(e) => Some(report::Place {
                path: e.path.clone(),
                line: e.line,
                column: e.column,
            }),
            FileError::Plan { place, .. } => place.clone(),
            FileError::Internal { .. } | FileError::Unsafe { .. } => None,
        }
    }
}

/// The verified result of planning one file.
#[derive(Debug)]
pub struct Rewrite {
    pub new_text: Vec<u8>,
    /// The applied edits, normalized (sorted, distinct), in file offsets.
    pub edits: Vec<edit::Edit>,
    pub changes: Vec<Change>,
    pub notes: Vec<Note>,
    /// What `# upkeep:ignore` left alone, with the reason.
    pub suppressed: Vec<Note>,
}

/// Largest file upkeep reads: nginx configs are kilobytes; this bounds
/// memory for a wrong path.
pub const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// Parses, plans, applies and verifies one text read alone (its includes
/// unseen). Pure: no I/O.
pub fn process(source: &Source, opts: &Options) -> Result<Rewrite, FileError> {
    let mut ws = Workspace::new(workspace::Paths::default());
    let id = ws.add_text(&source.path, source.text.clone());
    let unit = Unit::layout(&mut ws, UnitKind::Snippets, &[id], None);
    let mut files = process_unit(&ws, &unit, opts)?.files;
    let (_, rewrite) = files.remove(0);
    Ok(rewrite)
}

/// Plans a unit (one http context across its files), applies the edits,
/// and verifies the whole tree: the output parses, needs no further
/// change, and behaves the same (see `behaviour`). Returns every file of
/// the unit with its rewrite (unchanged files included), in reading order.
pub fn process_unit(ws: &Workspace, unit: &Unit, opts: &Options) -> Result<UnitRewrite, FileError> {
    if let Some(e) = unit.errors.first() {
        return Err(FileError::Syntax(e.clone()));
    }
    // nginx never finishes reading a config that includes itself.
    let mut cycles: Vec<(&usize, &String)> = unit
        .inclusions
        .iter()
        .filter_map(|(at, i)| match i {
            workspace::Inclusion::Cycle { chain } => Some((at, chain)),
            _ => None,
        })
        .collect();
    cycles.sort();
    if let Some((at, chain)) = cycles.first() {
        return Err(plan_error(
            ws,
            unit,
            vocab::PlanError {
                offset: Some(**at),
                message: format!(
                    "include cycle: {chain}; nginx cannot load this config (remove one of these includes)"
                ),
            },
        ));
    }
    let model = Model::build_unit(unit, ws);
    // The rules assume the shapes nginx enforces; a file nginx refuses to
    // load is not planned.
    if let Some(error) = shape::first_error(&model) {
        return Err(plan_error(ws, unit, error));
    }
    let (planned, seen) = plan_unit(ws, unit, &model, opts)?;
    let edits: HashMap<FileId, &[edit::Edit]> = planned
        .iter()
        .filter(|(_, p)| !p.edits.is_empty())
        .map(|(file, p)| (*file, p.edits.as_slice()))
        .collect();
    let rewritten = if edits.is_empty() {
        None
    } else {
        // The original is observed on one core while the rewritten text is
        // parsed on the other (the parse takes longer), and its model is
        // dropped as soon as it is observed: the rewritten tree's model
        // takes its place in memory, not its side.
        let (before, again) = rayon::join(
            move || {
                let before = observe(&model, opts);
                drop(model);
                before
            },
            || reparse(ws, unit, &edits),
        );
        Some(verify(again?, &before, opts)?)
    };
    let files = planned
        .into_iter()
        .map(|(file, p)| {
            let new_text = match (&rewritten, !p.edits.is_empty()) {
                (Some(after), true) => after.file(file).source.text.clone(),
                _ => ws.file(file).source.text.clone(),
            };
            let mut changes = p.changes;
            changes.sort_by_key(|c| (c.edit.range.start, c.edit.order));
            (
                file,
                Rewrite {
                    new_text,
                    edits: p.edits,
                    changes,
                    notes: p.notes,
                    suppressed: p.suppressed,
                },
            )
        })
        .collect();
    Ok(UnitRewrite { files, seen })
}

/// A unit's outcome: every file with its rewrite (unchanged files
/// included), in reading order, and what the flags could have named.
#[derive(Debug)]
pub struct UnitRewrite {
    pub files: Vec<(FileId, Rewrite)>,
    pub seen: vocab::Seen,
}

/// One file's part of a unit's plan, in file offsets.
#[derive(Debug, Default)]
struct FilePlan {
    edits: Vec<edit::Edit>,
    changes: Vec<Change>,
    notes: Vec<Note>,
    suppressed: Vec<Note>,
}

/// Why a location of a file read only as context is left alone.
fn read_only_reason(ws: &Workspace, file: FileId) -> String {
    format!(
        "left alone: upkeep read {} only as context (nginx loads it beside the files given); name it too to change it",
        ws.file(file).shown
    )
}

/// The locations of the files read only as context: they stay as they
/// are, and their targets keep their names taken, like any target left
/// alone. The same before and after the rewrite.
fn read_only_locations(
    ws: &Workspace,
    unit: &Unit,
    model: &Model,
) -> BTreeMap<model::LevelId, String> {
    model
        .levels
        .iter()
        .enumerate()
        .filter(|(_, level)| level.kind == model::LevelKind::Location)
        .filter_map(|(id, level)| {
            let (file, _) = unit.locate(model.dirs[level.owner?].range.start)?;
            unit.read_only
                .contains(&file)
                .then(|| (model::LevelId::new(id), read_only_reason(ws, file)))
        })
        .collect()
}

/// Plans the unit and maps the edits to files. A file read more than once
/// (a snippet included from several places) is edited only when every
/// inclusion asks for exactly the same edits; otherwise the locations that
/// asked are left alone and the unit is planned again.
fn plan_unit(
    ws: &Workspace,
    unit: &Unit,
    model: &Model,
    opts: &Options,
) -> Result<(Vec<(FileId, FilePlan)>, vocab::Seen), FileError> {
    let path = ws.file(unit.entries[0]).shown.clone();
    let mut blocked = read_only_locations(ws, unit, model);
    loop {
        let planned = plan::plan_except(model, opts, &blocked)
            .map_err(|error| plan_error(ws, unit, error))?;
        let internal = |message: String| FileError::Internal {
            path: path.clone(),
            message,
        };
        let mut edits: Vec<edit::Edit> = planned.changes.iter().map(|c| c.edit.clone()).collect();
        edit::normalize(&mut edits).map_err(|e| internal(e.to_string()))?;
        // Edits per segment, in segment offsets.
        let mut by_segment: BTreeMap<SegmentId, Vec<edit::Edit>> = BTreeMap::new();
        for e in &edits {
            let (segment, local) = local_range(unit, &e.range)
                .ok_or_else(|| internal(format!("an edit at {:?} spans files", e.range)))?;
            by_segment.entry(segment).or_default().push(edit::Edit {
                range: local,
                ..e.clone()
            });
        }
        let mut per_file: BTreeMap<FileId, Vec<SegmentId>> = BTreeMap::new();
        for (i, s) in unit.segments.iter().enumerate() {
            per_file
                .entry(s.file)
                .or_default()
                .push(SegmentId::from_index(i));
        }
        let mut newly_blocked = Vec::new();
        let mut file_edits: HashMap<FileId, Vec<edit::Edit>> = HashMap::new();
        for (file, segments) in &per_file {
            let lists: Vec<&[edit::Edit]> = segments
                .iter()
                .map(|s| by_segment.get(s).map(Vec::as_slice).unwrap_or(&[]))
                .collect();
            if unit.read_only.contains(file) && !lists[0].is_empty() {
                // Its locations are left alone already: what remains is
                // context-wide (an upstream of it that needs keepalive),
                // which the files given cannot do without.
                let first = &lists[0][0];
                let at = unit.segment(segments[0]).base + first.range.start;
                return Err(plan_error(
                    ws,
                    unit,
                    vocab::PlanError {
                        offset: Some(at),
                        message: "the change needs this file edited, which upkeep read only as context (nginx loads it beside the files given); nothing was changed (name it too)".into(),
                    },
                ));
            }
            if lists.iter().all(|l| *l == lists[0]) {
                if !lists[0].is_empty() {
                    file_edits.insert(*file, lists[0].to_vec());
                }
                continue;
            }
            let places: Vec<String> = segments
                .iter()
                .filter_map(|s| unit.segment(*s).included_by)
                .filter_map(|at| unit.locate(at))
                .map(|(f, local)| {
                    format!(
                        "{}:{}",
                        ws.file(f).shown,
                        ws.file(f).source.line_col(local).0
                    )
                })
                .collect();
            let reason = format!(
                "left alone: the change here would edit {}, which is also read at {} where it must stay as it is (give this location its own copy, or edit by hand)",
                ws.file(*file).shown,
                places.join(", ")
            );
            for s in segments {
                for e in by_segment.get(s).into_iter().flatten() {
                    let at = unit.segment(*s).base + e.range.start;
                    let level = model.level_holding(at, unit.segment(*s).range());
                    if !blocked.contains_key(&level) {
                        newly_blocked.push((level, reason.clone()));
                    }
                }
            }
        }
        if !newly_blocked.is_empty() {
            blocked.extend(newly_blocked);
            continue;
        }
        // Changes and notes, in the file of their first segment.
        let mut out: Vec<(FileId, FilePlan)> = unit
            .files
            .iter()
            .map(|f| {
                (
                    *f,
                    FilePlan {
                        edits: file_edits.remove(f).unwrap_or_default(),
                        ..FilePlan::default()
                    },
                )
            })
            .collect();
        let index: HashMap<FileId, usize> =
            out.iter().enumerate().map(|(i, (f, _))| (*f, i)).collect();
        let mut distinct = std::collections::HashSet::new();
        for c in planned.changes {
            if !distinct.insert(c.edit.clone()) {
                continue;
            }
            let Some((segment, local)) = local_range(unit, &c.edit.range) else {
                continue;
            };
            let seg = unit.segment(segment);
            // A shared file's edit is reported once, from its first reading.
            if per_file[&seg.file][0] != segment {
                continue;
            }
            // Reports point at the directive the change is about when it is
            // in the same file as the edit; else at the edit.
            let about = c
                .about
                .as_ref()
                .and_then(|r| local_range(unit, r))
                .filter(|(s, _)| unit.segment(*s).file == seg.file)
                .map(|(_, r)| r);
            out[index[&seg.file]].1.changes.push(Change {
                edit: edit::Edit {
                    range: local,
                    ..c.edit
                },
                about,
                ..c
            });
        }
        // Notes (and suppressions) in the file they are about, in file
        // offsets, each once: a shared file is read at several places.
        let mut seen_notes = std::collections::HashSet::new();
        let mut place = |n: Note| {
            let (file, offset) = match n.offset.and_then(|o| unit.locate(o)) {
                Some((file, local)) => (file, Some(local)),
                None => (unit.entries[0], None),
            };
            seen_notes
                .insert((file, offset, n.message.clone()))
                .then_some((index[&file], Note { offset, ..n }))
        };
        for n in planned.notes {
            if let Some((i, note)) = place(n) {
                out[i].1.notes.push(note);
            }
        }
        for n in planned.suppressed {
            if let Some((i, note)) = place(n) {
                out[i].1.suppressed.push(note);
            }
        }
        return Ok((out, planned.seen));
    }
}

/// A plan error at a joined-text offset, as `file:line:column`.
fn plan_error(ws: &Workspace, unit: &Unit, error: vocab::PlanError) -> FileError {
    let place = error
        .offset
        .and_then(|o| unit.locate(o))
        .map(|(file, local)| {
            let f = ws.file(file);
            let (line, column) = f.source.line_col(local);
            report::Place {
                path: f.shown.clone(),
                line,
                column,
            }
        });
    let path = match &place {
        Some(p) => format!("{}:{}:{}", p.path, p.line, p.column),
        None => ws.file(unit.entries[0]).shown.clone(),
    };
    FileError::Plan {
        path,
        place,
        error: vocab::PlanError {
            offset: None,
            message: error.message,
        },
    }
}

/// The segment of an edit and its range there.
fn local_range(
    unit: &Unit,
    range: &std::ops::Range<usize>,
) -> Option<(SegmentId, std::ops::Range<usize>)> {
    let segment = unit.segment_at(range.start)?;
    let s = unit.segment(segment);
    (range.end <= s.base + s.len).then(|| (segment, range.start - s.base..range.end - s.base))
}

/// The rewritten tree, parsed and laid out as the original was; it must
/// parse.
fn reparse(
    ws: &Workspace,
    unit: &Unit,
    edits: &HashMap<FileId, &[edit::Edit]>,
) -> Result<(Workspace, Unit), FileError> {
    let mut again_ws = ws.with_edits(edits);
    let mut again = Unit::layout(
        &mut again_ws,
        unit.kind.clone(),
        &unit.entries,
        unit.prefix.as_deref(),
    );
    again.read_only = unit.read_only.clone();
    if let Some(e) = again.errors.first() {
        return Err(internal_error(
            &again_ws,
            &again,
            format!("the rewritten file does not parse: {e}"),
        ));
    }
    Ok((again_ws, again))
}

fn internal_error(ws: &Workspace, unit: &Unit, message: String) -> FileError {
    FileError::Internal {
        path: ws.file(unit.entries[0]).shown.clone(),
        message,
    }
}

/// Planning the rewritten tree again must change nothing, and nginx must
/// do the same with every request but reuse connections. The second plan
/// and the observation of the rewritten tree read the same model, one on
/// each core.
fn verify(
    (again_ws, again): (Workspace, Unit),
    before: &[behaviour::Observations],
    opts: &Options,
) -> Result<Workspace, FileError> {
    let after = Model::build_unit(&again, &again_ws);
    let context = read_only_locations(&again_ws, &again, &after);
    let (replanned, observed) = rayon::join(
        || plan::plan_except(&after, opts, &context),
        || observe(&after, opts),
    );
    drop(after);
    match replanned {
        Ok(p) if p.changes.is_empty() => {}
        Ok(p) => {
            let message = format!(
                "the rewritten file is not stable: a second run would change it again ({})",
                p.changes
                    .iter()
                    .map(|c| {
                        let (file, local) = again
                            .locate(c.edit.range.start)
                            .unwrap_or((again.entries[0], 0));
                        format!(
                            "{} at {}:{}",
                            c.rule.as_str(),
                            again_ws.file(file).shown,
                            again_ws.file(file).source.line_col(local).0
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return Err(internal_error(&again_ws, &again, message));
        }
        Err(e) => {
            return Err(internal_error(
                &again_ws,
                &again,
                format!("the rewritten file cannot be planned again: {e}"),
            ))
        }
    }
    let problems = compare(before, &observed, opts);
    if problems.is_empty() {
        Ok(again_ws)
    } else {
        Err(FileError::Unsafe {
            path: again_ws.file(again.entries[0]).shown.clone(),
            message: problems.join("; "),
        })
    }
}

/// Observes what nginx does with requests under `before` and under
/// `after`, each read alone the way [`process`] reads a text (the path the
/// binary takes: workspace, layout, model); each returned line is a change
/// the rules may not make. A text that does not parse is an error.
pub fn check_behaviour(
    before: &Source,
    after: &Source,
    opts: &Options,
) -> Result<Vec<String>, FileError> {
    let observed = |source: &Source| -> Result<Vec<behaviour::Observations>, FileError> {
        let mut ws = Workspace::new(workspace::Paths::default());
        let id = ws.add_text(&source.path, source.text.clone());
        let unit = Unit::layout(&mut ws, UnitKind::Snippets, &[id], None);
        if let Some(e) = unit.errors.first() {
            return Err(FileError::Syntax(e.clone()));
        }
        Ok(observe(&Model::build_unit(&unit, &ws), opts))
    };
    Ok(compare(&observed(before)?, &observed(after)?, opts))
}

/// What nginx does with requests under `model`, under each meaning of a
/// gRPC Host the run must hold for: for any nginx version both
/// (`vocab::GrpcHost`), when the model has a `grpc_pass`.
fn observe(model: &Model, opts: &Options) -> Vec<behaviour::Observations> {
    let grpc = || {
        model
            .index
            .pass
            .iter()
            .any(|d| model.dirs[*d].is("grpc_pass"))
    };
    let meanings = match opts.grpc_host {
        vocab::GrpcHost::Either if grpc() => {
            vec![vocab::GrpcHost::HostHeader, vocab::GrpcHost::Authority]
        }
        vocab::GrpcHost::Either => vec![vocab::GrpcHost::HostHeader],
        meaning => vec![meaning],
    };
    meanings
        .into_iter()
        .map(|m| observe_as(model, opts, m))
        .collect()
}

fn observe_as(
    model: &Model,
    opts: &Options,
    grpc_host: vocab::GrpcHost,
) -> behaviour::Observations {
    let values = match opts.host_header {
        vocab::HostHeaderMode::Keep => behaviour::ProxyHostValues::Kept,
        vocab::HostHeaderMode::Upstream => behaviour::ProxyHostValues::Accepted,
    };
    behaviour::observe_with(model, values, opts.new_defaults, opts.resolve, grpc_host)
}

fn compare(
    before: &[behaviour::Observations],
    after: &[behaviour::Observations],
    opts: &Options,
) -> Vec<String> {
    let allowed = behaviour::Allowed {
        move_upgrade: !opts.websocket_paths.is_empty(),
        resolve: opts.resolve,
        resolver_added: opts.resolver.is_some(),
    };
    let mut problems: Vec<String> = Vec::new();
    for (b, a) in before.iter().zip(after) {
        for p in behaviour::compare(b, a, allowed) {
            if !problems.contains(&p) {
                problems.push(p);
            }
        }
    }
    problems
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
            host_header: vocab::HostHeaderMode::Upstream,
            ..Options::default()
        },
        // Issue 13: pool settings everywhere, runtime-resolved targets.
        Options {
            keepalive: 16,
            tuning: tuning::Tuning {
                backend_idle_timeout: tuning::parse_time_flag("5s").ok(),
                keepalive_requests: tuning::parse_count_flag("100").ok(),
                tune_existing: true,
                ..tuning::Tuning::default()
            },
            resolve: true,
            resolver: Some("127.0.0.11".into()),
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
