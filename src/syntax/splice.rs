//! The verification re-parse of a file with edits all over it, statement
//! by statement: only the statements an edit touches are parsed again, and
//! the rest of the file keeps the original tree, its positions carried
//! over to the new text.
//!
//! A *region* is a run of statements of one list (the file's top level or
//! a block's body) that the edits touch, from the end of the untouched
//! directive before it (or where the list starts) to the start of the
//! untouched directive after it (or where the list ends). Comments next to
//! a touched statement belong to its region. An edit inside a block whose
//! head it leaves alone belongs to a region of that block's list; any
//! other edit makes its whole statement part of a region. The regions'
//! new texts are then parsed one after another with a newline after each
//! ([`Region::parsed`] says where each starts), in two pieces on two cores
//! when there is enough of them ([`Piece`]).
//! tree-sitter's included ranges would keep the new text's positions, but
//! took 88 ms where this takes 52 (1.9 MB of regions in a 4 MB output):
//! its lexer looks for its range among all of them at every jump.
//!
//! Why this is the parse of the whole new text: nginx's grammar reads a
//! list as statements one after another, whatever the list is in, and each
//! region starts where a fresh token starts (after `;`, `}`, `{` or at the
//! file's start) and ends where an untouched directive's first word does.
//! What could still differ is checked, and any doubt gives `None` (the
//! caller parses the whole text): the regions parse without an error,
//! every statement lies inside its region (nothing joined two regions),
//! a region does not end in a comment that would read on into the text
//! after it, nginx's tokenizer accepts every region at its depth, and the
//! text between regions is byte for byte the original's.
//!
//! What the new tree's reader must know: a statement of the original tree
//! keeps its original positions and rows; [`new_offset`] carries a
//! position over, and rows are not to be compared (an edit in a block may
//! have added lines: read the text instead). The tree-sitter neighbours of a region's first and
//! last statements (`prev_sibling`, `next_sibling`) are the other regions'
//! statements, not the untouched ones around them.

use std::ops::Range;
use std::sync::Arc;

use tree_sitter::{Node, Tree, TreeCursor};

use crate::syntax::edit::Edit;
use crate::syntax::parse;
use crate::syntax::source::Source;

/// Statements of one list that the edits touch, before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// In the original text.
    pub old: Range<usize>,
    /// In the new text.
    pub new: Range<usize>,
    /// The blocks around the list (0 at the file's top level).
    pub depth: usize,
    /// The piece its statements were parsed in.
    pub piece: usize,
    /// Where its new text starts in the piece's text.
    pub parsed: usize,
}

impl Region {
    /// Where `at`, a position of the fragments' text in this region, is in
    /// the new text.
    pub fn to_new(&self, at: usize) -> usize {
        at - self.parsed + self.new.start
    }
}

/// An edited file's syntax: the original tree, and the regions' statements
/// parsed from the new text.
#[derive(Debug, Clone)]
pub struct Spliced {
    /// The file's tree before the edits (positions of the original text).
    pub original: Tree,
    /// The regions' statements, parsed in pieces.
    pub pieces: Vec<Piece>,
    /// Sorted, apart.
    pub regions: Arc<[Region]>,
}

/// Some regions' statements: the regions' new texts one after another, a
/// newline after each, and their tree.
#[derive(Debug, Clone)]
pub struct Piece {
    /// The statements.
    pub tree: Tree,
    /// What they were parsed from.
    pub text: Vec<u8>,
}

/// Which side of a position of the original text is meant where an
/// insertion lands on it: a token that starts there comes after the
/// inserted text, one that ends there before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// Where a token starts.
    Start,
    /// Where a token ends.
    End,
}

/// Where `old`, a position of the original text outside every region's
/// inside, is in the new text.
pub fn new_offset(regions: &[Region], old: usize, edge: Edge) -> usize {
    new_offset_near(regions, old, edge, 0).0
}

