//! What a `proxy_pass` with variables may evaluate to.
//!
//! nginx looks the host of an evaluated target up among the `http`
//! context's upstreams before asking a resolver — implicit upstreams (the
//! ones literal `proxy_pass http://host:port` lines create) included, by
//! host and port (`ngx_http_upstream_init_request`). So a literal target
//! that such a variable may name must keep its implicit upstream, and a new
//! `upstream NAME` must not capture a port-less value `NAME`.
//!
//! Values are known when every variable in the target is set only by
//! `map` blocks and `set` directives with literal values. `$host` is not
//! known, but nginx validated it (`ngx_http_validate_host`: no `/`, `?`,
//! and `:` only inside an IPv6 `[...]` at its start) or took it from the
//! server's `server_name`; around it the literal text of the target still
//! decides the port and the ends of the host (`ngx_parse_inet_url` ends
//! the host at the first `:`, `/` or `?`), so `http://$host.internal:9100`
//! reaches only hosts ending in `.internal` on port 9100. A variable whose
//! value may hold `/`, `?` or `:` (`$arg_*`, `$http_*`, ...) may move the
//! port anywhere (`?target=app:8080/` makes `http://$arg_target:7070`
//! reach `app:8080`), so such a target may name anything.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::target::ProxyTarget;
use crate::model::{DirId, LevelId, LevelKind, Model};
use crate::vocab::names::UpstreamName;

/// Where an evaluated target may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Possible {
    /// Unknown: any host and port.
    Anything,
    /// These (host, effective port, port written) triples.
    Targets(BTreeSet<(UpstreamName, Option<u16>, bool)>),
    /// Hosts that start with `prefix` and end with `suffix` (lowercased),
    /// on the literal `port`: a host with `$host` in it.
    Hosts(HostPattern),
}

/// The hosts one target with `$host` in its host may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    pub prefix: String,
    pub suffix: String,
    pub port: u16,
}

impl HostPattern {
    /// Does it cover the implicit upstream of `target`?
    fn covers(&self, target: &ProxyTarget) -> bool {
        let host = target.host.to_ascii_lowercase();
        !target.is_unix()
            && target.effective_port() == Some(self.port)
            && host.starts_with(&self.prefix)
            && host.ends_with(&self.suffix)
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}*{}:{}", self.prefix, self.suffix, self.port)
    }
}

/// Stands for the value of a validated host variable while a target is
/// expanded; a noncharacter, so never part of a real value.
const ANY_HOST: char = '\u{FFFF}';

/// Values each variable may take in the http context `http` (`None`:
/// unknown), from `map` blocks and `set` directives.
fn known_values(model: &Model, http: LevelId) -> BTreeMap<String, Option<BTreeSet<String>>> {
    let mut values: BTreeMap<String, Option<BTreeSet<String>>> = BTreeMap::new();
    let mut add = |var: &str, value: Option<&str>| {
        let entry = values
            .entry(var.trim_start_matches('$').to_ascii_lowercase())
            .or_insert_with(|| Some(BTreeSet::new()));
        match (entry.as_mut(), value) {
            (Some(set), Some(v)) if !v.contains('$') => {
                set.insert(v.to_string());
            }
            _ => *entry = None,
        }
    };
    for level in std::iter::once(http).chain(model.descendants(http)) {
        let l = &model.levels[level];
        if l.kind == LevelKind::Map {
            let Some(owner) = l.owner else { continue };
            let Some(var) = model.dirs[owner].arg(1) else {
                continue;
            };
            let mut has_default = false;
            for d in &l.statements {
                let dir = &model.dirs[*d];
                match dir.name.value.as_ref() {
                    "hostnames" | "volatile" => {}
                    "include" => add(var, None),
                    name => {
                        has_default |= name == "default";
                        add(var, dir.arg(0));
                    }
                }
            }
            if !has_default {
                add(var, Some(""));
            }
        }
        for d in &l.statements {
            let dir = &model.dirs[*d];
            if dir.is("set") {
                if let Some(var) = dir.arg(0) {
                    add(var, dir.arg(1));
                }
            }
        }
    }
    values
}

/// The name of the variable whose reference `$` is followed by `after`
/// (`name` or `{name}`), and how many bytes the reference takes after the
/// `$`; `None` for an unclosed `${`.
fn variable_name(after: &str) -> Option<(&str, usize)> {
    match after.strip_prefix('{') {
        Some(inner) => {
            let end = inner.find('}')?;
            Some((&inner[..end], end + 2))
        }
        None => {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            Some((&after[..end], end))
        }
    }
}

