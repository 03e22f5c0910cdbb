//! Parsing with the project's tree-sitter grammar, and the syntax errors a
//! user sees.
//!
//! tree-sitter recovers from errors by inserting ERROR and MISSING nodes.
//! upkeep never edits a file that has one: the first (leftmost) of them
//! becomes a [`SyntaxError`] with path, line, column and the offending line.
//! Two rules of nginx's tokenizer that the grammar cannot express are
//! checked here as well: a quoted word must be followed by whitespace, `;`,
//! `{` or `)`, and a file must not start with a UTF-8 byte-order mark.

use std::fmt;

use tree_sitter::{InputEdit, Node, Parser, Point, Tree};
use unicode_width::UnicodeWidthChar;

use crate::syntax::edit::Edit;

use crate::syntax::source::Source;

/// A file nginx would refuse to read, located precisely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// The file, as messages show it.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based byte column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: String,
    /// The offending line, lossily decoded, for the caret display.
    pub line_text: String,
    /// How many characters of `line_text` come before the offending one:
    /// the caret's place, counted in the decoded line (the column counts
    /// the file's bytes, which a multi-byte character or an invalid byte
    /// shown as U+FFFD does not match).
    pub(crate) caret_chars: usize,
}

impl std::error::Error for SyntaxError {}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        writeln!(
            f,
            "{}:{}:{}: {}",
            self.path, self.line, self.column, self.message
        )?;
        writeln!(f, "{pad} |")?;
        writeln!(f, "{number} | {}", self.line_text)?;
        // The caret goes under the offending character as a terminal
        // shows the line: each character before it is as many spaces as
        // it takes columns (two for CJK, none for a combining mark), and
        // tabs are kept so that they expand alike.
        let lead: String = self
            .line_text
            .chars()
            .take(self.caret_chars)
            .map(|c| match c {
                '\t' => "\t".to_string(),
                c => " ".repeat(UnicodeWidthChar::width(c).unwrap_or(0)),
            })
            .collect();
        writeln!(f, "{pad} | {lead}^")?;
        write!(f, "{pad} = help: {}", self.help)
    }
}

/// The deepest nesting upkeep reads: blocks inside blocks, an `include`
/// counting as one more level for the blocks of the file it reads.
///
/// nginx has no limit of its own: `ngx_conf_parse` recurses once per block
/// (each block directive's handler calls it again) and once per include,
/// so its limit is its stack. Debian's nginx 1.22.1 with an 8 MiB stack
/// reads 12,968 nested locations and dies of a segmentation fault at
/// 13,125. Real configs nest a handful of levels; 1,000 is far beyond any
/// of them, keeps upkeep's own walks and tree-sitter's query pass (whose
/// time grows faster than the depth) fast, and is checked here, before
/// tree-sitter or the model sees the file.
pub const MAX_DEPTH: usize = 1000;

/// The message and help for nesting deeper than [`MAX_DEPTH`]; `what`
/// says what is nested ("blocks are").
pub fn too_deep(what: &str) -> (String, String) {
    (
        format!("{what} nested deeper than {MAX_DEPTH} levels, the most upkeep reads"),
        "flatten the nesting (no working config needs this depth; nginx itself crashes at about 13,000 levels)".into(),
    )
}

/// Parses `source`; any syntax nginx would reject is an error.
pub fn parse(source: &Source) -> Result<Tree, SyntaxError> {
    parse_incremental(source, None)
}

/// `old` is the tree of the text `source` was made from, told about the
/// edits ([`edited_tree`]): tree-sitter then reuses every unchanged subtree.
pub fn parse_incremental(source: &Source, old: Option<&Tree>) -> Result<Tree, SyntaxError> {
    if source.text.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(error_at(
            source,
            0,
            "file starts with a UTF-8 byte-order mark, which nginx reads as part of the first directive".into(),
            "save the file without a BOM (nginx fails with `unknown directive \"\\ufeff...\"`)".into(),
        ));
    }
    if let Some(nul) = source.text.iter().position(|b| *b == 0) {
        return Err(error_at(
            source,
            nul,
            "the file contains a NUL byte: this is binary data, not nginx configuration".into(),
            "check that the path names a configuration file".into(),
        ));
    }
    // nginx's own tokenizer rules decide what is an error and where; the
    // tree-sitter error nodes are the fallback for anything they miss.
    if let Some(e) = tokenizer_error(&source.text) {
        return Err(error_at(source, e.offset, e.message, e.help));
    }
    let tree = match old {
        Some(old) => parse_tree_with(&source.text, Some(old)),
        None => parse_tree(&source.text),
    };
    let root = tree.root_node();
    if root.has_error() {
        if let Some(bad) = first_error(root) {
            return Err(describe(source, bad));
        }
    }
    Ok(tree)
}

