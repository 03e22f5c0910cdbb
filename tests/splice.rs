//! The statement-level re-parse (`syntax::splice`) against a parse of the
//! whole rewritten text, on the edits upkeep really makes: every fixture,
//! two generated large configs and every corpus file nginx accepts. Where
//! it splices, each statement of the whole parse is either one of a
//! region's, with the same tree, or an original statement carried over
//! with the same tree; where it declines, the caller parses the whole
//! text, and the test counts how often that is.

mod common;

use std::path::PathBuf;

use upkeep::stages::{
    apply, new_offset, normalize, plan, region_from, splice, Edge, Model, Spliced,
};
use upkeep::Source;

/// Where `new`, a position of the new text outside every region, was in
/// the original.
fn old_offset(spliced: &Spliced, new: usize) -> usize {
    let before = spliced.regions.partition_point(|r| r.new.end <= new);
    match before.checked_sub(1) {
        None => new,
        Some(i) => new - spliced.regions[i].new.end + spliced.regions[i].old.end,
    }
}

/// The node of `root`'s tree that starts at `at`, is `len` bytes long and
/// of `kind`.
fn node_at<'t>(
    root: tree_sitter::Node<'t>,
    at: usize,
    len: usize,
    kind: &str,
) -> Option<tree_sitter::Node<'t>> {
    let mut node = root.descendant_for_byte_range(at, at + len)?;
    while node.start_byte() != at || node.byte_range().len() != len || node.kind() != kind {
        node = node.parent()?;
    }
    Some(node)
}

/// Checks a splice of `text` under `edits` statement by statement; false
/// where it declined.
fn spliced_as_parsed(name: &str, text: &[u8]) -> Option<bool> {
    let source = Source::new(name, text.to_vec());
    // The whole pipeline too: in a debug build it checks that the model of
    // the output read from the splice is the whole parse's
    // (`verify::same_as_whole_parse`).
    let options = upkeep::Options {
        keepalive: 32,
        ..Default::default()
    };
    let _ = upkeep::process(&source, &options);
    let tree = upkeep::parse(&source).ok()?;
    let model = Model::build(&source, &tree);
    let options = upkeep::Options {
        keepalive: 32,
        ..Default::default()
    };
    let planned = plan(&model, &options).ok()?;
    let mut edits: Vec<_> = planned.changes.iter().map(|c| c.edit.clone()).collect();
    normalize(&mut edits).unwrap();
    if edits.is_empty() {
        return None;
    }
    let new = Source::new(name, apply(text, &edits));
    let Some(spliced) = splice(text, &tree, &edits, &new) else {
        return Some(false);
    };
    let whole = upkeep::parse_tree(&new.text);
    let regions = &spliced.regions;
    // Per region, the statements the walk reads in it, by start in the
    // new text.
    let mut in_regions: Vec<Vec<usize>> = Vec::new();
    for (i, r) in regions.iter().enumerate() {
        assert_eq!(region_from(regions, r.old.start), Some(i), "{name}: {r:?}");
        let mut starts = Vec::new();
        if let Some(mut cursor) = spliced.statements(i) {
            loop {
                starts.push(r.to_new(cursor.node().start_byte()));
                if !cursor.goto_next_sibling() || !spliced.in_region(i, cursor.node()) {
                    break;
                }
            }
        }
        in_regions.push(starts);
    }
    let mut top_level_in_regions: Vec<Vec<usize>> = vec![Vec::new(); regions.len()];
    let mut stack = vec![whole.root_node()];
    while let Some(node) = stack.pop() {
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            if child.kind() == "block" {
                stack.push(child);
                continue;
            }
            if !matches!(
                child.kind(),
                "directive" | "lua_block_directive" | "comment"
            ) {
                continue;
            }
            let at = child.start_byte();
            let len = child.byte_range().len();
            if let Some(i) = regions
                .iter()
                .position(|r| r.new.start <= at && at < r.new.end)
            {
                let r = &regions[i];
                top_level_in_regions[i].push(at);
                let from = at - r.new.start + r.parsed;
                let found = node_at(
                    spliced.pieces[r.piece].tree.root_node(),
                    from,
                    len,
                    child.kind(),
                )
                .unwrap_or_else(|| {
                    panic!(
                        "{name}: {} at {at} not in its region {r:?}",
                        child.to_sexp()
                    )
                });
                assert_eq!(found.to_sexp(), child.to_sexp(), "{name}: at {at}");
                continue;
            }
            // Carried over: the same statement of the original, unless a
            // region is inside it (its body was edited).
            let has_region = regions
                .iter()
                .any(|r| at < r.new.start && r.new.end <= child.end_byte());
            if !has_region {
                let old = old_offset(&spliced, at);
                let original =
                    node_at(tree.root_node(), old, len, child.kind()).unwrap_or_else(|| {
                        panic!("{name}: {} at {at} is not the original's", child.to_sexp())
                    });
                assert_eq!(original.to_sexp(), child.to_sexp(), "{name}: at {at}");
                assert_eq!(new_offset(regions, old, Edge::Start), at, "{name}: at {at}");
                assert_eq!(
                    new_offset(regions, old + len, Edge::End),
                    at + len,
                    "{name}: at {at}"
                );
                assert_eq!(
                    &text[old..old + len],
                    &new.text[at..at + len],
                    "{name}: at {at}"
                );
            } else {
                stack.push(child);
            }
        }
    }
    for starts in &mut top_level_in_regions {
        starts.sort_unstable();
    }
    assert_eq!(in_regions, top_level_in_regions, "{name}");
    if name.starts_with("generated") {
        // Large enough to be parsed in two pieces, on two cores.
        assert_eq!(spliced.pieces.len(), 2, "{name}");
    }
    Some(true)
}

