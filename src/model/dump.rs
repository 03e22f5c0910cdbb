//! `nginx -T` dumps: the tree a running nginx reads, as one text.
//!
//! The format is nginx's own (src/core/nginx.c, `main`, and
//! `ngx_conf_add_dump` in src/core/ngx_conf_file.c): after the test, for
//! every file nginx opened, once each and in the order it first opened
//! them (the main config first), `# configuration file NAME:` and a line
//! feed, the file's bytes exactly, and one more line feed. NAME is the
//! path as nginx opened it: absolute, relative names already completed
//! from the prefix. nginx writes its "syntax is ok" lines to stderr
//! before the dump, so a dump taken with `2>&1` starts with them; they
//! are skipped.
//!
//! A file whose own text holds a line exactly like a header would be cut
//! there: the format cannot tell them apart. Such a line is a comment no
//! config needs; `--write` compares every file with the disk before
//! writing, so a wrongly cut dump writes nothing.

use std::path::PathBuf;

const HEADER: &[u8] = b"# configuration file ";

/// The files of a dump, in nginx's order: (path, bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    pub files: Vec<(PathBuf, Vec<u8>)>,
}

/// The lines of `text` with their start offsets, each without its LF.
fn lines(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= text.len() {
            return None;
        }
        let end = text[start..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(text.len(), |i| start + i);
        let line = (start, &text[start..end]);
        start = end + 1;
        Some(line)
    })
}

/// The path a header line names, when it is one.
fn header(line: &[u8]) -> Option<PathBuf> {
    let name = line.strip_prefix(HEADER)?.strip_suffix(b":")?;
    let name = std::str::from_utf8(name).ok()?;
    name.starts_with('/').then(|| PathBuf::from(name))
}

/// Whether `text` is a dump: its first line that is not one of nginx's
/// own messages (`nginx: ...`) is a header.
pub fn is_dump(text: &[u8]) -> bool {
    lines(text)
        .find(|(_, l)| !l.starts_with(b"nginx: "))
        .is_some_and(|(_, l)| header(l).is_some())
}

/// The files of the dump `text` (see [`is_dump`]).
pub fn parse(text: &[u8]) -> Result<Dump, String> {
    let headers: Vec<(usize, usize, PathBuf)> = lines(text)
        .filter_map(|(at, l)| header(l).map(|p| (at, at + l.len() + 1, p)))
        .collect();
    let Some(first) = headers.first() else {
        return Err("no `# configuration file PATH:` line: not an `nginx -T` dump".into());
    };
    let before = &text[..first.0];
    if lines(before).any(|(_, l)| !l.starts_with(b"nginx: ")) {
        return Err("text before the first `# configuration file PATH:` line: not an `nginx -T` dump as nginx writes it".into());
    }
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for (i, (_, body, path)) in headers.iter().enumerate() {
        let end = headers.get(i + 1).map_or(text.len(), |next| next.0);
        let body = &text[(*body).min(end)..end];
        // nginx ends every file's bytes with one line feed of its own.
        let Some(bytes) = body.strip_suffix(b"\n") else {
            return Err(format!(
                "{}: the dump ends inside this file (cut short?)",
                path.display()
            ));
        };
        if files.iter().any(|(p, _)| p == path) {
            return Err(format!(
                "{}: listed twice; nginx lists each file once",
                path.display()
            ));
        }
        files.push((path.clone(), bytes.to_vec()));
    }
    Ok(Dump { files })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written as nginx writes it: header, bytes, one line feed; a file
    /// without a final newline keeps it that way.
    #[test]
    fn files_come_back_byte_for_byte() {
        let text = b"nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\nnginx: configuration file /etc/nginx/nginx.conf test is successful\n# configuration file /etc/nginx/nginx.conf:\nevents {}\nhttp { include /etc/nginx/conf.d/*.conf; }\n\n# configuration file /etc/nginx/conf.d/a.conf:\nserver { listen 80; }\n";
        assert!(is_dump(text));
        let dump = parse(text).unwrap();
        assert_eq!(
            dump.files,
            [
                (
                    PathBuf::from("/etc/nginx/nginx.conf"),
                    b"events {}\nhttp { include /etc/nginx/conf.d/*.conf; }\n".to_vec()
                ),
                (
                    PathBuf::from("/etc/nginx/conf.d/a.conf"),
                    b"server { listen 80; }".to_vec()
                ),
            ]
        );
        assert!(!is_dump(b"events {}\n# configuration file /x:\n"));
        assert!(!is_dump(b"# configuration file relative.conf:\n"));
        assert!(parse(b"# configuration file /a:\nx").is_err());
        assert!(parse(b"# configuration file /a:\n\n# configuration file /a:\n\n").is_err());
    }
}
