//! `proxy_set_header` changes that keep nginx's inheritance intact.
//!
//! nginx merges `proxy_set_header` per level: a location that defines one
//! inherits *none* from its server or http level. So "add `Connection ""` to
//! this location" is never a plain insertion when the location inherits its
//! headers: it would drop every inherited header. Rules therefore do not
//! edit headers themselves; they describe [`HeaderOp`]s per location, and
//! [`apply`] decides where the edit goes:
//!
//! - the location defines its own headers: edit them there;
//! - no level defines any: add the header to the location;
//! - an outer level defines them: if every location that inherits them and
//!   proxies wants exactly the same operations, edit the outer level once
//!   (that is equivalent for all of them); otherwise copy the inherited
//!   headers into each location that needs a change, with the change made.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{DirId, LevelId};
use crate::rules::api::Change;
use crate::rules::api::{Ctx, HeaderAction, HeaderOp, HeaderValue, Location};
use crate::rules::layout::{self, settings_anchor};
use crate::rules::RuleId;
use crate::syntax::edit::Slot;

/// Turns the header operations of every location into edits.
///
/// An edited list is seen by every location that inherits it, nested ones
/// included: those that want the same operations are done by it; those
/// that want none get their current list written out so that they keep it;
/// those with operations of their own get their own edit in their turn.
pub fn apply(
    ctx: &Ctx,
    works: &BTreeMap<LevelId, Location>,
    proxying: &BTreeSet<LevelId>,
) -> Vec<Change> {
    let model = ctx.model;
    let mut changes = Vec::new();
    // Where each proxying level's headers come from (None: nginx's defaults).
    let source_of: BTreeMap<LevelId, Option<LevelId>> = proxying
        .iter()
        .map(|l| (*l, model.effective_headers(*l).0))
        .collect();
    // The same, grouped by source (computed once: a config can have tens
    // of thousands of locations).
    let mut groups: BTreeMap<Option<LevelId>, Vec<LevelId>> = BTreeMap::new();
    for (level, source) in &source_of {
        groups.entry(*source).or_default().push(*level);
    }
    let no_ops = Vec::new();
    let ops_of = |level: LevelId| works.get(&level).map_or(&no_ops, |w| &w.header_ops);
    let wants_same = |level: LevelId, ops: &[HeaderOp]| {
        !works.get(&level).is_some_and(|w| w.keep_local()) && same_ops(ops_of(level), ops)
    };
    let mut covered: BTreeSet<LevelId> = BTreeSet::new();
    // Works are in level order: outer locations come before nested ones.
    for (location, work) in works {
        let ops = &work.header_ops;
        if ops.is_empty() || covered.contains(location) {
            continue;
        }
        let source = source_of
            .get(location)
            .copied()
            .unwrap_or_else(|| model.effective_headers(*location).0);
        let sharing = |src: Option<LevelId>| -> Vec<LevelId> {
            groups
                .get(&src)
                .map(|g| g.iter().copied().filter(|l| l != location).collect())
                .unwrap_or_default()
        };
        let (edits, affected) = match source {
            Some(level) if level == *location => (edit_level(ctx, level, ops), sharing(source)),
            Some(outer)
                if !work.keep_local() && sharing(source).iter().all(|l| wants_same(*l, ops)) =>
            {
                (edit_level(ctx, outer, ops), sharing(source))
            }
            _ => {
                // Once this location defines headers, the locations nested
                // in it that inherited the same list inherit its new one.
                let nested = model
                    .descendants(*location)
                    .into_iter()
                    .filter(|l| source_of.get(l) == Some(&source))
                    .filter(|l| model.inheritance_chain(*l).contains(location))
                    .collect();
                (materialize(ctx, *location, ops), nested)
            }
        };
        changes.extend(edits);
        // Outer levels first (level ids follow the source, parents first):
        // a level that keeps its list shields the levels nested in it.
        let mut affected = affected;
        affected.sort_unstable();
        let mut kept: Vec<LevelId> = Vec::new();
        for level in affected {
            let shielded = model
                .inheritance_chain(level)
                .iter()
                .skip(1)
                .any(|l| kept.contains(l));
            if wants_same(level, ops) {
                if shielded {
                    // It inherits the kept (old) list, not the new one.
                    changes.extend(materialize(ctx, level, ops));
                }
                covered.insert(level);
            } else if ops_of(level).is_empty() {
                // It needs nothing itself, so it must keep what it had.
                if !shielded {
                    changes.extend(keep_current(ctx, level));
                    kept.push(level);
                }
                covered.insert(level);
            }
            // Otherwise it has operations of its own, planned in its turn
            // from the list it has now.
        }
    }
    changes
}

/// Pins the header list a location has now, because the level it inherits
/// from is about to change: a copy of the inherited list, or, when it has
/// nginx's defaults, the default Host written out (which changes nothing but
/// stops the inheritance).
fn keep_current(ctx: &Ctx, location: LevelId) -> Vec<Change> {
    let model = ctx.model;
    let Some(anchor) = settings_anchor(model, location) else {
        return Vec::new();
    };
    let (_, inherited) = model.effective_headers(location);
    let reason =
        "keeps the headers this location had: the level it inherited them from changes".to_string();
    let lines: Vec<Vec<u8>> = if inherited.is_empty() {
        vec![b"proxy_set_header Host $proxy_host;".to_vec()]
    } else {
        inherited
            .iter()
            .map(|(_, d)| model.bytes(model.dirs[*d].range.clone()).to_vec())
            .collect()
    };
    lines
        .into_iter()
        .map(|text| {
            let edit = layout::at_anchor(model, anchor, &text, Slot::Header);
            Change::new(RuleId::ConnectionHeader, edit, reason.clone())
                .about(model.level_head(location))
        })
        .collect()
}