/// [`new_offset`], and how many regions come before `old`; `hint` is
/// where to look first (the previous answer's count: a walk in reading
/// order asks about the same region or the next, and a search over
/// thousands of regions for every word cost a third of the walk).
pub fn new_offset_near(regions: &[Region], old: usize, edge: Edge, hint: usize) -> (usize, usize) {
    let is_before = |r: &Region| match edge {
        Edge::Start => r.old.end <= old,
        // Past a region that ends here, not past text put here.
        Edge::End => r.old.end < old || (r.old.end == old && !r.old.is_empty()),
    };
    let is_count = |k: usize| {
        (k == 0 || is_before(&regions[k - 1])) && regions.get(k).is_none_or(|r| !is_before(r))
    };
    let before = if hint <= regions.len() && is_count(hint) {
        hint
    } else if hint < regions.len() && is_count(hint + 1) {
        hint + 1
    } else {
        regions.partition_point(is_before)
    };
    let new = match before.checked_sub(1) {
        None => old,
        Some(i) => old - regions[i].old.end + regions[i].new.end,
    };
    (new, before)
}

/// Where `at`, a position of piece `piece`'s text, is in the new text.
pub fn from_fragments(regions: &[Region], piece: usize, at: usize) -> usize {
    let i = regions
        .partition_point(|r| r.piece < piece || (r.piece == piece && r.parsed + r.new.len() <= at));
    regions[i].to_new(at)
}

/// Whether `old`, where a statement of the original text starts, is in a
/// region (the statement is replaced by what the region reads).
pub fn replaced(regions: &[Region], old: usize) -> bool {
    let i = regions.partition_point(|r| r.old.end <= old);
    regions.get(i).is_some_and(|r| r.old.start <= old)
}

/// The region that starts at `old` (the end of a statement, or where a
/// list's statements start), if any.
pub fn region_from(regions: &[Region], old: usize) -> Option<usize> {
    let i = regions.partition_point(|r| r.old.start < old);
    (regions.get(i)?.old.start == old).then_some(i)
}

impl Spliced {
    /// A cursor on the first statement of region `i`; `None` when its new
    /// text holds none.
    pub fn statements(&self, i: usize) -> Option<TreeCursor<'_>> {
        let region = &self.regions[i];
        let mut cursor = self.pieces[region.piece].tree.walk();
        cursor.goto_first_child_for_byte(region.parsed)?;
        self.in_region(i, cursor.node()).then_some(cursor)
    }

    /// Whether `node`, a statement of the fragments' top level, is one of
    /// region `i`.
    pub fn in_region(&self, i: usize, node: Node) -> bool {
        let r = &self.regions[i];
        node.start_byte() < r.parsed + r.new.len()
    }
}

/// A run of touched statements of one list: children `lo..hi` (`lo == hi`
/// for text put between two of them).
struct Touched {
    lo: usize,
    hi: usize,
}

/// A list with edits in it: the root or a block's body.
struct List<'t> {
    node: Node<'t>,
    /// Where its statements may be: after `{` and before `}`.
    inside: Range<usize>,
    depth: usize,
    edits: Range<usize>,
}

