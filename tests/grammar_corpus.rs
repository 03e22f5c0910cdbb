//! Runs the grammar's own corpus (`grammar/test/corpus/*.txt`, the format
//! `tree-sitter test` reads) with the tree-sitter runtime, so `cargo test`
//! checks the grammar without the tree-sitter CLI. Also checks the inputs
//! that text files cannot hold well: CRLF, no final newline, non-UTF-8
//! bytes in comments and strings.

use std::path::PathBuf;

struct Case {
    file: String,
    name: String,
    expect_error: bool,
    input: String,
    expected: String,
}

fn is_rule(line: &str, c: char) -> bool {
    line.len() >= 3 && line.chars().all(|x| x == c)
}

fn cases() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("grammar/test/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            if !is_rule(lines[i], '=') {
                i += 1;
                continue;
            }
            let name = lines[i + 1].to_string();
            let mut j = i + 2;
            let mut expect_error = false;
            while !is_rule(lines[j], '=') {
                expect_error |= lines[j].trim() == ":error";
                j += 1;
            }
            let start = j + 1;
            let mut k = start;
            while !is_rule(lines[k], '-') {
                k += 1;
            }
            let mut end = k + 1;
            while end < lines.len() && !(is_rule(lines[end], '=') && end + 1 < lines.len()) {
                end += 1;
            }
            cases.push(Case {
                file: path.file_name().unwrap().to_string_lossy().into_owned(),
                name,
                expect_error,
                input: lines[start..k].join("\n").trim().to_string() + "\n",
                expected: lines[k + 1..end].join(" "),
            });
            i = end;
        }
    }
    cases
}

fn normalize(sexp: &str) -> String {
    sexp.replace('(', " ( ")
        .replace(')', " ) ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn grammar_corpus_matches() {
    let cases = cases();
    assert!(
        cases.len() >= 20,
        "found only {} grammar cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let tree = upkeep::parse_tree(case.input.as_bytes());
        let root = tree.root_node();
        if case.expect_error {
            if !root.has_error() {
                failures.push(format!(
                    "{}: {}: expected an error, got {}",
                    case.file,
                    case.name,
                    root.to_sexp()
                ));
            }
            continue;
        }
        let got = normalize(&root.to_sexp());
        if got != normalize(&case.expected) {
            failures.push(format!(
                "{}: {}:\n  expected {}\n  got      {got}",
                case.file,
                case.name,
                normalize(&case.expected)
            ));
        }
    }
    println!("{} grammar corpus cases", cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn line_endings_final_newline_and_non_utf8() {
    for text in [
        &b"server {\r\n    listen 80;\r\n}\r\n"[..],
        b"server { listen 80; }",
        b"# caf\xe9 in Latin-1\nserver { return 200 \"\xff\xfe\"; }\n",
        b"location / {\n\treturn 200 'ok';\n}",
        b"",
        b"\n\n# only a comment",
    ] {
        let tree = upkeep::parse_tree(text);
        assert!(
            !tree.root_node().has_error(),
            "{:?}: {}",
            String::from_utf8_lossy(text),
            tree.root_node().to_sexp()
        );
    }
}
