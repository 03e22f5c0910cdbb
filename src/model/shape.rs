//! The shape nginx requires of the directives upkeep reasons about: a
//! block or a `;`, and how many arguments.
//!
//! nginx checks both for every directive it knows (`ngx_conf_handler` in
//! `src/core/ngx_conf_file.c`, against each module's command table:
//! `NGX_CONF_BLOCK`, `NGX_CONF_TAKE12`, `NGX_CONF_1MORE`, ...) and refuses
//! to load a config that breaks them. The rules assume these shapes (a
//! `proxy_pass` has one target, a `location` one or two words and a body);
//! a file that breaks one is refused here, with nginx's own message, before
//! anything is planned. Two inputs the fuzzer found (`proxy_pass {}`, a
//! `location` without a path) otherwise made the rules plan a rewrite that
//! planning its output would change again.
//!
//! `upstream` and `map` must also be where nginx allows them (in `http`).
//!
//! Only the directives below are checked, and only where the rules read
//! them: everywhere but in `stream` and `mail` (other modules) and in data
//! blocks (`map`, `types`, `geo`, `split_clients`, `charset_map`) and
//! `events`. An unknown block (nginx refuses its name) is checked too: the
//! rules read the locations in it.

use std::ops::RangeInclusive;

use crate::model::{DirId, LevelId, LevelKind, Model};
use crate::vocab::PlanError;

/// A directive's shape in nginx's command table.
struct Shape {
    name: &'static str,
    block: bool,
    args: RangeInclusive<usize>,
}

const fn shape(name: &'static str, block: bool, args: RangeInclusive<usize>) -> Shape {
    Shape { name, block, args }
}

/// `NGX_CONF_1MORE`.
const MORE: usize = usize::MAX;

/// From the command tables of nginx's core, http core, proxy, fastcgi,
/// grpc, map and upstream modules (the flags are the same in every nginx
/// since 1.1; `proxy_ssl_server_name` and `fastcgi_keep_conn` are
/// `NGX_CONF_FLAG`: one argument).
const SHAPES: &[Shape] = &[
    shape("http", true, 0..=0),
    shape("location", true, 1..=2),
    shape("if", true, 1..=MORE),
    shape("limit_except", true, 1..=MORE),
    shape("upstream", true, 1..=1),
    shape("map", true, 2..=2),
    shape("include", false, 1..=1),
    shape("proxy_pass", false, 1..=1),
    shape("proxy_set_header", false, 2..=2),
    shape("proxy_http_version", false, 1..=1),
    shape("proxy_redirect", false, 1..=2),
    shape("proxy_ssl_name", false, 1..=1),
    shape("proxy_ssl_server_name", false, 1..=1),
    shape("proxy_cache", false, 1..=1),
    shape("proxy_cache_key", false, 1..=1),
    shape("fastcgi_pass", false, 1..=1),
    shape("fastcgi_keep_conn", false, 1..=1),
    shape("grpc_pass", false, 1..=1),
    shape("grpc_ssl_name", false, 1..=1),
    shape("resolver", false, 1..=MORE),
];

/// `server` is two directives: a block in `http`, an address in
/// `upstream`; so are the pool settings of `upstream`.
const IN_HTTP: &[Shape] = &[shape("server", true, 0..=0)];
const IN_UPSTREAM: &[Shape] = &[
    shape("server", false, 1..=MORE),
    shape("keepalive", false, 1..=2),
    shape("keepalive_timeout", false, 1..=1),
    shape("keepalive_requests", false, 1..=1),
];

/// Whether the statements of `level` are directives of nginx's http core
/// (or of a block upkeep does not know, where the rules read them as
/// such), not data or another module's.
fn reads_directives(model: &Model, level: LevelId) -> bool {
    let l = &model.levels[level];
    match l.kind {
        LevelKind::Map | LevelKind::Stream | LevelKind::Mail => false,
        LevelKind::Other => !l.owner.is_some_and(|o| {
            matches!(
                model.dirs[o].name.value.as_ref(),
                "events" | "types" | "geo" | "split_clients" | "charset_map"
            )
        }),
        _ => true,
    }
}

/// The first directive (in text order) whose shape nginx would refuse, as
/// nginx words it.
pub fn first_error(model: &Model) -> Option<PlanError> {
    let mut found: Option<(usize, String)> = None;
    for (level, l) in model.each_level() {
        let checked = std::iter::once(level)
            .chain(model.ancestors(level))
            .all(|a| reads_directives(model, a));
        if !checked {
            continue;
        }
        let local: &[Shape] = match l.kind {
            LevelKind::Http => IN_HTTP,
            LevelKind::Upstream => IN_UPSTREAM,
            _ => &[],
        };
        for d in &l.statements {
            let Some(message) = misplaced(model, *d, l.kind).or_else(|| wrong(model, *d, local))
            else {
                continue;
            };
            let at = model.dirs[*d].range.start;
            if found.as_ref().is_none_or(|(first, _)| at < *first) {
                found = Some((at, message));
            }
        }
    }
    found.map(|(at, message)| PlanError {
        offset: Some(at),
        message: format!("{message}; nginx cannot load this config (fix the directive)"),
    })
}

