//! What `upkeep explain FILE:LINE` prints: the run's own report of FILE
//! (the changes and notes `-v` prints, in its words), narrowed to the
//! place asked about.
//!
//! The place is the directive on LINE and every block around it. A change
//! or note belongs to the innermost directive that holds the position the
//! report gives it (the directive it is about: a `proxy_pass`, or the
//! location a header goes into); the answer lists, innermost first, what
//! belongs to each directive whose lines cover LINE, then the changes
//! whose edit is written on LINE for a directive elsewhere (the upstream
//! blocks added above the first `server`), then the notes about the file
//! as a whole. So `explain` on a `proxy_pass` line also tells what its
//! location and server get, and on a comment or a blank line inside a
//! location what that location gets.

use std::io::{self, Write};
use std::ops::Range;

use crate::cli::Config;
use crate::output::emitter::{error_line, warn, Emitter, Output};
use crate::output::report::{ChangeReport, FileReport, NoteReport, Summary};
use crate::syntax::source::Source;

/// The place asked about: FILE as reports name it, its text, its syntax
/// tree (none when it does not parse: the run says why) and the line.
pub(crate) struct Place {
    pub source: Source,
    pub tree: Option<tree_sitter::Tree>,
    pub line: usize,
}

/// The emitter of `upkeep explain`: errors and warnings on stderr as a
/// run says them, the answer on stdout at the end.
pub(crate) struct Explain<'w> {
    config: &'w Config,
    place: &'w Place,
    out: &'w mut dyn Write,
    err: &'w mut dyn Write,
    /// FILE's report, once the run gives it.
    report: Option<FileReport>,
    summary: Summary,
}

impl<'w> Explain<'w> {
    pub(crate) fn new(
        config: &'w Config,
        place: &'w Place,
        out: &'w mut dyn Write,
        err: &'w mut dyn Write,
    ) -> Explain<'w> {
        Explain {
            config,
            place,
            out,
            err,
            report: None,
            summary: Summary::default(),
        }
    }
}

impl Emitter for Explain<'_> {
    fn file(&mut self, report: FileReport, _output: Output<'_>) -> io::Result<()> {
        self.summary.add(&report);
        if report.path == self.place.source.path && self.report.is_none() {
            self.report = Some(report);
        }
        Ok(())
    }

    fn error(&mut self, report: FileReport) -> io::Result<()> {
        if let Some(e) = &report.error {
            error_line(self.err, self.config, e)?;
        }
        self.summary.add(&report);
        Ok(())
    }

    fn run_error(&mut self, message: &str) -> io::Result<()> {
        error_line(self.err, self.config, message)?;
        self.summary.errors += 1;
        Ok(())
    }

    fn warning(&mut self, message: &str) -> io::Result<()> {
        self.summary.warnings += 1;
        warn(self.err, self.config, message)
    }

    fn recovered(&mut self, _journal: &std::path::Path, _done: &[String]) -> io::Result<()> {
        // explain refuses --recover before the run starts.
        Ok(())
    }

    fn finish(self: Box<Self>, _failed: &[String], _failure: Option<&str>) -> io::Result<Summary> {
        let Explain {
            config,
            place,
            out,
            err,
            report,
            mut summary,
        } = *self;
        match (&report, &place.tree) {
            (Some(report), Some(tree)) => out.write_all(answer(place, tree, report).as_bytes())?,
            // The run said why (a syntax error, an include that failed).
            _ if summary.errors > 0 => {}
            _ => {
                error_line(
                    err,
                    config,
                    &format!(
                        "{}: upkeep read it but reports nothing for it (is it one of the files this run reads?)",
                        place.source.path
                    ),
                )?;
                summary.errors += 1;
            }
        }
        out.flush()?;
        Ok(summary)
    }
}

/// A directive of FILE: its bytes, how deep it is, and how it is shown.
struct Node {
    range: Range<usize>,
    depth: usize,
    /// Whether it has a `{ }` block.
    block: bool,
    /// Its head, as the answer names it: `location /api/`, or a simple
    /// directive's whole text, whitespace collapsed.
    shown: String,
}

/// Every directive of the file, in source order.
fn nodes(source: &Source, tree: &tree_sitter::Tree) -> Vec<Node> {
    let mut found = Vec::new();
    let mut stack = vec![(tree.root_node(), 0usize)];
    while let Some((node, depth)) = stack.pop() {
        let mut cursor = node.walk();
        let children: Vec<_> = node.named_children(&mut cursor).collect();
        for child in children.into_iter().rev() {
            match child.kind() {
                "directive" | "lua_block_directive" => {
                    let block = child.child_by_field_name("block");
                    let head_end = block.map_or(child.end_byte(), |b| b.start_byte());
                    found.push(Node {
                        range: child.byte_range(),
                        depth,
                        block: block.is_some(),
                        shown: shorten(&source.slice(child.start_byte()..head_end)),
                    });
                    // A Lua body holds no nginx directives.
                    if let Some(b) = block.filter(|_| child.kind() == "directive") {
                        stack.push((b, depth + 1));
                    }
                }
                _ => {}
            }
        }
    }
    found.sort_by_key(|n| n.range.start);
    found
}

