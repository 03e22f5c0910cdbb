//! The pipeline for one unit, checked: plan, apply the edits once, re-parse
//! the output, plan it again (nothing more may change) and compare what
//! nginx does with requests before and after (`behaviour`). Nothing is
//! printed or written unless this passes.

use std::collections::HashMap;

use crate::check::behaviour;
use crate::model::workspace::{self, FileId, Unit, UnitKind, Workspace};
use crate::model::{shape, Model};
use crate::output::diff;
use crate::plan;
use crate::plan::units::{self, plan_error, plan_unit, read_only_locations};
use crate::rules::api::Change;
use crate::syntax::edit;
use crate::syntax::source::Source;
use crate::vocab::{self, tuning, FileError, Note, Options};

/// The verified result of planning one file.
#[derive(Debug)]
pub struct Rewrite {
    /// The file as upkeep writes it (its text unchanged when nothing is).
    pub new_text: Vec<u8>,
    /// The applied edits, normalized (sorted, distinct), in file offsets.
    pub edits: Vec<edit::Edit>,
    /// What changed and why, in file offsets, in order.
    pub changes: Vec<Change>,
    /// What upkeep left alone or assumed.
    pub notes: Vec<Note>,
    /// What `# upkeep:ignore` left alone, with the reason.
    pub suppressed: Vec<Note>,
}

/// A text as the one file of a workspace, laid out as a unit of snippets
/// (its includes unseen): how [`process`] and [`check_behaviour`] read it.
fn read_alone(source: &Source) -> (Workspace, Unit) {
    let mut ws = Workspace::new(workspace::Paths::default());
    let id = ws.add_text(&source.path, source.text.clone());
    let unit = Unit::layout(&mut ws, UnitKind::Snippets, &[id], None);
    (ws, unit)
}

/// Parses, plans, applies and verifies one text read alone (its includes
/// unseen). Pure: no I/O.
pub fn process(source: &Source, opts: &Options) -> Result<Rewrite, FileError> {
    let (ws, unit) = read_alone(source);
    let mut files = process_unit(&ws, &unit, opts, Trees::Release)?.files;
    let (_, rewrite) = files.remove(0);
    Ok(rewrite)
}

/// What may become of the original trees once the unit is modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trees {
    /// Other units of the run may read the same files: keep every tree.
    Keep,
    /// Nothing models these files again: once the rewritten files are
    /// re-parsed, drop the original workspace's hold on their trees (about
    /// 8x their text). A file re-parsed statement by statement keeps its
    /// original tree in its own syntax until its model is built.
    Release,
}

