//! A configuration file as bytes, with the facts every later stage asks for:
//! where lines start, which line ending and indentation the file uses, and
//! how a byte offset maps to a line and column.
//!
//! Lines and columns are 1-based. Columns count **bytes**, not characters:
//! nginx configs are mostly ASCII, tree-sitter reports bytes, and a byte
//! column stays exact for files that are not valid UTF-8.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

/// One segment of a unit's joined text (see `model::workspace`): one
/// inclusion of one file, by its place among the segments. A plain file's
/// text is its only segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentId(u32);

impl SegmentId {
    pub fn index(self) -> usize {
        self.0 as usize
    }

    pub fn from_index(i: usize) -> SegmentId {
        SegmentId(u32::try_from(i).expect("fewer than 2^32 segments"))
    }
}

/// Bytes between two checkpoints of [`Source::char_column`]'s index.
const CHAR_BLOCK: usize = 1024;

/// One input file (or standard input) held in memory.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as the user named it (`-` for standard input).
    pub path: String,
    /// The bytes as read.
    pub text: Vec<u8>,
    line_starts: Vec<usize>,
    /// `"\r\n"` when the file's first line ends that way, else `"\n"`.
    pub eol: &'static str,
    /// One level of indentation: a tab, or the most common indentation
    /// step. Found on first use: only an inserted line asks, and reading
    /// every line of a large file for it cost 2 % of a run that inserts
    /// nothing into most of its files.
    indent_unit: OnceLock<String>,
    /// For a unit's joined text (see `workspace`): where each file's bytes
    /// start, and that file's own `Source` (whose line ending and
    /// indentation new text in it follows), by start.
    parts: Vec<(usize, Arc<Source>)>,
    /// Characters before every `CHAR_BLOCK`-th byte, built on the first
    /// [`Source::char_column`]: a column on a megabyte-long line costs one
    /// block, not the line (22,000 locations on one line were quadratic).
    char_index: OnceLock<Vec<u32>>,
}

impl Source {
    /// A text read from `path`.
    pub fn new(path: impl Into<String>, text: Vec<u8>) -> Self {
        // A line per 30 bytes or so in a config: reserved once, not grown.
        let mut line_starts = Vec::with_capacity(text.len() / 24 + 1);
        line_starts.push(0);
        line_starts.extend(memchr::memchr_iter(b'\n', &text).map(|i| i + 1));
        let eol = match memchr::memchr(b'\n', &text) {
            Some(i) if i > 0 && text[i - 1] == b'\r' => "\r\n",
            _ => "\n",
        };
        Source {
            path: path.into(),
            text,
            line_starts,
            eol,
            indent_unit: OnceLock::new(),
            parts: Vec::new(),
            char_index: OnceLock::new(),
        }
    }

    /// The joined text of several files: `parts` are, in order, where each
    /// file's bytes start and that file's own `Source` (whose line ending
    /// and indentation new text in it follows).
    pub fn joined(
        path: impl Into<String>,
        text: Vec<u8>,
        parts: Vec<(usize, Arc<Source>)>,
    ) -> Self {
        let mut source = Source::new(path, text);
        source.parts = parts;
        source
    }

    /// One level of indentation of this text (for a joined text, see
    /// [`Source::indent_unit_at`]).
    pub fn indent_unit(&self) -> &str {
        self.indent_unit
            .get_or_init(|| detect_indent_unit(&self.text))
    }

