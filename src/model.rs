//! A typed view of one parsed file: its blocks ("levels": the main context,
//! `http`, `server`, `location`, `if`, `upstream`, ...) and the directives in
//! each, plus the questions the rewrite rules ask about nginx's inheritance.
//!
//! The model knows nothing of `proxy_pass` in particular: it answers "which
//! level defines `proxy_set_header` for this location?" for any setting, so
//! rules for other `*_pass` modules can share it. Nothing here refers to the
//! file a directive came from beyond byte offsets into one [`Source`], so a
//! later multi-file model (following `include`) can keep the same questions.

use std::collections::HashMap;
use std::ops::Range;

use tree_sitter::{Node, Tree};

use crate::query::queries;
use crate::source::Source;

pub type LevelId = usize;
pub type DirId = usize;

/// What kind of block a level is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelKind {
    /// The file's top level.
    Root,
    Http,
    Server,
    Location,
    If,
    LimitExcept,
    Upstream,
    Map,
    Stream,
    Mail,
    /// Any other block (`events`, `types`, `geo`, a Lua block, ...).
    Other,
}

/// What the file's top level is, judged from the directives it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootRole {
    /// A main configuration (`http`, `events`, `stream` ... at the top).
    Main,
    /// A snippet included from `http` (top-level `server`/`upstream`/`map`).
    HttpSnippet,
    /// Anything else, e.g. a snippet of `location` blocks included from `server`.
    Fragment,
}

#[derive(Debug, Clone)]
pub struct Level {
    pub kind: LevelKind,
    /// The block directive that opens this level (`None` for the root).
    pub owner: Option<DirId>,
    pub parent: Option<LevelId>,
    /// The directives directly inside, in source order.
    pub statements: Vec<DirId>,
    /// Offset of the closing `}` (end of file for the root).
    pub close: usize,
}

/// One argument (or the name) of a directive.
#[derive(Debug, Clone)]
pub struct Word {
    /// Byte range of the word as written, quotes included.
    pub range: Range<usize>,
    /// The value nginx sees: quotes removed, escapes resolved.
    pub value: String,
    /// `Some('"')` or `Some('\'')` when written quoted.
    pub quote: Option<char>,
}

#[derive(Debug, Clone)]
pub struct Directive {
    pub name: Word,
    pub args: Vec<Word>,
    /// From the name to the `;` or the closing `}`.
    pub range: Range<usize>,
    pub level: LevelId,
    pub block: Option<LevelId>,
}

impl Directive {
    pub fn is(&self, name: &str) -> bool {
        self.name.value == name
    }

    pub fn arg(&self, index: usize) -> Option<&str> {
        self.args.get(index).map(|a| a.value.as_str())
    }
}

pub struct Model<'s> {
    pub source: &'s Source,
    pub levels: Vec<Level>,
    pub dirs: Vec<Directive>,
    pub root_role: RootRole,
    tree: Tree,
    by_start: HashMap<usize, DirId>,
    /// Per level, the proxy settings found by `queries/proxy_settings.scm`.
    proxy_settings: HashMap<LevelId, Vec<DirId>>,
}

pub const ROOT: LevelId = 0;