/// nginx's complaint about `upstream` or `map` inside a block other than
/// `http` (they are `NGX_HTTP_MAIN_CONF` only): the rules read every
/// upstream block wherever it is, and one nested in a location made a
/// rewrite that planning its output would change again (a fuzz finding).
/// A file's top level may be a snippet of `http`.
fn misplaced(model: &Model, d: DirId, kind: LevelKind) -> Option<String> {
    let name = model.dirs[d].name.value.as_ref();
    (matches!(name, "upstream" | "map") && !matches!(kind, LevelKind::Http | LevelKind::Root))
        .then(|| format!("\"{name}\" directive is not allowed here"))
}

/// nginx's complaint about directive `d`, if it has one.
fn wrong(model: &Model, d: DirId, local: &[Shape]) -> Option<String> {
    let dir = &model.dirs[d];
    let name = dir.name.value.as_ref();
    let shape = local.iter().chain(SHAPES).find(|s| s.name == name)?;
    // In nginx's order: the terminator first, then the arguments.
    if dir.block.is_some() && !shape.block {
        return Some(format!("directive \"{name}\" is not terminated by \";\""));
    }
    if dir.block.is_none() && shape.block {
        return Some(format!("directive \"{name}\" has no opening \"{{\""));
    }
    (!shape.args.contains(&dir.args.len()))
        .then(|| format!("invalid number of arguments in \"{name}\" directive"))
}

#[cfg(test)]
mod tests {
    use crate::syntax::source::Source;

    fn check(text: &str) -> Option<String> {
        let source = Source::new("t.conf", text.as_bytes().to_vec());
        let tree = crate::syntax::parse::parse(&source).unwrap();
        let model = crate::model::Model::build(&source, &tree);
        super::first_error(&model).map(|e| {
            let (line, column) = source.line_col(e.offset.unwrap());
            format!("{line}:{column}: {}", e.message)
        })
    }

    #[test]
    fn refuses_what_nginx_refuses_with_its_words() {
        for (text, expected) in [
            (
                "server {\n    location / {\n        proxy_pass {}\n    }\n}\n",
                "3:9: directive \"proxy_pass\" is not terminated by \";\"",
            ),
            (
                "server {\n  location {}\n}\n",
                "2:3: invalid number of arguments in \"location\" directive",
            ),
            (
                "server { if { return 200; } }",
                "1:10: invalid number of arguments in \"if\" directive",
            ),
            (
                "server { location / a b {} }",
                "1:10: invalid number of arguments in \"location\" directive",
            ),
            (
                "server { location /; }",
                "1:10: directive \"location\" has no opening \"{\"",
            ),
            (
                "location / { proxy_set_header Host; }",
                "1:14: invalid number of arguments in \"proxy_set_header\" directive",
            ),
            (
                "upstream a { server {} }",
                "1:14: directive \"server\" is not terminated by \";\"",
            ),
            (
                "http { server a:80; }",
                "1:8: directive \"server\" has no opening \"{\"",
            ),
            (
                "server {\n    location / {\n        upstream u { server a:80; }\n    }\n}\n",
                "3:9: \"upstream\" directive is not allowed here",
            ),
            (
                "upstream u { map $a $b {} }",
                "1:14: \"map\" directive is not allowed here",
            ),
            // An unknown block: nginx refuses its name, the rules read it.
            (
                "r { location {} }",
                "1:5: invalid number of arguments in \"location\" directive",
            ),
            // The first in the text, whatever the level.
            (
                "server { location / { proxy_pass a b; } }\nproxy_pass;",
                "1:23: invalid number of arguments in \"proxy_pass\" directive",
            ),
        ] {
            let got = check(text).unwrap_or_else(|| panic!("{text}: accepted"));
            assert_eq!(
                got,
                format!("{expected}; nginx cannot load this config (fix the directive)"),
                "{text}"
            );
        }
    }

    #[test]
    fn leaves_data_and_other_contexts_to_nginx() {
        for text in [
            "server { location = /x { if ($a = b) { proxy_pass http://a; } } }",
            "upstream a { server a:80 weight=2; keepalive 8; }",
            "http { server { listen 80; } }",
            // A map's body and other modules' blocks are not directives.
            "map $a $b { proxy_pass 1; if 2; }",
            "events { if; }",
            "types { text/html if; }",
            "content_by_lua_block { if {} }",
            "stream { server { proxy_pass a:1; } }",
            // `server` at the top level: a snippet of http or of upstream.
            "server {}\nserver a:80;",
        ] {
            assert_eq!(check(text), None, "{text}");
        }
    }
}
