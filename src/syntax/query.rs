//! The tree-sitter queries in `queries/`: the one place that says which
//! directives upkeep looks for. The model's index (`Model::index`) is built
//! from their matches; nothing else in the program lists those directives.
//!
//! The files are compiled once, together, as one multi-pattern query; each
//! match is routed back to its file by pattern index. The model's walk asks
//! the query about each directive whose name a file's predicate may admit
//! ([`may_match`], [`Queries::directive_matches`]); a pass over a whole tree
//! ([`Queries::run`]) is what every debug build holds the walk to, and what
//! the benchmarks time. Every file captures its
//! directive as `@directive`; the index resolved when the query is
//! compiled, so a renamed capture fails the unit test below rather than a
//! user's run. Other captures in a file exist for its predicates.

use std::ops::Range;
use std::sync::OnceLock;

use streaming_iterator::StreamingIterator;
use tree_sitter::{Node, Query, QueryCursor};

/// The query files, in the order their patterns are compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryFile {
    Pass,
    Upstream,
    Map,
}

/// The names a file's query can match, as its predicate on the name
/// says: the test the model's walk makes before it asks the query about
/// a directive. It may admit more than the predicate (the query decides),
/// never less: a unit test holds it to each file's predicate, and every
/// debug build to a query pass over the whole tree.
#[derive(Debug, Clone, Copy)]
enum Names {
    Is(&'static str),
    EndWith(&'static str),
}

impl Names {
    fn admit(self, name: &[u8]) -> bool {
        match self {
            Names::Is(n) => name == n.as_bytes(),
            Names::EndWith(n) => name.ends_with(n.as_bytes()),
        }
    }
}

const FILES: [(QueryFile, &str, &str, Names); 3] = [
    (
        QueryFile::Pass,
        "pass.scm",
        include_str!("../../queries/pass.scm"),
        Names::EndWith("_pass"),
    ),
    (
        QueryFile::Upstream,
        "upstream.scm",
        include_str!("../../queries/upstream.scm"),
        Names::Is("upstream"),
    ),
    (
        QueryFile::Map,
        "map.scm",
        include_str!("../../queries/map.scm"),
        Names::Is("map"),
    ),
];

/// Whether a directive named `name` (as written) may be one a query
/// matches.
pub fn may_match(name: &[u8]) -> bool {
    FILES.iter().any(|(_, _, _, names)| names.admit(name))
}

/// The bytes of text one query traversal covers: large enough that a
/// typical file is one traversal, small enough that a large one keeps
/// both cores busy beside the model's walk.
const CHUNK: usize = 256 * 1024;

/// What the queries matched in one tree: the start byte of each matched
/// directive, per file, sorted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Matches {
    pub pass: Vec<usize>,
    pub upstream: Vec<usize>,
    pub map: Vec<usize>,
}

impl Matches {
    pub fn of(&mut self, file: QueryFile) -> &mut Vec<usize> {
        match file {
            QueryFile::Pass => &mut self.pass,
            QueryFile::Upstream => &mut self.upstream,
            QueryFile::Map => &mut self.map,
        }
    }
}

pub struct Queries {
    query: Query,
    /// The index of the `@directive` capture.
    directive: u32,
    /// Which file each pattern belongs to, resolved when compiled rather
    /// than per match.
    file_of: Vec<QueryFile>,
}

fn compile() -> Queries {
    let language = tree_sitter_nginx::LANGUAGE.into();
    let mut source = String::new();
    let mut files = Vec::new();
    for (file, name, text, _) in FILES {
        // Each file must compile on its own, so a mistake names its file.
        match Query::new(&language, text) {
            Err(err) => panic!("queries/{name} does not compile: {err}"),
            Ok(q) if q.capture_index_for_name("directive").is_none() => {
                panic!("queries/{name} has no @directive capture")
            }
            Ok(_) => {}
        }
        let start = source.len();
        source.push_str(text);
        source.push('\n');
        files.push((file, start..source.len()));
    }
    let query = Query::new(&language, &source).expect("the query files compile together");
    let directive = query
        .capture_index_for_name("directive")
        .expect("checked per file above");
    let file_of = (0..query.pattern_count())
        .map(|p| {
            let start = query.start_byte_for_pattern(p);
            files
                .iter()
                .find(|(_, range)| range.contains(&start))
                .map(|(file, _)| *file)
                .expect("every pattern comes from a file")
        })
        .collect();
    Queries {
        query,
        directive,
        file_of,
    }
}

/// The queries, compiled on first use.
pub fn queries() -> &'static Queries {
    static QUERIES: OnceLock<Queries> = OnceLock::new();
    QUERIES.get_or_init(compile)
}

impl Queries {
    /// Calls `found` with each file whose query matches `directive` itself
    /// (a directive node of a tree of `text`). The model's walk asks this
    /// of each directive [`may_match`] admits: the walk already visits
    /// every directive, and a query pass over the whole tree visited every
    /// node a second time (a fifth of a large run's instructions). The
    /// patterns look only at a directive's words and whether it has a
    /// block: for a statement carried over from the original tree of a
    /// file re-parsed statement by statement, the block's content in the
    /// tree is the old one (`syntax::splice`).
    pub fn directive_matches(
        &self,
        directive: Node,
        text: &[u8],
        mut found: impl FnMut(QueryFile),
    ) {
        thread_local! {
            // Matches that start at the node itself, not in its block.
            static CURSOR: std::cell::RefCell<QueryCursor> = std::cell::RefCell::new({
                let mut cursor = QueryCursor::new();
                cursor.set_max_start_depth(Some(0));
                cursor
            });
        }
        CURSOR.with_borrow_mut(|cursor| {
            let mut matches = cursor.matches(&self.query, directive, text);
            while let Some(m) = matches.next() {
                let own = m
                    .captures()
                    .iter()
                    .any(|c| c.index == self.directive && c.node == directive);
                if own {
                    found(self.file_of[m.pattern_index]);
                }
            }
        });
    }