/// A directive's text on one line, cut at a length an answer can show.
fn shorten(text: &str) -> String {
    const MAX: usize = 100;
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX {
        return one_line;
    }
    let cut: String = one_line.chars().take(MAX).collect();
    format!("{cut}…")
}

/// The byte offset of a 1-based line and byte column.
fn offset(source: &Source, line: usize, column: usize) -> usize {
    (source.offset_of_line(line - 1) + column - 1).min(source.text.len())
}

/// The innermost directive holding `at`: the one it starts, or the block
/// it lies in. `nodes` are in source order, so the last one starting at
/// or before `at` is the innermost when it holds `at`, and otherwise its
/// holder is an earlier one (a block it lies in).
fn home(nodes: &[Node], at: usize) -> Option<usize> {
    let before = nodes.partition_point(|n| n.range.start <= at);
    (0..before).rev().find(|i| at < nodes[*i].range.end)
}

/// The lines `range` covers; an end at the start of a line (a removed
/// line with its line ending) does not cover that line.
fn lines_of(source: &Source, range: &Range<usize>) -> Range<usize> {
    let first = source.line_col(range.start).0;
    let last = if range.end > range.start {
        source.line_col(range.end - 1).0
    } else {
        first
    };
    first..last + 1
}

/// The answer for `place`, from the run's report of its file.
fn answer(place: &Place, tree: &tree_sitter::Tree, report: &FileReport) -> String {
    let source = &place.source;
    let path = &source.path;
    let line = place.line;
    let nodes = nodes(source, tree);
    // The directives whose lines cover LINE, innermost first (deepest;
    // on one line, in source order).
    let mut covering: Vec<usize> = (0..nodes.len())
        .filter(|i| lines_of(source, &nodes[*i].range).contains(&line))
        .collect();
    covering.sort_by_key(|i| (std::cmp::Reverse(nodes[*i].depth), nodes[*i].range.start));

    let mut text = format!(
        "{path}:{line}: {}\n",
        what_is_there(place, &nodes, &covering)
    );

    // Each change's and note's directive, found once; a note without a
    // position is about the file (the outer `None`).
    let changes: Vec<(&ChangeReport, Option<usize>)> = report
        .changes
        .iter()
        .map(|c| (c, home(&nodes, offset(source, c.at.line, c.at.column))))
        .collect();
    let notes: Vec<(&NoteReport, Option<Option<usize>>)> = report
        .notes
        .iter()
        .chain(&report.suppressed)
        .map(|n| {
            let at = match (n.line, n.column) {
                (Some(l), Some(c)) => Some(home(&nodes, offset(source, l, c))),
                _ => None,
            };
            (n, at)
        })
        .collect();
    let mut rules: Vec<&'static str> = Vec::new();
    let mut said = false;
    // The changes and notes whose directive is `at`, in the report's
    // order; outside every directive (`None`), those on LINE.
    let lines_at = |at: Option<usize>, rules: &mut Vec<&'static str>| {
        let mut lines: Vec<String> = Vec::new();
        for (c, h) in &changes {
            if *h == at && (at.is_some() || c.at.line == line) {
                rules.push(c.rule.as_str());
                lines.push(c.text(path));
            }
        }
        for (n, h) in &notes {
            if *h == Some(at) && (at.is_some() || n.line == Some(line)) {
                lines.push(n.verbose_line(path));
            }
        }
        lines
    };
    for i in &covering {
        let lines = lines_at(Some(*i), &mut rules);
        let n = &nodes[*i];
        let title = format!("`{}` (line {})", n.shown, source.line_col(n.range.start).0);
        said |= group(&mut text, title, lines);
    }
    // Outside every directive (a top-level comment), by the line alone.
    let loose = lines_at(None, &mut rules);
    said |= group(&mut text, format!("line {line}"), loose);
    // Written here, about a directive elsewhere (what it says names it).
    let elsewhere: Vec<String> = changes
        .iter()
        .filter(|(c, h)| {
            let about_here = match h {
                Some(h) => covering.contains(h),
                None => c.at.line == line,
            };
            !about_here && lines_of(source, &c.edit_bytes).contains(&line)
        })
        .map(|(c, _)| {
            rules.push(c.rule.as_str());
            c.text(path)
        })
        .collect();
    said |= group(
        &mut text,
        format!("written at line {line} for a directive elsewhere"),
        elsewhere,
    );
    let about_file: Vec<String> = notes
        .iter()
        .filter(|(_, h)| h.is_none())
        .map(|(n, _)| n.verbose_line(path))
        .collect();
    if !said {
        text.push_str(
            "\nnothing here concerns upkeep: no change and no note of a run (what -v prints) is about this line or a block around it\n",
        );
    }
    group(&mut text, format!("about {path} as a whole"), about_file);
    let mut unique: Vec<&str> = Vec::new();
    for r in rules {
        if !unique.contains(&r) {
            unique.push(r);
        }
    }
    if !unique.is_empty() {
        text.push_str(&format!(
            "\nWhat each rule does and why it is safe: upkeep rule ID ({})\n",
            unique.join(", ")
        ));
    }
    text
}