/// Expands the variables of `text` with their known values (at most `LIMIT`
/// results), a validated host variable (`host_ok`) as [`ANY_HOST`];
/// `None` when a variable is unknown or there are too many. nginx compares
/// variable names case-insensitively.
fn expand(
    text: &str,
    values: &BTreeMap<String, Option<BTreeSet<String>>>,
    host_ok: bool,
) -> Option<Vec<String>> {
    const LIMIT: usize = 256;
    let mut results = vec![String::new()];
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        for r in results.iter_mut() {
            r.push_str(&rest[..i]);
        }
        let after = &rest[i + 1..];
        let (name, len) = variable_name(after)?;
        let lower = name.to_ascii_lowercase();
        let any_host = BTreeSet::from([ANY_HOST.to_string()]);
        let options = match values.get(&lower) {
            Some(known) => known.as_ref()?,
            // `$host` cannot be redefined (`set`, `map` and regex captures
            // of its name are refused as a "duplicate variable").
            None if lower == "host" && host_ok => &any_host,
            None => return None,
        };
        let mut next = Vec::new();
        for r in &results {
            for o in options {
                next.push(format!("{r}{o}"));
            }
        }
        if next.len() > LIMIT {
            return None;
        }
        results = next;
        rest = &after[len..];
    }
    for r in results.iter_mut() {
        r.push_str(rest);
    }
    Some(results)
}

/// Where the `proxy_pass` directives with variables of `http` may go.
pub fn possible_targets(model: &Model, http: LevelId) -> Vec<Possible> {
    let mut out = Vec::new();
    let mut values = None;
    for level in model.descendants(http) {
        for d in &model.levels[level].statements {
            let dir = &model.dirs[*d];
            let Some(url) = dir
                .arg(0)
                .filter(|u| dir.is("proxy_pass") && u.contains('$'))
            else {
                continue;
            };
            // A literal authority with a variable URI is a target upkeep
            // rewrites like any other (to `http://NAME$uri`, which finds the
            // upstream block by name).
            if model.http_context(level) != Some(http) || ProxyTarget::parse(url).is_ok() {
                continue;
            }
            let values = values.get_or_insert_with(|| known_values(model, http));
            let possible = match expand(url, values, host_is_validated(model, level)) {
                None => Possible::Anything,
                Some(urls) => {
                    let mut set = BTreeSet::new();
                    for u in urls {
                        if u.contains(ANY_HOST) {
                            out.push(host_pattern(&u).unwrap_or(Possible::Anything));
                            continue;
                        }
                        let full = if u.contains("://") {
                            u
                        } else {
                            format!("http://{u}")
                        };
                        match ProxyTarget::parse(&full) {
                            Ok(t) if !t.is_unix() => {
                                set.insert((t.host_name(), t.effective_port(), t.port.is_some()));
                            }
                            Ok(_) => {}
                            Err(_) => {} // nginx fails such a request (500) before and after
                        }
                    }
                    Possible::Targets(set)
                }
            };
            out.push(possible);
        }
    }
    out
}

/// Whether `$host` in a `proxy_pass` at `level` holds a validated host
/// name: when the request has none, nginx uses the server's first
/// `server_name`, which must then hold no `:`, `/`, `?` or `[` either.
fn host_is_validated(model: &Model, level: LevelId) -> bool {
    let Some(server) = model
        .ancestors(level)
        .find(|l| model.levels[*l].kind == LevelKind::Server)
    else {
        return false;
    };
    model.named(server, "server_name").iter().all(|d| {
        model.dirs[*d]
            .args
            .iter()
            .all(|a| !a.value.contains([':', '/', '?', '[', '$']))
    })
}

/// Whether a header value (as written, variables unevaluated) may be
/// empty for some request at `level`: an empty text, or one made of
/// variables only, except `$host` where the server's first `server_name`
/// (what nginx falls back to) is not empty.
pub fn may_be_empty(model: &Model, level: LevelId, value: &str) -> bool {
    if value.is_empty() {
        return true;
    }
    let mut rest = value;
    let mut only_host = true;
    while !rest.is_empty() {
        let Some(after) = rest.strip_prefix('$') else {
            return false;
        };
        let Some((name, len)) = variable_name(after).filter(|(n, _)| !n.is_empty()) else {
            return false;
        };
        only_host &= name.eq_ignore_ascii_case("host");
        rest = &after[len..];
    }
    let named_server = model
        .ancestors(level)
        .find(|l| model.levels[*l].kind == LevelKind::Server)
        .and_then(|s| model.named(s, "server_name").first().copied())
        .and_then(|d| model.dirs[d].arg(0).map(|a| !a.is_empty()))
        .unwrap_or(false);
    !(only_host && named_server)
}

