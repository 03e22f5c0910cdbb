//! nginx's word rules, once: how the tokenizer decodes an argument as
//! written, and how a value is written so that it reads back the same.

/// nginx's tokenizer resolves `\"`, `\'`, `\\`, `\t`, `\r` and `\n`; any
/// other backslash stays as written.
pub fn unescape(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 1 < raw.len() {
            match raw[i + 1] {
                b'"' | b'\'' | b'\\' => {
                    out.push(raw[i + 1]);
                    i += 2;
                    continue;
                }
                b't' => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                b'r' => {
                    out.push(b'\r');
                    i += 2;
                    continue;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `c` can stand in a bare (unquoted) word: nginx's tokenizer ends
/// a bare word at whitespace, `;`, `{`, `}` and `#`, and reads quotes and
/// backslashes in it as escapes.
pub fn bare_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, ';' | '{' | '}' | '"' | '\'' | '\\' | '#')
}

/// Whether `value` reads back the same written bare.
pub fn is_bare(value: &str) -> bool {
    !value.is_empty() && value.chars().all(bare_char)
}

/// `value` double-quoted, with `"` and `\` escaped: reads back as `value`.
pub fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A value written as one nginx word: bare when that reads back the same,
/// otherwise [`quoted`].
pub fn word(value: &str) -> String {
    if is_bare(value) {
        value.to_string()
    } else {
        quoted(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_like_nginx() {
        assert_eq!(unescape(br#"a\"b\q"#), "a\"b\\q");
    }

    #[test]
    fn words_that_need_quotes_get_them() {
        assert_eq!(word("/api/"), "/api/");
        assert_eq!(word("/a b"), "\"/a b\"");
        assert_eq!(word("/x{"), "\"/x{\"");
        assert_eq!(word("a\"b"), "\"a\\\"b\"");
    }
}