/// Adds a titled group of lines to `text`, unless it has none; whether
/// it added one.
fn group(text: &mut String, title: String, lines: Vec<String>) -> bool {
    if lines.is_empty() {
        return false;
    }
    text.push_str(&format!("\n{title}:\n"));
    for l in lines {
        text.push_str(&format!("  {l}\n"));
    }
    true
}

/// What LINE holds, and the blocks around it: "`proxy_pass
/// http://gateway:8000/;`, in `location /api/` (line 15), in `server`
/// (line 2)". Several directives on the line (one-line blocks): the
/// innermost first one, and how many more the answer lists.
fn what_is_there(place: &Place, nodes: &[Node], covering: &[usize]) -> String {
    let source = &place.source;
    let line = place.line;
    let start_line = |n: &Node| source.line_col(n.range.start).0;
    let bare = String::from_utf8_lossy(source.line_text(line))
        .trim()
        .to_string();
    let kind = if bare.is_empty() {
        "a blank line"
    } else if bare.starts_with('#') {
        "a comment"
    } else {
        "text"
    };
    let Some(&first) = covering.first() else {
        return format!("{kind}, outside every block");
    };
    let n = &nodes[first];
    // The blocks that hold it, innermost first (`covering` is in that order).
    let outer: Vec<usize> = covering
        .iter()
        .copied()
        .filter(|i| {
            let o = &nodes[*i].range;
            *i != first && o.start <= n.range.start && n.range.end <= o.end
        })
        .collect();
    let around = |blocks: &[usize]| -> String {
        blocks
            .iter()
            .map(|i| {
                format!(
                    ", in `{}` (line {})",
                    nodes[*i].shown,
                    start_line(&nodes[*i])
                )
            })
            .collect()
    };
    let others = covering.len() - 1 - outer.len();
    let more = match others {
        0 => String::new(),
        1 => " (and 1 more directive on this line)".into(),
        k => format!(" (and {k} more directives on this line)"),
    };
    if n.block && line > start_line(n) {
        let last = lines_of(source, &n.range).end - 1;
        if bare.starts_with('}') && line == last {
            return format!(
                "the end of `{}` (line {}){}",
                n.shown,
                start_line(n),
                around(&outer)
            );
        }
        // Inside the block's body, on no directive of its own.
        let mut chain = vec![first];
        chain.extend(&outer);
        return format!("{kind}{}", around(&chain));
    }
    format!("`{}`{}{more}", n.shown, around(&outer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(text: &str, line: usize) -> Place {
        let source = Source::new("t.conf", text.as_bytes().to_vec());
        let tree = crate::syntax::parse::parse(&source).ok();
        Place { source, tree, line }
    }

    /// A position belongs to the directive it starts, else to the block
    /// it lies in; a removed line's end (the next line's start) covers
    /// only the removed line.
    #[test]
    fn positions_find_their_directive() {
        let p = place(
            "server {\n    location / {\n        proxy_pass http://a:1;\n\n    }\n}\n",
            3,
        );
        let nodes = nodes(&p.source, p.tree.as_ref().unwrap());
        let shown: Vec<&str> = nodes.iter().map(|n| n.shown.as_str()).collect();
        assert_eq!(shown, ["server", "location /", "proxy_pass http://a:1;"]);
        let at = |line, column| home(&nodes, offset(&p.source, line, column));
        assert_eq!(at(3, 9), Some(2));
        assert_eq!(at(2, 5), Some(1));
        // The blank line in the location, and the server's closing brace.
        assert_eq!(at(4, 1), Some(1));
        assert_eq!(at(6, 1), Some(0));
        assert_eq!(at(1, 1), Some(0));
        let line_3 = p.source.offset_of_line(2);
        let line_4 = p.source.offset_of_line(3);
        assert_eq!(lines_of(&p.source, &(line_3..line_4)), 3..4);
        assert_eq!(lines_of(&p.source, &(line_4..line_4)), 4..5);
        assert_eq!(
            what_is_there(
                &place(&String::from_utf8_lossy(&p.source.text), 4),
                &nodes,
                &[1, 0]
            ),
            "a blank line, in `location /` (line 2), in `server` (line 1)"
        );
        assert_eq!(
            what_is_there(
                &place(&String::from_utf8_lossy(&p.source.text), 5),
                &nodes,
                &[1, 0]
            ),
            "the end of `location /` (line 2), in `server` (line 1)"
        );
    }

    /// A directive is shown on one line, cut when long.
    #[test]
    fn directives_are_shown_short() {
        assert_eq!(
            shorten("proxy_set_header\n   Host  $host;"),
            "proxy_set_header Host $host;"
        );
        let long = format!("map {} {{", "x".repeat(200));
        assert!(shorten(&long).ends_with('…'));
        assert_eq!(shorten(&long).chars().count(), 101);
    }
}
