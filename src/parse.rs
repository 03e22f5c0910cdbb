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

use tree_sitter::{Node, Parser, Tree};

use crate::source::Source;

/// A file nginx would refuse to read, located precisely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub path: String,
    pub line: usize,
    /// 1-based byte column.
    pub column: usize,
    pub message: String,
    pub help: String,
    /// The offending line, lossily decoded, for the caret display.
    pub line_text: String,
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
        // The caret goes under the byte column; tabs are kept so it lines up.
        let lead: String = self
            .line_text
            .bytes()
            .take(self.column.saturating_sub(1))
            .map(|b| if b == b'\t' { '\t' } else { ' ' })
            .collect();
        writeln!(f, "{pad} | {lead}^")?;
        write!(f, "{pad} = help: {}", self.help)
    }
}

/// Parses `source`; any syntax nginx would reject is an error.
pub fn parse(source: &Source) -> Result<Tree, SyntaxError> {
    if source.text.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(error_at(
            source,
            0,
            "file starts with a UTF-8 byte-order mark, which nginx reads as part of the first directive".into(),
            "save the file without a BOM (nginx fails with `unknown directive \"\\ufeff...\"`)".into(),
        ));
    }
    let tree = parse_tree(&source.text);
    let root = tree.root_node();
    if root.has_error() {
        if let Some(bad) = first_error(root) {
            return Err(describe(source, bad));
        }
    }
    check_space_after_quotes(source, root)?;
    Ok(tree)
}

/// The raw tree-sitter parse, errors and all.
pub fn parse_tree(text: &[u8]) -> Tree {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_nginx::LANGUAGE.into())
        .expect("the bundled grammar matches the tree-sitter runtime");
    parser
        .parse(text, None)
        .expect("parsing without a timeout or cancellation always returns a tree")
}

/// The leftmost ERROR or MISSING node, searching only subtrees that hold one.
fn first_error(node: Node) -> Option<Node> {
    if node.is_error() || node.is_missing() {
        return Some(node);
    }
    let mut cursor = node.walk();
    let found = node
        .children(&mut cursor)
        .filter(|child| child.has_error() || child.is_missing())
        .find_map(first_error);
    found
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

/// nginx's tokenizer requires a separator right after a closing quote.
fn check_space_after_quotes(source: &Source, root: Node) -> Result<(), SyntaxError> {
    let mut cursor = root.walk();
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if node.kind() == "string" {
            let end = node.end_byte();
            if let Some(&next) = source.text.get(end) {
                if !matches!(next, b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' | b')') {
                    return Err(error_at(
                        source,
                        end,
                        format!(
                            "unexpected \"{}\" right after a quoted string",
                            char::from(next).escape_default()
                        ),
                        "put a space after the closing quote, or quote the whole word".into(),
                    ));
                }
            }
            continue;
        }
        if node.kind() == "lua_block" {
            continue;
        }
        // Push in reverse so the leftmost problem is reported first.
        let children: Vec<Node> = node.children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
    Ok(())
}

fn error_at(source: &Source, offset: usize, message: String, help: String) -> SyntaxError {
    let (line, column) = source.line_col(offset);
    SyntaxError {
        path: source.path.clone(),
        line,
        column,
        message,
        help,
        line_text: String::from_utf8_lossy(source.line_text(line)).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