/// The regions of `tree` (of `old`) that `edits` (normalized: sorted, apart)
/// touch, their statements parsed from `new` (the text the edits make);
/// `None` where the statements cannot be shown to parse as they would in
/// the whole new text.
pub fn splice(old: &[u8], tree: &Tree, edits: &[Edit], new: &Source) -> Option<Spliced> {
    if edits.is_empty() {
        return None;
    }
    let mut regions = touched_regions(old, tree, edits)?;
    regions.sort_by_key(|r| r.old.start);
    // Each edit in the region around it; the new ranges follow.
    let mut grown: isize = 0;
    let mut next_edit = 0;
    for r in &mut regions {
        let mut own: isize = 0;
        while let Some(e) = edits.get(next_edit) {
            if e.range.start >= r.old.end && !(e.range.is_empty() && e.range.start == r.old.end) {
                break;
            }
            if e.range.start < r.old.start || e.range.end > r.old.end {
                return None;
            }
            own += e.text.len() as isize - e.range.len() as isize;
            next_edit += 1;
        }
        let start = (r.old.start as isize + grown) as usize;
        let end = (r.old.end as isize + grown + own) as usize;
        r.new = start..end;
        grown += own;
    }
    if next_edit != edits.len() || new.text.len() as isize != old.len() as isize + grown {
        return None;
    }
    let new_text = &new.text[..];
    // The text between regions is the original's.
    let mut old_at = 0;
    let mut new_at = 0;
    for r in regions.iter() {
        if old[old_at..r.old.start] != new_text[new_at..r.new.start] {
            return None;
        }
        old_at = r.old.end;
        new_at = r.new.end;
    }
    if old[old_at..] != new_text[new_at..] {
        return None;
    }
    // Two pieces when there is enough to parse: at the region where half
    // the new text is behind.
    // A byte-order mark is read at the file's start, whatever region (or
    // none) starts there.
    if new.text.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return None;
    }
    let total: usize = regions.iter().map(|r| r.new.len()).sum();
    let split = if crate::par::worth_splitting(total) {
        let mut behind = 0;
        regions
            .iter()
            .position(|r| {
                behind += r.new.len();
                behind * 2 >= total
            })
            .map_or(regions.len(), |i| i + 1)
    } else {
        regions.len()
    };
    let (first, second) = regions.split_at_mut(split);
    let (a, b) = crate::par::join(
        !second.is_empty(),
        || piece(first, 0, new),
        || piece(second, 1, new),
    );
    let mut pieces = vec![a?];
    if !second.is_empty() {
        pieces.push(b?);
    }
    Some(Spliced {
        original: tree.clone(),
        pieces,
        regions: regions.into(),
    })
}

/// The statements of `regions` (noting in each that they are piece
/// `number`, and where), if nginx's tokenizer and the whole text's parse
/// would read them so.
fn piece(regions: &mut [Region], number: usize, new: &Source) -> Option<Piece> {
    let new_text = &new.text[..];
    // What nginx's tokenizer and the file checks read in each region.
    for r in regions.iter() {
        let text = &new_text[r.new.clone()];
        if text.contains(&0) || parse::tokens_rejected(text, r.depth) {
            return None;
        }
    }
    // One parse of the regions' texts one after another, each ended by a
    // newline (a statement that ran on into the next region shows as one
    // that crosses its end).
    let mut text = Vec::with_capacity(regions.iter().map(|r| r.new.len() + 1).sum());
    for r in regions.iter_mut() {
        r.piece = number;
        r.parsed = text.len();
        text.extend_from_slice(&new_text[r.new.clone()]);
        text.push(b'\n');
    }
    let tree = parse::parse_tree(&text);
    fits(&tree, regions, new_text).then_some(Piece { tree, text })
}

/// Whether the regions' statements are what the whole new text reads:
/// no error, each statement inside its region, and no region ending in a
/// comment that the text after it would continue.
fn fits(tree: &Tree, regions: &[Region], new_text: &[u8]) -> bool {
    let root = tree.root_node();
    if root.has_error() {
        return false;
    }
    // Every statement inside one region; none ends a region with a
    // comment the text after the region would continue.
    let mut cursor = root.walk();
    let mut i = 0;
    for node in root.children(&mut cursor) {
        while regions
            .get(i)
            .is_some_and(|r| r.parsed + r.new.len() <= node.start_byte())
        {
            i += 1;
        }
        let Some(r) = regions.get(i) else {
            return false;
        };
        let end = r.parsed + r.new.len();
        if node.start_byte() < r.parsed || node.end_byte() > end {
            return false;
        }
        // A comment reads to the end of its line: one that a region ends
        // in would read on into what follows it.
        if node.is_extra()
            && (node.end_byte() >= end || new_text.get(r.to_new(node.end_byte())) != Some(&b'\n'))
        {
            return false;
        }
    }
    true
}

