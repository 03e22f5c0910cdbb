//! Unified diffs with `--- a/PATH` / `+++ b/PATH` headers, so that the
//! output applies with `git apply` and `patch -p1`.
//!
//! upkeep knows exactly which bytes it changed, so the diff is built from
//! the edits instead of by a generic diff algorithm (which is quadratic in
//! the worst case and dominated the run time on multi-megabyte configs):
//! each edit is widened to whole lines, overlapping regions are merged,
//! lines that are the same at the start and end of a region are trimmed
//! (so an inserted directive shows as a pure `+` line), and regions whose
//! three lines of context touch share a hunk. Files are compared as bytes
//! (a file need not be UTF-8); CRLF line endings stay inside the lines, and
//! a missing final newline gets `\ No newline at end of file`.

use crate::edit::{self, Edit};
use crate::source::Source;

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

/// One changed run of lines: old lines `old_start..old_start + old.len()`
/// (0-based) become `new`.
struct Region<'a> {
    old_start: usize,
    old: Vec<&'a [u8]>,
    new: Vec<Vec<u8>>,
}

fn split_lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split_inclusive(|b| *b == b'\n').collect()
}

/// The unified diff of applying `edits` (normalized, non-empty result) to
/// `source`; empty when nothing changes.
pub fn unified(path: &str, source: &Source, edits: &[Edit]) -> Vec<u8> {
    let text = &source.text;
    let lines = split_lines(text);
    let line_of = |offset: usize| source.line_col(offset).0 - 1;

    // Widen every edit to whole lines and merge overlapping ranges.
    let mut groups: Vec<(usize, usize, Vec<Edit>)> = Vec::new();
    for e in edits {
        let first = line_of(e.range.start.min(text.len()));
        let last = if e.range.end > e.range.start {
            line_of(e.range.end - 1)
        } else {
            first
        };
        match groups.last_mut() {
            Some((_, end, group)) if first <= *end => {
                *end = (*end).max(last);
                group.push(e.clone());
            }
            _ => groups.push((first, last, vec![e.clone()])),
        }
    }

    let mut regions: Vec<Region> = Vec::new();
    for (first, last, group) in groups {
        let last = last.min(lines.len().saturating_sub(1));
        let start = source.offset_of_line(first);
        let end = source.offset_of_line(last) + lines.get(last).map_or(0, |l| l.len());
        let shifted: Vec<Edit> = group
            .into_iter()
            .map(|mut e| {
                e.range = e.range.start - start..e.range.end - start;
                e
            })
            .collect();
        let new_bytes = edit::apply(&text[start..end], &shifted);
        let old: Vec<&[u8]> = if lines.is_empty() {
            Vec::new()
        } else {
            lines[first..=last].to_vec()
        };
        let new: Vec<Vec<u8>> = split_lines(&new_bytes)
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        // Trim lines that did not change at both ends.
        let mut lead = 0;
        while lead < old.len() && lead < new.len() && old[lead] == new[lead].as_slice() {
            lead += 1;
        }
        let mut trail = 0;
        while trail < old.len() - lead
            && trail < new.len() - lead
            && old[old.len() - 1 - trail] == new[new.len() - 1 - trail].as_slice()
        {
            trail += 1;
        }
        if lead == old.len() && lead == new.len() {
            continue;
        }
        regions.push(Region {
            old_start: first + lead,
            old: old[lead..old.len() - trail].to_vec(),
            new: new[lead..new.len() - trail].to_vec(),
        });
    }
    if regions.is_empty() {
        return Vec::new();
    }

    let name = display_path(path);
    let mut out = format!("--- a/{name}\n+++ b/{name}\n").into_bytes();
    // Old-to-new line offset before each region.
    let mut delta: isize = 0;
    let mut i = 0;
    while i < regions.len() {
        // Regions whose context windows touch share one hunk.
        let mut j = i;
        while j + 1 < regions.len()
            && regions[j + 1].old_start <= regions[j].old_start + regions[j].old.len() + 2 * CONTEXT
        {
            j += 1;
        }
        let hunk_old_start = regions[i].old_start.saturating_sub(CONTEXT);
        let last = &regions[j];
        let hunk_old_end = (last.old_start + last.old.len() + CONTEXT).min(lines.len());
        let mut body: Vec<u8> = Vec::new();
        let (mut old_count, mut new_count) = (0usize, 0usize);
        let new_start = (hunk_old_start as isize + delta) as usize;
        let mut cursor = hunk_old_start;
        for region in &regions[i..=j] {
            for line in &lines[cursor..region.old_start] {
                push_line(&mut body, b' ', line);
                old_count += 1;
                new_count += 1;
            }
            for line in &region.old {
                push_line(&mut body, b'-', line);
                old_count += 1;
            }
            for line in &region.new {
                push_line(&mut body, b'+', line);
                new_count += 1;
            }
            delta += region.new.len() as isize - region.old.len() as isize;
            cursor = region.old_start + region.old.len();
        }
        for line in &lines[cursor..hunk_old_end] {
            push_line(&mut body, b' ', line);
            old_count += 1;
            new_count += 1;
        }
        out.extend_from_slice(
            format!(
                "@@ -{} +{} @@\n",
                range_text(hunk_old_start, old_count),
                range_text(new_start, new_count)
            )
            .as_bytes(),
        );
        out.extend_from_slice(&body);
        i = j + 1;
    }
    out
}

/// `start,count` as unified diffs write it (1-based; the line before when
/// the count is 0).
fn range_text(start: usize, count: usize) -> String {
    if count == 0 {
        format!("{start},0")
    } else if count == 1 {
        format!("{}", start + 1)
    } else {
        format!("{},{count}", start + 1)
    }
}

fn push_line(out: &mut Vec<u8>, marker: u8, line: &[u8]) {
    out.push(marker);
    out.extend_from_slice(line);
    if !line.ends_with(b"\n") {
        out.extend_from_slice(b"\n\\ No newline at end of file\n");
    }
}

/// ANSI colors for a rendered diff: headers bold, hunks cyan, - red, + green.
pub fn colorize(diff: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(diff.len() + diff.len() / 8);
    for line in diff.split_inclusive(|b| *b == b'\n') {
        let style: &[u8] = if line.starts_with(b"---") || line.starts_with(b"+++") {
            b"\x1b[1m"
        } else if line.starts_with(b"@@") {
            b"\x1b[36m"
        } else if line.starts_with(b"-") {
            b"\x1b[31m"
        } else if line.starts_with(b"+") {
            b"\x1b[32m"
        } else {
            b""
        };
        if style.is_empty() {
            out.extend_from_slice(line);
            continue;
        }
        let body_len = line.len()
            - line
                .iter()
                .rev()
                .take_while(|b| **b == b'\n' || **b == b'\r')
                .count();
        out.extend_from_slice(style);
        out.extend_from_slice(&line[..body_len]);
        out.extend_from_slice(b"\x1b[0m");
        out.extend_from_slice(&line[body_len..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::Slot;

    fn diff(old: &str, edits: Vec<Edit>) -> String {
        let source = Source::new("t", old.as_bytes().to_vec());
        let mut edits = edits;
        edit::normalize(&mut edits).unwrap();
        String::from_utf8(unified("./conf/a.conf", &source, &edits)).unwrap()
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
}
