//! The tree-sitter queries in `queries/`, compiled once and run over a tree
//! in a single pass.
//!
//! The queries are the specification of which directives upkeep looks at.
//! On the hot path the model indexes the same directives during the one
//! tree walk it makes anyway (`Model::found`): running the queries as well
//! cost about half a parse on large configs (measured: 80 ms of a 160 ms
//! parse on 2.5 MB). `tests/corpus.rs` checks, on every fixture and corpus
//! file, that the queries and the model's index find exactly the same.
//!
//! Each query file names its captures in a header comment. The files are
//! compiled together as one multi-pattern query (one traversal of the tree
//! instead of one per file, which matters on multi-megabyte configs); each
//! match is routed back to its file by pattern index. Capture indices are
//! resolved when the query is compiled, so a renamed capture fails the unit
//! test below rather than a user's run. Matches are streamed (tree-sitter
//! 0.24+); what a caller needs is copied out at once as byte offsets, which
//! the model maps back to its directives.

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
    ProxySettings,
    Location,
}

const FILES: [(QueryFile, &str, &str, &[&str]); 5] = [
    (
        QueryFile::Pass,
        "pass.scm",
        include_str!("../queries/pass.scm"),
        &["target"],
    ),
    (
        QueryFile::Upstream,
        "upstream.scm",
        include_str!("../queries/upstream.scm"),
        &["name", "block"],
    ),
    (
        QueryFile::Map,
        "map.scm",
        include_str!("../queries/map.scm"),
        &["source", "variable"],
    ),
    (
        QueryFile::ProxySettings,
        "proxy_settings.scm",
        include_str!("../queries/proxy_settings.scm"),
        &["name"],
    ),
    (
        QueryFile::Location,
        "location.scm",
        include_str!("../queries/location.scm"),
        &["block"],
    ),
];

/// One match: the directive's start byte and the start bytes of the file's
/// extra captures, in the order the table above names them.
pub type Found = (usize, Vec<usize>);

/// What every query found, per file, sorted by position.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct QueryResults {
    pub pass: Vec<Found>,
    pub upstream: Vec<Found>,
    pub map: Vec<Found>,
    pub proxy_settings: Vec<Found>,
    pub location: Vec<Found>,
}

impl QueryResults {
    fn of(&mut self, file: QueryFile) -> &mut Vec<Found> {
        match file {
            QueryFile::Pass => &mut self.pass,
            QueryFile::Upstream => &mut self.upstream,
            QueryFile::Map => &mut self.map,
            QueryFile::ProxySettings => &mut self.proxy_settings,
            QueryFile::Location => &mut self.location,
        }
    }
}

pub struct Queries {
    query: Query,
    /// Per file: its byte range in the combined source, and capture indices.
    files: Vec<(QueryFile, Range<usize>, u32, Vec<u32>)>,
}

fn compile() -> Queries {
    let language = tree_sitter_nginx::LANGUAGE.into();
    let mut source = String::new();
    let mut ranges = Vec::new();
    for (_, name, text, _) in FILES {
        // Each file must compile on its own, so a mistake names its file.
        if let Err(err) = Query::new(&language, text) {
            panic!("queries/{name} does not compile: {err}");
        }
        let start = source.len();
        source.push_str(text);
        source.push('\n');
        ranges.push(start..source.len());
    }
    let query = Query::new(&language, &source).expect("the query files compile together");
    let files = FILES
        .iter()
        .zip(ranges)
        .map(|((file, name, _, extra), range)| {
            let index = |capture: &str| {
                query
                    .capture_index_for_name(capture)
                    .unwrap_or_else(|| panic!("queries/{name} has no @{capture} capture"))
            };
            (
                *file,
                range,
                index("directive"),
                extra.iter().map(|c| index(c)).collect(),
            )
        })
        .collect();
    Queries { query, files }
}

/// The queries, compiled on first use.
pub fn queries() -> &'static Queries {
    static QUERIES: OnceLock<Queries> = OnceLock::new();
    QUERIES.get_or_init(compile)
}

impl Queries {
    /// Runs every query over the tree in one traversal.
    pub fn run_all(&self, root: Node, text: &[u8]) -> QueryResults {
        let mut results = QueryResults::default();
        let mut cursor = QueryCursor::new();
        let mut matches = cursor.matches(&self.query, root, text);
        while let Some(m) = matches.next() {
            let pattern_start = self.query.start_byte_for_pattern(m.pattern_index);
            let Some((file, _, directive, extra)) = self
                .files
                .iter()
                .find(|(_, range, _, _)| range.contains(&pattern_start))
            else {
                continue;
            };
            let start_of = |index: u32| {
                m.captures()
                    .iter()
                    .find(|c| c.index == index)
                    .map(|c| c.node.start_byte())
            };
            let Some(at) = start_of(*directive) else {
                continue;
            };
            let found = (at, extra.iter().filter_map(|i| start_of(*i)).collect());
            results.of(*file).push(found);
        }
        for file in [
            QueryFile::Pass,
            QueryFile::Upstream,
            QueryFile::Map,
            QueryFile::ProxySettings,
            QueryFile::Location,
        ] {
            let list = results.of(file);
            list.sort();
            list.dedup();
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_tree;

    #[test]
    fn every_query_compiles_and_finds_its_directives() {
        let text = b"http { map $http_upgrade $c { default upgrade; '' close; }\n\
            upstream api { server api:8080; }\n\
            server { location / { proxy_pass http://api; proxy_set_header Host $host; fastcgi_pass php:9000; } } }";
        let tree = parse_tree(text);
        let found = queries().run_all(tree.root_node(), text);
        assert_eq!(found.pass.len(), 2);
        assert_eq!(found.upstream.len(), 1);
        assert_eq!(found.upstream[0].1.len(), 2);
        assert_eq!(found.map[0].1.len(), 2);
        assert_eq!(found.proxy_settings.len(), 1);
        assert_eq!(found.location.len(), 1);
    }
}
