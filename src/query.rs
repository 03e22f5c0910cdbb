//! The tree-sitter queries in `queries/`, compiled once and run over a tree.
//!
//! Each query file names its captures in a header comment; here every
//! capture index is resolved when the query is compiled, so a renamed
//! capture fails the unit test below rather than a user's run. Matches are
//! streamed (tree-sitter 0.24+); what a caller needs is copied out at once as
//! byte offsets, which the model maps back to its directives.

use std::sync::OnceLock;

use streaming_iterator::StreamingIterator;
use tree_sitter::{Node, Query, QueryCursor};

/// One compiled query and the capture indices its callers use.
pub struct CompiledQuery {
    query: Query,
    directive: u32,
    extra: Vec<u32>,
}

impl CompiledQuery {
    fn compile(source: &str, file: &str, extra: &[&str]) -> CompiledQuery {
        let language = tree_sitter_nginx::LANGUAGE.into();
        let query = Query::new(&language, source)
            .unwrap_or_else(|err| panic!("queries/{file} does not compile: {err}"));
        let index = |name: &str| {
            query
                .capture_index_for_name(name)
                .unwrap_or_else(|| panic!("queries/{file} has no @{name} capture"))
        };
        let directive = index("directive");
        let extra = extra.iter().map(|name| index(name)).collect();
        CompiledQuery {
            query,
            directive,
            extra,
        }
    }

    /// For every match: the directive's start byte and the start bytes of the
    /// extra captures, in the order they were named at compile time.
    pub fn run(&self, root: Node, text: &[u8]) -> Vec<(usize, Vec<usize>)> {
        let mut cursor = QueryCursor::new();
        let mut matches = cursor.matches(&self.query, root, text);
        let mut found = Vec::new();
        while let Some(m) = matches.next() {
            let start_of = |index: u32| {
                m.captures()
                    .iter()
                    .find(|c| c.index == index)
                    .map(|c| c.node.start_byte())
            };
            let Some(directive) = start_of(self.directive) else {
                continue;
            };
            let extra = self.extra.iter().filter_map(|i| start_of(*i)).collect();
            found.push((directive, extra));
        }
        found.sort();
        found.dedup();
        found
    }
}

/// All of upkeep's queries.
pub struct Queries {
    pub pass: CompiledQuery,
    pub upstream: CompiledQuery,
    pub map: CompiledQuery,
    pub proxy_settings: CompiledQuery,
    pub location: CompiledQuery,
}

/// The queries, compiled on first use.
pub fn queries() -> &'static Queries {
    static QUERIES: OnceLock<Queries> = OnceLock::new();
    QUERIES.get_or_init(|| Queries {
        pass: CompiledQuery::compile(include_str!("../queries/pass.scm"), "pass.scm", &["target"]),
        upstream: CompiledQuery::compile(
            include_str!("../queries/upstream.scm"),
            "upstream.scm",
            &["name", "block"],
        ),
        map: CompiledQuery::compile(
            include_str!("../queries/map.scm"),
            "map.scm",
            &["source", "variable"],
        ),
        proxy_settings: CompiledQuery::compile(
            include_str!("../queries/proxy_settings.scm"),
            "proxy_settings.scm",
            &["name"],
        ),
        location: CompiledQuery::compile(
            include_str!("../queries/location.scm"),
            "location.scm",
            &["block"],
        ),
    })
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
        let q = queries();
        let root = tree.root_node();
        assert_eq!(q.pass.run(root, text).len(), 2);
        assert_eq!(q.upstream.run(root, text).len(), 1);
        assert_eq!(q.map.run(root, text)[0].1.len(), 2);
        assert_eq!(q.proxy_settings.run(root, text).len(), 1);
        assert_eq!(q.location.run(root, text).len(), 1);
    }
}