impl<'s> Model<'s> {
    pub fn build(source: &'s Source, tree: &Tree) -> Model<'s> {
        let mut model = Model {
            source,
            levels: vec![Level {
                kind: LevelKind::Root,
                owner: None,
                parent: None,
                statements: Vec::new(),
                close: source.text.len(),
            }],
            dirs: Vec::new(),
            root_role: RootRole::Fragment,
            tree: tree.clone(),
            by_start: HashMap::new(),
            proxy_settings: HashMap::new(),
        };
        model.collect(tree.root_node(), ROOT);
        model.root_role = model.classify_root();
        for (start, _) in queries().proxy_settings.run(tree.root_node(), &source.text) {
            if let Some(id) = model.dir_at(start) {
                let level = model.dirs[id].level;
                model.proxy_settings.entry(level).or_default().push(id);
            }
        }
        model
    }

    fn collect(&mut self, container: Node, level: LevelId) {
        let mut cursor = container.walk();
        let children: Vec<Node> = container.named_children(&mut cursor).collect();
        for node in children {
            if node.kind() != "directive" && node.kind() != "lua_block_directive" {
                continue;
            }
            let name_node = node
                .child_by_field_name("name")
                .expect("grammar: every directive has a name");
            let name = self.word(name_node);
            let mut cursor = node.walk();
            let args = node
                .children_by_field_name("argument", &mut cursor)
                .map(|n| self.word(n))
                .collect();
            let id = self.dirs.len();
            self.dirs.push(Directive {
                name,
                args,
                range: node.byte_range(),
                level,
                block: None,
            });
            self.by_start.insert(node.start_byte(), id);
            self.levels[level].statements.push(id);
            let Some(block) = node.child_by_field_name("block") else {
                continue;
            };
            let kind = if node.kind() == "lua_block_directive" {
                LevelKind::Other
            } else {
                kind_of(&self.dirs[id].name.value)
            };
            let child = self.levels.len();
            self.levels.push(Level {
                kind,
                owner: Some(id),
                parent: Some(level),
                statements: Vec::new(),
                close: block.end_byte().saturating_sub(1),
            });
            self.dirs[id].block = Some(child);
            if node.kind() == "directive" {
                self.collect(block, child);
            }
        }
    }

    fn word(&self, node: Node) -> Word {
        let raw = &self.source.text[node.byte_range()];
        let quote = match (node.kind(), raw.first()) {
            ("string", Some(b'"')) => Some('"'),
            ("string", Some(b'\'')) => Some('\''),
            _ => None,
        };
        let inner = if quote.is_some() && raw.len() >= 2 {
            &raw[1..raw.len() - 1]
        } else {
            raw
        };
        Word {
            range: node.byte_range(),
            value: unescape(inner),
            quote,
        }
    }

    fn classify_root(&self) -> RootRole {
        let names: Vec<&str> = self.levels[ROOT]
            .statements
            .iter()
            .map(|d| self.dirs[*d].name.value.as_str())
            .collect();
        if names
            .iter()
            .any(|n| matches!(*n, "http" | "events" | "stream" | "mail"))
        {
            RootRole::Main
        } else if names
            .iter()
            .any(|n| matches!(*n, "server" | "upstream" | "map"))
        {
            RootRole::HttpSnippet
        } else {
            RootRole::Fragment
        }
    }

    /// The syntax tree's root, for running queries.
    pub fn tree_root(&self) -> Node<'_> {
        self.tree.root_node()
    }

    /// The directive that starts at byte `start`.
    pub fn dir_at(&self, start: usize) -> Option<DirId> {
        self.by_start.get(&start).copied()
    }

    pub fn level_of_owner(&self, dir: DirId) -> Option<LevelId> {
        self.dirs[dir].block
    }