    /// Runs every query over the tree: one traversal per [`CHUNK`] of the
    /// text, the chunks on every core. tree-sitter's query cursor visits
    /// every node of its range (3 to 4x a plain cursor walk), and the
    /// model's walk waits for it: on one large file this was the longest
    /// part of building a model.
    pub fn run(&self, root: Node, text: &[u8]) -> Matches {
        self.run_in_chunks(root, text, CHUNK)
    }

    fn run_in_chunks(&self, root: Node, text: &[u8], chunk: usize) -> Matches {
        let start = root.start_byte();
        let end = root.end_byte().max(start + 1);
        let ranges: Vec<Range<usize>> = (start..end)
            .step_by(chunk)
            .map(|from| from..(from + chunk).min(end))
            .collect();
        // One chunk (a small file): on this thread, the pool not started.
        let parts = crate::par::map(&ranges, |range| self.run_range(root, text, range.clone()));
        let mut found = Matches::default();
        for part in parts {
            found.pass.extend(part.pass);
            found.upstream.extend(part.upstream);
            found.map.extend(part.map);
        }
        // A directive across a chunk's end starts in both chunks' ranges
        // (the cursor starts a match at every node that meets its range,
        // and follows a started one outside it), so each is found at
        // least once.
        for list in [&mut found.pass, &mut found.upstream, &mut found.map] {
            list.sort_unstable();
            list.dedup();
        }
        found
    }

    fn run_range(&self, root: Node, text: &[u8], range: Range<usize>) -> Matches {
        let mut found = Matches::default();
        let mut cursor = QueryCursor::new();
        cursor.set_byte_range(range);
        let mut matches = cursor.matches(&self.query, root, text);
        while let Some(m) = matches.next() {
            if let Some(c) = m.captures().iter().find(|c| c.index == self.directive) {
                found
                    .of(self.file_of[m.pattern_index])
                    .push(c.node.start_byte());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse::parse_tree;

    fn starts_of(text: &str, needle: &str) -> Vec<usize> {
        text.match_indices(needle).map(|(i, _)| i).collect()
    }

    /// Each file finds its directives and nothing else: a quoted name, a
    /// pass without a target, a map with one argument, an upstream without
    /// a block, and `*_pass` names outside `[a-z_]` are not matches.
    #[test]
    fn every_query_compiles_and_finds_its_directives() {
        let text = "http { map $http_upgrade $c { default upgrade; '' close; }\n\
            map $one { }\n\
            upstream api { server api:8080; }\n\
            upstream lonely;\n\
            server { location / { proxy_pass http://api; fastcgi_pass php:9000;\n\
            \"proxy_pass\" http://quoted; grpc_pass; Proxy_Pass http://upper; x1_pass y; } } }";
        let tree = parse_tree(text.as_bytes());
        let found = queries().run(tree.root_node(), text.as_bytes());
        let at = |needle: &str| text.find(needle).unwrap();
        assert_eq!(
            found.pass,
            vec![at("proxy_pass http://api"), at("fastcgi_pass")]
        );
        assert_eq!(found.upstream, starts_of(text, "upstream api"));
        assert_eq!(found.map, starts_of(text, "map $http_upgrade"));
        // In chunks of every size down to a byte, a directive across a
        // chunk's end included: the same matches.
        for chunk in 1..text.len() + 2 {
            assert_eq!(
                queries().run_in_chunks(tree.root_node(), text.as_bytes(), chunk),
                found,
                "chunks of {chunk} bytes"
            );
        }
    }

    /// The walk's name test admits what each file's predicate on the name
    /// does: `#eq?` on the very name, `#match?` on a pattern that ends
    /// with the suffix (and a name the pattern matches ends with it).
    #[test]
    fn the_name_test_admits_what_each_predicate_does() {
        for (_, name, text, names) in FILES {
            match names {
                Names::Is(n) => assert!(
                    text.contains(&format!("(#eq? @keyword \"{n}\")")),
                    "queries/{name}: no #eq? on {n:?}"
                ),
                Names::EndWith(n) => assert!(
                    text.contains(&format!("{n}$\"))")) && text.contains("(#match? @name \"^"),
                    "queries/{name}: no #match? ending in {n:?}"
                ),
            }
        }
        for (name, admitted) in [
            ("proxy_pass", true),
            ("grpc_pass", true),
            ("upstream", true),
            ("map", true),
            ("Proxy_Pass", false),
            ("proxy_pass_header", false),
            ("maps", false),
            ("server", false),
        ] {
            assert_eq!(may_match(name.as_bytes()), admitted, "{name}");
        }
    }

    /// Every fixture's matches are the same in small chunks as in one.
    #[test]
    fn chunks_find_what_one_traversal_finds() {
        let mut checked = 0;
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures")).unwrap() {
            let input = entry.unwrap().path().join("input.conf");
            let Ok(text) = std::fs::read(&input) else {
                continue;
            };
            let tree = parse_tree(&text);
            let whole = queries().run_in_chunks(tree.root_node(), &text, usize::MAX / 2);
            for chunk in [7, 64, 333, 4096] {
                assert_eq!(
                    queries().run_in_chunks(tree.root_node(), &text, chunk),
                    whole,
                    "{} in chunks of {chunk}",
                    input.display()
                );
            }
            checked += 1;
        }
        assert!(checked > 50, "only {checked} fixtures read");
    }
}