fn generated(servers: usize, many: bool) -> Vec<u8> {
    let mut text = String::from("events {}\nhttp {\n");
    for i in 0..servers {
        let api = if many { i } else { i % 7 };
        text.push_str(&format!(
            "    # site {i}\n    server {{\n        listen {port};\n        server_name s{i}.example;\n\
             \x20       location / {{ proxy_pass http://127.0.0.1:{port}; }}\n\
             \x20       location /api/ {{\n            proxy_pass http://api{api}.internal:8080/;\n\
             \x20           proxy_set_header Upgrade $http_upgrade;\n\
             \x20           proxy_set_header Connection \"upgrade\"; # ws\n        }}\n    }}\n",
            port = 8000 + i % 50
        ));
    }
    text.push_str("}\n");
    text.into_bytes()
}

#[test]
fn spliced_statements_are_the_whole_parse() {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for (f, _) in common::fixtures_with_expected() {
        let path = fixtures.join(&f.name).join("input.conf");
        files.push((f.name.clone(), std::fs::read(&path).unwrap()));
    }
    // Statements with no space between them: text put between two is a
    // region that replaces nothing.
    files.push((
        "compact".into(),
        b"http{upstream u{server u:1;}server{location /{proxy_pass http://a:1;}location /u{proxy_pass http://u;proxy_set_header Connection upgrade;}}}".to_vec(),
    ));
    files.push(("generated-few".into(), generated(600, false)));
    files.push(("generated-many".into(), generated(600, true)));
    if let Some(dir) = common::corpus("spliced_statements_are_the_whole_parse (corpus part)") {
        for path in common::corpus_list(&dir, "NGINX_OK.txt") {
            files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    let (mut spliced, mut declined) = (0, Vec::new());
    for (name, text) in &files {
        match spliced_as_parsed(name, text) {
            Some(true) => spliced += 1,
            Some(false) => declined.push(name.clone()),
            None => {}
        }
    }
    println!(
        "splice: {spliced} files spliced, {} declined: {declined:?}",
        declined.len()
    );
    // The generated configs are the case it exists for; and on real files
    // a decline is the exception (a comment at a region's end, say).
    for name in ["generated-few", "generated-many"] {
        assert!(!declined.contains(&name.to_string()), "{name} declined");
    }
    assert!(spliced >= 40, "only {spliced} files spliced");
    assert!(
        declined.len() * 10 <= spliced,
        "{} declined of {}",
        declined.len(),
        spliced + declined.len()
    );
}