/// The raw tree-sitter parse, errors and all.
pub fn parse_tree(text: &[u8]) -> Tree {
    parse_tree_with(text, None)
}

fn parse_tree_with(text: &[u8], old: Option<&Tree>) -> Tree {
    with_parser(|parser| {
        parser
            .parse(text, old)
            .expect("parsing without a timeout or cancellation always returns a tree")
    })
}

/// `f` with this thread's parser: a tree needs its own parser only while
/// it is being built, and a tree of thousands of files would otherwise
/// set up thousands of parsers.
fn with_parser<R>(f: impl FnOnce(&mut Parser) -> R) -> R {
    thread_local! {
        static PARSER: std::cell::RefCell<Parser> = std::cell::RefCell::new({
            let mut parser = Parser::new();
            parser
                .set_language(&tree_sitter_nginx::LANGUAGE.into())
                .expect("the bundled grammar matches the tree-sitter runtime");
            parser
        });
    }
    PARSER.with_borrow_mut(f)
}

/// `tree` (of `source`) told about `edits` (normalized), for an
/// incremental re-parse of the edited text. Edits are applied from the last
/// to the first, so every position is still one of the original text.
pub fn edited_tree(source: &Source, tree: &Tree, edits: &[Edit]) -> Tree {
    let mut edited = tree.clone();
    let point = |offset: usize| {
        let (line, column) = source.line_col(offset);
        Point::new(line - 1, column - 1)
    };
    for e in edits.iter().rev() {
        let start_position = point(e.range.start);
        let new_end_position = match e.text.iter().rposition(|b| *b == b'\n') {
            Some(last) => Point::new(
                start_position.row + e.text.iter().filter(|b| **b == b'\n').count(),
                e.text.len() - last - 1,
            ),
            None => Point::new(start_position.row, start_position.column + e.text.len()),
        };
        edited.edit(&InputEdit {
            start_byte: e.range.start,
            old_end_byte: e.range.end,
            new_end_byte: e.range.start + e.text.len(),
            start_position,
            old_end_position: point(e.range.end),
            new_end_position,
        });
    }
    edited
}

/// The leftmost ERROR or MISSING node, searching only subtrees that hold
/// one: a descent into the first child that holds one, a loop rather than
/// a recursion (a stack's depth is no bound on a tree's).
fn first_error(root: Node) -> Option<Node> {
    let mut node = root;
    loop {
        if node.is_error() || node.is_missing() {
            return Some(node);
        }
        let mut cursor = node.walk();
        let next = node
            .children(&mut cursor)
            .find(|child| child.has_error() || child.is_missing());
        node = next?;
    }
}

fn describe(source: &Source, bad: Node) -> SyntaxError {
    if bad.is_missing() {
        let what = bad.kind();
        let at = bad.start_byte();
        let (message, help) = match what {
            ";" => (
                "missing \";\" at the end of this directive".to_string(),
                "end the directive with \";\" (nginx: `unexpected \"}\"` or `unexpected end of file, expecting \";\"`)".to_string(),
            ),
            "}" => (
                "unexpected end of file: a block is not closed".to_string(),
                "add the missing \"}\" (nginx: `unexpected end of file, expecting \"}\"`)".to_string(),
            ),
            other => (
                format!("expected \"{other}\" here"),
                format!("insert \"{other}\""),
            ),
        };
        return error_at(source, at, message, help);
    }
    // An ERROR node: point at its first offending token.
    let at = bad.start_byte();
    let text = &source.text[at..source.line_end(at).max(at)];
    let (message, help) = match text.first() {
        Some(b'"') | Some(b'\'') if !closes_on_line(text) => (
            "unterminated quoted string".to_string(),
            "close the quote; a quoted word may span lines, but must end before the end of the file".to_string(),
        ),
        Some(b'}') => (
            "unexpected \"}\": there is no block to close here".to_string(),
            "remove this \"}\" or add the \"{\" it closes; a directive before it also needs its \";\"".to_string(),
        ),
        Some(b';') => (
            "unexpected \";\": a directive needs a name before its \";\"".to_string(),
            "remove the stray \";\"".to_string(),
        ),
        Some(b'{') => (
            "unexpected \"{\": a block needs a directive name before it".to_string(),
            "name the block (for example `location / {`) or remove the brace".to_string(),
        ),
        _ if bad.end_byte() == source.text.len() && unclosed_quote(&source.text[at..]) => (
            "unterminated quoted string".to_string(),
            "close the quote before the end of the file".to_string(),
        ),
        _ if !source.text[at..bad.end_byte()].is_ascii() && looks_binary(&source.text[at..bad.end_byte()]) => (
            "this is not nginx configuration text (binary data)".to_string(),
            "check that the path names a configuration file".to_string(),
        ),
        _ => {
            let token: String = String::from_utf8_lossy(text)
                .split_whitespace()
                .next()
                .unwrap_or("")
                .chars()
                .take(40)
                .collect();
            (
                format!("unexpected \"{token}\""),
                "check the directive before this point for a missing \";\", \"{\" or \"}\"".to_string(),
            )
        }
    };
    error_at(source, at, message, help)
}

