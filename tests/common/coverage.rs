//! Independent checks that a rewrite's reported changes account for every
//! difference between input and output, using only the byte ranges the
//! changes name in the input (never their text, upkeep's edits or its diff
//! module): every changed line is covered (`uncovered`, with a line diff
//! computed here, Myers' algorithm, to show where), and every byte outside
//! the ranges is kept (`kept_outside`).

use std::collections::BTreeSet;
use std::ops::Range;

/// Lines end at LF only (as nginx reads them); each keeps its LF, so a
/// changed line ending or a missing final newline is a changed line too.
fn lines(text: &[u8]) -> Vec<&[u8]> {
    text.split_inclusive(|&b| b == b'\n').collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Same,
    Delete,
    Insert,
}

/// A shortest edit script from `a` to `b` (Myers, "An O(ND) difference
/// algorithm and its variations", 1986), as one op per line.
fn myers(a: &[&[u8]], b: &[&[u8]]) -> Vec<Op> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = n + m;
    let offset = max + 1;
    let at = |k: isize| (k + offset) as usize;
    let mut v = vec![0isize; 2 * max as usize + 3];
    let mut trace: Vec<Vec<isize>> = Vec::new();
    'search: for d in 0..=max {
        trace.push(v.clone());
        let mut k = -d;
        while k <= d {
            let mut x = if k == -d || (k != d && v[at(k - 1)] < v[at(k + 1)]) {
                v[at(k + 1)]
            } else {
                v[at(k - 1)] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[at(k)] = x;
            if x >= n && y >= m {
                break 'search;
            }
            k += 2;
        }
    }
    // Walk back from (n, m) through the saved frontiers.
    let mut ops = Vec::new();
    let (mut x, mut y) = (n, m);
    for (d, v) in trace.iter().enumerate().rev() {
        let d = d as isize;
        let k = x - y;
        let prev_k = if k == -d || (k != d && v[at(k - 1)] < v[at(k + 1)]) {
            k + 1
        } else {
            k - 1
        };
        let prev_x = v[at(prev_k)];
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            ops.push(Op::Same);
            x -= 1;
            y -= 1;
        }
        if d > 0 {
            ops.push(if x == prev_x { Op::Insert } else { Op::Delete });
        }
        x = prev_x;
        y = prev_y;
    }
    ops.reverse();
    ops
}

/// One run of changed lines: input lines `old` (0-based, half-open) were
/// replaced by output lines `new`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    pub old: Range<usize>,
    pub new: Range<usize>,
}

/// The hunks of an independent line diff of `old` against `new`.
pub fn hunks(old: &[u8], new: &[u8]) -> Vec<Hunk> {
    let (a, b) = (lines(old), lines(new));
    let ops = myers(&a, &b);
    // The script must rebuild `new` from `old`, or the diff itself is wrong.
    let (mut i, mut j) = (0, 0);
    for op in &ops {
        match op {
            Op::Same => {
                assert_eq!(a[i], b[j], "line diff: a kept line differs");
                i += 1;
                j += 1;
            }
            Op::Delete => i += 1,
            Op::Insert => j += 1,
        }
    }
    assert_eq!((i, j), (a.len(), b.len()), "line diff: script incomplete");

    let mut hunks: Vec<Hunk> = Vec::new();
    let (mut i, mut j) = (0, 0);
    let mut open: Option<Hunk> = None;
    for op in ops {
        match op {
            Op::Same => {
                hunks.extend(open.take());
                i += 1;
                j += 1;
            }
            Op::Delete | Op::Insert => {
                let h = open.get_or_insert(Hunk {
                    old: i..i,
                    new: j..j,
                });
                if op == Op::Delete {
                    i += 1;
                    h.old.end = i;
                } else {
                    j += 1;
                    h.new.end = j;
                }
            }
        }
    }
    hunks.extend(open);
    hunks
}

/// A changed region no reported change accounts for, with 1-based input
/// line numbers: `lines` were removed or replaced, or (when empty) output
/// lines were inserted between input lines `lines.start - 1` and
/// `lines.start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uncovered {
    pub lines: Range<usize>,
    pub removed: Vec<String>,
    pub added: Vec<String>,
}

impl std::fmt::Display for Uncovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (first, last) = (self.lines.start, self.lines.end.saturating_sub(1));
        if self.lines.is_empty() {
            write!(f, "lines inserted before input line {first}")?;
        } else if first == last {
            write!(f, "input line {first} changed")?;
        } else {
            write!(f, "input lines {first}-{last} changed")?;
        }
        for l in &self.removed {
            write!(f, "\n  -{}", l.trim_end_matches(['\n', '\r']))?;
        }
        for l in &self.added {
            write!(f, "\n  +{}", l.trim_end_matches(['\n', '\r']))?;
        }
        Ok(())
    }
}

/// The 0-based input lines the reported byte ranges touch. A replacement
/// or deletion covers every line it has bytes on; an insertion covers the
/// line it lands in and, at the start of a line, the line before (it goes
/// between the two).
fn covered_lines(old: &[u8], ranges: &[Range<usize>]) -> BTreeSet<usize> {
    let line_of = |offset: usize| old[..offset].iter().filter(|&&b| b == b'\n').count();
    let mut covered = BTreeSet::new();
    for r in ranges {
        assert!(
            r.start <= r.end && r.end <= old.len(),
            "a reported change has range {r:?} outside the {}-byte input",
            old.len()
        );
        if r.is_empty() {
            let line = line_of(r.start);
            covered.insert(line);
            if line > 0 && old[r.start - 1] == b'\n' {
                covered.insert(line - 1);
            }
        } else {
            covered.extend(line_of(r.start)..=line_of(r.end - 1));
        }
    }
    covered
}

