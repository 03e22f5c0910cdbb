//! Unified diffs with `--- a/PATH` / `+++ b/PATH` headers, so that the
//! output applies with `git apply` and `patch -p1`.
//!
//! upkeep knows exactly which bytes it changed, so only those lines are
//! diffed: each edit is widened to whole lines, overlapping regions are
//! merged, and `similar` diffs each region's old and new lines (a few lines
//! each). The regions' operations, with the untouched lines between them as
//! equal runs, go to `similar`'s hunk grouping (three lines of context) and
//! its hunk headers. A whole-file diff would cost time quadratic in the
//! worst case, and it dominated the run time on multi-megabyte configs;
//! this stays linear in the file's size. Files are compared as bytes (a
//! file need not be UTF-8); CRLF line endings stay inside the lines, and a
//! missing final newline gets `\ No newline at end of file`.

use std::ops::Range;

use similar::udiff::UnifiedHunkHeader;
use similar::{Algorithm, DiffOp, DiffTag};

use crate::syntax::edit::{self, Edit};
use crate::syntax::source::Source;

/// Lines of context around each change, as `diff -u` and git show.
const CONTEXT: usize = 3;

/// The path as it appears after `a/` and `b/`: relative, without `./`.
pub fn display_path(path: &str) -> String {
    let trimmed = path.trim_start_matches("./").trim_start_matches('/');
    if trimmed.is_empty() || trimmed == "-" {
        "stdin".into()
    } else {
        trimmed.to_string()
    }
}