fn closes_on_line(text: &[u8]) -> bool {
    let quote = text[0];
    let mut escaped = false;
    for b in &text[1..] {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b if *b == quote => return true,
            _ => {}
        }
    }
    false
}

fn unclosed_quote(text: &[u8]) -> bool {
    let mut quote = None;
    let mut escaped = false;
    let mut token_start = true;
    for b in text {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if *b == b'\\' {
                    escaped = true;
                } else if *b == q {
                    quote = None;
                }
            }
            None => {
                if token_start && (*b == b'"' || *b == b'\'') {
                    quote = Some(*b);
                }
                token_start = matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' | b'}');
            }
        }
    }
    quote.is_some()
}

fn looks_binary(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .any(|b| *b == 0 || (*b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\n')))
        || std::str::from_utf8(bytes).is_err()
}

struct TokenError {
    offset: usize,
    message: String,
    help: String,
}

fn token_error(offset: usize, message: &str, help: &str) -> Option<TokenError> {
    Some(TokenError {
        offset,
        message: message.to_string(),
        help: help.to_string(),
    })
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Reads `text` the way nginx's `ngx_conf_read_token` does and returns the
/// first error nginx would report, at the byte where it is best fixed.
fn tokenizer_error(text: &[u8]) -> Option<TokenError> {
    tokenizer_error_within(text, 0)
}

/// Whether nginx's tokenizer rejects `text`, statements of a list
/// `outer` blocks deep (a re-parsed piece of a file: `splice`).
pub(crate) fn tokens_rejected(text: &[u8], outer: usize) -> bool {
    tokenizer_error_within(text, outer).is_some()
}

/// [`tokenizer_error`] of statements `outer` blocks deep: the nesting
/// limit counts the blocks around them.
fn tokenizer_error_within(text: &[u8], outer: usize) -> Option<TokenError> {
    let mut open_blocks: Vec<usize> = Vec::new();
    let mut words = 0usize;
    let mut first_word: &[u8] = b"";
    let mut last_word_end = 0usize;
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if is_space(c) {
            i += 1;
            continue;
        }
        match c {
            b'#' => {
                while i < text.len() && text[i] != b'\n' {
                    i += 1;
                }
            }
            b';' => {
                if words == 0 {
                    return token_error(
                        i,
                        "unexpected \";\": a directive needs a name before its \";\"",
                        "remove the stray \";\"",
                    );
                }
                words = 0;
                i += 1;
            }
            b'{' => {
                if words == 0 {
                    return token_error(
                        i,
                        "unexpected \"{\": a block needs a directive name before it",
                        "name the block (for example `location / {`) or remove the brace",
                    );
                }
                let name = String::from_utf8_lossy(first_word);
                let name = name.trim_matches(|c| c == '"' || c == '\'');
                words = 0;
                if name.ends_with("_by_lua_block") {
                    match skip_lua_body(text, i + 1) {
                        Some(close) => i = close + 1,
                        None => {
                            return token_error(
                                i,
                                "unexpected end of file: this Lua block is not closed",
                                "add the \"}\" that ends the Lua code",
                            )
                        }
                    }
                } else {
                    if outer + open_blocks.len() >= MAX_DEPTH {
                        let (message, help) = too_deep("blocks are");
                        return Some(TokenError {
                            offset: i,
                            message,
                            help,
                        });
                    }
                    open_blocks.push(i);
                    i += 1;
                }
            }
            b'}' => {
                if words > 0 {
                    return token_error(
                        last_word_end,
                        "missing \";\" at the end of this directive",
                        "end the directive with \";\" (nginx: `unexpected \"}\"`)",
                    );
                }
                if open_blocks.pop().is_none() {
                    return token_error(
                        i,
                        "unexpected \"}\": there is no block to close here",
                        "remove this \"}\" or add the \"{\" it closes",
                    );
                }
                i += 1;
            }
            b'"' | b'\'' => {
                let start = i;
                i += 1;
                loop {
                    match text.get(i) {
                        None => return token_error(
                            start,
                            "unterminated quoted string",
                            "close the quote; nginx reads to the end of the file looking for it",
                        ),
                        Some(b'\\') => i += 2,
                        Some(q) if *q == c => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                if let Some(&next) = text.get(i) {
                    if !(is_space(next) || matches!(next, b';' | b'{' | b')')) {
                        return token_error(
                            i,
                            &format!(
                                "unexpected \"{}\" right after a quoted string",
                                char::from(next).escape_default()
                            ),
                            "put a space after the closing quote, or quote the whole word",
                        );
                    }
                }
                if words == 0 {
                    first_word = &text[start..i];
                }
                words += 1;
                last_word_end = i;
            }
            _ => {
                let start = i;
                while i < text.len() {
                    match text[i] {
                        b'\\' => i += 2,
                        b'$' if text.get(i + 1) == Some(&b'{') => i += 2,
                        b if is_space(b) || b == b';' || b == b'{' => break,
                        _ => i += 1,
                    }
                }
                i = i.min(text.len());
                if words == 0 {
                    first_word = &text[start..i];
                }
                words += 1;
                last_word_end = i;
            }
        }
    }
    if words > 0 {
        return token_error(
            last_word_end,
            "unexpected end of file: missing \";\" at the end of this directive",
            "end the directive with \";\"",
        );
    }
    if let Some(open) = open_blocks.pop() {
        return token_error(
            open,
            "unexpected end of file: the block opened here is not closed",
            "add the missing \"}\" (nginx: `unexpected end of file, expecting \"}\"`)",
        );
    }
    None
}

/// From just after a Lua block's `{`: the offset of its closing `}`, with
/// braces inside Lua strings, long brackets and comments not counted.
fn skip_lua_body(text: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let long_bracket = |at: usize| -> Option<usize> {
        // `[`, `=`*, `[`: returns the level.
        let mut j = at + 1;
        while text.get(j) == Some(&b'=') {
            j += 1;
        }
        (text.get(j) == Some(&b'[')).then(|| j - at - 1)
    };
    let skip_long = |from: usize, level: usize| -> Option<usize> {
        let mut j = from;
        while j < text.len() {
            if text[j] == b']' {
                let mut k = j + 1;
                while text.get(k) == Some(&b'=') {
                    k += 1;
                }
                if k - j - 1 == level && text.get(k) == Some(&b']') {
                    return Some(k + 1);
                }
            }
            j += 1;
        }
        None
    };
    while i < text.len() {
        match text[i] {
            b'}' if depth == 0 => return Some(i),
            b'}' => {
                depth -= 1;
                i += 1;
            }
            b'{' => {
                depth += 1;
                i += 1;
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < text.len() && text[i] != q && text[i] != b'\n' {
                    if text[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'[' => match long_bracket(i) {
                Some(level) => i = skip_long(i + level + 2, level)?,
                None => i += 1,
            },
            b'-' if text.get(i + 1) == Some(&b'-') => {
                if text.get(i + 2) == Some(&b'[') {
                    if let Some(level) = long_bracket(i + 2) {
                        i = skip_long(i + 2 + level + 2, level)?;
                        continue;
                    }
                }
                while i < text.len() && text[i] != b'\n' {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// A syntax error at `offset` of `source`.
pub fn error_at(source: &Source, offset: usize, message: String, help: String) -> SyntaxError {
    let (line, column) = source.line_col(offset);
    let bytes = source.line_text(line);
    let before = &bytes[..(column - 1).min(bytes.len())];
    SyntaxError {
        path: source.path.clone(),
        line,
        column,
        message,
        help,
        line_text: String::from_utf8_lossy(bytes).into_owned(),
        caret_chars: String::from_utf8_lossy(before).chars().count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The caret line of an error's display, without its `  | ` margin.
    fn caret_line(text: &[u8]) -> String {
        let e = parse(&Source::new("t.conf", text.to_vec())).unwrap_err();
        let shown = e.to_string();
        let line = shown.lines().nth(3).unwrap().to_string();
        line.split_once("| ").unwrap().1.to_string()
    }

    /// The caret sits under the offending character in display columns
    /// (what a terminal shows), while the column in the message stays a
    /// byte column.
    #[test]
    fn the_caret_counts_display_columns() {
        // ASCII: the caret at the byte column, as before.
        assert_eq!(caret_line(b"a \"b\"c;\n"), format!("{}^", " ".repeat(5)));
        // `ü` is two bytes and one column; `日本` six bytes and four columns.
        let text = "location /ü/ { add_header X \"日本\"y; }\n";
        let e = parse(&Source::new("t.conf", text.as_bytes().to_vec())).unwrap_err();
        assert_eq!(
            (e.line, e.column),
            (1, 38),
            "the message keeps byte columns"
        );
        let before = "location /ü/ { add_header X \"日本\"";
        assert_eq!(before.len(), 37);
        assert_eq!(caret_line(text.as_bytes()), format!("{}^", " ".repeat(34)));
        // Tabs are kept, so that they expand as the line above does.
        assert_eq!(
            caret_line("\tlocation /日/ {\n\t\tproxy_pass \"a\"b;\n\t}\n".as_bytes()),
            format!("\t\t{}^", " ".repeat(14))
        );
        // An invalid byte is shown as one U+FFFD, one column wide.
        assert_eq!(
            caret_line(b"add_header X\xff \"a\"b;\n"),
            format!("{}^", " ".repeat(17))
        );
        // A combining mark takes no column of its own.
        assert_eq!(
            caret_line("add_header e\u{301} \"a\"b;\n".as_bytes()),
            format!("{}^", " ".repeat(16))
        );
    }

    fn check(text: &str) -> Result<Tree, SyntaxError> {
        parse(&Source::new("t.conf", text.as_bytes().to_vec()))
    }

    #[test]
    fn accepts_what_nginx_accepts() {
        for text in [
            "",
            "upstream gateway { server gateway:8000; keepalive 64; }",
            "map $http_upgrade $connection_upgrade { default upgrade; '' close; }",
            "server { listen 80; }",
            "if ($a = \"b\") { return 200; }",
            "a#b c}d;",
        ] {
            assert!(check(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn reports_missing_semicolon_with_position() {
        let err = check("server {\n    listen 80\n}\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 14));
        assert!(err.message.contains("missing \";\""), "{err}");
    }

    #[test]
    fn reports_word_glued_to_quote() {
        let err = check("a \"b\"c;\n").unwrap_err();
        assert_eq!((err.line, err.column), (1, 6));
    }

    #[test]
    fn reports_bom() {
        let err = parse(&Source::new("t", b"\xEF\xBB\xBFserver {}".to_vec())).unwrap_err();
        assert!(err.message.contains("byte-order mark"));
    }
}

/// tree-sitter's own C code (the parser, the tree cursor, incremental
/// re-parses, clones and the tree's release) keeps its stacks on the
/// heap: 100,000 nested blocks go through all of them on a thread with a
/// 256 KiB stack. What recurses is upkeep's own code, bounded by
/// [`MAX_DEPTH`]. (The query cursor is left out: its time grows faster
/// than the depth, over ten minutes at 100,000 levels.)
#[cfg(test)]
mod depth {
    #[test]
    fn tree_sitter_does_not_recurse_on_deep_nesting() {
        const N: usize = 100_000;
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let mut text = "location ~ a {\n".repeat(N).into_bytes();
                text.extend_from_slice(b"proxy_pass http://b:8080;\n");
                text.extend_from_slice("}\n".repeat(N).as_bytes());
                let tree = super::parse_tree(&text);
                let root = tree.root_node();
                assert!(!root.has_error());
                // The cursor's walk to the innermost directive.
                let mut cursor = tree.walk();
                let mut depth = 0;
                while cursor.goto_first_child() {
                    while cursor.node().child_count() == 0 && cursor.goto_next_sibling() {}
                    depth += 1;
                }
                assert!(depth > 2 * N, "{depth}");
                let edited = tree.clone();
                let again = super::parse_tree_with(&text, Some(&edited));
                assert!(!again.root_node().has_error());
                drop(cursor);
                drop((tree, edited, again));
            })
            .unwrap();
        handle
            .join()
            .expect("tree-sitter ran out of a 256 KiB stack");
    }
}