    /// Ancestors of `level`, nearest first, `level` itself included.
    pub fn ancestors(&self, level: LevelId) -> impl Iterator<Item = LevelId> + '_ {
        std::iter::successors(Some(level), move |l| self.levels[*l].parent)
    }

    /// The `http` context that holds `level`: an `http` block, or the root of
    /// a snippet included from `http`. `None` inside `stream`/`mail` or in a
    /// fragment with no `http` context of its own.
    pub fn http_context(&self, level: LevelId) -> Option<LevelId> {
        for l in self.ancestors(level) {
            match self.levels[l].kind {
                LevelKind::Http => return Some(l),
                LevelKind::Stream | LevelKind::Mail => return None,
                LevelKind::Root if self.root_role == RootRole::HttpSnippet => return Some(l),
                _ => {}
            }
        }
        None
    }

    /// The nearest level that can hold `proxy_*` settings (`location`,
    /// `server`, `http`): `if` and `limit_except` inherit from the location
    /// around them and cannot hold `proxy_set_header` themselves.
    pub fn settings_level(&self, level: LevelId) -> LevelId {
        self.ancestors(level)
            .find(|l| !matches!(self.levels[*l].kind, LevelKind::If | LevelKind::LimitExcept))
            .unwrap_or(ROOT)
    }

    /// The levels a setting is inherited through, nearest first: the
    /// settings level of `level`, then every enclosing location, server and
    /// http context.
    pub fn inheritance_chain(&self, level: LevelId) -> Vec<LevelId> {
        let start = self.settings_level(level);
        let top = self.http_context(start);
        let mut chain = Vec::new();
        for l in self.ancestors(start) {
            if matches!(
                self.levels[l].kind,
                LevelKind::Location | LevelKind::Server | LevelKind::Http | LevelKind::Root
            ) {
                chain.push(l);
            }
            if Some(l) == top {
                break;
            }
        }
        chain
    }

    /// The directives named `name` directly in `level`, in order.
    pub fn named(&self, level: LevelId, name: &str) -> Vec<DirId> {
        let candidates = match self.proxy_settings.get(&level) {
            Some(ids) if is_proxy_setting(name) => ids,
            _ if is_proxy_setting(name) => return Vec::new(),
            _ => &self.levels[level].statements,
        };
        candidates
            .iter()
            .copied()
            .filter(|d| self.dirs[*d].is(name))
            .collect()
    }

    /// The level whose `name` directives apply at `level` (nginx merges
    /// these per level: a level that defines one inherits none), or `None`
    /// when nginx's default applies.
    pub fn effective_source(&self, level: LevelId, name: &str) -> Option<LevelId> {
        self.inheritance_chain(level)
            .into_iter()
            .find(|l| !self.named(*l, name).is_empty())
    }

    /// The `proxy_set_header` entries in effect at `level`, as
    /// (lowercased header name, directive).
    pub fn effective_headers(&self, level: LevelId) -> (Option<LevelId>, Vec<(String, DirId)>) {
        let source = self.effective_source(level, "proxy_set_header");
        let headers = source
            .map(|l| {
                self.named(l, "proxy_set_header")
                    .into_iter()
                    .filter_map(|d| Some((self.dirs[d].arg(0)?.to_ascii_lowercase(), d)))
                    .collect()
            })
            .unwrap_or_default();
        (source, headers)
    }

    /// The path of a `location` level and whether it is a plain prefix
    /// (or `^~`/`=`) location, as opposed to a regex or named one.
    pub fn location_path(&self, level: LevelId) -> Option<LocationPath> {
        let owner = &self.dirs[self.levels[level].owner?];
        if !owner.is("location") {
            return None;
        }
        let (modifier, path) = match owner.args.as_slice() {
            [path] => (None, path),
            [modifier, path] => (Some(modifier.value.as_str()), path),
            _ => return None,
        };
        let kind = match modifier {
            None if path.value.starts_with('@') => LocationKind::Named,
            None | Some("^~") => LocationKind::Prefix,
            Some("=") => LocationKind::Exact,
            _ => LocationKind::Regex,
        };
        Some(LocationPath {
            path: path.value.clone(),
            path_range: path.range.clone(),
            kind,
        })
    }

    /// Levels of `kind` below `level` (depth-first, in source order).
    pub fn descendants(&self, level: LevelId) -> Vec<LevelId> {
        let mut out = Vec::new();
        let mut stack = vec![level];
        while let Some(l) = stack.pop() {
            for d in self.levels[l].statements.iter().rev() {
                if let Some(child) = self.dirs[*d].block {
                    stack.push(child);
                }
            }
            if l != level {
                out.push(l);
            }
        }
        out
    }

    pub fn text(&self, range: Range<usize>) -> String {
        self.source.slice(range)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationKind {
    Prefix,
    Exact,
    Regex,
    Named,
}

#[derive(Debug, Clone)]
pub struct LocationPath {
    pub path: String,
    pub path_range: Range<usize>,
    pub kind: LocationKind,
}

fn is_proxy_setting(name: &str) -> bool {
    matches!(
        name,
        "proxy_set_header" | "proxy_http_version" | "proxy_redirect" | "proxy_ssl_name" | "include"
    )
}

fn kind_of(name: &str) -> LevelKind {
    match name {
        "http" => LevelKind::Http,
        "server" => LevelKind::Server,
        "location" => LevelKind::Location,
        "if" => LevelKind::If,
        "limit_except" => LevelKind::LimitExcept,
        "upstream" => LevelKind::Upstream,
        "map" => LevelKind::Map,
        "stream" => LevelKind::Stream,
        "mail" => LevelKind::Mail,
        _ => LevelKind::Other,
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    #[test]
    fn inheritance_of_headers_skips_if_and_stops_at_the_defining_level() {
        let source = Source::new(
            "t",
            b"http { proxy_set_header A 1; server { location / { if ($x) { proxy_pass http://a; } } location /b { proxy_set_header B 2; } } }".to_vec(),
        );
        let tree = parse(&source).unwrap();
        let model = Model::build(&source, &tree);
        let if_level = model
            .levels
            .iter()
            .position(|l| l.kind == LevelKind::If)
            .unwrap();
        let location = model.settings_level(if_level);
        assert_eq!(model.levels[location].kind, LevelKind::Location);
        let (from, headers) = model.effective_headers(if_level);
        assert_eq!(model.levels[from.unwrap()].kind, LevelKind::Http);
        assert_eq!(headers[0].0, "a");
        let b = model
            .descendants(ROOT)
            .into_iter()
            .find(|l| model.location_path(*l).map(|p| p.path) == Some("/b".into()));
        let (_, headers) = model.effective_headers(b.unwrap());
        assert_eq!(headers[0].0, "b");
    }

    #[test]
    fn unescapes_like_nginx() {
        assert_eq!(unescape(br#"a\"b\q"#), "a\"b\\q");
    }
}