    /// The line ending of the file that holds `offset`.
    pub fn eol_at(&self, offset: usize) -> &'static str {
        match self.part(offset) {
            Some(p) => p.1.eol,
            None => self.eol,
        }
    }

    /// One level of indentation in the file that holds `offset`.
    pub fn indent_unit_at(&self, offset: usize) -> &str {
        match self.part(offset) {
            Some(p) => p.1.indent_unit(),
            None => self.indent_unit(),
        }
    }

    /// The segment of a joined text that `offset` falls in or after: the
    /// last one starting at or before it (the first for a plain file). The
    /// one answer to "which file holds this offset"; `plan::units` checks
    /// the segment's end before it converts.
    pub fn segment_at(&self, offset: usize) -> SegmentId {
        SegmentId::from_index(
            self.parts
                .partition_point(|p| p.0 <= offset)
                .saturating_sub(1),
        )
    }

    fn part(&self, offset: usize) -> Option<&(usize, Arc<Source>)> {
        let i = self.parts.partition_point(|p| p.0 <= offset);
        i.checked_sub(1).map(|i| &self.parts[i])
    }

    /// 1-based line and byte column of `offset`.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_index(offset);
        (line + 1, offset - self.line_starts[line] + 1)
    }

    /// 1-based column of `offset` in Unicode characters (SARIF's
    /// `unicodeCodePoints`). A character is a byte that does not continue a
    /// UTF-8 sequence: exact for UTF-8, and for other bytes one per byte
    /// that starts something. Linear in the file once, then a block per call.
    pub fn char_column(&self, offset: usize) -> usize {
        let start = self.line_start(offset);
        if offset - start <= CHAR_BLOCK {
            // A line of ordinary length: counted where it is. Counting
            // from the last checkpoint instead cost half a block per call
            // on both ends (4 % of a run, every change's column).
            return char_starts(&self.text[start..offset]) + 1;
        }
        self.chars_before(offset) - self.chars_before(start) + 1
    }

    fn chars_before(&self, offset: usize) -> usize {
        let starts = char_starts;
        let index = self.char_index.get_or_init(|| {
            let mut total = 0u32;
            let mut index = vec![0];
            for block in self.text.chunks(CHAR_BLOCK) {
                total += starts(block) as u32;
                index.push(total);
            }
            index
        });
        let block = offset / CHAR_BLOCK;
        index[block] as usize + starts(&self.text[block * CHAR_BLOCK..offset])
    }

    fn line_index(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// The bytes of the 1-based `line`, without its line ending.
    pub fn line_text(&self, line: usize) -> &[u8] {
        let start = self.line_starts[line - 1];
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        let mut line_bytes = &self.text[start..end];
        while let [rest @ .., b'\n' | b'\r'] = line_bytes {
            line_bytes = rest;
        }
        line_bytes
    }

    /// Offset of the first byte of the 0-based line `index` (end of file past the last line).
    pub fn offset_of_line(&self, index: usize) -> usize {
        self.line_starts
            .get(index)
            .copied()
            .unwrap_or(self.text.len())
    }

    /// How many lines the file has, as `split_inclusive` on `\n` counts
    /// them: no empty line after a final newline.
    pub fn line_count(&self) -> usize {
        match self.line_starts.last() {
            Some(last) if *last == self.text.len() => self.line_starts.len() - 1,
            _ => self.line_starts.len(),
        }
    }

    /// The bytes of the 0-based line `index`, with its line ending.
    pub fn line_bytes(&self, index: usize) -> &[u8] {
        &self.text[self.offset_of_line(index)..self.offset_of_line(index + 1)]
    }

    /// The 0-based line holding `offset`, searching forward from line
    /// `from`: callers visiting offsets in order (the diff, over sorted
    /// edits) stay linear in the file instead of paying a binary search over
    /// a million line starts per edit.
    pub fn line_index_from(&self, from: usize, offset: usize) -> usize {
        if self
            .line_starts
            .get(from)
            .is_none_or(|start| *start > offset)
        {
            return self.line_index(offset);
        }
        let mut line = from;
        while self
            .line_starts
            .get(line + 1)
            .is_some_and(|next| *next <= offset)
        {
            line += 1;
        }
        line
    }

    /// Offset of the first byte of the line holding `offset`.
    pub fn line_start(&self, offset: usize) -> usize {
        self.line_starts[self.line_index(offset)]
    }

    /// Offset of the line ending (or end of file) of the line holding
    /// `offset`. Lines end at LF, as nginx reads them; the CR of a CRLF
    /// belongs to the ending, a lone CR elsewhere is text.
    pub fn line_end(&self, offset: usize) -> usize {
        // From the line index, not a scan: directives on one megabyte-long
        // line each ask for its end.
        let end = match self.line_starts.get(self.line_index(offset) + 1) {
            Some(next) => next - 1,
            None => self.text.len(),
        };
        if end > offset && self.text[end - 1] == b'\r' && end < self.text.len() {
            end - 1
        } else {
            end
        }
    }

    /// Offset just past the line ending of the line holding `offset`.
    pub fn next_line_start(&self, offset: usize) -> usize {
        let index = self.line_index(offset);
        self.line_starts
            .get(index + 1)
            .copied()
            .unwrap_or(self.text.len())
    }

    /// The whitespace that starts the line holding `offset`.
    pub fn indent_of(&self, offset: usize) -> String {
        let start = self.line_start(offset);
        let len = self.text[start..]
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .count();
        String::from_utf8_lossy(&self.text[start..start + len]).into_owned()
    }

    /// True when only spaces and tabs precede `offset` on its line.
    pub fn starts_line(&self, offset: usize) -> bool {
        self.text[self.line_start(offset)..offset]
            .iter()
            .all(|b| *b == b' ' || *b == b'\t')
    }

    /// True when only whitespace, or whitespace and a `#` comment, follows
    /// `offset` on its line.
    pub fn ends_line(&self, offset: usize) -> bool {
        let rest = &self.text[offset..self.line_end(offset)];
        let rest = trim_start_blanks(rest);
        rest.is_empty() || rest[0] == b'#'
    }

    /// The text in `range`, lossily decoded (for messages and copied directives).
    pub fn slice(&self, range: Range<usize>) -> String {
        String::from_utf8_lossy(&self.text[range]).into_owned()
    }
}

