//! Unified diffs with `--- a/PATH` / `+++ b/PATH` headers, so that the
//! output applies with `git apply` and `patch -p1`. Files are compared as
//! bytes (a file need not be UTF-8); CRLF line endings are kept inside the
//! lines, and a missing final newline gets `\ No newline at end of file`.

use similar::TextDiff;

/// The path as it appears after `a/` and `b/`: relative, without `./`.
pub fn display_path(path: &str) -> String {
    let trimmed = path.trim_start_matches("./").trim_start_matches('/');
    if trimmed.is_empty() || trimmed == "-" {
        "stdin".into()
    } else {
        trimmed.to_string()
    }
}

/// The unified diff between `old` and `new`, or nothing when they are equal.
pub fn unified(path: &str, old: &[u8], new: &[u8]) -> Vec<u8> {
    if old == new {
        return Vec::new();
    }
    let name = display_path(path);
    let diff = TextDiff::from_lines(old, new);
    let mut out = Vec::new();
    diff.unified_diff()
        .context_radius(3)
        .missing_newline_hint(true)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_writer(&mut out)
        .expect("writing to a Vec cannot fail");
    out
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

    #[test]
    fn headers_and_missing_newline() {
        let diff = String::from_utf8(unified("./conf/a.conf", b"a;\nb;", b"a;\nc;")).unwrap();
        assert!(
            diff.starts_with("--- a/conf/a.conf\n+++ b/conf/a.conf\n"),
            "{diff}"
        );
        assert!(diff.contains("\\ No newline at end of file"), "{diff}");
        assert!(unified("x", b"same", b"same").is_empty());
    }
}