fn same_ops(a: &[HeaderOp], b: &[HeaderOp]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.name == y.name && x.action == y.action)
}

/// Edits the headers a level defines itself.
pub fn edit_level(ctx: &Ctx, level: LevelId, ops: &[HeaderOp]) -> Vec<Change> {
    let model = ctx.model;
    let defined: Vec<DirId> = model.named(level, "proxy_set_header");
    let find = |name: &str| -> Vec<DirId> {
        defined
            .iter()
            .copied()
            .filter(|d| {
                model.dirs[*d]
                    .arg(0)
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .collect()
    };
    let removed: usize = ops
        .iter()
        .filter(|op| matches!(op.action, HeaderAction::Remove { .. }))
        .map(|op| find(&op.name).len())
        .sum();
    let mut changes = Vec::new();
    for op in ops {
        let present = find(&op.name);
        let set = match &op.action {
            HeaderAction::Set(value) => Some(value),
            HeaderAction::Remove { fallback } => {
                if present.is_empty() {
                    continue;
                }
                // Removing every header would make the level inherit again.
                if removed >= defined.len() && fallback.is_some() {
                    fallback.as_ref()
                } else {
                    for d in present.iter() {
                        let edit = layout::delete_directive(model, *d);
                        changes.push(
                            Change::new(op.rule, edit, op.reason.clone())
                                .about(model.dirs[*d].head()),
                        );
                    }
                    continue;
                }
            }
        };
        let Some(value) = set else { continue };
        if !present.is_empty() {
            // Every entry for the header gets the value (duplicates included).
            for d in &present {
                if let Some(old) = model.dirs[*d].args.get(1) {
                    if old.value != value.value.as_str() {
                        let edit = crate::syntax::edit::Edit::replace(
                            old.range.clone(),
                            value.replacing(old.quote),
                        );
                        changes.push(
                            Change::new(op.rule, edit, op.reason.clone())
                                .about(model.dirs[*d].head()),
                        );
                    }
                }
            }
            continue;
        }
        match present.last() {
            Some(_) => {}
            None => {
                let text = format!("proxy_set_header {} {};", op.name, value.written);
                let edit = match defined.first() {
                    Some(first) => layout::before_directive(model, *first, &text, Slot::Header),
                    None => match settings_anchor(model, level) {
                        Some(anchor) => layout::at_anchor(model, anchor, &text, Slot::Header),
                        None => continue,
                    },
                };
                changes.push(
                    Change::new(op.rule, edit, op.reason.clone()).about(model.level_head(level)),
                );
            }
        }
    }
    changes
}

/// Writes the location's whole effective header list into it, with the
/// operations applied: the inherited headers stay in effect.
pub fn materialize(ctx: &Ctx, location: LevelId, ops: &[HeaderOp]) -> Vec<Change> {
    let model = ctx.model;
    let (_, inherited) = model.effective_headers(location);
    let Some(anchor) = settings_anchor(model, location) else {
        return Vec::new();
    };
    let mut lines: Vec<(Vec<u8>, RuleId, String)> = Vec::new();
    let is_inherited = |name: &str| inherited.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let new_line = |op: &HeaderOp, value: &HeaderValue| {
        (
            format!("proxy_set_header {} {};", op.name, value.written).into_bytes(),
            op.rule,
            op.reason.clone(),
        )
    };
    // New headers go first, as a new `Connection` would before a level's
    // first proxy_set_header.
    for op in ops {
        if let HeaderAction::Set(value) = &op.action {
            if !is_inherited(&op.name) {
                lines.push(new_line(op, value));
            }
        }
    }
    let copied_reason = "copied from the enclosing level, so that adding a header here does not drop the inherited ones".to_string();
    for (name, d) in &inherited {
        let dir = &model.dirs[*d];
        let op = ops.iter().find(|op| op.name.eq_ignore_ascii_case(name));
        match op.map(|op| &op.action) {
            Some(HeaderAction::Remove { .. }) => continue,
            Some(HeaderAction::Set(value))
                if dir.args.get(1).map(|a| a.value.as_ref()) != Some(value.value.as_str()) =>
            {
                let op = op.expect("matched above");
                let written = dir
                    .args
                    .get(1)
                    .map(|old| value.replacing(old.quote))
                    .unwrap_or_else(|| value.written.clone());
                lines.push((
                    layout::concat(&[
                        b"proxy_set_header ",
                        model.bytes(dir.args[0].range.clone()),
                        format!(" {written};").as_bytes(),
                    ]),
                    op.rule,
                    op.reason.clone(),
                ));
            }
            _ => lines.push((
                model.bytes(dir.range.clone()).to_vec(),
                ops.first().map_or(RuleId::ConnectionHeader, |op| op.rule),
                copied_reason.clone(),
            )),
        }
    }
    // Removing every inherited header would leave the location defining
    // none, so it would inherit them again: write the removed ones empty.
    if lines.is_empty() {
        for op in ops {
            if let HeaderAction::Remove {
                fallback: Some(value),
            } = &op.action
            {
                if is_inherited(&op.name) {
                    lines.push(new_line(op, value));
                }
            }
        }
    }
    lines
        .into_iter()
        .map(|(text, rule, reason)| {
            let edit = layout::at_anchor(model, anchor, &text, Slot::Header);
            Change::new(rule, edit, reason).about(model.level_head(location))
        })
        .collect()
}
