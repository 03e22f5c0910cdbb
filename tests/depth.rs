//! Nesting depth, with the real binary on real files: blocks nested up to
//! `upkeep::MAX_DEPTH` levels (includes counting one level each) are
//! rewritten; one level more is a syntax error at path:line:column, exit 2,
//! nothing written to that file, and the other files of the run are
//! written. Before the limit, 5,000 nested blocks overflowed a stack
//! (SIGABRT, exit 134) and the whole run wrote nothing.

use std::path::Path;
use std::process::{Command, Output};

use upkeep::MAX_DEPTH;

const GOOD: &str = "server {\n    location / {\n        proxy_pass http://api:8080;\n    }\n}\n";

fn upkeep(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_upkeep"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// A server with `depth - 1` regex locations inside it (nginx accepts
/// regex locations nested in each other), the innermost proxying.
fn nested(depth: usize) -> String {
    let mut text = String::from("server {\n");
    text.push_str(&"location ~ a {\n".repeat(depth - 1));
    text.push_str("proxy_pass http://b:8080;\n");
    text.push_str(&"}\n".repeat(depth));
    text
}

#[test]
fn blocks_at_the_limit_are_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("deep.conf"), nested(MAX_DEPTH)).unwrap();
    let out = upkeep(dir.path(), &["--write", "deep.conf"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let text = std::fs::read_to_string(dir.path().join("deep.conf")).unwrap();
    assert!(text.starts_with("upstream b {\n"), "{}", &text[..200]);
    assert!(text.contains("proxy_pass http://b;\n"));
}

#[test]
fn one_level_deeper_is_refused_and_the_other_files_are_written() {
    let dir = tempfile::tempdir().unwrap();
    // Two directories: the snippets of one directory are one http context.
    for sub in ["deep", "good"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    // 100,000 levels: far beyond any stack, and refused as quickly.
    let deep = nested(100_000);
    std::fs::write(dir.path().join("deep/site.conf"), &deep).unwrap();
    std::fs::write(dir.path().join("good/site.conf"), GOOD).unwrap();
    let out = upkeep(dir.path(), &["--write", "deep/site.conf", "good/site.conf"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // The `{` that opens level MAX_DEPTH + 1: line MAX_DEPTH + 1, column 14
    // of `location ~ a {`.
    let expected = format!(
        "error: deep/site.conf:{}:14: blocks are nested deeper than {MAX_DEPTH} levels, the most upkeep reads\n",
        MAX_DEPTH + 1
    );
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert!(stderr.contains("= help: flatten the nesting"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("deep/site.conf")).unwrap(),
        deep
    );
    let good = std::fs::read_to_string(dir.path().join("good/site.conf")).unwrap();
    assert!(good.starts_with("upstream api {\n"), "{good}");
    assert!(good.contains("proxy_pass http://api;\n"), "{good}");
}

/// A main config whose `http` includes c1.conf, which includes c2.conf, …,
/// the last one holding a proxy: the chain's files are `chain` levels
/// below the http block.
fn include_chain(dir: &Path, chain: usize) {
    std::fs::write(
        dir.join("nginx.conf"),
        "events {}\nhttp {\n    include c1.conf;\n}\n",
    )
    .unwrap();
    for i in 1..chain {
        std::fs::write(
            dir.join(format!("c{i}.conf")),
            format!("include c{}.conf;\n", i + 1),
        )
        .unwrap();
    }
    std::fs::write(dir.join(format!("c{chain}.conf")), GOOD).unwrap();
}

#[test]
fn includes_count_as_levels() {
    // c1.conf is read inside `http` (one level) through an include (one
    // more): c<k>.conf's statements are k + 1 levels deep, and GOOD's
    // blocks add two.
    let fits = MAX_DEPTH - 3;
    let dir = tempfile::tempdir().unwrap();
    include_chain(dir.path(), fits);
    let out = upkeep(dir.path(), &["--write", "nginx.conf"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let last = std::fs::read_to_string(dir.path().join(format!("c{fits}.conf"))).unwrap();
    assert!(last.contains("proxy_pass http://api;\n"), "{last}");

    let dir = tempfile::tempdir().unwrap();
    include_chain(dir.path(), fits + 1);
    let out = upkeep(dir.path(), &["--write", "nginx.conf"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let expected = format!(
        "error: c{fits}.conf:1:1: included here, {} levels deep, the blocks of c{}.conf (2 deep) are nested deeper than {MAX_DEPTH} levels, the most upkeep reads\n",
        fits + 2,
        fits + 1
    );
    assert!(stderr.starts_with(&expected), "{stderr}");
    let last = std::fs::read_to_string(dir.path().join(format!("c{}.conf", fits + 1))).unwrap();
    assert_eq!(last, GOOD);
}