/// What an expanded target with [`ANY_HOST`] in it may reach, as nginx
/// parses it (`ngx_http_proxy_eval`, `ngx_parse_inet_url`): the host ends
/// at the first `:`, `/` or `?` of the literal text (the validated value
/// holds none of them outside an IPv6 `[...]` at the start, which nginx
/// then parses as an IPv6 address followed by the same literal port, or
/// refuses), and a literal port after it is the port. `None` (anything)
/// without a literal port: a port-less value may name any `upstream`
/// block, a new one included.
fn host_pattern(url: &str) -> Option<Possible> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let skip = if lower.starts_with("http://") {
        7
    } else if lower.starts_with("https://") {
        8
    } else {
        return None;
    };
    let rest = &url[skip..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if !authority.contains(ANY_HOST) {
        // Only the URI part varies: the target is the literal authority.
        let t = ProxyTarget::parse(&format!("{}{authority}", &url[..skip])).ok()?;
        return Some(Possible::Targets(BTreeSet::from([(
            t.host_name(),
            t.effective_port(),
            t.port.is_some(),
        )])));
    }
    let (host, port) = authority.split_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
    let first = host.find(ANY_HOST)?;
    let last = host.rfind(ANY_HOST)? + ANY_HOST.len_utf8();
    Some(Possible::Hosts(HostPattern {
        prefix: host[..first].to_ascii_lowercase(),
        suffix: host[last..].to_ascii_lowercase(),
        port,
    }))
}

/// The first of `possible` that may name the implicit upstream of `target`.
pub fn may_name<'p>(possible: &'p [Possible], target: &ProxyTarget) -> Option<&'p Possible> {
    let host = target.host_name();
    possible.iter().find(|p| match p {
        Possible::Anything => true,
        Possible::Targets(set) => set
            .iter()
            .any(|(h, port, _)| *h == host && *port == target.effective_port()),
        Possible::Hosts(pattern) => pattern.covers(target),
    })
}

/// Port-less hosts the targets may name: a new upstream of that name would
/// capture them.
pub fn portless_hosts(possible: &[Possible]) -> BTreeSet<UpstreamName> {
    possible
        .iter()
        .flat_map(|p| match p {
            Possible::Targets(set) => set
                .iter()
                .filter(|(_, _, written)| !written)
                .map(|(h, _, _)| h.clone())
                .collect::<Vec<_>>(),
            // Patterns have a literal port: no upstream block can match.
            Possible::Anything | Possible::Hosts(_) => Vec::new(),
        })
        .collect()
}

/// The `proxy_pass` directives with variables whose every value names an
/// `upstream` block (`set $p "http://lemmy-ui"; if (...) { set $p
/// "http://lemmy"; } proxy_pass $p;`), each with the targets its values
/// are (`http://NAME` and an optional URI: no port, so nginx finds the
/// block of that name first, `ngx_http_upstream_init_request`), per
/// `http` context. The values are every literal `set`/`map` value the
/// context gives the variables, a superset of what a request can see;
/// variables that anything else defines (`geo`, `auth_request_set`, a
/// regex capture, ...) are unknown. `is_block` says whether a name is an
/// `upstream` block of the context.
pub fn upstream_valued_passes(
    model: &Model,
    is_block: impl Fn(LevelId, &UpstreamName) -> bool,
) -> BTreeMap<DirId, Vec<ProxyTarget>> {
    let mut out = BTreeMap::new();
    let mut per_http: BTreeMap<LevelId, BTreeMap<String, Option<BTreeSet<String>>>> =
        BTreeMap::new();
    let mut other = None;
    for &pass in &model.index.pass {
        let dir = &model.dirs[pass];
        let Some(url) = dir
            .arg(0)
            .filter(|u| dir.is("proxy_pass") && u.contains('$'))
        else {
            continue;
        };
        let Some(http) = model.http_context(dir.level) else {
            continue;
        };
        if ProxyTarget::parse(url).is_ok() {
            continue;
        }
        let other = other.get_or_insert_with(|| Defined::except(model, &["map"]));
        if names_of(url).any(|n| other.0.contains(&n)) {
            continue;
        }
        let values = per_http
            .entry(http)
            .or_insert_with(|| known_values(model, http));
        let Some(urls) = expand(url, values, false) else {
            continue;
        };
        let targets: Option<Vec<ProxyTarget>> = urls
            .iter()
            .map(|u| {
                ProxyTarget::parse(u)
                    .ok()
                    .filter(|t| t.names_upstream() && is_block(http, &t.host_name()))
            })
            .collect();
        if let Some(targets) = targets.filter(|t| !t.is_empty()) {
            out.insert(pass, targets);
        }
    }
    out
}