/// `prefix` + `name` as git writes it in a diff header: in double quotes
/// with C escapes when the name holds a control character, `"` or `\`
/// (git's `quote_c_style`), so that `git apply` and `patch` read the name
/// back whole. A raw newline would end the header early and point `patch`
/// at another file. Other bytes (spaces, UTF-8) stay as they are, as with
/// git's `core.quotePath=false`, which both tools read.
fn header_path(prefix: &str, name: &str) -> String {
    let needs_quotes = name
        .chars()
        .any(|c| c.is_ascii_control() || c == '"' || c == '\\');
    if !needs_quotes {
        return format!("{prefix}{name}");
    }
    let mut out = String::from("\"");
    for c in prefix.chars().chain(name.chars()) {
        match c {
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_ascii_control() => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split_inclusive(|b| *b == b'\n')
}

/// Appends `op`, joining it to the previous one when both are equal runs
/// (the hunk grouping splits only at long equal runs, so adjacent ones must
/// be one run).
fn push_op(ops: &mut Vec<DiffOp>, op: DiffOp) {
    if op.old_range().is_empty() && op.new_range().is_empty() {
        return;
    }
    if let (Some(DiffOp::Equal { len, .. }), DiffOp::Equal { len: more, .. }) = (ops.last_mut(), op)
    {
        *len += more;
        return;
    }
    ops.push(op);
}

/// The unified diff of applying `edits` (normalized) to `source`; empty
/// when nothing changes.
pub fn unified(path: &str, source: &Source, edits: &[Edit]) -> Vec<u8> {
    let text = &source.text;
    let line_count = source.line_count();

    // Widen every edit to whole lines and merge overlapping ranges: lines
    // `first..=last` and the edits (by index) inside them. Edits come
    // sorted, so their lines are found walking forward.
    let mut groups: Vec<(usize, usize, Range<usize>)> = Vec::new();
    let mut line = 0;
    for (i, e) in edits.iter().enumerate() {
        let first = source.line_index_from(line, e.range.start.min(text.len()));
        let last = if e.range.end > e.range.start {
            source.line_index_from(first, e.range.end - 1)
        } else {
            first
        };
        line = first;
        match groups.last_mut() {
            Some((_, end, group)) if first <= *end => {
                *end = (*end).max(last);
                group.end = i + 1;
            }
            _ => groups.push((first, last, i..i + 1)),
        }
    }

    // The operations over the whole file, region by region. The new lines
    // of every region are kept in one buffer: `new_lines[k]` is a range of
    // `new_text`, and `regions` says where each region's lines start in the
    // new file and in `new_lines`.
    let mut ops: Vec<DiffOp> = Vec::new();
    let mut new_text: Vec<u8> = Vec::new();
    let mut new_lines: Vec<Range<usize>> = Vec::new();
    let mut regions: Vec<(usize, usize)> = Vec::new();
    let mut old: Vec<&[u8]> = Vec::new();
    let mut scratch: Vec<u8> = Vec::new();
    let mut old_at = 0;
    let mut new_at = 0;
    for (first, last, group) in groups {
        let end_line = (last + 1).min(line_count).max(first);
        let start = source.offset_of_line(first);
        let end = source.offset_of_line(end_line);
        scratch.clear();
        edit::apply_to(&text[start..end], start, &edits[group], &mut scratch);
        old.clear();
        old.extend((first..end_line).map(|i| source.line_bytes(i)));
        let new: Vec<&[u8]> = split_lines(&scratch).collect();
        let unchanged = first - old_at;
        push_op(
            &mut ops,
            DiffOp::Equal {
                old_index: old_at,
                new_index: new_at,
                len: unchanged,
            },
        );
        new_at += unchanged;
        for op in similar::capture_diff_slices(Algorithm::Myers, &old, &new) {
            let (tag, o, n) = op.as_tag_tuple();
            let (old_index, new_index) = (first + o.start, new_at + n.start);
            push_op(
                &mut ops,
                match tag {
                    DiffTag::Equal => DiffOp::Equal {
                        old_index,
                        new_index,
                        len: o.len(),
                    },
                    DiffTag::Delete => DiffOp::Delete {
                        old_index,
                        old_len: o.len(),
                        new_index,
                    },
                    DiffTag::Insert => DiffOp::Insert {
                        old_index,
                        new_index,
                        new_len: n.len(),
                    },
                    DiffTag::Replace => DiffOp::Replace {
                        old_index,
                        old_len: o.len(),
                        new_index,
                        new_len: n.len(),
                    },
                },
            );
        }
        regions.push((new_at, new_lines.len()));
        for line in &new {
            new_lines.push(new_text.len()..new_text.len() + line.len());
            new_text.extend_from_slice(line);
        }
        old_at = end_line;
        new_at += new.len();
    }
    push_op(
        &mut ops,
        DiffOp::Equal {
            old_index: old_at,
            new_index: new_at,
            len: line_count - old_at,
        },
    );
    if ops.iter().all(|op| op.tag() == DiffTag::Equal) {
        return Vec::new();
    }

    // A new line lies in the region that starts at or before it.
    let new_line = |index: usize| -> &[u8] {
        let r = regions.partition_point(|(start, _)| *start <= index) - 1;
        let (start, lines) = regions[r];
        &new_text[new_lines[lines + index - start].clone()]
    };
    let name = display_path(path);
    let (old_name, new_name) = (header_path("a/", &name), header_path("b/", &name));
    let mut out = format!("--- {old_name}\n+++ {new_name}\n").into_bytes();
    for hunk in similar::group_diff_ops(ops, CONTEXT) {
        out.extend_from_slice(format!("{}\n", UnifiedHunkHeader::new(&hunk)).as_bytes());
        for op in &hunk {
            let (tag, old, new) = op.as_tag_tuple();
            let marker = if tag == DiffTag::Equal { b' ' } else { b'-' };
            for index in old {
                push_line(&mut out, marker, source.line_bytes(index));
            }
            if tag != DiffTag::Equal {
                for index in new {
                    push_line(&mut out, b'+', new_line(index));
                }
            }
        }
    }
    out
}

fn push_line(out: &mut Vec<u8>, marker: u8, line: &[u8]) {
    out.push(marker);
    out.extend_from_slice(line);
    if !line.ends_with(b"\n") {
        out.extend_from_slice(b"\n\\ No newline at end of file\n");
    }
}

/// ANSI colors for a rendered diff: headers bold, hunks cyan, - red, + green
/// (`crate::output::style`).
pub fn colorize(diff: &[u8]) -> Vec<u8> {
    use crate::output::style;
    let mut out = Vec::with_capacity(diff.len() + diff.len() / 8);
    for line in diff.split_inclusive(|b| *b == b'\n') {
        let style = if line.starts_with(b"---") || line.starts_with(b"+++") {
            style::DIFF_HEADER
        } else if line.starts_with(b"@@") {
            style::DIFF_HUNK
        } else if line.starts_with(b"-") {
            style::DIFF_REMOVED
        } else if line.starts_with(b"+") {
            style::DIFF_ADDED
        } else {
            out.extend_from_slice(line);
            continue;
        };
        let body_len = line.len()
            - line
                .iter()
                .rev()
                .take_while(|b| **b == b'\n' || **b == b'\r')
                .count();
        // Writing into a Vec cannot fail.
        let _ = style.write_to(&mut out);
        out.extend_from_slice(&line[..body_len]);
        let _ = style.write_reset_to(&mut out);
        out.extend_from_slice(&line[body_len..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::edit::Slot;

    fn diff(old: &str, edits: Vec<Edit>) -> String {
        let source = Source::new("t", old.as_bytes().to_vec());
        let mut edits = edits;
        edit::normalize(&mut edits).unwrap();
        String::from_utf8(unified("./conf/a.conf", &source, &edits)).unwrap()
    }

    #[test]
    fn header_paths_quoted_as_git_quotes_them() {
        assert_eq!(header_path("a/", "conf/x.conf"), "a/conf/x.conf");
        assert_eq!(header_path("a/", "a b/é.conf"), "a/a b/é.conf");
        assert_eq!(header_path("a/", "a\nb.conf"), r#""a/a\nb.conf""#);
        assert_eq!(header_path("b/", "q\"\\\t\x01"), r#""b/q\"\\\t\001""#);
    }

    #[test]
    fn insertion_after_a_line_is_a_pure_addition() {
        let d = diff("a;\nb;\nc;\n", vec![Edit::insert(2, "\nx;", Slot::First)]);
        assert_eq!(
            d,
            "--- a/conf/a.conf\n+++ b/conf/a.conf\n@@ -1,3 +1,4 @@\n a;\n+x;\n b;\n c;\n"
        );
    }

    #[test]
    fn missing_final_newline_is_marked() {
        let d = diff("a;\nb;", vec![Edit::replace(3..4, "c")]);
        assert_eq!(d, "--- a/conf/a.conf\n+++ b/conf/a.conf\n@@ -1,2 +1,2 @@\n a;\n-b;\n\\ No newline at end of file\n+c;\n\\ No newline at end of file\n");
    }

    #[test]
    fn insertion_at_the_top_and_distant_hunks() {
        let text: String = (0..20).map(|i| format!("l{i};\n")).collect();
        let d = diff(
            &text,
            vec![
                Edit::insert(0, "new;\n", Slot::First),
                Edit::replace(
                    text.find("l15").unwrap()..text.find("l15").unwrap() + 3,
                    "L15",
                ),
            ],
        );
        assert!(
            d.contains("@@ -0,0 +1 @@") || d.contains("@@ -1,3 +1,4 @@"),
            "{d}"
        );
        assert!(d.contains("@@ -13,7 +14,7 @@"), "{d}");
        assert!(unified("x", &Source::new("x", b"same".to_vec()), &[]).is_empty());
    }

    /// Changes six unchanged lines apart share a hunk (their contexts
    /// touch); seven apart they do not — as `diff -u` groups them.
    #[test]
    fn hunks_join_when_their_context_touches() {
        let text: String = (1..=30).map(|i| format!("l{i};\n")).collect();
        let at = |l: &str| text.find(l).unwrap();
        let six = diff(
            &text,
            vec![
                Edit::replace(at("l3;")..at("l3;") + 2, "L3"),
                Edit::replace(at("l10;")..at("l10;") + 3, "L10"),
            ],
        );
        assert_eq!(six.matches("@@ ").count(), 1, "{six}");
        assert!(six.contains("@@ -1,13 +1,13 @@"), "{six}");
        let seven = diff(
            &text,
            vec![
                Edit::replace(at("l3;")..at("l3;") + 2, "L3"),
                Edit::replace(at("l11;")..at("l11;") + 3, "L11"),
            ],
        );
        assert_eq!(seven.matches("@@ ").count(), 2, "{seven}");
        assert!(
            seven.contains("@@ -1,6 +1,6 @@") && seven.contains("@@ -8,7 +8,7 @@"),
            "{seven}"
        );
    }

    /// CRLF stays inside the lines, and bytes that are not UTF-8 are copied.
    #[test]
    fn crlf_and_non_utf8_lines_are_kept_as_bytes() {
        let old = b"a;\r\nx \xe9;\r\nb;\r\n".to_vec();
        let source = Source::new("t", old);
        let at = 4; // start of "x"; "x \xe9;" is four bytes
        let edits = vec![Edit::insert(at + 4, b"\r\ny;".to_vec(), Slot::First)];
        let d = unified("t", &source, &edits);
        assert_eq!(
            d,
            b"--- a/t\n+++ b/t\n@@ -1,3 +1,4 @@\n a;\r\n x \xe9;\r\n+y;\r\n b;\r\n".to_vec()
        );
    }
}