fn trim_start_blanks(bytes: &[u8]) -> &[u8] {
    let skip = bytes
        .iter()
        .take_while(|b| **b == b' ' || **b == b'\t')
        .count();
    &bytes[skip..]
}

/// A tab when most indented lines start with one; otherwise the most common
/// step by which indentation grows from one line to the next (4 spaces when
/// the file gives no evidence).
/// The bytes that start a character (do not continue a UTF-8 sequence).
fn char_starts(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| (**b as i8) >= -0x40).count()
}

fn detect_indent_unit(text: &[u8]) -> String {
    let mut tab_lines = 0usize;
    let mut space_lines = 0usize;
    let mut steps = [0usize; 17];
    let mut previous = 0usize;
    for line in text.split(|b| *b == b'\n') {
        let body = trim_start_blanks(line);
        if body.is_empty() || body == b"\r" {
            continue;
        }
        match line.first() {
            Some(b'\t') => tab_lines += 1,
            Some(b' ') => space_lines += 1,
            _ => {}
        }
        let width = line.iter().take_while(|b| **b == b' ').count();
        if width > previous && width - previous <= 16 {
            steps[width - previous] += 1;
        }
        previous = width;
    }
    if tab_lines > space_lines {
        return "\t".to_string();
    }
    let best = (1..steps.len())
        .max_by_key(|step| (steps[*step], usize::MAX - step))
        .filter(|step| steps[*step] > 0)
        .unwrap_or(4);
    " ".repeat(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_counted_and_found_like_split_inclusive() {
        for text in ["", "a", "a\n", "a\nb", "a\r\nb\r\n", "\n\n"] {
            let source = Source::new("t", text.as_bytes().to_vec());
            let lines: Vec<&[u8]> = text.as_bytes().split_inclusive(|b| *b == b'\n').collect();
            assert_eq!(source.line_count(), lines.len(), "{text:?}");
            for (i, line) in lines.iter().enumerate() {
                assert_eq!(source.line_bytes(i), *line, "{text:?} line {i}");
            }
            // Forward from any earlier line, or from a later one (falls back
            // to a search), gives the same line as the binary search.
            for offset in 0..=text.len() {
                for from in 0..=source.line_count() + 1 {
                    assert_eq!(
                        source.line_index_from(from, offset),
                        source.line_col(offset).0 - 1,
                        "{text:?} offset {offset} from {from}"
                    );
                }
            }
        }
    }

    #[test]
    fn char_columns_count_characters_across_blocks() {
        // A long line of two-byte characters crossing many index blocks,
        // then a second line: the column restarts at each line.
        let mut text = "é".repeat(3000).into_bytes();
        text.extend_from_slice(b"x\nab\xffc");
        let source = Source::new("t", text);
        assert_eq!(source.char_column(0), 1);
        assert_eq!(source.char_column(2), 2);
        assert_eq!(source.char_column(6000), 3001);
        assert_eq!(source.char_column(6002), 1);
        // A byte that is not UTF-8 counts as one character.
        assert_eq!(source.char_column(6005), 4);
    }

    #[test]
    fn lines_columns_and_eol() {
        let source = Source::new("t", b"a;\r\nbc { d; }\r\n".to_vec());
        assert_eq!(source.eol, "\r\n");
        assert_eq!(source.line_col(0), (1, 1));
        assert_eq!(source.line_col(5), (2, 2));
        assert_eq!(source.line_text(2), b"bc { d; }");
        assert_eq!(source.line_end(4), 13);
    }

    #[test]
    fn indent_detection() {
        assert_eq!(
            Source::new("t", b"a {\n\tb;\n}\n".to_vec()).indent_unit(),
            "\t"
        );
        assert_eq!(
            Source::new("t", b"a {\n  b {\n    c;\n  }\n}\n".to_vec()).indent_unit(),
            "  "
        );
        assert_eq!(Source::new("t", b"a;\n".to_vec()).indent_unit(), "    ");
    }
}