/// The lowercased names of the variables `text` refers to.
fn names_of(text: &str) -> impl Iterator<Item = String> + '_ {
    text.match_indices('$')
        .filter_map(|(i, _)| variable_name(&text[i + 1..]).map(|(n, _)| n.to_ascii_lowercase()))
}

/// Directives that define the variable named by one of their arguments
/// (nginx's and common modules'), besides `set`: a variable one of them
/// defines anywhere is not fixed by a `set` in a location.
const DEFINERS: &[&str] = &[
    "map",
    "geo",
    "split_clients",
    "perl_set",
    "js_set",
    "auth_request_set",
    "set_escape_uri",
    "set_unescape_uri",
    "set_by_lua",
    "set_by_lua_block",
    "set_by_lua_file",
];

/// The rewrite module's directives that may stop the ones after them in
/// a location from running (`break`, `return`, a `rewrite` with a flag)
/// or run them only sometimes (`if`).
const STOPPERS: &[&str] = &["rewrite", "return", "break", "if"];

/// The `proxy_pass` URL `pass` as nginx evaluates it for every request its
/// location handles, with each variable that the location fixes replaced
/// by its value; variables it does not fix (`$request_uri`) stay as they
/// are. `None` when the URL has no variable the location fixes.
///
/// A location fixes `$v` when the `proxy_pass` is directly in it and:
/// its last `set $v VALUE;` (directly in the location, `VALUE` without
/// variables) comes before any `rewrite`, `return`, `break` or `if` of the
/// location (any of them may stop the rest of the rewrite directives, and
/// nginx runs them in order, before `proxy_pass` picks its target); no
/// `if` block in the location sets `$v`; and nothing else (`map`, `geo`,
/// `auth_request_set`, ... anywhere) defines `$v`. A `set` at the server
/// level runs earlier and is overridden; nginx compares variable names
/// case-insensitively.
pub fn evaluate_pass(model: &Model, defined: &Defined, pass: DirId) -> Option<String> {
    let dir = &model.dirs[pass];
    let url = dir.arg(0)?;
    let location = dir.level;
    if model.levels[location].kind != LevelKind::Location {
        return None;
    }
    let pieces = pieces(model, defined, location, url)?;
    pieces
        .iter()
        .any(|p| p.fixed)
        .then(|| pieces.iter().map(|p| p.value.as_str()).collect())
}

/// A run of literal text or one variable reference of a value, with what
/// it evaluates to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Where it is in the value.
    pub raw: std::ops::Range<usize>,
    /// Its text, or the variable's fixed value.
    pub value: String,
    /// A variable replaced by its value.
    pub fixed: bool,
}

/// `text` cut into literal runs and variable references, each variable
/// that `location` fixes replaced by its value (see [`evaluate_pass`]).
/// `None` for an unclosed `${`.
pub fn pieces(
    model: &Model,
    defined: &Defined,
    location: LevelId,
    text: &str,
) -> Option<Vec<Piece>> {
    let mut out: Vec<Piece> = Vec::new();
    let mut at = 0;
    while let Some(i) = text[at..].find('$').map(|i| i + at) {
        if i > at {
            out.push(Piece {
                raw: at..i,
                value: text[at..i].to_string(),
                fixed: false,
            });
        }
        let (name, len) = variable_name(&text[i + 1..])?;
        let raw = i..i + 1 + len;
        match (name.is_empty(), fixed_value(model, defined, location, name)) {
            (false, Some(value)) => out.push(Piece {
                raw,
                value,
                fixed: true,
            }),
            _ => out.push(Piece {
                value: text[raw.clone()].to_string(),
                raw,
                fixed: false,
            }),
        }
        at = i + 1 + len;
    }
    if at < text.len() {
        out.push(Piece {
            raw: at..text.len(),
            value: text[at..].to_string(),
            fixed: false,
        });
    }
    Some(out)
}

