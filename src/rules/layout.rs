//! Where new text goes and how it is laid out so that it looks as if the
//! file's author had written it: same indentation as its neighbours, the
//! file's line ending, and one-line blocks kept on one line.
//!
//! Every function returns an [`Edit`]; none decides *what* to write.

use crate::model::{DirId, LevelId, Model, Word};
use crate::syntax::edit::{Edit, Slot};

/// Inserts `text` (one directive, no indentation, no line ending) right
/// after directive `after`: on a new line with the same indentation when
/// `after` ends its line (a trailing comment stays where it is), otherwise
/// on the same line after a space.
pub fn after_directive(model: &Model, after: DirId, text: impl AsRef<[u8]>, order: Slot) -> Edit {
    let text = text.as_ref();
    let source = model.source;
    // A directive read from an included file: the new text goes into this
    // file, after the `include` (the same place in nginx's reading order).
    let dir = &model.dirs[model.anchor(after)];
    if source.ends_line(dir.range.end) && source.starts_line(dir.range.start) {
        let at = source.line_end(dir.range.end);
        let indent = source.indent_of(dir.range.start);
        Edit::insert(
            at,
            concat(&[source.eol_at(at).as_bytes(), indent.as_bytes(), text]),
            order,
        )
    } else {
        Edit::insert(dir.range.end, concat(&[b" ", text]), order)
    }
}

/// Joins byte strings: new text is built from copied bytes, which need not
/// be UTF-8.
pub fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Inserts `text` right before directive `before`: on its own line above it
/// when `before` starts its line, otherwise on the same line.
pub fn before_directive(model: &Model, before: DirId, text: impl AsRef<[u8]>, order: Slot) -> Edit {
    let text = text.as_ref();
    let source = model.source;
    let dir = &model.dirs[model.anchor(before)];
    if source.starts_line(dir.range.start) {
        let at = source.line_start(dir.range.start);
        let indent = source.indent_of(dir.range.start);
        Edit::insert(
            at,
            concat(&[indent.as_bytes(), text, source.eol_at(at).as_bytes()]),
            order,
        )
    } else {
        Edit::insert(dir.range.start, concat(&[text, b" "]), order)
    }
}

/// Inserts `text` as the last directive of a block level.
pub fn at_block_end(model: &Model, level: LevelId, text: impl AsRef<[u8]>, order: Slot) -> Edit {
    let text = text.as_ref();
    let source = model.source;
    let close = model.levels[level].close;
    let last = model.levels[level]
        .statements
        .last()
        .map(|d| model.anchor(*d));
    if source.starts_line(close) {
        let indent = match last {
            Some(d) if source.starts_line(model.dirs[d].range.start) => {
                source.indent_of(model.dirs[d].range.start)
            }
            _ => format!(
                "{}{}",
                source.indent_of(close),
                source.indent_unit_at(close)
            ),
        };
        let at = source.line_start(close);
        Edit::insert(
            at,
            concat(&[indent.as_bytes(), text, source.eol_at(at).as_bytes()]),
            order,
        )
    } else {
        // `{ a; }` → `{ a; text; }`; `{}` → `{ text; }`.
        let before_close = source.text[..close].last().copied();
        let lead = if matches!(before_close, Some(b' ') | Some(b'\t')) {
            ""
        } else {
            " "
        };
        Edit::insert(close, concat(&[lead.as_bytes(), text, b" "]), order)
    }
}

/// Removes a directive; when it is alone on its line, the whole line goes.
pub fn delete_directive(model: &Model, dir: DirId) -> Edit {
    let source = model.source;
    let range = model.dirs[dir].range.clone();
    let line_end = source.line_end(range.end);
    let rest_blank = source.text[range.end..line_end]
        .iter()
        .all(|b| *b == b' ' || *b == b'\t');
    if source.starts_line(range.start) && rest_blank {
        Edit::delete(source.line_start(range.start)..source.next_line_start(range.end))
    } else {
        let mut end = range.end;
        while matches!(source.text.get(end), Some(b' ') | Some(b'\t')) {
            end += 1;
        }
        Edit::delete(range.start..end)
    }
}

/// Inserts several directives at the settings anchor of a level: after
/// `after` when given, otherwise before the level's first statement.
pub fn at_anchor(model: &Model, anchor: Anchor, text: impl AsRef<[u8]>, order: Slot) -> Edit {
    match anchor {
        Anchor::After(dir) => after_directive(model, dir, text, order),
        Anchor::Before(dir) => before_directive(model, dir, text, order),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    After(DirId),
    Before(DirId),
}

/// Where new settings go in a location: right after its `proxy_pass`, or,
/// when the `proxy_pass` sits in an `if`/`limit_except` inside it, before
/// the location's first statement.
pub fn settings_anchor(model: &Model, level: LevelId) -> Option<Anchor> {
    settings_anchor_after(model, level, "proxy_pass")
}

/// [`settings_anchor`] for another `*_pass` directive (`fastcgi_pass`).
pub fn settings_anchor_after(model: &Model, level: LevelId, pass: &str) -> Option<Anchor> {
    let statements = &model.levels[level].statements;
    if let Some(pass) = statements.iter().find(|d| model.dirs[**d].is(pass)) {
        return Some(Anchor::After(*pass));
    }
    statements.first().map(|d| Anchor::Before(*d))
}

/// Replaces an argument's value, in the argument's own quotes when the
/// value can stay inside them, otherwise as [`word`] writes it.
pub fn replace_arg(arg: &Word, value: &str) -> Edit {
    let text = match arg.quote {
        Some(q) if !value.contains(q) && !value.contains('\\') => format!("{q}{value}{q}"),
        _ => crate::syntax::word::word(value),
    };
    Edit::replace(arg.range.clone(), text)
}
