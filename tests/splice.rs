//! The statement-level re-parse (`syntax::splice`) against a parse of the
//! whole rewritten text, on the edits upkeep really makes: every fixture,
//! two generated large configs and every corpus file nginx accepts. Where
//! it splices, each statement of the whole parse is either one of a
//! region's, with the same tree, or an original statement carried over
//! with the same tree; where it declines, the caller parses the whole
//! text, and the test counts how often that is. Hand-made edits on the
//! edges (a comment a region would end in, a byte-order mark left first)
//! go through the same check.

mod common;

use std::path::PathBuf;

use upkeep::stages::{
    apply, new_offset, normalize, plan, region_from, splice, Edge, Edit, Model, Region, Spliced,
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

/// Checks a splice of `text` under upkeep's own edits statement by
/// statement; false where it declined, `None` where nothing is edited.
fn spliced_as_parsed(name: &str, text: &[u8]) -> Option<bool> {
    let source = Source::new(name, text.to_vec());
    let options = upkeep::Options {
        keepalive: 32,
        ..Default::default()
    };
    // The whole pipeline too: in a debug build it checks that the model of
    // the output read from the splice is the whole parse's
    // (`verify::same_as_whole_parse`).
    let _ = upkeep::process(&source, &options);
    let tree = upkeep::parse(&source).ok()?;
    let model = Model::build(&source, &tree);
    let planned = plan(&model, &options).ok()?;
    let edits: Vec<_> = planned.changes.iter().map(|c| c.edit.clone()).collect();
    if edits.is_empty() {
        return None;
    }
    Some(spliced_under(name, text, &tree, edits).is_some())
}

/// The splice of `text` (whose tree is `tree`) under `edits`, checked
/// statement by statement against a whole parse; `None` where it declined.
fn spliced_under(
    name: &str,
    text: &[u8],
    tree: &tree_sitter::Tree,
    mut edits: Vec<Edit>,
) -> Option<Spliced> {
    normalize(&mut edits).unwrap();
    let new = Source::new(name, apply(text, &edits));
    let spliced = splice(text, tree, &edits, &new)?;
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
    Some(spliced)
}

/// [`spliced_under`] for a hand-made case: the regions, or `None`.
fn check(text: &str, edits: Vec<Edit>) -> Option<Vec<Region>> {
    let tree = upkeep::parse_tree(text.as_bytes());
    let spliced = spliced_under("case", text.as_bytes(), &tree, edits)?;
    Some(spliced.regions.to_vec())
}

#[test]
fn an_argument_rewritten_reparses_its_directive() {
    let text = "http {\n    server {\n        location / {\n            proxy_pass http://a:1;\n            proxy_set_header Connection \"upgrade\";\n        }\n    }\n}\n";
    let at = text.find("http://a:1").unwrap();
    let edits = vec![Edit::replace(at..at + 10, "http://pool")];
    let regions = check(text, edits).unwrap();
    assert_eq!(regions.len(), 1);
    let r = &regions[0];
    assert_eq!(r.depth, 3);
    // From the `{` of the location to the directive after.
    assert_eq!(
        &text[r.old.clone()],
        "\n            proxy_pass http://a:1;\n            "
    );
}

#[test]
fn text_between_statements_and_new_blocks_reparse_as_regions() {
    let text = "http {\n    # pools\n    server {\n        listen 80;\n        location / { proxy_pass http://a:1; }\n    }\n}\n";
    let server = text.find("    server").unwrap();
    let pass = text.find("proxy_pass").unwrap();
    let edits = vec![
        Edit::insert(
            server,
            "    upstream a { server a:1; keepalive 8; }\n",
            Default::default(),
        ),
        Edit::insert(pass, "proxy_http_version 1.1; ", Default::default()),
    ];
    let regions = check(text, edits).unwrap();
    assert_eq!(regions.len(), 2);
    // The comment above the server goes with the new upstream.
    assert!(text[regions[0].old.clone()].contains("# pools"));
}

#[test]
fn a_comment_the_following_text_would_continue_is_not_spliced() {
    let text = "http {\n    a 1;\n    b 2;\n}\n";
    let at = text.find("    b 2").unwrap();
    // `# note` then `b 2;` on its line: the whole text reads one comment.
    let edits = vec![Edit::replace(at..at + 4, "    c 3; # note ")];
    assert_eq!(check(text, edits), None);
    // A directive that runs into the next region is not either.
    let text = "a 1;\nb 2;\nc 3;\n";
    let edits = vec![Edit::replace(0..4, "a"), Edit::replace(10..14, "c;")];
    assert!(check(text, edits).is_none());
}

/// A deletion at the start that leaves a byte-order mark first: the whole
/// text is refused, so the splice declines.
#[test]
fn a_byte_order_mark_left_first_is_not_spliced() {
    let text = "a;\u{FEFF}b;\n";
    assert_eq!(check(text, vec![Edit::delete(0..2)]), None);
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