/// The regions the edits touch, in original positions (their new ranges
/// still empty), in no particular order.
fn touched_regions(old: &[u8], tree: &Tree, edits: &[Edit]) -> Option<Vec<Region>> {
    let mut out = Vec::new();
    let mut lists = vec![List {
        node: tree.root_node(),
        inside: 0..old.len(),
        depth: 0,
        edits: 0..edits.len(),
    }];
    while let Some(list) = lists.pop() {
        let mut cursor = list.node.walk();
        let children: Vec<Node> = list
            .node
            .named_children(&mut cursor)
            .filter(|n| n.kind() != "block")
            .collect();
        let is_comment = |i: usize| children[i].is_extra();
        let mut touched: Vec<Touched> = Vec::new();
        // Per child, the edits inside its block's body.
        let mut inner: Vec<(usize, Range<usize>)> = Vec::new();
        let mut last_body: Option<(usize, Option<Range<usize>>)> = None;
        for k in list.edits.clone() {
            let e = &edits[k].range;
            let i = children.partition_point(|c| c.end_byte() <= e.start);
            let j = if e.is_empty() {
                if children.get(i).is_some_and(|c| c.start_byte() < e.start) {
                    i + 1
                } else {
                    i
                }
            } else {
                children.partition_point(|c| c.start_byte() < e.end)
            };
            if j == i + 1 {
                // The edits of one child come one after another: its body
                // is looked up once (a field lookup walks its children).
                let body = match &last_body {
                    Some((child, body)) if *child == i => body.clone(),
                    _ => {
                        let body = body_of(children[i]);
                        last_body = Some((i, body.clone()));
                        body
                    }
                };
                if let Some(body) = body {
                    if body.start <= e.start && e.end <= body.end {
                        match inner.last_mut() {
                            Some((child, edits)) if *child == i => edits.end = k + 1,
                            _ => inner.push((i, k..k + 1)),
                        }
                        continue;
                    }
                }
            }
            touched.push(Touched { lo: i, hi: j });
        }
        // Comments next to a touched statement go with it; runs that meet
        // are one region.
        let mut runs: Vec<Touched> = Vec::new();
        for mut t in touched {
            while t.lo > 0 && is_comment(t.lo - 1) {
                t.lo -= 1;
            }
            while t.hi < children.len() && is_comment(t.hi) {
                t.hi += 1;
            }
            match runs.last_mut() {
                Some(last) if t.lo <= last.hi => last.hi = last.hi.max(t.hi),
                _ => runs.push(t),
            }
        }
        for run in &runs {
            let start = match run.lo {
                0 => list.inside.start,
                lo => children[lo - 1].end_byte(),
            };
            let end = match children.get(run.hi) {
                Some(next) => next.start_byte(),
                None => list.inside.end,
            };
            out.push(Region {
                old: start..end,
                new: 0..0,
                depth: list.depth,
                piece: 0,
                parsed: 0,
            });
        }
        for (child, edits) in inner {
            // A statement of a region is parsed whole, whatever is inside.
            if runs.iter().any(|r| r.lo <= child && child < r.hi) {
                continue;
            }
            let block = children[child].child_by_field_name("block")?;
            let body = body_of(children[child])?;
            lists.push(List {
                node: block,
                inside: body,
                depth: list.depth + 1,
                edits,
            });
        }
    }
    // Lists are visited depth first, so a region can only meet another of
    // its own list (merged above).
    Some(out)
}

/// Where the statements of a directive's block may be: after its `{`, up
/// to its `}`. `None` for a directive without a block, or one whose block
/// is Lua code.
fn body_of(directive: Node) -> Option<Range<usize>> {
    if directive.kind() != "directive" {
        return None;
    }
    let block = directive.child_by_field_name("block")?;
    Some(block.start_byte() + 1..block.end_byte() - 1)
}

/// The cases against a whole parse are in `tests/splice.rs`.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_outside_regions_carry_over() {
        let regions = [
            Region {
                old: 10..20,
                new: 10..25,
                depth: 0,
                piece: 0,
                parsed: 0,
            },
            Region {
                old: 30..30,
                new: 35..40,
                depth: 0,
                piece: 0,
                parsed: 16,
            },
        ];
        assert_eq!(new_offset(&regions, 5, Edge::Start), 5);
        assert_eq!(new_offset(&regions, 20, Edge::Start), 25);
        assert_eq!(new_offset(&regions, 20, Edge::End), 25);
        // Text put at 30 comes after a statement that ends there, before
        // one that starts there.
        assert_eq!(new_offset(&regions, 30, Edge::End), 35);
        assert_eq!(new_offset(&regions, 30, Edge::Start), 40);
        assert_eq!(region_from(&regions, 30), Some(1));
        assert_eq!(region_from(&regions, 20), None);
    }
}