/// Plans a unit (one http context across its files), applies the edits,
/// and verifies the whole tree: the output parses, needs no further
/// change, and behaves the same (see `behaviour`). Returns every file of
/// the unit with its rewrite (unchanged files included), in reading order.
pub fn process_unit(
    ws: &Workspace,
    unit: &Unit,
    opts: &Options,
    trees: Trees,
) -> Result<UnitRewrite, FileError> {
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
    // The original is observed on one core while the plan runs on the
    // other: the plan is one thread's work, and what it decides cannot
    // change what the original does. When the plan changes nothing the
    // observation is not needed, and is thrown away (with no idle core,
    // rayon runs both on this thread: a unit that changes nothing pays
    // for an observation, a fifth of its plan).
    let (planned, before) = crate::par::join(
        crate::par::worth_splitting(unit.source.text.len()),
        || plan_unit(ws, unit, &model, opts),
        || observe(&model, opts),
    );
    // Dropped before the rewritten text is parsed: its model takes this
    // one's place in memory, not its side.
    drop(model);
    let (planned, seen) = planned?;
    let edits: HashMap<FileId, &[edit::Edit]> = planned
        .iter()
        .filter(|(_, p)| !p.edits.is_empty())
        .map(|(file, p)| (*file, p.edits.as_slice()))
        .collect();
    let rewritten = if edits.is_empty() {
        None
    } else {
        let again = reparse(ws, unit, &edits, workspace::Reparse::FromOldTree)?;
        if trees == Trees::Release {
            ws.release_original_trees(&edits);
        }
        #[cfg(debug_assertions)]
        same_as_whole_parse(ws, unit, &edits, &again);
        Some(verify(again, &before, opts)?)
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

/// The rewritten tree, parsed and laid out as the original was; it must
/// parse.
fn reparse(
    ws: &Workspace,
    unit: &Unit,
    edits: &HashMap<FileId, &[edit::Edit]>,
    how: workspace::Reparse,
) -> Result<(Workspace, Unit), FileError> {
    let mut again_ws = ws.with_edits(edits, how);
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

/// The check that keeps the faster re-parse honest, in every debug build
/// (so in every test of the suite): the output's model read from the
/// re-parse the run made (statement by statement, for a file with edits
/// all over it) is the model read from a parse of the whole output.
/// Near-miss warnings of `# upkeep:ignore` are left out: they name a
/// comment's tree neighbours, which a region's first and last statements
/// do not have (see `syntax::splice`), and only the input's are shown.
#[cfg(debug_assertions)]
fn same_as_whole_parse(
    ws: &Workspace,
    unit: &Unit,
    edits: &HashMap<FileId, &[edit::Edit]>,
    (again_ws, again): &(Workspace, Unit),
) {
    let Ok((whole_ws, whole)) = reparse(ws, unit, edits, workspace::Reparse::Whole) else {
        panic!("the whole output does not parse where its statements did");
    };
    let read = Model::build_unit(again, again_ws);
    let fresh = Model::build_unit(&whole, &whole_ws);
    let (read, fresh) = (read.summary(), fresh.summary());
    if read != fresh {
        // Where they part, not two models in full.
        let at = read
            .bytes()
            .zip(fresh.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        let from = at.saturating_sub(300);
        let near = |s: &str| {
            s.get(from..(at + 200).min(s.len()))
                .unwrap_or("")
                .to_string()
        };
        panic!(
            "the re-parse reads the output as a whole parse does not, from byte {at} of the model:\n  re-parse: {}\n  whole:    {}",
            near(&read),
            near(&fresh)
        );
    }
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
    (mut again_ws, again): (Workspace, Unit),
    before: &[behaviour::Observations],
    opts: &Options,
) -> Result<Workspace, FileError> {
    let after = Model::build_unit(&again, &again_ws);
    again_ws.release_trees();
    let context = read_only_locations(&again_ws, &again, &after);
    let (replanned, problems) = crate::par::join(
        crate::par::worth_splitting(again.source.text.len()),
        || plan::plan_except(&after, opts, &context),
        || observe_against(&after, opts, before),
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
                        format!(
                            "{} at {}",
                            c.rule.as_str(),
                            units::file_line(&again_ws, &again, c.edit.range.start)
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
        let (ws, unit) = read_alone(source);
        if let Some(e) = unit.errors.first() {
            return Err(FileError::Syntax(e.clone()));
        }
        Ok(observe(&Model::build_unit(&unit, &ws), opts))
    };
    Ok(compare(&observed(before)?, &observed(after)?, opts))
}

/// What nginx does with requests under `model`, under each meaning of a
/// gRPC Host the run must hold for ([`lenses`]).
fn observe(model: &Model, opts: &Options) -> Vec<behaviour::Observations> {
    lenses(model, opts)
        .into_iter()
        .map(|lens| behaviour::observe(model, lens))
        .collect()
}

/// [`observe`] on the output compared with the input's observations as
/// it goes ([`behaviour::Comparison`]): the output's observations are
/// never all held at once. Each returned line is a change the rules may
/// not make.
fn observe_against(
    model: &Model,
    opts: &Options,
    before: &[behaviour::Observations],
) -> Vec<String> {
    let mut problems: Vec<String> = Vec::new();
    for (lens, b) in lenses(model, opts).into_iter().zip(before) {
        let mut comparison = behaviour::Comparison::new(b, allowed(opts));
        behaviour::observe_each(model, lens, |key, a| comparison.place(key, &a));
        add_distinct(&mut problems, comparison.finish());
    }
    problems
}

/// How the run's options observe `model`: once, or (with `grpc_pass` and
/// no nginx version named) once for each meaning of a gRPC Host, since
/// the output must behave the same under both (`vocab::GrpcHost`).
fn lenses(model: &Model, opts: &Options) -> Vec<behaviour::Lens> {
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
    let values = match opts.host_header {
        vocab::HostHeaderMode::Keep => behaviour::ProxyHostValues::Kept,
        vocab::HostHeaderMode::Upstream => behaviour::ProxyHostValues::Accepted,
    };
    meanings
        .into_iter()
        .map(|grpc_host| behaviour::Lens {
            values,
            new_defaults: opts.new_defaults,
            runtime: opts.resolve,
            grpc_host,
        })
        .collect()
}

fn allowed(opts: &Options) -> behaviour::Allowed {
    behaviour::Allowed {
        move_upgrade: !opts.websocket_paths.is_empty(),
        resolve: opts.resolve,
        resolver_added: opts.resolver.is_some(),
    }
}

/// Adds the problems not already listed (the same difference under two
/// gRPC meanings is said once).
fn add_distinct(problems: &mut Vec<String>, more: Vec<String>) {
    for p in more {
        if !problems.contains(&p) {
            problems.push(p);
        }
    }
}

fn compare(
    before: &[behaviour::Observations],
    after: &[behaviour::Observations],
    opts: &Options,
) -> Vec<String> {
    let mut problems: Vec<String> = Vec::new();
    for (b, a) in before.iter().zip(after) {
        add_distinct(&mut problems, behaviour::compare(b, a, allowed(opts)));
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

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "http {
    upstream app {
        server 127.0.0.1:8080;
        keepalive_timeout 30s;
    }
    server {
        location /strict/ {
            proxy_pass https://app;
            proxy_ssl_verify on;
        }
        location /lax/ {
            proxy_pass https://app;
        }
    }
}
";

    /// `keepalive_timeout` alone gives an upstream no pool (nginx needs
    /// `keepalive N`): a rewrite that adds `keepalive` makes the two
    /// locations share connections whose TLS checks differ, which the
    /// check must refuse. Counting `keepalive_*` as a pool hid that.
    #[test]
    fn keepalive_tuning_alone_is_no_pool() {
        let opts = crate::options_for(Vec::<String>::new()).unwrap();
        let after = BEFORE.replace(
            "keepalive_timeout 30s;",
            "keepalive_timeout 30s;\n        keepalive 8;",
        );
        let problems = check_behaviour(
            &Source::new("before", BEFORE.into()),
            &Source::new("after", after.into_bytes()),
            &opts,
        )
        .unwrap();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("would share the pool of upstream \"app\"")),
            "{problems:?}"
        );
        // And the same upstream with a pool before: sharing it is not new.
        let pooled = BEFORE.replace("keepalive_timeout 30s;", "keepalive 8;");
        let same = check_behaviour(
            &Source::new("before", pooled.clone().into_bytes()),
            &Source::new("after", pooled.into_bytes()),
            &opts,
        )
        .unwrap();
        assert!(same.is_empty(), "{same:?}");
    }
}