/// Whether `new` can be made from `old` by changing, removing and
/// inserting next to `covered` lines only: the runs of uncovered lines must
/// all be in `new`, in order, whole, the first at the start and the last at
/// the end unless a covered line is there (a glob of literal line runs and
/// `*`s, matched leftmost, which finds a match when one exists).
fn explained(a: &[&[u8]], b: &[&[u8]], covered: &BTreeSet<usize>) -> bool {
    if a.is_empty() {
        // Only an insertion at offset 0 (covering "line 0") may add lines.
        return b.is_empty() || covered.contains(&0);
    }
    // Runs of uncovered lines, as input line ranges.
    let mut runs: Vec<Range<usize>> = Vec::new();
    for i in (0..a.len()).filter(|i| !covered.contains(i)) {
        match runs.last_mut() {
            Some(run) if run.end == i => run.end = i + 1,
            _ => runs.push(i..i + 1),
        }
    }
    if runs.len() == 1 && runs[0] == (0..a.len()) {
        return a == b; // nothing is covered
    }
    let (mut lo, mut hi) = (0, b.len());
    let mut middle = &runs[..];
    if let Some(head) = middle.first().filter(|r| r.start == 0) {
        if !b.starts_with(&a[head.clone()]) {
            return false;
        }
        lo = head.len();
        middle = &middle[1..];
    }
    if let Some(tail) = middle.last().filter(|r| r.end == a.len()) {
        if !b[lo..].ends_with(&a[tail.clone()]) {
            return false;
        }
        hi = b.len() - tail.len();
        middle = &middle[..middle.len() - 1];
    }
    for run in middle {
        let run = &a[run.clone()];
        match b[lo..hi].windows(run.len()).position(|w| w == run) {
            Some(found) => lo += found + run.len(),
            None => return false,
        }
    }
    true
}

/// Every changed region of `old` → `new` that the reported byte ranges
/// (positions in `old`) do not cover; empty when all are covered.
///
/// The verdict does not depend on how one line diff happens to align equal
/// lines: the changes count as covering the rewrite when some alignment
/// has every changed line covered (`explained`). Only when none has are the
/// uncovered hunks of this file's line diff reported, to show where.
pub fn uncovered(old: &[u8], new: &[u8], ranges: &[Range<usize>]) -> Vec<Uncovered> {
    let (a, b) = (lines(old), lines(new));
    let covered = covered_lines(old, ranges);
    if explained(&a, &b, &covered) {
        return Vec::new();
    }
    let is_covered = |h: &Hunk| {
        if h.old.is_empty() {
            // Inserted between input lines start - 1 and start.
            let p = h.old.start;
            covered.contains(&p) || (p > 0 && covered.contains(&(p - 1)))
        } else {
            h.old.clone().all(|l| covered.contains(&l))
        }
    };
    let text = |l: &[u8]| String::from_utf8_lossy(l).into_owned();
    let out: Vec<Uncovered> = hunks(old, new)
        .into_iter()
        .filter(|h| !is_covered(h))
        .map(|h| Uncovered {
            lines: h.old.start + 1..h.old.end + 1,
            removed: a[h.old.clone()].iter().map(|l| text(l)).collect(),
            added: b[h.new.clone()].iter().map(|l| text(l)).collect(),
        })
        .collect();
    // A diff whose hunks are all covered is itself such an alignment.
    assert!(
        !out.is_empty(),
        "coverage: no alignment explains the rewrite, yet every hunk is covered"
    );
    out
}

/// Whether every input byte outside the reported ranges is in the output,
/// in order, with only the ranges' replacements between: the output must
/// match the input's kept pieces with anything at each range (a glob of
/// literal pieces and `*`s, matched leftmost, which finds a match when one
/// exists). Uses the ranges only, never the edits' text. On failure, the
/// input offset of the first piece that cannot be found.
pub fn kept_outside(old: &[u8], new: &[u8], ranges: &[Range<usize>]) -> Result<(), usize> {
    let mut ranges = ranges.to_vec();
    ranges.sort_by_key(|r| (r.start, r.end));
    // The kept pieces of the input, with their offsets.
    let mut pieces: Vec<(usize, &[u8])> = Vec::new();
    let mut cursor = 0;
    for r in &ranges {
        if r.start >= cursor {
            pieces.push((cursor, &old[cursor..r.start]));
        }
        cursor = cursor.max(r.end);
    }
    pieces.push((cursor, &old[cursor..]));
    if pieces.len() == 1 {
        return if old == new { Ok(()) } else { Err(0) };
    }
    let last = pieces.len() - 1;
    // The first piece is anchored at the start, the last at the end.
    let (_, first) = pieces[0];
    if !new.starts_with(first) {
        return Err(0);
    }
    let (last_at, last_piece) = pieces[last];
    if !new.ends_with(last_piece) || new.len() - last_piece.len() < first.len() {
        return Err(last_at);
    }
    let end = new.len() - last_piece.len();
    let mut at = first.len();
    for &(offset, piece) in &pieces[1..last] {
        if piece.is_empty() {
            continue;
        }
        match new[at..end].windows(piece.len()).position(|w| w == piece) {
            Some(found) => at += found + piece.len(),
            None => return Err(offset),
        }
    }
    Ok(())
}