/// The value `location` gives `$name` before its `proxy_pass` runs, when
/// it fixes it (see [`evaluate_pass`]).
fn fixed_value(model: &Model, defined: &Defined, location: LevelId, name: &str) -> Option<String> {
    if defined.0.contains(&name.to_ascii_lowercase()) {
        return None;
    }
    let is_var = |word: &str| {
        word.strip_prefix('$').is_some_and(|w| {
            w.trim_start_matches('{')
                .trim_end_matches('}')
                .eq_ignore_ascii_case(name)
        })
    };
    let statements = &model.levels[location].statements;
    let last_set = statements
        .iter()
        .rposition(|d| model.dirs[*d].is("set") && model.dirs[*d].arg(0).is_some_and(is_var))?;
    let value = model.dirs[statements[last_set]].arg(1)?;
    if value.contains('$') {
        return None;
    }
    if statements[..last_set]
        .iter()
        .any(|d| STOPPERS.iter().any(|s| model.dirs[*d].is(s)))
    {
        return None;
    }
    // `if` blocks (and what they hold) may set it again.
    let in_ifs = model.descendants(location).into_iter().any(|l| {
        let inside_an_if = model
            .ancestors(l)
            .take_while(|a| *a != location)
            .all(|a| matches!(model.levels[a].kind, LevelKind::If));
        inside_an_if
            && model.levels[l]
                .statements
                .iter()
                .any(|d| model.dirs[*d].is("set") && model.dirs[*d].arg(0).is_some_and(is_var))
    });
    if in_ifs {
        return None;
    }
    Some(value.to_string())
}

/// Variables that something other than `set` defines somewhere in a
/// model, lowercased: the ones `DEFINERS` name, and the named captures of
/// regexes that may match after a location's `set` (in `if`, `rewrite`,
/// `map`, ...; `server_name` and `location` match before it). Computed once
/// per model.
#[derive(Debug, Default, Clone)]
pub struct Defined(BTreeSet<String>);

impl Defined {
    pub fn of(model: &Model) -> Defined {
        Defined::except(model, &[])
    }

    /// [`Defined::of`], leaving out what the definers `skip` define.
    pub fn except(model: &Model, skip: &[&str]) -> Defined {
        let mut names = BTreeSet::new();
        for d in &model.dirs {
            let definer = DEFINERS.iter().any(|n| d.is(n) && !skip.contains(n));
            let regexes = !d.is("server_name") && !d.is("location");
            for a in &d.args {
                let value = a.value.as_ref();
                if definer {
                    if let Some(name) = value.strip_prefix('$') {
                        names.insert(
                            name.trim_start_matches('{')
                                .trim_end_matches('}')
                                .to_ascii_lowercase(),
                        );
                    }
                }
                if regexes && value.contains("(?") {
                    names.extend(captures(value));
                }
            }
        }
        Defined(names)
    }
}

/// The named captures of the regex `pattern` (PCRE's `(?<name>`,
/// `(?P<name>`, `(?'name'`), lowercased as nginx compares variable names.
fn captures(pattern: &str) -> Vec<String> {
    let lower = pattern.to_ascii_lowercase();
    let mut out = Vec::new();
    for open in ["(?<", "(?p<", "(?'"] {
        let close = if open.ends_with('\'') { '\'' } else { '>' };
        for (i, _) in lower.match_indices(open) {
            let rest = &lower[i + open.len()..];
            if let Some(end) = rest.find(close) {
                let name = &rest[..end];
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(url: &str) -> Option<Possible> {
        host_pattern(&url.replace("$host", &ANY_HOST.to_string()))
    }

    #[test]
    fn a_validated_host_keeps_the_literal_port_and_ends() {
        assert_eq!(
            pattern("http://$host.internal:9100/x"),
            Some(Possible::Hosts(HostPattern {
                prefix: String::new(),
                suffix: ".internal".into(),
                port: 9100
            }))
        );
        assert_eq!(
            pattern("https://API-$host:8443?a"),
            Some(Possible::Hosts(HostPattern {
                prefix: "api-".into(),
                suffix: String::new(),
                port: 8443
            }))
        );
        // No literal port: a port-less value may name any upstream block.
        assert_eq!(pattern("http://$host.internal"), None);
        assert_eq!(pattern("http://app:$host"), None);
        assert_eq!(pattern("http://$host:99999"), None);
        // Only the URI varies: the literal authority.
        assert!(matches!(
            pattern("http://app:8080/$host"),
            Some(Possible::Targets(_))
        ));
    }

    #[test]
    fn a_pattern_covers_hosts_on_its_port_only() {
        let p = HostPattern {
            prefix: String::new(),
            suffix: ".internal".into(),
            port: 9100,
        };
        let t = |s: &str| ProxyTarget::parse(s).unwrap();
        assert!(p.covers(&t("http://Metrics.INTERNAL:9100/")));
        assert!(!p.covers(&t("http://metrics.internal:9200/")));
        assert!(!p.covers(&t("http://metrics.internal/")));
        assert!(!p.covers(&t("http://app:9100/")));
    }
}
