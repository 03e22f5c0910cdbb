//! A unit's plan in files: the rules plan one joined text (an `http`
//! context across its includes); this maps their edits, changes and notes
//! to the files they are in, and enforces that a file read at several
//! places gets the same edits at each (else those locations are left
//! alone and the unit is planned again).

use std::collections::{BTreeMap, HashMap};

use crate::model::workspace::{FileId, SegmentId, Unit, Workspace};
use crate::model::{self, Model};
use crate::plan;
use crate::rules::api::Change;
use crate::syntax::edit;
use crate::vocab::{self, FileError, Note, Options, Place};

/// One file's part of a unit's plan, in file offsets.
#[derive(Debug, Default)]
pub(crate) struct FilePlan {
    pub edits: Vec<edit::Edit>,
    pub changes: Vec<Change>,
    pub notes: Vec<Note>,
    pub suppressed: Vec<Note>,
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
pub(crate) fn read_only_locations(
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
pub(crate) fn plan_unit(
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
pub(crate) fn plan_error(ws: &Workspace, unit: &Unit, error: vocab::PlanError) -> FileError {
    let place = error
        .offset
        .and_then(|o| unit.locate(o))
        .map(|(file, local)| {
            let f = ws.file(file);
            let (line, column) = f.source.line_col(local);
            Place {
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
