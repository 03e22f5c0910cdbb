//! A unit's plan in files: the rules plan one joined text (an `http`
//! context across its includes); this maps their edits, changes and notes
//! to the files they are in, and enforces that a file read at several
//! places gets the same edits at each (else those locations are left
//! alone and the unit is planned again).
//!
//! Positions: the model, the rules and the plan speak offsets into the
//! unit's joined text (bare `usize` ranges, as the model records them);
//! a position in a file is a [`FilePos`] or [`FileRange`], and this file
//! is the one place that turns one into the other ([`file_pos`],
//! [`file_range`], [`unit_offset`]). Everything a [`FilePlan`] holds is
//! in its file's own offsets.

use std::collections::{BTreeMap, HashMap};

use crate::model::workspace::{FileId, FilePos, FileRange, SegmentId, Unit, Workspace};
use crate::model::{self, Model};
use crate::plan;
use crate::rules::api::Change;
use crate::syntax::edit;
use crate::vocab::fast::FastMap;
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
            let file = file_pos(unit, model.dirs[level.owner?].range.start)?.file;
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
            let at = file_range(unit, &e.range)
                .ok_or_else(|| internal(format!("an edit at {:?} spans files", e.range)))?;
            by_segment.entry(at.segment).or_default().push(edit::Edit {
                range: at.range,
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
                let at = unit_offset(unit, segments[0], first.range.start);
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
                .filter_map(|at| file_pos(unit, at))
                .map(|at| {
                    let p = place(ws, at);
                    format!("{}:{}", p.path, p.line)
                })
                .collect();
            let reason = format!(
                "left alone: the change here would edit {}, which is also read at {} where it must stay as it is (give this location its own copy, or edit by hand)",
                ws.file(*file).shown,
                places.join(", ")
            );
            for s in segments {
                for e in by_segment.get(s).into_iter().flatten() {
                    let at = unit_offset(unit, *s, e.range.start);
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
        let folds = Folds::of(model);
        for c in planned.changes {
            if !distinct.insert(c.edit.clone()) {
                continue;
            }
            let Some(at) = file_range(unit, &c.edit.range) else {
                continue;
            };
            // A shared file's edit is reported once, from its first reading.
            if per_file[&at.file][0] != at.segment {
                continue;
            }
            // Reports point at the directive the change is about when it is
            // in the same file as the edit; else at the edit.
            let about = c
                .about
                .as_ref()
                .and_then(|r| file_range(unit, r))
                .filter(|about| about.file == at.file)
                .map(|about| about.range);
            let fold_at = folds
                .anchor(model, c.span().start)
                .and_then(|r| file_range(unit, &r))
                .filter(|anchor| anchor.file == at.file)
                .map(|anchor| anchor.range);
            out[index[&at.file]].1.changes.push(Change {
                edit: edit::Edit {
                    range: at.range,
                    ..c.edit
                },
                about,
                fold_at,
                ..c
            });
        }
        // Notes (and suppressions) in the file they are about, in file
        // offsets, each once: a shared file is read at several places.
        let mut seen_notes = std::collections::HashSet::new();
        let mut place = |n: Note| {
            let (file, offset) = match n.offset.and_then(|o| file_pos(unit, o)) {
                Some(at) => (at.file, Some(at.offset)),
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

/// The locations of a model by where they start, and where a report
/// folds the changes of each into one: its first `*_pass` (the directive
/// every rule there is about), else its head.
struct Folds {
    starts: Vec<(usize, model::LevelId)>,
    anchors: FastMap<model::LevelId, std::ops::Range<usize>>,
}

impl Folds {
    fn of(model: &Model) -> Folds {
        let mut starts: Vec<(usize, model::LevelId)> = model
            .each_level()
            .filter(|(_, level)| level.kind == model::LevelKind::Location)
            .filter_map(|(id, level)| Some((model.dirs[level.owner?].range.start, id)))
            .collect();
        starts.sort();
        let mut anchors = FastMap::default();
        for pass in &model.index.pass {
            let location = model
                .ancestors(model.dirs[*pass].level)
                .find(|l| model.levels[*l].kind == model::LevelKind::Location);
            if let Some(location) = location {
                anchors
                    .entry(location)
                    .or_insert_with(|| model.dirs[*pass].head());
            }
        }
        for (_, location) in &starts {
            if let Some(head) = model.level_head(*location) {
                anchors.entry(*location).or_insert(head);
            }
        }
        Folds { starts, anchors }
    }

    /// The fold anchor of the innermost location holding joined-text
    /// `offset`. The last location starting at or before it holds it, or
    /// else one of its ancestors does (a location that holds the offset
    /// and starts earlier holds that one too).
    fn anchor(&self, model: &Model, offset: usize) -> Option<std::ops::Range<usize>> {
        let i = self.starts.partition_point(|(start, _)| *start <= offset);
        let (_, last) = *self.starts.get(i.checked_sub(1)?)?;
        let holding = model.ancestors(last).find(|l| {
            model.levels[*l].kind == model::LevelKind::Location
                && model.levels[*l]
                    .owner
                    .is_some_and(|d| model.dirs[d].range.contains(&offset))
        })?;
        self.anchors.get(&holding).cloned()
    }
}

/// A plan error at a joined-text offset, as `file:line:column`.
pub(crate) fn plan_error(ws: &Workspace, unit: &Unit, error: vocab::PlanError) -> FileError {
    let place = error
        .offset
        .and_then(|o| file_pos(unit, o))
        .map(|at| place(ws, at));
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

/// The file and line of a joined-text offset, for messages that say
/// where (an unstable rewrite): `path:line` (line 1 of the unit's first
/// file when the offset is in no file).
pub(crate) fn file_line(ws: &Workspace, unit: &Unit, offset: usize) -> String {
    match file_pos(unit, offset) {
        Some(at) => {
            let p = place(ws, at);
            format!("{}:{}", p.path, p.line)
        }
        None => format!("{}:1", ws.file(unit.entries[0]).shown),
    }
}

/// A file position as the user reads it: the path shown, line, column.
fn place(ws: &Workspace, at: FilePos) -> Place {
    let f = ws.file(at.file);
    let (line, column) = f.source.line_col(at.offset);
    Place {
        path: f.shown.clone(),
        line,
        column,
    }
}

/// The segment holding joined-text `offset` (its end included: an edit
/// may insert at the end of a file).
fn segment_at(unit: &Unit, offset: usize) -> Option<SegmentId> {
    let id = unit.source.segment_at(offset);
    let s = unit.segments.get(id.index())?;
    (s.base <= offset && offset <= s.base + s.len).then_some(id)
}

/// The file and file offset of joined-text `offset`.
pub(crate) fn file_pos(unit: &Unit, offset: usize) -> Option<FilePos> {
    let s = unit.segment(segment_at(unit, offset)?);
    Some(FilePos {
        file: s.file,
        offset: offset - s.base,
    })
}

/// The file range of a joined-text range, when it lies in one segment.
pub(crate) fn file_range(unit: &Unit, range: &std::ops::Range<usize>) -> Option<FileRange> {
    let segment = segment_at(unit, range.start)?;
    let s = unit.segment(segment);
    (range.end <= s.base + s.len).then(|| FileRange {
        segment,
        file: s.file,
        range: range.start - s.base..range.end - s.base,
    })
}

/// The joined-text offset of `local` in `segment`'s file.
fn unit_offset(unit: &Unit, segment: SegmentId, local: usize) -> usize {
    unit.segment(segment).base + local
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::workspace::{Paths, UnitKind};

    /// Two snippets joined: offsets map to their own file, a file's end
    /// (the byte between the two) is still in it, as an edit may insert
    /// there, and a range across both is no file range.
    #[test]
    fn joined_offsets_become_file_positions_in_one_place() {
        let mut ws = Workspace::new(Paths::default());
        let a = ws.add_text("a.conf", b"aaaa\n".to_vec());
        let b = ws.add_text("b.conf", b"bb\n".to_vec());
        let unit = Unit::layout(&mut ws, UnitKind::Snippets, &[a, b], None);
        let b_base = unit.segments[1].base;
        assert_eq!(b_base, 6, "one byte between the files");
        assert_eq!(file_pos(&unit, 2), Some(FilePos { file: a, offset: 2 }));
        assert_eq!(file_pos(&unit, 5), Some(FilePos { file: a, offset: 5 }));
        assert_eq!(
            file_pos(&unit, b_base + 1),
            Some(FilePos { file: b, offset: 1 })
        );
        assert_eq!(
            file_pos(&unit, b_base + 3),
            Some(FilePos { file: b, offset: 3 })
        );
        assert_eq!(
            file_range(&unit, &(b_base..b_base + 2)).map(|r| (r.file, r.range)),
            Some((b, 0..2))
        );
        assert_eq!(file_range(&unit, &(1..b_base + 1)), None);
        let segment = file_range(&unit, &(b_base + 1..b_base + 2))
            .unwrap()
            .segment;
        assert_eq!(unit_offset(&unit, segment, 1), b_base + 1);
        assert_eq!(file_line(&ws, &unit, b_base + 1), "b.conf:1");
    }
}
